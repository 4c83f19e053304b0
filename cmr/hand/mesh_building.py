"""Small helpers that stitch rings of vertices into triangle strips and caps.

Every ring is a 1-D integer array of vertex ids in cyclic order. The convention that keeps the
whole hand consistently oriented: a ring runs from its first frame axis ``e1`` toward its
second ``e2`` with ``e1 x e2 = -d`` where ``d`` points from a ring to the next ring of the
same tube. With this convention ``stitch_rings(lower, upper)`` emits outward-facing
triangles.
"""

from __future__ import annotations

import numpy as np


def stitch_rings(lower: np.ndarray, upper: np.ndarray, positions: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangulate the band between two cyclic rings of any sizes (greedy shortest diagonal).

    Args:
        lower: (m,) vertex ids of the ring nearer the tube's start; ``lower[0]`` and
            ``upper[0]`` must lie roughly opposite each other.
        upper: (n,) vertex ids of the next ring.
        positions: (V, 3) vertex positions used only to pick diagonals, metres.
    Returns:
        m + n triangles (vertex id triples), outward oriented under the module's convention.
    """
    lower = np.asarray(lower)
    upper = np.asarray(upper)
    m, n = len(lower), len(upper)
    i = j = 0
    triangles = []
    while i < m or j < n:
        a0, a1 = lower[i % m], lower[(i + 1) % m]
        b0, b1 = upper[j % n], upper[(j + 1) % n]
        if j == n:
            advance_lower = True
        elif i == m:
            advance_lower = False
        else:
            advance_lower = np.linalg.norm(positions[a1] - positions[b0]) < np.linalg.norm(
                positions[a0] - positions[b1]
            )
        if advance_lower:
            triangles.append((int(a0), int(b0), int(a1)))
            i += 1
        else:
            triangles.append((int(a0), int(b0), int(b1)))
            j += 1
    return triangles


def cap_ring(ring: np.ndarray, apex: int) -> list[tuple[int, int, int]]:
    """Close a ring with a fan of triangles around ``apex`` (the next "ring" of one vertex)."""
    ring = np.asarray(ring)
    return [(int(ring[k]), int(apex), int(ring[(k + 1) % len(ring)])) for k in range(len(ring))]


def ellipse_ring(
    centre: np.ndarray, e1: np.ndarray, e2: np.ndarray, radius1: float, radius2: float, count: int, phase: float = 0.0
) -> np.ndarray:
    """(count, 3) points ``centre + r1 cos(t) e1 + r2 sin(t) e2``, t = phase + 2 pi k / count."""
    angles = phase + 2.0 * np.pi * np.arange(count) / count
    return centre + radius1 * np.cos(angles)[:, None] * e1 + radius2 * np.sin(angles)[:, None] * e2
