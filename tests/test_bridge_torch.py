"""stridepool.torch: torch.nn.functional's pooling and torch.nn's pooling modules on the kernels.

Everything is measured against torch's own operations (values, indices, gradients), torch.autograd.gradcheck
(finite differences) and torch.library.opcheck; skipped where torch is not installed.
"""
import copy
import pickle
import tracemalloc

import numpy as np
import pytest

import stridepool as sp

torch = pytest.importorskip("torch")
spt = pytest.importorskip("stridepool.torch")
F = torch.nn.functional

NDS = (1, 2, 3)
SHAPES = {1: (2, 3, 11), 2: (2, 3, 9, 10), 3: (2, 2, 5, 6, 7)}
CL = {2: torch.channels_last, 3: torch.channels_last_3d}

MAX = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2), dict(kernel_size=2, stride=1, dilation=2),
       dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=(2, 3, 2), stride=(1, 2, 3))]
AVG = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
       dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                 count_include_pad=False),
       dict(kernel_size=(3, 2, 2), stride=(2, 1, 1), padding=(1, 1, 0), divisor_override=5)]
ADAPTIVE = [3, 1, (4, None, 2), (5, 3, 4)]


def _for(kw, nd):
    """A case's tuples cut to nd entries (1-D avg pooling has no divisor_override in torch)."""
    out = {k: (v[:nd] if isinstance(v, tuple) else v) for k, v in kw.items()}
    if nd == 1:
        out.pop("divisor_override", None)
    return out


def _adaptive(size, nd):
    return size[:nd] if isinstance(size, tuple) else size


def _x(shape, dtype=torch.float64, seed=0, layout="contiguous"):
    """Distinct values (so that no window has a tie: torch promises no tie rule)."""
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    x = (torch.randperm(n, generator=g).reshape(shape) - n // 2).to(dtype) / 7
    if layout == "channels_last":
        x = x.to(memory_format=CL[len(shape) - 2])
    return x


def _layouts(nd):
    return ["contiguous", "channels_last"] if nd in CL else ["contiguous"]


def _cases():
    return [pytest.param(nd, layout, id=f"{nd}d-{layout}") for nd in NDS for layout in _layouts(nd)]


def _check(fn, native, x, g, exact):
    """fn and torch's function on copies of x: the same values and input gradients (bit for bit if exact)."""
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = fn(xa), native(xb)
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        if exact or u.dtype == torch.int64:
            assert torch.equal(u, v)
        else:
            torch.testing.assert_close(u, v, rtol=1e-12 if u.dtype == torch.float64 else 1e-6, atol=0)
    gy = g(a[0].shape).to(a[0].dtype)
    a[0].backward(gy)
    b[0].backward(gy)
    if exact:
        assert torch.equal(xa.grad, xb.grad)
    else:
        # float32: sums of a few O(1) terms in another order: a few units in the last place, near zero absolute
        tol = dict(rtol=1e-12, atol=1e-12) if x.dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(xa.grad, xb.grad, **tol)
    return a[0], xa.grad


def _g(seed=1):
    gen = torch.Generator().manual_seed(seed)
    return lambda shape: torch.randn(shape, generator=gen, dtype=torch.float64)


# ------------------------------------------------------------------------------------ values and gradients


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("kw", MAX, ids=str)
@pytest.mark.parametrize("nd,layout", _cases())
def test_max_pool_matches_torch(nd, layout, kw, dtype):
    kw = _for(kw, nd)
    x = _x(SHAPES[nd], dtype, layout=layout)
    y, _ = _check(lambda t: getattr(spt, f"max_pool{nd}d")(t, return_indices=True, **kw),
                  lambda t: getattr(F, f"max_pool{nd}d")(t, return_indices=True, **kw), x, _g(), exact=True)
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=CL[nd]) and not y.is_contiguous()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("kw", AVG, ids=str)
@pytest.mark.parametrize("nd,layout", _cases())
def test_avg_pool_matches_torch(nd, layout, kw, dtype):
    kw = _for(kw, nd)
    x = _x(SHAPES[nd], dtype, layout=layout)
    y, _ = _check(lambda t: getattr(spt, f"avg_pool{nd}d")(t, **kw), lambda t: getattr(F, f"avg_pool{nd}d")(t, **kw),
                  x, _g(), exact=False)
    if layout == "channels_last":
        assert y.is_contiguous(memory_format=CL[nd]) and not y.is_contiguous()


@pytest.mark.parametrize("size", ADAPTIVE, ids=str)
@pytest.mark.parametrize("nd,layout", _cases())
def test_adaptive_max_pool_matches_torch(nd, layout, size):
    size = _adaptive(size, nd)
    x = _x(SHAPES[nd], layout=layout)
    _check(lambda t: getattr(spt, f"adaptive_max_pool{nd}d")(t, size, return_indices=True),
           lambda t: getattr(F, f"adaptive_max_pool{nd}d")(t, size, return_indices=True), x, _g(), exact=True)


@pytest.mark.parametrize("size", ADAPTIVE, ids=str)
@pytest.mark.parametrize("nd,layout", _cases())
def test_adaptive_avg_pool_matches_torch(nd, layout, size):
    size = _adaptive(size, nd)
    x = _x(SHAPES[nd], layout=layout)
    _check(lambda t: getattr(spt, f"adaptive_avg_pool{nd}d")(t, size),
           lambda t: getattr(F, f"adaptive_avg_pool{nd}d")(t, size), x, _g(), exact=False)


@pytest.mark.parametrize("nd,layout", _cases())
def test_max_unpool_matches_torch(nd, layout):
    x = _x(SHAPES[nd], layout=layout)
    y, idx = F.__dict__[f"max_pool{nd}d"](x, 2, return_indices=True)  # non-overlapping: distinct indices
    size = x.shape[-nd:]
    _check(lambda t: getattr(spt, f"max_unpool{nd}d")(t, idx, 2, output_size=size),
           lambda t: getattr(F, f"max_unpool{nd}d")(t, idx, 2, output_size=size), y, _g(), exact=True)


@pytest.mark.parametrize("nd", NDS)
def test_unbatched_input(nd):
    x = _x(SHAPES[nd][1:])
    _check(lambda t: getattr(spt, f"max_pool{nd}d")(t, 2, return_indices=True),
           lambda t: getattr(F, f"max_pool{nd}d")(t, 2, return_indices=True), x, _g(), exact=True)
    _check(lambda t: getattr(spt, f"avg_pool{nd}d")(t, 3, 2, 1), lambda t: getattr(F, f"avg_pool{nd}d")(t, 3, 2, 1),
           x, _g(), exact=False)


INTS = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]


@pytest.mark.parametrize("dtype", INTS, ids=str)
@pytest.mark.parametrize("nd", NDS)
def test_integer_max_pooling_runs_in_the_kernels(nd, dtype):
    """Integers: max pooling, adaptive max pooling and unpooling in the kernels, dtype kept; compared with torch on
    the same values in float64 (torch has integer max pooling only in 2-D and 3-D)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 100, SHAPES[nd], generator=g).to(dtype)
    ref = x.to(torch.float64)
    y, i = getattr(spt, f"max_pool{nd}d")(x, 3, 2, 1, return_indices=True)
    yr, ir = getattr(F, f"max_pool{nd}d")(ref, 3, 2, 1, return_indices=True)
    assert y.dtype == dtype and torch.equal(y.to(torch.float64), yr)
    ya = getattr(spt, f"adaptive_max_pool{nd}d")(x, 2)
    assert ya.dtype == dtype and torch.equal(ya.to(torch.float64), getattr(F, f"adaptive_max_pool{nd}d")(ref, 2))
    yu, iu = getattr(F, f"max_pool{nd}d")(ref, 2, return_indices=True)
    u = getattr(spt, f"max_unpool{nd}d")(yu.to(dtype), iu, 2, output_size=x.shape)
    assert u.dtype == dtype and torch.equal(u.to(torch.float64), getattr(F, f"max_unpool{nd}d")(yu, iu, 2,
                                                                                                output_size=x.shape))
    if nd > 1:  # torch's own integer max pooling: the same values, indices included (ties: first maximum)
        yt, it = getattr(F, f"max_pool{nd}d")(x, 3, 2, 1, return_indices=True)
        assert torch.equal(y, yt) and torch.equal(i, it)


def test_ties_go_to_the_first_maximum_like_torch():
    x = torch.tensor([[[[1., 5., 5., 2.], [5., 3., 1., 0.]]]], requires_grad=True)
    for t in (x, x.detach().repeat(1, 8, 1, 1).to(memory_format=torch.channels_last).requires_grad_()):
        y, i = spt.max_pool2d(t, 2, return_indices=True)
        assert torch.equal(i, F.max_pool2d(t, 2, return_indices=True)[1])
        assert i[0, 0].tolist() == [[1, 2]]


def test_nan_index_is_the_first_nan_torch_the_last():
    """The documented difference: values agree (NaN), the index (and so the gradient) is the first NaN's."""
    nan = float("nan")
    x = torch.tensor([[[[1., nan, nan, 2.], [nan, 3., 1., nan]]]], requires_grad=True)
    y, i = spt.max_pool2d(x, 2, return_indices=True)
    yt, it = F.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(y.isnan(), yt.isnan()) and y.isnan().all()
    assert i.tolist() == [[[[1, 2]]]] and it.tolist() == [[[[4, 7]]]]
    y.sum().backward()
    assert x.grad.flatten().tolist() == [0, 1, 1, 0, 0, 0, 0, 0]


# ------------------------------------------------------------------------------------ derivatives


def _functions(nd):
    """(name, function of one float64 tensor) for every differentiable bridge function of nd axes."""
    y, idx = getattr(F, f"max_pool{nd}d")(_x(SHAPES[nd]), 2, return_indices=True)
    return [
        ("max_pool", lambda t: getattr(spt, f"max_pool{nd}d")(t, 3, 2, 1)),
        ("max_pool_ceil_dilated", lambda t: getattr(spt, f"max_pool{nd}d")(t, 2, 2, 1, 2, True)),
        ("avg_pool", lambda t: getattr(spt, f"avg_pool{nd}d")(t, 3, 2, 1, True, False)),
        ("adaptive_max_pool", lambda t: getattr(spt, f"adaptive_max_pool{nd}d")(t, 3)),
        ("adaptive_avg_pool", lambda t: getattr(spt, f"adaptive_avg_pool{nd}d")(t, 3)),
        ("max_unpool", lambda t: getattr(spt, f"max_unpool{nd}d")(t, idx, 2, output_size=SHAPES[nd])),
    ], y


@pytest.mark.parametrize("nd,layout", _cases())
def test_gradcheck_and_gradgradcheck(nd, layout):
    functions, y = _functions(nd)
    x = _x(SHAPES[nd], layout=layout).requires_grad_()
    for name, fn in functions:
        inp = (y.detach().clone() if name == "max_unpool" else x.detach().clone()).requires_grad_()
        if layout == "channels_last":
            inp = inp.detach().to(memory_format=CL[nd]).requires_grad_()
        assert torch.autograd.gradcheck(fn, (inp,)), name
        assert torch.autograd.gradgradcheck(fn, (inp,)), name


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d"])
def test_double_backward_matches_torch(name):
    """The derivative of the input gradient with respect to the output gradient (what double backward needs),
    against torch's."""
    args = (3,) if name.startswith("adaptive") else (3, 2, 1)
    results = []
    for fn in (getattr(spt, name), getattr(F, name)):
        x = _x((2, 3, 8, 8)).requires_grad_()
        y = fn(x, *args)
        gy = _x(y.shape, seed=4).requires_grad_()
        (gx,) = torch.autograd.grad(y, x, gy, create_graph=True)
        (ggy,) = torch.autograd.grad((gx * _x(x.shape, seed=5)).sum(), gy)
        results.append(ggy)
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)


def test_grad_function_and_no_grad():
    x = _x((1, 2, 6, 6))
    assert spt.max_pool2d(x, 2).grad_fn is None
    xg = x.clone().requires_grad_()
    with torch.no_grad():
        assert spt.max_pool2d(xg, 2).grad_fn is None
    y, i = spt.max_pool2d(xg, 2, return_indices=True)
    assert type(y.grad_fn).__name__ == "StridepoolMaxPoolBackward" and not i.requires_grad
    assert type(spt.avg_pool2d(xg, 2).grad_fn).__name__ == "StridepoolAvgPoolBackward"


@pytest.mark.parametrize("nd", [2, 3])
def test_channels_last_gradient_is_channels_last(nd):
    x = _x(SHAPES[nd], layout="channels_last").requires_grad_()
    for fn in (getattr(spt, f"max_pool{nd}d"), getattr(spt, f"avg_pool{nd}d")):
        y = fn(x, 2)
        (g,) = torch.autograd.grad(y, x, torch.ones_like(y))  # ones_like keeps the channels_last layout
        assert g.is_contiguous(memory_format=CL[nd]) and not g.is_contiguous()


# ------------------------------------------------------------------------------------ memory


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_the_kernels_read_the_tensor_memory(layout):
    """The array handed to the kernels is a view of the tensor's memory (no copy), and the result's memory is the
    kernels' result (no copy back)."""
    x = _x((2, 3, 8, 8), torch.float32, layout=layout)
    cl = spt._channels_last(x, 2)
    assert cl == (layout == "channels_last")
    a = spt._array(x, 2, cl)
    assert a.ctypes.data == x.data_ptr() and a.flags.c_contiguous
    r = np.zeros((2, 4, 4, 3) if cl else (2, 3, 4, 4), np.float32)
    assert spt._tensor(r, 2, cl).data_ptr() == r.ctypes.data


@pytest.mark.skipif(sp.backend != "compiled", reason="the pure-NumPy reference backend copies (as_strided windows)")
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_no_copy_of_the_input(layout):
    """Pooling a 16 MiB tensor allocates no NumPy memory of the input's size (NumPy reports its allocations to
    tracemalloc): the kernels read the tensor's own memory."""
    x = _x((8, 16, 128, 256), torch.float32, layout=layout)
    spt.max_pool2d(x, 2)  # plans, caches
    tracemalloc.start()
    try:
        y = spt.max_pool2d(x, 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.numel() * x.element_size() // 2, peak
    assert torch.equal(y, F.max_pool2d(x, 2))


def test_inputs_are_not_modified():
    x = _x((2, 3, 8, 8)).requires_grad_()
    before = x.detach().clone()
    y, i = spt.max_pool2d(x, 3, 2, 1, return_indices=True)
    i_before = i.clone()
    y.sum().backward()
    spt.max_unpool2d(y.detach(), i, 3, 2, 1, output_size=x.shape)
    assert torch.equal(x.detach(), before) and torch.equal(i, i_before)


# ------------------------------------------------------------------------------------ what goes to torch


def _native_only(monkeypatch):
    """Make any kernel call fail: what must go to torch's own operation then still works."""
    def boom(*args, **kwargs):
        raise AssertionError("the kernels were called")
    monkeypatch.setattr(spt._Family, "__call__", boom)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("nd", NDS)
def test_half_types_go_to_torch(nd, dtype, monkeypatch):
    _native_only(monkeypatch)
    x = _x(SHAPES[nd], dtype).requires_grad_()
    y = getattr(spt, f"max_pool{nd}d")(x, 2)
    assert torch.equal(y, getattr(F, f"max_pool{nd}d")(x, 2))
    y.sum().backward()
    if nd < 3:  # torch has no half 3-D average pooling on CPU
        assert torch.equal(getattr(spt, f"avg_pool{nd}d")(x, 2), getattr(F, f"avg_pool{nd}d")(x, 2))
    assert torch.equal(getattr(spt, f"adaptive_avg_pool{nd}d")(x, 2), getattr(F, f"adaptive_avg_pool{nd}d")(x, 2))


def test_meta_tensors_and_integer_average_go_to_torch(monkeypatch):
    _native_only(monkeypatch)
    m = torch.empty(2, 3, 9, 9, device="meta")
    y, i = spt.max_pool2d(m, 3, 2, 1, return_indices=True)
    assert y.device.type == "meta" and y.shape == (2, 3, 5, 5) and i.dtype == torch.int64
    assert spt.adaptive_avg_pool3d(torch.empty(1, 2, 4, 4, 4, device="meta"), 2).shape == (1, 2, 2, 2, 2)
    xi = torch.arange(2 * 9 * 9).reshape(2, 9, 9)
    assert torch.equal(spt.avg_pool2d(xi, 2), F.avg_pool2d(xi, 2))  # torch's integer rounding, int64 result
    with pytest.raises(RuntimeError, match="not implemented for 'Int'"):  # torch's own error
        spt.avg_pool2d(xi.int(), 2)


def test_autocast_runs_like_torch(monkeypatch):
    """Under CPU autocast a bfloat16 activation goes to torch; a float32 one to the kernels (as torch, float32)."""
    conv = torch.nn.Conv2d(1, 4, 3)
    x = torch.randn(2, 1, 10, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = conv(x)
        assert h.dtype == torch.bfloat16
        assert torch.equal(spt.max_pool2d(h, 2), F.max_pool2d(h, 2))
        assert torch.equal(spt.max_pool2d(x, 2), F.max_pool2d(x, 2))
        assert spt.max_pool2d(x, 2).dtype == F.max_pool2d(x, 2).dtype


def test_functorch_transforms_go_to_torch():
    x = _x((2, 3, 8, 8))
    g1 = torch.func.grad(lambda t: spt.max_pool2d(t, 2).square().sum())(x)
    g2 = torch.func.grad(lambda t: F.max_pool2d(t, 2).square().sum())(x)
    assert torch.equal(g1, g2)
    assert torch.equal(torch.func.vmap(lambda t: spt.avg_pool2d(t, 2))(x), F.avg_pool2d(x, 2))


def test_ranks_torch_rejects_get_torchs_error():
    with pytest.raises(RuntimeError):
        spt.max_pool2d(torch.zeros(8, 8), 2)  # torch wants (C, H, W) or (N, C, H, W)
    with pytest.raises(RuntimeError):
        spt.avg_pool1d(torch.zeros(1, 1, 1, 8), 2)


@pytest.mark.parametrize("call,error,match", [
    (lambda x: spt.max_pool2d(x, 2.5), TypeError, "kernel_size"),
    (lambda x: spt.max_pool2d(x, (2, 2, 2)), ValueError, "kernel_size"),
    (lambda x: spt.max_pool2d(x, 2, padding=2), ValueError, "padding"),
    (lambda x: spt.avg_pool2d(x, 2, stride=(1, 1, 1)), ValueError, "stride"),
    (lambda x: spt.adaptive_avg_pool2d(x, (2, 2, 2)), ValueError, "output_size"),
    (lambda x: spt.avg_pool2d(x, 2, divisor_override=0), ValueError, "divisor_override"),
], ids=["float kernel", "3 sizes", "padding too big", "3 strides", "3 output sizes", "divisor 0"])
def test_bad_arguments_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call(_x((1, 2, 6, 6)))


# ------------------------------------------------------------------------------------ modules


def _module_cases():
    for nd in NDS:
        yield f"MaxPool{nd}d", (3, 2, 1), {"ceil_mode": True}
        yield f"MaxPool{nd}d", (2,), {"return_indices": True}
        yield f"AvgPool{nd}d", (3, 2, 1), {"count_include_pad": False}
        yield f"AdaptiveMaxPool{nd}d", (2,), {"return_indices": True}
        yield f"AdaptiveAvgPool{nd}d", (3,), {}
    yield "AvgPool2d", (3,), {"divisor_override": 2}


@pytest.mark.parametrize("name,args,kwargs", list(_module_cases()),
                         ids=[f"{n}{a}{k}" for n, a, k in _module_cases()])
def test_modules_are_torch_modules(name, args, kwargs):
    ours, theirs = getattr(spt, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert isinstance(ours, getattr(torch.nn, name)) and isinstance(ours, torch.nn.Module)
    assert repr(ours) == repr(theirs) and ours.state_dict() == theirs.state_dict() == {}
    assert vars(ours).keys() == vars(theirs).keys()
    nd = int(name[-2])
    x = _x(SHAPES[nd])
    a, b = ours(x), theirs(x)
    for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        torch.testing.assert_close(u, v, rtol=1e-12, atol=0)
    assert repr(copy.deepcopy(ours)) == repr(ours) and type(pickle.loads(pickle.dumps(ours))) is type(ours)


@pytest.mark.parametrize("nd", NDS)
def test_max_unpool_module(nd):
    x = _x(SHAPES[nd])
    y, i = getattr(spt, f"MaxPool{nd}d")(2, return_indices=True)(x)
    ours, theirs = getattr(spt, f"MaxUnpool{nd}d")(2), getattr(torch.nn, f"MaxUnpool{nd}d")(2)
    assert repr(ours) == repr(theirs)
    assert torch.equal(ours(y, i, output_size=x.shape), theirs(y, i, output_size=x.shape))


def test_module_in_a_model_trains_like_torchs():
    """A small CNN with stridepool's modules and with torch's, same weights: same loss and gradients, bit for bit
    (float64), over three SGD steps."""
    def model(nn):
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), nn.MaxPool2d(2),
                                   torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True),
                                   nn.AdaptiveMaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(24, 3)).double()
    ours, theirs = model(spt), model(torch.nn)
    x, target = _x((8, 1, 16, 16)), torch.arange(8) % 3
    for _ in range(3):
        losses = []
        for m in (ours, theirs):
            m.zero_grad()
            loss = F.cross_entropy(m(x), target)
            loss.backward()
            losses.append(loss.item())
            with torch.no_grad():
                for p in m.parameters():
                    p -= 0.1 * p.grad
        assert losses[0] == losses[1]
        for p, q in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------ custom ops, compile


def _opcheck_samples(layout):
    x = _x((2, 3, 9, 9), layout=layout).requires_grad_()
    ops = torch.ops.stridepool
    y, i = ops.max_pool(x.detach(), 2, [3, 3], [2, 2], [1, 1], [1, 1], True)
    g = y.detach().clone().requires_grad_()
    yy, ii = ops.max_pool(x.detach(), 2, [2, 2], [2, 2], [0, 0], [1, 1], False)
    pooled = dict(kernel=[3, 3], stride=[2, 2], padding=[1, 1])
    return [
        ("max_pool", (x, 2, pooled["kernel"], pooled["stride"], pooled["padding"], [1, 1], True)),
        ("adaptive_max_pool", (x, 2, [4, 5])),
        ("max_pool_backward", (g, i, list(x.shape), 2)),
        ("avg_pool", (x, 2, pooled["kernel"], pooled["stride"], pooled["padding"], True, False, None)),
        ("avg_pool_backward", (g, list(x.shape), 2, pooled["kernel"], pooled["stride"], pooled["padding"], True, False,
                               3)),
        ("adaptive_avg_pool", (x, 2, [4, 5])),
        ("adaptive_avg_pool_backward", (torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True),
                                        list(x.shape), 2)),
        ("max_unpool", (yy.detach().clone().requires_grad_(), ii, 2, [2, 2], [2, 2], [0, 0], [9, 9])),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck(layout):
    """torch.library.opcheck on every family: schema, fake implementation (strides included), autograd
    registration, AOT dispatch with static and dynamic shapes."""
    samples = _opcheck_samples(layout)
    assert sorted(name for name, _ in samples) == sorted(spt.FAMILIES)
    for name, args in samples:
        result = torch.library.opcheck(getattr(torch.ops.stridepool, name), args)
        assert all(v == "SUCCESS" for v in result.values()), (name, result)


@pytest.fixture
def fresh_compile_caches():
    """No compiled graph from an earlier process: the caches key graphs by the ops' names, not their Python
    derivatives, so a run after the bridge changed could reuse a stale backward graph."""
    import torch._functorch.config
    import torch._inductor.config

    torch._dynamo.reset()
    with torch._inductor.config.patch(fx_graph_cache=False), \
            torch._functorch.config.patch(enable_autograd_cache=False):
        yield
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_torch_compile_gives_eager_results(layout, fresh_compile_caches):
    """torch.compile(fullgraph=True) of a model using every kind of module: no graph break, the custom ops in the
    graph, the same loss and gradients as eager (float64)."""
    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), spt.MaxPool2d(2, ceil_mode=True),
                                   spt.AvgPool2d(3, 1, 1, count_include_pad=False), spt.AdaptiveMaxPool2d((4, 3)),
                                   spt.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3)).double()
    eager, compiled = model(), torch.compile(model(), fullgraph=True)
    x = _x((4, 1, 12, 12), layout=layout)
    results = []
    for m in (eager, compiled):
        loss = m(x).square().sum()
        loss.backward()
        results.append((loss.detach(), [p.grad for p in m.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=0)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_torch_compile_pooling_alone_is_bit_identical(fresh_compile_caches):
    def f(t):
        y, i = spt.max_pool2d(t, 3, 2, 1, return_indices=True)
        return y, i, spt.avg_pool2d(t, 2), spt.max_unpool2d(y, i, 3, 2, 1, output_size=t.shape)
    graphs = []

    def backend(gm, example_inputs):  # records the graph dynamo made, runs it as it is
        graphs.append(gm.code)
        return gm.forward

    x = _x((2, 3, 9, 9), torch.float32)
    for a, b in zip(f(x), torch.compile(f, fullgraph=True, backend=backend)(x)):
        assert torch.equal(a, b)
    assert len(graphs) == 1 and "torch.ops.stridepool.max_pool" in graphs[0]
    assert "torch.ops.stridepool.avg_pool" in graphs[0] and "torch.ops.stridepool.max_unpool" in graphs[0]
    for a, b in zip(f(x), torch.compile(f, fullgraph=True)(x)):  # inductor
        assert torch.equal(a, b)


@pytest.mark.parametrize("make", [
    lambda x: x[:, :, ::2],  # strided slice
    lambda x: x.transpose(-1, -2),  # pooled axes swapped
    lambda x: x[:1, :1].expand(3, 4, *x.shape[2:]),  # zero strides
    lambda x: x.transpose(0, 1),  # batch and channels swapped
], ids=["slice", "transposed", "expanded", "NC swapped"])
@pytest.mark.parametrize("nd", NDS)
def test_other_strides(nd, make):
    """Neither contiguous nor channels-last (a 1-D (N, C, L) tensor with C innermost is pooled channels-last):
    stridepool copies once; the results are torch's."""
    base = _x((2, 3, 12, 10, 8)[:nd + 2])
    assert not make(base).is_contiguous()
    # the views are taken of the leaves inside the functions, so that the kernels see them
    _check(lambda t: getattr(spt, f"max_pool{nd}d")(make(t), 2, return_indices=True),
           lambda t: getattr(F, f"max_pool{nd}d")(make(t), 2, return_indices=True), base, _g(), exact=True)
    _check(lambda t: getattr(spt, f"avg_pool{nd}d")(make(t), 3, 2, 1),
           lambda t: getattr(F, f"avg_pool{nd}d")(make(t), 3, 2, 1), base, _g(), exact=False)


def test_numpy_integers_and_lists_are_sizes():
    x = _x((1, 2, 8, 8))
    assert torch.equal(spt.max_pool2d(x, np.int64(2), [2], (0, 0)), F.max_pool2d(x, 2))
    with pytest.raises(TypeError, match="kernel_size"):
        spt.max_pool2d(x, True)
    with pytest.raises(TypeError, match="stride"):
        spt.max_pool2d(x, 2, (1, 1.5))
