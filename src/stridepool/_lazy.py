"""The dask path loads only when a dask array arrives: ``import stridepool`` never imports dask."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ._typing import DaskPath


def is_dask(*arrays: object) -> bool:
    """True when any of ``arrays`` is a ``dask.array.Array`` (False at once when dask was never imported)."""
    da = sys.modules.get("dask.array")
    return da is not None and any(isinstance(a, da.Array) for a in arrays)


def dask() -> DaskPath:
    """The dask implementation of every operation (``stridepool._dask``), imported on first use."""
    from . import _dask

    return cast("DaskPath", _dask)  # the module satisfies the protocol (each operation with the core first)
