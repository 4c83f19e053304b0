"""Exact nearest points on a triangle soup, vectorised with numpy.

For every query point and every triangle the closest point on that triangle is found with
Ericson's Voronoi-region test (Real-Time Collision Detection, section 5.1.5): the point is
classified as nearest to a corner, to an edge or to the interior, and the matching
barycentric coordinates are written down directly. Triangles whose area vanishes (repeated
or collinear corners) are handled as the union of their three edges, so no division by zero
and no NaN can occur. The nearest triangle per point is the one with the smallest squared
distance; exact ties go to the lowest triangle index. All arithmetic is element-wise in a
fixed order (:mod:`cmr.mesh.exact`), so the results are the same bits on every machine.

Units are whatever the inputs use (the project's meshes are in metres).
"""

import numpy as np

from cmr.mesh.exact import combine3, cross3, dot3

#: Upper bound on point x triangle pairs evaluated at once (bounds temporary memory).
MAX_PAIRS_PER_CHUNK = 1 << 19
#: A triangle counts as degenerate when |ab x ac|^2 <= this * |ab|^2 * |ac|^2 (sin^2 of its angle at a).
DEGENERATE_SIN2 = 1e-20


def _segment_barycentric(ap: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Parameter t in [0, 1] of the point of segment a + t*ab nearest to a + ap.

    ap, ab: (..., 3). Returns (...). A zero-length segment gives t = 0.
    """
    length2 = dot3(ab, ab)
    safe = np.where(length2 > 0.0, length2, 1.0)
    return np.where(length2 > 0.0, np.clip(dot3(ap, ab) / safe, 0.0, 1.0), 0.0)


def _degenerate_barycentric(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of the nearest point on the three edges of each triangle.

    p, a, b, c: broadcastable (..., 3). Returns (..., 3), nonnegative, rows summing to 1.
    Exact for zero-area triangles, which are the union of their edges.
    """
    t_ab = _segment_barycentric(p - a, b - a)
    t_bc = _segment_barycentric(p - b, c - b)
    t_ca = _segment_barycentric(p - c, a - c)
    zero = np.zeros_like(t_ab)
    candidates = np.stack(
        [
            np.stack([1.0 - t_ab, t_ab, zero], axis=-1),
            np.stack([zero, 1.0 - t_bc, t_bc], axis=-1),
            np.stack([t_ca, zero, 1.0 - t_ca], axis=-1),
        ],
        axis=-2,
    )  # (..., 3 candidates, 3 weights)
    corners = np.stack(np.broadcast_arrays(a, b, c), axis=-2)  # (..., 3, 3)
    points = combine3(candidates, corners[..., None, :, :])  # (..., 3 candidates, 3)
    dist2 = dot3(points - p[..., None, :], points - p[..., None, :])
    best = np.argmin(dist2, axis=-1)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]


def _ericson_barycentric(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of the nearest point on non-degenerate triangles.

    p: (P, 1, 3) query points; a, b, c: (1, F, 3) triangle corners. Returns (P, F, 3),
    nonnegative weights summing to 1 (corner, edge or interior region as appropriate).
    """
    ab, ac = b - a, c - a
    ap, bp, cp = p - a, p - b, p - c
    d1, d2 = dot3(ab, ap), dot3(ac, ap)
    d3, d4 = dot3(ab, bp), dot3(ac, bp)
    d5, d6 = dot3(ab, cp), dot3(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        safe = np.where(den > 0.0, den, 1.0)
        return np.where(den > 0.0, np.clip(num / safe, 0.0, 1.0), 0.0)

    t_ab = ratio(d1, d1 - d3)
    t_ac = ratio(d2, d2 - d6)
    t_bc = ratio(d4 - d3, (d4 - d3) + (d5 - d6))
    interior = np.stack([va, vb, vc], axis=-1).clip(min=0.0)
    interior_sum = (interior[..., 0] + interior[..., 1] + interior[..., 2])[..., None]
    interior = np.where(interior_sum > 0.0, interior / np.where(interior_sum > 0.0, interior_sum, 1.0), 1.0 / 3.0)

    one, zero = np.ones_like(d1), np.zeros_like(d1)
    # Regions in Ericson's order; the first matching condition wins.
    conditions = [
        (d1 <= 0.0) & (d2 <= 0.0),
        (d3 >= 0.0) & (d4 <= d3),
        (vc <= 0.0) & (d1 >= 0.0) & (d3 <= 0.0),
        (d6 >= 0.0) & (d5 <= d6),
        (vb <= 0.0) & (d2 >= 0.0) & (d6 <= 0.0),
        (va <= 0.0) & (d4 - d3 >= 0.0) & (d5 - d6 >= 0.0),
    ]
    choices = [
        np.stack([one, zero, zero], axis=-1),
        np.stack([zero, one, zero], axis=-1),
        np.stack([1.0 - t_ab, t_ab, zero], axis=-1),
        np.stack([zero, zero, one], axis=-1),
        np.stack([1.0 - t_ac, zero, t_ac], axis=-1),
        np.stack([zero, 1.0 - t_bc, t_bc], axis=-1),
    ]
    result = interior
    for condition, choice in zip(reversed(conditions), reversed(choices)):
        result = np.where(condition[..., None], choice, result)
    return result


def closest_points_on_triangles(
    points: np.ndarray, tri_vertices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest point on a set of triangles for each query point.

    Args:
        points: (P, 3) float query points.
        tri_vertices: (F, 3, 3) float triangle corners, ``tri_vertices[f, k]`` is corner k of f.

    Returns:
        face_index: (P,) int64, the nearest triangle (lowest index on exact ties).
        closest: (P, 3) float64, the nearest point, equal to ``barycentric @ tri_vertices[face_index]``.
        barycentric: (P, 3) float64, nonnegative weights of the three corners, summing to 1.
    """
    points = np.asarray(points, dtype=np.float64)
    tris = np.asarray(tri_vertices, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (P, 3), got {points.shape}")
    if tris.ndim != 3 or tris.shape[1:] != (3, 3) or len(tris) == 0:
        raise ValueError(f"tri_vertices must be (F, 3, 3) with F > 0, got {tris.shape}")

    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    ab, ac = b - a, c - a
    cross = cross3(ab, ac)
    degenerate = dot3(cross, cross) <= DEGENERATE_SIN2 * dot3(ab, ab) * dot3(ac, ac)
    regular = ~degenerate

    num_points = len(points)
    face_index = np.zeros(num_points, dtype=np.int64)
    barycentric = np.zeros((num_points, 3), dtype=np.float64)
    chunk = max(1, MAX_PAIRS_PER_CHUNK // len(tris))
    for start in range(0, num_points, chunk):
        p = points[start : start + chunk, None, :]  # (C, 1, 3)
        weights = np.empty((len(p), len(tris), 3), dtype=np.float64)
        if regular.any():
            weights[:, regular] = _ericson_barycentric(p, a[None, regular], b[None, regular], c[None, regular])
        if degenerate.any():
            weights[:, degenerate] = _degenerate_barycentric(
                p, a[None, degenerate], b[None, degenerate], c[None, degenerate]
            )
        nearest = combine3(weights, tris[None])  # (C, F, 3)
        offset = nearest - p
        best = np.argmin(dot3(offset, offset), axis=1)  # first minimum = lowest face index
        face_index[start : start + chunk] = best
        barycentric[start : start + chunk] = weights[np.arange(len(p)), best]
    closest = combine3(barycentric, tris[face_index])
    return face_index, closest, barycentric
