"""Static types of the public API: argument forms per number of pooled axes, and the callables' protocols.

Type checkers read all of it. At run time only ``stridepool.layers`` imports it, for the argument-form aliases
that parametrise its generic base classes (so NumPy's typing module is imported for type checkers only).

The public functions are closures made by the factories in :mod:`stridepool._api`; each factory returns one of
the protocols below, parametrised for 1, 2 or 3 pooled axes, so that a type checker sees the documented
argument forms of ``max_pool2d`` (a size is ``int | tuple[int, int]``) and, through ``@overload`` on
``return_indices``, that ``max_pool2d(x, 2)`` is an array and ``max_pool2d(x, 2, return_indices=True)`` a
pair ``(values, int64 indices)``. The forms follow the docstrings: the functions also accept lists and NumPy
integers where the docstrings say tuples and ints, but type checkers are told about the documented forms only.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, Union, overload

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    from ._params import Geometry

    #: what every function returns (``axes``' other dimensions and the dtype are the input's)
    Array = NDArray[Any]
    #: max pooling's indices: int64 flat positions in the pooled extent
    Indices = NDArray[np.int64]
    #: max pooling with ``return_indices=True``
    Indexed = tuple[Array, Indices]

# ------------------------------------------------------------------------------------ argument forms

#: kernel sizes, strides, dilations: an int for every pooled axis, or one per axis
Size1 = Union[int, tuple[int]]
Size2 = Union[int, tuple[int, int]]
Size3 = Union[int, tuple[int, int, int]]

#: one axis' padding: the same on both sides, or (before, after)
PadSide = Union[int, tuple[int, int]]
#: TensorFlow's names: 'valid' is no padding, 'same' pads to an output of ceil(n / stride)
PadName = Literal["valid", "same"]
Padding1 = Union[int, tuple[PadSide], PadName]
Padding2 = Union[int, tuple[PadSide, PadSide], PadName]
Padding3 = Union[int, tuple[PadSide, PadSide, PadSide], PadName]

#: the pooled axes (one axis may be a bare int)
Axes1 = Union[int, tuple[int]]
Axes2 = tuple[int, int]
Axes3 = tuple[int, int, int]

#: adaptive pooling's output size: None keeps an axis' input size
OutputSize1 = Union[int, None, tuple[Union[int, None]]]
OutputSize2 = Union[int, None, tuple[Union[int, None], Union[int, None]]]
OutputSize3 = Union[int, None, tuple[Union[int, None], Union[int, None], Union[int, None]]]

# Any number of pooled axes: what the factories' closures and the cores take.
SizeArg = Union[int, tuple[int, ...]]
PaddingArg = Union[int, tuple[PadSide, ...], PadName]
AxesArg = Union[int, tuple[int, ...]]
OutputSizeArg = Union[int, None, tuple[Union[int, None], ...]]

#: a shape (``input_shape``, an unpooling's ``output_size``)
Shape = Sequence[int]

#: what a window does with NaN (SciPy's names): ``"propagate"`` (a window holding one gives NaN) or ``"omit"``
#: (NaN ignored, as ``np.nanmax`` and ``np.nanmean`` ignore it)
NanPolicy = Literal["propagate", "omit"]

# ----------------------------------------------------------------------------- the public callables

# contravariant: protocol parameters only
_S = TypeVar("_S", contravariant=True)
_P = TypeVar("_P", contravariant=True)
_A = TypeVar("_A", contravariant=True)
_O = TypeVar("_O", contravariant=True)


class MaxPoolFunction(Protocol[_S, _P, _A]):
    """``max_pool{1,2,3}d`` and ``min_pool{1,2,3}d``: an array, or ``(values, indices)`` with
    ``return_indices=True``."""

    @overload
    def __call__(self, x: ArrayLike, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0,
                 dilation: _S | int = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
                 nan_policy: NanPolicy = "propagate", axes: _A = ..., out: Array | None = None) -> Array: ...

    @overload
    def __call__(self, x: ArrayLike, kernel_size: _S, stride: _S | None, padding: _P | int, dilation: _S | int,
                 ceil_mode: bool, return_indices: Literal[True], *, nan_policy: NanPolicy = "propagate",
                 axes: _A = ..., out: Array | None = None) -> Indexed: ...

    @overload
    def __call__(self, x: ArrayLike, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0,
                 dilation: _S | int = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
                 nan_policy: NanPolicy = "propagate", axes: _A = ..., out: Array | None = None) -> Indexed: ...

    @overload
    def __call__(self, x: ArrayLike, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0,
                 dilation: _S | int = 1, ceil_mode: bool = False, return_indices: bool = False, *,
                 nan_policy: NanPolicy = "propagate", axes: _A = ..., out: Array | None = None) -> Array | Indexed: ...


class MaxPoolBackwardFunction(Protocol[_A]):
    """``max_pool{1,2,3}d_backward`` and ``min_pool{1,2,3}d_backward``."""

    def __call__(self, grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape, *,
                 nan_policy: NanPolicy = "propagate", axes: _A = ..., out: Array | None = None) -> Array: ...


class AvgPoolFunction(Protocol[_S, _P, _A]):
    """``avg_pool{1,2,3}d``."""

    def __call__(self, x: ArrayLike, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None,
                 *, nan_policy: NanPolicy = "propagate", axes: _A = ..., out: Array | None = None) -> Array: ...


class AvgPoolBackwardFunction(Protocol[_S, _P, _A]):
    """``avg_pool{1,2,3}d_backward``."""

    def __call__(self, grad_output: ArrayLike, input_shape: Shape, kernel_size: _S, stride: _S | None = None,
                 padding: _P | int = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None, *, nan_policy: NanPolicy = "propagate",
                 x: ArrayLike | None = None, axes: _A = ..., out: Array | None = None) -> Array: ...


class AdaptiveMaxPoolFunction(Protocol[_O, _A]):
    """``adaptive_max_pool{1,2,3}d``: an array, or ``(values, indices)`` with ``return_indices=True``."""

    @overload
    def __call__(self, x: ArrayLike, output_size: _O, return_indices: Literal[False] = False, *, axes: _A = ...,
                 out: Array | None = None) -> Array: ...

    @overload
    def __call__(self, x: ArrayLike, output_size: _O, return_indices: Literal[True], *, axes: _A = ...,
                 out: Array | None = None) -> Indexed: ...

    @overload
    def __call__(self, x: ArrayLike, output_size: _O, return_indices: bool = False, *, axes: _A = ...,
                 out: Array | None = None) -> Array | Indexed: ...


class AdaptiveAvgPoolFunction(Protocol[_O, _A]):
    """``adaptive_avg_pool{1,2,3}d``."""

    def __call__(self, x: ArrayLike, output_size: _O, *, axes: _A = ..., out: Array | None = None) -> Array: ...


class AdaptiveAvgPoolBackwardFunction(Protocol[_A]):
    """``adaptive_avg_pool{1,2,3}d_backward``."""

    def __call__(self, grad_output: ArrayLike, input_shape: Shape, *, axes: _A = ...,
                 out: Array | None = None) -> Array: ...


class MaxUnpoolFunction(Protocol[_S, _P, _A]):
    """``max_unpool{1,2,3}d`` (``padding='same'`` is refused at run time: unpooling cannot know it)."""

    def __call__(self, x: ArrayLike, indices: ArrayLike, kernel_size: _S, stride: _S | None = None,
                 padding: _P | int = 0, output_size: Shape | None = None, *, axes: _A = ...,
                 out: Array | None = None) -> Array: ...


class UnfoldFunction(Protocol[_S, _P, _A]):
    """``unfold{1,2,3}d``: the windows ``(..., O..., K...)`` (a read-only view when no window needs padding)."""

    def __call__(self, x: ArrayLike, kernel_size: _S, stride: _S | int = 1, padding: _P | int = 0,
                 dilation: _S | int = 1, *, axes: _A = ...) -> Array: ...


class FoldFunction(Protocol[_S, _P, _A]):
    """``fold{1,2,3}d``: every window added back where it came from."""

    def __call__(self, windows: ArrayLike, input_shape: Shape, stride: _S | int = 1, padding: _P | int = 0,
                 dilation: _S | int = 1, *, axes: _A = ..., out: Array | None = None) -> Array: ...


class BlockReduceFunction(Protocol):
    """``block_reduce``: scikit-image's signature; the result is ``func``'s over the blocks (an array for
    NumPy's reductions, a masked array for a masked image; typed as an array, what scikit-image documents)."""

    def __call__(self, image: ArrayLike, block_size: int | Sequence[int] = 2, func: Callable[..., Any] = ...,
                 cval: Any = 0, func_kwargs: Mapping[str, Any] | None = None) -> Array: ...


class PoolingCallable(Protocol):
    """``Pooling2D``'s pooling function, the question's protocol: ``f(window)`` is the pooled value,
    ``f(window, backwards=True)`` the window's weight mask (both of a flattened window)."""

    def __call__(self, partition: Array, backwards: bool = False) -> Any: ...


# ------------------------------------------------------------------------------------------- the cores

#: pooled axes after validation: non-negative, distinct
Ax = tuple[int, ...]


class Core(Protocol):
    """What :mod:`stridepool._api` and the layers call on a backend's core (``stridepool._compiled`` or
    ``stridepool._reference``, modules that type checkers hold to this protocol): every operation for any
    number of pooled axes ``nd``, with the public functions' arguments, and the layers' entry points."""

    def max_pool(self, nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
                 dilation: SizeArg, ceil_mode: bool, return_indices: bool, axes: AxesArg,
                 out: Array | None) -> Array | Indexed: ...

    def max_pool_backward(self, nd: int, grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape,
                          axes: AxesArg, out: Array | None) -> Array: ...

    def avg_pool(self, nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
                 ceil_mode: bool, count_include_pad: bool, divisor_override: int | None, axes: AxesArg,
                 out: Array | None) -> Array: ...

    def avg_pool_backward(self, nd: int, grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg,
                          stride: SizeArg | None, padding: PaddingArg, ceil_mode: bool, count_include_pad: bool,
                          divisor_override: int | None, axes: AxesArg, out: Array | None) -> Array: ...

    def adaptive_max_pool(self, nd: int, x: ArrayLike, output_size: OutputSizeArg, return_indices: bool,
                          axes: AxesArg, out: Array | None) -> Array | Indexed: ...

    def adaptive_avg_pool(self, nd: int, x: ArrayLike, output_size: OutputSizeArg, axes: AxesArg,
                          out: Array | None) -> Array: ...

    def adaptive_avg_pool_backward(self, nd: int, grad_output: ArrayLike, input_shape: Shape, axes: AxesArg,
                                   out: Array | None) -> Array: ...

    def max_unpool(self, nd: int, x: ArrayLike, indices: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None,
                   padding: PaddingArg, output_size: Shape | None, axes: AxesArg, out: Array | None) -> Array: ...

    def unfold(self, nd: int, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg, padding: PaddingArg,
               dilation: SizeArg, axes: AxesArg) -> Array: ...

    def fold(self, nd: int, windows: ArrayLike, input_shape: Shape, stride: SizeArg, padding: PaddingArg,
             dilation: SizeArg, axes: AxesArg, out: Array | None) -> Array: ...

    # the layers' entry points: validated arrays, a Geometry; indices as int64 positions
    @overload
    def run_max(self, x: Array, ax: Ax, geo: Geometry, return_indices: Literal[False], out: Array | None = None
                ) -> Array: ...

    @overload
    def run_max(self, x: Array, ax: Ax, geo: Geometry, return_indices: Literal[True], out: Array | None = None
                ) -> tuple[Array, Array]: ...

    # min and NaN-ignoring pooling's (stridepool._variants): the gradient of max pooling by index
    def run_max_backward(self, g: Array, idx: Array, shape: Ax, ax: Ax, out: Array | None = None) -> Array: ...

    # block_reduce's and stridepool._variants': average pooling of a validated array (``include``:
    # count_include_pad; ``div``: 0 or the divisor)
    def run_avg(self, x: Array, ax: Ax, geo: Geometry, include: bool, div: int, out: Array | None = None) -> Array: ...

    # block_reduce's integer sums (``dtype`` int64 or uint64) and means (float64) over whole blocks
    def run_block_sum(self, x: Array, ax: Ax, block: Ax, dtype: np.dtype[Any], out: Array | None = None
                      ) -> Array: ...

    # block_reduce's maxima and minima (``op``: max, min, nanmax, nanmin) over whole blocks
    def run_block_extreme(self, x: Array, ax: Ax, block: Ax, op: str, out: Array | None = None) -> Array: ...

    # block_reduce's NaN-ignoring sums and means of floats over whole blocks
    def run_block_nansum(self, x: Array, ax: Ax, block: Ax, mean: bool, out: Array | None = None) -> Array: ...

    def release_memory(self) -> int: ...

    # the lean path: the result of a call remembered by its operation (``"max"``, ``"maxbw"``, ``"avg"``,
    # ``"avgbw"``, ``"amax"``, ``"aavg"``, ``"aavgbw"``), input, flags and parameters, or None (the full path)
    def lean(self, nd: int, op: str, x: object, flags: tuple[object, ...], params: tuple[Any, ...],
             idx: object = None) -> Any: ...


class DaskPath(Protocol):
    """``stridepool._dask``, loaded when a dask array arrives: every operation of a core for dask arrays.

    Its results are dask arrays. The annotations of this package describe NumPy arrays: a dask array passes as
    an array-like, and its (lazy) result is typed as the NumPy array it stands for.
    """

    def max_pool(self, *args: Any, **kwargs: Any) -> Array | Indexed: ...
    def adaptive_max_pool(self, *args: Any, **kwargs: Any) -> Array | Indexed: ...
    def max_pool_backward(self, *args: Any, **kwargs: Any) -> Array: ...
    def avg_pool(self, *args: Any, **kwargs: Any) -> Array: ...
    def adaptive_avg_pool(self, *args: Any, **kwargs: Any) -> Array: ...
    def avg_pool_backward(self, *args: Any, **kwargs: Any) -> Array: ...
    def adaptive_avg_pool_backward(self, *args: Any, **kwargs: Any) -> Array: ...
    def unfold(self, *args: Any, **kwargs: Any) -> Array: ...
    def fold(self, *args: Any, **kwargs: Any) -> Array: ...
    def max_unpool(self, *args: Any, **kwargs: Any) -> Array: ...
    def block_reduce(self, *args: Any, **kwargs: Any) -> Any: ...

    # argument checks for the dask forms of stridepool._variants' compositions
    def meta(self, a: Any, name: str) -> Any: ...
    def no_out(self, out: object) -> None: ...
