"""COMA-style quadric decimation and the sampling matrices of CMR's mesh pyramid.

CMR's mesh decoder works on a pyramid of the 778-vertex hand mesh (778 -> 389 -> 195 -> 98
-> 49 vertices). Like COMA's ``mesh_sampling.py`` each coarser level keeps a subset of the
finer level's vertices, unmoved: an edge collapse merges one endpoint into the other, which
keeps its position. The costs are Garland-Heckbert plane quadrics. Unlike COMA, the
up-sampling weights are always the barycentric coordinates of the nearest point on the coarse
surface, so every row of an up-sampling matrix is an affine combination.

Every float computation is element-wise in a fixed order (:mod:`cmr.mesh.exact`; no BLAS,
``matmul``, ``einsum`` or SIMD reductions on float data) and every tie is broken by index, so
the same input gives the same bits on any machine.

Units are those of the input vertices (metres for the hand template).
"""

import heapq
import math

import numpy as np
import scipy.sparse as sp

from cmr.mesh.closest_point import closest_points_on_triangles
from cmr.mesh.exact import combine3, cross3, dot3, quadric_form, sum_rows_in_order
from cmr.mesh.topology import unique_edges


def face_plane_quadrics(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-vertex error quadrics: the sum over incident faces of p p^T.

    Args:
        vertices: (N, 3) float vertex positions.
        faces: (F, 3) int vertex indices.

    Returns:
        (N, 4, 4) float64; p = [a, b, c, d] is a face's plane a x + b y + c z + d = 0 with unit
        normal (a, b, c). Zero-area faces have no plane and contribute nothing. A vertex's
        quadrics are added in a fixed order: faces where it is corner 0 (by face index), then
        corner 1, then corner 2.
    """
    corners = vertices[faces]  # (F, 3, 3)
    normals = cross3(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    lengths = np.sqrt(dot3(normals, normals))
    has_plane = lengths > 0.0
    unit = np.zeros_like(normals)
    unit[has_plane] = normals[has_plane] / lengths[has_plane, None]
    planes = np.concatenate([unit, -dot3(unit, corners[:, 0])[:, None]], axis=1)
    face_quadrics = planes[:, :, None] * planes[:, None, :]  # (F, 4, 4)
    return sum_rows_in_order(np.tile(face_quadrics, (3, 1, 1)), faces.T.reshape(-1), len(vertices))


class _CollapseState:
    """Mutable mesh connectivity during decimation (faces, vertex->face sets, quadrics)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.homogeneous = np.concatenate([vertices, np.ones((len(vertices), 1))], axis=1)  # (N, 4)
        self.quadrics = face_plane_quadrics(vertices, faces)
        self.faces = [list(face) for face in faces.tolist()]
        self.face_alive = [len(set(face)) == 3 for face in self.faces]
        self.vertex_faces: list[set[int]] = [set() for _ in range(len(vertices))]
        for index, face in enumerate(self.faces):
            if self.face_alive[index]:
                for vertex in face:
                    self.vertex_faces[vertex].add(index)
        self.num_referenced = sum(1 for incident in self.vertex_faces if incident)
        self.merged_into = list(range(len(vertices)))

    def representative(self, vertex: int) -> int:
        """The surviving vertex that ``vertex`` has been merged into (itself if still alive)."""
        root = vertex
        while self.merged_into[root] != root:
            root = self.merged_into[root]
        while self.merged_into[vertex] != root:
            self.merged_into[vertex], vertex = root, self.merged_into[vertex]
        return root

    def collapse_cost(self, r: int, c: int) -> tuple[float, float, np.ndarray]:
        """Cost of merging c into r, of merging r into c, and the summed quadric (4, 4)."""
        q_sum = self.quadrics[r] + self.quadrics[c]
        p_r, p_c = self.homogeneous[r], self.homogeneous[c]
        return float(quadric_form(q_sum, p_r)), float(quadric_form(q_sum, p_c)), q_sum

    def initial_costs(self, edges: np.ndarray) -> list[float]:
        """min of the two collapse costs of every edge (E, 2), as :meth:`collapse_cost` gives them."""
        r, c = edges[:, 0], edges[:, 1]
        q_sum = self.quadrics[r] + self.quadrics[c]
        costs = np.minimum(quadric_form(q_sum, self.homogeneous[r]), quadric_form(q_sum, self.homogeneous[c]))
        return costs.tolist()

    def neighbours(self, vertex: int) -> set[int]:
        """Vertices sharing a live face with ``vertex``."""
        found = {other for index in self.vertex_faces[vertex] for other in self.faces[index]}
        found.discard(vertex)
        return found

    def merge(self, removed: int, kept: int) -> None:
        """Replace ``removed`` by ``kept`` in every face and drop faces that degenerate."""
        self.merged_into[removed] = kept
        touched = {vertex for index in self.vertex_faces[removed] for vertex in self.faces[index]}
        referenced_before = sum(1 for vertex in touched if self.vertex_faces[vertex])
        for index in sorted(self.vertex_faces[removed]):
            face = self.faces[index]
            face[face.index(removed)] = kept
            if face.count(kept) > 1:
                self.face_alive[index] = False
                for vertex in face:
                    self.vertex_faces[vertex].discard(index)
            else:
                self.vertex_faces[kept].add(index)
        self.vertex_faces[removed] = set()
        referenced_after = sum(1 for vertex in touched if self.vertex_faces[vertex])
        self.num_referenced += referenced_after - referenced_before

    def live_faces(self) -> np.ndarray:
        """(F', 3) int64 of the faces still alive, in their original order."""
        alive = [face for face, ok in zip(self.faces, self.face_alive) if ok]
        return np.asarray(alive, dtype=np.int64).reshape(-1, 3)


def quadric_decimate(
    vertices: np.ndarray, faces: np.ndarray, num_target: int
) -> tuple[np.ndarray, np.ndarray]:
    """Decimate a triangle mesh by quadric-cost edge collapses onto existing vertices.

    Every edge (r < c) starts in a min-heap keyed by (cost, r, c) with cost =
    min(p_r^T Q p_r, p_c^T Q p_c), Q = Q_r + Q_c, p = [v, 1]. A popped edge is resolved to the
    current surviving endpoints; if its recomputed cost grew it is pushed back, otherwise the
    endpoint with the larger cost is merged into the other (positions never move), both quadrics
    become Q, faces are rewritten and degenerate faces dropped. Collapsing stops once at most
    ``num_target`` vertices are referenced by faces. Exact ties go to the smaller (r, c), and a tie
    between the two endpoints of an edge keeps c. Costs are computed in a fixed
    element-wise order (:mod:`cmr.mesh.exact`), so the result is the same on every machine.
    Unlike COMA, a popped pair whose endpoints no longer share a face is skipped.

    Args:
        vertices: (N, 3) float vertex positions.
        faces: (F, 3) int vertex indices.
        num_target: number of vertices to keep.

    Returns:
        kept: (M,) int64 ascending indices of the kept input vertices (M <= num_target).
        faces: (F', 3) int64 faces indexing ``kept``, corner order (orientation) preserved.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if num_target < 1:
        raise ValueError(f"num_target must be positive, got {num_target}")
    state = _CollapseState(vertices, faces)

    edges = unique_edges(faces)
    heap = [(cost, r, c) for cost, (r, c) in zip(state.initial_costs(edges), edges.tolist())]
    heapq.heapify(heap)

    while state.num_referenced > num_target:
        if not heap:
            raise ValueError(f"cannot reach {num_target} vertices, stopped at {state.num_referenced}")
        old_cost, r, c = heapq.heappop(heap)
        r, c = sorted((state.representative(r), state.representative(c)))
        if r == c or c not in state.neighbours(r):
            continue
        cost_keep_r, cost_keep_c, q_sum = state.collapse_cost(r, c)
        cost = min(cost_keep_r, cost_keep_c)
        if cost > old_cost:
            heapq.heappush(heap, (cost, r, c))
            continue
        removed, kept = (c, r) if cost_keep_r < cost_keep_c else (r, c)
        state.quadrics[r] = q_sum
        state.quadrics[c] = q_sum
        state.merge(removed, kept)

    coarse_faces = state.live_faces()
    kept_vertices = np.unique(coarse_faces)
    new_index = np.full(len(vertices), -1, dtype=np.int64)
    new_index[kept_vertices] = np.arange(len(kept_vertices))
    return kept_vertices, new_index[coarse_faces]


def down_matrix(kept: np.ndarray, num_vertices: int) -> sp.csr_matrix:
    """0/1 selection matrix (M, N) with ``(D @ V)[i] = V[kept[i]]`` for V of shape (N, 3)."""
    kept = np.asarray(kept, dtype=np.int64)
    rows = np.arange(len(kept) + 1, dtype=np.int64)
    return sp.csr_matrix((np.ones(len(kept)), kept, rows), shape=(len(kept), num_vertices))


def upsample_matrix(
    fine_vertices: np.ndarray,
    coarse_vertices: np.ndarray,
    coarse_faces: np.ndarray,
    min_weight: float = -1.0,
) -> sp.csr_matrix:
    """Affine up-sampling matrix (Nf, Nc) from a coarse mesh to the fine vertices.

    Each fine vertex is written as an affine combination (weights summing to 1) of the three
    corners of one coarse face. The face and weights are the better of two candidates:
    the barycentric coordinates of the vertex's nearest point on the coarse surface, and the
    orthogonal projection onto the plane of a face sharing a corner with that nearest face,
    when its weights stay >= ``min_weight`` (a bounded extrapolation, which follows curved
    surfaces better than clamping to the triangle). Rows are affine, so the matrix commutes
    with translations. A fine vertex that coincides with a coarse vertex gets weight 1 there
    and explicit zeros on the other two corners of the lowest-index coarse face containing it.
    Every row stores exactly 3 entries, columns ascending; explicit zeros are kept.

    Args:
        fine_vertices: (Nf, 3) float fine-level positions.
        coarse_vertices: (Nc, 3) float coarse-level positions (a subset of the fine ones).
        coarse_faces: (Fc, 3) int faces of the coarse mesh.
        min_weight: lowest weight allowed for the plane projection (0 disables it).

    Returns:
        scipy.sparse.csr_matrix (Nf, Nc) float64 with 3 * Nf stored entries.
    """
    fine_vertices = np.asarray(fine_vertices, dtype=np.float64)
    coarse_vertices = np.asarray(coarse_vertices, dtype=np.float64)
    coarse_faces = np.asarray(coarse_faces, dtype=np.int64)
    face_index, closest, weights = closest_points_on_triangles(fine_vertices, coarse_vertices[coarse_faces])
    columns = coarse_faces[face_index]  # (Nf, 3)
    offset = closest - fine_vertices
    _improve_by_plane_projection(
        fine_vertices, coarse_vertices, coarse_faces, face_index, dot3(offset, offset), columns, weights, min_weight
    )

    fine_of_coarse = _match_rows(coarse_vertices, fine_vertices)
    first_face = np.full(len(coarse_vertices), len(coarse_faces), dtype=np.int64)
    for k in range(3):
        np.minimum.at(first_face, coarse_faces[:, k], np.arange(len(coarse_faces)))
    identity_columns = coarse_faces[first_face]  # (Nc, 3), each row contains its coarse vertex
    columns[fine_of_coarse] = identity_columns
    weights[fine_of_coarse] = (identity_columns == np.arange(len(coarse_vertices))[:, None]).astype(np.float64)

    order = np.argsort(columns, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    weights = np.take_along_axis(weights, order, axis=1)
    indptr = np.arange(0, 3 * len(fine_vertices) + 1, 3, dtype=np.int64)
    return sp.csr_matrix(
        (weights.reshape(-1), columns.reshape(-1), indptr), shape=(len(fine_vertices), len(coarse_vertices))
    )


def _improve_by_plane_projection(
    fine_vertices: np.ndarray,
    coarse_vertices: np.ndarray,
    coarse_faces: np.ndarray,
    nearest_face: np.ndarray,
    nearest_distance2: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
    min_weight: float,
) -> None:
    """Replace rows of ``columns``/``weights`` (Nf, 3) in place by a closer plane projection.

    Candidates for fine vertex i are the coarse faces sharing a corner with ``nearest_face[i]``;
    a candidate counts when all its projection weights are >= ``min_weight``, and replaces the
    nearest point when its squared distance is below ``nearest_distance2[i]`` (m^2 for metres).
    Ties go to the lowest face index.
    """
    if min_weight >= 0.0:
        return
    num_faces = len(coarse_faces)
    incidence = sp.csr_matrix(
        (np.ones(3 * num_faces, dtype=np.int64), (np.repeat(np.arange(num_faces), 3), coarse_faces.reshape(-1))),
        shape=(num_faces, len(coarse_vertices)),
    )
    touching = (incidence @ incidence.T).tocsr()[nearest_face]  # (Nf, Fc) int: faces sharing a corner
    touching.sort_indices()
    point = np.repeat(np.arange(len(fine_vertices)), np.diff(touching.indptr))
    face = touching.indices
    corners = coarse_vertices[coarse_faces[face]]  # (pairs, 3, 3)
    plane_weights = _plane_barycentric(fine_vertices[point], corners)
    offset = combine3(plane_weights, corners) - fine_vertices[point]
    distance = dot3(offset, offset)  # squared
    allowed = (plane_weights >= min_weight).all(axis=1) & np.isfinite(distance)
    distance = np.where(allowed, distance, np.inf)
    order = np.lexsort((face, distance, point))  # by point, then distance, then face index
    first = order[np.unique(point[order], return_index=True)[1]]
    better = distance[first] < nearest_distance2[point[first]]
    rows, best = point[first][better], first[better]
    columns[rows] = coarse_faces[face[best]]
    weights[rows] = plane_weights[best]


def _plane_barycentric(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(P, 3) affine weights of each point's orthogonal projection onto its triangle's plane.

    Args:
        points: (P, 3). corners: (P, 3, 3) triangle corners. Degenerate triangles give NaN rows.
    """
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    offset = points - corners[:, 0]
    d11, d12, d22 = dot3(edge1, edge1), dot3(edge1, edge2), dot3(edge2, edge2)
    r1, r2 = dot3(offset, edge1), dot3(offset, edge2)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = d11 * d22 - d12 * d12
        v = (d22 * r1 - d12 * r2) / denominator
        w = (d11 * r2 - d12 * r1) / denominator
    return np.stack([1.0 - v - w, v, w], axis=1)


def _match_rows(coarse_vertices: np.ndarray, fine_vertices: np.ndarray) -> np.ndarray:
    """(Nc,) index of the fine vertex identical to each coarse vertex (lowest index on duplicates)."""
    merged = np.concatenate([fine_vertices, coarse_vertices])
    _, inverse = np.unique(merged, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    first_fine = np.full(inverse.max() + 1, -1, dtype=np.int64)
    first_fine[inverse[: len(fine_vertices)][::-1]] = np.arange(len(fine_vertices))[::-1]
    matched = first_fine[inverse[len(fine_vertices) :]]
    if (matched < 0).any():
        raise ValueError("every coarse vertex must also be a fine vertex")
    return matched


def build_pyramid(
    vertices: np.ndarray, faces: np.ndarray, factors: tuple[int, ...] = (2, 2, 2, 2)
) -> tuple[list[np.ndarray], list[np.ndarray], list[sp.csr_matrix], list[sp.csr_matrix]]:
    """Decimate level after level, keeping ceil(N_l / factor) vertices at each step.

    Args:
        vertices: (N, 3) float positions of the finest mesh.
        faces: (F, 3) int faces of the finest mesh.
        factors: one reduction factor per coarser level (L factors give L + 1 levels).

    Returns:
        vertices: L + 1 arrays (N_l, 3) float64, level 0 is the input mesh; coarser levels are
            subsets of the finer ones, unmoved.
        faces: L + 1 arrays (F_l, 3) int64.
        down: L csr matrices (N_{l+1}, N_l), 0/1 selection with vertices[l+1] = down[l] @ vertices[l].
        up: L csr matrices (N_l, N_{l+1}), affine rows (see :func:`upsample_matrix`).
    """
    all_vertices = [np.asarray(vertices, dtype=np.float64)]
    all_faces = [np.asarray(faces, dtype=np.int64)]
    downs: list[sp.csr_matrix] = []
    ups: list[sp.csr_matrix] = []
    for factor in factors:
        fine_vertices, fine_faces = all_vertices[-1], all_faces[-1]
        kept, coarse_faces = quadric_decimate(fine_vertices, fine_faces, math.ceil(len(fine_vertices) / factor))
        coarse_vertices = fine_vertices[kept]
        all_vertices.append(coarse_vertices)
        all_faces.append(coarse_faces)
        downs.append(down_matrix(kept, len(fine_vertices)))
        ups.append(upsample_matrix(fine_vertices, coarse_vertices, coarse_faces))
    return all_vertices, all_faces, downs, ups
