"""Tests of the open parametric hand model (cmr.hand)."""

import numpy as np
import pytest
import torch

from cmr.hand import (
    JOINT_LIMITS,
    MANO_TO_FREIHAND,
    POSE_KINDS,
    HandModel,
    build_hand_assets,
    clamp_to_limits,
    local_angles,
    sample_poses,
    within_limits,
)
from cmr.hand.poses import pose_from_local_angles
from cmr.hand.rest_mesh import generate_rest_hand
from cmr.hand.shape import proportions_from_shape
from cmr.hand.skinning import axis_angle_to_matrix, forward_kinematics


@pytest.fixture(scope="module")
def assets():
    return build_hand_assets()


@pytest.fixture(scope="module")
def model():
    return HandModel().double()


def _edges_with_counts(faces):
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(edges, axis=0, return_counts=True)


def _boundary_loops(faces):
    edges, counts = _edges_with_counts(faces)
    boundary = edges[counts == 1]
    neighbours = {}
    for a, b in boundary:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    assert all(len(n) == 2 for n in neighbours.values()), "boundary is not a set of simple loops"
    loops, seen = [], set()
    for start in neighbours:
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            nxt = [v for v in neighbours[current] if v != previous][0]
            if nxt == start:
                break
            loop.append(nxt)
            seen.add(nxt)
            previous, current = current, nxt
        loops.append(loop)
    return loops


def test_mesh_counts_and_manifold(assets):
    vertices, faces = assets.rest_vertices, assets.faces
    assert vertices.shape == (778, 3)
    assert faces.dtype == np.int64 and faces.min() >= 0 and faces.max() == 777
    edges, counts = _edges_with_counts(faces)
    assert set(np.unique(counts)) <= {1, 2}
    loops = _boundary_loops(faces)
    assert len(loops) == 1, "exactly one boundary loop (the wrist opening)"
    assert vertices[loops[0], 1].max() < 0.0, "the boundary loop lies at the wrist, below the wrist joint"
    num_boundary = len(loops[0])
    assert len(vertices) - len(edges) + len(faces) == 1, "Euler characteristic of a disk"
    assert len(faces) == 2 * len(vertices) - 2 - num_boundary
    valence = np.bincount(edges.ravel(), minlength=len(vertices))
    assert valence.min() >= 3 and valence.max() <= 12
    assert np.mean((valence >= 4) & (valence <= 8)) > 0.98


def test_orientation_and_capped_volume(assets):
    vertices, faces = assets.rest_vertices, assets.faces
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed), "consistent winding: no repeated half-edge"
    # Cap the wrist with a fan around the loop's centroid, oriented against the boundary half-edges.
    loop = _boundary_loops(faces)[0]
    directed_set = {tuple(e) for e in directed}
    if (loop[0], loop[1]) in directed_set:
        loop = loop[::-1]
    centre = len(vertices)
    capped_vertices = np.vstack([vertices, vertices[loop].mean(axis=0)])
    cap = np.array([(loop[k], loop[(k + 1) % len(loop)], centre) for k in range(len(loop))])
    capped = np.vstack([faces, cap])
    _, counts = _edges_with_counts(capped)
    assert (counts == 2).all(), "watertight once the wrist is capped"
    a, b, c = (capped_vertices[capped[:, i]] for i in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0
    assert 2e-4 < volume < 6e-4, f"outward normals give a positive hand-sized volume, got {volume} m^3"


def test_no_degenerate_faces(assets):
    tri = assets.rest_vertices[assets.faces]
    lengths = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    assert lengths.min() > 1e-3
    # Ratio of area to the squared longest edge: 0.433 for equilateral, ~0 for slivers.
    assert (area / lengths.max(axis=1) ** 2).min() > 0.08


def test_hand_dimensions(assets):
    vertices, joints = assets.rest_vertices, assets.rest_joints
    np.testing.assert_allclose(joints[0], 0.0, atol=1e-12)
    middle_tip = vertices[assets.tip_vertex_ids[1]]
    assert 0.175 < middle_tip[1] < 0.195, "wrist to middle fingertip"
    palm = vertices[(vertices[:, 1] > 0.03) & (vertices[:, 1] < 0.07) & (vertices[:, 0] < 0.04)]
    assert 0.075 < np.ptp(palm[:, 0]) < 0.095, "palm width"
    assert vertices[assets.tip_vertex_ids[4], 0] > 0.05, "thumb on the +x side"
    # Palm faces +z: the palm-side rest normals of the palm centre point to +z.
    tip_ids = assets.tip_vertex_ids
    assert len(set(tip_ids.tolist())) == 5
    np.testing.assert_array_equal(vertices[tip_ids].argmax(axis=0)[1], 1)


def test_regressor_matches_rig_at_rest_and_over_shapes(assets):
    regressor = assets.joint_regressor
    assert regressor.shape == (21, 778)
    assert regressor.min() >= 0.0
    np.testing.assert_allclose(regressor.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(assets.joint_regressor_mano21[MANO_TO_FREIHAND], regressor)
    tips = assets.joint_regressor_mano21[16:]
    np.testing.assert_array_equal(tips.argmax(axis=1), assets.tip_vertex_ids)
    np.testing.assert_array_equal(tips.max(axis=1), 1.0)
    rng = np.random.default_rng(0)
    for beta in [np.zeros(10)] + [rng.uniform(-2.0, 2.0, 10) for _ in range(50)]:
        vertices = assets.rest_vertices + assets.shape_dirs @ beta
        rig = assets.rest_joints + assets.joint_shape_dirs @ beta
        expected = np.vstack([rig, vertices[assets.tip_vertex_ids]])[MANO_TO_FREIHAND]
        assert np.linalg.norm(regressor @ vertices - expected, axis=1).max() < 1e-3


def test_skin_weights(assets):
    weights = assets.skin_weights
    assert weights.shape == (778, 16) and weights.min() >= 0.0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-9)
    # Smooth falloff: across every edge the weights change by well under a hard seam's 1.
    edges, _ = _edges_with_counts(assets.faces)
    jump = np.abs(weights[edges[:, 0]] - weights[edges[:, 1]]).max()
    assert jump < 0.5
    # Every joint but the wrist drives some vertices (the wrist drives the palm).
    assert (weights.max(axis=0) > 0.5).all()


def test_shape_space(assets):
    mean = generate_rest_hand()
    np.testing.assert_allclose(assets.rest_vertices, mean.vertices)
    np.testing.assert_allclose(assets.rest_joints, mean.joints)
    length = assets.rest_vertices[assets.tip_vertex_ids[1], 1] - assets.rest_vertices[:, 1].min()
    for sign in (-2.0, 2.0):
        beta = np.zeros(10)
        beta[0] = sign
        vertices = assets.rest_vertices + assets.shape_dirs @ beta
        ratio = (vertices[assets.tip_vertex_ids[1], 1] - vertices[:, 1].min()) / length
        assert (0.8 < ratio < 0.86) if sign < 0 else (1.14 < ratio < 1.2)
    rng = np.random.default_rng(1)
    for _ in range(20):
        vertices = assets.rest_vertices + assets.shape_dirs @ rng.uniform(-2.0, 2.0, 10)
        ratio = (vertices[assets.tip_vertex_ids[1], 1] - vertices[:, 1].min()) / length
        assert 0.7 < ratio < 1.3
    # The linear model matches the generator near the mean.
    beta = np.full(10, 0.3)
    generated = generate_rest_hand(proportions_from_shape(beta)).vertices
    assert np.abs(assets.rest_vertices + assets.shape_dirs @ beta - generated).max() < 5e-4


def test_determinism():
    first = build_hand_assets.__wrapped__()
    second = build_hand_assets.__wrapped__()
    for name, value in vars(first).items():
        np.testing.assert_array_equal(value, getattr(second, name), err_msg=name)
    a = sample_poses("random", 5, generator=7)
    b = sample_poses("random", 5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("kind", POSE_KINDS)
def test_samplers_respect_limits(kind):
    poses = sample_poses(kind, 200, generator=11)
    assert poses.shape == (200, 16, 3) and poses.dtype == torch.float32
    assert within_limits(poses).all()
    assert torch.equal(poses[:, 0], torch.zeros(200, 3))
    rotated = sample_poses(kind, 20, generator=11, random_global_rotation=True)
    assert within_limits(rotated).all() and (rotated[:, 0].norm(dim=1) > 0).all()
    assert poses[:, 1:].std(dim=0).max() > 0.01, "samples vary"


def test_limit_utilities():
    far = pose_from_local_angles(torch.full((3, 16, 3), 3.0, dtype=torch.float64))
    assert not within_limits(far).any()
    clamped = clamp_to_limits(far)
    assert within_limits(clamped).all()
    angles = local_angles(clamped)[:, 1:]
    limits = torch.tensor(JOINT_LIMITS[1:])
    assert torch.allclose(angles, limits[:, 1].expand_as(angles))
    assert torch.equal(clamped[:, 0], far[:, 0])


def test_fist_curls_toward_palm(model):
    out = model(sample_poses("fist", 1, generator=0).double())
    rest = model(torch.zeros(1, 16, 3, dtype=torch.float64))
    tips = model.tip_vertex_ids[:4]
    assert (out.vertices[0, tips, 2] > rest.vertices[0, tips, 2] + 0.01).all(), "fingertips move to the palm side"
    assert (out.vertices[0, tips, 1] < rest.vertices[0, tips, 1] - 0.05).all()


@pytest.mark.parametrize("kind", POSE_KINDS)
def test_no_inverted_faces(model, kind):
    faces = model.faces
    dominant_bone = model.skin_weights[faces].sum(dim=1).argmax(dim=1)

    def normals(vertices):
        tri = vertices[:, faces]
        return torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)

    rest_normals = normals(model.rest_vertices[None])[0]
    pose = sample_poses(kind, 30, generator=5).double()
    posed_normals = normals(model(pose).vertices)
    rotations, _ = forward_kinematics(axis_angle_to_matrix(pose), model.rest_joints.expand(30, -1, -1), model._parent_list)
    expected = torch.einsum("bfij,fj->bfi", rotations[:, dominant_bone], rest_normals)
    assert ((expected * posed_normals).sum(-1) > 0).all(), "a face flipped relative to its bone"
    area_ratio = posed_normals.norm(dim=-1) / rest_normals.norm(dim=-1)
    assert area_ratio.min() > 0.15, "a face collapsed"


def test_regressed_joints_follow_pose(model):
    pose = sample_poses("random", 4, generator=2).double()
    out = model(pose)
    expected = torch.cat([out.rig_joints, out.vertices[:, model.tip_vertex_ids]], dim=1)[:, MANO_TO_FREIHAND]
    assert out.joints.shape == (4, 21, 3)
    # The regressor was fitted on flexed examples: posed keypoints stay within a few mm of the rig.
    assert (out.joints - expected).norm(dim=-1).max() < 0.004


def test_gradients(model):
    torch.manual_seed(0)
    pose = (0.3 * torch.randn(2, 16, 3, dtype=torch.float64)).requires_grad_()
    shape = torch.randn(2, 10, dtype=torch.float64).requires_grad_()
    trans = torch.randn(2, 3, dtype=torch.float64).requires_grad_()

    def keypoints(p, s, t):
        return model(p, s, t).joints

    assert torch.autograd.gradcheck(keypoints, (pose, shape, trans), eps=1e-6, atol=1e-5)
    zero = torch.zeros(1, 16, 3, dtype=torch.float64, requires_grad=True)
    model(zero).vertices.sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_translation_and_left_hand_mirror(model):
    pose = sample_poses("grasp", 3, generator=4).double()
    shape = torch.randn(3, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    right = model(pose, shape)
    mirrored_pose = pose * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    left = model(mirrored_pose, shape, side="left")
    flip = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(left.vertices, right.vertices * flip)
    torch.testing.assert_close(left.joints, right.joints * flip)
    trans = torch.tensor([[0.1, -0.2, 0.5]], dtype=torch.float64).expand(3, 3)
    moved = model(pose, shape, trans)
    torch.testing.assert_close(moved.vertices, right.vertices + trans[:, None])
    # Left faces are wound so the mirrored mesh's normals point outward as well.
    assert torch.equal(model.faces_for("left"), model.faces.flip(-1))
    tri = left.vertices[0, model.faces_for("left")]
    volume = torch.einsum("fi,fi->f", tri[:, 0], torch.cross(tri[:, 1], tri[:, 2], dim=-1)).sum() / 6
    assert volume > 0


def test_model_buffers(model):
    assert model.rest_vertices.shape == (778, 3)
    assert model.shape_dirs.shape == (778, 3, 10)
    assert model.joint_shape_dirs.shape == (16, 3, 10)
    assert model.skin_weights.shape == (778, 16)
    assert model.joint_regressor.shape == (21, 778)
    assert model.faces.dtype == torch.int64 and model.tip_vertex_ids.shape == (5,)
    assert model.parents.tolist()[0] == -1
    out = model(torch.zeros(2, 16, 3, dtype=torch.float64))
    torch.testing.assert_close(out.vertices[0], model.rest_vertices)


def test_thumb_proportions_and_rest_placement(assets):
    joints = assets.rest_joints
    tip = assets.rest_vertices[assets.tip_vertex_ids[4]]
    segments = [np.linalg.norm(joints[14] - joints[13]), np.linalg.norm(joints[15] - joints[14]), np.linalg.norm(tip - joints[15])]
    assert 0.040 < segments[0] < 0.050 and 0.027 < segments[1] < 0.035 and 0.022 < segments[2] < 0.030
    assert joints[13, 1] < 0.02, "the thumb CMC sits near the wrist"
    assert tip[1] > joints[1, 1] - 0.005, "at rest the thumb tip reaches the index MCP level"
    thumb = (tip - joints[13]) / np.linalg.norm(tip - joints[13])
    index_tip = assets.rest_vertices[assets.tip_vertex_ids[0]]
    index = (index_tip - joints[1]) / np.linalg.norm(index_tip - joints[1])
    assert 25.0 < np.degrees(np.arccos(thumb @ index)) < 50.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_thumb_opposes_in_pinch(model, seed):
    tips = model.tip_vertex_ids
    pinch = model(sample_poses("pinch", 10, generator=seed).double()).vertices
    assert ((pinch[:, tips[4]] - pinch[:, tips[0]]).norm(dim=-1) < 0.02).all(), "thumb tip meets the index tip"
    opened = model(sample_poses("open", 10, generator=seed).double()).vertices
    assert ((opened[:, tips[4]] - opened[:, tips[0]]).norm(dim=-1) > 0.06).all()
    # In the closed kinds the thumb tip swings in front of the palm (+z) toward the fingers (-x).
    rest = model.rest_vertices[tips[4]]
    for kind in ("fist", "point", "pinch"):
        closed = model(sample_poses(kind, 10, generator=seed).double()).vertices[:, tips[4]]
        assert (closed[:, 2] > rest[2] + 0.01).all() and (closed[:, 0] < rest[0] - 0.015).all(), kind
