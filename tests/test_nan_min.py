"""Min pooling and NaN-ignoring pooling (``nan_policy="omit"``) in the windowed family, for 1, 2 and 3 axes.

Evidence: an oracle independent of the package (the windows of ``sliding_window_view`` over the input padded
with NaN, reduced by ``np.nanmax`` / ``np.nanmin`` / ``np.nanmean`` / ``np.nansum`` and their arg- forms;
the positions of each window's taps from the same view of an index array) and hand-worked small cases;
gradients against a brute-force scatter and finite differences; the compiled backend against the reference
bit for bit over the case generator and NaN-heavy data; PyTorch where it has a counterpart (min pooling as
``-max_pool(-x)``); dask arrays, lazily, against the in-memory call.
"""
import math
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import brute
import stridepool as sp
from cases import GEOMETRIES_ND, avg_kwargs, nd_cases
from stridepool import reference as ref
from test_nd import IMPLS, NDS, fn  # (the backends, the numbers of axes, fn(sp, "min_pool", 3) is sp.min_pool3d)


# ------------------------------------------------------------------------------------------- the oracle


def _params(nd, sizes, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Per axis ``(k, s, d, lo, hi, o)``: PyTorch's output size, TensorFlow's 'same' (written out here)."""
    k = brute._pair(kernel_size, nd)
    s = brute._pair(k if stride is None else stride, nd)
    d = brute._pair(dilation, nd)
    if padding == "same":
        pads = []
        for n, ki, si, di in zip(sizes, k, s, d):
            total = max((-(-n // si) - 1) * si + di * (ki - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
    else:
        pads = brute._pads(0 if padding == "valid" else padding, nd)
    out = []
    for n, ki, si, di, (lo, hi) in zip(sizes, k, s, d, pads):
        o = (n + lo + hi - di * (ki - 1) - 1 + (si - 1 if ceil_mode else 0)) // si + 1
        if ceil_mode and (o - 1) * si >= n + lo:
            o -= 1
        out.append((ki, si, di, lo, hi, o))
    return out


def _windows(a, nd, axes, pad_value, over_value=None):
    """``(..., O..., K...)``: the windows of ``a``'s last ``nd`` axes, the padding ``pad_value`` and a
    ``ceil_mode`` overhang past it ``over_value`` (default: the padding's)."""
    over_value = pad_value if over_value is None else over_value
    a = np.pad(a, [(0, 0)] * (a.ndim - nd) + [(lo, hi) for _, _, _, lo, hi, _ in axes], constant_values=pad_value)
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - a.shape[a.ndim - nd + j]) for j, (k, s, d, _, _, o)
             in enumerate(axes)]
    a = np.pad(a, [(0, 0)] * (a.ndim - nd) + [(0, e) for e in extra], constant_values=over_value)
    win = sliding_window_view(a, [d * (k - 1) + 1 for k, _, d, _, _, _ in axes], axis=tuple(range(-nd, 0)))
    sl = ([slice(None)] * (a.ndim - nd) + [slice(0, (o - 1) * s + 1, s) for _, s, _, _, _, o in axes]
          + [slice(None, None, d) for _, _, d, _, _, _ in axes])
    return win[tuple(sl)]


def _positions(sizes, axes):
    """The flat position of every tap of every window (``(O..., K...)``), -1 for padding."""
    nd = len(sizes)
    return _windows(np.arange(math.prod(sizes)).reshape(sizes), nd, axes, -1)


def oracle_extreme(x, nd, kw, op):
    """``(values, indices)`` of NaN-ignoring max (``op`` "max") or min pooling: ``np.nanmax`` over the windows
    padded with NaN and the first tap equal to it; a window without a non-NaN element is NaN, -1."""
    axes = _params(nd, x.shape[-nd:], **kw)
    win = _windows(x, nd, axes, np.nan)
    flat = win.reshape(win.shape[:win.ndim - nd] + (-1,))
    pos = _positions(x.shape[-nd:], axes)
    pos = np.broadcast_to(pos.reshape(pos.shape[:nd] + (-1,)), flat.shape)
    empty = np.isnan(flat).all(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        best = (np.nanmax if op == "max" else np.nanmin)(flat, axis=-1)
    # the first tap equal to it (np.nanargmax reads NaN as -inf: beside a real -inf it may pick a NaN)
    arg = np.argmax(flat == best[..., None], axis=-1)
    values = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]  # the element itself (its zero's sign)
    idx = np.take_along_axis(pos, arg[..., None], axis=-1)[..., 0]
    return np.where(empty, np.nan, values).astype(x.dtype), np.where(empty, -1, idx)


def oracle_avg(x, nd, kw, include=True, override=None):
    """NaN-ignoring average pooling: ``np.nanmean`` over the windows padded with zeros that count
    (``count_include_pad``) or with NaN, the ``ceil_mode`` overhang NaN; ``np.nansum / override``; NaN for a
    window without a non-NaN element of the input."""
    axes = _params(nd, x.shape[-nd:], **kw)
    n = len(axes)
    real = _windows(x, nd, axes, np.nan)
    empty = np.isnan(real).all(axis=tuple(range(-n, 0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if override:
            y = np.nansum(real, axis=tuple(range(-n, 0))) / override
        else:
            y = np.nanmean(_windows(x, nd, axes, 0.0 if include else np.nan, np.nan), axis=tuple(range(-n, 0)))
    return np.where(empty, np.nan, y)


def oracle_avg_grad(g, x, nd, kw, include=True, override=None):
    """The gradient of :func:`oracle_avg`: every window's share added to its non-NaN taps (a loop)."""
    axes = _params(nd, x.shape[-nd:], **kw)
    pos = _positions(x.shape[-nd:], axes)
    lead = x.shape[:-nd]
    xf = x.reshape((-1, math.prod(x.shape[-nd:])))
    gf = g.reshape((xf.shape[0], -1))
    out = np.zeros(xf.shape)
    taps = pos.reshape(math.prod(pos.shape[:nd]), -1)
    for b in range(xf.shape[0]):
        for w, row in enumerate(taps):
            real = [p for p in row if p >= 0 and not np.isnan(xf[b, p])]
            if not real:
                continue
            if override:
                div = override
            elif include:
                padded = _windows(np.zeros(x.shape[-nd:]), nd, axes, 0.0, np.nan).reshape(len(taps), -1)[w]
                div = np.sum(~np.isnan(padded)) - sum(1 for p in row if p >= 0 and np.isnan(xf[b, p]))
            else:
                div = len(real)
            for p in real:
                out[b, p] += gf[b, w] / div
    return out.reshape(lead + x.shape[-nd:])


def scatter(g, idx, sizes):
    """The gradient of max/min pooling by index, -1 adding nothing."""
    nd = len(sizes)
    out = np.zeros(g.shape[:-nd] + (math.prod(sizes),))
    gf, jf = g.reshape(out.shape[:-1] + (-1,)), idx.reshape(out.shape[:-1] + (-1,))
    for lead in np.ndindex(*out.shape[:-1]):
        for v, j in zip(gf[lead], jf[lead]):
            if j >= 0:
                out[lead + (j,)] += v
    return out.reshape(g.shape[:-nd] + tuple(sizes))


def nan_data(shape, seed, density=0.35, dtype=np.float64, ties=True):
    """Data with many NaN (all-NaN windows among them), infinities, -0.0 and ties."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape) * 3) if ties else rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[rng.random(flat.size) < density] = np.nan
    if flat.size > 6:
        k = rng.choice(flat.size, 4, replace=False)
        flat[k] = [np.inf, -np.inf, -0.0, -np.inf]
    return x.astype(dtype)


def pool_cases(nd, avg=False):
    """``(id, shape, kwargs)`` from the parity geometries (no zero-size ones: the oracle needs windows)."""
    out = []
    for gid, lead, sizes, kw in GEOMETRIES_ND[nd]:
        if 0 in lead or avg and kw.get("dilation", 1) != 1:
            continue
        out.append(pytest.param(nd, lead + sizes, avg_kwargs(kw) if avg else kw, id=f"{nd}d-{gid}"))
    return out


MAX_CASES = [p for nd in NDS for p in pool_cases(nd)]
AVG_CASES = [p for nd in NDS for p in pool_cases(nd, avg=True)]


def assert_bits(got, want):
    """Same dtype, shape and bits (a NaN's sign and payload, a zero's sign): for max and min pooling, whose
    values are the input's elements. (A NaN that arithmetic makes, inf - inf in a sum, has the sign the order
    of the operands gives it: :func:`assert_values` for averages.)"""
    got, want = np.asarray(got), np.asarray(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), (got.dtype, got.shape, want.dtype, want.shape)
    assert got.tobytes() == want.tobytes(), (got, want)


def assert_values(got, want):
    """Same dtype, shape and values; NaN equal to NaN, and the sign of a zero compared too."""
    got, want = np.asarray(got), np.asarray(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), (got.dtype, got.shape, want.dtype, want.shape)
    np.testing.assert_array_equal(got, want)
    if got.dtype.kind == "f":
        real = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[real]), np.signbit(want[real]))


# ------------------------------------------------------------------------------------- hand-worked cases


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_worked_max_and_min(impl):
    nan, inf = np.nan, np.inf
    x = np.array([1.0, nan, nan, nan, nan, -inf, -inf, nan, 3.0, 2.0])
    y, idx = impl.max_pool1d(x, 2, return_indices=True, nan_policy="omit")
    assert_values(y, [1.0, nan, -inf, -inf, 3.0])
    assert_values(idx, np.array([0, -1, 5, 6, 8]))
    y, idx = impl.min_pool1d(x, 2, return_indices=True, nan_policy="omit")
    assert_values(y, [1.0, nan, -inf, -inf, 2.0])
    assert_values(idx, np.array([0, -1, 5, 6, 9]))
    y, idx = impl.min_pool1d(x, 2, return_indices=True)  # NaN propagates: the first NaN
    assert_values(y, [nan, nan, nan, nan, 2.0])
    assert_values(idx, np.array([1, 2, 4, 7, 9]))
    # an infinity beside a NaN: the real one, not the NaN read as an infinity
    assert_values(impl.min_pool1d(np.array([nan, inf]), 2, return_indices=True, nan_policy="omit")[1], np.array([1]))
    assert_values(impl.max_pool1d(np.array([nan, -inf]), 2, return_indices=True, nan_policy="omit")[1], np.array([1]))
    # padding is never selected, by either
    x2 = np.array([[nan, 4.0], [nan, nan]])
    y, idx = impl.min_pool2d(x2, 2, stride=1, padding=1, return_indices=True, nan_policy="omit")
    assert_values(y, np.array([[nan, 4.0, 4.0], [nan, 4.0, 4.0], [nan, nan, nan]]))
    assert_values(idx, np.array([[-1, 1, 1], [-1, 1, 1], [-1, -1, -1]]))


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_worked_min_signed_zeros_ties_and_integers(impl):
    # ties go to the first minimum, which is the value returned (its zero's sign included)
    assert_values(impl.min_pool1d(np.array([0.0, -0.0, -0.0, 0.0]), 2), np.array([0.0, -0.0]))
    y, idx = impl.min_pool1d(np.array([2.0, 1.0, 1.0, 3.0]), 3, stride=1, return_indices=True)
    assert_values(idx, np.array([1, 1]))
    # ~max(~x) reverses the order exactly at the ends of every integer range
    for dt in (np.int8, np.uint8, np.int64, np.uint64):
        info = np.iinfo(dt)
        x = np.array([info.max, info.min, info.min, 0, info.max, info.max], dt)
        assert_values(impl.min_pool1d(x, 2), np.array([info.min, info.min, info.max], dt))
        assert_values(impl.min_pool1d(x, 2, nan_policy="omit"), impl.min_pool1d(x, 2))  # no NaN in integers


@pytest.mark.parametrize("impl", IMPLS)
def test_hand_worked_average(impl):
    nan = np.nan
    x = np.array([nan, nan, 1.0])  # windows [pad, NaN] and [NaN, 1.0] (k2 s2 p1)
    assert_values(impl.avg_pool1d(x, 2, 2, 1, nan_policy="omit"), [nan, 1.0])
    assert_values(impl.avg_pool1d(x, 2, 2, 1, count_include_pad=False, nan_policy="omit"), [nan, 1.0])
    assert_values(impl.avg_pool1d(x, 2, 2, 1, divisor_override=2, nan_policy="omit"), [nan, 0.5])
    x = np.array([1.0, nan])  # windows [pad, 1.0] (the padding counts as a zero) and [NaN, pad]
    assert_values(impl.avg_pool1d(x, 2, 2, 1, nan_policy="omit"), [0.5, nan])
    assert_values(impl.avg_pool1d(x, 2, 2, 1, count_include_pad=False, nan_policy="omit"), [1.0, nan])
    x = np.array([[1.0, nan, 5.0], [3.0, nan, nan]])
    assert_values(impl.avg_pool2d(x, 2, stride=1, nan_policy="omit"), np.array([[2.0, 5.0]]))
    g = impl.avg_pool2d_backward(np.array([[4.0, 6.0]]), x.shape, 2, 1, nan_policy="omit", x=x)
    assert_values(g, np.array([[2.0, 0.0, 6.0], [2.0, 0.0, 0.0]]))
    # integers hold no NaN: 'omit' is 'propagate' (float64 means)
    xi = np.arange(12, dtype=np.int16).reshape(3, 4)
    assert_values(impl.avg_pool2d(xi, 2, nan_policy="omit"), impl.avg_pool2d(xi, 2))


@pytest.mark.parametrize("impl", IMPLS)
def test_backward_of_a_window_without_values(impl):
    x = np.array([[np.nan, np.nan, 2.0, 1.0]])
    y, idx = impl.max_pool1d(x, 2, return_indices=True, nan_policy="omit")
    assert_values(idx, np.array([[-1, 2]]))
    g = np.array([[5.0, 7.0]])
    assert_values(impl.max_pool1d_backward(g, idx, x.shape, nan_policy="omit"), np.array([[0.0, 0.0, 7.0, 0.0]]))
    assert_values(impl.min_pool1d_backward(g, idx, x.shape, nan_policy="omit"), np.array([[0.0, 0.0, 7.0, 0.0]]))
    with pytest.raises(ValueError, match=r"got -1 \(-1 is the index of a window without a non-NaN element"):
        impl.max_pool1d_backward(g, idx, x.shape)
    with pytest.raises(ValueError, match=r"got -1$"):  # unpooling has no window to skip
        impl.max_unpool1d(y, idx, 2)
    # -0.0 gradients keep their sign where they land; the zeroed ones add nothing
    gz = np.array([[-0.0, -0.0]])
    assert_bits(impl.max_pool1d_backward(gz, idx, x.shape, nan_policy="omit"), np.array([[0.0, 0.0, 0.0, 0.0]]))


# --------------------------------------------------------------------------------------- the oracle


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("nd, shape, kw", MAX_CASES)
def test_nan_ignoring_max_and_min_match_numpy(impl, op, nd, shape, kw):
    for seed, density in ((0, 0.3), (1, 0.7), (2, 0.0)):
        x = nan_data(shape, seed, density)
        y, idx = fn(impl, f"{op}_pool", nd)(x, return_indices=True, nan_policy="omit", **kw)
        want_y, want_idx = oracle_extreme(x, nd, kw, op)
        assert_values(y, want_y)
        assert_values(idx, want_idx)
        # each value is the input's element at its index, bit for bit
        got = np.take_along_axis(x.reshape(x.shape[:-nd] + (-1,)), np.maximum(idx, 0).reshape(
            idx.shape[:-nd] + (-1,)), axis=-1).reshape(y.shape)
        assert_bits(np.where(idx >= 0, got, np.nan), y)
        # gradients: a scatter by index, none to a NaN tap
        g = np.random.default_rng(seed).standard_normal(y.shape)
        grad = fn(impl, f"{op}_pool_backward", nd)(g, idx, x.shape, nan_policy="omit")
        np.testing.assert_allclose(grad, scatter(g, idx, x.shape[-nd:]), rtol=1e-13, atol=1e-13)
        assert not np.any(grad[np.isnan(x)])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("nd, shape, kw", MAX_CASES)
def test_min_propagating_nan_is_minus_max_of_minus_x(impl, nd, shape, kw):
    """With NaN propagating, min pooling is brute force's max pooling of ``-x``, negated: the first NaN."""
    x = nan_data(shape, 3, 0.2)
    y, idx = fn(impl, "min_pool", nd)(x, return_indices=True, **kw)
    axes = _params(nd, shape[-nd:], **kw)
    explicit = dict(kw, padding=tuple((lo, hi) for _, _, _, lo, hi, _ in axes))  # (brute.py takes numbers)
    by, bidx = brute.max_pool(-x, brute.regular_windows(shape[-nd:], **explicit))
    assert_values(y, -by)
    assert_values(idx, bidx)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("include, override", [(True, None), (False, None), (True, 3), (False, -2)],
                         ids=["incl", "excl", "div3", "div-2"])
@pytest.mark.parametrize("nd, shape, kw", AVG_CASES)
def test_nan_ignoring_average_matches_numpy(impl, include, override, nd, shape, kw):
    for seed, density in ((0, 0.3), (1, 0.7)):
        x = nan_data(shape, seed, density)
        x[np.isinf(x)] = 1.0  # (inf - inf aside: integer-valued data, so every sum and count is exact)
        y = fn(impl, "avg_pool", nd)(x, count_include_pad=include, divisor_override=override, nan_policy="omit",
                                     **kw)
        assert_values(y, oracle_avg(x, nd, kw, include, override))
        g = np.random.default_rng(seed).standard_normal(y.shape)
        grad = fn(impl, "avg_pool_backward", nd)(g, x.shape, count_include_pad=include, divisor_override=override,
                                                 nan_policy="omit", x=x, **kw)
        np.testing.assert_allclose(grad, oracle_avg_grad(g, x, nd, kw, include, override), rtol=1e-12, atol=1e-13)
        assert not np.any(grad[np.isnan(x)])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("nd", NDS)
def test_gradients_match_finite_differences(impl, nd):
    """The backward passes are the forward's derivative (random data: no ties, so the maxima stay put)."""
    shape, kw = {1: ((2, 11), dict(kernel_size=3, stride=2, padding=1)),
                 2: ((2, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                 3: ((1, 4, 5, 5), dict(kernel_size=2, stride=1, padding=1))}[nd]
    x = nan_data(shape, 5, 0.4, ties=False)
    x[np.isinf(x)] = 0.5
    rng = np.random.default_rng(6)
    v = np.where(np.isnan(x), 0.0, rng.standard_normal(shape))
    eps = 1e-6
    for op in ("max", "min"):
        f = fn(impl, f"{op}_pool", nd)
        y, idx = f(x, return_indices=True, nan_policy="omit", **kw)
        g = rng.standard_normal(y.shape)
        grad = fn(impl, f"{op}_pool_backward", nd)(g, idx, x.shape, nan_policy="omit")
        dy = (f(x + eps * v, nan_policy="omit", **kw) - f(x - eps * v, nan_policy="omit", **kw)) / (2 * eps)
        np.testing.assert_allclose(np.nansum(g * dy), np.sum(grad * np.nan_to_num(v)), rtol=1e-6)
    for include in (True, False):
        f = fn(impl, "avg_pool", nd)
        y = f(x, count_include_pad=include, nan_policy="omit", **kw)
        g = rng.standard_normal(y.shape)
        grad = fn(impl, "avg_pool_backward", nd)(g, x.shape, count_include_pad=include, nan_policy="omit", x=x,
                                                 **kw)
        dy = (f(x + eps * v, count_include_pad=include, nan_policy="omit", **kw)
              - f(x - eps * v, count_include_pad=include, nan_policy="omit", **kw)) / (2 * eps)
        np.testing.assert_allclose(np.nansum(g * dy), np.sum(grad * v), rtol=1e-6)


# ------------------------------------------------------------------------------- both backends, bit for bit


#: the case generator (every dtype, layouts, NaN/inf/ties/extremes) for every number of axes
PARITY = [pytest.param(nd, *p.values, id=f"{nd}d-{p.id}") for nd in NDS for p in nd_cases(nd)]


@pytest.mark.parametrize("nd, x, kw", PARITY)
def test_active_backend_equals_the_reference_bit_for_bit(nd, x, kw):
    avg = avg_kwargs(kw)
    for policy in ("propagate", "omit"):
        for op in ("max", "min"):
            if op == "max" and policy == "propagate":
                continue
            y, idx = fn(sp, f"{op}_pool", nd)(x, return_indices=True, nan_policy=policy, **kw)
            ry, ridx = fn(ref, f"{op}_pool", nd)(x, return_indices=True, nan_policy=policy, **kw)
            assert_bits(y, ry)
            assert_bits(idx, ridx)
            assert_bits(fn(sp, f"{op}_pool", nd)(x, nan_policy=policy, **kw), ry)
            g = np.ones(y.shape, y.dtype)
            assert_values(fn(sp, f"{op}_pool_backward", nd)(g, idx, x.shape, nan_policy="omit"),
                        fn(ref, f"{op}_pool_backward", nd)(g, ridx, x.shape, nan_policy="omit"))
        if "dilation" in kw:
            continue  # (average pooling has none)
        a = fn(sp, "avg_pool", nd)(x, nan_policy=policy, **avg)
        assert_values(a, fn(ref, "avg_pool", nd)(x, nan_policy=policy, **avg))
        g = np.arange(a.size, dtype=a.dtype).reshape(a.shape) % 5
        assert_values(fn(sp, "avg_pool_backward", nd)(g, x.shape, nan_policy=policy, x=x, **avg),
                      fn(ref, "avg_pool_backward", nd)(g, x.shape, nan_policy=policy, x=x, **avg))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", ">f8"])
@pytest.mark.parametrize("nd, shape, kw", MAX_CASES[::2])
def test_nan_heavy_data_bit_for_bit(dtype, nd, shape, kw):
    """NaN-heavy data (all-NaN windows, -inf beside NaN) on both backends, every policy and divisor rule."""
    x = nan_data(shape, 11, 0.6, np.dtype(dtype), ties=True)
    for op in ("max", "min"):
        y, idx = fn(sp, f"{op}_pool", nd)(x, return_indices=True, nan_policy="omit", **kw)
        ry, ridx = fn(ref, f"{op}_pool", nd)(x, return_indices=True, nan_policy="omit", **kw)
        assert_bits(y, ry)
        assert_bits(idx, ridx)
    if kw.get("dilation", 1) == 1:
        for include, override in ((True, None), (False, None), (False, 2)):
            args = dict(kw, count_include_pad=include, divisor_override=override, nan_policy="omit")
            a = fn(sp, "avg_pool", nd)(x, **args)
            assert_values(a, fn(ref, "avg_pool", nd)(x, **args))
            g = np.nan_to_num(a, posinf=3.0, neginf=-2.0)
            assert_values(fn(sp, "avg_pool_backward", nd)(g, x.shape, x=x, **args),
                          fn(ref, "avg_pool_backward", nd)(g, x.shape, x=x, **args))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("nd, shape, kw", MAX_CASES[1::3])
def test_without_nan_omit_is_propagate_bit_for_bit(impl, dtype, nd, shape, kw):
    """Without NaN the NaN-ignoring compositions are the plain operations, bit for bit (the same kernels add
    the same taps in the same order and divide by the same divisors)."""
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    for op in ("max", "min"):
        assert_bits(fn(impl, f"{op}_pool", nd)(x, return_indices=True, nan_policy="omit", **kw)[1],
                    fn(impl, f"{op}_pool", nd)(x, return_indices=True, **kw)[1])
    if kw.get("dilation", 1) == 1:
        avg = avg_kwargs(kw)
        for include in (True, False):
            a = fn(impl, "avg_pool", nd)(x, count_include_pad=include, nan_policy="omit", **avg)
            assert_bits(a, fn(impl, "avg_pool", nd)(x, count_include_pad=include, **avg))  # (no NaN made)
            assert_bits(fn(impl, "avg_pool_backward", nd)(a, x.shape, count_include_pad=include, nan_policy="omit",
                                                          x=x, **avg),
                        fn(impl, "avg_pool_backward", nd)(a, x.shape, count_include_pad=include, **avg))


@pytest.mark.parametrize("impl", IMPLS)
def test_nan_payloads_and_signs_come_back(impl):
    """``-max(-x)`` flips a NaN's sign bit twice: min pooling returns the first NaN itself."""
    bits = np.array([0x7FF8000000000001, 0xFFF8000000000002], np.uint64)  # two NaN, signs and payloads
    x = np.array([1.0, 0.0, 2.0, 3.0])
    x[[1, 3]] = bits.view(np.float64)
    assert_bits(impl.min_pool1d(x, 2), x[[1, 3]])
    x32 = np.array([1.0, -2.0], np.float32)
    assert_bits(impl.min_pool1d(x32, 2, out=np.empty(1, np.float32)), np.array([-2.0], np.float32))


@pytest.mark.parametrize("impl", IMPLS)
def test_channels_last_out_and_layouts(impl):
    rng = np.random.default_rng(4)
    x = nan_data((2, 3, 7, 6), 4, 0.4).astype(np.float32)
    cl = np.ascontiguousarray(np.moveaxis(x, 1, -1))  # (N, H, W, C)
    for op in ("max", "min"):
        y, idx = fn(impl, f"{op}_pool", 2)(x, 3, 2, 1, return_indices=True, nan_policy="omit")
        y2, idx2 = fn(impl, f"{op}_pool", 2)(cl, 3, 2, 1, return_indices=True, nan_policy="omit", axes=(1, 2))
        assert_bits(y2, np.ascontiguousarray(np.moveaxis(y, 1, -1)))
        assert_bits(idx2, np.ascontiguousarray(np.moveaxis(idx, 1, -1)))
        out = np.full(y.shape, 7.0, np.float32)
        assert fn(impl, f"{op}_pool", 2)(np.asfortranarray(x), 3, 2, 1, nan_policy="omit", out=out) is out
        assert_bits(out, y)
        g = rng.standard_normal(y.shape).astype(np.float32)
        out = np.full(x.shape, 7.0, np.float32)
        assert fn(impl, f"{op}_pool_backward", 2)(g, idx, x.shape, nan_policy="omit", out=out) is out
        assert_bits(fn(impl, f"{op}_pool_backward", 2)(np.moveaxis(g, 1, -1), idx2, cl.shape, nan_policy="omit",
                                                       axes=(1, 2)), np.moveaxis(out, 1, -1))
    a = impl.avg_pool2d(x, 3, 2, 1, nan_policy="omit")
    out = np.zeros(a.shape, np.float32)
    assert impl.avg_pool2d(x, 3, 2, 1, nan_policy="omit", out=out) is out
    assert_bits(out, a)
    out = np.zeros(x.shape, np.float32)
    g = np.nan_to_num(a, posinf=3.0, neginf=-2.0)
    assert impl.avg_pool2d_backward(g, x.shape, 3, 2, 1, nan_policy="omit", x=x, out=out) is out
    assert_values(out, impl.avg_pool2d_backward(g, x.shape, 3, 2, 1, nan_policy="omit", x=x))
    assert_bits(impl.avg_pool2d(cl, 3, 2, 1, nan_policy="omit", axes=(1, 2)), np.moveaxis(a, 1, -1))
    # the input is never modified, and an out= that is the input works
    before = x.copy()
    impl.min_pool2d(x, 1, nan_policy="omit", out=x)
    assert_bits(x, before)


# ------------------------------------------------------------------------------------------------- torch


@pytest.mark.parametrize("nd", NDS)
def test_min_pool_is_torch_minus_max_pool_of_minus_x(nd):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape = {1: (2, 3, 17), 2: (2, 3, 9, 11), 3: (1, 2, 5, 6, 7)}[nd]
    x = np.random.default_rng(nd).standard_normal(shape).astype(np.float32)  # no ties, no NaN
    pool = getattr(F, f"max_pool{nd}d")
    for kw in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, dilation=2, ceil_mode=True)):
        t = torch.tensor(x, requires_grad=True)
        ty, ti = pool(-t, return_indices=True, **kw)
        (-ty).backward(torch.ones_like(ty))
        y, idx = fn(sp, "min_pool", nd)(x, return_indices=True, **kw)
        assert_bits(y, (-ty).detach().numpy())
        assert_bits(idx, ti.numpy())
        # (torch's chain rule through the negations leaves -0.0 where no gradient lands: equal as values)
        np.testing.assert_array_equal(fn(sp, "min_pool_backward", nd)(np.ones_like(y), idx, x.shape), t.grad.numpy())
        # NaN-ignoring pooling of data without NaN is torch's pooling
        assert_bits(fn(sp, "max_pool", nd)(x, nan_policy="omit", **kw), pool(torch.tensor(x), **kw).numpy())
    avg = getattr(F, f"avg_pool{nd}d")
    for include in (True, False):
        assert_bits(fn(sp, "avg_pool", nd)(x, 3, 2, 1, count_include_pad=include, nan_policy="omit"),
                    avg(torch.tensor(x), 3, 2, 1, count_include_pad=include).numpy())


# -------------------------------------------------------------------------------------------------- dask


@pytest.fixture
def dask_sync():
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield pytest.importorskip("dask.array")


@pytest.mark.parametrize("backend", [pytest.param(sp, id="active"), pytest.param(ref, id="reference")])
@pytest.mark.parametrize("chunks", [-1, 3, (1, 2, 5, 4)], ids=["one", "threes", "uneven"])
def test_dask_forward_equals_in_memory_bit_for_bit(dask_sync, backend, chunks):
    da = dask_sync
    x = nan_data((2, 3, 11, 9), 8, 0.5)
    d = da.from_array(x, chunks=chunks)
    for kw in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, dilation=2, ceil_mode=True),
               dict(kernel_size=(3, 2), stride=(1, 2), padding="same")):
        for op, policy in (("min", "propagate"), ("min", "omit"), ("max", "omit")):
            y, idx = backend.__dict__[f"{op}_pool2d"](d, return_indices=True, nan_policy=policy, **kw)
            assert isinstance(y, da.Array) and isinstance(idx, da.Array)
            want_y, want_idx = backend.__dict__[f"{op}_pool2d"](x, return_indices=True, nan_policy=policy, **kw)
            assert_bits(y.compute(), want_y)
            assert_bits(idx.compute(), want_idx)
            # the backward: the dask indices (their forward's windows), and in-memory ones (any origin)
            g = np.random.default_rng(1).standard_normal(want_y.shape)
            want = backend.__dict__[f"{op}_pool2d_backward"](g, want_idx, x.shape, nan_policy="omit")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", da.PerformanceWarning)
                for gi, ii in ((da.from_array(g, chunks=y.chunks), idx), (da.from_array(g, chunks=2), want_idx)):
                    got = backend.__dict__[f"{op}_pool2d_backward"](gi, ii, x.shape, nan_policy="omit")
                    assert isinstance(got, da.Array)
                    np.testing.assert_allclose(got.compute(), want, rtol=1e-13, atol=1e-13)
        if "dilation" in kw:
            continue
        for include, override in ((True, None), (False, None), (True, 2)):
            args = dict(kw, count_include_pad=include, divisor_override=override, nan_policy="omit")
            a = backend.avg_pool2d(d, **args)
            assert isinstance(a, da.Array)
            want_a = backend.avg_pool2d(x, **args)
            assert_bits(a.compute(), want_a)
            g = np.random.default_rng(2).standard_normal(want_a.shape)
            want = backend.avg_pool2d_backward(g, x.shape, x=x, **args)
            for gi, xi in ((da.from_array(g, chunks=a.chunks), d), (g, d), (da.from_array(g, chunks=2), x)):
                got = backend.avg_pool2d_backward(gi, x.shape, x=xi, **args)
                assert isinstance(got, da.Array)
                np.testing.assert_allclose(got.compute(), want, rtol=1e-13, atol=1e-13)


def test_dask_is_lazy_and_checks_at_the_call(dask_sync):
    da = dask_sync

    def boom(block):
        raise AssertionError("a block was computed")

    x = da.from_array(np.zeros((2, 8, 8), np.float32), chunks=4).map_blocks(boom, meta=np.zeros((0, 0, 0), np.float32))
    y, idx = sp.min_pool2d(x, 3, 2, 1, return_indices=True, nan_policy="omit")
    a = sp.avg_pool2d(x, 2, nan_policy="omit")
    for r in (y, idx, a, sp.min_pool2d(x, 2), sp.max_pool2d(x, 2, nan_policy="omit"),
              sp.min_pool2d_backward(y, idx, x.shape, nan_policy="omit"),
              sp.avg_pool2d_backward(a, x.shape, 2, nan_policy="omit", x=x)):
        assert isinstance(r, da.Array)
    with pytest.raises(ValueError, match=r"`nan_policy` must be 'propagate' or 'omit', got 'raise'"):
        sp.min_pool2d(x, 2, nan_policy="raise")
    with pytest.raises(ValueError, match=r"`x` \(the pooled input\) is required with nan_policy='omit'"):
        sp.avg_pool2d_backward(a, x.shape, 2, nan_policy="omit")
    with pytest.raises(TypeError, match=r"`out` cannot be used with dask arrays"):
        sp.avg_pool2d_backward(a, x.shape, 2, nan_policy="omit", x=x, out=np.zeros((2, 8, 8), np.float32))
    with pytest.raises(AssertionError, match="a block was computed"):
        y.compute()


# --------------------------------------------------------------------------------------------- block_reduce


@pytest.mark.parametrize("impl", IMPLS)
def test_block_reduce_nan_reductions_take_the_kernels(impl, monkeypatch):
    """np.nanmax, np.nanmin, np.nansum and np.nanmean of floats run on the NaN-ignoring pooling: NumPy's
    function is never called on the blocks (it used to reduce the blocks that hold a NaN)."""
    from stridepool import _block_reduce as BR

    x = nan_data((6, 8, 4), 9, 0.4)
    want = {op: np.asarray(BR.padded_reduce(x, (2, 4, 1), BR.NUMPY[op], np.nan, {}))
            for op in ("nanmax", "nanmin", "nansum", "nanmean")}
    for op, f in list(BR.NUMPY.items()):
        if op.startswith("nan"):
            monkeypatch.setitem(BR.NUMPY, op, lambda *a, _f=f, **k: pytest.fail("NumPy's nan- function ran"))
    for op in want:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = impl.block_reduce(x, (2, 4, 1), {"nanmax": np.nanmax, "nanmin": np.nanmin, "nansum": np.nansum,
                                                   "nanmean": np.nanmean}[op], np.nan)
        if op in ("nanmax", "nanmin"):
            assert_values(got, want[op])
        else:
            np.testing.assert_allclose(got, want[op], rtol=1e-13)
