"""Parity with PyTorch's CPU pooling, unfold and fold (skipped where torch is not installed)."""
import numpy as np
import pytest

import stridepool as sp

torch = pytest.importorskip("torch")
F = torch.nn.functional

MAX_CASES = [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, ceil_mode=True),
]
SHAPES = [(2, 3, 9, 9), (1, 2, 8, 11), (3, 7, 10)]


def _x(shape, dtype=np.float32, seed=0):
    # distinct values: ties resolve the same everywhere (PyTorch does not promise an order)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape).astype(dtype) / 7


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kw", MAX_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_matches_torch(shape, kw, dtype, assert_same):
    x = _x(shape, dtype)
    try:
        yt, it = F.max_pool2d(torch.from_numpy(x).requires_grad_(), return_indices=True, **kw)
    except RuntimeError:
        pytest.skip("torch rejects this geometry")
    y, idx = sp.max_pool2d(x, return_indices=True, **kw)
    assert_same(y, yt.detach().numpy())
    assert_same(idx, it.numpy())
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_()
    F.max_pool2d(xt, **kw).backward(torch.from_numpy(g))
    np.testing.assert_allclose(sp.max_pool2d_backward(g, idx, x.shape), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_indices_feed_torch_max_unpool2d():
    x = _x((2, 3, 8, 8))
    y, idx = sp.max_pool2d(x, 2, return_indices=True)
    un = F.max_unpool2d(torch.from_numpy(y), torch.from_numpy(idx), 2, output_size=x.shape[-2:])
    np.testing.assert_array_equal(un.numpy(), sp.max_pool2d_backward(y, idx, x.shape))


AVG_CASES = [
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=2, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), divisor_override=5),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kw", AVG_CASES, ids=str)
def test_avg_pool_matches_torch(shape, kw):
    x = _x(shape, np.float64)
    xt = torch.from_numpy(x).requires_grad_()
    yt = F.avg_pool2d(xt, **kw)
    y = sp.avg_pool2d(x, **kw)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(2).standard_normal(y.shape)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(sp.avg_pool2d_backward(g, x.shape, **kw), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3), stride=2),
                                dict(kernel_size=3, stride=2, padding=2, dilation=2)], ids=str)
def test_unfold_fold_match_torch(kw):
    x = _x((2, 3, 9, 10), np.float64)
    w = sp.unfold2d(x, **kw)  # (N, C, OH, OW, KH, KW)
    N, C, OH, OW, KH, KW = w.shape
    wt = F.unfold(torch.from_numpy(x), **kw)  # (N, C*KH*KW, OH*OW)
    np.testing.assert_array_equal(w.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, OH * OW), wt.numpy())
    cols = np.random.default_rng(3).standard_normal(wt.shape)
    ft = F.fold(torch.from_numpy(cols), output_size=x.shape[-2:], **kw)
    ours = sp.fold2d(cols.reshape(N, C, KH, KW, OH, OW).transpose(0, 1, 4, 5, 2, 3), x.shape,
                     **{k: v for k, v in kw.items() if k != "kernel_size"})
    np.testing.assert_allclose(ours, ft.numpy(), rtol=1e-12, atol=1e-12)
