"""stridepool: fast max and average pooling for NumPy, forward and backward, in 1, 2 and 3 dimensions.

Max and average pooling with strides, padding, dilation and channels, adaptive (and global) pooling, max
unpooling, and unfold/fold (every window added back where it came from), with PyTorch's semantics; compiled
kernels, a pure-NumPy reference with bit-identical answers, and dask arrays larger than memory.

Examples
--------
>>> import numpy as np
>>> import stridepool as sp
>>> x = np.arange(16.0).reshape(1, 4, 4)
>>> y, idx = sp.max_pool2d(x, 2, return_indices=True)
>>> y
array([[[ 5.,  7.],
        [13., 15.]]])
>>> sp.max_pool2d_backward(np.ones_like(y), idx, x.shape)
array([[[0., 0., 0., 0.],
        [0., 1., 0., 1.],
        [0., 0., 0., 0.],
        [0., 1., 0., 1.]]])
"""
from . import _api, _backend, reference
from ._threads import get_num_threads, set_num_threads
from ._version import __version__

backend, _core = _backend.load()
#: which build of the compiled kernels runs: "avx512" (x86-64-v4), "avx2" (AVX2 and FMA) or "baseline"; None on the
#: reference backend
kernels: str | None = getattr(_core, "KERNELS", None)

max_pool1d = _api.max_pool(1, _core, __name__)
max_pool2d = _api.max_pool(2, _core, __name__)
max_pool3d = _api.max_pool(3, _core, __name__)
max_pool1d_backward = _api.max_pool_backward(1, _core, __name__)
max_pool2d_backward = _api.max_pool_backward(2, _core, __name__)
max_pool3d_backward = _api.max_pool_backward(3, _core, __name__)
min_pool1d = _api.min_pool(1, _core, __name__)
min_pool2d = _api.min_pool(2, _core, __name__)
min_pool3d = _api.min_pool(3, _core, __name__)
min_pool1d_backward = _api.min_pool_backward(1, _core, __name__)
min_pool2d_backward = _api.min_pool_backward(2, _core, __name__)
min_pool3d_backward = _api.min_pool_backward(3, _core, __name__)
avg_pool1d = _api.avg_pool(1, _core, __name__)
avg_pool2d = _api.avg_pool(2, _core, __name__)
avg_pool3d = _api.avg_pool(3, _core, __name__)
avg_pool1d_backward = _api.avg_pool_backward(1, _core, __name__)
avg_pool2d_backward = _api.avg_pool_backward(2, _core, __name__)
avg_pool3d_backward = _api.avg_pool_backward(3, _core, __name__)
adaptive_max_pool1d = _api.adaptive_max_pool(1, _core, __name__)
adaptive_max_pool2d = _api.adaptive_max_pool(2, _core, __name__)
adaptive_max_pool3d = _api.adaptive_max_pool(3, _core, __name__)
adaptive_avg_pool1d = _api.adaptive_avg_pool(1, _core, __name__)
adaptive_avg_pool2d = _api.adaptive_avg_pool(2, _core, __name__)
adaptive_avg_pool3d = _api.adaptive_avg_pool(3, _core, __name__)
adaptive_avg_pool1d_backward = _api.adaptive_avg_pool_backward(1, _core, __name__)
adaptive_avg_pool2d_backward = _api.adaptive_avg_pool_backward(2, _core, __name__)
adaptive_avg_pool3d_backward = _api.adaptive_avg_pool_backward(3, _core, __name__)
max_unpool1d = _api.max_unpool(1, _core, __name__)
max_unpool2d = _api.max_unpool(2, _core, __name__)
max_unpool3d = _api.max_unpool(3, _core, __name__)
unfold1d = _api.unfold(1, _core, __name__)
unfold2d = _api.unfold(2, _core, __name__)
unfold3d = _api.unfold(3, _core, __name__)
fold1d = _api.fold(1, _core, __name__)
fold2d = _api.fold(2, _core, __name__)
fold3d = _api.fold(3, _core, __name__)
block_reduce = _api.block_reduce(_core, __name__)



def release_memory() -> int:
    """Free the memory stridepool keeps between calls and give it back to the operating system.

    Results of 1 MiB and more live on buffers that go back to a cache when the last array using them is
    freed, so that a training loop pooling the same shapes every step reuses them instead of having the
    operating system map and zero fresh pages (``STRIDEPOOL_CACHE_MB``, default 1024, bounds the cache; see the
    user guide's "Threads, memory and backends"). After a large computation the process therefore keeps up to
    that much memory; this hands it back (and asks the C library to return its free memory too). It also
    drops the small results (16 KiB at most) that repeated calls keep to write again once the caller lets them
    go. Arrays still in use are not touched, and the cache fills again as results are freed. Safe to call from
    any thread.

    Returns
    -------
    int
        The bytes of cached buffers freed (0 on the reference backend, which keeps nothing).

    Examples
    --------
    >>> import numpy as np, stridepool as sp
    >>> y = sp.max_pool2d(np.zeros((16, 64, 64, 64), np.float32), 2)   # a 4 MiB result
    >>> del y                                                           # its buffer goes to the cache
    >>> sp.release_memory() >= (4 << 20) or sp.backend == "reference"
    True
    >>> sp.release_memory()                                             # nothing left to free
    0
    """
    return _core.release_memory()


from .layers import (  # noqa: E402  (layers call the functions above)
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
    AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d,
    MaxUnpool2d, MaxUnpool3d, Pooling2D)

# Written out, not computed, so that type checkers and editors (which read __all__ without running it) see
# every public name as exported; tests/typing/test_typing.py checks it against _api.NAMES and layers.LAYERS.
__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "min_pool1d", "min_pool2d", "min_pool3d", "min_pool1d_backward", "min_pool2d_backward", "min_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_backward", "max_unpool1d", "max_unpool2d", "max_unpool3d", "unfold1d", "unfold2d",
    "unfold3d", "fold1d", "fold2d", "fold3d", "block_reduce",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Pooling2D",
    "reference", "backend", "kernels", "set_num_threads", "get_num_threads", "release_memory", "__version__",
]
