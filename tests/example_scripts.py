"""The examples' tests' common part: import an example script by path (skipping where tests run outside a
source checkout: the examples are not installed), read its printed losses, and run it with both poolings."""
import importlib.util
import pathlib
import re

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    """examples/<name>.py as a module, or a skip when it is not there."""
    path = EXAMPLES / f"{name}.py"
    if not path.is_file():
        pytest.skip(f"{path} is not there (tests run outside a source checkout)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def losses(text):
    """The loss of every `epoch ... loss <repr> ...` line the script printed."""
    return re.findall(r"^epoch .* loss (\S+) ", text, flags=re.M)


def run_both_pools(module, capsys, epochs):
    """``module.main`` with ``--pool stridepool`` and ``--pool native``: both print the same losses, one per
    epoch, below ln(10), their pooling, every epoch's time and a test accuracy last. Returns the outputs."""
    outputs = {}
    for pool in ("stridepool", "native"):
        module.main(["--epochs", str(epochs), "--pool", pool])
        outputs[pool] = capsys.readouterr().out
    a, b = (losses(outputs[p]) for p in ("stridepool", "native"))
    assert len(a) == epochs and a == b, outputs
    assert 0 < float(a[-1]) < 2.3
    for pool, out in outputs.items():
        assert f"pooling: {pool}" in out
        assert re.search(rf"^epoch +{epochs}/{epochs} .* time \d+\.\d+ s$", out, flags=re.M), out
        last = out.strip().splitlines()[-1]
        assert re.fullmatch(r"test accuracy: 0\.\d+", last), last
    return outputs
