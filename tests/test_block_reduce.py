"""block_reduce: scikit-image's ``skimage.measure.block_reduce``, compared with brute force and with scikit-image.

Brute force (everywhere): explicit loops over the blocks, each block gathered cell by cell (cells past the end
are ``cval`` converted to the image's dtype, as ``np.pad`` converts it) and reduced whole by the NumPy
function. scikit-image (where installed, an optional test dependency): the same calls. Exact (as values: NaN
equals NaN, -0.0 equals 0.0) for max, min, median, sums and means of integers and bool, and their nan- forms;
float sums and means to rounding, bounded by the block size times the dtype's epsilon times the sum of the
block's magnitudes. Both backends, every dtype, 0 to 4 dimensions, blocks of 1 and blocks longer than an axis,
padding, layouts, masked arrays, the functions without a fast path and the aliases of those with one.
"""
import math
import warnings

import numpy as np
import pytest

import stridepool as sp
from stridepool import _block_reduce as BR
from stridepool import reference

try:
    from skimage.measure import block_reduce as skimage_block_reduce
except ImportError:  # an optional test dependency: the brute force runs everywhere
    skimage_block_reduce = None

needs_skimage = pytest.mark.skipif(skimage_block_reduce is None, reason="scikit-image is not installed")

BACKENDS = [pytest.param(sp, id=f"active-{sp.backend}"), pytest.param(reference, id="reference")]
FAST = list(BR.NUMPY)
DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "bool", ">f8", ">i4"]
# (id, shape, block_size, cval)
CASES = [
    ("2d-padded", (7, 9), (2, 3), 3),
    ("2d-exact", (8, 6), 2, 0),
    ("1d", (11,), 4, -1),
    ("3d-block-1", (3, 4, 5), (2, 1, 3), 0),
    ("4d-two-passes", (3, 4, 5, 4), 2, 1),
    ("block-longer-than-axis", (3, 2), (5, 4), 2),
    ("blocks-of-1", (4, 3), 1, 0),
]


def values(shape, dtype, seed=0, special=True):
    """Data with ties and, for floats, NaN, infinities and -0.0; integers over the dtype's whole range."""
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    if dt.kind == "f":
        a = np.round(rng.standard_normal(n) * 8) / 4
        if special and n >= 8:
            k = rng.choice(n, size=max(3, n // 9), replace=False)
            a[k] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0], size=k.size)
    elif dt.kind == "b":
        a = rng.integers(0, 2, n).astype(bool)
    else:
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, n, dtype=dt.newbyteorder("="), endpoint=True)
    return np.asarray(a).astype(dt).reshape(shape)


def fill_value(cval, dtype):
    """``cval`` converted to ``dtype`` by ``np.pad`` itself (-1 is 255 in uint8)."""
    with np.errstate(invalid="ignore"):
        return np.pad(np.zeros(1, dtype=dtype), (0, 1), mode="constant", constant_values=cval)[1]


def block_shape(block_size, ndim):
    return tuple(block_size) if isinstance(block_size, tuple) else (block_size,) * ndim


def brute(image, block_size, func, cval=0):
    """The reduction by explicit loops: every block gathered cell by cell, reduced whole by ``func``."""
    image = np.asarray(image)
    block = block_shape(block_size, image.ndim)
    out_shape = tuple(-(-n // b) for n, b in zip(image.shape, block))
    results = []
    for index in np.ndindex(*out_shape):
        cells = np.empty(block, dtype=image.dtype)
        for offset in np.ndindex(*block):
            pos = tuple(i * b + o for i, b, o in zip(index, block, offset))
            inside = all(p < n for p, n in zip(pos, image.shape))
            cells[offset] = image[pos] if inside else fill_value(cval, image.dtype)
        results.append(func(cells))
    dtype = np.asarray(func(np.zeros(block, dtype=image.dtype))).dtype
    return np.array(results, dtype=dtype).reshape(out_shape)


def exact(op, dtype):
    """Exact ops; integer means are exact while sums stay within 2**53 (not for 64-bit integers over their
    whole range: NumPy's float64 means of those round, in NumPy's order)."""
    dt = np.dtype(dtype)
    if op.endswith("mean") and dt.kind in "iu" and dt.itemsize == 8:
        return False
    return op in ("max", "min", "median", "nanmax", "nanmin") or dt.kind in "biu"


def assert_matches(got, want, op, image, block_size, cval):
    """Same shape and dtype; equal values where ``op`` is exact, else equal to the rounding of a sum."""
    got, want = np.asarray(got), np.asarray(want)
    assert (got.shape, got.dtype) == (want.shape, want.dtype), (got.shape, got.dtype, want.shape, want.dtype)
    if exact(op, image.dtype):
        np.testing.assert_array_equal(got, want)
        return
    magnitude = brute(np.abs(np.asarray(image, dtype=np.float64)), block_size, np.nansum, abs(float(cval)))
    # where partial sums could overflow, whether they do depends on the order of the additions: not compared
    steady = ~(magnitude > np.finfo(got.dtype).max / 4)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & steady], want[~finite & steady])  # NaN and infinities
    block = math.prod(block_shape(block_size, image.ndim))
    if op.endswith("mean"):
        magnitude = magnitude / block
    tol = 4 * block * np.finfo(got.dtype).eps * magnitude + np.finfo(got.dtype).tiny
    with np.errstate(invalid="ignore"):  # (inf - inf where both are inf: not compared here)
        close = np.abs(got.astype(np.float64) - want) <= tol
    assert np.all(close[finite & steady]), (got, want)


def outcome(f, *args, **kwargs):
    """``("ok", result)`` or ``("error", exception type)``."""
    try:
        return "ok", quiet(f, *args, **kwargs)
    except (TypeError, ValueError) as e:
        return "error", type(e)


def quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks, NaN cast to integers
        return f(*args, **kwargs)


# ------------------------------------------------------------------------------------ the fast path


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", FAST)
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_brute_force(backend, op, dtype, case):
    _, shape, block_size, cval = case
    image = values(shape, dtype, seed=len(shape))
    before = image.copy()
    func = BR.NUMPY[op]
    got = quiet(backend.block_reduce, image, block_size, func, cval)
    assert_matches(got, quiet(brute, image, block_size, func, cval), op, image, block_size, cval)
    np.testing.assert_array_equal(image, before)  # the input is never modified


@needs_skimage
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", FAST)
def test_matches_scikit_image(op, dtype, case):
    _, shape, block_size, cval = case
    image = values(shape, dtype, seed=len(shape) + 1)
    func = BR.NUMPY[op]
    got = quiet(sp.block_reduce, image, block_size, func, cval)
    assert_matches(got, quiet(skimage_block_reduce, image, block_size, func, cval), op, image, block_size, cval)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int16", "uint64", "bool"])
@pytest.mark.parametrize("op", FAST)
def test_backends_agree_bit_for_bit(op, dtype, case):
    """The reference backend's block_reduce gives the compiled one's answer bit for bit (signs of zeros too)."""
    _, shape, block_size, cval = case
    image = values(shape, dtype, seed=3)
    got = quiet(sp.block_reduce, image, block_size, BR.NUMPY[op], cval)
    want = quiet(reference.block_reduce, image, block_size, BR.NUMPY[op], cval)
    assert got.dtype == want.dtype
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


ALIASES = [
    (np.amax, "max"), (np.amin, "min"), (np.ndarray.max, "max"), (np.ndarray.min, "min"), (np.ndarray.sum, "sum"),
    (np.ndarray.mean, "mean"), (np.maximum.reduce, "max"), (np.minimum.reduce, "min"), (np.add.reduce, "sum"),
    *[(f, op) for op, f in BR.NUMPY.items()],
]


@pytest.fixture
def spy(monkeypatch):
    """The operations that reached the fast path (``_block_reduce.reduce_blocks``)."""
    seen = []
    real = BR.reduce_blocks

    def reduce_blocks(core, x, block, op):
        seen.append(op)
        return real(core, x, block, op)

    monkeypatch.setattr(BR, "reduce_blocks", reduce_blocks)
    return seen


@pytest.mark.parametrize("func, op", ALIASES, ids=[f"{getattr(f, '__qualname__', f)}-{op}" for f, op in ALIASES])
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_aliases_take_the_fast_path(spy, func, op, dtype):
    image = values((6, 8), dtype, special=False)
    got = sp.block_reduce(image, (2, 4), func)
    assert spy == [op]
    np.testing.assert_array_equal(got, brute(image, (2, 4), BR.NUMPY[op]))
    assert got.dtype == brute(image, (2, 4), BR.NUMPY[op]).dtype


@pytest.mark.parametrize("call", [
    pytest.param(lambda x: sp.block_reduce(x, 2, np.mean, func_kwargs={"dtype": np.float32}), id="func-kwargs"),
    pytest.param(lambda x: sp.block_reduce(x, 2, lambda b, axis: np.max(b, axis=axis)), id="lambda"),
    pytest.param(lambda x: sp.block_reduce(x, 2, np.std), id="std"),
    pytest.param(lambda x: sp.block_reduce(x.astype(complex), 2, np.sum), id="complex"),
    pytest.param(lambda x: sp.block_reduce(x.astype(object), 2, np.max), id="object"),
    pytest.param(lambda x: sp.block_reduce(x[:0], 2, np.max), id="empty"),
    pytest.param(lambda x: sp.block_reduce(x[0, 0], 2, np.max), id="0d"),
])
def test_others_run_as_scikit_image_runs_them(spy, call):
    call(values((6, 8), "float32", special=False))
    assert spy == []


def test_integer_sums_beyond_float64s_exact_range_run_as_scikit_image_does(spy):
    """int64 sums that might not be exact in float64 run in NumPy (wrapping as NumPy's sums wrap; means in
    NumPy's float64 order, scikit-image's bit for bit); small int64 values take the fast path."""
    big = values((6, 6), "int64")
    np.testing.assert_array_equal(sp.block_reduce(big, 3), brute(big, 3, np.sum))
    mean = sp.block_reduce(big, 3, np.mean)
    np.testing.assert_allclose(mean, brute(big, 3, np.mean), rtol=0, atol=16 * np.finfo(float).eps * 2.0**63)
    if skimage_block_reduce is not None:
        np.testing.assert_array_equal(mean, skimage_block_reduce(big, 3, np.mean))
    small = big % 1000
    spy.clear()
    np.testing.assert_array_equal(sp.block_reduce(small, 3, np.sum), brute(small, 3, np.sum))
    assert spy == ["sum"]


def test_means_of_blocks_beyond_the_kernels_divisor(monkeypatch):
    """A block of more cells than the kernels' divisor takes (2**31 - 1) is summed, then divided once."""
    from stridepool import _params as P

    image = values((6, 8), "int32")
    monkeypatch.setattr(P, "MAX_SIZE", 3)
    got = BR.reduce_blocks(sp._core, image, (2, 2), "mean")
    np.testing.assert_array_equal(got, brute(image, 2, np.mean))


@pytest.mark.parametrize("band_bytes", [1, 200, 10**9], ids=["one-block-row", "bands", "one-band"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "uint8", "bool"])
@pytest.mark.parametrize("op", ["max", "min", "sum", "mean", "nansum"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bands(monkeypatch, backend, op, dtype, band_bytes):
    """The kernels run on bands of block rows (a short last band too; float16 means, through float32); the
    result does not depend on them."""
    monkeypatch.setattr(BR, "BAND_BYTES", band_bytes)
    image = values((23, 7, 6), dtype, seed=9)
    for block in [(2, 3, 2), (1, 2, 3), (3, 1, 1)]:
        got = quiet(backend.block_reduce, image, block, BR.NUMPY[op], 2)
        assert_matches(got, quiet(brute, image, block, BR.NUMPY[op], 2), op, image, block, 2)


@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed", "readonly", "nonnative", "list"])
@pytest.mark.parametrize("op", ["max", "min", "sum", "mean", "nanmean"])
def test_layouts(layout, op):
    base = values((9, 10), "float64", seed=5)
    image = {"fortran": np.asfortranarray(base), "strided": np.repeat(base, 2, axis=1)[:, ::2],
             "reversed": base[::-1, ::-1].copy()[::-1, ::-1], "readonly": base.copy(),
             "nonnative": base.astype(">f8"), "list": base.tolist()}[layout]
    if layout == "readonly":
        image.flags.writeable = False
    got = quiet(sp.block_reduce, image, (2, 3), BR.NUMPY[op], 0.5)
    assert_matches(got, quiet(brute, base, (2, 3), BR.NUMPY[op], 0.5), op, base, (2, 3), 0.5)


@pytest.mark.parametrize("cval", [np.nan, -np.inf, 7.5, -0.0], ids=["nan", "-inf", "7.5", "-0"])
@pytest.mark.parametrize("op", FAST)
def test_cval_counts_like_the_image(op, cval):
    """Padded cells are cval: NaN padding is ignored by the nan- reductions, -inf by max."""
    image = values((5, 7), "float32", special=False)
    got = quiet(sp.block_reduce, image, 2, BR.NUMPY[op], cval)
    assert_matches(got, quiet(brute, image, 2, BR.NUMPY[op], cval), op, image, 2, cval)


@needs_skimage
@pytest.mark.parametrize("dtype, cval", [("uint8", -1), ("uint8", 300), ("int16", 2.7), ("int32", np.nan),
                                         ("bool", 3), ("float32", 1e300), ("uint8", [[1, 2], [3, 4]])],
                         ids=["uint8--1", "uint8-300", "int16-2.7", "int32-nan", "bool-3", "f32-1e300", "per-axis"])
@pytest.mark.parametrize("op", ["max", "min", "sum", "mean"])
def test_cval_converted_as_np_pad_converts_it(op, dtype, cval):
    """As np.pad converts it: wrapped, truncated, cast with a warning, or refused (NaN for int32) alike."""
    image = values((5, 7), dtype, special=False)
    got = outcome(sp.block_reduce, image, (2, 3), BR.NUMPY[op], cval)
    want = outcome(skimage_block_reduce, image, (2, 3), BR.NUMPY[op], cval)
    assert got[0] == want[0]
    if got[0] == "error":
        assert got[1] == want[1]
        return
    assert got[1].dtype == want[1].dtype
    np.testing.assert_array_equal(got[1], want[1])


@needs_skimage
@pytest.mark.parametrize("func, kwargs", [
    (np.std, None), (np.ptp, None), (np.prod, None), (np.any, None), (np.var, {"ddof": 1}),
    (np.mean, {"dtype": np.float16}), (np.max, {"keepdims": True}), (np.sum, {"dtype": np.int8}),
    (lambda b, axis: np.percentile(b, 75, axis=axis), None),
], ids=["std", "ptp", "prod", "any", "var-ddof", "mean-float16", "max-keepdims", "sum-int8", "percentile"])
@pytest.mark.parametrize("dtype", ["float32", "uint16", "complex64"])
def test_other_functions_are_scikit_images_bit_for_bit(func, kwargs, dtype):
    image = values((7, 9), "float32" if dtype == "complex64" else dtype, special=False).astype(dtype)
    if func is np.ptp and dtype == "complex64":
        pytest.skip("np.ptp of complex is not defined")
    got = outcome(sp.block_reduce, image, (2, 3), func, 1, kwargs)
    want = outcome(skimage_block_reduce, image, (2, 3), func, 1, kwargs)
    assert got[0] == want[0]
    if got[0] == "error":  # (np.percentile of complex)
        assert got[1] == want[1]
        return
    got, want = got[1], want[1]
    assert (got.dtype, got.shape) == (want.dtype, want.shape)
    assert np.array_equal(np.asarray(got).view(np.uint8), np.asarray(want).view(np.uint8))


@needs_skimage
@pytest.mark.parametrize("image", [np.zeros((0, 5), np.float32), np.zeros((3, 0, 2), np.uint8),
                                   np.array(2.5), np.array(7, np.int16)], ids=["empty-2d", "empty-3d", "0d", "0d-int"])
@pytest.mark.parametrize("func", [np.max, np.sum, np.mean])
def test_empty_and_0d_images(image, func):
    got = quiet(sp.block_reduce, image, 2, func)
    want = quiet(skimage_block_reduce, image, 2, func)
    assert (type(got), np.shape(got), np.asarray(got).dtype) == (type(want), np.shape(want), np.asarray(want).dtype)
    np.testing.assert_array_equal(got, want)


def test_all_nan_blocks_warn_as_numpy_does():
    image = np.full((4, 4), np.nan, np.float32)
    image[0, 0] = 1.0
    with pytest.warns(RuntimeWarning, match="All-NaN"):
        got = sp.block_reduce(image, 2, np.nanmax)
    np.testing.assert_array_equal(got, [[1.0, np.nan], [np.nan, np.nan]])
    with pytest.warns(RuntimeWarning, match="Mean of empty slice"):
        np.testing.assert_array_equal(sp.block_reduce(image, 2, np.nanmean), [[1.0, np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(sp.block_reduce(image, 2, np.nansum), [[1.0, 0.0], [0.0, 0.0]])


def test_min_keeps_nan_and_infinities_in_place():
    x = np.array([[np.inf, -np.inf, np.nan, 1.0], [0.0, -0.0, 2.0, 3.0]], np.float64)
    np.testing.assert_array_equal(sp.block_reduce(x, 2, np.min), [[-np.inf, np.nan]])
    np.testing.assert_array_equal(sp.block_reduce(x, 2, np.nanmin), [[-np.inf, 1.0]])
    i = np.array([[np.iinfo(np.int8).min, 127], [0, -1]], np.int8)
    np.testing.assert_array_equal(sp.block_reduce(i, 2, np.min), [[-128]])
    np.testing.assert_array_equal(sp.block_reduce(i, 2, np.max), [[127]])


def test_result_dtypes_are_numpys():
    u8 = np.zeros((4, 4), np.uint8)
    assert sp.block_reduce(u8, 2).dtype == np.sum(u8).dtype  # uint64 on Linux: NumPy's default unsigned int
    assert sp.block_reduce(u8.astype(np.int8), 2).dtype == np.sum(u8.astype(np.int8)).dtype
    assert sp.block_reduce(u8, 2, np.mean).dtype == np.float64
    assert sp.block_reduce(u8.astype(np.float16), 2, np.mean).dtype == np.float16
    assert sp.block_reduce(u8.astype(bool), 2, np.max).dtype == bool
    assert sp.block_reduce(u8.astype(bool), 2).dtype == np.sum(u8.astype(bool)).dtype


# ------------------------------------------------------------------------------------------ masked


def brute_masked(image, block_size, op, cval=0):
    """Masked reduction by explicit loops: a block's unmasked cells (padding is unmasked cval) reduced by the
    NumPy function (the nan- forms ignore NaN as well); masked where the block has no unmasked cell (and, for
    the mean, as numpy.ma's mean, where it is not finite)."""
    data, mask = np.ma.getdata(image), np.ma.getmaskarray(image)
    block = block_shape(block_size, data.ndim)
    out_shape = tuple(-(-n // b) for n, b in zip(data.shape, block))
    fill = fill_value(cval, data.dtype)
    vals, masks = [], []
    for index in np.ndindex(*out_shape):
        cells = []
        for offset in np.ndindex(*block):
            pos = tuple(i * b + o for i, b, o in zip(index, block, offset))
            if all(p < n for p, n in zip(pos, data.shape)):
                if not mask[pos]:
                    cells.append(data[pos])
            else:
                cells.append(fill)
        value = BR.NUMPY[op](np.array(cells, dtype=data.dtype)) if cells else 0
        # numpy.ma's mean is its sum divided by the count in masked arithmetic, which masks what is not finite
        masks.append(not cells or op == "mean" and not np.isfinite(value))
        vals.append(value)
    return np.array(vals, dtype=np.float64).reshape(out_shape), np.array(masks).reshape(out_shape)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int16", "uint8"])
@pytest.mark.parametrize("op", FAST)
@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_arrays_keep_their_mask(backend, op, dtype):
    data = values((7, 9), dtype, seed=2, special=True)
    mask = np.random.default_rng(4).random(data.shape) < 0.4
    mask[:2, :3] = True  # a whole block masked
    image = np.ma.MaskedArray(data, mask=mask)
    got = quiet(backend.block_reduce, image, (2, 3), BR.NUMPY[op], 1)
    assert isinstance(got, np.ma.MaskedArray)
    want, want_mask = quiet(brute_masked, image, (2, 3), op, 1)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), want_mask)
    assert want_mask[0, 0]
    keep = ~want_mask
    values_got = np.ma.getdata(got)[keep].astype(np.float64)
    if op in ("max", "min", "nanmax", "nanmin") or dtype in ("int16", "uint8") and op in ("sum", "nansum"):
        np.testing.assert_array_equal(values_got, want[keep])
    else:
        np.testing.assert_allclose(values_got, want[keep], rtol=1e-5, atol=1e-5)


def test_masked_results_follow_numpy_ma():
    image = np.ma.MaskedArray(np.arange(16, dtype=np.float32).reshape(4, 4), mask=np.eye(4, dtype=bool))
    assert sp.block_reduce(image, 2, np.max).dtype == np.float32
    assert sp.block_reduce(image, 2, np.mean).dtype == np.ma.mean(image).dtype  # float64, as numpy.ma gives
    got = sp.block_reduce(image, 2, np.std)  # NumPy's std calls MaskedArray.std: honours the mask
    assert isinstance(got, np.ma.MaskedArray)
    assert got[0, 0] == 1.5  # the block's unmasked cells: 1 and 4
    unmasked = np.ma.MaskedArray(np.arange(16.0).reshape(4, 4))
    np.testing.assert_array_equal(sp.block_reduce(unmasked, 2, np.max), [[5, 7], [13, 15]])


def test_a_function_that_drops_the_mask_is_a_type_error():
    image = np.ma.MaskedArray(np.arange(16.0).reshape(4, 4), mask=np.eye(4, dtype=bool))
    with pytest.raises(TypeError, match=r"`func` .* returned ndarray for a masked image"):
        sp.block_reduce(image, 2, lambda b, axis: np.percentile(np.asarray(b), 50, axis=axis))
