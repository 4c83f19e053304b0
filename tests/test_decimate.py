"""Tests for the exact closest-point query and the COMA-style mesh pyramid."""

import math

import numpy as np
import pytest
import trimesh

from cmr.mesh.closest_point import closest_points_on_triangles
from cmr.mesh.decimate import build_pyramid, down_matrix, quadric_decimate, upsample_matrix
from cmr.mesh.exact import combine3, cross3, dot3, quadric_form, sum_rows_in_order
from cmr.mesh.template import load_transform_pkl

HAND_COUNTS = [778, 389, 195, 98, 49]


def _random_triangles(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3, 3) random well-shaped triangles in the unit cube."""
    return rng.uniform(-1.0, 1.0, size=(count, 3, 3))


def _dense_samples(tri: np.ndarray, resolution: int = 120) -> np.ndarray:
    """(S, 3) points of a regular barycentric grid over one triangle (3, 3), corners included."""
    i, j = np.meshgrid(np.arange(resolution + 1), np.arange(resolution + 1), indexing="ij")
    keep = i + j <= resolution
    u, v = i[keep] / resolution, j[keep] / resolution
    weights = np.stack([1.0 - u - v, u, v], axis=1)
    return weights @ tri


def _brute_force_distance(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(P,) upper bound on the distance from each point to the triangles, by dense sampling."""
    samples = np.concatenate([_dense_samples(tri) for tri in tris])
    return np.array([np.linalg.norm(samples - p, axis=1).min() for p in points])


def _region_points(tri: np.ndarray) -> dict[str, np.ndarray]:
    """Query points whose nearest point on ``tri`` lies at a corner, on an edge or inside."""
    a, b, c = tri
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal)
    inside = np.array([0.2, 0.3, 0.5]) @ tri + 0.3 * normal
    edge_mid = 0.5 * (a + b)
    edge_out = np.cross(b - a, normal)
    edge_out *= np.sign(np.dot(edge_out, edge_mid - c)) / np.linalg.norm(edge_out)
    on_edge = 0.6 * a + 0.4 * b + 0.2 * edge_out + 0.1 * normal
    away = -((b - a) / np.linalg.norm(b - a) + (c - a) / np.linalg.norm(c - a))  # (p - a).ab, (p - a).ac < 0
    corner = a + 0.5 * away - 0.2 * normal
    return {"corner": corner, "edge": on_edge, "interior": inside}


def test_fixed_order_helpers_match_numpy_and_keep_their_order():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 50, 3))
    np.testing.assert_allclose(dot3(x, y), np.einsum("nk,nk->n", x, y), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(cross3(x, y), np.cross(x, y), rtol=1e-14, atol=1e-15)
    weights, corners = rng.normal(size=(50, 3)), rng.normal(size=(50, 3, 4))
    np.testing.assert_allclose(combine3(weights, corners), np.einsum("nk,nkd->nd", weights, corners), atol=1e-14)
    quadrics, points = rng.normal(size=(50, 4, 4)), rng.normal(size=(50, 4))
    expected = np.einsum("ni,nij,nj->n", points, quadrics, points)
    np.testing.assert_allclose(quadric_form(quadrics, points), expected, rtol=1e-12, atol=1e-13)
    # Rows are added in their order: (0 + 1e16) + 1 loses the 1, then -1e16 cancels exactly.
    values = np.array([1e16, 5.0, 1.0, -1e16])
    assert sum_rows_in_order(values, np.array([0, 1, 0, 0]), 3).tolist() == [0.0, 5.0, 0.0]


def test_closest_point_regions_match_dense_sampling():
    rng = np.random.default_rng(0)
    tris = _random_triangles(rng, 12)
    for tri in tris:
        regions = _region_points(tri)
        points = np.stack(list(regions.values()))
        face, closest, bary = closest_points_on_triangles(points, tri[None])
        assert np.array_equal(face, np.zeros(3, dtype=np.int64))
        distance = np.linalg.norm(closest - points, axis=1)
        sampled = _brute_force_distance(points, tri[None])
        assert np.all(distance <= sampled + 1e-12)
        assert np.all(distance >= sampled - 2e-2)  # grid spacing bounds the sampling error
        zeros = (bary == 0.0).sum(axis=1)
        assert list(zeros) == [2, 1, 0]  # corner, edge, interior
        assert np.allclose(bary[2], [0.2, 0.3, 0.5])


def test_closest_point_many_triangles_against_references():
    rng = np.random.default_rng(1)
    tris = _random_triangles(rng, 15)
    points = rng.uniform(-1.5, 1.5, size=(200, 3))
    face, closest, bary = closest_points_on_triangles(points, tris)
    assert not np.isnan(closest).any()
    assert np.all(bary >= 0.0) and np.allclose(bary.sum(axis=1), 1.0)
    assert np.allclose(np.einsum("pk,pkd->pd", bary, tris[face]), closest, atol=1e-12)
    # Independent exact reference: trimesh's per-pair closest point, minimised over triangles.
    pair_tris = np.tile(tris, (len(points), 1, 1))
    pair_points = np.repeat(points, len(tris), axis=0)
    reference = trimesh.triangles.closest_point(pair_tris, pair_points).reshape(len(points), len(tris), 3)
    reference_distance = np.linalg.norm(reference - points[:, None], axis=2).min(axis=1)
    distance = np.linalg.norm(closest - points, axis=1)
    assert np.allclose(distance, reference_distance, atol=1e-12)
    sampled = _brute_force_distance(points[:20], tris)
    assert np.all(distance[:20] <= sampled + 1e-12)


def test_closest_point_against_scipy_minimize():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(2)
    tri = _random_triangles(rng, 1)[0]
    points = rng.uniform(-1.5, 1.5, size=(10, 3))
    _, closest, _ = closest_points_on_triangles(points, tri[None])
    for point, ours in zip(points, closest):
        def squared_distance(st, point=point):
            q = tri[0] + st[0] * (tri[1] - tri[0]) + st[1] * (tri[2] - tri[0])
            return float(np.sum((q - point) ** 2))

        constraints = [{"type": "ineq", "fun": lambda st: 1.0 - st[0] - st[1]}]
        result = scipy_optimize.minimize(
            squared_distance, x0=[1 / 3, 1 / 3], bounds=[(0, 1), (0, 1)], constraints=constraints,
            method="SLSQP", options={"ftol": 1e-14},
        )
        assert np.sum((ours - point) ** 2) <= result.fun + 1e-10


def test_closest_point_degenerate_triangles_and_ties():
    segment = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # collinear
    repeated = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # two equal corners
    single = np.array([[1.0, 1.0, 1.0]] * 3)  # a point
    points = np.array([[1.5, 1.0, 0.0], [-1.0, 1.0, 0.0], [3.0, 0.0, 0.0], [0.5, 1.0, 3.0]])
    for tri in (segment, repeated, single):
        _, closest, bary = closest_points_on_triangles(points, tri[None])
        assert np.isfinite(closest).all() and np.isfinite(bary).all()
        assert np.allclose(bary.sum(axis=1), 1.0) and np.all(bary >= 0.0)
        sampled = _brute_force_distance(points, tri[None])
        assert np.allclose(np.linalg.norm(closest - points, axis=1), sampled, atol=2e-2)
    _, closest, _ = closest_points_on_triangles(points[:1], segment[None])
    assert np.allclose(closest, [[1.5, 0.0, 0.0]])
    # Identical triangles: the tie goes to the lowest index.
    tri = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    face, _, _ = closest_points_on_triangles(np.array([[0.2, 0.2, 1.0]]), np.stack([segment, tri, tri]))
    assert face.tolist() == [1]


def _load_release(folder):
    release = load_transform_pkl(folder / "transform.pkl")
    mesh = trimesh.load(folder / "template.ply", process=False)
    return release, np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _check_sampling_matrices(pyramid) -> None:
    """Checks on a ``build_pyramid`` result (vertices, faces, down, up)."""
    vertices, faces, downs, ups = pyramid
    for level, (down, up) in enumerate(zip(downs, ups)):
        fine, coarse = vertices[level], vertices[level + 1]
        assert down.shape == (len(coarse), len(fine))
        assert np.array_equal(np.diff(down.indptr), np.ones(len(coarse)))
        assert np.all(down.data == 1.0) and np.all(np.diff(down.indices) > 0)
        assert np.array_equal(down @ fine, coarse)
        assert faces[level + 1].max() + 1 == len(coarse)
        assert up.shape == (len(fine), len(coarse)) and up.nnz == 3 * len(fine)
        assert np.array_equal(np.diff(up.indptr), np.full(len(fine), 3))
        assert np.all(np.diff(up.indices.reshape(-1, 3), axis=1) > 0)
        assert np.all(up.data >= -1.0) and np.allclose(np.asarray(up.sum(axis=1)).ravel(), 1.0)
        identity = up[down.indices]
        assert np.array_equal(identity.toarray(), np.eye(len(coarse)))  # surviving vertices are copied
        coarse_faces = faces[level + 1]
        first_face = [np.flatnonzero((coarse_faces == vertex).any(axis=1))[0] for vertex in range(len(coarse))]
        assert np.array_equal(identity.indices.reshape(-1, 3), np.sort(coarse_faces[first_face], axis=1))
        # Up-sampling is at least as close as each fine vertex's nearest point on the coarse surface.
        triangles = coarse[coarse_faces]
        nearest = trimesh.triangles.closest_point(
            np.tile(triangles, (len(fine), 1, 1)), np.repeat(fine, len(triangles), axis=0)
        ).reshape(len(fine), len(triangles), 3)
        surface_distance = np.linalg.norm(nearest - fine[:, None], axis=2).min(axis=1)
        assert np.all(np.linalg.norm(up @ coarse - fine, axis=1) <= surface_distance + 1e-9)


def _orientation_agreement(fine_vertices, fine_faces, coarse_vertices, coarse_faces) -> float:
    """Area-weighted fraction of coarse faces whose normal agrees with the nearest fine face's."""
    coarse = trimesh.Trimesh(coarse_vertices, coarse_faces, process=False)
    fine = trimesh.Trimesh(fine_vertices, fine_faces, process=False)
    nearest_face, _, _ = closest_points_on_triangles(coarse.triangles_center, fine.triangles)
    agree = np.einsum("fk,fk->f", coarse.face_normals, fine.face_normals[nearest_face]) > 0.0
    return float(np.sum(coarse.area_faces * agree) / coarse.area)


def _assert_same_pyramid(first, second) -> None:
    """Two ``build_pyramid`` results are identical, float bits included."""
    for arrays_a, arrays_b in zip(first[:2], second[:2]):
        for x, y in zip(arrays_a, arrays_b):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    for x, y in zip(first[2] + first[3], second[2] + second[3]):
        assert np.array_equal(x.indptr, y.indptr) and np.array_equal(x.indices, y.indices)
        assert x.data.tobytes() == y.data.tobytes()


def _same_triangles(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two (F, 3) face arrays hold the same oriented triangles, in any order and rotation."""
    def canonical(faces: np.ndarray) -> set[tuple[int, int, int]]:
        return {tuple(np.roll(face, -int(np.argmin(face)))) for face in faces.tolist()}

    return first.shape == second.shape and canonical(first) == canonical(second)


def test_pyramid_on_generated_capsule():
    mesh = trimesh.creation.capsule(height=1.0, radius=0.3, count=[16, 16])
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    pyramid = build_pyramid(vertices, faces)
    levels, level_faces = pyramid[0], pyramid[1]
    counts = [len(v) for v in levels]
    expected = [len(vertices)]
    for _ in range(4):
        expected.append(math.ceil(expected[-1] / 2))
    assert counts == expected
    _check_sampling_matrices(pyramid)
    _assert_same_pyramid(pyramid, build_pyramid(vertices, faces))
    for level in range(1, 5):
        coarse = trimesh.Trimesh(levels[level], level_faces[level], process=False)
        assert coarse.is_watertight and coarse.is_winding_consistent and coarse.volume > 0.0
        assert _orientation_agreement(vertices, faces, levels[level], level_faces[level]) > 0.99


def test_quadric_decimate_keeps_positions_and_orientation():
    mesh = trimesh.creation.icosphere(subdivisions=2)
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    kept, coarse_faces = quadric_decimate(vertices, faces, 81)
    assert kept.dtype == np.int64 and coarse_faces.dtype == np.int64
    assert len(kept) == 81 and np.all(np.diff(kept) > 0)
    assert np.array_equal(np.unique(coarse_faces), np.arange(81))
    coarse = trimesh.Trimesh(vertices[kept], coarse_faces, process=False)
    assert coarse.is_watertight and coarse.volume > 0.0
    down = down_matrix(kept, len(vertices))
    assert np.array_equal(down @ vertices, vertices[kept])
    up = upsample_matrix(vertices, vertices[kept], coarse_faces)
    moved = np.array([0.3, -2.0, 5.0])
    assert np.allclose(up @ (vertices[kept] + moved), up @ vertices[kept] + moved)  # affine rows
    with pytest.raises(ValueError):
        quadric_decimate(vertices, faces, 0)


def _reconstruction_error(up, coarse, fine, origin) -> tuple[float, float]:
    """(mean, max) per-vertex error |U (coarse - origin) - (fine - origin)| in millimetres."""
    error = np.linalg.norm(up @ (coarse - origin) - (fine - origin), axis=1) * 1000.0
    return float(error.mean()), float(error.max())


def test_hand_template_pyramid_against_release(cmr_release_dir, capsys):
    release, vertices, faces = _load_release(cmr_release_dir)
    pyramid = build_pyramid(vertices, faces)
    levels, level_faces, downs, ups = pyramid
    assert [len(v) for v in levels] == HAND_COUNTS
    assert [len(f) for f in level_faces] == [len(f) for f in release["face"]]
    for level in range(1, 5):  # the same coarse triangles as CMR's released template
        assert _same_triangles(level_faces[level], release["face"][level]), level
    _check_sampling_matrices(pyramid)
    _assert_same_pyramid(pyramid, build_pyramid(vertices, faces))

    ours_kept, released_kept = np.arange(len(vertices)), np.arange(len(vertices))
    centre = vertices.mean(axis=0)
    lines = []
    for level in range(4):
        ours_kept = ours_kept[downs[level].indices]
        released_kept = released_kept[release["down_transform"][level].tocsr().indices]
        overlap = len(np.intersect1d(ours_kept, released_kept)) / len(released_kept)
        assert overlap >= 0.95
        released_up = release["up_transform"][level].tocsr().astype(np.float64)
        fine, coarse = release["vertices"][level], release["vertices"][level + 1]
        ours = _reconstruction_error(ups[level], levels[level + 1], levels[level], 0.0)
        theirs = _reconstruction_error(released_up, coarse, fine, 0.0)
        ours_centred = _reconstruction_error(ups[level], levels[level + 1], levels[level], centre)
        theirs_centred = _reconstruction_error(released_up, coarse, fine, centre)
        # The released rows are not affine (edge weights were fitted by linear least squares
        # through the coordinate origin), so their error depends on where the origin is; ours
        # does not. Ours is no worse in the released camera frame and about the centroid.
        assert ours[0] <= theirs[0] and ours_centred[0] <= theirs_centred[0]
        assert np.allclose(ours, ours_centred, atol=1e-9)
        assert _orientation_agreement(vertices, faces, levels[level + 1], level_faces[level + 1]) > 0.95
        lines.append(
            f"level {level}: kept overlap {overlap:.3f}; error mm (mean/max) ours {ours[0]:.4f}/{ours[1]:.3f}, "
            f"released {theirs[0]:.4f}/{theirs[1]:.3f}, released about centroid "
            f"{theirs_centred[0]:.4f}/{theirs_centred[1]:.3f}"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
