"""The docstrings of the six public functions, shared by the compiled backend and the reference."""

_COMMON = """
    axes : pair of int, default (-2, -1)
        The two pooled axes ``(H, W)``, NumPy's gufunc spelling: ``axes=(1, 2)`` pools an ``(N, H, W, C)``
        batch in place of a transpose."""

_GEOMETRY = """
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Step between windows; default the kernel size.
    padding : int, (int, int), ((top, bottom), (left, right)), 'valid' or 'same'
        Implicit padding. 'same' is TensorFlow's rule (output ``ceil(n / stride)``, the odd pixel at the
        end). Each side may be at most half the effective kernel, as in PyTorch."""

DOCS = {
    "max_pool2d": f"""Max pooling over the last two axes (or ``axes``) of ``x``, PyTorch's semantics.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        float16/32/64 or any signed or unsigned integer type; the result keeps the dtype.{_GEOMETRY}
    dilation : int or (int, int), default 1
        Spacing between the taps of a window.
    ceil_mode : bool, default False
        Round the output size up (a last window that starts inside the input or the leading padding).
    return_indices : bool, default False
        Also return int64 flat positions ``row * W + col`` of each maximum in its ``H x W`` plane.{_COMMON}
    out : ndarray, optional
        Array of exactly the result's shape and dtype to fill and return.

    Returns
    -------
    y : ndarray, shape (..., OH, OW)
    indices : ndarray of int64, shape (..., OH, OW)
        Only with ``return_indices=True``.

    Notes
    -----
    Padding is never selected. Ties go to the first maximum in row-major window order. A window holding a
    NaN gives NaN, and its index is the first NaN's (PyTorch records the last NaN).

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> x = np.array([[1, 5, 2], [4, 3, 9], [0, 7, 8]])
    >>> y, idx = sp.max_pool2d(x, 2, stride=1, return_indices=True)
    >>> y
    array([[5, 9],
           [7, 9]])
    >>> idx
    array([[1, 5],
           [7, 5]])
    """,
    "max_pool2d_backward": f"""Gradient of max pooling: add each ``grad_output`` element at its index.

    Overlapping windows accumulate; the result is deterministic and the same for any thread count.

    Parameters
    ----------
    grad_output : array_like, shape (..., OH, OW)
        Gradient of the pooled output; the result has its dtype (float16 sums in float32).
    indices : array_like of int, shape (..., OH, OW)
        As returned by ``max_pool2d(..., return_indices=True)``; each must lie in ``[0, H*W)`` (else
        ``ValueError``, and nothing is written).
    input_shape : tuple of int
        Shape of the pooled input.{_COMMON}
    out : ndarray, optional
        Array of exactly ``input_shape`` and the gradient's dtype to fill and return.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> x = np.array([[1., 5., 2.], [4., 3., 9.], [0., 7., 8.]])
    >>> y, idx = sp.max_pool2d(x, 2, stride=1, return_indices=True)
    >>> sp.max_pool2d_backward(np.ones_like(y), idx, x.shape)
    array([[0., 1., 0.],
           [0., 0., 2.],
           [0., 1., 0.]])
    """,
    "avg_pool2d": f"""Average pooling over the last two axes (or ``axes``) of ``x``, PyTorch's divisor rules.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        Float inputs keep their dtype (float16 computes in float32); integers average like ``np.mean``
        (float64 result).{_GEOMETRY}
    ceil_mode : bool, default False
        Round the output size up.
    count_include_pad : bool, default True
        Divide by the window clipped to the padded extent (a ``ceil_mode`` overhang past the padding is not
        counted); with False, by the number of real elements.
    divisor_override : int, optional
        Divide every window by this instead.{_COMMON}
    out : ndarray, optional
        Array of exactly the result's shape and dtype to fill and return.

    Returns
    -------
    y : ndarray, shape (..., OH, OW)

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> sp.avg_pool2d(np.array([[1, 2, 3], [4, 5, 6]]), 2, stride=1)
    array([[3., 4.]])
    >>> sp.avg_pool2d(np.ones((2, 2)), 2, padding=1, count_include_pad=False)
    array([[1., 1.],
           [1., 1.]])
    """,
    "avg_pool2d_backward": f"""Gradient of average pooling: spread each ``grad_output`` element over its window.

    Parameters
    ----------
    grad_output : array_like, shape (..., OH, OW)
        Gradient of the pooled output. Float dtypes are kept; integers give float64.
    input_shape : tuple of int
        Shape of the pooled input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As given to :func:`avg_pool2d`.{_COMMON}
    out : ndarray, optional
        Array of exactly ``input_shape`` and the result dtype to fill and return.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> sp.avg_pool2d_backward(np.array([[4.0, 8.0]]), (2, 3), 2, stride=1)
    array([[1., 3., 2.],
           [1., 3., 2.]])
    """,
    "unfold2d": f"""The windows of ``x``: ``(..., OH, OW, KH, KW)``, the question's layout.

    With no padding the result is a read-only view of ``x`` (no copy); with padding it is a new array with
    zeros in the padding. With ``axes``, the pooled axes become ``(OH, OW)`` in place and ``(KH, KW)`` are
    appended, as ``numpy.lib.stride_tricks.sliding_window_view`` does. Both backends share this function.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), ((top, bottom), (left, right)), 'valid' or 'same'
        Zero padding; any amount is allowed as long as there is at least one window.
    dilation : int or (int, int), default 1{_COMMON}

    Returns
    -------
    windows : ndarray, shape (..., OH, OW, KH, KW)

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> w = sp.unfold2d(np.arange(12).reshape(3, 4), 2, stride=2)
    >>> w.shape
    (1, 2, 2, 2)
    >>> w[0, 1]
    array([[2, 3],
           [6, 7]])
    """,
    "fold2d": f"""Add every window back where it came from, summing overlaps and cropping the padding.

    The adjoint of :func:`unfold2d` (``sum(unfold2d(x) * w) == sum(x * fold2d(w))``): the operation the
    question asked for, and what the pooling backwards are made of.

    Parameters
    ----------
    windows : array_like, shape (..., OH, OW, KH, KW)
        Windows in :func:`unfold2d`'s layout; the result keeps the dtype (float16 sums in float32).
    input_shape : tuple of int
        Shape of the array the windows were taken from.
    stride, padding, dilation
        As given to :func:`unfold2d`.{_COMMON}
    out : ndarray, optional
        Array of exactly ``input_shape`` and the windows' dtype to fill and return.

    Returns
    -------
    folded : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> sp.fold2d(np.ones((2, 2, 2, 2), dtype=int), (3, 3), stride=1)
    array([[1, 2, 1],
           [2, 4, 2],
           [1, 2, 1]])
    """,
}


def apply(namespace):
    """Give the six functions found in ``namespace`` (a module's globals) their public docstrings."""
    for name, doc in DOCS.items():
        if name in namespace:
            namespace[name].__doc__ = doc
