"""Triangle-mesh PLY files, read and written through trimesh with the vertex order kept.

Vertices are float arrays (N, 3) in whatever unit the file uses (the project writes metres);
faces are int64 arrays (F, 3) of vertex indices, counter-clockwise seen from outside.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from cmr.fileio import atomic_write_bytes


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh.

    Returns:
        vertices: (N, 3) float64.
        faces: (F, 3) int64.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not a triangle mesh PLY.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PLY file not found: {path}")
    try:
        mesh = trimesh.load(path, file_type="ply", process=False, maintain_order=True)
    except Exception as error:  # trimesh raises many types for malformed files
        raise ValueError(f"{path}: not a readable PLY mesh ({error})") from error
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path}: expected a triangle mesh with faces, found none")
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def write_ply(
    path: str | os.PathLike,
    vertices: np.ndarray,
    faces: np.ndarray,
    vertex_colors: np.ndarray | None = None,
    ascii: bool = False,
) -> None:
    """Write a triangle mesh atomically (a temporary file, then a rename; no fsync).

    Args:
        vertices: (N, 3) float.
        faces: (F, 3) int, indices into ``vertices``.
        vertex_colors: optional (N, 3) or (N, 4) uint8 RGB(A).
        ascii: write an ASCII PLY instead of binary little-endian.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{path}: vertices must have shape (N, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{path}: faces must have shape (F, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"{path}: face indices must lie in [0, {len(vertices)})")
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=vertex_colors, process=False)
    data = trimesh.exchange.ply.export_ply(mesh, encoding="ascii" if ascii else "binary")
    atomic_write_bytes(path, data, fsync=False)
