"""The relief backend's parts: component labelling, hole filling, distance transform, mesh, rasterizer."""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trellis2_service.backends.relief_mask import (  # noqa: E402
    border_colour_mask,
    fill_small_holes,
    has_meaningful_alpha,
    label_components,
    largest_component,
    push_pull_fill,
)
from trellis2_service.backends.relief_field import nearest_outside, smooth_outline  # noqa: E402
from trellis2_service.backends.relief_mesh import (  # noqa: E402
    ReliefShape,
    build_relief_mesh,
    mask_for_triangle_budget,
    triangle_count,
)
from trellis2_service.backends.relief_render import render_view  # noqa: E402

SHAPE = ReliefShape(width=0.6, height=0.9, half_thickness=0.07, rim_half_thickness=0.02, bevel_width=0.05)


def flood_fill_labels(mask: np.ndarray) -> np.ndarray:
    """Reference 4-connected labelling: plain breadth-first search."""
    labels = np.full(mask.shape, -1)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start] >= 0:
            continue
        labels[start] = count
        queue = deque([start])
        while queue:
            row, col = queue.popleft()
            for r, c in ((row + 1, col), (row - 1, col), (row, col + 1), (row, col - 1)):
                if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] and labels[r, c] < 0:
                    labels[r, c] = count
                    queue.append((r, c))
        count += 1
    return labels


def test_labelling_matches_flood_fill_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(40):
        mask = rng.random((25, 31)) < rng.uniform(0.3, 0.7)
        ours, reference = label_components(mask), flood_fill_labels(mask)
        assert np.array_equal(ours < 0, ~mask)
        pairs = set(zip(ours[mask].tolist(), reference[mask].tolist()))
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})  # same partition


def test_labelling_follows_a_long_snake_as_one_component():
    snake = np.zeros((121, 121), dtype=bool)
    snake[::4] = True
    for row in range(0, 117, 4):
        snake[row + 1 : row + 4, -1 if (row // 4) % 2 == 0 else 0] = True
    assert len(np.unique(label_components(snake)[snake])) == 1


def test_largest_component_and_hole_filling():
    mask = np.zeros((40, 40), dtype=bool)
    mask[2:5, 2:5] = True  # speck
    mask[10:38, 10:38] = True  # object
    mask[20:22, 20:22] = False  # small hole
    mask[12:30, 30:36] = False  # large notch open to the outside: not a hole
    kept = largest_component(mask)
    assert not kept[3, 3] and kept[15, 15]
    filled = fill_small_holes(kept, 0.01)
    assert filled[20, 20] and not filled[20, 33]
    ring = np.zeros((40, 40), dtype=bool)
    ring[5:35, 5:35] = True
    ring[10:30, 10:30] = False  # the inside of a ring is larger than the share: stays open
    assert not fill_small_holes(ring, 0.1)[20, 20]


def test_alpha_counts_only_when_it_separates_something():
    assert has_meaningful_alpha(np.array([[0, 255], [255, 255]], dtype=np.uint8))
    assert not has_meaningful_alpha(np.full((8, 8), 255, dtype=np.uint8))
    assert not has_meaningful_alpha(np.zeros((8, 8), dtype=np.uint8))


def test_border_colour_mask_tolerates_jpeg_like_noise():
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(235, 6, size=(64, 64, 3)), 0, 255).astype(np.uint8)
    image[20:44, 20:44] = (40, 60, 200)
    mask = border_colour_mask(image)
    assert mask[20:44, 20:44].all() and mask.sum() == 24 * 24


def test_push_pull_fills_unknown_pixels_from_the_nearest_known_ones():
    colour = np.zeros((16, 16, 3), dtype=np.float32)
    known = np.zeros((16, 16), dtype=bool)
    colour[:, :8], known[:, :8] = (255, 0, 0), True
    filled = push_pull_fill(colour, known)
    assert np.array_equal(filled[:, :8], colour[:, :8])
    assert np.allclose(filled[:, 8:], (255, 0, 0))


def test_distance_transform_is_euclidean_and_finds_the_nearest_outside_node():
    outside = np.ones((41, 41), dtype=bool)
    outside[5:36, 5:36] = False
    distance, row, col = nearest_outside(outside, limit=12)
    assert distance[5, 20] == 1.0 and (row[5, 20], col[5, 20]) == (4, 20)
    assert distance[20, 20] > 12 and row[20, 20] == -1  # beyond the limit: just "far"
    assert distance[8, 8] == pytest.approx(4.0) and (row[8, 8] == 4) != (col[8, 8] == 4)  # a side, not the corner
    point = np.zeros((21, 21), dtype=bool)
    point[10, 10] = True
    distance, row, col = nearest_outside(point, limit=10)
    assert distance[13, 14] == pytest.approx(5.0) and (row[13, 14], col[13, 14]) == (10, 10)
    assert distance[10, 10] == 0.0


def test_outline_smoothing_rounds_a_staircase_off_by_at_most_half_a_cell():
    # A 45-degree staircase: nodes alternate between steps; smoothing pulls them onto the diagonal.
    x = np.array([0, 1, 1, 2, 2, 3, 3, 4, 4], dtype=float)
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4], dtype=float)
    start, end = np.arange(8), np.arange(1, 9)
    smooth_x, smooth_y = smooth_outline(x, y, start, end, cell=1.0)
    assert np.hypot(smooth_x - x, smooth_y - y).max() <= 0.5 + 1e-9
    inner = slice(3, 6)  # away from the open ends
    before = np.abs(x[inner] - y[inner] - 0.5).mean()  # distance (times sqrt 2) from the stairs' midline
    after = np.abs(smooth_x[inner] - smooth_y[inner] - 0.5).mean()
    assert after < 0.5 * before


def closed_and_consistently_wound(faces: np.ndarray) -> bool:
    """Every directed edge once and its reverse once: each edge joins two agreeing triangles."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    base = int(faces.max()) + 1
    keys, reverse = directed[:, 0] * base + directed[:, 1], directed[:, 1] * base + directed[:, 0]
    return len(np.unique(keys)) == len(keys) and bool(np.isin(reverse, keys).all())


def signed_volume(positions: np.ndarray, faces: np.ndarray) -> float:
    corners = positions[faces.astype(np.int64)].astype(np.float64)
    return float(np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0)


def test_any_mask_makes_a_closed_outward_facing_solid():
    rng = np.random.default_rng(2)
    for _ in range(60):
        # Random masks have diagonal-only contacts, holes and many parts: all must still close.
        mask = rng.random((11, 9)) < rng.uniform(0.2, 0.8)
        if not mask.any():
            continue
        mesh = build_relief_mesh(mask, SHAPE)
        assert len(mesh.faces) == triangle_count(mask)
        assert closed_and_consistently_wound(mesh.faces)
        assert signed_volume(mesh.positions, mesh.faces) > 0


def test_relief_has_a_rounded_bevel_and_mirrored_back():
    mask = np.ones((60, 40), dtype=bool)
    mesh = build_relief_mesh(mask, SHAPE)
    z = mesh.positions[:, 2]
    assert z.max() == pytest.approx(SHAPE.half_thickness) and z.min() == pytest.approx(-SHAPE.half_thickness)
    rim = np.isclose(np.abs(z), SHAPE.rim_half_thickness)
    assert rim.any() and np.allclose(np.abs(mesh.positions[rim, 0]).max(), SHAPE.width / 2, atol=1e-3)
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-5)
    front_centre = np.argmin(np.linalg.norm(mesh.positions - (0, 0, SHAPE.half_thickness), axis=1))
    assert mesh.normals[front_centre] @ np.array([0, 0, 1.0]) > 0.99


def test_triangle_budget_is_never_exceeded():
    yy, xx = np.mgrid[:300, :200]
    blob = ((yy - 150) / 140.0) ** 2 + ((xx - 100) / 90.0) ** 2 < 1
    for budget in (1_000, 1_001, 7_777, 50_000, 10**9):
        resampled = mask_for_triangle_budget(blob, budget)
        assert triangle_count(resampled) <= budget
        assert max(resampled.shape) <= 300
    assert triangle_count(mask_for_triangle_budget(blob, 50_000)) > 45_000


def test_rasterizer_draws_the_textured_front_with_a_z_buffer():
    mask = np.ones((20, 20), dtype=bool)
    shape = ReliefShape(width=0.8, height=0.8, half_thickness=0.05, rim_half_thickness=0.02, bevel_width=0.02)
    mesh = build_relief_mesh(mask, shape)
    texture = np.zeros((2, 2, 3), dtype=np.uint8)
    texture[0, 0], texture[0, 1], texture[1, 0], texture[1, 1] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
    front = render_view(mesh, texture, yaw=0.0, size=64)
    back = render_view(mesh, texture, yaw=np.pi, size=64)
    # Top-left of the picture is red on the front; the back shows the mirror image, so red is top-right.
    assert front[22, 20].argmax() == 0 and front[22, 44].argmax() == 1
    assert back[22, 44].argmax() == 0 and back[22, 20].argmax() == 1
    assert tuple(front[1, 1]) == tuple(back[1, 1])  # background
