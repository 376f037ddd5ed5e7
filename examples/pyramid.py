"""An image pyramid of an array far larger than memory, with stridepool on dask, stored in Zarr.

Level 0 is a square float32 image generated lazily, block by block, from a seed (64 GiB by default: 131072 x
131072, more than this machine's memory); it is never held in memory nor stored. Each level halves the one
before it with an anti-aliasing 3x3 average of stride 2 (``avg_pool2d(x, 3, 2, 1, count_include_pad=False)``;
``--kernel 2`` gives the plain 2x2 mean), so every output block reads a one-pixel halo from its neighbours.
``--reduce max`` keeps each window's maximum instead (``max_pool2d(x, 3, 2, 1)``, or with ``--kernel 2``
scikit-image's ``block_reduce(x, 2, np.max, cval=-np.inf)``); ``--reduce nanmean`` averages 2x2 blocks ignoring
NaN, the "no data" of geospatial and microscopy images (``block_reduce(x, 2, np.nanmean, cval=np.nan)``: a
block of gaps only stays a gap), and sprinkles gaps into level 0 (``--gaps``, default 2% of the pixels).
Levels 1 to ``--levels`` are written to a Zarr group laid out as an OME-NGFF image pyramid (arrays "1", "2",
... with their scales in the ``multiscales`` attribute; level 0 is described but not stored). Level 1 is
pooled from the generated level 0, each later level from the level stored before it, one dask computation per
level, so that memory stays at a few blocks per worker thread however large the image. (Chaining every level
in one graph also works, but dask then keeps more blocks alive: a block of a deep level waits for the halos
of its neighbours, which depend on wide areas of level 0.) Then the top-left corner of every stored level is
read back and compared, bit for bit, with the same pyramid computed in memory (numpy) from that corner of
level 0.

Run it (about 20 GiB of disk for the default size; ``--size 16384`` makes a small one in seconds)::

    pip install "stridepool[examples]"        # dask, distributed, zarr
    python examples/pyramid.py --out /tmp/pyramid.zarr
    python examples/pyramid.py --size 16384 --chunk 2048 --out /tmp/small.zarr --workers 0   # no cluster
    python examples/pyramid.py --size 16384 --reduce nanmean --out /tmp/gaps.zarr   # NaN gaps ignored

It runs on a ``distributed.LocalCluster`` of ``--workers`` processes (2 by default, one thread each; point
``--scheduler-address`` at a real cluster instead), whose scheduler holds generating tasks back until their
blocks can be consumed, so each worker keeps a few blocks in memory. ``--workers 0`` uses dask's threaded
scheduler in this process instead: as fast, but it runs generating tasks ahead of their consumers, so its
memory grows with the width of the image (rows of blocks wait for their neighbours' halos). It prints the
peak memory (resident set high-water mark) of each worker, or of this process, and the throughput in GB of
level 0 per second.
"""
import argparse
import os
import shutil
import sys
import time
import warnings

import dask.array as da
import numpy as np
import zarr

import stridepool as sp


def tile(block_info=None, seed=0, gaps=0.0):
    """One block of level 0: smooth structure (separable waves) plus noise from a generator seeded by the
    block's position, so that any block can be made again, anywhere, without the others; a fraction ``gaps``
    of its pixels (in runs along the rows) are NaN, no data."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows = np.arange(r0, r1, dtype=np.float64)
    cols = np.arange(c0, c1, dtype=np.float64)
    wave_r = (np.sin(rows / 977.0) + np.sin(rows / 61.0) * 0.25).astype(np.float32)
    wave_c = (np.cos(cols / 1531.0) + np.cos(cols / 89.0) * 0.25).astype(np.float32)
    rng = np.random.default_rng([seed, r0, c0])
    out = rng.random((r1 - r0, c1 - c0), dtype=np.float32)
    if gaps:
        out[np.repeat(rng.random((r1 - r0, -(-(c1 - c0) // 8))) < gaps, 8, axis=1)[:, :c1 - c0]] = np.nan
    out *= 0.5
    out += wave_r[:, None]
    out += wave_c[None, :]
    return out


def level0(size, chunk, seed, gaps=0.0):
    n = -(-size // chunk)
    chunks = tuple(min(chunk, size - i * chunk) for i in range(n))
    return da.map_blocks(tile, seed=seed, gaps=gaps, chunks=(chunks, chunks), dtype=np.float32,
                         meta=np.empty((0, 0), np.float32), name=f"level0-{size}-{chunk}-{seed}-{gaps}")


def halve(x, kernel, reduce="mean"):
    """One pyramid step: stridepool on whatever x is (a dask array here, a numpy array in the check)."""
    if reduce == "nanmean":  # 2x2 blocks, NaN ignored; padding (an odd side) is NaN too, so it is ignored
        return sp.block_reduce(x, 2, np.nanmean, cval=np.nan)
    if reduce == "max":
        if kernel == 3:
            return sp.max_pool2d(x, 3, 2, 1)
        return sp.block_reduce(x, 2, np.max, cval=-np.inf)
    if kernel == 3:
        return sp.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    return sp.avg_pool2d(x, 2, 2, 0, ceil_mode=True)


def method(reduce, kernel):
    """The pyramid's method, as its metadata records it."""
    if reduce == "nanmean":
        return "stridepool.block_reduce(x, 2, np.nanmean, cval=np.nan)"
    if reduce == "max":
        return "stridepool.max_pool2d kernel 3 stride 2 padding 1" if kernel == 3 else \
            "stridepool.block_reduce(x, 2, np.max, cval=-np.inf)"
    return f"stridepool.avg_pool2d kernel {kernel} stride 2"


def peak_rss():
    """This process's resident set high-water mark in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    except ImportError:
        return None


def gib(n):
    return f"{n / 2**30:.2f} GiB" if n is not None else "n/a"


def disk_usage(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=131072, help="side of level 0 (float32; default 64 GiB)")
    p.add_argument("--chunk", type=int, default=4096, help="side of a level-0 block (default 64 MiB)")
    p.add_argument("--levels", type=int, default=6, help="levels to store, 1 .. LEVELS")
    p.add_argument("--store-chunk", type=int, default=1024, help="side of a Zarr chunk in every level")
    p.add_argument("--kernel", type=int, choices=(2, 3), default=None,
                   help="3: 3x3 stride 2 (halos; the default for mean and max); 2: 2x2 (nanmean's only one)")
    p.add_argument("--reduce", choices=("mean", "max", "nanmean"), default="mean",
                   help="mean (default), max, or nanmean: 2x2 means that ignore NaN (no data)")
    p.add_argument("--gaps", type=float, default=None,
                   help="fraction of level 0 that is NaN, in runs of 8 pixels (default 0.02 with --reduce nanmean, "
                        "else 0: max and mean propagate NaN)")
    p.add_argument("--crop", type=int, default=8192, help="side of the level-0 corner checked in memory")
    p.add_argument("--out", default="/tmp/pyramid.zarr")
    p.add_argument("--keep", action="store_true", help="keep the store (default: delete it at the end)")
    p.add_argument("--compressor", choices=("zstd", "none"), default="zstd")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes of a distributed.LocalCluster, one thread each (default 2); 0: dask's "
                        "threaded scheduler in this process")
    p.add_argument("--scheduler-address", default=None, help="run on this distributed cluster")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.kernel is None:
        args.kernel = 2 if args.reduce == "nanmean" else 3
    if args.reduce == "nanmean" and args.kernel != 2:
        p.error("--reduce nanmean averages 2x2 blocks (--kernel 2): NaN-ignoring 3x3 windows are not available yet")
    if args.gaps is None:
        args.gaps = 0.02 if args.reduce == "nanmean" else 0.0
    if args.reduce == "nanmean":  # a block of gaps only is a gap (NaN): NumPy's nanmean warns, expected here
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)

    client = None
    if args.workers or args.scheduler_address:
        import distributed

        if args.scheduler_address:
            client = distributed.Client(args.scheduler_address)
        else:
            client = distributed.Client(distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None))
        print(f"cluster: {client}")

    x0 = level0(args.size, args.chunk, args.seed, args.gaps)
    print(f"level 0: {x0.shape} float32, {gib(x0.nbytes)} in {x0.npartitions} blocks of {args.chunk}^2 "
          f"({gib(args.chunk ** 2 * 4)} each), generated lazily")

    # a Zarr group laid out as an OME-NGFF multiscale image: arrays "1" .. "n" (level 0 is not stored)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    group = zarr.open_group(args.out, mode="w")
    compressors = None if args.compressor == "none" else "auto"
    shape, targets = x0.shape, []
    for level in range(1, args.levels + 1):
        shape = halve(da.zeros(shape, chunks=args.chunk, dtype=np.float32), args.kernel, args.reduce).shape
        c = min(args.store_chunk, max(shape))
        targets.append(group.create_array(str(level), shape=shape, chunks=(c, c), dtype=np.float32,
                                          compressors=compressors))
        print(f"level {level}: {shape}, Zarr chunks {(c, c)}")
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "name": "stridepool pyramid",
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [2.0 ** level] * 2}]}
                     for level in range(1, args.levels + 1)],
        "metadata": {"method": method(args.reduce, args.kernel), "level 0": {
            "shape": list(x0.shape), "dtype": "float32", "stored": False, "generator": "examples/pyramid.py tile",
            "seed": args.seed, "chunk": args.chunk, "gaps": args.gaps}},
    }]

    # one dask computation per level: level 1 from the generated level 0, level L from the stored level L - 1
    start = time.perf_counter()
    for level, target in enumerate(targets, start=1):
        if level == 1:
            source = x0
        else:  # read the level below in blocks of --chunk (whole Zarr chunks)
            below = targets[level - 2]
            c = max(below.chunks[0], args.chunk // below.chunks[0] * below.chunks[0])
            source = da.from_zarr(below, chunks=(c, c))
        out = halve(source, args.kernel, args.reduce).rechunk(target.chunks)  # dask blocks on Zarr chunks
        t = time.perf_counter()
        print(f"level {level}: {source.shape} in {source.npartitions} blocks -> {out.shape}")
        if client is None:
            import contextlib

            from dask.diagnostics import ProgressBar

            with contextlib.nullcontext() if args.no_progress else ProgressBar(dt=1.0, minimum=2.0):
                da.store(out, target, lock=False)
        else:
            import distributed

            future = da.store(out, target, lock=False, compute=False).persist()
            if not args.no_progress:
                distributed.progress(future, interval="1s")
                print()
            distributed.wait(future)
        print(f"level {level}: {time.perf_counter() - t:.1f} s")
    elapsed = time.perf_counter() - start
    rate = x0.nbytes / elapsed / 1e9
    print(f"\nwrote levels 1..{args.levels} in {elapsed:.1f} s: {rate:.2f} GB/s of level 0 "
          f"({gib(x0.nbytes)} generated and pooled, {x0.npartitions} blocks), store {gib(disk_usage(args.out))} "
          f"on disk")
    if client is None:
        print(f"peak memory of this process (VmHWM): {gib(peak_rss())} "
              f"(a level-0 block is {gib(args.chunk ** 2 * 4)})")
    else:
        peaks = client.run(peak_rss)
        print("peak memory per worker (VmHWM): " + ", ".join(gib(v) for v in peaks.values())
              + f"; client {gib(peak_rss())}")

    # read back the corner of every level and compare with numpy on the same corner of level 0
    crop = min(args.crop, args.size)
    ref = np.asarray(x0[:crop, :crop].compute(scheduler="sync"))
    stored = zarr.open_group(args.out, mode="r")
    for level in range(1, args.levels + 1):
        ref = halve(ref, args.kernel, args.reduce)  # in memory: numpy arrays in, numpy arrays out
        got = stored[str(level)][: ref.shape[0], : ref.shape[1]]
        same = got.dtype == ref.dtype and np.array_equal(got, ref, equal_nan=True)  # (gaps stay NaN)
        print(f"level {level}: corner {ref.shape} read back from Zarr "
              f"{'equals' if same else 'DIFFERS FROM'} the in-memory result bit for bit")
        if not same:
            return 1
    if not args.keep:
        shutil.rmtree(args.out)
    if client is not None:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
