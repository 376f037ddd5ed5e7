"""Argument validation and shape math for any number of pooled axes (1, 2 or 3), shared by both backends.

Everything a public function checks happens here, before any kernel runs, so both backends raise the
same errors with the same messages. A pooling's windows are described per pooled axis by an :class:`Axis`
(regular windows: size, kernel, stride, dilation, padding; or PyTorch's adaptive split), a
:class:`Geometry` is the tuple of them, and :func:`window_table` turns one into the table the kernels read.
"""
from __future__ import annotations

import functools
import math
import operator
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, DTypeLike, NDArray

    #: padding after parsing: (before, after) per pooled axis
    Pads = tuple[tuple[int, int], ...]

#: dtypes the compiled kernels run natively (float16 is computed through float32).
KERNEL_DTYPES: tuple[np.dtype[Any], ...] = tuple(
    np.dtype(t)
    for t in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
              np.uint8, np.uint16, np.uint32, np.uint64)
)
SUPPORTED_DTYPES: tuple[np.dtype[Any], ...] = (np.dtype(np.float16),) + KERNEL_DTYPES
_SUPPORTED_NAMES = ", ".join(str(d) for d in SUPPORTED_DTYPES)
_SUPPORTED_SET = frozenset(SUPPORTED_DTYPES)

#: any single size (kernel, stride, dilation, padding, spatial extent) beyond this is rejected as absurd;
#: it keeps every product of two sizes far inside int64.
MAX_SIZE: int = 2**31 - 1

# ------------------------------------------------------------------------------ the words for 1, 2, 3 axes

#: the pooled dimensions' letters, in the shape strings of messages and docstrings
DIMS: dict[int, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
#: the kernel's letters
KDIMS: dict[int, tuple[str, ...]] = {1: ("K",), 2: ("KH", "KW"), 3: ("KD", "KH", "KW")}
_SIDES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_INTS = {1: "an int or a tuple of one int", 2: "an int or a pair of ints", 3: "an int or a triple of ints"}
_PADS = {1: "an int, a tuple of one int or of one pair, 'valid' or 'same'",
         2: "an int, a pair, a pair of pairs, 'valid' or 'same'",
         3: "an int, a triple, a triple of pairs, 'valid' or 'same'"}
_AXES = {1: "an int or a tuple of one axis", 2: "a pair of distinct axes", 3: "a triple of distinct axes"}
_EXTENT = {1: "length", 2: "plane", 3: "volume"}


def dims_text(nd: int) -> str:
    """``'H, W'`` for 2 axes: the pooled dimensions as written in shapes."""
    return ", ".join(DIMS[nd])


def plane_text(nd: int) -> str:
    """``'H*W'`` for 2 axes: the size of the pooled extent, as written in index messages."""
    return "*".join(DIMS[nd])


class Axis(NamedTuple):
    """The windows along one pooled axis.

    Regular windows (``s >= 1``): window ``i`` has its tap ``t`` (``0 <= t < k``) at ``i * s - lo + t * d``;
    taps outside ``[0, n)`` are padding. Adaptive windows (``s == 0``, PyTorch's rule): window ``i`` covers
    ``[floor(g * N / O), ceil((g + 1) * N / O)) - lo`` with ``g = first + i`` and ``(N, O) = split``, and
    ``k`` is the longest. ``hi`` is the trailing padding (``count_include_pad`` counts taps before
    ``n + hi``). A pooling over part of an axis (a block of a dask array) is an Axis too: its windows
    keep their global extent through ``lo``, ``hi`` and ``first``.
    """

    n: int
    k: int
    s: int
    d: int
    lo: int
    hi: int
    o: int
    split: tuple[int, ...] = ()
    first: int = 0


class Geometry(tuple[Axis, ...]):
    """The :class:`Axis` of every pooled axis, in order; hashable, so tables can be cached."""

    __slots__ = ()

    @property
    def nd(self) -> int:
        return len(self)

    @property
    def size(self) -> tuple[int, ...]:
        """Input size of every pooled axis."""
        return tuple(a.n for a in self)

    @property
    def out(self) -> tuple[int, ...]:
        """Output size (number of windows) of every pooled axis."""
        return tuple(a.o for a in self)

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(a.k for a in self)

    @property
    def regular(self) -> bool:
        """True when no axis has adaptive windows."""
        return all(a.s for a in self)


# ---------------------------------------------------------------------------------------------- scalars

def _int(value: Any, name: str, nd: int = 2) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be {_INTS[nd]}, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be {_INTS[nd]}, got {value!r}") from None


def _scalar(value: Any) -> Any:
    """A 0-d array is its scalar."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def as_tuple(value: object, name: str, nd: int, minimum: int = 1) -> tuple[int, ...]:
    """Return ``value`` (an int or a tuple of ``nd`` ints) as ``nd`` Python ints, each at least ``minimum``.

    Examples
    --------
    >>> as_tuple(3, "kernel_size", 3)
    (3, 3, 3)
    >>> as_tuple((2, 1), "stride", 2)
    (2, 1)
    """
    value = _scalar(value)
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != nd:
            raise ValueError(f"`{name}` must be {_INTS[nd]}, got {value!r}")
        try:
            out = tuple(_int(v, name, nd) for v in value)
        except TypeError:
            raise TypeError(f"`{name}` must be {_INTS[nd]}, got {value!r}") from None
    else:
        out = (_int(value, name, nd),) * nd
    for v in out:
        if v < minimum:
            raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}")
        if v > MAX_SIZE:
            raise ValueError(f"`{name}` is absurdly large (more than {MAX_SIZE}), got {value!r}")
    return out


def as_pair(value: object, name: str, minimum: int = 1) -> tuple[int, ...]:
    """:func:`as_tuple` for two axes.

    Examples
    --------
    >>> as_pair(3, "kernel_size")
    (3, 3)
    """
    return as_tuple(value, name, 2, minimum)


def as_bool(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, got {value!r}")
    return bool(value)


def parse_padding(padding: object, nd: int = 2) -> Pads | Literal["same"]:
    """Normalise ``padding`` to ``"same"`` or ``((before, after), ...)`` (one pair per axis).

    Examples
    --------
    >>> parse_padding(1)
    ((1, 1), (1, 1))
    >>> parse_padding((1, 2))
    ((1, 1), (2, 2))
    >>> parse_padding(((0, 1), (1, 0)))
    ((0, 1), (1, 0))
    >>> parse_padding("valid", 3)
    ((0, 0), (0, 0), (0, 0))
    >>> parse_padding(((2, 0),), 1)
    ((2, 0),)
    """
    bad = f"`padding` must be {_PADS[nd]}, got {padding!r}"
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            return "same"
        raise ValueError(bad)
    padding_ = _scalar(padding)
    if isinstance(padding_, (tuple, list, np.ndarray)):
        if len(padding_) != nd:
            raise ValueError(bad)
        sides = []
        for side in padding_:
            side = _scalar(side)
            if isinstance(side, (tuple, list, np.ndarray)):
                if len(side) != 2:
                    raise ValueError(f"`padding` pairs must have two entries (before, after), got {padding!r}")
                sides.append((_int(side[0], "padding", nd), _int(side[1], "padding", nd)))
            else:
                p = _int(side, "padding", nd)
                sides.append((p, p))
        result = tuple(sides)
    else:
        p = _int(padding_, "padding", nd)
        result = ((p, p),) * nd
    for v in (v for side in result for v in side):
        if v < 0:
            raise ValueError(f"`padding` must be >= 0, got {padding!r}")
        if v > MAX_SIZE:
            raise ValueError(f"`padding` is absurdly large (more than {MAX_SIZE}), got {padding!r}")
    return result


def out_size(n: int, k: int, s: int, d: int, lo: int, hi: int, ceil_mode: bool) -> int:
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


def _same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    o = -(-n // s)
    total = max((o - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _axis_covers_input(a: Axis) -> bool:
    """True when every window of a regular :class:`Axis` has at least one tap inside ``[0, n)``."""
    if a.n == 0:  # an empty axis: every window holds only padding
        return False
    if a.d == 1:  # contiguous windows: the first and the last decide
        first, last = -a.lo, (a.o - 1) * a.s - a.lo
        return first + a.k - 1 >= 0 and last <= a.n - 1
    t = np.arange(a.o, dtype=np.int64) * a.s - a.lo
    jmin = np.maximum(0, -(t // a.d))  # ceil(-t / d)
    jmax = np.minimum(a.k - 1, np.floor_divide(a.n - 1 - t, a.d))
    return bool(np.all(jmin <= jmax))


def _show(t: Iterable[int]) -> str:
    """A tuple as messages show it: ``(3, 3)``; one axis as ``(3,)``."""
    return repr(tuple(t))


@functools.lru_cache(maxsize=4096)
def _geometry(sizes: tuple[int, ...], kernel_size: object, stride: object, padding: object, dilation: object,
              ceil_mode: object, pooling: bool) -> Geometry:
    nd = len(sizes)
    k = as_tuple(kernel_size, "kernel_size", nd)
    s = as_tuple(k if stride is None else stride, "stride", nd)
    d = as_tuple(dilation, "dilation", nd)
    ceil_mode = as_bool(ceil_mode, "ceil_mode")
    pad = parse_padding(padding, nd)
    if pad == "same":
        pad = tuple(_same_padding(*a) for a in zip(sizes, k, s, d))
    if pooling:
        for side, (lo, hi), ki, di in zip(_SIDES[nd], pad, k, d):
            for p in (lo, hi):
                if p > (di * (ki - 1) + 1) // 2:
                    raise ValueError(
                        f"`padding` must be at most half of the effective kernel {side} "
                        f"({(di * (ki - 1) + 1) // 2}), got {padding!r}")
    o = tuple(out_size(n, ki, si, di, lo, hi, ceil_mode) for n, ki, si, di, (lo, hi) in zip(sizes, k, s, d, pad))
    if min(o) < 1:
        raise ValueError(
            f"output size would be {_show(o)} for input size {_show(sizes)}, kernel_size {_show(k)}, "
            f"stride {_show(s)}, padding {padding!r}, dilation {_show(d)}: it must be at least 1")
    geo = Geometry(Axis(*a) for a in zip(sizes, k, s, d, (p[0] for p in pad), (p[1] for p in pad), o))
    if pooling and not all(_axis_covers_input(a) for a in geo):
        raise ValueError(
            f"`padding` {padding!r} with kernel_size {_show(k)}, stride {_show(s)}, dilation {_show(d)} "
            f"leaves a window with no input element for input size {_show(sizes)}")
    return geo


def _plain(v: Any) -> bool:
    """True for values whose equality implies identical validation (no 2.0 == 2 or True == 1 aliasing)."""
    t = type(v)
    if t is int or t is str or v is None:
        return True
    if t is tuple:
        return all(_plain(e) for e in v)
    return False


def geometry(sizes: Iterable[int], kernel_size: object, stride: object = None, padding: object = 0,
             dilation: object = 1, ceil_mode: object = False, pooling: bool = True) -> Geometry:
    """Validate the window parameters for pooled axes of ``sizes`` and return their :class:`Geometry`.

    ``pooling=True`` applies PyTorch's pooling rules (padding at most half the effective kernel, every
    window must cover an input element); unfold/fold only need an output of at least one window.

    Examples
    --------
    >>> g = geometry((112, 112), 3, 2, 1)
    >>> g.out
    (56, 56)
    >>> geometry((16, 56, 56), 3, 2, 1).out
    (8, 28, 28)
    """
    sizes = tuple(sizes)
    if type(ceil_mode) is bool and _plain((kernel_size, stride, padding, dilation)):
        return _geometry(sizes, kernel_size, stride, padding, dilation, ceil_mode, pooling)
    return _geometry.__wrapped__(sizes, kernel_size, stride, padding, dilation, ceil_mode, pooling)


def adaptive_axis(n: int, o: int) -> Axis:
    """The :class:`Axis` of PyTorch's adaptive windows along an axis of size ``n`` split into ``o``.

    When ``o`` divides ``n`` the windows are regular (kernel and stride ``n // o``) and are described so.

    Examples
    --------
    >>> adaptive_axis(8, 4)
    Axis(n=8, k=2, s=2, d=1, lo=0, hi=0, o=4, split=(), first=0)
    >>> adaptive_axis(5, 3).k
    3
    """
    if n % o == 0:
        return Axis(n, n // o, n // o, 1, 0, 0, o)
    i = np.arange(o, dtype=np.int64)
    longest = int(np.max(-((-(i + 1) * n) // o) - (i * n) // o))
    return Axis(n, longest, 0, 1, 0, 0, o, (n, o), 0)


def _per_axis(value: object, n: int, bad: str) -> list[Any]:
    """``value`` as ``n`` entries: its own (a tuple, list or array of ``n``; else ValueError ``bad``), or
    itself ``n`` times."""
    value = _scalar(value)
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != n:
            raise ValueError(bad)
        return list(value)
    return [value] * n


def _index(value: Any, bad: str) -> int:
    """``value`` as an int (not a bool; else TypeError ``bad``)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(bad)
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(bad) from None


def _output_size(output_size: object, sizes: tuple[int, ...]) -> tuple[int, ...]:
    nd = len(sizes)
    bad = f"`output_size` must be an int or a tuple of {nd} ints or None, got {output_size!r}"
    out = []
    for e, n in zip(_per_axis(output_size, nd, bad), sizes):
        if e is None:
            out.append(n)
            continue
        e = _index(e, bad)
        if e < 1:
            raise ValueError(f"`output_size` must be >= 1, got {output_size!r}")
        if e > MAX_SIZE:
            raise ValueError(f"`output_size` is absurdly large (more than {MAX_SIZE}), got {output_size!r}")
        out.append(e)
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _adaptive(sizes: tuple[int, ...], output_size: object) -> Geometry:
    o = _output_size(output_size, sizes)
    if min(sizes) < 1:
        raise ValueError(f"adaptive pooling needs input size at least 1 along every pooled axis, got input "
                         f"size {_show(sizes)}")
    return Geometry(adaptive_axis(n, oi) for n, oi in zip(sizes, o))


def adaptive_geometry(sizes: Iterable[int], output_size: object) -> Geometry:
    """Validate ``output_size`` for pooled axes of ``sizes``; return the adaptive :class:`Geometry`.

    Examples
    --------
    >>> adaptive_geometry((7, 10), (None, 3)).out
    (7, 3)
    """
    sizes = tuple(sizes)
    if _plain(output_size):
        return _adaptive(sizes, output_size)
    return _adaptive.__wrapped__(sizes, output_size)


# ------------------------------------------------------------------------------------------ window tables

def axis_table(a: Axis) -> NDArray[np.int64]:
    """``(4, o)`` int64 rows for the windows of an :class:`Axis`: ``start`` (input coordinate of tap 0),
    ``t0`` and ``t1`` (the taps ``t0 <= t < t1`` fall inside the input, at ``start + t * d``) and ``padded``
    (taps inside the padded extent, PyTorch's ``count_include_pad`` count).

    Examples
    --------
    >>> axis_table(Axis(5, 3, 2, 1, 1, 1, 3)).tolist()
    [[-1, 1, 3], [1, 0, 0], [3, 3, 2], [3, 3, 3]]
    >>> axis_table(adaptive_axis(5, 3)).tolist()
    [[0, 1, 3], [0, 0, 0], [2, 3, 2], [2, 3, 2]]
    """
    i = np.arange(a.o, dtype=np.int64)
    if a.s == 0:
        N, O = a.split
        g = i + a.first
        start = (g * N) // O - a.lo
        length = -((-(g + 1) * N) // O) - (g * N) // O
        return np.stack([start, np.zeros_like(i), length, length])
    start = i * a.s - a.lo
    t0 = np.minimum(np.maximum(0, -(start // a.d)), a.k)  # first tap inside the input: ceil(-start / d)
    t1 = np.minimum(a.k, np.floor_divide(a.n - 1 - start, a.d) + 1)  # one past the last
    t1 = np.maximum(t1, t0)
    padded = np.minimum(a.k, a.n + a.hi - start)  # taps inside the padded extent (PyTorch's count_include_pad)
    return np.stack([start, t0, t1, padded])


UNIT = Axis(1, 1, 1, 1, 0, 0, 1)  # the trivial axis that pads a Geometry to the kernels' three axes


@functools.lru_cache(maxsize=1024)
def window_table(geo: Geometry) -> NDArray[np.int64]:
    """The kernels' window table of a :class:`Geometry`, the one place window extents are computed.

    A read-only int64 array of shape ``(3, 4, L)``, ``L`` the most windows along any axis: one
    :func:`axis_table` per axis (depth, height, width), a geometry of fewer axes padded in front with trivial
    axes of one window of one tap.

    Examples
    --------
    >>> window_table(geometry((5, 5), 3, 2, 1))[1, :, :3].tolist()
    [[-1, 1, 3], [1, 0, 0], [3, 3, 2], [3, 3, 3]]
    """
    axes = (UNIT,) * (3 - len(geo)) + tuple(geo)
    t = np.zeros((3, 4, max(a.o for a in axes)), dtype=np.int64)
    for row, a in zip(t, axes):
        row[:, :a.o] = axis_table(a)
    t.flags.writeable = False
    return t


def avg_divisors(geo: Geometry, count_include_pad: bool, divisor_override: int) -> NDArray[np.int64]:
    """The divisors of average pooling, exactly PyTorch's rule (int64, shape ``geo.out``)."""
    if divisor_override:
        return np.full(geo.out, divisor_override, dtype=np.int64)
    result = np.ones((), dtype=np.int64)
    for a in geo:
        t = axis_table(a)
        count = t[3] if count_include_pad else t[2] - t[1]
        result = np.multiply.outer(result, count)
    return result


# ----------------------------------------------------------------------------------------------- arrays

def is_masked(x: object) -> bool:
    """True for a ``numpy.ma.MaskedArray`` (False at once when ``numpy.ma`` was never imported)."""
    ma = sys.modules.get("numpy.ma")
    return ma is not None and isinstance(x, ma.MaskedArray)


def not_masked(x: object, name: str) -> None:
    """Refuse a ``numpy.ma.MaskedArray``: the windowed functions would pool its data and drop the mask."""
    if is_masked(x):
        raise TypeError(
            f"`{name}` is a numpy.ma.MaskedArray: pooling it would use its data and silently drop its mask. "
            f"Pass `{name}.filled(value)` with a value that suits the pooling (-inf for max pooling), or use "
            "stridepool.block_reduce, which honours masks")


def as_array(x: ArrayLike, name: str) -> NDArray[Any]:
    """``np.asarray(x)`` in native byte order, with a supported dtype (else TypeError); a masked array is a
    TypeError (see :func:`not_masked`)."""
    not_masked(x, name)
    a = np.asarray(x)
    dt = a.dtype
    if dt not in _SUPPORTED_SET:
        if dt.kind in "fiu" and not dt.isnative:
            a = a.astype(dt.newbyteorder("="))
            if a.dtype in _SUPPORTED_SET:
                return a
        raise TypeError(f"`{name}` has unsupported dtype {dt}; supported: {_SUPPORTED_NAMES}")
    return a


def normalize_axes(axes: Any, ndim: int, nd: int = 2, name: str = "axes", what: str = "x") -> tuple[int, ...]:
    """Return the ``nd`` pooled axes as non-negative ints for an array of ``ndim`` dimensions.

    Examples
    --------
    >>> normalize_axes((-2, -1), 4)
    (2, 3)
    >>> normalize_axes(-1, 3, 1)
    (2,)
    """
    if ndim < nd:
        plural = "s" if nd > 1 else ""
        raise ValueError(f"`{what}` must have at least {nd} dimension{plural} (..., {dims_text(nd)}), got {ndim}")
    if nd == 1 and not isinstance(axes, (tuple, list)) and not isinstance(axes, (bool, np.bool_)):
        try:
            axes = (operator.index(axes),)
        except TypeError:
            pass
    if not isinstance(axes, (tuple, list)) or len(axes) != nd:
        raise ValueError(f"`{name}` must be {_AXES[nd]}, got {axes!r}")
    out = []
    for a in axes:
        a = _int(a, name, nd)
        if not -ndim <= a < ndim:
            raise ValueError(f"`{name}` {axes!r} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != nd:
        raise ValueError(f"`{name}` must be {_AXES[nd]}, got {axes!r}")
    return tuple(out)


def as_shape(shape: Any, name: str) -> tuple[int, ...]:
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


def sizes_at(shape: Sequence[int], axes: Iterable[int]) -> tuple[int, ...]:
    """The sizes of ``shape`` along ``axes``."""
    return tuple(shape[a] for a in axes)


def pooled_shape(shape: Iterable[int], axes: Iterable[int], sizes: Iterable[int]) -> tuple[int, ...]:
    """``shape`` with the pooled ``axes`` replaced by ``sizes``."""
    s = list(shape)
    for a, n in zip(axes, sizes):
        s[a] = n
    return tuple(s)


def prepare_pool(x: ArrayLike, axes: object, nd: int, kernel_size: object, stride: object, padding: object,
                 dilation: object, ceil_mode: object, pooling: bool = True,
                 name: str = "x") -> tuple[NDArray[Any], tuple[int, ...], Geometry]:
    """Validate a pooling input and its parameters; return ``(array, axes, Geometry)``."""
    a = as_array(x, name)
    ax = normalize_axes(axes, a.ndim, nd, what=name)
    g = geometry(sizes_at(a.shape, ax), kernel_size, stride, padding, dilation, ceil_mode, pooling)
    return a, ax, g


def prepare_adaptive(x: ArrayLike, axes: object, nd: int,
                     output_size: object) -> tuple[NDArray[Any], tuple[int, ...], Geometry]:
    """Validate an adaptive pooling input; return ``(array, axes, Geometry)``."""
    a = as_array(x, "x")
    ax = normalize_axes(axes, a.ndim, nd)
    return a, ax, adaptive_geometry(sizes_at(a.shape, ax), output_size)


def check_out(out: object, shape: Iterable[int], dtype: DTypeLike) -> NDArray[Any] | None:
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


def check_same_batch(got_shape: Iterable[int], want_shape: Iterable[int], name: str, what: str) -> None:
    if tuple(got_shape) != tuple(want_shape):
        raise ValueError(f"`{name}` must have shape {tuple(want_shape)} ({what}), got {tuple(got_shape)}")


def as_indices(indices: ArrayLike) -> NDArray[np.integer[Any]]:
    not_masked(indices, "indices")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"`indices` must have an integer dtype (int64), got {idx.dtype}")
    return idx


def max_backward_args(grad_output: ArrayLike, indices: ArrayLike, input_shape: object, axes: object,
                      nd: int = 2) -> tuple[NDArray[Any], NDArray[np.integer[Any]], tuple[int, ...], tuple[int, ...]]:
    """Validate ``max_pool*_backward`` arguments; return (grad_output, indices, shape, axes)."""
    g = as_array(grad_output, "grad_output")
    idx = as_indices(indices)
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), nd, what="input_shape")
    if g.ndim != len(shape):
        raise ValueError(f"`grad_output` must have {len(shape)} dimensions like `input_shape` {shape}, "
                         f"got shape {g.shape}")
    if idx.shape != g.shape:
        raise ValueError(f"`indices` must have the shape of `grad_output` {g.shape}, got {idx.shape}")
    zeros = (0,) * nd
    check_same_batch(pooled_shape(g.shape, ax, zeros), pooled_shape(shape, ax, zeros), "grad_output",
                     f"`input_shape` {shape} outside the pooled axes {ax}")
    if math.prod(sizes_at(shape, ax)) == 0 and g.size:
        raise ValueError(f"`input_shape` {shape} has an empty pooled {_EXTENT[nd]} but `grad_output` is not empty")
    return g, idx, shape, ax


def bad_index_error(value: int, plane: int, nd: int = 2, what: str = "`input_shape`") -> ValueError:
    hint = ""
    if value == -1 and what == "`input_shape`":
        hint = (" (-1 is the index of a window without a non-NaN element, from nan_policy='omit': pass "
                "nan_policy='omit' to the backward too, and it adds nothing for such a window)")
    return ValueError(f"`indices` must lie in [0, {plane}) ({plane_text(nd)} of {what}), got {value}{hint}")


def check_indices(idx: NDArray[np.integer[Any]], plane: int, nd: int = 2, what: str = "`input_shape`") -> None:
    """Raise ValueError if any index lies outside ``[0, plane)`` (NumPy; the compiled path has its own)."""
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < 0:
            raise bad_index_error(int(lo), plane, nd, what)
        if hi >= plane:
            raise bad_index_error(int(hi), plane, nd, what)


def result_dtype_avg(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """Average pooling keeps float dtypes and averages integers like ``np.mean`` (float64)."""
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def acc_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype the arithmetic runs in: float16 computes in float32."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def divisor(divisor_override: Any) -> int:
    if divisor_override is None:
        return 0
    if isinstance(divisor_override, (bool, np.bool_)):
        raise TypeError(f"`divisor_override` must be an int, got {divisor_override!r}")
    try:
        d = operator.index(_scalar(divisor_override))
    except TypeError:
        raise TypeError(f"`divisor_override` must be an int, got {divisor_override!r}") from None
    if d == 0:
        raise ValueError(f"`divisor_override` must be a non-zero int, got {divisor_override!r}")
    if abs(d) > MAX_SIZE:
        raise ValueError(f"`divisor_override` is absurdly large, got {divisor_override!r}")
    return d


#: the values of ``nan_policy`` (SciPy's names): NaN propagates through a window, or is ignored
NAN_POLICIES: tuple[str, ...] = ("propagate", "omit")


def nan_policy(value: object) -> bool:
    """True for ``"omit"`` (NaN ignored), False for ``"propagate"``; anything else is a ValueError.

    Examples
    --------
    >>> nan_policy("omit"), nan_policy("propagate")
    (True, False)
    """
    if isinstance(value, str) and value in NAN_POLICIES:
        return value == "omit"
    raise ValueError(f"`nan_policy` must be 'propagate' or 'omit', got {value!r}")


def nan_input(x: ArrayLike | None, shape: tuple[int, ...], omit: bool) -> NDArray[Any] | None:
    """Validate average pooling's backward's ``x`` (the pooled input, which says where the NaN taps are):
    required with ``nan_policy="omit"``, else optional; of exactly ``input_shape``."""
    if x is None:
        if omit:
            raise ValueError("`x` (the pooled input) is required with nan_policy='omit': the gradient of a NaN-"
                             "ignoring average depends on where the NaN are, got None")
        return None
    a = as_array(x, "x")
    if a.shape != shape:
        raise ValueError(f"`x` must have the shape of `input_shape` {shape}, got {a.shape}")
    return a


def avg_backward_args(grad_output: ArrayLike, input_shape: object, axes: object, nd: int, kernel_size: object,
                      stride: object, padding: object,
                      ceil_mode: object) -> tuple[NDArray[Any], tuple[int, ...], tuple[int, ...], Geometry]:
    """Validate ``avg_pool*_backward`` arguments; return ``(grad_output, input_shape, axes, Geometry)``."""
    g = as_array(grad_output, "grad_output")
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), nd, what="input_shape")
    geo = geometry(sizes_at(shape, ax), kernel_size, stride, padding, 1, ceil_mode)
    check_same_batch(g.shape, pooled_shape(shape, ax, geo.out), "grad_output",
                     f"the pooled output of `input_shape` {shape}")
    return g, shape, ax, geo


def adaptive_backward_args(grad_output: ArrayLike, input_shape: object, axes: object,
                           nd: int) -> tuple[NDArray[Any], tuple[int, ...], tuple[int, ...], Geometry]:
    """Validate ``adaptive_avg_pool*_backward`` arguments; return ``(grad_output, shape, axes, Geometry)``.

    The output size is the gradient's size along the pooled axes.
    """
    g = as_array(grad_output, "grad_output")
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), nd, what="input_shape")
    if g.ndim != len(shape):
        raise ValueError(f"`grad_output` must have {len(shape)} dimensions like `input_shape` {shape}, "
                         f"got shape {g.shape}")
    zeros = (0,) * nd
    check_same_batch(pooled_shape(g.shape, ax, zeros), pooled_shape(shape, ax, zeros), "grad_output",
                     f"`input_shape` {shape} outside the pooled axes {ax}")
    out = sizes_at(g.shape, ax)
    if min(out) < 1:
        raise ValueError(f"`grad_output` must have at least one element along the pooled axes {ax}, "
                         f"got shape {g.shape}")
    return g, shape, ax, adaptive_geometry(sizes_at(shape, ax), out)


def fold_args(windows: ArrayLike, input_shape: object, axes: object, nd: int, stride: object, padding: object,
              dilation: object) -> tuple[NDArray[Any], tuple[int, ...], tuple[int, ...], Geometry]:
    """Validate ``fold*`` arguments; return ``(windows, input_shape, axes, Geometry)``."""
    w = as_array(windows, "windows")
    shape = as_shape(input_shape, "input_shape")
    ax = normalize_axes(axes, len(shape), nd, what="input_shape")
    letters = ", ".join(KDIMS[nd])
    if w.ndim != len(shape) + nd:
        raise ValueError(f"`windows` must have {len(shape) + nd} dimensions (input_shape {shape} plus "
                         f"{letters}), got shape {w.shape}")
    k = w.shape[-nd:]
    if min(k) < 1:
        ones = _show((1,) * nd) if nd > 1 else "1"
        raise ValueError(f"`windows` must end in a kernel ({letters}) of at least {ones}, got shape {w.shape}")
    geo = geometry(sizes_at(shape, ax), k, stride, padding, dilation, False, pooling=False)
    check_same_batch(w.shape, pooled_shape(shape, ax, geo.out) + k, "windows",
                     f"the windows of `input_shape` {shape}")
    return w, shape, ax, geo


def unpool_args(x: ArrayLike, indices: ArrayLike, kernel_size: object, stride: object, padding: object,
                output_size: object, axes: object,
                nd: int) -> tuple[NDArray[Any], NDArray[np.integer[Any]], tuple[int, ...], tuple[int, ...]]:
    """Validate ``max_unpool*`` arguments; return ``(x, indices, output shape, axes)``.

    The default output size per axis is PyTorch's ``(n - 1) * stride - pad_before - pad_after + kernel``;
    ``output_size`` may give the pooled sizes or the whole output shape, each within the default plus or
    minus the stride (exclusive), as in PyTorch.
    """
    a = as_array(x, "x")
    idx = as_indices(indices)
    ax = normalize_axes(axes, a.ndim, nd)
    if idx.shape != a.shape:
        raise ValueError(f"`indices` must have the shape of `x` {a.shape}, got {idx.shape}")
    k = as_tuple(kernel_size, "kernel_size", nd)
    s = as_tuple(k if stride is None else stride, "stride", nd)
    if isinstance(padding, str) and padding == "same":
        raise ValueError("`padding` 'same' depends on the pooled input's size, which unpooling does not know: "
                         "give the padding as numbers, got 'same'")
    pad = cast("Pads", parse_padding(padding, nd))  # not 'same': refused above
    n = sizes_at(a.shape, ax)
    default = tuple((ni - 1) * si - lo - hi + ki for ni, si, ki, (lo, hi) in zip(n, s, k, pad))
    if output_size is None:
        sizes = default
    else:
        given = as_shape(output_size, "output_size")
        if len(given) == a.ndim:
            check_same_batch(pooled_shape(given, ax, (0,) * nd), pooled_shape(a.shape, ax, (0,) * nd),
                             "output_size", f"the shape of `x` {a.shape} outside the pooled axes {ax}")
            given = sizes_at(given, ax)
        elif len(given) != nd:
            raise ValueError(f"`output_size` must have {nd} entries (the pooled sizes) or {a.ndim} (the whole "
                             f"output shape), got {output_size!r}")
        for g_, d_, s_ in zip(given, default, s):
            if not d_ - s_ < g_ < d_ + s_:
                raise ValueError(f"`output_size` {output_size!r} must lie strictly between the default size "
                                 f"{_show(default)} minus and plus the stride {_show(s)} along each pooled axis")
        sizes = given
    if min(sizes) < 1:
        raise ValueError(f"output size would be {_show(sizes)} for input size {_show(n)}, kernel_size "
                         f"{_show(k)}, stride {_show(s)}, padding {padding!r}: it must be at least 1")
    return a, idx, pooled_shape(a.shape, ax, sizes), ax


# ------------------------------------------------------------------------------------------ block_reduce
#
# scikit-image's block_reduce takes any number of dimensions, any dtype and any callable: its arguments are
# checked here from the image's number of dimensions and dtype alone, so that the dask path raises the same
# errors at the call.

def block_image(image: ArrayLike) -> NDArray[Any]:
    """``np.asarray(image)``, any dtype; a ``numpy.ma.MaskedArray`` is kept as it is (its mask is honoured)."""
    if is_masked(image):
        return cast("NDArray[Any]", image)
    return np.asarray(image)


def block_shape(block_size: object, ndim: int) -> tuple[int, ...]:
    """``block_size`` (an int, or one int per axis of an image of ``ndim`` dimensions) as ``ndim`` ints >= 1.

    Examples
    --------
    >>> block_shape(2, 3)
    (2, 2, 2)
    >>> block_shape([1, 4], 2)
    (1, 4)
    """
    bad = f"`block_size` must be an int or a sequence of {ndim} ints (one per axis of `image`), got {block_size!r}"
    out = [_index(e, bad) for e in _per_axis(block_size, ndim, bad)]
    if any(e < 1 for e in out):
        raise ValueError(f"`block_size` must be >= 1 along every axis (block_reduce only shrinks an image), "
                         f"got {block_size!r}")
    if any(e > MAX_SIZE for e in out):
        raise ValueError(f"`block_size` is absurdly large (more than {MAX_SIZE}), got {block_size!r}")
    return tuple(out)


def block_func(func: object, func_kwargs: object) -> dict[str, Any]:
    """Check ``func`` (a callable) and ``func_kwargs`` (None or a mapping of keyword names); return the
    keyword arguments as a dict."""
    if not callable(func):
        raise TypeError(f"`func` must be a callable that takes an `axis` tuple (such as np.max or np.mean), "
                        f"got {func!r}")
    if func_kwargs is None:
        return {}
    if not isinstance(func_kwargs, Mapping) or not all(isinstance(k, str) for k in func_kwargs):
        raise TypeError(f"`func_kwargs` must be None or a dict of keyword arguments for `func`, got {func_kwargs!r}")
    if "axis" in func_kwargs:
        raise TypeError(f"`func_kwargs` must not set `axis` (block_reduce passes the block axes), got {func_kwargs!r}")
    return dict(func_kwargs)


def block_pads(shape: Sequence[int], block: Sequence[int]) -> tuple[int, ...]:
    """The padding at the end of each axis that makes ``shape`` a multiple of ``block``."""
    return tuple(-n % b for n, b in zip(shape, block))


def check_cval(cval: object, dtype: DTypeLike, pads: Sequence[int]) -> None:
    """Where padding is needed, check that ``np.pad`` can pad an array of ``dtype`` with ``cval`` (it converts
    ``cval`` as scikit-image's ``np.pad`` call does: -1 wraps to 255 in uint8, NaN becomes an integer with a
    warning); tried on one element, so its errors come before any work, here and on the dask path."""
    if not any(pads):
        return
    dt = np.dtype(dtype)
    if dt.kind in "fc" and (type(cval) is float or type(cval) is int and -2**63 <= cval < 2**64) or (
            dt.kind in "iu" and type(cval) is int and np.iinfo(dt).min <= cval <= np.iinfo(dt).max):
        return  # (np.pad assigns them without fail: the common cases, known without padding anything)
    one = np.zeros((1,) * len(pads), dtype=dtype)
    try:
        with np.errstate(all="ignore"):  # the real padding warns, once
            np.pad(one, [(0, min(p, 1)) for p in pads], mode="constant", constant_values=cval)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError) as e:
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"`cval` cannot pad an image of dtype {np.dtype(dtype)} (np.pad: {e}), got {cval!r}") from None


# ------------------------------------------------------------------------- arrays known by metadata only
#
# The dask path validates its arguments at the call, before anything is computed, from their shape and
# dtype alone. It hands the functions above a stand-in with the same shape and dtype that holds no data,
# so that every check and every message is the in-memory call's own.

def stand_in(shape: Iterable[int], dtype: DTypeLike) -> NDArray[Any]:
    """A read-only array of ``shape`` and ``dtype`` that holds no data (one element, zero strides).

    A non-native dtype that :func:`as_array` accepts becomes the native one (which is what
    :func:`as_array` would return, without copying the stand-in's virtual elements); a dtype that it
    rejects is kept, on an empty array, so that the same TypeError is raised without allocating anything.

    Examples
    --------
    >>> s = stand_in((4, 10**6, 10**6), ">f4")
    >>> s.shape, s.dtype, s.nbytes // 10**12
    ((4, 1000000, 1000000), dtype('float32'), 16)
    >>> prepare_pool(s, (-2, -1), 2, 2, None, 0, 1, False)[2].out
    (500000, 500000)
    """
    shape = tuple(int(n) for n in shape)
    dt = np.dtype(dtype)
    if dt not in _SUPPORTED_SET and dt.kind in "fiu" and not dt.isnative:
        native = dt.newbyteorder("=")
        if native in _SUPPORTED_SET:
            dt = native
        else:
            return np.empty((0,) * len(shape), dtype=dt)
    one = np.zeros(1, dtype=dt)
    return np.lib.stride_tricks.as_strided(one, shape=shape, strides=(0,) * len(shape), writeable=False)
