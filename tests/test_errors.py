"""Every public function rejects bad input with a clear ValueError or TypeError before any kernel runs.

One table of bad calls, run on the active backend and on the reference. Each row names the function, the
arguments, the exception type and a regular expression its message must match: the parameter's name in
backticks and the value received. On the compiled backend every row is also run with the kernels replaced by
tripwires, which proves the error comes from validation and not from a kernel.
"""
import re

import numpy as np
import pytest

import stridepool as sp
from cases import compiled_functions
from stridepool import reference

BACKENDS = [pytest.param(sp, id=f"active-{sp.backend}"), pytest.param(reference, id="reference")]


X4 = np.zeros((2, 3, 8, 8))           # pools to (2, 3, 4, 4) with k=2
Y4 = np.zeros((2, 3, 4, 4))
I4 = np.zeros((2, 3, 4, 4), np.int64)
W4 = np.zeros((2, 3, 4, 4, 2, 2))     # windows of X4 for k=2 s=2
SHAPE = (2, 3, 8, 8)
X1 = np.zeros((2, 3, 8))              # 1D: pools to (2, 3, 4) with k=2
X5 = np.zeros((2, 4, 8, 8))           # 3D: pools to (2, 2, 4, 4) with k=2


def _ro(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def case(id, fn, args, kwargs=None, exc=ValueError, match="", marks=(), kernel_may_raise=False):
    """One bad call: ``fn(*args, **kwargs)`` must raise ``exc`` with a message matching ``match``.

    ``kernel_may_raise``: the compiled backend may detect it inside the kernel (out-of-range indices).
    """
    extra = {"kernel_may_raise": kernel_may_raise}
    return pytest.param(fn, args, kwargs or {}, exc, match, extra, id=id, marks=marks)


CASES = [
    # ---------------------------------------------------------------- number of dimensions
    case("max-x-1d", "max_pool2d", (np.zeros(8), 2), match=r"at least 2 dimensions.*got 1"),
    case("max-x-0d", "max_pool2d", (np.float64(3.0), 1), match=r"at least 2 dimensions.*got 0"),
    case("avg-x-1d", "avg_pool2d", ([1.0, 2.0], 1), match=r"at least 2 dimensions.*got 1"),
    case("unfold-x-1d", "unfold2d", (np.zeros(8), 2), match=r"at least 2 dimensions.*got 1"),
    case("maxbw-shape-1d", "max_pool2d_backward", (np.zeros(2), np.zeros(2, np.int64), (4,)),
         match=r"at least 2 dimensions.*got 1"),
    case("maxbw-grad-ndim", "max_pool2d_backward", (np.zeros((4, 4)), np.zeros((4, 4), np.int64), SHAPE),
         match=r"`grad_output` must have 4 dimensions like `input_shape` \(2, 3, 8, 8\), got shape \(4, 4\)"),
    case("avgbw-shape-1d", "avg_pool2d_backward", (np.zeros(2), (8,), 2), match=r"at least 2 dimensions.*got 1"),
    case("fold-windows-ndim", "fold2d", (np.zeros((4, 4, 2)), (8, 8)),
         match=r"`windows` must have 4 dimensions \(input_shape \(8, 8\) plus KH, KW\), got shape \(4, 4, 2\)"),
    case("fold-shape-1d", "fold2d", (np.zeros((4, 2, 2)), (8,)), match=r"at least 2 dimensions.*got 1"),
    case("max-x-1d-names-param", "max_pool2d", (np.zeros(8), 2), match=r"`x`.*got 1"),
    case("fold-shape-1d-names-param", "fold2d", (np.zeros((4, 2, 2)), (8,)), match=r"`input_shape`"),

    # ---------------------------------------------------------------- kernel_size
    case("k-zero", "max_pool2d", (X4, 0), match=r"`kernel_size` must be >= 1, got 0"),
    case("k-negative", "avg_pool2d", (X4, -2), match=r"`kernel_size` must be >= 1, got -2"),
    case("k-pair-zero", "max_pool2d", (X4, (2, 0)), match=r"`kernel_size` must be >= 1, got \(2, 0\)"),
    case("k-float", "max_pool2d", (X4, 2.0), exc=TypeError,
         match=r"`kernel_size` must be an int or a pair of ints, got 2\.0"),
    case("k-nan", "avg_pool2d", (X4, float("nan")), exc=TypeError, match=r"`kernel_size` .*got nan"),
    case("k-bool", "max_pool2d", (X4, True), exc=TypeError, match=r"`kernel_size` .*got True"),
    case("k-np-bool", "max_pool2d", (X4, np.bool_(True)), exc=TypeError, match=r"`kernel_size` .*got .*True"),
    case("k-str", "max_pool2d", (X4, "2"), exc=TypeError, match=r"`kernel_size` .*got '2'"),
    case("k-none", "max_pool2d", (X4, None), exc=TypeError, match=r"`kernel_size` .*got None"),
    case("k-triple", "max_pool2d", (X4, (1, 2, 3)), match=r"`kernel_size` must be an int or a pair of ints, "
                                                          r"got \(1, 2, 3\)"),
    case("k-single", "avg_pool2d", (X4, [2]), match=r"`kernel_size` .*got \[2\]"),
    case("k-huge", "max_pool2d", (X4, 2**31), match=r"`kernel_size` is absurdly large .*got 2147483648"),
    case("k-googol", "unfold2d", (X4, 10**100), match=r"`kernel_size` is absurdly large .*got 1000000"),
    case("k-too-big-for-input", "max_pool2d", (X4, 9),
         match=r"output size would be \(0, 0\) for input size \(8, 8\), kernel_size \(9, 9\).*at least 1"),
    case("k-max-size-for-input", "avg_pool2d", (X4, 2**31 - 1),
         match=r"output size would be \(0, 0\).*kernel_size \(2147483647, 2147483647\)"),
    case("k-0d-float-array", "max_pool2d", (X4, np.array(2.5)), exc=TypeError, match=r"`kernel_size` .*2\.5"),
    case("fold-k-from-windows-zero", "fold2d", (np.zeros((4, 4, 0, 2)), (8, 8)),
         match=r"`windows` must end in a kernel \(KH, KW\) of at least \(1, 1\), got shape \(4, 4, 0, 2\)"),
    case("avgbw-k-zero", "avg_pool2d_backward", (Y4, SHAPE, 0), match=r"`kernel_size` must be >= 1, got 0"),

    # ---------------------------------------------------------------- stride
    case("s-zero", "max_pool2d", (X4, 2, 0), match=r"`stride` must be >= 1, got 0"),
    case("s-negative", "unfold2d", (X4, 2, -1), match=r"`stride` must be >= 1, got -1"),
    case("s-pair-negative", "fold2d", (W4, SHAPE, (2, -2)), match=r"`stride` must be >= 1, got \(2, -2\)"),
    case("s-float", "avg_pool2d", (X4, 2, 1.5), exc=TypeError, match=r"`stride` .*got 1\.5"),
    case("s-bool", "max_pool2d", (X4, 2, True), exc=TypeError, match=r"`stride` .*got True"),
    case("s-huge", "max_pool2d", (X4, 2, 2**40), match=r"`stride` is absurdly large .*got 1099511627776"),
    case("s-triple", "avg_pool2d_backward", (Y4, SHAPE, 2, (1, 1, 1)), match=r"`stride` .*got \(1, 1, 1\)"),

    # ---------------------------------------------------------------- padding
    case("p-negative", "max_pool2d", (X4, 3, 1, -1), match=r"`padding` must be >= 0, got -1"),
    case("p-pair-negative", "avg_pool2d", (X4, 3, 1, (0, -1)), match=r"`padding` must be >= 0, got \(0, -1\)"),
    case("p-pairs-negative", "unfold2d", (X4, 3, 1, ((0, 0), (-2, 0))),
         match=r"`padding` must be >= 0, got \(\(0, 0\), \(-2, 0\)\)"),
    case("p-float", "max_pool2d", (X4, 3, 1, 1.5), exc=TypeError, match=r"`padding` .*got 1\.5"),
    case("p-bool", "avg_pool2d", (X4, 3, 1, True), exc=TypeError, match=r"`padding` .*got True"),
    case("p-bad-string", "max_pool2d", (X4, 3, 1, "SAME"),
         match=r"`padding` must be an int, a pair, a pair of pairs, 'valid' or 'same', got 'SAME'"),
    case("p-triple", "max_pool2d", (X4, 3, 1, (1, 1, 1)), match=r"`padding` .*got \(1, 1, 1\)"),
    case("p-short-pair", "fold2d", (W4, SHAPE, 2, ((1,), (1, 1))),
         match=r"`padding` pairs must have two entries \(before, after\), got \(\(1,\), \(1, 1\)\)"),
    case("p-huge", "unfold2d", (X4, 3, 1, 2**40), match=r"`padding` is absurdly large .*got 1099511627776"),
    case("p-more-than-half-kernel", "max_pool2d", (X4, 2, 2, 2),
         match=r"`padding` must be at most half of the effective kernel height \(1\), got 2"),
    case("p-more-than-half-kernel-width", "avg_pool2d", (X4, 3, 1, (0, 2)),
         match=r"`padding` must be at most half of the effective kernel width \(1\), got \(0, 2\)"),
    case("p-asym-more-than-half", "max_pool2d", (X4, 3, 1, ((0, 2), (0, 0))),
         match=r"`padding` must be at most half .*got \(\(0, 2\), \(0, 0\)\)"),
    case("p-window-with-no-input", "max_pool2d", (np.zeros((1, 1)), 2, 1, 1, 2),
         match=r"`padding` 1 with kernel_size \(2, 2\), stride \(1, 1\), dilation \(2, 2\) leaves a window "
               r"with no input element for input size \(1, 1\)"),
    case("p-empty-plane-padded", "max_pool2d", (np.zeros((0, 4)), 2, 2, 1), match=r"`x`|input"),
    case("p-empty-plane-padded-avg", "avg_pool2d", (np.zeros((3, 0)), 2, 2, 1), match=r"`x`|input"),
    case("p-0d-float-array", "avg_pool2d", (X4, 3, 1, np.array(1.5)), exc=TypeError, match=r"`padding` .*1\.5"),

    # ---------------------------------------------------------------- dilation
    case("d-zero", "max_pool2d", (X4, 2, 2, 0, 0), match=r"`dilation` must be >= 1, got 0"),
    case("d-negative", "unfold2d", (X4, 2, 1, 0, -3), match=r"`dilation` must be >= 1, got -3"),
    case("d-float", "max_pool2d", (X4, 2, 2, 0, 1.0), exc=TypeError, match=r"`dilation` .*got 1\.0"),
    case("d-huge", "fold2d", (W4, SHAPE, 2, 0, 2**31), match=r"`dilation` is absurdly large .*got 2147483648"),
    case("d-output-below-1", "max_pool2d", (X4, 3, 1, 0, 4),
         match=r"output size would be \(0, 0\) .*dilation \(4, 4\): it must be at least 1"),

    # ---------------------------------------------------------------- output size
    case("o-ceil-empty", "avg_pool2d", (np.zeros((1, 1)), 2),
         match=r"output size would be \(0, 0\) for input size \(1, 1\)"),
    case("o-unfold-empty", "unfold2d", (np.zeros((3, 0)), 1),
         match=r"output size would be \(3, 0\) for input size \(3, 0\)"),
    case("o-fold-empty", "fold2d", (np.zeros((1, 1, 5, 5)), (3, 3)),
         match=r"output size would be \(0, 0\) for input size \(3, 3\), kernel_size \(5, 5\)"),
    case("o-avgbw-empty", "avg_pool2d_backward", (np.zeros((1, 1)), (1, 8), 2),
         match=r"output size would be \(0, 4\) for input size \(1, 8\)"),

    # ---------------------------------------------------------------- flags and divisor
    case("ceil-int", "max_pool2d", (X4, 2, 2, 0, 1, 1), exc=TypeError, match=r"`ceil_mode` must be a bool, got 1"),
    case("ceil-str", "avg_pool2d", (X4, 2, 2, 0, "yes"), exc=TypeError,
         match=r"`ceil_mode` must be a bool, got 'yes'"),
    case("return-indices-str", "max_pool2d", (X4, 2), {"return_indices": "no"}, exc=TypeError,
         match=r"`return_indices` must be a bool, got 'no'"),
    case("count-include-pad-none", "avg_pool2d", (X4, 2), {"count_include_pad": None}, exc=TypeError,
         match=r"`count_include_pad` must be a bool, got None"),
    case("avgbw-count-include-pad-int", "avg_pool2d_backward", (Y4, SHAPE, 2), {"count_include_pad": 0},
         exc=TypeError, match=r"`count_include_pad` must be a bool, got 0"),
    case("divisor-zero", "avg_pool2d", (X4, 2), {"divisor_override": 0},
         match=r"`divisor_override` must be a non-zero int, got 0"),
    case("divisor-float", "avg_pool2d", (X4, 2), {"divisor_override": 2.0}, exc=TypeError,
         match=r"`divisor_override` .*got 2\.0"),
    case("divisor-bool", "avg_pool2d_backward", (Y4, SHAPE, 2), {"divisor_override": True}, exc=TypeError,
         match=r"`divisor_override` .*got True"),
    case("divisor-huge", "avg_pool2d", (X4, 2), {"divisor_override": 2**40},
         match=r"`divisor_override` is absurdly large, got 1099511627776"),
    case("avgbw-divisor-zero", "avg_pool2d_backward", (Y4, SHAPE, 2), {"divisor_override": 0},
         match=r"`divisor_override` must be a non-zero int, got 0"),

    # ---------------------------------------------------------------- dtypes
    *[case(f"dtype-{fn}-{name}", fn, (np.zeros((4, 4), dtype=dt) if name != "str" else np.full((4, 4), "a"), 2),
           exc=TypeError, match=rf"`x` has unsupported dtype {re.escape(shown)}; supported: float16, .*uint64")
      for fn in ("max_pool2d", "avg_pool2d", "unfold2d")
      for name, dt, shown in (("bool", np.bool_, "bool"), ("complex64", np.complex64, "complex64"),
                              ("complex128-be", ">c16", ">c16"), ("object", object, "object"),
                              ("str", None, "<U1"), ("bytes", "S2", "|S2"), ("datetime", "M8[s]", "datetime64[s]"),
                              ("longdouble", np.longdouble, str(np.dtype(np.longdouble))),
                              ("structured", [("a", "f4")], "[('a', '<f4')]"))],
    case("dtype-nested-list-bools", "max_pool2d", ([[True, False], [False, True]], 1), exc=TypeError,
         match=r"`x` has unsupported dtype bool"),
    case("dtype-list-of-huge-ints", "avg_pool2d", ([[2**70, 1], [1, 1]], 1), exc=TypeError,
         match=r"`x` has unsupported dtype object"),
    case("dtype-maxbw-grad-complex", "max_pool2d_backward", (Y4.astype(complex), I4, SHAPE), exc=TypeError,
         match=r"`grad_output` has unsupported dtype complex128"),
    case("dtype-maxbw-grad-bool", "max_pool2d_backward", (Y4.astype(bool), I4, SHAPE), exc=TypeError,
         match=r"`grad_output` has unsupported dtype bool"),
    case("dtype-avgbw-grad-object", "avg_pool2d_backward", (Y4.astype(object), SHAPE, 2), exc=TypeError,
         match=r"`grad_output` has unsupported dtype object"),
    case("dtype-fold-windows-bool", "fold2d", (W4.astype(bool), SHAPE, 2), exc=TypeError,
         match=r"`windows` has unsupported dtype bool"),
    case("dtype-fold-windows-complex", "fold2d", (W4.astype(np.complex64), SHAPE, 2), exc=TypeError,
         match=r"`windows` has unsupported dtype complex64"),

    # ---------------------------------------------------------------- out=
    case("out-max-shape", "max_pool2d", (X4, 2), {"out": np.zeros((2, 3, 4, 5))},
         match=r"`out` must have shape \(2, 3, 4, 4\), got \(2, 3, 4, 5\)"),
    case("out-max-dtype", "max_pool2d", (X4, 2), {"out": np.zeros((2, 3, 4, 4), np.float32)}, exc=TypeError,
         match=r"`out` must have dtype float64, got float32"),
    case("out-max-byteorder", "max_pool2d", (X4, 2), {"out": np.zeros((2, 3, 4, 4), ">f8")}, exc=TypeError,
         match=r"`out` must have dtype float64, got >f8"),
    case("out-max-list", "max_pool2d", (X4, 2), {"out": [[0.0]]}, exc=TypeError,
         match=r"`out` must be a numpy.ndarray, got list"),
    case("out-max-readonly", "max_pool2d", (X4, 2), {"out": _ro(Y4)},
         match=r"`out` must be writeable, got a read-only array"),
    case("out-max-transposed-shape", "max_pool2d", (X4, 2), {"out": np.zeros((4, 4, 3, 2))},
         match=r"`out` must have shape \(2, 3, 4, 4\), got \(4, 4, 3, 2\)"),
    case("out-avg-int-for-int", "avg_pool2d", (X4.astype(np.int32), 2), {"out": I4.astype(np.int32)},
         exc=TypeError, match=r"`out` must have dtype float64, got int32"),
    case("out-avg-shape", "avg_pool2d", (X4, 2), {"out": np.zeros((3, 4, 4))},
         match=r"`out` must have shape \(2, 3, 4, 4\), got \(3, 4, 4\)"),
    case("out-maxbw-shape", "max_pool2d_backward", (Y4, I4, SHAPE), {"out": np.zeros((2, 3, 8, 7))},
         match=r"`out` must have shape \(2, 3, 8, 8\), got \(2, 3, 8, 7\)"),
    case("out-maxbw-dtype", "max_pool2d_backward", (Y4, I4, SHAPE), {"out": np.zeros(SHAPE, np.int64)},
         exc=TypeError, match=r"`out` must have dtype float64, got int64"),
    case("out-avgbw-dtype", "avg_pool2d_backward", (Y4.astype(np.float32), SHAPE, 2),
         {"out": np.zeros(SHAPE)}, exc=TypeError, match=r"`out` must have dtype float32, got float64"),
    case("out-avgbw-readonly", "avg_pool2d_backward", (Y4, SHAPE, 2), {"out": _ro(np.zeros(SHAPE))},
         match=r"`out` must be writeable"),
    case("out-fold-shape", "fold2d", (W4, SHAPE, 2), {"out": np.zeros((2, 3, 8))},
         match=r"`out` must have shape \(2, 3, 8, 8\), got \(2, 3, 8\)"),
    case("out-fold-dtype", "fold2d", (W4, SHAPE, 2), {"out": np.zeros(SHAPE, np.float16)}, exc=TypeError,
         match=r"`out` must have dtype float64, got float16"),
    case("out-unfold-not-accepted", "unfold2d", (X4, 2), {"out": np.zeros((2, 3, 4, 4, 2, 2))},
         exc=TypeError, match=r"unexpected keyword argument 'out'"),

    # ---------------------------------------------------------------- gradients vs indices vs input shape
    case("maxbw-indices-shape", "max_pool2d_backward", (Y4, I4[..., :3], SHAPE),
         match=r"`indices` must have the shape of `grad_output` \(2, 3, 4, 4\), got \(2, 3, 4, 3\)"),
    case("maxbw-batch-mismatch", "max_pool2d_backward", (Y4, I4, (2, 4, 8, 8)),
         match=r"`grad_output` must have shape \(2, 4, 0, 0\) \(`input_shape` \(2, 4, 8, 8\) outside the "
               r"pooled axes \(2, 3\)\), got \(2, 3, 0, 0\)"),
    case("maxbw-empty-plane", "max_pool2d_backward", (Y4, I4, (2, 3, 0, 8)),
         match=r"`input_shape` \(2, 3, 0, 8\) has an empty pooled plane but `grad_output` is not empty"),
    case("avgbw-grad-shape", "avg_pool2d_backward", (Y4[..., :3], SHAPE, 2),
         match=r"`grad_output` must have shape \(2, 3, 4, 4\) \(the pooled output of `input_shape` "
               r"\(2, 3, 8, 8\)\), got \(2, 3, 4, 3\)"),
    case("avgbw-grad-for-other-stride", "avg_pool2d_backward", (Y4, SHAPE, 2, 1),
         match=r"`grad_output` must have shape \(2, 3, 7, 7\) .*got \(2, 3, 4, 4\)"),
    case("fold-windows-shape", "fold2d", (W4, SHAPE, 1),
         match=r"`windows` must have shape \(2, 3, 7, 7, 2, 2\) \(the windows of `input_shape` \(2, 3, 8, 8\)\), "
               r"got \(2, 3, 4, 4, 2, 2\)"),
    case("fold-windows-batch", "fold2d", (W4, (2, 2, 8, 8), 2), match=r"`windows` must have shape \(2, 2, 4, 4"),

    # ---------------------------------------------------------------- indices
    case("idx-float", "max_pool2d_backward", (Y4, I4.astype(np.float64), SHAPE), exc=TypeError,
         match=r"`indices` must have an integer dtype \(int64\), got float64"),
    case("idx-bool", "max_pool2d_backward", (Y4, I4.astype(bool), SHAPE), exc=TypeError,
         match=r"`indices` must have an integer dtype \(int64\), got bool"),
    case("idx-object", "max_pool2d_backward", (Y4, I4.astype(object), SHAPE), exc=TypeError,
         match=r"`indices` must have an integer dtype \(int64\), got object"),
    case("idx-list-of-floats", "max_pool2d_backward", ([[1.0]], [[0.5]], (2, 2)), exc=TypeError,
         match=r"`indices` must have an integer dtype \(int64\), got float64"),
    case("idx-equal-plane", "max_pool2d_backward", (Y4, I4 + 64, SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) \(H\*W of `input_shape`\), got 64"),
    case("idx-one-too-big", "max_pool2d_backward", (Y4, np.where(np.arange(96).reshape(Y4.shape) == 50, 64, 0),
                                                    SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) .*got 64"),
    case("idx-minus-2", "max_pool2d_backward", (Y4, I4 - 2, SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) .*got -2"),
    case("idx-huge", "max_pool2d_backward", (Y4, I4 + 2**62, SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) .*got 4611686018427387904"),
    case("idx-int64-min", "max_pool2d_backward", (Y4, np.full(Y4.shape, np.iinfo(np.int64).min), SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) .*got -9223372036854775808"),
    case("idx-int32-too-big", "max_pool2d_backward", (Y4, (I4 + 100).astype(np.int32), SHAPE),
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 64\) .*got 100"),
    case("idx-with-out", "max_pool2d_backward", (Y4, I4 + 64, SHAPE), {"out": np.zeros(SHAPE)},
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 64\) .*got 64"),
    case("idx-minus-1", "max_pool2d_backward", (Y4, I4 - 1, SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) .*got -1"),
    case("idx-minus-1-one", "max_pool2d_backward",
         (Y4, np.where(np.arange(96).reshape(Y4.shape) == 7, -1, 0), SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) .*got -1"),
    case("idx-uint64-max", "max_pool2d_backward", (Y4, np.full(Y4.shape, 2**64 - 1, np.uint64), SHAPE),
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 64\)"),

    # ---------------------------------------------------------------- input_shape
    case("shape-str", "max_pool2d_backward", (Y4, I4, "abcd"), exc=TypeError,
         match=r"`input_shape` must be a sequence of ints, got 'abcd'"),
    case("shape-int", "avg_pool2d_backward", (Y4, 8, 2), exc=TypeError,
         match=r"`input_shape` must be a sequence of ints, got 8"),
    case("shape-none", "fold2d", (W4, None, 2), exc=TypeError, match=r"`input_shape` must be a sequence of ints, got None"),
    case("shape-float", "max_pool2d_backward", (Y4, I4, (2, 3, 8.0, 8)), exc=TypeError,
         match=r"`input_shape` must be a sequence of ints, got \(2, 3, 8\.0, 8\)"),
    case("shape-bool", "avg_pool2d_backward", (Y4, (2, True, 8, 8), 2), exc=TypeError,
         match=r"`input_shape` must be a sequence of ints, got \(2, True, 8, 8\)"),
    case("shape-negative", "max_pool2d_backward", (Y4, I4, (2, 3, -8, 8)),
         match=r"`input_shape` entries must be between 0 and 2\*\*62, got \(2, 3, -8, 8\)"),
    case("shape-over-2-62", "fold2d", (W4, (2, 3, 8, 2**63), 2),
         match=r"`input_shape` entries must be between 0 and 2\*\*62, got \(2, 3, 8, 9223372036854775808\)"),
    case("shape-product-overflows", "max_pool2d_backward",
         (np.zeros((0, 1, 1)), np.zeros((0, 1, 1), np.int64), (0, 2**40, 2**40)), match=r"`input_shape`"),

    # ---------------------------------------------------------------- axes
    case("axes-repeat", "max_pool2d", (X4, 2), {"axes": (1, 1)}, match=r"`axes` must be a pair of distinct axes, got \(1, 1\)"),
    case("axes-repeat-negative", "avg_pool2d", (X4, 2), {"axes": (-1, 3)},
         match=r"`axes` must be a pair of distinct axes, got \(-1, 3\)"),
    case("axes-out-of-range", "max_pool2d", (X4, 2), {"axes": (0, 4)},
         match=r"`axes` \(0, 4\) is out of range for an array of 4 dimensions"),
    case("axes-negative-out-of-range", "unfold2d", (X4, 2), {"axes": (-5, -1)},
         match=r"`axes` \(-5, -1\) is out of range for an array of 4 dimensions"),
    case("axes-single", "max_pool2d", (X4, 2), {"axes": (0,)}, match=r"`axes` must be a pair of distinct axes, got \(0,\)"),
    case("axes-triple", "avg_pool2d", (X4, 2), {"axes": (0, 1, 2)}, match=r"`axes` must be a pair .*got \(0, 1, 2\)"),
    case("axes-int", "max_pool2d", (X4, 2), {"axes": 1}, match=r"`axes` must be a pair of distinct axes, got 1"),
    case("axes-none", "max_pool2d", (X4, 2), {"axes": None}, match=r"`axes` must be a pair of distinct axes, got None"),
    case("axes-float", "max_pool2d", (X4, 2), {"axes": (0.0, 1)}, exc=TypeError, match=r"`axes` .*got 0\.0"),
    case("axes-bool", "avg_pool2d", (X4, 2), {"axes": (True, 2)}, exc=TypeError, match=r"`axes` .*got True"),
    case("axes-maxbw-out-of-range", "max_pool2d_backward", (Y4, I4, SHAPE), {"axes": (2, 7)},
         match=r"`axes` \(2, 7\) is out of range for an array of 4 dimensions"),
    case("axes-avgbw-repeat", "avg_pool2d_backward", (Y4, SHAPE, 2), {"axes": (-2, 2)},
         match=r"`axes` must be a pair of distinct axes, got \(-2, 2\)"),
    case("axes-fold-out-of-range", "fold2d", (W4, SHAPE, 2), {"axes": (4, 5)},
         match=r"`axes` \(4, 5\) is out of range for an array of 4 dimensions"),

    # ================================================================ the N-d family
    # ---------------------------------------------------------------- 1D and 3D: dimensions, tuples, words
    case("max1d-x-0d", "max_pool1d", (np.float64(1.0), 1), match=r"`x` must have at least 1 dimension \(\.\.\., L\), got 0"),
    case("max3d-x-2d", "max_pool3d", (np.zeros((4, 4)), 2),
         match=r"`x` must have at least 3 dimensions \(\.\.\., D, H, W\), got 2"),
    case("avg3d-x-2d", "avg_pool3d", (np.zeros((4, 4)), 2), match=r"at least 3 dimensions.*got 2"),
    case("unfold1d-x-0d", "unfold1d", (np.float32(1), 1), match=r"at least 1 dimension.*got 0"),
    case("max1d-k-pair", "max_pool1d", (X1, (2, 2)), match=r"`kernel_size` must be an int or a tuple of one int, "
                                                            r"got \(2, 2\)"),
    case("max3d-k-pair", "max_pool3d", (X5, (2, 2)), match=r"`kernel_size` must be an int or a triple of ints, "
                                                            r"got \(2, 2\)"),
    case("max3d-k-float", "max_pool3d", (X5, (2, 2, 2.0)), exc=TypeError,
         match=r"`kernel_size` must be an int or a triple of ints, got \(2, 2, 2\.0\)"),
    case("avg1d-k-zero", "avg_pool1d", (X1, 0), match=r"`kernel_size` must be >= 1, got 0"),
    case("avg3d-s-zero", "avg_pool3d", (X5, 2, (1, 0, 1)), match=r"`stride` must be >= 1, got \(1, 0, 1\)"),
    case("max3d-d-negative", "max_pool3d", (X5, 2, 1, 0, -1), match=r"`dilation` must be >= 1, got -1"),
    case("max1d-p-pair", "max_pool1d", (X1, 3, 1, (1, 1)),
         match=r"`padding` must be an int, a tuple of one int or of one pair, 'valid' or 'same', got \(1, 1\)"),
    case("max3d-p-pair", "max_pool3d", (X5, 3, 1, (1, 1)),
         match=r"`padding` must be an int, a triple, a triple of pairs, 'valid' or 'same', got \(1, 1\)"),
    case("max1d-p-more-than-half", "max_pool1d", (X1, 2, 2, 2),
         match=r"`padding` must be at most half of the effective kernel length \(1\), got 2"),
    case("max3d-p-more-than-half-depth", "max_pool3d", (X5, 2, 2, (2, 0, 0)),
         match=r"`padding` must be at most half of the effective kernel depth \(1\), got \(2, 0, 0\)"),
    case("avg3d-output-below-1", "avg_pool3d", (X5, (5, 2, 2)),
         match=r"output size would be \(0, 4, 4\) for input size \(4, 8, 8\), kernel_size \(5, 2, 2\)"),
    case("max1d-output-below-1", "max_pool1d", (X1, 9), match=r"output size would be \(0,\) for input size \(8,\)"),
    case("max3d-window-without-input", "max_pool3d", (np.zeros((1, 1, 1)), 2, 1, 1, 2),
         match=r"leaves a window with no input element for input size \(1, 1, 1\)"),
    case("max3d-ceil-int", "max_pool3d", (X5, 2), {"ceil_mode": 1}, exc=TypeError,
         match=r"`ceil_mode` must be a bool, got 1"),
    case("max1d-return-indices-int", "max_pool1d", (X1, 2), {"return_indices": 1}, exc=TypeError,
         match=r"`return_indices` must be a bool, got 1"),
    case("avg1d-divisor-zero", "avg_pool1d", (X1, 2), {"divisor_override": 0},
         match=r"`divisor_override` must be a non-zero int, got 0"),
    case("avg3d-divisor-float", "avg_pool3d", (X5, 2), {"divisor_override": 1.5}, exc=TypeError,
         match=r"`divisor_override` must be an int, got 1\.5"),
    case("dtype-max3d-bool", "max_pool3d", (X5.astype(bool), 2), exc=TypeError,
         match=r"`x` has unsupported dtype bool; supported: float16"),
    case("dtype-avg1d-complex", "avg_pool1d", (X1.astype(complex), 2), exc=TypeError,
         match=r"`x` has unsupported dtype complex128"),
    case("dtype-unfold3d-object", "unfold3d", (X5.astype(object), 2), exc=TypeError,
         match=r"`x` has unsupported dtype object"),
    case("axes1d-pair", "max_pool1d", (X1, 2), {"axes": (0, 1)},
         match=r"`axes` must be an int or a tuple of one axis, got \(0, 1\)"),
    case("axes1d-out-of-range", "avg_pool1d", (X1, 2), {"axes": 5},
         match=r"`axes` \(5,\) is out of range for an array of 3 dimensions"),
    case("axes3d-repeat", "max_pool3d", (X5, 2), {"axes": (1, 2, 2)},
         match=r"`axes` must be a triple of distinct axes, got \(1, 2, 2\)"),
    case("axes3d-pair", "avg_pool3d", (X5, 2), {"axes": (1, 2)},
         match=r"`axes` must be a triple of distinct axes, got \(1, 2\)"),
    case("out-max3d-wrong-shape", "max_pool3d", (X5, 2), {"out": np.zeros((2, 2, 4, 4, 3))},
         match=r"`out` must have shape \(2, 2, 4, 4\), got \(2, 2, 4, 4, 3\)"),
    case("out-avg1d-dtype", "avg_pool1d", (X1, 2), {"out": np.zeros((2, 3, 4), np.float32)}, exc=TypeError,
         match=r"`out` must have dtype float64, got float32"),
    # ---------------------------------------------------------------- 1D and 3D backward, fold
    case("maxbw3d-grad-ndim", "max_pool3d_backward", (np.zeros((2, 2)), np.zeros((2, 2), np.int64), (2, 4, 8, 8)),
         match=r"`grad_output` must have 4 dimensions like `input_shape` \(2, 4, 8, 8\), got shape \(2, 2\)"),
    case("maxbw1d-idx-too-big", "max_pool1d_backward", (np.ones((2, 3, 4)), np.full((2, 3, 4), 8), (2, 3, 8)),
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 8\) \(L of `input_shape`\), got 8"),
    case("maxbw3d-idx-negative", "max_pool3d_backward", (np.ones((2, 2, 4, 4)), np.full((2, 2, 4, 4), -1),
                                                         (2, 4, 8, 8)), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 256\) \(D\*H\*W of `input_shape`\), got -1"),
    case("maxbw3d-empty-volume", "max_pool3d_backward", (np.ones((2, 1, 1, 1)), np.zeros((2, 1, 1, 1), np.int64),
                                                         (2, 0, 4, 4)),
         match=r"`input_shape` \(2, 0, 4, 4\) has an empty pooled volume but `grad_output` is not empty"),
    case("maxbw1d-idx-float", "max_pool1d_backward", (np.ones((2, 4)), np.zeros((2, 4)), (2, 8)), exc=TypeError,
         match=r"`indices` must have an integer dtype \(int64\), got float64"),
    case("avgbw3d-grad-shape", "avg_pool3d_backward", (np.zeros((2, 2, 4, 3)), (2, 4, 8, 8), 2),
         match=r"`grad_output` must have shape \(2, 2, 4, 4\) \(the pooled output of `input_shape` \(2, 4, 8, 8\)\), "
               r"got \(2, 2, 4, 3\)"),
    case("avgbw1d-shape-0d", "avg_pool1d_backward", (np.zeros(2), (), 2),
         match=r"`input_shape` must have at least 1 dimension \(\.\.\., L\), got 0"),
    case("fold3d-windows-ndim", "fold3d", (np.zeros((4, 4, 2, 2)), (8, 8, 8)),
         match=r"`windows` must have 6 dimensions \(input_shape \(8, 8, 8\) plus KD, KH, KW\), got shape \(4, 4, 2, 2\)"),
    case("fold1d-windows-empty-kernel", "fold1d", (np.zeros((4, 0)), (8,)),
         match=r"`windows` must end in a kernel \(K\) of at least 1, got shape \(4, 0\)"),
    case("fold1d-windows-shape", "fold1d", (np.zeros((3, 2)), (8,), 2),
         match=r"`windows` must have shape \(4, 2\) \(the windows of `input_shape` \(8,\)\), got \(3, 2\)"),
    case("fold3d-stride-pair", "fold3d", (np.zeros((2, 2, 2, 2, 2, 2)), (4, 4, 4), (2, 2)),
         match=r"`stride` must be an int or a triple of ints, got \(2, 2\)"),
    # ---------------------------------------------------------------- adaptive pooling
    case("amax1d-osize-zero", "adaptive_max_pool1d", (X1, 0), match=r"`output_size` must be >= 1, got 0"),
    case("amax2d-osize-negative", "adaptive_max_pool2d", (X4, (2, -1)), match=r"`output_size` must be >= 1, got \(2, -1\)"),
    case("amax3d-osize-float", "adaptive_max_pool3d", (X5, 2.0), exc=TypeError,
         match=r"`output_size` must be an int or a tuple of 3 ints or None, got 2\.0"),
    case("aavg2d-osize-triple", "adaptive_avg_pool2d", (X4, (1, 2, 3)),
         match=r"`output_size` must be an int or a tuple of 2 ints or None, got \(1, 2, 3\)"),
    case("aavg1d-osize-bool", "adaptive_avg_pool1d", (X1, True), exc=TypeError,
         match=r"`output_size` must be an int or a tuple of 1 ints or None, got True"),
    case("aavg3d-osize-str", "adaptive_avg_pool3d", (X5, "2"), exc=TypeError, match=r"`output_size` .*got '2'"),
    case("amax2d-osize-huge", "adaptive_max_pool2d", (X4, 2**40), match=r"`output_size` is absurdly large"),
    case("amax2d-empty-input", "adaptive_max_pool2d", (np.zeros((2, 0, 4)), 2),
         match=r"adaptive pooling needs input size at least 1 along every pooled axis, got input size \(0, 4\)"),
    case("aavg1d-x-0d", "adaptive_avg_pool1d", (np.float32(2.0), 1), match=r"at least 1 dimension.*got 0"),
    case("amax3d-dtype-bool", "adaptive_max_pool3d", (X5.astype(bool), 1), exc=TypeError,
         match=r"`x` has unsupported dtype bool"),
    case("aavg2d-dtype-str", "adaptive_avg_pool2d", (np.full((3, 3), "a"), 1), exc=TypeError,
         match=r"`x` has unsupported dtype <U1"),
    case("amax2d-return-indices-str", "adaptive_max_pool2d", (X4, 2), {"return_indices": "yes"}, exc=TypeError,
         match=r"`return_indices` must be a bool, got 'yes'"),
    case("amax2d-axes", "adaptive_max_pool2d", (X4, 2), {"axes": (2, 2)}, match=r"`axes` must be a pair of distinct axes"),
    case("aavg3d-out-dtype", "adaptive_avg_pool3d", (X5.astype(np.int16), 2), {"out": np.zeros((2, 2, 2, 2), np.int16)},
         exc=TypeError, match=r"`out` must have dtype float64, got int16"),
    case("amax1d-out-shape", "adaptive_max_pool1d", (X1, 3), {"out": np.zeros((2, 3, 4))},
         match=r"`out` must have shape \(2, 3, 3\), got \(2, 3, 4\)"),
    case("aavgbw2d-grad-ndim", "adaptive_avg_pool2d_backward", (np.zeros((3, 3)), (2, 3, 8, 8)),
         match=r"`grad_output` must have 4 dimensions like `input_shape` \(2, 3, 8, 8\), got shape \(3, 3\)"),
    case("aavgbw1d-batch", "adaptive_avg_pool1d_backward", (np.zeros((2, 4, 3)), (2, 3, 8)),
         match=r"`grad_output` must have shape \(2, 3, 0\) \(`input_shape` \(2, 3, 8\) outside the pooled axes \(2,\)\), "
               r"got \(2, 4, 0\)"),
    case("aavgbw3d-empty-grad", "adaptive_avg_pool3d_backward", (np.zeros((2, 0, 2, 2)), (2, 4, 8, 8)),
         match=r"`grad_output` must have at least one element along the pooled axes \(1, 2, 3\), got shape \(2, 0, 2, 2\)"),
    case("aavgbw2d-shape-str", "adaptive_avg_pool2d_backward", (np.zeros((2, 2)), "ab"), exc=TypeError,
         match=r"`input_shape` must be a sequence of ints, got 'ab'"),
    case("aavgbw2d-dtype", "adaptive_avg_pool2d_backward", (np.zeros((2, 2), bool), (4, 4)), exc=TypeError,
         match=r"`grad_output` has unsupported dtype bool"),
    case("aavgbw2d-out-dtype", "adaptive_avg_pool2d_backward", (np.zeros((2, 2), np.float32), (4, 4)),
         {"out": np.zeros((4, 4))}, exc=TypeError, match=r"`out` must have dtype float32, got float64"),
    # ---------------------------------------------------------------- max unpooling
    case("unpool2d-idx-shape", "max_unpool2d", (Y4, I4[..., :3], 2),
         match=r"`indices` must have the shape of `x` \(2, 3, 4, 4\), got \(2, 3, 4, 3\)"),
    case("unpool2d-idx-float", "max_unpool2d", (Y4, I4.astype(float), 2), exc=TypeError,
         match=r"`indices` must have an integer dtype \(int64\), got float64"),
    case("unpool1d-idx-too-big", "max_unpool1d", (np.ones((2, 4)), np.full((2, 4), 8), 2), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 8\) \(L of the output\), got 8"),
    case("unpool3d-idx-negative", "max_unpool3d", (np.ones((1, 2, 2, 2)), np.full((1, 2, 2, 2), -3), 2),
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 64\) \(D\*H\*W of the output\), got -3"),
    case("unpool2d-idx-with-out", "max_unpool2d", (Y4, I4 + 64, 2), {"out": np.zeros(SHAPE)}, kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) \(H\*W of the output\), got 64"),
    case("unpool2d-osize-too-small", "max_unpool2d", (Y4, I4, 2), {"output_size": (6, 8)},
         match=r"`output_size` \(6, 8\) must lie strictly between the default size \(8, 8\) minus and plus the "
               r"stride \(2, 2\)"),
    case("unpool2d-osize-too-big", "max_unpool2d", (Y4, I4, 2), {"output_size": (2, 3, 8, 10)},
         match=r"`output_size` \(2, 3, 8, 10\) must lie strictly between"),
    case("unpool2d-osize-length", "max_unpool2d", (Y4, I4, 2), {"output_size": (8, 8, 8)},
         match=r"`output_size` must have 2 entries \(the pooled sizes\) or 4 \(the whole output shape\), got \(8, 8, 8\)"),
    case("unpool2d-osize-batch", "max_unpool2d", (Y4, I4, 2), {"output_size": (3, 3, 8, 8)},
         match=r"`output_size` must have shape \(2, 3, 0, 0\) \(the shape of `x` \(2, 3, 4, 4\) outside the pooled "
               r"axes \(2, 3\)\), got \(3, 3, 0, 0\)"),
    case("unpool2d-osize-float", "max_unpool2d", (Y4, I4, 2), {"output_size": (8.0, 8)}, exc=TypeError,
         match=r"`output_size` must be a sequence of ints, got \(8\.0, 8\)"),
    case("unpool2d-padding-same", "max_unpool2d", (Y4, I4, 2, 2, "same"),
         match=r"`padding` 'same' depends on the pooled input's size"),
    case("unpool2d-k-zero", "max_unpool2d", (Y4, I4, 0), match=r"`kernel_size` must be >= 1, got 0"),
    case("unpool3d-k-pair", "max_unpool3d", (X5, X5.astype(np.int64), (2, 2)),
         match=r"`kernel_size` must be an int or a triple of ints, got \(2, 2\)"),
    case("unpool1d-s-zero", "max_unpool1d", (X1, X1.astype(np.int64), 2, 0), match=r"`stride` must be >= 1, got 0"),
    case("unpool1d-output-below-1", "max_unpool1d", (np.ones((2, 1)), np.zeros((2, 1), np.int64), 1, 1, 1),
         match=r"output size would be \(-1,\) for input size \(1,\)"),
    case("unpool2d-dtype-bool", "max_unpool2d", (Y4.astype(bool), I4, 2), exc=TypeError,
         match=r"`x` has unsupported dtype bool"),
    case("unpool2d-out-shape", "max_unpool2d", (Y4, I4, 2), {"out": np.zeros((2, 3, 8, 7))},
         match=r"`out` must have shape \(2, 3, 8, 8\), got \(2, 3, 8, 7\)"),
    case("unpool2d-axes", "max_unpool2d", (Y4, I4, 2), {"axes": (0, 0)}, match=r"`axes` must be a pair of distinct axes"),
    # ---------------------------------------------------------------- masked arrays: refused, never pooled as data
    *[case(f"masked-{fn}", fn, (np.ma.MaskedArray(a, mask=np.ones(a.shape, bool)),) + rest, exc=TypeError,
           match=rf"`{name}` is a numpy.ma.MaskedArray: pooling it would use its data and silently drop its mask")
      for fn, a, rest, name in (("max_pool2d", X4, (2,), "x"), ("avg_pool1d", X1, (2,), "x"),
                                ("adaptive_max_pool3d", X5, (2,), "x"), ("adaptive_avg_pool2d", X4, (1,), "x"),
                                ("unfold2d", X4, (2,), "x"), ("max_unpool2d", Y4, (I4, 2), "x"),
                                ("avg_pool2d_backward", Y4, (SHAPE, 2), "grad_output"),
                                ("adaptive_avg_pool2d_backward", Y4, (SHAPE,), "grad_output"),
                                ("max_pool2d_backward", Y4, (I4, SHAPE), "grad_output"),
                                ("fold2d", W4, (SHAPE, 2), "windows"))],
    case("masked-unmasked-data", "max_pool3d", (np.ma.MaskedArray(X5),  2), exc=TypeError,
         match=r"`x` is a numpy.ma.MaskedArray.*use stridepool.block_reduce, which honours masks"),
    case("masked-indices", "max_pool2d_backward", (Y4, np.ma.MaskedArray(I4), SHAPE), exc=TypeError,
         match=r"`indices` is a numpy.ma.MaskedArray"),
    # ---------------------------------------------------------------- min pooling and nan_policy
    *[case(f"nan-policy-{fn}-{name}", fn, args, {"nan_policy": bad},
           match=rf"`nan_policy` must be 'propagate' or 'omit', got {re.escape(shown)}$")
      for (fn, args), (name, bad, shown) in zip(
          (("max_pool2d", (X4, 2)), ("min_pool1d", (X1, 2)), ("min_pool3d", (X5, 2)), ("avg_pool2d", (X4, 2)),
           ("avg_pool3d", (X5, 2)), ("max_pool2d_backward", (Y4, I4, SHAPE)),
           ("min_pool1d_backward", (np.ones((2, 3, 4)), np.zeros((2, 3, 4), np.int64), (2, 3, 8))),
           ("avg_pool2d_backward", (Y4, SHAPE, 2)), ("min_pool2d", (X4, 2)), ("max_pool1d", (X1, 2)),
           ("avg_pool1d_backward", (np.ones((2, 3, 4)), (2, 3, 8), 2))),
          (("raise", "raise", "'raise'"), ("none", None, "None"), ("upper", "OMIT", "'OMIT'"),
           ("bool", True, "True"), ("empty", "", "''"), ("raise", "raise", "'raise'"), ("int", 0, "0"),
           ("list", ["omit"], "['omit']"), ("bytes", b"omit", "b'omit'"), ("nan", float("nan"), "nan"),
           ("space", "omit ", "'omit '")))],
    case("nan-policy-before-other-checks", "min_pool2d", (np.zeros(3, bool), 0), {"nan_policy": "x"},
         match=r"`nan_policy` must be 'propagate' or 'omit', got 'x'"),
    case("min-k-zero", "min_pool2d", (X4, 0), match=r"`kernel_size` must be >= 1, got 0"),
    case("min-k-float", "min_pool1d", (X1, 2.0), exc=TypeError, match=r"`kernel_size` must be an int .*got 2\.0"),
    case("min-p-more-than-half", "min_pool2d", (X4, 2, 2, 2), {"nan_policy": "omit"},
         match=r"`padding` must be at most half of the effective kernel height \(1\), got 2"),
    case("min-dtype-bool", "min_pool2d", (X4.astype(bool), 2), exc=TypeError,
         match=r"`x` has unsupported dtype bool; supported: float16"),
    case("min-dtype-complex-omit", "min_pool3d", (X5.astype(complex), 2), {"nan_policy": "omit"}, exc=TypeError,
         match=r"`x` has unsupported dtype complex128"),
    case("max-dtype-object-omit", "max_pool2d", (X4.astype(object), 2), {"nan_policy": "omit"}, exc=TypeError,
         match=r"`x` has unsupported dtype object"),
    case("min-return-indices-str", "min_pool2d", (X4, 2), {"return_indices": "yes"}, exc=TypeError,
         match=r"`return_indices` must be a bool, got 'yes'"),
    case("min-ceil-int", "min_pool1d", (X1, 2), {"ceil_mode": 1, "nan_policy": "omit"}, exc=TypeError,
         match=r"`ceil_mode` must be a bool, got 1"),
    case("min-axes-repeat", "min_pool2d", (X4, 2), {"axes": (1, 1)},
         match=r"`axes` must be a pair of distinct axes, got \(1, 1\)"),
    case("min-out-dtype", "min_pool2d", (X4, 2), {"out": np.zeros((2, 3, 4, 4), np.float32)}, exc=TypeError,
         match=r"`out` must have dtype float64, got float32"),
    case("max-omit-out-shape", "max_pool2d", (X4, 2), {"out": np.zeros((2, 3, 4, 5)), "nan_policy": "omit"},
         match=r"`out` must have shape \(2, 3, 4, 4\), got \(2, 3, 4, 5\)"),
    case("min-masked", "min_pool2d", (np.ma.MaskedArray(X4),  2), exc=TypeError,
         match=r"`x` is a numpy.ma.MaskedArray"),
    case("avg-omit-divisor-zero", "avg_pool2d", (X4, 2), {"divisor_override": 0, "nan_policy": "omit"},
         match=r"`divisor_override` must be a non-zero int, got 0"),
    case("avg-omit-count-include-pad-none", "avg_pool1d", (X1, 2), {"count_include_pad": None, "nan_policy": "omit"},
         exc=TypeError, match=r"`count_include_pad` must be a bool, got None"),
    case("avg-omit-out-dtype", "avg_pool3d", (X5.astype(np.float32), 2), {"nan_policy": "omit",
                                                                        "out": np.zeros((2, 2, 4, 4))},
         exc=TypeError, match=r"`out` must have dtype float32, got float64"),
    case("minbw-idx-minus-1", "min_pool2d_backward", (Y4, I4 - 1, SHAPE), kernel_may_raise=True,
         match=r"`indices` must lie in \[0, 64\) \(H\*W of `input_shape`\), got -1 \(-1 is the index of a "
               r"window without a non-NaN element, from nan_policy='omit': pass nan_policy='omit'"),
    case("maxbw-omit-idx-minus-2", "max_pool2d_backward", (Y4, I4 - 2, SHAPE), {"nan_policy": "omit"},
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 64\) .*got -2$"),
    case("minbw-omit-idx-too-big", "min_pool2d_backward", (Y4, I4 + 64, SHAPE), {"nan_policy": "omit"},
         kernel_may_raise=True, match=r"`indices` must lie in \[0, 64\) .*got 64$"),
    case("minbw-omit-idx-float", "min_pool2d_backward", (Y4, I4.astype(float), SHAPE), {"nan_policy": "omit"},
         exc=TypeError, match=r"`indices` must have an integer dtype \(int64\), got float64"),
    case("maxbw-omit-batch", "max_pool2d_backward", (Y4, I4, (2, 4, 8, 8)), {"nan_policy": "omit"},
         match=r"`grad_output` must have shape \(2, 4, 0, 0\)"),
    case("minbw-omit-out-dtype", "min_pool2d_backward", (Y4, I4, SHAPE),
         {"nan_policy": "omit", "out": np.zeros(SHAPE, np.float32)}, exc=TypeError,
         match=r"`out` must have dtype float64, got float32"),
    case("avgbw-omit-without-x", "avg_pool2d_backward", (Y4, SHAPE, 2), {"nan_policy": "omit"},
         match=r"`x` \(the pooled input\) is required with nan_policy='omit': .*got None"),
    case("avgbw-omit-x-shape", "avg_pool2d_backward", (Y4, SHAPE, 2), {"nan_policy": "omit", "x": X4[..., :7]},
         match=r"`x` must have the shape of `input_shape` \(2, 3, 8, 8\), got \(2, 3, 8, 7\)"),
    case("avgbw-x-shape-propagate", "avg_pool2d_backward", (Y4, SHAPE, 2), {"x": X4[0]},
         match=r"`x` must have the shape of `input_shape` \(2, 3, 8, 8\), got \(3, 8, 8\)"),
    case("avgbw-omit-x-dtype", "avg_pool3d_backward", (np.zeros((2, 2, 4, 4)), (2, 4, 8, 8), 2),
         {"nan_policy": "omit", "x": X5.astype(bool)}, exc=TypeError, match=r"`x` has unsupported dtype bool"),
    case("avgbw-omit-x-masked", "avg_pool1d_backward", (np.ones((2, 3, 4)), (2, 3, 8), 2),
         {"nan_policy": "omit", "x": np.ma.MaskedArray(X1)}, exc=TypeError, match=r"`x` is a numpy.ma.MaskedArray"),
    case("avgbw-omit-grad-shape", "avg_pool2d_backward", (Y4[..., :3], SHAPE, 2), {"nan_policy": "omit", "x": X4},
         match=r"`grad_output` must have shape \(2, 3, 4, 4\) \(the pooled output of `input_shape`"),
    case("avgbw-omit-out-dtype", "avg_pool2d_backward", (Y4.astype(np.float32), SHAPE, 2),
         {"nan_policy": "omit", "x": X4, "out": np.zeros(SHAPE)}, exc=TypeError,
         match=r"`out` must have dtype float32, got float64"),
    # ---------------------------------------------------------------- block_reduce (any number of axes)
    case("br-block-length", "block_reduce", (X4, (2, 2)),
         match=r"`block_size` must be an int or a sequence of 4 ints \(one per axis of `image`\), got \(2, 2\)"),
    case("br-block-length-1d", "block_reduce", (np.zeros(8), (2, 2)),
         match=r"`block_size` must be an int or a sequence of 1 ints .*got \(2, 2\)"),
    case("br-block-zero", "block_reduce", (X4, 0),
         match=r"`block_size` must be >= 1 along every axis \(block_reduce only shrinks an image\), got 0"),
    case("br-block-negative", "block_reduce", (X4, (1, 1, -2, 2)), match=r"`block_size` must be >= 1 .*got \(1, 1, -2, 2\)"),
    case("br-block-float", "block_reduce", (X4, 2.0), exc=TypeError, match=r"`block_size` must be an int .*got 2\.0"),
    case("br-block-float-entry", "block_reduce", (X4, (1, 1, 2.0, 2)), exc=TypeError,
         match=r"`block_size` .*got \(1, 1, 2\.0, 2\)"),
    case("br-block-bool", "block_reduce", (X4, True), exc=TypeError, match=r"`block_size` .*got True"),
    case("br-block-str", "block_reduce", (X4, "2"), exc=TypeError, match=r"`block_size` .*got '2'"),
    case("br-block-none", "block_reduce", (X4, None), exc=TypeError, match=r"`block_size` .*got None"),
    case("br-block-nested", "block_reduce", (np.zeros((4, 4)), ((2, 2), (2, 2))), exc=TypeError,
         match=r"`block_size` .*got \(\(2, 2\), \(2, 2\)\)"),
    case("br-block-huge", "block_reduce", (X4, 2**31), match=r"`block_size` is absurdly large .*got 2147483648"),
    case("br-block-0d-image", "block_reduce", (np.float64(2.0), (2,)),
         match=r"`block_size` must be an int or a sequence of 0 ints .*got \(2,\)"),
    case("br-func-str", "block_reduce", (X4, 2, "max"), exc=TypeError,
         match=r"`func` must be a callable that takes an `axis` tuple \(such as np.max or np.mean\), got 'max'"),
    case("br-func-none", "block_reduce", (X4, 2, None), exc=TypeError, match=r"`func` must be a callable .*got None"),
    case("br-kwargs-list", "block_reduce", (X4, 2, np.mean, 0, [("dtype", np.float32)]), exc=TypeError,
         match=r"`func_kwargs` must be None or a dict of keyword arguments for `func`, got \[\("),
    case("br-kwargs-int-key", "block_reduce", (X4, 2, np.mean), {"func_kwargs": {1: 2}}, exc=TypeError,
         match=r"`func_kwargs` must be None or a dict .*got \{1: 2\}"),
    case("br-kwargs-axis", "block_reduce", (X4, 2, np.mean), {"func_kwargs": {"axis": 0}}, exc=TypeError,
         match=r"`func_kwargs` must not set `axis` \(block_reduce passes the block axes\), got \{'axis': 0\}"),
    case("br-cval-str", "block_reduce", (np.zeros((3, 3)), 2, np.max, "a"),
         match=r"`cval` cannot pad an image of dtype float64 \(np.pad: .*\), got 'a'"),
    case("br-cval-nan-int32", "block_reduce", (np.zeros((3, 3), np.int32), 2, np.max, np.nan),
         match=r"`cval` cannot pad an image of dtype int32 \(np.pad: cannot convert float NaN to integer\), got nan"),
    case("br-cval-none-int", "block_reduce", (np.zeros((3, 3), np.int16), 2, np.sum, None), exc=TypeError,
         match=r"`cval` cannot pad an image of dtype int16 .*got None"),
    case("br-cval-overflow", "block_reduce", (np.zeros((3, 3), np.int64), 2, np.sum, 10**30),
         match=r"`cval` cannot pad an image of dtype int64 .*got 1000000000000000000000000000000"),
    case("br-cval-shape", "block_reduce", (np.zeros((3, 3)), 2, np.max, [1, 2, 3]),
         match=r"`cval` cannot pad an image of dtype float64 .*got \[1, 2, 3\]"),
]


class _Tripwire:
    """Stands in for a kernel table: any kernel call fails the test."""

    def __getitem__(self, key):
        def kernel(*args, **kwargs):
            raise AssertionError(f"a kernel ran ({key}) before the error was raised")
        return kernel


@pytest.fixture
def tripwires(monkeypatch):
    """Replace every compiled kernel table by a tripwire (when the compiled backend exists)."""
    try:
        from stridepool import _compiled
    except ImportError:
        return None
    for name in ("_MAX", "_SCATTER", "_FOLD", "_AVG", "_AVG_BACK"):
        monkeypatch.setattr(_compiled, name, _Tripwire())
    return compiled_functions()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn, args, kwargs, exc, match, extra", CASES)
def test_bad_call_raises(backend, fn, args, kwargs, exc, match, extra):
    snapshot = [np.array(a, copy=True) for a in args if isinstance(a, np.ndarray) and a.dtype != object]
    out = kwargs.get("out")
    out_before = out.copy() if isinstance(out, np.ndarray) else None
    with pytest.raises(exc, match=match):
        getattr(backend, fn)(*args, **kwargs)
    # the inputs are never modified, and a caller's out= is not written when the call fails
    after = [a for a in args if isinstance(a, np.ndarray) and a.dtype != object]
    for a, b in zip(after, snapshot):
        np.testing.assert_array_equal(a, b)
    if out_before is not None:
        np.testing.assert_array_equal(out, out_before)


@pytest.mark.parametrize("fn, args, kwargs, exc, match, extra",
                         [c for c in CASES if not c.values[5]["kernel_may_raise"] and not c.marks])
def test_error_raised_before_any_kernel(tripwires, fn, args, kwargs, exc, match, extra):
    """On the compiled backend, every row fails in validation: no kernel is called."""
    if tripwires is None:
        pytest.skip("no compiled extension")
    with pytest.raises(exc, match=match):
        getattr(tripwires, fn)(*args, **kwargs)


def test_backends_raise_identical_errors():
    """The shared validation gives both backends the same exception type and message on every row."""
    compiled = compiled_functions()
    if compiled is None:
        pytest.skip("no compiled extension")
    for p in CASES:
        fn, args, kwargs, exc, match, _ = p.values
        if p.marks:
            continue
        got = []
        for mod in (compiled, reference):
            try:
                getattr(mod, fn)(*args, **kwargs)
                got.append(None)
            except (ValueError, TypeError) as e:
                got.append((type(e), str(e)))
        assert got[0] == got[1], (p.id, got)


# ------------------------------------------------------------------------------------- layers, threads

LAYER_CASES = [
    pytest.param(lambda: sp.MaxPool2d(0), ValueError, r"`kernel_size` must be >= 1, got 0", id="MaxPool2d-k0"),
    pytest.param(lambda: sp.MaxPool2d(2, padding=-1), ValueError, r"`padding` must be >= 0, got -1",
                 id="MaxPool2d-p-negative"),
    pytest.param(lambda: sp.MaxPool2d(2.5), TypeError, r"`kernel_size` .*got 2\.5", id="MaxPool2d-k-float"),
    pytest.param(lambda: sp.MaxPool2d(2).forward(np.zeros(4)), ValueError, r"at least 2 dimensions",
                 id="MaxPool2d-forward-1d"),
    pytest.param(lambda: sp.MaxPool2d(2, stride=0).forward(np.zeros((4, 4))), ValueError,
                 r"`stride` must be >= 1, got 0", id="MaxPool2d-stride0-at-forward"),
    pytest.param(lambda: sp.AvgPool2d(2, divisor_override=0), ValueError,
                 r"`divisor_override` must be a non-zero int, got 0", id="AvgPool2d-divisor0"),
    pytest.param(lambda: sp.AvgPool2d((2, 2, 2)), ValueError, r"`kernel_size` .*got \(2, 2, 2\)",
                 id="AvgPool2d-k-triple"),
    pytest.param(lambda: sp.AvgPool2d(2).forward(np.zeros((4, 4), bool)), TypeError,
                 r"`x` has unsupported dtype bool", id="AvgPool2d-bool"),
    pytest.param(lambda: sp.Pooling2D("median", (2, 2), (1, 4, 4)), ValueError,
                 r"`pool_funct` must be 'max', 'avg' or a callable, got 'median'", id="Pooling2D-funct"),
    pytest.param(lambda: sp.Pooling2D("max", (2, 2), (4, 4)), ValueError,
                 r"`input_size` must be \(C, H, W\), got \(4, 4\)", id="Pooling2D-input-size"),
    pytest.param(lambda: sp.Pooling2D("max", (0, 2), (1, 4, 4)), ValueError,
                 r"`kernel_size` must be >= 1, got \(0, 2\)", id="Pooling2D-k0"),
    pytest.param(lambda: sp.Pooling2D("max", (2, 2), (1, 4, 4), strides=(1, -1)), ValueError,
                 r"`strides` must be >= 1, got \(1, -1\)", id="Pooling2D-strides"),
    pytest.param(lambda: sp.Pooling2D("max", (2, 2), (1, 4, 4), padding=1.0), TypeError,
                 r"`padding` .*got 1\.0", id="Pooling2D-padding-float"),
    pytest.param(lambda: sp.Pooling2D("max", (2, 2), (1, 4, 4)).forward(np.zeros((4, 4))), ValueError,
                 r"`x` must have shape input_size \(1, 4, 4\), got \(4, 4\)", id="Pooling2D-forward-shape"),
    pytest.param(lambda: sp.Pooling2D("max", (2, 2), (1, 4, 4), function="avg"), TypeError,
                 r"give exactly one of `pool_funct` and its alias `function`", id="Pooling2D-both-names"),
    pytest.param(lambda: sp.MaxPool3d((2, 2)), ValueError, r"`kernel_size` must be an int or a triple of ints",
                 id="MaxPool3d-k-pair"),
    pytest.param(lambda: sp.AvgPool1d(2, padding=(1, 1)), ValueError, r"`padding` must be an int, a tuple of one",
                 id="AvgPool1d-padding-pair"),
    pytest.param(lambda: sp.AdaptiveAvgPool2d(0), ValueError, r"`output_size` must be >= 1, got 0",
                 id="AdaptiveAvgPool2d-0"),
    pytest.param(lambda: sp.AdaptiveMaxPool3d((1, 2)), ValueError, r"`output_size` must be an int or a tuple of 3",
                 id="AdaptiveMaxPool3d-pair"),
    pytest.param(lambda: sp.AdaptiveAvgPool3d((2, -1, 2)), ValueError,
                 r"`output_size` must be >= 1, got \(2, -1, 2\)", id="AdaptiveAvgPool3d-negative"),
    pytest.param(lambda: sp.AdaptiveMaxPool1d(1).forward(np.zeros((2, 0))), ValueError,
                 r"adaptive pooling needs input size at least 1", id="AdaptiveMaxPool1d-empty"),
    pytest.param(lambda: sp.MaxUnpool1d(0), ValueError, r"`kernel_size` must be >= 1, got 0", id="MaxUnpool1d-k0"),
    pytest.param(lambda: sp.MaxUnpool2d(2).forward(np.zeros((2, 2)), np.zeros((2, 3), np.int64)), ValueError,
                 r"`indices` must have the shape of `x`", id="MaxUnpool2d-indices-shape"),
    pytest.param(lambda: sp.set_num_threads(0), ValueError, r"`n` must be >= 1, got 0", id="threads-0"),
    pytest.param(lambda: sp.set_num_threads(-3), ValueError, r"`n` must be >= 1, got -3", id="threads-negative"),
    pytest.param(lambda: sp.set_num_threads(2.0), TypeError, r"`n` must be an int, got 2\.0", id="threads-float"),
    pytest.param(lambda: sp.set_num_threads(True), TypeError, r"`n` must be an int, got True", id="threads-bool"),
]


@pytest.mark.parametrize("make, exc, match", LAYER_CASES)
def test_layer_and_thread_errors(make, exc, match):
    before = sp.get_num_threads()
    try:
        with pytest.raises(exc, match=match):
            make()
    finally:
        assert sp.get_num_threads() == before


@pytest.mark.parametrize("layer", [sp.MaxPool2d(2), sp.AvgPool2d(2), sp.Pooling2D("max", (2, 2), (1, 4, 4)),
                                   sp.MaxPool1d(2), sp.AvgPool3d(2), sp.AdaptiveMaxPool2d(1), sp.AdaptiveAvgPool1d(2),
                                   sp.MaxUnpool3d(2)],
                         ids=["MaxPool2d", "AvgPool2d", "Pooling2D", "MaxPool1d", "AvgPool3d", "AdaptiveMaxPool2d",
                              "AdaptiveAvgPool1d", "MaxUnpool3d"])
def test_layer_backward_before_forward(layer):
    with pytest.raises(RuntimeError, match=r"backward called before forward"):
        layer.backward(np.zeros((1, 2, 2)))


def test_table_size():
    """The table stays big: rows of bad calls (x 2 backends in test_bad_call_raises)."""
    assert len(CASES) >= 120
