"""stridepool.autograd: HIPS autograd primitives for every differentiable function of the NumPy API.

Values against the pure-NumPy reference (stridepool.reference, independent of the kernels), derivatives
against finite differences (autograd.test_util.check_grads, first and second order) and, where torch is
installed, against torch's gradients. Skipped where autograd is not installed.
"""
import numpy as np
import pytest

autograd = pytest.importorskip("autograd")
spa = pytest.importorskip("stridepool.autograd")
import autograd.numpy as anp  # noqa: E402
from autograd.test_util import check_grads  # noqa: E402

import stridepool as sp  # noqa: E402
from stridepool import _api, reference  # noqa: E402

SHAPES = {1: (2, 3, 11), 2: (2, 3, 9, 10), 3: (2, 2, 5, 6, 7)}


def _x(shape, seed=0):
    """Distinct values, well apart (max pooling is differentiable there; finite differences stay in a window)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n // 2) / 7.0


def _calls(nd):
    """(name, call, input) for every public function of nd axes: ``call(module, t)`` calls the function of that
    module (``stridepool.autograd`` or ``stridepool.reference``), differentiated with respect to its first
    argument ``t``."""
    x = _x(SHAPES[nd])
    y, idx = reference.__dict__[f"max_pool{nd}d"](x, 2, return_indices=True)
    ya, ia = reference.__dict__[f"max_pool{nd}d"](x, 3, 2, 1, return_indices=True)
    n = f"{nd}d"

    def f(module, name):
        return getattr(module, name.replace("Nd", n))
    return [
        (f"max_pool{n}", lambda m, t: f(m, "max_poolNd")(t, 3, 2, 1), x),
        (f"max_pool{n}(dilated, ceil)", lambda m, t: f(m, "max_poolNd")(t, 2, 2, 1, 2, True), x),
        (f"max_pool{n}_backward", lambda m, t: f(m, "max_poolNd_backward")(t, ia, x.shape), ya),
        (f"avg_pool{n}", lambda m, t: f(m, "avg_poolNd")(t, 3, 2, 1, True, False), x),
        (f"avg_pool{n}_backward", lambda m, t: f(m, "avg_poolNd_backward")(t, x.shape, 3, 2, 1, True, False),
         reference.__dict__[f"avg_pool{n}"](x, 3, 2, 1, True, False)),
        (f"adaptive_max_pool{n}", lambda m, t: f(m, "adaptive_max_poolNd")(t, 3), x),
        (f"adaptive_avg_pool{n}", lambda m, t: f(m, "adaptive_avg_poolNd")(t, 3), x),
        (f"adaptive_avg_pool{n}_backward", lambda m, t: f(m, "adaptive_avg_poolNd_backward")(t, x.shape),
         reference.__dict__[f"adaptive_avg_pool{n}"](x, 3)),
        (f"max_unpool{n}", lambda m, t: f(m, "max_unpoolNd")(t, idx, 2, output_size=x.shape), y),
        (f"unfold{n}", lambda m, t: f(m, "unfoldNd")(t, 3, 2, 1), x),
        (f"fold{n}", lambda m, t: f(m, "foldNd")(t, x.shape, 2, 1), reference.__dict__[f"unfold{n}"](x, 3, 2, 1)),
    ]


CALLS = [pytest.param(call, x, id=name) for nd in (1, 2, 3) for name, call, x in _calls(nd)]


def test_every_function_of_the_numpy_api_is_here():
    assert spa.__all__ == list(_api.BRIDGED)
    covered = {name.split("(")[0] for nd in (1, 2, 3) for name, _, _ in _calls(nd)}
    assert covered == set(_api.BRIDGED)


@pytest.mark.parametrize("call,x", CALLS)
def test_values_are_the_references(call, x):
    """Outside differentiation and inside it, the values are the pure-NumPy reference's."""
    want = call(reference, x)
    got = call(spa, x)
    assert type(got) is np.ndarray and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
    seen = {}

    def loss(t):
        seen["value"] = call(spa, t)
        return anp.sum(seen["value"])
    autograd.grad(loss)(x)
    np.testing.assert_allclose(seen["value"]._value, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("call,x", CALLS)
def test_derivatives_match_finite_differences(call, x):
    """First and second order, reverse mode (autograd's vjps against numerical differences)."""
    check_grads(lambda t: call(spa, t), modes=["rev"], order=2)(x)


def test_indices_are_plain_arrays_and_not_differentiated():
    x = _x((2, 3, 8, 8))
    seen = {}

    def loss(t):
        y, idx = spa.max_pool2d(t, 2, return_indices=True)
        seen["idx"] = idx
        return anp.sum(spa.max_unpool2d(y, idx, 2) * x)

    g = autograd.grad(loss)(x)  # linear in t: the constant x at each maximum's position
    assert type(seen["idx"]) is np.ndarray and seen["idx"].dtype == np.int64
    y, idx = reference.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(g, reference.max_pool2d_backward(y, idx, x.shape))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "unfold2d"])
def test_channels_last_axes(name):
    """axes=(1, 2) on an (N, H, W, C) array: the gradient is the transposed gradient of the (N, C, H, W) call."""
    x = _x((2, 3, 8, 8))
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    args = (3,) if name.startswith("adaptive") else (3, 2, 1)
    f = getattr(spa, name)
    g = autograd.grad(lambda t: anp.sum(f(t, *args) ** 3))(x)
    g_cl = autograd.grad(lambda t: anp.sum(f(t, *args, axes=(1, 2)) ** 3))(nhwc)
    np.testing.assert_allclose(g_cl, g.transpose(0, 2, 3, 1), rtol=1e-13)


def test_third_order():
    x = _x((1, 2, 6, 6))
    for fn in (lambda t: spa.max_pool2d(t, 3, 2, 1), lambda t: spa.avg_pool2d(t, 3, 2, 1),
               lambda t: spa.fold2d(spa.unfold2d(t, 3, 1, 1) ** 2, t.shape, 1, 1)):
        check_grads(fn, modes=["rev"], order=3)(x)


def test_gradients_equal_torchs():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _x((2, 3, 9, 10))
    for ours, theirs in [(lambda t: spa.max_pool2d(t, 3, 2, 1, 1, True), lambda t: F.max_pool2d(t, 3, 2, 1, 1, True)),
                         (lambda t: spa.avg_pool2d(t, 3, 2, 1, True, False),
                          lambda t: F.avg_pool2d(t, 3, 2, 1, True, False)),
                         (lambda t: spa.adaptive_max_pool2d(t, (4, 3)), lambda t: F.adaptive_max_pool2d(t, (4, 3))),
                         (lambda t: spa.adaptive_avg_pool2d(t, (4, 3)), lambda t: F.adaptive_avg_pool2d(t, (4, 3)))]:
        g = autograd.grad(lambda t: anp.sum(ours(t) ** 2))(x)
        xt = torch.from_numpy(x).requires_grad_()
        theirs(xt).square().sum().backward()
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_out_is_written_and_inputs_are_kept():
    x = _x((2, 3, 8, 8))
    before = x.copy()
    out = np.empty((2, 3, 4, 4))
    assert spa.max_pool2d(x, 2, out=out) is out
    g = autograd.grad(lambda t: anp.sum(spa.avg_pool2d(t, 2) ** 2))(x)
    assert g.shape == x.shape
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(out, reference.max_pool2d(x, 2))


def test_docstrings_and_names():
    assert spa.max_pool2d.__name__ == "max_pool2d" and spa.max_pool2d.__module__ == "stridepool.autograd"
    assert "autograd primitive" in spa.fold3d.__doc__ and "Parameters" in spa.fold3d.__doc__
    assert sp.max_pool2d is not spa.max_pool2d
