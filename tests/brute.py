"""Brute force: every pooling written as plain Python loops over windows and taps, for any number of axes.

An oracle independent of the package (no shared shape math, no window table): small inputs only. Windows
are lists, per axis, of the input coordinates of each window's taps (``None`` for a tap in the padding).
"""
import itertools
import math

import numpy as np


def _pair(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd


def _pads(padding, nd):
    if isinstance(padding, (tuple, list)):
        return [tuple(p) if isinstance(p, (tuple, list)) else (p, p) for p in padding]
    return [(padding, padding)] * nd


def regular_windows(sizes, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Per axis ``(windows, padded)``: the taps of every window (PyTorch's output size) and, per window, how
    many of its taps lie before the end of the padded extent (average pooling's ``count_include_pad``)."""
    nd = len(sizes)
    k = _pair(kernel_size, nd)
    s = _pair(k if stride is None else stride, nd)
    d = _pair(dilation, nd)
    axes = []
    for n, ki, si, di, (lo, hi) in zip(sizes, k, s, d, _pads(padding, nd)):
        span = n + lo + hi - (di * (ki - 1) + 1)
        o = (span + (si - 1 if ceil_mode else 0)) // si + 1
        if ceil_mode and (o - 1) * si >= n + lo:
            o -= 1
        wins, padded = [], []
        for i in range(o):
            start = i * si - lo
            wins.append([start + t * di if 0 <= start + t * di < n else None for t in range(ki)])
            padded.append(min(start + ki, n + hi) - start)
        axes.append((wins, padded))
    return axes


def adaptive_windows(sizes, output_size):
    nd = len(sizes)
    osz = _pair(output_size, nd)
    axes = []
    for n, o in zip(sizes, osz):
        o = n if o is None else o
        wins = [list(range(math.floor(i * n / o), math.ceil((i + 1) * n / o))) for i in range(o)]
        axes.append((wins, [len(w) for w in wins]))
    return axes


def _taps(axes, out_index):
    """Every tap of one window, in row-major order: the tuple of per-axis coordinates (None: padding)."""
    return itertools.product(*(axes[a][0][i] for a, i in enumerate(out_index)))


def max_pool(x, axes):
    """(y, indices) of max pooling the last len(axes) axes of x over the windows ``axes``."""
    x = np.asarray(x)
    nd = len(axes)
    sizes = x.shape[-nd:]
    out = tuple(len(w) for w, _ in axes)
    y = np.zeros(x.shape[:-nd] + out, dtype=x.dtype)
    idx = np.zeros(y.shape, dtype=np.int64)
    for lead in np.ndindex(*x.shape[:-nd]):
        for o in np.ndindex(*out):
            best = at = None
            for tap in _taps(axes, o):
                if None in tap:
                    continue
                v = x[lead + tap]
                if best is None or (best == best and not v <= best):  # strictly greater, or the first NaN
                    best, at = v, tap
            y[lead + o] = best
            idx[lead + o] = np.ravel_multi_index(at, sizes)
    return y, idx


def avg_pool(x, axes, count_include_pad=True, divisor_override=None):
    """Average pooling: each window's sum (row-major, in float64) over PyTorch's divisor."""
    x = np.asarray(x)
    nd = len(axes)
    out = tuple(len(w) for w, _ in axes)
    y = np.zeros(x.shape[:-nd] + out, dtype=np.float64)
    for lead in np.ndindex(*x.shape[:-nd]):
        for o in np.ndindex(*out):
            total = sum(float(x[lead + t]) for t in _taps(axes, o) if None not in t)
            y[lead + o] = total / _divisor(axes, o, count_include_pad, divisor_override)
    return y


def _divisor(axes, o, count_include_pad, divisor_override):
    if divisor_override:
        return divisor_override
    if count_include_pad:
        return math.prod(axes[a][1][i] for a, i in enumerate(o))
    return sum(1 for t in _taps(axes, o) if None not in t)


def scatter(values, indices, out_sizes, add=True):
    """values put (or added) at the flat indices of the last len(out_sizes) axes; row-major order."""
    values = np.asarray(values)
    nd = len(out_sizes)
    out = np.zeros(values.shape[:-nd] + tuple(out_sizes), dtype=values.dtype)
    for pos in np.ndindex(*values.shape):
        lead = pos[:-nd]
        target = lead + np.unravel_index(int(indices[pos]), out_sizes)
        out[target] = out[target] + values[pos] if add else values[pos]
    return out


def spread(grad, axes, in_sizes, count_include_pad=True, divisor_override=None):
    """Average pooling's gradient: every output's share added to its window's real taps."""
    grad = np.asarray(grad, dtype=np.float64)
    nd = len(axes)
    out = np.zeros(grad.shape[:-nd] + tuple(in_sizes))
    for lead in np.ndindex(*grad.shape[:-nd]):
        for o in np.ndindex(*grad.shape[-nd:]):
            for t in _taps(axes, o):
                if None not in t:
                    out[lead + t] += grad[lead + o] / _divisor(axes, o, count_include_pad, divisor_override)
    return out
