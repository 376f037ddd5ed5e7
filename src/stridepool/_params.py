"""Argument validation and shape math, shared by the compiled functions and the reference.

Everything a public function checks happens here, before any kernel runs, so both backends raise the
same errors with the same messages.
"""
import functools
import math
import operator
from typing import NamedTuple

import numpy as np

#: dtypes the compiled kernels run natively (float16 is computed through float32).
KERNEL_DTYPES = tuple(
    np.dtype(t)
    for t in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
              np.uint8, np.uint16, np.uint32, np.uint64)
)
SUPPORTED_DTYPES = (np.dtype(np.float16),) + KERNEL_DTYPES
_SUPPORTED_NAMES = ", ".join(str(d) for d in SUPPORTED_DTYPES)
_SUPPORTED_SET = frozenset(SUPPORTED_DTYPES)

#: any single size (kernel, stride, dilation, padding, spatial extent) beyond this is rejected as absurd;
#: it keeps every product of two sizes far inside int64.
MAX_SIZE = 2**31 - 1


class Geometry(NamedTuple):
    """Normalised geometry of one 2D pooling: input size, kernel, stride, dilation, padding, output size."""

    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    DH: int
    DW: int
    PT: int
    PB: int
    PL: int
    PR: int
    OH: int
    OW: int


# ---------------------------------------------------------------------------------------------- scalars

def _int(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an int or a pair of ints, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an int or a pair of ints, got {value!r}") from None


def as_pair(value, name, minimum=1):
    """Return ``value`` (an int or a pair of ints) as a pair of Python ints, each at least ``minimum``.

    Examples
    --------
    >>> as_pair(3, "kernel_size")
    (3, 3)
    >>> as_pair((2, 1), "stride")
    (2, 1)
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array is its scalar
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise ValueError(f"`{name}` must be an int or a pair of ints, got {value!r}")
        pair = (_int(value[0], name), _int(value[1], name))
    else:
        v = _int(value, name)
        pair = (v, v)
    for v in pair:
        if v < minimum:
            raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}")
        if v > MAX_SIZE:
            raise ValueError(f"`{name}` is absurdly large (more than {MAX_SIZE}), got {value!r}")
    return pair


def as_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, got {value!r}")
    return bool(value)


def parse_padding(padding):
    """Normalise ``padding`` to ``"same"`` or ``((top, bottom), (left, right))`` without the geometry.

    Examples
    --------
    >>> parse_padding(1)
    ((1, 1), (1, 1))
    >>> parse_padding((1, 2))
    ((1, 1), (2, 2))
    >>> parse_padding(((0, 1), (1, 0)))
    ((0, 1), (1, 0))
    >>> parse_padding("valid")
    ((0, 0), (0, 0))
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            return "same"
        raise ValueError(f"`padding` must be an int, a pair, a pair of pairs, 'valid' or 'same', got {padding!r}")
    if isinstance(padding, np.ndarray) and padding.ndim == 0:
        padding = padding[()]
    if isinstance(padding, (tuple, list, np.ndarray)):
        if len(padding) != 2:
            raise ValueError(f"`padding` must be an int, a pair, a pair of pairs, 'valid' or 'same', got {padding!r}")
        sides = []
        for side in padding:
            if isinstance(side, np.ndarray) and side.ndim == 0:
                side = side[()]
            if isinstance(side, (tuple, list, np.ndarray)):
                if len(side) != 2:
                    raise ValueError(f"`padding` pairs must have two entries (before, after), got {padding!r}")
                lo, hi = _int(side[0], "padding"), _int(side[1], "padding")
            else:
                lo = hi = _int(side, "padding")
            sides.append((lo, hi))
        result = (sides[0], sides[1])
    else:
        p = _int(padding, "padding")
        result = ((p, p), (p, p))
    for v in (*result[0], *result[1]):
        if v < 0:
            raise ValueError(f"`padding` must be >= 0, got {padding!r}")
        if v > MAX_SIZE:
            raise ValueError(f"`padding` is absurdly large (more than {MAX_SIZE}), got {padding!r}")
    return result


def out_size(n, k, s, d, lo, hi, ceil_mode):
    """PyTorch's output size along one axis (may be < 1: the caller rejects that).

    Examples
    --------
    >>> out_size(6, 3, 1, 1, 0, 0, False)
    4
    >>> out_size(5, 2, 2, 1, 0, 0, True)
    3
    """
    eff = d * (k - 1) + 1
    span = n + lo + hi - eff
    if span < 0:
        return 0
    o = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + lo:
        o -= 1
    return o


def _same_padding(n, k, s, d):
    o = -(-n // s)
    total = max((o - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _axis_covers_input(n, k, s, d, lo, o):
    """True when every one of the ``o`` windows along an axis has at least one tap inside ``[0, n)``."""
    if n == 0:  # an empty axis: every window holds only padding
        return False
    if d == 1:  # contiguous windows: the first and the last decide
        first, last = -lo, (o - 1) * s - lo
        return first + k - 1 >= 0 and last <= n - 1
    t = np.arange(o, dtype=np.int64) * s - lo
    jmin = np.maximum(0, -(t // d))  # ceil(-t / d)
    jmax = np.minimum(k - 1, np.floor_divide(n - 1 - t, d))
    return bool(np.all(jmin <= jmax))


@functools.lru_cache(maxsize=4096)
def _geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode, pooling):
    kh, kw = as_pair(kernel_size, "kernel_size")
    sh, sw = as_pair((kh, kw) if stride is None else stride, "stride")
    dh, dw = as_pair(dilation, "dilation")
    ceil_mode = as_bool(ceil_mode, "ceil_mode")
    pad = parse_padding(padding)
    if pad == "same":
        pad = (_same_padding(H, kh, sh, dh), _same_padding(W, kw, sw, dw))
    (pt, pb), (pl, pr) = pad
    if pooling:
        for side, p, k, d in (("height", pt, kh, dh), ("height", pb, kh, dh),
                              ("width", pl, kw, dw), ("width", pr, kw, dw)):
            if p > (d * (k - 1) + 1) // 2:
                raise ValueError(
                    f"`padding` must be at most half of the effective kernel {side} "
                    f"({(d * (k - 1) + 1) // 2}), got {padding!r}")
    oh = out_size(H, kh, sh, dh, pt, pb, ceil_mode)
    ow = out_size(W, kw, sw, dw, pl, pr, ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"output size would be ({oh}, {ow}) for input size ({H}, {W}), kernel_size {(kh, kw)}, "
            f"stride {(sh, sw)}, padding {padding!r}, dilation {(dh, dw)}: it must be at least 1")
    if pooling and not (_axis_covers_input(H, kh, sh, dh, pt, oh) and _axis_covers_input(W, kw, sw, dw, pl, ow)):
        raise ValueError(
            f"`padding` {padding!r} with kernel_size {(kh, kw)}, stride {(sh, sw)}, dilation {(dh, dw)} "
            f"leaves a window with no input element for input size ({H}, {W})")
    return Geometry(H, W, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, oh, ow)


def _plain(v):
    """True for values whose equality implies identical validation (no 2.0 == 2 or True == 1 aliasing)."""
    t = type(v)
    if t is int or t is str or v is None:
        return True
    if t is tuple:
        return all(_plain(e) for e in v)
    return False


def geometry(H, W, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, pooling=True):
    """Validate the window parameters for an ``H x W`` plane and return its :class:`Geometry`.

    ``pooling=True`` applies PyTorch's pooling rules (padding at most half the effective kernel, every
    window must cover an input element); unfold/fold only need an output of at least one window.

    Examples
    --------
    >>> g = geometry(112, 112, 3, 2, 1)
    >>> (g.OH, g.OW)
    (56, 56)
    """
    if type(ceil_mode) is bool and _plain((kernel_size, stride, padding, dilation)):
        return _geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode, pooling)
    return _geometry.__wrapped__(H, W, kernel_size, stride, padding, dilation, ceil_mode, pooling)


def _axis_table(n, k, s, d, lo, hi, o, length):
    start = np.arange(o, dtype=np.int64) * s - lo
    t0 = np.maximum(0, -(start // d))  # first tap inside the input: ceil(-start / d)
    t1 = np.minimum(k, np.floor_divide(n - 1 - start, d) + 1)  # one past the last
    t1 = np.maximum(t1, t0)
    padded = np.minimum(k, n + hi - start)  # taps inside the padded extent (PyTorch's count_include_pad)
    table = np.zeros((4, length), dtype=np.int64)
    table[:, :o] = start, t0, t1, padded
    return table


@functools.lru_cache(maxsize=1024)
def window_table(g):
    """Per-axis window table of a :class:`Geometry`, the one place window extents are computed.

    Returns a read-only int64 array of shape ``(2, 4, max(OH, OW))``: ``[0]`` for rows and ``[1]`` for columns,
    each holding for every window ``start`` (input coordinate of tap 0), ``t0`` and ``t1`` (the taps
    ``t0 <= t < t1`` fall inside the input, at ``start + t * dilation``) and ``padded`` (taps inside the padded
    extent, PyTorch's ``count_include_pad`` count).

    Examples
    --------
    >>> window_table(geometry(5, 5, 3, 2, 1))[0, :, :3].tolist()
    [[-1, 1, 3], [1, 0, 0], [3, 3, 2], [3, 3, 3]]
    """
    L = max(g.OH, g.OW)
    t = np.stack([_axis_table(g.H, g.KH, g.SH, g.DH, g.PT, g.PB, g.OH, L),
                  _axis_table(g.W, g.KW, g.SW, g.DW, g.PL, g.PR, g.OW, L)])
    t.flags.writeable = False
    return t


def avg_divisors(g, count_include_pad, divisor_override):
    """The ``(OH, OW)`` divisors of average pooling, exactly PyTorch's rule (int64)."""
    if divisor_override:
        return np.full((g.OH, g.OW), divisor_override, dtype=np.int64)
    t = window_table(g)
    if count_include_pad:
        rows, cols = t[0, 3, :g.OH], t[1, 3, :g.OW]
    else:
        rows, cols = t[0, 2, :g.OH] - t[0, 1, :g.OH], t[1, 2, :g.OW] - t[1, 1, :g.OW]
    return rows[:, None] * cols[None, :]


# ----------------------------------------------------------------------------------------------- arrays

def as_array(x, name):
    """``np.asarray(x)`` in native byte order, with a supported dtype (else TypeError)."""
    a = np.asarray(x)
    dt = a.dtype
    if dt not in _SUPPORTED_SET:
        if dt.kind in "fiu" and not dt.isnative:
            a = a.astype(dt.newbyteorder("="))
            if a.dtype in _SUPPORTED_SET:
                return a
        raise TypeError(f"`{name}` has unsupported dtype {dt}; supported: {_SUPPORTED_NAMES}")
    return a


def normalize_axes(axes, ndim, name="axes", what="x"):
    """Return the two pooled axes as non-negative ints for an array of ``ndim`` dimensions.

    Examples
    --------
    >>> normalize_axes((-2, -1), 4)
    (2, 3)
    """
    if ndim < 2:
        raise ValueError(f"`{what}` must have at least 2 dimensions (..., H, W), got {ndim}")
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ValueError(f"`{name}` must be a pair of distinct axes, got {axes!r}")
    out = []
    for a in axes:
        a = _int(a, name)
        if not -ndim <= a < ndim:
            raise ValueError(f"`{name}` {axes!r} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim)
    if out[0] == out[1]:
        raise ValueError(f"`{name}` must be a pair of distinct axes, got {axes!r}")
    return out[0], out[1]


def as_shape(shape, name):
    """Validate a shape (sequence of non-negative ints) and return it as a tuple."""
    try:
        seq = tuple(shape)
    except TypeError:
        raise TypeError(f"`{name}` must be a sequence of ints, got {shape!r}") from None
    out = []
    for v in seq:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"`{name}` must be a sequence of ints, got {shape!r}")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"`{name}` must be a sequence of ints, got {shape!r}") from None
        if v < 0 or v > 2**62:
            raise ValueError(f"`{name}` entries must be between 0 and 2**62, got {shape!r}")
        out.append(v)
    if math.prod(max(v, 1) for v in out) > 2**59:  # no array of this shape can exist (NumPy: < 2**63 bytes)
        raise ValueError(f"`{name}` {shape!r} is too big for any array")
    return tuple(out)


def prepare_pool(x, axes, kernel_size, stride, padding, dilation, ceil_mode, pooling=True, name="x"):
    """Validate a pooling input and its parameters; return ``(array, axes, Geometry)``."""
    a = as_array(x, name)
    ax = normalize_axes(axes, a.ndim, what=name)
    g = geometry(a.shape[ax[0]], a.shape[ax[1]], kernel_size, stride, padding, dilation, ceil_mode, pooling)
    return a, ax, g


def pooled_shape(shape, axes, oh, ow):
    """``shape`` with the two pooled axes replaced by ``(oh, ow)``."""
    s = list(shape)
    s[axes[0]], s[axes[1]] = oh, ow
    return tuple(s)


def check_out(out, shape, dtype):
    """Validate a caller's ``out=`` array: exactly ``shape`` and ``dtype``, writeable."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"`out` must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"`out` must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"`out` must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("`out` must be writeable, got a read-only array")
    return out


def check_same_batch(got_shape, want_shape, name, what):
    if tuple(got_shape) != tuple(want_shape):
        raise ValueError(f"`{name}` must have shape {tuple(want_shape)} ({what}), got {tuple(got_shape)}")


def max_backward_args(grad_output, indices, input_shape, axes):
    """Validate ``max_pool2d_backward`` arguments; return (grad_output, indices int64, shape, axes)."""
    g = as_array(grad_output, "grad_output")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"`indices` must have an integer dtype (int64), got {idx.dtype}")
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), what="input_shape")
    if g.ndim != len(shape):
        raise ValueError(f"`grad_output` must have {len(shape)} dimensions like `input_shape` {shape}, "
                         f"got shape {g.shape}")
    if idx.shape != g.shape:
        raise ValueError(f"`indices` must have the shape of `grad_output` {g.shape}, got {idx.shape}")
    check_same_batch(pooled_shape(g.shape, ax, 0, 0), pooled_shape(shape, ax, 0, 0), "grad_output",
                     f"`input_shape` {shape} outside the pooled axes {ax}")
    H, W = shape[ax[0]], shape[ax[1]]
    if H * W == 0 and g.size:
        raise ValueError(f"`input_shape` {shape} has an empty pooled plane but `grad_output` is not empty")
    return g, idx, shape, ax


def bad_index_error(value, plane):
    return ValueError(f"`indices` must lie in [0, {plane}) (H*W of `input_shape`), got {value}")


def check_indices(idx, plane):
    """Raise ValueError if any index lies outside ``[0, plane)`` (NumPy; the compiled path has its own)."""
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < 0:
            raise bad_index_error(int(lo), plane)
        if hi >= plane:
            raise bad_index_error(int(hi), plane)


def result_dtype_avg(dtype):
    """Average pooling keeps float dtypes and averages integers like ``np.mean`` (float64)."""
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def acc_dtype(dtype):
    """The dtype the arithmetic runs in: float16 computes in float32."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def divisor(divisor_override):
    if divisor_override is None:
        return 0
    d = _int(divisor_override, "divisor_override")
    if d == 0:
        raise ValueError(f"`divisor_override` must be a non-zero int, got {divisor_override!r}")
    if abs(d) > MAX_SIZE:
        raise ValueError(f"`divisor_override` is absurdly large, got {divisor_override!r}")
    return d


def avg_backward_args(grad_output, input_shape, axes, kernel_size, stride, padding, ceil_mode):
    """Validate ``avg_pool2d_backward`` arguments; return ``(grad_output, input_shape, axes, Geometry)``."""
    g = as_array(grad_output, "grad_output")
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), what="input_shape")
    geo = geometry(shape[ax[0]], shape[ax[1]], kernel_size, stride, padding, 1, ceil_mode)
    check_same_batch(g.shape, pooled_shape(shape, ax, geo.OH, geo.OW), "grad_output",
                     f"the pooled output of `input_shape` {shape}")
    return g, shape, ax, geo


def fold_args(windows, input_shape, axes, stride, padding, dilation):
    """Validate ``fold2d`` arguments; return ``(windows, input_shape, axes, Geometry)``."""
    w = as_array(windows, "windows")
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), what="input_shape")
    if w.ndim != len(shape) + 2:
        raise ValueError(f"`windows` must have {len(shape) + 2} dimensions (input_shape {shape} plus KH, KW), "
                         f"got shape {w.shape}")
    kh, kw = w.shape[-2:]
    if kh < 1 or kw < 1:
        raise ValueError(f"`windows` must end in a kernel (KH, KW) of at least (1, 1), got shape {w.shape}")
    geo = geometry(shape[ax[0]], shape[ax[1]], (kh, kw), stride, padding, dilation, False, pooling=False)
    check_same_batch(w.shape, pooled_shape(shape, ax, geo.OH, geo.OW) + (kh, kw), "windows",
                     f"the windows of `input_shape` {shape}")
    return w, shape, ax, geo
