"""Contact sheet of dataset samples: does the ground truth stay on the hand after cropping?

Each tile is one sample as the network sees it (augmented for the training split): the crop,
the ground-truth mesh rendered translucent with the sample's own ``K``, the sample's silhouette
target outlined in yellow, and the 21 keypoints with the skeleton. Geometry that drifts shows
at once as a mesh or skeleton off the hand, or an outline off the mesh.

On the command line: ``python -m cmr sheet --root data/FreiHAND_synth`` (:mod:`cmr.tools.sheet`).
"""

from __future__ import annotations

import cv2
import numpy as np

from cmr.data.augment import denormalise_image
from cmr.data.targets import MESH_SCALE
from cmr.geometry.camera import project_points
from cmr.hand.conventions import FREIHAND_PARENTS
from cmr.vis.colours import joint_colour
from cmr.vis.overlay import render_overlay

#: Opacity of the rendered mesh.
MESH_ALPHA = 0.45
#: Fixed-point bits of OpenCV's drawing calls (sub-pixel positions: 1/16 px).
DRAW_SHIFT = 4
OUTLINE_COLOUR = (255, 230, 40)


def _fixed(point: np.ndarray) -> tuple[int, int]:
    """Pixel coordinates (u, v) as OpenCV fixed-point integers (see ``DRAW_SHIFT``)."""
    return tuple(int(round(float(c) * (1 << DRAW_SHIFT))) for c in point)


def draw_skeleton(tile: np.ndarray, uv: np.ndarray) -> None:
    """Draw the (21, 2) keypoints (crop pixels) and bones on ``tile`` (S, S, 3) uint8 RGB in place."""
    colours = [tuple(int(255 * c) for c in joint_colour(j)) for j in range(len(uv))]
    for joint, parent in enumerate(FREIHAND_PARENTS):
        if parent >= 0:
            cv2.line(tile, _fixed(uv[parent]), _fixed(uv[joint]), colours[joint], 1, cv2.LINE_AA, DRAW_SHIFT)
    for joint, point in enumerate(uv):
        cv2.circle(tile, _fixed(point), 2 << DRAW_SHIFT, colours[joint], -1, cv2.LINE_AA, DRAW_SHIFT)


def draw_outline(tile: np.ndarray, mask: np.ndarray) -> None:
    """Outline a (h, h) silhouette in [0, 1] (h = S/2 or S) on the (S, S, 3) tile in place."""
    size = tile.shape[0]
    full = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) > 0.5
    contours, _ = cv2.findContours(full.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(tile, contours, -1, OUTLINE_COLOUR, 1)


def sample_tile(sample: dict, faces: np.ndarray | None) -> np.ndarray:
    """One (S, S, 3) uint8 RGB tile for a training or evaluation sample dict.

    Uses what the sample holds: ``image`` (3, S, S) in [-1, 1], ``K`` (3, 3) pixels of the crop,
    the ground truth (training: ``root`` (3,) metres plus ``mesh[0]`` (V, 3) and ``xyz`` (21, 3)
    in units of ``MESH_SCALE`` about it; evaluation: ``verts_camera`` (V, 3) and ``xyz_camera``
    (21, 3) metres, when released), the silhouette ``mask`` (1, S/2, S/2) and ``index``.
    ``faces`` (F, 3) of the mesh, or None to skip the mesh.
    """
    tile = denormalise_image(sample["image"])
    K = sample["K"].numpy().astype(np.float64)
    if "mesh" in sample:
        root = sample["root"].numpy().astype(np.float64)
        vertices = root + MESH_SCALE * sample["mesh"][0].numpy()
        joints = root + MESH_SCALE * sample["xyz"].numpy()
    else:
        vertices = sample["verts_camera"].numpy() if "verts_camera" in sample else None
        joints = sample["xyz_camera"].numpy() if "xyz_camera" in sample else None
    if vertices is not None and faces is not None and len(vertices) == faces.max() + 1:
        tile = render_overlay(tile, vertices, faces, K, alpha=MESH_ALPHA)
    if "mask" in sample:
        draw_outline(tile, sample["mask"][0].numpy())
    if joints is not None:
        draw_skeleton(tile, project_points(joints.astype(np.float64), K))
    cv2.putText(tile, str(sample["index"]), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def photo_tile(image: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, 3) uint8 RGB photo as a (size, size, 3) tile: its centred square, resized."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def contact_sheet(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Arrange equal (S, S, 3) tiles in a grid with 2-px gaps; returns uint8 RGB."""
    size, gap = tiles[0].shape[0], 2
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (size + gap) - gap, columns * (size + gap) - gap, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        top, left = (k // columns) * (size + gap), (k % columns) * (size + gap)
        sheet[top:top + size, left:left + size] = tile
    return sheet
