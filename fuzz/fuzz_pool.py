"""Atheris harness: differential fuzzing of stridepool's argument handling and kernels, every public function.

Every input is turned into one call of one public function (``stridepool._api.NAMES``: every operation of
``stridepool._api.OPERATIONS`` for 1, 2 and 3 pooled axes). The case builder is one function per operation
with the number of pooled axes ``nd`` as a parameter, modelled on the ``calls`` strategy of
``tests/test_fuzz_differential.py``: an array of fuzzed bytes (so NaN, inf, -0.0 and extreme integers turn
up by themselves) in a fuzzed dtype, shape, pooled axes (last, permuted, channels-last, reversed, wild) and
memory layout (C, Fortran, strided, transposed, read-only, big-endian, negative strides, nested list);
window parameters drawn from a mix of valid values and wild ones (0, negative, huge, float, bool, str,
None, tuples of the wrong length); adaptive output sizes smaller or larger than the input, with None
entries; indices that are right, stale, duplicated, out of range, of another dtype or layout; every form of
max unpooling's ``output_size``; an ``out=`` that may be right, wrong or aliased to an input; a thread count
of 1 to 3, sometimes with the parallel threshold lowered so that tiny inputs run on several threads; and
sometimes a second compiled call with the same arguments (the lean path replays a remembered plan).

The call runs on the compiled core (whatever backend is active) and on the NumPy reference. The harness
crashes (and atheris saves the input) when:

- either backend raises anything but ValueError or TypeError (IndexError from Cython's bounds checks in a
  debug/sanitizer build, SystemError, MemoryError, AssertionError, a segfault, an ASan or UBSan report...);
- the two backends disagree: one raises and the other does not, different exception types or messages, or
  results that differ in shape, dtype or any value (NaN equal to NaN; the sign of a zero counts);
- a call modifies its input, returns something other than the caller's ``out=``, or a repeated compiled
  call answers differently.

Run (see fuzz/README.md): ``python fuzz/fuzz_pool.py -max_total_time=600 fuzz/corpus``.
"""
import hashlib
import math
import os
import random
import sys
import time
import types
import warnings

import atheris

with atheris.instrument_imports(include=["stridepool"]):
    import numpy as np

    import stridepool
    from stridepool import _api, _compiled
    from stridepool import _params as P
    from stridepool import reference as R

warnings.simplefilter("ignore")  # reference's divide-by-zero / invalid warnings on 0-size or NaN data

#: the public functions bound to the compiled core, whatever the active backend
C = types.SimpleNamespace(**_api.build(_compiled, "stridepool"))
OPS = tuple(op.__name__ for op in _api.OPERATIONS)
PARALLEL_MIN_WORK = _compiled.PARALLEL_MIN_WORK

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.uint16, np.uint32, np.uint64,
          # unsupported: must be a TypeError from both
          np.bool_, np.complex64, np.object_, "U3", "M8[s]", np.longdouble]
SUPPORTED = DTYPES[:11]
#: the largest size of a pooled axis, per number of pooled axes
TOP = {1: 14, 2: 9, 3: 6}
WILD = [0, -1, -3, 2**31, 2**63, 10**30, 1.0, 2.5, True, False, None, "2", (), (1,), (1, 2), (2, 1, 2),
        (1, 2, 3, 1), ((1, 2),), np.int64(2), np.uint8(1), np.float32(2.0), np.array(2), np.array([2, 2]),
        [2, 1], [1, 2, 2], (2, None), (2, 2.0, 1), (np.int32(3),)]
WILD_PAD = WILD + ["same", "valid", "SAME", ((0, 1), (1, 0)), ((1, 1), (1,)), ((-1, 0), (0, 0)), (1, 0),
                   [[1, 0], [0, 1]], ((0, 1),), ((1, 0), (0, 1), (1, 1)), ((1, 2, 3),), ((2**31, 0),)]
WILD_AXES = [(-2, -1), (0, 1), (1, 2), (2, 1), (0, -1), (-1, -2), (1, 1), (0, 5), (-9, 0), (0,), (0, 1, 2),
             (0, 2, 1), (-1, -2, -3), (0, 0, 1), -1, 0, 7, np.int64(-1), True, None, "ab", (0.0, 1),
             (True, 1), np.array([0, 1]), [-1], []]
WILD_OUTPUT_SIZE = [0, -1, 2.0, "2", True, np.bool_(False), 2**31, 2**40, np.int64(3), np.array(2), (),
                    (2, 2, 2, 2), (0, 1, 1), (None, None, None), (2.0, 2, 2), ("2", 1, 1), (-1, None, 2)]


def pick(fdp, options):
    return options[fdp.ConsumeIntInRange(0, len(options) - 1)]


def rarely(fdp, n):
    """True about once in ``n`` (and never when the input is used up: exhausted data reads as 0)."""
    return fdp.ConsumeIntInRange(0, n - 1) == n - 1


# ------------------------------------------------------------------------------------ parameters

def sizes_arg(fdp, lo, hi, nd, wild=WILD):
    """Mostly small valid values (an int or a tuple of ``nd``), sometimes wild ones."""
    r = fdp.ConsumeIntInRange(0, 15)
    if r < 9:
        return fdp.ConsumeIntInRange(lo, hi)
    if r < 13:
        return tuple(fdp.ConsumeIntInRange(lo, hi) for _ in range(nd))
    return pick(fdp, wild)


def padding_arg(fdp, nd):
    r = fdp.ConsumeIntInRange(0, 15)
    if r < 4:
        return 0
    if r < 7:
        return fdp.ConsumeIntInRange(0, 2)
    if r < 9:
        return tuple(fdp.ConsumeIntInRange(0, 2) for _ in range(nd))
    if r < 11:
        return tuple((fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 2)) for _ in range(nd))
    if r < 13:
        return pick(fdp, ["same", "valid"])
    return pick(fdp, WILD_PAD)


def flag(fdp, wild):
    """A bool, rarely something else."""
    return pick(fdp, wild) if rarely(fdp, 16) else fdp.ConsumeBool()


def output_size_arg(fdp, nd):
    """An adaptive output size: an int or ``nd`` entries (None keeps the input size), up to larger than
    the input, or a wild value."""
    r = fdp.ConsumeIntInRange(0, 15)
    top = TOP[nd] + 4
    if r < 8:
        return fdp.ConsumeIntInRange(1, top)
    if r < 14:
        return tuple(None if rarely(fdp, 4) else fdp.ConsumeIntInRange(1, top) for _ in range(nd))
    if r < 15:
        return pick(fdp, [[2] * nd, np.array([3] * nd), (np.int64(2),) * nd, (None,) * nd])
    return pick(fdp, WILD_OUTPUT_SIZE)


def divisor_arg(fdp):
    return None if fdp.ConsumeIntInRange(0, 2) < 2 else pick(fdp, [1, 2, 3, -2, 0, 2.0, True, 2**40, np.int8(4),
                                                                 np.int64(-3), "2"])


# ------------------------------------------------------------------------------------------ arrays

def make_array(fdp, shape, dtype):
    """An array of ``shape`` and ``dtype`` with fuzzed values, in a fuzzed layout.

    The values come from a generator seeded by the input (plain, ties, specials or extremes, as in the
    hypothesis fuzz; a short input still gives varied values) or, one time in five, from the input's bytes
    themselves (any bit pattern: NaN payloads, subnormals, -0.0).
    """
    dt = np.dtype(dtype)
    n = math.prod(shape)
    mode = fdp.ConsumeIntInRange(0, 4)
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**32 - 1))
    if dt.kind == "O":
        a = np.array(rng.integers(-5, 6, n).tolist(), dtype=object).reshape(shape)
    elif dt.kind in "US":
        a = np.full(shape, "ab", dtype=dt)
    elif dt.kind == "M":
        a = np.zeros(shape, dtype=dt)
    elif dt.kind == "b":
        a = rng.integers(0, 2, n).astype(bool).reshape(shape)
    elif dt.kind == "c":
        a = (rng.standard_normal(n) + 1j).astype(dt).reshape(shape)
    elif mode == 4:  # raw bytes
        raw = fdp.ConsumeBytes(n * dt.itemsize)
        a = np.frombuffer(raw + bytes(n * dt.itemsize - len(raw)), dtype=dt).reshape(shape).copy()
    elif dt.kind == "f":
        a = rng.integers(-2, 3, n).astype(dt) if mode == 1 else (rng.standard_normal(n) * 50).astype(dt)
        if mode >= 2 and n:  # NaN, inf, -0.0, the largest values sprinkled in
            k = rng.integers(0, n, max(1, n // 5))
            a[k] = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, np.finfo(dt).max, -np.finfo(dt).max,
                                        np.finfo(dt).tiny], dt), k.size)
        a = a.reshape(shape)
    else:
        info = np.iinfo(dt)
        if mode == 1:
            a = rng.integers(0, 3, n).astype(dt)
        elif mode >= 2:
            a = rng.choice(np.array([info.min, info.max, 0, 1, info.max - 1], dtype=dt), n)
        else:
            a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        a = a.reshape(shape)
    return layout(fdp, a)


def layout(fdp, a):
    """The same values as ``a`` in a fuzzed memory layout (or as a nested list)."""
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 1:
        a = np.asfortranarray(a)
    elif kind == 2 and a.ndim:  # strided: every other element of a bigger buffer
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        a = big[..., ::2]
    elif kind == 3:  # same logical array, reversed memory order of axes
        a = np.ascontiguousarray(a.T).T
    elif kind == 4:
        a = a.copy()
        a.flags.writeable = False
    elif kind == 5 and a.dtype.kind in "fiu" and a.dtype.itemsize > 1:
        a = a.astype(a.dtype.newbyteorder(">" if a.dtype.byteorder in "=<" else "<"))
    elif kind == 6 and a.dtype.kind in "fiu" and a.size < 200:
        return a.tolist() if a.ndim else a
    elif kind == 7 and a.ndim:  # a negative-stride view
        a = a[..., ::-1].copy()[..., ::-1]
    return a


def dtype_of(a):
    """The dtype a backend sees for ``a`` (a nested list becomes an array)."""
    try:
        return np.asarray(a).dtype
    except (ValueError, TypeError):
        return None


def avg_dtype(dt):
    return P.result_dtype_avg(dt) if dt is not None and dt.kind in "fiu" else dt


def out_arg(fdp, shape, dtype, inputs):
    """None, or an ``out=`` that is right, of the wrong dtype or shape, aliased to an input, or not an array."""
    r = fdp.ConsumeIntInRange(0, 9)
    if r < 5 or shape is None or dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
        if r == 5:  # right (and full of sevens: every element must be written)
            return np.full(shape, 7, dtype=dt)
        if r == 6:  # right shape, wrong dtype
            return np.zeros(shape, dtype=np.float32 if dt != np.float32 else np.float64)
        if r == 7:  # wrong shape
            return np.zeros(tuple(shape) + (1,), dtype=dt)
        if r == 8:  # aliases an input (when one fits), else a Fortran-ordered right one
            for a in inputs:
                if isinstance(a, np.ndarray) and a.shape == tuple(shape) and a.dtype == dt and a.flags.writeable:
                    return a
            return np.asfortranarray(np.zeros(shape, dtype=dt))
        z = np.zeros(shape, dtype=dt)
        return pick(fdp, [[0.0], "out", z[..., ::-1] if z.ndim else z, z.T.copy().T, _readonly(z.copy())])
    except (ValueError, TypeError, MemoryError):  # a shape or dtype no array can have
        return None


def _readonly(a):
    a.flags.writeable = False
    return a


# ------------------------------------------------------------------------------- shapes and axes

class Common:
    """What every case draws first: dtype, the input shape with its pooled axes, the window parameters."""

    def __init__(self, fdp, nd):
        self.nd = nd
        self.dtype = pick(fdp, DTYPES if rarely(fdp, 4) else SUPPORTED)
        lead = tuple(fdp.ConsumeIntInRange(0, 3) for _ in range(fdp.ConsumeIntInRange(0, 2)))
        sizes = tuple(0 if rarely(fdp, 12) else fdp.ConsumeIntInRange(1, TOP[nd]) for _ in range(nd))
        ndim = len(lead) + nd
        self.axes = axes_arg(fdp, ndim, nd)
        self.shape = place(lead, sizes, self.axes)
        self.pass_axes = not (type(self.axes) is tuple and self.axes == _api.AXES[nd]) or fdp.ConsumeBool()
        self.k = sizes_arg(fdp, 1, 4 if nd < 3 else 3, nd)
        self.s = None if rarely(fdp, 4) else sizes_arg(fdp, 1, 3, nd)
        self.p = padding_arg(fdp, nd)
        self.d = sizes_arg(fdp, 1, 3, nd) if rarely(fdp, 4) else 1
        self.ceil = flag(fdp, [1, 0, None, "yes", np.bool_(True)])

    def kw(self):
        return {"axes": self.axes} if self.pass_axes else {}

    def ax(self, shape=None):
        """The normalised pooled axes for ``shape`` (the input's by default), or None if invalid."""
        shape = self.shape if shape is None else shape
        try:
            return P.normalize_axes(self.axes, len(shape), self.nd)
        except (ValueError, TypeError):
            return None

    def pooled(self, dilation=1):
        """The shape max/avg pooling gives for this input with these parameters, or None if invalid."""
        ax = self.ax()
        try:
            g = P.geometry(P.sizes_at(self.shape, ax), self.k, self.s, self.p, dilation, self.ceil)
            return P.pooled_shape(self.shape, ax, g.out)
        except (ValueError, TypeError):
            return None

    def adaptive(self, output_size):
        """The shape adaptive pooling to ``output_size`` gives, or None if invalid."""
        ax = self.ax()
        try:
            return P.pooled_shape(self.shape, ax, P.adaptive_geometry(P.sizes_at(self.shape, ax), output_size).out)
        except (ValueError, TypeError):
            return None


def axes_arg(fdp, ndim, nd):
    """The pooled axes: mostly the last ``nd``, else distinct axes (consecutive or in any order), or wild."""
    r = fdp.ConsumeIntInRange(0, 15)
    if r == 15:
        return pick(fdp, WILD_AXES)
    if r < 8:
        return _api.AXES[nd]
    if r < 11:  # consecutive axes, maybe followed by others (channels-last)
        start = fdp.ConsumeIntInRange(0, ndim - nd)
        ax = list(range(start, start + nd))
    else:  # any distinct axes in any order (reversed, apart)
        free = list(range(ndim))
        ax = [free.pop(fdp.ConsumeIntInRange(0, len(free) - 1)) for _ in range(nd)]
    ax = [a - ndim if fdp.ConsumeBool() else a for a in ax]
    if nd == 1 and fdp.ConsumeBool():
        return ax[0]  # a bare int
    return tuple(ax)


def place(lead, sizes, axes):
    """The shape whose ``axes`` hold ``sizes`` and whose other axes hold ``lead``, in order."""
    ndim = len(lead) + len(sizes)
    try:
        ax = P.normalize_axes(axes, ndim, len(sizes))
    except (ValueError, TypeError):
        return lead + sizes
    shape = [None] * ndim
    for a, n in zip(ax, sizes):
        shape[a] = n
    it = iter(lead)
    return tuple(next(it) if v is None else v for v in shape)


def bad_shape(fdp, shape):
    """A wrong ``input_shape``."""
    shape = tuple(shape)
    return pick(fdp, [shape[:-1], shape + (1,), (-1,) + shape[1:], "abc", None, (2**62,) * len(shape),
                      tuple(float(v) for v in shape), (True,) + shape[1:], list(shape), np.array(shape, np.int64),
                      (np.int32(1),) + shape[1:]])


def indices_arg(fdp, idx, plane):
    """Flat indices into pooled extents of ``plane`` elements: ``idx`` as they are (from a pooling), or
    stale, duplicated, out of range, of another dtype or in another layout."""
    r = fdp.ConsumeIntInRange(0, 15)
    if r < 8:
        return idx
    idx = idx.copy()
    if r < 10 and idx.size:  # one entry out of range
        idx.flat[fdp.ConsumeIntInRange(0, idx.size - 1)] = pick(
            fdp, [-1, -2, plane, plane + 1, 2**31, 2**62, 10**9, -(2**63), 2**63 - 1])
    elif r < 12 and idx.size and plane:  # in range but not where any maximum was
        idx = np.array(fdp.ConsumeIntListInRange(idx.size, 0, plane - 1), np.int64).reshape(idx.shape)
    elif r < 13 and idx.size and plane:  # duplicates: every index the same, or only a few values
        if fdp.ConsumeBool():
            idx[...] = fdp.ConsumeIntInRange(0, plane - 1)
        else:
            idx %= min(plane, fdp.ConsumeIntInRange(1, 3))
    elif r < 14:
        idx = idx.astype(pick(fdp, [np.int32, np.int16, np.uint8, np.uint64, ">i8", "<i4", np.float64, np.bool_,
                                    np.object_, np.complex64]))
    else:
        idx = layout(fdp, idx)
    return idx


def max_indices(fdp, c, adaptive=False):
    """The indices a max pooling (or an adaptive one) of an input of ``c.shape`` gives; zeros of the batch
    shape if the parameters are invalid."""
    x = make_array(fdp, c.shape, c.dtype if np.dtype(c.dtype).kind in "fiu" else np.float64)
    try:
        if adaptive:
            _, idx = getattr(R, f"adaptive_max_pool{c.nd}d")(x, output_size_arg(fdp, c.nd), True, axes=c.axes)
        else:
            _, idx = getattr(R, f"max_pool{c.nd}d")(x, c.k, c.s, c.p, c.d, c.ceil, True, axes=c.axes)
    except (ValueError, TypeError):
        ax = c.ax()
        idx = np.zeros(c.shape if ax is None else P.pooled_shape(c.shape, ax, (1,) * c.nd), np.int64)
    return np.asarray(idx)


# ------------------------------------------------------------------------- one builder per operation
#
# Each takes the FuzzedDataProvider, the number of pooled axes and the Common draws, and returns
# ``(args, kwargs, inputs)``: the inputs are the arrays the call must leave as they were.

def case_max_pool(fdp, nd, c):
    x = make_array(fdp, c.shape, c.dtype)
    ri = flag(fdp, [1, "no", None])
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.pooled(c.d), dtype_of(x), [x])
    return (x, c.k, c.s, c.p, c.d, c.ceil, ri), kw, [x]


def case_avg_pool(fdp, nd, c):
    x = make_array(fdp, c.shape, c.dtype)
    cip = flag(fdp, [1, None])
    div = divisor_arg(fdp)
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.pooled(), avg_dtype(dtype_of(x)), [x])
    return (x, c.k, c.s, c.p, c.ceil, cip, div), kw, [x]


def case_unfold(fdp, nd, c):
    x = make_array(fdp, c.shape, c.dtype)
    return (x, c.k, 1 if c.s is None else c.s, c.p, c.d), c.kw(), [x]


def case_max_pool_backward(fdp, nd, c):
    idx = max_indices(fdp, c, adaptive=fdp.ConsumeBool())
    ax = c.ax()
    idx = indices_arg(fdp, idx, math.prod(P.sizes_at(c.shape, ax)) if ax else 1)
    g = make_array(fdp, np.shape(idx), pick(fdp, DTYPES) if rarely(fdp, 5) else c.dtype)
    in_shape = bad_shape(fdp, c.shape) if rarely(fdp, 10) else c.shape
    kw = c.kw()
    kw["out"] = out_arg(fdp, in_shape if isinstance(in_shape, tuple) else None, dtype_of(g), [g, idx])
    return (g, idx, in_shape), kw, [g, idx]


def case_avg_pool_backward(fdp, nd, c):
    like = c.pooled() or c.shape
    if rarely(fdp, 10):
        like = tuple(like) + (1,)
    g = make_array(fdp, like, c.dtype)
    cip = flag(fdp, [1, None])
    div = divisor_arg(fdp)
    in_shape = bad_shape(fdp, c.shape) if rarely(fdp, 16) else c.shape
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.shape, avg_dtype(dtype_of(g)), [g])
    return (g, in_shape, c.k, c.s, c.p, c.ceil, cip, div), kw, [g]


def case_adaptive_max_pool(fdp, nd, c):
    x = make_array(fdp, c.shape, c.dtype)
    osz = output_size_arg(fdp, nd)
    ri = flag(fdp, [1, "no", None])
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.adaptive(osz), dtype_of(x), [x])
    return (x, osz, ri), kw, [x]


def case_adaptive_avg_pool(fdp, nd, c):
    x = make_array(fdp, c.shape, c.dtype)
    osz = output_size_arg(fdp, nd)
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.adaptive(osz), avg_dtype(dtype_of(x)), [x])
    return (x, osz), kw, [x]


def case_adaptive_avg_pool_backward(fdp, nd, c):
    like = c.adaptive(output_size_arg(fdp, nd)) or c.shape
    if rarely(fdp, 10):
        ax = c.ax() or tuple(range(len(like) - nd, len(like)))
        like = pick(fdp, [tuple(like) + (1,), tuple(like)[:-1], P.pooled_shape(like, ax, (0,) * nd),
                          tuple(n + 1 for n in like)])
    g = make_array(fdp, like, c.dtype)
    in_shape = bad_shape(fdp, c.shape) if rarely(fdp, 16) else c.shape
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.shape, avg_dtype(dtype_of(g)), [g])
    return (g, in_shape), kw, [g]


def case_max_unpool(fdp, nd, c):
    """Unpool the maxima of an input of ``c.shape``: the values, their indices and the pooling's window
    parameters, with ``output_size`` in every form (None, pooled sizes, whole shape, list, array, off the
    default by less than the stride or not, wrong length, wild)."""
    idx = max_indices(fdp, c)
    p = 0 if isinstance(c.p, str) and c.p == "same" and not rarely(fdp, 4) else c.p
    ax = c.ax(np.shape(idx))
    try:  # the default output shape, as the function computes it
        default = P.unpool_args(np.zeros(idx.shape), idx, c.k, c.s, p, None, c.axes, nd)[2]
    except (ValueError, TypeError):
        default = None
    r = fdp.ConsumeIntInRange(0, 9)
    osz = None
    if ax is not None and r > 0:
        want = default if default is not None and r >= 5 else c.shape
        sizes = P.sizes_at(want, ax)
        if r in (3, 4, 7) and default is not None:  # off the default by up to the stride (valid below it)
            s = P.as_tuple(c.k if c.s is None else c.s, "stride", nd)
            sizes = tuple(n + fdp.ConsumeIntInRange(-si, si) for n, si in zip(P.sizes_at(default, ax), s))
            want = P.pooled_shape(want, ax, sizes)
        osz = pick(fdp, [sizes, want, list(sizes), np.array(sizes), tuple(np.int64(v) for v in sizes)])
        if r == 9:
            osz = pick(fdp, [sizes[:-1], sizes + (1,), tuple(want) + (1,), (0,) * nd, (-1,) * nd,
                             tuple(float(v) for v in sizes), "ab", 3, (2**62,) * nd, (None,) * nd,
                             P.pooled_shape(tuple(n + 1 for n in want), ax, sizes)])
    try:
        shape = P.unpool_args(np.zeros(idx.shape), idx, c.k, c.s, p, osz, c.axes, nd)[2]
    except (ValueError, TypeError):
        shape = None
    plane = math.prod(P.sizes_at(shape, ax)) if shape is not None and ax else 1
    idx = indices_arg(fdp, idx, plane)
    x = make_array(fdp, np.shape(idx), c.dtype)
    kw = c.kw()
    kw["out"] = out_arg(fdp, shape, dtype_of(x), [x, idx])
    return (x, idx, c.k, c.s, p, osz), kw, [x, idx]


def case_fold(fdp, nd, c):
    """Windows of the input's shape (as unfold gives them, or of a wrong shape) folded back."""
    s = 1 if c.s is None else c.s
    ax = c.ax()
    try:
        g = P.geometry(P.sizes_at(c.shape, ax), c.k, s, c.p, c.d, False, pooling=False)
        like = P.pooled_shape(c.shape, ax, g.out) + g.kernel
    except (ValueError, TypeError):
        like = tuple(c.shape) + (2,) * nd
    if rarely(fdp, 10):
        like = pick(fdp, [like[:-1], like + (1,), like[:-nd] + (0,) * nd, like[:-nd - 1] + (like[-nd - 1] + 1,)
                          + like[-nd:], like[:-nd] + (1,) * nd])
    w = make_array(fdp, like, c.dtype)
    in_shape = bad_shape(fdp, c.shape) if rarely(fdp, 16) else c.shape
    kw = c.kw()
    kw["out"] = out_arg(fdp, c.shape, dtype_of(w), [w])
    return (w, in_shape, s, c.p, c.d), kw, [w]


BLOCK_FUNCS = [np.max, np.min, np.sum, np.mean, np.median, np.nanmax, np.nanmin, np.nansum, np.nanmean, np.amax,
               np.amin, np.ndarray.max, np.ndarray.mean, np.maximum.reduce, np.minimum.reduce, np.add.reduce, np.std,
               np.ptp, np.any, np.prod, lambda b, axis: np.percentile(b, 30, axis=axis), "max", None]
WILD_CVAL = [0, 1, -1, 1.5, -0.0, np.nan, np.inf, -np.inf, 300, 2**63, 10**30, "a", None, True, 1j, [1, 2],
             [[1, 2], [3, 4]], np.float32(2.5), np.int8(-3), np.array(4)]
WILD_KWARGS = [None, {}, {"keepdims": True}, {"dtype": np.float32}, {"axis": 0}, [("dtype", float)], {1: 2}, 3]


def case_block_reduce(fdp, nd, c):
    """block_reduce over any number of axes: an image of 0 to 4 dimensions (the Common shape, or another),
    masked sometimes, a block size per axis or for all (1 to longer than the axis, or wild), a function with a
    fast path (or another spelling of one), without one, or not a function; cval and func_kwargs valid or
    wild."""
    shape = c.shape if fdp.ConsumeBool() else tuple(fdp.ConsumeIntInRange(0 if rarely(fdp, 10) else 1, 9)
                                                   for _ in range(fdp.ConsumeIntInRange(0, 4)))
    image = make_array(fdp, shape, c.dtype)
    if rarely(fdp, 6) and isinstance(image, np.ndarray) and image.dtype.kind in "fiub":
        image = np.ma.MaskedArray(image, mask=make_array(fdp, image.shape, np.bool_).astype(bool))
    ndim = np.ndim(image)
    r = fdp.ConsumeIntInRange(0, 9)
    if r < 5:
        block = fdp.ConsumeIntInRange(1, 4)
    elif r < 8:
        block = tuple(fdp.ConsumeIntInRange(1, 5) for _ in range(ndim))
    else:
        block = pick(fdp, WILD + [list(range(1, ndim + 1)), np.array([2] * ndim)])
    func = pick(fdp, BLOCK_FUNCS)
    cval = pick(fdp, WILD_CVAL) if rarely(fdp, 3) else fdp.ConsumeIntInRange(-2, 2)
    kwargs = pick(fdp, WILD_KWARGS) if rarely(fdp, 5) else None
    inputs = [image] if isinstance(image, np.ndarray) else []
    return (image, block, func, cval, kwargs), {}, inputs


BUILDERS = {name[len("case_"):]: f for name, f in list(globals().items()) if name.startswith("case_")}
#: the operations with 1, 2 or 3 pooled axes, and block_reduce (any number of axes)
CASES = OPS + tuple(_api.ANY_AXES)
assert set(BUILDERS) == set(CASES), f"operations without a case builder: {set(CASES) - set(BUILDERS)}"


def build_case(fdp):
    """Return ``(function name, args, kwargs, inputs to check unchanged)``."""
    op = pick(fdp, CASES)
    nd = fdp.ConsumeIntInRange(1, 3)
    args, kw, inputs = BUILDERS[op](fdp, nd, Common(fdp, nd))
    if kw.get("out") is None:
        kw.pop("out", None)
    return (op if op in _api.ANY_AXES else _api.public_name(op, nd)), args, kw, inputs


# ------------------------------------------------------------------------------------------ checks

def call(mod, fn, args, kw):
    try:
        return "ok", getattr(mod, fn)(*args, **kw)
    except (ValueError, TypeError) as e:
        return "err", (type(e), str(e))
    except BaseException as e:
        if fn in _api.ANY_AXES and not isinstance(e, (MemoryError, SystemError, AssertionError)):
            return "err", (type(e), str(e))  # what a user's func raises: block_reduce passes it on, as NumPy
        raise


def same_array(a, b):
    """Same shape, dtype and values (NaN equals NaN; +0.0 and -0.0 differ); same mask for masked arrays."""
    if np.ma.isMaskedArray(a) or np.ma.isMaskedArray(b):
        if not (np.ma.isMaskedArray(a) and np.ma.isMaskedArray(b)
                and np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))):
            return False
        a, b = np.ma.getdata(a), np.ma.getdata(b)
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "mMUSV":  # (NaT is not equal to itself)
        return a.tobytes() == b.tobytes()
    if a.dtype == object:
        return all(x == y or x != x and y != y for x, y in zip(a.ravel(), b.ravel()))
    if a.dtype.kind in "fc":
        nan = np.isnan(a)
        return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan], b[~nan])
                    and np.array_equal(np.signbit(a[~nan].real), np.signbit(b[~nan].real)))
    return bool(np.array_equal(a, b))


def copies(args, kw, inputs):
    """Independent copies of the input arrays and of ``out`` (an ``out`` aliased to an input stays so)."""
    new = {}
    for a in inputs:
        if isinstance(a, np.ndarray):
            b = np.array(a, copy=True)  # (the same memory layout: NumPy's float sums depend on it)
            if np.ma.isMaskedArray(a):
                b = np.ma.MaskedArray(b, mask=np.array(np.ma.getmaskarray(a), copy=True))
            b.flags.writeable = a.flags.writeable
            new[id(a)] = b
    args2 = tuple(new.get(id(a), a) for a in args)
    kw2 = dict(kw)
    out = kw.get("out")
    if isinstance(out, np.ndarray):
        kw2["out"] = new[id(out)] if id(out) in new else _copy_like(out)
    return args2, kw2, [new.get(id(a), a) for a in inputs]


def _copy_like(a):
    b = a.copy(order="K")
    b.flags.writeable = a.flags.writeable
    return b


def results(outcome):
    return outcome[1] if isinstance(outcome[1], tuple) else (outcome[1],)


def check_same(fn, what, c, r):
    if c[0] != r[0]:
        raise AssertionError(f"{fn}: {what}: compiled {c[0]} {c[1] if c[0] == 'err' else ''} but reference "
                             f"{r[0]} {r[1] if r[0] == 'err' else ''}")
    if c[0] == "err":
        assert c[1] == r[1], f"{fn}: {what}: errors differ: compiled {c[1]!r}, reference {r[1]!r}"
        return
    cres, rres = results(c), results(r)
    assert len(cres) == len(rres), f"{fn}: {what}: {len(cres)} results against {len(rres)}"
    for a, b in zip(cres, rres):
        assert same_array(a, b), f"{fn}: {what}: results differ\ncompiled {a!r}\nreference {b!r}"


def check_unchanged(fn, who, inputs, before):
    for a, b in zip(inputs, before):
        if b is not None:
            assert same_array(a, b), f"{fn}: the {who} call modified its input"


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    stridepool.set_num_threads(fdp.ConsumeIntInRange(1, 3))
    # tiny inputs run on several threads too when the threshold is 0
    _compiled.PARALLEL_MIN_WORK = 0 if rarely(fdp, 3) else PARALLEL_MIN_WORK
    repeat = rarely(fdp, 4)
    fn, args, kw, inputs = build_case(fdp)
    aliased = any(kw.get("out") is a for a in inputs)

    # the compiled core gets the arrays as drawn (their layouts); the reference and a repeat get copies
    r_args, r_kw, r_inputs = copies(args, kw, inputs)
    # (a repeat replays the lean path's plans; block_reduce's NumPy path may round by memory layout)
    again = copies(args, kw, inputs) if repeat and fn not in _api.ANY_AXES else None
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in inputs]  # (masked arrays keep masks)

    if again is not None:  # C-contiguous copies first: that call may remember a plan the next one replays
        first = call(C, fn, again[0], again[1])
    c = call(C, fn, args, kw)
    if not aliased:
        check_unchanged(fn, "compiled", inputs, before)
    if again is not None:
        check_same(fn, "a repeated compiled call", c, first)
    r = call(R, fn, r_args, r_kw)
    if not aliased:
        check_unchanged(fn, "reference", r_inputs, before)

    check_same(fn, "compiled vs reference", c, r)
    if c[0] == "ok" and "out" in kw:
        assert results(c)[0] is kw["out"], f"{fn}: did not return `out`"


# ---------------------------------------------------------------------------------- mutation mode

def mutation_loop(seconds, corpus_dirs, seed=None):
    """Fuzz without libFuzzer: mutate the corpus at random and run each input; for sanitizer builds.

    gcc's libasan exports the coverage callbacks atheris wants, so under LD_PRELOAD=libasan libFuzzer gets no
    coverage and shrinks the corpus to one byte. This loop instead keeps mutating a corpus grown by a
    coverage-guided run of the plain build: byte flips, inserts, deletes, splices and appends.
    """
    rng = random.Random(seed)
    seeds = []
    for d in corpus_dirs:
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                seeds.append(f.read())
    seeds = seeds or [b"\x00" * 16]
    print(f"mutation loop: {os.path.dirname(_compiled.__file__)}, {_compiled.KERNELS} kernels, {len(seeds)} seeds",
          flush=True)
    start = time.monotonic()
    for data in seeds:  # every corpus input as it is, first
        run_saving(data, 0)
    n = len(seeds)
    print(f"mutation loop: replayed {n} corpus inputs in {time.monotonic() - start:.0f} s", flush=True)
    while time.monotonic() - start < seconds:
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op = rng.randrange(5)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1:
                data.insert(rng.randrange(len(data) + 1), rng.choice([0, 1, 255, 127, 128, rng.randrange(256)]))
            elif op == 2 and data:
                del data[rng.randrange(len(data))]
            elif op == 3:
                other = rng.choice(seeds)
                cut = rng.randrange(len(data) + 1)
                data = data[:cut] + other[rng.randrange(len(other) + 1):]
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        run_saving(bytes(data), n)
        n += 1
        if n % 20000 == 0:
            print(f"mutation loop: {n} executions, {time.monotonic() - start:.0f} s", flush=True)
    print(f"mutation loop: {n} executions in {time.monotonic() - start:.0f} s without a crash", flush=True)


#: the input being run in mutation mode, rewritten before every run: a sanitizer abort leaves it behind
LAST_INPUT = "fuzz-last-input"
_last = None


def run_saving(data, n):
    """``TestOneInput(data)``, with ``data`` in :data:`LAST_INPUT` during the run; on a Python failure it is
    also saved as ``crash-<sha1>``."""
    global _last
    if _last is None:
        _last = open(LAST_INPUT, "wb")
    _last.seek(0)
    _last.truncate()
    _last.write(data)
    _last.flush()
    try:
        TestOneInput(data)
    except BaseException:
        name = "crash-" + hashlib.sha1(data).hexdigest()
        with open(name, "wb") as f:
            f.write(data)
        print(f"mutation loop: crash after {n} executions, input saved to {name}", flush=True)
        raise


def main():
    if os.environ.get("FUZZ_MUTATION_SECONDS"):  # no libFuzzer: see mutation_loop
        dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
        mutation_loop(float(os.environ["FUZZ_MUTATION_SECONDS"]), dirs)
        return
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
