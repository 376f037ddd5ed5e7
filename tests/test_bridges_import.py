"""The framework bridges are optional: ``import stridepool`` imports no framework, and a bridge imported without
its framework says which extra to install. Subprocesses: each starts from a clean ``sys.modules``."""
import os
import subprocess
import sys
import textwrap

import pytest

#: bridge module -> the framework it imports (and the extra that installs it)
BRIDGES = {"stridepool.torch": "torch", "stridepool.jax": "jax", "stridepool.autograd": "autograd"}


def _run(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_import_stridepool_imports_no_framework():
    r = _run("""
        import sys, numpy as np, stridepool as sp
        sp.max_pool2d(np.zeros((4, 4)), 2)
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'jaxlib', 'autograd')))
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("bridge,framework", BRIDGES.items(), ids=list(BRIDGES))
def test_bridge_without_its_framework_names_the_extra(bridge, framework):
    r = _run(f"""
        import sys
        sys.modules[{framework!r}] = None  # as if it were not installed: importing it raises ImportError
        try:
            import {bridge}
        except ImportError as e:
            print(e)
        else:
            print("imported")
        """)
    assert r.returncode == 0, r.stderr
    message = r.stdout.strip()
    assert message.startswith(f"{bridge} needs ") and message.endswith(f'pip install "stridepool[{framework}]"')


@pytest.mark.parametrize("bridge,framework", BRIDGES.items(), ids=list(BRIDGES))
def test_bridge_imports_with_its_framework(bridge, framework):
    pytest.importorskip(framework)
    r = _run(f"import {bridge} as b; print(len(b.__all__))")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) >= 30


def _readme_blocks():
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    if not readme.exists():
        return []
    text = readme.read_text()
    section = text[text.index("## Training in PyTorch"):]
    section = section[:section.index("\n## ", 1)]
    import re
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.parametrize("bridge,framework", BRIDGES.items(), ids=list(BRIDGES))
def test_readme_training_examples_run(bridge, framework):
    """The README's bridge examples are plain code blocks (its doctests run without the frameworks): run here."""
    blocks = [b for b in _readme_blocks() if f"import {bridge}" in b]
    if not blocks:
        pytest.skip("README.md is not beside the tests (installed-wheel run)")
    pytest.importorskip(framework)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
