#!/usr/bin/env python
"""Benchmark stridepool's dask path: against dask.array.coarsen, against the in-memory call, per-chunk cost.

    python bench/dask_bench.py [--quick] [--threads N] [--rounds R] [--out DIR]

Three groups of rows, on a float32 array held in memory and as a dask array of contiguous blocks held in memory
(so that no row pays for making or reading its input), every dask result computed to a NumPy array with the
threaded scheduler on ``--threads`` workers and the in-memory calls on the same number of kernel threads:

1. k2 s2 max pooling of a chunked array: ``sp.max_pool2d(x, 2)`` against ``dask.array.coarsen(np.max, x,
   {1: 2, 2: 2})`` on the same chunks (the way dask users pool today). Target: at least 5x faster.
2. k3 s2 p1 (which coarsen cannot do: windows overlap and cross chunk edges): the dask path against the
   in-memory call on the same threads, forward (values; values and indices), backward, and average pooling.
   Target on the max forward: within 1.5x of the in-memory time, for the dask path computing the result's
   blocks (``.persist()``: every block pooled and kept in memory). Two more rows show what returning one array
   adds: ``.compute()`` (dask allocates the whole result and copies every block into it, as for any dask
   computation) and ``da.store`` into an existing array (copies only). Two more rows show the thread policy: the
   same forward with the kernels at ``--threads`` threads inside every task (oversubscribed), and on the
   synchronous scheduler (tasks one after another on the calling thread, kernels at ``--threads``).
3. Overhead per chunk: the same k2 s2 and k3 s2 p1 pooling of a small array cut into many small chunks, the
   dask time minus the in-memory time divided by the number of chunks; and dask's own cost per chunk for the
   cheapest blockwise operation (``map_blocks`` of a strided view) for comparison.

Samples are interleaved (one sample of each implementation in a row per round, the order rotating) and the
table shows medians. Results: a table on stdout, ``bench/dask_results.md`` and ``bench/dask_results.json``.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if any((ROOT / "src" / "stridepool").glob("_kernels*.so")):  # prefer this checkout when it is built in place
    sys.path.insert(0, str(ROOT / "src"))
import dask  # noqa: E402
import dask.array as da  # noqa: E402

import stridepool as sp  # noqa: E402
from stridepool import _dask  # noqa: E402


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def copyto_gbs():
    a = np.ones(64 * 2**20, np.float32)
    b = np.empty_like(a)
    ts = []
    for _ in range(7):
        t = time.perf_counter()
        np.copyto(b, a)
        ts.append(time.perf_counter() - t)
    return 2 * a.nbytes / statistics.median(ts) / 1e9


def interleaved(impls, rounds):
    """``{name: [seconds, ...]}``: one call of each implementation per round, the order rotating."""
    names = list(impls)
    for name in names:  # warm up (and build any plan or cache)
        impls[name]()
    samples = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t = time.perf_counter()
            impls[name]()
            samples[name].append(time.perf_counter() - t)
    return samples


class full_threads_in_tasks:
    """The thread policy switched off: kernels inside dask tasks use every thread (for the comparison row)."""

    def __enter__(self):
        self.saved = _dask._block_threads
        _dask._block_threads = _NoLimit
        return self

    def __exit__(self, *exc):
        _dask._block_threads = self.saved


class _NoLimit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def options(doc, argv):
    """The options of the bench scripts that time dask (``--quick``, ``--threads``, ``--rounds``, ``--out``),
    parsed; the kernels' threads and dask's threaded scheduler set from ``--threads``. Returns ``(args,
    rounds)``."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller inputs and fewer rounds (smoke run)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--out", default=str(HERE))
    args = p.parse_args(argv)
    sp.set_num_threads(args.threads)
    dask.config.set(scheduler="threads", num_workers=args.threads)
    return args, args.rounds or (3 if args.quick else 7)


def main(argv=None):
    args, rounds = options(__doc__, argv)

    shape, chunks = ((4, 2048, 2048), (1, 1024, 1024)) if args.quick else ((16, 4096, 4096), (2, 2048, 2048))
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    # contiguous blocks held in memory, as a Zarr store or a generator gives them (da.from_array alone gives
    # strided views of x, which the kernels would first copy)
    xd = da.from_array(x, chunks=chunks).map_blocks(np.ascontiguousarray).persist()
    nblocks = xd.npartitions
    load0, bw, started = loadavg(), copyto_gbs(), time.perf_counter()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    header = (f"stridepool {sp.__version__} ({sp.backend}, {sp.kernels} kernels) | dask {dask.__version__} | "
              f"numpy {np.__version__} | threads {args.threads} (kernels in memory; dask workers)\n"
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores | Python "
              f"{platform.python_version()} | {now}\n"
              f"array {shape} float32 ({x.nbytes / 2**30:.2f} GiB) in {nblocks} chunks of {chunks} "
              f"({np.prod(chunks) * 4 / 2**20:.0f} MiB) | np.copyto {bw:.1f} GB/s | "
              f"median of {rounds} interleaved rounds")
    print(header, file=sys.stderr)
    rows, raw = [], {}

    def row(group, name, samples, base, target=None, check=None):
        """One table row: ``name``'s median against ``base``'s (ratio = name / base time)."""
        t, tb = statistics.median(samples[name]), statistics.median(samples[base])
        verdict = ""
        if target is not None:
            verdict = ("PASS" if check(t, tb) else "FAIL") + f" ({target})"
        rows.append((group, name, t * 1e3, base, tb * 1e3, t / tb, x.nbytes / t / 1e9, verdict))
        print(f"{group:24} {name:36} {t * 1e3:9.1f} ms   vs {base:28} {tb * 1e3:9.1f} ms   {t / tb:6.2f}x  {verdict}",
              file=sys.stderr)

    # 1. k2 s2 against coarsen, same chunks
    s = interleaved({
        "stridepool dask k2s2": lambda: sp.max_pool2d(xd, 2).compute(),
        "dask coarsen(np.max)": lambda: da.coarsen(np.max, xd, {1: 2, 2: 2}).compute(),
        "in-memory k2s2": lambda: sp.max_pool2d(x, 2),
    }, max(3, rounds // 2))
    raw["k2s2"] = s
    row("k2s2 max vs coarsen", "stridepool dask k2s2", s, "dask coarsen(np.max)", ">= 5x faster",
        lambda t, tb: tb / t >= 5)
    row("k2s2 max vs coarsen", "stridepool dask k2s2", s, "in-memory k2s2")

    # 2. k3 s2 p1 against the in-memory call on the same threads
    y_mem, idx_mem = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
    yd, idxd = sp.max_pool2d(xd, 3, 2, 1, return_indices=True)
    yd, idxd = dask.persist(yd, idxd)  # the backward rows start from the forward's blocks
    g = y_mem
    target = np.empty(y_mem.shape, np.float32)
    s = interleaved({
        "dask max fwd, persist": lambda: sp.max_pool2d(xd, 3, 2, 1).persist(),
        "dask max fwd": lambda: sp.max_pool2d(xd, 3, 2, 1).compute(),
        "in-memory max fwd": lambda: sp.max_pool2d(x, 3, 2, 1),
        "dask max fwd, store": lambda: da.store(sp.max_pool2d(xd, 3, 2, 1), target, lock=False),
        "dask max fwd+indices": lambda: dask.compute(*sp.max_pool2d(xd, 3, 2, 1, return_indices=True)),
        "in-memory max fwd+indices": lambda: sp.max_pool2d(x, 3, 2, 1, return_indices=True),
        "dask max bwd": lambda: sp.max_pool2d_backward(yd, idxd, x.shape).compute(),
        "in-memory max bwd": lambda: sp.max_pool2d_backward(g, idx_mem, x.shape),
        "dask avg fwd": lambda: sp.avg_pool2d(xd, 3, 2, 1).compute(),
        "in-memory avg fwd": lambda: sp.avg_pool2d(x, 3, 2, 1),
        "dask avg bwd": lambda: sp.avg_pool2d_backward(yd, x.shape, 3, 2, 1).compute(),
        "in-memory avg bwd": lambda: sp.avg_pool2d_backward(g, x.shape, 3, 2, 1),
    }, rounds)

    def oversubscribed():
        with full_threads_in_tasks():
            return sp.max_pool2d(xd, 3, 2, 1).compute()

    s.update(interleaved({
        "dask max fwd, kernels x threads": oversubscribed,
        "dask max fwd, synchronous": lambda: sp.max_pool2d(xd, 3, 2, 1).compute(scheduler="sync"),
        "dask max fwd (again)": lambda: sp.max_pool2d(xd, 3, 2, 1).compute(),
    }, max(3, rounds // 2)))
    raw["k3s2p1"] = s
    g2 = "k3s2p1 vs in-memory"
    row(g2, "dask max fwd, persist", s, "in-memory max fwd", "<= 1.5x in-memory", lambda t, tb: t / tb <= 1.5)
    row(g2, "dask max fwd", s, "in-memory max fwd")
    row(g2, "dask max fwd, store", s, "in-memory max fwd")
    row(g2, "dask max fwd+indices", s, "in-memory max fwd+indices")
    row(g2, "dask max bwd", s, "in-memory max bwd")
    row(g2, "dask avg fwd", s, "in-memory avg fwd")
    row(g2, "dask avg bwd", s, "in-memory avg bwd")
    row(g2, "dask max fwd, kernels x threads", s, "dask max fwd (again)")
    row(g2, "dask max fwd, synchronous", s, "dask max fwd (again)")

    # 3. overhead per chunk: many small chunks, little work each
    small = np.random.default_rng(1).standard_normal((4096, 4096), dtype=np.float32)
    sd = da.from_array(small, chunks=(128, 128)).map_blocks(np.ascontiguousarray).persist()
    n_small = sd.npartitions
    s = interleaved({
        "dask k2s2, 128^2 chunks": lambda: sp.max_pool2d(sd, 2).compute(),
        "in-memory k2s2 (small)": lambda: sp.max_pool2d(small, 2),
        "dask k3s2p1, 128^2 chunks": lambda: sp.max_pool2d(sd, 3, 2, 1).compute(),
        "in-memory k3s2p1 (small)": lambda: sp.max_pool2d(small, 3, 2, 1),
        "dask map_blocks(b[::2, ::2])": lambda: sd.map_blocks(lambda b: b[::2, ::2], chunks=(64, 64)).compute(),
        "in-memory small[::2, ::2]": lambda: small[::2, ::2].copy(),
    }, rounds)
    raw["overhead"] = s
    per_chunk = {}
    for name, base in (("dask k2s2, 128^2 chunks", "in-memory k2s2 (small)"),
                       ("dask k3s2p1, 128^2 chunks", "in-memory k3s2p1 (small)"),
                       ("dask map_blocks(b[::2, ::2])", "in-memory small[::2, ::2]")):
        extra = statistics.median(s[name]) - statistics.median(s[base])
        per_chunk[name] = extra / n_small
        print(f"overhead per chunk  {name:36} {extra / n_small * 1e6:8.1f} us  ({n_small} chunks)", file=sys.stderr)

    load1, total = loadavg(), time.perf_counter() - started
    header += f" | load average {load0:.2f} -> {load1:.2f} | {total:.0f} s"
    out = Path(args.out)
    md = ["# stridepool dask benchmark", "",
          "Generated by `python bench/dask_bench.py`; times are medians in ms of interleaved rounds, "
          "`ratio` is the row's time over the comparison's (lower is better for stridepool). "
          "See the docstring of bench/dask_bench.py for what each row measures.", "", "```", header, "```", "",
          "| group | stridepool | ms | compared with | ms | ratio | GB/s | target |",
          "| --- | --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for group, name, t, base, tb, ratio, gbs, verdict in rows:
        md.append(f"| {group} | {name} | {t:.1f} | {base} | {tb:.1f} | {ratio:.2f} | {gbs:.2f} | {verdict} |")
    md += ["", f"Overhead per chunk ({n_small} chunks of 128 x 128 float32; dask time minus in-memory time, "
               "per chunk):", "", "| dask call | us per chunk |", "| --- | ---: |"]
    md += [f"| {name} | {v * 1e6:.1f} |" for name, v in per_chunk.items()]
    md += ["", f"coarsen / stridepool on k2 s2: {rows[0][4] / rows[0][2]:.1f}x; GB/s counts the input read once."]
    (out / "dask_results.md").write_text("\n".join(md) + "\n")
    (out / "dask_results.json").write_text(json.dumps({
        "header": header, "rows": [dict(zip(("group", "name", "ms", "base", "base_ms", "ratio", "GBps", "target"), r))
                                   for r in rows],
        "overhead_per_chunk_us": {k: v * 1e6 for k, v in per_chunk.items()},
        "samples_s": raw}, indent=1) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
