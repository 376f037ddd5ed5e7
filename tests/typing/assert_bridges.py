"""What type checkers see of the JAX and autograd bridges: ``assert_type`` on their overloads, as
``assert_types.py`` does for the NumPy API. Checked by ``mypy --strict`` (tests/typing/test_typing.py), never
imported by the tests, so neither framework is needed to run the suite. Where jax or autograd is not installed,
mypy takes the framework as ``Any`` (pyproject.toml) and the bridge's own annotations are still checked.
stridepool.torch is checked against torch's types where torch is installed (it is left out elsewhere).
"""
from __future__ import annotations

import sys
from typing import Any

import jax
import numpy as np
from numpy.typing import NDArray

import stridepool.autograd as spa
import stridepool.jax as spj

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

x = np.zeros((1, 4, 4, 4))
flag: bool = bool(x.size)

# autograd: the NumPy API's types (NumPy arrays in and out), the same overloads
Array = NDArray[Any]
Indexed = tuple[NDArray[Any], NDArray[np.int64]]
assert_type(spa.max_pool2d(x, 2), Array)
assert_type(spa.max_pool2d(x, 2, return_indices=True), Indexed)
assert_type(spa.max_pool2d(x, 2, return_indices=flag), Array | Indexed)
assert_type(spa.adaptive_max_pool3d(x, 2, True), Indexed)
y, idx = spa.max_pool2d(x, 2, return_indices=True)
assert_type(spa.max_pool2d_backward(y, idx, x.shape), Array)
assert_type(spa.avg_pool2d(x, 2, axes=(1, 2)), Array)
assert_type(spa.fold2d(spa.unfold2d(x, 2), x.shape), Array)
spa.max_pool2d(x, (2, 2, 2))  # type: ignore[arg-type]

# JAX: jax.Array in and out; indices are JAX arrays too (int32 or int64)
xj = jax.numpy.zeros((1, 4, 4, 4))
JIndexed = tuple[jax.Array, jax.Array]
assert_type(spj.max_pool2d(xj, 2), jax.Array)
assert_type(spj.max_pool2d(xj, 2, return_indices=True), JIndexed)
assert_type(spj.max_pool2d(xj, 2, 2, 0, 1, False, True), JIndexed)
assert_type(spj.max_pool2d(xj, 2, return_indices=flag), jax.Array | JIndexed)
assert_type(spj.adaptive_max_pool2d(xj, 2, return_indices=True), JIndexed)
yj, idxj = spj.max_pool2d(xj, 2, return_indices=True)
assert_type(spj.max_pool2d_backward(yj, idxj, xj.shape), jax.Array)
assert_type(spj.avg_pool3d(xj, 2), jax.Array)
assert_type(spj.unfold1d(xj, 2, axes=1), jax.Array)
assert_type(spj.mechanism, str)
