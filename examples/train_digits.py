"""Train a small convolutional network on scikit-learn's 8x8 digits with NumPy and stridepool only.

The network (channels-last, NHWC, ``x`` of shape ``(N, 8, 8, 1)``)::

    conv 3x3, padding 1, 1 -> 8 channels     sp.unfold2d + one matrix product; backward: sp.fold2d
    ReLU
    conv 3x3, padding 1, 8 -> 16 channels
    ReLU
    max pool 2x2                             sp.MaxPool2d(2, axes=(1, 2)): forward keeps the indices
    flatten (4 * 4 * 16 = 256) -> dense -> 10 logits
    softmax cross-entropy, Adam (PyTorch's update rule)

A convolution is a matrix product over windows: ``sp.unfold2d`` gives every 3x3 window of every channel,
``(N, H, W, C, 3, 3)``, which reshapes to an ``(N*H*W, C*9)`` matrix ("im2col"); times the weights
``(C*9, O)`` that is the ``(N, H, W, O)`` output. Its backward is the same product transposed, and the
window gradients go back to the pixels they came from with ``sp.fold2d`` (the adjoint of ``unfold2d``,
overlapping windows summed). Channels-last keeps all of this free of transposes; pooling runs over
``axes=(1, 2)`` directly. Weights are stored in PyTorch's layouts (conv ``(O, C, KH, KW)``, dense
``(out, in)``), so ``tests/test_example_digits.py`` can load them into ``torch.nn.functional`` and compare.

dtype: float32 by default (what people train in); ``--dtype float64`` is there for comparisons (the PyTorch
test uses float64, where the two agree to 1e-13 or better).

Determinism: the weights, the shuffling and the train/test split come from fixed seeds, so two runs print
the same losses. ``STRIDEPOOL_BACKEND=reference`` (the pure-NumPy backend) prints the same losses digit for
digit: the two backends are bit-identical and everything else is the same NumPy code. Only the epoch times
differ. Measured on the project's 2-core cloud VM (Python 3.11, NumPy 2.4 with OpenBLAS, float32, batch 32,
43 steps an epoch, one thread), 20 epochs, three runs each while other jobs kept both cores busy (load
average 3.8 to 4.6):

    compiled backend   (AVX2 kernels):  0.12 to 0.15 s an epoch, 2.3 to 3.0 s of training
    reference backend  (pure NumPy):    0.28 to 0.36 s an epoch, 5.6 to 7.3 s of training

plus 2 to 5 s to import NumPy, scikit-learn and matplotlib and to save the plot (on the same machine when
less busy, load 2: about 0.065 s an epoch compiled). All runs end with ``test accuracy: 0.9777777777777777``
(440 of 450 test images; seeds 0 to 9 give 0.978 to 0.991).

Threads: ``--threads`` (default 1) sets NumPy's BLAS threads and stridepool's OpenMP threads together. More
threads do not pay with batches this small, and on 2 cores they cost a lot: with both libraries at 2
threads an epoch took 0.59 s instead of 0.065 s (stridepool's idle OpenMP thread waits busily and takes a
core from OpenBLAS; either library at 1 thread, or ``OMP_WAIT_POLICY=passive``, fixes it), and with the
cores busy with other jobs ``--threads 2`` took 4.5 s an epoch instead of 0.12 s (OpenBLAS's threads).

Run it::

    pip install scikit-learn matplotlib        # matplotlib only for the loss plot
    python examples/train_digits.py            # --epochs 20 --seed 0 --plot train_digits_loss.png
    STRIDEPOOL_BACKEND=reference python examples/train_digits.py --no-plot

To use the functions of one backend explicitly (as the tests do), give them to the network:
``build_network(0, ops=stridepool.reference)``. The default ``ops`` is the ``stridepool`` package.
"""
import argparse
import contextlib
import sys
import time

import numpy as np

import stridepool as sp


# ------------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------------
def load_data(dtype=np.float32, test_size=0.25, random_state=0):
    """The 1797 8x8 digits (shipped inside scikit-learn: no download), scaled to [0, 1], split once.

    Returns ``x_train, x_test, y_train, y_test`` with images of shape ``(N, 8, 8, 1)`` (channels-last).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(dtype)[..., None]
    return train_test_split(x, digits.target, test_size=test_size, random_state=random_state,
                            stratify=digits.target)


# ------------------------------------------------------------------------------------------------------------
# Layers: forward(x) remembers what backward(dy) needs; backward returns the input gradient and stores the
# parameter gradients in .grads. `ops` is a module with stridepool's functions (stridepool or
# stridepool.reference).
# ------------------------------------------------------------------------------------------------------------
class Conv2d:
    """Convolution, stride 1, zero padding that keeps the size (odd kernel), channels-last."""

    def __init__(self, in_channels, out_channels, kernel_size, rng, dtype, ops=sp, input_grad=True):
        fan_in = in_channels * kernel_size * kernel_size
        self.params = {  # He initialisation; PyTorch's weight layout (O, C, KH, KW)
            "weight": (rng.standard_normal((out_channels, in_channels, kernel_size, kernel_size))
                       * np.sqrt(2.0 / fan_in)).astype(dtype),
            "bias": np.zeros(out_channels, dtype=dtype),
        }
        self.k, self.pad, self.ops = kernel_size, kernel_size // 2, ops
        self.input_grad = input_grad  # the first layer's input is the data: its gradient is not needed

    def forward(self, x):
        n, h, w, c = x.shape
        windows = self.ops.unfold2d(x, self.k, padding=self.pad, axes=(1, 2))  # (N, H, W, C, k, k)
        self.cols = windows.reshape(n * h * w, c * self.k * self.k)             # im2col (a copy)
        self.x_shape = x.shape
        weight = self.params["weight"].reshape(len(self.params["bias"]), -1)   # (O, C*k*k)
        y = self.cols @ weight.T + self.params["bias"]                          # (N*H*W, O)
        return y.reshape(n, h, w, -1)

    def backward(self, dy):
        weight = self.params["weight"]
        dy = dy.reshape(-1, weight.shape[0])                                    # (N*H*W, O)
        self.grads = {"weight": (dy.T @ self.cols).reshape(weight.shape), "bias": dy.sum(axis=0)}
        if not self.input_grad:
            return None
        dwindows = (dy @ weight.reshape(weight.shape[0], -1)).reshape(*self.x_shape[:3], -1, self.k, self.k)
        return self.ops.fold2d(dwindows, self.x_shape, padding=self.pad, axes=(1, 2))


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, 0)

    def backward(self, dy):
        return np.where(self.mask, dy, 0)


class FunctionMaxPool2d:
    """What ``sp.MaxPool2d`` does, for a module that has only the functions (``stridepool.reference``)."""

    def __init__(self, kernel_size, ops, axes=(-2, -1)):
        self.kernel_size, self.ops, self.axes = kernel_size, ops, axes

    def forward(self, x):
        y, self.indices = self.ops.max_pool2d(x, self.kernel_size, return_indices=True, axes=self.axes)
        self.x_shape = x.shape
        return y

    def backward(self, dy):
        return self.ops.max_pool2d_backward(dy, self.indices, self.x_shape, axes=self.axes)


def max_pool_layer(kernel_size, ops=sp, axes=(-2, -1)):
    """``ops.MaxPool2d``: forward keeps the indices of the maxima, backward scatters the gradient to them."""
    if hasattr(ops, "MaxPool2d"):
        return ops.MaxPool2d(kernel_size, axes=axes)
    return FunctionMaxPool2d(kernel_size, ops, axes)


class Flatten:
    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.x_shape)


class Dense:
    """Fully connected layer, PyTorch's weight layout ``(out, in)``: ``y = x @ W.T + b``."""

    def __init__(self, in_features, out_features, rng, dtype):
        self.params = {
            "weight": (rng.standard_normal((out_features, in_features))
                       * np.sqrt(1.0 / in_features)).astype(dtype),
            "bias": np.zeros(out_features, dtype=dtype),
        }

    def forward(self, x):
        self.x = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, dy):
        self.grads = {"weight": dy.T @ self.x, "bias": dy.sum(axis=0)}
        return dy @ self.params["weight"]


# ------------------------------------------------------------------------------------------------------------
# The network, the loss, the optimiser
# ------------------------------------------------------------------------------------------------------------
class Network:
    """Layers by name, run in order; parameters and gradients are named ``"<layer>.<parameter>"``."""

    def __init__(self, layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def backward(self, grad):
        for layer in reversed(self.layers.values()):
            grad = layer.backward(grad)

    def parameters(self):
        """``{"conv1.weight": array, ...}``: the arrays themselves (the optimiser updates them in place)."""
        return {f"{name}.{key}": value for name, layer in self.layers.items()
                for key, value in getattr(layer, "params", {}).items()}

    def gradients(self):
        """Same keys as :meth:`parameters`, from the last :meth:`backward`."""
        return {f"{name}.{key}": value for name, layer in self.layers.items()
                for key, value in getattr(layer, "grads", {}).items()}


def build_network(seed=0, *, channels=(8, 16), dtype=np.float32, ops=sp):
    """conv(1 -> c1) - ReLU - conv(c1 -> c2) - ReLU - max pool 2 - dense(16 c2 -> 10), for 8x8 inputs.

    ``ops`` supplies unfold2d, fold2d and max pooling: ``stridepool`` (the active backend) or a module of
    the same functions such as ``stridepool.reference``.
    """
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    return Network({
        "conv1": Conv2d(1, c1, 3, rng, dtype, ops, input_grad=False),
        "relu1": ReLU(),
        "conv2": Conv2d(c1, c2, 3, rng, dtype, ops),
        "relu2": ReLU(),
        "pool": max_pool_layer(2, ops, axes=(1, 2)),  # (N, 8, 8, c2) -> (N, 4, 4, c2), channels-last
        "flatten": Flatten(),
        "dense": Dense(4 * 4 * c2, 10, rng, dtype),
    })


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of integer ``labels`` and its gradient with respect to ``logits``."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_p[rows, labels].mean()
    dlogits = np.exp(log_p)
    dlogits[rows, labels] -= 1
    return float(loss), dlogits / len(labels)


def loss_and_gradients(net, x, labels):
    """One forward and backward pass: the loss (a Python float) and ``{name: gradient}``."""
    loss, dlogits = softmax_cross_entropy(net.forward(x), labels)
    net.backward(dlogits)
    return loss, net.gradients()


class Adam:
    """Adam with PyTorch's update (``torch.optim.Adam`` defaults), in place on the parameter arrays."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1 ** self.t)
        bias_correction2_sqrt = (1 - b2 ** self.t) ** 0.5
        for k, p in params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * m / (np.sqrt(v) / bias_correction2_sqrt + self.eps)


def accuracy(net, x, labels, batch_size=512):
    hits = sum(int((net.forward(x[i:i + batch_size]).argmax(axis=1) == labels[i:i + batch_size]).sum())
               for i in range(0, len(x), batch_size))
    return hits / len(x)


def train(net, x, labels, *, epochs=20, batch_size=32, lr=2e-3, seed=0, log=print):
    """Minibatch Adam. Returns ``(epoch_losses, step_losses)``; ``log`` gets one line per epoch.

    The batches come from a fresh permutation each epoch (drawn from ``seed``); the last, smaller batch of
    an epoch is kept. The epoch loss is the mean of its batch losses.
    """
    rng = np.random.default_rng([seed, 1])
    params = net.parameters()
    optimiser = Adam(params, lr=lr)
    epoch_losses, step_losses = [], []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        losses = []
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            loss, grads = loss_and_gradients(net, x[batch], labels[batch])
            optimiser.step(params, grads)
            losses.append(loss)
        seconds = time.perf_counter() - start
        step_losses += losses
        epoch_losses.append(sum(losses) / len(losses))
        if log is not None:
            log(f"epoch {epoch:2d}/{epochs}  loss {epoch_losses[-1]!r}  time {seconds:.3f} s")
    return epoch_losses, step_losses


# ------------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------------
def save_plot(path, epoch_losses, step_losses):
    """Loss curve as a PNG; returns False (and saves nothing) when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        return False
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    steps_per_epoch = len(step_losses) / len(epoch_losses)
    ax.plot(np.arange(1, len(step_losses) + 1) / steps_per_epoch, step_losses, lw=0.6, alpha=0.5,
            label="minibatch")
    ax.plot(np.arange(1, len(epoch_losses) + 1), epoch_losses, "o-", label="epoch mean")
    ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="8x8 digits, NumPy + stridepool")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="weights and shuffling (the split is fixed)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of NumPy's BLAS and of stridepool's OpenMP (default %(default)s)")
    parser.add_argument("--plot", metavar="PATH", default="train_digits_loss.png",
                        help="where to save the loss curve (needs matplotlib; default %(default)s)")
    parser.add_argument("--no-plot", action="store_true", help="do not save the loss curve")
    args = parser.parse_args(argv)

    try:
        x_train, x_test, y_train, y_test = load_data(np.dtype(args.dtype))
    except ImportError:
        sys.exit("this example needs scikit-learn for its data set: pip install scikit-learn")
    # One thread by default: the batches are tiny (32 x 8 x 8 x 16 activations), and two thread pools that
    # wait busily (NumPy's OpenBLAS for the matrix products, stridepool's OpenMP) take the cores from each
    # other (see the module docstring). Big batches of big images are where threads pay.
    with limit_threads(args.threads):
        print(f"stridepool {sp.__version__}, backend {sp.backend} ({sp.kernels or 'pure NumPy'}), "
              f"{sp.get_num_threads()} thread(s), {args.dtype}; "
              f"{len(x_train)} training and {len(x_test)} test images")
        net = build_network(args.seed, dtype=np.dtype(args.dtype))
        start = time.perf_counter()
        epoch_losses, step_losses = train(net, x_train, y_train, epochs=args.epochs,
                                          batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        seconds = time.perf_counter() - start
        print(f"training time: {seconds:.2f} s ({seconds / args.epochs:.3f} s an epoch)")
        test_accuracy = accuracy(net, x_test, y_test)
    if not args.no_plot:
        if save_plot(args.plot, epoch_losses, step_losses):
            print(f"loss curve saved to {args.plot}")
        else:
            print("matplotlib is not installed: no loss plot (pip install matplotlib)")
    print(f"test accuracy: {test_accuracy!r}")


def limit_threads(n):
    """Context: ``n`` threads for NumPy's BLAS and for stridepool (threadpoolctl comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # stridepool's threads only
        sp.set_num_threads(n)
        return contextlib.nullcontext()
    return threadpool_limits(n)


if __name__ == "__main__":
    main()
