"""Grid fields behind the relief's shape: distance to the outline, outline smoothing, box blur.

A mask's outline is a staircase of cell edges. Left as is, the walls show the steps, and distances
measured to the steps (1, 1.4, 2 cells ...) put ribs into the bevel, whose slope is largest right at the
rim. So the outline nodes are smoothed first, and the bevel measures the distance to the nearest
smoothed outline node (found through the grid's feature transform).
"""

from __future__ import annotations

import numpy as np

# Taubin smoothing (alternating shrink and inflate steps, Taubin 1995, so convex outlines keep their
# size): enough rounds to straighten the long steps of a nearly axis-aligned outline.
SMOOTHING_ROUNDS = 8
SHRINK_WEIGHT, INFLATE_WEIGHT = 0.5, -0.53
MAX_SHIFT_CELLS = 0.5  # no outline node moves further, so no cap triangle folds over
SHIFT_FADE_PASSES = 6  # how far (in cells, roughly) the outline's shift carries inward


def nearest_outside(outside: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every node, the Euclidean distance (in cells) to the nearest `outside` node and that node's
    (row, col): exact when the distance is at most `limit`; beyond it the distance is just > `limit` and
    the position -1. Separable: nearest in the same column first, then the best column within `limit`,
    each pass `limit` vectorised shifts."""
    rows, cols = outside.shape
    far = np.float32(limit + 1)
    row_index = np.arange(rows)[:, None]
    vertical = np.where(outside, np.float32(0), far)
    feature_row = np.where(outside, row_index, -1)
    padded = np.pad(outside, ((limit, limit), (0, 0)))
    for offset in range(1, limit + 1):
        for sign in (1, -1):
            reach = padded[limit + sign * offset : limit + sign * offset + rows]
            closer = reach & (vertical > offset)
            vertical = np.where(closer, np.float32(offset), vertical)
            feature_row = np.where(closer, row_index + sign * offset, feature_row)

    squared = np.pad(vertical**2, ((0, 0), (limit, limit)), constant_values=far**2)
    rows_padded = np.pad(feature_row, ((0, 0), (limit, limit)), constant_values=-1)
    best = squared[:, limit : limit + cols].copy()
    best_row = feature_row.copy()
    best_col = np.where(feature_row >= 0, np.arange(cols)[None, :], -1)
    for offset in range(1, limit + 1):
        for sign in (1, -1):
            start = limit + sign * offset
            candidate = squared[:, start : start + cols] + np.float32(offset * offset)
            closer = candidate < best
            best = np.where(closer, candidate, best)
            best_row = np.where(closer, rows_padded[:, start : start + cols], best_row)
            best_col = np.where(closer, np.arange(cols)[None, :] + sign * offset, best_col)
    return np.sqrt(best), best_row, best_col


def smooth_outline(x: np.ndarray, y: np.ndarray, start: np.ndarray, end: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Taubin smoothing of the nodes on outline edges (start[k] -> end[k]) along the outline; other nodes
    stay put, and no node moves more than MAX_SHIFT_CELLS cells."""
    count = x.size
    degree = np.bincount(start, minlength=count) + np.bincount(end, minlength=count)
    on_outline = degree > 0
    safe_degree = np.maximum(degree, 1)
    smooth_x, smooth_y = x, y
    for step in range(2 * SMOOTHING_ROUNDS):
        weight = SHRINK_WEIGHT if step % 2 == 0 else INFLATE_WEIGHT
        mean_x = (np.bincount(start, weights=smooth_x[end], minlength=count) + np.bincount(end, weights=smooth_x[start], minlength=count)) / safe_degree
        mean_y = (np.bincount(start, weights=smooth_y[end], minlength=count) + np.bincount(end, weights=smooth_y[start], minlength=count)) / safe_degree
        smooth_x = np.where(on_outline, smooth_x + weight * (mean_x - smooth_x), smooth_x)
        smooth_y = np.where(on_outline, smooth_y + weight * (mean_y - smooth_y), smooth_y)
    shift_x, shift_y = smooth_x - x, smooth_y - y
    scale = np.minimum(1.0, MAX_SHIFT_CELLS * cell / np.maximum(np.hypot(shift_x, shift_y), 1e-12))
    return x + shift_x * scale, y + shift_y * scale


def fade_inward(shift: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Spread a shift given on the outline into the `free` (interior) nodes, fading with distance: so the
    first ring of cells keeps an even width along a smoothed outline."""
    for _ in range(SHIFT_FADE_PASSES):
        shift = np.where(free, box_blur(shift, 1), shift)
    return shift


def box_blur(field: np.ndarray, passes: int) -> np.ndarray:
    """Repeated 3x3 box filter (edge values repeated at the border): approximately Gaussian."""
    for _ in range(passes):
        padded = np.pad(field, 1, mode="edge")
        rows = padded[:-2] + padded[1:-1] + padded[2:]
        field = (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0
    return field
