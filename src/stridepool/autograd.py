"""HIPS autograd bridge: stridepool's NumPy API as autograd primitives, differentiable with ``autograd.grad``.

>>> import autograd.numpy as anp, autograd, stridepool.autograd as spa          # doctest: +SKIP
>>> loss = lambda x: anp.sum(spa.max_pool2d(x, 2) ** 2)                        # doctest: +SKIP
>>> autograd.grad(loss)(x)                                                     # doctest: +SKIP

Every differentiable function of ``stridepool`` is here with the same name, signature (``axes=`` and ``out=``
included) and results: ``max_pool*``, ``avg_pool*``, ``adaptive_max_pool*``, ``adaptive_avg_pool*``,
``max_unpool*``, ``unfold*`` and ``fold*`` for 1, 2 and 3 pooled axes, and the backward functions
(``max_pool*_backward``, ``avg_pool*_backward``, ``adaptive_avg_pool*_backward``), which are linear in their
gradient argument and differentiable too. Each is differentiated with respect to its first (array) argument;
derivatives of any order work, because every derivative is again one of these functions:

- average pooling and its backward are each other's adjoint, and so are adaptive average pooling and its
  backward, and ``unfold`` and ``fold``;
- max pooling (and adaptive max pooling) is "the input's values at the indices of the maxima": its derivative
  adds the gradient at those indices (``max_pool*_backward``), whose own derivative takes the values at the
  indices again; ``max_unpool*`` puts values at given indices, its derivative takes them back.

Indices are not differentiable: ``return_indices=True`` returns them as a plain int64 NumPy array (never an
autograd box), ready for ``max_pool*_backward`` or ``max_unpool*``; an ``indices`` argument is a constant.
Gradients follow the NumPy functions' rules: at ties the gradient goes to the first maximum in row-major
order, at NaN to the first NaN.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

try:
    from autograd.extend import Box, defvjp, primitive
    from autograd.tracer import getval
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError('stridepool.autograd needs HIPS autograd: pip install "stridepool[autograd]"') from e

import stridepool as _sp

from . import _params as P
from ._api import AXES, BRIDGED, public_name

if TYPE_CHECKING:
    from ._typing import (
        AdaptiveAvgPoolBackwardFunction, AdaptiveAvgPoolFunction, AdaptiveMaxPoolFunction, Array, AvgPoolBackwardFunction,
        AvgPoolFunction, Axes1, Axes2, Axes3, FoldFunction, MaxPoolBackwardFunction, MaxPoolFunction,
        MaxUnpoolFunction, OutputSize1, OutputSize2, OutputSize3, Padding1, Padding2, Padding3, Size1, Size2, Size3,
        UnfoldFunction)

_F: dict[str, Callable[..., Any]] = {}  # every function of this module by public name


def _sp_function(op: str, nd: int) -> Callable[..., Any]:
    return cast("Callable[..., Any]", getattr(_sp, public_name(op, nd)))


def _define(op: str, nd: int, fn: Callable[..., Any]) -> None:
    name = public_name(op, nd)
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = (f"``stridepool.{name}`` as an autograd primitive (differentiable in its first argument).\n\n"
                  + (_sp_function(op, nd).__doc__ or ""))
    _F[name] = fn


def _primitive(op: str, nd: int) -> Any:
    """The NumPy function as an autograd primitive (its vjp is defined below)."""
    f = primitive(_sp_function(op, nd))
    _define(op, nd, f)
    return f


# -------------------------------------------------------------- values at indices, and adding them back


def _take(a: Array, indices: Array, nd: int, axes: Any) -> Array:
    """``a``'s elements at the flat positions ``indices`` of each plane over ``axes`` (a gather)."""
    ax = P.normalize_axes(axes, a.ndim, nd)
    moved_a = np.moveaxis(a, ax, range(-nd, 0))
    moved_i = np.moveaxis(np.asarray(indices), ax, range(-nd, 0))
    flat_a = moved_a.reshape(moved_a.shape[:-nd] + (-1,))
    flat_i = moved_i.reshape(moved_i.shape[:-nd] + (-1,))
    taken = np.take_along_axis(flat_a, flat_i, axis=-1).reshape(moved_i.shape)
    return np.moveaxis(taken, range(-nd, 0), ax)


def _values_at(x: Any, values: Array, indices: Array, nd: int, axes: Any) -> Any:
    """``values`` (``x``'s elements at ``indices``, computed already), differentiable in ``x``."""
    return values


_values_at_p = primitive(_values_at)
defvjp(_values_at_p, lambda ans, x, values, indices, nd, axes:
       lambda g: _F[public_name("max_pool_backward", nd)](g, indices, np.shape(x), axes=axes))


def _gather(x: Any, indices: Array, nd: int, axes: Any) -> Any:
    """``x`` at ``indices``, differentiable (the derivative of adding at the indices)."""
    return _values_at_p(x, _take(getval(x), indices, nd, axes), indices, nd, axes)


# --------------------------------------------------------------------------------------- the factories


def _max_pool(nd: int) -> None:
    raw = _sp_function("max_pool", nd)

    def f(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
          ceil_mode: bool = False, return_indices: bool = False, *, axes: Any = AXES[nd], out: Any = None) -> Any:
        if not isinstance(x, Box):
            return raw(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, axes=axes, out=out)
        y, idx = raw(getval(x), kernel_size, stride, padding, dilation, ceil_mode, True, axes=axes, out=out)
        y = _values_at_p(x, y, idx, nd, axes)
        return (y, idx) if return_indices else y
    _define("max_pool", nd, f)


def _adaptive_max_pool(nd: int) -> None:
    raw = _sp_function("adaptive_max_pool", nd)

    def f(x: Any, output_size: Any, return_indices: bool = False, *, axes: Any = AXES[nd], out: Any = None) -> Any:
        if not isinstance(x, Box):
            return raw(x, output_size, return_indices, axes=axes, out=out)
        y, idx = raw(getval(x), output_size, True, axes=axes, out=out)
        y = _values_at_p(x, y, idx, nd, axes)
        return (y, idx) if return_indices else y
    _define("adaptive_max_pool", nd, f)


def _max_pool_backward(nd: int) -> None:
    f = _primitive("max_pool_backward", nd)

    def vjp(ans: Array, grad_output: Array, indices: Array, input_shape: Any, *, axes: Any = AXES[nd],
            out: Any = None) -> Callable[[Any], Any]:
        return lambda g: _gather(g, indices, nd, axes)
    defvjp(f, vjp, None)


def _max_unpool(nd: int) -> None:
    f = _primitive("max_unpool", nd)

    def vjp(ans: Array, x: Array, indices: Array, kernel_size: Any, stride: Any = None, padding: Any = 0,
            output_size: Any = None, *, axes: Any = AXES[nd], out: Any = None) -> Callable[[Any], Any]:
        return lambda g: _gather(g, indices, nd, axes)
    defvjp(f, vjp, None)


def _avg_pool(nd: int) -> None:
    f = _primitive("avg_pool", nd)

    def vjp(ans: Array, x: Array, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
            count_include_pad: bool = True, divisor_override: Any = None, *, axes: Any = AXES[nd],
            out: Any = None) -> Callable[[Any], Any]:
        shape = np.shape(x)
        return lambda g: _F[public_name("avg_pool_backward", nd)](
            g, shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, axes=axes)
    defvjp(f, vjp)


def _avg_pool_backward(nd: int) -> None:
    f = _primitive("avg_pool_backward", nd)

    def vjp(ans: Array, grad_output: Array, input_shape: Any, kernel_size: Any, stride: Any = None,
            padding: Any = 0, ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Any = None,
            *, axes: Any = AXES[nd], out: Any = None) -> Callable[[Any], Any]:
        return lambda g: _F[public_name("avg_pool", nd)](
            g, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, axes=axes)
    defvjp(f, vjp)


def _adaptive_avg_pool(nd: int) -> None:
    f = _primitive("adaptive_avg_pool", nd)

    def vjp(ans: Array, x: Array, output_size: Any, *, axes: Any = AXES[nd], out: Any = None) -> Callable[[Any], Any]:
        shape = np.shape(x)
        return lambda g: _F[public_name("adaptive_avg_pool_backward", nd)](g, shape, axes=axes)
    defvjp(f, vjp)


def _adaptive_avg_pool_backward(nd: int) -> None:
    f = _primitive("adaptive_avg_pool_backward", nd)

    def vjp(ans: Array, grad_output: Array, input_shape: Any, *, axes: Any = AXES[nd],
            out: Any = None) -> Callable[[Any], Any]:
        shape = np.shape(grad_output)
        size = P.sizes_at(shape, P.normalize_axes(axes, len(shape), nd))
        return lambda g: _F[public_name("adaptive_avg_pool", nd)](g, size, axes=axes)
    defvjp(f, vjp)


def _unfold(nd: int) -> None:
    f = _primitive("unfold", nd)

    def vjp(ans: Array, x: Array, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, *,
            axes: Any = AXES[nd]) -> Callable[[Any], Any]:
        shape = np.shape(x)
        return lambda g: _F[public_name("fold", nd)](g, shape, stride, padding, dilation, axes=axes)
    defvjp(f, vjp)


def _fold(nd: int) -> None:
    f = _primitive("fold", nd)

    def vjp(ans: Array, windows: Array, input_shape: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, *,
            axes: Any = AXES[nd], out: Any = None) -> Callable[[Any], Any]:
        kernel = np.shape(windows)[-nd:]
        return lambda g: _F[public_name("unfold", nd)](g, kernel, stride, padding, dilation, axes=axes)
    defvjp(f, vjp)


for _make in (_max_pool, _max_pool_backward, _avg_pool, _avg_pool_backward, _adaptive_max_pool, _adaptive_avg_pool,
              _adaptive_avg_pool_backward, _max_unpool, _unfold, _fold):
    for _nd in (1, 2, 3):
        _make(_nd)

__all__ = list(BRIDGED)

# The public names, typed as the NumPy API's (an autograd box passes where an array does).
max_pool1d = cast("MaxPoolFunction[Size1, Padding1, Axes1]", _F["max_pool1d"])
max_pool2d = cast("MaxPoolFunction[Size2, Padding2, Axes2]", _F["max_pool2d"])
max_pool3d = cast("MaxPoolFunction[Size3, Padding3, Axes3]", _F["max_pool3d"])
max_pool1d_backward = cast("MaxPoolBackwardFunction[Axes1]", _F["max_pool1d_backward"])
max_pool2d_backward = cast("MaxPoolBackwardFunction[Axes2]", _F["max_pool2d_backward"])
max_pool3d_backward = cast("MaxPoolBackwardFunction[Axes3]", _F["max_pool3d_backward"])
avg_pool1d = cast("AvgPoolFunction[Size1, Padding1, Axes1]", _F["avg_pool1d"])
avg_pool2d = cast("AvgPoolFunction[Size2, Padding2, Axes2]", _F["avg_pool2d"])
avg_pool3d = cast("AvgPoolFunction[Size3, Padding3, Axes3]", _F["avg_pool3d"])
avg_pool1d_backward = cast("AvgPoolBackwardFunction[Size1, Padding1, Axes1]", _F["avg_pool1d_backward"])
avg_pool2d_backward = cast("AvgPoolBackwardFunction[Size2, Padding2, Axes2]", _F["avg_pool2d_backward"])
avg_pool3d_backward = cast("AvgPoolBackwardFunction[Size3, Padding3, Axes3]", _F["avg_pool3d_backward"])
adaptive_max_pool1d = cast("AdaptiveMaxPoolFunction[OutputSize1, Axes1]", _F["adaptive_max_pool1d"])
adaptive_max_pool2d = cast("AdaptiveMaxPoolFunction[OutputSize2, Axes2]", _F["adaptive_max_pool2d"])
adaptive_max_pool3d = cast("AdaptiveMaxPoolFunction[OutputSize3, Axes3]", _F["adaptive_max_pool3d"])
adaptive_avg_pool1d = cast("AdaptiveAvgPoolFunction[OutputSize1, Axes1]", _F["adaptive_avg_pool1d"])
adaptive_avg_pool2d = cast("AdaptiveAvgPoolFunction[OutputSize2, Axes2]", _F["adaptive_avg_pool2d"])
adaptive_avg_pool3d = cast("AdaptiveAvgPoolFunction[OutputSize3, Axes3]", _F["adaptive_avg_pool3d"])
adaptive_avg_pool1d_backward = cast("AdaptiveAvgPoolBackwardFunction[Axes1]", _F["adaptive_avg_pool1d_backward"])
adaptive_avg_pool2d_backward = cast("AdaptiveAvgPoolBackwardFunction[Axes2]", _F["adaptive_avg_pool2d_backward"])
adaptive_avg_pool3d_backward = cast("AdaptiveAvgPoolBackwardFunction[Axes3]", _F["adaptive_avg_pool3d_backward"])
max_unpool1d = cast("MaxUnpoolFunction[Size1, Padding1, Axes1]", _F["max_unpool1d"])
max_unpool2d = cast("MaxUnpoolFunction[Size2, Padding2, Axes2]", _F["max_unpool2d"])
max_unpool3d = cast("MaxUnpoolFunction[Size3, Padding3, Axes3]", _F["max_unpool3d"])
unfold1d = cast("UnfoldFunction[Size1, Padding1, Axes1]", _F["unfold1d"])
unfold2d = cast("UnfoldFunction[Size2, Padding2, Axes2]", _F["unfold2d"])
unfold3d = cast("UnfoldFunction[Size3, Padding3, Axes3]", _F["unfold3d"])
fold1d = cast("FoldFunction[Size1, Padding1, Axes1]", _F["fold1d"])
fold2d = cast("FoldFunction[Size2, Padding2, Axes2]", _F["fold2d"])
fold3d = cast("FoldFunction[Size3, Padding3, Axes3]", _F["fold3d"])
