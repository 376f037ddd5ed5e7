"""Hypothesis properties: fold is the adjoint of unfold; max backward is the fold of one-hot windows (1D, 2D, 3D)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import stridepool as sp


@st.composite
def geometry(draw, pooling=False):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    limit_h = (dh * (kh - 1) + 1) // 2 if pooling else 3
    limit_w = (dw * (kw - 1) + 1) // 2 if pooling else 3
    pad = ((draw(st.integers(0, limit_h)), draw(st.integers(0, limit_h))),
           (draw(st.integers(0, limit_w)), draw(st.integers(0, limit_w))))
    H = draw(st.integers(dh * (kh - 1) + 1, 12))
    W = draw(st.integers(dw * (kw - 1) + 1, 12))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return lead + (H, W), dict(kernel_size=(kh, kw), stride=(sh, sw), padding=pad, dilation=(dh, dw))


@settings(max_examples=150, deadline=None)
@given(geometry(), st.integers(0, 2**32 - 1))
def test_fold_is_the_adjoint_of_unfold(geo, seed):
    shape, kw = geo
    rng = np.random.default_rng(seed)
    # small integers in float64: both sums are exact, so equality is exact
    x = rng.integers(-8, 9, shape).astype(np.float64)
    win = sp.unfold2d(x, **kw)
    w = rng.integers(-8, 9, win.shape).astype(np.float64)
    folded = sp.fold2d(w, shape, **{k: v for k, v in kw.items() if k != "kernel_size"})
    assert np.sum(win * w) == np.sum(x * folded)


@settings(max_examples=150, deadline=None)
@given(geometry(pooling=True), st.integers(0, 2**32 - 1), st.booleans())
def test_max_backward_is_fold_of_one_hot_windows(geo, seed, channels_last):
    shape, kw = geo
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, shape).astype(np.float32)
    try:
        y, idx = sp.max_pool2d(x, return_indices=True, **kw)
    except ValueError:
        return  # geometry without a valid window
    g = rng.integers(-4, 5, y.shape).astype(np.float32)
    got = sp.max_pool2d_backward(g, idx, shape)
    # one-hot windows: each window's selected tap gets its gradient
    win_index = sp.unfold2d(np.arange(shape[-2] * shape[-1]).reshape(shape[-2:]), kw["kernel_size"], kw["stride"],
                            kw["padding"], kw["dilation"])
    win_index = np.where(_valid(shape, kw), win_index, -1)
    onehot = (win_index == idx[..., None, None]) * g[..., None, None]
    want = sp.fold2d(onehot.astype(np.float32), shape, kw["stride"], kw["padding"], kw["dilation"])
    np.testing.assert_array_equal(got, want)


def _valid(shape, kw):
    ones = np.ones(shape[-2:], dtype=np.int64)
    return sp.unfold2d(ones, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"]) == 1


# ------------------------------------------------------------------------------------------------ 1D, 3D

@st.composite
def geometry_nd(draw, nd, pooling=False):
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    pad = tuple((draw(st.integers(0, (di * (ki - 1) + 1) // 2 if pooling else 2)),
                 draw(st.integers(0, (di * (ki - 1) + 1) // 2 if pooling else 2))) for ki, di in zip(k, d))
    sizes = tuple(draw(st.integers(di * (ki - 1) + 1, 7 if nd == 3 else 14)) for ki, di in zip(k, d))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return lead + sizes, dict(kernel_size=k, stride=s, padding=pad, dilation=d)


def _f(op, nd):
    return getattr(sp, f"{op}{nd}d")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([1, 3]).flatmap(lambda nd: st.tuples(st.just(nd), geometry_nd(nd))), st.integers(0, 2**32 - 1))
def test_fold_is_the_adjoint_of_unfold_nd(case, seed):
    nd, (shape, kw) = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, shape).astype(np.float64)
    win = _f("unfold", nd)(x, **kw)
    w = rng.integers(-8, 9, win.shape).astype(np.float64)
    folded = _f("fold", nd)(w, shape, **{k: v for k, v in kw.items() if k != "kernel_size"})
    assert np.sum(win * w) == np.sum(x * folded)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([1, 3]).flatmap(lambda nd: st.tuples(st.just(nd), geometry_nd(nd, pooling=True))),
       st.integers(0, 2**32 - 1))
def test_max_backward_is_fold_of_one_hot_windows_nd(case, seed):
    nd, (shape, kw) = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, shape).astype(np.float32)
    try:
        y, idx = _f("max_pool", nd)(x, return_indices=True, **kw)
    except ValueError:
        return  # geometry without a valid window
    g = rng.integers(-4, 5, y.shape).astype(np.float32)
    got = getattr(sp, f"max_pool{nd}d_backward")(g, idx, shape)
    sizes = shape[-nd:]
    positions = _f("unfold", nd)(np.arange(np.prod(sizes)).reshape(sizes), **kw)
    real = _f("unfold", nd)(np.ones(sizes, dtype=np.int64), **kw) == 1
    positions = np.where(real, positions, -1)
    onehot = (positions == idx[(Ellipsis,) + (None,) * nd]) * g[(Ellipsis,) + (None,) * nd]
    want = _f("fold", nd)(onehot.astype(np.float32), shape, **{k: v for k, v in kw.items() if k != "kernel_size"})
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.data())
def test_adaptive_windows_cover_the_input_and_global_is_the_mean(nd, data):
    sizes = tuple(data.draw(st.integers(1, 9)) for _ in range(nd))
    osz = tuple(data.draw(st.integers(1, 10)) for _ in range(nd))
    x = np.random.default_rng(0).integers(-9, 10, (2,) + sizes).astype(np.float64)
    # every input element is in some window: the adjoint of the average spreads a positive weight on each
    spread = getattr(sp, f"adaptive_avg_pool{nd}d_backward")(np.ones((2,) + osz), (2,) + sizes)
    assert (spread > 0).all()
    # the total of the gradient is the number of windows (each spreads 1 over its elements)
    np.testing.assert_allclose(spread.sum(), 2 * np.prod(osz))
    np.testing.assert_allclose(_f("adaptive_avg_pool", nd)(x, 1).reshape(2), x.reshape(2, -1).mean(axis=1))
    assert np.array_equal(_f("adaptive_max_pool", nd)(x, 1).reshape(2), x.reshape(2, -1).max(axis=1))
