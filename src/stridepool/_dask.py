"""The dask path: every operation on ``dask.array.Array`` arguments, lazily, block by block.

Loaded by :func:`stridepool._lazy.dask` when a dask array reaches a public function (``import stridepool``
never imports dask). Each function here takes the backend core that was called (``stridepool._compiled`` or
``stridepool._reference``) and returns dask arrays whose blocks call that core's ``run_*`` functions.

How it works
------------
Validation happens at the call, from metadata only: the shared checks of ``stridepool._params`` run on a
stand-in with the argument's shape and dtype (:func:`stridepool._params.stand_in`), so errors are the
in-memory call's, word for word, and nothing is computed.

Forward operations (max/avg pooling, adaptive pooling, unfold) give each input chunk the windows anchored in
it (``stridepool._blocks``): the result is chunked on window boundaries (chunks of ``m * stride`` elements
give chunks of ``m`` windows), the leading axes keep their chunks. Within a block, the windows that read only
the home chunk run on the chunk itself (no copy); the runs of windows at its edges, which also read their
neighbours, run on small regions assembled from halos (each sliced off by a small task of its own, so that a
cluster moves only the halo); the results are put together. Every run uses its own geometry, whose window
table is the global table's rows shifted, so values and indices are those of the in-memory call bit for bit
(indices are turned from region-local into global positions).

Backward operations (avg backward, fold, max backward and unpooling by index) run the kernel on each block
of the gradient (windows) into the region its windows reach, and add the regions' overlaps (overlap-add):
each output chunk is its own block's region (added into in place) plus the parts of its neighbours' regions
that fall in it. Integers are exact; float sums may round differently from the in-memory order. float16
blocks are computed and summed in float32 and rounded once at the end.

Index-driven operations (``max_pool*_backward``, ``max_unpool*``) cannot see from their arguments which
windows an index came from. A forward that returns indices on dask records, in a bounded registry keyed by
the indices array's ``.name``, the geometry that made them; a backward given those indices (the same dask
array, also after ``persist``) scatters each block within the region its windows cover, exactly like the
forward's halos. Indices of unknown origin (made in memory, rechunked, or computed some other way) are
scattered correctly by a fallback: ``max_pool*_backward`` gathers each leading chunk's whole pooled extent
into one block (a ``PerformanceWarning`` says so when that merges chunks); ``max_unpool*`` scatters each
block within the windows that ``kernel_size``, ``stride`` and ``padding`` give it and raises a ValueError at
compute time, never a wrong answer, if an index points outside them.

Threads: a block runs the kernels on one thread when dask runs it on a worker thread (the threaded
scheduler's pool, a ``distributed`` worker), because dask already runs one block per core; on the
synchronous scheduler (the calling thread) the kernels use ``stridepool.get_num_threads()`` threads.

``out=`` cannot be combined with dask arrays (the result is lazy): a TypeError at the call.
"""
from __future__ import annotations

import collections
import contextlib
import importlib
import math
import operator
import sys
import threading
import warnings
from itertools import product
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _block_reduce as _BR
from . import _blocks as B
from . import _params as P
from . import _threads
from . import _variants as V

_INT64 = np.dtype(np.int64)
_F32 = np.dtype(np.float32)
_F16 = np.dtype(np.float16)

# ------------------------------------------------------------------------------------------- arguments


def _is_dask(a):
    return isinstance(a, da.Array)


def _known(a, name):
    """A dask argument must know its chunk sizes (not after boolean indexing, until compute_chunk_sizes)."""
    if _is_dask(a) and any(math.isnan(n) for n in a.shape):
        raise ValueError(f"`{name}` is a dask array with unknown chunk sizes (shape {a.shape}); call "
                         f"`{name}.compute_chunk_sizes()` first")
    return a


def _meta(a, name):
    """What the shared validation sees: a stand-in with a dask argument's shape and dtype, or the argument.
    A dask array of masked blocks is refused at the call, as a masked array is in memory."""
    if _is_dask(a):
        _known(a, name)
        P.not_masked(a._meta, name)
        return P.stand_in(a.shape, a.dtype)
    return a


def _no_out(out):
    if out is not None:
        raise TypeError("`out` cannot be used with dask arrays (the result is a lazy dask array; store it "
                        f"with dask.array.store or compute it), got {type(out).__name__}")


meta, no_out = _meta, _no_out  # (for stridepool._variants' compositions of dask arrays)


def _as_dask(a, chunks):
    """A dask array of ``a``: itself, or an in-memory argument in ``chunks``."""
    return a if _is_dask(a) else da.from_array(np.asarray(a), chunks=chunks)


def _core_name(core):
    return core.__name__


def _core(name):
    """The backend core a block runs (imported by name: a block may run in another process)."""
    mod = sys.modules.get(name)
    return mod if mod is not None else importlib.import_module(name)


@contextlib.contextmanager
def _block_threads():
    """One kernel thread in a block that dask runs on a worker thread; all of them on the calling thread."""
    K = _threads._K
    if K is None or threading.current_thread() is threading.main_thread():
        yield
        return
    before = K.openmp_max_threads()
    K.openmp_set_num_threads(1)  # OpenMP's thread count is per calling thread: the user's is untouched
    try:
        yield
    finally:
        K.openmp_set_num_threads(before)


def _work_dtype(dt):
    """Blocks of a backward compute in float32 for float16 (rounded once, after the overlap-add)."""
    return _F32 if dt == _F16 else dt


# ------------------------------------------------------------------------------------ the index registry
#
# The geometry of the forward that made a dask indices array, by the array's name (dask names are
# deterministic hashes of the computation, so an entry can never describe another array's values).

_REGISTRY: collections.OrderedDict[str, tuple[Any, ...]] = collections.OrderedDict()
_REGISTRY_SIZE = 4096
_REGISTRY_LOCK = threading.Lock()


def _register(name, geo, ax):
    """Record that the dask array called ``name`` holds the indices of a forward with windows ``geo``."""
    with _REGISTRY_LOCK:
        _REGISTRY[name] = (geo, ax)
        _REGISTRY.move_to_end(name)
        while len(_REGISTRY) > _REGISTRY_SIZE:
            _REGISTRY.popitem(last=False)


def origin(indices):
    """``(geometry, axes)`` of the dask forward that returned ``indices``, or None."""
    if not _is_dask(indices):
        return None
    with _REGISTRY_LOCK:
        entry = _REGISTRY.get(indices.name)
        if entry is not None:
            _REGISTRY.move_to_end(indices.name)
        return entry


# --------------------------------------------------------------------------------------- block functions


class _Static:
    """The fixed parameters of a block task in one opaque object: dask's task parser walks every tuple,
    list and dict of a task looking for keys, which costs more than the block for small blocks."""

    __slots__ = ("v",)

    def __init__(self, *v):
        self.v = v

    def __reduce__(self):
        return (_Static, self.v)



def _picks(grid, lo, hi):
    """Where the part ``[lo, hi)`` (per pooled axis, relative to a block's region) of a block's input lies
    in its pieces, which tile the region on ``grid`` (per pooled axis, the pieces' ``(start, stop)``):
    ``[(piece number, ((start, stop) in the piece per axis), whole piece?, offset in the part), ...]``."""
    per_axis = []
    for bounds, a, b in zip(grid, lo, hi):
        per_axis.append([(k, max(a, s) - s, min(b, e) - s, max(a, s) - a, max(a, s) == s and min(b, e) == e)
                         for k, (s, e) in enumerate(bounds) if min(b, e) > max(a, s)])
    strides = [math.prod(len(g) for g in grid[j + 1:]) for j in range(len(grid))]
    return [(sum(c[0] * st for c, st in zip(combo, strides)), tuple((c[1], c[2]) for c in combo),
             all(c[4] for c in combo), tuple(c[3] for c in combo)) for combo in product(*per_axis)]


def _region(pieces, picks, sizes, ax):
    """The input of a sub-block from its picks (:func:`_picks`): a view of one piece (the piece itself when
    it is all of it), or a copy of several put together."""
    if len(picks) == 1:
        k, cuts, whole, _ = picks[0]
        return pieces[k] if whole else pieces[k][_place_cuts(pieces[k].ndim, ax, cuts)]
    first = pieces[picks[0][0]]
    dt = np.dtype(first.dtype)
    if not dt.isnative:
        dt = dt.newbyteorder("=")
    region = np.empty(P.pooled_shape(first.shape, ax, sizes), dtype=dt)
    for k, cuts, _, off in picks:
        part = pieces[k][_place_cuts(pieces[k].ndim, ax, cuts)]
        region[_place(part.shape, ax, off)] = part
    return region


def _place_cuts(ndim, ax, cuts):
    sl = [slice(None)] * ndim
    for a, (s, e) in zip(ax, cuts):
        sl[a] = slice(s, e)
    return tuple(sl)


_SCRATCH = threading.local()


def _scratch(shape, which=0):
    """An int64 work array of ``shape`` owned by the calling thread and reused from block to block (two of
    them, ``which`` 0 or 1): a fresh temporary the size of a block's indices costs more in page faults than
    the arithmetic done in it. Valid until the thread's next call for the same ``which``."""
    n = math.prod(shape)
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = [None, None]
    if bufs[which] is None or bufs[which].size < n:
        bufs[which] = np.empty(max(n, 1), dtype=_INT64)
    return bufs[which][:n].reshape(shape)


def _globalize(idx, ax, lo, sizes, full):
    """Region-local flat indices (region ``sizes`` starting at ``lo``) as flat positions in ``full``, in place."""
    if tuple(lo) == (0,) * len(lo) and tuple(sizes) == tuple(full):
        return idx
    if len(ax) == 1:
        idx += lo[0]
        return idx
    if len(ax) == 2:  # (r + lo0) * N1 + c + lo1 = local + r * (N1 - n1) + lo0 * N1 + lo1
        if full[1] != sizes[1]:
            r = np.floor_divide(idx, sizes[1], out=_scratch(idx.shape))
            r *= full[1] - sizes[1]
            idx += r
        idx += lo[0] * full[1] + lo[1]
        return idx
    coords = np.unravel_index(idx, sizes)
    return np.ravel_multi_index(tuple(c + o for c, o in zip(coords, lo)), full).astype(_INT64, copy=False)


def _crop(x, ax, geo):
    """For the reference core: a region whose windows start inside it (``lo < 0``) cut to start at the first
    window (the reference pads by ``lo``); the compiled kernels take it as it is, without a copy."""
    if all(a.lo >= 0 for a in geo):
        return x, geo, (0,) * len(geo)
    cut, axes, shift = [slice(None)] * x.ndim, [], []
    for axis, a in zip(ax, geo):
        c = max(0, -a.lo)
        cut[axis] = slice(c, None)
        axes.append(a._replace(n=a.n - c, lo=a.lo + c))
        shift.append(c)
    return x[tuple(cut)], P.Geometry(axes), tuple(shift)


def _run_forward(core, op, x, ax, geo, opts, lo, full):
    if core.__name__ == "stridepool._reference" or op == "unfold":
        x, geo, shift = _crop(x, ax, geo)
        lo = tuple(a + c for a, c in zip(lo, shift))
    if op == "max" or op in V.MAX_OPS:
        flipped, omit = V.MAX_OPS.get(op, (False, False))
        if not opts[0]:
            return V.run_max(core, x, ax, geo, False, flipped=flipped, omit=omit)
        y, idx = V.run_max(core, x, ax, geo, True, flipped=flipped, omit=omit)
        empty = idx < 0 if omit else None  # -1 (no non-NaN element) stays -1
        idx = _globalize(idx, ax, lo, geo.size, full)
        if empty is not None:
            idx[empty] = -1
        return y, idx
    if op == "avg" or op == V.AVG_OP:
        return V.run_avg(core, x, ax, geo, opts[0], opts[1], omit=op == V.AVG_OP)
    if op == "unfold":
        if min(geo.size) == 0:  # windows of padding only
            return np.zeros(P.pooled_shape(x.shape, ax, geo.out) + geo.kernel, dtype=x.dtype)
        return core.run_unfold(x, ax, geo)
    raise AssertionError(op)


def _forward_block(static, pieces):
    """One output block of a forward: each sub-block (windows that read only the home chunk, and the runs at
    its edges that read halos) runs the core's kernel on its region; the results are put together."""
    core_name, op, ax, opts, full, out_sizes, subs, patch = static.v
    core = _core(core_name)
    results = []
    with _block_threads():
        for geo, picks, origin_, offset in subs:
            x = P.as_array(_region(pieces, picks, geo.size, ax), "x")
            results.append((_run_forward(core, op, x, ax, geo, opts, origin_, full), offset))
    if len(results) == 1:
        return results[0][0]
    if patch:  # the first result is the block's (made by this task: written into in place)
        base = results[0][0]
        for r, off in results[1:]:
            for b, part in zip(base if isinstance(base, tuple) else (base,), r if isinstance(r, tuple) else (r,)):
                b[_place(part.shape, ax, off)] = part
        return base
    first = results[0][0]
    firsts = first if isinstance(first, tuple) else (first,)
    outs = []
    for j, f in enumerate(firsts):
        lead = f.shape[:f.ndim - len(ax)] if op == "unfold" else f.shape
        tail = f.shape[f.ndim - len(ax):] if op == "unfold" else ()
        out = np.empty(P.pooled_shape(lead, ax, out_sizes) + tail, dtype=f.dtype)
        for r, off in results:
            part = r[j] if isinstance(r, tuple) else r
            out[_place(part.shape, ax, off)] = part
        outs.append(out)
    return tuple(outs) if isinstance(first, tuple) else outs[0]


def _localize(idx, ax, lo, sizes, full, nd, what, reach):
    """Global flat indices as flat positions in the region ``[lo, lo + sizes)`` of the pooled extent ``full``.

    An index outside ``[0, prod(full))`` raises the in-memory call's ValueError; one inside but outside the
    region (which the windows of this block cannot reach) raises a ValueError that says so. ``reach`` None:
    indices that the registry vouches for (made by the forward whose windows gave the region), not checked."""
    idx = np.asarray(idx)
    if reach is None and nd <= 2:  # the result lives in a scratch array, used by the kernel at once
        local = _scratch(idx.shape, 1)
        if nd == 1:
            return np.subtract(idx, lo[0], out=local, casting="unsafe")
        # (r - lo0) * n1 + c - lo1 = idx - r * (N1 - n1) - (lo0 * n1 + lo1)
        if full[1] != sizes[1]:
            r = np.floor_divide(idx, full[1], out=_scratch(idx.shape), casting="unsafe")
            r *= full[1] - sizes[1]
            np.subtract(idx, r, out=local, casting="unsafe")
        else:
            local[...] = idx
        local -= lo[0] * sizes[1] + lo[1]
        return local
    idx = idx.astype(_INT64, copy=False)
    plane = math.prod(full)
    if reach is not None:
        P.check_indices(idx, plane, nd, what)
    if tuple(lo) == (0,) * nd and tuple(sizes) == tuple(full):
        return idx
    coords = np.unravel_index(idx, full) if nd > 1 else (idx,)
    local = np.zeros(idx.shape, dtype=_INT64)
    for c, o, n in zip(coords, lo, sizes):
        c = c - o
        if reach is not None:
            bad = (c < 0) | (c >= n)
            if bad.any():
                value = int(idx[bad][0])
                box = " x ".join(f"[{o0}, {o0 + n0})" for o0, n0 in zip(lo, sizes))
                raise ValueError(
                    f"`indices` value {value} lies outside the windows of its position ({box} of the pooled "
                    f"extent {P._show(full)}): {reach}")
        local *= n
        local += c
    return local


def _scatter_block(static, *arrays):
    """Run one backward block: the kernel's scatter of a gradient (or values) block into its region."""
    core_name, op, geo, ax, opts, lo, sizes, full = static.v
    core = _core(core_name)
    first = P.as_array(arrays[0], opts["name"])
    work = first.dtype if op == "unpool" else _work_dtype(first.dtype)  # unpooling moves values: no sums
    first = first.astype(work, copy=False)
    lead = first.shape[:first.ndim - len(ax)] if op == "fold" else first.shape  # fold: (..., O..., K...)
    shape = P.pooled_shape(lead, ax, sizes)
    with _block_threads():
        if op == "avg":
            return core.run_avg_backward(first, shape, ax, geo, opts["include"], opts["div"])
        if op == "fold":
            if min(sizes) == 0:
                return np.zeros(shape, dtype=work)
            return core.run_fold(first, shape, ax, geo)
        idx = arrays[1]
        if opts.get("omit"):  # index -1 adds nothing: its gradient is zeroed, its index the region's first cell
            first, idx = V.drop_empty(first, idx, int(np.ravel_multi_index(
                tuple(min(o, n - 1) for o, n in zip(lo, full)), full)) if min(full) else 0)
        idx = _localize(idx, ax, lo, sizes, full, len(ax), opts["what"], opts["reach"])
        if op == "max":
            return core.run_max_backward(first, idx, shape, ax)
        if op == "unpool":  # values, and 1 + the source position of the value that won each element
            src = np.zeros((), dtype=_INT64)
            for a, (i0, n) in zip(ax, opts["source"]):
                src = src[..., None] * n + np.arange(i0, i0 + first.shape[a], dtype=_INT64)
            src = np.ascontiguousarray(np.broadcast_to(_lift(src + 1, ax, first.ndim), first.shape))
            return core.run_unpool(first, idx, shape, ax), core.run_unpool(src, idx, shape, ax)
    raise AssertionError(op)


def _lift(a, ax, ndim):
    """An array over the pooled axes (in order) as one broadcasting against a block of ``ndim`` axes."""
    shape = [1] * ndim
    for j, axis in enumerate(ax):
        shape[axis] = a.shape[j]
    order = np.argsort(ax)  # the pooled axes in the block's order
    return np.transpose(a, order).reshape(shape) if len(ax) > 1 else a.reshape(shape)


def _cut(block, static):
    """A large part of a block (one array or a (values, sources) pair), as a view."""
    if isinstance(block, tuple):
        return tuple(b[static.v[0]] for b in block)
    return block[static.v[0]]


def _sum_block(static, parts):
    """One output block of a backward: the parts of the blocks' regions that fall in it, added (``mode``
    ``"add"``) or, for unpooling, the value of the latest source in row-major order (``"put"``)."""
    shape, ax, dtype, final, mode, offsets = static.v
    # Start from the part that covers the whole block, if there is one: the block's own region, which no
    # other task reads (every other part of that region lies in another output block, and those parts are
    # disjoint from this one), so it is added into in place, without a copy; else from zeros.
    first = [p[0] if mode == "put" else p for p in parts]
    main = next((i for i, p in enumerate(first) if p.shape == tuple(shape) and p.dtype == dtype), None)
    if main is not None and len(parts) == 1:
        return first[main].astype(final, copy=False)
    owned = main is not None and all(a.flags.writeable for a in (parts[main] if mode == "put" else (parts[main],)))
    if mode == "add":
        total = parts[main] if owned else np.zeros(shape, dtype=dtype) if main is None else parts[main].copy()
        for i, (part, off) in enumerate(zip(parts, offsets)):
            if part.size and i != main:
                total[_place(part.shape, ax, off)] += part
        return total.astype(final, copy=False)
    if main is None:
        values, sources = np.zeros(shape, dtype=dtype), np.zeros(shape, dtype=_INT64)
    else:
        values, sources = parts[main] if owned else (parts[main][0].copy(), parts[main][1].copy())
    for i, ((v, s), off) in enumerate(zip(parts, offsets)):
        if v.size and i != main:
            sl = _place(v.shape, ax, off)
            later = s > sources[sl]
            values[sl][later] = v[later]
            sources[sl][later] = s[later]
    return values


def _place(shape, ax, off):
    sl = [slice(None)] * len(shape)
    for a, o in zip(ax, off):
        sl[a] = slice(o, o + shape[a])
    return tuple(sl)


# -------------------------------------------------------------------------------------------- graphs


def _array(name, dsk, deps, chunks, dtype):
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    return da.Array(graph, name, chunks, meta=np.empty((0,) * len(chunks), dtype=dtype))


def _split(raw, n, chunks, dtypes, names):
    """The ``n`` outputs of a layer whose tasks return tuples, as ``n`` dask arrays sharing its tasks."""
    raw_layer = HighLevelGraph.from_collections(raw[0], raw[1], dependencies=raw[2])
    out = []
    for j in range(n):
        dsk = {(names[j],) + k[1:]: (operator.getitem, k, j) for k in raw[1] if k[0] == raw[0]}
        graph = HighLevelGraph(dict(raw_layer.layers, **{names[j]: dsk}),
                               dict(raw_layer.dependencies, **{names[j]: {raw[0]}}))
        out.append(da.Array(graph, names[j], chunks, meta=np.empty((0,) * len(chunks), dtype=dtypes[j])))
    return out


class _Gather:
    """Task references to parts of another layer's blocks, so that a cluster moves only what is needed.

    A whole block is referenced by its key; a large part (half of the block or more) by a slicing task of its
    own (a view); the small parts (halos) of one block, whoever needs them, by one task that copies them all
    out at once, so that the block can be released as soon as that task and the block's own consumer have run
    (halos taken one by one, each just before its consumer runs, would keep rows of blocks in memory)."""

    def __init__(self, dsk, src, name, extent):
        self.dsk, self.src, self.name, self.extent = dsk, src, name, extent
        self.seen, self.small = {}, {}

    def ref(self, index, ax, cuts):
        """``index``: the source block; ``cuts``: ``(start, stop)`` in it along each of ``ax``."""
        key = (self.src,) + tuple(index)
        sizes = [self.extent(index, j) for j in range(len(cuts))]
        if all(s == 0 and e == n for (s, e), n in zip(cuts, sizes)):
            return key
        sl = [slice(None)] * len(index)
        for a, (s, e) in zip(ax, cuts):
            sl[a] = slice(s, e)
        sl = tuple(sl)
        spec = (tuple(index), tuple(cuts))
        if 2 * math.prod(e - s for s, e in cuts) >= math.prod(sizes):
            ref = self.seen.get(spec)
            if ref is None:
                ref = self.seen[spec] = (self.name, len(self.seen))
                self.dsk[ref] = (_cut, key, _Static(sl))
            return ref
        parts = self.small.setdefault(tuple(index), {})
        if spec not in parts:
            parts[spec] = (len(parts), sl)
        return (operator.getitem, (f"{self.name}-edges",) + tuple(index), parts[spec][0])

    def finish(self):
        """Add the tasks that copy each block's small parts out (call once every reference is made)."""
        for index, parts in self.small.items():
            slices = tuple(sl for _, sl in sorted(parts.values()))
            self.dsk[(f"{self.name}-edges",) + index] = (_copies, (self.src,) + index, _Static(slices))


def _copies(block, static):
    """Copies of parts of a block (one array, or a (values, sources) pair, per part)."""
    return tuple(tuple(b[sl].copy() for b in block) if isinstance(block, tuple) else block[sl].copy()
                 for sl in static.v[0])


def _lead(chunks, ax):
    """Every block index of the leading (unpooled) axes, as full-length lists with None at ``ax``."""
    ranges = [range(len(c)) if a not in ax else [None] for a, c in enumerate(chunks)]
    return (list(t) for t in product(*ranges))


def _forward_runs(a, chunks):
    """Per output chunk along one pooled axis: ``(i0, i1, home chunk, runs, whole, base)``. Each run ``(j0,
    j1, Axis, lo, hi, one piece)`` is windows over the input region ``[lo, hi)``: the windows that read only the
    home chunk over the whole chunk (read in place), those at its edges over the region they read (see
    :func:`stridepool._blocks.parts`); ``whole`` is all the windows as one run over the region they read;
    ``base`` all the windows over the home chunk (their taps in other chunks taken as padding), or None if a
    window would then have no tap at all."""
    edges = B.bounds(chunks)
    out = []
    for i0, i1 in B.assign(a, chunks):
        c = min(int(np.searchsorted(edges, B.anchors(a)[i0], side="right")) - 1, len(chunks) - 1)
        h0, h1 = int(edges[c]), int(edges[c + 1])
        runs = []
        for j0, j1, inside in B.parts(a, i0, i1, h0, h1):
            if inside:
                runs.append((j0, j1, B.inner(a, j0, j1, h0, h1), h0, h1, True))
            else:
                lo, hi, b = B.block(a, j0, j1)
                runs.append((j0, j1, b, lo, hi, len(B.pieces(lo, hi, edges)) <= 1))
        tight = B.block(a, i0, i1)
        base = None  # every window over the home chunk, its taps in other chunks taken as padding (regular)
        if a.s:
            b = B.inner(a, i0, i1, h0, h1)
            table = P.axis_table(b)
            base = (i0, i1, b, h0, h1, True) if bool(np.all(table[2] > table[1])) else None
        out.append((i0, i1, c, runs, (i0, i1, tight[2], tight[0], tight[1], False), base))
    return out


def _forward(core, op, x, ax, geo, opts, dtypes, token_args):
    """The dask array(s) of a forward operation over ``x`` (a dask array) with the global geometry ``geo``."""
    cname = _core_name(core)
    raw = f"stridepool-{op}-{tokenize(cname, op, x.name, ax, geo, opts, token_args)}"
    xchunks = x.chunks
    per_axis = [_forward_runs(a, xchunks[axis]) for axis, a in zip(ax, geo)]
    edges = [B.bounds(xchunks[axis]) for axis in ax]
    dsk = {}
    gather = _Gather(dsk, x.name, f"{raw}-halo", lambda index, j: xchunks[ax[j]][index[ax[j]]])
    tail = (0,) * len(ax) if op == "unfold" else ()  # unfold: the kernel axes, one chunk each
    for combo in product(*(enumerate(blocks) for blocks in per_axis)):
        runs = [blk[3] for _, blk in combo]
        halos = any(not r[5] for rs in runs for r in rs)
        # Windows that read halos: the kernel runs over the home chunk in place for every window (the result
        # is the block's), and again on small regions for the runs at the edges, whose results replace those
        # windows' (pooling; the base needs a tap in the home chunk in every window, and a run that reads
        # only the home chunk along every axis). Else each run separately, put together.
        patch = (halos and op != "unfold" and all(blk[5] is not None for _, blk in combo)
                 and all(any(r[5] and r[3] == blk[5][3] for r in rs) for rs, (_, blk) in zip(runs, combo)))
        if not patch and any(len(r) == 1 and not r[0][5] for r in runs) and any(len(r) > 1 for r in runs):
            runs = [[blk[4]] for _, blk in combo]  # an axis that cannot be split: one region, one copy
        todo = list(product(*runs))
        if patch:
            todo = [tuple(blk[5] for _, blk in combo)] + [sub for sub in todo if not all(
                r[5] and r[3] == blk[5][3] for r, (_, blk) in zip(sub, combo))]
        ulo = [min(r[3] for r in rs) for rs in zip(*todo)]
        uhi = [max(r[4] for r in rs) for rs in zip(*todo)]
        pieces = [B.pieces(lo, hi, e) for lo, hi, e in zip(ulo, uhi, edges)]
        grid = tuple(tuple((p[3], p[3] + p[2] - p[1]) for p in axis_pieces) for axis_pieces in pieces)
        subs = []
        for sub in todo:
            picks = _picks(grid, [r[3] - u for r, u in zip(sub, ulo)], [r[4] - u for r, u in zip(sub, ulo)])
            subs.append((P.Geometry(r[2] for r in sub), picks, tuple(r[3] for r in sub),
                         tuple(r[0] - blk[0] for r, (_, blk) in zip(sub, combo))))
        out_sizes = tuple(blk[1] - blk[0] for _, blk in combo)
        static = _Static(cname, op, ax, opts, geo.size, out_sizes, subs, patch)
        for index in _lead(xchunks, ax):
            refs = []
            for parts in product(*pieces):
                for a, part in zip(ax, parts):
                    index[a] = part[0]
                refs.append(gather.ref(index, ax, [(p[1], p[2]) for p in parts]))
            for a, (e, _) in zip(ax, combo):
                index[a] = e
            dsk[(raw,) + tuple(index) + tail] = (_forward_block, static, refs)
    gather.finish()
    chunks = list(xchunks)
    for a, blocks in zip(ax, per_axis):
        chunks[a] = tuple(blk[1] - blk[0] for blk in blocks)
    if op == "unfold":
        chunks += [(k,) for k in geo.kernel]
    chunks = tuple(chunks)
    if len(dtypes) == 1:
        return _array(raw, dsk, [x], chunks, dtypes[0])
    return _split((raw, dsk, [x]), len(dtypes), chunks, dtypes, [f"{raw}-{j}" for j in range(len(dtypes))])


def _window_blocks(geo, chunks, ax):
    """Per pooled axis, per chunk of a window axis (a gradient's): ``(i0, i1, lo, hi, block Axis)`` with the
    region ``[lo, hi)`` of input that the windows reach; and per pooled axis the output chunks' homes."""
    per_axis, homes = [], []
    for axis, a in zip(ax, geo):
        ranges = B.window_ranges(chunks[axis])
        per_axis.append([(i0, i1) + B.block(a, i0, i1) for i0, i1 in ranges])
        homes.append(B.homes(a, ranges))
    return per_axis, homes


def _whole_blocks(full, chunks, ax):
    """As :func:`_window_blocks` for blocks that may write anywhere: one block, one home, the whole extent."""
    per_axis = [[(0, chunks[axis][0], 0, n, None)] for axis, n in zip(ax, full)]
    return per_axis, [[(0, n)] for n in full]


def _backward(core, op, arrays, ax, full, out_shape, opts, dtype, final, blocks, mode="add"):
    """The dask array of a backward operation: ``arrays`` (a gradient, windows or values, and indices, with
    equal chunks) are blocks of windows along ``ax``; each block is scattered by the core into its region and
    the regions' overlaps are combined (``mode``) into output chunks of ``out_shape`` on the homes.

    ``blocks``: from :func:`_window_blocks` or :func:`_whole_blocks`.
    """
    per_axis, homes = blocks
    first = arrays[0]
    cname = _core_name(core)
    token = tokenize(cname, op, [a.name for a in arrays], ax, per_axis, homes, out_shape, opts, mode)
    contrib, name = f"stridepool-{op}-blocks-{token}", f"stridepool-{op}-{token}"
    ndim = len(out_shape)
    chunks = first.chunks[:ndim]
    tail = (0,) * (first.ndim - ndim)  # fold: the kernel axes of the windows, one chunk each
    dsk = {}
    for index in _lead(chunks, ax):
        for combo in product(*(enumerate(blocks) for blocks in per_axis)):
            for a, (c, _) in zip(ax, combo):
                index[a] = c
            geo_b = P.Geometry(blk[4] for _, blk in combo) if combo[0][1][4] is not None else None
            lo = tuple(blk[2] for _, blk in combo)
            sizes = tuple(blk[3] - blk[2] for _, blk in combo)
            o = opts
            if mode == "put":  # where each value of the block sits in the (row-major) order of all values
                o = dict(opts, source=tuple((blk[0], first.shape[a]) for a, (_, blk) in zip(ax, combo)))
            dsk[(contrib,) + tuple(index)] = (_scatter_block, _Static(cname, op, geo_b, ax, o, lo, sizes, full),
                                              *[(arr.name,) + tuple(index) + tail for arr in arrays])
    # every output chunk: the parts of the regions that fall in its home
    hits = []  # per pooled axis, per home: [(block, cut start, cut stop, offset in the home)]
    for blocks, axis_homes, n in zip(per_axis, homes, full):
        rows = []
        for h0, h1 in axis_homes:
            row = []
            for c, (_, _, lo, hi, _) in enumerate(blocks):
                s, e = max(lo, h0), min(hi, h1)
                if e > s:
                    row.append((c, s - lo, e - lo, s - h0))
                elif hi == lo and h0 <= min(lo, n - 1) < h1:  # an empty region: its checks must still run
                    row.append((c, 0, 0, 0))
            rows.append(row)
        hits.append(rows)
    gather = _Gather(dsk, contrib, f"{name}-part", lambda index, j: per_axis[j][index[ax[j]]][3]
                     - per_axis[j][index[ax[j]]][2])
    out_chunks = list(chunks)
    for a, axis_homes in zip(ax, homes):
        out_chunks[a] = tuple(h1 - h0 for h0, h1 in axis_homes)
    for index in _lead(chunks, ax):
        for combo in product(*(range(len(h)) for h in homes)):
            out_index = list(index)
            for a, e in zip(ax, combo):
                out_index[a] = e
            shape = tuple(out_chunks[i][out_index[i]] for i in range(ndim))
            refs, offsets = [], []
            for parts in product(*(hits[j][e] for j, e in enumerate(combo))):
                src = list(index)
                for a, part in zip(ax, parts):
                    src[a] = part[0]
                refs.append(gather.ref(src, ax, [(p[1], p[2]) for p in parts]))
                offsets.append(tuple(p[3] for p in parts))
            dsk[(name,) + tuple(out_index)] = (_sum_block, _Static(shape, ax, dtype, final, mode, offsets), refs)
    gather.finish()
    return _array(name, dsk, list(arrays), tuple(out_chunks), final)


def _pooled_single(a, ax):
    """``a`` with one chunk along the pooled axes ``ax`` (its other chunks kept)."""
    return a.rechunk({i: -1 for i in ax})


# ----------------------------------------------------------------------------------------- operations


def max_pool(core, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, axes, out=None,
             op="max"):
    """Max pooling, or (``op``, one of ``stridepool._variants.MAX_OPS``) min or NaN-ignoring max or min."""
    _, ax, geo = P.prepare_pool(_meta(x, "x"), axes, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = P.as_bool(return_indices, "return_indices")
    _no_out(out)
    return _max(core, x, ax, geo, return_indices, (kernel_size, stride, padding, dilation, ceil_mode), op)


def adaptive_max_pool(core, nd, x, output_size, return_indices, axes, out=None):
    _, ax, geo = P.prepare_adaptive(_meta(x, "x"), axes, nd, output_size)
    return_indices = P.as_bool(return_indices, "return_indices")
    _no_out(out)
    return _max(core, x, ax, geo, return_indices, ("adaptive",))


def _max(core, x, ax, geo, return_indices, token_args, op="max"):
    dt = P.stand_in((), x.dtype).dtype
    if not return_indices:
        return _forward(core, op, x, ax, geo, (False,), (dt,), token_args)
    y, idx = _forward(core, op, x, ax, geo, (True,), (dt, _INT64), token_args)
    _register(idx.name, geo, ax)
    return y, idx


def avg_pool(core, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, axes,
             out=None, op="avg"):
    """Average pooling, or (``op`` ``stridepool._variants.AVG_OP``) NaN-ignoring average pooling."""
    _, ax, geo = P.prepare_pool(_meta(x, "x"), axes, nd, kernel_size, stride, padding, 1, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    _no_out(out)
    dt = P.result_dtype_avg(P.stand_in((), x.dtype).dtype)
    return _forward(core, op, x, ax, geo, (include, div), (dt,), (kernel_size, stride, padding, ceil_mode))


def adaptive_avg_pool(core, nd, x, output_size, axes, out=None):
    _, ax, geo = P.prepare_adaptive(_meta(x, "x"), axes, nd, output_size)
    _no_out(out)
    dt = P.result_dtype_avg(P.stand_in((), x.dtype).dtype)
    return _forward(core, "avg", x, ax, geo, (False, 0), (dt,), ("adaptive",))


def unfold(core, nd, x, kernel_size, stride, padding, dilation, axes):
    _, ax, geo = P.prepare_pool(_meta(x, "x"), axes, nd, kernel_size, stride, padding, dilation, False,
                                pooling=False)
    dt = P.stand_in((), x.dtype).dtype
    if min(geo.size) == 0:  # an empty pooled axis: windows of padding only
        chunks = tuple(c if i not in ax else (n,) for i, (c, n) in enumerate(zip(x.chunks, P.pooled_shape(
            x.shape, ax, geo.out)))) + tuple((k,) for k in geo.kernel)
        return da.zeros(tuple(sum(c) for c in chunks), dtype=dt, chunks=chunks)
    return _forward(core, "unfold", x, ax, geo, (), (dt,), (kernel_size, stride, padding, dilation))


def avg_pool_backward(core, nd, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                      count_include_pad, divisor_override, axes, out=None):
    _, shape, ax, geo = P.avg_backward_args(_meta(grad_output, "grad_output"), input_shape, axes, nd,
                                            kernel_size, stride, padding, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    _no_out(out)
    return _avg_backward(core, grad_output, shape, ax, geo, include, div)


def adaptive_avg_pool_backward(core, nd, grad_output, input_shape, axes, out=None):
    _, shape, ax, geo = P.adaptive_backward_args(_meta(grad_output, "grad_output"), input_shape, axes, nd)
    _no_out(out)
    return _avg_backward(core, grad_output, shape, ax, geo, False, 0)


def _avg_backward(core, g, shape, ax, geo, include, div):
    final = P.result_dtype_avg(P.stand_in((), g.dtype).dtype)
    opts = {"name": "grad_output", "include": include, "div": div}
    return _backward(core, "avg", [g], ax, geo.size, shape, opts, _work_dtype(final), final,
                     _window_blocks(geo, g.chunks, ax))


def fold(core, nd, windows, input_shape, stride, padding, dilation, axes, out=None):
    _, shape, ax, geo = P.fold_args(_meta(windows, "windows"), input_shape, axes, nd, stride, padding, dilation)
    _no_out(out)
    w = windows.rechunk({i: -1 for i in range(len(shape), windows.ndim)})
    dt = P.stand_in((), w.dtype).dtype
    return _backward(core, "fold", [w], ax, geo.size, shape, {"name": "windows"}, _work_dtype(dt), dt,
                     _window_blocks(geo, w.chunks, ax))


_WHOLE = "the block reaches the whole pooled extent"  # never shown: such a region holds every index


def max_pool_backward(core, nd, grad_output, indices, input_shape, axes, out=None, omit=False):
    """The gradient of max pooling by index; ``omit``: an index -1 (from a NaN-ignoring forward) adds nothing."""
    _, _, shape, ax = P.max_backward_args(_meta(grad_output, "grad_output"), _meta(indices, "indices"),
                                          input_shape, axes, nd)
    _no_out(out)
    dt = P.stand_in((), grad_output.dtype).dtype
    full = P.sizes_at(shape, ax)
    opts = {"name": "grad_output", "what": "`input_shape`", "reach": _WHOLE, "omit": omit}
    made = origin(indices)
    if made is not None and made[1] == ax and made[0].size == full and made[0].out == P.sizes_at(indices.shape, ax):
        g = _as_dask(grad_output, indices.chunks)
        if g.chunks != indices.chunks:
            g = g.rechunk(indices.chunks)
        return _backward(core, "max", [g, indices], ax, full, shape, dict(opts, reach=None), _work_dtype(dt), dt,
                         _window_blocks(made[0], indices.chunks, ax))
    # indices of unknown origin: each leading chunk's whole pooled extent in one block
    chunks = (grad_output if _is_dask(grad_output) else indices).chunks
    g, idx = _as_dask(grad_output, chunks), _as_dask(indices, chunks)
    if idx.chunks != g.chunks:
        idx = idx.rechunk(g.chunks)
    if any(len(g.chunks[i]) > 1 for i in ax):
        warnings.warn(
            "stridepool: `indices` did not come from a max pooling of a dask array (in this process), so the "
            "windows that their blocks cover are unknown: each leading chunk's whole pooled extent is gathered "
            "into one block. Pass the indices that the dask forward returned to keep blocks small.",
            da.PerformanceWarning, stacklevel=4)
        g, idx = _pooled_single(g, ax), _pooled_single(idx, ax)
    return _backward(core, "max", [g, idx], ax, full, shape, opts, _work_dtype(dt), dt,
                     _whole_blocks(full, g.chunks, ax))


def max_unpool(core, nd, x, indices, kernel_size, stride, padding, output_size, axes, out=None):
    _, _, shape, ax = P.unpool_args(_meta(x, "x"), _meta(indices, "indices"), kernel_size, stride, padding,
                                    output_size, axes, nd)
    _no_out(out)
    made = origin(indices)
    chunks = (x if _is_dask(x) else indices).chunks
    x, idx = _as_dask(x, chunks), _as_dask(indices, chunks)
    if idx.chunks != x.chunks:
        idx = idx.rechunk(x.chunks)
    full, n_in = P.sizes_at(shape, ax), P.sizes_at(x.shape, ax)
    dt = P.stand_in((), x.dtype).dtype
    if made is not None and made[1] == ax and made[0].size == full and made[0].out == n_in:
        blocks, reach = _window_blocks(made[0], x.chunks, ax), None  # the registry vouches for them
    elif all(len(x.chunks[i]) == 1 for i in ax):
        blocks, reach = _whole_blocks(full, x.chunks, ax), _WHOLE
    else:  # the windows that kernel_size, stride and padding give: value i reaches [i*s - lo, i*s - lo + k)
        k = P.as_tuple(kernel_size, "kernel_size", nd)
        s = P.as_tuple(k if stride is None else stride, "stride", nd)
        pad = P.parse_padding(padding, nd)
        geo = P.Geometry(P.Axis(n, ki, si, 1, lo, hi, o) for n, ki, si, (lo, hi), o in zip(full, k, s, pad, n_in))
        blocks = _window_blocks(geo, x.chunks, ax)
        reach = (f"the dask path puts each value within the window that kernel_size {P._show(k)}, stride "
                 f"{P._show(s)} and padding {padding!r} give its position (as a max pooling with those parameters "
                 "does); for other indices give `x` and `indices` one chunk along the pooled axes")
    opts = {"name": "x", "what": "the output", "reach": reach}
    return _backward(core, "unpool", [x, idx], ax, full, shape, opts, dt, dt, blocks, mode="put")


# ------------------------------------------------------------------------------------------- block_reduce


def block_reduce(core, image, block_size, func, cval, func_kwargs):
    """``block_reduce`` of a dask array: each chunk is reduced in memory (``stridepool._block_reduce``), on
    chunks that hold whole blocks (a multiple of the block along every axis but each axis's last chunk, which
    holds the end of the axis and its padding). Chunks that are not such multiples are rechunked first:
    their edges move down to a multiple of the block (neighbouring chunks merge where one is smaller than a
    block). Validation at the call, from the shape, the dtype and the blocks' type (masked or not)."""
    _known(image, "image")
    block = P.block_shape(block_size, image.ndim)
    kwargs = P.block_func(func, func_kwargs)
    P.check_cval(cval, image.dtype, P.block_pads(image.shape, block))
    x = image.rechunk(_whole_blocks_chunks(image.chunks, block))
    # the result's dtype and type, and the check that func reduces blocks to one value: from the in-memory
    # call on one cell of the image's kind (blocks of 1)
    one = np.zeros((1,) * image.ndim, dtype=image.dtype)
    if P.is_masked(image._meta):
        one = np.ma.MaskedArray(one, mask=False)
    sample = np.asanyarray(_BR.block_reduce(core, one, 1, func, cval, kwargs))
    if sample.shape != one.shape:
        raise ValueError(f"`func` must reduce each block to one value for a dask image: it gave shape "
                         f"{sample.shape} for one block of shape {one.shape}")
    chunks = tuple(tuple(-(-c // b) for c in cs) for cs, b in zip(x.chunks, block))
    token = tokenize(_core_name(core), x.name, block, func, cval, kwargs)
    return x.map_blocks(_block_reduce_chunk, _Static(_core_name(core), block, func, cval, kwargs), chunks=chunks,
                        dtype=sample.dtype, meta=sample[(slice(0, 0),) * sample.ndim],
                        name=f"stridepool-block-reduce-{token}")


def _whole_blocks_chunks(chunks, block):
    """Chunk sizes whose edges are multiples of the block (each axis's last edge is its end): the edges of
    ``chunks`` moved down to a multiple, those that coincide merged; unchanged where they already are."""
    out = []
    for sizes, b in zip(chunks, block):
        edges = B.bounds(sizes)
        n = int(edges[-1])
        inner = sorted({int(e) // b * b for e in edges[1:-1]} - {0, n})
        cuts = [0, *inner, n]
        out.append(tuple(e1 - e0 for e0, e1 in zip(cuts[:-1], cuts[1:])) or (0,))
    return tuple(out)


def _block_reduce_chunk(chunk, static):
    core_name, block, func, cval, kwargs = static.v
    with _block_threads():
        return _BR.block_reduce(_core(core_name), chunk, block, func, cval, kwargs)

