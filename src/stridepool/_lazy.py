"""The dask path loads only when a dask array arrives: ``import stridepool`` never imports dask."""
import sys


def is_dask(*arrays):
    """True when any of ``arrays`` is a ``dask.array.Array`` (False at once when dask was never imported)."""
    da = sys.modules.get("dask.array")
    return da is not None and any(isinstance(a, da.Array) for a in arrays)


def dask():
    """The dask implementation of every operation (``stridepool._dask``), imported on first use."""
    from . import _dask

    return _dask
