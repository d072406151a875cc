"""A bevelled relief of a silhouette: a closed, textured triangle mesh built on a regular grid.

The object mask is laid on a grid of square-ish cells. Every object cell becomes two triangles on the
front (z > 0) and two mirrored ones on the back; every cell edge between the object and the background
becomes a wall quad joining front and back. Front, back and walls share vertices, so the solid is closed
(every edge joins exactly two triangles). The outline is smoothed (relief_field), and the half-thickness
at a node rises from a thin rim at the outline to a plateau along a parabola of the distance to the
outline: a rounded bevel.

World frame as in glTF: +Y up, the picture faces +Z, the model is centred at the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .relief_field import box_blur, fade_inward, nearest_outside, smooth_outline

DISTANCE_BLUR_PASSES = 1  # evens out what is left of the grid in the distances
# Shading normals: a few rounds of neighbour averaging hide the cell-sized wobble that a grid-built
# outline keeps even after smoothing (it showed as fine ribs along the rim).
NORMAL_SMOOTHING_PASSES = 4


@dataclass(frozen=True)
class ReliefShape:
    """Size of the relief in world units (the picture spans width x height in the XY plane)."""

    width: float
    height: float
    half_thickness: float  # of the plateau
    rim_half_thickness: float  # at the silhouette
    bevel_width: float  # distance from the silhouette over which the bevel rises


@dataclass(frozen=True)
class ReliefMesh:
    positions: np.ndarray  # float32 [V, 3]
    normals: np.ndarray  # float32 [V, 3], unit length
    uvs: np.ndarray  # float32 [V, 2], glTF convention: (0, 0) is the top-left of the texture
    faces: np.ndarray  # uint32 [F, 3], counter-clockwise seen from outside


def solid_cells(mask: np.ndarray) -> np.ndarray:
    """The mask padded with a background ring, with every diagonal-only contact (two object cells that
    share just a corner) bridged by one more cell: there the walls would meet along one edge four times,
    and the solid would no longer be closed."""
    cells = np.pad(mask.astype(bool), 1)
    while True:
        top_left, top_right = cells[:-1, :-1], cells[:-1, 1:]
        bottom_left, bottom_right = cells[1:, :-1], cells[1:, 1:]
        falling = top_left & bottom_right & ~top_right & ~bottom_left
        rising = top_right & bottom_left & ~top_left & ~bottom_right
        if not (falling.any() or rising.any()):
            return cells
        cells[:-1, 1:] |= falling  # bridge through the top-right cell
        cells[:-1, :-1] |= rising  # bridge through the top-left cell


def triangle_count(mask: np.ndarray) -> int:
    """Triangles `build_relief_mesh` makes for `mask`, without building it."""
    cells = solid_cells(mask)
    walls = np.count_nonzero(cells[1:] != cells[:-1]) + np.count_nonzero(cells[:, 1:] != cells[:, :-1])
    return 4 * int(np.count_nonzero(cells)) + 2 * walls


def resample_mask(mask: np.ndarray, long_side: int) -> np.ndarray:
    """The mask on a grid whose longer side has `long_side` cells (area-averaged, majority kept)."""
    rows, cols = mask.shape
    factor = long_side / max(rows, cols)
    size = (max(1, round(cols * factor)), max(1, round(rows * factor)))
    if size == (cols, rows):
        return mask.astype(bool)
    image = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    return np.asarray(image.resize(size, Image.BOX)) >= 128


def mask_for_triangle_budget(mask: np.ndarray, max_triangles: int) -> np.ndarray:
    """The finest resampling of `mask` (never finer than `mask` itself) whose relief has at most
    `max_triangles` triangles. Binary search on the grid size; only sizes whose count was actually
    checked are returned, so the budget holds even where the count is not monotonic in the size."""
    full = mask.astype(bool)
    if triangle_count(full) <= max_triangles:
        return full
    low, high = 1, max(full.shape)
    best = resample_mask(full, 1)
    while low <= high:
        middle = (low + high) // 2
        candidate = resample_mask(full, middle)
        if triangle_count(candidate) <= max_triangles:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    if not best.any():  # so small a budget that the object vanished: one cell still makes a valid solid
        best = np.ones((1, 1), dtype=bool)
    return best


def build_relief_mesh(mask: np.ndarray, shape: ReliefShape) -> ReliefMesh:
    cells = solid_cells(mask)  # padded with background, so the outline is always closed
    grid_rows, grid_cols = mask.shape
    # Node (i, j) is the top-left corner of cell (i, j); in the padded array it touches cells
    # [i..i+1, j..j+1].
    touching = (cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:])
    used = touching[0] | touching[1] | touching[2] | touching[3]
    interior = touching[0] & touching[1] & touching[2] & touching[3]
    node_rows, node_cols = np.nonzero(used)
    count = node_rows.size
    front_id = np.full(used.shape, -1, dtype=np.int64)
    front_id[node_rows, node_cols] = np.arange(count)
    back_id = front_id + count
    walls = _wall_edges(cells)

    # Node positions: the grid, with the outline smoothed and its shift fading inward.
    row_index, col_index = np.indices(used.shape)
    grid_x = (col_index / grid_cols - 0.5) * shape.width
    grid_y = (0.5 - row_index / grid_rows) * shape.height
    cell = 0.5 * (shape.width / grid_cols + shape.height / grid_rows)
    outline_start = np.concatenate([front_id[start] for start, _, _ in walls])
    outline_end = np.concatenate([front_id[end] for _, end, _ in walls])
    smooth_x, smooth_y = smooth_outline(grid_x[used], grid_y[used], outline_start, outline_end, cell)
    shift_x, shift_y = np.zeros(used.shape), np.zeros(used.shape)
    shift_x[used], shift_y[used] = smooth_x - grid_x[used], smooth_y - grid_y[used]
    # Kept inside the picture's rectangle, so UVs stay in [0, 1] and the size stays what the state says.
    node_x = np.clip(grid_x + fade_inward(shift_x, interior), -shape.width / 2, shape.width / 2)
    node_y = np.clip(grid_y + fade_inward(shift_y, interior), -shape.height / 2, shape.height / 2)

    # Half-thickness from the distance to the nearest (smoothed) outline node.
    bevel_cells = max(shape.bevel_width / cell, 1e-6)
    grid_distance, feature_row, feature_col = nearest_outside(~interior, int(np.ceil(bevel_cells)) + 2)
    found = feature_row >= 0
    feature_row, feature_col = np.where(found, feature_row, 0), np.where(found, feature_col, 0)
    outline_distance = np.hypot(node_x - node_x[feature_row, feature_col], node_y - node_y[feature_row, feature_col]) / cell
    distance = np.where(found, outline_distance, grid_distance)
    distance = np.where(interior, box_blur(distance, DISTANCE_BLUR_PASSES), 0.0)
    rise = 1.0 - np.minimum(distance / bevel_cells, 1.0)
    profile = 1.0 - rise * rise  # parabolic: rounded into the plateau, finite slope at the rim
    half = shape.rim_half_thickness + (shape.half_thickness - shape.rim_half_thickness) * profile

    x, y, z = node_x[used], node_y[used], half[used]
    positions = np.concatenate([np.stack([x, y, z], axis=1), np.stack([x, y, -z], axis=1)]).astype(np.float32)
    u, v = x / shape.width + 0.5, 0.5 - y / shape.height  # the texture follows the moved nodes
    uvs = np.tile(np.stack([u, v], axis=1), (2, 1)).astype(np.float32)  # the back shows the mirror image

    wall_faces = [_quad(front_id, back_id, start, end, flip=flip) for start, end, flip in walls]
    faces = np.concatenate([_cap_faces(cells, front_id, back_id), *wall_faces]).astype(np.uint32)
    return ReliefMesh(positions=positions, normals=vertex_normals(positions, faces), uvs=uvs, faces=faces)


def _cap_faces(cells: np.ndarray, front_id: np.ndarray, back_id: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(cells[1:-1, 1:-1])
    faces = []
    for ids, flip in ((front_id, False), (back_id, True)):
        top_left, top_right = ids[rows, cols], ids[rows, cols + 1]
        bottom_left, bottom_right = ids[rows + 1, cols], ids[rows + 1, cols + 1]
        first = np.stack([top_left, bottom_left, bottom_right], axis=1)  # CCW seen from +Z
        second = np.stack([top_left, bottom_right, top_right], axis=1)
        pair = np.concatenate([first, second])
        faces.append(pair[:, ::-1] if flip else pair)
    return np.concatenate(faces)


def _wall_edges(cells: np.ndarray) -> list[tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], bool]]:
    """Every object/background cell edge as (start node, end node, flip), in node-grid (row, col) arrays.
    Unflipped, a left-to-right edge has the object below it and a top-to-bottom edge has it on the left."""
    edges = []
    # Horizontal edges: upper[k, c] / lower[k, c] are cells (k-1, c) / (k, c), which meet along node row k
    # between node columns c and c+1.
    upper, lower = cells[:-1, 1:-1], cells[1:, 1:-1]
    for object_below in (True, False):
        rows, cols = np.nonzero(lower & ~upper if object_below else upper & ~lower)
        edges.append(((rows, cols), (rows, cols + 1), not object_below))
    # Vertical edges: left[r, k] / right[r, k] are cells (r, k-1) / (r, k), which meet along node column k
    # between node rows r and r+1.
    left, right = cells[1:-1, :-1], cells[1:-1, 1:]
    for object_left in (True, False):
        rows, cols = np.nonzero(left & ~right if object_left else right & ~left)
        edges.append(((rows, cols), (rows + 1, cols), not object_left))
    return edges


def _quad(front_id, back_id, start, end, *, flip: bool) -> np.ndarray:
    """Wall between front and back along one edge. Unflipped, a left-to-right edge faces +Y and a
    top-to-bottom edge faces +X, i.e. away from the object."""
    a, b = front_id[start], front_id[end]
    a_back, b_back = back_id[start], back_id[end]
    triangles = np.concatenate([np.stack([a, b, b_back], axis=1), np.stack([a, b_back, a_back], axis=1)])
    return triangles[:, ::-1] if flip else triangles


def vertex_normals(positions: np.ndarray, faces: np.ndarray, smoothing_passes: int = NORMAL_SMOOTHING_PASSES) -> np.ndarray:
    """Area-weighted average of the face normals around each vertex, then `smoothing_passes` rounds of
    averaging over neighbouring vertices; unit length."""
    corners = positions[faces.astype(np.int64)]
    normals = _sum_per_vertex(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), faces, len(positions))
    for _ in range(smoothing_passes):
        unit = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
        normals = _sum_per_vertex(unit[faces[:, 0]] + unit[faces[:, 1]] + unit[faces[:, 2]], faces, len(positions))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-20, normals / np.maximum(length, 1e-300), (0.0, 0.0, 1.0))
    return normals.astype(np.float32)


def _sum_per_vertex(per_face: np.ndarray, faces: np.ndarray, vertex_count: int) -> np.ndarray:
    """Add each face's vector to its three vertices."""
    total = np.zeros((vertex_count, 3))
    for corner in range(3):
        for axis in range(3):
            total[:, axis] += np.bincount(faces[:, corner], weights=per_face[:, axis], minlength=vertex_count)
    return total
