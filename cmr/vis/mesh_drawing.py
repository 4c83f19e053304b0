"""Draw a shaded triangle mesh onto a matplotlib axes (painter's algorithm, no 3D toolkit).

Vertices are projected orthographically after a view rotation; faces are sorted back to front
and shaded with a Lambert term plus ambient light, which is enough to read a hand's shape.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection

from cmr.mesh.topology import face_normals


def rotation_from_euler(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """(3, 3) rotation: turn by ``yaw`` about +y, then tilt by ``pitch`` about +x (degrees)."""
    yaw, pitch = np.deg2rad([yaw_deg, pitch_deg])
    rot_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    return rot_x @ rot_y


def draw_mesh(
    ax: Axes,
    vertices: np.ndarray,
    faces: np.ndarray,
    view: np.ndarray | None = None,
    color: tuple[float, float, float] = (0.85, 0.66, 0.55),
    edges: bool = False,
) -> None:
    """Draw a mesh seen along -z of the view frame (x right, y up).

    Args:
        ax: target axes; its limits are set to the projected mesh with equal aspect.
        vertices: (N, 3) float, any unit.
        faces: (F, 3) int, counter-clockwise seen from outside.
        view: (3, 3) rotation applied to the vertices first (identity if None).
        color: base RGB in [0, 1].
        edges: draw the triangle edges too.
    """
    points = np.asarray(vertices, dtype=np.float64)
    if view is not None:
        points = points @ np.asarray(view).T
    triangles = points[np.asarray(faces)]                      # (F, 3, 3)
    normals = face_normals(points, faces)
    light = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
    lambert = np.abs(normals @ light)                          # two-sided for open meshes
    shade = 0.3 + 0.7 * lambert
    colors = np.clip(np.asarray(color)[None, :] * shade[:, None], 0, 1)
    order = np.argsort(triangles[:, :, 2].mean(axis=1))        # far (small z) first
    collection = PolyCollection(
        triangles[order, :, :2],
        facecolors=colors[order],
        edgecolors=(0, 0, 0, 0.35) if edges else "face",
        linewidths=0.3 if edges else 0.1,
    )
    ax.add_collection(collection)
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    margin = 0.05 * (high - low).max()
    ax.set_xlim(low[0] - margin, high[0] + margin)
    ax.set_ylim(low[1] - margin, high[1] + margin)
    ax.set_aspect("equal")
    ax.axis("off")
