#!/usr/bin/env python
"""Benchmark stridepool against its NumPy reference and, when installed, PyTorch on the CPU.

    python bench/run.py [--quick] [--threads N] [--cases NAME ...] [--no-reference] [--no-torch]

Every measurement runs the implementations interleaved (one sample of each in turn, the order rotating from
round to round) and reports medians, so that ratios come from one run on one machine under the same load.
Results: a table on stdout, bench/results.json, bench/results.md and bench/speedup.png (needs matplotlib).
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if any((ROOT / "src" / "stridepool").glob("_kernels*.so")):  # prefer this checkout when it is built in place
    sys.path.insert(0, str(ROOT / "src"))
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
IMPLS = ("stridepool", "torch", "jax", "reference")
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


def measure(fns, cfg):
    """Median seconds per call of each callable in `fns`, sampled interleaved. Returns name -> stats dict."""
    plan = {}
    for name, fn in fns.items():
        slow = name == "reference"
        budget = cfg.ref_budget if slow else cfg.budget
        t = _time(fn, 1)  # warm-up (also the calibration of a slow call)
        first = [t] if t > budget else []  # a call longer than the whole budget is its own first sample
        if t < cfg.sample / 10:
            t = _time(fn, max(1, int(cfg.sample / 10 / t)))
        number = max(1, int(cfg.sample / t))
        reps = min(max(int(budget / (t * number)), cfg.ref_reps if slow else cfg.min_reps), cfg.max_reps)
        plan[name] = SimpleNamespace(fn=fn, number=number, reps=max(0, reps - len(first)), samples=first)
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
                    p.samples.append(_time(p.fn, p.number))
    finally:
        gc.enable()
    return {name: {"median_ms": statistics.median(p.samples) * 1e3, "min_ms": min(p.samples) * 1e3,
                   "samples_ms": [s * 1e3 for s in p.samples],
                   "calls_per_sample": p.number} for name, p in plan.items()}


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
    """Every group of rows, in table order."""
    out = []
    for c in cfg.cases:
        if c in CASES:
            shape, k, s, p = CASES[c]
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


def run_group(grp, cfg, progress):
    shape = (max(1, grp.shape[0] // cfg.shrink),) + grp.shape[1:]
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


# ------------------------------------------------------------------------------------------------ targets
# (what, test on a row) per kind of row; a row may have several. Issue 11 (speed, round 2) and issue 9
# (the N-d family) set them; the summary lines add the geometric mean over the five planar max cases.


def _targets(row):
    key = (row["kind"], row["layout"], row["op"])
    out = []
    if row["dtype"] != "float32":
        return out
    if key == ("max", "first", "fwd+bwd") and row["case"] in CASES:
        out.append((">=2.5x torch", lambda r: r["vs_torch"] and r["vs_torch"] >= 2.5))
        if row["case"] in LARGE:
            out.append(("<=1.6x floor", lambda r: r["x_floor"] <= 1.6))
    if key == ("max", "last", "fwd+bwd") and row["case"] != "tiny":
        out.append((">=2x torch CL", lambda r: r["vs_torch"] and r["vs_torch"] >= 2))
    if key == ("avg", "first", "fwd+bwd") and row["case"] in CASES:
        out.append((">=3x torch", lambda r: r["vs_torch"] and r["vs_torch"] >= 3))
    if row["kind"] == "layer":
        out.append((">=6x torch", lambda r: r["vs_torch"] and r["vs_torch"] >= 6))
    if row["kind"] == "infer":
        out.append((">=1x jax", lambda r: r.get("vs_jax") and r["vs_jax"] >= 1))
    if row["case"] in ND_CASES and row["op"] == "fwd+bwd":
        need = 1 if row["case"] == "global_avg" else 2
        out.append((f">={need}x torch", lambda r, need=need: r["vs_torch"] and r["vs_torch"] >= need))
        out.append(("<=2x floor", lambda r: r["x_floor"] <= 2))
    return out


def summarize(row, copy_gbps):
    t = {n: v["median_ms"] for n, v in row["times"].items()}
    ms = t["stridepool"]
    for other in ("torch", "jax", "reference"):
        row[f"vs_{other}"] = t[other] / ms if other in t else None
    row["gbps"] = row["bytes"] / ms / 1e6
    row["pct_copyto"] = 100 * row["gbps"] / copy_gbps
    row["x_floor"] = copy_gbps / row["gbps"]  # time over the bytes' time at np.copyto's bandwidth
    row["targets"] = [{"what": what, "pass": None if row["vs_torch"] is None and "torch" in what or
                       row.get("vs_jax") is None and "jax" in what else bool(test(row))}
                      for what, test in _targets(row)]
    return row


def label(row):
    case = row["case"] if row["dtype"] == "float32" else f"{row['case']} {row['dtype']}"
    kind = {"infer": "max no-idx", "layer": "MaxPool2d", "amax": "adaptive max", "aavg": "adaptive avg"}.get(
        row["kind"], row["kind"])
    if row["case"] in ND_CASES and row["kind"] in ("max", "avg"):
        kind += f" {row['nd']}d"
    return case, f"{kind}{' CL' if row['layout'] == 'last' else ''} {row['op']}"


def ratio(v):
    return "-" if v is None else format(v, ".2f" if v < 10 else ".1f")


HEAD = ["case", "op", "stridepool ms", "torch ms", "jax ms", "ref ms", "x vs torch", "x vs jax", "x vs ref", "GB/s",
        "x floor", "target"]


def table(rows):
    body = []
    for r in rows:
        t = {n: v["median_ms"] for n, v in r["times"].items()}
        f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
        tgt = "; ".join(("n/a" if tg["pass"] is None else "PASS" if tg["pass"] else "FAIL") + f" ({tg['what']})"
                        for tg in r["targets"])
        body.append([*label(r), f(t.get("stridepool"), ".4g"), f(t.get("torch"), ".4g"), f(t.get("jax"), ".4g"),
                     f(t.get("reference"), ".4g"), ratio(r["vs_torch"]), ratio(r["vs_jax"]),
                     ratio(r["vs_reference"]), f(r["gbps"], ".3g"), f(r["x_floor"], ".2f"), tgt])
    return HEAD, body


def format_text(head, body):
    w = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    last = len(head) - 1
    line = lambda cells: "  ".join(str(c).ljust(w[i]) if i < 2 or i == last else str(c).rjust(w[i])  # noqa: E731
                                   for i, c in enumerate(cells)).rstrip()
    return "\n".join([line(head), line(["-" * n for n in w])] + [line(b) for b in body])


def format_md(head, body):
    rows = [head, ["---"] * 2 + ["---:"] * (len(head) - 3) + ["---"]] + body
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


def summary(rows):
    """The targets over several rows: the geometric mean of the planar max speed-ups."""
    planar = [r["vs_torch"] for r in rows if (r["kind"], r["layout"], r["op"], r["dtype"]) ==
              ("max", "first", "fwd+bwd", "float32") and r["case"] in CASES and r["vs_torch"]]
    out = []
    if len(planar) == len(CASES):
        gm = math.exp(sum(math.log(v) for v in planar) / len(planar))
        out.append({"what": "geometric mean of the planar max fwd+bwd speed-ups >= 5x torch", "value": round(gm, 2),
                    "pass": gm >= 5})
    return out


def machine(cfg):
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu, "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "jax": jax.__version__ if jax is not None else None,
        "stridepool": sp.__version__, "stridepool_backend": sp.backend, "stridepool_commit": commit,
        "stridepool_kernels": getattr(sp, "kernels", None),
        "stridepool_path": str(Path(sp.__file__).parent), "threads": cfg.threads,
        "loadavg_start": list(os.getloadavg()),
    }


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot (pip install matplotlib)"
    rows = [r for r in rows if r["op"] == "fwd+bwd"]
    panels = [(k, "x faster than " + k, [r for r in rows if r[f"vs_{k}"] is not None]) for k in ("torch", "reference")]
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
        if k == "torch":
            ax.axvline(2, color="gray", ls="--", lw=0.8)
        ax.set_title(f"stridepool forward+backward: {title}\n(median time ratio, log scale)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv=None):
    everything = list(CASES) + list(ND_CASES)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: batch sizes / 4, fewer repeats, forward+backward ops only")
    ap.add_argument("--threads", type=int, default=2, help="threads for stridepool and torch (default 2)")
    ap.add_argument("--cases", nargs="+", choices=everything, default=everything, metavar="CASE",
                    help=f"cases to run (default all: {' '.join(everything)})")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the NumPy reference")
    ap.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch even if installed")
    ap.add_argument("--no-jax", dest="jax", action="store_false", help="skip JAX even if installed")
    ap.add_argument("--out", type=Path, default=HERE, help="directory of results.json/.md and speedup.png")
    cfg = ap.parse_args(argv)
    cfg.torch = cfg.torch and torch is not None
    cfg.jax = cfg.jax and jax is not None
    if cfg.quick:  # seconds of sampling per implementation and measurement; seconds per sample
        vars(cfg).update(budget=0.1, ref_budget=0.2, min_reps=3, ref_reps=1, max_reps=30, sample=0.01,
                         copy_reps=5, ops=("fwd+bwd", "fwd"), shrink=4)
    else:
        vars(cfg).update(budget=0.6, ref_budget=2.0, min_reps=5, ref_reps=2, max_reps=200, sample=0.02,
                         copy_reps=10, ops=("fwd+bwd", "fwd", "bwd"), shrink=1)
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
    info["loadavg_end"] = list(os.getloadavg())
    info["seconds"] = round(time.perf_counter() - t0, 1)
    rows = [summarize(r, copy_gbps) for r in rows]
    if tty:
        print("\r\033[K", end="", file=sys.stderr)

    def note_of(name, on):
        v = info[name] or "not installed"
        return v + (" (not run)" if info[name] and not on else "")

    header = (f"stridepool {info['stridepool']} ({info['stridepool_backend']}, {info['stridepool_kernels']} kernels, "
              f"{info['stridepool_commit']}) | numpy {info['numpy']} | torch {note_of('torch', cfg.torch)} | "
              f"jax {note_of('jax', cfg.jax)} | threads {cfg.threads}\n"
              f"{info['cpu']}, {info['cores']} cores ({info['cores_available']} available) | {info['platform']} | "
              f"Python {info['python']} | {info['date']}\n"
              f"np.copyto 256 MB float32: {copy_gbps:.2f} GB/s (read + write) | load average "
              f"{info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f} | {info['seconds']} s")
    if cfg.quick:
        header += "\nQUICK smoke run: batch sizes divided by 4, few repeats; not the standard cases' figures"
    head, body = table(rows)
    notes = []
    f32 = {r["op"]: r["gbps"] for r in rows if (r["case"], r["kind"], r["layout"], r["dtype"]) ==
           (DTYPE_CASE, "max", "first", "float32")}
    per_byte = [f"{r['dtype']} {r['op']} {r['gbps'] / f32[r['op']]:.2f}" for r in rows
                if r["dtype"] != "float32" and r["op"] in f32]
    if per_byte:
        notes.append(f"GB/s relative to float32 ({DTYPE_CASE} max): " + ", ".join(per_byte))
    overall = summary(rows)
    for t in overall:
        notes.append(f"{t['what']}: {t['value']} {'PASS' if t['pass'] else 'FAIL'}")
    targets = [t for r in rows for t in r["targets"]] + overall
    notes.append(f"targets: {sum(t['pass'] is True for t in targets)} PASS, "
                 f"{sum(t['pass'] is False for t in targets)} FAIL, {sum(t['pass'] is None for t in targets)} n/a "
                 f"(of {len(targets)})")
    bad = sorted({f"{r['case']} {r['kind']} {r['layout']} {r['dtype']}" for r in rows if r["check"]})
    if bad:
        notes.append("CORRECTNESS WARNINGS (see results.json): " + "; ".join(bad))
    print(header)
    print()
    print(format_text(head, body))
    print()
    print("\n".join(notes))

    cfg.out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(cfg).items() if k != "out"}
    (cfg.out / "results.json").write_text(json.dumps(
        {"machine": info, "settings": settings, "copyto_gbps": copy_gbps, "copyto_samples_gbps": copy,
         "summary": overall, "rows": rows}, indent=1, default=str) + "\n")
    md = ["# stridepool benchmark results", "",
          "Generated by `python bench/run.py" + (" --quick" if cfg.quick else "") + "`; times are medians in ms, "
          "`x vs torch` is torch time / stridepool time (higher is better), `x floor` is stridepool's time over the "
          "time its bytes take at `np.copyto`'s bandwidth (see bench/README.md).", "", "```", header, "```", "",
          format_md(head, body), ""]
    md += [f"- {n}" for n in notes] + [""]
    (cfg.out / "results.md").write_text("\n".join(md))
    msg = plot(rows, cfg.out / "speedup.png")
    print(msg or f"wrote {cfg.out / 'results.json'}, results.md, speedup.png")
    if msg:
        print(f"wrote {cfg.out / 'results.json'}, results.md")


if __name__ == "__main__":
    main()
