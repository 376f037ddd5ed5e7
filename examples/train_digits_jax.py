"""Train the digits network of ``train_digits.py`` in JAX, with stridepool's max pooling or XLA's.

The same network, data, initial weights, batches and optimiser as ``examples/train_digits.py`` (imported from
beside this file), written in JAX and trained with ``jax.jit(jax.value_and_grad(loss))``::

    conv 3x3, padding 1, 1 -> 8 channels     lax.conv_general_dilated, channels-last (NHWC)
    ReLU
    conv 3x3, padding 1, 8 -> 16 channels
    ReLU
    max pool 2x2 over axes (1, 2)            --pool stridepool: stridepool.jax.max_pool2d(h, 2, axes=(1, 2))
                                             --pool native:     lax.reduce_window(h, -inf, lax.max, ...)
    flatten (4 * 4 * 16 = 256) -> dense -> 10 logits
    softmax cross-entropy, Adam (PyTorch's update rule)

Both ``--pool`` options print the same losses, digit for digit: max pooling's values are the same, and so are
its gradients (ties, frequent after a ReLU, go to the first maximum of a window in both; see
``docs/frameworks.rst``). Only the times differ. On 8x8 images the pooling is a small part of a step,
so expect no speed-up here; ``bench/bridges_jax.py`` times a LeNet-sized step, where it is.

Run it::

    pip install "stridepool[jax]" scikit-learn
    python examples/train_digits_jax.py                      # --pool stridepool --epochs 20 --seed 0
    python examples/train_digits_jax.py --pool native

``--threads`` (default 1) sets stridepool's OpenMP threads; XLA keeps its own thread pool (one thread per
core), which stridepool's threads would compete with on batches this small.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # train_digits.py, beside this file
import train_digits  # noqa: E402  (data, initial weights)

import stridepool as sp  # noqa: E402


def pool_function(name):
    """The 2x2 max pooling over the axes (1, 2) of an NHWC batch: stridepool's (``"stridepool"``) or XLA's."""
    import jax.numpy as jnp
    from jax import lax

    if name == "stridepool":
        import stridepool.jax as spj
        return lambda h: spj.max_pool2d(h, 2, axes=(1, 2))
    return lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def initial_params(seed=0, dtype=np.float32):
    """The NumPy example's initial weights (PyTorch's layouts), as JAX arrays."""
    import jax.numpy as jnp

    return {k: jnp.asarray(v) for k, v in train_digits.build_network(seed, dtype=dtype).parameters().items()}


def make_loss(pool):
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(h, w, b):  # NHWC input, PyTorch's (O, C, KH, KW) weights, padding 1
        y = lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "OIHW", "NHWC"))
        return y + b

    def logits(params, x):
        h = jax.nn.relu(conv(x, params["conv1.weight"], params["conv1.bias"]))
        h = jax.nn.relu(conv(h, params["conv2.weight"], params["conv2.bias"]))
        h = pool(h).reshape(len(x), -1)  # (N, 4, 4, 16) -> (N, 256), channels-last as the NumPy example
        return h @ params["dense.weight"].T + params["dense.bias"]

    def loss(params, x, labels):
        log_p = jax.nn.log_softmax(logits(params, x))
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    return loss, logits


def make_step(loss, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    """One jitted step: loss and gradients, then Adam with PyTorch's update (the NumPy example's)."""
    import jax
    import jax.numpy as jnp

    b1, b2 = betas

    @jax.jit
    def step(params, state, x, labels):
        value, grads = jax.value_and_grad(loss)(params, x, labels)
        t = state["t"] + 1
        step_size = lr / (1 - b1 ** t)
        bias_correction2_sqrt = jnp.sqrt(1 - b2 ** t)
        m = {k: b1 * state["m"][k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * state["v"][k] + (1 - b2) * g * g for k, g in grads.items()}
        params = {k: p - step_size * m[k] / (jnp.sqrt(v[k]) / bias_correction2_sqrt + eps)
                  for k, p in params.items()}
        return params, {"t": t, "m": m, "v": v}, value

    return step


def train(params, x, labels, step, *, epochs=20, batch_size=32, seed=0, log=print):
    """Minibatch Adam over fresh permutations (the NumPy example's batches). Returns the params and the
    epoch losses (each the mean of its batch losses, as Python floats)."""
    import jax.numpy as jnp

    rng = np.random.default_rng([seed, 1])
    zeros = {k: jnp.zeros_like(p) for k, p in params.items()}
    state = {"t": jnp.zeros((), jnp.int32), "m": zeros, "v": dict(zeros)}
    epoch_losses = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        losses = []
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            params, state, loss = step(params, state, x[batch], labels[batch])
            losses.append(loss)
        losses = [float(v) for v in losses]  # waits for the epoch's last step
        seconds = time.perf_counter() - start
        epoch_losses.append(sum(losses) / len(losses))
        if log is not None:
            log(f"epoch {epoch:2d}/{epochs}  loss {epoch_losses[-1]!r}  time {seconds:.3f} s")
    return params, epoch_losses


def accuracy(logits, params, x, labels):
    return int((np.asarray(logits(params, x)).argmax(axis=1) == labels).sum()) / len(x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", choices=["stridepool", "native"], default="stridepool",
                        help="max pooling: stridepool.jax or XLA's lax.reduce_window (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="weights and shuffling (the split is fixed)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="stridepool's OpenMP threads (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        import jax
    except ImportError:
        sys.exit('this example needs JAX: pip install "stridepool[jax]"')
    try:
        x_train, x_test, y_train, y_test = train_digits.load_data(np.float32)
    except ImportError:
        sys.exit("this example needs scikit-learn for its data set: pip install scikit-learn")
    sp.set_num_threads(args.threads)
    pool = pool_function(args.pool)
    mechanism = f" ({__import__('stridepool.jax').jax.mechanism})" if args.pool == "stridepool" else ""
    print(f"jax {jax.__version__}, pooling: {args.pool}{mechanism}, stridepool {sp.__version__} "
          f"{sp.get_num_threads()} thread(s); {len(x_train)} training and {len(x_test)} test images")
    loss, logits = make_loss(pool)
    step = make_step(loss, lr=args.lr)
    start = time.perf_counter()
    params, _ = train(initial_params(args.seed), x_train, y_train, step, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f"training time: {seconds:.2f} s ({seconds / args.epochs:.3f} s an epoch, compilation included)")
    print(f"test accuracy: {accuracy(logits, params, x_test, y_test)!r}")


if __name__ == "__main__":
    main()
