"""Odd but valid input works, on the active backend and on the reference, and both agree bit for bit.

Zero-size axes, 2-D input, non-contiguous, Fortran-ordered, negative-stride, read-only, big-endian and
nested-list input; ``out=`` that aliases the input; inputs holding only -inf, NaN or extreme integers; and
index arithmetic past 2**31 (64-bit throughout).
"""
import numpy as np
import pytest

import stridepool as sp
from stridepool import reference

BACKENDS = [pytest.param(sp, id=f"active-{sp.backend}"), pytest.param(reference, id="reference")]
COMPILED = sp.backend == "compiled"


def same(a, b):
    """Bit-for-bit equal arrays (NaN equal to NaN), same shape and dtype."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(a, b)  # treats NaN as equal to NaN
        real = ~np.isnan(a)  # -0.0 vs +0.0 matters; the sign of a NaN does not
        assert np.array_equal(np.signbit(a[real]), np.signbit(b[real]))
    else:
        assert np.array_equal(a, b)


def canonical(fn, args, kwargs=None):
    """The answer for contiguous, native, writeable copies of the array arguments, from the reference."""
    args = [np.ascontiguousarray(np.asarray(a)).astype(np.asarray(a).dtype.newbyteorder("="))
            if isinstance(a, (np.ndarray, list)) else a for a in args]
    return getattr(reference, fn)(*args, **(kwargs or {}))


def run_all(backend, x, rng, axes=(-2, -1)):
    """Every function on ``x`` (a float or int array-like with H, W >= 4 at ``axes``); results by name."""
    kw = {"axes": axes}
    out = {}
    y, idx = backend.max_pool2d(x, 3, 2, 1, return_indices=True, **kw)
    out["max"], out["idx"] = y, idx
    out["max_dil"] = backend.max_pool2d(x, 2, 1, 0, 2, True, **kw)
    out["avg"] = backend.avg_pool2d(x, 3, 2, 1, True, False, **kw)
    shape = np.shape(x)
    g = rng.standard_normal(np.shape(y)).astype(np.float32)
    out["max_bw"] = backend.max_pool2d_backward(g, idx, shape, **kw)
    ga = rng.standard_normal(np.shape(out["avg"])).astype(np.float32)
    out["avg_bw"] = backend.avg_pool2d_backward(ga, shape, 3, 2, 1, True, False, **kw)
    w = backend.unfold2d(x, 3, 1, 1, **kw)
    out["unfold"] = np.array(w)
    out["fold"] = backend.fold2d(w, shape, 1, 1, **kw)
    return out


# ------------------------------------------------------------------------------------------ layouts

def unaligned(a):
    """A C-contiguous copy of ``a`` whose data starts one byte past an element boundary (as arrays made from
    byte buffers at odd offsets, or pickle protocol 5 out-of-band buffers, can): the kernels must not read it
    through typed pointers as it is."""
    a = np.asarray(a)
    buf = bytearray(a.nbytes + 1)
    u = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned or a.dtype.itemsize == 1
    return u


def _layouts():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 3, 9, 10)).astype(np.float32)
    ro = base.copy()
    ro.flags.writeable = False
    big = np.zeros((2, 3, 18, 20), np.float32)
    big[:, :, ::2, ::2] = base
    return {
        "c": base,
        "fortran": np.asfortranarray(base),
        "strided": big[:, :, ::2, ::2],
        "negative-strides": base[:, :, ::-1, ::-1].copy()[:, :, ::-1, ::-1],
        "reversed-axes-memory": np.ascontiguousarray(base.T).T,
        "read-only": ro,
        "big-endian": base.astype(">f4"),
        "little-endian-explicit": base.astype("<f4"),
        "nested-list": base.tolist(),
        "broadcast": np.broadcast_to(base[:1], base.shape),
        "2d": base[0, 0],
        "2d-fortran": np.asfortranarray(base[0, 0]),
        "2d-nested-list": base[0, 0].tolist(),
        "unaligned": unaligned(base),
        "unaligned-2d": unaligned(base[0, 0]),
    }


LAYOUTS = _layouts()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_give_the_canonical_answer(backend, layout):
    x = LAYOUTS[layout]
    before = np.array(x, copy=True)
    got = run_all(backend, x, np.random.default_rng(1))
    dtype = np.float64 if isinstance(x, list) else np.float32  # nested lists of floats are float64
    want = run_all(reference, np.ascontiguousarray(np.asarray(x), dtype=dtype), np.random.default_rng(1))
    for name in want:
        same(got[name], want[name])
    same(np.asarray(x), before)  # the input is never modified
    assert got["max"].dtype == dtype and got["idx"].dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_unaligned_arrays_everywhere(backend, dtype):
    """Unaligned inputs, gradients, indices and ``out=``, each call twice (the second replays a remembered
    plan on the compiled backend): the canonical answers, and the outputs written where asked."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((2, 3, 12, 13)) * 10).astype(dtype)
    y, idx = reference.max_pool2d(x, 3, 2, 1, return_indices=True)
    g = rng.standard_normal(y.shape).astype(dtype)
    for _ in range(2):
        got_y, got_i = backend.max_pool2d(unaligned(x), 3, 2, 1, return_indices=True)
        same(got_y, y)
        same(got_i, idx)
        same(backend.max_pool2d_backward(unaligned(g), unaligned(idx), x.shape),
             reference.max_pool2d_backward(g, idx, x.shape))
        same(backend.avg_pool2d(unaligned(x), 2), reference.avg_pool2d(x, 2))
        same(backend.avg_pool2d_backward(unaligned(g), x.shape, 3, 2, 1),
             reference.avg_pool2d_backward(g, x.shape, 3, 2, 1))
        same(backend.adaptive_avg_pool2d(unaligned(x), 3), reference.adaptive_avg_pool2d(x, 3))
        same(backend.fold2d(unaligned(reference.unfold2d(x, 3, 2, 1)), x.shape, 2, 1),
             reference.fold2d(reference.unfold2d(x, 3, 2, 1), x.shape, 2, 1))
        out = unaligned(np.zeros_like(y))
        assert backend.max_pool2d(unaligned(x), 3, 2, 1, out=out) is out
        same(out, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axes", [(1, 2), (2, 1), (0, 3), (-1, -3), (3, 0)])
def test_axes_and_channels_last(backend, axes):
    rng = np.random.default_rng(2)
    base = rng.integers(-50, 50, (9, 10, 2, 3)).astype(np.int16)  # H, W first
    x = np.moveaxis(base, (0, 1), axes)  # H at axes[0], W at axes[1]
    got = run_all(backend, x, np.random.default_rng(3), axes=axes)
    want = run_all(reference, np.ascontiguousarray(x), np.random.default_rng(3), axes=axes)
    for name in want:
        same(got[name], want[name])
    # pooling over `axes` is pooling over the last two axes of the moved array
    y = backend.max_pool2d(x, 2, axes=axes)
    same(np.moveaxis(y, axes, (-2, -1)), reference.max_pool2d(np.moveaxis(x, axes, (-2, -1)), 2))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [">f2", ">f8", ">i2", ">i4", ">i8", ">u2", ">u4", ">u8"])
def test_big_endian_dtypes(backend, dtype):
    x = (np.arange(2 * 36).reshape(2, 6, 6) % 11).astype(dtype)
    native = x.astype(np.dtype(dtype).newbyteorder("="))
    y, idx = backend.max_pool2d(x, 3, 1, 1, return_indices=True)
    y0, idx0 = reference.max_pool2d(native, 3, 1, 1, return_indices=True)
    same(y, y0)
    same(idx, idx0)
    assert y.dtype.isnative
    same(backend.avg_pool2d(x, 2), reference.avg_pool2d(native, 2))
    same(backend.fold2d(backend.unfold2d(x, 2), x.shape), reference.fold2d(reference.unfold2d(native, 2), x.shape))
    same(backend.max_pool2d_backward(x[:, :6, :6], idx.astype(">i8"), x.shape),
         reference.max_pool2d_backward(native, idx, x.shape))


# ---------------------------------------------------------------------------------------- zero size

ZERO_LEADING = [(0, 8, 8), (0, 3, 8, 8), (3, 0, 8, 8), (2, 0, 0, 8, 8)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", ZERO_LEADING, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_zero_size_leading_axes(backend, shape, dtype):
    x = np.zeros(shape, dtype)
    lead = shape[:-2]
    y, idx = backend.max_pool2d(x, 2, return_indices=True)
    assert y.shape == lead + (4, 4) and y.dtype == dtype
    assert idx.shape == lead + (4, 4) and idx.dtype == np.int64
    assert backend.avg_pool2d(x, 3, 2, 1).shape == lead + (4, 4)
    assert backend.avg_pool2d_backward(y, shape, 2).shape == shape
    w = backend.unfold2d(x, 3, 1, 1)
    assert w.shape == lead + (8, 8, 3, 3)
    assert backend.fold2d(w, shape, 1, 1).shape == shape
    out = np.full(shape, 7, dtype)
    assert backend.fold2d(w, shape, 1, 1, out=out) is out
    g = backend.max_pool2d_backward(y, idx, shape)
    assert g.shape == shape and g.dtype == dtype


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", ["max_pool2d", "avg_pool2d", "unfold2d", "fold2d", "max_pool2d_backward",
                                "avg_pool2d_backward"])
@pytest.mark.parametrize("axes", [(0, 2), (2, 0), (-1, -2)])
def test_zero_size_leading_axis_with_axes_apart(backend, fn, axes):
    """(H, 0, W) pooled over axes apart or reversed: the empty batch axis sits between the pooled ones."""
    shape = [6, 0, 6] if axes != (-1, -2) else [0, 6, 6]
    x = np.zeros(shape, np.float64)
    kw = {"axes": axes}
    y, idx = reference.max_pool2d(x, 2, return_indices=True, **kw)
    if fn == "max_pool2d":
        r = backend.max_pool2d(x, 2, **kw)
        assert r.shape == y.shape
    elif fn == "avg_pool2d":
        assert backend.avg_pool2d(x, 2, **kw).shape == y.shape
    elif fn == "unfold2d":
        assert backend.unfold2d(x, 2, 2, **kw).shape == y.shape + (2, 2)
    elif fn == "fold2d":
        assert backend.fold2d(reference.unfold2d(x, 2, 2, **kw), x.shape, 2, **kw).shape == x.shape
    elif fn == "max_pool2d_backward":
        assert backend.max_pool2d_backward(y, idx, x.shape, **kw).shape == x.shape
    else:
        assert backend.avg_pool2d_backward(y, x.shape, 2, **kw).shape == x.shape


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axes", [(-2, -1), (-1, -2), (0, 2), (2, 0)])
def test_fold_into_empty_plane(backend, axes):
    """Unfolding an empty plane with padding gives windows of padding; folding them back gives the empty plane."""
    shape = (2, 0, 3) if axes in ((-2, -1), (-1, -2)) else (0, 2, 3)
    x = np.zeros(shape)
    w = backend.unfold2d(x, 2, 1, 1, axes=axes)  # the empty axis padded to 2: one window along it
    assert w.size > 0 and w.shape == reference.unfold2d(x, 2, 1, 1, axes=axes).shape
    assert backend.fold2d(w, shape, 1, 1, axes=axes).shape == shape


# ------------------------------------------------------------------------------------------ aliasing

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32])
def test_out_aliases_input(backend, dtype):
    rng = np.random.default_rng(4)
    x0 = (rng.standard_normal((2, 5, 6)) * 10).astype(dtype)
    # k=1 s=1: the output has the input's shape, so out= may be the input itself
    x = x0.copy()
    r = backend.max_pool2d(x, 1, out=x)
    assert r is x
    same(x, reference.max_pool2d(x0, 1))
    # same size with padding, so every output element reads neighbours the aliased write may have changed
    x = x0.copy()
    r = backend.max_pool2d(x, 3, 1, 1, out=x)
    assert r is x
    same(x, reference.max_pool2d(x0, 3, 1, 1))
    if np.dtype(dtype).kind == "f":
        x = x0.copy()
        assert backend.avg_pool2d(x, 3, 1, 1, out=x) is x
        same(x, reference.avg_pool2d(x0, 3, 1, 1))
        g = x0.copy()
        assert backend.avg_pool2d_backward(g, g.shape, 3, 1, 1, out=g) is g
        same(g, reference.avg_pool2d_backward(x0, x0.shape, 3, 1, 1))
    # max backward: out aliases grad_output
    idx = reference.max_pool2d(x0, 3, 1, 1, return_indices=True)[1]
    g = x0.copy()
    assert backend.max_pool2d_backward(g, idx, g.shape, out=g) is g
    same(g, reference.max_pool2d_backward(x0, idx, x0.shape))
    # max backward: out aliases the indices (int64 grads)
    if np.dtype(dtype) == np.int32:
        gi = x0.astype(np.int64)
        ii = idx.copy()
        assert backend.max_pool2d_backward(gi, ii, gi.shape, out=ii) is ii
        same(ii, reference.max_pool2d_backward(gi, idx, gi.shape))


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_overlaps_input_partially(backend):
    """``out`` is a shifted view of the input's buffer: the result is still that of the original input."""
    buf = np.arange(2 * 40, dtype=np.float64) % 7
    x = buf[:72].reshape(2, 6, 6)
    x0 = x.copy()
    out = buf[8:80].reshape(2, 6, 6)
    assert backend.max_pool2d(x, 3, 1, 1, out=out) is out
    same(out, reference.max_pool2d(x0, 3, 1, 1))
    # fold: windows and out share a buffer
    w0 = reference.unfold2d(np.arange(36.0).reshape(6, 6), 2)  # (5, 5, 2, 2)
    buf = np.zeros(200)
    w = buf[:100].reshape(5, 5, 2, 2)
    w[...] = w0
    out = buf[64:100].reshape(6, 6)
    assert backend.fold2d(w, (6, 6), out=out) is out
    same(out, reference.fold2d(w0, (6, 6)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_noncontiguous_and_fortran(backend):
    x = np.random.default_rng(5).standard_normal((3, 8, 8))
    want = reference.max_pool2d(x, 2)
    for out in (np.zeros((3, 4, 8))[:, :, ::2], np.asfortranarray(np.zeros((3, 4, 4))),
                np.zeros((4, 4, 3)).transpose(2, 0, 1)):
        assert backend.max_pool2d(x, 2, out=out) is out
        same(out, want)


# ------------------------------------------------------------------------------------ special values

SPECIALS = {
    "all-minus-inf": lambda dt: np.full((2, 5, 5), -np.inf, dt),
    "all-nan": lambda dt: np.full((2, 5, 5), np.nan, dt),
    "all-plus-inf": lambda dt: np.full((2, 5, 5), np.inf, dt),
    "nan-and-minus-inf": lambda dt: np.where(np.arange(50).reshape(2, 5, 5) % 3 == 0, np.nan, -np.inf).astype(dt),
    "signed-zeros": lambda dt: np.where(np.arange(50).reshape(2, 5, 5) % 2 == 0, -0.0, 0.0).astype(dt),
    "max-finite": lambda dt: np.full((2, 5, 5), np.finfo(dt).max, dt),
    "tiny-subnormal": lambda dt: np.full((2, 5, 5), np.finfo(dt).smallest_subnormal, dt),
}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # max-finite sums overflow to inf
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kind", list(SPECIALS))
def test_float_specials(backend, dtype, kind):
    x = SPECIALS[kind](dtype)
    for args in ((3, 1, 1), (2, 2, 1, 1, True), (2, 1, 0, 2)):
        y, idx = backend.max_pool2d(x, *args, return_indices=True)
        y0, idx0 = reference.max_pool2d(x, *args, return_indices=True)
        if kind == "signed-zeros":  # equal values; which zero is returned: test_signed_zero_ties
            np.testing.assert_array_equal(y, y0)
        else:
            same(y, y0)
        same(idx, idx0)
        assert ((idx >= 0) & (idx < 25)).all()  # padding is never selected
        same(backend.max_pool2d_backward(y, idx, x.shape), reference.max_pool2d_backward(y0, idx0, x.shape))
    with np.errstate(all="ignore"):
        same(backend.avg_pool2d(x, 3, 1, 1), reference.avg_pool2d(x, 3, 1, 1))
        same(backend.avg_pool2d(x, 3, 1, 1, False, False), reference.avg_pool2d(x, 3, 1, 1, False, False))
        same(backend.avg_pool2d_backward(x[:, :3, :3], x.shape, 3, 2, 1),
             reference.avg_pool2d_backward(x[:, :3, :3], x.shape, 3, 2, 1))
        w = reference.unfold2d(x, 2)
        same(backend.fold2d(w, x.shape), reference.fold2d(w, x.shape))
    if kind == "all-nan":
        assert np.isnan(y).all()
        same(idx, reference.max_pool2d(np.zeros_like(x), *args, return_indices=True)[1])  # the first tap


INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("fill", ["min", "max", "mixed"])
def test_extreme_integers(backend, dtype, fill):
    info = np.iinfo(dtype)
    if fill == "mixed":
        x = np.where(np.arange(50).reshape(2, 5, 5) % 2 == 0, np.array(info.min, dtype), np.array(info.max, dtype))
    else:
        x = np.full((2, 5, 5), getattr(info, fill), dtype)
    # max: padding behaves as -inf, so even an all-minimum input is never beaten by padding
    y, idx = backend.max_pool2d(x, 3, 1, 1, return_indices=True)
    y0, idx0 = reference.max_pool2d(x, 3, 1, 1, return_indices=True)
    same(y, y0)
    same(idx, idx0)
    assert y.dtype == dtype
    # average: float64, like np.mean (sums of extremes do not wrap)
    a = backend.avg_pool2d(x, 2, 1)
    same(a, reference.avg_pool2d(x, 2, 1))
    assert a.dtype == np.float64
    np.testing.assert_allclose(a[0, 0, 0], x[0, :2, :2].astype(np.float64).mean(), rtol=1e-12)
    # scatter-adds of extremes wrap around exactly as NumPy's integer arithmetic does
    g = np.full(y.shape, getattr(info, "max" if fill != "min" else "min"), dtype)
    same(backend.max_pool2d_backward(g, idx, x.shape), reference.max_pool2d_backward(g, idx0, x.shape))
    w = reference.unfold2d(x, 3, 1, 1)
    same(backend.fold2d(w, x.shape, 1, 1), reference.fold2d(w, x.shape, 1, 1))
    same(backend.avg_pool2d_backward(g, x.shape, 3, 1, 1), reference.avg_pool2d_backward(g, x.shape, 3, 1, 1))




@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_signed_zero_ties(backend, dtype):
    """-0.0 == +0.0 is a tie: the value returned is the first maximum, the element the index points to."""
    x = np.where(np.arange(50).reshape(2, 5, 5) % 2 == 0, -0.0, 0.0).astype(dtype)
    y, idx = backend.max_pool2d(x, 3, 1, 1, return_indices=True)
    picked = np.take_along_axis(x.reshape(2, -1), idx.reshape(2, -1), axis=1).reshape(y.shape)
    same(y, picked)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_and_nan_rules(backend):
    x = np.array([[1.0, 1.0], [np.nan, np.nan]])
    y, idx = backend.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(y[0, 0]) and idx[0, 0] == 2  # the first NaN
    y, idx = backend.max_pool2d(np.ones((3, 3)), 3, return_indices=True)
    assert idx[0, 0] == 0  # ties go to the first maximum




@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("param", ["kernel_size", "stride", "padding", "dilation"])
def test_numpy_integer_parameters(backend, param):
    """NumPy integers (scalars, pairs and 0-d arrays) work like Python ints."""
    x = np.arange(64.0).reshape(8, 8)
    base = {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1}
    want = reference.max_pool2d(x, **base)
    for value in (np.int64(base[param]), np.uint8(base[param]), np.array([base[param]] * 2)):
        same(backend.max_pool2d(x, **{**base, param: value}), want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("param", ["kernel_size", "stride", "padding", "dilation"])
def test_zero_d_array_parameters(backend, param):
    x = np.arange(64.0).reshape(8, 8)
    base = {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1}
    same(backend.max_pool2d(x, **{**base, param: np.array(base[param])}), reference.max_pool2d(x, **base))


# ------------------------------------------------------------------------------- 64-bit arithmetic

@pytest.mark.skipif(not COMPILED, reason="the reference copies the whole input (too much memory)")
def test_indices_past_int32():
    """A plane of 2**31 + 2**15 elements (calloc'd, touched at four places): indices beyond int32 are exact."""
    H, W = 2**16 + 1, 2**15
    try:
        x = np.zeros((H, W), np.uint8)
    except MemoryError:
        pytest.skip("not enough memory")
    pos = [(0, 0), (0, 2**14), (2**16, 0), (2**16, 2**14 + 3)]
    for v, (i, j) in enumerate(pos, start=1):
        x[i, j + (1 if v > 1 else 0)] = 100 + v
    y, idx = sp.max_pool2d(x, (1, 2), (2**16, 2**14), return_indices=True)
    assert y.shape == (2, 2)
    assert y.tolist() == [[101, 102], [103, 0]]
    assert idx.tolist() == [[0, 2**14 + 1], [2**16 * W + 1, 2**16 * W + 2**14]]
    assert idx.max() > 2**31
    a = sp.avg_pool2d(x, (1, 2), (2**16, 2**14))
    assert a.tolist() == [[101 / 2, 102 / 2], [103 / 2, 0.0]]
    del x


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_empty_shapes(backend):
    """Shapes whose planes are far beyond int32 (but whose arrays are empty) are handled in exact integers."""
    n = 2**20
    y = backend.avg_pool2d_backward(np.zeros((0, 2, 2)), (0, n, n), 2**19)
    assert y.shape == (0, n, n) and y.dtype == np.float64
    w = np.zeros((0, 2, 2**19, 2**19, 1))
    assert backend.fold2d(w, (0, n, 2**19), (2**19, 1)).shape == (0, n, 2**19)
    assert backend.unfold2d(np.zeros((0, 8, 8)), 8).shape == (0, 1, 1, 8, 8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_kernel_stride_dilation_values(backend):
    """Sizes near MAX_SIZE that still fit an input compute their (small) outputs exactly."""
    x = np.arange(30.0).reshape(3, 10)
    big = 2**31 - 1
    y, idx = backend.max_pool2d(x, (1, 1), (big, big), return_indices=True)
    same(y, np.array([[0.0]]))
    same(idx, np.array([[0]]))
    same(backend.unfold2d(x, (3, 2), (big, big), 0, (1, 8)), x[None, None, :, [0, 8]][..., :, :].reshape(1, 1, 3, 2))
