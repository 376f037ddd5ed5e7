"""Backend selection: ``STRIDEPOOL_BACKEND`` = ``auto`` (default), ``compiled`` or ``reference``."""
from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from . import _reference

if TYPE_CHECKING:
    from ._typing import Core

_CHOICES = ("auto", "compiled", "reference")


def load() -> tuple[str, Core]:
    """Return ``(name, core)`` of the backend the environment asks for (the core module implements every
    operation for any number of pooled axes: ``stridepool._compiled`` or ``stridepool._reference``)."""
    choice = os.environ.get("STRIDEPOOL_BACKEND", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise ValueError(f"`STRIDEPOOL_BACKEND` must be one of {', '.join(_CHOICES)}, got {choice!r}")
    if choice == "reference":
        return "reference", _reference
    try:
        from . import _compiled
    except ImportError as e:
        if choice == "compiled":
            raise ImportError(
                "STRIDEPOOL_BACKEND=compiled but the compiled extension stridepool._kernels cannot be "
                f"imported ({e}). Reinstall stridepool from a wheel, or build it with a C compiler "
                "(pip install --no-binary stridepool stridepool).") from e
        warnings.warn(
            f"stridepool: the compiled extension cannot be imported ({e}); using the slow pure-NumPy "
            "reference backend. Set STRIDEPOOL_BACKEND=reference to silence this warning.",
            RuntimeWarning, stacklevel=3)
        return "reference", _reference
    return "compiled", _compiled
