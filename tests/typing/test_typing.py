"""Static types (issue 12): the package ships its annotations, and ``mypy --strict`` accepts the package, a
user's script and the overloads' ``assert_type`` checks. The mypy run skips when mypy is not installed (the
``typing`` extra installs it); the other tests need nothing."""
from __future__ import annotations

import importlib.resources
import importlib.util
import os
import runpy
from pathlib import Path

import pytest

import stridepool as sp
from stridepool import _api, layers, reference

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
#: bridge module (in stridepool/) -> the framework whose types it needs (autograd has none: it is Any)
TYPED_BRIDGES = {"torch": "torch"}


def test_the_package_says_it_is_typed_and_ships_the_extension_stubs() -> None:
    files = importlib.resources.files("stridepool")
    for name in ("py.typed", "_kernels.pyi", "_kernels_avx2.pyi", "_kernels_avx512.pyi"):
        assert files.joinpath(name).is_file(), name


def test_all_is_written_out_as_computed() -> None:
    """``__all__`` is a literal list (type checkers read it without running it): the names it has always had."""
    rest = ["reference", "backend", "kernels", "set_num_threads", "get_num_threads", "release_memory", "__version__"]
    assert sp.__all__ == [*_api.FUNCTIONS, *layers.LAYERS, *rest]
    assert reference.__all__ == list(_api.FUNCTIONS)
    assert all(callable(getattr(reference, name)) for name in reference.__all__)


def test_the_user_script_runs() -> None:
    runpy.run_path(str(HERE / "user_script.py"), run_name="__main__")


def test_mypy_strict_accepts_the_package_the_user_script_and_the_assert_types() -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install stridepool[typing])")
    package = Path(sp.__file__).resolve().parent
    args = ["--strict", "--no-error-summary", "--cache-dir", os.devnull]
    config = ROOT / "pyproject.toml"
    if config.is_file():  # the source tree's settings (overrides for modules that need them)
        args += ["--config-file", str(config)]
    # a framework bridge is checked against its framework's own types: where the framework is not installed,
    # the bridge is left out (nothing in the package imports it)
    for bridge, framework in TYPED_BRIDGES.items():
        if importlib.util.find_spec(framework) is None:
            args += ["--exclude", rf"stridepool[/\\]{bridge}\.py$"]
    # the package as imported. The source tree is given as a directory (its parent, src/, goes on the search
    # path, so the scripts' `import stridepool` finds it); an installed copy is named with -p and found in the
    # environment as a PEP 561 package (giving its directory would put all of site-packages on the search path,
    # where other distributions' modules, such as the typing_extensions.py torch installs, shadow typeshed's)
    # (mypy takes either -p or files: then the package and the scripts are two runs)
    scripts = [str(HERE / "user_script.py"), str(HERE / "assert_types.py"), str(HERE / "assert_bridges.py")]
    if "site-packages" in package.parts:
        runs = [["-p", "stridepool"], scripts]
    else:
        runs = [[str(package), *scripts]]
    for target in runs:
        stdout, stderr, status = api.run(args + target)
        assert status == 0, stdout + stderr
