"""The N-d family: 1D and 3D pooling, adaptive pooling, max unpooling, N-d unfold/fold, the layers.

Three kinds of evidence: a brute-force oracle (plain Python loops over windows, ``brute.py``) on small
inputs for 1, 2 and 3 axes; bit-for-bit parity of the active backend with the reference over the case
generator (every dtype, NaN/ties/extremes, layouts, zero-size); and the layouts, ``out=`` and layers.
PyTorch parity is in test_torch.py.
"""
import numpy as np
import pytest

import brute
import stridepool as sp
from cases import adaptive_cases, make_array, nd_cases
from stridepool import reference as ref

IMPLS = [pytest.param(sp, id="active"), pytest.param(ref, id="reference")]
NDS = [1, 2, 3]


def fn(mod, op, nd):
    """``fn(sp, "max_pool", 3)`` is ``sp.max_pool3d``; ``..._backward`` names work too."""
    if op.endswith("_backward"):
        return getattr(mod, f"{op[:-9]}{nd}d_backward")
    return getattr(mod, f"{op}{nd}d")


def _grad(shape, dtype, seed=7):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shape) * 3
    return g.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(g).astype(dtype)


# ------------------------------------------------------------------------------------------ brute force

BRUTE_POOL = {
    1: [((2, 9), dict(kernel_size=3, stride=2, padding=1)), ((1, 10), dict(kernel_size=2, stride=3, ceil_mode=True)),
        ((2, 8), dict(kernel_size=2, stride=1, padding=1, dilation=3)),
        ((1, 7), dict(kernel_size=3, stride=2, padding=((0, 1),), ceil_mode=True))],
    2: [((2, 5, 6), dict(kernel_size=3, stride=2, padding=1)),
        ((1, 7, 5), dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 1), ceil_mode=True)),
        ((1, 6, 6), dict(kernel_size=2, stride=1, padding=1, dilation=(2, 3)))],
    3: [((1, 4, 5, 6), dict(kernel_size=3, stride=2, padding=1)),
        ((2, 3, 4, 5), dict(kernel_size=(1, 2, 3), stride=(1, 2, 1), padding=(0, 1, 1), ceil_mode=True)),
        ((1, 5, 4, 4), dict(kernel_size=2, stride=1, padding=((1, 0), (0, 1), (1, 1)), dilation=(2, 1, 1)))],
}


def _data(shape, seed, ties=True, nan=True):
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape) * 2) if ties else rng.standard_normal(shape)
    if nan:
        x.reshape(-1)[rng.choice(x.size, max(1, x.size // 9), replace=False)] = np.nan
    return x


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("nd", NDS)
def test_max_pool_and_backward_match_brute_force(impl, nd, assert_same):
    for case, (shape, kw) in enumerate(BRUTE_POOL[nd]):
        x = _data(shape, case)
        wins = brute.regular_windows(shape[1:], **kw)
        y, idx = fn(impl, "max_pool", nd)(x, return_indices=True, **kw)
        by, bidx = brute.max_pool(x, wins)
        assert_same(y, by)
        assert_same(idx, bidx)
        g = _grad(y.shape, np.float64, case)
        np.testing.assert_allclose(fn(impl, "max_pool_backward", nd)(g, idx, x.shape),
                                   brute.scatter(g, bidx, shape[1:]), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("nd", NDS)
@pytest.mark.parametrize("include, override", [(True, None), (False, None), (True, 3)], ids=["incl", "excl", "div3"])
def test_avg_pool_and_backward_match_brute_force(impl, nd, include, override):
    for case, (shape, kw) in enumerate(BRUTE_POOL[nd]):
        if kw.get("dilation", 1) != 1:
            continue  # average pooling has no dilation
        x = _data(shape, case, ties=False, nan=False)
        wins = brute.regular_windows(shape[1:], **kw)
        y = fn(impl, "avg_pool", nd)(x, count_include_pad=include, divisor_override=override, **kw)
        np.testing.assert_allclose(y, brute.avg_pool(x, wins, include, override), rtol=1e-13)
        g = _grad(y.shape, np.float64, case)
        np.testing.assert_allclose(
            fn(impl, "avg_pool_backward", nd)(g, x.shape, count_include_pad=include, divisor_override=override, **kw),
            brute.spread(g, wins, shape[1:], include, override), rtol=1e-13, atol=1e-14)


BRUTE_ADAPTIVE = {1: [((2, 7), 3), ((1, 5), 8), ((2, 6), 1), ((1, 9), (None,))],
                  2: [((2, 7, 5), (3, 2)), ((1, 3, 4), (5, 7)), ((2, 5, 5), 1), ((1, 6, 7), (None, 3))],
                  3: [((1, 4, 5, 3), (2, 3, 2)), ((1, 2, 3, 2), (3, 4, 3)), ((2, 3, 3, 4), 1)]}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("nd", NDS)
def test_adaptive_pooling_matches_brute_force(impl, nd, assert_same):
    for case, (shape, osz) in enumerate(BRUTE_ADAPTIVE[nd]):
        x = _data(shape, case)
        wins = brute.adaptive_windows(shape[1:], osz)
        y, idx = fn(impl, "adaptive_max_pool", nd)(x, osz, return_indices=True)
        by, bidx = brute.max_pool(x, wins)
        assert_same(y, by)
        assert_same(idx, bidx)
        g = _grad(y.shape, np.float64, case)
        np.testing.assert_allclose(fn(impl, "max_pool_backward", nd)(g, idx, x.shape),
                                   brute.scatter(g, bidx, shape[1:]), rtol=1e-13, atol=1e-13)
        xf = _data(shape, case, ties=False, nan=False)
        a = fn(impl, "adaptive_avg_pool", nd)(xf, osz)
        np.testing.assert_allclose(a, brute.avg_pool(xf, wins, False), rtol=1e-13)
        np.testing.assert_allclose(fn(impl, "adaptive_avg_pool_backward", nd)(g, x.shape),
                                   brute.spread(g, wins, shape[1:], False), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("nd", NDS)
def test_max_unpool_matches_brute_force_last_wins(impl, nd, assert_same):
    rng = np.random.default_rng(nd)
    for case, (shape, kw) in enumerate(BRUTE_POOL[nd]):
        x = _data(shape, case, nan=False)
        y, idx = fn(impl, "max_pool", nd)(x, return_indices=True, **{k: v for k, v in kw.items() if k != "dilation"})
        # overlapping windows share maxima: duplicate indices; and some made-up duplicates on top
        idx = idx.copy()
        flat = idx.reshape(-1)
        flat[rng.choice(flat.size, flat.size // 3)] = flat[rng.choice(flat.size, flat.size // 3)]
        kwu = {k: kw[k] for k in ("kernel_size", "stride", "padding") if k in kw}
        u = fn(impl, "max_unpool", nd)(y, idx, output_size=shape[1:], **kwu)
        assert_same(u, brute.scatter(y, idx, shape[1:], add=False))


def test_unpool_duplicates_last_one_wins_by_hand(assert_same):
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    idx = np.array([[2, 0, 2, 0]])
    for impl in (sp, ref):
        assert_same(impl.max_unpool1d(x, idx, 1), np.array([[4.0, 0.0, 3.0, 0.0]]))


# ---------------------------------------------------------------------------------- parity, every dtype

def _kw_avg(kw):
    return {k: v for k, v in kw.items() if k != "dilation"}


def _kw_fold(kw):
    out = {k: v for k, v in kw.items() if k != "ceil_mode"}
    out.setdefault("stride", kw["kernel_size"])
    return out


def _nd_params(kind):
    params = []
    for nd in (1, 3):
        for p in nd_cases(nd):
            x, kw = p.values
            if kind == "avg" and "dilation" in kw:
                continue
            params.append(pytest.param(nd, x, kw, id=f"{nd}d-{p.id}"))
    return params


@pytest.mark.parametrize("nd, x, kw", _nd_params("max"))
def test_max_pool_parity(nd, x, kw, assert_same):
    before = x.copy()
    y, idx = fn(sp, "max_pool", nd)(x, return_indices=True, **kw)
    y_ref, idx_ref = fn(ref, "max_pool", nd)(x, return_indices=True, **kw)
    assert_same(y, y_ref)
    assert_same(idx, idx_ref)
    assert_same(fn(sp, "max_pool", nd)(x, **kw), y_ref)
    g = _grad(y.shape, x.dtype)
    assert_same(fn(sp, "max_pool_backward", nd)(g, idx, x.shape), fn(ref, "max_pool_backward", nd)(g, idx, x.shape))
    if "dilation" not in kw and kw.get("padding") != "same":  # unpooling inverts undilated, numeric geometry
        kwu = {k: kw[k] for k in ("kernel_size", "stride", "padding") if k in kw}
        assert_same(fn(sp, "max_unpool", nd)(y, idx, output_size=x.shape, **kwu),
                    fn(ref, "max_unpool", nd)(y, idx, output_size=x.shape, **kwu))
    assert_same(x, before)


@pytest.mark.parametrize("nd, x, kw", _nd_params("avg"))
@pytest.mark.parametrize("include", [True, False], ids=["incl-pad", "excl-pad"])
def test_avg_pool_parity(nd, x, kw, include, assert_same):
    kw = _kw_avg(kw)
    y = fn(sp, "avg_pool", nd)(x, count_include_pad=include, **kw)
    assert_same(y, fn(ref, "avg_pool", nd)(x, count_include_pad=include, **kw))
    g = _grad(y.shape, x.dtype)
    assert_same(fn(sp, "avg_pool_backward", nd)(g, x.shape, count_include_pad=include, **kw),
                fn(ref, "avg_pool_backward", nd)(g, x.shape, count_include_pad=include, **kw))


@pytest.mark.parametrize("nd, x, kw", _nd_params("fold"))
def test_unfold_fold_parity(nd, x, kw, assert_same):
    kw = _kw_fold(kw)
    w = fn(sp, "unfold", nd)(x, **kw)
    assert_same(w, fn(ref, "unfold", nd)(x, **kw))
    win = _grad(w.shape, x.dtype)
    rest = {k: v for k, v in kw.items() if k != "kernel_size"}
    assert_same(fn(sp, "fold", nd)(win, x.shape, **rest), fn(ref, "fold", nd)(win, x.shape, **rest))


def _adaptive_params():
    return [pytest.param(nd, *p.values, id=f"{nd}d-{p.id}") for nd in NDS for p in adaptive_cases(nd)]


@pytest.mark.parametrize("nd, x, osz", _adaptive_params())
def test_adaptive_parity(nd, x, osz, assert_same):
    before = x.copy()
    y, idx = fn(sp, "adaptive_max_pool", nd)(x, osz, return_indices=True)
    y_ref, idx_ref = fn(ref, "adaptive_max_pool", nd)(x, osz, return_indices=True)
    assert_same(y, y_ref)
    assert_same(idx, idx_ref)
    assert_same(fn(sp, "adaptive_max_pool", nd)(x, osz), y_ref)
    g = _grad(y.shape, x.dtype)
    assert_same(fn(sp, "max_pool_backward", nd)(g, idx, x.shape), fn(ref, "max_pool_backward", nd)(g, idx, x.shape))
    a = fn(sp, "adaptive_avg_pool", nd)(x, osz)
    assert_same(a, fn(ref, "adaptive_avg_pool", nd)(x, osz))
    ga = _grad(a.shape, x.dtype)
    assert_same(fn(sp, "adaptive_avg_pool_backward", nd)(ga, x.shape),
                fn(ref, "adaptive_avg_pool_backward", nd)(ga, x.shape))
    assert_same(x, before)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int16", "uint8"])
@pytest.mark.parametrize("planes", [1, 7, 8, 9, 70])
def test_global_pooling_fast_path(planes, dtype, assert_same):
    """One window over the whole pooled extent (eight blocks at a time in the kernels): bit for bit."""
    x = make_array((planes, 7, 7), dtype, special="nan-inf" if dtype.startswith("float") else "extremes",
                   seed=planes)
    for nd in (1, 2):
        xs = x.reshape(planes, 49) if nd == 1 else x
        y, idx = fn(sp, "adaptive_max_pool", nd)(xs, 1, return_indices=True)
        y_ref, idx_ref = fn(ref, "adaptive_max_pool", nd)(xs, 1, return_indices=True)
        assert_same(y, y_ref)
        assert_same(idx, idx_ref)
        assert_same(fn(sp, "adaptive_avg_pool", nd)(xs, 1), fn(ref, "adaptive_avg_pool", nd)(xs, 1))
        assert_same(fn(sp, "avg_pool", nd)(xs, xs.shape[1:], divisor_override=5),
                    fn(ref, "avg_pool", nd)(xs, xs.shape[1:], divisor_override=5))


# ------------------------------------------------------------------------------------ layouts and out=

@pytest.mark.parametrize("nd", NDS)
@pytest.mark.parametrize("C", [1, 3, 17])
def test_channels_last_equals_transposed_planar(nd, C, assert_same):
    sizes = {1: (23,), 2: (9, 10), 3: (5, 7, 6)}[nd]
    first = make_array((2, C) + sizes, "float32", special="ties", seed=C)
    to_last = (0,) + tuple(range(2, 2 + nd)) + (1,)
    last = np.ascontiguousarray(first.transpose(to_last))
    axes = tuple(range(1, 1 + nd))
    kw = dict(kernel_size=3, stride=2, padding=1)
    y, idx = fn(sp, "max_pool", nd)(first, return_indices=True, **kw)
    y2, idx2 = fn(sp, "max_pool", nd)(last, return_indices=True, axes=axes, **kw)
    assert_same(y2, y.transpose(to_last))
    assert_same(idx2, idx.transpose(to_last))
    g = _grad(y.shape, np.float32)
    g2 = np.ascontiguousarray(g.transpose(to_last))
    assert_same(fn(sp, "max_pool_backward", nd)(g2, idx2, last.shape, axes=axes),
                fn(sp, "max_pool_backward", nd)(g, idx, first.shape).transpose(to_last))
    assert_same(fn(sp, "avg_pool", nd)(last, axes=axes, **kw), fn(sp, "avg_pool", nd)(first, **kw).transpose(to_last))
    assert_same(fn(sp, "avg_pool_backward", nd)(g2, last.shape, axes=axes, **kw),
                fn(sp, "avg_pool_backward", nd)(g, first.shape, **kw).transpose(to_last))
    assert_same(fn(sp, "max_unpool", nd)(y2, idx2, 3, 2, 1, output_size=last.shape, axes=axes),
                fn(sp, "max_unpool", nd)(y, idx, 3, 2, 1, output_size=first.shape).transpose(to_last))
    for osz in (1, 2, 4):
        ya, ia = fn(sp, "adaptive_max_pool", nd)(last, osz, return_indices=True, axes=axes)
        yb, ib = fn(sp, "adaptive_max_pool", nd)(first, osz, return_indices=True)
        assert_same(ya, yb.transpose(to_last))
        assert_same(ia, ib.transpose(to_last))
        aa = fn(sp, "adaptive_avg_pool", nd)(last, osz, axes=axes)
        assert_same(aa, fn(sp, "adaptive_avg_pool", nd)(first, osz).transpose(to_last))
        ga = _grad(aa.shape, np.float32)
        assert_same(fn(sp, "adaptive_avg_pool_backward", nd)(ga, last.shape, axes=axes),
                    fn(sp, "adaptive_avg_pool_backward", nd)(np.ascontiguousarray(ga.transpose(
                        (0, nd + 1) + tuple(range(1, nd + 1)))), first.shape).transpose(to_last))


@pytest.mark.parametrize("nd", NDS)
@pytest.mark.parametrize("dtype", ["float32", "int64", "float16"])
def test_out_is_filled_and_returned(nd, dtype, assert_same):
    sizes = {1: (12,), 2: (8, 8), 3: (4, 6, 6)}[nd]
    x = make_array((2, 3) + sizes, dtype)
    y_ref, idx = fn(ref, "max_pool", nd)(x, 3, 2, 1, return_indices=True)
    for out in (np.empty_like(y_ref), np.empty_like(y_ref, order="F")):
        assert fn(sp, "max_pool", nd)(x, 3, 2, 1, out=out) is out
        assert_same(out, y_ref)
    g = _grad(y_ref.shape, dtype)
    out = np.full(x.shape, 9, dtype=x.dtype)
    assert fn(sp, "max_pool_backward", nd)(g, idx, x.shape, out=out) is out
    assert_same(out, fn(ref, "max_pool_backward", nd)(g, idx, x.shape))
    out = np.full(x.shape, 9, dtype=x.dtype)
    assert fn(sp, "max_unpool", nd)(y_ref, idx, 3, 2, 1, output_size=x.shape, out=out) is out
    assert_same(out, fn(ref, "max_unpool", nd)(y_ref, idx, 3, 2, 1, output_size=x.shape))
    a_ref = fn(ref, "adaptive_max_pool", nd)(x, 3)
    out = np.empty_like(a_ref)
    assert fn(sp, "adaptive_max_pool", nd)(x, 3, out=out) is out
    assert_same(out, a_ref)
    avg_ref = fn(ref, "adaptive_avg_pool", nd)(x, 3)
    out = np.empty_like(avg_ref)
    assert fn(sp, "adaptive_avg_pool", nd)(x, 3, out=out) is out
    assert_same(out, avg_ref)
    gb_ref = fn(ref, "adaptive_avg_pool_backward", nd)(avg_ref, x.shape)
    out = np.empty_like(gb_ref)
    assert fn(sp, "adaptive_avg_pool_backward", nd)(avg_ref, x.shape, out=out) is out
    assert_same(out, gb_ref)
    avg_ref = fn(ref, "avg_pool", nd)(x, 3, 2, 1)
    out = np.empty_like(avg_ref)
    assert fn(sp, "avg_pool", nd)(x, 3, 2, 1, out=out) is out
    assert_same(out, avg_ref)
    w = fn(sp, "unfold", nd)(x, 3, 2, 1)
    out = np.empty(x.shape, dtype=x.dtype)
    assert fn(sp, "fold", nd)(w, x.shape, 2, 1, out=out) is out
    assert_same(out, fn(ref, "fold", nd)(w, x.shape, 2, 1))


@pytest.mark.parametrize("nd", NDS)
def test_repeated_calls_take_the_lean_path_with_the_same_answers(nd, assert_same):
    sizes = {1: (40,), 2: (12, 10), 3: (6, 8, 7)}[nd]
    x = make_array((3, 2) + sizes, "float32", special="nan-inf")
    for _ in range(3):
        y, idx = fn(sp, "adaptive_max_pool", nd)(x, 3, return_indices=True)
        assert_same((y, idx), fn(ref, "adaptive_max_pool", nd)(x, 3, return_indices=True))
        a = fn(sp, "adaptive_avg_pool", nd)(x, (2,) * nd)
        assert_same(a, fn(ref, "adaptive_avg_pool", nd)(x, (2,) * nd))
        assert_same(fn(sp, "adaptive_avg_pool_backward", nd)(a, x.shape), fn(ref, "adaptive_avg_pool_backward", nd)(a, x.shape))
        y, idx = fn(sp, "max_pool", nd)(x, 3, 2, 1, return_indices=True)
        assert_same(fn(sp, "max_pool_backward", nd)(y, idx, x.shape), fn(ref, "max_pool_backward", nd)(y, idx, x.shape))


# -------------------------------------------------------------------------------- empty, huge extents

_E, _N = np.empty, 2**50  # an empty array may have any extent; window tables for 2**50 taps cannot exist
HUGE_EMPTY = [  # (id, function, args, result shape)
    ("max_pool1d", "max_pool1d", (_E((0, _N)), 2), (0, _N // 2)),
    ("avg_pool1d", "avg_pool1d", (_E((0, _N)), 2), (0, _N // 2)),
    ("max_pool2d", "max_pool2d", (_E((0, 2**25, 2**25)), 2), (0, 2**24, 2**24)),
    ("adaptive_max_pool1d", "adaptive_max_pool1d", (_E((0, _N)), 3), (0, 3)),
    ("adaptive_avg_pool1d", "adaptive_avg_pool1d", (_E((0, _N)), 3), (0, 3)),
    ("avg_pool1d_backward", "avg_pool1d_backward", (_E((0, _N // 2)), (0, _N), 2), (0, _N)),
    ("adaptive_avg_pool1d_backward", "adaptive_avg_pool1d_backward", (_E((0, 3)), (0, _N)), (0, _N)),
    ("unfold1d-padded", "unfold1d", (_E((0, _N)), 2, 1, 1), (0, _N + 1, 2)),
    ("max_pool1d_backward", "max_pool1d_backward", (_E((0, 3)), _E((0, 3), np.int64), (0, _N)), (0, _N)),
    ("fold1d", "fold1d", (_E((0, _N - 1, 2)), (0, _N)), (0, _N)),
]


def _huge_empty_params():
    return [pytest.param(impl, name, args, shape, id=f"{cid}-{impl_id}") for cid, name, args, shape in HUGE_EMPTY
            for impl_id, impl in (("active", sp), ("reference", ref))]


@pytest.mark.parametrize("impl, name, args, shape", _huge_empty_params())
def test_empty_arrays_with_huge_pooled_extents(impl, name, args, shape):
    """An empty array (or ``input_shape``) with a pooled extent far beyond memory gives its empty result.

    Found by fuzz/fuzz_pool.py (adaptive_avg_pool2d_backward, grad (13, 0, 9, 2), input_shape
    (2**31, 0, 1, 2), axes (-4, -2): the compiled core returns the empty result; the reference raised
    MemoryError building its window index for 2**31 taps). The compiled core skips the kernels when the
    output is empty; the reference builds its window tables (``_windows``, ``_gather_index``, the padded
    ones of ``unfold``) first, in proportion to the pooled extent, and runs out of memory: marked xfail
    until it does not.
    """
    result = getattr(impl, name)(*args)
    assert result.shape == shape and result.size == 0


# -------------------------------------------------------------------------------------------- layers

@pytest.mark.parametrize("nd", NDS)
def test_layers_forward_backward_equal_the_functions(nd, assert_same):
    sizes = {1: (20,), 2: (9, 8), 3: (5, 6, 6)}[nd]
    x = make_array((2, 3) + sizes, "float64", special="ties")
    layers = [
        (getattr(sp, f"MaxPool{nd}d")(3, 2, 1), lambda: fn(sp, "max_pool", nd)(x, 3, 2, 1, return_indices=True),
         lambda g, r: fn(sp, "max_pool_backward", nd)(g, r[1], x.shape)),
        (getattr(sp, f"AvgPool{nd}d")(2, count_include_pad=False), lambda: fn(sp, "avg_pool", nd)(x, 2),
         lambda g, r: fn(sp, "avg_pool_backward", nd)(g, x.shape, 2)),
        (getattr(sp, f"AdaptiveMaxPool{nd}d")(3), lambda: fn(sp, "adaptive_max_pool", nd)(x, 3, return_indices=True),
         lambda g, r: fn(sp, "max_pool_backward", nd)(g, r[1], x.shape)),
        (getattr(sp, f"AdaptiveAvgPool{nd}d")(1), lambda: fn(sp, "adaptive_avg_pool", nd)(x, 1),
         lambda g, r: fn(sp, "adaptive_avg_pool_backward", nd)(g, x.shape)),
    ]
    for layer, forward, backward in layers:
        want = forward()
        y = layer.forward(x)
        assert_same(y, want[0] if isinstance(want, tuple) else want)
        g = _grad(y.shape, np.float64)
        assert_same(layer.backward(g), backward(g, want))
        assert repr(layer).startswith(type(layer).__name__ + "(")
    # unpooling: forward puts, backward gathers (the gradient at each element's index)
    y, idx = fn(sp, "max_pool", nd)(x, 2, return_indices=True)
    unpool = getattr(sp, f"MaxUnpool{nd}d")(2)
    u = unpool.forward(y, idx, output_size=x.shape)
    assert_same(u, fn(sp, "max_unpool", nd)(y, idx, 2, output_size=x.shape))
    gu = _grad(u.shape, np.float64)
    flat = gu.reshape(gu.shape[:2] + (-1,))
    want = np.take_along_axis(flat, idx.reshape(idx.shape[:2] + (-1,)), axis=-1).reshape(y.shape)
    assert_same(unpool.backward(gu), want)


@pytest.mark.parametrize("nd", NDS)
def test_layers_channels_last(nd, assert_same):
    sizes = {1: (20,), 2: (9, 8), 3: (5, 6, 6)}[nd]
    x = make_array((2,) + sizes + (3,), "float32")
    axes = tuple(range(1, nd + 1))
    pool = getattr(sp, f"MaxPool{nd}d")(2, axes=axes)
    y = pool.forward(x)
    assert_same(y, fn(sp, "max_pool", nd)(x, 2, axes=axes))
    assert pool.backward(np.ones_like(y)).shape == x.shape
    unpool = getattr(sp, f"MaxUnpool{nd}d")(2, axes=axes)
    _, idx = fn(sp, "max_pool", nd)(x, 2, return_indices=True, axes=axes)
    unpool.forward(y, idx, output_size=x.shape)
    assert unpool.backward(x).shape == y.shape


def test_default_axes_are_the_last_nd():
    x = np.arange(2 * 3 * 4 * 6 * 8.0).reshape(2, 3, 4, 6, 8)
    assert sp.max_pool1d(x, 2).shape == (2, 3, 4, 6, 4)
    assert sp.max_pool2d(x, 2).shape == (2, 3, 4, 3, 4)
    assert sp.max_pool3d(x, 2).shape == (2, 3, 2, 3, 4)
    assert sp.max_pool1d(x, 2, axes=1).shape == (2, 1, 4, 6, 8)
    assert sp.adaptive_avg_pool3d(x, (1, None, 2)).shape == (2, 3, 1, 6, 2)


def test_every_public_name_is_on_both_backends_with_one_signature():
    import inspect

    for name in sp.__all__:
        obj = getattr(sp, name)
        if callable(obj) and name[0].islower() and name not in ("set_num_threads", "get_num_threads", "release_memory"):
            twin = getattr(ref, name)
            assert inspect.signature(obj) == inspect.signature(twin), name
            assert obj.__doc__ == twin.__doc__ and "Examples" in obj.__doc__, name


@pytest.mark.parametrize("impl", IMPLS)
def test_unfold_of_an_empty_axis_with_padding_is_all_padding(impl, assert_same):
    """Windows of an empty pooled axis read only padding: zeros (a regression: they were left uninitialised)."""
    for _ in range(3):  # a fresh buffer each time may hold anything
        assert_same(impl.unfold2d(np.full((3, 0), 7.0), 1, padding=1), np.zeros((5, 2, 1, 1)))
        assert_same(impl.unfold1d(np.full((2, 0), 7, np.int16), 2, padding=1), np.zeros((2, 1, 2), np.int16))
