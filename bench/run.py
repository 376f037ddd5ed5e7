#!/usr/bin/env python
"""Benchmark stridepool against its NumPy reference, PyTorch and JAX on the CPU, the NumPy ecosystem's calls
and the framework bridges: one run writes every table of bench/results.md.

    python bench/run.py [--quick] [--threads N] [--cases NAME ...] [--no-reference] [--no-torch] [--no-jax]
                        [--no-cache-rows] [--no-builds] [--no-ecosystem] [--bridges | --no-bridges] [--out DIR]

Sections: the standard cases, the small planes, the N-d family and other dtypes (stridepool against the
reference, PyTorch and JAX/XLA); the result-buffer cache on and off; each kernel build this CPU runs; the NumPy
ecosystem (scikit-image, the reshape idiom, SciPy's filters); the framework bridges (a LeNet-sized training
step and per-call overheads, from bench/bridges.py and bench/bridges_jax.py); and the speed targets of issue 15
(then the older ones), reported, never failing. Every measurement runs the implementations interleaved (one
sample of each in turn, the order rotating from round to round) and reports medians, so that ratios come from
one run on one machine under the same load. Results: tables on stdout, bench/results.json, bench/results.md and
bench/speedup.png (needs matplotlib).
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, format_isa, git_commit, isa_flags, loadavg, prefer_checkout  # noqa: E402

prefer_checkout()
import stridepool as sp  # noqa: E402
from stridepool import reference  # noqa: E402

# name: (NCHW shape, kernel, stride, padding); float32 unless a dtype row says otherwise
CASES = {
    "resnet_stem": ((32, 64, 112, 112), 3, 2, 1),
    "vgg": ((32, 128, 56, 56), 2, 2, 0),
    "mnist": ((64, 32, 28, 28), 2, 2, 0),
    "overlap": ((8, 64, 64, 64), 3, 1, 1),
    "tiny": ((1, 1, 6, 6), 3, 1, 0),
}
# the small planes of the deeper half of a CNN and of the MNIST/CIFAR networks (issue 15)
SMALL_CASES = {
    "s7": ((128, 256, 7, 7), 2, 2, 0),
    "s14": ((128, 64, 14, 14), 2, 2, 0),
    "s28": ((128, 32, 28, 28), 2, 2, 0),
    "s32": ((128, 64, 32, 32), 2, 2, 0),
    "s32k3": ((128, 64, 32, 32), 3, 2, 1),
}
PLANAR = {**CASES, **SMALL_CASES}
# the N-d family's cases: name: (kind, pooled axes, shape, (kernel, stride, padding) or output size)
ND_CASES = {
    "3d_max": ("max", 3, (8, 32, 16, 56, 56), (3, 2, 1)),
    "3d_avg": ("avg", 3, (8, 32, 16, 56, 56), (2, 2, 0)),
    "1d_max": ("max", 1, (32, 64, 8192), (3, 2, 1)),
    "global_avg": ("aavg", 2, (32, 2048, 7, 7), 1),
    "adaptive_max": ("amax", 2, (32, 64, 56, 56), 7),
}
DTYPE_CASE, DTYPES = "vgg", ("float64", "int8", "int32")
LARGE = ("resnet_stem", "vgg", "overlap")  # the standard cases whose time the memory floor bounds
CACHE_CASES = ("resnet_stem", "vgg")  # the cache rows: max forward (with indices) and forward + backward
# the build rows: (case, family): max with indices forward + backward, or the forward without indices
BUILD_ROWS = (("s7", "max"), ("s14", "max"), ("vgg", "max"), ("overlap", "max"), ("s7", "infer"), ("s14", "infer"))
#: bytes of the index of one output element: int64 for the functions, one byte (the window tap) for a layer
INDEX_BYTES = {"max": 8, "amax": 8, "layer": 1}

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None
try:
    import jax
    import jax.numpy as jnp
    from jax import lax
except ImportError:
    jax = None


# ------------------------------------------------------------------------------------------ implementations
# Each implementation is a namespace of its calls in native form (NumPy arrays, or tensors): `fwd(X)` and
# `bwd(G, I, X)` (I: the indices, for max), plus `prep` (NumPy array in the benchmark's layout -> native) and
# `back` (native -> NumPy array in that layout). `step(X, G)` is a layer's forward followed by its backward.
# Families: max (with indices), infer (max without indices), avg, amax / aavg (adaptive), layer (MaxPool2d).


def _name(op, nd):
    return op.replace("ND", f"{nd}d")


def numpy_impl(m, fam, nd, prm, axes):
    f = lambda op: getattr(m, _name(op, nd))  # noqa: E731
    if fam == "layer":
        if not hasattr(m, "MaxPool2d"):
            raise NotImplementedError("no layers in this implementation")
        layer = m.MaxPool2d(*prm, axes=axes)

        def step(X, G):
            layer.forward(X)
            return layer.backward(G)
        return SimpleNamespace(prep=lambda a: a, back=np.asarray, step=step)
    # the functions are looked up once, here: the timed calls are what a user's loop runs
    if fam in ("max", "infer"):
        mp, mpb, ri = f("max_poolND"), f("max_poolND_backward"), fam == "max"
        fwd = lambda x: mp(x, *prm, return_indices=ri, axes=axes)  # noqa: E731
        bwd = lambda g, i, x: mpb(g, i, x.shape, axes=axes)  # noqa: E731
    elif fam == "avg":
        ap, apb = f("avg_poolND"), f("avg_poolND_backward")
        fwd = lambda x: ap(x, *prm, axes=axes)  # noqa: E731
        bwd = lambda g, i, x: apb(g, x.shape, *prm, axes=axes)  # noqa: E731
    elif fam == "amax":
        amp, mpb = f("adaptive_max_poolND"), f("max_poolND_backward")
        fwd = lambda x: amp(x, prm, True, axes=axes)  # noqa: E731
        bwd = lambda g, i, x: mpb(g, i, x.shape, axes=axes)  # noqa: E731
    else:
        aap, aapb = f("adaptive_avg_poolND"), f("adaptive_avg_poolND_backward")
        fwd = lambda x: aap(x, prm, axes=axes)  # noqa: E731
        bwd = lambda g, i, x: aapb(g, x.shape, axes=axes)  # noqa: E731
    return SimpleNamespace(prep=lambda a: a, back=np.asarray, fwd=fwd, bwd=bwd)


def torch_impl(fam, nd, prm, channels_last):
    """PyTorch's CPU ops; backward passes call the aten backward ops directly (no autograd in the times),
    except the layer row, which is what a PyTorch user runs: nn.MaxPool2d forward and autograd backward."""
    aten = torch.ops.aten
    if channels_last:  # an NHWC array is an NCHW tensor in torch.channels_last memory format
        prep, back = (lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)), (lambda t: t.permute(0, 2, 3, 1).numpy())
    else:
        prep, back = torch.from_numpy, (lambda t: t.detach().numpy())
    ns = SimpleNamespace(prep=prep, back=back)
    if fam == "layer":
        pool = torch.nn.MaxPool2d(*prm)

        def step(X, G):
            xt = X.detach().requires_grad_()
            pool(xt).backward(G)
            return xt.grad
        ns.step = step
        return ns
    if fam in ("max", "infer", "avg"):
        k, s, p = prm
        K, S, P, D = [k] * nd, [s] * nd, [p] * nd, [1] * nd
        fmax, favg = getattr(F, f"max_pool{nd}d"), getattr(F, f"avg_pool{nd}d")
        if fam == "max":
            ns.fwd = lambda x: fmax(x, k, s, p, return_indices=True)
            if nd == 1:  # what autograd runs for max_pool1d: the 2D backward on a height-1 view
                ns.bwd = lambda g, i, x: aten.max_pool2d_with_indices_backward(
                    g[..., None, :], x[..., None, :], [1, k], [1, s], [0, p], [1, 1], False, i[..., None, :])[..., 0, :]
            else:
                back_op = getattr(aten, f"max_pool{nd}d_with_indices_backward")
                ns.bwd = lambda g, i, x: back_op(g, x, K, S, P, D, False, i)
        elif fam == "infer":
            ns.fwd = lambda x: fmax(x, k, s, p)
        else:
            ns.fwd = lambda x: favg(x, k, s, p)
            if nd == 1:
                ns.bwd = lambda g, i, x: aten.avg_pool2d_backward(g[..., None, :], x[..., None, :], [1, k], [1, s],
                                                                  [0, p], False, True, None)[..., 0, :]
            else:
                back_op = getattr(aten, f"avg_pool{nd}d_backward")
                ns.bwd = lambda g, i, x: back_op(g, x, K, S, P, False, True, None)
    elif fam == "amax":
        ns.fwd = lambda x: getattr(F, f"adaptive_max_pool{nd}d")(x, prm, return_indices=True)
        ns.bwd = lambda g, i, x: getattr(aten, f"adaptive_max_pool{nd}d_backward")(g, x, i)
    else:
        ns.fwd = lambda x: getattr(F, f"adaptive_avg_pool{nd}d")(x, prm)
        ns.bwd = lambda g, i, x: getattr(aten, f"_adaptive_avg_pool{nd}d_backward")(g, x)
    return ns


def jax_impl(fam, nd, prm):
    """JAX/XLA on the CPU: jit of lax.reduce_window with -inf padding (max pooling without indices)."""
    if fam != "infer":
        raise NotImplementedError("only max pooling without indices")
    k, s, p = prm
    f = jax.jit(lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 1) + (k,) * nd, (1, 1) + (s,) * nd,
                                            ((0, 0),) * 2 + ((p, p),) * nd))
    return SimpleNamespace(prep=jax.device_put, back=np.asarray, fwd=lambda x: f(x).block_until_ready())


def operations(im, fam, X, G, I):
    """The timed calls of one implementation: forward, backward and forward followed by backward."""
    if fam == "layer":
        return {"fwd+bwd": lambda: im.step(X, G)}
    if fam == "infer":
        return {"fwd": lambda: im.fwd(X)}
    if fam in ("max", "amax"):
        return {"fwd+bwd": lambda: im.bwd(G, im.fwd(X)[1], X), "fwd": lambda: im.fwd(X),
                "bwd": lambda: im.bwd(G, I, X)}
    return {"fwd+bwd": lambda: (im.fwd(X), im.bwd(G, None, X)), "fwd": lambda: im.fwd(X),
            "bwd": lambda: im.bwd(G, None, X)}


# ---------------------------------------------------------------------------------------------- timing


def _time(fn, number):
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def measure(fns, cfg, before=None):
    """Median seconds per call of each callable in `fns`, sampled interleaved. Returns name -> stats dict.

    `before` (name -> callable) sets up the state a name is timed in (a kernel build, the cache off): called,
    untimed, before its warm-up and before each of its samples."""
    before = before or {}
    plan = {}
    for name, fn in fns.items():
        slow = name == "reference"
        budget = cfg.ref_budget if slow else cfg.budget
        prep = before.get(name, _nothing)
        prep()
        t = _time(fn, 1)  # warm-up (also the calibration of a slow call)
        first = [t] if t > budget else []  # a call longer than the whole budget is its own first sample
        if t < cfg.sample:  # twice more, each on the calls the last estimate gives, keeping the lowest: a cold
            for _ in range(2):  # first call must not set the calls per sample (a sample of few calls carries
                t = min(t, _time(fn, max(1, int(cfg.sample / 10 / t))))  # the cold start of each round)
        number = max(1, int(cfg.sample / t))
        reps = min(max(int(budget / (t * number)), cfg.ref_reps if slow else cfg.min_reps), cfg.max_reps)
        plan[name] = SimpleNamespace(fn=fn, prep=prep, number=number, reps=max(0, reps - len(first)),
                                     samples=first)
    rounds = max([p.reps for p in plan.values()] + [1])
    for p in plan.values():  # spread each implementation's samples evenly over the rounds
        p.when = {j * rounds // p.reps for j in range(p.reps)} if p.reps else set()
    order = list(plan)
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds):
            for j in range(len(order)):
                p = plan[order[(r + j) % len(order)]]
                if r in p.when:
                    p.prep()
                    p.samples.append(_time(p.fn, p.number))
    finally:
        gc.enable()
    return {name: {"median_ms": statistics.median(p.samples) * 1e3, "min_ms": min(p.samples) * 1e3,
                   "samples_ms": [s * 1e3 for s in p.samples],
                   "calls_per_sample": p.number} for name, p in plan.items()}


def _nothing():
    pass


def copyto_bandwidth(cfg):
    """GB/s of np.copyto between two preallocated 256 MB float32 arrays, read plus write bytes."""
    src = np.ones(64 * 2**20, np.float32)
    dst = np.zeros_like(src)
    np.copyto(dst, src)
    t = [_time(lambda: np.copyto(dst, src), 1) for _ in range(cfg.copy_reps)]
    return [2 * src.nbytes / x / 1e9 for x in t]


# ------------------------------------------------------------------------------------------- correctness


def _same(a, b, exact):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    if exact:
        ok = np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    else:
        tol = 1e-5 if a.dtype == np.float32 else 1e-12
        ok = np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
    return None if ok else f"{np.count_nonzero(~np.isclose(a, b, equal_nan=True))} elements differ"


def check(fam, impls, x, g):
    """Compare stridepool with torch where torch has the operation, else with the reference (and JAX's forward
    without indices with stridepool's). Returns problems."""
    problems = []
    s = impls["stridepool"]
    others = [n for n in ("torch", "reference") if n in impls]
    if x.dtype.kind == "f" and fam != "layer":  # a few NaNs, to check their propagation
        x = x.copy()
        x.flat[np.random.default_rng(1).choice(x.size, max(1, x.size // 100_000), replace=False)] = np.nan

    def other(call):
        for n in others:
            try:
                return n, call(impls[n])
            except (NotImplementedError, RuntimeError, AttributeError):
                continue
        return None, None

    if fam == "layer":
        gi = s.step(x, g)
        n, r = other(lambda im: im.back(im.step(im.prep(x), im.prep(g))))
        if n:
            problems.append(_same(gi, r, False) and f"layer forward+backward vs {n}: {_same(gi, r, False)}")
    elif fam in ("max", "amax"):
        y, i = s.fwd(x)
        n, r = other(lambda im: [im.back(a) for a in im.fwd(im.prep(x))])
        if n:
            yo, io = r
            problems.append(_same(y, yo, True) and f"forward values vs {n}: {_same(y, yo, True)}")
            keep = ~(np.isnan(y) | np.isnan(yo)) if y.dtype.kind == "f" else np.ones(y.shape, bool)
            if io.shape != i.shape or not np.array_equal(i[keep], io[keep].astype(np.int64)):
                problems.append(f"forward indices vs {n} differ")
            i = io.astype(np.int64)
        gi = s.bwd(g, i, x)
        n, r = other(lambda im: im.back(im.bwd(im.prep(g), im.prep(i), im.prep(x))))
        if n:
            problems.append(_same(gi, r, False) and f"backward vs {n}: {_same(gi, r, False)}")
    elif fam == "infer":
        y = s.fwd(x)
        for n in ("torch", "jax", "reference"):
            if n in impls:
                r = impls[n].back(impls[n].fwd(impls[n].prep(x)))
                if n == "jax":  # XLA's max does not propagate NaN: compare the windows without one
                    r = np.where(np.isnan(y), y, r)
                problems.append(_same(y, r, True) and f"forward vs {n}: {_same(y, r, True)}")
    else:
        x = np.nan_to_num(x)
        y = s.fwd(x)
        n, r = other(lambda im: im.back(im.fwd(im.prep(x))))
        if n:
            problems.append(_same(y, r, False) and f"forward vs {n}: {_same(y, r, False)}")
        gi = s.bwd(g, None, x)
        n, r = other(lambda im: im.back(im.bwd(im.prep(g), None, im.prep(x))))
        if n:
            problems.append(_same(gi, r, False) and f"backward vs {n}: {_same(gi, r, False)}")
    if not others:
        problems.append("not checked (neither torch nor the reference is run)")
    return [p for p in problems if p]


# ------------------------------------------------------------------------------------------------ the run


class Group(SimpleNamespace):
    """One group of rows: a case, an operation family, the pooled axes, a layout and a dtype."""


def groups(cfg):
    """Every group of rows of the case tables, in table order."""
    out = []
    for c in cfg.cases:
        if c in PLANAR:
            shape, k, s, p = PLANAR[c]
            for fam, layout in (("max", "first"), ("max", "last"), ("avg", "first"), ("infer", "first")):
                out.append(Group(case=c, fam=fam, nd=2, shape=shape, prm=(k, s, p), layout=layout, dtype="float32"))
            if c == "resnet_stem":
                out.append(Group(case=c, fam="layer", nd=2, shape=shape, prm=(k, s, p), layout="first",
                                 dtype="float32"))
        else:
            fam, nd, shape, prm = ND_CASES[c]
            out.append(Group(case=c, fam=fam, nd=nd, shape=shape, prm=prm, layout="first", dtype="float32"))
    if DTYPE_CASE in cfg.cases:
        shape, k, s, p = CASES[DTYPE_CASE]
        out += [Group(case=DTYPE_CASE, fam="max", nd=2, shape=shape, prm=(k, s, p), layout="first", dtype=dt)
                for dt in DTYPES]
    return out


def make_data(shape, dtype, rng):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, dtype=dtype, endpoint=True)


def batch(shape, cfg):
    """`shape` with its batch size divided by cfg.shrink (--quick)."""
    return (max(1, shape[0] // cfg.shrink),) + tuple(shape[1:])


def planar_data(case, cfg):
    """A planar case's float32 input, its (kernel, stride, padding), and a gradient of its output's shape."""
    shape, k, s, p = PLANAR[case]
    rng = np.random.default_rng(0)
    x = make_data(batch(shape, cfg), "float32", rng)
    y = sp.max_pool2d(x, k, s, p)
    return x, (k, s, p), make_data(y.shape, "float32", rng)


def run_group(grp, cfg, progress):
    shape = batch(grp.shape, cfg)
    rng = np.random.default_rng(0)
    x = make_data(shape, grp.dtype, rng)
    cl = grp.layout == "last"
    axes = tuple(range(1, 1 + grp.nd)) if cl else tuple(range(-grp.nd, 0))
    if cl:
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    impls = {"stridepool": numpy_impl(sp, grp.fam, grp.nd, grp.prm, axes)}
    if cfg.torch:
        impls["torch"] = torch_impl(grp.fam, grp.nd, grp.prm, cl)
    if cfg.jax and grp.fam == "infer" and not cl:
        impls["jax"] = jax_impl(grp.fam, grp.nd, grp.prm)
    if cfg.reference and grp.fam != "layer":
        impls["reference"] = numpy_impl(reference, grp.fam, grp.nd, grp.prm, axes)
    if grp.fam in ("max", "layer", "infer"):
        y, idx = getattr(sp, _name("max_poolND", grp.nd))(x, *grp.prm, return_indices=True, axes=axes)
    elif grp.fam == "amax":
        y, idx = getattr(sp, _name("adaptive_max_poolND", grp.nd))(x, grp.prm, True, axes=axes)
    else:
        y, idx = impls["stridepool"].fwd(x), None
    g = make_data(y.shape, y.dtype, rng)
    what = f"{grp.case} {grp.fam} {grp.layout} {grp.dtype}"
    progress(f"{what}: checking")
    problems = check(grp.fam, impls, x, g)
    for msg in problems:
        print(f"WARNING: {what}: {msg}", file=sys.stderr)

    index = INDEX_BYTES.get(grp.fam, 0) * y.size  # written by the forward, read by the backward
    nbytes = {"fwd": x.nbytes + y.nbytes + index, "bwd": g.nbytes + index + x.nbytes}
    nbytes["fwd+bwd"] = nbytes["fwd"] + nbytes["bwd"]
    fns = {}
    for name, im in impls.items():
        X, G, I = (None if a is None else im.prep(a) for a in (x, g, idx))
        fns[name] = operations(im, grp.fam, X, G, I)
    rows = []
    for op in [o for o in cfg.ops if o in fns["stridepool"]]:
        calls = {}
        for name, ops in fns.items():
            try:
                ops[op]()
                calls[name] = ops[op]
            except (NotImplementedError, RuntimeError) as e:  # e.g. torch has no integer max pool backward
                if name == "stridepool":
                    raise
                progress(f"{what} {op}: {name} unsupported ({str(e)[:60]})", log=True)
        progress(f"{what} {op}: timing {', '.join(calls)}")
        rows.append({"case": grp.case, "kind": grp.fam, "nd": grp.nd, "layout": grp.layout, "dtype": grp.dtype,
                     "op": op, "shape": list(x.shape), "params": grp.prm, "bytes": nbytes[op],
                     "times": measure(calls, cfg), "check": problems})
    return rows


# ------------------------------------------------------------------------------- cache, builds, ecosystem


def _rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def cache_rows(cfg, progress):
    """What the cache of freed result buffers buys: max forward (with indices) and forward + backward with the
    cache on (its limit as configured) and off (limit 0), interleaved; and the memory it keeps."""
    if sp.backend != "compiled":
        return [], ["cache rows skipped: the reference backend keeps no cache"]
    from stridepool import _compiled as C

    rows, notes = [], []
    for case in [c for c in CACHE_CASES if c in cfg.cases]:
        x, prm, g = planar_data(case, cfg)
        calls = {"fwd": lambda: sp.max_pool2d(x, *prm, return_indices=True),
                 "fwd+bwd": lambda: sp.max_pool2d_backward(g, sp.max_pool2d(x, *prm, return_indices=True)[1],
                                                           x.shape)}
        for op in [o for o in cfg.ops if o in calls]:
            fn, limit = calls[op], C.K.cache_info()[2]

            def on(fn=fn, limit=limit):  # the cache as configured, refilled by one untimed call
                C.K.set_cache_limit(limit)
                fn()
            progress(f"cache {case} {op}: timing on and off")
            try:
                t = measure({"cache on": fn, "cache off": fn}, cfg,
                            before={"cache on": on, "cache off": lambda: C.K.set_cache_limit(0)})
            finally:
                C.K.set_cache_limit(limit)
            on_ms, off_ms = t["cache on"]["median_ms"], t["cache off"]["median_ms"]
            rows.append({"case": case, "op": op, "shape": list(x.shape), "params": prm, "limit_bytes": limit,
                         "on_ms": on_ms, "off_ms": off_ms, "x": off_ms / on_ms, "times": t})
        if case == CACHE_CASES[0]:  # the memory it keeps after one forward + backward, and release_memory()
            sp.release_memory()
            rss0 = _rss_bytes()
            calls["fwd+bwd"]()
            cached, rss1 = C.K.cache_info()[0], _rss_bytes()
            freed = sp.release_memory()
            rss2 = _rss_bytes()
            mb = lambda v: "?" if v is None else f"{v / 2**20:.0f} MiB"  # noqa: E731
            notes.append(f"after one {case} max fwd+bwd ({x.shape}) with its results freed: {mb(cached)} of result "
                         f"buffers cached (limit {mb(C.K.cache_info()[2])}); process RSS {mb(rss0)} before, "
                         f"{mb(rss1)} after; `sp.release_memory()` freed {mb(freed)}, RSS then {mb(rss2)}")
    return rows, notes


def build_rows(cfg, progress):
    """Each build of the kernels this CPU runs and this install has, on a few cases, interleaved (switched with
    _compiled.use_kernels before each sample); results checked equal to the auto build's bit for bit."""
    if sp.backend != "compiled":
        return [], [], []  # the reference backend has no kernel builds (the header says which backend ran)
    from stridepool import _compiled as C

    auto, builds = C.KERNELS, list(C.available_kernels())
    rows, problems = [], []
    try:
        for case, fam in [r for r in BUILD_ROWS if r[0] in cfg.cases]:
            x, prm, g = planar_data(case, cfg)
            if fam == "max":
                op = "fwd+bwd"
                fn = lambda: sp.max_pool2d_backward(g, sp.max_pool2d(x, *prm, return_indices=True)[1], x.shape)  # noqa: E731,E501

                def results(x=x, prm=prm, g=g):
                    y, i = sp.max_pool2d(x, *prm, return_indices=True)
                    return y, i, sp.max_pool2d_backward(g, i, x.shape)
            else:
                op = "fwd"
                fn = lambda: sp.max_pool2d(x, *prm)  # noqa: E731
                results = lambda: (sp.max_pool2d(x, *prm),)  # noqa: E731
            want = results()
            for b in builds:
                C.use_kernels(b)
                if not all(np.array_equal(a, w, equal_nan=True) for a, w in zip(results(), want)):
                    problems.append(f"{case} {fam}: the {b} build's results differ from the {auto} build's")
            C.use_kernels(auto)
            progress(f"builds {case} {fam} {op}: timing {', '.join(builds)}")
            t = measure({b: fn for b in builds}, cfg,
                        before={b: (lambda b=b: (C.use_kernels(b), fn())) for b in builds})
            C.use_kernels(auto)
            ms = {b: t[b]["median_ms"] for b in builds}
            rows.append({"case": case, "kind": fam, "op": op, "shape": list(x.shape), "params": prm, "auto": auto,
                         "ms": ms, "vs_auto": {b: ms[auto] / ms[b] for b in builds}, "times": t})
    finally:
        C.use_kernels(auto)
    return rows, builds, problems


def ecosystem_rows(cfg, progress):
    """The NumPy ecosystem's calls (bench/ecosystem.py's batch rows) against stridepool's, values checked."""
    import ecosystem

    x = np.random.default_rng(0).standard_normal(batch(ecosystem.BATCH, cfg), dtype=np.float32)
    rows, notes = [], []
    for group, what, ours, theirs, name, exact in ecosystem.batch_pooling(x):
        try:
            ecosystem.check(ours(), theirs(), exact)
            problem = None
        except AssertionError as e:
            problem = " ".join(str(e).split())[:200]
            print(f"WARNING: ecosystem {what} vs {name}: {problem}", file=sys.stderr)
        progress(f"ecosystem: {what} vs {name}")
        t = measure({"stridepool": ours, "other": theirs}, cfg)
        ms, other = t["stridepool"]["median_ms"], t["other"]["median_ms"]
        rows.append({"group": group, "stridepool": what, "other": name, "stridepool_ms": ms, "other_ms": other,
                     "x": other / ms, "check": problem, "times": t})
    for module, what in (("skimage", "scikit-image"), ("scipy", "SciPy")):
        try:
            __import__(module)
        except ImportError:
            notes.append(f"{what} is not installed: its rows are left out")
    return rows, notes


# ------------------------------------------------------------------------------------------------ bridges


def bridge_rows(cfg, progress):
    """Issue 16's bridge rows: the LeNet-sized training step with each framework's pooling and with
    stridepool's (bench/bridges.py for PyTorch, bench/bridges_jax.py for JAX), and per-call overheads."""
    steps, overhead, notes = [], [], []
    if cfg.torch:
        try:
            import bridges

            progress("bridges: PyTorch LeNet step")
            fns, _, same = bridges.lenet_torch(cfg.threads)
            t = bridges.interleaved(fns, cfg.torch_repeats)
            steps.append({"kind": "step", "framework": "torch", "layout": "NCHW", "native_ms": t["native"],
                          "stridepool_ms": t["stridepool"], "vs_native": t["native"] / t["stridepool"],
                          "same": "loss and gradients bit-identical" if same else "DIFFERENT loss or gradients"})
            progress("bridges: PyTorch per-call overhead")
            overhead += [{"framework": "torch", "call": name, "us": v * 1e3}
                         for name, v in bridges.overhead_torch(cfg.torch_repeats).items()]
        except Exception as e:  # noqa: BLE001  (an ImportError: the bridge or its framework is missing)
            traceback.print_exc()
            notes.append(f"PyTorch bridge rows skipped ({type(e).__name__}: {e})")
    if cfg.jax:
        try:
            import bridges_jax

            progress("bridges: JAX LeNet step")
            medians, checks = bridges_jax.bench_lenet(cfg.jax_step_calls, cfg.jax_rounds)
            for layout in ("NCHW", "NHWC"):
                a, b = medians[(layout, "native")] * 1e3, medians[(layout, "stridepool")] * 1e3
                same, worst = checks[layout]
                steps.append({"kind": "step", "framework": "jax", "layout": layout, "native_ms": a,
                              "stridepool_ms": b, "vs_native": a / b,
                              "same": f"{'same' if same else 'DIFFERENT'} loss; gradients within {worst:.1e} (rel.)"})
            progress("bridges: JAX per-call overhead")
            overhead += [{"framework": "jax", "call": name, "us": v * 1e6}
                         for name, v in bridges_jax.bench_overhead(cfg.jax_calls, cfg.jax_rounds).items()]
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            notes.append(f"JAX bridge rows skipped ({type(e).__name__}: {e})")
    sp.set_num_threads(cfg.threads)
    if torch is not None:
        torch.set_num_threads(cfg.threads)
    return steps, overhead, notes


# ------------------------------------------------------------------------------------------------ targets
# Issue 15 (speed, round 3) first, then the older targets that it does not replace (issue 9: the N-d family)
# and issue 16's bridge steps. Each applies to the rows it selects (float32 rows of the case tables, or the
# bridge steps); the geometric mean is over rows. The script only reports them: it never fails on them.

SMALL_4 = ("s28", "s14", "s32", "s32k3")


def _rows_of(kind, layout="first", op="fwd+bwd", cases=None):
    def select(r):
        return (r.get("kind"), r.get("layout"), r.get("op"), r.get("dtype")) == (kind, layout, op, "float32") and (
            cases is None or r["case"] in cases)
    return select


def _step_of(framework, layout="NCHW"):
    return lambda r: r.get("kind") == "step" and (r["framework"], r["layout"]) == (framework, layout)


def _nd(which):
    return lambda r: r.get("case") in ND_CASES and r.get("op") == "fwd+bwd" and which(r["case"])


class Target(SimpleNamespace):
    """what: the target's text; short: its text in a row's target cell; issue; select(row); key: the row's
    measure; need and sense: the bound (">=" or "<="); geomean: the bound is on the rows' geometric mean."""

    geomean = False

    def test(self, value):
        return None if value is None else value >= self.need if self.sense == ">=" else value <= self.need


TARGETS = [
    Target(what="forward without indices >= 1.5x JAX/XLA, every case (small planes included)", short=">=1.5x jax",
           issue=15, select=_rows_of("infer", op="fwd", cases=PLANAR), key="vs_jax", sense=">=", need=1.5),
    Target(what="small-plane max fwd+bwd >= 4x PyTorch (s28, s14, s32, s32k3)", short=">=4x torch", issue=15,
           select=_rows_of("max", cases=SMALL_4), key="vs_torch", sense=">=", need=4),
    Target(what="planar max fwd+bwd: geometric mean over the five standard cases >= 5.5x PyTorch", short=None,
           issue=15, select=_rows_of("max", cases=CASES), key="vs_torch", sense=">=", need=5.5, geomean=True),
    Target(what="planar max fwd+bwd >= 2.5x PyTorch, each standard case", short=">=2.5x torch", issue=15,
           select=_rows_of("max", cases=CASES), key="vs_torch", sense=">=", need=2.5),
    Target(what="ResNet stem, VGG and overlapping max fwd+bwd <= 1.4x the memory floor", short="<=1.4x floor",
           issue=15, select=_rows_of("max", cases=LARGE), key="x_floor", sense="<=", need=1.4),
    Target(what="channels-last max fwd+bwd >= 1.0x PyTorch channels_last, every case", short=">=1x torch CL",
           issue=15, select=_rows_of("max", "last", cases=PLANAR), key="vs_torch", sense=">=", need=1.0),
    Target(what="channels-last max fwd+bwd >= 2.5x PyTorch channels_last, ResNet stem and VGG",
           short=">=2.5x torch CL", issue=15, select=_rows_of("max", "last", cases=("resnet_stem", "vgg")),
           key="vs_torch", sense=">=", need=2.5),
    Target(what="average pooling fwd+bwd >= 3x PyTorch, every case", short=">=3x torch", issue=15,
           select=_rows_of("avg", cases=PLANAR), key="vs_torch", sense=">=", need=3),
    Target(what="`MaxPool2d` layer fwd+bwd >= 7x PyTorch's module with autograd, ResNet stem", short=">=7x torch",
           issue=15, select=_rows_of("layer", cases=("resnet_stem",)), key="vs_torch", sense=">=", need=7),
    Target(what="N-d cases fwd+bwd >= 2x PyTorch (but global average)", short=">=2x torch", issue=9,
           select=_nd(lambda c: c != "global_avg"), key="vs_torch", sense=">=", need=2),
    Target(what="global average fwd+bwd >= 1x PyTorch", short=">=1x torch", issue=9,
           select=_nd(lambda c: c == "global_avg"), key="vs_torch", sense=">=", need=1),
    Target(what="N-d cases fwd+bwd <= 2x the memory floor", short="<=2x floor", issue=9, select=_nd(bool),
           key="x_floor", sense="<=", need=2),
    Target(what="LeNet-sized JAX training step (NCHW): stridepool.jax >= 1.7x `lax.reduce_window`",
           short=">=1.7x native", issue=16, select=_step_of("jax"), key="vs_native", sense=">=", need=1.7),
    Target(what="LeNet-sized PyTorch training step: stridepool.torch >= 1.25x `nn.MaxPool2d`",
           short=">=1.25x native", issue=16, select=_step_of("torch"), key="vs_native", sense=">=", need=1.25),
]


def row_targets(row):
    """The row's targets: [{"what": short text, "pass": True/False/None (not measured)}]."""
    return [{"what": t.short, "pass": t.test(row.get(t.key))} for t in TARGETS
            if not t.geomean and t.select(row)]


def evaluate_targets(rows):
    """One line per target over all rows: the values it tested, how many met it."""
    out = []
    for t in TARGETS:
        sel = [r for r in rows if t.select(r)]
        if not sel:
            continue
        name = lambda r: r["case"] if "case" in r else f"{r['framework']} {r['layout']}"  # noqa: E731
        values = [(name(r), r.get(t.key)) for r in sel]
        if t.geomean:
            got = [v for _, v in values if v]
            value = math.exp(sum(map(math.log, got)) / len(got)) if len(got) == len(sel) == len(CASES) else None
            out.append({"what": t.what, "issue": t.issue, "values": {"geometric mean": value}, "geomean": True,
                        "met": t.test(value), "passed": int(bool(t.test(value))), "tested": int(value is not None)})
            continue
        passed = [t.test(v) for _, v in values]
        tested = [p for p in passed if p is not None]
        out.append({"what": t.what, "issue": t.issue, "values": dict(values), "geomean": False,
                    "met": None if not tested else all(tested), "passed": sum(tested), "tested": len(tested)})
    return out


def targets_table(evaluated):
    body = []
    for e in evaluated:
        measured = ", ".join(f"{n} {ratio(v)}" for n, v in e["values"].items())
        status = ("not measured" if e["met"] is None else "met" if e["met"] else
                  f"not met ({e['passed']} of {e['tested']})" if e["tested"] > 1 else "not met")
        body.append([e["issue"], e["what"], measured, status])
    return Table(["issue", "target", "measured", "status"], body, "llll")


def summarize(row, copy_gbps):
    t = {n: v["median_ms"] for n, v in row["times"].items()}
    ms = t["stridepool"]
    for other in ("torch", "jax", "reference"):
        row[f"vs_{other}"] = t[other] / ms if other in t else None
    row["gbps"] = row["bytes"] / ms / 1e6
    row["pct_copyto"] = 100 * row["gbps"] / copy_gbps
    row["x_floor"] = copy_gbps / row["gbps"]  # time over the bytes' time at np.copyto's bandwidth
    row["targets"] = row_targets(row)
    return row


# ------------------------------------------------------------------------------------------------- tables


class Table(SimpleNamespace):
    """A table: head, body (lists of cells) and align (a letter per column, "l" or "r")."""

    def __init__(self, head, body, align):
        super().__init__(head=head, body=body, align=align)

    def text(self):
        w = [max(len(str(x)) for x in col) for col in zip(self.head, *self.body)]
        line = lambda cells: "  ".join(str(c).ljust(w[i]) if self.align[i] == "l" else str(c).rjust(w[i])  # noqa
                                       for i, c in enumerate(cells)).rstrip()
        return "\n".join([line(self.head), line(["-" * n for n in w])] + [line(b) for b in self.body])

    def md(self):
        rows = [self.head, ["---:" if a == "r" else "---" for a in self.align]] + self.body
        return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


def label(row):
    case = row["case"] if row["dtype"] == "float32" else f"{row['case']} {row['dtype']}"
    kind = {"infer": "max no-idx", "layer": "MaxPool2d", "amax": "adaptive max", "aavg": "adaptive avg"}.get(
        row["kind"], row["kind"])
    if row["case"] in ND_CASES and row["kind"] in ("max", "avg"):
        kind += f" {row['nd']}d"
    return case, f"{kind}{' CL' if row['layout'] == 'last' else ''} {row['op']}"


def ratio(v):
    return "-" if v is None else format(v, ".2f" if v < 10 else ".1f")


def ms_cell(v):
    return "-" if v is None else format(v, ".4g")


def verdicts(targets):
    return "; ".join(("n/a" if t["pass"] is None else "PASS" if t["pass"] else "FAIL") + f" ({t['what']})"
                     for t in targets)


HEAD = ["case", "op", "stridepool ms", "torch ms", "jax ms", "ref ms", "x vs torch", "x vs jax", "x vs ref", "GB/s",
        "x floor", "target"]


def case_table(rows):
    body = []
    for r in rows:
        t = {n: v["median_ms"] for n, v in r["times"].items()}
        body.append([*label(r), ms_cell(t.get("stridepool")), ms_cell(t.get("torch")), ms_cell(t.get("jax")),
                     ms_cell(t.get("reference")), ratio(r["vs_torch"]), ratio(r["vs_jax"]), ratio(r["vs_reference"]),
                     format(r["gbps"], ".3g"), format(r["x_floor"], ".2f"), verdicts(r["targets"])])
    return Table(HEAD, body, "ll" + "r" * 9 + "l")


def cache_table(rows):
    return Table(["case", "op", "cache on ms", "cache off ms", "x (off / on)"],
                 [[r["case"], f"max {r['op']}", ms_cell(r["on_ms"]), ms_cell(r["off_ms"]), ratio(r["x"])]
                  for r in rows], "llrrr")


def build_table(rows, builds, auto):
    others = [b for b in builds if b != auto]
    head = (["case", "op"] + [f"{b} (auto) ms" if b == auto else f"{b} ms" for b in builds]
            + [f"{b} x vs auto" for b in others])
    body = [[r["case"], f"{'max' if r['kind'] == 'max' else 'max no-idx'} {r['op']}"]
            + [ms_cell(r["ms"][b]) for b in builds] + [ratio(r["vs_auto"][b]) for b in others] for r in rows]
    return Table(head, body, "ll" + "r" * (len(builds) + len(others)))


def ecosystem_table(rows):
    return Table(["group", "stridepool", "ms", "other", "ms", "x faster", "values"],
                 [[r["group"], f"`{r['stridepool']}`", ms_cell(r["stridepool_ms"]), f"`{r['other']}`",
                   ms_cell(r["other_ms"]), ratio(r["x"]), "DIFFER" if r["check"] else "same"] for r in rows],
                 "llrlrrl")


def step_table(rows):
    return Table(["framework", "layout", "native ms", "stridepool ms", "x vs native", "check",
                  "target"],
                 [[r["framework"], r["layout"], ms_cell(r["native_ms"]), ms_cell(r["stridepool_ms"]),
                   ratio(r["vs_native"]), r["same"], verdicts(r["targets"])] for r in rows], "llrrrll")


def overhead_table(rows):
    return Table(["framework", "call on (1, 1, 6, 6)", "us"],
                 [[r["framework"], r["call"], format(r["us"], ".1f")] for r in rows], "llr")


# ------------------------------------------------------------------------------------------- the machine


def _version(module):
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001  (not installed, or broken: the header says so)
        return None


def machine(cfg):
    kernels = {"auto order": None, "runs": None}
    if sp.backend == "compiled":
        from stridepool import _compiled as C
        kernels = {"auto order": list(C.AUTO_ORDER), "runs": list(C.available_kernels())}
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(), "isa": isa_flags(), "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "jax": jax.__version__ if jax is not None else None,
        "scipy": _version("scipy"), "skimage": _version("skimage"),
        "stridepool": sp.__version__, "stridepool_backend": sp.backend, "stridepool_commit": git_commit(),
        "stridepool_kernels": getattr(sp, "kernels", None), "kernel_builds": kernels,
        "env": {k: os.environ.get(k) for k in ("STRIDEPOOL_CPU", "STRIDEPOOL_CACHE_MB", "OMP_WAIT_POLICY",
                                              "OMP_NUM_THREADS", "XLA_FLAGS")},
        "stridepool_path": str(Path(sp.__file__).parent), "threads": cfg.threads,
        "loadavg_start": list(loadavg()),
    }


def header_text(info, cfg, copy_gbps):
    def note_of(name, on=True):
        v = info[name] or "not installed"
        return v + (" (not run)" if info[name] and not on else "")

    kb = info["kernel_builds"]
    builds = (f"builds this CPU runs: {', '.join(kb['runs'])} (auto order {' > '.join(kb['auto order'])})"
              if kb["runs"] is not None else "no kernel builds")
    env = ", ".join(f"{k}={v}" for k, v in info["env"].items() if v is not None) or "none set"
    load = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    text = (f"stridepool {info['stridepool']} ({info['stridepool_backend']}, {info['stridepool_kernels']} kernels, "
            f"{info['stridepool_commit']}) | {builds} | threads {cfg.threads}\n"
            f"{info['cpu']}, {info['cores']} cores ({info['cores_available']} available) | ISA: "
            f"{format_isa(info['isa'])}\n"
            f"{info['platform']} | Python {info['python']} | numpy {info['numpy']} | torch "
            f"{note_of('torch', cfg.torch)} | jax {note_of('jax', cfg.jax)} | scipy {note_of('scipy')} | "
            f"scikit-image {note_of('skimage')} | environment: {env}\n"
            f"{info['date']} | np.copyto 256 MB float32: {copy_gbps:.2f} GB/s (read + write) | load average "
            f"(1, 5, 15 min) {load(info['loadavg_start'])} at the start, {load(info['loadavg_end'])} at the end | "
            f"{info['seconds']} s")
    if cfg.quick:
        text += "\nQUICK smoke run: batch sizes divided by 4, few repeats; not the standard cases' figures"
    return text


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot (pip install matplotlib)"
    fb = [r for r in rows if r["op"] == "fwd+bwd"]
    panels = [("torch", "forward+backward: x faster than torch", [r for r in fb if r["vs_torch"] is not None]),
              ("jax", "max forward without indices: x faster than JAX/XLA",
               [r for r in rows if r["vs_jax"] is not None]),
              ("reference", "forward+backward: x faster than the reference",
               [r for r in fb if r["vs_reference"] is not None])]
    panels = [pn for pn in panels if pn[2]]
    if not panels:
        return "nothing to compare with: no plot"
    n = max(len(pn[2]) for pn in panels)
    fig, axs = plt.subplots(1, len(panels), figsize=(6 * len(panels), 0.28 * n + 1.5), squeeze=False)
    for ax, (k, title, rs) in zip(axs[0], panels):
        v = [r[f"vs_{k}"] for r in rs]
        colors = ["tab:green" if x >= 1 else "tab:red" for x in v]
        bars = ax.barh(range(len(rs)), v, color=colors)
        ax.bar_label(bars, [f"{x:.2g}" for x in v], fontsize=7, padding=2)
        ax.set_yticks(range(len(rs)), [" ".join(label(r)) for r in rs], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.axvline(1, color="black", lw=0.8)
        ax.set_title(f"stridepool {title}\n(median time ratio, log scale)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ---------------------------------------------------------------------------------------------------- main


def options(argv):
    everything = list(PLANAR) + list(ND_CASES)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: batch sizes / 4, fewer repeats, forward+backward and forward ops only")
    ap.add_argument("--threads", type=int, default=2, help="threads for stridepool and torch (default 2)")
    ap.add_argument("--cases", nargs="+", choices=everything, default=everything, metavar="CASE",
                    help=f"cases to run, in every section (default all: {' '.join(everything)})")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the NumPy reference")
    ap.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch even if installed")
    ap.add_argument("--no-jax", dest="jax", action="store_false", help="skip JAX even if installed")
    ap.add_argument("--no-cache-rows", dest="cache", action="store_false",
                    help="skip the rows of the result-buffer cache on and off")
    ap.add_argument("--no-builds", dest="builds", action="store_false", help="skip the rows of each kernel build")
    ap.add_argument("--no-ecosystem", dest="ecosystem", action="store_false",
                    help="skip the rows of scikit-image, the reshape idiom and SciPy")
    ap.add_argument("--bridges", action=argparse.BooleanOptionalAction, default=True,
                    help="the framework bridges' rows (default: on, for the frameworks installed)")
    ap.add_argument("--out", type=Path, default=HERE, help="directory of results.json/.md and speedup.png")
    cfg = ap.parse_args(argv)
    cfg.torch = cfg.torch and torch is not None
    cfg.jax = cfg.jax and jax is not None
    if cfg.quick:  # seconds of sampling per implementation and measurement; seconds per sample
        vars(cfg).update(budget=0.1, ref_budget=0.2, min_reps=3, ref_reps=1, max_reps=30, sample=0.01,
                         copy_reps=5, ops=("fwd+bwd", "fwd"), shrink=4,
                         torch_repeats=5, jax_step_calls=1, jax_calls=100, jax_rounds=2)
    else:
        vars(cfg).update(budget=0.6, ref_budget=2.0, min_reps=5, ref_reps=2, max_reps=200, sample=0.02,
                         copy_reps=10, ops=("fwd+bwd", "fwd", "bwd"), shrink=1,
                         torch_repeats=21, jax_step_calls=5, jax_calls=500, jax_rounds=7)
    return cfg


def main(argv=None):
    cfg = options(argv)
    sp.set_num_threads(cfg.threads)
    if cfg.torch:
        torch.set_num_threads(cfg.threads)

    t0 = time.perf_counter()
    tty = sys.stderr.isatty()

    def progress(msg, log=False):
        text = f"[{time.perf_counter() - t0:6.1f} s] {msg}"
        if tty and not log:
            print("\r\033[K" + text, end="", file=sys.stderr, flush=True)
        else:
            print(("\r\033[K" if tty else "") + text, file=sys.stderr, flush=True)

    info = machine(cfg)
    if sp.backend != "compiled":
        print(f"WARNING: stridepool runs on its {sp.backend} backend (build it: python setup.py build_ext "
              "--inplace)", file=sys.stderr)
    progress("np.copyto bandwidth")
    copy = copyto_bandwidth(cfg)
    rows = []
    todo = groups(cfg)
    for n, grp in enumerate(todo, 1):
        rows += run_group(grp, cfg, lambda m, log=False: progress(f"({n}/{len(todo)}) {m}", log))
    progress("np.copyto bandwidth again")
    copy += copyto_bandwidth(cfg)
    copy_gbps = statistics.median(copy)
    rows = [summarize(r, copy_gbps) for r in rows]
    sp.release_memory()

    notes = {"cache": [], "builds": [], "ecosystem": [], "bridges": []}
    cache, builds, build_names, build_problems, eco, steps, overhead = [], [], [], [], [], [], []

    def section(name, run, empty):
        """An optional section's results; its failure is reported (a note, the traceback on stderr), not fatal:
        the tables measured so far are still written."""
        try:
            return run(cfg, progress)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            notes[name].append(f"FAILED: {type(e).__name__}: {e}")
            return empty
        finally:
            sp.release_memory()

    if cfg.cache:
        cache, more = section("cache", cache_rows, ([], []))
        notes["cache"] += more
    if cfg.builds:
        builds, build_names, build_problems = section("builds", build_rows, ([], [], []))
    if cfg.ecosystem:
        eco, more = section("ecosystem", ecosystem_rows, ([], []))
        notes["ecosystem"] += more
    if cfg.bridges:
        steps, overhead, more = section("bridges", bridge_rows, ([], [], []))
        notes["bridges"] += more
        if not (cfg.torch or cfg.jax):
            notes["bridges"].append("neither PyTorch nor JAX is run: no bridge rows")
    for r in steps:
        r["targets"] = row_targets(r)
    info["loadavg_end"] = list(loadavg())
    info["seconds"] = round(time.perf_counter() - t0, 1)
    if tty:
        print("\r\033[K", end="", file=sys.stderr)

    header = header_text(info, cfg, copy_gbps)
    evaluated = evaluate_targets(rows + steps)
    counts = [t["pass"] for r in rows + steps for t in r["targets"]] + [e["met"] for e in evaluated if e["geomean"]]
    summary = (f"targets: {sum(c is True for c in counts)} PASS, {sum(c is False for c in counts)} FAIL, "
               f"{sum(c is None for c in counts)} n/a (of {len(counts)}; a row and a target each)")
    bad = sorted({f"{r['case']} {r['kind']} {r['layout']} {r['dtype']}" for r in rows if r["check"]})
    bad += [f"ecosystem {r['stridepool']} vs {r['other']}" for r in eco if r["check"]] + build_problems

    f32 = {r["op"]: r["gbps"] for r in rows if (r["case"], r["kind"], r["layout"], r["dtype"]) ==
           (DTYPE_CASE, "max", "first", "float32")}
    per_byte = [f"{r['dtype']} {r['op']} {r['gbps'] / f32[r['op']]:.2f}" for r in rows
                if r["dtype"] != "float32" and r["op"] in f32]
    auto = info["stridepool_kernels"]
    of = lambda cases: [r for r in rows if r["case"] in cases and r["dtype"] == "float32"]  # noqa: E731
    # (title, text before the table, table, notes after it): the sections of results.md, in order
    sections = [
        ("Targets", "Issue 15's targets first, then the older ones it does not replace (issue 9: the N-d family) and "
         "issue 16's training steps; `measured` is each row's ratio (`x floor` for the floor targets). Reported "
         "only: the script never fails on them.", targets_table(evaluated), [summary]),
        ("Standard cases", "float32, NCHW (`CL`: the same pooling on the NHWC array, against PyTorch's "
         "`channels_last`).", case_table(of(CASES)), []),
        ("Small planes", "float32, NCHW: the planes of the deeper half of a CNN and of the MNIST/CIFAR networks: "
         + ", ".join(f"{c} `{s}` k{k} s{st}" + (f" p{p}" if p else "") for c, (s, k, st, p) in SMALL_CASES.items())
         + ".", case_table(of(SMALL_CASES)), []),
        ("N-d family", "float32: 3D, 1D, global average and adaptive max pooling.", case_table(of(ND_CASES)), []),
        ("Other dtypes", f"Max pooling on the {DTYPE_CASE} case in other dtypes (PyTorch has no integer max pool "
         "backward on the CPU).", case_table([r for r in rows if r["dtype"] != "float32"]),
         [f"GB/s relative to float32 ({DTYPE_CASE} max): " + ", ".join(per_byte)] if per_byte else []),
        ("Result-buffer cache", "Max pooling with indices (`fwd`) and its backward after it (`fwd+bwd`), with the "
         "cache of freed result buffers on (as configured) and off (`set_cache_limit(0)`), interleaved: `x` is how "
         "many times slower the call is without it.", cache_table(cache), notes["cache"]),
        ("Kernel builds", f"Each build of the kernels this CPU runs, switched with `_compiled.use_kernels` before "
         f"each sample (results checked bit-identical first); `x vs auto` is the auto build's ({auto}) time over "
         "the build's (higher: that build is faster).", build_table(builds, build_names, auto) if builds else None,
         build_problems + notes["builds"]),
        ("NumPy ecosystem", "The calls users write today on an `(N, C, H, W)` float32 batch, against stridepool's "
         "(values checked equal first: exactly for max, to rounding for means); `x faster` is the other's time over "
         "stridepool's.", ecosystem_table(eco) if eco else None, notes["ecosystem"]),
        ("Framework bridges", "Issue 16: a LeNet-sized training step (batch 128, 1x28x28: conv 32, 2x2 max pool, "
         "conv 64, 2x2 max pool, linear 10; loss and gradients) with each framework's pooling (`native`) and "
         "stridepool's bridge (bench/bridges.py, bench/bridges_jax.py), then each bridge's per-call overhead.",
         step_table(steps) if steps else None, []),
        (None, None, overhead_table(overhead) if overhead else None, notes["bridges"]),
    ]
    if not cfg.cache:
        sections = [s for s in sections if s[0] != "Result-buffer cache"]
    if bad:
        sections.append(("Correctness warnings", "See results.json.", None, bad))

    out_text = [header]
    md = ["# stridepool benchmark results", "",
          "Generated by `python bench/run.py" + (" --quick" if cfg.quick else "") + "`: every table below comes "
          "from this one run. Times are medians in ms of interleaved samples; `x vs torch` is torch's time over "
          "stridepool's (higher is better); `x floor` is stridepool's time over the time its bytes take at "
          "`np.copyto`'s bandwidth (see bench/README.md).", "", "```", header, "```", ""]
    for title, intro, table, after in sections:
        if title:
            out_text += ["", f"== {title}"]
            md += [f"## {title}", "", intro, ""]
        if table is not None and table.body:
            out_text += ["", table.text()]
            md += [table.md(), ""]
        elif title:
            out_text.append("(no rows)")
            md += ["(no rows in this run)", ""]
        if after:
            out_text += [""] + [f"- {a}" for a in after]
            md += [f"- {a}" for a in after] + [""]
    print("\n".join(out_text))

    cfg.out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(cfg).items() if k != "out"}
    (cfg.out / "results.json").write_text(json.dumps(
        {"machine": info, "settings": settings, "copyto_gbps": copy_gbps, "copyto_samples_gbps": copy,
         "targets": evaluated, "summary": summary, "rows": rows, "cache": cache, "builds": builds,
         "ecosystem": eco, "bridge_steps": steps, "bridge_overhead": overhead, "notes": notes}, indent=1,
        default=str) + "\n")
    (cfg.out / "results.md").write_text("\n".join(md).rstrip("\n") + "\n")
    msg = plot(rows, cfg.out / "speedup.png")
    print(msg or f"wrote {cfg.out / 'results.json'}, results.md, speedup.png")
    if msg:
        print(f"wrote {cfg.out / 'results.json'}, results.md")


if __name__ == "__main__":
    main()
