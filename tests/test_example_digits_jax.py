"""examples/train_digits_jax.py: the digits network in JAX, pooled by stridepool.jax or by XLA.

- both --pool options print the same losses (one epoch, through main());
- the JAX network computes the NumPy example's network: from the same weights, the same loss and gradients
  as examples/train_digits.py (NumPy + stridepool) to float32 rounding.

Skipped without JAX or scikit-learn, and outside a source checkout (the example is not installed).
"""
import importlib.util
import pathlib
import re

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("sklearn")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def tj():
    path = EXAMPLES / "train_digits_jax.py"
    if not path.is_file():
        pytest.skip(f"{path} is not there (tests run outside a source checkout)")
    spec = importlib.util.spec_from_file_location("train_digits_jax", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _losses(text):
    return re.findall(r"^epoch .* loss (\S+) ", text, flags=re.M)


def test_both_pools_print_the_same_losses(tj, capsys):
    outputs = {}
    for pool in ("stridepool", "native"):
        tj.main(["--epochs", "1", "--pool", pool])
        outputs[pool] = capsys.readouterr().out
    a, b = (_losses(outputs[p]) for p in ("stridepool", "native"))
    assert len(a) == 1 and a == b, outputs
    assert 0 < float(a[0]) < 2.3
    assert "pooling: stridepool" in outputs["stridepool"] and "pooling: native" in outputs["native"]
    for out in outputs.values():
        assert re.search(r"epoch +1/1 .* time \d+\.\d+ s", out)
        last = out.strip().splitlines()[-1]
        assert re.fullmatch(r"test accuracy: 0\.\d+", last), last


def test_same_network_as_the_numpy_example(tj):
    """One batch, the same weights: loss and every gradient equal the NumPy example's (float32 rounding)."""
    import jax

    td = tj.train_digits
    x_train, _, y_train, _ = td.load_data(np.float32)
    x, y = x_train[:32], y_train[:32]
    net = td.build_network(0)
    want_loss, want_grads = td.loss_and_gradients(net, x, y)
    loss, _ = tj.make_loss(tj.pool_function("stridepool"))
    value, grads = jax.value_and_grad(loss)(tj.initial_params(0), x, y)
    assert float(value) == pytest.approx(want_loss, rel=1e-5)
    assert grads.keys() == want_grads.keys()
    for key, want in want_grads.items():
        np.testing.assert_allclose(grads[key], want, rtol=1e-3, atol=1e-5 * np.abs(want).max(), err_msg=key)
