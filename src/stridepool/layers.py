"""Layers with a cached forward and a backward: ``MaxPool2d``, ``AvgPool2d`` and the question's ``Pooling2D``."""
import numpy as np

from . import _params as P


def _api():
    import stridepool  # the public functions of the active backend

    return stridepool


class MaxPool2d:
    """Max pooling layer: ``forward`` keeps the indices, ``backward`` scatters the gradient to them.

    Parameters are those of :func:`stridepool.max_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.MaxPool2d(2)
    >>> y = pool.forward(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> y.shape
    (1, 1, 2, 2)
    >>> pool.backward(np.ones_like(y))[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, axes=(-2, -1)):
        P.as_pair(kernel_size, "kernel_size")
        P.parse_padding(padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode, self.axes = dilation, ceil_mode, axes
        self._indices = self._input_shape = None

    def forward(self, x):
        """Pool ``x`` and remember where each maximum came from."""
        y, self._indices = _api().max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                             self.ceil_mode, True, axes=self.axes)
        self._input_shape = np.shape(x)
        return y

    __call__ = forward

    def backward(self, grad_output):
        """Gradient with respect to the last ``forward`` input."""
        if self._indices is None:
            raise RuntimeError("MaxPool2d.backward called before forward")
        return _api().max_pool2d_backward(grad_output, self._indices, self._input_shape, axes=self.axes)


class AvgPool2d:
    """Average pooling layer; parameters are those of :func:`stridepool.avg_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import stridepool as sp
    >>> pool = sp.AvgPool2d(2)
    >>> pool.forward(np.arange(4.0).reshape(2, 2))
    array([[1.5]])
    >>> pool.backward(np.array([[4.0]]))
    array([[1., 1.],
           [1., 1.]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, *, axes=(-2, -1)):
        P.as_pair(kernel_size, "kernel_size")
        P.parse_padding(padding)
        P.divisor(divisor_override)
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override, self.axes = count_include_pad, divisor_override, axes
        self._input_shape = None

    def _args(self):
        return (self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                self.divisor_override)

    def forward(self, x):
        """Average-pool ``x``."""
        y = _api().avg_pool2d(x, *self._args(), axes=self.axes)
        self._input_shape = np.shape(x)
        return y

    __call__ = forward

    def backward(self, grad_output):
        """Gradient with respect to the last ``forward`` input."""
        if self._input_shape is None:
            raise RuntimeError("AvgPool2d.backward called before forward")
        return _api().avg_pool2d_backward(grad_output, self._input_shape, *self._args(), axes=self.axes)


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
    >>> int(pool.backward(np.ones(pool.out_size, dtype=int)).sum())   # int(): prints the same on NumPy 1.x and 2.x
    32
    """

    def __init__(self, pool_funct=None, kernel_size=None, input_size=None, strides=(1, 1), padding=0, *,
                 function=None):
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
        g = P.geometry(self.in_size[1], self.in_size[2], (self.kernel_height, self.kernel_width),
                       (self.stride_h, self.stride_w), self.padding, 1, False, pooling=not callable(funct))
        self.out_size = (self.in_size[0], g.OH, g.OW)
        self.window_shape = (*self.out_size, self.kernel_height, self.kernel_width)
        self.last_in = self.last_out = None
        self._indices = None

    def _geo(self):
        return (self.kernel_height, self.kernel_width), (self.stride_h, self.stride_w), self.padding

    def forward(self, x):
        """Pool a ``(C, H, W)`` array; remembers what ``backward`` needs."""
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

    def backward(self, dx):
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
