"""Every docstring example runs (on the installed package, whichever backend is active)."""
import doctest
import importlib

import numpy as np
import pytest

MODULES = ["stridepool", "stridepool._params", "stridepool.reference", "stridepool.layers", "stridepool._threads",
           "stridepool._compiled", "stridepool.jax", "stridepool._block_reduce"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        mod = importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} is not importable on this backend")
    np.set_printoptions(legacy=False)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_functions_are_documented():
    import stridepool as sp

    for name in ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "unfold2d", "fold2d"]:
        doc = getattr(sp, name).__doc__
        assert "Parameters" in doc and "Examples" in doc, name


def test_readme_examples():
    import pathlib

    readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests (installed-wheel run)")
    result = doctest.testfile(str(readme), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0
