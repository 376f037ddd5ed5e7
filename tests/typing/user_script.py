"""A user's script: the public API as a user calls it, checked with ``mypy --strict`` (tests/typing/test_typing.py).

It also runs (``python tests/typing/user_script.py``): every line below is a real call.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import stridepool as sp
from stridepool import reference


def train_step(x: NDArray[np.float32], pool: sp.MaxPool2d) -> NDArray[np.float32]:
    """One forward and backward through a max pooling layer; the gradient keeps the input's dtype."""
    y = pool.forward(x)
    grad = pool.backward(np.ones_like(y))
    return grad.astype(np.float32, copy=False)


def main() -> None:
    old = sp.get_num_threads()
    sp.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)

    # max pooling: an array, or (values, indices) with return_indices=True, in 1, 2 and 3 dimensions
    y = sp.max_pool2d(x, 2)
    values, indices = sp.max_pool2d(x, (2, 2), stride=2, padding="valid", return_indices=True)
    grad = sp.max_pool2d_backward(np.ones_like(values), indices, x.shape)
    print(y.shape, values.shape, indices.dtype, grad.shape)
    v1, i1 = sp.max_pool1d(x, 3, 1, 1, 1, False, True, axes=2)
    v3 = sp.max_pool3d(x, (1, 2, 2), ceil_mode=True)
    print(v1.shape, i1.shape, v3.shape)
    # every argument by name: the names type checkers know are the functions' own (the overloaded protocols of
    # max pooling are not matched against the functions by mypy, this call is)
    vk, ik = sp.max_pool2d(x=x, kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False,
                           return_indices=True, axes=(-2, -1), out=None)
    ak, aik = sp.adaptive_max_pool2d(x=x, output_size=2, return_indices=True, axes=(-2, -1), out=None)
    print(vk.shape, ik.shape, ak.shape, aik.shape)

    # average pooling and its backward; channels-last through axes
    nhwc = np.moveaxis(x, 1, -1)
    a = sp.avg_pool2d(nhwc, 3, 2, ((1, 1), (0, 1)), count_include_pad=False, axes=(1, 2))
    ga = sp.avg_pool2d_backward(np.ones_like(a), nhwc.shape, 3, 2, ((1, 1), (0, 1)), count_include_pad=False,
                                axes=(1, 2))
    print(a.shape, ga.shape)

    # adaptive pooling (None keeps an axis), unpooling, windows and their adjoint
    am, ai = sp.adaptive_max_pool2d(x, (4, None), return_indices=True)
    aa = sp.adaptive_avg_pool2d(x, 1)
    gaa = sp.adaptive_avg_pool2d_backward(aa, x.shape)
    up = sp.max_unpool2d(values, indices, 2, output_size=x.shape)
    windows = sp.unfold2d(x, 3, padding="same")
    folded = sp.fold2d(windows, x.shape, padding="same")
    print(am.shape, ai.shape, gaa.shape, up.shape, windows.shape, folded.shape)

    # min pooling, and NaN ignored (np.nanmax's rule) with its gradient
    gappy = np.where(x > 1.0, np.nan, x).astype(np.float32)
    lows, where = sp.min_pool2d(gappy, 3, 2, 1, return_indices=True, nan_policy="omit")
    glows = sp.min_pool2d_backward(np.ones_like(lows), where, x.shape, nan_policy="omit")
    means_nan = sp.avg_pool2d(gappy, 2, nan_policy="omit")
    gmeans = sp.avg_pool2d_backward(np.ones_like(means_nan), x.shape, 2, nan_policy="omit", x=gappy)
    print(lows.shape, glows.shape, means_nan.shape, gmeans.shape)

    # scikit-image's block_reduce: any number of axes, any reduction
    means = sp.block_reduce(x, (1, 1, 2, 2), np.mean)
    peaks = sp.block_reduce(image=x, block_size=2, func=np.max, cval=-np.inf, func_kwargs=None)
    print(means.shape, peaks.shape)

    # out= fills the caller's array
    out = np.empty((2, 3, 4, 4), dtype=np.float32)
    sp.avg_pool2d(x, 2, out=out)

    # the pure-NumPy reference: the same functions, bit-identical answers
    ref_values, ref_indices = reference.max_pool2d(x, 2, return_indices=True)
    assert np.array_equal(ref_values, values) and np.array_equal(ref_indices, indices)

    # layers: forward, backward, __call__
    print(train_step(x, sp.MaxPool2d(2)).dtype)
    avg = sp.AvgPool1d(2, axes=-1)
    print(avg(x).shape, avg.backward(np.ones((2, 3, 8, 4))).shape)
    unpool = sp.MaxUnpool2d(2)
    print(unpool.forward(values, indices, x.shape).shape, unpool.backward(x).shape)
    adaptive = sp.AdaptiveMaxPool3d((1, 2, 2))
    print(adaptive(x).shape, adaptive.backward(np.ones((2, 1, 2, 2))).shape)
    question = sp.Pooling2D("max", kernel_size=(3, 3), input_size=(3, 8, 8))
    print(question.forward(x[0]).shape, question.backward(np.ones(question.out_size)).shape)

    print(sp.backend, sp.kernels, sp.__version__)
    sp.set_num_threads(old)


if __name__ == "__main__":
    main()
