import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/cases.py


def assert_same(got, want):
    """Same dtype, same shape, same values (NaN equal to NaN); a scalar is never broadcast."""
    got, want = np.asarray(got), np.asarray(want)
    # These two checks are what assert_array_equal's `strict=True` does (NumPy >= 1.24 only; the floor is
    # 1.23): with equal shapes nothing can be broadcast, so a 0-d `want` does not match a whole array.
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


@pytest.fixture(name="assert_same")
def _assert_same():
    return assert_same
