"""stridepool: fast 2D max and average pooling, forward and backward, unfold and fold, for NumPy.

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
from . import _backend, reference
from ._threads import get_num_threads, set_num_threads
from ._version import __version__

backend, _impl = _backend.load()
#: which build of the compiled kernels runs: "avx2" (x86-64 CPUs with AVX2 and FMA) or "baseline"; None on the
#: reference backend
kernels = getattr(_impl, "KERNELS", None)

max_pool2d = _impl.max_pool2d
max_pool2d_backward = _impl.max_pool2d_backward
avg_pool2d = _impl.avg_pool2d
avg_pool2d_backward = _impl.avg_pool2d_backward
unfold2d = _impl.unfold2d
fold2d = _impl.fold2d

from .layers import AvgPool2d, MaxPool2d, Pooling2D  # noqa: E402  (layers call the functions above)

__all__ = [
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "unfold2d", "fold2d",
    "MaxPool2d", "AvgPool2d", "Pooling2D", "reference", "backend", "kernels", "set_num_threads", "get_num_threads",
    "__version__",
]
