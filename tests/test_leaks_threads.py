"""No leaks, and the same answers under threads.

Leaks: every public function, its error paths included, is called tens of thousands of times; the
process's resident memory (``/proc/self/statm``), the memory NumPy and Python report to ``tracemalloc`` and
the number of live Python allocations must not grow. The thresholds are generous (so the test is not flaky)
and far below what a leak of one array or one object per call would add; ``test_leak_detector_can_fail``
shows the detector catches such a leak.

Threads: eight Python threads call the functions at once, each on its own arrays, and get exactly the
single-threaded answers; and the answers do not depend on ``set_num_threads``.
"""
import gc
import os
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import stridepool as sp
from stridepool import reference

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")
PYMALLOC = sys.getallocatedblocks() > 0  # 0 under PYTHONMALLOC=malloc (as in the sanitizer run)


def rss_bytes():
    """Resident set size of this process (Linux), or None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return None


# ------------------------------------------------------------------------------------------- the calls

def _every_function(mod, arrays, layers=True):
    """Every public function (and, with ``layers``, every layer) of ``mod`` on ``arrays`` ({number of pooled
    axes: array (N, C, *sizes)}, sizes >= 4). Returns (results, the public names it used)."""
    used, results, layer_results = set(), [], []  # the layers' last: the reference has no layers

    def f(name):
        used.add(name)
        return getattr(mod, name)

    for nd, x in arrays.items():
        d = f"{nd}d"
        y, idx = f("max_pool" + d)(x, 3, 2, 1, return_indices=True)
        a = f("avg_pool" + d)(x, 2, count_include_pad=False)
        am, ai = f("adaptive_max_pool" + d)(x, 3, return_indices=True)
        aa = f("adaptive_avg_pool" + d)(x, 3)
        w = f("unfold" + d)(x, 3, 2, 1)
        results += [y, idx, a, am, ai, aa, np.array(w),
                    f("max_pool" + d + "_backward")(y, idx, x.shape),
                    f("avg_pool" + d + "_backward")(a, x.shape, 2, count_include_pad=False),
                    f("adaptive_avg_pool" + d + "_backward")(aa, x.shape),
                    f("max_unpool" + d)(y, idx, 3, 2, 1, output_size=x.shape),
                    f("fold" + d)(w, x.shape, 2, 1)]
        # min pooling and NaN-ignoring pooling, on the input with every third cell NaN (floats)
        xn = np.where(np.arange(x.size).reshape(x.shape) % 3 == 0, np.nan, x) if x.dtype.kind == "f" else x
        mn, mi = f("min_pool" + d)(xn, 3, 2, 1, return_indices=True, nan_policy="omit")
        xm, xmi = f("max_pool" + d)(xn, 2, return_indices=True, nan_policy="omit")
        an = f("avg_pool" + d)(xn, 3, 2, 1, nan_policy="omit")
        results += [mn, mi, xm, xmi, an, f("min_pool" + d)(x, 2, 1),
                    f("min_pool" + d + "_backward")(mn, mi, x.shape, nan_policy="omit"),
                    f("max_pool" + d + "_backward")(xm, xmi, x.shape, nan_policy="omit"),
                    f("avg_pool" + d + "_backward")(an, x.shape, 3, 2, 1, nan_policy="omit", x=xn)]
        if layers:
            for name, args in (("MaxPool", (3, 2, 1)), ("AvgPool", (2,)), ("AdaptiveMaxPool", (3,)),
                               ("AdaptiveAvgPool", (1,))):
                layer = f(f"{name}{d}")(*args)
                out = layer.forward(x)
                layer_results += [out, layer.backward(out)]
            unpool = f(f"MaxUnpool{d}")(3, 2, 1)
            u = unpool.forward(y, idx, x.shape)
            layer_results += [u, unpool.backward(u)]
    if layers and 2 in arrays:
        q = f("Pooling2D")("max", (2, 2), arrays[2].shape[1:], (2, 2))
        layer_results += [q.forward(arrays[2][0]), q.backward(q.forward(arrays[2][0]))]
    # block_reduce, over any number of axes: its fast paths, NumPy's path and a masked array
    x = arrays[max(arrays)]
    block = (1,) * (x.ndim - 3) + (2, 3, 2)
    br = f("block_reduce")
    masked = br(np.ma.MaskedArray(x, mask=x > 0.5), block, np.mean, 1)
    gap = np.nan if x.dtype.kind == "f" else 0  # (NaN cannot pad an integer image)
    results += [br(x, block), br(x, block, np.max, -1), br(x, block, np.min), br(x, block, np.nanmean, gap),
                br(x, 2, np.median), br(x, block, np.any), np.ma.getdata(masked), np.ma.getmaskarray(masked)]
    return results + layer_results, used


def test_the_every_function_call_covers_every_public_name():
    """So that a new public function cannot miss the leak and thread tests below."""
    from stridepool import _api, layers

    arrays = {nd: np.ones((1, 2) + (5,) * nd, np.float32) for nd in (1, 2, 3)}
    _, used = _every_function(sp, arrays)
    assert used == set(_api.FUNCTIONS) | set(layers.LAYERS)



def _calls():
    """``(name, thunk)`` pairs covering every public function, their out= forms and their error paths."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    xi = rng.integers(-100, 100, (2, 16, 16, 3)).astype(np.int16)  # channels-last with axes=(1, 2)
    y, idx = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
    yi, idxi = sp.max_pool2d(xi, 2, axes=(1, 2), return_indices=True)
    w = sp.unfold2d(x, 3, 2, 1)
    out_y = np.zeros_like(y)
    out_x = np.zeros_like(x)
    out_xd = np.zeros(x.shape, np.float32)
    xn = np.where(rng.random(x.shape) < 0.4, np.nan, x).astype(np.float32)
    xn[:, :, :5, :5] = np.nan  # windows without a value
    yn, idxn = sp.min_pool2d(xn, 3, 2, 1, return_indices=True, nan_policy="omit")
    assert (idxn == -1).any()
    bad_idx = idx.copy()
    bad_idx[0, 0, 0, 0] = 10**6
    ro = x.copy()
    ro.flags.writeable = False
    xt = np.asfortranarray(x)
    layer = sp.MaxPool2d(3, 2, 1)
    avg_layer = sp.AvgPool2d(2)
    q = sp.Pooling2D("max", (2, 2), (3, 16, 16), (2, 2))
    # the N-d family
    x1 = x.reshape(2, 3, 256)
    y1, idx1 = sp.max_pool1d(x1, 3, 2, 1, return_indices=True)
    x3 = x.reshape(2, 3, 4, 8, 8)
    y3, idx3 = sp.max_pool3d(x3, 3, 2, 1, return_indices=True)
    ya, idxa = sp.adaptive_max_pool2d(x, (5, 3), return_indices=True)
    w3 = sp.unfold3d(x3, 2, 2)
    nd_layers = [sp.MaxPool1d(2), sp.AvgPool3d(2), sp.AdaptiveMaxPool3d(2), sp.AdaptiveAvgPool1d(1)]
    unpool = sp.MaxUnpool2d(3, 2, 1)
    every = {1: x1[:, :, :40], 2: x[:, :, :9, :11], 3: x3[:, :, :, :6, :7]}

    def raises(f, *a, **k):
        def thunk():
            try:
                f(*a, **k)
            except (ValueError, TypeError):
                return
            raise AssertionError("expected an error")
        return thunk

    return [
        ("max", lambda: sp.max_pool2d(x, 3, 2, 1, return_indices=True)),
        ("max-out", lambda: sp.max_pool2d(x, 3, 2, 1, out=out_y)),
        ("max-fortran-readonly", lambda: (sp.max_pool2d(xt, 2), sp.max_pool2d(ro, 2))),
        ("max-channels-last", lambda: sp.max_pool2d(xi, 2, axes=(1, 2), return_indices=True)),
        ("max-bw", lambda: sp.max_pool2d_backward(y, idx, x.shape)),
        ("max-bw-out", lambda: sp.max_pool2d_backward(y, idx, x.shape, out=out_x)),
        ("max-bw-channels-last", lambda: sp.max_pool2d_backward(yi, idxi, xi.shape, axes=(1, 2))),
        ("avg", lambda: sp.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
        ("avg-int", lambda: sp.avg_pool2d(xi, 2, axes=(1, 2))),
        ("avg-bw", lambda: sp.avg_pool2d_backward(y, x.shape, 3, 2, 1, out=out_xd)),
        ("unfold", lambda: sp.unfold2d(x, 3, 2, 1)),
        ("fold", lambda: sp.fold2d(w, x.shape, 2, 1)),
        ("fold-out", lambda: sp.fold2d(w, x.shape, 2, 1, out=out_x)),
        ("layers", lambda: (layer.backward(layer.forward(x)), avg_layer.backward(avg_layer.forward(x)),
                            q.backward(q.forward(x[0])))),
        ("err-bad-index-kernel", raises(sp.max_pool2d_backward, y, bad_idx, x.shape)),
        ("err-bad-index-out", raises(sp.max_pool2d_backward, y, bad_idx, x.shape, out=out_x)),
        ("err-kernel-size", raises(sp.max_pool2d, x, 0)),
        ("err-dtype", raises(sp.avg_pool2d, x.astype(bool), 2)),
        ("err-out-shape", raises(sp.max_pool2d, x, 2, out=out_x)),
        ("err-out-dtype", raises(sp.fold2d, w, x.shape, 2, 1, out=out_x.astype(np.float64))),
        ("err-axes", raises(sp.unfold2d, x, 2, axes=(1, 1))),
        ("err-padding", raises(sp.max_pool2d, x, 2, 2, 5)),
        ("err-shape", raises(sp.avg_pool2d_backward, y, (2, 3, 15, 16), 2)),
        ("err-indices-dtype", raises(sp.max_pool2d_backward, y, idx.astype(float), x.shape)),
        ("err-output-size", raises(sp.avg_pool2d, x, 17)),
        ("min-omit", lambda: sp.min_pool2d(xn, 3, 2, 1, return_indices=True, nan_policy="omit")),
        ("min-omit-bw", lambda: sp.min_pool2d_backward(yn, idxn, x.shape, nan_policy="omit")),
        ("avg-omit", lambda: sp.avg_pool2d_backward(sp.avg_pool2d(xn, 2, nan_policy="omit"), x.shape, 2,
                                                    nan_policy="omit", x=xn)),
        ("err-nan-policy", raises(sp.max_pool2d, x, 2, nan_policy="raise")),
        ("err-omit-without-x", raises(sp.avg_pool2d_backward, y, x.shape, 3, 2, 1, nan_policy="omit")),
        ("err-minus-1", raises(sp.min_pool2d_backward, yn, idxn, x.shape)),
        ("max1d", lambda: sp.max_pool1d(x1, 3, 2, 1, return_indices=True)),
        ("max1d-bw", lambda: sp.max_pool1d_backward(y1, idx1, x1.shape)),
        ("max3d", lambda: sp.max_pool3d(x3, 3, 2, 1, return_indices=True)),
        ("max3d-bw", lambda: sp.max_pool3d_backward(y3, idx3, x3.shape)),
        ("avg1d-bw", lambda: sp.avg_pool1d_backward(sp.avg_pool1d(x1, 2), x1.shape, 2)),
        ("avg3d", lambda: sp.avg_pool3d_backward(sp.avg_pool3d(x3, 3, 2, 1), x3.shape, 3, 2, 1)),
        ("adaptive-max", lambda: sp.adaptive_max_pool2d(x, (5, 3), return_indices=True)),
        ("adaptive-max-bw", lambda: sp.max_pool2d_backward(ya, idxa, x.shape)),
        ("adaptive-avg", lambda: sp.adaptive_avg_pool3d_backward(sp.adaptive_avg_pool3d(x3, (3, 2, 5)), x3.shape)),
        ("global", lambda: (sp.adaptive_avg_pool2d(x, 1), sp.adaptive_max_pool1d(x1, 1, True))),
        ("unpool", lambda: sp.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape)),
        ("unpool-out", lambda: sp.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape, out=out_x)),
        ("fold3d", lambda: sp.fold3d(w3, x3.shape, 2)),
        ("nd-layers", lambda: [l.backward(l.forward(x3 if "3d" in type(l).__name__ else x1)) for l in nd_layers]),
        ("unpool-layer", lambda: unpool.backward(unpool.forward(y, idx, x.shape))),
        ("err-unpool-index", raises(sp.max_unpool2d, y, bad_idx, 3, 2, 1, output_size=x.shape)),
        ("err-unpool-index-out", raises(sp.max_unpool2d, y, bad_idx, 3, 2, 1, output_size=x.shape, out=out_x)),
        ("err-adaptive-size", raises(sp.adaptive_avg_pool2d, x, 0)),
        ("err-max3d-kernel", raises(sp.max_pool3d, x3, (2, 2))),
        ("err-unpool-output-size", raises(sp.max_unpool1d, y1, idx1, 3, 2, 1, output_size=(3,))),
        ("block-reduce", lambda: [sp.block_reduce(x, (1, 1, 2, 3), f, 0.5) for f in (np.max, np.min, np.sum, np.mean,
                                                                                    np.nanmax, np.nansum)]),
        ("block-reduce-int", lambda: [sp.block_reduce(xi, (1, 3, 2, 1), f) for f in (np.max, np.min, np.sum, np.mean)]),
        ("block-reduce-other", lambda: (sp.block_reduce(x, 2, np.std), sp.block_reduce(x, 3, np.median))),
        ("block-reduce-masked", lambda: sp.block_reduce(np.ma.MaskedArray(x, mask=x > 1), 2, np.nanmax)),
        ("err-block-size", raises(sp.block_reduce, x, (2, 2))),
        ("err-masked-pooling", raises(sp.max_pool2d, np.ma.MaskedArray(x), 2)),
        ("every-function", lambda: _every_function(sp, every)),
    ]


def _measure(calls, rounds, warmup=100):
    """Run every call ``rounds`` times after a warm-up; return (rss growth, tracemalloc growth, blocks growth)."""
    for _ in range(warmup):  # warm-up: caches, first-touch of pages, lazily built tables
        for _, f in calls:
            f()
    gc.collect()
    rss0, blocks0 = rss_bytes(), sys.getallocatedblocks()
    tracemalloc.start()
    try:
        traced0 = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            for _, f in calls:
                f()
        gc.collect()
        traced1 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    rss1, blocks1 = rss_bytes(), sys.getallocatedblocks()
    rss = None if rss0 is None else rss1 - rss0
    return rss, traced1 - traced0, blocks1 - blocks0


# Thresholds: generous against noise, far below a leak of one small array or object per call. Each call's
# arrays are >= 600 bytes; 1,000 rounds x 25 calls = 25,000 calls, so leaking one array per call would add
# at least 15 MB (traced and resident), and one Python object per call 25,000 allocated blocks.
ROUNDS = 1000
MAX_RSS_GROWTH = 16 * 2**20
MAX_TRACED_GROWTH = 1 * 2**20
MAX_BLOCK_GROWTH = 5000


def _leaky(name, report):
    growth = ", ".join(f"{k} {v}" for k, v in report.items())
    return f"{name}: memory grew ({growth})"


def check_no_growth(calls, rounds=ROUNDS, warmup=100):
    rss, traced, blocks = _measure(calls, rounds, warmup)
    report = {"rss": rss, "traced": traced, "blocks": blocks}
    problems = []
    if rss is not None and not SANITIZED and rss > MAX_RSS_GROWTH:
        problems.append("rss")
    if traced > MAX_TRACED_GROWTH:
        problems.append("traced")
    if blocks > MAX_BLOCK_GROWTH:
        problems.append("blocks")
    return problems, report


@pytest.fixture
def one_thread():
    """Leaks do not depend on the thread count, and one thread keeps the timing steady on a busy machine
    (an OpenMP region of 2 threads can cost milliseconds when the cores are shared)."""
    old = sp.get_num_threads()
    sp.set_num_threads(1)
    yield
    sp.set_num_threads(old)


def test_no_leaks_across_tens_of_thousands_of_calls(one_thread):
    calls = _calls()
    problems, report = check_no_growth(calls)
    print(f"\n{len(calls)} calls x {ROUNDS} rounds = {len(calls) * ROUNDS} calls; growth: {report}")
    assert not problems, _leaky("all functions", report)


def test_no_leaks_with_two_threads():
    """A shorter run through the multi-threaded kernels."""
    old = sp.get_num_threads()
    sp.set_num_threads(2)
    try:
        calls = _calls()
        problems, report = check_no_growth(calls, rounds=ROUNDS // 20, warmup=20)
    finally:
        sp.set_num_threads(old)
    assert not problems, _leaky("all functions, 2 threads", report)


def test_leak_detector_can_fail():
    """The same measurement flags a leak of one small array per call (so the test above can fail)."""
    kept = []
    # 2 KB per call (50 MB in all): resident memory must grow past the threshold even where the heap holds
    # some megabytes freed by earlier tests, which a leak fills first
    calls = [("leak", lambda: kept.append(np.empty(2000, np.uint8)))]
    problems, report = check_no_growth(calls, rounds=25000)
    assert "traced" in problems, report
    if PYMALLOC:
        assert "blocks" in problems, report
    if rss_bytes() is not None and not SANITIZED:
        assert "rss" in problems, report
    kept.clear()


def test_reference_error_paths_do_not_leak():
    """The shared validation (both backends raise from it) keeps nothing per call."""
    x = np.zeros((2, 8, 8))

    def bad():
        for f in (lambda: reference.max_pool2d(x, 0), lambda: reference.avg_pool2d(x, 2, padding=3),
                  lambda: reference.fold2d(x, (8, 8)), lambda: reference.unfold2d(x, 2, axes=(0, 0))):
            try:
                f()
            except (ValueError, TypeError):
                pass

    problems, report = check_no_growth([("bad", bad)], rounds=5000)
    assert not problems, _leaky("reference errors", report)


# ------------------------------------------------------------------------------------------- threads

def _workload(seed):
    """A thread's own arrays (shape, dtype and layout vary with ``seed``) and the calls to make on them."""
    rng = np.random.default_rng(seed)
    dtype = [np.float32, np.float64, np.int32, np.uint8, np.float16, np.int64, np.float32, np.float64][seed % 8]
    lead = (int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    H, W = int(rng.integers(9, 30)), int(rng.integers(9, 30))
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal(lead + (H, W)) * 10).astype(dtype)
        x[0, 0, 0, :3] = [np.nan, -np.inf, np.inf]
    else:
        x = rng.integers(0, 50, lead + (H, W)).astype(dtype)
    axes = (-2, -1)
    if seed % 3 == 1:  # channels-last
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        axes = (1, 2)
    elif seed % 3 == 2:  # Fortran-ordered
        x = np.asfortranarray(x)
    k, s, p = [(3, 2, 1), (2, 2, 0), (3, 1, 1), ((3, 2), (2, 1), (1, 0))][seed % 4]
    kw = {"axes": axes}

    def run(mod):
        y, idx = mod.max_pool2d(x, k, s, p, return_indices=True, **kw)
        g = (np.arange(y.size).reshape(y.shape) % 7).astype(y.dtype)
        a = mod.avg_pool2d(x, k, s, p, **kw)
        ga = (np.arange(a.size).reshape(a.shape) % 5).astype(a.dtype)
        w = mod.unfold2d(x, k, s, p, **kw)
        ym, im = mod.adaptive_max_pool2d(x, (4, 5), return_indices=True, **kw)
        am = mod.adaptive_avg_pool2d(x, (4, 5), **kw)
        y1, i1 = mod.max_pool1d(x, 3, 2, 1, return_indices=True, axes=kw["axes"][1:])
        y3, i3 = mod.max_pool3d(x, (1, 3, 2), (1, 2, 2), (0, 1, 1), return_indices=True, axes=(0,) + tuple(
            a % x.ndim for a in kw["axes"]))
        yn, iN = mod.min_pool2d(x, k, s, p, return_indices=True, nan_policy="omit", **kw)
        return [y, idx, yn, iN, mod.min_pool2d_backward(g, iN, x.shape, nan_policy="omit", **kw),
                mod.avg_pool2d(x, k, s, p, nan_policy="omit", **kw),
                mod.max_pool2d_backward(g, idx, x.shape, **kw),
                a,
                mod.avg_pool2d_backward(ga, x.shape, k, s, p, **kw),
                np.array(w),
                mod.fold2d(w, x.shape, s, p, **kw),
                ym, im, mod.max_pool2d_backward(ym, im, x.shape, **kw),
                am, mod.adaptive_avg_pool2d_backward(am, x.shape, **kw),
                mod.adaptive_avg_pool2d(x, 1, **kw),
                mod.max_unpool2d(g, idx, k, s, p, output_size=x.shape, **kw),
                y1, i1, mod.avg_pool1d(x, 2, axes=kw["axes"][1:]),
                y3, i3, mod.avg_pool3d(x, (1, 2, 2), axes=(0,) + tuple(a % x.ndim for a in kw["axes"]))]

    planar = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if axes == (1, 2) else x  # (N, C, H, W)
    every = {1: planar[:, :, 0, :], 2: planar, 3: np.stack([planar[:, :, :-1], planar[:, :, 1:]], axis=2)}

    def run_all(mod):  # and every public function and layer, 1D, 2D and 3D
        return run_once(mod) + _every_function(mod, every, layers=mod is sp)[0]

    run_once, run_all.axes = run, axes
    return run_all


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(a, b)
    else:
        assert np.array_equal(a, b)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # reference: inf + -inf
@pytest.mark.parametrize("omp_threads", [1, 2])
def test_eight_python_threads_get_single_threaded_answers(omp_threads):
    n_threads, iterations = 8, (12 if omp_threads == 1 else 4)
    old = sp.get_num_threads()
    sp.set_num_threads(omp_threads)
    try:
        work = [_workload(seed) for seed in range(n_threads)]
        expected = [run(sp) for run in work]  # single-threaded (one Python thread) answers
        for e, run in zip(expected, work):  # ... which are also the reference's
            for a, b in zip(e, run(reference)):
                _same(a, b)
        barrier = threading.Barrier(n_threads)
        errors, mismatches, done = [], [], [0] * n_threads

        def worker(i):
            try:
                barrier.wait()
                for _ in range(iterations):
                    got = work[i](sp)
                    for j, (a, b) in enumerate(zip(got, expected[i])):
                        try:
                            _same(a, b)
                        except AssertionError:
                            mismatches.append((i, j))
                    try:  # an error path in the middle of the others' kernels
                        sp.max_pool2d_backward(got[0], got[1] + 10**9, np.shape(got[2]), axes=work[i].axes)
                        errors.append((i, "a bad index was accepted"))
                    except ValueError:
                        pass
                    done[i] += 1
            except BaseException as e:  # noqa: BLE001  (reported below)
                errors.append((i, repr(e)))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a thread hung"
        assert not errors, errors
        assert not mismatches, f"{len(mismatches)} results differ from the single-threaded answers: {mismatches[:10]}"
        assert done == [iterations] * n_threads
    finally:
        sp.set_num_threads(old)


def test_each_python_thread_may_set_its_own_thread_count():
    """Threads that each call set_num_threads while others compute still get identical answers."""
    run = _workload(5)
    expected = run(sp)
    old = sp.get_num_threads()
    results, errors = {}, []

    def worker(i):
        try:
            sp.set_num_threads(1 + i % 3)
            results[i] = run(sp)
        except BaseException as e:  # noqa: BLE001
            errors.append(repr(e))

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        sp.set_num_threads(old)
    assert not errors, errors
    for i in range(8):
        for a, b in zip(results[i], expected):
            _same(a, b)


@pytest.mark.parametrize("seed", range(8))
def test_answers_do_not_depend_on_the_thread_count(seed):
    run = _workload(seed)
    old = sp.get_num_threads()
    try:
        sp.set_num_threads(1)
        base = run(sp)
        for n in (2, 3, 4):
            sp.set_num_threads(n)
            for a, b in zip(run(sp), base):
                _same(a, b)
    finally:
        sp.set_num_threads(old)
