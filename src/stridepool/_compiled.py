"""The compiled backend's core: validate (shared ``_params``), lay out, call a kernel.

Every operation is one function for any number of pooled axes ``nd`` (1, 2 or 3); the public names
(``max_pool2d`` ...) are thin wrappers in ``stridepool._api``. Arrays reach the kernels as flat C-contiguous
buffers of ``(B, D, H, W, C)`` blocks (``D``, ``H`` are 1 for fewer pooled axes). An array whose pooled axes
are last is planar (``C == 1``); one pooled over consecutive axes followed by others (``(N, H, W, C)`` with
``axes=(1, 2)``) is channels-last and is handled as it is, without a transposed copy. Only an array in
neither form (non-contiguous, pooled axes apart or reversed) is copied, once.

The ``run_*`` functions take validated arrays and a :class:`~stridepool._params.Geometry`; the dask path
calls them on blocks with the geometry of each block's windows.
"""
from __future__ import annotations

import functools
import importlib
import math
import os
import sys
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import numpy as np

from . import _kernels as _baseline
from . import _lazy, _reference
from . import _params as P
from ._threads import get_num_threads

if TYPE_CHECKING:
    from types import ModuleType

    from numpy.typing import ArrayLike, DTypeLike

    from ._kernels import Plan, _Module
    from ._params import Geometry
    from ._typing import Array, Ax, AxesArg, Indexed, OutputSizeArg, PaddingArg, Shape, SizeArg

    #: the kernels' (B, D, H, W, C) blocks and their DIMS tuples
    Dims = tuple[int, ...]
    #: a plan's key: (nd, operation, shape, dtype, extra, flags, parameters)
    Key = tuple[int, str, tuple[int, ...], np.dtype[Any], tuple[Hashable, ...], tuple[object, ...],
                tuple[Hashable, ...]]


#: the builds of the kernels (modules stridepool._kernels, _kernels_avx2, _kernels_avx512), and what a CPU needs
#: to run each
BUILDS: dict[str, str] = {"baseline": "_kernels", "avx2": "_kernels_avx2", "avx512": "_kernels_avx512"}
#: the build ``STRIDEPOOL_CPU=auto`` prefers where the CPU runs several (bench/results.md measured both on a CPU
#: with AVX-512: see docs/wheels.rst)
AUTO_ORDER: tuple[str, ...] = ("avx2", "avx512", "baseline")


def cpu_runs(name: str) -> bool:
    """True when this CPU (and OS) can run the build ``name`` of the kernels."""
    if name == "avx512":
        return bool(_baseline.cpu_has_avx512())
    if name == "avx2":
        return bool(_baseline.cpu_has_avx2())
    return name == "baseline"


def load_kernels(name: str) -> _Module:
    """The module of the build ``name``; ImportError if this CPU cannot run it or it was not built."""
    if not cpu_runs(name):
        raise ImportError(f"this CPU cannot run the {name} build of stridepool's kernels")
    # imported only now: its code may use the build's instructions from the first one
    return cast("_Module", importlib.import_module(f"{__package__}.{BUILDS[name]}"))


def available_kernels() -> tuple[str, ...]:
    """The builds of the kernels this CPU can run and this install has, in ``AUTO_ORDER``."""
    out = []
    for name in AUTO_ORDER:
        try:
            load_kernels(name)
        except ImportError:
            continue
        out.append(name)
    return tuple(out)


def _pick_kernels() -> tuple[str, _Module]:
    """The build of the kernels to run: ``STRIDEPOOL_CPU`` (``auto``, ``baseline``, ``avx2``, ``avx512``).

    ``auto`` (the default) takes the first build of ``AUTO_ORDER`` that this CPU runs and this install has; a
    named build is required (ImportError when the CPU cannot run it or it was not built).
    """
    choice = os.environ.get("STRIDEPOOL_CPU", "auto").strip().lower() or "auto"
    if choice != "auto" and choice not in BUILDS:
        raise ValueError(f"`STRIDEPOOL_CPU` must be one of auto, {', '.join(BUILDS)}, got {choice!r}")
    if choice != "auto":
        return choice, load_kernels(choice)
    for name in AUTO_ORDER:
        try:
            return name, load_kernels(name)
        except ImportError:
            continue
    return "baseline", _baseline


KERNELS, K = _pick_kernels()
#: the lean path of the bound build (``K.lean``): the public functions (``stridepool._api``) try it first
lean = K.lean
_SELF: ModuleType = sys.modules[__name__]


def _cache_limit() -> int:
    """``STRIDEPOOL_CACHE_MB`` (default 1024): MiB of freed large results kept for reuse; 0 turns it off."""
    value = os.environ.get("STRIDEPOOL_CACHE_MB", "1024").strip() or "1024"
    try:
        mb = int(value)
    except ValueError:
        raise ValueError(f"`STRIDEPOOL_CACHE_MB` must be a whole number of MiB, got {value!r}") from None
    if mb < 0:
        raise ValueError(f"`STRIDEPOOL_CACHE_MB` must be >= 0, got {value!r}")
    return mb << 20


#: results smaller than this come from np.empty (the allocator reuses small blocks itself)
CACHE_MIN_BYTES: int = K.CACHE_MIN_BYTES


def release_memory() -> int:
    """Free the cache of result buffers (of every build of the kernels loaded) and hand the memory back to the
    operating system, and drop the plans of repeated calls with the small results they keep; returns the bytes
    of buffers freed. See :func:`stridepool.release_memory`."""
    _forget_plans()
    freed = 0
    for name in BUILDS.values():
        module = sys.modules.get(f"{__package__}.{name}")
        if module is not None:
            freed += module.release_cache()
    return freed


def _alloc(shape: Ax, dtype: DTypeLike) -> Array:
    """An uninitialised array for a result: large ones on a cached buffer (see _kernels_impl.pxi's Block)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < CACHE_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    # (cast: NumPy's stubs take any buffer-protocol object, as a Block is, only from Python 3.12 on)
    return np.ndarray(shape, dtype=dtype, buffer=cast("memoryview", K.Block(nbytes)))

_NAMES = {np.dtype(t): n for t, n in ((np.float32, "float"), (np.float64, "double"), (np.int8, "int8_t"),
                                      (np.int16, "int16_t"), (np.int32, "int32_t"), (np.int64, "int64_t"),
                                      (np.uint8, "uint8_t"), (np.uint16, "uint16_t"), (np.uint32, "uint32_t"),
                                      (np.uint64, "uint64_t"))}
_REAL = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
# the kernels of the build in use, by dtype (set by use_kernels)
_MAX: dict[np.dtype[Any], Any] = {}
_SCATTER: dict[np.dtype[Any], Any] = {}
_FOLD: dict[np.dtype[Any], Any] = {}
_AVG: dict[tuple[np.dtype[Any], object], Any] = {}
_AVG_BACK: dict[tuple[np.dtype[Any], object], Any] = {}
_BLOCK_SUM: dict[tuple[np.dtype[Any], object], Any] = {}
_BLOCK_EXTREME: dict[np.dtype[Any], Any] = {}
_BLOCK_NANSUM: dict[np.dtype[Any], Any] = {}


def use_kernels(name: str) -> str:
    """Run the build ``name`` of the kernels from now on (ImportError if this CPU cannot); returns the build
    that ran before. For tests and benchmarks, which compare the builds in one process; the package picks
    one at import (``STRIDEPOOL_CPU``)."""
    global K, KERNELS, lean
    module = K if name == KERNELS else load_kernels(name)
    _forget_plans()  # plans hold the kernels of the build that made them; its recent slots, their results
    before, K, KERNELS, lean = KERNELS, module, name, module.lean
    K.set_cache_limit(_cache_limit())
    K.set_ndarray(np.ndarray)
    _MAX.update({dt: K.max_pool[n] for dt, n in _NAMES.items()})
    _SCATTER.update({dt: K.scatter[n] for dt, n in _NAMES.items()})
    _FOLD.update({dt: K.fold[n] for dt, n in _NAMES.items()})
    _AVG.update({(dt, rt): K.avg_pool[n, r] for dt, n in _NAMES.items() for rt, r in _REAL.items()})
    _AVG_BACK.update({(dt, rt): K.avg_pool_backward[n, r] for dt, n in _NAMES.items() for rt, r in _REAL.items()})
    _BLOCK_SUM.update({(dt, rt): K.block_sum[n, r] for dt, n in _NAMES.items() if dt.kind in "iu"
                       for rt, r in ((np.dtype(np.uint64), "uint64_t"), (np.dtype(np.float64), "double"))})
    _BLOCK_EXTREME.update({dt: K.block_extreme[n] for dt, n in _NAMES.items()})
    _BLOCK_NANSUM.update({dt: K.block_nansum[n] for dt, n in _NAMES.items() if dt.kind == "f"})
    K.bind(_PLANS)
    return before
_INT64 = np.dtype(np.int64)

# ------------------------------------------------------------------------------------------------ layout


def _last(a: Array, ax: Ax) -> Array:
    """``a`` with its pooled axes moved last."""
    return np.moveaxis(a, ax, range(-len(ax), 0))


def _consecutive(ax: Ax) -> bool:
    return all(b == ax[0] + i for i, b in enumerate(ax))


def _moved(a: Array, ax: Ax) -> bool:
    """True when the array should be handled with its pooled axes moved last (planar after moving)."""
    if _consecutive(ax) and a.flags.c_contiguous:
        return False
    return not _consecutive(ax) or _last(a, ax).flags.c_contiguous


def _in_layout(a: Array, ax: Ax, moved: bool) -> bool:
    return (_last(a, ax) if moved else a).flags.c_contiguous


def _block_dims(shape: Ax, ax: Ax, moved: bool) -> Dims:
    """``(B, D, H, W, C)`` of an array of ``shape`` (user axis order) in the layout ``moved`` says."""
    nd = len(ax)
    sizes = P.sizes_at(shape, ax)
    if moved:
        lead, trail = math.prod(n for i, n in enumerate(shape) if i not in ax), 1
    else:
        lead, trail = math.prod(shape[:ax[0]]), math.prod(shape[ax[0] + nd:])
    return (lead,) + (1,) * (3 - nd) + sizes + (trail,)


def _flat(a: Array, ax: Ax, moved: bool, dtype: np.dtype[Any] | None = None) -> Array:
    """The flat C-contiguous, aligned buffer of ``a`` in the chosen layout (a copy only if it must be: the
    kernels read elements through typed pointers, so an unaligned array, from a byte buffer at an odd offset
    or a pickle's out-of-band buffer, is copied first)."""
    m = _last(a, ax) if moved else a
    return np.require(m, dtype=dtype, requirements=("C", "A")).reshape(-1)


def _empty(shape: Ax, ax: Ax, moved: bool, dtype: np.dtype[Any]) -> tuple[Array, Array]:
    """A new array of ``shape`` (user axis order) laid out as ``moved`` says, and its flat buffer."""
    if moved:
        rest = tuple(n for i, n in enumerate(shape) if i not in ax)
        m = _alloc(rest + P.sizes_at(shape, ax), dtype)
        return np.moveaxis(m, range(-len(ax), 0), ax), m.reshape(-1)
    a = _alloc(shape, dtype)
    return a, a.reshape(-1)


class _Target:
    """Where a kernel writes: the caller's ``out`` when it fits, else a fresh array copied or cast to it."""

    __slots__ = ("result", "flat", "_final")

    result: Array
    flat: Array
    _final: Array | None

    def __init__(self, out: Array | None, shape: Ax, ax: Ax, moved: bool, dtype: np.dtype[Any], work: np.dtype[Any],
                 inputs: tuple[Array, ...]) -> None:
        self._final = None
        if out is not None and (work != dtype or not _in_layout(out, ax, moved) or not out.flags.aligned
                                or any(np.may_share_memory(out, a) for a in inputs)):
            self._final = out
            out = None
        if out is None:
            self.result, self.flat = _empty(shape, ax, moved, work)
        else:
            self.result, self.flat = out, _flat(out, ax, moved)

    def done(self, dtype: np.dtype[Any]) -> Array:
        if self._final is not None:
            np.copyto(self._final, self.result, casting="unsafe")
            return self._final
        if self.result.dtype != dtype:
            return self.result.astype(dtype)
        return self.result


def _dims(block: Dims, geo: Geometry) -> Dims:
    """The kernels' DIMS tuple: the input blocks ``(B, D, H, W, C)`` and the windows of ``geo``."""
    axes = (P.UNIT,) * (3 - len(geo)) + tuple(geo)
    return block + tuple(a.o for a in axes) + tuple(a.k for a in axes) + (axes[2].s,) + tuple(a.d for a in axes)


#: below this many element operations a call runs on one thread: waking a pool costs more than the work
#: (microseconds on an idle machine, milliseconds on a loaded one)
PARALLEL_MIN_WORK: int = 1 << 16


def _threads(work: int) -> int:
    return get_num_threads() if work >= PARALLEL_MIN_WORK else 1


def _chunks(B: int, C: int, threads: int) -> int:
    """Channel ranges per leading index for scatter kernels, so that a few big images still use all threads."""
    if C == 1 or B >= threads:
        return 1
    return max(1, min(threads, C // 16))


# ------------------------------------------------------------------------------------- the lean call path
#
# A call whose arguments were validated once is remembered as a compiled Plan, keyed by the operation, the
# array shapes and dtypes and the parameters; the same call again (a training loop) skips validation and
# layout work. Only plain parameters (exact ints, None, strings, tuples of them; flags exactly bool) make
# keys, so a key hit can never turn an argument the full path rejects (2.0, True for an int) into a result.
#
# The public functions ask ``lean`` (the kernels' lean path, reading _PLANS) before they call the operation
# here, which is the full path: validation, layout, the kernel, and the plan remembered. One Python frame
# fewer per repeated call; the public function and the operation make the same flags and parameters
# (tests/test_lean_path.py checks that every repeated call skips the operation).

_PLANS: dict[Key, Plan] = {}
_PLAN_DTYPES = frozenset([np.dtype(np.float32), np.dtype(np.float64)])
_MAX_PLANS = 256


def _forget_plans() -> None:
    """Empty the table of plans and the kernels' recent slots, which hold plans of it."""
    _PLANS.clear()
    K.forget()


use_kernels(KERNELS)  # bind the build picked above


_NO_TABLE = np.zeros((3, 4, 1), dtype=np.int64)  # a scatter by index reads no window table


def _remember(key: Key, op: int, dtype: np.dtype[Any], geo: Geometry | None, dims: Dims, include: bool, div: int,
              in_shape: Ax, out_shape: Ax, work: int) -> None:
    """Store a Plan for a planar C-contiguous native float32/float64 call that has just run the full path.

    ``key`` (from :func:`_key`, parameters last) is made only for arrays that need no preparation (native
    float32/float64, C-contiguous), so the plan reads exactly the caller's memory.
    """
    if (dims[4] != 1 or dtype not in _PLAN_DTYPES or not math.prod(in_shape) or not math.prod(out_shape)
            or not K.plain(key[-1])):
        return
    if len(_PLANS) >= _MAX_PLANS:
        _forget_plans()
    table = _NO_TABLE if geo is None else P.window_table(geo)
    _PLANS[key] = K.Plan(key, op, dtype, table, dims, include, div, in_shape, out_shape, work >= PARALLEL_MIN_WORK,
                         np.empty, _INT64, get_num_threads, functools.partial(P.check_indices, nd=key[0]))


# ------------------------------------------------------------------------------------------------- runs


@overload
def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: Literal[False], out: Array | None = None,
            key: Key | None = None) -> Array: ...
@overload
def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: Literal[True], out: Array | None = None,
            key: Key | None = None) -> tuple[Array, Array]: ...
@overload
def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: bool, out: Array | None = None,
            key: Key | None = None) -> Array | tuple[Array, Array]: ...


def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: bool, out: Array | None = None,
            key: Key | None = None) -> Array | tuple[Array, Array]:
    """Max pooling of a validated array ``x`` over the axes ``ax`` with the windows of ``geo`` (indices: int64
    flat positions)."""
    shape = P.pooled_shape(x.shape, ax, geo.out)
    work = P.acc_dtype(x.dtype)
    moved = _moved(x, ax)
    target = _Target(out, shape, ax, moved, x.dtype, work, (x,))
    idx, iflat = _empty(shape, ax, moved, _INT64) if return_indices else (None, None)
    if target.flat.size:
        dims = _dims(_block_dims(x.shape, ax, moved), geo)
        work_size = target.flat.size * math.prod(geo.kernel)
        _MAX[work](_flat(x, ax, moved, work), target.flat, iflat, P.window_table(geo), dims, _threads(work_size))
        if key is not None and not moved:
            _remember(key, int(return_indices), x.dtype, geo, dims, False, 0, x.shape, shape, work_size)
    y = target.done(x.dtype)
    return (y, idx) if return_indices else y  # type: ignore[return-value]  # idx is an array with return_indices


def run_avg(x: Array, ax: Ax, geo: Geometry, include: bool, div: int, out: Array | None = None,
            key: Key | None = None) -> Array:
    """Average pooling of a validated array (``include``: count_include_pad; ``div``: 0 or the override)."""
    rdt = P.result_dtype_avg(x.dtype)
    shape = P.pooled_shape(x.shape, ax, geo.out)
    work, acc = P.acc_dtype(x.dtype), P.acc_dtype(rdt)
    moved = _moved(x, ax)
    target = _Target(out, shape, ax, moved, rdt, acc, (x,))
    if target.flat.size:
        dims = _dims(_block_dims(x.shape, ax, moved), geo)
        work_size = target.flat.size * math.prod(geo.kernel)
        _AVG[work, acc](_flat(x, ax, moved, work), target.flat, P.window_table(geo), dims, include, div,
                        _threads(work_size))
        if key is not None and not moved:
            _remember(key, 3, x.dtype, geo, dims, include, div, x.shape, shape, work_size)
    return target.done(rdt)


def run_avg_backward(g: Array, shape: Ax, ax: Ax, geo: Geometry, include: bool, div: int, out: Array | None = None,
                     key: Key | None = None) -> Array:
    """Gradient of :func:`run_avg` for an input of ``shape``."""
    rdt = P.result_dtype_avg(g.dtype)
    work, acc = P.acc_dtype(g.dtype), P.acc_dtype(rdt)
    moved = _moved(g, ax)
    target = _Target(out, shape, ax, moved, rdt, acc, (g,))
    if target.flat.size:
        block = _block_dims(shape, ax, moved)
        dims = _dims(block, geo)
        work_size = target.flat.size + g.size * math.prod(geo.kernel)
        threads = _threads(work_size)
        _AVG_BACK[work, acc](_flat(g, ax, moved, work), target.flat, P.window_table(geo), dims, include, div,
                             _chunks(block[0], block[4], threads), threads)
        if key is not None and not moved:
            _remember(key, 4, g.dtype, geo, dims, include, div, shape, g.shape, work_size)
    return target.done(rdt)


def _run_block(kernel: Any, x: Array, ax: Ax, block: Ax, dtype: np.dtype[Any], work: np.dtype[Any],
               out: Array | None, *args: object) -> Array:
    """One block kernel (windows = strides = ``block`` over up to three axes ``ax`` of a validated ``x``, read
    as ``work``'s input type) into ``out`` or a new array of ``dtype`` (written as ``work``): ``kernel(x, y,
    dims, *args, threads)``. Cells past the last whole block of an axis are not read."""
    shape = P.pooled_shape(x.shape, ax, [n // b for n, b in zip(P.sizes_at(x.shape, ax), block)])
    moved = _moved(x, ax)
    target = _Target(out, shape, ax, moved, dtype, work, (x,))
    if target.flat.size:
        dims = _block_dims(x.shape, ax, moved) + (1,) * (3 - len(ax)) + tuple(block)
        kernel(_flat(x, ax, moved), target.flat, dims, *args, _threads(x.size))
    return target.done(dtype)


def run_block_sum(x: Array, ax: Ax, block: Ax, dtype: np.dtype[Any], out: Array | None = None) -> Array:
    """The sums (``dtype`` int64 or uint64: exact, wrapping as NumPy's integer sums wrap) or means (``dtype``
    float64: exact sums, divided once) of the ``block``-sized blocks of a validated integer array ``x`` along
    up to three axes ``ax``; cells past the last whole block of an axis are not read."""
    mean = dtype.kind == "f"
    work = np.dtype(np.float64) if mean else np.dtype(np.uint64)  # (int64 sums are written as uint64)
    y = _run_block(_BLOCK_SUM[x.dtype, work], x, ax, block, work, work,
                   out if out is None or mean else out.view(work), float(math.prod(block)))
    return y if mean else y.view(dtype)


def run_block_extreme(x: Array, ax: Ax, block: Ax, op: str, out: Array | None = None) -> Array:
    """The maxima (``op`` "max") or minima ("min") of the ``block``-sized blocks of a validated array ``x``
    along up to three axes ``ax``: the cell max pooling (``-max(-x)``) picks, the first NaN of a block, else
    its first largest (smallest) cell in row-major order. "nanmax", "nanmin": NaN ignored, the first largest
    (smallest) non-NaN cell, NaN (``np.nan``) for a block of NaN only."""
    work = P.acc_dtype(x.dtype)  # (float16 in float32: exact)
    y = _run_block(_BLOCK_EXTREME[work], x.astype(work, copy=False), ax, block, x.dtype, work, out,
                   op.endswith("max"), op.startswith("nan"))
    if op.startswith("nan") and x.dtype.kind == "f":  # a block of NaN only: np.nan, whichever NaN it held
        nan = np.isnan(y)
        if nan.any():
            y[nan] = np.nan
    return y


def run_block_nansum(x: Array, ax: Ax, block: Ax, mean: bool, out: Array | None = None) -> Array:
    """The sums (``mean``: means) of the non-NaN cells of the ``block``-sized blocks of a validated float array
    ``x`` along up to three axes ``ax``: NaN added as +0 from +0 in row-major order (in float32 for float16
    and float32, in float64 for float64), divided by the number of non-NaN cells; a block of NaN only gives
    NaN (a mean) or 0 (a sum). The result has ``x``'s dtype."""
    work = P.acc_dtype(x.dtype)
    return _run_block(_BLOCK_NANSUM[work], x.astype(work, copy=False), ax, block, x.dtype, work, out,
                      mean, np.nan if mean else 0.0)


def _scatter(values: Array, idx: Array, shape: Ax, ax: Ax, add: bool, what: str, out: Array | None = None) -> Array:
    """``values`` put (``add``: added) at ``idx`` in zeros of ``shape``; a bad index is a ValueError."""
    nd = len(ax)
    plane = math.prod(P.sizes_at(shape, ax))
    if out is not None:  # a bad index must leave the caller's array untouched
        P.check_indices(idx.astype(_INT64, copy=False), plane, nd, what)
    work = P.acc_dtype(values.dtype)
    moved = _moved(values, ax)
    target = _Target(out, shape, ax, moved, values.dtype, work, (values, idx))
    if target.flat.size:
        if values.size:
            block = _block_dims(shape, ax, moved)
            threads = _threads(target.flat.size + values.size)
            bad = _SCATTER[work](_flat(values, ax, moved, work), _flat(idx, ax, moved, _INT64), target.flat,
                                 block[0], block[4], add, _chunks(block[0], block[4], threads), threads)
            if bad:  # the kernel met a bad index: name the one the reference names
                P.check_indices(idx.astype(_INT64, copy=False), plane, nd, what)
                raise AssertionError("the kernel met an index outside the pooled extent that the check did not find")
        else:
            target.flat.fill(0)
    return target.done(values.dtype)


def run_max_backward(g: Array, idx: Array, shape: Ax, ax: Ax, out: Array | None = None,
                     key: Key | None = None) -> Array:
    """Gradient of max pooling: ``g`` added at the indices ``idx`` (validated shapes) of an input of ``shape``."""
    result = _scatter(g, idx, shape, ax, True, "`input_shape`", out)
    if key is not None and idx.dtype == _INT64 and not _moved(g, ax) and g.size:
        block = _block_dims(shape, ax, False)
        dims = block + _block_dims(g.shape, ax, False)[1:4] + (1,) * 7
        _remember(key, 2, g.dtype, None, dims, False, 0, shape, g.shape, result.size + g.size)
    return result


def run_unpool(x: Array, idx: Array, shape: Ax, ax: Ax, out: Array | None = None) -> Array:
    """Max unpooling: ``x`` put at the indices ``idx`` in zeros of ``shape`` (the last one wins)."""
    return _scatter(x, idx, shape, ax, False, "the output", out)


def run_fold(w: Array, shape: Ax, ax: Ax, geo: Geometry, out: Array | None = None) -> Array:
    """Every window of ``w`` (validated, ``(..., O..., K...)``) added back into zeros of ``shape``."""
    nd = len(ax)
    work = P.acc_dtype(w.dtype)
    # the windows' leading part (..., O...) is laid out like an array of the input's shape
    moved = _moved(w[(Ellipsis,) + (0,) * nd], ax) if w.size else not _consecutive(ax)
    target = _Target(out, shape, ax, moved, w.dtype, work, (w,))
    if target.flat.size:
        wl = np.moveaxis(w, (*ax, *range(-nd, 0)), range(-2 * nd, 0)) if moved else w
        wf = np.require(wl, dtype=work, requirements=("C", "A")).reshape(-1)
        block = _block_dims(shape, ax, moved)
        threads = _threads(target.flat.size + wf.size)
        _FOLD[work](wf, target.flat, P.window_table(geo), _dims(block, geo),
                    _chunks(block[0], block[4], threads), threads)
    return target.done(w.dtype)


# ------------------------------------------------------------------------------------ the operations
#
# One function per operation for every number of pooled axes: the full path of a call the lean path did not
# take (the public functions try it first). Each hands dask arrays to the dask path, validates, runs, and
# remembers the plan of a call that can have one.


def _key(nd: int, op: str, x: object, flags: tuple[object, ...], params: tuple[Hashable, ...],
         extra: tuple[Hashable, ...] = ()) -> Key | None:
    """A plan key for a native float32/float64 ndarray call (its parameters last), or None."""
    if type(x) is not np.ndarray or x.dtype not in _PLAN_DTYPES:
        return None
    for f in flags:  # a loop: cheaper than all() over a generator, on the path that must be cheap
        if type(f) is not bool:
            return None
    return (nd, op, x.shape, x.dtype, extra, flags, params)


def _plan_key(nd: int, op: str, x: object, flags: tuple[object, ...], params: tuple[Hashable, ...],
              out: Array | None, indices: object = None) -> Key | None:
    """The key to remember a call's plan under, after a miss of the lean path: None when the call cannot
    have a plan (``out=``, not native float32/float64 C-contiguous ndarrays)."""
    extra: tuple[Hashable, ...] = ()
    if indices is not None:
        if type(indices) is not np.ndarray or not indices.flags.c_contiguous:
            return None
        extra = (indices.shape, indices.dtype)
    key = _key(nd, op, x, flags, params, extra) if out is None else None
    return key if key is not None and x.flags.c_contiguous else None  # type: ignore[attr-defined]  # an ndarray


def max_pool(nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
             dilation: SizeArg, ceil_mode: bool, return_indices: bool, axes: AxesArg,
             out: Array | None) -> Array | Indexed:
    flags, params = (ceil_mode, return_indices), (kernel_size, stride, padding, dilation, axes)
    key = _plan_key(nd, "max", x, flags, params, out)
    if key is None and _lazy.is_dask(x):
        return _lazy.dask().max_pool(_SELF, nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                                     return_indices, axes, out=out)
    x, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = P.as_bool(return_indices, "return_indices")
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), x.dtype)
    return run_max(x, ax, g, return_indices, out, key)


def adaptive_max_pool(nd: int, x: ArrayLike, output_size: OutputSizeArg, return_indices: bool, axes: AxesArg,
                      out: Array | None) -> Array | Indexed:
    flags, params = (return_indices,), (output_size, axes)
    key = _plan_key(nd, "amax", x, flags, params, out)
    if key is None and _lazy.is_dask(x):
        return _lazy.dask().adaptive_max_pool(_SELF, nd, x, output_size, return_indices, axes, out=out)
    x, ax, g = P.prepare_adaptive(x, axes, nd, output_size)
    return_indices = P.as_bool(return_indices, "return_indices")
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), x.dtype)
    return run_max(x, ax, g, return_indices, out, key)


def max_pool_backward(nd: int, grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape, axes: AxesArg,
                      out: Array | None) -> Array:
    params = (input_shape, axes)
    key = _plan_key(nd, "maxbw", grad_output, (), params, out, indices)
    if key is None and _lazy.is_dask(grad_output, indices):
        return _lazy.dask().max_pool_backward(_SELF, nd, grad_output, indices, input_shape, axes, out=out)
    g, idx, shape, ax = P.max_backward_args(grad_output, indices, input_shape, axes, nd)
    P.check_out(out, shape, g.dtype)
    return run_max_backward(g, idx, shape, ax, out, key)


def avg_pool(nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
             ceil_mode: bool, count_include_pad: bool, divisor_override: int | None, axes: AxesArg,
             out: Array | None) -> Array:
    flags, params = (ceil_mode, count_include_pad), (kernel_size, stride, padding, divisor_override, axes)
    key = _plan_key(nd, "avg", x, flags, params, out)
    if key is None and _lazy.is_dask(x):
        return _lazy.dask().avg_pool(_SELF, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override, axes, out=out)
    x, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, 1, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), P.result_dtype_avg(x.dtype))
    return run_avg(x, ax, g, include, div, out, key)


def adaptive_avg_pool(nd: int, x: ArrayLike, output_size: OutputSizeArg, axes: AxesArg,
                      out: Array | None) -> Array:
    flags, params = (), (output_size, axes)
    key = _plan_key(nd, "aavg", x, flags, params, out)
    if key is None and _lazy.is_dask(x):
        return _lazy.dask().adaptive_avg_pool(_SELF, nd, x, output_size, axes, out=out)
    x, ax, g = P.prepare_adaptive(x, axes, nd, output_size)
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), P.result_dtype_avg(x.dtype))
    return run_avg(x, ax, g, False, 0, out, key)


def avg_pool_backward(nd: int, grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg,
                      stride: SizeArg | None, padding: PaddingArg, ceil_mode: bool, count_include_pad: bool,
                      divisor_override: int | None, axes: AxesArg, out: Array | None) -> Array:
    flags = (ceil_mode, count_include_pad)
    params = (input_shape, kernel_size, stride, padding, divisor_override, axes)
    key = _plan_key(nd, "avgbw", grad_output, flags, params, out)
    if key is None and _lazy.is_dask(grad_output):
        return _lazy.dask().avg_pool_backward(_SELF, nd, grad_output, input_shape, kernel_size, stride,
                                              padding, ceil_mode, count_include_pad, divisor_override, axes,
                                              out=out)
    g, shape, ax, geo = P.avg_backward_args(grad_output, input_shape, axes, nd, kernel_size, stride, padding,
                                            ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    P.check_out(out, shape, P.result_dtype_avg(g.dtype))
    return run_avg_backward(g, shape, ax, geo, include, div, out, key)


def adaptive_avg_pool_backward(nd: int, grad_output: ArrayLike, input_shape: Shape, axes: AxesArg,
                               out: Array | None) -> Array:
    flags, params = (), (input_shape, axes)
    key = _plan_key(nd, "aavgbw", grad_output, flags, params, out)
    if key is None and _lazy.is_dask(grad_output):
        return _lazy.dask().adaptive_avg_pool_backward(_SELF, nd, grad_output, input_shape, axes, out=out)
    g, shape, ax, geo = P.adaptive_backward_args(grad_output, input_shape, axes, nd)
    P.check_out(out, shape, P.result_dtype_avg(g.dtype))
    return run_avg_backward(g, shape, ax, geo, False, 0, out, key)


run_unfold = _reference.run_unfold  # windows are strided views: pure NumPy on both backends


def unfold(nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg, padding: PaddingArg, dilation: SizeArg,
           axes: AxesArg) -> Array:
    """Windows are strided views: pure NumPy on both backends."""
    return _reference.unfold(nd, x, kernel_size, stride, padding, dilation, axes)


def fold(nd: int, windows: ArrayLike, input_shape: Shape, stride: SizeArg, padding: PaddingArg, dilation: SizeArg,
         axes: AxesArg, out: Array | None) -> Array:
    if type(windows) is not np.ndarray and _lazy.is_dask(windows):
        return _lazy.dask().fold(_SELF, nd, windows, input_shape, stride, padding, dilation, axes, out=out)
    w, shape, ax, g = P.fold_args(windows, input_shape, axes, nd, stride, padding, dilation)
    P.check_out(out, shape, w.dtype)
    return run_fold(w, shape, ax, g, out)


def max_unpool(nd: int, x: ArrayLike, indices: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None,
               padding: PaddingArg, output_size: Shape | None, axes: AxesArg, out: Array | None) -> Array:
    if _lazy.is_dask(x, indices):
        return _lazy.dask().max_unpool(_SELF, nd, x, indices, kernel_size, stride, padding, output_size, axes,
                                       out=out)
    x, idx, shape, ax = P.unpool_args(x, indices, kernel_size, stride, padding, output_size, axes, nd)
    P.check_out(out, shape, x.dtype)
    return run_unpool(x, idx, shape, ax, out)
