"""Quantities derived from a triangle mesh, computed in one place: edges, boundary and face normals."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Added to normal lengths before dividing, so degenerate faces give zero normals.
NORMAL_EPS = 1e-12


def unique_edges(faces: np.ndarray) -> np.ndarray:
    """(E, 2) int64 undirected edges of (F, 3) triangles, each as (low, high), sorted, unique;
    degenerate edges (a vertex with itself) are left out."""
    faces = np.asarray(faces, dtype=np.int64)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0)


def boundary_vertices(faces: np.ndarray) -> np.ndarray:
    """(K,) int64 sorted ids of the vertices on an edge used by one face only (open boundaries)."""
    faces = np.asarray(faces, dtype=np.int64)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[counts == 1])


def face_normals(vertices, faces, unit: bool = True):
    """Right-hand normals ``(v1 - v0) x (v2 - v0)`` of every face (outwards for counter-clockwise faces).

    vertices: (..., N, 3) NumPy array or torch tensor; faces: (F, 3) int.
    Returns (..., F, 3): unit normals (zero for degenerate faces) if ``unit``, else of length twice
    the face area. Differentiable for tensors.
    """
    if isinstance(vertices, Tensor):
        corners = vertices[..., torch.as_tensor(faces, dtype=torch.long, device=vertices.device), :]
        normals = torch.linalg.cross(corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :],
                                     dim=-1)
        return normals / (normals.norm(dim=-1, keepdim=True) + NORMAL_EPS) if unit else normals
    corners = np.asarray(vertices)[..., np.asarray(faces), :]
    normals = np.cross(corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :])
    return normals / (np.linalg.norm(normals, axis=-1, keepdims=True) + NORMAL_EPS) if unit else normals
