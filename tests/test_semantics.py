"""Small cases worked out by hand, and the semantics DESIGN.md promises (active backend and reference)."""
import numpy as np
import pytest

import stridepool as sp
from stridepool import reference

IMPLS = [pytest.param(sp, id="active"), pytest.param(reference, id="reference")]


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_worked_max_and_indices(impl, assert_same):
    x = np.array([[1, 5, 2, 0],
                  [4, 3, 9, 1],
                  [0, 7, 8, 6],
                  [2, 2, 3, 1]], dtype=np.int16)
    y, idx = impl.max_pool2d(x, 2, return_indices=True)
    assert_same(y, np.array([[5, 9], [7, 8]], dtype=np.int16))
    assert_same(idx, np.array([[1, 6], [9, 10]], dtype=np.int64))
    y, idx = impl.max_pool2d(x, 3, stride=1, return_indices=True)
    assert_same(y, np.array([[9, 9], [9, 9]], dtype=np.int16))
    assert_same(idx, np.full((2, 2), 6, dtype=np.int64))


@pytest.mark.parametrize("impl", IMPLS)
def test_overlapping_gradients_accumulate(impl, assert_same):
    # the centre 9 is the maximum of all four 3x3 windows: it receives 1 + 2 + 3 + 4
    x = np.zeros((4, 4))
    x[1, 2] = 9
    y, idx = impl.max_pool2d(x, 3, stride=1, return_indices=True)
    g = impl.max_pool2d_backward(np.array([[1.0, 2.0], [3.0, 4.0]]), idx, x.shape)
    want = np.zeros((4, 4))
    want[1, 2] = 10
    assert_same(g, want)


@pytest.mark.parametrize("impl", IMPLS)
def test_padding_is_never_selected(impl, assert_same):
    x = np.full((1, 3, 3), -5.0)
    y, idx = impl.max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    assert_same(y, np.full((1, 3, 3), -5.0))
    # every window's first real element (ties -> first): top-left window sees (0,0) first
    assert idx[0, 0, 0] == 0 and idx[0, 2, 2] == 4
    xi = np.full((3, 3), np.iinfo(np.int8).min, dtype=np.int8)
    yi, ii = impl.max_pool2d(xi, 3, stride=1, padding=1, return_indices=True)
    assert_same(yi, xi)
    assert ((ii >= 0) & (ii < 9)).all()
    assert ii[0, 0] == 0 and ii[1, 1] == 0 and ii[2, 2] == 4


@pytest.mark.parametrize("impl", IMPLS)
def test_ties_go_to_first_maximum(impl):
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [3.0, 3.0, 3.0]])
    _, idx = impl.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(idx, [[1, 1], [3, 5]])


@pytest.mark.parametrize("impl", IMPLS)
def test_nan_propagates_with_first_nan_index(impl):
    x = np.array([[1.0, np.nan, 7.0], [np.nan, 2.0, np.inf], [0.0, 1.0, 2.0]])
    y, idx = impl.max_pool2d(x, 2, stride=1, return_indices=True)
    assert np.isnan(y[0, 0]) and idx[0, 0] == 1
    assert np.isnan(y[0, 1]) and idx[0, 1] == 1
    assert np.isnan(y[1, 0]) and idx[1, 0] == 3
    assert y[1, 1] == np.inf and idx[1, 1] == 5


@pytest.mark.parametrize("impl", IMPLS)
def test_avg_divisors_follow_pytorch(impl, assert_same):
    x = np.ones((5, 5))
    # ceil_mode overhang past the padding is not counted, padding is
    y = impl.avg_pool2d(x, 2, stride=2, padding=1, ceil_mode=True, count_include_pad=True)
    assert_same(y, np.array([[0.25, 0.5, 0.5], [0.5, 1, 1], [0.5, 1, 1]]))
    assert_same(impl.avg_pool2d(x, 2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                np.ones((3, 3)))
    assert_same(impl.avg_pool2d(x, 2, stride=2, divisor_override=3), np.full((2, 2), 4 / 3))
    x = np.arange(25.0).reshape(5, 5)
    y = impl.avg_pool2d(x, 2, ceil_mode=True)  # last row/column windows hold 2 and 1 elements
    assert y[0, 2] == (4 + 9) / 2 and y[2, 2] == 24 and y[2, 0] == (20 + 21) / 2


@pytest.mark.parametrize("impl", IMPLS)
def test_integer_avg_is_float64_like_np_mean(impl, assert_same):
    x = np.array([[1, 2], [3, 5]], dtype=np.uint8)
    assert_same(impl.avg_pool2d(x, 2), np.array([[np.mean(x)]]))
    big = np.full((2, 2), np.iinfo(np.int64).max, dtype=np.int64)
    assert_same(impl.avg_pool2d(big, 2), np.array([[np.mean(big)]]))


@pytest.mark.parametrize("impl", IMPLS)
def test_avg_backward_spreads_evenly(impl, assert_same):
    g = impl.avg_pool2d_backward(np.array([[4.0, 8.0]]), (2, 3), 2, stride=1)
    assert_same(g, np.array([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]]))


@pytest.mark.parametrize("impl", IMPLS)
def test_fold_sums_overlaps_and_crops_padding(impl, assert_same):
    w = np.ones((3, 3, 2, 2), dtype=np.int32)  # 2x2 windows, stride 1, padding 1 on a 2x2 input
    assert_same(impl.fold2d(w, (2, 2), stride=1, padding=1), np.full((2, 2), 4, dtype=np.int32))
    w = np.arange(16).reshape(2, 2, 2, 2)
    want = np.array([[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]])
    assert_same(impl.fold2d(w, (4, 4), stride=2), want)


def test_unfold_is_a_read_only_view_without_padding():
    x = np.arange(36.0).reshape(6, 6)
    w = sp.unfold2d(x, 3, stride=1)
    assert w.shape == (4, 4, 3, 3) and np.shares_memory(w, x) and not w.flags.writeable
    np.testing.assert_array_equal(w[1, 2], x[1:4, 2:5])
    wp = sp.unfold2d(x, 3, stride=1, padding=1)
    assert wp.shape == (6, 6, 3, 3) and wp[0, 0, 0, 0] == 0 and wp[0, 0, 1, 1] == x[0, 0]


@pytest.mark.parametrize("impl", IMPLS)
def test_zero_size_leading_axes(impl, assert_same):
    x = np.zeros((0, 3, 8, 8), dtype=np.float32)
    y, idx = impl.max_pool2d(x, 2, return_indices=True)
    assert y.shape == (0, 3, 4, 4) and idx.shape == (0, 3, 4, 4) and idx.dtype == np.int64
    assert_same(impl.max_pool2d_backward(y, idx, x.shape), x)
    assert impl.avg_pool2d(x, 2).shape == (0, 3, 4, 4)


def test_same_padding_is_tensorflows():
    x = np.zeros((7, 10))
    assert sp.max_pool2d(x, 3, stride=2, padding="same").shape == (4, 5)
    assert sp.max_pool2d(x, 2, stride=1, padding="same").shape == (7, 10)


@pytest.mark.parametrize("impl", IMPLS)
def test_float16_is_float32_rounded(impl, assert_same):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9, 9)).astype(np.float16)
    want = reference.avg_pool2d(x.astype(np.float32), 3, 2, 1).astype(np.float16)
    assert_same(impl.avg_pool2d(x, 3, 2, 1), want)
    y, idx = impl.max_pool2d(x, 3, 1, 1, return_indices=True)
    assert_same(y, reference.max_pool2d(x.astype(np.float32), 3, 1, 1).astype(np.float16))
    g = rng.standard_normal(y.shape).astype(np.float16)
    want = reference.max_pool2d_backward(g.astype(np.float32), idx, x.shape).astype(np.float16)
    assert_same(impl.max_pool2d_backward(g, idx, x.shape), want)
