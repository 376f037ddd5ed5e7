"""The PyTorch digits example, examples/train_digits_torch.py: stridepool's MaxPool2d and torch's train the
network to the same losses, digit for digit (skipped without torch or scikit-learn, or outside a checkout)."""
import importlib.util
import pathlib
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "train_digits_torch.py"


@pytest.fixture(scope="module")
def tdt():
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} is not there (tests run outside a source checkout)")
    spec = importlib.util.spec_from_file_location("train_digits_torch", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _losses(text):
    return re.findall(r"^epoch .* loss (\S+) ", text, flags=re.M)


def test_both_poolings_print_the_same_losses(tdt, capsys):
    outputs = {}
    for pool in ("stridepool", "native"):
        tdt.main(["--epochs", "2", "--pool", pool])
        outputs[pool] = capsys.readouterr().out
    losses = {pool: _losses(out) for pool, out in outputs.items()}
    assert len(losses["stridepool"]) == 2 and losses["stridepool"] == losses["native"]
    assert all(repr(float(v)) == v for v in losses["stridepool"])  # full precision
    assert 0 < float(losses["stridepool"][1]) < float(losses["stridepool"][0]) < 2.3
    for pool, out in outputs.items():
        assert f"pooling: {pool}" in out
        assert re.search(r"^epoch +2/2 .* time \d+\.\d+ s$", out, flags=re.M)
        last = out.strip().splitlines()[-1]
        assert re.fullmatch(r"test accuracy: 0\.\d+", last), last
    accuracies = {out.strip().splitlines()[-1] for out in outputs.values()}
    assert len(accuracies) == 1


def test_the_network_uses_the_chosen_module(tdt):
    import torch

    import stridepool.torch as spt

    assert type(tdt.Network(pool="stridepool").pool) is spt.MaxPool2d
    assert type(tdt.Network(pool="native").pool) is torch.nn.MaxPool2d


def test_the_initial_weights_are_train_digits_weights(tdt):
    """The same draws as the NumPy example (its He initialisation, in its order and layouts)."""
    import numpy as np

    path = EXAMPLE.with_name("train_digits.py")
    spec = importlib.util.spec_from_file_location("train_digits", path)
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    params = td.build_network(3).parameters()
    net = tdt.Network(3)
    for name, tensor in net.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), params[name], err_msg=name)
