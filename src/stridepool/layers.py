"""Layers with a cached forward and a backward, for 1, 2 and 3 pooled axes, and the question's ``Pooling2D``.

One class per kind of layer holds the logic for any number of pooled axes; ``MaxPool1d``, ``MaxPool2d``,
``MaxPool3d`` ... only fix that number. Layers call the active backend's public functions.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, overload

import numpy as np

from . import _lazy
from . import _params as P
from ._typing import (
    Axes1, Axes2, Axes3, AxesArg, OutputSize1, OutputSize2, OutputSize3, OutputSizeArg, Padding1, Padding2, Padding3,
    PaddingArg, Size1, Size2, Size3, SizeArg)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._params import Geometry
    from ._typing import (
        AdaptiveAvgPoolBackwardFunction, AdaptiveAvgPoolFunction, AdaptiveMaxPoolFunction, Array, Ax,
        AvgPoolBackwardFunction, AvgPoolFunction, Core, FoldFunction, Indexed, MaxPoolBackwardFunction,
        MaxPoolFunction, MaxUnpoolFunction, PoolingCallable, Shape, UnfoldFunction)

    class _Package(Protocol):
        """What ``Pooling2D`` calls on the ``stridepool`` module (a type checker holds the module to it)."""

        max_pool2d: MaxPoolFunction[Size2, Padding2, Axes2]
        max_pool2d_backward: MaxPoolBackwardFunction[Axes2]
        avg_pool2d: AvgPoolFunction[Size2, Padding2, Axes2]
        avg_pool2d_backward: AvgPoolBackwardFunction[Size2, Padding2, Axes2]
        unfold2d: UnfoldFunction[Size2, Padding2, Axes2]
        fold2d: FoldFunction[Size2, Padding2, Axes2]

# the argument forms of a layer's number of pooled axes (Size2, Padding2, Axes2, OutputSize2 for 2)
_S = TypeVar("_S", bound=SizeArg)
_P = TypeVar("_P", bound=PaddingArg)
_A = TypeVar("_A", bound=AxesArg)
_O = TypeVar("_O", bound=OutputSizeArg)


def _api() -> _Package:
    import stridepool  # the public functions of the active backend

    return stridepool


def _core() -> Core:
    import stridepool  # the active backend's core

    return stridepool._core


@overload
def _function(op: Literal["max_pool"], nd: int) -> MaxPoolFunction[Any, Any, Any]: ...
@overload
def _function(op: Literal["max_pool_backward"], nd: int) -> MaxPoolBackwardFunction[Any]: ...
@overload
def _function(op: Literal["avg_pool"], nd: int) -> AvgPoolFunction[Any, Any, Any]: ...
@overload
def _function(op: Literal["avg_pool_backward"], nd: int) -> AvgPoolBackwardFunction[Any, Any, Any]: ...
@overload
def _function(op: Literal["adaptive_max_pool"], nd: int) -> AdaptiveMaxPoolFunction[Any, Any]: ...
@overload
def _function(op: Literal["adaptive_avg_pool"], nd: int) -> AdaptiveAvgPoolFunction[Any, Any]: ...
@overload
def _function(op: Literal["adaptive_avg_pool_backward"], nd: int) -> AdaptiveAvgPoolBackwardFunction[Any]: ...
@overload
def _function(op: Literal["max_unpool"], nd: int) -> MaxUnpoolFunction[Any, Any, Any]: ...


def _function(op: str, nd: int) -> Any:
    from ._api import public_name

    return getattr(_api(), public_name(op, nd))


class _Layer:
    """What every layer shares: the number of pooled axes and the pooled axes themselves."""

    _nd = 2
    axes: AxesArg

    def _init_axes(self, axes: AxesArg | None) -> None:
        self.axes = tuple(range(-self._nd, 0)) if axes is None else axes

    def _require(self, attribute: str) -> None:
        if getattr(self, attribute) is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")

    def __repr__(self) -> str:
        skip = ("axes",)
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k not in skip)
        return f"{type(self).__name__}({args})"


class _MaxLayer(_Layer):
    """Max pooling layers remember, per output element, the int64 position of the maximum (the public indices).
    A one-byte window tap instead moves 7 bytes less per element through memory, but measured 1.4-2.2x slower
    per forward and backward than the positions' kernels (ResNet stem, VGG, 14x14 planes; bench/targets.md),
    so the layers use the positions."""

    # the last forward's, None before it (backward checks with _require)
    _indices: Array
    _input_shape: tuple[int, ...]
    _geo: Geometry
    _ax: Ax

    def _forget(self) -> None:
        self._indices = self._input_shape = self._geo = self._ax = None  # type: ignore[assignment]

    def _pool(self, x: Array, ax: Ax, geo: Geometry) -> Array:
        y, self._indices = _core().run_max(x, ax, geo, True)
        self._input_shape, self._geo, self._ax = x.shape, geo, ax
        return y

    def _pool_dask(self, x: Any, fn: Callable[..., Indexed], *args: Any) -> Array:
        y, self._indices = fn(x, *args, True, axes=self.axes)
        self._input_shape = x.shape
        return y

    def backward(self, grad_output: ArrayLike) -> Array:
        """Gradient with respect to the last ``forward`` input."""
        self._require("_indices")
        return _function("max_pool_backward", self._nd)(grad_output, self._indices, self._input_shape,
                                                        axes=self.axes)


class _MaxPool(_MaxLayer, Generic[_S, _P, _A]):
    def __init__(self, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0, dilation: _S | int = 1,
                 ceil_mode: bool = False, *, axes: _A | None = None) -> None:
        P.as_tuple(kernel_size, "kernel_size", self._nd)
        P.parse_padding(padding, self._nd)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode
        self._init_axes(axes)
        self._forget()

    def forward(self, x: ArrayLike) -> Array:
        """Pool ``x`` and remember where each maximum came from."""
        args = (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        if _lazy.is_dask(x):
            return self._pool_dask(x, _function("max_pool", self._nd), *args)
        return self._pool(*P.prepare_pool(x, self.axes, self._nd, *args))

    __call__ = forward


class _AvgPool(_Layer, Generic[_S, _P, _A]):
    _input_shape: tuple[int, ...]  # the last forward's, None before it (backward checks with _require)

    def __init__(self, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None, *,
                 axes: _A | None = None) -> None:
        P.as_tuple(kernel_size, "kernel_size", self._nd)
        P.parse_padding(padding, self._nd)
        P.divisor(divisor_override)
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override
        self._init_axes(axes)
        self._input_shape = None  # type: ignore[assignment]

    def _args(self) -> tuple[_S, _S | None, _P | int, bool, bool, int | None]:
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                self.divisor_override)

    def forward(self, x: ArrayLike) -> Array:
        """Average-pool ``x``."""
        y = _function("avg_pool", self._nd)(x, *self._args(), axes=self.axes)
        self._input_shape = np.shape(x)
        return y

    __call__ = forward

    def backward(self, grad_output: ArrayLike) -> Array:
        """Gradient with respect to the last ``forward`` input."""
        self._require("_input_shape")
        return _function("avg_pool_backward", self._nd)(grad_output, self._input_shape, *self._args(),
                                                        axes=self.axes)


class _AdaptiveMaxPool(_MaxLayer, Generic[_O, _A]):
    def __init__(self, output_size: _O, *, axes: _A | None = None) -> None:
        P.adaptive_geometry((1,) * self._nd, output_size)  # the output_size's form, before any input
        self.output_size = output_size
        self._init_axes(axes)
        self._forget()

    def forward(self, x: ArrayLike) -> Array:
        """Pool ``x`` to ``output_size`` and remember where each maximum came from."""
        if _lazy.is_dask(x):
            return self._pool_dask(x, _function("adaptive_max_pool", self._nd), self.output_size)
        return self._pool(*P.prepare_adaptive(x, self.axes, self._nd, self.output_size))

    __call__ = forward


class _AdaptiveAvgPool(_Layer, Generic[_O, _A]):
    _input_shape: tuple[int, ...]  # the last forward's, None before it (backward checks with _require)

    def __init__(self, output_size: _O, *, axes: _A | None = None) -> None:
        P.adaptive_geometry((1,) * self._nd, output_size)
        self.output_size = output_size
        self._init_axes(axes)
        self._input_shape = None  # type: ignore[assignment]

    def forward(self, x: ArrayLike) -> Array:
        """Average ``x`` to ``output_size``."""
        y = _function("adaptive_avg_pool", self._nd)(x, self.output_size, axes=self.axes)
        self._input_shape = np.shape(x)
        return y

    __call__ = forward

    def backward(self, grad_output: ArrayLike) -> Array:
        """Gradient with respect to the last ``forward`` input."""
        self._require("_input_shape")
        return _function("adaptive_avg_pool_backward", self._nd)(grad_output, self._input_shape, axes=self.axes)


class _MaxUnpool(_Layer, Generic[_S, _P, _A]):
    _indices: Array  # the last forward's, None before it (backward checks with _require)

    def __init__(self, kernel_size: _S, stride: _S | None = None, padding: _P | int = 0, *,
                 axes: _A | None = None) -> None:
        P.as_tuple(kernel_size, "kernel_size", self._nd)
        P.parse_padding(padding, self._nd)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self._init_axes(axes)
        self._indices = None  # type: ignore[assignment]

    def forward(self, x: ArrayLike, indices: ArrayLike, output_size: Shape | None = None) -> Array:
        """Unpool ``x`` to the positions ``indices`` (from a max pooling's ``return_indices``)."""
        y = _function("max_unpool", self._nd)(x, indices, self.kernel_size, self.stride, self.padding,
                                              output_size, axes=self.axes)
        self._indices = np.asarray(indices)
        return y

    __call__ = forward

    def backward(self, grad_output: ArrayLike) -> Array:
        """Gradient with respect to the last ``forward`` input: ``grad_output`` gathered at the indices.

        As PyTorch's, it gathers for every element, also for one whose index another element took over.
        """
        self._require("_indices")
        P.not_masked(grad_output, "grad_output")
        g = np.asarray(grad_output)
        idx = self._indices
        ax = P.normalize_axes(self.axes, g.ndim, self._nd, what="grad_output")
        gl, il = np.moveaxis(g, ax, range(-self._nd, 0)), np.moveaxis(idx, ax, range(-self._nd, 0))
        lead = il.shape[:-self._nd]
        if gl.shape[:-self._nd] != lead:
            raise ValueError(f"`grad_output` must have the unpooled shape of the last forward, got {g.shape}")
        n = int(np.prod(lead, dtype=np.int64))
        flat = np.take_along_axis(gl.reshape(n, -1), il.reshape(n, -1).astype(np.int64), axis=1)
        return np.moveaxis(flat.reshape(il.shape), range(-self._nd, 0), ax)


# ------------------------------------------------------------------------------ the named layer classes

_SHAPES = {1: ((1, 1, 4), (1, 1, 2)), 2: ((1, 1, 4, 4), (1, 1, 2, 2)), 3: ((1, 1, 4, 4, 4), (1, 1, 2, 2, 2))}

_LAYER_DOCS: dict[type, str] = {
    _MaxPool: """Max pooling layer over {nd} axes: ``forward`` keeps the indices, ``backward`` scatters the gradient.

    Parameters are those of :func:`stridepool.max_pool{nd}d`.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.MaxPool{nd}d(2)
    >>> y = pool.forward(np.arange({size}.0).reshape({shape}))
    >>> y.shape
    {oshape}
    >>> float(pool.backward(np.ones_like(y)).sum())
    {count}.0
    """,
    _AvgPool: """Average pooling layer over {nd} axes; parameters are those of :func:`stridepool.avg_pool{nd}d`.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.AvgPool{nd}d(2)
    >>> y = pool.forward(np.ones({shape}))
    >>> y.shape
    {oshape}
    >>> float(pool.backward(np.ones_like(y)).sum())
    {count}.0
    """,
    _AdaptiveMaxPool: """Adaptive max pooling layer over {nd} axes (:func:`stridepool.adaptive_max_pool{nd}d`).

    ``backward`` scatters the gradient to the maxima with :func:`stridepool.max_pool{nd}d_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.AdaptiveMaxPool{nd}d(2)
    >>> y = pool.forward(np.arange({size}.0).reshape({shape}))
    >>> y.shape
    {oshape}
    >>> float(pool.backward(np.ones_like(y)).sum())
    {count}.0
    """,
    _AdaptiveAvgPool: """Adaptive average pooling layer over {nd} axes (:func:`stridepool.adaptive_avg_pool{nd}d`).

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.AdaptiveAvgPool{nd}d(2)
    >>> y = pool.forward(np.ones({shape}))
    >>> y.shape
    {oshape}
    >>> float(pool.backward(np.ones_like(y)).sum())
    {count}.0
    """,
    _MaxUnpool: """Max unpooling layer over {nd} axes (:func:`stridepool.max_unpool{nd}d`).

    ``forward(x, indices, output_size=None)`` puts every element of ``x`` at its index; ``backward``
    gathers the gradient at the indices.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> x = np.arange({size}.0).reshape({shape})
    >>> y, idx = sp.max_pool{nd}d(x, 2, return_indices=True)
    >>> unpool = sp.MaxUnpool{nd}d(2)
    >>> unpool.forward(y, idx).shape
    {ishape}
    >>> unpool.backward(x).shape
    {oshape}
    """,
}


def _doc(base: type, nd: int) -> str:
    shape, oshape = _SHAPES[nd]
    return _LAYER_DOCS[base].format(nd=nd, size=4 ** nd, shape=shape, oshape=oshape, ishape=shape, count=2 ** nd)


class MaxPool1d(_MaxPool[Size1, Padding1, Axes1]):
    __doc__, _nd = _doc(_MaxPool, 1), 1


class MaxPool2d(_MaxPool[Size2, Padding2, Axes2]):
    __doc__, _nd = _doc(_MaxPool, 2), 2


class MaxPool3d(_MaxPool[Size3, Padding3, Axes3]):
    __doc__, _nd = _doc(_MaxPool, 3), 3


class AvgPool1d(_AvgPool[Size1, Padding1, Axes1]):
    __doc__, _nd = _doc(_AvgPool, 1), 1


class AvgPool2d(_AvgPool[Size2, Padding2, Axes2]):
    __doc__, _nd = _doc(_AvgPool, 2), 2


class AvgPool3d(_AvgPool[Size3, Padding3, Axes3]):
    __doc__, _nd = _doc(_AvgPool, 3), 3


class AdaptiveMaxPool1d(_AdaptiveMaxPool[OutputSize1, Axes1]):
    __doc__, _nd = _doc(_AdaptiveMaxPool, 1), 1


class AdaptiveMaxPool2d(_AdaptiveMaxPool[OutputSize2, Axes2]):
    __doc__, _nd = _doc(_AdaptiveMaxPool, 2), 2


class AdaptiveMaxPool3d(_AdaptiveMaxPool[OutputSize3, Axes3]):
    __doc__, _nd = _doc(_AdaptiveMaxPool, 3), 3


class AdaptiveAvgPool1d(_AdaptiveAvgPool[OutputSize1, Axes1]):
    __doc__, _nd = _doc(_AdaptiveAvgPool, 1), 1


class AdaptiveAvgPool2d(_AdaptiveAvgPool[OutputSize2, Axes2]):
    __doc__, _nd = _doc(_AdaptiveAvgPool, 2), 2


class AdaptiveAvgPool3d(_AdaptiveAvgPool[OutputSize3, Axes3]):
    __doc__, _nd = _doc(_AdaptiveAvgPool, 3), 3


class MaxUnpool1d(_MaxUnpool[Size1, Padding1, Axes1]):
    __doc__, _nd = _doc(_MaxUnpool, 1), 1


class MaxUnpool2d(_MaxUnpool[Size2, Padding2, Axes2]):
    __doc__, _nd = _doc(_MaxUnpool, 2), 2


class MaxUnpool3d(_MaxUnpool[Size3, Padding3, Axes3]):
    __doc__, _nd = _doc(_MaxUnpool, 3), 3


LAYERS = ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveMaxPool1d",
          "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
          "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Pooling2D")


class Pooling2D:
    """The question's ``Pooling2D`` class, with the same constructor and attributes, made fast.

    Parameters
    ----------
    pool_funct : {'max', 'avg'} or callable
        ``'max'`` and ``'avg'`` run the compiled kernels. A callable follows the question's protocol
        ``f(partition, backwards=False)``: ``partition`` is one flattened window; it returns the pooled
        scalar, or with ``backwards=True`` a weight mask of the window's shape. A callable runs slowly
        (``np.apply_along_axis``) on zero-padded windows, exactly as the question did; its backward adds the
        masked gradients back with :func:`stridepool.fold2d`. ``function=`` is an alias.
    kernel_size : (int, int)
    input_size : (C, H, W)
    strides : (int, int), default (1, 1)
    padding : int, default 0
        ``'max'`` never selects padding (the question padded with zeros: the same wherever the data is
        non-negative), and padding is at most half the kernel, as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.Pooling2D(function="max", kernel_size=(3, 3), input_size=(2, 6, 6), strides=(1, 1))
    >>> pool.out_size
    (2, 4, 4)
    >>> A = np.random.default_rng(0).integers(3, 10, pool.in_size)
    >>> pool.forward(A).shape
    (2, 4, 4)
    >>> int(pool.backward(np.ones(pool.out_size, dtype=int)).sum())
    32
    """

    funct: Literal["max", "avg"] | PoolingCallable
    last_in: Array | None
    last_out: Array | None
    _indices: Array  # the last forward's ('max'), None before it

    def __init__(self, pool_funct: Literal["max", "avg"] | PoolingCallable | None = None,
                 kernel_size: Size2 | None = None, input_size: Shape | None = None, strides: Size2 = (1, 1),
                 padding: int = 0, *, function: Literal["max", "avg"] | PoolingCallable | None = None) -> None:
        if (pool_funct is None) == (function is None):
            raise TypeError("give exactly one of `pool_funct` and its alias `function`, got "
                            f"pool_funct={pool_funct!r}, function={function!r}")
        funct = pool_funct if function is None else function
        if not callable(funct) and funct not in ("max", "avg"):
            raise ValueError(f"`pool_funct` must be 'max', 'avg' or a callable, got {funct!r}")
        if kernel_size is None or input_size is None:
            raise TypeError("`kernel_size` and `input_size` are required")
        self.funct = funct
        self.kernel_height, self.kernel_width = P.as_pair(kernel_size, "kernel_size")
        self.stride_h, self.stride_w = P.as_pair(strides, "strides")
        self.in_size = P.as_shape(input_size, "input_size")
        if len(self.in_size) != 3:
            raise ValueError(f"`input_size` must be (C, H, W), got {input_size!r}")
        self.padding = P._int(padding, "padding")
        g = P.geometry(self.in_size[1:], (self.kernel_height, self.kernel_width), (self.stride_h, self.stride_w),
                       self.padding, 1, False, pooling=not callable(funct))
        self.out_size = (self.in_size[0],) + g.out
        self.window_shape = (*self.out_size, self.kernel_height, self.kernel_width)
        self.last_in = self.last_out = None
        self._indices = None  # type: ignore[assignment]

    def _geo(self) -> tuple[tuple[int, int], tuple[int, int], int]:
        return (self.kernel_height, self.kernel_width), (self.stride_h, self.stride_w), self.padding

    def forward(self, x: ArrayLike) -> Array:
        """Pool a ``(C, H, W)`` array; remembers what ``backward`` needs."""
        P.not_masked(x, "x")
        x = np.asarray(x)
        if x.shape != self.in_size:
            raise ValueError(f"`x` must have shape input_size {self.in_size}, got {x.shape}")
        sp = _api()
        k, s, p = self._geo()
        if self.funct == "max":
            y, self._indices = sp.max_pool2d(x, k, s, p, return_indices=True)
        elif self.funct == "avg":
            y = sp.avg_pool2d(x, k, s, p)
        else:
            windows = sp.unfold2d(x, k, s, p)
            y = np.apply_along_axis(self.funct, -1, windows.reshape(*self.out_size, -1))
        self.last_in, self.last_out = x, y
        return y

    __call__ = forward

    def backward(self, dx: ArrayLike) -> Array:
        """Gradient with respect to the last ``forward`` input, shape ``input_size``."""
        if self.last_in is None:
            raise RuntimeError("Pooling2D.backward called before forward")
        sp = _api()
        k, s, p = self._geo()
        if self.funct == "max":
            return sp.max_pool2d_backward(dx, self._indices, self.in_size)
        if self.funct == "avg":
            return sp.avg_pool2d_backward(dx, self.in_size, k, s, p)
        windows = sp.unfold2d(self.last_in, k, s, p)
        mask = np.apply_along_axis(self.funct, -1, windows.reshape(*self.out_size, -1), backwards=True)
        grads = np.asarray(dx)[..., None, None] * mask.reshape(windows.shape)
        return sp.fold2d(grads, self.in_size, s, p)
