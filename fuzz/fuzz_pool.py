"""Atheris harness: differential fuzzing of stridepool's argument handling and kernels.

Every input is turned into one call of one of the six public functions: an array of fuzzed bytes (so NaN,
inf, -0.0 and extreme integers turn up by themselves) in a fuzzed dtype, shape, axis order and memory layout
(C, Fortran, strided, transposed, read-only, big-endian, nested list), with window parameters drawn from a
mix of valid values and wild ones (0, negative, huge, float, bool, str, None, wrong-length tuples), an
``out=`` that may be right, wrong or aliased to the input, and a thread count of 1 to 3. The call runs on
the compiled backend and on the NumPy reference. The harness crashes (and atheris saves the input) when:

- either backend raises anything but ValueError or TypeError (IndexError from Cython's bounds checks in a
  debug/sanitizer build, SystemError, MemoryError, a segfault, an ASan or UBSan report, ...);
- the two backends disagree: one raises and the other does not, different exception types or messages,
  or results that differ in shape, dtype or any value (NaN equal to NaN, bit for bit);
- a call modifies its input, or returns something other than the caller's ``out=``.

Run (see fuzz/README.md): ``python fuzz/fuzz_pool.py -max_total_time=600 fuzz/corpus``.
"""
import hashlib
import os
import random
import sys
import time
import warnings

import atheris

with atheris.instrument_imports(include=["stridepool"]):
    import numpy as np

    import stridepool
    from stridepool import _compiled as C
    from stridepool import _params as P
    from stridepool import reference as R

warnings.simplefilter("ignore")  # reference's divide-by-zero / invalid warnings on 0-size or NaN data

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.uint16, np.uint32, np.uint64,
          # unsupported: must be a TypeError from both
          np.bool_, np.complex64, np.object_, "U3", "M8[s]", np.longdouble]
FUNCS = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "unfold2d", "fold2d"]
WILD = [0, -1, -3, 2**31, 2**63, 10**30, 1.0, 2.5, True, False, None, "2", (1,), (1, 2, 3), ((1, 2),),
        np.int64(2), np.uint8(1), np.float32(2.0), np.array(2), np.array([2, 2]), [2, 1], (2, None)]
WILD_PAD = WILD + ["same", "valid", "SAME", ((0, 1), (1, 0)), ((1, 1), (1,)), ((-1, 0), (0, 0)), (1, 0),
                   [[1, 0], [0, 1]]]
WILD_AXES = [(-2, -1), (0, 1), (1, 2), (2, 1), (0, -1), (-1, -2), (1, 1), (0, 5), (-9, 0), (0,), (0, 1, 2),
             None, "ab", (0.0, 1), (True, 1), np.array([0, 1])]


def pick(fdp, options):
    return options[fdp.ConsumeIntInRange(0, len(options) - 1)]


def small_or_wild(fdp, lo, hi, wild):
    """Mostly small valid values (int or pair), sometimes wild ones."""
    r = fdp.ConsumeIntInRange(0, 15)
    if r < 9:
        return fdp.ConsumeIntInRange(lo, hi)
    if r < 13:
        return (fdp.ConsumeIntInRange(lo, hi), fdp.ConsumeIntInRange(lo, hi))
    return pick(fdp, wild)


def padding_value(fdp):
    r = fdp.ConsumeIntInRange(0, 15)
    if r < 7:
        return fdp.ConsumeIntInRange(0, 2)
    if r < 9:
        return (fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 2))
    if r < 11:
        return ((fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 2)),
                (fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 2)))
    if r < 13:
        return pick(fdp, ["same", "valid"])
    return pick(fdp, WILD_PAD)


def make_array(fdp, shape, dtype):
    """An array of ``shape`` and ``dtype`` filled from fuzzed bytes, in a fuzzed layout."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "O":
        a = np.array([fdp.ConsumeIntInRange(-5, 5) for _ in range(n)], dtype=object).reshape(shape)
    elif dt.kind in "US":
        a = np.full(shape, "ab", dtype=dt)
    elif dt.kind == "M":
        a = np.zeros(shape, dtype=dt)
    else:
        raw = fdp.ConsumeBytes(n * dt.itemsize)
        raw = raw + bytes(n * dt.itemsize - len(raw))
        a = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
        if dt.kind == "f" and n and fdp.ConsumeBool():  # plain small values: ties and exact sums
            a = (np.arange(n) % fdp.ConsumeIntInRange(1, 7)).astype(dt).reshape(shape)
            if fdp.ConsumeBool():
                a.flat[fdp.ConsumeIntInRange(0, n - 1)] = pick(fdp, [np.nan, np.inf, -np.inf, -0.0])
        elif dt.kind in "iu" and n and fdp.ConsumeBool():
            info = np.iinfo(dt)
            a = np.array([pick(fdp, [info.min, info.max, 0, 1, info.max - 1]) for _ in range(n)],
                         dtype=dt).reshape(shape)
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
    elif kind == 7 and a.ndim >= 2:  # a negative-stride view
        a = a[..., ::-1].copy()[..., ::-1]
    return a


def shape_of(fdp, lead_max=2):
    lead = tuple(fdp.ConsumeIntInRange(0, 3) for _ in range(fdp.ConsumeIntInRange(0, lead_max)))
    return lead + (fdp.ConsumeIntInRange(0, 9), fdp.ConsumeIntInRange(0, 9))


def axes_for(fdp, ndim):
    r = fdp.ConsumeIntInRange(0, 9)
    if r < 4 or ndim < 2:
        return (-2, -1)
    if r < 8:
        a0 = fdp.ConsumeIntInRange(0, ndim - 1)
        a1 = fdp.ConsumeIntInRange(0, ndim - 1)
        if a0 == a1:
            a1 = (a0 + 1) % ndim
        return (a0 - ndim if fdp.ConsumeBool() else a0, a1)
    return pick(fdp, WILD_AXES)


def permute_for_axes(shape, axes):
    """Shape with the last two entries moved to ``axes`` (so ``axes`` points at H and W)."""
    try:
        ax = P.normalize_axes(axes, len(shape))
    except (ValueError, TypeError):
        return shape
    rest = list(shape[:-2])
    out = [None] * len(shape)
    out[ax[0]], out[ax[1]] = shape[-2], shape[-1]
    it = iter(rest)
    return tuple(v if v is not None else next(it) for v in out)


def out_for(fdp, like_shape, like_dtype, inputs):
    try:
        return _out_for(fdp, like_shape, like_dtype, inputs)
    except (ValueError, TypeError, IndexError, MemoryError):  # a shape or dtype no array can have
        return None


def _out_for(fdp, like_shape, like_dtype, inputs):
    r = fdp.ConsumeIntInRange(0, 9)
    if r < 5 or like_shape is None:
        return None
    dt = np.dtype(like_dtype)
    if r == 5:  # right
        return np.full(like_shape, 7, dtype=dt)
    if r == 6:  # right shape, wrong dtype
        return np.zeros(like_shape, dtype=np.float32 if dt != np.float32 else np.float64)
    if r == 7:  # wrong shape
        return np.zeros(tuple(like_shape) + (1,), dtype=dt)
    if r == 8:  # aliases an input (when it fits), else a Fortran-ordered right one
        for a in inputs:
            if isinstance(a, np.ndarray) and a.shape == tuple(like_shape) and a.dtype == dt and a.flags.writeable:
                return a
        return np.asfortranarray(np.zeros(like_shape, dtype=dt))
    return pick(fdp, [[0.0], "out", np.zeros(like_shape, dtype=dt)[..., ::-1]])


def build_case(fdp):
    """Return ``(func name, args, kwargs, inputs to check unchanged)``."""
    fn = pick(fdp, FUNCS)
    dtype = pick(fdp, DTYPES) if fdp.ConsumeIntInRange(0, 9) else np.float64
    shape = shape_of(fdp)
    axes = axes_for(fdp, len(shape))
    kw = {}
    if not (type(axes) is tuple and axes == (-2, -1)) or fdp.ConsumeBool():
        kw["axes"] = axes
    k = small_or_wild(fdp, 1, 4, WILD)
    s = None if fdp.ConsumeIntInRange(0, 3) == 0 else small_or_wild(fdp, 1, 3, WILD)
    p = padding_value(fdp)
    d = small_or_wild(fdp, 1, 3, WILD) if fdp.ConsumeIntInRange(0, 3) == 0 else 1
    ceil = fdp.ConsumeBool() if fdp.ConsumeIntInRange(0, 15) else pick(fdp, [1, 0, None, "yes", np.bool_(True)])
    xshape = permute_for_axes(shape, axes)

    if fn in ("max_pool2d", "avg_pool2d", "unfold2d"):
        x = make_array(fdp, xshape, dtype)
        if fn == "max_pool2d":
            ri = fdp.ConsumeBool() if fdp.ConsumeIntInRange(0, 15) else pick(fdp, [1, "no", None])
            args = (x, k, s, p, d, ceil, ri)
            like = _expected_shape(x, axes, k, s, p, d, ceil)
            kw["out"] = out_for(fdp, like, getattr(x, "dtype", None), [x])
        elif fn == "avg_pool2d":
            cip = fdp.ConsumeBool() if fdp.ConsumeIntInRange(0, 15) else pick(fdp, [1, None])
            div = None if fdp.ConsumeIntInRange(0, 2) else pick(fdp, [1, 2, 3, -2, 0, 2.0, True, 2**40, np.int8(4)])
            args = (x, k, s, p, ceil, cip, div)
            like = _expected_shape(x, axes, k, s, p, 1, ceil)
            xd = getattr(x, "dtype", np.dtype(np.float64))
            kw["out"] = out_for(fdp, like, P.result_dtype_avg(xd) if xd.kind in "fiu" else xd, [x])
        else:
            args = (x, k, 1 if s is None else s, p, d)
        return fn, args, kw, [x]

    if fn == "max_pool2d_backward":
        x = make_array(fdp, xshape, dtype if np.dtype(dtype).kind in "fiu" else np.float64)
        try:
            _, idx = R.max_pool2d(x, k, s, p, d, ceil, True, axes=axes)
        except (ValueError, TypeError):
            idx = np.zeros((1, 1), np.int64)
        idx = np.asarray(idx)
        mode = fdp.ConsumeIntInRange(0, 9)
        if mode == 7 and idx.size:  # stale or hostile indices
            idx = idx.copy()
            idx.flat[fdp.ConsumeIntInRange(0, idx.size - 1)] = pick(
                fdp, [-1, -2, 2**62, int(np.prod(np.shape(x)[-2:])), 10**9, -(2**63)])
        elif mode == 8:
            idx = idx.astype(pick(fdp, [np.int32, np.uint8, np.float64, np.bool_, np.uint64, ">i8"]))
        gdt = pick(fdp, DTYPES) if fdp.ConsumeIntInRange(0, 4) == 0 else dtype
        g = make_array(fdp, idx.shape, gdt)
        if mode == 9:
            idx = layout(fdp, idx)
        in_shape = np.shape(x)
        if fdp.ConsumeIntInRange(0, 9) == 0:
            in_shape = pick(fdp, [in_shape[:-1], tuple(in_shape) + (1,), (-1,) + tuple(in_shape[1:]), "abc",
                                  None, (2**62, 2**62), [2.0, 3.0], (True, 3)])
        args = (g, idx, in_shape)
        gd = getattr(g, "dtype", None)
        kw["out"] = out_for(fdp, in_shape if isinstance(in_shape, tuple) else None, gd, [g, idx])
        return fn, args, kw, [g, idx]

    if fn == "avg_pool2d_backward":
        try:
            like = R.avg_pool2d(np.zeros(xshape, np.float32), k, s, p, ceil, axes=axes).shape
        except (ValueError, TypeError):
            like = xshape
        if fdp.ConsumeIntInRange(0, 9) == 0:
            like = tuple(like) + (1,)
        g = make_array(fdp, like, dtype)
        cip = fdp.ConsumeBool()
        div = None if fdp.ConsumeIntInRange(0, 2) else pick(fdp, [1, 2, 3, -2, 0])
        args = (g, xshape, k, s, p, ceil, cip, div)
        gd = getattr(g, "dtype", np.dtype(np.float64))
        kw["out"] = out_for(fdp, xshape, P.result_dtype_avg(gd) if gd.kind in "fiu" else gd, [g])
        return fn, args, kw, [g]

    # fold2d: windows of the input's shape
    s = 1 if s is None else s
    try:
        like = R.unfold2d(np.zeros(xshape, np.float32), k, s, p, d, axes=axes).shape
    except (ValueError, TypeError):
        like = tuple(xshape) + (2, 2)
    if fdp.ConsumeIntInRange(0, 9) == 0:
        like = pick(fdp, [tuple(like[:-1]), tuple(like) + (1,), tuple(like[:-2]) + (0, 2)])
    w = make_array(fdp, like, dtype)
    args = (w, xshape, s, p, d)
    wd = getattr(w, "dtype", None)
    kw["out"] = out_for(fdp, xshape, wd, [w])
    return fn, args, kw, [w]


def _expected_shape(x, axes, k, s, p, d, ceil):
    try:
        a = np.asarray(x)
        ax = P.normalize_axes(axes, a.ndim)
        g = P.geometry(a.shape[ax[0]], a.shape[ax[1]], k, s, p, d, ceil)
        return P.pooled_shape(a.shape, ax, g.OH, g.OW)
    except Exception:
        return None


def call(mod, fn, args, kw):
    try:
        return "ok", getattr(mod, fn)(*args, **kw)
    except (ValueError, TypeError) as e:
        return "err", (type(e), str(e))


def snapshot(inputs):
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in inputs]


def same_array(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return bool(np.array_equal(a, b))


def fresh_out(kw):
    """The same keyword arguments with a fresh copy of ``out`` (each backend gets its own)."""
    kw2 = dict(kw)
    o = kw.get("out")
    if isinstance(o, np.ndarray):
        kw2["out"] = o.copy() if o.flags.writeable else o
    return kw2


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    stridepool.set_num_threads(fdp.ConsumeIntInRange(1, 3))
    fn, args, kw, inputs = build_case(fdp)
    if kw.get("out") is None:
        kw.pop("out", None)
    aliased = any(kw.get("out") is a for a in inputs)

    # reference first, on copies if out aliases an input (each backend must see the same inputs)
    if aliased:
        r_args = tuple(np.array(a, copy=True) if any(a is i for i in inputs) else a for a in args)
        r_kw = dict(kw)
        for i, a in enumerate(args):
            if kw["out"] is a:
                r_kw["out"] = r_args[i]
    else:
        r_args, r_kw = args, fresh_out(kw)
    before = snapshot(inputs)
    c_kw = kw if aliased else fresh_out(kw)
    c = call(C, fn, args, c_kw)
    if not aliased:
        for a, b in zip(inputs, before):
            if b is not None:
                assert same_array(a, b), f"{fn} modified its input"
    r = call(R, fn, r_args, r_kw)

    if c[0] != r[0]:
        raise AssertionError(f"{fn}: compiled {c[0]} {c[1] if c[0] == 'err' else ''} but reference "
                             f"{r[0]} {r[1] if r[0] == 'err' else ''}")
    if c[0] == "err":
        assert c[1] == r[1], f"{fn}: errors differ: compiled {c[1]!r}, reference {r[1]!r}"
        return
    cres, rres = c[1], r[1]
    if isinstance(rres, tuple):
        assert isinstance(cres, tuple) and len(cres) == len(rres)
        pairs = list(zip(cres, rres))
    else:
        pairs = [(cres, rres)]
    for a, b in pairs:
        assert same_array(a, b), f"{fn}: results differ\ncompiled {a!r}\nreference {b!r}"
    if "out" in kw:
        first = cres[0] if isinstance(cres, tuple) else cres
        assert first is c_kw["out"], f"{fn}: did not return `out`"


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
    for data in seeds:  # every corpus input as it is, first
        TestOneInput(data)
    n, start = len(seeds), time.monotonic()
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
        data = bytes(data)
        try:
            TestOneInput(data)
        except BaseException:
            name = "crash-" + hashlib.sha1(data).hexdigest()
            with open(name, "wb") as f:
                f.write(data)
            print(f"mutation loop: crash after {n} executions, input saved to {name}", flush=True)
            raise
        n += 1
        if n % 20000 == 0:
            print(f"mutation loop: {n} executions, {time.monotonic() - start:.0f} s", flush=True)
    print(f"mutation loop: {n} executions in {time.monotonic() - start:.0f} s without a crash", flush=True)


def main():
    if os.environ.get("FUZZ_MUTATION_SECONDS"):  # no libFuzzer: see mutation_loop
        dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
        mutation_loop(float(os.environ["FUZZ_MUTATION_SECONDS"]), dirs)
        return
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
