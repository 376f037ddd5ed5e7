#!/usr/bin/env python
"""Benchmark stridepool against the NumPy image ecosystem's calls: scikit-image, SciPy, NumPy idioms, dask.

    python bench/ecosystem.py [--quick] [--threads N] [--rounds R] [--out DIR]

Rows (each checks that both sides give the same values first; the speed-up is the other's time divided by
stridepool's, same threads for stridepool's kernels and dask's workers):

1. ``sp.block_reduce`` against ``skimage.measure.block_reduce`` with ``np.max``, ``np.min``, ``np.mean`` and
   ``np.sum`` on a 4096x4096 float32 image, a 4096x4096 uint8 image (blocks 2) and a (64, 256, 256) uint16
   volume (blocks (1, 2, 2)). Target: at least 20x.
2. Pooling of an (N, C, H, W) batch as users write it today: ``block_reduce(x, (1, 1, 2, 2), np.max)`` and
   ``np.mean`` against ``sp.max_pool2d(x, 2)`` / ``sp.avg_pool2d(x, 2)``; the reshape idiom
   ``x.reshape(N, C, H // 2, 2, W // 2, 2).max(axis=(3, 5))``; ``sliding_window_view(x, (3, 3), axis=(2,
   3)).max(axis=(-2, -1))`` against ``sp.max_pool2d(x, 3, 1)``.
3. SciPy's filters with ``mode="constant"`` against stride-1 pooling with padding 1: ``maximum_filter(x, (1, 1,
   3, 3), cval=-inf)`` = ``sp.max_pool2d(x, 3, 1, 1)``, ``minimum_filter(..., cval=inf)`` = ``sp.min_pool2d(x,
   3, 1, 1)``, ``uniform_filter(..., cval=0)`` = ``sp.avg_pool2d(x, 3, 1, 1)``.
4. dask: ``sp.block_reduce`` against ``dask.array.coarsen`` with the same reduction (max, mean, nanmean) on a
   float32 array of 512 MiB in chunks of 64 MiB held in memory, computed to a NumPy array on the threaded
   scheduler. Target: at least 5x.

Samples are interleaved (one of each implementation per round, the order rotating); medians. The header
records the CPU model, the load average and np.copyto's bandwidth: on a shared machine the figures are
preliminary. Results: a table on stderr and ``bench/ecosystem_results.md`` (``--append`` adds this run's table
to it, for another thread count).
"""
import datetime
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, git_commit, prefer_checkout  # noqa: E402

prefer_checkout()
import stridepool as sp  # noqa: E402

#: the (N, C, H, W) float32 batch of rows 2 and 3 (N // 4 with --quick)
BATCH = (8, 32, 128, 128)


def check(got, want, exact):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def batch_pooling(x):
    """Rows 2 and 3 for the (N, C, H, W) float32 batch ``x`` (H and W even): a list of ``(group, stridepool's
    call, stridepool callable, other callable, other's name, exact)``; the rows of scikit-image or SciPy are
    left out where the package is missing. bench/run.py times the same rows."""
    from numpy.lib.stride_tricks import sliding_window_view

    n, c, h, w = x.shape
    shape6 = (n, c, h // 2, 2, w // 2, 2)
    batch = f"{x.shape} f32"
    idiom = f"x.reshape(..., {h // 2}, 2, {w // 2}, 2)"
    rows = []
    try:
        from skimage.measure import block_reduce as skimage_block_reduce
    except ImportError:
        skimage_block_reduce = None
    if skimage_block_reduce is not None:
        rows += [
            ("batch pooling", f"{batch} sp.max_pool2d(x, 2)", lambda: sp.max_pool2d(x, 2),
             lambda: skimage_block_reduce(x, (1, 1, 2, 2), np.max), "skimage block_reduce (1, 1, 2, 2) np.max", True),
            ("batch pooling", f"{batch} sp.avg_pool2d(x, 2)", lambda: sp.avg_pool2d(x, 2),
             lambda: skimage_block_reduce(x, (1, 1, 2, 2), np.mean), "skimage block_reduce (1, 1, 2, 2) np.mean",
             False)]
    rows += [
        ("batch pooling", f"{batch} sp.max_pool2d(x, 2)", lambda: sp.max_pool2d(x, 2),
         lambda: x.reshape(shape6).max(axis=(3, 5)), f"{idiom}.max(axis=(3, 5))", True),
        ("batch pooling", f"{batch} sp.avg_pool2d(x, 2)", lambda: sp.avg_pool2d(x, 2),
         lambda: x.reshape(shape6).mean(axis=(3, 5)), f"{idiom}.mean(axis=(3, 5))", False),
        ("batch pooling", f"{batch} sp.max_pool2d(x, 3, 1)", lambda: sp.max_pool2d(x, 3, 1),
         lambda: sliding_window_view(x, (3, 3), axis=(2, 3)).max(axis=(-2, -1)),
         "sliding_window_view(x, (3, 3)).max(axis=(-2, -1))", True)]
    try:
        import scipy.ndimage as ndi
    except ImportError:
        return rows
    xs = x[: max(1, n // 4)]  # SciPy's filters are slow: a quarter of the batch
    small = f"{xs.shape} f32"
    rows += [
        ("scipy.ndimage", f"{small} sp.max_pool2d(x, 3, 1, 1)", lambda: sp.max_pool2d(xs, 3, 1, 1),
         lambda: ndi.maximum_filter(xs, (1, 1, 3, 3), mode="constant", cval=-np.inf),
         "maximum_filter size 3 constant -inf", True),
        ("scipy.ndimage", f"{small} sp.min_pool2d(x, 3, 1, 1)", lambda: sp.min_pool2d(xs, 3, 1, 1),
         lambda: ndi.minimum_filter(xs, (1, 1, 3, 3), mode="constant", cval=np.inf),
         "minimum_filter size 3 constant inf", True),
        ("scipy.ndimage", f"{small} sp.avg_pool2d(x, 3, 1, 1)",
         lambda: sp.avg_pool2d(xs, 3, 1, 1, count_include_pad=True),
         lambda: ndi.uniform_filter(xs, (1, 1, 3, 3), mode="constant", cval=0.0),
         "uniform_filter size 3 constant 0", False)]
    return rows


def main(argv=None):
    import dask
    import dask.array as da
    import scipy
    import skimage
    from skimage.measure import block_reduce as skimage_block_reduce

    from dask_bench import copyto_gbs, interleaved, loadavg, options

    argv = list(sys.argv[1:] if argv is None else argv)
    append = "--append" in argv  # add this run's table to the results (another thread count, say)
    args, rounds = options(__doc__, [a for a in argv if a != "--append"])
    side = 1024 if args.quick else 4096
    rng = np.random.default_rng(0)
    load0, bw = loadavg(), copyto_gbs()
    rows = []

    def compare(group, what, ours, theirs, name, exact, target=None, n=rounds):
        """One row: our implementation against theirs (values checked first), medians of interleaved rounds."""
        check(ours(), theirs(), exact)
        s = interleaved({"ours": ours, "theirs": theirs}, n)
        t, tb = statistics.median(s["ours"]), statistics.median(s["theirs"])
        verdict = "" if target is None else ("PASS" if tb / t >= target else "FAIL") + f" (>= {target}x)"
        rows.append((group, what, t * 1e3, name, tb * 1e3, tb / t, verdict))
        print(f"{group:22} {what:46} {t * 1e3:9.2f} ms  {name:44} {tb * 1e3:9.1f} ms  {tb / t:6.1f}x {verdict}",
              file=sys.stderr, flush=True)

    # 1. block_reduce against scikit-image
    images = [("float32 %dx%d" % (side, side), rng.standard_normal((side, side), dtype=np.float32), 2),
              ("uint8 %dx%d" % (side, side), rng.integers(0, 256, (side, side), dtype=np.uint8), 2),
              ("uint16 (%d, 256, 256)" % (side // 64), rng.integers(0, 2**16, (side // 64, 256, 256), dtype=np.uint16),
               (1, 2, 2))]
    for label, image, block in images:
        for func in (np.max, np.min, np.mean, np.sum):
            exact = func in (np.max, np.min) or image.dtype.kind != "f"
            compare("block_reduce", f"{label} {func.__name__} block {block}",
                    lambda: sp.block_reduce(image, block, func), lambda: skimage_block_reduce(image, block, func),
                    "skimage block_reduce", exact, target=20)

    # 2. pooling a batch, as written today; 3. SciPy's filters, mode "constant"
    x = rng.standard_normal((max(1, BATCH[0] // 4) if args.quick else BATCH[0], *BATCH[1:]), dtype=np.float32)
    for row in batch_pooling(x):
        compare(*row)

    # 4. dask: block_reduce against coarsen
    rows_, cols_ = (2048, 4096) if args.quick else (8192, 16384)
    chunk = (1024, 2048) if args.quick else (4096, 4096)
    big = rng.standard_normal((rows_, cols_), dtype=np.float32)
    big[rng.random(big.shape) < 0.01] = np.nan
    xd = da.from_array(big, chunks=chunk).map_blocks(np.ascontiguousarray).persist()
    label = f"({rows_}, {cols_}) f32 in {chunk} chunks"
    for func in (np.nanmax, np.max, np.mean, np.nanmean):
        compare("dask", f"{label} block_reduce 2 {func.__name__}", lambda: sp.block_reduce(xd, 2, func).compute(),
                lambda: da.coarsen(func, xd, {0: 2, 1: 2}).compute(), f"dask.array.coarsen {func.__name__}",
                func in (np.max, np.nanmax), target=5, n=max(3, rounds // 2))

    load1 = loadavg()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    header = (f"stridepool {sp.__version__} ({sp.backend}, {sp.kernels} kernels, {git_commit() or '?'}) | numpy "
              f"{np.__version__} | scikit-image {skimage.__version__} | scipy {scipy.__version__} | dask "
              f"{dask.__version__} | {args.threads} threads (kernels; dask workers)\n"
              f"{cpu_model()}, {os.cpu_count()} cores | Python {platform.python_version()} | {now} | load average "
              f"{load0:.1f} -> {load1:.1f} | np.copyto {bw:.1f} GB/s | median of interleaved rounds "
              f"({rounds}; dask {max(3, rounds // 2)})")
    out = Path(args.out) / "ecosystem_results.md"
    lines = [] if append and out.exists() else [
        "# stridepool and the NumPy image ecosystem", "",
        "Preliminary: a 2-core machine shared with other jobs (see the load averages); ratios from one run.", ""]
    lines += [f"## {args.threads} thread{'s' if args.threads > 1 else ''}", "", "```", header, "```", "",
              "| group | stridepool | ms | other | ms | speed-up | target |",
              "| --- | --- | ---: | --- | ---: | ---: | --- |"]
    for group, what, t, name, tb, ratio, verdict in rows:
        lines.append(f"| {group} | `{what}` | {t:.2f} | {name} | {tb:.1f} | {ratio:.1f}x | {verdict} |")
    text = "\n".join(lines) + "\n"
    if append and out.exists():
        text = out.read_text() + "\n" + text
    out.write_text(text)
    print(f"\n{header}\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
