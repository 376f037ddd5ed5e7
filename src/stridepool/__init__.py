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
#: which build of the compiled kernels runs: "avx2" (x86-64 CPUs with AVX2 and FMA) or "baseline"; None on the
#: reference backend
kernels: str | None = getattr(_core, "KERNELS", None)

max_pool1d = _api.max_pool(1, _core, __name__)
max_pool2d = _api.max_pool(2, _core, __name__)
max_pool3d = _api.max_pool(3, _core, __name__)
max_pool1d_backward = _api.max_pool_backward(1, _core, __name__)
max_pool2d_backward = _api.max_pool_backward(2, _core, __name__)
max_pool3d_backward = _api.max_pool_backward(3, _core, __name__)
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

from .layers import (  # noqa: E402  (layers call the functions above)
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
    AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d,
    MaxUnpool2d, MaxUnpool3d, Pooling2D)

# Written out, not computed, so that type checkers and editors (which read __all__ without running it) see
# every public name as exported; tests/typing/test_typing.py checks it against _api.NAMES and layers.LAYERS.
__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_backward", "max_unpool1d", "max_unpool2d", "max_unpool3d", "unfold1d", "unfold2d",
    "unfold3d", "fold1d", "fold2d", "fold3d", "block_reduce",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Pooling2D",
    "reference", "backend", "kernels", "set_num_threads", "get_num_threads", "__version__",
]
