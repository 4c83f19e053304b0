"""Spiral sequences: CMR's fixed-length, ordered vertex neighbourhoods for spiral convolution.

Reproduces CMR's ``utils/generate_spiral_seq.py`` (inherited from SpiralNet++) without
OpenMesh: neighbour orders come from :mod:`cmr.mesh.halfedge`, which builds the same
half-edge connectivity as ``openmesh.TriMesh(vertices, faces)``, so the sequences equal the
ones CMR's released checkpoints were trained with.

For a vertex ``v0`` the spiral is ``v0``, its one-ring in circulator order, then ring after
ring (see :func:`_next_ring`) until ``length * dilation`` indices are collected; every
``dilation``-th one is kept. A vertex whose rings run out first (a small connected
component) falls back to its ``length * dilation`` nearest vertices in Euclidean distance
(nearest first, ties to the lower index; distances in a fixed element-wise order, so the
choice is the same on every machine).
"""

from __future__ import annotations

import numpy as np

from cmr.mesh.exact import dot3
from cmr.mesh.halfedge import vertex_rings


def spiral_indices(
    faces: np.ndarray, vertices: np.ndarray, length: int, dilation: int = 1
) -> np.ndarray:
    """Spiral sequence of every vertex.

    Args:
        faces: (F, 3) int triangle vertex indices (added in this order, as OpenMesh does).
        vertices: (N, 3) float vertex positions, used only for the nearest-vertex fallback.
        length: L, the number of indices per spiral.
        dilation: keep every ``dilation``-th index of a spiral of ``length * dilation``.

    Returns:
        (N, L) int64; row ``v`` starts with ``v``.

    Raises:
        ValueError: for bad arguments, non-manifold faces (see :mod:`cmr.mesh.halfedge`), or
            a fallback vertex when the mesh has fewer than ``length * dilation`` vertices.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (N, 3), got {vertices.shape}")
    if length < 1 or dilation < 1:
        raise ValueError(f"length and dilation must be positive, got {length}, {dilation}")
    span = length * dilation
    rings = vertex_rings(np.asarray(faces, dtype=np.int64), len(vertices))

    spirals = np.empty((len(vertices), span), dtype=np.int64)
    fallback = []
    for vertex in range(len(vertices)):
        spiral = _grow_spiral(rings, vertex, span)
        if spiral is None:
            fallback.append(vertex)
        else:
            spirals[vertex] = spiral[:span]
    if fallback:
        if span > len(vertices):
            raise ValueError(
                f"vertices {fallback[:5]} need the nearest-vertex fallback, but the mesh has "
                f"only {len(vertices)} vertices for spirals of {span}"
            )
        spirals[fallback] = _nearest_vertices(vertices, np.asarray(fallback, dtype=np.int64), span)
    return spirals[:, ::dilation]


def _nearest_vertices(vertices: np.ndarray, queries: np.ndarray, count: int) -> np.ndarray:
    """(Q, count) int64: the ``count`` vertices nearest to each of ``vertices[queries]`` (Q,).

    Nearest first by squared Euclidean distance; equal distances go to the lower index, so a
    query vertex comes first in its own row unless it has a lower-index duplicate.
    """
    offset = vertices[None, :, :] - vertices[queries][:, None, :]  # (Q, N, 3)
    order = np.argsort(dot3(offset, offset), axis=1, kind="stable")
    return order[:, :count].astype(np.int64)


def _grow_spiral(rings: list[list[int]], vertex: int, span: int) -> list[int] | None:
    """``vertex``, then its rings until at least ``span`` indices; None when they run out."""
    last_ring = rings[vertex]
    spiral = [vertex]
    next_ring = _next_ring(rings, last_ring, set(spiral))
    spiral += last_ring
    while next_ring and len(spiral) + len(next_ring) < span:
        last_ring = next_ring
        next_ring = _next_ring(rings, last_ring, set(spiral))
        spiral += last_ring
    if not next_ring:
        return None
    return spiral + next_ring


def _next_ring(rings: list[list[int]], last_ring: list[int], seen: set[int]) -> list[int]:
    """The ring of vertices just outside ``last_ring``, in CMR's order.

    For each vertex of ``last_ring`` in turn, its neighbours (circulator order) are scanned
    twice: first those after its first neighbour that lies in ``last_ring``, then from the
    start up to (not including) its first neighbour in ``last_ring``. A neighbour is taken
    when it is not in ``last_ring``, not in ``seen`` and not taken yet. With no neighbour in
    ``last_ring``, the first scan takes nothing and the second takes every new neighbour.
    """
    in_last = set(last_ring)
    taken: list[int] = []
    excluded = in_last | seen
    for centre in last_ring:
        ring = rings[centre]
        first_in_last = next((i for i, n in enumerate(ring) if n in in_last), len(ring))
        for neighbour in ring[first_in_last + 1 :] + ring[:first_in_last]:
            if neighbour not in excluded:
                taken.append(neighbour)
                excluded.add(neighbour)
    return taken
