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
DTYPE_CASE, DTYPES = "vgg", ("float64", "int8", "int32")
# (kind, layout, op) -> minimum "x faster than torch"; plus the bandwidth target of the ResNet stem forward
TARGETS = {("max", "NCHW", "fwd+bwd"): 2.0, ("max", "NHWC", "fwd+bwd"): 1.0, ("avg", "NCHW", "fwd+bwd"): 2.0}
STEM_FWD_PCT = 40.0
IMPLS = ("stridepool", "torch", "reference")

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None


# ------------------------------------------------------------------------------------------ implementations
# Each implementation is a namespace of four calls in its native form (NumPy arrays, or tensors) plus `prep`
# (NumPy array in the benchmark's layout -> native) and `back` (native -> NumPy array in that layout).


def numpy_impl(m, k, s, p, axes):
    return SimpleNamespace(
        prep=lambda a: a, back=np.asarray,
        max_fwd=lambda x: m.max_pool2d(x, k, s, p, return_indices=True, axes=axes),
        max_bwd=lambda g, i, x: m.max_pool2d_backward(g, i, x.shape, axes=axes),
        avg_fwd=lambda x: m.avg_pool2d(x, k, s, p, axes=axes),
        avg_bwd=lambda g, x: m.avg_pool2d_backward(g, x.shape, k, s, p, axes=axes))


def torch_impl(k, s, p, channels_last):
    aten = torch.ops.aten
    K, S, P, D = [k, k], [s, s], [p, p], [1, 1]
    if channels_last:  # an NHWC array is an NCHW tensor in torch.channels_last memory format
        prep, back = (lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)), (lambda t: t.permute(0, 2, 3, 1).numpy())
    else:
        prep, back = torch.from_numpy, (lambda t: t.numpy())
    return SimpleNamespace(
        prep=prep, back=back,
        max_fwd=lambda x: F.max_pool2d(x, k, s, p, return_indices=True),
        max_bwd=lambda g, i, x: aten.max_pool2d_with_indices_backward(g, x, K, S, P, D, False, i),
        avg_fwd=lambda x: F.avg_pool2d(x, k, s, p),
        avg_bwd=lambda g, x: aten.avg_pool2d_backward(g, x, K, S, P, False, True, None))


def operations(im, kind, X, G, I):
    """The three timed calls of one implementation: forward, backward and forward followed by backward."""
    if kind == "max":
        return {"fwd+bwd": lambda: im.max_bwd(G, im.max_fwd(X)[1], X),
                "fwd": lambda: im.max_fwd(X), "bwd": lambda: im.max_bwd(G, I, X)}
    return {"fwd+bwd": lambda: (im.avg_fwd(X), im.avg_bwd(G, X)),
            "fwd": lambda: im.avg_fwd(X), "bwd": lambda: im.avg_bwd(G, X)}


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


def check(kind, impls, x, g):
    """Compare stridepool with torch where torch has the operation, else with the reference. Returns problems."""
    problems = []
    s = impls["stridepool"]
    others = [n for n in ("torch", "reference") if n in impls]
    if x.dtype.kind == "f":  # a few NaNs, to check their propagation
        x = x.copy()
        x.flat[np.random.default_rng(1).choice(x.size, max(1, x.size // 100_000), replace=False)] = np.nan

    def other(call):
        for n in others:
            try:
                return n, call(impls[n])
            except (NotImplementedError, RuntimeError):
                continue
        return None, None

    if kind == "max":
        y, i = s.max_fwd(x)
        n, r = other(lambda im: [im.back(a) for a in im.max_fwd(im.prep(x))])
        if n:
            yo, io = r
            problems.append(_same(y, yo, True) and f"max forward values vs {n}: {_same(y, yo, True)}")
            keep = ~(np.isnan(y) | np.isnan(yo)) if y.dtype.kind == "f" else np.ones(y.shape, bool)
            if io.shape != i.shape or not np.array_equal(i[keep], io[keep]):
                problems.append(f"max forward indices vs {n} differ")
            i = io
        gi = s.max_bwd(g, i, x)
        n, r = other(lambda im: im.back(im.max_bwd(im.prep(g), im.prep(i), im.prep(x))))
        if n:
            problems.append(_same(gi, r, False) and f"max backward vs {n}: {_same(gi, r, False)}")
    else:
        x = np.nan_to_num(x)
        y = s.avg_fwd(x)
        n, r = other(lambda im: im.back(im.avg_fwd(im.prep(x))))
        if n:
            problems.append(_same(y, r, False) and f"avg forward vs {n}: {_same(y, r, False)}")
        gi = s.avg_bwd(g, x)
        n, r = other(lambda im: im.back(im.avg_bwd(im.prep(g), im.prep(x))))
        if n:
            problems.append(_same(gi, r, False) and f"avg backward vs {n}: {_same(gi, r, False)}")
    if not others:
        problems.append("not checked (neither torch nor the reference is run)")
    return [p for p in problems if p]


# ------------------------------------------------------------------------------------------------ the run


def groups(cfg):
    """(case, kind, layout, dtype) of every group of rows, in table order."""
    out = []
    for c in cfg.cases:
        out += [(c, "max", "NCHW", "float32"), (c, "max", "NHWC", "float32"), (c, "avg", "NCHW", "float32")]
    if DTYPE_CASE in cfg.cases:
        out += [(DTYPE_CASE, "max", "NCHW", dt) for dt in DTYPES]
    return out


def make_data(shape, dtype, rng):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, dtype=dtype, endpoint=True)


def run_group(case, kind, layout, dtype, cfg, progress):
    shape, k, s, p = CASES[case]
    shape = (max(1, shape[0] // cfg.shrink),) + shape[1:]
    rng = np.random.default_rng(0)
    x = make_data(shape, dtype, rng)
    cl = layout == "NHWC"
    axes = (1, 2) if cl else (-2, -1)
    if cl:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    impls = {"stridepool": numpy_impl(sp, k, s, p, axes)}
    if cfg.torch:
        impls["torch"] = torch_impl(k, s, p, cl)
    if cfg.reference:
        impls["reference"] = numpy_impl(reference, k, s, p, axes)
    if kind == "max":
        y, idx = sp.max_pool2d(x, k, s, p, return_indices=True, axes=axes)
    else:
        y, idx = sp.avg_pool2d(x, k, s, p, axes=axes), None
    g = make_data(y.shape, y.dtype, rng)
    progress(f"{case} {kind} {layout} {dtype}: checking")
    problems = check(kind, impls, x, g)
    for msg in problems:
        print(f"WARNING: {case} {kind} {layout} {dtype}: {msg}", file=sys.stderr)

    nbytes = {"fwd": x.nbytes + y.nbytes, "bwd": g.nbytes + x.nbytes}
    if kind == "max":  # indices: written by the forward, read by the backward
        nbytes = {op: n + 8 * y.size for op, n in nbytes.items()}
    nbytes["fwd+bwd"] = nbytes["fwd"] + nbytes["bwd"]
    fns = {}
    for name, im in impls.items():
        X, G, I = (None if a is None else im.prep(a) for a in (x, g, idx))
        fns[name] = operations(im, kind, X, G, I)
    rows = []
    for op in cfg.ops:
        calls = {}
        for name, ops in fns.items():
            try:
                ops[op]()
                calls[name] = ops[op]
            except (NotImplementedError, RuntimeError) as e:  # e.g. torch has no integer max pool backward
                if name == "stridepool":
                    raise
                progress(f"{case} {kind} {layout} {dtype} {op}: {name} unsupported ({str(e)[:60]})", log=True)
        progress(f"{case} {kind} {layout} {dtype} {op}: timing {', '.join(calls)}")
        rows.append({"case": case, "kind": kind, "layout": layout, "dtype": dtype, "op": op,
                     "shape": list(x.shape), "kernel": k, "stride": s, "padding": p, "bytes": nbytes[op],
                     "times": measure(calls, cfg), "check": problems})
    return rows


def summarize(row, copy_gbps):
    t = {n: v["median_ms"] for n, v in row["times"].items()}
    ms = t["stridepool"]
    row["vs_torch"] = t["torch"] / ms if "torch" in t else None
    row["vs_reference"] = t["reference"] / ms if "reference" in t else None
    row["gbps"] = row["bytes"] / ms / 1e6
    row["pct_copyto"] = 100 * row["gbps"] / copy_gbps
    key = (row["kind"], row["layout"], row["op"])
    target = None
    if row["dtype"] == "float32" and key in TARGETS:
        need = TARGETS[key]
        target = {"what": f">={need:g}x torch", "pass": None if row["vs_torch"] is None else row["vs_torch"] >= need}
    elif (row["case"], row["kind"], row["layout"], row["op"], row["dtype"]) == (
            "resnet_stem", "max", "NCHW", "fwd", "float32"):
        target = {"what": f">={STEM_FWD_PCT:g}% copyto", "pass": row["pct_copyto"] >= STEM_FWD_PCT}
    row["target"] = target
    return row


def label(row):
    case = row["case"] if row["dtype"] == "float32" else f"{row['case']} {row['dtype']}"
    kind = row["kind"] + (" CL" if row["layout"] == "NHWC" else "")
    return case, f"{kind} {row['op']}"


def ratio(v):
    return "-" if v is None else format(v, ".2f" if v < 10 else ".1f")


def table(rows):
    head = ["case", "op", "stridepool ms", "torch ms", "ref ms", "x vs torch", "x vs ref", "GB/s", "% copyto",
            "target"]
    body = []
    for r in rows:
        t = {n: v["median_ms"] for n, v in r["times"].items()}
        f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
        tg = r["target"]
        tgt = "" if tg is None else ("n/a" if tg["pass"] is None else "PASS" if tg["pass"] else "FAIL") + \
            f" ({tg['what']})"
        body.append([*label(r), f(t.get("stridepool"), ".4g"), f(t.get("torch"), ".4g"), f(t.get("reference"), ".4g"),
                     ratio(r["vs_torch"]), ratio(r["vs_reference"]), f(r["gbps"], ".3g"),
                     f(r["pct_copyto"], ".0f"), tgt])
    return head, body


def format_text(head, body):
    w = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w[i]) if i < 2 or i == 9 else str(c).rjust(w[i])  # noqa: E731
                                   for i, c in enumerate(cells)).rstrip()
    return "\n".join([line(head), line(["-" * n for n in w])] + [line(b) for b in body])


def format_md(head, body):
    rows = [head, ["---"] * 2 + ["---:"] * 7 + ["---"]] + body
    return "\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows)


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: batch sizes / 4, fewer repeats, forward+backward ops only")
    ap.add_argument("--threads", type=int, default=2, help="threads for stridepool and torch (default 2)")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), metavar="CASE",
                    help=f"cases to run (default all: {' '.join(CASES)})")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the NumPy reference")
    ap.add_argument("--no-torch", dest="torch", action="store_false", help="skip PyTorch even if installed")
    ap.add_argument("--out", type=Path, default=HERE, help="directory of results.json/.md and speedup.png")
    cfg = ap.parse_args(argv)
    cfg.torch = cfg.torch and torch is not None
    if cfg.quick:  # seconds of sampling per implementation and measurement; seconds per sample
        vars(cfg).update(budget=0.1, ref_budget=0.2, min_reps=3, ref_reps=1, max_reps=30, sample=0.01,
                         copy_reps=5, ops=("fwd+bwd",), shrink=4)
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
        rows += run_group(*grp, cfg, lambda m, log=False: progress(f"({n}/{len(todo)}) {m}", log))
    progress("np.copyto bandwidth again")
    copy += copyto_bandwidth(cfg)
    copy_gbps = statistics.median(copy)
    info["loadavg_end"] = list(os.getloadavg())
    info["seconds"] = round(time.perf_counter() - t0, 1)
    rows = [summarize(r, copy_gbps) for r in rows]
    if tty:
        print("\r\033[K", end="", file=sys.stderr)

    torch_note = info["torch"] or "not installed"
    if torch is not None and not cfg.torch:
        torch_note += " (not run)"
    header = (f"stridepool {info['stridepool']} ({info['stridepool_backend']}, {info['stridepool_kernels']} kernels, "
              f"{info['stridepool_commit']}) | "
              f"numpy {info['numpy']} | torch {torch_note} | threads {cfg.threads}\n"
              f"{info['cpu']}, {info['cores']} cores ({info['cores_available']} available) | {info['platform']} | "
              f"Python {info['python']} | {info['date']}\n"
              f"np.copyto 256 MB float32: {copy_gbps:.2f} GB/s (read + write) | load average "
              f"{info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f} | {info['seconds']} s")
    if cfg.quick:
        header += "\nQUICK smoke run: batch sizes divided by 4, few repeats; not the standard cases' figures"
    head, body = table(rows)
    notes = []
    f32 = {r["op"]: r["gbps"] for r in rows if (r["case"], r["kind"], r["layout"], r["dtype"]) ==
           (DTYPE_CASE, "max", "NCHW", "float32")}
    per_byte = [f"{r['dtype']} {r['op']} {r['gbps'] / f32[r['op']]:.2f}" for r in rows
                if r["dtype"] != "float32" and r["op"] in f32]
    if per_byte:
        notes.append(f"GB/s relative to float32 ({DTYPE_CASE} max): " + ", ".join(per_byte))
    targets = [r for r in rows if r["target"]]
    failed = [r for r in targets if r["target"]["pass"] is False]
    notes.append(f"targets: {sum(r['target']['pass'] is True for r in targets)} PASS, {len(failed)} FAIL, "
                 f"{sum(r['target']['pass'] is None for r in targets)} n/a (of {len(targets)})")
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
         "rows": rows}, indent=1, default=str) + "\n")
    md = ["# stridepool benchmark results", "",
          "Generated by `python bench/run.py" + (" --quick" if cfg.quick else "") + "`; times are medians in ms, "
          "`x vs torch` is torch time / stridepool time (higher is better), GB/s counts the bytes each operation "
          "must move (see bench/README.md).", "", "```", header, "```", "", format_md(head, body), ""]
    md += [f"- {n}" for n in notes] + [""]
    (cfg.out / "results.md").write_text("\n".join(md))
    msg = plot(rows, cfg.out / "speedup.png")
    print(msg or f"wrote {cfg.out / 'results.json'}, results.md, speedup.png")
    if msg:
        print(f"wrote {cfg.out / 'results.json'}, results.md")


if __name__ == "__main__":
    main()
