# Type stub of the compiled kernels (_kernels_impl.pxi, built as stridepool._kernels and, with AVX2 + FMA,
# stridepool._kernels_avx2, with AVX-512 stridepool._kernels_avx512): what the Python code calls on them. The kernels take flat C-contiguous buffers
# (typed memoryviews: any buffer works; NumPy arrays are what the package passes) and the window table of
# stridepool._params.window_table. Fused kernels are indexed by the C type names of their fused arguments:
# max_pool["float"], avg_pool["int8_t", "double"] (input type, then result type).
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

_Buffer = NDArray[Any]
_Table = NDArray[np.int64]
_K = TypeVar("_K", covariant=True)

class _Fused(Protocol[_K]):
    """A Cython fused function, specialised by indexing."""

    def __getitem__(self, types: str | tuple[str, ...], /) -> _K: ...

class _MaxPool(Protocol):
    # idx: None or int64 positions
    def __call__(self, x: _Buffer, y: _Buffer, idx: _Buffer | None, tab: _Table, dims: tuple[int, ...],
                 num_threads: int, /) -> None: ...

class _Scatter(Protocol):
    # returns 1 when an index lies outside its block (the caller names it), else 0
    def __call__(self, src: _Buffer, idx: NDArray[np.int64], dst: _Buffer, B: int, C: int, add: bool, chunks: int,
                 num_threads: int, /) -> int: ...

class _AvgPool(Protocol):
    def __call__(self, x: _Buffer, y: _Buffer, tab: _Table, dims: tuple[int, ...], count_include_pad: bool,
                 divisor_override: int, num_threads: int, /) -> None: ...

class _AvgPoolBackward(Protocol):
    def __call__(self, gy: _Buffer, gx: _Buffer, tab: _Table, dims: tuple[int, ...], count_include_pad: bool,
                 divisor_override: int, chunks: int, num_threads: int, /) -> None: ...

class _BlockSum(Protocol):
    # block_sum["uint8_t", "uint64_t"] (sums, wrapping) or [..., "double"] (sums / div)
    def __call__(self, x: _Buffer, y: _Buffer, dims: tuple[int, ...], div: float, num_threads: int, /) -> None: ...

class _BlockExtreme(Protocol):
    def __call__(self, x: _Buffer, y: _Buffer, dims: tuple[int, ...], highest: bool, omit: bool, num_threads: int,
                 /) -> None: ...

class _BlockNanSum(Protocol):
    def __call__(self, x: _Buffer, y: _Buffer, dims: tuple[int, ...], mean: bool, empty: float, num_threads: int,
                 /) -> None: ...

class _Fold(Protocol):
    def __call__(self, win: _Buffer, gx: _Buffer, tab: _Table, dims: tuple[int, ...], chunks: int,
                 num_threads: int, /) -> None: ...

HAVE_OPENMP: bool

def cpu_has_avx2() -> bool: ...
def cpu_has_avx512() -> bool: ...

LANES: int
def openmp_max_threads() -> int: ...
def openmp_set_num_threads(n: int) -> None: ...

max_pool: _Fused[_MaxPool]
scatter: _Fused[_Scatter]
avg_pool: _Fused[_AvgPool]
avg_pool_backward: _Fused[_AvgPoolBackward]
fold: _Fused[_Fold]
block_sum: _Fused[_BlockSum]
block_extreme: _Fused[_BlockExtreme]
block_nansum: _Fused[_BlockNanSum]

def plain(obj: object) -> bool: ...
def bind(plans: dict[Any, Plan]) -> None: ...  # the table of plans that lean reads
def lean(nd: int, op: str, x: object, flags: tuple[object, ...], params: tuple[Hashable, ...],
         idx: object = None) -> Any: ...
def forget() -> None: ...  # drop the recent plans (their table was cleared)
def set_cache_limit(nbytes: int) -> None: ...
def cache_info() -> tuple[int, int, int]: ...  # (bytes cached, buffers cached, limit in bytes)
def release_cache() -> int: ...  # bytes freed
def set_ndarray(cls: type[NDArray[Any]]) -> None: ...

CACHE_MIN_BYTES: int

class Block:
    """One result buffer of ``nbytes`` (the base of the NumPy array made on it); back to the cache when freed."""

    def __init__(self, nbytes: int) -> None: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...

class Plan:
    """One validated planar operation, replayed: 0 max, 1 max with indices, 2 max backward, 3 avg,
    4 avg backward."""

    @property
    def op(self) -> int: ...
    def __init__(self, key: tuple[Any, ...], op: int, dtype: np.dtype[Any], table: _Table, dims: tuple[int, ...],
                 count_include_pad: bool, divisor: int, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 multi: bool, empty: Callable[[tuple[int, ...], np.dtype[Any]], NDArray[Any]],
                 idx_dtype: np.dtype[Any], threads: Callable[[], int],
                 check_indices: Callable[[NDArray[Any], int], None]) -> None: ...

class _Module(Protocol):
    """Any build of the kernels (stridepool._kernels, _kernels_avx2, _kernels_avx512) as a value."""

    HAVE_OPENMP: bool
    LANES: int
    max_pool: _Fused[_MaxPool]
    scatter: _Fused[_Scatter]
    avg_pool: _Fused[_AvgPool]
    avg_pool_backward: _Fused[_AvgPoolBackward]
    fold: _Fused[_Fold]
    block_sum: _Fused[_BlockSum]
    block_extreme: _Fused[_BlockExtreme]
    block_nansum: _Fused[_BlockNanSum]
    Plan: type[Plan]
    Block: type[Block]
    CACHE_MIN_BYTES: int

    def cpu_has_avx2(self) -> bool: ...
    def cpu_has_avx512(self) -> bool: ...
    def openmp_max_threads(self) -> int: ...
    def openmp_set_num_threads(self, n: int) -> None: ...
    def plain(self, obj: object) -> bool: ...
    def bind(self, plans: dict[Any, Any]) -> None: ...
    def lean(self, nd: int, op: str, x: object, flags: tuple[object, ...], params: tuple[Hashable, ...],
             idx: object = None) -> Any: ...
    def forget(self) -> None: ...
    def set_cache_limit(self, nbytes: int) -> None: ...
    def cache_info(self) -> tuple[int, int, int]: ...
    def release_cache(self) -> int: ...
    def set_ndarray(self, cls: type[NDArray[Any]]) -> None: ...
