"""The 5-panel prediction plot of evaluation and the demo (cmr.md section 6.6), as a JPEG.

Panels, left to right, each ``PANEL_PX`` square:

1. the image with the predicted silhouette blended in red and its outline;
2. the image with the 2D pose (heatmap peaks), bones coloured per finger;
3. the camera-space mesh rendered with the image's K over the image;
4. the camera-space mesh in 3D with a camera glyph: a small frustum at the origin and, dashed,
   the image's field of view at the hand's depth (the rectangle the image covers there);
5. the camera-space 3D skeleton, zoomed on the hand.

The 2D outputs live in the network input; they are mapped back to the image through
the prediction's ``input_from_image`` pixel map (:mod:`cmr.geometry`), so the plot works for
the original image of any size (letterboxed, aspect kept) as well as for the input crop itself.
Colours are RGB throughout (matplotlib's Agg canvas, written by Pillow): no R/B swap. 3D panels
show OpenCV camera space with y flipped so that "up" in the image is up in the plot.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from cmr.fileio import atomic_write_bytes
from cmr.geometry.pixel_maps import apply_affine, scale_map
from cmr.hand.conventions import FREIHAND_PARENTS
from cmr.mesh.topology import face_normals
from cmr.models.prediction import SamplePrediction
from cmr.vis.colours import joint_colour
from cmr.vis.overlay import render_overlay

PANEL_PX = 300
DPI = 100
#: Images are shrunk to at most this side before plotting (the panels are PANEL_PX wide).
MAX_PLOT_SIDE = 2 * PANEL_PX
SILHOUETTE_COLOUR = np.array([255.0, 40.0, 40.0])
MESH_3D_COLOUR = np.array([0.55, 0.72, 0.95])
#: Depth (metres) of the camera glyph's small frustum.
GLYPH_DEPTH_M = 0.08
#: Elevation and azimuth (degrees) of the 3D views: above, behind and to the left of the camera.
VIEW_ELEV, VIEW_AZIM = 20.0, -60.0


def fit_image(image_rgb: np.ndarray, max_side: int = MAX_PLOT_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Shrink an image so its longer side is at most ``max_side`` pixels.

    image_rgb: (H, W, 3) uint8. Returns the image (unchanged if small enough) and the (3, 3)
    pixel map from the given image to the returned one (:func:`cmr.geometry.pixel_maps.scale_map`).
    """
    height, width = image_rgb.shape[:2]
    if max(height, width) <= max_side:
        return image_rgb, np.eye(3)
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA), scale_map((width, height), size)


def silhouette_in_image(mask: np.ndarray, input_from_image: np.ndarray, image_shape: tuple[int, int],
                        threshold: float) -> np.ndarray:
    """(H, W) bool silhouette in the image from the (S, S) input mask probabilities."""
    height, width = image_shape
    warped = cv2.warpAffine(mask.astype(np.float32), input_from_image[:2], (width, height),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return warped > threshold


def _show_image(ax, image_rgb: np.ndarray) -> None:
    """Draw an image in pixel coordinates (centres at integers), aspect kept, no axes."""
    height, width = image_rgb.shape[:2]
    ax.imshow(image_rgb, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="bilinear")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.axis("off")


def _label(ax, text: str) -> None:
    """A small caption in the panel's top-left corner."""
    style = {"transform": ax.transAxes, "fontsize": 8, "va": "top",
             "bbox": {"facecolor": "white", "alpha": 0.6, "linewidth": 0, "pad": 1.5}}
    if hasattr(ax, "text2D"):  # 3D axes
        ax.text2D(0.03, 0.97, text, **style)
    else:
        ax.text(0.03, 0.97, text, **style)


def draw_silhouette(ax, image_rgb: np.ndarray, silhouette: np.ndarray) -> None:
    """Panel 1: the silhouette (H, W) bool blended in red over the image, outlined."""
    blended = image_rgb.astype(np.float32)
    blended[silhouette] = 0.5 * blended[silhouette] + 0.5 * SILHOUETTE_COLOUR
    _show_image(ax, blended.astype(np.uint8))
    contours, _ = cv2.findContours(silhouette.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        points = np.concatenate([contour[:, 0], contour[:1, 0]]).astype(np.float64)
        ax.plot(points[:, 0], points[:, 1], color=(1.0, 0.9, 0.1), linewidth=1.0)
    _label(ax, "silhouette")


def draw_pose_2d(ax, image_rgb: np.ndarray, uv: np.ndarray) -> None:
    """Panel 2: the (21, 2) joints (image pixels) and bones over the image."""
    _show_image(ax, image_rgb)
    for joint, parent in enumerate(FREIHAND_PARENTS):
        if parent >= 0:
            ax.plot(uv[[parent, joint], 0], uv[[parent, joint], 1], color=joint_colour(joint), linewidth=2.0)
    ax.scatter(uv[:, 0], uv[:, 1], s=10, c=[joint_colour(j) for j in range(len(uv))],
               edgecolors="white", linewidths=0.5, zorder=3)
    _label(ax, "2D pose")


def to_plot_axes(points: np.ndarray) -> np.ndarray:
    """Camera space (x right, y down, z forward) -> plot axes (x, z, -y): depth along the plot's y."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def _shaded_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) RGB per face: Lambert with a light at the camera plus ambient (two-sided)."""
    triangles = vertices[faces]
    normals = face_normals(vertices, faces)
    towards_camera = -triangles.mean(axis=1)
    towards_camera /= np.linalg.norm(towards_camera, axis=1, keepdims=True) + 1e-12
    shade = 0.35 + 0.65 * np.abs((normals * towards_camera).sum(axis=1))
    return np.clip(MESH_3D_COLOUR[None] * shade[:, None], 0.0, 1.0)


def field_of_view_corners(K: np.ndarray, image_shape: tuple[int, int], depth: float) -> np.ndarray:
    """(4, 3) camera-space corners (metres) of the image's border at ``depth``."""
    height, width = image_shape
    pixels = np.array([[-0.5, -0.5, 1.0], [width - 0.5, -0.5, 1.0],
                       [width - 0.5, height - 0.5, 1.0], [-0.5, height - 0.5, 1.0]])
    rays = pixels @ np.linalg.inv(K).T
    return rays / rays[:, 2:] * depth


def _set_equal_3d(ax, points: np.ndarray, margin: float = 0.05) -> None:
    """Axis limits around (M, 3) plot-axes points with equal scale on all three axes."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = margin * (high - low).max() + 1e-3
    low, high = low - pad, high + pad
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_zlim(low[2], high[2])
    ax.set_box_aspect(high - low)
    ax.view_init(elev=VIEW_ELEV, azim=VIEW_AZIM)


def _plain_3d(ax) -> None:
    """3D axes without tick labels (too small to read at panel size)."""
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    ax.tick_params(length=0)


def draw_mesh_3d(ax, vertices: np.ndarray, faces: np.ndarray, K: np.ndarray,
                 image_shape: tuple[int, int]) -> None:
    """Panel 4: the (N, 3) camera-space mesh, the camera frustum and the image's view at its depth."""
    surface = Poly3DCollection(to_plot_axes(vertices[faces]), facecolors=_shaded_faces(vertices, faces),
                               edgecolors="none")
    ax.add_collection3d(surface)
    hand_depth = float(np.median(vertices[:, 2]))
    glyph = to_plot_axes(field_of_view_corners(K, image_shape, GLYPH_DEPTH_M))
    view = to_plot_axes(field_of_view_corners(K, image_shape, max(hand_depth, GLYPH_DEPTH_M)))
    for near, far in zip(glyph, view):
        ax.plot(*np.stack([np.zeros(3), near]).T, color="black", linewidth=1.0)
        ax.plot(*np.stack([near, far]).T, color="grey", linewidth=0.6, linestyle=":")
    ax.plot(*np.concatenate([glyph, glyph[:1]]).T, color="black", linewidth=1.2)
    ax.plot(*np.concatenate([view, view[:1]]).T, color="grey", linewidth=0.8, linestyle="--")
    _set_equal_3d(ax, np.concatenate([to_plot_axes(vertices), view, np.zeros((1, 3))]))
    _plain_3d(ax)
    _label(ax, f"camera space (hand at {hand_depth:.2f} m)")


def draw_skeleton_3d(ax, joints: np.ndarray) -> None:
    """Panel 5: the (21, 3) camera-space joints and bones, zoomed on the hand."""
    points = to_plot_axes(joints)
    for joint, parent in enumerate(FREIHAND_PARENTS):
        if parent >= 0:
            ax.plot(*points[[parent, joint]].T, color=joint_colour(joint), linewidth=2.0)
    ax.scatter(*points.T, s=8, c=[joint_colour(j) for j in range(len(points))], depthshade=False)
    _set_equal_3d(ax, points, margin=0.1)
    _plain_3d(ax)
    _label(ax, "3D joints")


def plot_prediction(image_rgb: np.ndarray, prediction: SamplePrediction, faces: np.ndarray, K: np.ndarray,
                    path: str | os.PathLike, mask_threshold: float = 0.3,
                    overlay: np.ndarray | None = None) -> Path:
    """Write the 5-panel plot of one prediction as a ``5 * PANEL_PX`` x ``PANEL_PX`` JPEG.

    image_rgb: (H, W, 3) uint8 RGB, the image the input was cut from (``prediction.input_from_image``
    maps its pixels to the input's; the identity when it is the input). prediction: the
    image's :class:`SamplePrediction`. faces: (F, 3) int (mirrored winding for left hands).
    K: (3, 3) intrinsics of ``image_rgb`` in the prediction's camera frame.
    mask_threshold: silhouette probability shown as foreground. overlay: optional
    :func:`cmr.vis.overlay.render_overlay` of ``image_rgb`` (same size), to skip rendering again.
    Returns the written path.
    """
    mesh_view = None if overlay is None else fit_image(overlay)[0]
    image, shown_from_image = fit_image(image_rgb)
    K = shown_from_image @ np.asarray(K, dtype=np.float64)
    if mesh_view is None:
        mesh_view = render_overlay(image, prediction.vertices, faces, K)
    input_from_image = prediction.input_from_image @ np.linalg.inv(shown_from_image)
    uv = apply_affine(np.linalg.inv(input_from_image), prediction.uv)
    silhouette = silhouette_in_image(prediction.mask, input_from_image, image.shape[:2], mask_threshold)

    figure = Figure(figsize=(5 * PANEL_PX / DPI, PANEL_PX / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = [figure.add_axes((i / 5, 0.0, 1 / 5, 1.0), projection="3d" if i >= 3 else None) for i in range(5)]
    draw_silhouette(axes[0], image, silhouette)
    draw_pose_2d(axes[1], image, uv)
    _show_image(axes[2], mesh_view)
    _label(axes[2], "mesh projection")
    draw_mesh_3d(axes[3], prediction.vertices, np.asarray(faces), K, image.shape[:2])
    draw_skeleton_3d(axes[4], prediction.joints)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="jpeg", dpi=DPI, pil_kwargs={"quality": 90})
    return atomic_write_bytes(path, buffer.getvalue())
