"""Foreground of the input image for the relief backend: which pixels are the object, and its texture.

TRELLIS.2 removes the background with a neural matting model (RMBG-2.0). This CPU stand-in trusts the
alpha channel when the image has a meaningful one, and otherwise separates the object from a plain
background by its distance to the border colour. Everything is vectorised numpy: no scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

OPAQUE_ALPHA = 128  # alpha at or above this is foreground
MIN_ALPHA_SHARE = 0.005  # an alpha channel counts only if at least this share is transparent AND opaque
BORDER_WIDTH_PX = 2  # border band whose median colour is taken as the background colour
MIN_COLOUR_DISTANCE = 48.0  # RGB distance (0..255 scale) below which a pixel is background
MAX_COLOUR_DISTANCE = 120.0  # cap on the noise-adapted threshold, so a busy border cannot erase the object
# Holes (background enclosed by the object) smaller than this share of the object are filled: with a
# border-colour mask they are usually parts of the object that happen to match the background colour;
# an alpha channel is trusted more, so only speckles are filled there.
HOLE_FILL_SHARE_COLOUR = 0.10
HOLE_FILL_SHARE_ALPHA = 0.001


@dataclass(frozen=True)
class Foreground:
    """The object cut out of the image.

    `mask` [gy, gx] is the object on the analysis grid, cropped to its bounding box; `texture`
    [th, tw, 3] is the same rectangle of the full-resolution image with the background
    replaced by the nearest object colours, so texture filtering at the silhouette never picks up
    background. `source` is "alpha", "border_colour" or "whole_image" (nothing stood out).
    """

    mask: np.ndarray
    texture: np.ndarray
    source: str


def extract_foreground(image: Image.Image, analysis_size: int, texture_cap: int) -> Foreground:
    """Find the object at `analysis_size` px along the longer image side; texture at most `texture_cap` px."""
    rgba = _to_rgba_array(image)
    height, width = rgba.shape[:2]
    scale = analysis_size / max(width, height)
    grid_w, grid_h = max(1, round(width * scale)), max(1, round(height * scale))
    small = rgba
    if (grid_w, grid_h) != (width, height):
        small = np.asarray(Image.fromarray(rgba, "RGBA").resize((grid_w, grid_h), Image.BILINEAR))

    alpha = small[..., 3]
    if has_meaningful_alpha(alpha):
        raw, source, hole_share = alpha >= OPAQUE_ALPHA, "alpha", HOLE_FILL_SHARE_ALPHA
    else:
        raw, source, hole_share = border_colour_mask(small[..., :3]), "border_colour", HOLE_FILL_SHARE_COLOUR

    mask = largest_component(raw)
    if mask.any():
        mask = fill_small_holes(mask, hole_share)
    else:
        # A uniform or fully transparent image: make a tile of the whole picture rather than fail.
        mask, source = np.ones((grid_h, grid_w), dtype=bool), "whole_image"

    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cropped = mask[top:bottom, left:right]
    to_full_x, to_full_y = width / grid_w, height / grid_h
    box = (left * to_full_x, top * to_full_y, right * to_full_x, bottom * to_full_y)
    texture = _crop_texture(rgba, cropped, box, texture_cap)
    return Foreground(mask=cropped, texture=texture, source=source)


def has_meaningful_alpha(alpha: np.ndarray) -> bool:
    transparent_share = float(np.mean(alpha < OPAQUE_ALPHA))
    return MIN_ALPHA_SHARE <= transparent_share <= 1.0 - MIN_ALPHA_SHARE


def border_colour_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels far enough from the median border colour; the threshold widens with border noise (JPEG)."""
    band = BORDER_WIDTH_PX
    border = np.concatenate(
        [rgb[:band].reshape(-1, 3), rgb[-band:].reshape(-1, 3), rgb[:, :band].reshape(-1, 3), rgb[:, -band:].reshape(-1, 3)]
    ).astype(np.float32)
    background = np.median(border, axis=0)
    border_spread = float(np.percentile(np.linalg.norm(border - background, axis=1), 90))
    threshold = min(max(MIN_COLOUR_DISTANCE, 1.5 * border_spread), MAX_COLOUR_DISTANCE)
    distance = np.linalg.norm(rgb.astype(np.float32) - background, axis=2)
    return distance > threshold


def label_components(mask: np.ndarray) -> np.ndarray:
    """4-connected components of `mask`: a component id >= 0 per pixel (ids grow in raster order of
    the components' first pixels, so the component holding the first masked pixel is 0), -1 outside.

    Works on horizontal runs rather than pixels: runs of consecutive masked pixels in a row get ids in
    raster order, vertically touching runs are joined with a vectorised union-find (hook the larger root
    onto the smaller, then pointer jumping), and pixels take their run's root. Pixel-level work is a few
    passes over the image; the union-find sees only a few thousand runs.
    """
    height, width = mask.shape
    run_start = mask.copy()
    run_start[:, 1:] &= ~mask[:, :-1]
    run_id = np.cumsum(run_start.ravel(), dtype=np.int32).reshape(height, width) - 1
    run_count = int(run_id[-1, -1]) + 1 if mask.size else 0
    touching = mask[:-1] & mask[1:]
    pairs = np.unique(run_id[:-1][touching].astype(np.int64) * run_count + run_id[1:][touching])
    edge_a, edge_b = pairs // max(run_count, 1), pairs % max(run_count, 1)
    parent = np.arange(run_count, dtype=np.int64)
    while edge_a.size:
        root_a, root_b = parent[edge_a], parent[edge_b]
        open_edges = root_a != root_b
        if not open_edges.any():
            break
        # Edges whose ends share a root stay settled forever (roots only merge), so drop them.
        edge_a, edge_b = edge_a[open_edges], edge_b[open_edges]
        root_a, root_b = root_a[open_edges], root_b[open_edges]
        np.minimum.at(parent, np.maximum(root_a, root_b), np.minimum(root_a, root_b))
        while True:  # parents only point to smaller ids, so this ends, with no cycles
            grandparent = parent[parent]
            if np.array_equal(grandparent, parent):
                break
            parent = grandparent
    labels = np.full((height, width), -1, dtype=np.int64)
    labels[mask] = parent[run_id[mask]]
    return labels


def largest_component(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return mask.copy()
    labels = label_components(mask)
    ids, counts = np.unique(labels[mask], return_counts=True)
    return labels == ids[np.argmax(counts)]


def fill_small_holes(mask: np.ndarray, max_share: float) -> np.ndarray:
    """Fill background regions that the image border cannot reach and that are smaller than
    `max_share` of the object; larger ones (the inside of a ring) stay open."""
    background = ~mask
    labels = label_components(np.pad(background, 1, constant_values=True))[1:-1, 1:-1]
    # The padding ring joins every border-touching background region into the component labelled 0.
    enclosed = background & (labels != 0)
    if not enclosed.any():
        return mask
    ids, inverse, counts = np.unique(labels[enclosed], return_inverse=True, return_counts=True)
    small = counts <= max_share * mask.sum()
    filled = mask.copy()
    filled[enclosed] = small[inverse]
    return filled


def _to_rgba_array(image: Image.Image) -> np.ndarray:
    if image.mode not in ("RGBA", "RGB", "L", "LA", "P", "PA"):
        image = image.convert("RGB")  # 16-bit, float and CMYK modes go through RGB first
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)


def _crop_texture(rgba: np.ndarray, mask: np.ndarray, box: tuple[float, float, float, float], cap: int) -> np.ndarray:
    """The box (full-resolution pixels) resampled to at most `cap` px, with the background filled from
    the object so the texture has no halo."""
    left, top, right, bottom = box
    native_w, native_h = right - left, bottom - top
    fit = min(1.0, cap / max(native_w, native_h))
    tex_w, tex_h = max(1, round(native_w * fit)), max(1, round(native_h * fit))
    # Resampled as RGBA: Pillow weights by alpha, so the (often black) colour hidden under transparent
    # pixels does not darken the object's edge.
    resampled = Image.fromarray(rgba, "RGBA").resize((tex_w, tex_h), Image.BILINEAR, box=(left, top, right, bottom))
    texture = np.asarray(resampled, dtype=np.float32)[..., :3]
    object_texels = np.asarray(
        Image.fromarray(mask.astype(np.uint8) * 255, "L").resize((tex_w, tex_h), Image.BILINEAR)
    ) >= 128
    if not object_texels.any():
        object_texels = np.ones_like(object_texels)
    return np.clip(np.rint(push_pull_fill(texture, object_texels)), 0, 255).astype(np.uint8)


def push_pull_fill(colour: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Replace unknown pixels by the average of the nearest known ones, via an image pyramid."""
    if known.all() or min(known.shape) <= 1:
        if known.any() and not known.all():
            colour = np.where(known[..., None], colour, colour[known].mean(axis=0))
        return colour
    height, width = known.shape
    pad = ((0, height % 2), (0, width % 2))
    weight = np.pad(known.astype(np.float32), pad)
    weighted = np.pad(colour * known[..., None], pad + ((0, 0),))
    weight_sum = weight[0::2, 0::2] + weight[1::2, 0::2] + weight[0::2, 1::2] + weight[1::2, 1::2]
    colour_sum = weighted[0::2, 0::2] + weighted[1::2, 0::2] + weighted[0::2, 1::2] + weighted[1::2, 1::2]
    coarse_known = weight_sum > 0
    coarse = colour_sum / np.maximum(weight_sum, 1e-6)[..., None]
    coarse = push_pull_fill(coarse, coarse_known)
    upsampled = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:height, :width]
    return np.where(known[..., None], colour, upsampled)
