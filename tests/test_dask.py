"""Dask arrays: every public function lazily on chunked arrays, equal to the in-memory call.

Forward values and indices are compared bit for bit with the in-memory call on the computed input; backward
passes and fold (overlap-add across chunk edges) exactly for integers and to rounding for floats. The parity
geometries of ``cases.py`` run over many chunkings (one chunk, one-element chunks, odd edges, uneven chunks),
on the synchronous scheduler, on the threaded one and on a ``distributed.LocalCluster`` of two worker
processes; errors are the in-memory call's, raised at the call with nothing computed.
"""
import math
import random
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import stridepool as sp  # noqa: E402
from cases import DTYPES, GEOMETRIES, LAYOUTS, avg_kwargs, fold_kwargs, make_array  # noqa: E402
from stridepool import _blocks as B  # noqa: E402
from stridepool import _params as P  # noqa: E402
from stridepool import reference  # noqa: E402

from test_errors import CASES  # noqa: E402  (the table of bad calls)

BACKENDS = {"active": sp, "reference": reference}


@pytest.fixture(autouse=True)
def _synchronous():
    """The synchronous scheduler unless a test picks another (exceptions surface as they are)."""
    with dask.config.set(scheduler="synchronous"):
        yield


# ------------------------------------------------------------------------------------------- helpers


def chunkings(shape, ax):
    """Chunk specs for an array: one chunk; one-element chunks along the pooled axes (small planes); odd
    edges (3 along the first pooled axis, 5 along the next); uneven random chunks; each with the leading axes
    split in ones where they can be."""
    lead = {i: 1 for i in range(len(shape)) if i not in ax}
    out = {"one": {i: -1 for i in range(len(shape))}}
    if math.prod(shape[a] for a in ax) <= 100:
        out["ones"] = {**lead, **{a: 1 for a in ax}}
    out["odd"] = {**lead, **{a: (3, 5, 2)[j] for j, a in enumerate(ax)}}
    rng = random.Random(hash(tuple(shape)) % 1000)
    uneven = {}
    for a in ax:
        n, parts = shape[a], []
        while sum(parts) < n:
            parts.append(min(rng.randint(1, 6), n - sum(parts)))
        uneven[a] = tuple(parts) or (0,)
    out["uneven"] = {**lead, **uneven}
    return out


def lazy(a, chunks):
    """``a`` as a dask array; a chunk spec made for another shape keeps its ints and turns tuples into 2."""
    a = np.asarray(a)
    if isinstance(chunks, dict):
        chunks = {i: c if not isinstance(c, tuple) or sum(c) == a.shape[i] else 2 for i, c in chunks.items()}
    return da.from_array(a, chunks=chunks)


def grad(shape, dtype, seed=7):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shape) * 3
    return g.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(g).astype(dtype)


def assert_close(got, want):
    """Backward results: same dtype and shape; integers exact, floats to rounding (sums in another order)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, strict=True)
        return
    rtol = {2: 4e-3, 4: 2e-6, 8: 1e-13}[want.dtype.itemsize]
    finite = np.abs(want[np.isfinite(want)]).astype(np.float64)
    scale = float(finite.max(initial=0.0))
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=rtol * scale)


def assert_lazy(*arrays):
    for a in arrays:
        assert isinstance(a, da.Array), type(a)


def geometry_params(backends=("active",)):
    params = []
    for i, (gid, lead, hw, kw) in enumerate(GEOMETRIES):
        dtype = DTYPES[i % len(DTYPES)]
        layout = LAYOUTS[i % len(LAYOUTS)]
        special = ("nan-inf", "ties", "none")[i % 3] if np.dtype(dtype).kind == "f" else ("extremes", "none")[i % 2]
        shape = lead + hw
        ax = (len(shape) - 2, len(shape) - 1)
        for cid, chunks in chunkings(shape, ax).items():
            for b in backends:
                if b == "reference" and cid != "odd":
                    continue
                params.append(pytest.param(shape, dtype, layout, special, kw, chunks, b,
                                           id=f"{gid}-{dtype}-{cid}-{b}"))
    return params


GEOMETRY_PARAMS = geometry_params(("active", "reference"))
NO_DILATION = [p for p in GEOMETRY_PARAMS if "dilation" not in p.values[4]]
UNPOOL_PARAMS = [p for p in NO_DILATION if p.values[4].get("padding") != "same"]  # unpooling: no 'same'



def _x(shape, dtype, layout, special, seed=0):
    return make_array(shape, dtype, layout, special, seed=seed)


# --------------------------------------------------------------------------- the foundation: block tables


@pytest.mark.parametrize("seed", range(8))
def test_block_tables_are_the_global_rows(seed):
    """A block of windows over its input region is an Axis whose table is the global table's rows for those
    windows, ``start`` shifted by the region's start (t0, t1, padded unchanged): random geometries, random
    chunkings of the input (forward) and of the windows (backward)."""
    rng = random.Random(seed)
    checked = 0
    while checked < 400:
        n = rng.randint(0, 40)
        if rng.random() < 0.25:
            if n == 0:
                continue
            a = P.adaptive_axis(n, rng.randint(1, 50))
        else:
            k, s, d = rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
            lo, hi, ceil = rng.randint(0, 6), rng.randint(0, 6), rng.random() < 0.5
            o = P.out_size(n, k, s, d, lo, hi, ceil)
            if o < 1:
                continue
            a = P.Axis(n, k, s, d, lo, hi, o)
        table = P.axis_table(a)
        for mode in ("input", "windows"):
            total = n if mode == "input" else a.o
            cuts = sorted(rng.sample(range(1, total), min(total - 1, rng.randint(0, 6)))) if total > 1 else []
            sizes = np.diff([0] + cuts + [total]) if total else [0]
            ranges = B.assign(a, sizes) if mode == "input" else B.window_ranges(sizes)
            assert ranges[0][0] == 0 and ranges[-1][1] == a.o
            assert all(r0[1] == r1[0] for r0, r1 in zip(ranges, ranges[1:]))
            for i0, i1 in ranges:
                lo_, hi_, b = B.block(a, i0, i1)
                got, want = P.axis_table(b), table[:, i0:i1].copy()
                want[0] -= lo_
                real = want[2] > want[1]
                assert b.n == hi_ - lo_ and b.o == i1 - i0
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[3], want[3])
                np.testing.assert_array_equal(got[1:3, real], want[1:3, real])
                assert (got[2, ~real] <= got[1, ~real]).all()  # windows of padding only stay empty
                if real.any():
                    assert 0 <= lo_ < hi_ <= n and b.lo >= 0
                    # the region is tight: its first and last elements are taps of these windows
                    taps = {int(st + t * a.d) for st, t0, t1 in zip(*table[:3, i0:i1]) for t in range(t0, t1)} \
                        if a.s else set(range(lo_, hi_))
                    assert min(taps) == lo_ and max(taps) == hi_ - 1
            if mode == "input":  # windows that read only their home chunk, over the whole chunk
                edges = B.bounds(sizes)
                for i0, i1 in ranges:
                    c = min(int(np.searchsorted(edges, B.anchors(a)[i0], side="right")) - 1, len(sizes) - 1)
                    h0, h1 = int(edges[c]), int(edges[c + 1])
                    runs = B.parts(a, i0, i1, h0, h1)
                    assert runs[0][0] == i0 and runs[-1][1] == i1 and sum(r[2] for r in runs) <= 1
                    for j0, j1, inside in runs:
                        if not inside:
                            continue
                        got, want = P.axis_table(B.inner(a, j0, j1, h0, h1)), table[:, j0:j1].copy()
                        want[0] -= h0
                        real = want[2] > want[1]
                        np.testing.assert_array_equal(got[[0, 3]], want[[0, 3]])
                        np.testing.assert_array_equal(got[1:3, real], want[1:3, real])
                        first, last = B.spans(a, j0, j1)
                        assert ((first >= h0) & (last < h1) | ~real).all()
            homes = B.homes(a, ranges)
            assert homes[0][0] == 0 and homes[-1][1] == n
            assert all(h[1] > h[0] for h in homes) or n == 0
            checked += 1


def test_output_is_chunked_on_window_boundaries():
    x = lazy(np.zeros((4, 3, 256, 192), np.float32), (2, 3, 64, 64))
    assert sp.max_pool2d(x, 2).chunks == ((2, 2), (3,), (32,) * 4, (32,) * 3)
    assert sp.max_pool2d(x, 3, 2, 1).chunks == ((2, 2), (3,), (32,) * 4, (32,) * 3)
    assert sp.avg_pool2d(x, 4).chunks == ((2, 2), (3,), (16,) * 4, (16,) * 3)
    y, idx = sp.max_pool2d(x, 2, return_indices=True)
    g = sp.max_pool2d_backward(y, idx, x.shape)
    assert g.chunks == x.chunks  # the gradient is chunked like the input (chunks are multiples of the stride)
    assert sp.avg_pool2d_backward(sp.avg_pool2d(x, 2), x.shape, 2).chunks == x.chunks
    assert sp.unfold2d(x, 2, 2).chunks == ((2, 2), (3,), (32,) * 4, (32,) * 3, (2,), (2,))
    # chunks smaller than the stride: chunks that anchor no window are merged into their neighbours
    z = lazy(np.zeros((5, 7)), 1)
    assert sp.max_pool2d(z, 2, ceil_mode=True).chunks == ((1,) * 3, (1,) * 4)


# ------------------------------------------------------------------------- 2D parity over the geometries


@pytest.mark.parametrize("shape, dtype, layout, special, kw, chunks, backend", GEOMETRY_PARAMS)
def test_max_pool(shape, dtype, layout, special, kw, chunks, backend, assert_same):
    mod = BACKENDS[backend]
    x = _x(shape, dtype, layout, special)
    xd = lazy(x, chunks)
    y, idx = mod.max_pool2d(xd, return_indices=True, **kw)
    assert_lazy(y, idx)
    y_mem, idx_mem = mod.max_pool2d(x, return_indices=True, **kw)
    got_y, got_idx = dask.compute(y, idx)
    assert_same(got_y, y_mem)
    assert_same(got_idx, idx_mem)
    assert_same(mod.max_pool2d(xd, **kw).compute(), y_mem)
    g = grad(y_mem.shape, x.dtype)
    gd = lazy(g, 2)  # chunked otherwise than the indices: rechunked to them
    back = mod.max_pool2d_backward(gd, idx, shape)
    assert_lazy(back)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the indices are known: no fallback
        assert_close(back.compute(), mod.max_pool2d_backward(g, idx_mem, shape))


@pytest.mark.parametrize("shape, dtype, layout, special, kw, chunks, backend", NO_DILATION)
def test_avg_pool(shape, dtype, layout, special, kw, chunks, backend, assert_same):
    mod = BACKENDS[backend]
    kw = avg_kwargs(kw)
    x = _x(shape, dtype, layout, special)
    xd = lazy(x, chunks)
    for include, div in ((True, None), (False, None), (True, -3)):
        y = mod.avg_pool2d(xd, count_include_pad=include, divisor_override=div, **kw)
        assert_lazy(y)
        y_mem = mod.avg_pool2d(x, count_include_pad=include, divisor_override=div, **kw)
        assert_same(y.compute(), y_mem)
        g = grad(y_mem.shape, x.dtype)
        back = mod.avg_pool2d_backward(lazy(g, chunks), shape, count_include_pad=include, divisor_override=div,
                                       **kw)
        assert_close(back.compute(),
                     mod.avg_pool2d_backward(g, shape, count_include_pad=include, divisor_override=div, **kw))


@pytest.mark.parametrize("shape, dtype, layout, special, kw, chunks, backend", GEOMETRY_PARAMS)
def test_unfold_fold(shape, dtype, layout, special, kw, chunks, backend, assert_same):
    mod = BACKENDS[backend]
    kw = fold_kwargs(kw)
    x = _x(shape, dtype, layout, special)
    w = mod.unfold2d(lazy(x, chunks), **kw)
    assert_lazy(w)
    w_mem = mod.unfold2d(x, **kw)
    assert_same(w.compute(), w_mem)
    win = grad(w_mem.shape, x.dtype)
    fkw = {k: v for k, v in kw.items() if k != "kernel_size"}
    folded = mod.fold2d(lazy(win, {**chunks, len(shape): 1, len(shape) + 1: -1}), shape, **fkw)
    assert_lazy(folded)
    assert_close(folded.compute(), mod.fold2d(win, shape, **fkw))


@pytest.mark.parametrize("shape, dtype, layout, special, kw, chunks, backend", UNPOOL_PARAMS)
def test_max_unpool(shape, dtype, layout, special, kw, chunks, backend, assert_same):
    mod = BACKENDS[backend]
    kw = {k: v for k, v in kw.items() if k in ("kernel_size", "stride", "padding")}
    x = _x(shape, dtype, layout, special)
    y, idx = mod.max_pool2d(lazy(x, chunks), return_indices=True, **kw)
    y_mem, idx_mem = mod.max_pool2d(x, return_indices=True, **kw)
    want = mod.max_unpool2d(y_mem, idx_mem, output_size=shape, **kw)
    # indices recorded by the forward (exact windows), and the same indices of unknown origin (the windows
    # that kernel_size, stride and padding give)
    assert_same(mod.max_unpool2d(y, idx, output_size=shape, **kw).compute(), want)
    other = lazy(idx_mem, 2)
    assert_same(mod.max_unpool2d(lazy(y_mem, 3), other, output_size=shape, **kw).compute(), want)


# ------------------------------------------------------------------------------------ 1D, 3D, adaptive

ND_CASES = [
    pytest.param(1, (3, 29), dict(kernel_size=3, stride=2, padding=1), {0: 1, 1: 4}, id="1d-k3s2p1"),
    pytest.param(1, (2, 31), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True), {1: 1}, id="1d-ceil-ones"),
    pytest.param(1, (40,), dict(kernel_size=3, stride=1, padding=1, dilation=2), {0: 7}, id="1d-dilated-no-lead"),
    pytest.param(3, (2, 9, 10, 11), dict(kernel_size=3, stride=2, padding=1), {0: 1, 1: 4, 2: 3, 3: 5},
                 id="3d-k3s2p1"),
    pytest.param(3, (1, 7, 8, 9), dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), ceil_mode=True),
                 {1: 2, 2: 1, 3: 4}, id="3d-rect-ceil"),
    pytest.param(3, (6, 7, 5), dict(kernel_size=2, stride=1, padding=1, dilation=(1, 2, 1)), {0: 1, 1: 3, 2: 2},
                 id="3d-dilated-no-lead"),
]


@pytest.mark.parametrize("backend", ["active", "reference"])
@pytest.mark.parametrize("dtype", ["float32", "int32", "float16"])
@pytest.mark.parametrize("nd, shape, kw, chunks", ND_CASES)
def test_1d_3d(nd, shape, kw, chunks, dtype, backend, assert_same):
    mod = BACKENDS[backend]
    fn = lambda name: getattr(mod, name.replace("#", str(nd)))  # noqa: E731
    x = make_array(shape, dtype, special="ties" if dtype != "int32" else "extremes", seed=nd)
    xd = lazy(x, chunks)
    y, idx = fn("max_pool#d")(xd, return_indices=True, **kw)
    y_mem, idx_mem = fn("max_pool#d")(x, return_indices=True, **kw)
    got = dask.compute(y, idx)
    assert_same(got[0], y_mem)
    assert_same(got[1], idx_mem)
    g = grad(y_mem.shape, dtype)
    assert_close(fn("max_pool#d_backward")(lazy(g, 3), idx, shape).compute(),
                 fn("max_pool#d_backward")(g, idx_mem, shape))
    akw = avg_kwargs(kw)
    a_mem = fn("avg_pool#d")(x, **akw)
    assert_same(fn("avg_pool#d")(xd, **akw).compute(), a_mem)
    ga = grad(a_mem.shape, dtype)
    assert_close(fn("avg_pool#d_backward")(lazy(ga, 2), shape, **akw).compute(),
                 fn("avg_pool#d_backward")(ga, shape, **akw))
    fkw = fold_kwargs(kw)
    w_mem = fn("unfold#d")(x, **fkw)
    assert_same(fn("unfold#d")(xd, **fkw).compute(), w_mem)
    fkw.pop("kernel_size")
    assert_close(fn("fold#d")(lazy(w_mem, 2), shape, **fkw).compute(), fn("fold#d")(w_mem, shape, **fkw))
    if "dilation" not in kw:
        ukw = {k: v for k, v in kw.items() if k in ("kernel_size", "stride", "padding")}
        y2, i2 = fn("max_pool#d")(xd, return_indices=True, **ukw)
        y2m, i2m = fn("max_pool#d")(x, return_indices=True, **ukw)
        assert_same(fn("max_unpool#d")(y2, i2, output_size=shape, **ukw).compute(),
                    fn("max_unpool#d")(y2m, i2m, output_size=shape, **ukw))


ADAPTIVE_CASES = [
    pytest.param(2, (2, 3, 17, 23), (5, 7), {0: 1, 2: 4, 3: 5}, id="2d-5x7"),
    pytest.param(2, (2, 9, 10), (20, 13), {1: 2, 2: 3}, id="2d-larger-than-input"),
    pytest.param(2, (3, 12, 12), (None, 4), {1: 5, 2: 1}, id="2d-none-divisible"),
    pytest.param(2, (2, 14, 11), 1, {1: 4, 2: 3}, id="2d-global"),
    pytest.param(1, (4, 50), 7, {0: 2, 1: 6}, id="1d"),
    pytest.param(1, (3, 5), 11, {1: 1}, id="1d-larger-ones"),
    pytest.param(3, (2, 6, 7, 9), (4, 3, 5), {1: 2, 2: 3, 3: 4}, id="3d"),
]


@pytest.mark.parametrize("backend", ["active", "reference"])
@pytest.mark.parametrize("dtype", ["float64", "uint8"])
@pytest.mark.parametrize("nd, shape, size, chunks", ADAPTIVE_CASES)
def test_adaptive(nd, shape, size, chunks, dtype, backend, assert_same):
    mod = BACKENDS[backend]
    x = make_array(shape, dtype, special="ties" if dtype == "float64" else "none", seed=3)
    xd = lazy(x, chunks)
    y, idx = getattr(mod, f"adaptive_max_pool{nd}d")(xd, size, return_indices=True)
    y_mem, idx_mem = getattr(mod, f"adaptive_max_pool{nd}d")(x, size, return_indices=True)
    got = dask.compute(y, idx)
    assert_same(got[0], y_mem)
    assert_same(got[1], idx_mem)
    g = grad(y_mem.shape, dtype)
    assert_close(getattr(mod, f"max_pool{nd}d_backward")(lazy(g, 2), idx, shape).compute(),
                 getattr(mod, f"max_pool{nd}d_backward")(g, idx_mem, shape))
    a_mem = getattr(mod, f"adaptive_avg_pool{nd}d")(x, size)
    assert_same(getattr(mod, f"adaptive_avg_pool{nd}d")(xd, size).compute(), a_mem)
    ga = grad(a_mem.shape, a_mem.dtype)
    assert_close(getattr(mod, f"adaptive_avg_pool{nd}d_backward")(lazy(ga, 3), shape).compute(),
                 getattr(mod, f"adaptive_avg_pool{nd}d_backward")(ga, shape))


# ------------------------------------------------------------------------------------- layouts and axes


@pytest.mark.parametrize("axes", [(1, 2), (2, 0), (-1, 1)], ids=str)
@pytest.mark.parametrize("backend", ["active", "reference"])
def test_other_axes_and_channels_last(axes, backend, assert_same):
    """Channels-last (N, H, W, C) with axes=(1, 2), C chunked too; pooled axes apart and reversed."""
    mod = BACKENDS[backend]
    x = make_array((3, 13, 11, 6), "float32", special="nan-inf", seed=5)
    xd = lazy(x, (1, 4, 3, 4))
    kw = dict(kernel_size=3, stride=2, padding=1)
    y, idx = mod.max_pool2d(xd, return_indices=True, axes=axes, **kw)
    y_mem, idx_mem = mod.max_pool2d(x, return_indices=True, axes=axes, **kw)
    got = dask.compute(y, idx)
    assert_same(got[0], y_mem)
    assert_same(got[1], idx_mem)
    g = grad(y_mem.shape, np.float32)
    assert_close(mod.max_pool2d_backward(lazy(g, 2), idx, x.shape, axes=axes).compute(),
                 mod.max_pool2d_backward(g, idx_mem, x.shape, axes=axes))
    assert_same(mod.avg_pool2d(xd, axes=axes, **kw).compute(), mod.avg_pool2d(x, axes=axes, **kw))
    assert_close(mod.avg_pool2d_backward(lazy(g, 3), x.shape, axes=axes, **kw).compute(),
                 mod.avg_pool2d_backward(g, x.shape, axes=axes, **kw))
    w = mod.unfold2d(x, axes=axes, **kw)
    assert_same(mod.unfold2d(xd, axes=axes, **kw).compute(), w)
    assert_close(mod.fold2d(lazy(w, 2), x.shape, 2, 1, axes=axes).compute(), mod.fold2d(w, x.shape, 2, 1, axes=axes))
    assert_same(mod.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape, axes=axes).compute(),
                mod.max_unpool2d(y_mem, idx_mem, 3, 2, 1, output_size=x.shape, axes=axes))
    assert_same(mod.adaptive_max_pool2d(xd, (5, 4), axes=axes).compute(),
                mod.adaptive_max_pool2d(x, (5, 4), axes=axes))


@pytest.mark.parametrize("kw, chunk", [
    (dict(kernel_size=7, stride=1, padding=3), 2),
    (dict(kernel_size=5, stride=3, padding=2, dilation=3, ceil_mode=True), 1),
    (dict(kernel_size=(6, 2), stride=(5, 1), padding=(3, 1), ceil_mode=True), 4),
], ids=["k7s1p3-chunks2", "dilated3-ones", "k6s5-ceil-chunks4"])
def test_windows_wider_than_chunks(kw, chunk, assert_same):
    """Windows that span several chunks read halos from all of them."""
    x = make_array((2, 23, 19), "int16", special="extremes", seed=2)
    xd = lazy(x, (2, chunk, chunk))
    y, idx = sp.max_pool2d(xd, return_indices=True, **kw)
    y_mem, idx_mem = sp.max_pool2d(x, return_indices=True, **kw)
    got = dask.compute(y, idx)
    assert_same(got[0], y_mem)
    assert_same(got[1], idx_mem)
    g = grad(y_mem.shape, np.int16)
    assert_same(sp.max_pool2d_backward(lazy(g, chunk), idx, x.shape).compute(),
                sp.max_pool2d_backward(g, idx_mem, x.shape))
    if "dilation" not in kw:
        akw = avg_kwargs(kw)
        assert_same(sp.avg_pool2d(xd, **akw).compute(), sp.avg_pool2d(x, **akw))
        ga = grad(sp.avg_pool2d(x, **akw).shape, np.float64)
        assert_close(sp.avg_pool2d_backward(lazy(ga, chunk), x.shape, **akw).compute(),
                     sp.avg_pool2d_backward(ga, x.shape, **akw))


def test_results_do_not_depend_on_the_chunking(assert_same):
    """Every chunking gives the same arrays (forward bit for bit; integer backward exactly)."""
    x = make_array((2, 21, 16), "int64", special="extremes", seed=9)
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    results = []
    for chunks in [(2, 21, 16), (2, 1, 1), (1, 4, 7), (2, (1, 9, 2, 9), (15, 1)), (1, 2, 3)]:
        xd = lazy(x, chunks)
        y, idx = sp.max_pool2d(xd, return_indices=True, **kw)
        g = y // 3
        results.append(dask.compute(y, idx, sp.max_pool2d_backward(g, idx, x.shape),
                                    sp.avg_pool2d_backward(g, x.shape, **kw), sp.avg_pool2d(xd, **kw)))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert_same(a, b)


def test_big_endian_and_float16(assert_same):
    x = make_array((2, 9, 10), ">f4", special="nan-inf", seed=1)
    xd = lazy(x, (1, 4, 3))
    y, idx = sp.max_pool2d(xd, 3, 2, 1, return_indices=True)
    assert y.dtype == np.float32
    got = dask.compute(y, idx)
    assert_same(got[0], sp.max_pool2d(x, 3, 2, 1))
    h = make_array((2, 9, 10), "float16", seed=2)
    g = grad((2, 5, 5), "float16")
    want = sp.avg_pool2d_backward(g, h.shape, 3, 2, 1)
    got = sp.avg_pool2d_backward(lazy(g, 2), h.shape, 3, 2, 1).compute()
    assert got.dtype == np.float16
    assert_close(got, want)


def test_chunks_of_size_zero(assert_same):
    x = make_array((2, 10, 12), "float64", seed=3)
    xd = lazy(x, ((1, 1), (4, 0, 6), (5, 0, 0, 7)))
    y, idx = sp.max_pool2d(xd, 3, 2, 1, return_indices=True)
    y_mem, idx_mem = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert_same(y.compute(), y_mem)
    assert_same(idx.compute(), idx_mem)
    g = lazy(y_mem, ((2,), (2, 0, 3), (0, 6)))
    assert_close(sp.max_pool2d_backward(g, idx, x.shape).compute(), sp.max_pool2d_backward(y_mem, idx_mem, x.shape))
    assert_close(sp.avg_pool2d_backward(g, x.shape, 3, 2, 1).compute(), sp.avg_pool2d_backward(y_mem, x.shape, 3, 2, 1))
    assert_same(sp.max_unpool2d(g, lazy(idx_mem, g.chunks), 3, 2, 1, output_size=x.shape).compute(),
                sp.max_unpool2d(y_mem, idx_mem, 3, 2, 1, output_size=x.shape))


def test_zero_size_leading_axes(assert_same):
    x = np.zeros((0, 3, 8, 8), np.float32)
    y, idx = sp.max_pool2d(lazy(x, (1, 1, 3, 3)), 3, 2, 1, return_indices=True)
    assert y.shape == (0, 3, 4, 4)
    got = dask.compute(y, idx, sp.max_pool2d_backward(y, idx, x.shape))
    assert_same(got[0], sp.max_pool2d(x, 3, 2, 1))
    assert_same(got[2], x)


# ----------------------------------------------------------------------------------- one kernel a block


def test_values_and_indices_run_the_kernel_once_per_block(monkeypatch):
    """Values and indices come from one kernel run per block: computing both costs what computing one does
    (a block whose windows read halos runs the kernel once for the windows inside its chunk and once for
    each run of windows at an edge)."""
    from stridepool import _reference

    calls = []
    real = _reference.run_max
    monkeypatch.setattr(_reference, "run_max", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = lazy(np.arange(24 * 30.0).reshape(24, 30), (8, 10))
    y, idx = reference.max_pool2d(x, 2, return_indices=True)
    assert not calls  # lazy
    dask.compute(y, idx)
    assert len(calls) == y.npartitions == 9  # no halos: one run per block
    y, idx = reference.max_pool2d(x, 3, 2, 1, return_indices=True)
    calls.clear()
    y.compute()
    alone = len(calls)
    calls.clear()
    dask.compute(y, idx)
    assert len(calls) == alone


# ------------------------------------------------------------------------------------ index-driven ops


def test_indices_of_unknown_origin_are_scattered_correctly(assert_same):
    x = make_array((2, 20, 18), "float64", special="ties", seed=4)
    y_mem, idx_mem = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
    g = grad(y_mem.shape, np.float64)
    want = sp.max_pool2d_backward(g, idx_mem, x.shape)
    with pytest.warns(da.PerformanceWarning, match="whole pooled extent"):
        got = sp.max_pool2d_backward(lazy(g, (1, 4, 3)), lazy(idx_mem, (1, 2, 5)), x.shape)
    assert_same(got.compute(), want)  # one block per leading chunk: the in-memory order, bit for bit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one chunk along the pooled axes: nothing to warn about
        assert_same(sp.max_pool2d_backward(lazy(g, (1, -1, -1)), idx_mem, x.shape).compute(), want)


def test_indices_survive_persist():
    x = lazy(make_array((2, 16, 16), "float32", seed=1), (1, 5, 5))
    y, idx = dask.persist(*sp.max_pool2d(x, 3, 2, 1, return_indices=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = sp.max_pool2d_backward(y, idx, x.shape)
    # output chunks of 3, 2, 3 windows (anchors 2i in input chunks of 5); the gradient's homes start at the
    # anchors of their first windows: 0, 6, 10
    assert y.chunks[1:] == ((3, 2, 3), (3, 2, 3))
    assert back.chunks[1:] == ((6, 4, 6), (6, 4, 6))


def test_bad_index_raises_at_compute_with_the_in_memory_message():
    g = np.ones((2, 4, 4))
    idx = np.zeros((2, 4, 4), np.int64)
    idx[1, 3, 2] = 64
    back = sp.max_pool2d_backward(lazy(g, (1, 4, 4)), lazy(idx, (1, 4, 4)), (2, 8, 8))  # lazy: no error yet
    with pytest.raises(ValueError, match=r"`indices` must lie in \[0, 64\) \(H\*W of `input_shape`\), got 64"):
        back.compute()
    u = sp.max_unpool2d(lazy(g, 2), lazy(idx, 2), 2)
    with pytest.raises(ValueError, match=r"`indices` must lie in \[0, 64\) \(H\*W of the output\), got 64"):
        u.compute()


def test_unpool_index_outside_its_window_raises_at_compute(assert_same):
    x = np.arange(16.0).reshape(4, 4)
    idx = np.array([[0, 2, 4, 6], [16, 18, 20, 22], [32, 34, 36, 38], [48, 50, 52, 54]])
    want = sp.max_unpool2d(x, idx, 2)
    assert_same(sp.max_unpool2d(lazy(x, -1), lazy(idx, -1), 2).compute(), want)  # one chunk: anything goes
    assert_same(sp.max_unpool2d(lazy(x, 2), lazy(idx, 2), 2).compute(), want)
    bad = idx.copy()
    bad[0, 0] = 63  # inside the output, outside the window of position (0, 0)
    assert_same(sp.max_unpool2d(lazy(x, -1), lazy(bad, -1), 2).compute(), sp.max_unpool2d(x, bad, 2))
    u = sp.max_unpool2d(lazy(x, 2), lazy(bad, 2), 2)
    with pytest.raises(ValueError, match=r"`indices` value 63 lies outside the windows of its position"):
        u.compute()


def test_unpool_last_value_wins_across_chunks(assert_same):
    """Where values of several blocks carry the same index, the last in row-major order wins, as in memory."""
    x = np.arange(1.0, 13.0).reshape(3, 4)
    idx = np.array([[i * 6 + j for j in range(4)] for i in range(3)])  # k3 s1: each value's top-left tap
    for i, j in ((0, 1), (0, 2), (1, 1), (1, 3)):  # windows that all reach element 9 = (1, 3)
        idx[i, j] = 9
    want = sp.max_unpool2d(x, idx, 3, 1, 0)
    got = sp.max_unpool2d(lazy(x, 1), lazy(idx, 1), 3, 1, 0).compute()
    assert_same(got, want)
    assert got.reshape(-1)[9] == x[1, 3]


def test_registry_is_bounded(monkeypatch):
    from stridepool import _dask

    monkeypatch.setattr(_dask, "_REGISTRY_SIZE", 3)
    monkeypatch.setattr(_dask, "_REGISTRY", type(_dask._REGISTRY)())
    made = [sp.max_pool2d(lazy(np.full((8, 8), float(i)), 4), 2, return_indices=True)[1] for i in range(5)]
    assert len(_dask._REGISTRY) == 3
    assert _dask.origin(made[0]) is None and _dask.origin(made[-1]) is not None


# ----------------------------------------------------------------------------------- errors at the call


def _boom(block):
    raise AssertionError("a block was computed")


def _bomb(a, chunks=2):
    """A dask array with ``a``'s shape, dtype and kind of blocks (masked or not) whose blocks fail if anything
    computes them."""
    d = da.from_array(a, chunks=chunks)
    return d.map_blocks(_boom, meta=a[(slice(0, 0),) * a.ndim])


def _dask_args(fn, args):
    """The table's call with its array arguments (x / grad_output / windows, and indices) as dask arrays."""
    by_index = ("max_pool2d_backward", "min_pool2d_backward", "max_unpool2d")
    positions = (0, 1) if fn in by_index else (0,)  # (block_reduce: image)
    return [_bomb(a) if i in positions and isinstance(a, np.ndarray) and a.ndim else a for i, a in enumerate(args)]


ERROR_CASES = [c for c in CASES
               if "out" not in c.values[2] and isinstance(c.values[1][0], np.ndarray) and c.values[1][0].ndim]


@pytest.mark.parametrize("fn, args, kwargs, exc, match, extra", ERROR_CASES)
def test_bad_call_raises_the_in_memory_error_at_the_call(fn, args, kwargs, exc, match, extra):
    """The error table of test_errors.py with dask arrays: the same exception and message, at the call, with
    nothing computed (every block of the arguments fails if computed); bad index values at compute time."""
    with pytest.raises(exc) as want:
        getattr(sp, fn)(*args, **kwargs)
    if extra["kernel_may_raise"]:
        lazy_args = [lazy(a, 2) if isinstance(a, np.ndarray) and a.ndim else a for a in args]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", da.PerformanceWarning)  # indices of unknown origin
            result = getattr(sp, fn)(*lazy_args, **kwargs)
        with pytest.raises(exc) as got:
            result.compute()
    else:
        with pytest.raises(exc) as got:
            getattr(sp, fn)(*_dask_args(fn, args), **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("call", [
    lambda x: sp.max_pool2d(x, 2, out=np.empty((4, 4))),
    lambda x: sp.avg_pool2d(x, 2, out=np.empty((4, 4))),
    lambda x: sp.adaptive_max_pool2d(x, 2, out=np.empty((2, 2))),
    lambda x: sp.adaptive_avg_pool2d(x, 2, out=np.empty((2, 2))),
    lambda x: sp.avg_pool2d_backward(x[:4, :4], (8, 8), 2, out=np.empty((8, 8))),
    lambda x: sp.adaptive_avg_pool2d_backward(x[:4, :4], (8, 8), out=np.empty((8, 8))),
    lambda x: sp.max_pool2d_backward(x[:4, :4], x[:4, :4].astype(np.int64), (8, 8), out=np.empty((8, 8))),
    lambda x: sp.max_unpool2d(x[:4, :4], x[:4, :4].astype(np.int64), 2, out=np.empty((8, 8))),
    lambda x: sp.fold2d(x.rechunk(-1).reshape(4, 4, 2, 2), (8, 8), 2, out=np.empty((8, 8))),
], ids=["max", "avg", "amax", "aavg", "avgbw", "aavgbw", "maxbw", "unpool", "fold"])
def test_out_with_dask_is_a_type_error(call):
    with pytest.raises(TypeError, match=r"`out` cannot be used with dask arrays .*got ndarray"):
        call(_bomb(np.zeros((8, 8))))


def test_unknown_chunk_sizes_are_a_value_error():
    x = lazy(np.arange(64.0).reshape(8, 8), 4)
    x = x[x[:, 0] > 10]
    with pytest.raises(ValueError, match=r"`x` is a dask array with unknown chunk sizes"):
        sp.max_pool2d(x, 2)


def test_the_result_is_a_dask_array_and_nothing_is_computed():
    x = _bomb(np.zeros((2, 16, 16), np.float32), 4)
    y, idx = sp.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    assert_lazy(y, idx)
    assert (y.shape, y.dtype, idx.dtype) == ((2, 8, 8), np.float32, np.int64)
    for r in (sp.max_pool2d_backward(y, idx, x.shape), sp.avg_pool2d(x, 2), sp.avg_pool2d_backward(y, x.shape, 3, 2, 1),
              sp.unfold2d(x, 3), sp.fold2d(sp.unfold2d(x, 3), x.shape), sp.adaptive_avg_pool2d(x, 3),
              sp.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape)):
        assert_lazy(r)
    with pytest.raises(AssertionError, match="a block was computed"):
        y.compute()


def test_import_does_not_import_dask():
    code = ("import sys, numpy as np, stridepool as sp; sp.max_pool2d(np.zeros((4, 4)), 2); "
            "from stridepool import reference; reference.avg_pool2d(np.zeros((4, 4)), 2); "
            "print(sorted(m for m in sys.modules if m == 'dask' or m.startswith(('dask.', 'distributed'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------- threads


def test_blocks_on_worker_threads_run_the_kernels_on_one_thread():
    from stridepool import _dask

    seen = {}

    def worker():
        with _dask._block_threads():
            seen["inside"] = sp.get_num_threads()
        seen["after"] = sp.get_num_threads()

    before = sp.get_num_threads()
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["inside"] == 1
    assert seen["after"] == before or sp.backend == "reference"
    with _dask._block_threads():  # the calling thread (synchronous scheduler): untouched
        assert sp.get_num_threads() == before
    assert sp.get_num_threads() == before


@pytest.mark.skipif(sp.backend != "compiled", reason="the compiled kernels")
def test_kernels_release_the_gil():
    """dask's threaded scheduler runs blocks at once only if the kernels let go of the GIL. With a long
    switch interval the interpreter never hands the GIL over by itself, so a spinning thread advances during
    a call exactly when the call releases it (it stood still, 0 steps, before the kernels did)."""
    x = make_array((8, 1024, 1024), "int32", seed=1)  # int32: the full path, not a remembered plan
    y, idx = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
    calls = {"max": lambda: sp.max_pool2d(x, 3, 2, 1), "avg": lambda: sp.avg_pool2d(x, 3, 2, 1),
             "max backward": lambda: sp.max_pool2d_backward(y, idx, x.shape),
             "avg backward": lambda: sp.avg_pool2d_backward(y, x.shape, 3, 2, 1),
             "fold": lambda: sp.fold2d(np.ascontiguousarray(sp.unfold2d(x, 2, 2)), x.shape, 2)}
    before = sp.get_num_threads()
    sp.set_num_threads(1)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    try:
        for name, call in calls.items():
            state = {"n": 0, "stop": False}

            def spin():
                while not state["stop"]:
                    state["n"] += 1

            t = threading.Thread(target=spin)
            t.start()
            n0 = state["n"]
            call()
            steps = state["n"] - n0
            state["stop"] = True
            t.join()
            assert steps > 0, f"{name} held the GIL"
    finally:
        sys.setswitchinterval(interval)
        sp.set_num_threads(before)


def test_threaded_scheduler(assert_same):
    x = make_array((4, 40, 36), "float32", special="ties", seed=8)
    xd = lazy(x, (1, 9, 10))
    with dask.config.set(scheduler="threads", num_workers=2):
        y, idx = dask.compute(*sp.max_pool2d(xd, 3, 2, 1, return_indices=True))
        back = sp.max_pool2d_backward(sp.max_pool2d(xd, 3, 2, 1, return_indices=True)[0],
                                      sp.max_pool2d(xd, 3, 2, 1, return_indices=True)[1], x.shape).compute()
    y_mem, idx_mem = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert_same(y, y_mem)
    assert_same(idx, idx_mem)
    assert_close(back, sp.max_pool2d_backward(y_mem, idx_mem, x.shape))


# --------------------------------------------------------------------------------------- distributed


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
        c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.mark.parametrize("backend", ["active", "reference"])
def test_distributed_cluster_of_two_processes(client, backend, assert_same):
    mod = BACKENDS[backend]
    assert len(client.scheduler_info()["workers"]) == 2
    x = make_array((2, 37, 29), "float32", special="nan-inf", seed=6)
    xd = lazy(x, (1, 19, 13))  # 2 x 2 x 3 blocks: halos across every kind of edge, few tasks
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    y, idx = mod.max_pool2d(xd, return_indices=True, **kw)
    gm = grad(y.shape, np.float32)
    g = lazy(gm, (2, 7, 9))
    a = mod.avg_pool2d(xd, **kw)
    jobs = (y, idx, mod.max_pool2d_backward(g, idx, x.shape), a, mod.avg_pool2d_backward(g, x.shape, **kw),
            mod.fold2d(mod.unfold2d(xd, 3, 2, 1), x.shape, 2, 1), mod.adaptive_max_pool2d(xd, (9, 40)),
            mod.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape))
    got = client.compute(jobs, sync=True)
    y_mem, idx_mem = mod.max_pool2d(x, return_indices=True, **kw)
    assert_same(got[0], y_mem)
    assert_same(got[1], idx_mem)
    assert_close(got[2], mod.max_pool2d_backward(gm, idx_mem, x.shape))
    assert_same(got[3], mod.avg_pool2d(x, **kw))
    assert_close(got[4], mod.avg_pool2d_backward(gm, x.shape, **kw))
    assert_close(got[5], mod.fold2d(mod.unfold2d(x, 3, 2, 1), x.shape, 2, 1))
    assert_same(got[6], mod.adaptive_max_pool2d(x, (9, 40)))
    assert_same(got[7], mod.max_unpool2d(y_mem, idx_mem, 3, 2, 1, output_size=x.shape))


# -------------------------------------------------------------------------------------------- the docs


def test_readme_section_example_runs():
    """The README's section "Large arrays with dask": its example runs and its assertions hold."""
    import pathlib
    import re

    path = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    if not path.exists():
        pytest.skip("README.md is not beside the tests (installed-wheel run)")
    text = path.read_text()
    section = text[text.index("## Large arrays with dask"):]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_pyramid_example_small(tmp_path, capsys):
    """examples/pyramid.py end to end on a small image: levels written to Zarr equal the in-memory pyramid."""
    import importlib.util
    import pathlib

    pytest.importorskip("zarr")
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "pyramid.py"
    if not path.exists():
        pytest.skip("examples/ is not beside the tests (installed-wheel run)")
    spec = importlib.util.spec_from_file_location("stridepool_example_pyramid", path)
    pyramid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pyramid)
    runs = [["--kernel", "3"], ["--kernel", "2"], ["--reduce", "max", "--kernel", "2"], ["--reduce", "max"],
            ["--reduce", "nanmean", "--gaps", "0.3"]]
    for i, run in enumerate(runs):
        assert pyramid.main(["--size", "1000", "--chunk", "256", "--levels", "4", "--store-chunk", "128",
                             "--crop", "512", "--workers", "0", "--no-progress", *run,
                             "--out", str(tmp_path / f"p{i}.zarr")]) == 0
    out = capsys.readouterr().out
    assert out.count("equals the in-memory result bit for bit") == 4 * len(runs)
