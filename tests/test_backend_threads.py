"""Backend selection, thread control, fork safety."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import stridepool as sp
from stridepool import reference

compiled_only = pytest.mark.skipif(sp.backend != "compiled", reason="needs the compiled backend")


def _run(code, **env):
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full, timeout=120)


def test_backend_env_reference():
    r = _run("import sys, stridepool as sp; print(sp.backend, sp.kernels, sp._core is sp.reference._reference, "
             "'stridepool._compiled' in sys.modules)", STRIDEPOOL_BACKEND="reference")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["reference", "None", "True", "False"]


def test_backend_env_rejects_unknown_value():
    r = _run("import stridepool", STRIDEPOOL_BACKEND="fastest")
    assert r.returncode != 0 and "`STRIDEPOOL_BACKEND` must be one of auto, compiled, reference" in r.stderr


FAKE_BROKEN = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "stridepool._kernels":
            raise ImportError("simulated missing extension")
sys.meta_path.insert(0, Block())
"""


def test_auto_falls_back_with_one_warning():
    r = _run(FAKE_BROKEN + "import warnings\nwarnings.simplefilter('always')\nimport stridepool as sp\n"
             "print(sp.backend)", STRIDEPOOL_BACKEND="auto")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "reference"
    assert r.stderr.count("RuntimeWarning") == 1 and "simulated missing extension" in r.stderr


def test_compiled_required_raises_clear_import_error():
    r = _run(FAKE_BROKEN + "import stridepool", STRIDEPOOL_BACKEND="compiled")
    assert r.returncode != 0
    assert "ImportError: STRIDEPOOL_BACKEND=compiled but the compiled extension" in r.stderr


@compiled_only
def test_installed_build_is_compiled_when_required():
    """In CI and wheel tests STRIDEPOOL_BACKEND=compiled makes a broken build fail here, not fall back."""
    r = _run("import stridepool as sp; print(sp.backend)", STRIDEPOOL_BACKEND="compiled")
    assert r.returncode == 0 and r.stdout.strip() == "compiled", r.stderr


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match=r"`n` must be >= 1, got 0"):
        sp.set_num_threads(0)
    with pytest.raises(TypeError, match=r"`n` must be an int, got 2.0"):
        sp.set_num_threads(2.0)


@compiled_only
@pytest.mark.parametrize("case", ["planar", "channels-last", "one-image-channels-last"])
def test_results_identical_for_1_and_2_threads(case, assert_same):
    rng = np.random.default_rng(0)
    if case == "planar":
        x, axes = rng.standard_normal((4, 8, 33, 31)).astype(np.float32), (-2, -1)
    elif case == "channels-last":
        x, axes = rng.standard_normal((3, 33, 31, 24)).astype(np.float32), (1, 2)
    else:
        x, axes = rng.standard_normal((1, 33, 31, 64)).astype(np.float32), (1, 2)
    x = np.round(x * 2)  # ties
    old = sp.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            sp.set_num_threads(n)
            assert sp.get_num_threads() == min(n, sp._kernels.openmp_max_threads())
            y, idx = sp.max_pool2d(x, 3, 1, 1, return_indices=True, axes=axes)
            g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
            results.append([y, idx, sp.max_pool2d_backward(g, idx, x.shape, axes=axes),
                            sp.avg_pool2d(x, 3, 1, 1, axes=axes), sp.avg_pool2d_backward(g, x.shape, 3, 1, 1, axes=axes),
                            sp.fold2d(sp.unfold2d(x, 3, 1, 1, axes=axes), x.shape, 1, 1, axes=axes)])
    finally:
        sp.set_num_threads(old)
    for a, b in zip(*results):
        assert_same(a, b)


@compiled_only
def test_threadpoolctl_sees_and_limits_the_pool():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not sp._compiled.K.HAVE_OPENMP:
        pytest.skip("built without OpenMP (one thread)")
    info = threadpoolctl.threadpool_info()
    assert any(i.get("user_api") == "openmp" for i in info), info
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert sp.get_num_threads() == 1
    assert sp.get_num_threads() >= 1


@compiled_only
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_hang():
    code = """
    import multiprocessing as mp, numpy as np, stridepool as sp
    sp.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((16, 8, 64, 64)).astype(np.float32)
    want = sp.max_pool2d(x, 3, 1, 1)           # the parent runs a parallel region first
    def child(q):
        q.put((sp.get_num_threads(), bool(np.array_equal(sp.max_pool2d(x, 3, 1, 1), want))))
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0, p.exitcode
    print(*q.get(timeout=5))
    """
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "True"]


def test_num_threads_does_not_change_reference():
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(reference.max_pool2d(x, 2), [[5.0, 7.0], [13.0, 15.0]])


# ------------------------------------------------------------------------------------ the result cache

@compiled_only
def test_cached_results_are_never_shared_by_live_arrays():
    """Large results live on cached buffers; a buffer is reused only once every array on it is gone."""
    from stridepool import _compiled

    x = np.random.default_rng(0).standard_normal((4, 8, 128, 128)).astype(np.float32)  # results > 1 MiB
    y1, i1 = sp.max_pool2d(x, 2, 1, return_indices=True)
    keep_y, keep_i = y1.copy(), i1.copy()
    view = y1[1:]  # a view keeps the buffer alive too
    del y1
    for _ in range(3):
        y2, i2 = sp.max_pool2d(-x, 2, 1, return_indices=True)
        assert not np.shares_memory(y2, view) and not np.shares_memory(i2, i1)
        del y2, i2
    np.testing.assert_array_equal(view, keep_y[1:])
    np.testing.assert_array_equal(i1, keep_i)
    total, count, limit = _compiled.K.cache_info()
    assert 0 < total <= limit and count >= 1


@compiled_only
def test_the_cache_is_bounded_and_reused():
    from stridepool import _compiled

    x = np.ones((2, 4, 256, 256), np.float32)
    old = _compiled.K.cache_info()[2]
    try:
        _compiled.K.set_cache_limit(16 << 20)
        for _ in range(20):
            sp.max_pool2d_backward(*reversed(sp.max_pool2d(x, 2, return_indices=True)[::-1]), x.shape)
        total, count, limit = _compiled.K.cache_info()
        assert limit == 16 << 20 and total <= limit
        _compiled.K.set_cache_limit(0)
        assert _compiled.K.cache_info()[:2] == (0, 0)
    finally:
        _compiled.K.set_cache_limit(old)


def test_cache_environment_variable():
    r = _run("import stridepool as sp, numpy as np; from stridepool import _compiled as C; "
             "print(C.K.cache_info()[2]); y = sp.max_pool2d(np.ones((64, 128, 128), np.float32), 1); print(type(y.base).__name__)",
             STRIDEPOOL_CACHE_MB="0", STRIDEPOOL_BACKEND="compiled")
    if "No module named" in r.stderr or "cannot be imported" in r.stderr:
        pytest.skip("no compiled extension")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "0"
    r = _run("import stridepool", STRIDEPOOL_CACHE_MB="lots", STRIDEPOOL_BACKEND="compiled")
    assert r.returncode != 0 and "`STRIDEPOOL_CACHE_MB` must be a whole number of MiB, got 'lots'" in r.stderr


def _rss() -> int:
    """Resident memory of this process in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the resident memory from /proc")
def test_release_memory_gives_the_cache_back():
    """Freed large results stay cached (the process keeps their memory); release_memory hands it back and says
    how much; the cache works again afterwards."""
    if sp.backend != "compiled":
        assert sp.release_memory() == 0
        return
    from stridepool import _compiled

    if _compiled.K.cache_info()[2] < (256 << 20):
        pytest.skip("STRIDEPOOL_CACHE_MB is set below 256")
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer's allocator keeps freed memory in its quarantine: RSS does not fall")
    sp.release_memory()
    x = np.ones((16, 64, 64, 64), np.float32)  # 16 MiB in, results 4 MiB each
    base = _rss()
    kept = [sp.max_pool2d(x, 2) for _ in range(30)]  # 120 MiB of results
    for y in kept:
        y.fill(1)  # resident for sure
    del kept
    cached, count, _ = _compiled.K.cache_info()
    assert cached >= 100 << 20 and count >= 25
    held = _rss()
    assert held - base >= 90 << 20  # freed arrays, memory still held: the cache
    freed = sp.release_memory()
    assert freed == cached
    assert _compiled.K.cache_info()[:2] == (0, 0)
    assert held - _rss() >= 90 << 20  # given back
    assert sp.release_memory() == 0
    y = sp.max_pool2d(x, 2)  # the cache fills again as results are freed
    del y
    assert _compiled.K.cache_info()[1] >= 1
