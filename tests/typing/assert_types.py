"""What type checkers see of the public API: ``assert_type`` on every overload, and calls they must refuse.

Checked by ``mypy --strict`` (tests/typing/test_typing.py), never imported by the tests. A line ending in
``# type: ignore[code]`` must be an error of that code: under ``--strict`` an ignore that silences nothing is
itself an error (``warn_unused_ignores``), so each such line asserts that mypy refuses the call.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

import stridepool as sp
from stridepool import reference

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

Array = NDArray[Any]
Indexed = tuple[NDArray[Any], NDArray[np.int64]]
x = np.zeros((1, 4, 4, 4))
flag: bool = bool(x.size)

# max pooling: return_indices picks the result, by keyword or by position; a plain bool gives either
assert_type(sp.max_pool2d(x, 2), Array)
assert_type(sp.max_pool2d(x, 2, return_indices=False), Array)
assert_type(sp.max_pool2d(x, 2, return_indices=True), Indexed)
assert_type(sp.max_pool2d(x, 2, 2, 0, 1, False, True), Indexed)
assert_type(sp.max_pool2d(x, 2, 2, 0, 1, False, False), Array)
assert_type(sp.max_pool2d(x, 2, return_indices=flag), Array | Indexed)
assert_type(sp.max_pool1d([1.0, 2.0, 3.0], 2, return_indices=True), Indexed)
assert_type(sp.max_pool3d(x, (1, 2, 2), (1, 1, 1), ((0, 0), 1, (1, 0)), return_indices=True), Indexed)
assert_type(reference.max_pool2d(x, 2, return_indices=True), Indexed)
assert_type(reference.max_pool2d(x, 2), Array)
assert_type(sp.adaptive_max_pool2d(x, (2, None)), Array)
assert_type(sp.adaptive_max_pool2d(x, 2, return_indices=True), Indexed)
assert_type(sp.adaptive_max_pool3d(x, 2, True), Indexed)
assert_type(sp.adaptive_max_pool1d(x, 2, return_indices=flag), Array | Indexed)
assert_type(reference.adaptive_max_pool2d(x, 2, return_indices=True), Indexed)

# min pooling: max pooling's overloads; nan_policy on the windowed family
assert_type(sp.min_pool2d(x, 2), Array)
assert_type(sp.min_pool2d(x, 2, return_indices=True), Indexed)
assert_type(sp.min_pool1d(x, 2, 2, 0, 1, False, True, nan_policy="omit"), Indexed)
assert_type(sp.min_pool3d(x, 2, return_indices=flag, nan_policy="propagate"), Array | Indexed)
assert_type(reference.min_pool2d(x, 2, return_indices=True, nan_policy="omit"), Indexed)
assert_type(sp.max_pool2d(x, 2, return_indices=True, nan_policy="omit"), Indexed)
assert_type(sp.avg_pool1d(x, 2, nan_policy="omit"), Array)
m, midx = sp.min_pool2d(x, 2, return_indices=True, nan_policy="omit")
assert_type(sp.min_pool2d_backward(m, midx, x.shape, nan_policy="omit"), Array)
assert_type(sp.max_pool3d_backward(m, midx, x.shape, nan_policy="omit", axes=(1, 2, 3)), Array)
assert_type(sp.avg_pool2d_backward(sp.avg_pool2d(x, 2), x.shape, 2, nan_policy="omit", x=x), Array)

# the other functions return one array
y, idx = sp.max_pool2d(x, 2, return_indices=True)
assert_type(sp.max_pool2d_backward(y, idx, x.shape), Array)
assert_type(sp.avg_pool2d(x, 2, padding="same", divisor_override=3), Array)
assert_type(sp.avg_pool3d_backward(x, (1, 8, 8, 8), 2), Array)
assert_type(sp.adaptive_avg_pool1d(x, None), Array)
assert_type(sp.adaptive_avg_pool2d_backward(x, (1, 4, 8, 8)), Array)
assert_type(sp.max_unpool2d(y, idx, 2, output_size=(4, 4)), Array)
assert_type(sp.unfold1d(x, 2, axes=1), Array)
assert_type(sp.fold3d(np.zeros((1, 2, 2, 2, 2, 2, 2)), (1, 3, 3, 3)), Array)
assert_type(sp.block_reduce(x), Array)
assert_type(sp.block_reduce(x, (1, 1, 2, 2), np.max, cval=-np.inf, func_kwargs={"keepdims": False}), Array)
assert_type(reference.block_reduce(x, 2, np.nanmean, np.nan), Array)

# layers
assert_type(sp.MaxPool2d(2).forward(x), Array)
assert_type(sp.MaxPool2d(2)(x), Array)
assert_type(sp.MaxPool2d(2).backward(x), Array)
assert_type(sp.AvgPool3d(2, padding=((0, 1), 1, 1)).forward(x), Array)
assert_type(sp.AdaptiveAvgPool1d(None, axes=1)(x), Array)
assert_type(sp.MaxUnpool2d(2).forward(y, idx, (1, 4, 4, 4)), Array)
assert_type(sp.Pooling2D("avg", (2, 2), (4, 4, 4)).forward(x[0]), Array)
assert_type(sp.get_num_threads(), int)
assert_type(sp.kernels, str | None)
assert_type(sp.backend, str)

# calls a type checker refuses: the sizes of the wrong number of axes, unknown padding names, wrong arguments
sp.max_pool2d(x, (2, 2, 2))  # type: ignore[arg-type]
sp.max_pool2d(x, 2, padding="full")  # type: ignore[call-overload]
sp.max_pool1d(x, 2, axes=(1, 2))  # type: ignore[arg-type]
sp.avg_pool3d(x, (2, 2))  # type: ignore[arg-type]
sp.adaptive_avg_pool2d(x, (2, 2, 2))  # type: ignore[arg-type]
sp.avg_pool2d(x, 2, out=[0.0])  # type: ignore[arg-type]
sp.max_pool2d_backward(y, idx)  # type: ignore[call-arg]
sp.MaxPool2d((2, 2, 2))  # type: ignore[arg-type]
sp.MaxUnpool2d(2).forward(y)  # type: ignore[call-arg]
sp.Pooling2D("min", (2, 2), (4, 4, 4))  # type: ignore[arg-type]
sp.set_num_threads(1.5)  # type: ignore[arg-type]
sp.block_reduce(x, 2.5)  # type: ignore[arg-type]
sp.block_reduce(x, 2, np.max, 0, [("dtype", float)])  # type: ignore[arg-type]
values, indices, extra = sp.max_pool2d(x, 2, return_indices=True)  # type: ignore[misc]
sp.min_pool2d(x, 2, nan_policy="raise")  # type: ignore[call-overload]
sp.avg_pool2d(x, 2, nan_policy="ignore")  # type: ignore[arg-type]
sp.min_pool2d_backward(m, midx, x.shape, nan_policy=True)  # type: ignore[arg-type]
sp.avg_pool2d_backward(x, x.shape, 2, x={"x": 1})  # type: ignore[arg-type]
