"""Hypothesis properties: fold2d is the adjoint of unfold2d; max backward is fold of one-hot windows."""
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
