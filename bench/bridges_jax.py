"""stridepool.jax against XLA's own pooling: a LeNet-sized training step, and the bridge's per-call overhead.

Writes bench/bridges_jax_results.md (and prints it). Standalone: ``python bench/bridges_jax.py`` (needs jax,
jaxlib and a built stridepool; ``--quick`` for a short run).

1. **Training step.** Batch 128 of 1x28x28 float32 images: conv 32 3x3 -> ReLU -> 2x2 max pool -> conv 64 3x3
   -> ReLU -> 2x2 max pool -> linear 10, softmax cross-entropy; ``jax.jit(jax.value_and_grad(loss))``, with the
   pooling done by ``lax.reduce_window`` (XLA's, "native") or by ``stridepool.jax.max_pool2d``. Both layouts:
   NCHW (pooled over the last two axes) and NHWC (``axes=(1, 2)``; XLA's preferred layout for convolutions on
   the CPU). Same weights and data for both poolings; the script checks that they give the same loss and
   gradients.
2. **Pooling alone** at the step's sizes, forward and forward + backward, jitted.
3. **Per-call overhead** on a ``(1, 1, 6, 6)`` input, kernel 3, stride 1: a jitted bridge call (the XLA
   custom call, and ``jax.pure_callback``), a call outside ``jit``, the plain NumPy call, and jitted
   ``lax.reduce_window``.

Timing: medians of interleaved repeats (every configuration once per round, rounds repeated), each a loop
of calls ending in ``block_until_ready``. Threads: stridepool's OpenMP threads are set with
``--threads`` (default 2); XLA's CPU client sizes its own intra-op thread pool to the cores it may use (2
here) and this script sets no XLA flag (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` would make it one
thread). The two pools share the cores: while a pooling runs, XLA's threads wait for it, and after it
stridepool's OpenMP threads spin for a while (GNU OpenMP's default ``OMP_WAIT_POLICY``) before sleeping, which
takes cycles from XLA's next operation; ``OMP_WAIT_POLICY=passive`` in the environment makes them sleep at
once. The header records what was in force.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_model, prefer_checkout  # noqa: E402

prefer_checkout()  # this checkout's stridepool when it is built in place


def timeit(fn, n):
    """Seconds per call of ``fn`` (n calls, the last result waited for)."""
    import jax

    start = time.perf_counter()
    for _ in range(n):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / n


def interleaved(configs, n, rounds):
    """{name: median seconds per call} over ``rounds`` rounds, each running every configuration once."""
    import jax

    times = {name: [] for name in configs}
    for fn in configs.values():
        jax.block_until_ready(fn())  # compile, warm up
    for _ in range(rounds):
        for name, fn in configs.items():
            times[name].append(timeit(fn, n))
    return {name: statistics.median(t) for name, t in times.items()}, times


# -------------------------------------------------------------------------------------------------- LeNet

def lenet(pool_name, layout):
    """loss(params, x, labels) of the LeNet-sized network with the given pooling and layout."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    import stridepool.jax as spj

    if layout == "NCHW":
        dims, window, pool_axes = ("NCHW", "OIHW", "NCHW"), (1, 1, 2, 2), (2, 3)
    else:
        dims, window, pool_axes = ("NHWC", "OIHW", "NHWC"), (1, 2, 2, 1), (1, 2)
    if pool_name == "native":
        def pool(h):
            return lax.reduce_window(h, -jnp.inf, lax.max, window, window, "VALID")
    else:
        def pool(h):
            return spj.max_pool2d(h, 2, axes=pool_axes)

    def conv(h, w, b):
        y = lax.conv_general_dilated(h, w, (1, 1), "VALID", dimension_numbers=dims)
        return y + (b[:, None, None] if layout == "NCHW" else b)

    def loss(params, x, labels):
        h = pool(jax.nn.relu(conv(x, params["w1"], params["b1"])))
        h = pool(jax.nn.relu(conv(h, params["w2"], params["b2"])))
        logits = h.reshape(len(x), -1) @ params["w3"].T + params["b3"]
        log_p = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    return loss


def lenet_data(layout, batch=128, seed=0):
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    params = {"w1": rng.standard_normal((32, 1, 3, 3)) * np.sqrt(2 / 9), "b1": np.zeros(32),
              "w2": rng.standard_normal((64, 32, 3, 3)) * np.sqrt(2 / 288), "b2": np.zeros(64),
              "w3": rng.standard_normal((10, 64 * 5 * 5)) * np.sqrt(1 / 1600), "b3": np.zeros(10)}
    params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return params, jnp.asarray(x), jnp.asarray(rng.integers(0, 10, batch).astype(np.int32))


def bench_lenet(n, rounds):
    import jax

    configs, checks = {}, {}
    for layout in ("NCHW", "NHWC"):
        params, x, labels = lenet_data(layout)
        results = {}
        for pool in ("native", "stridepool"):
            step = jax.jit(jax.value_and_grad(lenet(pool, layout)))
            configs[(layout, pool)] = (lambda step=step, params=params, x=x, labels=labels:
                                       step(params, x, labels))
            results[pool] = step(params, x, labels)
        (l0, g0), (l1, g1) = results["native"], results["stridepool"]
        worst = max(float(np.max(np.abs(np.asarray(g1[k]) - np.asarray(g0[k]))) / float(np.max(np.abs(g0[k]))))
                    for k in g0)
        checks[layout] = (float(l0) == float(l1), worst)
    medians, _ = interleaved(configs, n, rounds)
    return medians, checks


# ---------------------------------------------------------------------------------------- pooling alone

def bench_pooling(n, rounds):
    import jax
    import jax.numpy as jnp
    from jax import lax

    import stridepool.jax as spj

    configs = {}
    rng = np.random.default_rng(1)
    for shape in ((128, 32, 26, 26), (128, 64, 11, 11)):
        x = jnp.asarray(rng.standard_normal(shape, dtype=np.float32))
        w = jnp.asarray(rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2), dtype=np.float32))
        pools = {"native": lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID"),
                 "stridepool": lambda h: spj.max_pool2d(h, 2)}
        for name, pool in pools.items():
            fwd = jax.jit(pool)
            fwd_bwd = jax.jit(jax.grad(lambda h, pool=pool, w=w: jnp.sum(pool(h) * w)))
            configs[(shape, "fwd", name)] = lambda f=fwd, x=x: f(x)
            configs[(shape, "fwd+bwd", name)] = lambda f=fwd_bwd, x=x: f(x)
    return interleaved(configs, n, rounds)[0]


# --------------------------------------------------------------------------------------------- overhead

def bench_overhead(n, rounds):
    import jax
    import jax.numpy as jnp
    from jax import lax

    import stridepool as sp
    import stridepool.jax as spj

    x = jnp.asarray(np.random.default_rng(2).standard_normal((1, 1, 6, 6), dtype=np.float32))
    xn = np.asarray(x)
    configs = {}
    before = spj.mechanism
    for how in ("ffi", "callback"):  # the mechanism in force when a function is traced is the one it keeps
        spj.mechanism = how
        f = jax.jit(lambda a: spj.max_pool2d(a, 3, 1))
        g = jax.jit(jax.grad(lambda a: jnp.sum(spj.max_pool2d(a, 3, 1))))
        jax.block_until_ready((f(x), g(x)))
        configs[f"stridepool.jax, jit, {how}: forward"] = lambda f=f: f(x)
        configs[f"stridepool.jax, jit, {how}: forward + backward"] = lambda g=g: g(x)
    spj.mechanism = before
    configs["stridepool.jax outside jit: forward"] = lambda: spj.max_pool2d(x, 3, 1)
    configs["NumPy stridepool.max_pool2d: forward"] = lambda: sp.max_pool2d(xn, 3, 1)
    native = jax.jit(lambda a: lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 1, 1), "VALID"))
    native_g = jax.jit(jax.grad(lambda a: jnp.sum(
        lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 1, 1), "VALID"))))
    configs["lax.reduce_window, jit: forward"] = lambda: native(x)
    configs["lax.reduce_window, jit: forward + backward"] = lambda: native_g(x)
    configs["empty jitted function (x + 1)"] = (lambda f=jax.jit(lambda a: a + 1): f(x))
    return interleaved(configs, n, rounds)[0]


# ------------------------------------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="stridepool's OpenMP threads (default 2)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="few rounds and calls (a smoke test)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "bridges_jax_results.md"))
    args = parser.parse_args(argv)
    import jax
    import jaxlib

    import stridepool as sp
    import stridepool.jax as spj

    sp.set_num_threads(args.threads)
    rounds = 2 if args.quick else args.rounds
    scale = 0.05 if args.quick else 1.0
    lines = ["# stridepool.jax against XLA's pooling (bench/bridges_jax.py)", "",
             f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
             f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, NumPy {np.__version__}",
             f"- stridepool {sp.__version__}, backend {sp.backend} ({sp.kernels}), {sp.get_num_threads()} OpenMP "
             f"threads; bridge mechanism `{spj.mechanism}`",
             f"- XLA_FLAGS={os.environ.get('XLA_FLAGS', '(unset)')}, OMP_WAIT_POLICY="
             f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}, OMP_NUM_THREADS="
             f"{os.environ.get('OMP_NUM_THREADS', '(unset)')}; XLA's CPU thread pool: its default (one thread per "
             "core)",
             f"- medians of {rounds} interleaved rounds; preliminary: a shared 2-core machine, kernels still being "
             "tuned", ""]

    medians, checks = bench_lenet(max(1, int(10 * scale)), rounds)
    lines += ["## LeNet-sized training step (batch 128, 1x28x28, float32; jit(value_and_grad))", "",
              "| layout | native ms | stridepool ms | speed-up | same loss | max grad difference (rel.) |",
              "| --- | ---: | ---: | ---: | --- | ---: |"]
    for layout in ("NCHW", "NHWC"):
        a, b = medians[(layout, "native")] * 1e3, medians[(layout, "stridepool")] * 1e3
        same, worst = checks[layout]
        lines.append(f"| {layout} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {'yes' if same else 'NO'} | {worst:.1e} |")
    lines += ["", "Target (issue 16): stridepool >= 1.7x faster than native.", ""]

    pooled = bench_pooling(max(1, int(20 * scale)), rounds)
    lines += ["## The step's poolings alone (k2 s2, float32, jitted)", "",
              "| input | pass | native ms | stridepool ms | speed-up |", "| --- | --- | ---: | ---: | ---: |"]
    for shape in ((128, 32, 26, 26), (128, 64, 11, 11)):
        for kind in ("fwd", "fwd+bwd"):
            a, b = pooled[(shape, kind, "native")] * 1e3, pooled[(shape, kind, "stridepool")] * 1e3
            lines.append(f"| {shape} | {kind} | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
    lines.append("")

    over = bench_overhead(max(1, int(2000 * scale)), rounds)
    lines += ["## Per-call overhead: (1, 1, 6, 6), kernel 3, stride 1, float32", "",
              "| call | us |", "| --- | ---: |"]
    lines += [f"| {name} | {t * 1e6:.1f} |" for name, t in over.items()]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
