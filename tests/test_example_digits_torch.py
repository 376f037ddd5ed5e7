"""The PyTorch digits example, examples/train_digits_torch.py: stridepool's MaxPool2d and torch's train the
network to the same losses, digit for digit (skipped without torch or scikit-learn, or outside a checkout)."""
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from example_scripts import load, losses, run_both_pools  # noqa: E402


@pytest.fixture(scope="module")
def tdt():
    return load("train_digits_torch")


def test_both_poolings_print_the_same_losses(tdt, capsys):
    outputs = run_both_pools(tdt, capsys, epochs=2)
    two = losses(outputs["stridepool"])
    assert all(repr(float(v)) == v for v in two)  # full precision
    assert float(two[1]) < float(two[0]) < 2.3
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

    params = load("train_digits").build_network(3).parameters()
    net = tdt.Network(3)
    for name, tensor in net.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), params[name], err_msg=name)
