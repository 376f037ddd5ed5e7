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
from typing import Any

from . import _api, _reference

globals().update(_api.build(_reference, __name__))
__all__ = list(_api.NAMES)


def __getattr__(name: str) -> Any:  # for type checkers: the names above are made at import
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
