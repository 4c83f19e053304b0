"""Synthetic hands' detail: nails, creases and palm lines where the anatomy puts them, gesture
poses, and a 3D forearm seated on the wrist opening."""

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cmr.data.synth_forearm import ARM_RINGS, forearm_vertices, tube_faces, wrist_ring
from cmr.data.synth_render import rasterize_chunk, render_context
from cmr.data.synth_scene import SceneParameters
from cmr.data.synth_skin import crease_darkening, detailed_albedo, locate_pixels, nail_weight, palm_lines
from cmr.hand.poses import ALL_POSE_KINDS, POSE_KINDS, local_angles, sample_poses, within_limits
from cmr.hand.skeleton import DIGIT_JOINTS


@pytest.fixture(scope="module")
def context():
    return render_context()


@pytest.fixture(scope="module")
def surface_skin(context):
    """20 random points on every face of the template."""
    rng = np.random.default_rng(0)
    corners = np.repeat(context.faces_np, 20, axis=0)
    weights = rng.dirichlet(np.ones(3), len(corners))
    return locate_pixels(context.anatomy, context.rest_vertices, context.rest_normals, corners, weights)


@pytest.fixture(scope="module")
def vertex_skin(context):
    """Every template vertex as a 'pixel' on its own corner."""
    ids = np.arange(len(context.rest_vertices))
    corners = np.stack([ids, ids, ids], axis=1)
    weights = np.tile([1.0, 0.0, 0.0], (len(ids), 1))
    return locate_pixels(context.anatomy, context.rest_vertices, context.rest_normals, corners, weights)


def test_nails_cover_the_back_of_every_fingertip_only(context, vertex_skin):
    rng = np.random.default_rng(0)
    nail, _ = nail_weight(rng, context.anatomy, vertex_skin)
    on_nail = nail > 0.5
    distal = {joints[-1] for joints in DIGIT_JOINTS.values()}
    assert set(np.unique(vertex_skin.owner[on_nail])) == distal  # every digit has a nail, nothing else does
    fingers = on_nail & ~np.isin(vertex_skin.owner, DIGIT_JOINTS["thumb"])
    assert np.all(vertex_skin.normals[fingers, 2] < 0.0)  # the palm faces +z: nails face the back
    assert np.all(vertex_skin.fraction[on_nail] > 0.3)  # on the outer part of the last segment


def test_creases_and_palm_lines_darken_the_palm_side(context, surface_skin):
    rng = np.random.default_rng(1)
    creases = crease_darkening(rng, context.anatomy, surface_skin)
    lines = palm_lines(rng, context.anatomy, surface_skin)
    assert (lines > 0.05).sum() >= 100 and np.all(surface_skin.normals[lines > 0.05, 2] > 0.2)
    assert np.all(creases < 0.9) and np.all(lines < 0.8)
    palmar, dorsal = surface_skin.side < -0.5, surface_skin.side > 0.5
    assert (creases[palmar] > 0.2).sum() >= 50  # flexion folds
    assert (creases[dorsal] > 0.03).sum() >= 50  # knuckle wrinkles
    assert creases[surface_skin.owner == 0].max() == 0.0  # the palm has its lines instead


def test_detailed_albedo_keeps_colours_valid_and_makes_nails_glossy(context, vertex_skin):
    albedo = np.full((len(vertex_skin.points), 3), 0.3)
    result, gloss = detailed_albedo(np.random.default_rng(2), context.anatomy, vertex_skin, albedo)
    assert result.shape == albedo.shape and result.min() >= 0.0 and result.max() <= 1.0
    assert gloss.min() >= 1.0 and gloss.max() > 3.0
    assert not np.allclose(result, albedo)


def test_gesture_kinds_extend_the_base_kinds_within_limits():
    assert ALL_POSE_KINDS[:len(POSE_KINDS)] == POSE_KINDS  # the hand model's own assets use POSE_KINDS
    for kind in ("count", "mix"):
        pose = sample_poses(kind, 300, generator=3)
        assert pose.shape == (300, 16, 3) and bool(within_limits(pose).all())
    pip = torch.rad2deg(local_angles(sample_poses("count", 300, generator=4).double())[:, DIGIT_JOINTS["index"][1], 0])
    straight, curled = (pip < 25.0).float().mean(), (pip > 75.0).float().mean()
    assert straight > 0.3 and curled > 0.3 and straight + curled > 0.95  # each finger out or in


def test_the_wrist_ring_is_the_mesh_boundary_in_order(context):
    ring = wrist_ring(context.faces_np, context.rest_vertices)
    assert len(ring) >= 8
    steps = np.linalg.norm(np.diff(context.rest_vertices[np.r_[ring, ring[:1]]], axis=0), axis=1)
    assert steps.max() < 3.0 * np.median(steps)  # neighbours in the loop are neighbours on the mesh
    with pytest.raises(ValueError, match="no open wrist"):
        wrist_ring(np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]]), np.eye(4, 3))


def test_the_forearm_starts_on_the_wrist_and_leaves_away_from_the_fingers(context):
    ring = context.rest_vertices[context.wrist_ring] + np.array([0.0, 0.0, 0.5])
    vertices, along = forearm_vertices(np.random.default_rng(5), ring, np.eye(3))
    assert vertices.shape == ((ARM_RINGS + 1) * len(ring) + 1, 3) and along.shape == (len(vertices),)
    np.testing.assert_allclose(vertices[:len(ring)], ring)
    assert vertices[-1, 1] < ring[:, 1].min() - 0.15  # the rest frame's fingers point +y
    assert tube_faces(len(ring), ARM_RINGS + 1).max() == len(vertices) - 1
    towards = Rotation.from_euler("x", np.pi / 2).as_matrix()  # the arm's -y turned to -z: at the camera
    assert forearm_vertices(np.random.default_rng(5), ring, towards) is None
    leaning = Rotation.from_euler("x", np.radians(-10.0)).as_matrix()  # towards the camera unless it bends away
    for seed in range(10):
        vertices, _ = forearm_vertices(np.random.default_rng(seed), ring, leaning)
        assert vertices[-1, 2] > ring[:, 2].mean() - 0.25 * np.linalg.norm(vertices[-1] - ring.mean(axis=0))


def test_rasterised_arms_join_the_hand_without_touching_its_labels(context):
    rotation = Rotation.from_euler("x", np.pi).as_rotvec()  # upright: fingers up, arm down in the image
    pose = np.zeros((4, 16, 3), dtype=np.float32)
    pose[:, 0] = rotation
    K = np.tile(np.array([[500.0, 0.0, 112.0], [0.0, 500.0, 112.0], [0.0, 0.0, 1.0]]), (4, 1, 1))
    params = SceneParameters(pose, np.zeros((4, 10), np.float32), np.array([[0.0, 0.0, 0.6]] * 4, np.float32), K)
    _, pixels = rasterize_chunk(context, params, 224, np.random.default_rng(6))
    for hand in pixels:
        assert hand.arm is not None and hand.arm.mask.sum() > 200
        near_hand = cv2.dilate(hand.mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert (hand.arm.mask & near_hand & ~hand.mask).any()  # seated on the wrist
        rows = np.nonzero(hand.arm.mask & ~hand.mask)[0]
        assert np.median(rows) > np.nonzero(hand.mask)[0].mean()  # below the upright hand
        assert len(hand.arm.normals) == hand.arm.mask.sum() == len(hand.arm.along)
        assert np.all(hand.arm.along >= -1e-6)
