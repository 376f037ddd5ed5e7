"""The documentation site (docs/) covers the whole public API, and its examples run.

Cheap: no Sphinx build. docs/apigen.py writes the API reference index from ``stridepool.__all__`` when the
site is built; these tests call it directly. Skipped where docs/ is not beside the tests (a run against an
installed wheel copies only the tests).
"""
import doctest
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import stridepool as sp

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(not (DOCS / "apigen.py").exists(),
                                reason="docs/ is not beside the tests (installed-wheel run)")


@pytest.fixture(scope="module")
def apigen():
    spec = importlib.util.spec_from_file_location("stridepool_docs_apigen", DOCS / "apigen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_is_in_the_api_index(apigen):
    text = apigen.render_index(sp)
    listed = re.findall(r"^   (\S+)$", text, flags=re.M)
    listed = [name for name in listed if not name.startswith(":")]
    missing = [name for name in sp.__all__ if name not in listed]
    assert not missing, f"public names missing from the API reference index: {missing}"
    assert sorted(listed) == sorted(set(sp.__all__)), "a name is listed twice, or one that is not public"
    assert ":toctree: generated" in text


def test_every_public_name_is_documented(apigen):
    assert apigen.problems(sp) == []


def test_groups(apigen):
    found = apigen.groups(sp)
    assert "max_pool2d" in found["2d"] and "fold2d" in found["2d"]
    assert "max_pool2d_backward" in found["2d"]
    assert "Pooling2D" in found["layers"]
    assert found["modules"] == ["reference"]
    assert found["blocks"] == ["block_reduce"]
    assert "set_num_threads" in found["functions"]
    assert "backend" in found["attributes"]
    assert apigen.group_of("max_pool1d", sp.max_pool2d) == "1d"
    assert apigen.group_of("adaptive_avg_pool3d_backward", sp.max_pool2d) == "3d"
    assert apigen.group_of("MaxUnpool2d", sp.MaxPool2d) == "layers"


def test_a_name_without_a_docstring_is_reported(apigen):
    class Fake:
        def undocumented(self):
            pass

        def documented(self):
            """Docs."""

        __all__ = ["documented", "undocumented", "value"]
        value = "x"

    fake = Fake()
    messages = apigen.problems(fake)
    assert any("undocumented" in m and "no docstring" in m for m in messages)
    assert any("value" in m and "no description" in m for m in messages)
    assert not any("stridepool.documented " in m for m in messages)


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.rst")))
def test_page_examples(page):
    if page == "dask.rst":  # the dask extra is optional: its page's examples run where dask is installed
        pytest.importorskip("dask.array")
    if page == "ecosystem.rst":  # SciPy's filters (the test extra has SciPy)
        pytest.importorskip("scipy.ndimage")
    if page == "frameworks.rst":  # its doctests are the JAX section's (the jax extra is optional); the PyTorch and
        pytest.importorskip("jax")  # autograd examples are code blocks, run in the README by the bridges' tests
    np.set_printoptions(legacy=False)
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_page_is_in_the_toctree():
    index = (DOCS / "index.rst").read_text()
    for page in DOCS.glob("*.rst"):
        if page.stem != "index":
            assert re.search(rf"^   {page.stem}$", index, flags=re.M), f"{page.name} is not in index.rst's toctree"


def test_readme_benchmark_rows_are_the_benchmarks_own():
    """The README quotes rows of bench/results.md verbatim, so a new benchmark run cannot leave it stale."""
    results = ROOT / "bench" / "results.md"
    readme = ROOT / "README.md"
    if not (results.exists() and readme.exists()):
        pytest.skip("bench/results.md or README.md is not beside the tests")
    lines = set(results.read_text().splitlines())
    rows = [line for line in readme.read_text().splitlines()
            if line.startswith("| ") and re.search(r"\| (max|avg)( CL)? (fwd|bwd|fwd\+bwd) \|", line)]
    assert rows, "the README quotes no benchmark rows"
    stale = [row for row in rows if row not in lines]
    assert not stale, f"README benchmark rows not in bench/results.md (rerun? copy the new rows): {stale}"


def test_write_index_removes_pages_of_names_no_longer_public(apigen, tmp_path):
    generated = tmp_path / "api" / "generated"
    generated.mkdir(parents=True)
    (generated / "stridepool.max_pool2d.rst").write_text("kept")
    (generated / "stridepool.gone2d.rst").write_text("stale")
    index = apigen.write_index(tmp_path / "api" / "index.rst", sp)
    assert index.read_text() == apigen.render_index(sp)
    assert (generated / "stridepool.max_pool2d.rst").exists()
    assert not (generated / "stridepool.gone2d.rst").exists()
