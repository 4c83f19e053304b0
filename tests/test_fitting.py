"""Tests of fitting the hand model to meshes, keypoints and silhouettes (cmr.fitting)."""

import pytest
import torch

from cmr.config import get_cfg
from cmr.fitting import FittingConfig, fit_hand
from cmr.fitting.objective import sample_maps, silhouette_distances
from cmr.fitting.inputs import outside_distance_maps
from cmr.geometry.camera import project_points
from cmr.geometry.rotations import rigid_alignment, rotation_vectors_from_matrices
from cmr.hand import POSE_KINDS, HandModel, sample_poses, within_limits
from cmr.hand.model import _MIRROR_ROTATION_VECTOR
from cmr.hand.skinning import axis_angle_to_matrix
from cmr.render import rasterize

SIZE = 224


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    return HandModel()


def _camera(batch: int) -> torch.Tensor:
    return torch.tensor([[600.0, 0.0, 111.5], [0.0, 600.0, 111.5], [0.0, 0.0, 1.0]]).expand(batch, 3, 3).contiguous()


def _hands(model, per_kind: int = 2, seed: int = 0, side: str = "right"):
    """Known hands: natural right poses (mirrored for 'left') with random rotations, shapes, positions."""
    pose = torch.cat([sample_poses(kind, per_kind, seed + index, random_global_rotation=True)
                      for index, kind in enumerate(POSE_KINDS)])
    batch = len(pose)
    generator = torch.Generator().manual_seed(seed)
    shape = torch.randn(batch, 10, generator=generator)
    translation = torch.tensor([0.0, 0.0, 0.6]) + 0.03 * torch.randn(batch, 3, generator=generator)
    if side == "left":
        pose = pose * torch.tensor(_MIRROR_ROTATION_VECTOR)
    hand = model(pose, shape, translation, side=side)
    K = _camera(batch)
    return {"pose": pose, "shape": shape, "translation": translation, "hand": hand, "K": K,
            "uv": project_points(hand.joints, K)}


def _right_convention(pose: torch.Tensor, sides) -> torch.Tensor:
    mirror = torch.tensor([_MIRROR_ROTATION_VECTOR if side == "left" else (1.0, 1.0, 1.0) for side in sides])
    return pose * mirror[:, None]


def _assert_recovered(model, fit, truth, sides):
    vertex_error_mm = (fit.vertices - truth["hand"].vertices).norm(dim=-1).mean(-1) * 1000
    assert vertex_error_mm.max() < 2.0, vertex_error_mm
    assert fit.mesh_error_mm.max() < 2.0 and fit.keypoint_error_px.max() < 1.0, (fit.mesh_error_mm, fit.keypoint_error_px)
    assert within_limits(_right_convention(fit.pose, sides)).all()
    for index, side in enumerate(sides):  # the result is the model posed by the returned parameters
        posed = model(fit.pose[index:index + 1], fit.shape[index:index + 1], fit.translation[index:index + 1], side=side)
        assert torch.allclose(posed.vertices[0], fit.vertices[index], atol=1e-6)
        assert torch.allclose(posed.joints[0], fit.joints[index], atol=1e-6)


def test_known_poses_are_recovered_within_the_limits(model):
    truth = _hands(model)
    fit = fit_hand(truth["hand"].vertices, truth["uv"], None, truth["K"])
    assert fit.pose.shape == (12, 16, 3) and fit.shape.shape == (12, 10) and fit.translation.shape == (12, 3)
    assert fit.vertices.shape == (12, 778, 3) and fit.joints.shape == (12, 21, 3) and fit.silhouette_error_px is None
    _assert_recovered(model, fit, truth, ("right",) * 12)


def test_left_hands_and_mixed_batches(model):
    right, left = _hands(model, 1, seed=3), _hands(model, 1, seed=3, side="left")
    assert within_limits(_right_convention(left["pose"], ["left"] * 6)).all()
    fit = fit_hand(left["hand"].vertices, left["uv"], None, left["K"], side="left")
    _assert_recovered(model, fit, left, ("left",) * 6)
    sides = ("left", "right") * 3
    is_left = torch.tensor([side == "left" for side in sides])
    pick = lambda a, b: torch.where(is_left.view(-1, *[1] * (a.dim() - 1)), a, b)  # noqa: E731
    mixed = {"uv": pick(left["uv"], right["uv"]), "K": right["K"],
             "hand": type(right["hand"])(*map(pick, left["hand"], right["hand"]))}
    fit = fit_hand(mixed["hand"].vertices, mixed["uv"], None, mixed["K"], side=list(sides))
    assert fit.sides == sides
    _assert_recovered(model, fit, mixed, sides)


def test_the_shaped_hand_is_recovered(model):
    """Beta has a near-null direction (0.05 mm RMS per unit), so the test is on the shaped rest mesh."""
    truth = _hands(model, 1, seed=5)
    truth_shape = truth["shape"].clone()
    truth_shape[:3, 0], truth_shape[3:, 0] = 2.0, -2.0  # large and small hands
    hand = model(truth["pose"], truth_shape, truth["translation"])
    fit = fit_hand(hand.vertices, config=FittingConfig.defaults(shape_prior_weight=0.001))  # exact data: weak prior
    rest = model(torch.zeros(6, 16, 3), truth_shape).vertices
    fitted_rest = model(torch.zeros(6, 16, 3), fit.shape).vertices
    assert ((fitted_rest - rest).norm(dim=-1).mean(-1) * 1000).max() < 1.0
    extent, fitted_extent = rest.amax(1) - rest.amin(1), fitted_rest.amax(1) - fitted_rest.amin(1)
    assert ((fitted_extent - extent).abs() / extent).max() < 0.02
    assert fit.keypoint_error_px is None and fit.shape[:3, 0].min() > fit.shape[3:, 0].max()


def test_poses_outside_the_limits_are_fitted_within_them(model):
    pose = sample_poses("open", 2, 0)
    pose[:, 2] = pose[:, 2] - 1.2 * torch.tensor([1.0, 0.0, 0.0])  # index PIP bent backwards
    hand = model(pose, None, torch.tensor([0.0, 0.0, 0.5]).expand(2, 3))
    assert not within_limits(pose).any()
    fit = fit_hand(hand.vertices)
    assert within_limits(fit.pose).all()
    free = fit_hand(hand.vertices, config=FittingConfig.defaults(joint_limits=False))
    assert free.mesh_error_mm.max() < 0.5 * fit.mesh_error_mm.min()


def test_keypoints_below_the_confidence_threshold_are_ignored(model):
    truth = _hands(model, 1, seed=7)
    corrupted = truth["uv"].clone()
    corrupted[:, :5] += 40.0
    confidence = torch.ones(6, 21)
    confidence[:, :5] = 0.05
    with torch.no_grad():  # as after a network's forward pass: the fit enables gradients itself
        fit = fit_hand(truth["hand"].vertices, corrupted, confidence, truth["K"])
    assert fit.keypoint_error_px.max() < 1.0 and fit.mesh_error_mm.max() < 2.0


def test_keypoints_pull_the_fit_towards_them(model):
    truth = _hands(model, 1, seed=9)
    shifted = truth["hand"].vertices + torch.tensor([0.01, 0.0, 0.0])  # the mesh is 1 cm off
    config = FittingConfig.defaults(mesh_weight=0.1, iterations=60)
    without = fit_hand(shifted, config=config)
    fit = fit_hand(shifted, truth["uv"], None, truth["K"], config=config)
    error = lambda f: (f.vertices - truth["hand"].vertices).norm(dim=-1).mean(-1)  # noqa: E731
    assert (error(fit) < 0.5 * error(without)).all()


def test_the_silhouette_pulls_vertices_inside_it(model):
    truth = _hands(model, 1, seed=11)
    truth["hand"] = model(truth["pose"], truth["shape"], torch.tensor([0.0, 0.0, 0.9]).expand(6, 3))  # in frame
    mask = rasterize(truth["hand"].vertices, model.faces, truth["K"], (SIZE, SIZE)).mask
    maps, has_mask = outside_distance_maps(mask, 0.5)
    inside = silhouette_distances(truth["hand"].vertices, truth["K"], maps)
    assert has_mask.all() and inside.max() < 1.5 and inside.mean() < 0.15  # outline vertices: < 1 px
    shifted = truth["hand"].vertices + torch.tensor([0.008, 0.0, 0.0])
    config = FittingConfig.defaults(mesh_weight=0.05, silhouette_weight=5.0, iterations=60)
    without = fit_hand(shifted, K=truth["K"], config=config, mask=torch.zeros(6, SIZE, SIZE, dtype=torch.bool))
    fit = fit_hand(shifted, K=truth["K"], mask=mask, config=config)
    assert (without.silhouette_error_px == 0).all()  # an empty mask adds nothing
    assert (fit.silhouette_error_px < 0.5 * silhouette_distances(shifted, truth["K"], maps).mean(-1)).all()


def test_maps_are_sampled_bilinearly_at_pixel_centres():
    columns, rows = torch.arange(5.0).expand(4, 5), torch.arange(4.0)[:, None].expand(4, 5)
    maps = torch.stack([columns, rows])  # (2, H=4, W=5): each pixel's u, then its v
    points = torch.tensor([[[0.0, 0.0], [2.25, 1.5], [4.0, 3.0], [9.0, -3.0]]]).expand(2, 4, 2)
    sampled = sample_maps(maps, points)
    assert torch.allclose(sampled[0], torch.tensor([0.0, 2.25, 4.0, 4.0]))
    assert torch.allclose(sampled[1], torch.tensor([0.0, 1.5, 3.0, 0.0]))


def test_bad_inputs_name_the_argument_and_the_expected_shape(model):
    vertices = torch.zeros(2, 778, 3)
    K = _camera(2)
    cases = [
        (dict(vertices=torch.zeros(2, 700, 3)), r"vertices: expected shape \(any, 778, 3\).*got \(2, 700, 3\)"),
        (dict(vertices=vertices, keypoints=torch.zeros(2, 16, 2), K=K), r"keypoints: expected shape \(2, 21, 2\)"),
        (dict(vertices=vertices, keypoints=torch.zeros(2, 21, 2)), r"K: \(B, 3, 3\) pixel intrinsics are needed"),
        (dict(vertices=vertices, keypoints=torch.zeros(2, 21, 2), K=K[:1]), r"K: expected shape \(2, 3, 3\)"),
        (dict(vertices=vertices, keypoints=torch.zeros(2, 21, 2), K=K, confidence=torch.ones(2, 20)),
         r"confidence: expected shape \(2, 21\)"),
        (dict(vertices=vertices, K=K, mask=torch.zeros(2, 64)), r"mask: expected shape \(2, any, any\)"),
        (dict(vertices=vertices, side="both"), r"side: expected 'right' or 'left'"),
        (dict(vertices=vertices, side=["left"]), r"side: .*one of them per sample \(2\), got 1"),
        (dict(vertices=torch.full((2, 778, 3), float("nan"))), r"vertices: holds NaN"),
    ]
    for arguments, message in cases:
        with pytest.raises(ValueError, match=message):
            fit_hand(**arguments)


def test_the_settings_come_from_the_configuration():
    cfg = get_cfg()
    cfg.FITTING.ITERATIONS, cfg.REGISTRATION.MASK_THRESHOLD = 7, 0.4
    config = FittingConfig.from_config(cfg)
    assert (config.iterations, config.mask_threshold, config.enabled) == (7, 0.4, True)
    assert FittingConfig.defaults(iterations=3).iterations == 3


def test_rotation_vectors_and_rigid_alignment_invert_each_other():
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    vectors = vectors / vectors.norm(dim=1, keepdim=True) * torch.linspace(0.0, torch.pi, 200, dtype=torch.float64)[:, None]
    matrices = axis_angle_to_matrix(vectors)
    assert torch.allclose(axis_angle_to_matrix(rotation_vectors_from_matrices(matrices)), matrices, atol=1e-10)
    assert torch.allclose(rotation_vectors_from_matrices(matrices)[:-1], vectors[:-1], atol=1e-8)
    points = torch.randn(200, 30, 3, generator=generator, dtype=torch.float64)
    shift = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    rotation, translation = rigid_alignment(points, points @ matrices.transpose(1, 2) + shift[:, None])
    assert torch.allclose(rotation, matrices, atol=1e-10) and torch.allclose(translation, shift, atol=1e-10)


@pytest.mark.parametrize("side", ["right", "left"])
def test_3d_keypoints_lead_the_fit_from_a_poor_mesh(model, side):
    """A wrong mesh (the flat hand at the true wrist), unweighted, with exact 3D and 2D keypoints:
    the keypoints lead (the start comes from them)."""
    truth = _hands(model, 1, seed=3, side=side)
    flat = model(torch.zeros(6, 16, 3), side=side)
    wrong_mesh = flat.vertices - flat.joints[:, :1] + truth["hand"].joints[:, :1]
    fit = fit_hand(wrong_mesh, truth["uv"], K=truth["K"], side=side, joints=truth["hand"].joints,
                   config=FittingConfig.defaults(mesh_weight=0.0))
    joint_error_mm = (fit.joints - truth["hand"].joints).norm(dim=-1).mean(-1) * 1000
    assert joint_error_mm.max() < 3.0 and fit.keypoint_error_px.max() < 2.0


def test_the_keypoint_start_inverts_the_kinematics(model):
    from cmr.fitting.keypoint_start import pose_from_keypoints

    for side in ("right", "left"):
        truth = _hands(model, 2, seed=4, side=side)
        target = model(truth["pose"], None, truth["translation"], side=side).joints  # the mean shape
        pose, translation = pose_from_keypoints(model, target, side)
        posed = model(pose, trans=translation, side=side).joints
        assert ((posed - target).norm(dim=-1).mean(-1) * 1000).max() < 1.0


def test_3d_keypoint_targets_of_the_wrong_shape_are_refused(model):
    truth = _hands(model, 1)
    with pytest.raises(ValueError, match=r"joints: expected shape \(6, 21, 3\)"):
        fit_hand(truth["hand"].vertices, joints=torch.zeros(6, 16, 3))


@pytest.mark.parametrize("side", ["right", "left"])
def test_keypoints_alone_are_fitted_without_a_target_mesh(model, side):
    """No mesh at all (the pseudo-labels' case): exact 3D and 2D keypoints give the hand back."""
    truth = _hands(model, 1, seed=5, side=side)
    fit = fit_hand(None, truth["uv"], K=truth["K"], side=side, joints=truth["hand"].joints)
    joint_error_mm = (fit.joints - truth["hand"].joints).norm(dim=-1).mean(-1) * 1000
    assert joint_error_mm.max() < 3.0 and fit.keypoint_error_px.max() < 2.0 and fit.mesh_error_mm is None
    with pytest.raises(ValueError, match="vertices: a target mesh"):
        fit_hand(None, truth["uv"], K=truth["K"])
