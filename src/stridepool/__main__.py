"""``python -m stridepool``: the question's example, the check against the reference, and a timing."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

import stridepool as sp
from stridepool import reference

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType

    from numpy.typing import NDArray


# the question's own pooling function, verbatim logic
def maxPool(partition: NDArray[Any], backwards: bool = False) -> Any:  # noqa: N802
    max_val = np.max(partition)
    if backwards:
        mask = np.zeros(partition.shape, dtype=partition.dtype)
        mask[partition.argmax()] = 1
        return mask
    return max_val


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _forward_backward(impl: ModuleType, x: NDArray[Any], g: NDArray[Any], k: int, s: int,
                      p: int) -> tuple[NDArray[Any], NDArray[Any]]:
    y, idx = impl.max_pool2d(x, k, s, p, return_indices=True)
    return y, impl.max_pool2d_backward(g, idx, x.shape)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stridepool", description=__doc__)
    parser.add_argument("--version", action="version", version=f"stridepool {sp.__version__}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random example (default 0)")
    parser.add_argument("--batch", type=int, nargs=4, default=(16, 64, 56, 56), metavar=("N", "C", "H", "W"),
                        help="shape of the timed float32 batch (default 16 64 56 56)")
    args = parser.parse_args(argv)

    kernels = f" ({sp.kernels} kernels)" if sp.kernels else ""
    print(f"stridepool {sp.__version__}: backend {sp.backend}{kernels}, {sp.get_num_threads()} thread(s), "
          f"numpy {np.__version__}")
    print()
    print("The question's example: Pooling2D(function=maxPool, kernel_size=(3, 3), input_size=(2, 6, 6), "
          "strides=(1, 1), padding=0)")
    rng = np.random.default_rng(args.seed)
    pool = sp.Pooling2D(function="max", kernel_size=(3, 3), input_size=(2, 6, 6), strides=(1, 1), padding=0)
    A = rng.integers(3, 10, pool.in_size)
    B = rng.integers(3, 10, pool.out_size)
    result = pool.forward(A)
    print(result.shape)
    grad = pool.backward(result - B)
    print(grad)

    question = sp.Pooling2D(function=maxPool, kernel_size=(3, 3), input_size=(2, 6, 6), strides=(1, 1))
    q_result = question.forward(A)
    q_grad = question.backward(q_result - B)
    same_question = np.array_equal(result, q_result) and np.array_equal(grad, q_grad)
    y_ref, i_ref = reference.max_pool2d(A, 3, 1, return_indices=True)
    g_ref = reference.max_pool2d_backward(result - B, i_ref, A.shape)
    same_reference = np.array_equal(result, y_ref) and np.array_equal(grad, g_ref) and grad.dtype == g_ref.dtype
    print(f"same as the question's own maxPool callable (apply_along_axis + fold2d): {same_question}")
    print(f"same as stridepool.reference (as_strided windows + np.add.at):          {same_reference}")
    print()

    shape = tuple(args.batch)
    x = rng.standard_normal(shape, dtype=np.float32)
    k, s, p = 3, 2, 1
    y, _ = sp.max_pool2d(x, k, s, p, return_indices=True)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    print(f"max_pool2d forward with indices + backward, float32 {shape}, kernel {k} stride {s} padding {p}:")
    fast = _forward_backward(sp, x, g, k, s, p)
    slow = _forward_backward(reference, x, g, k, s, p)
    same_batch = all(np.array_equal(a, b) for a, b in zip(fast, slow))
    t_fast = _median_ms(lambda: _forward_backward(sp, x, g, k, s, p), 7)
    t_slow = _median_ms(lambda: _forward_backward(reference, x, g, k, s, p), 2)
    print(f"  stridepool ({sp.backend}) {t_fast:9.2f} ms   (median of 7)")
    print(f"  stridepool.reference  {t_slow:9.2f} ms   (median of 2)")
    print(f"  speedup               {t_slow / t_fast:9.1f} x   results identical: {same_batch}")
    ok = same_question and same_reference and same_batch
    if not ok:
        print("MISMATCH: please report this with the output above.", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
