"""Differential fuzzing: random shapes, geometries, dtypes, layouts and bad arguments through the compiled
backend and the reference, which must give identical answers (bit for bit, dtype included) or identical
errors (type and message).

Marked slow. The number of examples comes from a hypothesis settings profile chosen with the environment
variable ``HYPOTHESIS_PROFILE``: ``ci`` (default; bounded so the file runs in well under two minutes),
``dev`` (a quick look) or ``long`` (thousands of examples per test, for a soak run)::

    HYPOTHESIS_PROFILE=long python -m pytest -m slow tests/test_fuzz_differential.py

The profiles are applied to these tests only (no global ``load_profile``).
"""
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import stridepool as sp
from stridepool import _params as P
from stridepool import reference as R

from cases import compiled_functions

C = compiled_functions()  # None without the extension: nothing to compare

pytestmark = [pytest.mark.slow, pytest.mark.skipif(C is None, reason="the compiled extension is not built")]

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much], derandomize=False)
settings.register_profile("sp-ci", max_examples=150, **_COMMON)
settings.register_profile("sp-dev", max_examples=60, **_COMMON)
settings.register_profile("sp-long", max_examples=5000, **_COMMON)
_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = settings.get_profile("sp-" + (_NAME if _NAME in ("ci", "dev", "long") else "ci"))

SUPPORTED = ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
             "uint8", "uint16", "uint32", "uint64"]
UNSUPPORTED = ["bool", "complex64", "complex128", "object", "U2", "M8[s]"]
FUNCS = list(sp._api.NAMES)  # every public function, 1D, 2D and 3D


# ------------------------------------------------------------------------------------------ strategies

def ints_or_tuples(lo, hi, nd):
    return st.one_of(st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * nd))


WILD = st.sampled_from([0, -1, 2**31, 10**20, 1.5, True, None, "2", (1, 2, 3), (2,), (2, 2), np.int64(2), [2, 1]])


def padding(nd):
    pair = st.tuples(st.integers(0, 2), st.integers(0, 2))
    return st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 2)] * nd), st.tuples(*[pair] * nd),
                     st.sampled_from(["same", "valid"]))


def rarely(n):
    """True about once in ``n`` draws (hypothesis favours the ends of an integer range, not a list's last entry)."""
    return st.sampled_from([False] * (n - 1) + [True])


def sometimes_wild(strategy, wild=WILD, p_wild=8):
    """Mostly ``strategy``, about one in ``p_wild`` a wild value."""
    return rarely(p_wild).flatmap(lambda r: wild if r else strategy)


@st.composite
def values(draw, shape, dtype):
    """Data with ties, NaN/inf/-0.0 and integer extremes in it."""
    dt = np.dtype(dtype)
    seed = draw(st.integers(0, 2**32 - 1))
    mode = draw(st.sampled_from(["normal", "ties", "specials", "extremes", "nan-heavy"]))
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "f":
        if mode == "ties":
            a = rng.integers(-2, 3, n).astype(dt)
        else:
            a = (rng.standard_normal(n) * 50).astype(dt)
        if mode in ("specials", "extremes") and n:
            k = rng.integers(0, n, max(1, n // 5))
            a[k] = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0, np.finfo(dt).max, -np.finfo(dt).max], dt),
                              k.size)
        if mode == "nan-heavy" and n:  # windows of NaN only (nan_policy="omit"), infinities beside NaN
            a[rng.random(n) < 0.6] = np.nan
            a[rng.integers(0, n, max(1, n // 8))] = rng.choice(np.array([np.inf, -np.inf, -0.0], dt))
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        if mode == "extremes":
            a = rng.choice(np.array([info.min, info.max, 0, 1, info.max - 1], dtype=dt), n)
        elif mode == "ties":
            a = rng.integers(0, 3, n).astype(dt)
        else:
            a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    elif dt.kind == "O":
        a = np.array([1] * n, dtype=object)
    elif dt.kind == "b":
        a = rng.integers(0, 2, n).astype(bool)
    elif dt.kind == "c":
        a = (rng.standard_normal(n) + 1j).astype(dt)
    else:
        a = np.zeros(n, dtype=dt)
    return a.reshape(shape)


@st.composite
def layout(draw, a):
    """The same values in another memory layout, or as a nested list."""
    kind = draw(st.sampled_from(["c", "c", "fortran", "strided", "reversed", "readonly", "byteswap", "list",
                                 "negstride"]))
    note(f"layout {kind}")
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided" and a.ndim:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if kind == "reversed":
        return np.ascontiguousarray(a.T).T
    if kind == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if kind == "byteswap" and a.dtype.kind in "fiu" and a.dtype.itemsize > 1:
        return a.astype(a.dtype.newbyteorder("S"))
    if kind == "list" and a.dtype.kind in "fiu" and 0 < a.size <= 300 and a.dtype != np.float16:
        return a.tolist()
    if kind == "negstride" and a.ndim:
        return a[..., ::-1].copy()[..., ::-1]
    return a


@st.composite
def geometry_args(draw, nd):
    k = draw(sometimes_wild(ints_or_tuples(1, 4 if nd < 3 else 3, nd)))
    s = draw(st.one_of(st.none(), sometimes_wild(ints_or_tuples(1, 3, nd))))
    p = draw(sometimes_wild(padding(nd), wild=st.sampled_from([-1, 1.5, "SAME", ((1,), (1, 1)), 2**40, True])))
    d = draw(rarely(3).flatmap(lambda r: sometimes_wild(ints_or_tuples(1, 3, nd)) if r else st.just(1)))
    ceil = draw(sometimes_wild(st.booleans(), wild=st.sampled_from([1, None]), p_wild=10))
    return k, s, p, d, ceil


@st.composite
def pooled_shape(draw, nd):
    """A shape whose last ``nd`` entries are pooled, maybe permuted (then ``axes`` say where they went)."""
    lead = draw(st.lists(st.integers(0, 3), max_size=2))
    top = {1: 14, 2: 9, 3: 7}[nd]
    sizes = [0 if draw(rarely(12)) else draw(st.sampled_from(range(1, top + 1))) for _ in range(nd)]
    shape = tuple(lead) + tuple(sizes)
    ndim = len(shape)
    if draw(rarely(3)) and ndim > nd:
        perm = draw(st.permutations(range(ndim)))
        # the array is `shape` permuted; the pooled axes were the last nd entries
        axes = tuple(perm.index(ndim - nd + i) for i in range(nd))
        shape = tuple(shape[i] for i in perm)
        if draw(st.booleans()):
            axes = (axes[0] - ndim,) + axes[1:]
    else:
        axes = tuple(range(-nd, 0))
    if draw(rarely(25)):
        axes = draw(st.sampled_from([(0, 0), (0, 9), (-9, 0), (0,), None, (0.0, 1), (0, 1, 2), 7]))
    return shape, axes


def out_like(draw, shape, dtype, inputs):
    """None, a right ``out=``, a wrong one, or an input that fits (aliasing)."""
    choice = draw(st.sampled_from(["none", "none", "none", "right", "fortran", "wrong-dtype", "wrong-shape",
                                   "alias"]))
    if choice == "none" or shape is None or dtype is None:
        return None
    try:
        if choice == "right":
            return np.full(shape, 3, dtype=dtype)
        if choice == "fortran":
            return np.asfortranarray(np.zeros(shape, dtype=dtype))
        if choice == "wrong-dtype":
            return np.zeros(shape, dtype=np.float32 if np.dtype(dtype) != np.float32 else np.float64)
        if choice == "wrong-shape":
            return np.zeros(tuple(shape) + (1,), dtype=dtype)
        for a in inputs:
            if isinstance(a, np.ndarray) and a.shape == tuple(shape) and a.dtype == dtype and a.flags.writeable:
                return a
    except (TypeError, ValueError):
        return None
    return None


def _pooled_shape(shape, axes, k, s, p, d, ceil, nd):
    try:
        ax = P.normalize_axes(axes, len(shape), nd)
        g = P.geometry(P.sizes_at(shape, ax), k, s, p, d, ceil)
        return P.pooled_shape(shape, ax, g.out)
    except (TypeError, ValueError):
        return None


def _op_nd(fn):
    """``"max_pool2d_backward"`` -> ``("max_pool_backward", 2)``."""
    import re

    m = re.fullmatch(r"(\w+?)([123])d(_backward)?", fn)
    return m.group(1) + (m.group(3) or ""), int(m.group(2))


def _ref(op, nd):
    return getattr(R, sp._api.public_name(op, nd))


def _quiet(f, *args, **kwargs):
    """``f(...)``, or None when it raises (a geometry without windows, ...)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return f(*args, **kwargs)
    except (TypeError, ValueError):
        return None


#: nan_policy: mostly left out (None) or a valid value, sometimes a wrong one
NAN_POLICY = sometimes_wild(st.sampled_from(["omit", None, "omit", "propagate"]),
                            wild=st.sampled_from(["raise", "OMIT", 0, b"omit"]), p_wild=10)


def with_nan_policy(draw, kw):
    """``kw`` with a drawn ``nan_policy`` (None: left out, the default); returns the policy drawn."""
    policy = draw(NAN_POLICY)
    if policy is not None:
        kw["nan_policy"] = policy
    return policy


OUTPUT_SIZE = st.one_of(st.integers(1, 8), st.integers(1, 8), st.sampled_from([0, -1, 2.0, "2", True, 2**40]))


@st.composite
def calls(draw, fn):
    """``(args, kwargs, inputs)`` for one call of ``fn``."""
    op, nd = _op_nd(fn)
    dtype = draw(st.one_of(st.sampled_from(SUPPORTED), st.sampled_from(SUPPORTED),
                           st.sampled_from(SUPPORTED), st.sampled_from(UNSUPPORTED)))
    shape, axes = draw(pooled_shape(nd))
    k, s, p, d, ceil = draw(geometry_args(nd))
    kw = {"axes": axes}
    sp.set_num_threads(draw(st.integers(1, 3)))
    note(f"{fn} dtype={dtype} shape={shape} axes={axes} k={k!r} s={s!r} p={p!r} d={d!r} ceil={ceil!r}")
    numeric = np.dtype(dtype).kind in "fiu"
    rdt = P.result_dtype_avg(np.dtype(dtype)) if numeric else None
    if op in ("max_pool", "min_pool", "avg_pool", "unfold"):
        x = draw(layout(draw(values(shape, dtype))))
        if op != "unfold":
            with_nan_policy(draw, kw)
        if op in ("max_pool", "min_pool"):
            ri = draw(st.one_of(st.booleans(), st.booleans(), st.just("yes")))
            kw["out"] = out_like(draw, _pooled_shape(shape, axes, k, s, p, d, ceil, nd), dtype, [x])
            return (x, k, s, p, d, ceil, ri), kw, [x]
        if op == "avg_pool":
            cip = draw(st.one_of(st.booleans(), st.booleans(), st.just(None)))
            div = draw(st.one_of(st.none(), st.none(), st.sampled_from([1, 2, 3, -2, 0, 2.0, 2**40])))
            kw["out"] = out_like(draw, _pooled_shape(shape, axes, k, s, p, 1, ceil, nd), rdt, [x])
            return (x, k, s, p, ceil, cip, div), kw, [x]
        return (x, k, 1 if s is None else s, p, d), kw, [x]

    if op in ("adaptive_max_pool", "adaptive_avg_pool"):
        x = draw(layout(draw(values(shape, dtype))))
        osz = draw(st.one_of(OUTPUT_SIZE, st.tuples(*[st.one_of(st.none(), OUTPUT_SIZE)] * nd)))
        y = _quiet(_ref(op, nd), np.zeros(shape, np.float32), osz, axes=axes)
        if op == "adaptive_max_pool":
            ri = draw(st.one_of(st.booleans(), st.booleans(), st.just(1)))
            kw["out"] = out_like(draw, None if y is None else y.shape, dtype, [x])
            return (x, osz, ri), kw, [x]
        kw["out"] = out_like(draw, None if y is None else y.shape, rdt, [x])
        return (x, osz), kw, [x]

    if op in ("max_pool_backward", "min_pool_backward", "max_unpool"):
        xdt = dtype if numeric else "float64"
        x = draw(values(shape, xdt))
        adaptive = op == "max_pool_backward" and draw(st.booleans())
        forward = "min_pool" if op == "min_pool_backward" else "max_pool"
        policy = "propagate" if op == "max_unpool" else with_nan_policy(draw, kw)  # (-1 indices with "omit")
        if adaptive:
            res = _quiet(_ref("adaptive_max_pool", nd), x, draw(st.integers(1, 5)), True, axes=axes)
        else:
            res = _quiet(_ref(forward, nd), x, k, s, p, d, ceil, True, axes=axes,
                         nan_policy="omit" if policy == "omit" or draw(rarely(4)) else "propagate")
        idx = res[1] if res is not None else np.zeros(shape[:-nd] + (1,) * nd, np.int64)
        mode = draw(st.sampled_from(["ok", "ok", "ok", "bad", "dtype", "layout"]))
        if mode == "bad" and idx.size:
            idx = idx.copy()
            idx.flat[draw(st.integers(0, idx.size - 1))] = draw(st.sampled_from([-2, -(2**63), 2**62, 10**6]))
        elif mode == "dtype":
            idx = idx.astype(draw(st.sampled_from(["int32", "uint16", "float64", "bool", ">i8", "uint64"])))
        g = draw(layout(draw(values(idx.shape, dtype))))
        if mode == "layout":
            idx = draw(layout(idx))
        if op == "max_unpool":
            osz = draw(st.sampled_from([None, shape, shape[-nd:] if nd <= len(shape) else None, (3,) * nd]))
            kw["out"] = out_like(draw, shape, dtype, [g, idx])
            return (g, idx, k, s, p if p != "same" or draw(st.booleans()) else 0, osz), kw, [g, idx]
        in_shape = shape
        if draw(rarely(12)):
            in_shape = draw(st.sampled_from([shape[:-1], shape + (1,), (-1,) + shape[1:], "abc", (2.0, 3.0)]))
        kw["out"] = out_like(draw, in_shape if isinstance(in_shape, tuple) else None, dtype, [g, idx])
        return (g, idx, in_shape), kw, [g, idx]

    if op == "avg_pool_backward":
        like = _pooled_shape(shape, axes, k, s, p, 1, ceil, nd) or shape
        if draw(rarely(12)):
            like = tuple(like) + (1,)
        g = draw(layout(draw(values(like, dtype))))
        cip = draw(st.booleans())
        div = draw(st.one_of(st.none(), st.none(), st.sampled_from([1, 2, -3, 0])))
        policy = with_nan_policy(draw, kw)
        inputs = [g]
        which = draw(st.sampled_from(["input", "none", "input", "input", "input", "wrong-shape", "int"]))
        if which != "none" and (policy == "omit" or draw(rarely(4))):  # the pooled input, needed with "omit"
            xdt = dtype if numeric and which != "int" else "int16" if which == "int" else "float32"
            x = draw(layout(draw(values(shape if which != "wrong-shape" else shape + (1,), xdt))))
            kw["x"] = x
            inputs.append(x)
        kw["out"] = out_like(draw, shape, rdt, inputs)
        return (g, shape, k, s, p, ceil, cip, div), kw, inputs

    if op == "adaptive_avg_pool_backward":
        y = _quiet(_ref("adaptive_avg_pool", nd), np.zeros(shape, np.float32), draw(OUTPUT_SIZE), axes=axes)
        like = shape if y is None else y.shape
        if draw(rarely(12)):
            like = tuple(like) + (1,)
        g = draw(layout(draw(values(like, dtype))))
        kw["out"] = out_like(draw, shape, rdt, [g])
        return (g, shape), kw, [g]

    # fold
    s = 1 if s is None else s
    w0 = _quiet(_ref("unfold", nd), np.zeros(shape, np.int8), k, s, p, d, axes=axes)
    like = shape + (2,) * nd if w0 is None else w0.shape
    if draw(rarely(12)):
        like = like[:-1]
    w = draw(layout(draw(values(like, dtype))))
    kw["out"] = out_like(draw, shape, dtype if numeric else None, [w])
    return (w, shape, s, p, d), kw, [w]


# ------------------------------------------------------------------------------------------ comparison

def outcome(mod, fn, args, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "ok", getattr(mod, fn)(*args, **kw)
        except (ValueError, TypeError) as e:
            return "err", (type(e), str(e))


def assert_same_array(a, b, signed_zero=True):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(a, b)
        if signed_zero:  # -0.0 vs +0.0 (the sign of a NaN carries no meaning: operand order decides it)
            real = ~np.isnan(a)
            assert np.array_equal(np.signbit(a[real]), np.signbit(b[real]))
    else:
        assert np.array_equal(a, b)


def copy_inputs(args, kw, inputs):
    """Independent copies of the array arguments (and of ``out``, keeping any aliasing with an input)."""
    copies = {}
    for a in inputs:
        if isinstance(a, np.ndarray):
            c = np.array(a, copy=True)
            c.flags.writeable = a.flags.writeable
            copies[id(a)] = c
    new_args = tuple(copies.get(id(a), a) for a in args)
    new_kw = {key: copies.get(id(v), v) for key, v in kw.items()}  # (avg backward's x)
    out = kw.get("out")
    if isinstance(out, np.ndarray):
        new_kw["out"] = copies[id(out)] if id(out) in copies else out.copy()
    return new_args, new_kw


def check_call(fn, args, kw, inputs):
    if kw.get("out") is None:
        kw.pop("out", None)
    aliased = any(kw.get("out") is a for a in inputs)
    c_args, c_kw = copy_inputs(args, kw, inputs)
    r_args, r_kw = copy_inputs(args, kw, inputs)
    c = outcome(C, fn, c_args, c_kw)
    r = outcome(R, fn, r_args, r_kw)
    note(f"compiled: {c[0]} {c[1] if c[0] == 'err' else ''}; reference: {r[0]} {r[1] if r[0] == 'err' else ''}")
    event(f"outcome: {r[0]}")
    assert c[0] == r[0], "one backend raised and the other did not"
    if c[0] == "err":
        assert c[1] == r[1]
        return
    cres = c[1] if isinstance(c[1], tuple) else (c[1],)
    rres = r[1] if isinstance(r[1], tuple) else (r[1],)
    assert len(cres) == len(rres)
    for a, b in zip(cres, rres):
        assert_same_array(a, b)
    if "out" in c_kw:
        assert cres[0] is c_kw["out"]
    if not aliased:  # the compiled call left its inputs as they were
        for a, b in zip(c_args, args):
            if isinstance(b, np.ndarray) and b.dtype != object:
                assert_same_array(a, b)


@pytest.mark.parametrize("fn", FUNCS)
def test_compiled_matches_reference(fn):
    @PROFILE
    @given(data=st.data())
    def run(data):
        args, kw, inputs = data.draw(calls(fn))
        check_call(fn, args, kw, inputs)

    old = sp.get_num_threads()
    try:
        run()
    finally:
        sp.set_num_threads(old)


# ------------------------------------------------------------------------------------------- block_reduce

BLOCK_FUNCS = [np.max, np.min, np.sum, np.mean, np.median, np.nanmax, np.nanmin, np.nansum, np.nanmean, np.amax,
               np.ndarray.min, np.maximum.reduce, np.add.reduce, np.std, np.ptp, np.any]
BLOCK_WILD = st.sampled_from([0, -1, 2.0, True, None, "2", (2, 2, 2, 2, 2), [1, 2], np.int64(2), np.array(3),
                              ((2, 2),), 2**31])


@st.composite
def block_calls(draw):
    """``(image, block_size, func, cval, func_kwargs)`` for one block_reduce call."""
    dtype = draw(st.one_of(st.sampled_from(SUPPORTED), st.sampled_from(SUPPORTED + ["bool"]),
                           st.sampled_from(UNSUPPORTED)))
    shape = tuple(draw(st.lists(st.integers(0, 7) if draw(rarely(10)) else st.integers(1, 7), max_size=4)))
    image = draw(layout(draw(values(shape, dtype))))
    if draw(rarely(6)) and isinstance(image, np.ndarray) and image.dtype.kind in "fiub":
        mask = np.random.default_rng(draw(st.integers(0, 99))).random(image.shape) < 0.3
        image = np.ma.MaskedArray(image, mask=mask)
    ndim = np.ndim(image)
    block = draw(sometimes_wild(st.one_of(st.integers(1, 4), st.tuples(*[st.integers(1, 4)] * ndim)),
                                wild=BLOCK_WILD))
    func = draw(st.sampled_from(BLOCK_FUNCS + ["max"] if draw(rarely(12)) else BLOCK_FUNCS))
    cval = draw(st.sampled_from([0, 0, 1.5, -1, np.nan, -np.inf, 300, "a", None, [1, 2]]))
    kwargs = draw(st.sampled_from([None, None, None, {}, {"keepdims": True}, {"axis": 1}, [("a", 1)]]))
    return image, block, func, cval, kwargs


def _block_same(a, b):
    if np.ma.isMaskedArray(a) or np.ma.isMaskedArray(b):
        assert np.ma.isMaskedArray(a) and np.ma.isMaskedArray(b)
        assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
        a, b = np.ma.getdata(a), np.ma.getdata(b)
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object:
        assert a.shape == b.shape and all(x == y or x != x and y != y for x, y in zip(a.ravel(), b.ravel()))
    elif a.dtype.kind == "c":
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    elif a.dtype.kind in "mMUSV":  # (NaT is not equal to itself)
        assert (a.shape, a.dtype) == (b.shape, b.dtype) and a.tobytes() == b.tobytes()
    else:
        assert_same_array(a, b)


def test_block_reduce_compiled_matches_reference_and_brute_force():
    """Both backends give the same answers bit for bit, or the same errors; a fast-path reduction of a valid
    call equals the brute force of tests/test_block_reduce.py."""
    from test_block_reduce import assert_matches, brute

    @PROFILE
    @given(data=st.data())
    def run(data):
        image, block, func, cval, kwargs = data.draw(block_calls())
        note(f"block_reduce image {getattr(image, 'dtype', 'list')} {np.shape(image)} "
             f"{'masked ' if np.ma.isMaskedArray(image) else ''}block {block!r} func {func!r} cval {cval!r} "
             f"kwargs {kwargs!r}")
        sp.set_num_threads(data.draw(st.integers(1, 3)))
        before = image.copy() if isinstance(image, np.ndarray) else None  # (a masked array keeps its mask)
        c = outcome(C, "block_reduce", (image, block, func, cval, kwargs), {})
        r = outcome(R, "block_reduce", (image, block, func, cval, kwargs), {})
        event(f"block_reduce outcome: {r[0]}")
        assert c[0] == r[0], (c, r)
        if c[0] == "err":
            assert c[1] == r[1]
            return
        _block_same(c[1], r[1])
        if before is not None:  # the input is left as it was
            _block_same(image, before)
        op = sp._block_reduce.recognise(func)
        plain = np.asarray(image)
        if (op is not None and not kwargs and not np.ma.isMaskedArray(image) and plain.ndim and plain.size
                and plain.dtype.kind in "fiub" and type(cval) in (int, float)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = brute(plain, P.block_shape(block, plain.ndim), sp._block_reduce.NUMPY[op], cval)
            assert_matches(c[1], want, op, plain.astype(plain.dtype.newbyteorder("=")),
                           P.block_shape(block, plain.ndim), cval)

    old = sp.get_num_threads()
    try:
        run()
    finally:
        sp.set_num_threads(old)
