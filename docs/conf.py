"""Sphinx configuration of the stridepool documentation.

Build (from the repository root, after ``pip install ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

No network is used at build time (no intersphinx). The API reference index (``api/index.rst``) is written
from ``stridepool.__all__`` by ``apigen.py`` before Sphinx reads anything; the figure in :doc:`question` is
computed by stridepool itself (``plots/windows.py``, matplotlib's plot directive); the benchmark page
includes ``bench/results.md`` and ``bench/speedup.png`` as ``bench/run.py`` last wrote them.
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import apigen  # noqa: E402
import stridepool  # noqa: E402  (the installed package, or src/ on PYTHONPATH)

apigen.write_index()

project = "stridepool"
author = "stridepool developers"
copyright = "stridepool developers"
version = release = stridepool.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "myst_parser",  # only to include bench/results.md, which bench/run.py writes in Markdown
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
nitpicky = True  # every cross-reference must resolve
default_role = "code"

# -- API reference -------------------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the class template lists the methods with autodoc
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"GL08"}  # an object on a page without a docstring is a warning (-W: an error)

# -- figures made at build time ------------------------------------------------------------------------------
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"font.size": 9}

# -- HTML ----------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"stridepool {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["stridepool.css"]
# The user guide pages are flat (no sub-pages): no empty "Section Navigation" column beside them. The API
# pages keep it, listing every reference page.
html_sidebars = {"*": [], "api/**": ["sidebar-nav-bs"]}
html_context = {"default_mode": "light"}


def _report_undocumented(app):
    from sphinx.util import logging

    log = logging.getLogger("stridepool.docs")
    for message in apigen.problems():
        log.warning(message)


_ATTRIBUTE_DOCS = {f"stridepool.{name}": text for name, text in apigen.attribute_docs().items()}


def _attribute_docstring(app, what, name, obj, options, lines):
    """A plain-value attribute (a str has str's docstring) gets its description from apigen instead."""
    if name in _ATTRIBUTE_DOCS:
        lines[:] = [_ATTRIBUTE_DOCS[name]]


def setup(app):
    app.connect("builder-inited", _report_undocumented)
    app.connect("autodoc-process-docstring", _attribute_docstring, priority=100)  # before numpydoc
