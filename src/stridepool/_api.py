"""The public functions: one factory per operation makes its 1D, 2D and 3D functions for a backend's core.

A core (``stridepool._compiled`` or ``stridepool._reference``) implements each operation once for any
number of pooled axes ``nd``; the named functions (``max_pool2d`` ...) are thin closures over it, made here,
so that both backends share one definition of every signature and one docstring template per operation
(``stridepool._docs``). ``stridepool`` binds them to the active core, ``stridepool.reference`` to the
reference core.

A pooling function asks the core's ``lean`` first (a repeated call replays its remembered plan: one Python
frame, this one, between the caller and the kernel) and calls the core's operation, the full path, when
that gives None. Its flags and parameters are the ones the core's operation remembers a plan under.

Types: each factory is overloaded on ``nd`` and returns a protocol of :mod:`stridepool._typing` parametrised
with that number of axes' argument forms (``max_pool(2, ...)`` is a ``MaxPoolFunction[Size2, Padding2,
Axes2]``); the closures themselves take the forms of any number of axes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import numpy as np

from . import _block_reduce, _docs, _variants

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._typing import (
        AdaptiveAvgPoolBackwardFunction, AdaptiveAvgPoolFunction, AdaptiveMaxPoolFunction, Array, Axes1, Axes2,
        Axes3, AxesArg, AvgPoolBackwardFunction, AvgPoolFunction, BlockReduceFunction, Core, FoldFunction, Indexed,
        MaxPoolBackwardFunction, MaxPoolFunction, MaxUnpoolFunction, NanPolicy, OutputSize1, OutputSize2,
        OutputSize3, OutputSizeArg, Padding1, Padding2, Padding3, PaddingArg, Shape, Size1, Size2, Size3, SizeArg,
        UnfoldFunction)

_F = TypeVar("_F", bound=Callable[..., Any])

#: the default pooled axes: the last nd
AXES: dict[int, tuple[int, ...]] = {1: (-1,), 2: (-2, -1), 3: (-3, -2, -1)}


def public_name(op: str, nd: int) -> str:
    """``max_pool_backward``, 2 -> ``max_pool2d_backward``."""
    if op.endswith("_backward"):
        return f"{op[:-len('_backward')]}{nd}d_backward"
    return f"{op}{nd}d"


def _named(fn: _F, op: str, nd: int, module: str) -> _F:
    fn.__name__ = fn.__qualname__ = public_name(op, nd)
    fn.__module__ = module
    fn.__doc__ = _docs.doc(op, nd)
    return fn


#: the default of ``nan_policy`` (the functions' defaults are this very object: a call that leaves it out is
#: recognised by identity, the cheapest test on the lean path)
PROPAGATE: NanPolicy = "propagate"


def _propagates(nan_policy: object) -> bool:
    """True for ``nan_policy="propagate"``: the call goes straight to the core (its lean path, then its full
    path). The functions test ``nan_policy is PROPAGATE`` inline first: a call that leaves it out pays no call
    of this."""
    return nan_policy is PROPAGATE or type(nan_policy) is str and nan_policy == "propagate"


def _extreme_pool(op: str, nd: int, core: Core, module: str, flipped: bool) -> MaxPoolFunction[Any, Any, Any]:
    """Max pooling, or (``flipped``) min pooling: one signature, max pooling's rules with the order reversed."""
    def f(x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
          dilation: SizeArg = 1, ceil_mode: bool = False, return_indices: bool = False, *,
          nan_policy: NanPolicy = PROPAGATE, axes: AxesArg = AXES[nd], out: Array | None = None) -> Array | Indexed:
        # max pooling by default: straight to the core (the identity test first spares the default a call)
        if not flipped and (nan_policy is PROPAGATE or _propagates(nan_policy)):
            if out is None:
                r: Array | Indexed | None = core.lean(nd, "max", x, (ceil_mode, return_indices),
                                                      (kernel_size, stride, padding, dilation, axes))
                if r is not None:
                    return r
            return core.max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, axes, out)
        return _variants.max_pool(core, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                                  nan_policy, axes, out, flipped=flipped)
    # the core returns the pair exactly when return_indices is true: what the protocol's overloads say
    return cast("MaxPoolFunction[Any, Any, Any]", _named(f, op, nd, module))


@overload
def max_pool(nd: Literal[1], core: Core, module: str) -> MaxPoolFunction[Size1, Padding1, Axes1]: ...
@overload
def max_pool(nd: Literal[2], core: Core, module: str) -> MaxPoolFunction[Size2, Padding2, Axes2]: ...
@overload
def max_pool(nd: Literal[3], core: Core, module: str) -> MaxPoolFunction[Size3, Padding3, Axes3]: ...


def max_pool(nd: int, core: Core, module: str) -> MaxPoolFunction[Any, Any, Any]:
    return _extreme_pool("max_pool", nd, core, module, False)


@overload
def min_pool(nd: Literal[1], core: Core, module: str) -> MaxPoolFunction[Size1, Padding1, Axes1]: ...
@overload
def min_pool(nd: Literal[2], core: Core, module: str) -> MaxPoolFunction[Size2, Padding2, Axes2]: ...
@overload
def min_pool(nd: Literal[3], core: Core, module: str) -> MaxPoolFunction[Size3, Padding3, Axes3]: ...


def min_pool(nd: int, core: Core, module: str) -> MaxPoolFunction[Any, Any, Any]:
    """Min pooling (``stridepool._variants``: ``-max(-x)``, ``~max(~x)``)."""
    return _extreme_pool("min_pool", nd, core, module, True)


def _index_backward(op: str, nd: int, core: Core, module: str) -> MaxPoolBackwardFunction[Any]:
    """The backward of max or min pooling (``op``): a scatter-add by index, for both."""
    def f(grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape, *, nan_policy: NanPolicy = PROPAGATE,
          axes: AxesArg = AXES[nd], out: Array | None = None) -> Array:
        if nan_policy is PROPAGATE or _propagates(nan_policy):
            if out is None:
                r: Array | None = core.lean(nd, "maxbw", grad_output, (), (input_shape, axes), indices)
                if r is not None:
                    return r
            return core.max_pool_backward(nd, grad_output, indices, input_shape, axes, out)
        return _variants.max_pool_backward(core, nd, grad_output, indices, input_shape, nan_policy, axes, out)
    return _named(f, op, nd, module)


@overload
def max_pool_backward(nd: Literal[1], core: Core, module: str) -> MaxPoolBackwardFunction[Axes1]: ...
@overload
def max_pool_backward(nd: Literal[2], core: Core, module: str) -> MaxPoolBackwardFunction[Axes2]: ...
@overload
def max_pool_backward(nd: Literal[3], core: Core, module: str) -> MaxPoolBackwardFunction[Axes3]: ...


def max_pool_backward(nd: int, core: Core, module: str) -> MaxPoolBackwardFunction[Any]:
    return _index_backward("max_pool_backward", nd, core, module)


@overload
def min_pool_backward(nd: Literal[1], core: Core, module: str) -> MaxPoolBackwardFunction[Axes1]: ...
@overload
def min_pool_backward(nd: Literal[2], core: Core, module: str) -> MaxPoolBackwardFunction[Axes2]: ...
@overload
def min_pool_backward(nd: Literal[3], core: Core, module: str) -> MaxPoolBackwardFunction[Axes3]: ...


def min_pool_backward(nd: int, core: Core, module: str) -> MaxPoolBackwardFunction[Any]:
    return _index_backward("min_pool_backward", nd, core, module)


@overload
def avg_pool(nd: Literal[1], core: Core, module: str) -> AvgPoolFunction[Size1, Padding1, Axes1]: ...
@overload
def avg_pool(nd: Literal[2], core: Core, module: str) -> AvgPoolFunction[Size2, Padding2, Axes2]: ...
@overload
def avg_pool(nd: Literal[3], core: Core, module: str) -> AvgPoolFunction[Size3, Padding3, Axes3]: ...


def avg_pool(nd: int, core: Core, module: str) -> AvgPoolFunction[Any, Any, Any]:
    def f(x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
          ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None, *,
          nan_policy: NanPolicy = PROPAGATE, axes: AxesArg = AXES[nd], out: Array | None = None) -> Array:
        if nan_policy is PROPAGATE or _propagates(nan_policy):
            if out is None:
                r: Array | None = core.lean(nd, "avg", x, (ceil_mode, count_include_pad),
                                            (kernel_size, stride, padding, divisor_override, axes))
                if r is not None:
                    return r
            return core.avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                                 axes, out)
        return _variants.avg_pool(core, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override, nan_policy, axes, out)
    return _named(f, "avg_pool", nd, module)


@overload
def avg_pool_backward(nd: Literal[1], core: Core, module: str) -> AvgPoolBackwardFunction[Size1, Padding1, Axes1]:
    ...
@overload
def avg_pool_backward(nd: Literal[2], core: Core, module: str) -> AvgPoolBackwardFunction[Size2, Padding2, Axes2]:
    ...
@overload
def avg_pool_backward(nd: Literal[3], core: Core, module: str) -> AvgPoolBackwardFunction[Size3, Padding3, Axes3]:
    ...


def avg_pool_backward(nd: int, core: Core, module: str) -> AvgPoolBackwardFunction[Any, Any, Any]:
    def f(grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg, stride: SizeArg | None = None,
          padding: PaddingArg = 0, ceil_mode: bool = False, count_include_pad: bool = True,
          divisor_override: int | None = None, *, nan_policy: NanPolicy = PROPAGATE, x: ArrayLike | None = None,
          axes: AxesArg = AXES[nd], out: Array | None = None) -> Array:
        if x is None and (nan_policy is PROPAGATE or _propagates(nan_policy)):
            if out is None:
                r: Array | None = core.lean(nd, "avgbw", grad_output, (ceil_mode, count_include_pad),
                                            (input_shape, kernel_size, stride, padding, divisor_override, axes))
                if r is not None:
                    return r
            return core.avg_pool_backward(nd, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                                          count_include_pad, divisor_override, axes, out)
        return _variants.avg_pool_backward(core, nd, grad_output, input_shape, kernel_size, stride, padding,
                                           ceil_mode, count_include_pad, divisor_override, nan_policy, x, axes, out)
    return _named(f, "avg_pool_backward", nd, module)


@overload
def adaptive_max_pool(nd: Literal[1], core: Core, module: str) -> AdaptiveMaxPoolFunction[OutputSize1, Axes1]: ...
@overload
def adaptive_max_pool(nd: Literal[2], core: Core, module: str) -> AdaptiveMaxPoolFunction[OutputSize2, Axes2]: ...
@overload
def adaptive_max_pool(nd: Literal[3], core: Core, module: str) -> AdaptiveMaxPoolFunction[OutputSize3, Axes3]: ...


def adaptive_max_pool(nd: int, core: Core, module: str) -> AdaptiveMaxPoolFunction[Any, Any]:
    def f(x: ArrayLike, output_size: OutputSizeArg, return_indices: bool = False, *, axes: AxesArg = AXES[nd],
          out: Array | None = None) -> Array | Indexed:
        if out is None:
            r: Array | Indexed | None = core.lean(nd, "amax", x, (return_indices,), (output_size, axes))
            if r is not None:
                return r
        return core.adaptive_max_pool(nd, x, output_size, return_indices, axes, out)
    # the core returns the pair exactly when return_indices is true: what the protocol's overloads say
    return cast("AdaptiveMaxPoolFunction[Any, Any]", _named(f, "adaptive_max_pool", nd, module))


@overload
def adaptive_avg_pool(nd: Literal[1], core: Core, module: str) -> AdaptiveAvgPoolFunction[OutputSize1, Axes1]: ...
@overload
def adaptive_avg_pool(nd: Literal[2], core: Core, module: str) -> AdaptiveAvgPoolFunction[OutputSize2, Axes2]: ...
@overload
def adaptive_avg_pool(nd: Literal[3], core: Core, module: str) -> AdaptiveAvgPoolFunction[OutputSize3, Axes3]: ...


def adaptive_avg_pool(nd: int, core: Core, module: str) -> AdaptiveAvgPoolFunction[Any, Any]:
    def f(x: ArrayLike, output_size: OutputSizeArg, *, axes: AxesArg = AXES[nd], out: Array | None = None) -> Array:
        if out is None:
            r: Array | None = core.lean(nd, "aavg", x, (), (output_size, axes))
            if r is not None:
                return r
        return core.adaptive_avg_pool(nd, x, output_size, axes, out)
    return _named(f, "adaptive_avg_pool", nd, module)


@overload
def adaptive_avg_pool_backward(nd: Literal[1], core: Core, module: str) -> AdaptiveAvgPoolBackwardFunction[Axes1]:
    ...
@overload
def adaptive_avg_pool_backward(nd: Literal[2], core: Core, module: str) -> AdaptiveAvgPoolBackwardFunction[Axes2]:
    ...
@overload
def adaptive_avg_pool_backward(nd: Literal[3], core: Core, module: str) -> AdaptiveAvgPoolBackwardFunction[Axes3]:
    ...


def adaptive_avg_pool_backward(nd: int, core: Core, module: str) -> AdaptiveAvgPoolBackwardFunction[Any]:
    def f(grad_output: ArrayLike, input_shape: Shape, *, axes: AxesArg = AXES[nd], out: Array | None = None) -> Array:
        if out is None:
            r: Array | None = core.lean(nd, "aavgbw", grad_output, (), (input_shape, axes))
            if r is not None:
                return r
        return core.adaptive_avg_pool_backward(nd, grad_output, input_shape, axes, out)
    return _named(f, "adaptive_avg_pool_backward", nd, module)


@overload
def max_unpool(nd: Literal[1], core: Core, module: str) -> MaxUnpoolFunction[Size1, Padding1, Axes1]: ...
@overload
def max_unpool(nd: Literal[2], core: Core, module: str) -> MaxUnpoolFunction[Size2, Padding2, Axes2]: ...
@overload
def max_unpool(nd: Literal[3], core: Core, module: str) -> MaxUnpoolFunction[Size3, Padding3, Axes3]: ...


def max_unpool(nd: int, core: Core, module: str) -> MaxUnpoolFunction[Any, Any, Any]:
    def f(x: ArrayLike, indices: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None,
          padding: PaddingArg = 0, output_size: Shape | None = None, *, axes: AxesArg = AXES[nd],
          out: Array | None = None) -> Array:
        return core.max_unpool(nd, x, indices, kernel_size, stride, padding, output_size, axes, out)
    return _named(f, "max_unpool", nd, module)


@overload
def unfold(nd: Literal[1], core: Core, module: str) -> UnfoldFunction[Size1, Padding1, Axes1]: ...
@overload
def unfold(nd: Literal[2], core: Core, module: str) -> UnfoldFunction[Size2, Padding2, Axes2]: ...
@overload
def unfold(nd: Literal[3], core: Core, module: str) -> UnfoldFunction[Size3, Padding3, Axes3]: ...


def unfold(nd: int, core: Core, module: str) -> UnfoldFunction[Any, Any, Any]:
    def f(x: ArrayLike, kernel_size: SizeArg, stride: SizeArg = 1, padding: PaddingArg = 0, dilation: SizeArg = 1,
          *, axes: AxesArg = AXES[nd]) -> Array:
        return core.unfold(nd, x, kernel_size, stride, padding, dilation, axes)
    return _named(f, "unfold", nd, module)


@overload
def fold(nd: Literal[1], core: Core, module: str) -> FoldFunction[Size1, Padding1, Axes1]: ...
@overload
def fold(nd: Literal[2], core: Core, module: str) -> FoldFunction[Size2, Padding2, Axes2]: ...
@overload
def fold(nd: Literal[3], core: Core, module: str) -> FoldFunction[Size3, Padding3, Axes3]: ...


def fold(nd: int, core: Core, module: str) -> FoldFunction[Any, Any, Any]:
    def f(windows: ArrayLike, input_shape: Shape, stride: SizeArg = 1, padding: PaddingArg = 0,
          dilation: SizeArg = 1, *, axes: AxesArg = AXES[nd], out: Array | None = None) -> Array:
        return core.fold(nd, windows, input_shape, stride, padding, dilation, axes, out)
    return _named(f, "fold", nd, module)


def block_reduce(core: Core, module: str) -> BlockReduceFunction:
    """``block_reduce`` (scikit-image's, any number of axes) bound to ``core``."""
    def block_reduce(image: ArrayLike, block_size: int | Sequence[int] = 2, func: Callable[..., Any] = np.sum,
                     cval: Any = 0, func_kwargs: Mapping[str, Any] | None = None) -> Array:
        return cast("Array", _block_reduce.block_reduce(core, image, block_size, func, cval, func_kwargs))
    block_reduce.__module__ = module
    block_reduce.__doc__ = _docs.BLOCK_REDUCE
    return block_reduce


#: every operation over 1, 2 or 3 pooled axes, in the order of the public API
OPERATIONS: tuple[Callable[..., Callable[..., Any]], ...] = (
    max_pool, max_pool_backward, min_pool, min_pool_backward, avg_pool, avg_pool_backward, adaptive_max_pool,
    adaptive_avg_pool, adaptive_avg_pool_backward, max_unpool, unfold, fold)


def build(core: Core, module: str) -> dict[str, Callable[..., Any]]:
    """Every public function bound to ``core``, by name (``max_pool1d`` ... ``fold3d``, ``block_reduce``)."""
    fns = [make(nd, core, module) for make in OPERATIONS for nd in (1, 2, 3)]
    return {f.__name__: f for f in [*fns, block_reduce(core, module)]}


#: the public names of the operations over 1, 2 or 3 pooled axes, in order
NAMES: tuple[str, ...] = tuple(public_name(op.__name__, nd) for op in OPERATIONS for nd in (1, 2, 3))
#: the names the framework bridges (stridepool.jax, stridepool.autograd) have: all but min pooling, which is not
#: bridged yet (nor is ``nan_policy``)
BRIDGED: tuple[str, ...] = tuple(n for n in NAMES if not n.startswith("min_pool"))
#: the public functions over any number of axes
ANY_AXES: tuple[str, ...] = ("block_reduce",)
#: every public function of a backend, in the order of ``__all__``
FUNCTIONS: tuple[str, ...] = NAMES + ANY_AXES
