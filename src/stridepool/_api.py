"""The public functions: one factory per operation makes its 1D, 2D and 3D functions for a backend's core.

A core (``stridepool._compiled`` or ``stridepool._reference``) implements each operation once for any
number of pooled axes ``nd``; the named functions (``max_pool2d`` ...) are thin closures over it, made here,
so that both backends share one definition of every signature and one docstring template per operation
(``stridepool._docs``). ``stridepool`` binds them to the active core, ``stridepool.reference`` to the
reference core.
"""
from . import _docs

#: the default pooled axes: the last nd
AXES = {1: (-1,), 2: (-2, -1), 3: (-3, -2, -1)}


def public_name(op, nd):
    """``max_pool_backward``, 2 -> ``max_pool2d_backward``."""
    if op.endswith("_backward"):
        return f"{op[:-len('_backward')]}{nd}d_backward"
    return f"{op}{nd}d"


def _named(fn, op, nd, module):
    fn.__name__ = fn.__qualname__ = public_name(op, nd)
    fn.__module__ = module
    fn.__doc__ = _docs.doc(op, nd)
    return fn


def max_pool(nd, core, module):
    def f(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False, *,
          axes=AXES[nd], out=None):
        return core.max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, axes, out)
    return _named(f, "max_pool", nd, module)


def max_pool_backward(nd, core, module):
    def f(grad_output, indices, input_shape, *, axes=AXES[nd], out=None):
        return core.max_pool_backward(nd, grad_output, indices, input_shape, axes, out)
    return _named(f, "max_pool_backward", nd, module)


def avg_pool(nd, core, module):
    def f(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None,
          *, axes=AXES[nd], out=None):
        return core.avg_pool(nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                             axes, out)
    return _named(f, "avg_pool", nd, module)


def avg_pool_backward(nd, core, module):
    def f(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
          divisor_override=None, *, axes=AXES[nd], out=None):
        return core.avg_pool_backward(nd, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                                      count_include_pad, divisor_override, axes, out)
    return _named(f, "avg_pool_backward", nd, module)


def adaptive_max_pool(nd, core, module):
    def f(x, output_size, return_indices=False, *, axes=AXES[nd], out=None):
        return core.adaptive_max_pool(nd, x, output_size, return_indices, axes, out)
    return _named(f, "adaptive_max_pool", nd, module)


def adaptive_avg_pool(nd, core, module):
    def f(x, output_size, *, axes=AXES[nd], out=None):
        return core.adaptive_avg_pool(nd, x, output_size, axes, out)
    return _named(f, "adaptive_avg_pool", nd, module)


def adaptive_avg_pool_backward(nd, core, module):
    def f(grad_output, input_shape, *, axes=AXES[nd], out=None):
        return core.adaptive_avg_pool_backward(nd, grad_output, input_shape, axes, out)
    return _named(f, "adaptive_avg_pool_backward", nd, module)


def max_unpool(nd, core, module):
    def f(x, indices, kernel_size, stride=None, padding=0, output_size=None, *, axes=AXES[nd], out=None):
        return core.max_unpool(nd, x, indices, kernel_size, stride, padding, output_size, axes, out)
    return _named(f, "max_unpool", nd, module)


def unfold(nd, core, module):
    def f(x, kernel_size, stride=1, padding=0, dilation=1, *, axes=AXES[nd]):
        return core.unfold(nd, x, kernel_size, stride, padding, dilation, axes)
    return _named(f, "unfold", nd, module)


def fold(nd, core, module):
    def f(windows, input_shape, stride=1, padding=0, dilation=1, *, axes=AXES[nd], out=None):
        return core.fold(nd, windows, input_shape, stride, padding, dilation, axes, out)
    return _named(f, "fold", nd, module)


#: every operation, in the order of the public API
OPERATIONS = (max_pool, max_pool_backward, avg_pool, avg_pool_backward, adaptive_max_pool, adaptive_avg_pool,
              adaptive_avg_pool_backward, max_unpool, unfold, fold)


def build(core, module):
    """Every public function bound to ``core``, by name (``max_pool1d`` ... ``fold3d``)."""
    fns = (make(nd, core, module) for make in OPERATIONS for nd in (1, 2, 3))
    return {f.__name__: f for f in fns}


#: the public names, in order
NAMES = tuple(public_name(op.__name__, nd) for op in OPERATIONS for nd in (1, 2, 3))
