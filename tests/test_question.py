"""The question's own class (its accepted answer, kept verbatim in logic) as an independent oracle."""
import numpy as np
import pytest

import stridepool as sp


def maxPool(partition, backwards=False):  # noqa: N802  (the question's pooling function)
    max_val = np.max(partition)
    if backwards:
        mask = np.zeros(partition.shape, dtype=partition.dtype)
        mask[partition.argmax()] = 1
        return mask
    return max_val


class QuestionPooling2D:
    """The question's Pooling2D with the accepted answer's backward (writeable as_strided + np.add.at)."""

    def __init__(self, pool_funct, kernel_size, input_size, strides=(1, 1), padding=0):
        self.funct = pool_funct
        self.in_size = input_size
        self.out_size = (input_size[0],
                         (input_size[1] - kernel_size[0] + 2 * padding) // strides[0] + 1,
                         (input_size[2] - kernel_size[1] + 2 * padding) // strides[1] + 1)
        self.kernel_height, self.kernel_width = kernel_size
        self.window_shape = (*self.out_size, self.kernel_height, self.kernel_width)
        self.stride_h, self.stride_w = strides
        self.padding = padding

    def _windows(self, x_padded, writeable):
        strides = (x_padded.strides[0], self.stride_h * x_padded.strides[1], self.stride_w * x_padded.strides[2],
                   x_padded.strides[1], x_padded.strides[2])
        return np.lib.stride_tricks.as_strided(x_padded, self.window_shape, strides, writeable=writeable)

    def _pad(self, x):
        p = self.padding
        return np.pad(x, ((0, 0), (p, p), (p, p)), mode="constant")

    def forward(self, x):
        A_s = self._windows(self._pad(x), False)
        pool_val = np.apply_along_axis(self.funct, -1, A_s.reshape(*self.out_size, -1))
        self.last_in = x
        return pool_val

    def backward(self, dx):
        x_padded = self._pad(self.last_in)
        main_windows = self._windows(x_padded, False)
        mask = np.apply_along_axis(self.funct, -1, main_windows.reshape(*self.out_size, -1),
                                   backwards=True).reshape(main_windows.shape)
        pre_grad = np.einsum("ghw,ghwxy->ghwxy", dx, mask)
        final_grad = np.zeros_like(x_padded)
        final_windows = self._windows(final_grad, True)
        np.add.at(final_windows, (slice(None)), pre_grad)
        p = self.padding
        return final_grad[:, p:-p, p:-p] if p > 0 else final_grad


GEOMS = [((3, 3), (2, 6, 6), (1, 1), 0), ((2, 2), (3, 8, 8), (2, 2), 0), ((3, 3), (2, 7, 9), (2, 1), 1),
         ((2, 3), (1, 9, 8), (3, 2), 1), ((3, 3), (4, 5, 5), (1, 1), 1)]


@pytest.mark.parametrize("kernel, in_size, strides, padding", GEOMS, ids=str)
@pytest.mark.parametrize("funct", ["max", maxPool], ids=["max", "callable"])
def test_pooling2d_matches_the_question(kernel, in_size, strides, padding, funct, assert_same):
    rng = np.random.default_rng(sum(in_size))
    question = QuestionPooling2D(maxPool, kernel, in_size, strides, padding)
    ours = sp.Pooling2D(function=funct, kernel_size=kernel, input_size=in_size, strides=strides, padding=padding)
    assert ours.out_size == question.out_size and ours.window_shape == question.window_shape
    A = rng.integers(3, 10, in_size)  # non-negative: zero padding and "never select padding" agree
    B = rng.integers(3, 10, question.out_size)
    result = ours.forward(A)
    assert_same(result, question.forward(A))
    assert_same(ours.backward(result - B), question.backward(result - B))


def test_the_questions_example_shapes():
    pool = sp.Pooling2D(function=maxPool, kernel_size=(3, 3), input_size=(2, 6, 6), strides=(1, 1), padding=0)
    A = np.random.randint(3, 10, pool.in_size)
    B = np.random.randint(3, 10, pool.out_size)
    result = pool.forward(A)
    assert result.shape == (2, 4, 4)
    grad = pool.backward(result - B)
    assert grad.shape == (2, 6, 6)
    # every window's gradient lands on its maximum, so the totals agree
    assert grad.sum() == (result - B).sum()


def test_pooling2d_avg_and_positional_pool_funct(assert_same):
    x = np.arange(2 * 6 * 6, dtype=float).reshape(2, 6, 6)
    pool = sp.Pooling2D("avg", (2, 2), (2, 6, 6), (2, 2))
    assert_same(pool.forward(x), x.reshape(2, 3, 2, 3, 2).mean(axis=(2, 4)))
    assert_same(pool.backward(np.ones((2, 3, 3))), np.full((2, 6, 6), 0.25))


def test_pooling2d_errors():
    with pytest.raises(TypeError, match="exactly one of `pool_funct`"):
        sp.Pooling2D("max", (2, 2), (1, 4, 4), function="max")
    with pytest.raises(ValueError, match="`pool_funct` must be 'max', 'avg' or a callable, got 'min'"):
        sp.Pooling2D("min", (2, 2), (1, 4, 4))
    with pytest.raises(ValueError, match=r"`input_size` must be \(C, H, W\)"):
        sp.Pooling2D("max", (2, 2), (4, 4))
    pool = sp.Pooling2D("max", (2, 2), (1, 4, 4))
    with pytest.raises(ValueError, match=r"`x` must have shape input_size \(1, 4, 4\), got \(1, 4, 5\)"):
        pool.forward(np.zeros((1, 4, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        pool.backward(np.zeros((1, 2, 2)))


@pytest.mark.parametrize("layer, fn", [("MaxPool2d", "max"), ("AvgPool2d", "avg")])
def test_layers_match_functions(layer, fn, assert_same):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    pool = getattr(sp, layer)(3, 2, 1)
    y = pool.forward(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    if fn == "max":
        y2, idx = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
        want = sp.max_pool2d_backward(g, idx, x.shape)
    else:
        y2 = sp.avg_pool2d(x, 3, 2, 1)
        want = sp.avg_pool2d_backward(g, x.shape, 3, 2, 1)
    assert_same(y, y2)
    assert_same(pool.backward(g), want)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    pool_last = getattr(sp, layer)(3, 2, 1, axes=(1, 2))
    assert_same(pool_last(nhwc), y.transpose(0, 2, 3, 1))
    assert_same(pool_last.backward(np.ascontiguousarray(g.transpose(0, 2, 3, 1))), want.transpose(0, 2, 3, 1))
