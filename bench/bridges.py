#!/usr/bin/env python
"""The training-framework bridges: a LeNet-sized training step with each framework's own pooling and with
stridepool's, and each bridge's overhead per call.

    python bench/bridges.py [--threads 2] [--repeats 21] [--only torch autograd]

The step: a batch of 128 float32 1x28x28 images, conv 32 3x3 -> ReLU -> 2x2 max pool -> conv 64 3x3 -> ReLU ->
2x2 max pool -> linear 10, cross-entropy, loss and gradients (no optimiser). Every timing interleaves the
variants it compares (one sample of each per round, the order rotating) and reports medians, on --threads
threads. One function per framework (``bench_torch``, ``bench_autograd``; others go beside them in FRAMEWORKS);
each returns a Markdown section, and bench/bridges_results.md keeps one section per framework: a run with
--only replaces only its own sections.
"""
import argparse
import datetime
import gc
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, prefer_checkout  # noqa: E402

prefer_checkout()
import stridepool as sp  # noqa: E402

RESULTS = HERE / "bridges_results.md"
BATCH = 128
TINY = (1, 1, 6, 6)  # the per-call overhead input
ONE = "stridepool, pooling on 1 thread"
SWEEP = [(1, 1, 6, 6), (1, 4, 16, 16), (4, 16, 32, 32), (16, 32, 64, 64)]  # where the kernels start to pay


# ------------------------------------------------------------------------------------------------ timing


def _time(fn, number):
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def interleaved(fns, repeats, sample=0.05):
    """Median milliseconds per call of each callable of ``fns`` (name -> callable), sampled interleaved.

    Each is warmed up and calibrated to samples of about ``sample`` seconds; then ``repeats`` rounds take one
    sample of each, the order rotating from round to round."""
    number = {}
    for name, fn in fns.items():
        fn()
        t = _time(fn, 3)
        number[name] = max(1, int(sample / t))
    samples = {name: [] for name in fns}
    names = list(fns)
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            for j in range(len(names)):
                name = names[(r + j) % len(names)]
                samples[name].append(_time(fns[name], number[name]))
    finally:
        gc.enable()
    MINIMA.update({name: min(s) * 1e3 for name, s in samples.items()})
    return {name: statistics.median(s) * 1e3 for name, s in samples.items()}


#: the fastest sample of each name of the last interleaved() calls, milliseconds (a loaded machine's medians
#: carry other jobs' time; the minima bound what the code itself takes)
MINIMA = {}


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _ms(v):
    return f"{v:.3f}" if v < 10 else f"{v:.2f}"


def _us(v_ms):
    return f"{v_ms * 1e3:.1f}"


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    return x, labels


# ------------------------------------------------------------------------------------------------ PyTorch


def lenet_torch(threads):
    """The step with each pooling: ``({"native": step, "stridepool": step}, losses, same)``, ``same`` telling
    whether the two give the same loss and gradients bit for bit. Sets torch's and stridepool's threads."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    import stridepool.torch as spt

    torch.set_num_threads(threads)
    sp.set_num_threads(threads)

    def lenet(pool):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), pool(2), nn.Conv2d(32, 64, 3), nn.ReLU(), pool(2),
                             nn.Flatten(), nn.Linear(64 * 5 * 5, 10))

    x_np, labels_np = _data()
    x, labels = torch.from_numpy(x_np), torch.from_numpy(labels_np)
    models = {"native": lenet(nn.MaxPool2d), "stridepool": lenet(spt.MaxPool2d)}

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            return loss
        return run

    steps = {name: step(m) for name, m in models.items()}
    # the same loss and gradients, bit for bit
    losses = {name: s().item() for name, s in steps.items()}
    same = losses["native"] == losses["stridepool"] and all(
        torch.equal(p.grad, q.grad) for p, q in zip(models["native"].parameters(), models["stridepool"].parameters()))
    return steps, losses, same


def overhead_torch(repeats):
    """Median milliseconds per call of max pooling on a TINY tensor: the bridge's calls, torch's and NumPy's."""
    import torch
    import torch.nn.functional as F

    import stridepool.torch as spt

    tiny = torch.randn(TINY)
    tiny_g = tiny.clone().requires_grad_()
    tiny_np = tiny.numpy()
    gy = torch.randn(1, 1, 3, 3)
    y_np, i_np = sp.max_pool2d(tiny_np, 2, return_indices=True)
    g_np = gy.numpy()

    def bridge_grad(mode):
        def run():
            spt.EAGER = mode
            return torch.autograd.grad(spt.max_pool2d(tiny_g, 2), tiny_g, gy)
        return run

    calls = {
        "NumPy `sp.max_pool2d(x, 2)`": lambda: sp.max_pool2d(tiny_np, 2),
        "bridge, no gradient": lambda: spt.max_pool2d(tiny, 2),
        "torch native, no gradient": lambda: F.max_pool2d(tiny, 2),
        "NumPy forward with indices + backward": lambda: sp.max_pool2d_backward(
            sp.max_pool2d(tiny_np, 2, return_indices=True)[0] * 0 + g_np, i_np, TINY),
        "bridge (autograd.Function, shipped) forward + backward": bridge_grad("function"),
        "bridge (custom op eagerly) forward + backward": bridge_grad("op"),
        "torch native forward + backward": lambda: torch.autograd.grad(F.max_pool2d(tiny_g, 2), tiny_g, gy),
    }
    try:
        return interleaved(calls, repeats, sample=0.02)
    finally:
        spt.EAGER = "function"


def bench_torch(args):
    import torch
    import torch.nn.functional as F

    import stridepool.torch as spt

    steps, losses, same = lenet_torch(args.threads)

    def one_thread_pooling():
        """stridepool's pooling on 1 thread, torch's operations on args.threads (they share OpenMP's count: set
        stridepool's first, then torch's)."""
        sp.set_num_threads(1)
        torch.set_num_threads(args.threads)
        try:
            return steps["stridepool"]()
        finally:
            sp.set_num_threads(args.threads)

    t = interleaved({"native": steps["native"], "stridepool": steps["stridepool"]}, args.repeats)
    m = dict(MINIMA)
    t1 = interleaved({ONE: one_thread_pooling, "native": steps["native"]}, max(5, args.repeats // 2))
    m1 = dict(MINIMA)

    # the pooling calls alone, in the step's two shapes: forward + backward
    pool_shapes = [(BATCH, 32, 26, 26), (BATCH, 64, 11, 11)]
    pool_rows = []
    for shape in pool_shapes:
        xs = torch.randn(shape).requires_grad_()
        g = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2)
        pool_rows.append((shape, interleaved({
            "native": lambda: torch.autograd.grad(F.max_pool2d(xs, 2), xs, g),
            "stridepool": lambda: torch.autograd.grad(spt.max_pool2d(xs, 2), xs, g)}, args.repeats)))

    # where the kernels start to pay: forward + backward (autograd) of a 2x2 max pooling, by input size
    sweep_rows = []
    for shape in SWEEP:
        xs = torch.randn(shape).requires_grad_()
        g = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2)
        sweep_rows.append((shape, interleaved({
            "native": lambda: torch.autograd.grad(F.max_pool2d(xs, 2), xs, g),
            "stridepool": lambda: torch.autograd.grad(spt.max_pool2d(xs, 2), xs, g)}, args.repeats, sample=0.02)))

    # per-call overhead on a tiny input
    overhead = overhead_torch(args.repeats)

    lines = [
        f"## PyTorch (torch {torch.__version__})",
        "",
        f"{args.threads} threads (`torch.set_num_threads` and `sp.set_num_threads`; they share one OpenMP runtime "
        "here), medians of "
        f"{args.repeats} interleaved samples. The step's loss and gradients: "
        f"{'bit-identical' if same else 'DIFFERENT'} with the two poolings (loss {losses['native']!r}).",
        "",
        "| LeNet training step (batch 128) | median ms | x vs native | fastest ms | x vs native |",
        "| --- | ---: | ---: | ---: | ---: |",
        _row(["torch `nn.MaxPool2d`", _ms(t["native"]), "1.00", _ms(m["native"]), "1.00"]),
        _row(["`stridepool.torch.MaxPool2d`", _ms(t["stridepool"]), f"{t['native'] / t['stridepool']:.2f}",
              _ms(m["stridepool"]), f"{m['native'] / m['stridepool']:.2f}"]),
        _row(["`stridepool.torch.MaxPool2d`, pooling on 1 thread (separate run: native "
              f"{_ms(t1['native'])} ms, fastest {_ms(m1['native'])})", _ms(t1[ONE]), f"{t1['native'] / t1[ONE]:.2f}",
              _ms(m1[ONE]), f"{m1['native'] / m1[ONE]:.2f}"]),
        "",
        "| the step's max pooling alone, forward + backward (autograd) | native ms | stridepool ms | x |",
        "| --- | ---: | ---: | ---: |",
    ]
    for shape, r in pool_rows:
        lines.append(_row([f"`{shape}` 2x2", _ms(r["native"]), _ms(r["stridepool"]),
                           f"{r['native'] / r['stridepool']:.2f}"]))
    lines += ["", "| 2x2 max pooling, forward + backward (autograd), by size | elements | native ms | stridepool ms | x |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for shape, r in sweep_rows:
        lines.append(_row([f"`{shape}`", int(np.prod(shape)), _ms(r["native"]), _ms(r["stridepool"]),
                           f"{r['native'] / r['stridepool']:.2f}"]))
    lines += ["", f"| per call, `max_pool2d` on `{TINY}` | us |", "| --- | ---: |"]
    lines += [_row([name, _us(v)]) for name, v in overhead.items()]
    return lines


# ------------------------------------------------------------------------------------------------ autograd


def bench_autograd(args):
    import autograd
    import autograd.numpy as anp

    import stridepool.autograd as spa

    sp.set_num_threads(args.threads)
    x, labels = _data()
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # NHWC: the convolutions are unfold + a matrix product
    rng = np.random.default_rng(1)
    params = {
        "w1": (rng.standard_normal((9, 32)) * np.sqrt(2 / 9)).astype(np.float32), "b1": np.zeros(32, np.float32),
        "w2": (rng.standard_normal((9 * 32, 64)) * np.sqrt(2 / 288)).astype(np.float32),
        "b2": np.zeros(64, np.float32),
        "w3": (rng.standard_normal((5 * 5 * 64, 10)) * np.sqrt(1 / 1600)).astype(np.float32),
        "b3": np.zeros(10, np.float32),
    }
    onehot = np.eye(10, dtype=np.float32)[labels]

    def conv(h, w, b):  # 3x3, no padding, NHWC: the windows (N, OH, OW, C, 3, 3) times (C*9, O)
        n, hh, ww, c = h.shape
        cols = anp.reshape(spa.unfold2d(h, 3, axes=(1, 2)), (n * (hh - 2) * (ww - 2), c * 9))
        return anp.reshape(anp.dot(cols, w) + b, (n, hh - 2, ww - 2, -1))

    def pool_stridepool(h):
        return spa.max_pool2d(h, 2, axes=(1, 2))

    def pool_numpy(h):  # autograd.numpy's own: crop to even sizes, reshape, max over the window axes
        n, hh, ww, c = h.shape
        h = h[:, :hh // 2 * 2, :ww // 2 * 2, :]
        return anp.max(anp.reshape(h, (n, hh // 2, 2, ww // 2, 2, c)), axis=(2, 4))

    def loss(p, pool):
        h = pool(anp.maximum(conv(x, p["w1"], p["b1"]), 0))
        h = pool(anp.maximum(conv(h, p["w2"], p["b2"]), 0))
        logits = anp.dot(anp.reshape(h, (BATCH, -1)), p["w3"]) + p["b3"]
        z = logits - anp.max(logits, axis=1, keepdims=True)
        return -anp.mean(anp.sum(onehot * (z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))), axis=1))

    vg = {name: autograd.value_and_grad(lambda p, pool=pool: loss(p, pool))
          for name, pool in (("autograd.numpy reshape + max", pool_numpy), ("stridepool.autograd", pool_stridepool))}
    values = {name: f(params) for name, f in vg.items()}
    (l1, g1), (l2, g2) = values.values()
    same = l1 == l2 and all(np.array_equal(g1[k], g2[k]) for k in g1)
    t = interleaved({name: (lambda f=f: f(params)) for name, f in vg.items()}, args.repeats)
    m, names = dict(MINIMA), list(vg)

    tiny = np.random.default_rng(2).standard_normal(TINY)
    grad_sp = autograd.grad(lambda a: anp.sum(spa.max_pool2d(a, 2)))
    grad_np = autograd.grad(lambda a: anp.sum(anp.max(anp.reshape(a, (1, 1, 3, 2, 3, 2)), axis=(3, 5))))
    calls = {
        "NumPy `sp.max_pool2d(x, 2)`": lambda: sp.max_pool2d(tiny, 2),
        "`spa.max_pool2d(x, 2)`, not differentiated": lambda: spa.max_pool2d(tiny, 2),
        "`autograd.grad` of `sum(spa.max_pool2d(x, 2))`": lambda: grad_sp(tiny),
        "`autograd.grad` of `sum(reshape + max)`": lambda: grad_np(tiny),
    }
    overhead = interleaved(calls, args.repeats, sample=0.02)
    base = t["autograd.numpy reshape + max"]
    lines = [
        f"## HIPS autograd ({_version('autograd')})",
        "",
        "The same network in NumPy + autograd, channels-last: the convolutions are `stridepool.autograd.unfold2d` "
        "and a matrix product in both rows, only the pooling differs. `value_and_grad` of the loss, "
        f"{args.threads} threads for stridepool, medians of {args.repeats} interleaved samples. Loss and gradients: "
        f"{'bit-identical' if same else 'different (ties: autograd.numpy.max splits a tied gradient)'} "
        f"(loss {float(l1)!r}).",
        "",
        "| LeNet step, value and gradients (batch 128) | median ms | x | fastest ms | x |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [_row([name, _ms(v), f"{base / v:.2f}", _ms(m[name]), f"{m[names[0]] / m[name]:.2f}"])
              for name, v in t.items()]
    lines += ["", f"| per call on `{TINY}` | us |", "| --- | ---: |"]
    lines += [_row([name, _us(v)]) for name, v in overhead.items()]
    return lines


def _version(module):
    try:
        from importlib.metadata import version
        return f"autograd {version(module)}"
    except Exception:  # noqa: BLE001
        return module


#: framework -> the function that benchmarks it (returns the lines of its Markdown section)
FRAMEWORKS = {"torch": bench_torch, "autograd": bench_autograd}


# ------------------------------------------------------------------------------------------------ results


def header(args):
    return [
        "# The framework bridges: LeNet-sized training step and per-call overhead",
        "",
        "Written by `python bench/bridges.py` (one section per framework; `--only` reruns some). Preliminary: "
        "a shared 2-core machine, and the kernels are still changing.",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores; {platform.platform()}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, stridepool {sp.__version__} "
        f"({sp.backend}, {sp.kernels} kernels)",
    ]


def write(sections, args):
    """bench/bridges_results.md with this run's sections, and the other frameworks' sections of the file kept."""
    old = RESULTS.read_text() if RESULTS.exists() else ""
    kept = {}
    for block in re.split(r"(?m)^(?=<!-- framework: )", old)[1:]:
        name = re.match(r"<!-- framework: (\w+)", block).group(1)
        kept[name] = block.rstrip("\n")
    date = datetime.datetime.now().astimezone().isoformat(timespec="minutes")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    for name, lines in sections.items():
        kept[name] = "\n".join([f"<!-- framework: {name} -->", *lines, "",
                                f"Run {date}, load average {load} at the end."])
    text = "\n".join(header(args)) + "\n\n" + "\n\n".join(kept[n] for n in sorted(kept, key=_order)) + "\n"
    RESULTS.write_text(text)
    return text


def _order(name):
    return list(FRAMEWORKS).index(name) if name in FRAMEWORKS else len(FRAMEWORKS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--only", nargs="+", choices=list(FRAMEWORKS), default=list(FRAMEWORKS))
    args = parser.parse_args(argv)
    sections = {}
    for name in args.only:
        try:
            sections[name] = FRAMEWORKS[name](args)
        except ImportError as e:
            print(f"{name}: skipped ({e})", file=sys.stderr)
    print(write(sections, args))


if __name__ == "__main__":
    main()
