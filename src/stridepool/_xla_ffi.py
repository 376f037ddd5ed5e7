"""An XLA FFI handler written in Python with ctypes: XLA calls stridepool with no compiler and no headers.

``stridepool.jax`` registers :func:`handler` (a C function pointer made by ``ctypes``) as the CPU target of an
XLA custom call. XLA calls it with a call frame (``xla/ffi/api/c_api.h``, a versioned C ABI whose structs
grow only at their ends, each starting with its size): the handler reads the argument and result buffers'
addresses, shapes and dtypes from it, wraps them as NumPy arrays without copying, and runs the stridepool
function named by the call's one string attribute (JSON, made by ``stridepool.jax`` at trace time) with the
results written into XLA's result buffers. Errors become XLA errors (a ``JaxRuntimeError`` with stridepool's
message), never a crash or a silent wrong answer.

This module needs no JAX: ``stridepool.jax`` passes :data:`handler` to ``jax.ffi.register_ffi_target`` (through
``jax.ffi.pycapsule``). XLA's registration calls the handler once with a metadata extension: the handler
answers with the FFI API version it was written against (0.1) after checking that XLA's major version is 0.

Why not a compiled handler: one compiled against ``jax.ffi.include_dir()`` would make jaxlib's headers a build
requirement of the package, and would still need a C entry point into the kernels, which are Cython functions
called from Python. Why not ``jax.pure_callback``: it turns every argument into a JAX array on the host
before calling back (``device_put``), about 165 us a call here against about 30 us for this handler (see
``bench/bridges_jax_results.md``).
"""
from __future__ import annotations

import ctypes
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: what a result of the host function may be: one array or a tuple of them
HostResult = Sequence[NDArray[Any]]

# ------------------------------------------------------------------------------------- the C ABI (c_api.h)

_METADATA_EXTENSION = 1     # XLA_FFI_Extension_Metadata
_EXECUTE = 3                # XLA_FFI_ExecutionStage_EXECUTE
_STRING = 4                 # XLA_FFI_AttrType_STRING
_INVALID_ARGUMENT = 3       # XLA_FFI_Error_Code_INVALID_ARGUMENT
_INTERNAL = 13              # XLA_FFI_Error_Code_INTERNAL
API_MAJOR, API_MINOR = 0, 1  # the FFI API version these structs follow

#: XLA_FFI_DataType -> NumPy dtype (the types stridepool's kernels take; others never reach the handler)
DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.bool_), 2: np.dtype(np.int8), 3: np.dtype(np.int16), 4: np.dtype(np.int32),
    5: np.dtype(np.int64), 6: np.dtype(np.uint8), 7: np.dtype(np.uint16), 8: np.dtype(np.uint32),
    9: np.dtype(np.uint64), 10: np.dtype(np.float16), 11: np.dtype(np.float32), 12: np.dtype(np.float64),
}
_TYPESTR = {code: dt.str for code, dt in DTYPES.items()}


class _ExtensionBase(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int), ("next", ctypes.c_void_p)]


class _ApiVersion(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("major_version", ctypes.c_int), ("minor_version", ctypes.c_int)]


class _ErrorCreateArgs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("message", ctypes.c_char_p), ("errc", ctypes.c_int)]


_ERROR_CREATE = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_ErrorCreateArgs))


class _Api(ctypes.Structure):
    # the start of XLA_FFI_Api: its first function pointer is XLA_FFI_Error_Create
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("api_version", _ApiVersion), ("internal_api", ctypes.c_void_p),
                ("error_create", _ERROR_CREATE)]


class _Metadata(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("api_version", _ApiVersion), ("traits", ctypes.c_uint32)]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("extension_base", _ExtensionBase), ("metadata", ctypes.POINTER(_Metadata))]


class _Buffer(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("dtype", ctypes.c_int), ("data", ctypes.c_void_p), ("rank", ctypes.c_int64),
                ("dims", ctypes.POINTER(ctypes.c_int64))]


class _List(ctypes.Structure):
    # XLA_FFI_Args and XLA_FFI_Rets: types[i] (always BUFFER here) and pointers to XLA_FFI_Buffer
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("size", ctypes.c_int64), ("types", ctypes.POINTER(ctypes.c_int)),
                ("items", ctypes.POINTER(ctypes.c_void_p))]


class _Attrs(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("size", ctypes.c_int64), ("types", ctypes.POINTER(ctypes.c_int)),
                ("names", ctypes.POINTER(ctypes.c_void_p)), ("attrs", ctypes.POINTER(ctypes.c_void_p))]


class _ByteSpan(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _CallFrame(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.POINTER(_ExtensionBase)),
                ("api", ctypes.POINTER(_Api)), ("ctx", ctypes.c_void_p), ("stage", ctypes.c_int),
                ("args", _List), ("rets", _List), ("attrs", _Attrs), ("future", ctypes.c_void_p)]


#: XLA_FFI_CallFrame_STRUCT_SIZE: the fields up to ``attrs`` (``future`` came later)
_CALL_FRAME_SIZE: int = _CallFrame.future.offset


# ------------------------------------------------------------------------------------------- the handler

class _Interface:
    """An object NumPy wraps without copying (``__array_interface__``, version 3)."""

    __slots__ = ("__array_interface__",)

    def __init__(self, interface: dict[str, Any]) -> None:
        self.__array_interface__ = interface


def _array(address: int, readonly: bool) -> NDArray[Any]:
    """The XLA_FFI_Buffer at ``address`` as a NumPy array on XLA's memory (C order, XLA's default layout)."""
    b = _Buffer.from_address(address)
    if b.struct_size < ctypes.sizeof(_Buffer):
        raise RuntimeError(f"XLA_FFI_Buffer of {b.struct_size} bytes, expected {ctypes.sizeof(_Buffer)}")
    shape = tuple(b.dims[:b.rank])
    if b.dtype not in _TYPESTR:
        raise TypeError(f"XLA buffer of unsupported XLA_FFI_DataType {b.dtype}")
    if 0 in shape or not b.data:
        return np.empty(shape, DTYPES[b.dtype])
    return np.asarray(_Interface({"data": (b.data, readonly), "shape": shape, "typestr": _TYPESTR[b.dtype],
                                  "version": 3}))


def _spec(frame: _CallFrame) -> bytes:
    """The call's string attribute (the JSON spec)."""
    attrs = frame.attrs
    if attrs.size != 1 or attrs.types[0] != _STRING:
        raise RuntimeError("the stridepool custom call takes exactly one string attribute")
    span = _ByteSpan.from_address(attrs.attrs[0])
    return ctypes.string_at(span.ptr, span.len)


def _error(frame: _CallFrame, message: str, code: int) -> int:
    """A new XLA_FFI_Error (XLA copies the message); XLA raises it as the computation's error."""
    if not frame.api:  # only XLA's metadata query comes without the API table: nothing to report with
        return 0
    args = _ErrorCreateArgs(ctypes.sizeof(_ErrorCreateArgs), None, message.encode("utf-8", "replace"), code)
    return int(frame.api.contents.error_create(ctypes.byref(args)) or 0)


def _metadata(frame: _CallFrame) -> int | None:
    """Answer XLA's query (at registration; at first use before jaxlib 0.6, with no API table): the API
    version, after checking XLA's where it is given, and no traits."""
    if frame.api:
        api = frame.api.contents.api_version
        if api.major_version != API_MAJOR:
            return _error(frame, f"stridepool's XLA FFI handler follows FFI API {API_MAJOR}.{API_MINOR}; this "
                                 f"XLA has {api.major_version}.{api.minor_version}", _INTERNAL)
    ext = ctypes.cast(frame.extension_start, ctypes.POINTER(_MetadataExtension)).contents
    md = ext.metadata.contents
    md.api_version = _ApiVersion(ctypes.sizeof(_ApiVersion), None, API_MAJOR, API_MINOR)
    md.traits = 0
    return None


#: JSON spec -> its decoded form (filled by :func:`remember` at trace time, or on first use)
_SPECS: dict[bytes, Any] = {}
#: set by stridepool.jax: (decoded spec, input arrays, XLA's first result buffer) -> result arrays
run: Callable[[Any, list[NDArray[Any]], NDArray[Any]], HostResult] | None = None
#: set by stridepool.jax: JSON text -> decoded spec
decode: Callable[[str], Any] | None = None


def remember(text: str, decoded: Any) -> None:
    _SPECS.setdefault(text.encode(), decoded)


def _handle(address: int) -> int | None:
    frame = _CallFrame.from_address(address)
    try:
        if frame.extension_start and frame.extension_start.contents.type == _METADATA_EXTENSION:
            return _metadata(frame)
        if frame.struct_size < _CALL_FRAME_SIZE or frame.stage != _EXECUTE:
            raise RuntimeError(f"unexpected XLA FFI call frame (size {frame.struct_size}, stage {frame.stage})")
        key = _spec(frame)
        spec = _SPECS.get(key)
        if spec is None:  # an executable compiled in another process (persistent compilation cache)
            assert decode is not None
            spec = _SPECS.setdefault(key, decode(key.decode()))
        args = [_array(frame.args.items[i], True) for i in range(frame.args.size)]
        rets = [_array(frame.rets.items[i], False) for i in range(frame.rets.size)]
        assert run is not None
        results = run(spec, args, rets[0])
        for ret, res in zip(rets, results):
            if res is not ret:  # int64 -> int32 indices, float64 -> float32 without x64
                np.copyto(ret, res, casting="unsafe")
        return None
    except (ValueError, TypeError) as e:
        return _error(frame, f"{type(e).__name__}: {e}", _INVALID_ARGUMENT)
    except BaseException as e:  # noqa: BLE001  nothing may escape into XLA
        return _error(frame, f"{type(e).__name__}: {e}", _INTERNAL)


_HANDLER_TYPE = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
#: the C function pointer XLA calls (kept alive here for the life of the process)
handler = _HANDLER_TYPE(_handle)


def encode(spec: dict[str, Any]) -> str:
    """The canonical JSON text of a spec (tuples as lists, keys sorted)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))
