"""The API reference index, generated from ``stridepool.__all__`` each time the docs are built.

``conf.py`` calls :func:`write_index` before Sphinx reads the sources: every public name gets an autosummary
entry in ``api/index.rst`` and, through ``autosummary_generate``, a page of its own under ``api/generated/``.
Nothing here lists the public names, so the reference cannot fall behind the package: a new function, layer
or attribute appears in the reference the next time the docs are built, in the group its kind and name put it
in. A public callable, class or module without a docstring, or a plain-value attribute without a description
(a ``#:`` comment before its assignment in ``stridepool/__init__.py``, or an entry in ``ATTRIBUTES`` below), is
reported by :func:`problems`; ``conf.py`` turns each report into a Sphinx warning, so ``sphinx-build -W``
fails. ``tests/test_docs_site.py`` calls :func:`render_index` and :func:`problems` without building anything.
"""
import importlib
import inspect
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
INDEX = HERE / "api" / "index.rst"

#: Descriptions of public attributes that are plain values (a ``str`` has no docstring of its own) and that
#: have no ``#:`` comment in ``stridepool/__init__.py``. A ``#:`` comment, where there is one, wins.
ATTRIBUTES = {
    "backend": (
        "Which implementation the public functions run: ``\"compiled\"`` (the Cython kernels) or "
        "``\"reference\"`` (:mod:`stridepool.reference`, pure NumPy). Chosen once, at import, by the "
        "environment variable ``STRIDEPOOL_BACKEND`` (``auto``, the default, falls back to the reference with "
        "one ``RuntimeWarning`` when the extension cannot be imported; ``compiled`` makes that an "
        "``ImportError``; ``reference`` forces the pure-NumPy path). See :doc:`/threads`."),
    "__version__": (
        "The package version, a string such as ``\"0.1.0\"``; ``python -m stridepool --version`` prints it."),
}

#: The groups of the reference, in page order: (key, title, introduction).
GROUPS = [
    ("1d", "1-D functions",
     "Over the last axis ``(..., L)`` of an array, or the one named by ``axes`` (``axes=1`` pools an "
     "``(N, L, C)`` batch without a transpose)."),
    ("2d", "2-D functions",
     "Over the last two axes ``(..., H, W)``, or the two named by ``axes`` (``axes=(1, 2)`` pools a "
     "channels-last ``(N, H, W, C)`` batch without a transpose). ``unfold2d`` / ``fold2d`` are the windows "
     "and their adjoint, the operation the question asked for."),
    ("3d", "3-D functions",
     "Over the last three axes ``(..., D, H, W)``, or the three named by ``axes`` (``axes=(1, 2, 3)`` for "
     "``(N, D, H, W, C)``)."),
    ("blocks", "Block reduction",
     "scikit-image's ``block_reduce`` over any number of axes, with any reduction: the common ones on the kernels "
     "(see :doc:`/ecosystem`)."),
    ("layers", "Layers",
     "Objects with PyTorch's constructor parameters, a ``forward`` that remembers what the backward needs, "
     "and a ``backward`` that returns the input gradient; ``Pooling2D`` is the question's class."),
    ("modules", "Modules", "The pure-NumPy reference backend: the same functions, bit-identical results."),
    ("functions", "Threads, memory and other functions", "Functions that are not pooling operations."),
    ("attributes", "Attributes", "Plain values that describe the running build."),
]

_DIM = re.compile(r"([123])d(?:_backward)?$")
#: functions over any number of axes: ``block_reduce`` and its kind
_BLOCKS = re.compile(r"^block_")


def _package():
    return importlib.import_module("stridepool")


def group_of(name, obj):
    """The key of the group in :data:`GROUPS` that the public ``name`` (bound to ``obj``) belongs to."""
    if inspect.isclass(obj):
        return "layers"
    if inspect.ismodule(obj):
        return "modules"
    if callable(obj):
        m = _DIM.search(name)
        return m.group(1) + "d" if m else "blocks" if _BLOCKS.search(name) else "functions"
    return "attributes"


def groups(package=None):
    """``{group key: [public names in __all__ order]}`` for the groups that have at least one name."""
    package = package or _package()
    out = {}
    for name in package.__all__:
        out.setdefault(group_of(name, getattr(package, name)), []).append(name)
    return out


def comment_docs(package=None):
    """``{name: text}`` of the ``#:`` comments that precede module-level assignments in the package source."""
    package = package or _package()
    try:
        lines = inspect.getsource(package).splitlines()
    except (OSError, TypeError):
        return {}
    docs, pending = {}, []
    for line in lines:
        if line.startswith("#:"):
            pending.append(line[2:].strip())
            continue
        m = re.match(r"([A-Za-z_]\w*)\s*(?::[^=]*)?=", line)  # an annotation may come between
        if m and pending:
            docs[m.group(1)] = " ".join(pending)
        pending = []
    return docs


def attribute_docs(package=None):
    """``{name: description}`` of every public plain-value attribute that has one."""
    package = package or _package()
    found = comment_docs(package)
    return {name: found.get(name) or ATTRIBUTES[name]
            for name in groups(package).get("attributes", []) if found.get(name) or name in ATTRIBUTES}


def problems(package=None):
    """Public names the reference cannot document: a list of messages, empty when all is well."""
    package = package or _package()
    described = attribute_docs(package)
    out = []
    for key, names in groups(package).items():
        for name in names:
            if key == "attributes":
                if name not in described:
                    out.append(f"stridepool.{name} is public (in __all__) but has no description: add a `#:` "
                               "comment before its assignment in stridepool/__init__.py or an entry to "
                               "ATTRIBUTES in docs/apigen.py")
            elif not (inspect.getdoc(getattr(package, name)) or "").strip():
                out.append(f"stridepool.{name} is public (in __all__) but has no docstring")
    missing = set(package.__all__) - {n for names in groups(package).values() for n in names}
    out += [f"stridepool.{name} is in no group of the API reference" for name in sorted(missing)]
    return out


def render_index(package=None):
    """The text of ``api/index.rst``: one autosummary list per group, every name of ``__all__`` once."""
    package = package or _package()
    found = groups(package)
    lines = [
        ".. This file is generated by docs/apigen.py from stridepool.__all__ at every docs build: do not edit.",
        "",
        "API reference",
        "=============",
        "",
        "``import stridepool as sp``: every public name, one page each, generated from the docstrings. The",
        "functions take array-likes, validate every argument before any kernel runs (``ValueError`` for bad",
        "values and shapes, ``TypeError`` for bad types and dtypes), never modify their inputs, and accept",
        "``axes=`` and ``out=``; :doc:`/semantics` has the rules they share.",
        "",
        ".. currentmodule:: stridepool",
    ]
    for key, title, intro in GROUPS:
        if key not in found:
            continue
        lines += ["", title, "-" * len(title), "", intro, "", ".. autosummary::", "   :toctree: generated",
                  "   :nosignatures:", ""]
        lines += [f"   {name}" for name in found[key]]
    return "\n".join(lines) + "\n"


def write_index(path=INDEX, package=None):
    """Write :func:`render_index` to ``path`` unless it already holds that text; return the path.

    Pages that an earlier build generated for names no longer public (``generated/stridepool.NAME.rst``) are
    removed, so that a renamed or dropped name leaves no orphan page behind to fail the build.
    """
    package = package or _package()
    text = render_index(package)
    path = Path(path)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    public = {f"stridepool.{name}.rst" for name in package.__all__}
    for page in (path.parent / "generated").glob("stridepool.*.rst"):
        if page.name not in public:
            page.unlink()
    return path
