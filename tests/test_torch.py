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


# ------------------------------------------------------------------------------------------ the N-d family

ND_MAX = {
    1: [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2), dict(kernel_size=4, stride=3, padding=2,
                                                                            ceil_mode=True),
        dict(kernel_size=3, stride=1, padding=1, dilation=2)],
    3: [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2), dict(kernel_size=(2, 3, 3), stride=(1, 2, 2),
                                                                            padding=(1, 1, 0), dilation=(2, 1, 1)),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)],
}
ND_SHAPES = {1: [(2, 3, 17), (4, 30)], 3: [(2, 2, 7, 9, 8), (3, 5, 6, 7)]}
TORCH_FN = {1: (F.max_pool1d, F.avg_pool1d, F.adaptive_max_pool1d, F.adaptive_avg_pool1d, F.max_unpool1d),
            2: (F.max_pool2d, F.avg_pool2d, F.adaptive_max_pool2d, F.adaptive_avg_pool2d, F.max_unpool2d),
            3: (F.max_pool3d, F.avg_pool3d, F.adaptive_max_pool3d, F.adaptive_avg_pool3d, F.max_unpool3d)}


def _nd(op, nd):
    return getattr(sp, op.replace("ND", f"{nd}d"))


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("case", range(8), ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nd_max_pool_matches_torch(nd, case, dtype, assert_same):
    kw = ND_MAX[nd][case % 4]
    x = _x(ND_SHAPES[nd][case // 4], dtype)
    try:
        yt, it = TORCH_FN[nd][0](torch.from_numpy(x), return_indices=True, **kw)
    except RuntimeError:
        pytest.skip("torch rejects this geometry")
    y, idx = _nd("max_poolND", nd)(x, return_indices=True, **kw)
    assert_same(y, yt.numpy())
    assert_same(idx, it.numpy())
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_()
    TORCH_FN[nd][0](xt, **kw).backward(torch.from_numpy(g))
    np.testing.assert_allclose(_nd("max_poolND_backward", nd)(g, idx, x.shape), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


ND_AVG = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
          dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                    count_include_pad=False), dict(kernel_size=2, divisor_override=3)]


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("kw", ND_AVG, ids=str)
@pytest.mark.parametrize("shape", [0, 1], ids=["batched", "unbatched"])
def test_nd_avg_pool_matches_torch(nd, kw, shape):
    if nd == 1 and "divisor_override" in kw:
        pytest.skip("torch's avg_pool1d has no divisor_override")
    x = _x(ND_SHAPES[nd][shape], np.float64)
    xt = torch.from_numpy(x).requires_grad_()
    yt = TORCH_FN[nd][1](xt, **kw)
    y = _nd("avg_poolND", nd)(x, **kw)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(2).standard_normal(y.shape)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(_nd("avg_poolND_backward", nd)(g, x.shape, **kw), xt.grad.numpy(), rtol=1e-12,
                               atol=1e-14)


ADAPTIVE_SIZES = {1: [((2, 3, 10), 3), ((2, 3, 10), 4), ((1, 2, 5), 7), ((2, 4, 9), 1), ((3, 11), (11,))],
                  2: [((2, 3, 7, 10), (3, 4)), ((2, 3, 5, 5), (7, 8)), ((2, 3, 7, 7), 1), ((2, 3, 7, 10), (None, 3)),
                      ((1, 2, 56, 56), 7)],
                  3: [((2, 2, 5, 7, 6), (2, 3, 4)), ((1, 2, 2, 3, 3), (3, 4, 5)), ((2, 2, 4, 5, 6), 1),
                      ((2, 3, 4, 5), (None, 2, None))]}


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("case", range(5), ids=str)
def test_adaptive_pooling_matches_torch(nd, case, assert_same):
    if case >= len(ADAPTIVE_SIZES[nd]):
        pytest.skip("no such case")
    shape, osz = ADAPTIVE_SIZES[nd][case]
    x = _x(shape, np.float64)
    yt, it = TORCH_FN[nd][2](torch.from_numpy(x), osz, return_indices=True)
    y, idx = _nd("adaptive_max_poolND", nd)(x, osz, return_indices=True)
    assert_same(y, yt.numpy())
    assert_same(idx, it.numpy())
    xt = torch.from_numpy(x).requires_grad_()
    at = TORCH_FN[nd][3](xt, osz)
    a = _nd("adaptive_avg_poolND", nd)(x, osz)
    np.testing.assert_allclose(a, at.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(3).standard_normal(a.shape)
    at.backward(torch.from_numpy(g))
    np.testing.assert_allclose(_nd("adaptive_avg_poolND_backward", nd)(g, x.shape), xt.grad.numpy(), rtol=1e-12,
                               atol=1e-14)
    # the adaptive max's indices feed the max backward as PyTorch's autograd does
    xt = torch.from_numpy(x).requires_grad_()
    TORCH_FN[nd][2](xt, osz).backward(torch.from_numpy(g))
    np.testing.assert_allclose(_nd("max_poolND_backward", nd)(g, idx, x.shape), xt.grad.numpy(), rtol=1e-12)


UNPOOL = {1: [((2, 3, 16), dict(kernel_size=2)), ((2, 3, 15), dict(kernel_size=3, stride=1, padding=1)),
              ((1, 2, 17), dict(kernel_size=3, stride=2, padding=1))],
          2: [((2, 3, 8, 8), dict(kernel_size=2)), ((2, 3, 7, 9), dict(kernel_size=3, stride=1, padding=1)),
              ((1, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1))],
          3: [((2, 2, 4, 6, 6), dict(kernel_size=2)), ((1, 2, 5, 5, 4), dict(kernel_size=3, stride=1, padding=1)),
              ((1, 2, 5, 7, 7), dict(kernel_size=3, stride=2, padding=1))]}


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("case", range(3), ids=["k2", "overlap-k3s1", "k3s2p1"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_unpool_matches_torch(nd, case, ties, assert_same):
    """Overlapping windows give duplicate indices: the last one in row-major order wins, as on PyTorch's CPU."""
    shape, kw = UNPOOL[nd][case]
    x = _x(shape, np.float64)
    if ties:
        x = np.round(x / 5)
    y, idx = _nd("max_poolND", nd)(x, return_indices=True, **kw)
    # a gradient-like input (distinct values), so that which duplicate wins is visible
    v = np.random.default_rng(4).standard_normal(y.shape)
    want = TORCH_FN[nd][4](torch.from_numpy(v), torch.from_numpy(idx), output_size=x.shape[-nd:], **kw).numpy()
    assert_same(_nd("max_unpoolND", nd)(v, idx, output_size=x.shape[-nd:], **kw), want)
    default = TORCH_FN[nd][4](torch.from_numpy(v), torch.from_numpy(idx), **kw).numpy() if \
        all(i < s for i, s in zip(np.unravel_index(idx.max(), x.shape[-nd:]), want.shape[-nd:])) else None
    if default is not None:
        assert_same(_nd("max_unpoolND", nd)(v, idx, **kw), default)


def test_avg_pool3d_accepts_an_input_smaller_than_the_kernel_where_torch_refuses():
    """Our rule (every window has an element) accepts it; PyTorch's avg_pool3d raises. The answer is checked
    against the window's real elements."""
    x = np.arange(2 * 2 * 2, dtype=np.float64).reshape(1, 2, 2, 2)
    with pytest.raises(RuntimeError):
        F.avg_pool3d(torch.from_numpy(x), 3, stride=1, padding=1)
    y = sp.avg_pool3d(x, 3, stride=1, padding=1, count_include_pad=False)
    np.testing.assert_allclose(y, np.full((1, 2, 2, 2), x.mean()))
