"""Pure-NumPy reference: the same six functions as the compiled package, same signatures, same errors.

Windows are strided views (``as_strided``), reductions are vectorised over all windows and the scatter-add
is ``np.add.at`` on a writeable strided window view of a zero array, as in the question's accepted answer.
There is no Python loop over windows (only over the taps of one window). It is slow, simple and
independent of the kernels, which makes it the yardstick of the parity tests and the fallback backend.

Examples
--------
>>> import numpy as np
>>> from stridepool import reference
>>> x = np.arange(16.0).reshape(4, 4)
>>> reference.max_pool2d(x, 2)
array([[ 5.,  7.],
       [13., 15.]])
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _docs
from . import _params as P

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "unfold2d", "fold2d"]


def _to_last(a, ax):
    return np.moveaxis(a, ax, (-2, -1))


def _from_last(a, ax):
    return np.moveaxis(a, (-2, -1), ax)


def _pad_widths(g, ndim):
    """Padding that puts every window, ceil_mode overhang included, inside the padded array."""
    hi_h = max(g.PB, (g.OH - 1) * g.SH + g.DH * (g.KH - 1) + 1 - g.H - g.PT)
    hi_w = max(g.PR, (g.OW - 1) * g.SW + g.DW * (g.KW - 1) + 1 - g.W - g.PL)
    return [(0, 0)] * (ndim - 2) + [(g.PT, hi_h), (g.PL, hi_w)]


def _window_view(padded, g, writeable=False):
    """``(..., OH, OW, KH, KW)`` strided view of the windows of a padded ``(..., Hp, Wp)`` array."""
    rs, cs = padded.strides[-2:]
    return as_strided(padded, shape=padded.shape[:-2] + (g.OH, g.OW, g.KH, g.KW),
                      strides=padded.strides[:-2] + (g.SH * rs, g.SW * cs, g.DH * rs, g.DW * cs),
                      writeable=writeable)


def _windows(xl, g):
    """Read-only windows of ``xl`` (pooled axes last), zero padded."""
    return _window_view(np.pad(xl, _pad_widths(g, xl.ndim)), g)


def _finish(result, ax, out):
    result = _from_last(result, ax)
    if out is None:
        return result
    out[...] = result
    return out


def _scatter_windows(values, g, dtype):
    """Add ``values`` ``(..., OH, OW, KH, KW)`` back where each window came from; crop the padding.

    The additions run in the order (OH, KH, KW, OW), the kernels' order, so float sums agree bit for bit.
    """
    lead = values.shape[:-4]
    widths = _pad_widths(g, len(lead) + 2)
    (pt, hh), (pl, hw) = widths[-2:]
    padded = np.zeros(lead + (g.H + pt + hh, g.W + pl + hw), dtype=dtype)
    windows = _window_view(padded, g, writeable=True)
    np.add.at(np.moveaxis(windows, -3, -1), slice(None), np.moveaxis(values, -3, -1))
    return padded[..., pt:pt + g.H, pl:pl + g.W]


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
               *, axes=(-2, -1), out=None):
    x, ax, g = P.prepare_pool(x, axes, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = P.as_bool(return_indices, "return_indices")
    P.check_out(out, P.pooled_shape(x.shape, ax, g.OH, g.OW), x.dtype)
    xl = _to_last(x, ax)
    k = g.KH * g.KW
    vals = _windows(xl, g).reshape(xl.shape[:-2] + (g.OH, g.OW, k))
    valid = _windows(np.ones((g.H, g.W), dtype=bool), g).reshape(g.OH, g.OW, k)
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
    i, j = np.divmod(tap, g.KW)
    rows = np.arange(g.OH)[:, None] * g.SH - g.PT + i * g.DH
    cols = np.arange(g.OW)[None, :] * g.SW - g.PL + j * g.DW
    return y, _from_last((rows * g.W + cols).astype(np.int64), ax)


def max_pool2d_backward(grad_output, indices, input_shape, *, axes=(-2, -1), out=None):
    g, idx, shape, ax = P.max_backward_args(grad_output, indices, input_shape, axes)
    P.check_out(out, shape, g.dtype)
    H, W = shape[ax[0]], shape[ax[1]]
    idx = idx.astype(np.int64)
    P.check_indices(idx, H * W)
    gl, il = _to_last(g, ax), _to_last(idx, ax)
    lead = gl.shape[:-2]
    n = int(np.prod(lead, dtype=np.int64))
    acc = np.zeros((n, H * W), dtype=P.acc_dtype(g.dtype))
    m = gl.shape[-2] * gl.shape[-1]
    np.add.at(acc, (np.arange(n)[:, None], il.reshape(n, m)), gl.reshape(n, m).astype(acc.dtype))
    return _finish(acc.reshape(lead + (H, W)).astype(g.dtype, copy=False), ax, out)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, *, axes=(-2, -1), out=None):
    x, ax, g = P.prepare_pool(x, axes, kernel_size, stride, padding, 1, ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    rdt = P.result_dtype_avg(x.dtype)
    P.check_out(out, P.pooled_shape(x.shape, ax, g.OH, g.OW), rdt)
    acc_t = P.acc_dtype(rdt)
    win = _windows(_to_last(x, ax), g)
    total = np.zeros(win.shape[:-2], dtype=acc_t)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and float16 overflow, as in C
        for i in range(g.KH):  # taps in row-major order, the kernels' summation order
            for j in range(g.KW):
                total += win[..., i, j]
        y = total / P.avg_divisors(g, include, div).astype(acc_t)
    return _finish(y.astype(rdt, copy=False), ax, out)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None, *, axes=(-2, -1), out=None):
    g, shape, ax, geo = P.avg_backward_args(grad_output, input_shape, axes, kernel_size, stride, padding,
                                            ceil_mode)
    include = P.as_bool(count_include_pad, "count_include_pad")
    div = P.divisor(divisor_override)
    rdt = P.result_dtype_avg(g.dtype)
    P.check_out(out, shape, rdt)
    acc_t = P.acc_dtype(rdt)
    with np.errstate(invalid="ignore", over="ignore"):
        share = _to_last(g, ax).astype(acc_t) / P.avg_divisors(geo, include, div).astype(acc_t)
    values = np.broadcast_to(share[..., None, None], share.shape + (geo.KH, geo.KW))
    return _finish(_scatter_windows(values, geo, acc_t).astype(rdt, copy=False), ax, out)


def unfold2d(x, kernel_size, stride=1, padding=0, dilation=1, *, axes=(-2, -1)):
    x, ax, g = P.prepare_pool(x, axes, kernel_size, stride, padding, dilation, False, pooling=False)
    xl = _to_last(x, ax)
    if g.PT or g.PB or g.PL or g.PR:
        win = _windows(xl, g)
    else:
        win = _window_view(xl, g)
    # (..., OH, OW, KH, KW) with the leading axes in xl order -> put OH, OW back where the pooled axes were
    nl = xl.ndim - 2
    order = list(range(nl))
    for pos, src in sorted(zip(ax, (nl, nl + 1))):
        order.insert(pos, src)
    return win.transpose(order + [nl + 2, nl + 3])


def fold2d(windows, input_shape, stride=1, padding=0, dilation=1, *, axes=(-2, -1), out=None):
    w, shape, ax, g = P.fold_args(windows, input_shape, axes, stride, padding, dilation)
    rdt = w.dtype
    P.check_out(out, shape, rdt)
    acc_t = P.acc_dtype(rdt)
    wl = np.moveaxis(w, ax, (-4, -3))
    return _finish(_scatter_windows(wl.astype(acc_t), g, acc_t).astype(rdt, copy=False), ax, out)


_docs.apply(globals())
