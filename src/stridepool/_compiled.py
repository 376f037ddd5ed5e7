"""The public functions on the compiled backend: validate (shared ``_params``), lay out, call a kernel.

Arrays reach the kernels as C-contiguous ``(B, H, W, C)`` blocks. An ``(..., H, W)`` array is planar
(``C == 1``); an ``(N, H, W, C)`` array pooled over ``axes=(1, 2)`` is channels-last and is handled as it
is, without a transposed copy. Only an array that is in neither form (non-contiguous, pooled axes apart
or reversed) is copied, once.
"""
import math
import os

import numpy as np

from . import _docs
from . import _kernels as _baseline
from . import _params as P
from ._threads import get_num_threads
from .reference import unfold2d

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "unfold2d", "fold2d"]



def _pick_kernels():
    """The AVX2 + FMA build of the kernels where the CPU has them, else the baseline build.

    ``STRIDEPOOL_CPU=baseline`` forces the baseline build; ``STRIDEPOOL_CPU=avx2`` requires the AVX2 one.
    """
    choice = os.environ.get("STRIDEPOOL_CPU", "auto").strip().lower() or "auto"
    if choice not in ("auto", "baseline", "avx2"):
        raise ValueError(f"`STRIDEPOOL_CPU` must be one of auto, baseline, avx2, got {choice!r}")
    if choice == "baseline":
        return "baseline", _baseline
    if not _baseline.cpu_has_avx2():
        if choice == "avx2":
            raise ImportError("STRIDEPOOL_CPU=avx2 but this CPU does not support AVX2 and FMA")
        return "baseline", _baseline
    try:  # imported only now: its code may use AVX2 from the first instruction
        from . import _kernels_avx2
    except ImportError:
        if choice == "avx2":
            raise
        return "baseline", _baseline
    return "avx2", _kernels_avx2


KERNELS, K = _pick_kernels()

_NAMES = {np.dtype(t): n for t, n in ((np.float32, "float"), (np.float64, "double"), (np.int8, "int8_t"),
                                      (np.int16, "int16_t"), (np.int32, "int32_t"), (np.int64, "int64_t"),
                                      (np.uint8, "uint8_t"), (np.uint16, "uint16_t"), (np.uint32, "uint32_t"),
                                      (np.uint64, "uint64_t"))}
_REAL = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_MAX = {dt: K.max_pool[n] for dt, n in _NAMES.items()}
_UNPOOL = {dt: K.max_unpool_add[n] for dt, n in _NAMES.items()}
_FOLD = {dt: K.fold[n] for dt, n in _NAMES.items()}
_AVG = {(dt, rt): K.avg_pool[n, r] for dt, n in _NAMES.items() for rt, r in _REAL.items()}
_AVG_BACK = {(dt, rt): K.avg_unpool_add[n, r] for dt, n in _NAMES.items() for rt, r in _REAL.items()}
_INT64 = np.dtype(np.int64)

# ------------------------------------------------------------------------------------------------ layout


def _moved(a, ax):
    """True when the array should be handled with its pooled axes moved last (planar after moving)."""
    a0, a1 = ax
    if a1 == a0 + 1 and a.flags.c_contiguous:
        return False
    return a1 != a0 + 1 or np.moveaxis(a, ax, (-2, -1)).flags.c_contiguous


def _in_layout(a, ax, moved):
    return (np.moveaxis(a, ax, (-2, -1)) if moved else a).flags.c_contiguous


def _blocks(a, ax, moved, dtype=None):
    """The ``(B, H, W, C)`` block view of ``a`` in the chosen layout (a copy only if it must be)."""
    a0, a1 = ax
    if moved:
        m = np.moveaxis(a, ax, (-2, -1))
        m = np.ascontiguousarray(m, dtype=dtype) if dtype is not None else np.ascontiguousarray(m)
        return m.reshape(math.prod(m.shape[:-2]), m.shape[-2], m.shape[-1], 1)
    m = np.ascontiguousarray(a, dtype=dtype) if dtype is not None else np.ascontiguousarray(a)
    s = m.shape
    return m.reshape(math.prod(s[:a0]), s[a0], s[a1], math.prod(s[a1 + 1:]))


def _empty(shape, ax, moved, dtype):
    """A new array of ``shape`` (user axis order) laid out as ``moved`` says, and its block view."""
    if moved:
        a0, a1 = ax
        rest = tuple(n for i, n in enumerate(shape) if i not in ax)
        m = np.empty(rest + (shape[a0], shape[a1]), dtype=dtype)
        return np.moveaxis(m, (-2, -1), ax), m.reshape(math.prod(rest), shape[a0], shape[a1], 1)
    a = np.empty(shape, dtype=dtype)
    return a, _blocks(a, ax, False)


class _Target:
    """Where a kernel writes: the caller's ``out`` when it fits, else a fresh array copied or cast to it."""

    __slots__ = ("result", "block", "_final")

    def __init__(self, out, shape, ax, moved, dtype, work, inputs):
        self._final = None
        if out is not None and (work != dtype or not _in_layout(out, ax, moved)
                                or any(np.may_share_memory(out, a) for a in inputs)):
            self._final = out
            out = None
        if out is None:
            self.result, self.block = _empty(shape, ax, moved, work)
        else:
            self.result, self.block = out, _blocks(out, ax, moved)

    def done(self, dtype):
        if self._final is not None:
            np.copyto(self._final, self.result, casting="unsafe")
            return self._final
        if self.result.dtype != dtype:
            return self.result.astype(dtype)
        return self.result


#: below this many element operations a call runs on one thread: waking a pool costs more than the work
#: (microseconds on an idle machine, milliseconds on a loaded one)
PARALLEL_MIN_WORK = 1 << 16


def _threads(work):
    return get_num_threads() if work >= PARALLEL_MIN_WORK else 1


def _chunks(B, C, threads):
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

_PLANS = {}
_PLAN_DTYPES = frozenset([np.dtype(np.float32), np.dtype(np.float64)])
_MAX_PLANS = 256


def _replay(key, params, method, *arrays):
    """The result of the plan remembered for ``key``, or None (no plan, or an array it cannot take)."""
    try:
        plan = _PLANS.get(key)
    except TypeError:  # an unhashable argument (a list, an array): the full path
        return None
    if plan is None or not K.plain(params):
        return None
    return getattr(plan, method)(*arrays)


def _remember(key, params, moved, op, dtype, block_in, block_out, table, geometry, in_shape, out_shape, work):
    """Store a Plan for a planar C-contiguous native float32/float64 call that has just run the full path.

    The caller makes a key only for arrays that need no preparation (native float32/float64, C-contiguous),
    so the plan reads exactly the caller's memory.
    """
    if (key is None or moved or dtype not in _PLAN_DTYPES or block_in.shape[3] != 1 or not block_in.size
            or not block_out.size or not K.plain(params)):
        return
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    B, H, W, _ = block_in.shape
    _PLANS[key] = K.Plan(op, dtype, B, H, W, block_out.shape[1], block_out.shape[2], table, geometry, in_shape,
                         out_shape, work >= PARALLEL_MIN_WORK, np.empty, _INT64, get_num_threads,
                         P.check_indices)


# --------------------------------------------------------------------------------------------- functions


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
               *, axes=(-2, -1), out=None):
    key = params = None
    if (out is None and type(x) is np.ndarray and x.dtype in _PLAN_DTYPES and type(ceil_mode) is bool
            and type(return_indices) is bool):
        params = (kernel_size, stride, padding, dilation, axes)
        key = (1 if return_indices else 0, x.shape, x.dtype, ceil_mode, params)
        result = _replay(key, params, "forward", x)
        if result is not None:
            return result
        key = key if x.flags.c_contiguous else None
    x, ax, g = P.prepare_pool(x, axes, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = P.as_bool(return_indices, "return_indices")
    shape = P.pooled_shape(x.shape, ax, g.OH, g.OW)
    P.check_out(out, shape, x.dtype)
    work = P.acc_dtype(x.dtype)
    moved = _moved(x, ax)
    target = _Target(out, shape, ax, moved, x.dtype, work, (x,))
    idx, iblock = _empty(shape, ax, moved, _INT64) if return_indices else (None, None)
    if target.block.size:
        xb, work_size = _blocks(x, ax, moved, work), target.block.size * g.KH * g.KW
        _MAX[work](xb, target.block, iblock, P.window_table(g), g.KW, g.SW, g.DH, g.DW, _threads(work_size))
        _remember(key, params, moved, int(return_indices), x.dtype, xb, target.block, P.window_table(g),
                  (g.KW, g.SW, g.DH, g.DW, False, 0), x.shape, shape, work_size)
    y = target.done(x.dtype)
    return (y, idx) if return_indices else y


def max_pool2d_backward(grad_output, indices, input_shape, *, axes=(-2, -1), out=None):
    key = params = None
    if (out is None and type(grad_output) is np.ndarray and type(indices) is np.ndarray
            and grad_output.dtype in _PLAN_DTYPES):
        params = (input_shape, axes)
        key = (2, grad_output.shape, grad_output.dtype, indices.shape, indices.dtype, params)
        result = _replay(key, params, "backward", grad_output, indices)
        if result is not None:
            return result
        contiguous = grad_output.flags.c_contiguous and indices.flags.c_contiguous
        key = key if contiguous and indices.dtype == _INT64 else None
    g, idx, shape, ax = P.max_backward_args(grad_output, indices, input_shape, axes)
    P.check_out(out, shape, g.dtype)
    H, W = shape[ax[0]], shape[ax[1]]
    if out is not None:  # a bad index must leave the caller's array untouched
        P.check_indices(idx.astype(_INT64, copy=False), H * W)
    work = P.acc_dtype(g.dtype)
    moved = _moved(g, ax)
    target = _Target(out, shape, ax, moved, g.dtype, work, (g, idx))
    if target.block.size:
        if g.size:
            gb, work_size = _blocks(g, ax, moved, work), target.block.size + g.size
            threads = _threads(work_size)
            bad = _UNPOOL[work](gb, _blocks(idx, ax, moved, _INT64), target.block,
                                _chunks(gb.shape[0], gb.shape[3], threads), threads)
            if bad:  # the kernel met a bad index: name the one the reference names
                P.check_indices(idx.astype(_INT64, copy=False), H * W)
                raise AssertionError("the kernel met an index outside [0, H*W) that the check did not find")
            _remember(key, params, moved, 2, g.dtype, target.block, gb, P.window_table(P.geometry(H, W, 1)),
                      (1, 1, 1, 1, False, 0), shape, g.shape, work_size)
        else:
            target.block.fill(0)
    return target.done(g.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, axes=(-2, -1), out=None):
    key = params = None
    if (out is None and type(x) is np.ndarray and x.dtype in _PLAN_DTYPES and type(ceil_mode) is bool
            and type(count_include_pad) is bool):
        params = (kernel_size, stride, padding, divisor_override, axes)
        key = (3, x.shape, x.dtype, ceil_mode, count_include_pad, params)
        result = _replay(key, params, "forward", x)
        if result is not None:
            return result
        key = key if x.flags.c_contiguous else None
    x, ax, g = P.prepare_pool(x, axes, kernel_size, stride, padding, 1, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    rdt = P.result_dtype_avg(x.dtype)
    shape = P.pooled_shape(x.shape, ax, g.OH, g.OW)
    P.check_out(out, shape, rdt)
    work, acc = P.acc_dtype(x.dtype), P.acc_dtype(rdt)
    moved = _moved(x, ax)
    target = _Target(out, shape, ax, moved, rdt, acc, (x,))
    if target.block.size:
        xb, work_size = _blocks(x, ax, moved, work), target.block.size * g.KH * g.KW
        _AVG[work, acc](xb, target.block, P.window_table(g), g.KW, g.SW, include, div, _threads(work_size))
        _remember(key, params, moved, 3, x.dtype, xb, target.block, P.window_table(g), (g.KW, g.SW, 1, 1, include, div),
                  x.shape, shape, work_size)
    return target.done(rdt)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, axes=(-2, -1), out=None):
    key = params = None
    if (out is None and type(grad_output) is np.ndarray and grad_output.dtype in _PLAN_DTYPES
            and type(ceil_mode) is bool and type(count_include_pad) is bool):
        params = (input_shape, kernel_size, stride, padding, divisor_override, axes)
        key = (4, grad_output.shape, grad_output.dtype, ceil_mode, count_include_pad, params)
        result = _replay(key, params, "backward", grad_output)
        if result is not None:
            return result
        key = key if grad_output.flags.c_contiguous else None
    g, shape, ax, geo = P.avg_backward_args(grad_output, input_shape, axes, kernel_size, stride, padding,
                                            ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    rdt = P.result_dtype_avg(g.dtype)
    P.check_out(out, shape, rdt)
    work, acc = P.acc_dtype(g.dtype), P.acc_dtype(rdt)
    moved = _moved(g, ax)
    target = _Target(out, shape, ax, moved, rdt, acc, (g,))
    if target.block.size:
        gb = _blocks(g, ax, moved, work)
        work_size = target.block.size + gb.size * geo.KH * geo.KW
        threads = _threads(work_size)
        _AVG_BACK[work, acc](gb, target.block, P.window_table(geo), geo.KW, geo.SW, include, div,
                             _chunks(gb.shape[0], gb.shape[3], threads), threads)
        _remember(key, params, moved, 4, g.dtype, target.block, gb, P.window_table(geo),
                  (geo.KW, geo.SW, 1, 1, include, div), shape, g.shape, work_size)
    return target.done(rdt)


def fold2d(windows, input_shape, stride=1, padding=0, dilation=1, *, axes=(-2, -1), out=None):
    w, shape, ax, g = P.fold_args(windows, input_shape, axes, stride, padding, dilation)
    P.check_out(out, shape, w.dtype)
    work = P.acc_dtype(w.dtype)
    # windows (..., OH, OW, ..., KH, KW): lay out the leading part like an array of the input's shape
    lead = w.shape[:-2]
    moved = _moved(w[..., 0, 0], ax) if w.size else ax[1] != ax[0] + 1
    target = _Target(out, shape, ax, moved, w.dtype, work, (w,))
    if target.block.size:
        wl = np.moveaxis(w, (*ax, -2, -1), (-4, -3, -2, -1)) if moved else w
        wl = np.ascontiguousarray(wl, dtype=work)
        if moved:
            wb = wl.reshape(math.prod(wl.shape[:-4]), g.OH, g.OW, 1, g.KH, g.KW)
        else:
            a0, a1 = ax
            wb = wl.reshape(math.prod(lead[:a0]), g.OH, g.OW, math.prod(lead[a1 + 1:]), g.KH, g.KW)
        threads = _threads(target.block.size + wb.size)
        _FOLD[work](wb, target.block, P.window_table(g), g.DH, g.DW,
                    _chunks(wb.shape[0], wb.shape[3], threads), threads)
    return target.done(w.dtype)


_docs.apply(globals())
