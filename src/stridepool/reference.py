"""Pure-NumPy reference: the same functions as the compiled package, same signatures, same errors.

Windows are strided views (``as_strided``), reductions are vectorised over all windows and the scatter-add
is ``np.add.at`` on a writeable strided window view of a zero array, as in the question's accepted answer.
There is no Python loop over windows (only over the taps of one window). It is slow, simple and independent
of the kernels, which makes it the yardstick of the parity tests and the fallback backend. Every function
here is the public function of the same name bound to the reference core (``stridepool._reference``).

Examples
--------
>>> import numpy as np
>>> from stridepool import reference
>>> x = np.arange(16.0).reshape(4, 4)
>>> reference.max_pool2d(x, 2)
array([[ 5.,  7.],
       [13., 15.]])
>>> reference.adaptive_avg_pool1d(np.arange(6.0), 2)
array([1., 4.])
"""
from . import _api, _reference

max_pool1d = _api.max_pool(1, _reference, __name__)
max_pool2d = _api.max_pool(2, _reference, __name__)
max_pool3d = _api.max_pool(3, _reference, __name__)
max_pool1d_backward = _api.max_pool_backward(1, _reference, __name__)
max_pool2d_backward = _api.max_pool_backward(2, _reference, __name__)
max_pool3d_backward = _api.max_pool_backward(3, _reference, __name__)
min_pool1d = _api.min_pool(1, _reference, __name__)
min_pool2d = _api.min_pool(2, _reference, __name__)
min_pool3d = _api.min_pool(3, _reference, __name__)
min_pool1d_backward = _api.min_pool_backward(1, _reference, __name__)
min_pool2d_backward = _api.min_pool_backward(2, _reference, __name__)
min_pool3d_backward = _api.min_pool_backward(3, _reference, __name__)
avg_pool1d = _api.avg_pool(1, _reference, __name__)
avg_pool2d = _api.avg_pool(2, _reference, __name__)
avg_pool3d = _api.avg_pool(3, _reference, __name__)
avg_pool1d_backward = _api.avg_pool_backward(1, _reference, __name__)
avg_pool2d_backward = _api.avg_pool_backward(2, _reference, __name__)
avg_pool3d_backward = _api.avg_pool_backward(3, _reference, __name__)
adaptive_max_pool1d = _api.adaptive_max_pool(1, _reference, __name__)
adaptive_max_pool2d = _api.adaptive_max_pool(2, _reference, __name__)
adaptive_max_pool3d = _api.adaptive_max_pool(3, _reference, __name__)
adaptive_avg_pool1d = _api.adaptive_avg_pool(1, _reference, __name__)
adaptive_avg_pool2d = _api.adaptive_avg_pool(2, _reference, __name__)
adaptive_avg_pool3d = _api.adaptive_avg_pool(3, _reference, __name__)
adaptive_avg_pool1d_backward = _api.adaptive_avg_pool_backward(1, _reference, __name__)
adaptive_avg_pool2d_backward = _api.adaptive_avg_pool_backward(2, _reference, __name__)
adaptive_avg_pool3d_backward = _api.adaptive_avg_pool_backward(3, _reference, __name__)
max_unpool1d = _api.max_unpool(1, _reference, __name__)
max_unpool2d = _api.max_unpool(2, _reference, __name__)
max_unpool3d = _api.max_unpool(3, _reference, __name__)
unfold1d = _api.unfold(1, _reference, __name__)
unfold2d = _api.unfold(2, _reference, __name__)
unfold3d = _api.unfold(3, _reference, __name__)
fold1d = _api.fold(1, _reference, __name__)
fold2d = _api.fold(2, _reference, __name__)
fold3d = _api.fold(3, _reference, __name__)
block_reduce = _api.block_reduce(_reference, __name__)

# Written out, as in stridepool/__init__.py; tests/typing/test_typing.py checks it against _api.NAMES.
__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "min_pool1d", "min_pool2d", "min_pool3d", "min_pool1d_backward", "min_pool2d_backward", "min_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_backward", "max_unpool1d", "max_unpool2d", "max_unpool3d", "unfold1d", "unfold2d",
    "unfold3d", "fold1d", "fold2d", "fold3d", "block_reduce",
]
