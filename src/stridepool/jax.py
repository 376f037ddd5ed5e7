"""stridepool on JAX arrays: the NumPy API's functions, differentiable, under ``jit``, ``grad`` and ``vmap``.

``import stridepool.jax as spj`` gives every function of ``stridepool`` (``max_pool2d``, ``avg_pool3d_backward``,
``unfold1d``, ...) with the same names, arguments and defaults (``axes=`` and ``return_indices`` included), on
JAX arrays, returning JAX arrays:

>>> import jax, jax.numpy as jnp
>>> import stridepool.jax as spj
>>> x = jnp.arange(16.0).reshape(1, 4, 4)
>>> spj.max_pool2d(x, 2)
Array([[[ 5.,  7.],
        [13., 15.]]], dtype=float32)
>>> jax.grad(lambda x: spj.max_pool2d(x, 2).sum())(x)[0]
Array([[0., 0., 0., 0.],
       [0., 1., 0., 1.],
       [0., 0., 0., 0.],
       [0., 1., 0., 1.]], dtype=float32)

How it runs
-----------
Each call is one XLA custom call on the CPU whose handler (:mod:`stridepool._xla_ffi`, ctypes: no compiler,
no JAX headers) runs stridepool's compiled kernels on XLA's buffers. Arguments are validated by stridepool's
own checks when the function is traced (a ``ValueError`` or ``TypeError`` naming the parameter, before anything
runs). Under ``jax.vmap`` the batch becomes one more leading axis and the batch runs as one kernel call.
Gradients are ``jax.custom_vjp`` rules made of the other functions (max pooling's is the scatter of the
cotangent at the forward's indices, kept as residuals), so they are differentiable again (``jax.hessian`` of a
scalar through ``jax.jacrev``; forward mode, ``jax.jvp``, is not available for ``custom_vjp`` functions).

Indices are int64 with ``jax_enable_x64``, else int32 (JAX's default mode has no int64; an extent of more than
2**31 - 1 elements then raises). Integer outputs are not differentiable (float0 cotangents).

``STRIDEPOOL_JAX_CALL=callback`` in the environment (read at import) uses ``jax.pure_callback`` instead of
the custom call (slower per call; the same results). :data:`mechanism` says which one runs.

Accelerators: stridepool runs on the CPU. A call with arrays on another device raises a ``ValueError``; under
``jit`` for a GPU or TPU, XLA's compilation fails naming the custom call ``stridepool_cpu``. Use XLA's own
operations there (``jax.lax.reduce_window``).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, cast, overload

try:
    import jax
    import jax.numpy as jnp
except ImportError as e:  # pragma: no cover  (tested in a subprocess that hides jax)
    raise ImportError('stridepool.jax needs JAX (jax and jaxlib): pip install "stridepool[jax]"') from e

import numpy as np

import stridepool as _sp

from . import _params as P
from . import _xla_ffi
from ._api import AXES, public_name

if TYPE_CHECKING:
    from jax.typing import ArrayLike
    from numpy.typing import NDArray

    from ._typing import AxesArg, OutputSizeArg, PaddingArg, Shape, SizeArg

Array: TypeAlias = jax.Array

#: ``jax.ShapeDtypeStruct`` (its constructor is not annotated in jax)
_struct = cast("Callable[[tuple[int, ...], Any], jax.ShapeDtypeStruct]", jax.ShapeDtypeStruct)

#: the name of the XLA custom call target (CPU)
TARGET = "stridepool_cpu"


def _register() -> str:
    """Register the custom call's CPU handler; the mechanism: "ffi", or "callback" (pure_callback)."""
    if os.environ.get("STRIDEPOOL_JAX_CALL", "ffi") == "callback":
        return "callback"
    capsule = cast("Callable[[object], object]", jax.ffi.pycapsule)  # not annotated in jax
    jax.ffi.register_ffi_target(TARGET, capsule(_xla_ffi.handler), platform="cpu")
    return "ffi"


#: "ffi" (the XLA custom call, the default) or "callback" (``jax.pure_callback``)
mechanism: str = _register()


# ------------------------------------------------------------------------------------------ the host side

@dataclasses.dataclass(frozen=True)
class _Spec:
    """One call of a stridepool function: ``getattr(stridepool, name)(*arrays, **kwargs)``.

    ``ndims`` are the arrays' numbers of dimensions when traced: any dimensions in front of them are a
    ``vmap`` batch (prepended to ``input_shape``). ``kwargs`` hold plain values only (tuples, ints, bools,
    None): the spec travels to the handler as JSON.
    """

    name: str
    ndims: tuple[int, ...]
    kwargs: tuple[tuple[str, Any], ...]

    @functools.cached_property
    def text(self) -> str:
        text = _xla_ffi.encode({"f": self.name, "n": self.ndims, "k": dict(self.kwargs)})
        _xla_ffi.remember(text, self)
        return text


def _tuples(v: Any) -> Any:
    return tuple(_tuples(e) for e in v) if isinstance(v, list) else v


def _decode(text: str) -> _Spec:
    d = json.loads(text)
    return _Spec(d["f"], tuple(d["n"]), tuple((k, _tuples(v)) for k, v in sorted(d["k"].items())))


#: results of at least this many bytes are written by the kernels straight into XLA's buffer (``out=``);
#: smaller ones are copied there, which costs less than ``out=``'s extra checks
OUT_BYTES = 1 << 18


def _run(spec: _Spec, arrays: list[NDArray[Any]], out: NDArray[Any] | None = None) -> tuple[NDArray[Any], ...]:
    """Run ``spec`` on host arrays (any leading batch axes in front of the traced ones); ``out``: XLA's buffer
    for the first result, used when it is large and of the dtype that stridepool returns."""
    kwargs = dict(spec.kwargs)
    if "input_shape" in kwargs:
        a = arrays[0]
        kwargs["input_shape"] = a.shape[:a.ndim - spec.ndims[0]] + kwargs["input_shape"]
    if (out is not None and out.nbytes >= OUT_BYTES and out.dtype == arrays[0].dtype
            and not spec.name.startswith("unfold")):
        kwargs["out"] = out  # the first result is arrays[0]'s dtype: max, unpool, fold, float averages
    result = getattr(_sp, spec.name)(*arrays, **kwargs)
    return tuple(result) if isinstance(result, tuple) else (result,)


_xla_ffi.run, _xla_ffi.decode = _run, _decode


@dataclasses.dataclass(frozen=True)
class _Callback:
    """The ``pure_callback`` mechanism's host function (equal for equal specs: JAX caches on it)."""

    spec: _Spec
    dtypes: tuple[np.dtype[Any], ...]

    def __call__(self, *arrays: Any) -> tuple[NDArray[Any], ...]:
        results = _run(self.spec, [np.asarray(a) for a in arrays])
        return tuple(np.asarray(r, dtype=dt) for r, dt in zip(results, self.dtypes))


def _call(spec: _Spec, arrays: Sequence[Array], outs: tuple[jax.ShapeDtypeStruct, ...],
          how: str) -> tuple[Array, ...]:
    """Run ``spec`` inside a JAX computation: one custom call (or pure_callback); a vmap batch in one call."""
    if how == "ffi":
        call = jax.ffi.ffi_call(TARGET, outs, vmap_method="broadcast_all")
        return tuple(call(*arrays, spec=spec.text))
    host = _Callback(spec, tuple(np.dtype(o.dtype) for o in outs))
    return tuple(jax.pure_callback(host, outs, *arrays, vmap_method="broadcast_all"))


# -------------------------------------------------------------------------------- operations and their VJPs

@dataclasses.dataclass(frozen=True)
class _Op:
    """A validated call of operation ``op`` over ``nd`` axes: the static half of a differentiable call.

    ``kwargs`` are the NumPy function's arguments after validation (plain values; ``axes`` negative, so that
    a vmap batch in front changes nothing); ``shapes``/``dtypes`` those of the array arguments, ``outs`` the
    results'; ``how`` the :data:`mechanism` when it was made.
    """

    op: str
    nd: int
    kwargs: tuple[tuple[str, Any], ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype[Any], ...]
    outs: tuple[jax.ShapeDtypeStruct, ...]
    how: str

    def spec(self, **changes: Any) -> _Spec:
        kwargs = tuple(sorted((k, changes.get(k, v)) for k, v in self.kwargs))  # as _decode makes them
        return _Spec(public_name(self.op, self.nd), tuple(len(s) for s in self.shapes), kwargs)

    def arg(self, name: str) -> Any:
        return dict(self.kwargs)[name]

    @property
    def axes(self) -> tuple[int, ...]:
        return cast("tuple[int, ...]", self.arg("axes"))


_MAX = ("max_pool", "adaptive_max_pool")


def _forward_with_residuals(op: _Op, arrays: tuple[Array, ...]) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    """The outputs and what the VJP needs: max pooling's indices (computed even when not returned).

    The outputs come from :func:`_apply` itself, not from the custom call, so that they stay differentiable
    when this forward pass is differentiated again (``jax.jacrev(jax.grad(f))``).
    """
    if op.op in _MAX and not op.arg("return_indices"):
        kwargs = tuple((k, True if k == "return_indices" else v) for k, v in op.kwargs)
        full = dataclasses.replace(op, kwargs=kwargs, outs=op.outs + (_index_struct(op.outs[0].shape),))
        y, idx = _apply(full, arrays)
        return (y,), (idx,)
    outs = _apply(op, arrays)
    if op.op in _MAX:
        return outs, (outs[1],)
    if op.op in ("max_pool_backward", "max_unpool"):
        return outs, (arrays[1],)
    return outs, ()


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _apply(op: _Op, arrays: tuple[Array, ...]) -> tuple[Array, ...]:
    return _call(op.spec(), arrays, op.outs, op.how)


def _apply_fwd(op: _Op, arrays: tuple[Array, ...]) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    return _forward_with_residuals(op, arrays)


def _apply_bwd(op: _Op, residuals: tuple[Array, ...], cts: tuple[Array, ...]) -> tuple[tuple[Array | None, ...]]:
    grads = _VJP[op.op](op, residuals, cts[0])
    # integer inputs (indices, integer images) have no gradient
    return (tuple(g if jnp.issubdtype(dt, jnp.inexact) else None for g, dt in zip(grads, op.dtypes)),)


_apply.defvjp(_apply_fwd, _apply_bwd)
#: what the public functions call: compiled once per operation and shapes, so that a call outside ``jit``
#: costs one dispatch (inside a jit it is inlined)
_jit_apply = jax.jit(_apply, static_argnums=0)


def _gather(src: Array, idx: Array, axes: tuple[int, ...]) -> Array:
    """``src`` read at the flat positions ``idx`` of each pooled extent (the adjoint of the max backward)."""
    nd = len(axes)
    last = tuple(range(-nd, 0))
    s, i = jnp.moveaxis(src, axes, last), jnp.moveaxis(idx, axes, last)
    flat = s.reshape(s.shape[:-nd] + (math.prod(s.shape[-nd:]),))
    taken = jnp.take_along_axis(flat, i.reshape(i.shape[:-nd] + (math.prod(i.shape[-nd:]),)), axis=-1)
    return jnp.moveaxis(taken.reshape(i.shape), last, axes)


def _fn(op: str, nd: int) -> Callable[..., Any]:
    return cast("Callable[..., Any]", globals()[public_name(op, nd)])


def _vjp_max(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    return (_fn("max_pool_backward", op.nd)(ct, res[0], op.shapes[0], axes=op.axes),)


def _vjp_max_backward(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array | None, ...]:
    return _gather(ct, res[0], op.axes), None


def _vjp_unpool(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array | None, ...]:
    """The cotangent at each value's index, where that value was the one written (the last duplicate)."""
    idx, shape, axes = res[0], op.shapes[0], op.axes
    # each value's row-major rank in its pooled extent, plus one (0 is "nothing written"); pooled sizes in
    # array order, other axes broadcast
    sizes = tuple(n if (i - len(shape)) in axes else 1 for i, n in enumerate(shape))
    rank = jnp.broadcast_to(jnp.arange(1, math.prod(sizes) + 1, dtype=idx.dtype).reshape(sizes), shape)
    written = _fn("max_unpool", op.nd)(rank, idx, **dict(op.kwargs))
    won = _gather(written, idx, axes) == rank
    return jnp.where(won, _gather(ct, idx, axes), jnp.zeros((), ct.dtype)), None


def _vjp_avg(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    return (_fn("avg_pool_backward", op.nd)(ct, op.shapes[0], **dict(op.kwargs)),)


def _vjp_avg_backward(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    kwargs = dict(op.kwargs)
    del kwargs["input_shape"]
    return (_fn("avg_pool", op.nd)(ct, **kwargs),)


def _vjp_adaptive_avg(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    return (_fn("adaptive_avg_pool_backward", op.nd)(ct, op.shapes[0], axes=op.axes),)


def _vjp_adaptive_avg_backward(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    sizes = P.sizes_at(op.shapes[0], op.axes)
    return (_fn("adaptive_avg_pool", op.nd)(ct, sizes, axes=op.axes),)


def _vjp_unfold(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    kwargs = dict(op.kwargs)
    del kwargs["kernel_size"]
    return (_fn("fold", op.nd)(ct, op.shapes[0], **kwargs),)


def _vjp_fold(op: _Op, res: tuple[Array, ...], ct: Array) -> tuple[Array, ...]:
    kwargs = dict(op.kwargs)
    del kwargs["input_shape"]
    return (_fn("unfold", op.nd)(ct, op.shapes[0][-op.nd:], **kwargs),)


_VJP: dict[str, Callable[[_Op, tuple[Array, ...], Array], tuple[Array | None, ...]]] = {
    "max_pool": _vjp_max, "adaptive_max_pool": _vjp_max, "max_pool_backward": _vjp_max_backward,
    "max_unpool": _vjp_unpool, "avg_pool": _vjp_avg, "avg_pool_backward": _vjp_avg_backward,
    "adaptive_avg_pool": _vjp_adaptive_avg, "adaptive_avg_pool_backward": _vjp_adaptive_avg_backward,
    "unfold": _vjp_unfold, "fold": _vjp_fold,
}


# ------------------------------------------------------------------------------------ trace-time validation

def _index_dtype() -> np.dtype[Any]:
    """int64 with ``jax_enable_x64``, else int32."""
    dtype: np.dtype[Any] = np.dtype(jax.dtypes.canonicalize_dtype(np.int64))  # (typed: jax may be missing)
    return dtype


def _index_struct(shape: tuple[int, ...]) -> jax.ShapeDtypeStruct:
    return _struct(shape, _index_dtype())


def _float(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """stridepool's average dtype as JAX has it (float64 is float32 without x64)."""
    avg: np.dtype[Any] = np.dtype(jax.dtypes.canonicalize_dtype(P.result_dtype_avg(dtype)))
    return avg


def _array(x: ArrayLike, name: str) -> tuple[Array, NDArray[Any]]:
    """``x`` as a JAX array on the CPU, and a data-less stand-in for stridepool's validation."""
    a = x if isinstance(x, jax.Array) else jnp.asarray(x)
    if not isinstance(a, jax.core.Tracer):
        platforms = {d.platform for d in a.devices()}
        if platforms != {"cpu"}:
            raise ValueError(f"`{name}` is on {', '.join(sorted(platforms))}: stridepool.jax runs on the CPU "
                             "(move the array with jax.device_put(x, jax.devices('cpu')[0]), or use XLA's own "
                             "operation, jax.lax.reduce_window, on the accelerator)")
    return a, P.stand_in(a.shape, a.dtype)


def _no_out(out: object) -> None:
    if out is not None:
        raise TypeError(f"`out` cannot be used with JAX arrays (they are immutable): use the returned array, got "
                        f"{type(out).__name__}")


def _negative(ax: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    return tuple(a - ndim for a in ax)


def _window_kwargs(geo: P.Geometry) -> dict[str, Any]:
    """A regular geometry's windows as explicit arguments ('same' padding resolved)."""
    return {"kernel_size": geo.kernel, "stride": tuple(a.s for a in geo),
            "padding": tuple((a.lo, a.hi) for a in geo)}


def _check_extent(nd: int, sizes: tuple[int, ...]) -> None:
    plane = math.prod(sizes)
    if _index_dtype() == np.int32 and plane > np.iinfo(np.int32).max:
        raise ValueError(f"the pooled extent ({P.plane_text(nd)} = {plane}) is too large for int32 indices: "
                         "enable int64 with jax.config.update('jax_enable_x64', True)")


def _run_op(op: str, nd: int, arrays: tuple[Array, ...], kwargs: dict[str, Any],
            outs: Sequence[tuple[tuple[int, ...], Any]]) -> tuple[Array, ...]:
    o = _Op(op, nd, tuple(kwargs.items()), tuple(a.shape for a in arrays), tuple(a.dtype for a in arrays),
            tuple(_struct(s, dt) for s, dt in outs), mechanism)
    return cast("tuple[Array, ...]", _jit_apply(o, arrays))


# -------------------------------------------------------------------------------------- the public functions

def _named(f: Callable[..., Any], op: str, nd: int) -> None:
    name = public_name(op, nd)
    f.__name__ = f.__qualname__ = name
    f.__module__ = __name__
    f.__doc__ = (f"``stridepool.{name}`` on JAX arrays (see :func:`stridepool.{name}` for the arguments; ``out``"
                 " must be None).\n\n    Returns JAX arrays; differentiable (``jax.grad``), under ``jax.jit`` and"
                 " ``jax.vmap``.\n    Bad arguments raise stridepool's ``ValueError``/``TypeError`` when traced.")


def _max_pool(nd: int) -> Callable[..., Any]:
    def f(x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
          dilation: SizeArg = 1, ceil_mode: bool = False, return_indices: bool = False, *,
          axes: AxesArg = AXES[nd], out: None = None) -> Array | tuple[Array, Array]:
        a, meta = _array(x, "x")
        _, ax, geo = P.prepare_pool(meta, axes, nd, kernel_size, stride, padding, dilation, ceil_mode)
        ri = P.as_bool(return_indices, "return_indices")
        _no_out(out)
        _check_extent(nd, geo.size)
        shape = P.pooled_shape(a.shape, ax, geo.out)
        kwargs = dict(_window_kwargs(geo), dilation=tuple(g.d for g in geo), ceil_mode=P.as_bool(ceil_mode, "ceil_mode"),
                      return_indices=ri, axes=_negative(ax, a.ndim))
        outs = [(shape, a.dtype)] + ([(shape, _index_dtype())] if ri else [])
        y = _run_op("max_pool", nd, (a,), kwargs, outs)
        return (y[0], y[1]) if ri else y[0]
    _named(f, "max_pool", nd)
    return f


def _adaptive_max_pool(nd: int) -> Callable[..., Any]:
    def f(x: ArrayLike, output_size: OutputSizeArg, return_indices: bool = False, *, axes: AxesArg = AXES[nd],
          out: None = None) -> Array | tuple[Array, Array]:
        a, meta = _array(x, "x")
        _, ax, geo = P.prepare_adaptive(meta, axes, nd, output_size)
        ri = P.as_bool(return_indices, "return_indices")
        _no_out(out)
        _check_extent(nd, geo.size)
        shape = P.pooled_shape(a.shape, ax, geo.out)
        kwargs = dict(output_size=geo.out, return_indices=ri, axes=_negative(ax, a.ndim))
        outs = [(shape, a.dtype)] + ([(shape, _index_dtype())] if ri else [])
        y = _run_op("adaptive_max_pool", nd, (a,), kwargs, outs)
        return (y[0], y[1]) if ri else y[0]
    _named(f, "adaptive_max_pool", nd)
    return f


def _max_pool_backward(nd: int) -> Callable[..., Any]:
    def f(grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape, *, axes: AxesArg = AXES[nd],
          out: None = None) -> Array:
        g, gmeta = _array(grad_output, "grad_output")
        idx, imeta = _array(indices, "indices")
        _, _, shape, ax = P.max_backward_args(gmeta, imeta, input_shape, axes, nd)
        _no_out(out)
        kwargs = dict(input_shape=shape, axes=_negative(ax, len(shape)))
        return _run_op("max_pool_backward", nd, (g, idx), kwargs, [(shape, g.dtype)])[0]
    _named(f, "max_pool_backward", nd)
    return f


def _avg_pool(nd: int) -> Callable[..., Any]:
    def f(x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
          ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None, *,
          axes: AxesArg = AXES[nd], out: None = None) -> Array:
        a, meta = _array(x, "x")
        _, ax, geo = P.prepare_pool(meta, axes, nd, kernel_size, stride, padding, 1, ceil_mode)
        kwargs = dict(_window_kwargs(geo), ceil_mode=P.as_bool(ceil_mode, "ceil_mode"),
                      count_include_pad=P.as_bool(count_include_pad, "count_include_pad"),
                      divisor_override=P.divisor(divisor_override) or None, axes=_negative(ax, a.ndim))
        _no_out(out)
        shape = P.pooled_shape(a.shape, ax, geo.out)
        return _run_op("avg_pool", nd, (a,), kwargs, [(shape, _float(a.dtype))])[0]
    _named(f, "avg_pool", nd)
    return f


def _avg_pool_backward(nd: int) -> Callable[..., Any]:
    def f(grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg, stride: SizeArg | None = None,
          padding: PaddingArg = 0, ceil_mode: bool = False, count_include_pad: bool = True,
          divisor_override: int | None = None, *, axes: AxesArg = AXES[nd], out: None = None) -> Array:
        g, meta = _array(grad_output, "grad_output")
        _, shape, ax, geo = P.avg_backward_args(meta, input_shape, axes, nd, kernel_size, stride, padding,
                                                ceil_mode)
        kwargs = dict(input_shape=shape, **_window_kwargs(geo), ceil_mode=P.as_bool(ceil_mode, "ceil_mode"),
                      count_include_pad=P.as_bool(count_include_pad, "count_include_pad"),
                      divisor_override=P.divisor(divisor_override) or None, axes=_negative(ax, len(shape)))
        _no_out(out)
        return _run_op("avg_pool_backward", nd, (g,), kwargs, [(shape, _float(g.dtype))])[0]
    _named(f, "avg_pool_backward", nd)
    return f


def _adaptive_avg_pool(nd: int) -> Callable[..., Any]:
    def f(x: ArrayLike, output_size: OutputSizeArg, *, axes: AxesArg = AXES[nd], out: None = None) -> Array:
        a, meta = _array(x, "x")
        _, ax, geo = P.prepare_adaptive(meta, axes, nd, output_size)
        _no_out(out)
        kwargs = dict(output_size=geo.out, axes=_negative(ax, a.ndim))
        shape = P.pooled_shape(a.shape, ax, geo.out)
        return _run_op("adaptive_avg_pool", nd, (a,), kwargs, [(shape, _float(a.dtype))])[0]
    _named(f, "adaptive_avg_pool", nd)
    return f


def _adaptive_avg_pool_backward(nd: int) -> Callable[..., Any]:
    def f(grad_output: ArrayLike, input_shape: Shape, *, axes: AxesArg = AXES[nd], out: None = None) -> Array:
        g, meta = _array(grad_output, "grad_output")
        _, shape, ax, _ = P.adaptive_backward_args(meta, input_shape, axes, nd)
        _no_out(out)
        kwargs = dict(input_shape=shape, axes=_negative(ax, len(shape)))
        return _run_op("adaptive_avg_pool_backward", nd, (g,), kwargs, [(shape, _float(g.dtype))])[0]
    _named(f, "adaptive_avg_pool_backward", nd)
    return f


def _max_unpool(nd: int) -> Callable[..., Any]:
    def f(x: ArrayLike, indices: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None,
          padding: PaddingArg = 0, output_size: Shape | None = None, *, axes: AxesArg = AXES[nd],
          out: None = None) -> Array:
        a, meta = _array(x, "x")
        idx, imeta = _array(indices, "indices")
        _, _, shape, ax = P.unpool_args(meta, imeta, kernel_size, stride, padding, output_size, axes, nd)
        _no_out(out)
        k = P.as_tuple(kernel_size, "kernel_size", nd)
        kwargs = dict(kernel_size=k, stride=P.as_tuple(k if stride is None else stride, "stride", nd),
                      padding=P.parse_padding(padding, nd), output_size=P.sizes_at(shape, ax),
                      axes=_negative(ax, a.ndim))
        return _run_op("max_unpool", nd, (a, idx), kwargs, [(shape, a.dtype)])[0]
    _named(f, "max_unpool", nd)
    return f


def _unfold(nd: int) -> Callable[..., Any]:
    def f(x: ArrayLike, kernel_size: SizeArg, stride: SizeArg = 1, padding: PaddingArg = 0, dilation: SizeArg = 1,
          *, axes: AxesArg = AXES[nd]) -> Array:
        a, meta = _array(x, "x")
        _, ax, geo = P.prepare_pool(meta, axes, nd, kernel_size, stride, padding, dilation, False, pooling=False)
        kwargs = dict(_window_kwargs(geo), dilation=tuple(g.d for g in geo), axes=_negative(ax, a.ndim))
        shape = P.pooled_shape(a.shape, ax, geo.out) + geo.kernel
        return _run_op("unfold", nd, (a,), kwargs, [(shape, a.dtype)])[0]
    _named(f, "unfold", nd)
    return f


def _fold(nd: int) -> Callable[..., Any]:
    def f(windows: ArrayLike, input_shape: Shape, stride: SizeArg = 1, padding: PaddingArg = 0,
          dilation: SizeArg = 1, *, axes: AxesArg = AXES[nd], out: None = None) -> Array:
        w, meta = _array(windows, "windows")
        _, shape, ax, geo = P.fold_args(meta, input_shape, axes, nd, stride, padding, dilation)
        _no_out(out)
        window = _window_kwargs(geo)
        del window["kernel_size"]
        kwargs = dict(input_shape=shape, **window, dilation=tuple(g.d for g in geo),
                      axes=_negative(ax, len(shape)))
        return _run_op("fold", nd, (w,), kwargs, [(shape, w.dtype)])[0]
    _named(f, "fold", nd)
    return f


# ------------------------------------------------------------------------------------- types and the names

class MaxPoolFunction(Protocol):
    """``max_pool{1,2,3}d``: an array, or ``(values, indices)`` with ``return_indices=True``."""

    @overload
    def __call__(self, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
                 dilation: SizeArg = 1, ceil_mode: bool = False, return_indices: Literal[False] = False, *,
                 axes: AxesArg = ..., out: None = None) -> Array: ...

    @overload
    def __call__(self, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None, padding: PaddingArg,
                 dilation: SizeArg, ceil_mode: bool, return_indices: Literal[True], *, axes: AxesArg = ...,
                 out: None = None) -> tuple[Array, Array]: ...

    @overload
    def __call__(self, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
                 dilation: SizeArg = 1, ceil_mode: bool = False, *, return_indices: Literal[True],
                 axes: AxesArg = ..., out: None = None) -> tuple[Array, Array]: ...

    @overload
    def __call__(self, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
                 dilation: SizeArg = 1, ceil_mode: bool = False, return_indices: bool = False, *,
                 axes: AxesArg = ..., out: None = None) -> Array | tuple[Array, Array]: ...


class AdaptiveMaxPoolFunction(Protocol):
    """``adaptive_max_pool{1,2,3}d``: an array, or ``(values, indices)`` with ``return_indices=True``."""

    @overload
    def __call__(self, x: ArrayLike, output_size: OutputSizeArg, return_indices: Literal[False] = False, *,
                 axes: AxesArg = ..., out: None = None) -> Array: ...

    @overload
    def __call__(self, x: ArrayLike, output_size: OutputSizeArg, return_indices: Literal[True], *,
                 axes: AxesArg = ..., out: None = None) -> tuple[Array, Array]: ...

    @overload
    def __call__(self, x: ArrayLike, output_size: OutputSizeArg, return_indices: bool = False, *,
                 axes: AxesArg = ..., out: None = None) -> Array | tuple[Array, Array]: ...


class MaxPoolBackwardFunction(Protocol):
    def __call__(self, grad_output: ArrayLike, indices: ArrayLike, input_shape: Shape, *, axes: AxesArg = ...,
                 out: None = None) -> Array: ...


class AvgPoolFunction(Protocol):
    def __call__(self, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None, padding: PaddingArg = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None, *,
                 axes: AxesArg = ..., out: None = None) -> Array: ...


class AvgPoolBackwardFunction(Protocol):
    def __call__(self, grad_output: ArrayLike, input_shape: Shape, kernel_size: SizeArg,
                 stride: SizeArg | None = None, padding: PaddingArg = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None, *, axes: AxesArg = ...,
                 out: None = None) -> Array: ...


class AdaptiveAvgPoolFunction(Protocol):
    def __call__(self, x: ArrayLike, output_size: OutputSizeArg, *, axes: AxesArg = ...,
                 out: None = None) -> Array: ...


class AdaptiveAvgPoolBackwardFunction(Protocol):
    def __call__(self, grad_output: ArrayLike, input_shape: Shape, *, axes: AxesArg = ...,
                 out: None = None) -> Array: ...


class MaxUnpoolFunction(Protocol):
    def __call__(self, x: ArrayLike, indices: ArrayLike, kernel_size: SizeArg, stride: SizeArg | None = None,
                 padding: PaddingArg = 0, output_size: Shape | None = None, *, axes: AxesArg = ...,
                 out: None = None) -> Array: ...


class UnfoldFunction(Protocol):
    def __call__(self, x: ArrayLike, kernel_size: SizeArg, stride: SizeArg = 1, padding: PaddingArg = 0,
                 dilation: SizeArg = 1, *, axes: AxesArg = ...) -> Array: ...


class FoldFunction(Protocol):
    def __call__(self, windows: ArrayLike, input_shape: Shape, stride: SizeArg = 1, padding: PaddingArg = 0,
                 dilation: SizeArg = 1, *, axes: AxesArg = ..., out: None = None) -> Array: ...


max_pool1d = cast(MaxPoolFunction, _max_pool(1))
max_pool2d = cast(MaxPoolFunction, _max_pool(2))
max_pool3d = cast(MaxPoolFunction, _max_pool(3))
max_pool1d_backward = cast(MaxPoolBackwardFunction, _max_pool_backward(1))
max_pool2d_backward = cast(MaxPoolBackwardFunction, _max_pool_backward(2))
max_pool3d_backward = cast(MaxPoolBackwardFunction, _max_pool_backward(3))
avg_pool1d = cast(AvgPoolFunction, _avg_pool(1))
avg_pool2d = cast(AvgPoolFunction, _avg_pool(2))
avg_pool3d = cast(AvgPoolFunction, _avg_pool(3))
avg_pool1d_backward = cast(AvgPoolBackwardFunction, _avg_pool_backward(1))
avg_pool2d_backward = cast(AvgPoolBackwardFunction, _avg_pool_backward(2))
avg_pool3d_backward = cast(AvgPoolBackwardFunction, _avg_pool_backward(3))
adaptive_max_pool1d = cast(AdaptiveMaxPoolFunction, _adaptive_max_pool(1))
adaptive_max_pool2d = cast(AdaptiveMaxPoolFunction, _adaptive_max_pool(2))
adaptive_max_pool3d = cast(AdaptiveMaxPoolFunction, _adaptive_max_pool(3))
adaptive_avg_pool1d = cast(AdaptiveAvgPoolFunction, _adaptive_avg_pool(1))
adaptive_avg_pool2d = cast(AdaptiveAvgPoolFunction, _adaptive_avg_pool(2))
adaptive_avg_pool3d = cast(AdaptiveAvgPoolFunction, _adaptive_avg_pool(3))
adaptive_avg_pool1d_backward = cast(AdaptiveAvgPoolBackwardFunction, _adaptive_avg_pool_backward(1))
adaptive_avg_pool2d_backward = cast(AdaptiveAvgPoolBackwardFunction, _adaptive_avg_pool_backward(2))
adaptive_avg_pool3d_backward = cast(AdaptiveAvgPoolBackwardFunction, _adaptive_avg_pool_backward(3))
max_unpool1d = cast(MaxUnpoolFunction, _max_unpool(1))
max_unpool2d = cast(MaxUnpoolFunction, _max_unpool(2))
max_unpool3d = cast(MaxUnpoolFunction, _max_unpool(3))
unfold1d = cast(UnfoldFunction, _unfold(1))
unfold2d = cast(UnfoldFunction, _unfold(2))
unfold3d = cast(UnfoldFunction, _unfold(3))
fold1d = cast(FoldFunction, _fold(1))
fold2d = cast(FoldFunction, _fold(2))
fold3d = cast(FoldFunction, _fold(3))

# the NumPy API's names, in its order (tests check this against stridepool._api.BRIDGED)
__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_backward", "max_unpool1d", "max_unpool2d", "max_unpool3d", "unfold1d", "unfold2d",
    "unfold3d", "fold1d", "fold2d", "fold3d", "mechanism",
]
