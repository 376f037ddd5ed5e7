"""The kernels choose their path by shape: planar max pooling runs on batches of output rows (column maxima
with keys into rows of cells, split by phase at stride 2, then every window of the batch at once; segments of
long rows; keys or none), other windows window by window, channels-last across channels. Every path, on every
build of the kernels this CPU runs, with ties, signed zeros and NaNs of distinct payloads, must give the
reference's values and indices bit for bit (the row-major first maximum)."""
import zlib

import numpy as np
import pytest

import stridepool as sp
from stridepool import reference as ref

BUILDS = ("baseline", "avx2", "avx512")


@pytest.fixture(params=BUILDS)
def build(request):
    """Each build of the compiled kernels in turn (skipped by name where this CPU or install lacks it)."""
    if sp.backend != "compiled":
        pytest.skip("the kernels' builds belong to the compiled backend")
    from stridepool import _compiled

    if not _compiled.cpu_runs(request.param):
        pytest.skip(f"this CPU cannot run the {request.param} build of the kernels")
    try:
        before = _compiled.use_kernels(request.param)
    except ImportError:
        pytest.skip(f"the {request.param} build of the kernels is not installed")
    yield request.param
    _compiled.use_kernels(before)

# (pooled axes, spatial shape, kernel, stride, padding): 2 x 2 at stride 2 on wide and short rows, 3 x 3 at
# strides 1 and 2, many taps (3D, adaptive-like 8 x 8), stride 3, and widths around multiples of the vector
CASES = [
    (2, (6, 70), 2, 2, 0), (2, (6, 28), 2, 2, 0), (2, (7, 67), 3, 1, 1), (2, (7, 67), 3, 2, 1),
    (2, (5, 41), 3, 2, 0), (2, (16, 64), 8, 8, 0), (2, (9, 50), 3, 3, 1), (2, (5, 17), 2, 1, 0),
    (3, (5, 6, 40), 3, 2, 1), (3, (4, 4, 37), 2, 2, 0), (1, (75,), 3, 2, 1),
]


def _rng(case):
    """A generator seeded by the case's text: the same data in every process (hash() of a str is not)."""
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def _data(shape, dtype, kind, rng):
    if kind == "ties":
        return rng.integers(0, 3, shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if kind == "zeros":  # +0.0 and -0.0 compare equal: the first one in row-major order must win
        x = np.where(rng.random(shape) < 0.5, np.copysign(0.0, rng.standard_normal(shape)), -1.0).astype(dtype)
    if kind == "nans":  # NaNs told apart by their payloads: the first one must win
        bits = np.dtype(f"u{np.dtype(dtype).itemsize}")
        nan = np.full(shape, np.nan, dtype)
        nan.view(bits)[...] |= (np.arange(nan.size) % 251 + 1).reshape(shape).astype(bits)
        x = np.where(rng.random(shape) < 0.3, nan, x)
    return x


@pytest.mark.parametrize("nd,spatial,k,s,p", CASES)
@pytest.mark.parametrize("kind", ["random", "ties", "zeros", "nans"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interior_variants_bit_for_bit(nd, spatial, k, s, p, kind, dtype):
    rng = _rng((nd, spatial, k, s, p, kind))
    x = _data((2, 3) + spatial, dtype, kind, rng)
    f, r = getattr(sp, f"max_pool{nd}d"), getattr(ref, f"max_pool{nd}d")
    bits = f"u{np.dtype(dtype).itemsize}"
    y, idx = f(x, k, s, p, return_indices=True)
    ry, ridx = r(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(y.view(bits), ry.view(bits))
    np.testing.assert_array_equal(f(x, k, s, p).view(bits), ry.view(bits))  # without indices too


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64])
def test_interior_variants_integers(dtype):
    rng = np.random.default_rng(3)
    for nd, spatial, k, s, p in CASES:
        x = rng.integers(0, 4, (2, 3) + spatial).astype(dtype)
        f, r = getattr(sp, f"max_pool{nd}d"), getattr(ref, f"max_pool{nd}d")
        y, idx = f(x, k, s, p, return_indices=True)
        ry, ridx = r(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(y, ry)


@pytest.mark.parametrize("nd,spatial,k,s,p", CASES)
@pytest.mark.parametrize("kind", ["ties", "nans"])
def test_layer_on_every_variant(nd, spatial, k, s, p, kind):
    """A MaxPool layer's forward and backward equal the reference's functions bit for bit, on rows wide enough
    for every interior variant."""
    rng = np.random.default_rng(11)
    x = _data((2, 3) + spatial, np.float32, kind, rng)
    layer = getattr(sp, f"MaxPool{nd}d")(k, s, p)
    y = layer.forward(x)
    ry, ridx = getattr(ref, f"max_pool{nd}d")(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(y.view("u4"), ry.view("u4"))
    g = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(g), getattr(ref, f"max_pool{nd}d_backward")(g, ridx, x.shape))


# Small planes: every width from 1 to 40 (rows with fewer windows than a vector has lanes, and around whole
# vectors), heights 1 to 7, the common windows and the odd ones; each case names its geometry.
SMALL = {
    "k2s2": dict(kernel_size=2, stride=2), "k3s2p1": dict(kernel_size=3, stride=2, padding=1),
    "k3s1p1": dict(kernel_size=3, stride=1, padding=1), "k2s1": dict(kernel_size=2, stride=1),
    "k3s3p1": dict(kernel_size=3, stride=3, padding=1), "k2s2ceil": dict(kernel_size=2, stride=2, ceil_mode=True),
    "k2d2": dict(kernel_size=(2, 2), stride=1, dilation=(1, 2)), "k1x3s(1,2)": dict(kernel_size=(1, 3), stride=(1, 2)),
}
DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _small(dtype, kind, rng, shape):
    if np.dtype(dtype).kind != "f":
        return rng.integers(0, 3, shape).astype(dtype)  # ties everywhere
    return _data(shape, dtype, kind, rng)


@pytest.mark.parametrize("geometry", list(SMALL))
@pytest.mark.parametrize("dtype,kind", [(d, "ties") for d in DTYPES]
                         + [(d, k) for d in ("float32", "float64") for k in ("random", "zeros", "nans")])
def test_small_planes_every_width(build, geometry, dtype, kind):
    kw = SMALL[geometry]
    rng = _rng((geometry, dtype, kind))
    bits = f"u{np.dtype(dtype).itemsize}"
    for h in (1, 2, 3, 5, 7):
        for w in range(1, 41):
            x = _small(dtype, kind, rng, (3, 2, h, w))
            try:
                ry, ridx = ref.max_pool2d(x, return_indices=True, **kw)
            except ValueError:  # no such pooling for this size
                continue
            y, idx = sp.max_pool2d(x, return_indices=True, **kw)
            where = f"{geometry} {h}x{w} {dtype} {kind} ({build})"
            np.testing.assert_array_equal(y.view(bits), ry.view(bits), err_msg=where)
            np.testing.assert_array_equal(idx, ridx, err_msg=where)
            np.testing.assert_array_equal(sp.max_pool2d(x, **kw).view(bits), ry.view(bits), err_msg=where)


@pytest.mark.parametrize("nd,spatial,k,s,p", CASES + [(1, (3000,), 3, 2, 1), (1, (2100,), 2, 2, 0),
                                                      (2, (3, 2500), 3, 1, 1)], ids=str)
@pytest.mark.parametrize("kind", ["ties", "zeros", "nans"])
def test_every_build_bit_for_bit(build, nd, spatial, k, s, p, kind):
    """The cases above (and rows long enough to be cut into segments of windows) on every build: values,
    positions, and a layer's window taps."""
    rng = np.random.default_rng(7)
    x = _data((2, 2) + spatial, np.float64 if kind == "zeros" else np.float32, kind, rng)
    bits = f"u{x.dtype.itemsize}"
    f, r = getattr(sp, f"max_pool{nd}d"), getattr(ref, f"max_pool{nd}d")
    y, idx = f(x, k, s, p, return_indices=True)
    ry, ridx = r(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(y.view(bits), ry.view(bits))
    np.testing.assert_array_equal(f(x, k, s, p).view(bits), ry.view(bits))
    layer = getattr(sp, f"MaxPool{nd}d")(k, s, p)
    np.testing.assert_array_equal(layer.forward(x).view(bits), ry.view(bits))
    g = rng.standard_normal(y.shape).astype(x.dtype)
    np.testing.assert_array_equal(layer.backward(g), getattr(ref, f"max_pool{nd}d_backward")(g, ridx, x.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_build_every_dtype(build, dtype):
    rng = np.random.default_rng(5)
    for nd, spatial, k, s, p in CASES:
        x = _small(dtype, "ties", rng, (2, 3) + spatial)
        f, r = getattr(sp, f"max_pool{nd}d"), getattr(ref, f"max_pool{nd}d")
        y, idx = f(x, k, s, p, return_indices=True)
        ry, ridx = r(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(idx, ridx, err_msg=str((nd, spatial, k, s, p)))
        np.testing.assert_array_equal(y, ry, err_msg=str((nd, spatial, k, s, p)))


# average pooling: the small-plane geometries, and for the phases (1D and 2D windows regular along H and W, any
# overlap and padding) strides that differ per axis, windows wider than their stride, clipped ceil_mode windows
AVG = dict({name: kw for name, kw in SMALL.items() if "dilation" not in kw}, **{
    "k5s2p2ceil": dict(kernel_size=5, stride=2, padding=2, ceil_mode=True),
    "k(3,2)s(2,1)p(1,0)ceil": dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True),
    "k(4,3)s(3,2)p(2,1)ceil": dict(kernel_size=(4, 3), stride=(3, 2), padding=(2, 1), ceil_mode=True),
})


@pytest.mark.parametrize("geometry", list(AVG))
@pytest.mark.parametrize("options", [{}, dict(count_include_pad=False), dict(divisor_override=3)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16", "uint8", "int64"])
def test_small_planes_average_every_width(build, geometry, options, dtype):
    """Average pooling's phases, tiles and batched rows: every width from 1 to 40, bit for bit with the reference
    (the same row-major summation from +0, the same divisors); signed zeros and infinities among the values."""
    kw = dict(AVG[geometry], **options)
    rng = _rng((geometry, str(options), dtype))
    for shape, _ in _avg_planes(kw, (1, 2, 3, 5, 7)):
        if np.dtype(dtype).kind == "f":
            x = rng.standard_normal(shape).astype(dtype)
            x[rng.random(shape) < 0.1] = -0.0
            x[rng.random(shape) < 0.02] = np.inf
        else:
            x = rng.integers(0, 100, shape).astype(dtype)
        _same_bits(sp.avg_pool2d(x, **kw), ref.avg_pool2d(x, **kw), f"{geometry} {options} {shape} {dtype} ({build})")


def _avg_planes(kw, heights):
    """(input shape, output shape) of every plane of the given heights and of widths 1 to 40 that the average
    pooling ``kw`` takes (the reference refuses the others)."""
    for h in heights:
        for w in range(1, 41):
            shape = (3, 2, h, w)
            try:
                yield shape, ref.avg_pool2d(np.zeros(shape, np.float32), **kw).shape
            except ValueError:  # no such pooling for this size
                continue


def _same_bits(got, want, where):
    assert got.dtype == want.dtype, where
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"), err_msg=where)


@pytest.mark.parametrize("nd,spatial,k,s,p", [c for c in CASES if c[2] * c[3] < 60] + [(1, (3000,), 3, 2, 1)], ids=str)
def test_every_build_average_bit_for_bit(build, nd, spatial, k, s, p):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2) + spatial).astype(np.float32)
    f, r = getattr(sp, f"avg_pool{nd}d"), getattr(ref, f"avg_pool{nd}d")
    for options in ({}, dict(count_include_pad=False)):
        np.testing.assert_array_equal(f(x, k, s, p, **options).view("u4"), r(x, k, s, p, **options).view("u4"))


@pytest.mark.parametrize("geometry", list(AVG))
@pytest.mark.parametrize("options", [{}, dict(count_include_pad=False), dict(divisor_override=3)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16"])
def test_small_planes_average_backward_every_width(build, geometry, options, dtype):
    """Average pooling's backward, every width from 1 to 40: bit for bit with the reference's np.add.at (each
    element's shares added from +0 in the scatter's order); signed zeros among the gradients."""
    kw = dict(AVG[geometry], **options)
    rng = _rng((geometry, str(options), dtype, "back"))
    for shape, out_shape in _avg_planes(kw, (1, 2, 3, 5, 8)):
        if np.dtype(dtype).kind == "f":
            g = rng.standard_normal(out_shape).astype(dtype)
            g[rng.random(out_shape) < 0.1] = -0.0
        else:
            g = rng.integers(-50, 50, out_shape).astype(dtype)
        _same_bits(sp.avg_pool2d_backward(g, shape, **kw), ref.avg_pool2d_backward(g, shape, **kw),
                   f"{geometry} {options} {shape} {dtype} ({build})")


def test_average_backward_worked_by_hand(build):
    """Windows of 3 at stride 2 with padding 1 over 5 elements start at -1, 1, 3: element 1 takes windows 0
    and 1, element 3 windows 1 and 2. Gradients of -0.0 give +0.0 (added to zeros), as the scatter gives."""
    g = np.array([[1.0, 2.0, 4.0]], np.float32)
    got = sp.avg_pool1d_backward(g, (1, 5), 3, 2, 1, divisor_override=1)
    np.testing.assert_array_equal(got, [[1, 3, 2, 6, 4]])
    got = sp.avg_pool2d_backward(np.full((1, 1, 2, 3), -0.0), (1, 1, 4, 5), 3, 2, 1)
    np.testing.assert_array_equal(np.signbit(got), np.zeros((1, 1, 4, 5), bool))
    got = sp.avg_pool2d_backward(np.ones((1, 1, 2, 3)), (1, 1, 4, 5), 3, 2, 1, divisor_override=1)
    np.testing.assert_array_equal(got[0, 0], [[1, 2, 1, 2, 1], [2, 4, 2, 4, 2], [1, 2, 1, 2, 1], [1, 2, 1, 2, 1]])


@pytest.mark.parametrize("dtype", ["uint32", "float32", "float64", "int8"])
def test_dilated_rows_clipped_at_the_end_read_inside(dtype):
    """Dilated windows whose last output row is clipped by the input's end: an earlier output row reads rows
    further down than the last one, so the batches' whole-vector reads must be bounded over every output row
    (an overread here was found by the sanitizer run on a dask block of this shape)."""
    x = (np.arange(30) % 7).astype(dtype).reshape(1, 5, 6)
    for kw in (dict(kernel_size=3, stride=1, padding=(1, 0), dilation=2), dict(kernel_size=3, stride=1, dilation=(2, 1))):
        got, gi = sp.max_pool2d(x, return_indices=True, **kw)
        want, wi = ref.max_pool2d(x, return_indices=True, **kw)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(gi, wi)


# block_reduce's block kernels (windows = strides = the block, no padding): pairs of float columns in vectors
# (2-wide blocks), other blocks tap by tap, channels after the blocks; integer sums wrap as NumPy's do
BLOCKS = [((2, 2), (0, 1)), ((1, 2), (0, 1)), ((2, 3), (0, 1)), ((3, 1), (0, 1)), ((2, 2, 2), (0, 1, 2)),
          ((2,), (1,)), ((2, 2), (0, 2))]


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 40, 80])
@pytest.mark.parametrize("kind", ["random", "ties", "zeros", "nans"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["max", "min"])
def test_block_extremes_bit_for_bit(build, op, dtype, kind, width):
    from stridepool import _compiled, _reference

    rng = np.random.default_rng(width * 7 + len(kind))
    bits = f"u{np.dtype(dtype).itemsize}"
    for block, ax in BLOCKS:
        shape = [4, 5, width + 3] if len(block) == 3 or ax == (0, 2) else [4, width + 3]
        if ax == (1,):
            shape = [3, 2 * width + 1]
        x = _data(tuple(shape), dtype, kind, rng)
        got = _compiled.run_block_extreme(x, ax, block, op)
        want = _reference.run_block_extreme(x, ax, block, op)
        np.testing.assert_array_equal(got.view(bits), want.view(bits))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_block_sums_and_extremes_of_integers(build, dtype):
    from stridepool import _compiled, _reference

    rng = np.random.default_rng(5)
    info = np.iinfo(dtype)
    sum_dtype = np.dtype(np.int64 if info.min < 0 else np.uint64)
    for width in (1, 2, 5, 16, 17, 33, 64):
        for block, ax in BLOCKS:
            shape = (4, 5, width + 3) if len(block) == 3 or ax == (0, 2) else (4, width + 3)
            x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)  # the sums wrap in 64 bits
            for op in ("max", "min"):
                np.testing.assert_array_equal(_compiled.run_block_extreme(x, ax, block, op),
                                              _reference.run_block_extreme(x, ax, block, op))
            got = _compiled.run_block_sum(x, ax, block, sum_dtype)
            assert got.dtype == sum_dtype
            np.testing.assert_array_equal(got, _reference.run_block_sum(x, ax, block, sum_dtype))
            small = x % 100  # a mean's sums stay exact in float64
            np.testing.assert_array_equal(_compiled.run_block_sum(small, ax, block, np.dtype(np.float64)),
                                          _reference.run_block_sum(small, ax, block, np.dtype(np.float64)))


def test_block_sum_worked_by_hand():
    from stridepool import _compiled

    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.int8)
    np.testing.assert_array_equal(_compiled.run_block_sum(x, (0, 1), (2, 2), np.dtype(np.int64)), [[14, 22]])
    np.testing.assert_array_equal(_compiled.run_block_sum(x, (0, 1), (2, 2), np.dtype(np.float64)), [[3.5, 5.5]])
    big = np.full((2, 2), 2**63 - 1, dtype=np.int64)  # wraps as np.sum wraps: 4 * (2**63 - 1) mod 2**64
    np.testing.assert_array_equal(_compiled.run_block_sum(big, (0, 1), (2, 2), np.dtype(np.int64)), [[-4]])
    m = np.array([[3.0, np.nan, 1.0, -0.0], [2.0, 1.0, 0.0, 5.0]], dtype=np.float32)
    np.testing.assert_array_equal(_compiled.run_block_extreme(m, (0, 1), (2, 2), "min"), [[np.nan, -0.0]])
    assert np.signbit(_compiled.run_block_extreme(m, (0, 1), (2, 2), "min")[0, 1])  # the first of -0.0, 0.0
    np.testing.assert_array_equal(_compiled.run_block_extreme(m, (0, 1), (2, 2), "max"), [[np.nan, 5.0]])


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 9, 16, 17, 33, 80])
@pytest.mark.parametrize("kind", ["random", "zeros", "nans", "allnan"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_nan_ignoring_bit_for_bit(build, dtype, kind, width):
    """NaN-ignoring block maxima, minima, sums and means: the windowed family's nan_policy="omit" composition's
    bits (the reference's), NaN payloads of every kind, blocks of NaN only among them."""
    from stridepool import _compiled, _reference

    rng = np.random.default_rng(width * 11 + len(kind))
    bits = f"u{np.dtype(dtype).itemsize}"
    for block, ax in BLOCKS:
        shape = (4, 5, width + 3) if len(block) == 3 or ax == (0, 2) else (4, width + 3)
        x = _data(shape, dtype, "nans" if kind == "allnan" else kind, rng)
        if kind == "allnan":  # whole blocks of NaN
            x[:2] = np.nan
        for op in ("nanmax", "nanmin"):
            got = _compiled.run_block_extreme(x, ax, block, op)
            np.testing.assert_array_equal(got.view(bits), _reference.run_block_extreme(x, ax, block, op).view(bits))
        for mean in (False, True):
            got = _compiled.run_block_nansum(x, ax, block, mean)
            want = _reference.run_block_nansum(x, ax, block, mean)
            np.testing.assert_array_equal(got.view(bits), want.view(bits), err_msg=f"mean={mean} {block} {ax}")


def test_block_nan_ignoring_worked_by_hand():
    from stridepool import _compiled

    x = np.array([[np.nan, 2.0, np.nan, np.nan], [1.0, np.nan, np.nan, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(_compiled.run_block_extreme(x, (0, 1), (2, 2), "nanmax"), [[2.0, np.nan]])
    np.testing.assert_array_equal(_compiled.run_block_extreme(x, (0, 1), (2, 2), "nanmin"), [[1.0, np.nan]])
    np.testing.assert_array_equal(_compiled.run_block_nansum(x, (0, 1), (2, 2), True), [[1.5, np.nan]])
    np.testing.assert_array_equal(_compiled.run_block_nansum(x, (0, 1), (2, 2), False), [[3.0, 0.0]])


# float32 blocks of 49, 49, 98 and 1 152 KiB: the last above the 1 MiB that are zeroed at once
@pytest.mark.parametrize("spatial,C", [((7, 7), 256), ((14, 14), 64), ((28, 28), 32), ((64, 64), 72)], ids=str)
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 1, 1)])
def test_channels_last_scatter_blocks_small_and_large(build, spatial, C, k, s, p):
    """Max pooling's channels-last backward zeroes a block that stays in cache (up to 1 MiB) before the
    scatter and checks each index as it uses it, a larger one progressively (one check pass per position):
    both give the reference's sums (overlapping windows add in row-major order), and both refuse an index
    outside the block, however far (negative, just past the end, past 2**32)."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2,) + spatial + (C,)).astype(np.float32)  # ties: the first maximum's index
    y, idx = sp.max_pool2d(x, k, s, p, return_indices=True, axes=(1, 2))
    g = rng.standard_normal(y.shape).astype(np.float32)
    got = sp.max_pool2d_backward(g, idx, x.shape, axes=(1, 2))
    want = ref.max_pool2d_backward(g, idx, x.shape, axes=(1, 2))
    np.testing.assert_array_equal(got.view("u4"), want.view("u4"))
    n = spatial[0] * spatial[1]
    for bad in (-1, n, 2**32 + 1):
        wrong = idx.copy()
        wrong[1, -1, -1, C // 2] = bad
        with pytest.raises(ValueError, match=r"`indices` must lie in"):
            sp.max_pool2d_backward(g, wrong, x.shape, axes=(1, 2))
