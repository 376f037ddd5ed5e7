"""Windows over chunks: which windows a block of a chunked (dask) array computes, and what it reads.

Pure NumPy shape math, no dask: the dask path (``stridepool._dask``) builds its graphs from it, and the
tests check it against :func:`stridepool._params.axis_table` for random geometries and chunkings.

The idea that makes blocks bit-identical to the in-memory call: a contiguous range of the windows of an
:class:`~stridepool._params.Axis`, read over the input region ``[a, b)`` that holds all their taps, is
again an :class:`~stridepool._params.Axis` (the block axis), whose window table is the global table's rows
for those windows with ``start`` shifted by ``-a`` (``t0``, ``t1`` and the ``padded`` count unchanged). A
kernel run on the region with the block axis therefore reads the same taps in the same order as the
in-memory call, and writes the same values.

Forward operations (pooling, unfold) give each input chunk the windows *anchored* in it; backward operations
(overlap-add: avg backward, fold, max backward by index) give each output chunk (the input-shaped result)
the part of the axis between consecutive anchors. The anchor of a regular window ``i`` is ``i * s`` (its
first tap when there is no padding; the window's centre for PyTorch's usual ``k = 2p + 1``), clipped into the
axis, so chunks of ``m * s`` elements give output chunks of ``m`` windows; the anchor of an adaptive window
is its first element.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._params import Axis

Ints = NDArray[np.int64]
Range = tuple[int, int]


def bounds(chunks: Sequence[int] | NDArray[Any]) -> Ints:
    """``[0, c0, c0 + c1, ..., n]``: the chunk boundaries of one axis's chunk sizes."""
    return np.concatenate([[0], np.cumsum(np.asarray(chunks, dtype=np.int64))]).astype(np.int64)


def anchors(a: Axis) -> Ints:
    """The anchor of every window of a global :class:`Axis` ``a`` (int64, non-decreasing, in ``[0, n)``,
    or all 0 for an empty axis)."""
    i = np.arange(a.o, dtype=np.int64)
    if a.s == 0:
        N, O = a.split
        pos = ((i + a.first) * N) // O - a.lo
    else:
        pos = i * a.s
    return np.clip(pos, 0, max(a.n - 1, 0))


def assign(a: Axis, chunks: Sequence[int] | NDArray[Any]) -> list[Range]:
    """Split the windows of ``a`` among the chunks (sizes ``chunks``) of its input axis: a list of window
    ranges ``(i0, i1)``, one per chunk that anchors at least one window (chunks anchoring none are left out,
    so every range is non-empty and the ranges tile ``[0, a.o)`` in order)."""
    if a.n == 0:
        return [(0, a.o)]
    edges = np.searchsorted(anchors(a), bounds(chunks)[1:-1], side="left")
    cuts = np.concatenate([[0], edges, [a.o]])
    return [(int(i0), int(i1)) for i0, i1 in zip(cuts[:-1], cuts[1:]) if i1 > i0]


def window_ranges(chunks: Sequence[int] | NDArray[Any]) -> list[Range]:
    """The window ranges ``(i0, i1)`` of the chunks (sizes ``chunks``) of a window axis (a gradient's)."""
    e = bounds(chunks)
    return [(int(i0), int(i1)) for i0, i1 in zip(e[:-1], e[1:])]


def homes(a: Axis, ranges: Sequence[Range]) -> list[Range]:
    """The input region each output chunk of a backward owns: consecutive anchors of the first windows of
    ``ranges``, from 0 to ``a.n``; empty homes are left out, so the result tiles ``[0, a.n)`` (one empty
    home for an empty axis)."""
    if a.n == 0:
        return [(0, 0)]
    first = anchors(a)[[i0 for i0, i1 in ranges if i1 > i0]]
    cuts = [0] + [int(v) for v in first[1:]] + [a.n]
    return [(h0, h1) for h0, h1 in zip(cuts[:-1], cuts[1:]) if h1 > h0]


def block(a: Axis, i0: int, i1: int) -> tuple[int, int, Axis]:
    """The windows ``[i0, i1)`` of the global :class:`Axis` ``a`` as a block: ``(lo, hi, axis)``.

    ``[lo, hi)`` is the input region that holds every tap of those windows inside ``[0, a.n)`` (empty when
    they have none, which only unfold/fold windows can have); ``axis`` is the :class:`Axis` of the same
    windows over that region, so that ``axis_table(axis)`` equals ``axis_table(a)[:, i0:i1]`` with the
    ``start`` row shifted by ``-lo`` (``t0``/``t1`` of empty windows may differ; they stay empty).
    """
    o = i1 - i0
    if o <= 0:  # no windows (a chunk of size 0)
        at = int(anchors(a)[min(i0, a.o - 1)]) if a.o else 0
        return at, at, Axis(0, a.k, a.s or 1, a.d, 0, 0, 0)
    if a.s == 0:  # adaptive: starts and ends are non-decreasing
        N, O = a.split
        g0, g1 = a.first + i0, a.first + i1
        lo = (g0 * N) // O - a.lo
        hi = -((-g1 * N) // O) - a.lo
        return lo, hi, Axis(hi - lo, a.k, 0, 1, a.lo + lo, 0, o, a.split, g0)
    i = np.arange(i0, i1, dtype=np.int64)
    start = i * a.s - a.lo
    t0 = np.minimum(np.maximum(0, -(start // a.d)), a.k)
    t1 = np.maximum(np.minimum(a.k, np.floor_divide(a.n - 1 - start, a.d) + 1), t0)
    real = t1 > t0
    if real.any():
        # with dilation the first real tap is not monotone in the window: take the extremes over all
        lo = int(np.min((start + t0 * a.d)[real]))
        hi = int(np.max((start + (t1 - 1) * a.d)[real])) + 1
    else:
        lo = hi = int(min(max(start[0], 0), a.n))
    first = int(start[0])
    return lo, hi, _trim(Axis(hi - lo, a.k, a.s, a.d, lo - first, a.n + a.hi - hi, o))


def _trim(b: Axis) -> Axis:
    """``b`` with its trailing padding cut to what its windows reach and their ``padded`` counts see, so that
    blocks with the same windows relative to their regions have equal axes (and share one cached window
    table)."""
    if b.s == 0 or b.o == 0:
        return b
    last = (b.o - 1) * b.s - b.lo  # the start of the last window
    return b._replace(hi=min(b.hi, max(0, b.k + last - b.n, last + b.d * (b.k - 1) + 1 - b.n)))


def pieces(lo: int, hi: int, edges: Ints) -> list[tuple[int, int, int, int]]:
    """The parts of the region ``[lo, hi)`` in the chunks bounded by ``edges`` (from :func:`bounds`):
    ``[(chunk, start in chunk, stop in chunk, start in region), ...]`` in order."""
    if hi <= lo:
        return []
    c0 = int(np.searchsorted(edges, lo, side="right")) - 1
    c1 = int(np.searchsorted(edges, hi, side="left"))
    out = []
    for c in range(c0, c1):
        s, e = max(lo, int(edges[c])), min(hi, int(edges[c + 1]))
        if e > s:
            out.append((c, s - int(edges[c]), e - int(edges[c]), s - lo))
    return out


def spans(a: Axis, i0: int, i1: int) -> tuple[Ints, Ints]:
    """First and last input element that each window ``[i0, i1)`` of ``a`` reads (int64 arrays; a window
    with no element inside ``[0, a.n)`` gets an empty span, first > last)."""
    i = np.arange(i0, i1, dtype=np.int64)
    if a.s == 0:
        N, O = a.split
        g = i + a.first
        return (g * N) // O - a.lo, -((-(g + 1) * N) // O) - a.lo - 1
    start = i * a.s - a.lo
    t0 = np.minimum(np.maximum(0, -(start // a.d)), a.k)
    t1 = np.maximum(np.minimum(a.k, np.floor_divide(a.n - 1 - start, a.d) + 1), t0)
    return start + t0 * a.d, start + (t1 - 1) * a.d


def inner(a: Axis, i0: int, i1: int, h0: int, h1: int) -> Axis:
    """The windows ``[i0, i1)`` of ``a`` over the whole chunk ``[h0, h1)`` that holds every element they read:
    an :class:`Axis` like :func:`block`'s but over the chunk, so that a kernel reads the chunk itself (no
    copy). Its ``lo`` is negative when the first window starts inside the chunk."""
    o = i1 - i0
    if a.s == 0:
        return Axis(h1 - h0, a.k, 0, 1, a.lo + h0, 0, o, a.split, a.first + i0)
    return _trim(Axis(h1 - h0, a.k, a.s, a.d, h0 - (i0 * a.s - a.lo), a.n + a.hi - h1, o))


def parts(a: Axis, i0: int, i1: int, h0: int, h1: int) -> list[tuple[int, int, bool]]:
    """Split the windows ``[i0, i1)`` of a block whose home chunk is ``[h0, h1)`` into runs: ``[(j0, j1,
    inside), ...]`` in order, ``inside`` for the run of windows that read only the chunk (at most one run,
    between at most two runs of windows that also read neighbouring chunks). One run ``inside=False`` when
    the windows inside do not form one run or there are none."""
    first, last = spans(a, i0, i1)
    inside = (first >= h0) & (last < h1) | (first > last)
    if inside.all():
        return [(i0, i1, True)]
    where = np.flatnonzero(inside)
    if where.size == 0 or where[-1] - where[0] + 1 != where.size:
        return [(i0, i1, False)]
    m0, m1 = i0 + int(where[0]), i0 + int(where[-1]) + 1
    runs = [(i0, m0, False), (m0, m1, True), (m1, i1, False)]
    return [r for r in runs if r[1] > r[0]]
