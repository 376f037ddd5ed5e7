"""block_reduce on dask arrays: lazy, any chunking, equal to the in-memory call.

The operations with a fast path (max, min, sum, mean, median and the nan- forms) give the in-memory answer
bit for bit on every chunking (a block's cells are reduced in the same order wherever it lies), except means
of 64-bit integers whose sums leave float64's exact range and float16 sums (NumPy's, to rounding); other
functions to rounding (NumPy's order over a strided view depends on its shape). Chunks that are multiples of
the block are used as they are (no rechunk, no halo); others are rechunked to such multiples. Errors are the
in-memory call's, at the call (the error table of test_errors.py runs with dask images in test_dask.py).
"""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import stridepool as sp  # noqa: E402
from stridepool import _block_reduce as BR  # noqa: E402
from stridepool import reference  # noqa: E402

from test_block_reduce import values  # noqa: E402
from test_dask import _bomb  # noqa: E402

BACKENDS = [pytest.param(sp, id="active"), pytest.param(reference, id="reference")]

# (id, shape, block_size, chunks)
CHUNKINGS = [
    ("one-chunk", (13, 17), (2, 3), -1),
    ("multiples", (13, 17), (2, 3), (4, 6)),
    ("odd", (13, 17), (2, 3), (5, 7)),
    ("ones", (13, 17), (2, 3), 1),
    ("uneven", (13, 17), (2, 3), ((3, 1, 6, 3), (2, 9, 1, 5))),
    ("smaller-than-block", (13, 17), (4, 5), 3),
    ("3d", (5, 12, 10), (1, 3, 2), (2, 5, 4)),
    ("1d", (29,), 4, 6),
    ("4d", (4, 5, 6, 3), 2, 3),
]


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def same(got, want):
    """Bit for bit (the sign of a zero too); NaN where NaN (its sign and payload carry no meaning)."""
    got, want = np.asarray(got), np.asarray(want)
    assert (got.shape, got.dtype) == (want.shape, want.dtype)
    if got.dtype.kind == "f":
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan)
        got, want = got[~nan], want[~nan]
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("chunking", CHUNKINGS, ids=[c[0] for c in CHUNKINGS])
@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "int64", "bool"])
@pytest.mark.parametrize("op", list(BR.NUMPY))
@pytest.mark.parametrize("backend", BACKENDS)
def test_equals_the_in_memory_call_bit_for_bit(backend, op, dtype, chunking):
    _, shape, block, chunks = chunking
    image = values(shape, dtype, seed=11)
    x = da.from_array(image, chunks=chunks)
    cval = np.nan if op.startswith("nan") and dtype.startswith("float") else 2
    with _no_check():
        got = backend.block_reduce(x, block, BR.NUMPY[op], cval)
        assert isinstance(got, da.Array)
        computed = got.compute()
        want = backend.block_reduce(image, block, BR.NUMPY[op], cval)
    if op.endswith("mean") and dtype == "int64":  # sums past 2**53: NumPy's float64 mean, in its order
        assert computed.dtype == want.dtype
        np.testing.assert_allclose(computed, want, rtol=0, atol=2.0**63 * 1e-15)
    elif op in ("sum", "nansum", "nanmean") and dtype == "float16":  # NumPy's float16 sums, in its order
        assert computed.dtype == want.dtype
        np.testing.assert_allclose(computed, want, rtol=1e-2, atol=0.1)
    else:
        same(computed, want)
    blocks = _block(block, len(shape))
    assert got.chunks == tuple(tuple(-(-c // b) for c in cs) for cs, b in zip(_multiples(x.chunks, blocks), blocks))


class _no_check:
    """A context that lets RuntimeWarnings (all-NaN blocks) pass without failing the test."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _block(block, ndim):
    return block if isinstance(block, tuple) else (block,) * ndim


def _multiples(chunks, block):
    """The chunking block_reduce computes on: edges moved down to multiples of the block."""
    from stridepool import _dask

    return _dask._whole_blocks_chunks(chunks, block)


def test_chunks_that_hold_whole_blocks_are_not_rechunked():
    image = values((64, 60), "float32")
    x = da.from_array(image, chunks=(16, 20))
    y = sp.block_reduce(x, (4, 5), np.mean)
    assert not any("rechunk" in name for name in y.dask.layers)
    assert y.chunks == ((4, 4, 4, 4), (4, 4, 4))
    assert y.npartitions == x.npartitions  # one task per chunk: no halos, nothing moved
    same(y.compute(), sp.block_reduce(image, (4, 5), np.mean))


def test_rechunking_moves_edges_down_to_multiples():
    from stridepool import _dask

    assert _dask._whole_blocks_chunks(((5, 5, 5),), (2,)) == ((4, 6, 5),)
    assert _dask._whole_blocks_chunks(((1, 1, 1, 1, 1),), (2,)) == ((2, 2, 1),)
    assert _dask._whole_blocks_chunks(((3, 3),), (4,)) == ((6,),)
    assert _dask._whole_blocks_chunks(((4, 4, 3),), (4,)) == ((4, 4, 3),)
    assert _dask._whole_blocks_chunks(((0,),), (3,)) == ((0,),)


@pytest.mark.parametrize("func", [np.std, lambda b, axis: np.percentile(b, 30, axis=axis)], ids=["std", "percentile"])
@pytest.mark.parametrize("chunks", [(4, 6), (5, 7)], ids=["multiples", "odd"])
def test_other_functions_equal_the_in_memory_call_to_rounding(func, chunks):
    image = values((13, 17), "float64", special=False)
    got = sp.block_reduce(da.from_array(image, chunks=chunks), (2, 3), func, 1).compute()
    np.testing.assert_allclose(got, sp.block_reduce(image, (2, 3), func, 1), rtol=1e-12, atol=1e-12)


def test_func_kwargs():
    image = values((13, 17), "uint8")
    got = sp.block_reduce(da.from_array(image, chunks=5), 2, np.mean, func_kwargs={"dtype": np.float32})
    assert got.dtype == np.float32
    same(got.compute(), sp.block_reduce(image, 2, np.mean, func_kwargs={"dtype": np.float32}))


@pytest.mark.parametrize("op", ["max", "mean", "nanmean", "median", "std"])
def test_masked_blocks_are_honoured(op):
    data = values((13, 17), "float32", seed=3)
    image = np.ma.MaskedArray(data, mask=np.random.default_rng(1).random(data.shape) < 0.3)
    func = BR.NUMPY.get(op, np.std)
    x = da.from_array(image, chunks=(4, 6))
    got = sp.block_reduce(x, (2, 3), func, 1)
    assert isinstance(got._meta, np.ma.MaskedArray)
    with _no_check():
        computed, want = got.compute(), sp.block_reduce(image, (2, 3), func, 1)
    assert isinstance(computed, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(computed), np.ma.getmaskarray(want))
    np.testing.assert_allclose(computed.filled(0), want.filled(0), rtol=1e-6)


def test_nothing_is_computed_at_the_call():
    x = _bomb(np.zeros((16, 16), np.float32), 4)
    for func in (np.max, np.min, np.sum, np.mean, np.nanmean, np.median, np.std):
        y = sp.block_reduce(x, 3, func, cval=np.nan)
        assert isinstance(y, da.Array) and y.shape == (6, 6)
    with pytest.raises(AssertionError, match="a block was computed"):
        y.compute()


def test_a_function_that_does_not_reduce_blocks_is_refused_at_the_call():
    x = _bomb(np.zeros((16, 16), np.float32), 4)
    with pytest.raises(ValueError, match=r"`func` must reduce each block to one value for a dask image: it gave "
                                         r"shape \(\) for one block of shape \(1, 1\)"):
        sp.block_reduce(x, 2, lambda b, axis: np.max(b))


def test_unknown_chunk_sizes_are_a_value_error():
    x = da.from_array(np.arange(64.0).reshape(8, 8), chunks=4)
    with pytest.raises(ValueError, match=r"`image` is a dask array with unknown chunk sizes"):
        sp.block_reduce(x[x[:, 0] > 10], 2)


def test_threaded_scheduler_and_one_kernel_thread_per_block():
    image = values((256, 300), "float32", seed=4, special=False)
    x = da.from_array(image, chunks=(64, 60))
    for func in (np.max, np.min, np.mean, np.nansum):
        with dask.config.set(scheduler="threads"):
            got = sp.block_reduce(x, (4, 3), func).compute()
        same(got, sp.block_reduce(image, (4, 3), func))
