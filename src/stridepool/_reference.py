"""The reference backend's core: every operation in pure NumPy, for any number of pooled axes.

Windows are strided views (``as_strided``, as in the question's accepted answer), reductions are vectorised
over all windows and the scatter-add is ``np.add.at`` on a writeable strided window view of a zero array.
Adaptive windows (which differ in size) are gathered with index arrays instead. There is no Python loop over
windows (only over the taps of one window). It is slow, simple and independent of the kernels, which makes it
the yardstick of the parity tests and the fallback backend. The public names are in
:mod:`stridepool.reference`; the ``run_*`` functions take validated arrays and a geometry, as the compiled
core's do.
"""
from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _lazy
from . import _params as P
from . import _variants as V

if TYPE_CHECKING:
    from types import ModuleType

    from numpy.typing import ArrayLike, DTypeLike, NDArray

    from ._params import Geometry
    from ._typing import Array, Ax, AxesArg, Indexed, OutputSizeArg, PaddingArg, Shape, SizeArg

_SELF: ModuleType = sys.modules[__name__]


def release_memory() -> int:
    """The reference backend keeps no memory between calls: nothing to free (0 bytes)."""
    return 0


def lean(nd: int, op: str, x: object, flags: tuple[object, ...], params: tuple[object, ...],
         idx: object = None) -> None:
    """The reference backend remembers no calls: every call takes the full path (None)."""
    return None


def _last(a: Array, ax: Ax) -> Array:
    return np.moveaxis(a, ax, range(-len(ax), 0))


def _from_last(a: Array, ax: Ax) -> Array:
    return np.moveaxis(a, range(-len(ax), 0), ax)


def _empty_result(shape: Ax, dtype: DTypeLike, out: Array | None) -> Array:
    """The result of an operation whose output holds no element (no window tables for it: the pooled
    extents may be far larger than memory)."""
    if out is not None:
        return out
    return np.empty(shape, dtype=dtype)


def _finish(result: Array, ax: Ax, out: Array | None) -> Array:
    return _into(_from_last(result, ax), out)


def _into(result: Array, out: Array | None) -> Array:
    """``result``, or ``out`` with ``result`` written into it."""
    if out is None:
        return result
    out[...] = result
    return out


# ---------------------------------------------------------------------------------------------- windows


def _pad_widths(geo: Geometry, ndim: int) -> list[tuple[int, int]]:
    """Padding that puts every window of a regular geometry, ceil_mode overhang included, inside the array."""
    return [(0, 0)] * (ndim - len(geo)) + [(a.lo, max(0, (a.o - 1) * a.s + a.d * (a.k - 1) + 1 - a.lo - a.n))
                                           for a in geo]


def _window_view(padded: Array, geo: Geometry, writeable: bool = False) -> Array:
    """``(..., O..., K...)`` strided view of the windows of a padded ``(..., N...)`` array."""
    nd = len(geo)
    st = padded.strides[-nd:]
    return as_strided(padded, shape=padded.shape[:-nd] + geo.out + geo.kernel,
                      strides=padded.strides[:-nd] + tuple(a.s * s for a, s in zip(geo, st))
                      + tuple(a.d * s for a, s in zip(geo, st)), writeable=writeable)


def _gather_index(geo: Geometry) -> tuple[list[NDArray[np.int64]], NDArray[np.bool_]]:
    """Index arrays (one per axis, broadcasting to ``O... + K...``) of every window's taps, and the mask of
    the taps that exist; from the window table, so they serve adaptive windows too."""
    nd = len(geo)
    index, valid = [], np.ones((1,) * (2 * nd), dtype=bool)
    for j, a in enumerate(geo):
        start, t0, t1, _ = P.axis_table(a)
        t = np.arange(a.k)
        ok = (t >= t0[:, None]) & (t < t1[:, None])
        shape = [1] * (2 * nd)
        shape[j], shape[nd + j] = a.o, a.k
        index.append(np.where(ok, start[:, None] + t * a.d, 0).reshape(shape))
        valid = valid & ok.reshape(shape)
    return index, valid


def _windows(xl: Array, geo: Geometry) -> tuple[Array, NDArray[np.bool_]]:
    """``(values, valid)``: the windows of ``xl`` (pooled axes last) as ``(..., O..., K...)``, padding read as
    zeros, and the ``(O..., K...)`` mask of the taps inside the input."""
    if geo.regular:
        widths = _pad_widths(geo, xl.ndim)
        values = _window_view(np.pad(xl, widths), geo)
        valid = _window_view(np.pad(np.ones(geo.size, dtype=bool), widths[-len(geo):]), geo)
        return values, valid
    index, valid = _gather_index(geo)
    taps = xl[(Ellipsis,) + tuple(index)]
    return np.where(valid, taps, np.zeros((), xl.dtype)), valid


def _scatter_windows(values: Array, geo: Geometry, dtype: DTypeLike) -> Array:
    """Add ``values`` ``(..., O..., K...)`` back where each window came from into zeros; crop the padding.

    The additions run in the order (O_1 .. O_{n-1}, K_1 .. K_n, O_n), the kernels' order, so float sums agree
    bit for bit.
    """
    nd = len(geo)
    lead = values.shape[:-2 * nd]
    ordered = np.moveaxis(values, -nd - 1, -1)
    if geo.regular:
        widths = _pad_widths(geo, len(lead) + nd)[-nd:]
        padded = np.zeros(lead + tuple(a.n + lo + hi for a, (lo, hi) in zip(geo, widths)), dtype=dtype)
        view = np.moveaxis(_window_view(padded, geo, writeable=True), -nd - 1, -1)
        np.add.at(view, slice(None), ordered)  # type: ignore[arg-type]  # NumPy's stubs: ufunc.at takes a slice too
        return padded[(Ellipsis,) + tuple(slice(lo, lo + a.n) for a, (lo, _) in zip(geo, widths))]
    index, valid = _gather_index(geo)
    index = [np.moveaxis(np.broadcast_to(i, valid.shape), -nd - 1, -1) for i in index]
    total = np.zeros(lead + geo.size, dtype=dtype)
    np.add.at(total, (Ellipsis, *index),  # type: ignore[arg-type]  # NumPy's stubs: ufunc.at takes Ellipsis too
              np.where(np.moveaxis(valid, -nd - 1, -1), ordered, 0))
    return total


# ------------------------------------------------------------------------------------------------- runs


@overload
def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: Literal[False], out: Array | None = None) -> Array: ...
@overload
def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: Literal[True], out: Array | None = None) -> tuple[Array, Array]: ...
@overload
def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: bool, out: Array | None = None) -> Array | tuple[Array, Array]: ...


def run_max(x: Array, ax: Ax, geo: Geometry, return_indices: bool, out: Array | None = None) -> Array | tuple[Array, Array]:
    """Max pooling of a validated array ``x`` over the axes ``ax`` with the windows of ``geo`` (indices: int64
    flat positions)."""
    nd = len(ax)
    shape = P.pooled_shape(x.shape, ax, geo.out)
    if math.prod(shape) == 0:
        y = _empty_result(shape, x.dtype, out)
        return (y, np.empty(shape, np.int64)) if return_indices else y
    xl = _last(x, ax)
    values, valid = _windows(xl, geo)
    ntaps = math.prod(geo.kernel)
    vals = values.reshape(xl.shape[:-nd] + geo.out + (ntaps,))
    valid = np.broadcast_to(valid, geo.out + geo.kernel).reshape(geo.out + (ntaps,))
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    masked = np.where(valid, vals, np.array(lowest, dtype=x.dtype))
    best = masked.max(axis=-1)
    hit = valid & (vals == best[..., None])
    if x.dtype.kind == "f":
        hit |= valid & np.isnan(vals) & np.isnan(best)[..., None]
    tap = hit.argmax(axis=-1)  # first hit in row-major window order
    first = np.take_along_axis(masked, tap[..., None], axis=-1)[..., 0]  # that element itself (-0.0 vs 0.0)
    y = _finish(first.astype(x.dtype, copy=False), ax, out)
    if not return_indices:
        return y
    return y, _from_last(_positions(tap, geo), ax)


def _positions(tap: NDArray[np.integer[Any]], geo: Geometry) -> NDArray[np.int64]:
    """Flat positions in the pooled extent of the window taps ``tap`` (pooled axes last)."""
    nd = len(geo)
    flat = np.zeros((), dtype=np.int64)
    for j, (a, t) in enumerate(zip(geo, np.unravel_index(tap, geo.kernel))):
        shape = [1] * nd
        shape[j] = a.o
        start = P.axis_table(a)[0].reshape(shape)
        flat = flat * a.n + (start + t * a.d)
    return flat.astype(np.int64)


def run_avg(x: Array, ax: Ax, geo: Geometry, include: bool, div: int, out: Array | None = None) -> Array:
    """Average pooling of a validated array (``include``: count_include_pad; ``div``: 0 or the override)."""
    rdt = P.result_dtype_avg(x.dtype)
    acc = P.acc_dtype(rdt)
    shape = P.pooled_shape(x.shape, ax, geo.out)
    if math.prod(shape) == 0:
        return _empty_result(shape, rdt, out)
    values, _ = _windows(_last(x, ax), geo)
    total = np.zeros(values.shape[:-len(geo)], dtype=acc)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and float16 overflow, as in C
        for t in np.ndindex(*geo.kernel):  # taps in row-major order, the kernels' summation order
            total += values[(Ellipsis,) + t]
        y = total / P.avg_divisors(geo, include, div).astype(acc)
    return _finish(y.astype(rdt, copy=False), ax, out)


def run_block_sum(x: Array, ax: Ax, block: Ax, dtype: np.dtype[Any], out: Array | None = None) -> Array:
    """The sums (``dtype`` int64 or uint64, wrapping) or means (float64) of the ``block``-sized blocks of a
    validated integer array ``x`` along the axes ``ax``: NumPy's sum over the block view (in ``dtype``; a
    mean's exact float64 sum divided once)."""
    full = [dict(zip(ax, block)).get(i, 1) for i in range(x.ndim)]
    cut, _ = _whole_blocks(x, ax, block)
    split = cut.reshape([v for n, b in zip(cut.shape, full) for v in (n // b, b)])
    y: Array = split.sum(axis=tuple(range(1, 2 * x.ndim, 2)), dtype=dtype)
    if dtype.kind == "f":
        y = y / math.prod(block)
    return _into(y, out)


def run_block_extreme(x: Array, ax: Ax, block: Ax, op: str, out: Array | None = None) -> Array:
    """The maxima (``op`` "max", "nanmax") or minima ("min", "nanmin") of the ``block``-sized blocks of a
    validated array ``x`` along the axes ``ax``: max pooling of the blocks (of ``-x`` or ``~x`` for minima,
    flipped back), NaN ignored for the nan- forms (``stridepool._variants``' composition)."""
    cut, geo = _whole_blocks(x, ax, block)
    return cast("Array", V.run_max(_SELF, cut, ax, geo, False, out, flipped=op.endswith("min"),
                                   omit=op.startswith("nan")))


def run_block_nansum(x: Array, ax: Ax, block: Ax, mean: bool, out: Array | None = None) -> Array:
    """The sums (``mean``: means) of the non-NaN cells of the ``block``-sized blocks of a validated float array
    ``x`` along the axes ``ax``: NaN-ignoring average pooling (``stridepool._variants``' composition; divisor 1
    for sums, whose blocks of NaN only give 0)."""
    cut, geo = _whole_blocks(x, ax, block)
    return V.run_avg(_SELF, cut, ax, geo, True, 0 if mean else 1, out, omit=True, empty=np.nan if mean else 0.0)


def _whole_blocks(x: Array, ax: Ax, block: Ax) -> tuple[Array, Geometry]:
    """``x`` cut to whole blocks along ``ax``, and the geometry of windows = strides = ``block`` over it."""
    full = dict(zip(ax, block))
    cut = x[tuple(slice(0, n - n % full.get(i, 1)) for i, n in enumerate(x.shape))]
    return cut, P.geometry(P.sizes_at(cut.shape, ax), block, block, 0, 1, False)


def run_avg_backward(g: Array, shape: Ax, ax: Ax, geo: Geometry, include: bool, div: int,
                     out: Array | None = None) -> Array:
    """Gradient of :func:`run_avg` for an input of ``shape``."""
    rdt = P.result_dtype_avg(g.dtype)
    acc = P.acc_dtype(rdt)
    if math.prod(shape) == 0:
        return _empty_result(shape, rdt, out)
    with np.errstate(invalid="ignore", over="ignore"):
        share = _last(g, ax).astype(acc) / P.avg_divisors(geo, include, div).astype(acc)
    values = np.broadcast_to(share[(Ellipsis,) + (None,) * len(geo)], share.shape + geo.kernel)
    return _finish(_scatter_windows(values, geo, acc).astype(rdt, copy=False), ax, out)


def _scatter_index(values: Array, idx: Array, shape: Ax, ax: Ax, add: bool, what: str, out: Array | None) -> Array:
    """``values`` added (``add``) or put (the last one in row-major order wins) at the flat positions ``idx``
    of the pooled extent, in zeros of ``shape``."""
    nd = len(ax)
    sizes = P.sizes_at(shape, ax)
    plane = math.prod(sizes)
    idx = idx.astype(np.int64)
    P.check_indices(idx, plane, nd, what)
    vl, il = _last(values, ax), _last(idx, ax)
    lead = vl.shape[:-nd]
    n, m = math.prod(lead), math.prod(vl.shape[-nd:])
    total = np.zeros((n, plane), dtype=P.acc_dtype(values.dtype))
    rows, cols, vals = np.arange(n)[:, None], il.reshape(n, m), vl.reshape(n, m).astype(total.dtype)
    if add:
        np.add.at(total, (rows, cols), vals)
    else:
        keys = (rows * plane + cols).reshape(-1)  # row-major order of the values
        _, last = np.unique(keys[::-1], return_index=True)
        keep = keys.size - 1 - last
        total.reshape(-1)[keys[keep]] = vals.reshape(-1)[keep]
    return _finish(total.reshape(lead + sizes).astype(values.dtype, copy=False), ax, out)


def run_max_backward(g: Array, idx: Array, shape: Ax, ax: Ax, out: Array | None = None) -> Array:
    """Gradient of max pooling: ``g`` added at the indices ``idx`` (validated shapes) of an input of ``shape``."""
    return _scatter_index(g, idx, shape, ax, True, "`input_shape`", out)


def run_unpool(x: Array, idx: Array, shape: Ax, ax: Ax, out: Array | None = None) -> Array:
    """Max unpooling: ``x`` put at the indices ``idx`` in zeros of ``shape`` (the last one wins)."""
    return _scatter_index(x, idx, shape, ax, False, "the output", out)


def run_fold(w: Array, shape: Ax, ax: Ax, geo: Geometry, out: Array | None = None) -> Array:
    """Every window of ``w`` (validated, ``(..., O..., K...)``) added back into zeros of ``shape``."""
    nd = len(ax)
    acc = P.acc_dtype(w.dtype)
    wl = np.moveaxis(w, ax, range(-2 * nd, -nd))
    return _finish(_scatter_windows(wl.astype(acc), geo, acc).astype(w.dtype, copy=False), ax, out)


# ------------------------------------------------------------------------------------ the operations


def max_pool(nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
             dilation: SizeArg, ceil_mode: bool, return_indices: bool, axes: AxesArg,
             out: Array | None) -> Array | Indexed:
    if _lazy.is_dask(x):
        return _lazy.dask().max_pool(_SELF, nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                                     return_indices, axes, out=out)
    x, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = P.as_bool(return_indices, "return_indices")
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), x.dtype)
    return run_max(x, ax, g, return_indices, out)


def adaptive_max_pool(nd: int, x: ArrayLike, output_size: OutputSizeArg, return_indices: bool, axes: AxesArg,
                      out: Array | None) -> Array | Indexed:
    if _lazy.is_dask(x):
        return _lazy.dask().adaptive_max_pool(_SELF, nd, x, output_size, return_indices, axes, out=out)
    x, ax, g = P.prepare_adaptive(x, axes, nd, output_size)
    return_indices = P.as_bool(return_indices, "return_indices")
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), x.dtype)
    return run_max(x, ax, g, return_indices, out)


def max_pool_backward(nd: int, grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape, axes: AxesArg,
                      out: Array | None) -> Array:
    if _lazy.is_dask(grad_output, indices):
        return _lazy.dask().max_pool_backward(_SELF, nd, grad_output, indices, input_shape, axes, out=out)
    g, idx, shape, ax = P.max_backward_args(grad_output, indices, input_shape, axes, nd)
    P.check_out(out, shape, g.dtype)
    return run_max_backward(g, idx, shape, ax, out)


def avg_pool(nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
             ceil_mode: bool, count_include_pad: bool, divisor_override: int | None, axes: AxesArg,
             out: Array | None) -> Array:
    if _lazy.is_dask(x):
        return _lazy.dask().avg_pool(_SELF, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override, axes, out=out)
    x, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, 1, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), P.result_dtype_avg(x.dtype))
    return run_avg(x, ax, g, include, div, out)


def adaptive_avg_pool(nd: int, x: ArrayLike, output_size: OutputSizeArg, axes: AxesArg,
                      out: Array | None) -> Array:
    if _lazy.is_dask(x):
        return _lazy.dask().adaptive_avg_pool(_SELF, nd, x, output_size, axes, out=out)
    x, ax, g = P.prepare_adaptive(x, axes, nd, output_size)
    P.check_out(out, P.pooled_shape(x.shape, ax, g.out), P.result_dtype_avg(x.dtype))
    return run_avg(x, ax, g, False, 0, out)


def avg_pool_backward(nd: int, grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg,
                      stride: SizeArg | None, padding: PaddingArg, ceil_mode: bool, count_include_pad: bool,
                      divisor_override: int | None, axes: AxesArg, out: Array | None) -> Array:
    if _lazy.is_dask(grad_output):
        return _lazy.dask().avg_pool_backward(_SELF, nd, grad_output, input_shape, kernel_size, stride, padding,
                                              ceil_mode, count_include_pad, divisor_override, axes, out=out)
    g, shape, ax, geo = P.avg_backward_args(grad_output, input_shape, axes, nd, kernel_size, stride, padding,
                                            ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    P.check_out(out, shape, P.result_dtype_avg(g.dtype))
    return run_avg_backward(g, shape, ax, geo, include, div, out)


def adaptive_avg_pool_backward(nd: int, grad_output: ArrayLike, input_shape: Shape, axes: AxesArg,
                               out: Array | None) -> Array:
    if _lazy.is_dask(grad_output):
        return _lazy.dask().adaptive_avg_pool_backward(_SELF, nd, grad_output, input_shape, axes, out=out)
    g, shape, ax, geo = P.adaptive_backward_args(grad_output, input_shape, axes, nd)
    P.check_out(out, shape, P.result_dtype_avg(g.dtype))
    return run_avg_backward(g, shape, ax, geo, False, 0, out)


def unfold(nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg, padding: PaddingArg, dilation: SizeArg,
           axes: AxesArg) -> Array:
    if _lazy.is_dask(x):
        return _lazy.dask().unfold(_SELF, nd, x, kernel_size, stride, padding, dilation, axes)
    x, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, dilation, False, pooling=False)
    return run_unfold(x, ax, g)


def run_unfold(x: Array, ax: Ax, g: Geometry) -> Array:
    """The windows ``(..., O..., K...)`` of a validated array (a view when no window reaches padding)."""
    nd = len(ax)
    xl = _last(x, ax)
    if x.size == 0:  # no window tables for an empty array (its pooled extents may exceed memory): all padding
        win = np.zeros(xl.shape[:-nd] + g.out + g.kernel, dtype=x.dtype)
        win.flags.writeable = False
    elif any(a.lo or a.hi for a in g):
        win = _windows(xl, g)[0]
    else:
        win = _window_view(xl, g)  # a read-only view: no copy
    # (..., O..., K...) with the leading axes in xl order -> put O... back where the pooled axes were
    nl = xl.ndim - nd
    order = list(range(nl))
    for pos, src in sorted(zip(ax, range(nl, nl + nd))):
        order.insert(pos, src)
    return win.transpose(order + list(range(nl + nd, nl + 2 * nd)))


def fold(nd: int, windows: ArrayLike, input_shape: Shape, stride: SizeArg, padding: PaddingArg, dilation: SizeArg,
         axes: AxesArg, out: Array | None) -> Array:
    if _lazy.is_dask(windows):
        return _lazy.dask().fold(_SELF, nd, windows, input_shape, stride, padding, dilation, axes, out=out)
    w, shape, ax, g = P.fold_args(windows, input_shape, axes, nd, stride, padding, dilation)
    P.check_out(out, shape, w.dtype)
    return run_fold(w, shape, ax, g, out)


def max_unpool(nd: int, x: ArrayLike, indices: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None,
               padding: PaddingArg, output_size: Shape | None, axes: AxesArg, out: Array | None) -> Array:
    if _lazy.is_dask(x, indices):
        return _lazy.dask().max_unpool(_SELF, nd, x, indices, kernel_size, stride, padding, output_size, axes, out=out)
    x, idx, shape, ax = P.unpool_args(x, indices, kernel_size, stride, padding, output_size, axes, nd)
    P.check_out(out, shape, x.dtype)
    return run_unpool(x, idx, shape, ax, out)
