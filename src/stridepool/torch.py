"""PyTorch bridge: ``torch.nn.functional``'s pooling functions and ``torch.nn``'s pooling modules on stridepool's
kernels, differentiable, with PyTorch's names, signatures, defaults and results.

>>> import torch, stridepool.torch as spt                                            # doctest: +SKIP
>>> y, idx = spt.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)          # doctest: +SKIP
>>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), spt.MaxPool2d(2))          # doctest: +SKIP

What runs where
    CPU tensors of the dtypes the kernels serve, laid out contiguously or ``channels_last`` (``channels_last_3d``),
    go to the kernels with no copy: the tensor's memory is handed to NumPy as it is (a channels_last ``(N, C, H,
    W)`` tensor is a contiguous ``(N, H, W, C)`` array, pooled over ``axes=(1, 2)``; the result is channels_last
    again). Served: float32 and float64 for every operation; int8, int16, int32, int64 and uint8 for max
    pooling, adaptive max pooling and max unpooling. Everything else (CUDA, MPS, meta tensors, float16 and
    bfloat16 as autocast makes them, complex, integer average pooling, sparse layouts, an input of a number of
    dimensions torch rejects) is handed to ``torch.nn.functional``'s own function, so a model built on these
    runs wherever torch runs and gets torch's results and errors there.

Derivatives
    Every operation is differentiable, twice and more: the gradient of max pooling is a scatter-add at the
    indices (itself differentiable: its derivative is a gather), the gradient of average pooling is its adjoint
    (whose derivative is average pooling again). Indices are never differentiable.

Mechanism
    One family per operation (``max_pool``, ``adaptive_max_pool``, ``max_pool_backward``, ``avg_pool``,
    ``avg_pool_backward``, ``adaptive_avg_pool``, ``adaptive_avg_pool_backward``, ``max_unpool``), each for 1,
    2 and 3 pooled axes. A family is a ``torch.library.custom_op`` named ``stridepool::<family>`` (CPU kernel,
    a fake implementation with the real output's strides, and its derivative), used under ``torch.compile``,
    and a ``torch.autograd.Function`` with the same kernel and derivative, used eagerly where a gradient is
    needed (cheaper per call than the custom op; measured in ``bench/bridges.py``). Without a gradient to
    record the kernel is called directly. ``docs/frameworks.rst`` has the numbers and the rules (ties, NaN,
    threads).
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, Union, cast, overload

try:
    import torch
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError('stridepool.torch needs PyTorch: pip install "stridepool[torch]"') from e

import numpy as np

import stridepool as _sp

from ._api import public_name

if TYPE_CHECKING:
    from numpy.typing import NDArray

Tensor = torch.Tensor
F = torch.nn.functional

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
]

#: an int for every pooled axis, or one per axis (lists work too, as in torch)
Size = Union[int, Sequence[int]]
#: adaptive pooling's output size: None keeps an axis' input size
OutputSize = Union[int, None, Sequence[Union[int, None]]]

#: how an eager call that records a gradient runs: "function" (torch.autograd.Function) or "op" (the custom op)
EAGER: Literal["function", "op"] = "function"

# ------------------------------------------------------------------------------------------------ layout
#
# A tensor reaches the kernels as the NumPy array over its own memory. Contiguous: the array as it is, pooled
# over its last nd axes. Channels-last (N, C, *spatial) (the batch then the channels are the outer and inner
# axes in memory): the permuted (N, *spatial, C) view, which is a contiguous array, pooled over axes 1..nd;
# the result, a contiguous (N, *spatial', C) array, is permuted back, a channels_last tensor. Anything else is
# handed over as it is and stridepool copies it once into a contiguous layout.

_PERM = {nd: (0, *range(2, nd + 2), 1) for nd in (1, 2, 3)}     # (N, C, *S) -> (N, *S, C)
_INV = {nd: (0, nd + 1, *range(1, nd + 1)) for nd in (1, 2, 3)}  # (N, *S, C) -> (N, C, *S)
_AXES = {nd: (tuple(range(-nd, 0)), tuple(range(1, nd + 1))) for nd in (1, 2, 3)}  # [channels_last]

_FLOATS = frozenset({torch.float32, torch.float64})
_REALS = _FLOATS | {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8}


def _channels_last(t: Tensor, nd: int) -> bool:
    """True for a batched tensor laid out channels-last (and not also contiguous: a size-1 axis makes both)."""
    return t.dim() == nd + 2 and not t.is_contiguous() and t.permute(_PERM[nd]).is_contiguous()


def _array(t: Tensor, nd: int, cl: bool) -> NDArray[Any]:
    """The NumPy array over ``t``'s memory (no copy), permuted channels-last when ``cl``."""
    t = t.detach()
    return (t.permute(_PERM[nd]) if cl else t).numpy()


def _tensor(a: NDArray[Any], nd: int, cl: bool) -> Tensor:
    """A kernel's result as a tensor over the same memory, permuted back when ``cl``. The compiled kernels' results
    are C-contiguous already (what the fake implementations promise); the reference backend's may not be."""
    t = torch.from_numpy(a if a.flags.c_contiguous else np.ascontiguousarray(a))
    return t.permute(_INV[nd]) if cl else t


def _empty(like: Tensor, shape: Sequence[Any], nd: int, cl: bool, dtype: torch.dtype | None = None) -> Tensor:
    """An uninitialised tensor laid out as :func:`_tensor` lays out a result (the fake implementations' output)."""
    if cl:
        return like.new_empty([shape[i] for i in _PERM[nd]], dtype=dtype).permute(_INV[nd])
    return like.new_empty(list(shape), dtype=dtype)


def _shape(shape: Sequence[int], nd: int, cl: bool) -> tuple[int, ...]:
    return tuple(shape[i] for i in _PERM[nd]) if cl else tuple(shape)


def _gather(t: Tensor, indices: Tensor, nd: int) -> Tensor:
    """``t``'s elements at the flat plane positions ``indices`` (max pooling's indices): torch's own ops."""
    return t.flatten(-nd).gather(-1, indices.flatten(-nd)).view(indices.shape)


#: stridepool's NumPy functions by operation and number of pooled axes
_SP: dict[str, dict[int, Callable[..., Any]]] = {
    op: {nd: getattr(_sp, public_name(op, nd)) for nd in (1, 2, 3)}
    for op in ("max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward", "adaptive_max_pool",
               "adaptive_avg_pool", "adaptive_avg_pool_backward", "max_unpool")}


# ------------------------------------------------------------------------------------- the families
#
# A family is one operation for 1, 2 and 3 pooled axes (nd is an argument): its CPU kernel, a fake
# implementation (for torch.compile: shapes and strides of the real results), and its derivative as a
# setup_context/backward pair. Both mechanisms are made from these: a custom op and an autograd.Function.


class _Family:
    """One operation: ``stridepool::<name>`` as a custom op, and an autograd.Function with the same parts."""

    def __init__(self, name: str, schema: str, kernel: Callable[..., Any], fake: Callable[..., Any],
                 setup_context: Callable[..., None], backward: Callable[..., Any]) -> None:
        self.name, self.kernel = name, kernel
        self.op = torch.library.custom_op(f"stridepool::{name}", kernel, mutates_args=(), device_types="cpu",
                                          schema=schema)
        self.op.register_fake(fake)
        self.op.register_autograd(backward, setup_context=setup_context)

        # the classic form (forward takes ctx): a Function with a separate setup_context binds its arguments with
        # inspect.signature on every call, which costs more than the whole kernel call on small inputs
        def forward(ctx: Any, *args: Any) -> Any:
            output = kernel(*args)
            setup_context(ctx, args, output)
            return output

        self.function: type[torch.autograd.Function] = type(
            "Stridepool" + name.title().replace("_", ""), (torch.autograd.Function,),
            {"forward": staticmethod(forward), "backward": staticmethod(backward), "__module__": __name__})
        self.apply: Callable[..., Any] = self.function.apply

    def __call__(self, *args: Any) -> Any:
        """Run the family on ``args`` (first a tensor the kernels serve): the kernel itself, through an
        autograd.Function (or the op, see :data:`EAGER`) when a gradient is to be recorded; the custom op when
        anything traces the call (:func:`_here`)."""
        if not _here(args[0]):
            return self.op(*args)
        if not (args[0].requires_grad and torch.is_grad_enabled()):
            return self.kernel(*args)
        if EAGER == "op":
            return self.op(*args)
        return self.apply(*args)


_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _here(x: Tensor) -> bool:
    """True when a kernel may run on ``x`` right now: a plain tensor, not under ``torch.compile``, no torch
    dispatch mode active (fake tensors, tracing). Otherwise the custom op runs, which those understand."""
    return type(x) in _PLAIN and not torch.compiler.is_compiling() and not torch._C._len_torch_dispatch_stack()


def _nones(ctx: Any) -> tuple[None, ...]:
    return (None,) * (int(ctx.nargs) - 1)


# ---- max pooling and adaptive max pooling: (values, indices); the gradient scatters at the indices


def _max_pool_kernel(x: Tensor, nd: int, kernel_size: Sequence[int], stride: Sequence[int],
                     padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> tuple[Tensor, Tensor]:
    cl = _channels_last(x, nd)
    y, i = _SP["max_pool"][nd](_array(x, nd, cl), tuple(kernel_size), tuple(stride), tuple(padding),
                                        tuple(dilation), ceil_mode, True, axes=_AXES[nd][cl])
    return _tensor(y, nd, cl), _tensor(i, nd, cl)


def _max_pool_fake(x: Tensor, nd: int, kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int], ceil_mode: bool) -> tuple[Tensor, Tensor]:
    y, _ = _NATIVE["max_pool"][nd](x, kernel_size, stride, padding, dilation, ceil_mode, True)
    cl = _channels_last(x, nd)
    return _empty(x, y.shape, nd, cl), _empty(x, y.shape, nd, cl, torch.int64)


def _adaptive_max_pool_kernel(x: Tensor, nd: int, output_size: Sequence[int]) -> tuple[Tensor, Tensor]:
    cl = _channels_last(x, nd)
    y, i = _SP["adaptive_max_pool"][nd](_array(x, nd, cl), tuple(output_size), True, axes=_AXES[nd][cl])
    return _tensor(y, nd, cl), _tensor(i, nd, cl)


def _adaptive_max_pool_fake(x: Tensor, nd: int, output_size: Sequence[int]) -> tuple[Tensor, Tensor]:
    y, _ = _NATIVE["adaptive_max_pool"][nd](x, output_size, True)
    cl = _channels_last(x, nd)
    return _empty(x, y.shape, nd, cl), _empty(x, y.shape, nd, cl, torch.int64)


def _max_setup(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    ctx.mark_non_differentiable(output[1])
    ctx.save_for_backward(output[1])
    ctx.input_shape, ctx.nd, ctx.nargs = inputs[0].shape, inputs[1], len(inputs)


def _max_backward(ctx: Any, grad: Tensor, _: Tensor | None) -> tuple[Tensor | None, ...]:
    (indices,) = ctx.saved_tensors
    return (MAX_POOL_BACKWARD(grad, indices, list(ctx.input_shape), ctx.nd),) + _nones(ctx)


# ---- the gradient of max pooling: grad added at the indices (its own derivative is a gather)


def _scatter_kernel(grad: Tensor, indices: Tensor, input_shape: Sequence[int], nd: int) -> Tensor:
    cl = _channels_last(grad, nd)
    g = _SP["max_pool_backward"][nd](_array(grad, nd, cl), _array(indices, nd, cl),
                                              _shape(input_shape, nd, cl), axes=_AXES[nd][cl])
    return _tensor(g, nd, cl)


def _scatter_fake(grad: Tensor, indices: Tensor, input_shape: Sequence[int], nd: int) -> Tensor:
    return _empty(grad, input_shape, nd, _channels_last(grad, nd))


def _scatter_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(inputs[1])
    ctx.nd, ctx.nargs = inputs[3], len(inputs)


def _scatter_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    (indices,) = ctx.saved_tensors
    return (_gather(grad, indices, ctx.nd),) + _nones(ctx)


# ---- average pooling and its gradient, each the other's adjoint


def _avg_pool_kernel(x: Tensor, nd: int, kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                     ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Tensor:
    cl = _channels_last(x, nd)
    y = _SP["avg_pool"][nd](_array(x, nd, cl), tuple(kernel_size), tuple(stride), tuple(padding), ceil_mode,
                                     count_include_pad, divisor_override, axes=_AXES[nd][cl])
    return _tensor(y, nd, cl)


def _avg_pool_fake(x: Tensor, nd: int, kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                   ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Tensor:
    extra = () if nd == 1 else (divisor_override,)  # torch's avg_pool1d has no divisor_override
    y = _NATIVE["avg_pool"][nd](x, kernel_size, stride, padding, ceil_mode, count_include_pad, *extra)
    return _empty(x, y.shape, nd, _channels_last(x, nd))


def _avg_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.input_shape, ctx.params, ctx.nargs = inputs[0].shape, inputs[1:], len(inputs)


def _avg_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    return (AVG_POOL_BACKWARD(grad, list(ctx.input_shape), *ctx.params),) + _nones(ctx)


def _avg_pool_backward_kernel(grad: Tensor, input_shape: Sequence[int], nd: int, kernel_size: Sequence[int],
                              stride: Sequence[int], padding: Sequence[int], ceil_mode: bool,
                              count_include_pad: bool, divisor_override: int | None) -> Tensor:
    cl = _channels_last(grad, nd)
    g = _SP["avg_pool_backward"][nd](_array(grad, nd, cl), _shape(input_shape, nd, cl), tuple(kernel_size),
                                              tuple(stride), tuple(padding), ceil_mode, count_include_pad,
                                              divisor_override, axes=_AXES[nd][cl])
    return _tensor(g, nd, cl)


def _avg_pool_backward_fake(grad: Tensor, input_shape: Sequence[int], nd: int, *params: Any) -> Tensor:
    return _empty(grad, input_shape, nd, _channels_last(grad, nd))


def _avg_backward_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.params, ctx.nargs = inputs[2:], len(inputs)


def _avg_backward_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    return (AVG_POOL(grad, *ctx.params),) + _nones(ctx)


# ---- adaptive average pooling and its gradient, each the other's adjoint


def _adaptive_avg_pool_kernel(x: Tensor, nd: int, output_size: Sequence[int]) -> Tensor:
    cl = _channels_last(x, nd)
    y = _SP["adaptive_avg_pool"][nd](_array(x, nd, cl), tuple(output_size), axes=_AXES[nd][cl])
    return _tensor(y, nd, cl)


def _adaptive_avg_pool_fake(x: Tensor, nd: int, output_size: Sequence[int]) -> Tensor:
    y = _NATIVE["adaptive_avg_pool"][nd](x, output_size)
    return _empty(x, y.shape, nd, _channels_last(x, nd))


def _adaptive_avg_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.input_shape, ctx.nd, ctx.nargs = inputs[0].shape, inputs[1], len(inputs)


def _adaptive_avg_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    return (ADAPTIVE_AVG_POOL_BACKWARD(grad, list(ctx.input_shape), ctx.nd),) + _nones(ctx)


def _adaptive_avg_pool_backward_kernel(grad: Tensor, input_shape: Sequence[int], nd: int) -> Tensor:
    cl = _channels_last(grad, nd)
    g = _SP["adaptive_avg_pool_backward"][nd](_array(grad, nd, cl), _shape(input_shape, nd, cl),
                                                       axes=_AXES[nd][cl])
    return _tensor(g, nd, cl)


def _adaptive_avg_pool_backward_fake(grad: Tensor, input_shape: Sequence[int], nd: int) -> Tensor:
    return _empty(grad, input_shape, nd, _channels_last(grad, nd))


def _adaptive_avg_backward_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.nd, ctx.output_size, ctx.nargs = inputs[2], list(inputs[0].shape[-inputs[2]:]), len(inputs)


def _adaptive_avg_backward_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    return (ADAPTIVE_AVG_POOL(grad, ctx.nd, ctx.output_size),) + _nones(ctx)


# ---- max unpooling: values put at the indices; the gradient gathers from them


def _max_unpool_kernel(x: Tensor, indices: Tensor, nd: int, kernel_size: Sequence[int], stride: Sequence[int],
                       padding: Sequence[int], output_size: Sequence[int] | None) -> Tensor:
    cl = _channels_last(x, nd)
    y = _SP["max_unpool"][nd](_array(x, nd, cl), _array(indices, nd, cl), tuple(kernel_size),
                                       tuple(stride), tuple(padding),
                                       None if output_size is None else tuple(output_size), axes=_AXES[nd][cl])
    return _tensor(y, nd, cl)


def _max_unpool_fake(x: Tensor, indices: Tensor, nd: int, kernel_size: Sequence[int], stride: Sequence[int],
                     padding: Sequence[int], output_size: Sequence[int] | None) -> Tensor:
    y = _NATIVE["max_unpool"][nd](x, indices, kernel_size, stride, padding, output_size)
    return _empty(x, y.shape, nd, _channels_last(x, nd))


def _unpool_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    ctx.save_for_backward(inputs[1])
    ctx.nd, ctx.nargs = inputs[2], len(inputs)


def _unpool_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    (indices,) = ctx.saved_tensors
    return (_gather(grad, indices, ctx.nd),) + _nones(ctx)


_POOL = "int[] kernel_size, int[] stride, int[] padding"
MAX_POOL = _Family(
    "max_pool", f"(Tensor x, int nd, {_POOL}, int[] dilation, bool ceil_mode) -> (Tensor, Tensor)",
    _max_pool_kernel, _max_pool_fake, _max_setup, _max_backward)
ADAPTIVE_MAX_POOL = _Family(
    "adaptive_max_pool", "(Tensor x, int nd, SymInt[] output_size) -> (Tensor, Tensor)",
    _adaptive_max_pool_kernel, _adaptive_max_pool_fake, _max_setup, _max_backward)
MAX_POOL_BACKWARD = _Family(
    "max_pool_backward", "(Tensor grad, Tensor indices, SymInt[] input_shape, int nd) -> Tensor",
    _scatter_kernel, _scatter_fake, _scatter_setup, _scatter_backward)
AVG_POOL = _Family(
    "avg_pool", f"(Tensor x, int nd, {_POOL}, bool ceil_mode, bool count_include_pad, int? divisor_override) -> Tensor",
    _avg_pool_kernel, _avg_pool_fake, _avg_setup, _avg_backward)
AVG_POOL_BACKWARD = _Family(
    "avg_pool_backward", f"(Tensor grad, SymInt[] input_shape, int nd, {_POOL}, bool ceil_mode, "
    "bool count_include_pad, int? divisor_override) -> Tensor",
    _avg_pool_backward_kernel, _avg_pool_backward_fake, _avg_backward_setup, _avg_backward_backward)
ADAPTIVE_AVG_POOL = _Family(
    "adaptive_avg_pool", "(Tensor x, int nd, SymInt[] output_size) -> Tensor",
    _adaptive_avg_pool_kernel, _adaptive_avg_pool_fake, _adaptive_avg_setup, _adaptive_avg_backward)
ADAPTIVE_AVG_POOL_BACKWARD = _Family(
    "adaptive_avg_pool_backward", "(Tensor grad, SymInt[] input_shape, int nd) -> Tensor",
    _adaptive_avg_pool_backward_kernel, _adaptive_avg_pool_backward_fake, _adaptive_avg_backward_setup,
    _adaptive_avg_backward_backward)
MAX_UNPOOL = _Family(
    "max_unpool", f"(Tensor x, Tensor indices, int nd, {_POOL}, SymInt[]? output_size) -> Tensor",
    _max_unpool_kernel, _max_unpool_fake, _unpool_setup, _unpool_backward)

#: every family, by name
FAMILIES: dict[str, _Family] = {f.name: f for f in (MAX_POOL, ADAPTIVE_MAX_POOL, MAX_POOL_BACKWARD, AVG_POOL,
                                                    AVG_POOL_BACKWARD, ADAPTIVE_AVG_POOL, ADAPTIVE_AVG_POOL_BACKWARD,
                                                    MAX_UNPOOL)}

#: torch's own functions, for what the kernels do not serve, and for the fake implementations' shapes
_NATIVE: dict[str, dict[int, Callable[..., Any]]] = {
    op: {nd: getattr(F, f"{op}{nd}d") for nd in (1, 2, 3)}
    for op in ("max_pool", "avg_pool", "adaptive_max_pool", "adaptive_avg_pool", "max_unpool")}


# ------------------------------------------------------------------------------------------ arguments


def _served(x: object, nd: int, dtypes: frozenset[torch.dtype]) -> bool:
    """True when the kernels take ``x``: a strided CPU tensor of a served dtype, of torch's accepted ranks, outside
    ``torch.func`` transforms (vmap, grad, jacrev...: torch's own operations serve those)."""
    return (isinstance(x, Tensor) and x.is_cpu and x.dtype in dtypes and x.layout == torch.strided
            and nd + 1 <= x.dim() <= nd + 2
            and (torch.compiler.is_compiling() or not torch._C._are_functorch_transforms_active()))


def _sizes(value: Any, nd: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of 1 or ``nd`` ints (torch's forms) as ``nd`` ints (bools and floats are refused, as
    stridepool refuses them)."""
    if type(value) is int:
        return (value,) * nd
    bad = f"`{name}` must be an int or a tuple of {nd} ints, got {value!r}"
    items = value if isinstance(value, Sequence) else (value,)
    if any(isinstance(v, bool) for v in items):
        raise TypeError(bad)
    try:
        t = tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(bad) from None
    if len(t) == 1:
        return t * nd
    if len(t) != nd:
        raise ValueError(bad)
    return t


def _stride(stride: Any, kernel: tuple[int, ...], nd: int) -> tuple[int, ...]:
    """torch's rule: no stride (None or an empty sequence) is the kernel size."""
    if stride is None or (isinstance(stride, Sequence) and len(stride) == 0):
        return kernel
    return _sizes(stride, nd, "stride")


def _output_size(x: Tensor, output_size: Any, nd: int) -> list[int]:
    """Adaptive pooling's output size as ``nd`` ints (None: the input's size along that axis)."""
    sizes = tuple(output_size) if isinstance(output_size, Sequence) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"`output_size` must be an int, None or a tuple of {nd} ints or None, got {output_size!r}")
    return [x.shape[x.dim() - nd + i] if s is None else s for i, s in enumerate(sizes)]


# --------------------------------------------------------------------------------- the functions
#
# One factory per kind of operation makes its 1-D, 2-D and 3-D functions (torch's signatures); types in the
# protocols below.


class MaxPoolFunction(Protocol):
    @overload
    def __call__(self, input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 dilation: Size = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Tensor: ...
    @overload
    def __call__(self, input: Tensor, kernel_size: Size, stride: Size | None, padding: Size, dilation: Size,
                 ceil_mode: bool, return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
    @overload
    def __call__(self, input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 dilation: Size = 1, ceil_mode: bool = False, *,
                 return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
    @overload
    def __call__(self, input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 dilation: Size = 1, ceil_mode: bool = False,
                 return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]: ...


class AvgPool1dFunction(Protocol):
    def __call__(self, input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor: ...


class AvgPoolFunction(Protocol):
    def __call__(self, input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> Tensor: ...


class AdaptiveMaxPoolFunction(Protocol):
    @overload
    def __call__(self, input: Tensor, output_size: OutputSize, return_indices: Literal[False] = False) -> Tensor: ...
    @overload
    def __call__(self, input: Tensor, output_size: OutputSize,
                 return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
    @overload
    def __call__(self, input: Tensor, output_size: OutputSize,
                 return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]: ...


class AdaptiveAvgPoolFunction(Protocol):
    def __call__(self, input: Tensor, output_size: OutputSize) -> Tensor: ...


class MaxUnpoolFunction(Protocol):
    def __call__(self, input: Tensor, indices: Tensor, kernel_size: Size, stride: Size | None = None,
                 padding: Size = 0, output_size: Sequence[int] | None = None) -> Tensor: ...


def _named(fn: Any, op: str, nd: int, doc: str) -> Any:
    fn.__name__ = fn.__qualname__ = f"{op}{nd}d"
    fn.__module__ = __name__
    fn.__doc__ = (f"``torch.nn.functional.{op}{nd}d`` on stridepool's kernels: same signature, defaults and "
                  f"results, differentiable.\n\n{doc}\n\nTensors the kernels do not serve (see "
                  "``stridepool.torch``) go to torch's own function.")
    return fn


def _max_pool(nd: int) -> MaxPoolFunction:
    def f(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0, dilation: Size = 1,
          ceil_mode: bool = False, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if not _served(input, nd, _REALS):
            return cast("Tensor | tuple[Tensor, Tensor]", _NATIVE["max_pool"][nd](
                input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=return_indices))
        k = _sizes(kernel_size, nd, "kernel_size")
        y, i = MAX_POOL(input, nd, k, _stride(stride, k, nd), _sizes(padding, nd, "padding"),
                        _sizes(dilation, nd, "dilation"), bool(ceil_mode))
        return (y, i) if return_indices else y
    return cast(MaxPoolFunction, _named(f, "max_pool", nd, "Max pooling; with ``return_indices`` also the int64 "
                                        "flat positions of the maxima in each plane (torch's). Ties: the first "
                                        "maximum in row-major order; NaN: the first NaN."))


def _avg_pool(nd: int) -> AvgPoolFunction:
    def f(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0, ceil_mode: bool = False,
          count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
        if not _served(input, nd, _FLOATS):
            extra = () if nd == 1 else (divisor_override,)
            return cast(Tensor, _NATIVE["avg_pool"][nd](input, kernel_size, stride, padding, ceil_mode,
                                                        count_include_pad, *extra))
        k = _sizes(kernel_size, nd, "kernel_size")
        return cast(Tensor, AVG_POOL(input, nd, k, _stride(stride, k, nd), _sizes(padding, nd, "padding"),
                                     bool(ceil_mode), bool(count_include_pad), divisor_override))
    if nd == 1:
        def f1(input: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
            return f(input, kernel_size, stride, padding, ceil_mode, count_include_pad)
        return cast(AvgPoolFunction, _named(f1, "avg_pool", nd, "Average pooling (torch's 1-D function has no "
                                            "``divisor_override``)."))
    return cast(AvgPoolFunction, _named(f, "avg_pool", nd, "Average pooling with torch's divisor rules."))


def _adaptive_max_pool(nd: int) -> AdaptiveMaxPoolFunction:
    def f(input: Tensor, output_size: OutputSize, return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if not _served(input, nd, _REALS):
            return cast("Tensor | tuple[Tensor, Tensor]",
                        _NATIVE["adaptive_max_pool"][nd](input, output_size, return_indices))
        y, i = ADAPTIVE_MAX_POOL(input, nd, _output_size(input, output_size, nd))
        return (y, i) if return_indices else y
    return cast(AdaptiveMaxPoolFunction, _named(f, "adaptive_max_pool", nd, "Adaptive max pooling (torch's "
                                                "windows); with ``return_indices`` also the indices."))


def _adaptive_avg_pool(nd: int) -> AdaptiveAvgPoolFunction:
    def f(input: Tensor, output_size: OutputSize) -> Tensor:
        if not _served(input, nd, _FLOATS):
            return cast(Tensor, _NATIVE["adaptive_avg_pool"][nd](input, output_size))
        return cast(Tensor, ADAPTIVE_AVG_POOL(input, nd, _output_size(input, output_size, nd)))
    return cast(AdaptiveAvgPoolFunction, _named(f, "adaptive_avg_pool", nd, "Adaptive average pooling (torch's "
                                                "windows)."))


def _max_unpool(nd: int) -> MaxUnpoolFunction:
    def f(input: Tensor, indices: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
          output_size: Sequence[int] | None = None) -> Tensor:
        if not (_served(input, nd, _REALS) and _served(indices, nd, frozenset({torch.int64}))):
            return cast(Tensor, _NATIVE["max_unpool"][nd](input, indices, kernel_size, stride, padding, output_size))
        k = _sizes(kernel_size, nd, "kernel_size")
        size = None if output_size is None else [int(s) for s in output_size]
        if size is not None and len(size) == nd + 2:  # torch takes the whole shape too: its last nd entries
            size = size[2:]
        return cast(Tensor, MAX_UNPOOL(input, indices, nd, k, _stride(stride, k, nd), _sizes(padding, nd, "padding"),
                                       size))
    return cast(MaxUnpoolFunction, _named(f, "max_unpool", nd, "Max unpooling: ``input`` put at ``indices`` in "
                                          "zeros (the partial inverse of max pooling)."))


max_pool1d, max_pool2d, max_pool3d = (_max_pool(nd) for nd in (1, 2, 3))
avg_pool1d = cast(AvgPool1dFunction, _avg_pool(1))
avg_pool2d, avg_pool3d = _avg_pool(2), _avg_pool(3)
adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d = (_adaptive_max_pool(nd) for nd in (1, 2, 3))
adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d = (_adaptive_avg_pool(nd) for nd in (1, 2, 3))
max_unpool1d, max_unpool2d, max_unpool3d = (_max_unpool(nd) for nd in (1, 2, 3))

_FUNCTIONS: dict[str, dict[int, Callable[..., Any]]] = {
    "max_pool": {1: max_pool1d, 2: max_pool2d, 3: max_pool3d},
    "avg_pool": {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d},
    "adaptive_max_pool": {1: adaptive_max_pool1d, 2: adaptive_max_pool2d, 3: adaptive_max_pool3d},
    "adaptive_avg_pool": {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d},
    "max_unpool": {1: max_unpool1d, 2: max_unpool2d, 3: max_unpool3d},
}


# ------------------------------------------------------------------------------------------- modules
#
# Subclasses of torch's own modules (same constructor, attributes, repr, state), whose forward calls the
# functions above; one mixin per kind of module, the number of pooled axes a class attribute.


class _Module:
    _nd: int
    _op: str
    # torch's modules' attributes (set by their constructors)
    kernel_size: Any
    stride: Any
    padding: Any
    dilation: Any
    ceil_mode: Any
    return_indices: Any
    count_include_pad: Any
    output_size: Any

    def _f(self) -> Callable[..., Any]:
        return _FUNCTIONS[self._op][self._nd]


class _MaxPool(_Module):
    _op = "max_pool"

    def forward(self, input: Tensor) -> Any:
        return self._f()(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                         self.return_indices)


class _AvgPool(_Module):
    _op = "avg_pool"

    def forward(self, input: Tensor) -> Tensor:
        extra = () if self._nd == 1 else (getattr(self, "divisor_override", None),)
        return cast(Tensor, self._f()(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                      self.count_include_pad, *extra))


class _AdaptiveMaxPool(_Module):
    _op = "adaptive_max_pool"

    def forward(self, input: Tensor) -> Any:
        return self._f()(input, self.output_size, self.return_indices)


class _AdaptiveAvgPool(_Module):
    _op = "adaptive_avg_pool"

    def forward(self, input: Tensor) -> Tensor:
        return cast(Tensor, self._f()(input, self.output_size))


class _MaxUnpool(_Module):
    _op = "max_unpool"

    def forward(self, input: Tensor, indices: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return cast(Tensor, self._f()(input, indices, self.kernel_size, self.stride, self.padding, output_size))


class MaxPool1d(_MaxPool, torch.nn.MaxPool1d):
    """``torch.nn.MaxPool1d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 1


class MaxPool2d(_MaxPool, torch.nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 2


class MaxPool3d(_MaxPool, torch.nn.MaxPool3d):
    """``torch.nn.MaxPool3d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 3


class AvgPool1d(_AvgPool, torch.nn.AvgPool1d):
    """``torch.nn.AvgPool1d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 1


class AvgPool2d(_AvgPool, torch.nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 2


class AvgPool3d(_AvgPool, torch.nn.AvgPool3d):
    """``torch.nn.AvgPool3d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPool, torch.nn.AdaptiveMaxPool1d):
    """``torch.nn.AdaptiveMaxPool1d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPool, torch.nn.AdaptiveMaxPool2d):
    """``torch.nn.AdaptiveMaxPool2d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPool, torch.nn.AdaptiveMaxPool3d):
    """``torch.nn.AdaptiveMaxPool3d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 3


class AdaptiveAvgPool1d(_AdaptiveAvgPool, torch.nn.AdaptiveAvgPool1d):
    """``torch.nn.AdaptiveAvgPool1d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPool, torch.nn.AdaptiveAvgPool2d):
    """``torch.nn.AdaptiveAvgPool2d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPool, torch.nn.AdaptiveAvgPool3d):
    """``torch.nn.AdaptiveAvgPool3d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 3


class MaxUnpool1d(_MaxUnpool, torch.nn.MaxUnpool1d):
    """``torch.nn.MaxUnpool1d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 1


class MaxUnpool2d(_MaxUnpool, torch.nn.MaxUnpool2d):
    """``torch.nn.MaxUnpool2d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 2


class MaxUnpool3d(_MaxUnpool, torch.nn.MaxUnpool3d):
    """``torch.nn.MaxUnpool3d`` on stridepool's kernels (same arguments, repr and results)."""
    _nd = 3
