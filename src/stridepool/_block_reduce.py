"""``block_reduce``: scikit-image's ``skimage.measure.block_reduce``, with the common reductions on the kernels.

scikit-image pads the end of every axis with ``cval`` up to a multiple of the block, views the image as
blocks and calls ``func`` over the block axes. :func:`padded_reduce` does exactly that (without scikit-image)
and is the answer for every ``func`` without a fast path, for ``func_kwargs``, for dtypes the kernels do not
take (complex, object, ...), for 0-d and empty images.

The fast path: :func:`recognise` maps ``func`` to one of the operations of :data:`NUMPY` (``np.max``,
``np.amax``, ``np.ndarray.max``, ``np.maximum.reduce`` are all ``"max"``, ...). :func:`reduce_blocks` is the
one place where those operations run, on whole blocks: the image cut to a multiple of the block along every
axis (a view), and the few blocks at the end of an axis that hold padding (one slab per padded axis, padded
with ``np.pad`` as scikit-image pads, so ``cval`` is converted and counted exactly as there). Every block is
thus reduced in the same order of operations wherever it lies: a dask chunk's blocks equal the in-memory
call's bit for bit.

Masked arrays (``numpy.ma.MaskedArray``) are honoured (:func:`masked_reduce`): masked cells are ignored as
``numpy.ma``'s reductions ignore them (and as the nan- reductions ignore NaN), a block without an unmasked cell
is masked in the result, and the result is a masked array. scikit-image would reduce the data and drop the
mask.
"""
from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _lazy
from . import _params as P
from . import _variants as V

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._typing import Array, Core

#: the operations with a fast path, and the NumPy function that defines each (its values and result dtype)
NUMPY: dict[str, Callable[..., Any]] = {
    "max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean, "median": np.median,
    "nanmax": np.nanmax, "nanmin": np.nanmin, "nansum": np.nansum, "nanmean": np.nanmean,
}

#: other spellings of the same functions: aliases, ndarray methods (``np.ndarray.max(blocks, axis=...)``)
_SAME: tuple[tuple[object, str], ...] = (
    (np.amax, "max"), (np.amin, "min"), (np.ndarray.max, "max"), (np.ndarray.min, "min"),
    (np.ndarray.sum, "sum"), (np.ndarray.mean, "mean"))

#: ufunc reductions: ``np.maximum.reduce`` is a new bound method at every access, known by its ufunc
_REDUCES: tuple[tuple[object, str], ...] = ((np.maximum, "max"), (np.minimum, "min"), (np.add, "sum"))

#: dtypes :func:`reduce_blocks` takes: the kernels' (any byte order) and bool
_FAST_KINDS = "biuf"


def recognise(func: object) -> str | None:
    """The operation of :data:`NUMPY` that ``func`` is (by identity: a wrapper or a lambda is not), or None.

    Examples
    --------
    >>> recognise(np.amax), recognise(np.maximum.reduce), recognise(np.nanmean), recognise(np.std)
    ('max', 'max', 'nanmean', None)
    """
    for op, f in NUMPY.items():
        if func is f:
            return op
    for same, op in _SAME:
        if func is same:
            return op
    owner = getattr(func, "__self__", None)
    if getattr(func, "__name__", None) == "reduce":
        for ufunc, op in _REDUCES:
            if owner is ufunc:
                return op
    return None


@functools.lru_cache(maxsize=256)
def result_dtype(op: str, dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype NumPy's function for ``op`` gives over blocks of ``dtype`` (``np.sum`` of uint8: uint64)."""
    result: Array = NUMPY[op](np.zeros((1, 1), dtype=dtype), axis=(1,))
    return result.dtype


def blocks(image: Array, block: tuple[int, ...]) -> Array:
    """The read-only view ``(n_0, ..., n_k, b_0, ..., b_k)`` of the blocks of ``image`` (a multiple of
    ``block`` along every axis): the array scikit-image's ``view_as_blocks`` gives."""
    split = image.reshape([v for n, b in zip(image.shape, block) for v in (n // b, b)])  # a view, always
    nd = image.ndim
    view = split.transpose(list(range(0, 2 * nd, 2)) + list(range(1, 2 * nd, 2)))
    view.flags.writeable = False
    return view


def _block_axes(ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim, 2 * ndim))


def padded_reduce(image: Array, block: tuple[int, ...], func: Callable[..., Any], cval: object,
                  kwargs: dict[str, Any]) -> Any:
    """scikit-image's algorithm: pad the end of each axis with ``cval`` to a multiple of the block (only if
    some axis needs it, with ``np.pad``), call ``func`` over the block axes of the block view."""
    pads = P.block_pads(image.shape, block)
    if any(pads):
        image = np.pad(image, [(0, p) for p in pads], mode="constant",  # type: ignore[call-overload]
                       constant_values=cval)
    return func(blocks(image, block), axis=_block_axes(image.ndim), **kwargs)


# ------------------------------------------------------------------------------------ the fast path

#: the bytes of input one kernel run of :func:`_banded` reads: a band and its temporaries stay in the (last
#: level) cache; not smaller, because every band is one OpenMP parallel region, which costs milliseconds
#: where the cores are shared with other processes
BAND_BYTES = 1 << 23


def _pool(core: Core, x: Array, block: tuple[int, ...], op: str, dtype: np.dtype[Any], omit: bool = False) -> Array:
    """``op`` ("max", "min", "sum" or "mean") over the blocks of a validated array ``x``, as ``dtype``; ``omit``:
    NaN ignored (floats; a block of NaN only is NaN, 0 for a sum). Over up to three axes whose block is more
    than 1: ``core``'s block kernels (one pass, straight into the result) for max and min, for sums and means
    of integers, and with ``omit`` for sums and means of floats (``run_block_extreme``, ``run_block_sum``,
    ``run_block_nansum``: the bits of the compositions below); for float sums and means average pooling
    (divisor 1 for sums) with windows = strides = ``block``, in one pass over bands of ``x``
    (:func:`_banded`). Over more axes, three axes per pass (the last three first), by max pooling (of ``-x``
    or ``~x`` for "min", see :func:`reduce_blocks`) or average pooling, NaN-ignoring ones with ``omit``
    (``stridepool._variants``): integers in float64, float16 in float32, a mean divided once at the end, by
    the number of non-NaN cells with ``omit``."""
    axes = tuple(i for i, b in enumerate(block) if b > 1)
    if not axes:
        return x.astype(dtype)
    if len(axes) <= 3:
        sizes = tuple(block[a] for a in axes)
        if op in ("sum", "mean") and x.dtype.kind in "iu":  # integers summed as integers
            return core.run_block_sum(x, axes, sizes, dtype)
        if op in ("max", "min"):  # (bool arrives as uint8: viewed back)
            e = core.run_block_extreme(x, axes, sizes, "nan" + op if omit else op)
            return e.view(dtype) if dtype.kind == "b" else e
        if omit:  # NaN-ignoring sums and means of floats
            return core.run_block_nansum(x, axes, sizes, op == "mean").astype(dtype, copy=False)
        return _banded(core, x, axes, block, op, dtype)
    count = None
    if omit and op in ("sum", "mean"):  # NaN-ignoring sums: the sums of x with NaN read as 0
        nan = np.isnan(x)
        if op == "mean":
            count = math.prod(block) - _pool(core, nan.view(np.uint8), block, "sum", np.dtype(np.float64))
        x = np.where(nan, np.zeros((), x.dtype), x)
    flip = V.flip(x.dtype) if op == "min" and not omit else None
    y = flip(x) if flip is not None else x.astype(np.float32) if x.dtype == np.float16 and op != "max" else x
    for k in range(len(axes), 0, -3):
        g = axes[max(0, k - 3):k]
        size = tuple(block[a] for a in g)
        geo = P.geometry(P.sizes_at(y.shape, g), size, size, 0, 1, False)
        if op in ("max", "min"):  # (a NaN-ignoring min flips in each pass)
            y = V.run_max(core, y, g, geo, False, flipped=omit and op == "min", omit=omit)
        else:
            y = core.run_avg(y, g, geo, True, 1)
    if flip is not None:
        y = flip(y)
    if count is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = y / count.astype(y.dtype)
    elif op == "mean":
        y = y / math.prod(block)
    return y.astype(dtype, copy=False)


def _banded(core: Core, x: Array, axes: tuple[int, ...], block: tuple[int, ...], op: str,
            dtype: np.dtype[Any]) -> Array:
    """Float sums and means (NaN propagating) over up to three pooled ``axes`` in one kernel pass, written into
    the result: average pooling, divisor 1 for sums. float16 means are summed and divided in float32 on bands
    of whole blocks along the first axis of ``x`` (about :data:`BAND_BYTES` each), so that the float32
    temporary stays in the cache and is never a whole image."""
    kernel_dtype = P.result_dtype_avg(x.dtype)
    whole = math.prod(block)
    div = 1 if op == "sum" or whole > P.MAX_SIZE else whole
    # the compiled core's allocator reuses freed large buffers (no page faults for a fresh result)
    alloc: Callable[..., Array] = getattr(core, "_alloc", np.empty)
    out = alloc(tuple(n // b for n, b in zip(x.shape, block)), dtype)
    direct = kernel_dtype == dtype
    rows_per_block = block[0]
    per_band = out.shape[0]  # one band when the kernel writes the result itself
    if not direct:
        per_band = min(per_band, max(1, BAND_BYTES // (x.nbytes // x.shape[0] * rows_per_block)))
    rows = per_band * rows_per_block
    staged = None if direct else alloc((per_band,) + out.shape[1:], kernel_dtype)
    sizes = tuple(block[a] for a in axes)
    for r0 in range(0, x.shape[0], rows):
        band = x[r0:r0 + rows]
        o0, o1 = r0 // rows_per_block, (r0 + band.shape[0]) // rows_per_block
        target = out[o0:o1] if staged is None else staged[:o1 - o0]
        geo = P.geometry(P.sizes_at(band.shape, axes), sizes, sizes, 0, 1, False)
        core.run_avg(band, axes, geo, True, div, target)
        if staged is not None:
            out[o0:o1] = target
    if op == "mean" and div != whole:
        np.divide(out, whole, out=out)
    return out


def _exact_sums(x: Array, block: tuple[int, ...]) -> bool:
    """True when the float64 sums of the kernels are exact for the integer array ``x``: every partial sum of
    a block stays within 2**53 in magnitude (known from the dtype, else from the data's extremes)."""
    n = math.prod(block)
    info = np.iinfo(x.dtype)
    if n * max(-int(info.min), int(info.max)) <= 2**53:
        return True
    return n * max(-int(x.min()), int(x.max())) <= 2**53


def reduce_blocks(core: Core, x: Array, block: tuple[int, ...], op: str) -> Array | None:
    """The fast path of every operation of :data:`NUMPY`: the one place they run.

    ``x``: a kernel dtype (any byte order) or bool, at least one dimension, no empty axis, a multiple of
    ``block`` along every axis. Returns ``NUMPY[op]`` over the blocks with its result dtype, or None (having
    run nothing) when it cannot give NumPy's answer: integer means (and sums over four blocked axes or more)
    that could leave float64's exact range, and float16 sums (``np.sum``, ``np.nansum`` and ``np.nanmean``
    round every partial sum of a strided block to float16, and overflow where the kernels' float32 sums do
    not).

    Every operation runs on the kernels of ``core`` (see :func:`_pool`): NumPy's values exactly for max, min,
    integer sums and means (the sign of a zero that ties +0.0 and -0.0, and NaN payloads, are NumPy's SIMD
    code's choice and may differ), to rounding for float sums and means (in the kernels' order: the taps of a
    block in row-major order, in float32 for float32 and float16, in float64 for float64):

    - max: the block kernel's maximum, the cell max pooling with kernel = stride = block picks (the first
      NaN, else the first largest cell in row-major order);
    - min: the cell ``-max(-x)`` (floats) or ``~max(~x)`` (integers and bool) picks (both reverse the order
      exactly: NaN and infinities keep their place; ``-`` flips the sign bit of NaN payloads and zeros and
      flips it back): the block kernel's minimum over up to three axes, that composition over more;
    - sum, mean: integers in 64-bit integers (sums: exact, wrapping as NumPy's do) or float64 (means: exact
      while :func:`_exact_sums`), floats by average pooling, divisor 1 for a sum, the block size for a mean;
    - nanmax, nanmin, nansum, nanmean: the same for integers and bool; for floats, NaN-ignoring max, min and
      average pooling (``stridepool._variants``, the windowed family's ``nan_policy="omit"``): a block of NaN
      only gives NaN (0 for nansum) and NumPy's RuntimeWarning ("All-NaN slice encountered", "Mean of empty
      slice"), as NumPy's nan- functions do;
    - median: ``np.median`` over the block view, as scikit-image does.
    """
    dtype = result_dtype(op, x.dtype)
    if op == "median":
        return np.asarray(np.median(blocks(x, block), axis=_block_axes(x.ndim))).astype(dtype, copy=False)
    base = op[3:] if op.startswith("nan") else op
    if op in ("sum", "nansum", "nanmean") and x.dtype == np.float16:
        return None  # NumPy adds float16 in float16 here (np.mean alone adds in float32): overflows differ
    if x.dtype.kind == "b":
        x = x.view(np.uint8)
    x = P.as_array(x, "image")  # native byte order (a copy only when it is not)
    if base in ("sum", "mean") and x.dtype.kind in "iu" and (
            base == "mean" or sum(b > 1 for b in block) > 3) and not _exact_sums(x, block):
        return None  # (the integer kernels sum exactly; means and sums over four axes or more add in float64)
    omit = base != op and x.dtype.kind == "f"
    y = _pool(core, x, block, base, dtype, omit)
    if omit and op != "nansum" and np.isnan(y).any():
        _warn_empty(core, x, block, op)
    return y


def _warn_empty(core: Core, x: Array, block: tuple[int, ...], op: str) -> None:
    """NumPy's warning where a NaN-ignoring max, min or mean has a block of NaN only."""
    if op == "nanmean":  # (a NaN mean may also be inf - inf: look for blocks of NaN only)
        if not _pool(core, np.isnan(x).view(np.uint8), block, "min", np.dtype(np.uint8)).any():
            return
        message = "Mean of empty slice"
    else:
        message = "All-NaN slice encountered"
    warnings.warn(message, RuntimeWarning, stacklevel=5)


# ------------------------------------------------------------------------------------------ masked

def masked_reduce(image: Array, block: tuple[int, ...], func: Callable[..., Any], cval: object,
                  kwargs: dict[str, Any]) -> Array:
    """``block_reduce`` of a masked array: padding is unmasked ``cval``; max, min, sum, mean and median are
    ``numpy.ma``'s (masked cells ignored, a block without an unmasked cell masked); their nan- forms on floats
    ignore NaN too (a block whose unmasked cells are all NaN gives what NumPy's nan- function gives for
    all-NaN: NaN, 0 for nansum); any other ``func`` gets the blocks as a masked array and must return one."""
    ma = np.ma
    data, mask = ma.getdata(image), ma.getmaskarray(image)
    pads = P.block_pads(image.shape, block)
    if any(pads):
        widths = [(0, p) for p in pads]
        data = np.pad(data, widths, mode="constant", constant_values=cval)  # type: ignore[call-overload]
        mask = np.pad(mask, widths, mode="constant", constant_values=False)
    data_blocks, mask_blocks = blocks(data, block), blocks(mask, block)
    axis = _block_axes(image.ndim)
    op = recognise(func)
    if op is not None and op.startswith("nan") and data.dtype.kind in "fc":
        filled = np.where(mask_blocks, np.array(np.nan, dtype=data.dtype), data_blocks)
        values = NUMPY[op](filled, axis=axis, **kwargs)
        return ma.MaskedArray(values, mask=np.all(mask_blocks, axis=axis))
    if op is not None:  # numpy.ma's reduction of the same name
        func = getattr(ma, op[3:] if op.startswith("nan") else op)
    result = func(ma.MaskedArray(data_blocks, mask=mask_blocks), axis=axis, **kwargs)
    if not isinstance(result, ma.MaskedArray):
        raise TypeError(f"`func` {func!r} returned {type(result).__name__} for a masked image, not a "
                        "numpy.ma.MaskedArray: its mask would be lost. Use a function that honours masks "
                        "(numpy.ma's, or NumPy reductions such as np.std that call MaskedArray's methods), or "
                        "pass `image.filled(value)`")
    return result


# ----------------------------------------------------------------------------------------- the call

def block_reduce(core: Core, image: ArrayLike, block_size: object, func: Callable[..., Any],
                 cval: object, func_kwargs: object) -> Any:
    """``stridepool.block_reduce`` on ``core``'s kernels (see the public docstring, ``stridepool._docs``)."""
    if _lazy.is_dask(image):
        return _lazy.dask().block_reduce(core, image, block_size, func, cval, func_kwargs)
    a = P.block_image(image)
    block = P.block_shape(block_size, a.ndim)
    kwargs = P.block_func(func, func_kwargs)
    pads = P.block_pads(a.shape, block)
    P.check_cval(cval, a.dtype, pads)
    if P.is_masked(a):
        return masked_reduce(a, block, func, cval, kwargs)
    op = None if kwargs else recognise(func)
    if op is None or a.ndim == 0 or a.size == 0 or a.dtype.kind not in _FAST_KINDS or (
            a.dtype.kind != "b" and a.dtype.newbyteorder("=") not in P.SUPPORTED_DTYPES):
        return padded_reduce(a, block, func, cval, kwargs)
    full = tuple(n // b for n, b in zip(a.shape, block))
    y = None
    if all(full):
        y = reduce_blocks(core, a[tuple(slice(0, f * b) for f, b in zip(full, block))], block, op)
        if y is None:
            return padded_reduce(a, block, func, cval, kwargs)
        if not any(pads):
            return y
    # the blocks that hold padding: for each padded axis i, the last block along i, the whole blocks along
    # the axes before it and every block along the axes after it (the slabs tile the rest of the result)
    out = np.empty(tuple(f + (p > 0) for f, p in zip(full, pads)), dtype=result_dtype(op, a.dtype))
    if y is not None:
        out[tuple(slice(0, f) for f in full)] = y
    for i, p in enumerate(pads):
        if not p or not all(full[:i]):
            continue
        src = [slice(0, f * b) for f, b in zip(full[:i], block)] + [slice(full[i] * block[i], None)]
        dst = [slice(0, f) for f in full[:i]] + [slice(full[i], None)]
        out[tuple(dst)] = _edge_reduce(core, a[tuple(src)], block, op, cval)
    return out


def _edge_reduce(core: Core, region: Array, block: tuple[int, ...], op: str, cval: object) -> Array:
    """``NUMPY[op]`` over the blocks of ``region`` padded with ``cval`` as scikit-image pads (``np.pad``): the
    padded region is whole blocks, reduced as the others are (:func:`reduce_blocks`), so that a block's value
    does not depend on where it lies (a dask chunk's edge blocks equal the in-memory call's bit for bit)."""
    padded = np.pad(region, [(0, p) for p in P.block_pads(region.shape, block)], mode="constant",  # type: ignore[call-overload]
                    constant_values=cval)
    y = reduce_blocks(core, padded, block, op)
    return y if y is not None else np.asarray(padded_reduce(padded, block, NUMPY[op], cval, {}))
