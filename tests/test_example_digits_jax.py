"""examples/train_digits_jax.py: the digits network in JAX, pooled by stridepool.jax or by XLA.

- both --pool options print the same losses (one epoch, through main());
- the JAX network computes the NumPy example's network: from the same weights, the same loss and gradients
  as examples/train_digits.py (NumPy + stridepool) to float32 rounding.

Skipped without JAX or scikit-learn, and outside a source checkout (the example is not installed).
"""
import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("sklearn")

from example_scripts import load, run_both_pools  # noqa: E402


@pytest.fixture(scope="module")
def tj():
    return load("train_digits_jax")


def test_both_pools_print_the_same_losses(tj, capsys):
    run_both_pools(tj, capsys, epochs=1)


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
