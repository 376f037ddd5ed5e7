"""The public docstrings: one template per operation, filled in for 1, 2 and 3 pooled axes.

Both backends' functions get their docstrings from here (``stridepool._api`` calls :func:`doc`), so the
compiled functions and the reference's say the same thing.
"""
from __future__ import annotations

_WORDS: dict[int, dict[str, str]] = {
    1: dict(Nd="1D", dims="L", shape="(..., L)", oshape="(..., OL)", last="the last axis",
            tuple="(int,)", kernel="Window length.", axes_default="(-1,)", axes_type="int or (int,)",
            axes_text="The pooled axis ``L``: ``axes=(1,)`` (or ``axes=1``) pools an ``(N, L, C)`` batch in "
                      "place of a transpose.",
            pad_forms="int, (int,), ((before, after),), 'valid' or 'same'",
            flat="positions ``l`` along the pooled axis", extent="L", kdims="K", odims="OL",
            windows="(..., OL, K)"),
    2: dict(Nd="2D", dims="H, W", shape="(..., H, W)", oshape="(..., OH, OW)", last="the last two axes",
            tuple="(int, int)", kernel="Window height and width.", axes_default="(-2, -1)",
            axes_type="pair of int",
            axes_text="The two pooled axes ``(H, W)``, NumPy's gufunc spelling: ``axes=(1, 2)`` pools an "
                      "``(N, H, W, C)`` batch in place of a transpose.",
            pad_forms="int, (int, int), ((top, bottom), (left, right)), 'valid' or 'same'",
            flat="flat positions ``row * W + col`` in each ``H x W`` plane", extent="H*W", kdims="KH, KW",
            odims="OH, OW", windows="(..., OH, OW, KH, KW)"),
    3: dict(Nd="3D", dims="D, H, W", shape="(..., D, H, W)", oshape="(..., OD, OH, OW)",
            last="the last three axes", tuple="(int, int, int)", kernel="Window depth, height and width.",
            axes_default="(-3, -2, -1)", axes_type="triple of int",
            axes_text="The three pooled axes ``(D, H, W)``: ``axes=(1, 2, 3)`` pools an ``(N, D, H, W, C)`` "
                      "batch in place of a transpose.",
            pad_forms="int, (int, int, int), ((front, back), (top, bottom), (left, right)), 'valid' or 'same'",
            flat="flat positions ``(d * H + h) * W + w`` in each ``D x H x W`` volume", extent="D*H*W",
            kdims="KD, KH, KW", odims="OD, OH, OW", windows="(..., OD, OH, OW, KD, KH, KW)"),
}

_AXES = """
    axes : {axes_type}, default {axes_default}
        {axes_text}"""

_OUT = """
    out : ndarray, optional
        Array of exactly the result's shape and dtype to fill and return."""

_GEOMETRY = """
    kernel_size : int or {tuple}
        {kernel}
    stride : int or {tuple}, optional
        Step between windows; default the kernel size.
    padding : {pad_forms}
        Implicit padding. 'same' is TensorFlow's rule (output ``ceil(n / stride)``, the odd pixel at the
        end). Each side may be at most half the effective kernel, as in PyTorch."""

_TEMPLATES: dict[str, str] = {
    "max_pool": """{Ext} pooling over {last} (or ``axes``) of ``x``, {rules}.

    Parameters
    ----------
    x : array_like, shape {shape}
        float16/32/64 or any signed or unsigned integer type; the result keeps the dtype.""" + _GEOMETRY + """
    dilation : int or {tuple}, default 1
        Spacing between the taps of a window.
    ceil_mode : bool, default False
        Round the output size up (a last window that starts inside the input or the leading padding).
    return_indices : bool, default False
        Also return int64 {flat} of each {ext} (PyTorch's; :func:`{op}{nd}d_backward` and
        :func:`max_unpool{nd}d` take them).
    nan_policy : {{'propagate', 'omit'}}, default 'propagate'
        With 'propagate' a window holding a NaN gives NaN. With 'omit' NaN is ignored, as ``np.nan{op3}``
        ignores it: a window without a non-NaN element gives NaN, and its index is -1 (which
        :func:`{op}{nd}d_backward` takes with ``nan_policy='omit'``). Integers hold no NaN: both are the
        same.""" + _AXES + _OUT + """

    Returns
    -------
    y : ndarray, shape {oshape}
    indices : ndarray of int64, shape {oshape}
        Only with ``return_indices=True``.

    Notes
    -----
    Padding is never selected. Ties go to the first {ext} in row-major window order. A window holding a
    NaN gives NaN (with ``nan_policy='propagate'``), and its index is the first NaN's{nan_note}.{min_note}

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "max_pool_backward": """Gradient of {ext_name} pooling: add each ``grad_output`` element at its index.

    Overlapping windows accumulate; the result is deterministic and the same for any thread count. The
    indices may come from :func:`max_pool{nd}d`, :func:`min_pool{nd}d` or :func:`adaptive_max_pool{nd}d`
    (``max_pool{nd}d_backward`` and ``min_pool{nd}d_backward`` are the same function).

    Parameters
    ----------
    grad_output : array_like, shape {oshape}
        Gradient of the pooled output; the result has its dtype (float16 sums in float32).
    indices : array_like of int, shape {oshape}
        As returned with ``return_indices=True``; each must lie in ``[0, {extent})`` (else ``ValueError``, and
        nothing is written).
    input_shape : tuple of int
        Shape of the pooled input.
    nan_policy : {{'propagate', 'omit'}}, default 'propagate'
        As given to the forward. With 'omit' an index of -1 (a window without a non-NaN element) adds
        nothing: no gradient reaches a NaN tap. With 'propagate' -1 is out of range like any other.""" + _AXES + """
    out : ndarray, optional
        Array of exactly ``input_shape`` and the gradient's dtype to fill and return.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "avg_pool": """Average pooling over {last} (or ``axes``) of ``x``, PyTorch's divisor rules.

    Parameters
    ----------
    x : array_like, shape {shape}
        Float inputs keep their dtype (float16 computes in float32); integers average like ``np.mean``
        (float64 result).""" + _GEOMETRY + """
    ceil_mode : bool, default False
        Round the output size up.
    count_include_pad : bool, default True
        Divide by the window clipped to the padded extent (a ``ceil_mode`` overhang past the padding is not
        counted); with False, by the number of real elements.
    divisor_override : int, optional
        Divide every window by this instead.
    nan_policy : {{'propagate', 'omit'}}, default 'propagate'
        With 'propagate' a window holding a NaN gives NaN. With 'omit' NaN taps are ignored, as
        ``np.nanmean`` ignores them: the window's other taps are summed and divided by ``divisor_override``
        if given; else, with ``count_include_pad``, by the window clipped to the padded extent less its NaN
        taps (padding counts as zeros, NaN not at all); else by the number of non-NaN taps (``np.nanmean``'s
        divisor). A window without a non-NaN element gives NaN. Integers hold no NaN: both are the
        same.""" + _AXES + _OUT + """

    Returns
    -------
    y : ndarray, shape {oshape}

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "avg_pool_backward": """Gradient of average pooling: spread each ``grad_output`` element over its window.

    Parameters
    ----------
    grad_output : array_like, shape {oshape}
        Gradient of the pooled output. Float dtypes are kept; integers give float64.
    input_shape : tuple of int
        Shape of the pooled input.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nan_policy
        As given to :func:`avg_pool{nd}d`.
    x : array_like, shape ``input_shape``, optional
        The pooled input, required with ``nan_policy='omit'``: its NaN taps get no gradient, and they set the
        divisors. Ignored (but checked) with 'propagate'.""" + _AXES + """
    out : ndarray, optional
        Array of exactly ``input_shape`` and the result dtype to fill and return.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "adaptive_max_pool": """Adaptive max pooling: {last} (or ``axes``) of ``x`` pooled to ``output_size``.

    Along an axis of input size ``n`` and output size ``o``, output ``i`` is the maximum over
    ``[floor(i * n / o), ceil((i + 1) * n / o))`` (PyTorch's windows; they may overlap, and ``o`` may exceed
    ``n``). ``output_size=1`` is global max pooling.

    Parameters
    ----------
    x : array_like, shape {shape}
        float16/32/64 or any signed or unsigned integer type; the result keeps the dtype.
    output_size : int or {tuple}
        The output size along each pooled axis; ``None`` in a tuple keeps that axis's input size.
    return_indices : bool, default False
        Also return int64 {flat} of each maximum; :func:`max_pool{nd}d_backward` takes them.""" + _AXES + _OUT + """

    Returns
    -------
    y : ndarray
        ``x``'s shape with ``output_size`` along the pooled axes.
    indices : ndarray of int64
        Only with ``return_indices=True``.

    Notes
    -----
    Ties go to the first maximum in row-major window order; a window holding a NaN gives NaN and the first
    NaN's index.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "adaptive_avg_pool": """Adaptive average pooling: {last} (or ``axes``) of ``x`` averaged to ``output_size``.

    Along an axis of input size ``n`` and output size ``o``, output ``i`` is the mean over
    ``[floor(i * n / o), ceil((i + 1) * n / o))`` (PyTorch's windows). ``output_size=1`` is global average
    pooling.

    Parameters
    ----------
    x : array_like, shape {shape}
        Float inputs keep their dtype (float16 computes in float32); integers give float64.
    output_size : int or {tuple}
        The output size along each pooled axis; ``None`` in a tuple keeps that axis's input size.""" + _AXES + _OUT + """

    Returns
    -------
    y : ndarray
        ``x``'s shape with ``output_size`` along the pooled axes.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "adaptive_avg_pool_backward": """Gradient of adaptive average pooling: spread each element over its window.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the pooled output; its sizes along the pooled axes are the output size. Float dtypes are
        kept; integers give float64.
    input_shape : tuple of int
        Shape of the pooled input.""" + _AXES + """
    out : ndarray, optional
        Array of exactly ``input_shape`` and the result dtype to fill and return.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "max_unpool": """Max unpooling: put each element of ``x`` at its index in zeros of the output size.

    The inverse PyTorch's ``max_unpool{nd}d`` computes: ``indices`` as returned by :func:`max_pool{nd}d`
    ({flat}). Where several elements carry the same index, the last in row-major order wins (PyTorch's CPU
    result).

    Parameters
    ----------
    x : array_like, shape {oshape}
        Any supported dtype; the result keeps it.
    indices : array_like of int, shape of ``x``
        Each must lie in ``[0, {extent})`` of the output (else ``ValueError``).
    kernel_size : int or {tuple}
    stride : int or {tuple}, optional
        Default the kernel size.
    padding : int, {tuple} or pairs
        As given to the pooling.
    output_size : tuple of int, optional
        The pooled sizes of the output, or its whole shape. Default per axis ``(n - 1) * stride -
        pad_before - pad_after + kernel``; a given size must lie strictly within the default plus or minus
        the stride, as in PyTorch.""" + _AXES + _OUT + """

    Returns
    -------
    y : ndarray, shape {shape}

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "unfold": """The windows of ``x``: ``{windows}``, the question's layout.

    With no padding the result is a read-only view of ``x`` (no copy); with padding it is a new array with
    zeros in the padding. With ``axes``, the pooled axes become ``({odims})`` in place and ``({kdims})`` are
    appended, as ``numpy.lib.stride_tricks.sliding_window_view`` does. Both backends share this function.

    Parameters
    ----------
    x : array_like, shape {shape}
    kernel_size : int or {tuple}
    stride : int or {tuple}, default 1
    padding : {pad_forms}
        Zero padding; any amount is allowed as long as there is at least one window.
    dilation : int or {tuple}, default 1""" + _AXES + """

    Returns
    -------
    windows : ndarray, shape {windows}

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
    "fold": """Add every window back where it came from, summing overlaps and cropping the padding.

    The adjoint of :func:`unfold{nd}d` (``sum(unfold{nd}d(x) * w) == sum(x * fold{nd}d(w))``): the operation the
    question asked for, and what the pooling backwards are made of.

    Parameters
    ----------
    windows : array_like, shape {windows}
        Windows in :func:`unfold{nd}d`'s layout; the result keeps the dtype (float16 sums in float32).
    input_shape : tuple of int
        Shape of the array the windows were taken from.
    stride, padding, dilation
        As given to :func:`unfold{nd}d`.""" + _AXES + """
    out : ndarray, optional
        Array of exactly ``input_shape`` and the windows' dtype to fill and return.

    Returns
    -------
    folded : ndarray, shape ``input_shape``

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
{example}
    """,
}

# ---------------------------------------------------------------------------------------------- examples
# (op, nd) -> the example's lines after the imports; each runs as a doctest on both backends.

_EXAMPLES: dict[tuple[str, int], str] = {
    ("max_pool", 1): """
    >>> y, idx = sp.max_pool1d(np.array([1, 5, 2, 4, 3, 0]), 2, return_indices=True)
    >>> y
    array([5, 4, 3])
    >>> idx
    array([1, 3, 4])""",
    ("max_pool", 2): """
    >>> x = np.array([[1, 5, 2], [4, 3, 9], [0, 7, 8]])
    >>> y, idx = sp.max_pool2d(x, 2, stride=1, return_indices=True)
    >>> y
    array([[5, 9],
           [7, 9]])
    >>> idx
    array([[1, 5],
           [7, 5]])
    >>> sp.max_pool2d(np.array([[1., np.nan], [np.nan, 2.]]), 2, nan_policy="omit")  # NaN ignored
    array([[2.]])""",
    ("min_pool", 1): """
    >>> y, idx = sp.min_pool1d(np.array([1, 5, 2, 4, 3, 0]), 2, return_indices=True)
    >>> y
    array([1, 2, 0])
    >>> idx
    array([0, 2, 5])
    >>> sp.min_pool1d(np.array([3., np.nan, np.nan, np.nan]), 2, nan_policy="omit")  # all NaN: NaN
    array([ 3., nan])""",
    ("min_pool", 2): """
    >>> x = np.array([[1., 5., 2.], [4., np.nan, 9.], [0., 7., 8.]])
    >>> sp.min_pool2d(x, 2, stride=1)  # NaN propagates
    array([[nan, nan],
           [nan, nan]])
    >>> y, idx = sp.min_pool2d(x, 2, stride=1, return_indices=True, nan_policy="omit")
    >>> y
    array([[1., 2.],
           [0., 7.]])
    >>> idx
    array([[0, 2],
           [6, 7]])""",
    ("min_pool", 3): """
    >>> x = np.arange(16.0).reshape(1, 4, 2, 2)  # (C, D, H, W)
    >>> y, idx = sp.min_pool3d(x, (2, 2, 2), return_indices=True)
    >>> y.ravel(), idx.ravel()
    (array([0., 8.]), array([0, 8]))""",
    ("min_pool_backward", 1): """
    >>> x = np.array([3., 1., np.nan, np.nan, 2.])
    >>> y, idx = sp.min_pool1d(x, 2, return_indices=True, nan_policy="omit")
    >>> y, idx
    (array([ 1., nan]), array([ 1, -1]))
    >>> sp.min_pool1d_backward(np.ones_like(y), idx, x.shape, nan_policy="omit")
    array([0., 1., 0., 0., 0.])""",
    ("min_pool_backward", 2): """
    >>> x = np.array([[1., 5., 2.], [4., 3., 9.], [0., 7., 8.]])
    >>> y, idx = sp.min_pool2d(x, 2, stride=1, return_indices=True)
    >>> sp.min_pool2d_backward(np.ones_like(y), idx, x.shape)
    array([[1., 0., 1.],
           [0., 1., 0.],
           [1., 0., 0.]])""",
    ("min_pool_backward", 3): """
    >>> x = np.arange(27.0).reshape(3, 3, 3)
    >>> y, idx = sp.min_pool3d(x, 2, stride=1, return_indices=True)
    >>> sp.min_pool3d_backward(np.ones_like(y), idx, x.shape)[0]
    array([[1., 1., 0.],
           [1., 1., 0.],
           [0., 0., 0.]])""",
    ("max_pool", 3): """
    >>> x = np.arange(16.0).reshape(1, 4, 2, 2)  # (C, D, H, W)
    >>> y, idx = sp.max_pool3d(x, (2, 2, 2), return_indices=True)
    >>> y.ravel(), idx.ravel()
    (array([ 7., 15.]), array([ 7, 15]))""",
    ("max_pool_backward", 1): """
    >>> x = np.array([1., 5., 2., 4., 3.])
    >>> y, idx = sp.max_pool1d(x, 3, stride=1, return_indices=True)
    >>> sp.max_pool1d_backward(np.ones_like(y), idx, x.shape)  # 5 is the maximum of two windows
    array([0., 2., 0., 1., 0.])""",
    ("max_pool_backward", 2): """
    >>> x = np.array([[1., 5., 2.], [4., 3., 9.], [0., 7., 8.]])
    >>> y, idx = sp.max_pool2d(x, 2, stride=1, return_indices=True)
    >>> sp.max_pool2d_backward(np.ones_like(y), idx, x.shape)
    array([[0., 1., 0.],
           [0., 0., 2.],
           [0., 1., 0.]])""",
    ("max_pool_backward", 3): """
    >>> x = np.arange(27.0).reshape(3, 3, 3)
    >>> y, idx = sp.max_pool3d(x, 2, stride=1, return_indices=True)
    >>> sp.max_pool3d_backward(np.ones_like(y), idx, x.shape)[2]
    array([[0., 0., 0.],
           [0., 1., 1.],
           [0., 1., 1.]])""",
    ("avg_pool", 1): """
    >>> sp.avg_pool1d(np.array([1, 2, 3, 4, 5]), 2)
    array([1.5, 3.5])
    >>> sp.avg_pool1d(np.array([1., 2., 3.]), 2, padding=1, count_include_pad=False)
    array([1. , 2.5])""",
    ("avg_pool", 2): """
    >>> sp.avg_pool2d(np.array([[1, 2, 3], [4, 5, 6]]), 2, stride=1)
    array([[3., 4.]])
    >>> sp.avg_pool2d(np.ones((2, 2)), 2, padding=1, count_include_pad=False)
    array([[1., 1.],
           [1., 1.]])
    >>> sp.avg_pool2d(np.array([[1., np.nan], [3., np.nan]]), 2, nan_policy="omit")  # np.nanmean
    array([[2.]])""",
    ("avg_pool", 3): """
    >>> sp.avg_pool3d(np.arange(8.0).reshape(2, 2, 2), 2)
    array([[[3.5]]])""",
    ("avg_pool_backward", 1): """
    >>> sp.avg_pool1d_backward(np.array([4.0, 8.0]), (3,), 2, stride=1)
    array([2., 6., 4.])""",
    ("avg_pool_backward", 2): """
    >>> sp.avg_pool2d_backward(np.array([[4.0, 8.0]]), (2, 3), 2, stride=1)
    array([[1., 3., 2.],
           [1., 3., 2.]])
    >>> x = np.array([[1., np.nan], [3., np.nan]])
    >>> sp.avg_pool2d_backward(np.array([[4.0]]), x.shape, 2, nan_policy="omit", x=x)  # none to NaN
    array([[2., 0.],
           [2., 0.]])""",
    ("avg_pool_backward", 3): """
    >>> sp.avg_pool3d_backward(np.array([[[8.0]]]), (2, 2, 2), 2)[0]
    array([[1., 1.],
           [1., 1.]])""",
    ("adaptive_max_pool", 1): """
    >>> y, idx = sp.adaptive_max_pool1d(np.array([3, 1, 4, 1, 5]), 3, return_indices=True)
    >>> y
    array([3, 4, 5])
    >>> idx
    array([0, 2, 4])""",
    ("adaptive_max_pool", 2): """
    >>> x = np.arange(20.0).reshape(4, 5)
    >>> sp.adaptive_max_pool2d(x, (2, 3))  # columns [0, 2), [1, 4), [3, 5)
    array([[ 6.,  8.,  9.],
           [16., 18., 19.]])
    >>> sp.adaptive_max_pool2d(x, 1)  # global max pooling
    array([[19.]])""",
    ("adaptive_max_pool", 3): """
    >>> sp.adaptive_max_pool3d(np.arange(24.0).reshape(2, 3, 4), (1, None, 2)).shape
    (1, 3, 2)""",
    ("adaptive_avg_pool", 1): """
    >>> sp.adaptive_avg_pool1d(np.array([1., 2., 3., 4., 5.]), 2)  # windows [0, 3) and [2, 5)
    array([2., 4.])""",
    ("adaptive_avg_pool", 2): """
    >>> x = np.arange(32.0).reshape(2, 4, 4)  # (C, H, W)
    >>> sp.adaptive_avg_pool2d(x, 1)  # global average pooling, a ResNet head
    array([[[ 7.5]],
    <BLANKLINE>
           [[23.5]]])""",
    ("adaptive_avg_pool", 3): """
    >>> sp.adaptive_avg_pool3d(np.arange(8.0).reshape(2, 2, 2), (1, 2, 1))
    array([[[2.5],
            [4.5]]])""",
    ("adaptive_avg_pool_backward", 1): """
    >>> sp.adaptive_avg_pool1d_backward(np.array([2.0, 4.5]), (5,))
    array([0.66666667, 0.66666667, 2.16666667, 1.5       , 1.5       ])""",
    ("adaptive_avg_pool_backward", 2): """
    >>> sp.adaptive_avg_pool2d_backward(np.array([[4.0]]), (2, 2))
    array([[1., 1.],
           [1., 1.]])""",
    ("adaptive_avg_pool_backward", 3): """
    >>> sp.adaptive_avg_pool3d_backward(np.array([[[8.0]]]), (2, 2, 2))[1]
    array([[1., 1.],
           [1., 1.]])""",
    ("max_unpool", 1): """
    >>> x = np.array([1., 5., 2., 4.])
    >>> y, idx = sp.max_pool1d(x, 2, return_indices=True)
    >>> sp.max_unpool1d(y, idx, 2)
    array([0., 5., 0., 4.])""",
    ("max_unpool", 2): """
    >>> x = np.array([[1., 5., 2.], [4., 3., 9.], [0., 7., 8.]])
    >>> y, idx = sp.max_pool2d(x, 2, return_indices=True)
    >>> sp.max_unpool2d(y, idx, 2, output_size=x.shape)
    array([[0., 5., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])""",
    ("max_unpool", 3): """
    >>> x = np.arange(8.0).reshape(2, 2, 2)
    >>> y, idx = sp.max_pool3d(x, 2, return_indices=True)
    >>> sp.max_unpool3d(y, idx, 2)[1]
    array([[0., 0.],
           [0., 7.]])""",
    ("unfold", 1): """
    >>> sp.unfold1d(np.arange(5), 3)
    array([[0, 1, 2],
           [1, 2, 3],
           [2, 3, 4]])""",
    ("unfold", 2): """
    >>> w = sp.unfold2d(np.arange(12).reshape(3, 4), 2, stride=2)
    >>> w.shape
    (1, 2, 2, 2)
    >>> w[0, 1]
    array([[2, 3],
           [6, 7]])""",
    ("unfold", 3): """
    >>> sp.unfold3d(np.zeros((4, 6, 6)), 2, stride=2).shape
    (2, 3, 3, 2, 2, 2)""",
    ("fold", 1): """
    >>> sp.fold1d(np.ones((3, 3), dtype=int), (5,))
    array([1, 2, 3, 2, 1])""",
    ("fold", 2): """
    >>> sp.fold2d(np.ones((2, 2, 2, 2), dtype=int), (3, 3), stride=1)
    array([[1, 2, 1],
           [2, 4, 2],
           [1, 2, 1]])""",
    ("fold", 3): """
    >>> sp.fold3d(np.ones((2, 2, 2, 2, 2, 2), dtype=int), (3, 3, 3))[1]
    array([[2, 4, 2],
           [4, 8, 4],
           [2, 4, 2]])""",
}


#: the words that make max pooling's templates min pooling's (op -> (template, words))
_EXTREMES: dict[str, tuple[str, dict[str, str]]] = {
    "max_pool": ("max_pool", dict(
        Ext="Max", ext="maximum", op="max_pool", op3="max", rules="PyTorch's semantics",
        nan_note=" (PyTorch records the last NaN)", min_note="")),
    "min_pool": ("max_pool", dict(
        Ext="Min", ext="minimum", op="min_pool", op3="min", rules="max pooling's rules with the order reversed",
        nan_note="", min_note=(
            "\n\n    Computed as ``-max(-x)`` for floats and ``~max(~x)`` for integers, which reverse the order "
            "exactly\n    (no overflow; ``-0.0`` ties ``0.0``): the values are the input's own elements, "
            "on both backends\n    and on dask arrays. PyTorch has no min pooling; ``-max_pool{nd}d(-x)`` is "
            "the same."))),
    "max_pool_backward": ("max_pool_backward", dict(ext_name="max")),
    "min_pool_backward": ("max_pool_backward", dict(ext_name="min")),
}


def doc(op: str, nd: int) -> str:
    """The docstring of operation ``op`` (``"max_pool"`` ...) for ``nd`` pooled axes."""
    template, words = _EXTREMES.get(op, (op, {}))
    text = _TEMPLATES[template].format(nd=nd, example=_EXAMPLES[op, nd].strip("\n"), **_WORDS[nd], **words)
    return text.replace("{nd}", str(nd))


BLOCK_REDUCE = """Downsample ``image`` by reducing blocks with ``func``: scikit-image's ``block_reduce``, faster.

    The signature, defaults, results and result dtypes of scikit-image 0.26's
    ``skimage.measure.block_reduce``, without scikit-image: the end of every axis is padded with ``cval`` up
    to a multiple of the block, and ``func`` reduces each block over the block axes. ``np.max``, ``np.min``,
    ``np.sum`` and ``np.mean`` run on stridepool's kernels (20 times scikit-image's speed and more), as do
    ``np.nanmax``, ``np.nanmin``, ``np.nansum`` and ``np.nanmean`` (the windowed family's NaN-ignoring
    pooling, ``nan_policy="omit"``, with NumPy's warning for a block of NaN only) and the same functions
    spelled otherwise (``np.amax``, ``np.amin``, the ``np.ndarray`` methods, ``np.maximum.reduce``,
    ``np.minimum.reduce``, ``np.add.reduce``); ``np.median`` and any other callable run as scikit-image runs
    them.

    Parameters
    ----------
    image : array_like, any number of dimensions
        Any dtype. Floats, integers and bool take the fast path; complex, object and others NumPy's. A
        ``numpy.ma.MaskedArray`` keeps its mask (see Notes); a dask array gives a lazy dask array.
    block_size : int or sequence of int, default 2
        The block's extent along each axis (one int for every axis); 1 leaves an axis as it is.
    func : callable, default np.sum
        Called as ``func(blocks, axis=(ndim, ..., 2 * ndim - 1), **func_kwargs)`` on the read-only view
        ``(n_0, ..., n_k, b_0, ..., b_k)`` of the padded image's blocks.
    cval : scalar, default 0
        The padding's value, converted to the image's dtype as ``np.pad`` converts it (-1 becomes 255 in
        uint8). Padded cells count: the mean of a block at the end includes them. ``cval=np.nan`` with
        ``np.nanmean`` (or ``-np.inf`` with ``np.max``) reduces the image's own cells only.
    func_kwargs : dict, optional
        Keyword arguments for ``func`` (``{"dtype": np.float64}`` for ``np.mean``); ``func`` then runs as
        scikit-image runs it.

    Returns
    -------
    ndarray
        ``ceil(n_i / b_i)`` along axis ``i``, with ``func``'s result dtype (``np.sum`` of uint8 gives uint64
        on Linux, ``np.mean`` of integers float64): ``func``'s result over the blocks, whatever it is.

    Notes
    -----
    Max, min, integer sums and means of integers and bool are exactly NumPy's (as values: the sign of a zero
    where a block ties +0.0 and -0.0, and the payload of a NaN, may differ; NumPy itself leaves them to its
    SIMD code). Sums and means of floats are equal to rounding: a block's cells are added in row-major order
    (in float32 for float32 and float16, in float64 for float64), NumPy's reduction adds them in its own order.
    Integer sums (up to three blocked axes) add in 64-bit integers: exact, and wrapping around as NumPy's
    int64 and uint64 sums do. Means of integers add in float64 where that is exact (every partial sum within
    2**53, which the dtype or the data's extremes guarantee), else run as scikit-image runs them.

    A masked array's masked cells are ignored (padding is unmasked ``cval``): max, min, sum, mean and median
    are ``numpy.ma``'s (``np.ma.mean`` of float32 gives float64, and masks a mean that is not finite), a block
    without an unmasked cell is masked, and the nan- functions ignore NaN as well; any other ``func`` receives
    the blocks as a masked array and must return one (a ``TypeError`` otherwise: the mask would be lost).
    scikit-image reduces the data and drops the mask.

    Beyond scikit-image: ``image`` may be any array-like, ``block_size`` any sequence (scikit-image takes
    tuples only) or a 0-d array; bad arguments raise ``ValueError`` or ``TypeError`` naming the parameter
    before anything runs (an unconvertible ``cval`` too, where scikit-image may raise ``OverflowError``).

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> image = np.arange(3 * 3 * 4).reshape(3, 3, 4)
    >>> sp.block_reduce(image, block_size=(3, 3, 1), func=np.mean)
    array([[[16., 17., 18., 19.]]])
    >>> sp.block_reduce(image, block_size=(1, 3, 4), func=np.max)[:, 0, 0]
    array([11, 23, 35])
    >>> x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    >>> sp.block_reduce(x, 2)                    # sums; the third column is padded with 0
    array([[12,  9]], dtype=uint64)
    >>> sp.block_reduce(x, 2, np.mean)           # padded cells count
    array([[3.  , 2.25]])
    >>> sp.block_reduce(x.astype(float), 2, np.nanmean, cval=np.nan)   # only the image's cells
    array([[3. , 4.5]])
    """
