"""Train the small convolutional network of ``train_digits.py`` on scikit-learn's 8x8 digits, in PyTorch, with
stridepool's pooling module or torch's own.

The network (``x`` of shape ``(N, 1, 8, 8)``)::

    conv 3x3, padding 1, 1 -> 8 channels      torch.nn.Conv2d
    ReLU
    conv 3x3, padding 1, 8 -> 16 channels
    ReLU
    max pool 2x2                              --pool stridepool: stridepool.torch.MaxPool2d(2)
                                              --pool native:     torch.nn.MaxPool2d(2)
    flatten channels-last (4 * 4 * 16 = 256) -> linear -> 10 logits
    cross-entropy, torch.optim.Adam

It is ``train_digits.py``'s network, with its initial weights (drawn by the same NumPy generator from the same
seed, in the same layouts), its batches (the same permutations) and its data split; the flatten is
channels-last as there. The two ``--pool`` options train the same model: stridepool's max pooling gives
torch's values and gradients bit for bit, so both print the same losses, digit for digit; only the times
differ. Against ``train_digits.py`` itself the losses agree to about four digits (float32; its convolutions
are im2col matrix products, summed in another order), and the test accuracy is the same.

Threads: ``--threads`` (default 1) sets ``torch.set_num_threads`` and ``stridepool.set_num_threads`` (on Linux
the two share one OpenMP runtime, so they are one setting). Batches of 32 8x8 images are too small for threads
to pay.

Run it::

    pip install scikit-learn "stridepool[torch]"
    python examples/train_digits_torch.py                 # --pool stridepool --epochs 20 --seed 0
    python examples/train_digits_torch.py --pool native   # the same losses
"""
import argparse
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit('this example needs PyTorch: pip install "stridepool[torch]"')

import stridepool as sp
import stridepool.torch as spt

POOLS = {"stridepool": spt.MaxPool2d, "native": nn.MaxPool2d}


def load_data(dtype=np.float32, test_size=0.25, random_state=0):
    """The 1797 8x8 digits scaled to [0, 1], split as ``train_digits.py`` does: ``(N, 1, 8, 8)`` images."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(dtype)[:, None]
    return train_test_split(x, digits.target, test_size=test_size, random_state=random_state,
                            stratify=digits.target)


class Network(nn.Module):
    """conv(1 -> c1) - ReLU - conv(c1 -> c2) - ReLU - max pool 2 - flatten channels-last - linear(16 c2 -> 10)."""

    def __init__(self, seed=0, *, pool="stridepool", channels=(8, 16)):
        super().__init__()
        c1, c2 = channels
        self.conv1, self.conv2 = nn.Conv2d(1, c1, 3, padding=1), nn.Conv2d(c1, c2, 3, padding=1)
        self.pool = POOLS[pool](2)
        self.dense = nn.Linear(4 * 4 * c2, 10)
        rng = np.random.default_rng(seed)  # train_digits.py's initial weights: its draws, in its order
        with torch.no_grad():
            for layer, fan_in, gain in ((self.conv1, 9, 2.0), (self.conv2, 9 * c1, 2.0), (self.dense, 16 * c2, 1.0)):
                w = rng.standard_normal(tuple(layer.weight.shape)) * np.sqrt(gain / fan_in)
                layer.weight.copy_(torch.from_numpy(w.astype(np.float32)))
                layer.bias.zero_()

    def forward(self, x):
        h = self.pool(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self.dense(h.permute(0, 2, 3, 1).reshape(len(h), -1))  # flattened channels-last, as there


def train(net, x, labels, *, epochs=20, batch_size=32, lr=2e-3, seed=0, log=print):
    """Minibatch Adam with ``train_digits.py``'s batches. Returns ``(epoch_losses, step_losses, seconds)``: the
    mean loss of each epoch, every step's loss, and each epoch's time."""
    rng = np.random.default_rng([seed, 1])
    x, labels = torch.from_numpy(x), torch.from_numpy(labels)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    epoch_losses, step_losses, times = [], [], []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        losses = []
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            optimiser.zero_grad()
            loss = F.cross_entropy(net(x[batch]), labels[batch])
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        times.append(time.perf_counter() - start)
        step_losses += losses
        epoch_losses.append(sum(losses) / len(losses))
        if log is not None:
            log(f"epoch {epoch:2d}/{epochs}  loss {epoch_losses[-1]!r}  time {times[-1]:.3f} s")
    return epoch_losses, step_losses, times


def accuracy(net, x, labels):
    with torch.no_grad():
        return float((net(torch.from_numpy(x)).argmax(dim=1).numpy() == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", choices=["stridepool", "native"], default="stridepool",
                        help="stridepool.torch.MaxPool2d or torch.nn.MaxPool2d (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="weights and shuffling (the split is fixed)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch's and stridepool's threads (default 1)")
    args = parser.parse_args(argv)

    try:
        x_train, x_test, y_train, y_test = load_data()
    except ImportError:
        sys.exit("this example needs scikit-learn for its data set: pip install scikit-learn")
    threads = torch.get_num_threads(), sp.get_num_threads()
    sp.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    try:
        print(f"torch {torch.__version__}, stridepool {sp.__version__} ({sp.backend}, {sp.kernels or 'pure NumPy'}), "
              f"pooling: {args.pool}, {args.threads} thread(s); {len(x_train)} training and {len(x_test)} test images")
        net = Network(args.seed, pool=args.pool)
        _, _, times = train(net, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed)
        seconds = sum(times)
        print(f"training time: {seconds:.2f} s ({seconds / args.epochs:.3f} s an epoch)")
        print(f"test accuracy: {accuracy(net, x_test, y_test)!r}")
    finally:
        sp.set_num_threads(threads[1])
        torch.set_num_threads(threads[0])


if __name__ == "__main__":
    main()
