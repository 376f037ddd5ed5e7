"""The digits example, examples/train_digits.py: a NumPy + stridepool CNN.

- the compiled backend and the pure-NumPy reference train it to the same losses and weights, bit for bit;
- PyTorch (torch.nn.functional), from the same weights, gives the same losses and gradients to float64
  rounding;
- the script's output (one `loss <repr>` line per epoch, `test accuracy: ...`), and, marked slow, the full run
  reaching 0.97 test accuracy.

The example lives outside the package: when the tests run from an installed wheel with only tests/ copied,
these tests skip.
"""
import re

import numpy as np
import pytest

import stridepool as sp

pytest.importorskip("sklearn")  # the example's data set: sklearn.datasets.load_digits

from example_scripts import load, losses as _losses  # noqa: E402


@pytest.fixture(scope="module")
def td():
    """The example, imported by path."""
    return load("train_digits")


@pytest.fixture(scope="module")
def data(td):
    return {dtype: td.load_data(dtype) for dtype in (np.float32, np.float64)}


@pytest.fixture(autouse=True)
def one_thread():
    """The example's setting (see its main): one thread for BLAS and OpenMP; the batches are tiny."""
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    with threadpool_limits(1):
        yield


def test_backends_train_bit_identically(td, data):
    """One epoch (43 Adam steps) on each backend: the same loss at every step, the same final weights."""
    if sp.backend != "compiled":
        pytest.skip("the compiled backend is not active (STRIDEPOOL_BACKEND=reference or no extension)")
    x_train, _, y_train, _ = data[np.float32]
    runs = {}
    for name, ops in (("compiled", sp), ("reference", sp.reference)):
        net = td.build_network(0, ops=ops)
        _, step_losses = td.train(net, x_train, y_train, epochs=1, log=None)
        runs[name] = step_losses, net.parameters()
    (losses, params), (ref_losses, ref_params) = runs["compiled"], runs["reference"]
    assert len(losses) == 43 and losses == ref_losses  # Python floats: == is bit equality here (no NaN)
    assert params.keys() == ref_params.keys()
    for key in params:
        assert params[key].dtype == np.float32
        # dtype and shape checked here: assert_array_equal's strict=True needs NumPy >= 1.24 (the floor is 1.23)
        assert (params[key].dtype, params[key].shape) == (ref_params[key].dtype, ref_params[key].shape), key
        np.testing.assert_array_equal(params[key], ref_params[key], err_msg=key)


def test_layers_match_the_functions(td, data):
    """The network built on `stridepool` uses sp.MaxPool2d; on `stridepool.reference` the function version."""
    assert isinstance(td.build_network(0).layers["pool"], sp.MaxPool2d)
    assert isinstance(td.build_network(0, ops=sp.reference).layers["pool"], td.FunctionMaxPool2d)


def test_same_as_pytorch(td, data):
    """The same network in PyTorch, from the same weights, at the first 4 steps of the example's training.

    Before each step the example's current weights are copied into the PyTorch tensors; the loss and every
    parameter gradient must agree, then the example's Adam takes the step. (Its update is PyTorch's; checked
    by hand against torch.optim.Adam, which is not used here because its first step imports torch._dynamo:
    3 seconds.)

    float64 on both sides. The two compute the same sums in different orders (im2col and a matrix product
    here, PyTorch's own convolution there; fold2d's scatter-add against autograd), so they differ by a few
    units in the last place (measured: 1e-16 absolute, at most 1e-13 relative). rtol 1e-10 leaves a wide
    margin over that and still catches any real mistake (a wrong window, a missing overlap in fold2d, a
    gradient routed to the wrong maximum), which is an error of order 1. The absolute floor, 1e-12 of the
    tensor's largest gradient, is for entries that cancel to nearly zero.
    """
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x_train, _, y_train, _ = data[np.float64]
    net = td.build_network(0, dtype=np.float64)
    params = net.parameters()
    optimiser = td.Adam(params, lr=2e-3)

    def torch_loss_and_gradients(x, y):
        t = {key: torch.tensor(value, requires_grad=True) for key, value in params.items()}
        h = torch.from_numpy(x).permute(0, 3, 1, 2)  # NHWC -> NCHW, PyTorch's layout
        h = F.relu(F.conv2d(h, t["conv1.weight"], t["conv1.bias"], padding=1))
        h = F.relu(F.conv2d(h, t["conv2.weight"], t["conv2.bias"], padding=1))
        h = F.max_pool2d(h, 2)
        h = h.permute(0, 2, 3, 1).reshape(len(x), -1)  # flatten channels-last, as the example does
        logits = F.linear(h, t["dense.weight"], t["dense.bias"])
        loss = F.cross_entropy(logits, torch.from_numpy(y))
        loss.backward()
        return loss.item(), {key: value.grad.numpy() for key, value in t.items()}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        order = np.random.default_rng(1).permutation(len(x_train))
        for step in range(4):
            batch = order[32 * step:32 * (step + 1)]
            loss, grads = td.loss_and_gradients(net, x_train[batch], y_train[batch])
            want_loss, want_grads = torch_loss_and_gradients(x_train[batch], y_train[batch])
            assert loss == pytest.approx(want_loss, rel=1e-10, abs=0), step
            assert grads.keys() == want_grads.keys()
            for key, want in want_grads.items():
                assert grads[key].dtype == np.float64 and grads[key].shape == want.shape, key
                np.testing.assert_allclose(grads[key], want, rtol=1e-10, atol=1e-12 * np.abs(want).max(),
                                           err_msg=f"step {step}: {key}")
            optimiser.step(params, grads)
    finally:
        torch.set_num_threads(threads)


def test_script_output(td, capsys, tmp_path):
    """One epoch through main(): a `loss <repr>` line, deterministic; `test accuracy:` last; the plot."""
    plot = tmp_path / "loss.png"
    td.main(["--epochs", "1", "--plot", str(plot)])
    first = capsys.readouterr().out
    td.main(["--epochs", "1", "--no-plot"])
    second = capsys.readouterr().out
    losses = _losses(first)
    assert len(losses) == 1 and repr(float(losses[0])) == losses[0]  # full precision
    assert 0 < float(losses[0]) < 2.3
    assert re.search(r"epoch +1/1 .* time \d+\.\d+ s", first)
    assert _losses(second) == losses
    last = first.strip().splitlines()[-1]
    assert re.fullmatch(r"test accuracy: 0\.\d+", last), last
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in first and not plot.exists()
    else:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_full_run_reaches_97_percent(td, capsys):
    """The run the example's docstring reports (20 epochs, seed 0): at least 0.97 test accuracy."""
    td.main(["--no-plot"])
    out = capsys.readouterr().out
    assert len(_losses(out)) == 20
    accuracy = float(re.search(r"test accuracy: (\S+)", out).group(1))
    assert accuracy >= 0.97, out
