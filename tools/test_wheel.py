"""Checks of an *installed* stridepool wheel: the things a broken wheel gets wrong.

Run by ``tools/build_wheels.sh`` and by cibuildwheel's ``test-command`` (``[tool.cibuildwheel]`` in
pyproject.toml), together with ``tests/``, from a directory outside the source tree and with
``STRIDEPOOL_BACKEND=compiled``. It is not part of the ordinary test run (``testpaths = ["tests"]``):
against a source checkout it would fail on purpose, because it insists on an installed package.

- stridepool is imported from site-packages, not from ``src/``;
- the compiled extension is the one inside that installed package, and the backend is ``compiled``;
- Cython is not installed (a wheel must not need it at run time);
- the version agrees between ``stridepool.__version__``, the wheel metadata and ``python -m stridepool``;
- the OpenMP runtime the extension links was vendored into the wheel by the repair step (auditwheel,
  delocate, delvewheel) and is the copy actually loaded, and threadpoolctl can see and limit it;
- a few forward/backward calls agree with ``stridepool.reference`` on 1 and 2 threads.

A build made on purpose without OpenMP (``STRIDEPOOL_OPENMP=0``, one thread) sets the same variable in
the test environment; the OpenMP checks are then replaced by checking that the build really has none.
An install built by pip from the sdist sets ``STRIDEPOOL_TEST_FROM_SDIST=1``: nothing is vendored there.
"""
import importlib.metadata
import importlib.util
import os
import pathlib
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import stridepool as sp
from stridepool import reference

PKG_DIR = pathlib.Path(sp.__file__).resolve().parent
WANT_OPENMP = os.environ.get("STRIDEPOOL_OPENMP", "1") != "0"
FROM_SDIST = os.environ.get("STRIDEPOOL_TEST_FROM_SDIST", "0") == "1"  # built by pip from the sdist, not repaired
# where each platform's repair tool puts the libraries it grafts into the wheel
if sys.platform == "darwin":
    VENDOR_DIR, OPENMP_PREFIX = PKG_DIR / ".dylibs", "libomp"          # delocate
elif sys.platform == "win32":
    VENDOR_DIR, OPENMP_PREFIX = PKG_DIR.parent / "stridepool.libs", "vcomp"  # delvewheel
else:
    VENDOR_DIR, OPENMP_PREFIX = PKG_DIR.parent / "stridepool.libs", "libgomp"  # auditwheel


def _kernels():
    from stridepool import _kernels

    return _kernels


def test_imported_from_site_packages():
    site = {pathlib.Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert PKG_DIR.parent in site, f"stridepool was imported from {PKG_DIR}, not from {sorted(map(str, site))}"
    assert sys.prefix != sys.base_prefix, "not running in a virtual environment"


def test_compiled_backend_is_required_and_used():
    assert os.environ.get("STRIDEPOOL_BACKEND") == "compiled", "run with STRIDEPOOL_BACKEND=compiled"
    assert sp.backend == "compiled"
    ext = pathlib.Path(_kernels().__file__).resolve()
    assert ext.parent == PKG_DIR, f"extension {ext} is not inside the installed package {PKG_DIR}"


def test_cython_is_not_installed():
    assert importlib.util.find_spec("Cython") is None, "Cython is importable: the test environment is not clean"


def test_version_is_one_string():
    assert sp.__version__ == importlib.metadata.version("stridepool")
    out = subprocess.run([sys.executable, "-m", "stridepool", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"stridepool {sp.__version__}"


def test_openmp_is_as_built_and_threadpoolctl_controls_it():
    if not WANT_OPENMP:  # the documented one-thread build
        assert not _kernels().HAVE_OPENMP
        assert sp.get_num_threads() == 1
        return
    threadpoolctl = pytest.importorskip("threadpoolctl")
    assert _kernels().HAVE_OPENMP, "the extension was built without OpenMP"
    assert any(lib["user_api"] == "openmp" for lib in threadpoolctl.threadpool_info())
    old = sp.get_num_threads()
    sp.set_num_threads(2)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
            assert sp.get_num_threads() == 1
    finally:
        sp.set_num_threads(old)


@pytest.mark.skipif(not WANT_OPENMP, reason="built with STRIDEPOOL_OPENMP=0")
@pytest.mark.skipif(FROM_SDIST, reason="installed from the sdist: no repair step, nothing vendored")
def test_openmp_runtime_is_vendored_and_is_the_one_loaded():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    vendored = sorted(p.name for p in VENDOR_DIR.glob(f"{OPENMP_PREFIX}*")) if VENDOR_DIR.is_dir() else []
    assert vendored, f"no {OPENMP_PREFIX}* in {VENDOR_DIR}: the repair step did not vendor the OpenMP runtime"
    loaded = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "openmp"]
    ours = [lib for lib in loaded if pathlib.Path(lib["filepath"]).resolve().parent == VENDOR_DIR.resolve()]
    assert ours, f"the vendored {vendored} is not the OpenMP runtime in use: {loaded}"


CASES = [  # (shape, dtype, kernel, stride, padding, axes)
    ((2, 3, 9, 11), np.float32, 3, 2, 1, (-2, -1)),
    ((4, 8, 8), np.float64, 2, None, 0, (-2, -1)),
    ((2, 7, 6, 5), np.float32, (3, 2), 1, (1, 0), (1, 2)),  # channels-last
    ((3, 10, 10), np.int16, 3, 3, "same", (-2, -1)),
    ((1, 6, 6), np.uint8, 3, 1, 0, (-2, -1)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,dtype,k,s,p,axes", CASES,
                         ids=[f"{c[1].__name__}-{'x'.join(map(str, c[0]))}-axes{c[5][0]}{c[5][1]}" for c in CASES])
def test_pooling_matches_reference(shape, dtype, k, s, p, axes, threads):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        x = rng.integers(0, 100, shape).astype(dtype)
    else:
        x = (rng.standard_normal(shape) * 50).astype(dtype)
    old = sp.get_num_threads()
    sp.set_num_threads(threads)
    try:
        y, idx = sp.max_pool2d(x, k, s, p, return_indices=True, axes=axes)
        y_ref, idx_ref = reference.max_pool2d(x, k, s, p, return_indices=True, axes=axes)
        assert y.dtype == y_ref.dtype and np.array_equal(y, y_ref)
        assert np.array_equal(idx, idx_ref)
        g = np.ones_like(y)
        gx = sp.max_pool2d_backward(g, idx, x.shape, axes=axes)
        assert np.array_equal(gx, reference.max_pool2d_backward(g, idx_ref, x.shape, axes=axes))
        a = sp.avg_pool2d(x, k, s, p, axes=axes)
        a_ref = reference.avg_pool2d(x, k, s, p, axes=axes)
        assert a.dtype == a_ref.dtype
        np.testing.assert_allclose(a, a_ref, rtol=1e-6 if a.dtype == np.float32 else 1e-12)
        w = sp.unfold2d(x, k, s if s is not None else 1, p, axes=axes)
        back = sp.fold2d(w, x.shape, s if s is not None else 1, p, axes=axes)
        back_ref = reference.fold2d(reference.unfold2d(x, k, s if s is not None else 1, p, axes=axes),
                                    x.shape, s if s is not None else 1, p, axes=axes)
        assert back.dtype == back_ref.dtype and np.array_equal(back, back_ref)
    finally:
        sp.set_num_threads(old)
