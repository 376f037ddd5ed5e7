"""Min pooling and NaN-ignoring pooling (``nan_policy="omit"``), made of a backend core's own operations.

One module for both backends: every function takes the core (``stridepool._compiled`` or
``stridepool._reference``) and composes its max and average pooling with elementwise NumPy, so that the two
backends give the same answers bit for bit (their kernels do) and raise the same errors (validation is
``stridepool._params``'s, at the call). The dask path runs :func:`run_max` and :func:`run_avg` on its blocks
(their windows' geometries are the global windows', shifted), so dask arrays get the in-memory answers;
``block_reduce``'s fast path (``stridepool._block_reduce``) runs them for ``np.nanmax``, ``np.nanmin``,
``np.nansum`` and ``np.nanmean``.

- min: ``-max(-x)`` for floats, ``~max(~x)`` for integers. Both reverse the order exactly (``~`` maps the
  dtype's range onto itself: no overflow), keep equality (ties still go to the first tap in row-major order,
  ``-0.0`` still ties ``0.0``) and undo themselves (the first minimum itself comes back, a NaN with its own sign
  and payload); the indices are the max's.
- NaN-ignoring max: the max of ``x`` with NaN read as ``-inf``. A window without a non-NaN element (max pooling
  of the mask of non-NaN cells gives 0) is NaN, with index -1. A window whose max is ``-inf`` takes the index of
  its first real ``-inf`` (a second max pooling, of the mask of the real ``-inf`` cells), not of a NaN read as
  ``-inf``.
- NaN-ignoring average: the sum of the non-NaN taps (average pooling, divisor 1, of ``x`` with NaN read as 0)
  over the divisor (:func:`_divisors`); NaN where there is no non-NaN tap. Its gradient spreads each window's
  share over the window (average pooling's backward, divisor 1), none to a NaN tap.
- The backward of a NaN-ignoring max: index -1 adds nothing (:func:`drop_empty`).

Without NaN each composition reduces to the plain operation, bit for bit (the same kernels add the same taps
in the same order and divide by the same divisors), which is why a dask block without NaN may take the plain
operation while the in-memory call composes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _lazy
from . import _params as P

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from ._params import Geometry
    from ._typing import Array, Ax, AxesArg, Core, Indexed, PaddingArg, Shape, SizeArg

#: the dask path's block operations of max pooling computed here: name -> (flip, omit)
MAX_OPS: dict[str, tuple[bool, bool]] = {"min": (True, False), "nanmax": (False, True), "nanmin": (True, True)}
#: the dask path's block operation of NaN-ignoring average pooling
AVG_OP = "nanavg"
_U8 = np.dtype(np.uint8)


def flip(dtype: np.dtype[Any]) -> Callable[..., Any]:
    """An order-reversing bijection of ``dtype`` that is its own inverse: ``-x`` for floats, ``~x`` else."""
    return np.negative if dtype.kind == "f" else np.invert


def max_op(flipped: bool, omit: bool) -> str:
    """The dask path's name of a max pooling: ``"max"`` or one of :data:`MAX_OPS`."""
    for name, spec in MAX_OPS.items():
        if spec == (flipped, omit):
            return name
    return "max"


def _mask(a: NDArray[np.bool_]) -> Array:
    """A bool array as uint8 (0 or 1), the kernels' cheapest dtype, without a copy."""
    return a.view(_U8)


# ------------------------------------------------------------------------------------------- the runs


def run_max(core: Core, x: Array, ax: Ax, geo: Geometry, return_indices: bool, out: Array | None = None, *,
            flipped: bool = False, omit: bool = False) -> Array | tuple[Array, Array]:
    """Max pooling (``flipped``: min pooling) of a validated array ``x`` with ``core``'s kernels; ``omit``:
    NaN ignored (floats; a window without a non-NaN element is NaN, index -1). Into ``out`` if given."""
    f = flip(x.dtype) if flipped else None
    keys = x if f is None else f(x)
    nan = np.isnan(keys) if omit and x.dtype.kind == "f" else None
    if nan is not None and nan.any():
        keys = np.where(nan, np.array(-np.inf, keys.dtype), keys)
        target = None  # (the result is patched below, then copied to out)
    else:
        nan, target = None, out  # nothing to ignore: the plain operation
    idx: Array | None = None
    if return_indices:
        y, idx = core.run_max(keys, ax, geo, True, target)
    else:
        y = core.run_max(keys, ax, geo, False, target)
    if nan is not None:
        empty = core.run_max(_mask(~nan), ax, geo, False) == 0
        if idx is not None:
            low = (y == -np.inf) & ~empty  # the first -inf may be a NaN read as -inf: take the first real one
            if low.any():
                idx[low] = core.run_max(_mask((keys == -np.inf) & ~nan), ax, geo, True)[1][low]
            idx[empty] = -1
    if f is not None:
        f(y, out=y)
    if nan is not None:
        y[empty] = np.nan
        if out is not None:
            np.copyto(out, y)
            y = out
    return (y, idx) if idx is not None else y


def _per_window(geo: Geometry, ax: Ax, ndim: int, row: Callable[[NDArray[np.int64]], NDArray[np.int64]]) -> Array:
    """The product over the pooled axes of a per-axis count of each window (``row`` of its
    :func:`~stridepool._params.axis_table`), broadcasting against the pooled output (``ndim`` dimensions)."""
    total = np.ones((1,) * ndim, dtype=np.int64)
    for axis, a in zip(ax, geo):
        shape = [1] * ndim
        shape[axis] = a.o
        total = total * row(P.axis_table(a)).reshape(shape)
    return total


def _divisors(geo: Geometry, ax: Ax, ndim: int, include: bool, div: int, count: Any) -> Any:
    """The divisors of a NaN-ignoring average (``count``: the non-NaN taps of each window, float64):
    ``divisor_override``; else with ``count_include_pad`` the window clipped to the padded extent less its NaN
    taps (padding counts as zeros, NaN not at all); else the number of non-NaN taps (``np.nanmean``'s)."""
    if div:
        return np.asarray(float(div))
    if not include:
        return count
    pads = _per_window(geo, ax, ndim, lambda t: t[3]) - _per_window(geo, ax, ndim, lambda t: t[2] - t[1])
    return count + pads


def run_avg(core: Core, x: Array, ax: Ax, geo: Geometry, include: bool, div: int, out: Array | None = None, *,
            omit: bool = False, empty: float = np.nan) -> Array:
    """Average pooling of a validated array with ``core``'s kernels; ``omit``: NaN ignored (floats), and a
    window without a non-NaN element is ``empty``."""
    nan = np.isnan(x) if omit and x.dtype.kind == "f" else None
    if nan is None or not nan.any():
        return core.run_avg(x, ax, geo, include, div, out)
    acc = P.acc_dtype(x.dtype)  # float16 adds and divides in float32, as the kernels do
    zeros = np.where(nan, np.zeros((), acc), x.astype(acc, copy=False))
    total = core.run_avg(zeros, ax, geo, True, 1)
    count = core.run_avg(_mask(~nan), ax, geo, True, 1)  # float64, exact
    with np.errstate(divide="ignore", invalid="ignore"):
        y: Array = total / np.asarray(_divisors(geo, ax, x.ndim, include, div, count)).astype(acc)
    y[count == 0] = empty
    y = y.astype(x.dtype, copy=False)
    if out is None:
        return y
    np.copyto(out, y)
    return out


def drop_empty(g: Any, idx: Any, at: int) -> tuple[Any, Any]:
    """The gradient and indices of a NaN-ignoring max pooling with index -1 (a window without a non-NaN
    element) made harmless for a scatter-add: its gradient zeroed and its index ``at`` (a valid position).
    Adding a zero changes no sum (the sums start from +0, so not even the sign of a zero)."""
    if np.dtype(idx.dtype).kind != "i":
        return g, idx
    skip = idx == -1
    if isinstance(skip, np.ndarray) and not skip.any():
        return g, idx
    return (np.where(skip, np.zeros((), g.dtype), g), np.where(skip, np.asarray(at, idx.dtype), idx))


# ------------------------------------------------------------------------------------ the operations


def max_pool(core: Core, nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
             dilation: SizeArg, ceil_mode: bool, return_indices: bool, nan_policy: object, axes: AxesArg,
             out: Array | None, *, flipped: bool) -> Array | Indexed:
    """``max_pool{nd}d`` (``flipped``: ``min_pool{nd}d``) with ``nan_policy``."""
    omit = P.nan_policy(nan_policy)
    if _lazy.is_dask(x):
        op = max_op(flipped, omit and np.dtype(x.dtype).kind == "f")  # type: ignore[union-attr]  # (dask)
        return _lazy.dask().max_pool(core, nd, x, kernel_size, stride, padding, dilation, ceil_mode,
                                     return_indices, axes, out=out, op=op)
    a, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = P.as_bool(return_indices, "return_indices")
    P.check_out(out, P.pooled_shape(a.shape, ax, g.out), a.dtype)
    return run_max(core, a, ax, g, return_indices, out, flipped=flipped, omit=omit)


def max_pool_backward(core: Core, nd: int, grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape,
                      nan_policy: object, axes: AxesArg, out: Array | None) -> Array:
    """``max_pool{nd}d_backward`` (and ``min_pool{nd}d_backward``) with ``nan_policy``: with ``"omit"`` an
    index -1 (a window without a non-NaN element) adds nothing."""
    if not P.nan_policy(nan_policy):
        return core.max_pool_backward(nd, grad_output, indices, input_shape, axes, out)
    if _lazy.is_dask(grad_output, indices):
        return _lazy.dask().max_pool_backward(core, nd, grad_output, indices, input_shape, axes, out=out,
                                              omit=True)
    g, idx, shape, ax = P.max_backward_args(grad_output, indices, input_shape, axes, nd)
    P.check_out(out, shape, g.dtype)
    g, idx = drop_empty(g, idx, 0)  # (a non-empty gradient has a non-empty pooled extent: 0 is in it)
    return core.run_max_backward(g, idx, shape, ax, out)


def avg_pool(core: Core, nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
             ceil_mode: bool, count_include_pad: bool, divisor_override: int | None, nan_policy: object,
             axes: AxesArg, out: Array | None) -> Array:
    """``avg_pool{nd}d`` with ``nan_policy``."""
    omit = P.nan_policy(nan_policy)
    if not omit or _lazy.is_dask(x) and np.dtype(x.dtype).kind != "f":  # type: ignore[union-attr]
        return core.avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                             axes, out)
    if _lazy.is_dask(x):
        return _lazy.dask().avg_pool(core, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override, axes, out=out, op=AVG_OP)
    a, ax, g = P.prepare_pool(x, axes, nd, kernel_size, stride, padding, 1, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    P.check_out(out, P.pooled_shape(a.shape, ax, g.out), P.result_dtype_avg(a.dtype))
    return run_avg(core, a, ax, g, include, div, out, omit=True)


def avg_pool_backward(core: Core, nd: int, grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg,
                      stride: SizeArg | None, padding: PaddingArg, ceil_mode: bool, count_include_pad: bool,
                      divisor_override: int | None, nan_policy: object, x: ArrayLike | None, axes: AxesArg,
                      out: Array | None) -> Array:
    """``avg_pool{nd}d_backward`` with ``nan_policy``; ``x`` is the pooled input (required with ``"omit"``).

    The NaN-ignoring gradient is composed of the public operations (average pooling of the mask of non-NaN
    cells for the counts, average pooling's backward with divisor 1 for the spread), which take dask arrays
    as they take NumPy's: the same lines serve both, lazily on dask.
    """
    omit = P.nan_policy(nan_policy)
    lazy = _lazy.is_dask(grad_output, x)
    meta = _lazy.dask().meta if lazy else lambda a, name: a
    g, shape, ax, geo = P.avg_backward_args(meta(grad_output, "grad_output"), input_shape, axes, nd, kernel_size,
                                            stride, padding, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    xa = P.nan_input(None if x is None else meta(x, "x"), shape, omit)
    rdt = P.result_dtype_avg(g.dtype)
    if lazy:
        _lazy.dask().no_out(out)
    else:
        P.check_out(out, shape, rdt)
    if xa is None or not omit or xa.dtype.kind != "f" or not lazy and not np.isnan(xa).any():
        return core.avg_pool_backward(nd, grad_output if lazy else g, shape, kernel_size, stride, padding,
                                      ceil_mode, include, divisor_override, axes, out)
    values: Any = x if _lazy.is_dask(x) else xa
    nan = np.isnan(values)
    gradient: Any = grad_output if _lazy.is_dask(grad_output) else g
    count = core.avg_pool(nd, _lazy_mask(~nan), kernel_size, stride, padding, ceil_mode, True, 1, axes, None)
    acc = P.acc_dtype(rdt)
    none = count == 0  # windows without a non-NaN element: no gradient (their divisor may be 0: made 1)
    divisors = np.where(none, 1.0, _divisors(geo, ax, len(shape), include, div, count))
    share = np.where(none, np.zeros((), acc), gradient.astype(acc) / divisors.astype(acc))
    spread = core.avg_pool_backward(nd, share, shape, kernel_size, stride, padding, ceil_mode, True, 1, axes, None)
    result = np.where(nan, np.zeros((), acc), spread).astype(rdt, copy=False)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _lazy_mask(a: Any) -> Any:
    """A bool array (NumPy or dask) as uint8."""
    return a.astype(_U8) if _lazy.is_dask(a) else _mask(a)
