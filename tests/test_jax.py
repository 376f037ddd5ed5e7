"""stridepool.jax: the NumPy API on JAX arrays, under jit, grad and vmap (skipped where JAX is not installed).

Independent references: XLA's own pooling (``lax.reduce_window``) and ``jax.grad`` of it; the pure-NumPy
``stridepool.reference`` (bit for bit: the bridge runs the compiled kernels, which agree with it exactly);
small NumPy and jax.numpy implementations written here (adaptive windows, unpooling's winners, gathers).
"""
import contextlib
import itertools
import math
import subprocess
import sys
import threading

import numpy as np
import pytest

import stridepool as sp

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
lax = jax.lax
spj = pytest.importorskip("stridepool.jax")
ref = sp.reference

SHAPES = {1: (2, 3, 11), 2: (2, 3, 9, 10), 3: (2, 2, 7, 8, 9)}
MAX_CASES = [
    ("k2", dict(kernel_size=2)),
    ("k3s2p1", dict(kernel_size=3, stride=2, padding=1)),
    ("k3s1p1-overlap", dict(kernel_size=3, stride=1, padding=1)),
    ("k3s2-ceil", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("k2s1d2-dilated", dict(kernel_size=2, stride=1, dilation=2)),
]
AVG_CASES = [
    ("k2", dict(kernel_size=2)),
    ("k3s2p1", dict(kernel_size=3, stride=2, padding=1)),
    ("k3s1p1-exclude-pad", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("k3s2-divisor", dict(kernel_size=3, stride=2, divisor_override=5)),
]
NDS = [pytest.param(nd, id=f"{nd}d") for nd in (1, 2, 3)]


@pytest.fixture(params=["ffi", "callback"])
def how(request, monkeypatch):
    """Both mechanisms: the XLA custom call (default) and jax.pure_callback."""
    monkeypatch.setattr(spj, "mechanism", request.param)
    return request.param


def fn(name, nd):
    return getattr(spj, name.replace("#", str(nd)))


def distinct(shape, dtype=np.float32, seed=0):
    """Values without ties (a permutation), so that every window has one maximum."""
    rng = np.random.default_rng(seed)
    return jnp.asarray((rng.permutation(math.prod(shape)).reshape(shape) / 7 - 5).astype(dtype))


def weights(shape, seed=1, dtype=np.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


# ---------------------------------------------------------------------------------- XLA's pooling (reference)

def _xla_geometry(x, nd, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """lax.reduce_window's window, strides, padding and dilation for PyTorch-style arguments (last nd axes)."""
    lead = x.ndim - nd
    k, d, p = (kernel_size,) * nd, (dilation,) * nd, padding
    s = (stride or kernel_size,) * nd
    pads = []
    for n, ki, si, di in zip(x.shape[lead:], k, s, d):
        eff = di * (ki - 1) + 1
        out = (n + 2 * p - eff) // si + 1
        if ceil_mode:
            out = -(-(n + 2 * p - eff) // si) + 1
            if (out - 1) * si >= n + p:
                out -= 1
        pads.append((p, max(p, (out - 1) * si + eff - n - p)))
    one = (1,) * lead
    return one + k, one + s, [(0, 0)] * lead + pads, one + d


def xla_max(x, nd, **kw):
    window, strides, pads, dil = _xla_geometry(x, nd, **kw)
    return lax.reduce_window(x, -jnp.inf, lax.max, window, strides, pads, window_dilation=dil)


def xla_avg(x, nd, kernel_size, stride=None, padding=0, count_include_pad=True, divisor_override=None):
    window, strides, pads, _ = _xla_geometry(x, nd, kernel_size, stride, padding)
    total = lax.reduce_window(x, 0.0, lax.add, window, strides, pads)
    if divisor_override:
        return total / divisor_override
    if count_include_pad:
        return total / kernel_size ** nd
    return total / lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, window, strides, pads)


# -------------------------------------------------------------------------------------------- max pooling

@pytest.mark.parametrize("nd", NDS)
@pytest.mark.parametrize("case", MAX_CASES, ids=lambda c: c[0])
def test_max_pool_values_and_indices(nd, case, how):
    """Values: XLA's reduce_window bit for bit; indices: stridepool.reference's."""
    kw = case[1]
    x = distinct(SHAPES[nd])
    y = fn("max_pool#d", nd)(x, **kw)
    assert y.dtype == jnp.float32 and isinstance(y, jax.Array)
    np.testing.assert_array_equal(y, xla_max(x, nd, **kw))
    y2, idx = jax.jit(lambda x: fn("max_pool#d", nd)(x, return_indices=True, **kw))(x)
    want_y, want_idx = getattr(ref, f"max_pool{nd}d")(np.asarray(x), return_indices=True, **kw)
    np.testing.assert_array_equal(y2, want_y)
    assert idx.dtype == jnp.int32  # JAX's default mode: no int64
    np.testing.assert_array_equal(idx, want_idx)


@pytest.mark.parametrize("nd", NDS)
@pytest.mark.parametrize("case", MAX_CASES, ids=lambda c: c[0])
def test_max_pool_gradient_equals_xla(nd, case, how):
    """jax.grad through the bridge (jitted) equals jax.grad of reduce_window, bit for bit, without ties.

    With dilation JAX has no VJP for its max pooling (NotImplementedError): there the reference's backward at
    the reference's indices is the answer."""
    kw = case[1]
    x = distinct(SHAPES[nd])
    w = weights(xla_max(x, nd, **kw).shape)
    ours = jax.jit(jax.grad(lambda x: jnp.sum(fn("max_pool#d", nd)(x, **kw) * w)))(x)
    if kw.get("dilation", 1) > 1:
        with pytest.raises(NotImplementedError, match="dilation"):
            jax.grad(lambda x: jnp.sum(xla_max(x, nd, **kw) * w))(x)
        _, idx = getattr(ref, f"max_pool{nd}d")(np.asarray(x), return_indices=True, **kw)
        want = getattr(ref, f"max_pool{nd}d_backward")(np.asarray(w), idx, x.shape)
    else:
        want = jax.grad(lambda x: jnp.sum(xla_max(x, nd, **kw) * w))(x)
    np.testing.assert_array_equal(ours, want)
    # with the indices returned too: their cotangent is float0, the values' gradient the same
    y, vjp = jax.vjp(lambda x: fn("max_pool#d", nd)(x, return_indices=True, **kw), x)
    (g,) = vjp((w, np.zeros(y[1].shape, dtype=jax.dtypes.float0)))
    np.testing.assert_array_equal(g, want)


def test_second_order_through_jacrev():
    """The VJP is made of differentiable functions: jacrev(grad) equals XLA's."""
    x = distinct((6, 6))
    def f(pool):
        return lambda x: jnp.sum(pool(x) ** 3)
    ours = jax.jacrev(jax.grad(f(lambda x: spj.max_pool2d(x, 3, 2, 1))))(x)
    want = jax.jacrev(jax.grad(f(lambda x: xla_max(x, 2, kernel_size=3, stride=2, padding=1))))(x)
    np.testing.assert_array_equal(ours, want)
    ours = jax.jacrev(jax.grad(f(lambda x: spj.avg_pool2d(x, 3, 2, 1))))(x)
    want = jax.jacrev(jax.grad(f(lambda x: xla_avg(x, 2, 3, 2, 1))))(x)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("values", ["rounded", "all-equal"])
def test_ties_go_to_the_first_maximum_like_xla(values, how):
    """Ties (finite): XLA's select_and_scatter (select `ge`) keeps the first maximum in row-major window
    order, and so does stridepool: equal gradients, overlapping windows included."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(np.round(rng.standard_normal((2, 9, 9)) * 1.5).astype(np.float32) if values == "rounded"
                    else np.ones((2, 9, 9), np.float32))
    for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
               {"kernel_size": 3, "stride": 2, "padding": 1}):
        w = weights(xla_max(x, 2, **kw).shape)
        ours = jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, **kw) * w))(x)
        want = jax.grad(lambda x: jnp.sum(xla_max(x, 2, **kw) * w))(x)
        np.testing.assert_array_equal(ours, want, err_msg=str(kw))


def test_minus_infinity_windows_differ_from_xla():
    """The one tie that differs: a window whose maximum is -inf next to padding. XLA's padding is -inf too
    and comes first, so XLA selects it and the gradient is lost; stridepool never selects padding."""
    x = jnp.full((3, 3), -jnp.inf, jnp.float32)
    w = jnp.arange(1.0, 10.0).reshape(3, 3)
    ours = jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, 3, 1, 1) * w))(x)
    y, idx = ref.max_pool2d(np.asarray(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(ours, ref.max_pool2d_backward(np.asarray(w), idx, x.shape))
    assert float(ours.sum()) == float(w.sum())  # every window's gradient arrives
    xla = jax.grad(lambda x: jnp.sum(xla_max(x, 2, kernel_size=3, stride=1, padding=1) * w))(x)
    assert float(xla.sum()) < float(w.sum())  # XLA drops the windows that selected padding


def test_nan_values_equal_xla_gradient_goes_to_the_first_nan(how):
    """NaN: the values are XLA's (both propagate NaN); the index, and so the gradient, is the window's first
    NaN (stridepool's rule). XLA's gradient goes elsewhere: its `ge` select compares with NaN as false."""
    x = np.array([[1, np.nan, 3, np.nan], [np.nan, 2, 5, 4], [0, 1, 2, 3], [4, 5, 6, np.nan]], np.float32)
    xj = jnp.asarray(x)
    y, idx = spj.max_pool2d(xj, 2, return_indices=True)
    np.testing.assert_array_equal(y, xla_max(xj, 2, kernel_size=2))
    np.testing.assert_array_equal(idx, [[1, 3], [13, 15]])  # the first NaN of each window (none in the third)
    ours = jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, 2)))(xj)
    np.testing.assert_array_equal(ours, ref.max_pool2d_backward(np.ones((2, 2), np.float32), np.asarray(idx), (4, 4)))
    xla = jax.grad(lambda x: jnp.sum(xla_max(x, 2, kernel_size=2)))(xj)
    assert not np.array_equal(ours, xla)  # documented difference (docs/frameworks.rst)
    # many NaNs and infinities: the values are still XLA's, bit for bit
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 11, 12)).astype(np.float32)
    u = rng.random(x.shape)
    x[u < 0.1], x[(u >= 0.1) & (u < 0.15)], x[(u >= 0.15) & (u < 0.2)] = np.nan, np.inf, -np.inf
    for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1}):
        np.testing.assert_array_equal(spj.max_pool2d(jnp.asarray(x), **kw), xla_max(jnp.asarray(x), 2, **kw))


@pytest.mark.parametrize("nd", NDS)
def test_adaptive_max_pool(nd, how):
    """Values, indices and gradient against a jax.numpy implementation of PyTorch's adaptive windows."""
    shape = SHAPES[nd]
    out = (3, 4, 2)[:nd]
    x = distinct(shape)
    y, idx = fn("adaptive_max_pool#d", nd)(x, out, return_indices=True)
    want_y, want_idx = getattr(ref, f"adaptive_max_pool{nd}d")(np.asarray(x), out, return_indices=True)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(y, adaptive_jnp(x, out, jnp.max))
    w = weights(y.shape)
    ours = jax.jit(jax.grad(lambda x: jnp.sum(fn("adaptive_max_pool#d", nd)(x, out) * w)))(x)
    np.testing.assert_array_equal(ours, getattr(ref, f"max_pool{nd}d_backward")(np.asarray(w), want_idx, x.shape))
    # adaptive windows overlap: where three or more add up, the order of the sums differs from XLA's scatter
    want = jax.grad(lambda x: jnp.sum(adaptive_jnp(x, out, jnp.max) * w))(x)
    np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-7)


def adaptive_jnp(x, out, reduce):
    """PyTorch's adaptive windows over the last len(out) axes, one slice per output element."""
    nd = len(out)
    spans = [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)] for n, o in zip(x.shape[-nd:], out)]
    cells = [reduce(x[(Ellipsis,) + tuple(slice(a, b) for a, b in cell)], axis=tuple(range(-nd, 0)))
             for cell in itertools.product(*spans)]
    return jnp.stack(cells, axis=-1).reshape(x.shape[:-nd] + tuple(out))


# ---------------------------------------------------------------------------------------- average pooling

@pytest.mark.parametrize("nd", NDS)
@pytest.mark.parametrize("case", AVG_CASES, ids=lambda c: c[0])
def test_avg_pool_values_and_gradient(nd, case, how):
    """Values and gradient: stridepool.reference bit for bit; XLA's (add, then divide) to rounding, because
    XLA's summation order is not row-major (and is unspecified)."""
    kw = case[1]
    x = weights(SHAPES[nd], seed=4)
    y = fn("avg_pool#d", nd)(x, **kw)
    np.testing.assert_array_equal(y, getattr(ref, f"avg_pool{nd}d")(np.asarray(x), **kw))
    np.testing.assert_allclose(y, xla_avg(x, nd, **kw), rtol=2e-6, atol=2e-6)
    w = weights(y.shape)
    ours = jax.jit(jax.grad(lambda x: jnp.sum(fn("avg_pool#d", nd)(x, **kw) * w)))(x)
    np.testing.assert_array_equal(ours, getattr(ref, f"avg_pool{nd}d_backward")(np.asarray(w), x.shape, **kw))
    want = jax.grad(lambda x: jnp.sum(xla_avg(x, nd, **kw) * w))(x)
    np.testing.assert_allclose(ours, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("nd", NDS)
def test_adaptive_avg_pool(nd, how):
    x = weights(SHAPES[nd], seed=5)
    out = (3, 4, 2)[:nd]
    y = fn("adaptive_avg_pool#d", nd)(x, out)
    np.testing.assert_array_equal(y, getattr(ref, f"adaptive_avg_pool{nd}d")(np.asarray(x), out))
    np.testing.assert_allclose(y, adaptive_jnp(x, out, jnp.mean), rtol=2e-6, atol=2e-6)
    w = weights(y.shape)
    ours = jax.grad(lambda x: jnp.sum(fn("adaptive_avg_pool#d", nd)(x, out) * w))(x)
    np.testing.assert_array_equal(ours, getattr(ref, f"adaptive_avg_pool{nd}d_backward")(np.asarray(w), x.shape))
    want = jax.grad(lambda x: jnp.sum(adaptive_jnp(x, out, jnp.mean) * w))(x)
    np.testing.assert_allclose(ours, want, rtol=2e-6, atol=2e-6)


# --------------------------------------------------------------------- the backward functions, unpool, fold

def gather_np(src, idx, nd):
    """src[..., idx] per pooled extent (last nd axes), NumPy."""
    flat = src.reshape(src.shape[:-nd] + (-1,))
    return np.take_along_axis(flat, idx.reshape(idx.shape[:-nd] + (-1,)), axis=-1).reshape(idx.shape)


@pytest.mark.parametrize("nd", NDS)
def test_backward_functions_and_their_gradients(nd, how):
    """max/avg/adaptive backward: values as the reference's; their own gradients (linear maps) are the
    adjoints: the cotangent gathered at the indices, the forward average pooling."""
    x = distinct(SHAPES[nd])
    y, idx = fn("max_pool#d", nd)(x, 3, 2, 1, return_indices=True)
    g, w = weights(y.shape), weights(x.shape, seed=2)
    gx = fn("max_pool#d_backward", nd)(g, idx, x.shape)
    np.testing.assert_array_equal(gx, getattr(ref, f"max_pool{nd}d_backward")(np.asarray(g), np.asarray(idx), x.shape))
    ours = jax.grad(lambda g: jnp.sum(fn("max_pool#d_backward", nd)(g, idx, x.shape) * w))(g)
    np.testing.assert_array_equal(ours, gather_np(np.asarray(w), np.asarray(idx), nd))

    ga = fn("avg_pool#d_backward", nd)(g, x.shape, 3, 2, 1)
    np.testing.assert_array_equal(ga, getattr(ref, f"avg_pool{nd}d_backward")(np.asarray(g), x.shape, 3, 2, 1))
    ours = jax.grad(lambda g: jnp.sum(fn("avg_pool#d_backward", nd)(g, x.shape, 3, 2, 1) * w))(g)
    np.testing.assert_array_equal(ours, getattr(ref, f"avg_pool{nd}d")(np.asarray(w), 3, 2, 1))

    ours = jax.grad(lambda g: jnp.sum(fn("adaptive_avg_pool#d_backward", nd)(g, x.shape) * w))(g)
    np.testing.assert_array_equal(ours, getattr(ref, f"adaptive_avg_pool{nd}d")(np.asarray(w), y.shape[-nd:]))


def unpool_winners_np(x, idx, out_plane):
    """max_unpool's rule in NumPy: the last value (row-major) written at an index wins; returns, per value,
    whether it is the one written."""
    lead = x.shape[:-2]
    won = np.zeros(x.shape, bool)
    for b in np.ndindex(*lead):
        seen = {}
        for pos in np.ndindex(*x.shape[-2:]):
            seen[int(idx[b + pos])] = pos
        for pos in seen.values():
            won[b + pos] = True
    return won


def test_max_unpool_and_its_gradient_with_duplicate_indices(how):
    """Duplicate indices (overlapping windows): only the value written (the last) gets the gradient."""
    x = weights((2, 3, 4, 4), seed=6)
    idx = jnp.asarray(np.random.default_rng(7).integers(0, 25, size=(2, 3, 4, 4)).astype(np.int32))
    y = spj.max_unpool2d(x, idx, 2, stride=1)
    assert y.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(y, ref.max_unpool2d(np.asarray(x), np.asarray(idx), 2, stride=1))
    w = weights(y.shape, seed=8)
    ours = jax.grad(lambda x: jnp.sum(spj.max_unpool2d(x, idx, 2, stride=1) * w))(x)
    won = unpool_winners_np(np.asarray(x), np.asarray(idx), 25)
    want = np.where(won, gather_np(np.asarray(w), np.asarray(idx), 2), 0)
    np.testing.assert_array_equal(ours, want)


def test_max_unpool_undoes_max_pool_channels_last(how):
    x = distinct((2, 8, 6, 3))  # NHWC
    y, idx = spj.max_pool2d(x, 2, return_indices=True, axes=(1, 2))
    u = spj.max_unpool2d(y, idx, 2, axes=(1, 2))
    np.testing.assert_array_equal(u, ref.max_unpool2d(np.asarray(y), np.asarray(idx), 2, axes=(1, 2)))
    ours = jax.grad(lambda y: jnp.sum(spj.max_unpool2d(y, idx, 2, axes=(1, 2)) * x))(y)
    np.testing.assert_array_equal(ours, y)  # each maximum reads back its own value


@pytest.mark.parametrize("nd", NDS)
def test_unfold_fold(nd, how):
    """unfold and fold: the reference's values; each one's gradient is the other (reference) applied."""
    x = weights(SHAPES[nd], seed=9)
    kw = dict(stride=2, padding=1, dilation=1)
    win = fn("unfold#d", nd)(x, 3, **kw)
    np.testing.assert_array_equal(win, getattr(ref, f"unfold{nd}d")(np.asarray(x), 3, **kw))
    w = weights(win.shape, seed=10)
    ours = jax.grad(lambda x: jnp.sum(fn("unfold#d", nd)(x, 3, **kw) * w))(x)
    np.testing.assert_array_equal(ours, getattr(ref, f"fold{nd}d")(np.asarray(w), x.shape, **kw))
    folded = fn("fold#d", nd)(w, x.shape, **kw)
    np.testing.assert_array_equal(folded, getattr(ref, f"fold{nd}d")(np.asarray(w), x.shape, **kw))
    ours = jax.grad(lambda w: jnp.sum(fn("fold#d", nd)(w, x.shape, **kw) * x))(w)
    np.testing.assert_array_equal(ours, getattr(ref, f"unfold{nd}d")(np.asarray(x), 3, **kw))


def test_every_name_of_the_numpy_api():
    from stridepool import _api

    assert [n for n in spj.__all__ if n != "mechanism"] == list(_api.BRIDGED)
    for name in _api.BRIDGED:
        f = getattr(spj, name)
        assert f.__name__ == name and f.__module__ == "stridepool.jax" and f"stridepool.{name}" in f.__doc__


# --------------------------------------------------------------------------------- jit, vmap, axes, dtypes

def test_vmap_is_one_kernel_call(monkeypatch, how):
    """A vmapped batch is one more leading axis: one call of the NumPy function for the whole batch, for the
    forward and for the backward, with the per-example results."""
    calls = []
    for name in ("max_pool2d", "max_pool2d_backward"):
        real = getattr(sp, name)
        monkeypatch.setattr(sp, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    x = distinct((5, 3, 8, 8))
    w = weights((3, 4, 4))
    f = jax.jit(jax.vmap(jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, 2) * w))))
    got = f(x)
    assert calls == ["max_pool2d", "max_pool2d_backward"]
    for b in range(5):
        np.testing.assert_array_equal(got[b], jax.grad(lambda x: jnp.sum(xla_max(x, 2, kernel_size=2) * w))(x[b]))


def test_vmap_over_a_middle_axis_with_positive_axes(how):
    """axes given as positive numbers stay right when vmap adds a batch axis (they are stored negative)."""
    x = distinct((6, 4, 5, 3))  # vmapped over axis 1: examples (6, 5, 3), pooled over their axes (0, 1)
    got = jax.vmap(lambda e: spj.max_pool2d(e, 2, axes=(0, 1)), in_axes=1, out_axes=1)(x)
    want = ref.max_pool2d(np.asarray(x), 2, axes=(0, 2))
    np.testing.assert_array_equal(got, want)
    g, idx = jax.vmap(lambda e: spj.max_pool2d(e, 2, return_indices=True, axes=(0, 1)), in_axes=1)(x)
    back = jax.vmap(lambda g, i: spj.max_pool2d_backward(g, i, (6, 5, 3), axes=(0, 1)))(g, idx)
    np.testing.assert_array_equal(back, np.moveaxis(ref.max_pool2d_backward(
        np.asarray(jnp.moveaxis(g, 0, 1)), np.asarray(jnp.moveaxis(idx, 0, 1)), x.shape, axes=(0, 2)), 1, 0))


def test_vmap_with_an_unbatched_argument(how):
    """vmap over the gradients only: the shared indices are broadcast to the batch."""
    x = distinct((3, 8, 8))
    y, idx = spj.max_pool2d(x, 2, return_indices=True)
    g = weights((4,) + y.shape)
    got = jax.vmap(lambda g: spj.max_pool2d_backward(g, idx, x.shape))(g)
    for b in range(4):
        np.testing.assert_array_equal(got[b], ref.max_pool2d_backward(np.asarray(g[b]), np.asarray(idx), x.shape))


def test_channels_last(how):
    x = distinct((2, 9, 10, 3))
    y = jax.jit(lambda x: spj.max_pool2d(x, 3, 2, 1, axes=(1, 2)))(x)
    np.testing.assert_array_equal(y, jnp.moveaxis(xla_max(jnp.moveaxis(x, 3, 1), 2, kernel_size=3, stride=2,
                                                          padding=1), 1, 3))
    w = weights(y.shape)
    ours = jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, 3, 2, 1, axes=(1, 2)) * w))(x)
    want = jax.grad(lambda x: jnp.sum(xla_max(jnp.moveaxis(x, 3, 1), 2, kernel_size=3, stride=2, padding=1)
                                      * jnp.moveaxis(w, 3, 1)))(x)
    np.testing.assert_array_equal(ours, want)


@contextlib.contextmanager
def x64():
    """JAX's 64-bit mode for a while (older jax has no jax.enable_x64)."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def test_x64_gives_int64_indices_and_float64(how):
    with x64():
        x = distinct((2, 9, 9), dtype=np.float64)
        y, idx = spj.max_pool2d(x, 3, 2, 1, return_indices=True)
        assert y.dtype == jnp.float64 and idx.dtype == jnp.int64
        want_y, want_idx = ref.max_pool2d(np.asarray(x), 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(y, want_y)
        np.testing.assert_array_equal(idx, want_idx)
        w = weights(y.shape, dtype=np.float64)
        ours = jax.jit(jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, 3, 2, 1) * w)))(x)
        want = jax.grad(lambda x: jnp.sum(xla_max(x, 2, kernel_size=3, stride=2, padding=1) * w))(x)
        np.testing.assert_array_equal(ours, want)
        assert spj.avg_pool2d(jnp.arange(16).reshape(4, 4), 2).dtype == jnp.float64


@pytest.mark.parametrize("dtype", ["float16", "int32", "uint8", "int8"])
def test_other_dtypes(dtype, how):
    """The kernels' dtypes: max keeps the dtype; average gives JAX's default float (float32 without x64)."""
    x = np.random.default_rng(11).integers(0, 100, (2, 7, 7)).astype(dtype)
    y, idx = spj.max_pool2d(jnp.asarray(x), 2, return_indices=True)
    want_y, want_idx = ref.max_pool2d(x, 2, return_indices=True)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)
    a = spj.avg_pool2d(jnp.asarray(x), 2)
    want = ref.avg_pool2d(x, 2)
    assert a.dtype == (np.float16 if dtype == "float16" else np.float32)
    np.testing.assert_array_equal(a, want.astype(a.dtype))


def test_large_results_are_written_into_xlas_buffers(how):
    """Results of OUT_BYTES or more go straight into XLA's buffer (out=): the same answers."""
    x = distinct((4, 16, 48, 48))
    assert x.size * 4 >= spj.OUT_BYTES
    y, idx = spj.max_pool2d(x, 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(y, xla_max(x, 2, kernel_size=3, stride=1, padding=1))
    np.testing.assert_array_equal(idx, ref.max_pool2d(np.asarray(x), 3, 1, 1, return_indices=True)[1])
    w = weights(y.shape)
    ours = jax.jit(jax.grad(lambda x: jnp.sum(spj.max_pool2d(x, 3, 1, 1) * w)))(x)
    np.testing.assert_array_equal(ours, jax.grad(lambda x: jnp.sum(xla_max(x, 2, kernel_size=3, stride=1,
                                                                             padding=1) * w))(x))
    np.testing.assert_array_equal(spj.avg_pool2d(x, 3, 1, 1), ref.avg_pool2d(np.asarray(x), 3, 1, 1))
    xi = np.asarray(x).astype(np.int32)
    np.testing.assert_array_equal(spj.avg_pool2d(xi, 3, 1, 1), ref.avg_pool2d(xi, 3, 1, 1).astype(np.float32))
    np.testing.assert_array_equal(spj.fold2d(spj.unfold2d(x, 2), x.shape),
                                  ref.fold2d(ref.unfold2d(np.asarray(x), 2), x.shape))


def test_numpy_and_list_inputs_are_not_modified():
    x = np.arange(16.0, dtype=np.float32).reshape(4, 4)
    before = x.copy()
    y = spj.max_pool2d(x, 2)
    assert isinstance(y, jax.Array)
    np.testing.assert_array_equal(spj.max_pool2d(x.tolist(), 2), y)
    np.testing.assert_array_equal(x, before)


def test_threads_call_the_bridge_at_once():
    """XLA runs the handler on whichever thread executes: concurrent jitted calls give the right results."""
    x = distinct((4, 16, 32, 32))
    f = jax.jit(lambda x: spj.max_pool2d(x, 3, 2, 1))
    want = np.asarray(xla_max(x, 2, kernel_size=3, stride=2, padding=1))
    bad = []

    def work():
        for _ in range(10):
            if not np.array_equal(f(x), want):
                bad.append(1)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_a_spec_from_another_process_is_decoded(monkeypatch):
    """An executable from the persistent compilation cache names its call by the spec's JSON text only: the
    handler decodes it when this process has not made it."""
    from stridepool import _xla_ffi

    x = distinct((2, 8, 8))
    f = jax.jit(lambda x: spj.max_pool2d(x, 2, return_indices=True))
    want = f(x)
    monkeypatch.setattr(_xla_ffi, "_SPECS", {})
    got = f(x)  # compiled already: only the handler runs
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert len(_xla_ffi._SPECS) == 1
    text, spec = next(iter(_xla_ffi._SPECS.items()))
    made = spj._Spec("max_pool2d", (3,), (("axes", (-2, -1)), ("ceil_mode", False), ("dilation", (1, 1)),
                                          ("kernel_size", (2, 2)), ("padding", ((0, 0), (0, 0))),
                                          ("return_indices", True), ("stride", (2, 2))))
    assert spec == made and text == made.text.encode()


# ----------------------------------------------------------------------------------------------- errors

X = np.zeros((2, 6, 6), np.float32)
ERRORS = [
    ("kernel-zero", lambda: spj.max_pool2d(X, 0), ValueError, "`kernel_size` must be >= 1"),
    ("padding-too-big", lambda: spj.max_pool2d(X, 2, padding=2), ValueError, "`padding`"),
    ("axes-repeated", lambda: spj.max_pool2d(X, 2, axes=(1, 1)), ValueError, "`axes`"),
    ("bool", lambda: spj.max_pool2d(X > 0, 2), TypeError, "unsupported dtype bool"),
    ("bfloat16", lambda: spj.max_pool2d(X.astype(jnp.bfloat16), 2), TypeError, "unsupported dtype bfloat16"),
    ("out", lambda: spj.max_pool2d(X, 2, out=np.zeros((2, 3, 3), np.float32)), TypeError, "`out`"),
    ("return-indices", lambda: spj.max_pool2d(X, 2, return_indices=1), TypeError, "`return_indices`"),
    ("divisor", lambda: spj.avg_pool2d(X, 2, divisor_override=0), ValueError, "`divisor_override`"),
    ("float-indices", lambda: spj.max_pool2d_backward(X[:, :3, :3], X[:, :3, :3], X.shape), TypeError, "`indices`"),
    ("grad-shape", lambda: spj.avg_pool2d_backward(X, X.shape, 2), ValueError, "`grad_output`"),
    ("output-size", lambda: spj.adaptive_avg_pool2d(X, 0), ValueError, "`output_size`"),
    ("windows", lambda: spj.fold2d(X, (2, 6, 6)), ValueError, "`windows`"),
    ("unpool-same", lambda: spj.max_unpool2d(X, X.astype(np.int32), 2, padding="same"), ValueError, "`padding`"),
    ("too-few-dims", lambda: spj.max_pool3d(X[0], 2), ValueError, "at least 3 dimensions"),
]


@pytest.mark.parametrize("call, exc, match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_when_traced(call, exc, match):
    """stridepool's own messages, at the call and inside jit (when traced, before anything runs)."""
    with pytest.raises(exc, match=match):
        call()
    with pytest.raises(exc, match=match):
        jax.jit(lambda: call())()


def test_bad_indices_raise_at_run_time(how):
    """Index values are data: the kernel's ValueError comes back as the computation's error."""
    x = distinct((2, 6, 6))
    y, idx = spj.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(Exception, match=r"`indices` must lie in \[0, 36\)"):
        jax.block_until_ready(spj.max_pool2d_backward(y, idx + 100, x.shape))


def test_int32_indices_limit():
    with pytest.raises(ValueError, match="too large for int32 indices"):
        jax.eval_shape(lambda x: spj.max_pool1d(x, 2), jax.ShapeDtypeStruct((2**31 + 2,), jnp.float32))


# ------------------------------------------------------------------------------------ packaging, imports

def _python(code, *env_pairs):
    import os

    env = dict(os.environ, **dict(env_pairs))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_import_stridepool_imports_no_framework():
    r = _python("import sys, stridepool; print(sorted(m for m in ('jax', 'jaxlib', 'torch', 'autograd') "
                "if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_import_without_jax_names_the_extra():
    r = _python("import sys\nsys.modules['jax'] = None\ntry:\n    import stridepool.jax\nexcept ImportError as e:"
                "\n    print('ImportError:', e)")
    assert r.returncode == 0, r.stderr
    assert 'pip install "stridepool[jax]"' in r.stdout


def test_pure_callback_mechanism_from_the_environment():
    r = _python("import jax.numpy as jnp, stridepool.jax as spj; print(spj.mechanism, "
                "spj.max_pool2d(jnp.arange(16.0).reshape(4, 4), 2).tolist())", ("STRIDEPOOL_JAX_CALL", "callback"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "callback [[5.0, 7.0], [13.0, 15.0]]"
