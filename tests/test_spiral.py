"""Half-edge rings in OpenMesh's ``vv`` order and CMR's spiral sequences.

Expected rings and spirals on the small meshes were derived by hand from OpenMesh's
``add_face`` rules and confirmed with openmesh 1.2.1. The released-template hashes are those
of the spirals CMR's checkpoints were trained with.
"""

import hashlib

import numpy as np
import pytest

from cmr.mesh.halfedge import HalfedgeMesh, vertex_rings
from cmr.mesh.spiral import spiral_indices
from cmr.mesh.template import load_transform_pkl

TETRAHEDRON = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
OCTAHEDRON = np.array(
    [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
)
OCTAHEDRON_VERTICES = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64
)

# sha256 prefixes of the (N, L) int64 spirals built from transform.pkl's vertices[l], face[l].
RELEASED_SPIRAL_SHA256 = {
    27: ["0d75796009701420", "6e9a068fd0176c8e", "cb36e18addb3e16a", "8811ea0b3aab6cd2"],
    9: ["1e5a0cadeb154c8e", "96453e0548a629ea", "d1741fcae7b27004", "b4285466556b99f7"],
}


def _sha256_prefix(spirals: np.ndarray) -> str:
    data = np.ascontiguousarray(spirals, dtype=np.int64).tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.fixture(scope="module")
def released_transform(cmr_release_dir):
    transform = load_transform_pkl(cmr_release_dir / "transform.pkl")
    vertices = [np.asarray(v, dtype=np.float64) for v in transform["vertices"]]
    faces = [np.asarray(f, dtype=np.int64) for f in transform["face"]]
    return vertices, faces


@pytest.mark.parametrize("length", [27, 9])
@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_released_spirals_match_cmr(released_transform, length, level):
    vertices, faces = released_transform
    spirals = spiral_indices(faces[level], vertices[level], length)
    assert spirals.shape == (len(vertices[level]), length)
    assert spirals.dtype == np.int64
    assert all(len(set(row)) == length for row in spirals.tolist())
    assert _sha256_prefix(spirals) == RELEASED_SPIRAL_SHA256[length][level]


def test_released_spiral_first_row(released_transform):
    vertices, faces = released_transform
    spirals = spiral_indices(faces[0], vertices[0], 27)
    assert spirals[0].tolist() == [
        0, 27, 94, 61, 3, 2, 1, 26, 24, 68, 63, 60, 8, 9, 240,
        115, 113, 265, 25, 95, 67, 66, 69, 93, 62, 64, 12,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "faces, expected",
    [
        (TETRAHEDRON, [[3, 2, 1], [3, 0, 2], [1, 0, 3], [2, 0, 1]]),
        (
            OCTAHEDRON,
            [[3, 4, 2, 5], [5, 2, 4, 3], [5, 0, 4, 1], [5, 1, 4, 0], [3, 1, 2, 0], [0, 2, 1, 3]],
        ),
        # Open fan: a boundary vertex's ring starts at its outgoing boundary halfedge.
        ([[0, 1, 2], [0, 2, 3], [0, 3, 4]], [[4, 3, 2, 1], [0, 2], [1, 0, 3], [2, 0, 4], [3, 0]]),
        # The same fan with its middle face added last closes the gap at vertex 0.
        ([[0, 1, 2], [0, 3, 4], [0, 2, 3]], [[4, 3, 2, 1], [0, 2], [1, 0, 3], [2, 0, 4], [3, 0]]),
        # Bowtie: two fans meet at vertex 0, chained through their boundary halfedges.
        ([[0, 1, 2], [0, 3, 4]], [[2, 1, 4, 3], [0, 2], [1, 0], [0, 4], [3, 0]]),
        # The last face joins fans that are not adjacent around vertex 0: OpenMesh relinks
        # the fan between them into the remaining boundary gap.
        (
            [[0, 1, 2], [0, 3, 4], [0, 5, 6], [0, 4, 5]],
            [[2, 1, 6, 5, 4, 3], [0, 2], [1, 0], [0, 4], [3, 0, 5], [4, 0, 6], [5, 0]],
        ),
    ],
    ids=["tetrahedron", "octahedron", "fan", "fan-gap-closed", "bowtie", "relink"],
)
def test_vertex_rings_follow_openmesh_order(faces, expected):
    faces = np.asarray(faces)
    assert vertex_rings(faces, faces.max() + 1) == expected


def test_isolated_vertex_has_empty_ring():
    mesh = HalfedgeMesh.from_faces(TETRAHEDRON, 5)
    assert mesh.vertex_ring(4) == []
    assert mesh.vertex_ring(0) == [3, 2, 1]


@pytest.mark.parametrize(
    "faces, message",
    [
        ([[0, 1, 2], [1, 0, 3], [0, 1, 4]], "complex edge"),  # edge 0-1 in three faces
        ([[0, 1, 2], [0, 1, 3]], "complex edge"),  # neighbour with flipped orientation
        (TETRAHEDRON.tolist() + [[0, 4, 5]], "complex vertex"),  # vertex 0 already closed
        ([[3, 1, 4], [2, 0, 3], [4, 1, 3]], "re-linking"),  # would strand the fan at 3
        ([[0, 1, 1]], "repeats a vertex"),
        ([[0, 1, 7]], "must lie in"),
    ],
)
def test_non_manifold_input_raises(faces, message):
    with pytest.raises(ValueError, match=message):
        HalfedgeMesh.from_faces(np.asarray(faces), 6)


def test_octahedron_spirals():
    spirals = spiral_indices(OCTAHEDRON, OCTAHEDRON_VERTICES, 6)
    assert spirals.tolist() == [
        [0, 3, 4, 2, 5, 1],
        [1, 5, 2, 4, 3, 0],
        [2, 5, 0, 4, 1, 3],
        [3, 5, 1, 4, 0, 2],
        [4, 3, 1, 2, 0, 5],
        [5, 0, 2, 1, 3, 4],
    ]


def test_dilation_keeps_every_other_index_of_the_longer_spiral():
    dilated = spiral_indices(OCTAHEDRON, OCTAHEDRON_VERTICES, 3, dilation=2)
    assert dilated.tolist() == [[0, 4, 5], [1, 2, 3], [2, 0, 1], [3, 1, 0], [4, 1, 0], [5, 2, 3]]
    full = spiral_indices(OCTAHEDRON, OCTAHEDRON_VERTICES, 6)
    np.testing.assert_array_equal(dilated, full[:, ::2])


def test_short_components_fall_back_to_nearest_vertices():
    # A tetrahedron and a far triangle: neither has 5 vertices to spiral through.
    vertices = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3], [10, 0, 0], [10, 1.1, 0], [10, 0, 1.7]]
    )
    faces = np.concatenate([TETRAHEDRON, [[4, 5, 6]]])
    assert spiral_indices(faces, vertices, 5).tolist() == [
        [0, 1, 2, 3, 4],
        [1, 0, 2, 3, 4],
        [2, 0, 1, 3, 5],
        [3, 0, 1, 2, 6],
        [4, 5, 6, 1, 0],
        [5, 4, 6, 1, 2],
        [6, 4, 5, 1, 3],
    ]
    with pytest.raises(ValueError, match="fallback"):
        spiral_indices(faces, vertices, 8)
