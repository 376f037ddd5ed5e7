"""The active backend (compiled, unless STRIDEPOOL_BACKEND=reference) against the NumPy reference."""
import numpy as np
import pytest
from cases import avg_kwargs, fold_kwargs, layout_cases, pool_cases

import stridepool as sp
from stridepool import reference as ref

ALL = pool_cases() + layout_cases()
AVG = [p for p in ALL if "dilation" not in p.values[1]]  # average pooling has no dilation


def _grad(shape, dtype, seed=7):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shape) * 3
    return g.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(g).astype(dtype)


@pytest.mark.parametrize("x, kw", ALL)
def test_max_pool_and_backward(x, kw, assert_same):
    before = x.copy()
    y, idx = sp.max_pool2d(x, return_indices=True, **kw)
    y_ref, idx_ref = ref.max_pool2d(x, return_indices=True, **kw)
    assert_same(y, y_ref)
    assert_same(idx, idx_ref)
    assert_same(sp.max_pool2d(x, **kw), y_ref)
    g = _grad(y.shape, x.dtype)
    assert_same(sp.max_pool2d_backward(g, idx, x.shape), ref.max_pool2d_backward(g, idx_ref, x.shape))
    assert_same(x, before)  # the input is never modified


@pytest.mark.parametrize("x, kw", AVG)
@pytest.mark.parametrize("include", [True, False], ids=["incl-pad", "excl-pad"])
def test_avg_pool_and_backward(x, kw, include, assert_same):
    kw = avg_kwargs(kw)
    y = sp.avg_pool2d(x, count_include_pad=include, **kw)
    assert_same(y, ref.avg_pool2d(x, count_include_pad=include, **kw))
    g = _grad(y.shape, x.dtype)
    assert_same(sp.avg_pool2d_backward(g, x.shape, count_include_pad=include, **kw),
                ref.avg_pool2d_backward(g, x.shape, count_include_pad=include, **kw))


@pytest.mark.parametrize("x, kw", AVG[::5])
def test_avg_divisor_override(x, kw, assert_same):
    kw = avg_kwargs(kw)
    assert_same(sp.avg_pool2d(x, divisor_override=3, **kw), ref.avg_pool2d(x, divisor_override=3, **kw))
    y = sp.avg_pool2d(x, divisor_override=-2, **kw)
    g = _grad(y.shape, x.dtype)
    assert_same(sp.avg_pool2d_backward(g, x.shape, divisor_override=-2, **kw),
                ref.avg_pool2d_backward(g, x.shape, divisor_override=-2, **kw))


@pytest.mark.parametrize("x, kw", ALL)
def test_unfold_fold(x, kw, assert_same):
    kw = fold_kwargs(kw)
    w = sp.unfold2d(x, **kw)
    assert_same(w, ref.unfold2d(x, **kw))
    win = _grad(w.shape, x.dtype)
    assert_same(sp.fold2d(win, x.shape, **{k: v for k, v in kw.items() if k != "kernel_size"}),
                ref.fold2d(win, x.shape, **{k: v for k, v in kw.items() if k != "kernel_size"}))


@pytest.mark.parametrize("axes", [(1, 2), (0, 1), (2, 0), (-3, -1), (3, 1)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "float64"])
def test_axes_any_pair(axes, dtype, assert_same):
    from cases import make_array

    x = make_array((3, 9, 8, 5), dtype, seed=3)
    kw = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))
    y, idx = sp.max_pool2d(x, return_indices=True, axes=axes, **kw)
    y_ref, idx_ref = ref.max_pool2d(x, return_indices=True, axes=axes, **kw)
    assert_same(y, y_ref)
    assert_same(idx, idx_ref)
    g = _grad(y.shape, x.dtype)
    assert_same(sp.max_pool2d_backward(g, idx, x.shape, axes=axes),
                ref.max_pool2d_backward(g, idx, x.shape, axes=axes))
    assert_same(sp.avg_pool2d(x, axes=axes, **kw), ref.avg_pool2d(x, axes=axes, **kw))
    assert_same(sp.avg_pool2d_backward(g, x.shape, axes=axes, **kw),
                ref.avg_pool2d_backward(g, x.shape, axes=axes, **kw))
    w = sp.unfold2d(x, axes=axes, **kw)
    assert_same(sp.fold2d(_grad(w.shape, dtype), x.shape, kw["stride"], kw["padding"], axes=axes),
                ref.fold2d(_grad(w.shape, dtype), x.shape, kw["stride"], kw["padding"], axes=axes))


@pytest.mark.parametrize("C", [1, 3, 17, 64])
@pytest.mark.parametrize("N", [1, 2, 5])
def test_channels_last_equals_transposed_planar(N, C, assert_same):
    """The same answers for an (N, C, H, W) batch and its (N, H, W, C) transpose pooled with axes=(1, 2)."""
    from cases import make_array

    nchw = make_array((N, C, 11, 10), "float32", special="ties", seed=N * C)
    nhwc = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    to_nhwc = (0, 2, 3, 1)
    kw = dict(kernel_size=3, stride=2, padding=1)
    y, idx = sp.max_pool2d(nchw, return_indices=True, **kw)
    y2, idx2 = sp.max_pool2d(nhwc, return_indices=True, axes=(1, 2), **kw)
    assert_same(y2, y.transpose(to_nhwc))
    assert_same(idx2, idx.transpose(to_nhwc))
    g = _grad(y.shape, np.float32)
    g2 = np.ascontiguousarray(g.transpose(to_nhwc))
    assert_same(sp.max_pool2d_backward(g2, idx2, nhwc.shape, axes=(1, 2)),
                sp.max_pool2d_backward(g, idx, nchw.shape).transpose(to_nhwc))
    assert_same(sp.avg_pool2d(nhwc, axes=(1, 2), **kw), sp.avg_pool2d(nchw, **kw).transpose(to_nhwc))
    assert_same(sp.avg_pool2d_backward(g2, nhwc.shape, axes=(1, 2), **kw),
                sp.avg_pool2d_backward(g, nchw.shape, **kw).transpose(to_nhwc))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64"])
def test_out_is_filled_and_returned(dtype, assert_same):
    from cases import make_array

    x = make_array((2, 3, 8, 8), dtype)
    y_ref, idx = ref.max_pool2d(x, 3, 2, 1, return_indices=True)
    for out in (np.empty_like(y_ref), np.empty_like(y_ref, order="F"),
                np.empty(y_ref.shape[::-1], dtype=y_ref.dtype).T):
        assert sp.max_pool2d(x, 3, 2, 1, out=out) is out
        assert_same(out, y_ref)
    g = _grad(y_ref.shape, dtype)
    out = np.full(x.shape, 99, dtype=x.dtype)
    assert sp.max_pool2d_backward(g, idx, x.shape, out=out) is out
    assert_same(out, ref.max_pool2d_backward(g, idx, x.shape))
    avg_dt = np.float64 if np.dtype(dtype).kind != "f" else dtype
    out = np.empty(y_ref.shape, dtype=avg_dt)
    assert sp.avg_pool2d(x, 3, 2, 1, out=out) is out
    assert_same(out, ref.avg_pool2d(x, 3, 2, 1))
    out = np.empty(x.shape, dtype=sp.avg_pool2d_backward(g, x.shape, 3, 2, 1).dtype)
    assert sp.avg_pool2d_backward(g, x.shape, 3, 2, 1, out=out) is out
    assert_same(out, ref.avg_pool2d_backward(g, x.shape, 3, 2, 1))
    w = sp.unfold2d(x, 3, 2, 1)
    out = np.empty(x.shape, dtype=x.dtype)
    assert sp.fold2d(w, x.shape, 2, 1, out=out) is out
    assert_same(out, ref.fold2d(w, x.shape, 2, 1))


def test_out_aliasing_the_input_gives_the_right_answer(assert_same):
    x = np.arange(64.0).reshape(8, 8)
    want = ref.max_pool2d(x, 3, 1, 1)  # same shape as x
    got = sp.max_pool2d(x, 3, 1, 1, out=x)
    assert got is x
    assert_same(x, want)


@pytest.mark.parametrize("x, kw", ALL)
def test_repeated_calls_give_the_same_answers(x, kw, assert_same):
    """The second identical call takes the lean path (a remembered plan) where it applies: same answers."""
    for _ in range(3):
        y, idx = sp.max_pool2d(x, return_indices=True, **kw)
        assert_same(sp.max_pool2d(x, **kw), y)
        g = _grad(y.shape, x.dtype)
        assert_same(sp.max_pool2d_backward(g, idx, x.shape), ref.max_pool2d_backward(g, idx, x.shape))
        if "dilation" not in kw:
            a = sp.avg_pool2d(x, **kw)
            assert_same(a, ref.avg_pool2d(x, **kw))
            ga = _grad(a.shape, x.dtype)
            assert_same(sp.avg_pool2d_backward(ga, x.shape, **kw), ref.avg_pool2d_backward(ga, x.shape, **kw))
    assert_same(y, ref.max_pool2d(x, **kw))


def test_lean_path_still_rejects_what_the_full_path_rejects():
    x = np.zeros((2, 8, 8), dtype=np.float32)
    g, idx = sp.max_pool2d(x, 2, return_indices=True)
    sp.max_pool2d(x, 2, ceil_mode=False)  # remembered
    with pytest.raises(TypeError, match="`kernel_size`"):
        sp.max_pool2d(x, 2.0, ceil_mode=False)
    with pytest.raises(TypeError, match="`ceil_mode`"):
        sp.max_pool2d(x, 2, ceil_mode=0)
    with pytest.raises(TypeError, match="`kernel_size`"):
        sp.max_pool2d(x, (True, 2))
    sp.max_pool2d_backward(g, idx, x.shape)  # remembered
    bad = idx.copy()
    bad[1, 1, 1] = 64
    with pytest.raises(ValueError, match=r"`indices` must lie in \[0, 64\).*got 64"):
        sp.max_pool2d_backward(g, bad, x.shape)
    x_nc = np.zeros((2, 8, 16), dtype=np.float32)[:, :, ::2]  # same shape, not contiguous
    np.testing.assert_array_equal(sp.max_pool2d(x_nc, 2), np.zeros((2, 4, 4), dtype=np.float32))
