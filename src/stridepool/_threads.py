"""Thread count of the compiled kernels, and fork safety.

The kernels use OpenMP. A call runs on ``min(set_num_threads value, omp_get_max_threads())`` threads, so the
default follows ``OMP_NUM_THREADS`` (else the cores available) and ``threadpoolctl.threadpool_limits`` lowers
it. GNU OpenMP's thread pool does not survive ``fork``: a forked child that enters a parallel region of
more than one thread can hang, so a child process runs single-threaded until it calls
:func:`set_num_threads` itself.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._kernels import _Module

_K: _Module | None
try:
    from . import _kernels as _K
except ImportError:  # reference backend only: one thread, nothing to control
    _K = None

_requested: int | None = None  # set_num_threads() value; None: follow OpenMP's own default


def set_num_threads(n: int) -> None:
    """Set the number of threads the compiled kernels use.

    Parameters
    ----------
    n : int
        At least 1. It also sets OpenMP's ``omp_set_num_threads`` for the calling thread.

    Examples
    --------
    >>> import stridepool as sp
    >>> old = sp.get_num_threads()
    >>> sp.set_num_threads(1)
    >>> sp.get_num_threads()
    1
    >>> sp.set_num_threads(old)
    """
    global _requested
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"`n` must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"`n` must be >= 1, got {n!r}")
    _requested = n
    if _K is not None:
        _K.openmp_set_num_threads(n)


def get_num_threads() -> int:
    """Return the number of threads the next compiled call from this thread will use.

    Examples
    --------
    >>> import stridepool as sp
    >>> sp.get_num_threads() >= 1
    True
    """
    if _K is None:
        return 1
    omp = _K.openmp_max_threads()
    return omp if _requested is None else min(_requested, omp)


def _after_fork_in_child() -> None:
    global _requested
    _requested = 1
    if _K is not None:
        _K.openmp_set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
