"""Overlapping windows, computed by stridepool when the docs are built (matplotlib's plot directive).

A 6 x 6 input (the question's size) and its 3 x 3 windows at stride 1 (the question's geometry): what
``sp.unfold2d`` takes out, what ``sp.fold2d`` adds back (folding windows of ones counts the windows that
cover each pixel), and a max-pool backward, where overlapping windows that share a maximum accumulate.
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

import stridepool as sp

K, S = 3, 1
x = np.array([[3, 1, 4, 1, 5, 9],
              [2, 6, 5, 3, 5, 8],
              [9, 7, 9, 3, 2, 3],
              [8, 4, 6, 2, 6, 4],
              [3, 3, 8, 3, 2, 7],
              [9, 5, 0, 2, 8, 8]])
windows = sp.unfold2d(x, K, stride=S)                      # (4, 4, 3, 3): a view, no copy
OH, OW = windows.shape[:2]
coverage = sp.fold2d(np.ones_like(windows), x.shape, stride=S)      # windows covering each pixel
y, idx = sp.max_pool2d(x, K, stride=S, return_indices=True)
grad = sp.max_pool2d_backward(np.ones_like(y), idx, x.shape)         # times each pixel was a window's max

# The max backward is fold2d of one-hot windows: the same numbers by the other route.
onehot = (np.arange(K * K) == (windows.reshape(OH, OW, K * K).argmax(-1))[..., None]).reshape(windows.shape)
assert np.array_equal(grad, sp.fold2d(onehot.astype(int), x.shape, stride=S))

# unfold2d's windows as a mosaic: window (i, j) at block (i, j), one blank pixel between blocks.
gap = 1
mosaic = np.full((OH * (K + gap) - gap, OW * (K + gap) - gap), np.nan)
is_max = np.zeros(mosaic.shape, dtype=bool)        # each window's maximum (the first one, on ties)
for i in range(OH):
    for j in range(OW):
        mosaic[i * (K + gap):i * (K + gap) + K, j * (K + gap):j * (K + gap) + K] = windows[i, j]
        is_max[i * (K + gap):i * (K + gap) + K, j * (K + gap):j * (K + gap) + K] = onehot[i, j]

COLOURS = ["tab:red", "tab:blue", "tab:green"]
SHOWN = [(0, 0), (0, 1), (1, 1)]   # three windows that overlap, outlined in panels 1 and 2


def show(ax, a, title, cmap, vmax=None, bold=None):
    ax.imshow(a, cmap=cmap, vmin=0, vmax=vmax)
    for (r, c), v in np.ndenumerate(a):
        if not np.isnan(v):
            strong = bold is not None and bold[r, c]
            ax.text(c, r, f"{int(v)}", ha="center", va="center", fontsize=8,
                    fontweight="bold" if strong else "normal", color="tab:orange" if strong else "black")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig = plt.figure(figsize=(9, 8.2))
grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.6], height_ratios=[1.6, 1])
axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 0]),
        fig.add_subplot(grid[1, 1])]
show(axes[0], x, "x  (6 x 6)", "Greys", vmax=25)
for (i, j), colour, off in zip(SHOWN, COLOURS, (-0.06, 0.0, 0.06)):
    axes[0].add_patch(Rectangle((j * S - 0.5 + off, i * S - 0.5 + off), K, K, fill=False, lw=2, ec=colour))

show(axes[1], mosaic, f"sp.unfold2d(x, {K}, stride={S}): {OH} x {OW} windows of {K} x {K}\n(each window's max in orange)",
     "Greys", vmax=25, bold=is_max)
for (i, j), colour in zip(SHOWN, COLOURS):
    axes[1].add_patch(Rectangle((j * (K + gap) - 0.5, i * (K + gap) - 0.5), K, K, fill=False, lw=2, ec=colour))

show(axes[2], coverage, "sp.fold2d(ones):\nwindows covering each pixel", "Blues", vmax=coverage.max() * 1.6)
show(axes[3], grad, "sp.max_pool2d_backward(ones):\ntimes each pixel is a max", "Oranges",
     vmax=max(grad.max(), 1) * 1.6)
fig.tight_layout()
