"""Tests of cmr.registration on synthetic hands with a known camera-space translation.

The "hand" is an ellipsoid mesh (hand-sized, randomly rotated) with 21 joints inside it (joint 0,
the root, at the origin). Its silhouette is rendered by filling the convex hull of the projected
vertices (exact for an ellipsoid) with OpenCV at 1/256 px precision. K is FreiHAND-like for a
224 crop, with the principal point off-centre.
"""

import cv2
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from cmr.geometry.camera import project_points
from cmr.models.outputs import heatmaps_to_uv
from cmr.registration import (
    RegistrationConfig,
    fit_translation_1d,
    fit_translation_2d,
    mask_descriptor,
    point_descriptor,
    register,
    solve_translation_2d,
)
from cmr.registration.joints import algebraic_objective

SIZE = 224
#: Semi-axes and centre (metres, root-relative) of the synthetic hand's ellipsoid.
AXES = np.array([0.06, 0.095, 0.025])
CENTRE = np.array([-0.01, 0.075, 0.0])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ellipsoid(rings: int = 20, segments: int = 25) -> np.ndarray:
    """Vertices (rings * segments + 2, 3) metres: a hand-sized ellipsoid (the palm and fingers' hull)."""
    polar = np.linspace(0.0, np.pi, rings + 2)[1:-1]
    azimuth = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    unit = np.stack([np.sin(p) * np.cos(a), np.cos(p), np.sin(p) * np.sin(a)], -1).reshape(-1, 3)
    unit = np.concatenate([unit, [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]])
    return unit * AXES + CENTRE


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A random 3x3 rotation within about 35 degrees of the identity."""
    axis = rng.normal(size=3)
    angle = rng.uniform(-0.6, 0.6)
    rotation, _ = cv2.Rodrigues(axis / np.linalg.norm(axis) * angle)
    return rotation


def _skeleton() -> np.ndarray:
    """(21, 3) metres: a flat, open hand in FreiHAND order, wrist at the origin, fingers up +y."""
    bases = np.array([[-0.03, 0.02], [-0.03, 0.08], [-0.01, 0.085], [0.01, 0.08], [0.03, 0.07]])
    tips = np.array([[-0.065, 0.075], [-0.04, 0.155], [-0.01, 0.165], [0.02, 0.155], [0.045, 0.13]])
    fractions = np.linspace(0.0, 1.0, 4)[:, None]
    fingers = [base + fractions * (tip - base) for base, tip in zip(bases, tips)]  # 5 x (4, 2)
    planar = np.concatenate([np.zeros((1, 2))] + fingers)
    return np.concatenate([planar, np.zeros((21, 1))], axis=1)


def _hand(rng: np.random.Generator, joint_spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative vertices (N, 3) and joints (21, 3) in metres, randomly rotated.

    joint_spread < 1 pulls the joints towards the ellipsoid's centre (a poorly spread pose).
    """
    joints = CENTRE + joint_spread * (_skeleton() - CENTRE)
    joints += rng.normal(scale=0.005, size=joints.shape)
    rotation = _random_rotation(rng)
    return _ellipsoid() @ rotation.T, joints @ rotation.T


def _camera(rng: np.random.Generator, depth: float) -> np.ndarray:
    """FreiHAND-like K (3, 3) of a 224 crop around a hand at ``depth`` metres.

    As for a crop, the focal length grows with depth so the hand keeps its size in the image
    (about 560 px at 0.75 m); the principal point is a few pixels off-centre.
    """
    focal = 560.0 * depth / 0.75 * rng.uniform(0.9, 1.1)
    centre = SIZE / 2 + rng.uniform(-8.0, 8.0, size=2)
    return np.array([[focal, 0.0, centre[0]], [0.0, focal * rng.uniform(0.98, 1.02), centre[1]],
                     [0.0, 0.0, 1.0]])


def _translation(rng: np.random.Generator, vertices: np.ndarray, K: np.ndarray, depth: float,
                 shift_px: float = 0.0) -> np.ndarray:
    """A translation (3,) metres putting the mesh centre within 15 px of the image centre
    (plus ``shift_px`` to the right)."""
    target = SIZE / 2 + rng.uniform(-15.0, 15.0, size=2) + [shift_px, 0.0]
    centre = vertices.mean(0)
    lateral = (target - K[:2, 2]) * depth / np.diag(K)[:2]
    return np.array([lateral[0] - centre[0], lateral[1] - centre[1], depth])


def _project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Perspective projection (M, 3) metres -> (M, 2) pixels."""
    image = points @ K.T
    return image[:, :2] / image[:, 2:]


def _render_mask(vertices_cam: np.ndarray, K: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(size, size) bool silhouette: pixels whose centre lies in the projected convex hull.

    Pixel (i, j) has its centre at (u, v) = (j, i); the hull is counter-clockwise in (u, v) as
    returned by OpenCV, so a centre is inside when it is left of (or on) every edge.
    """
    points = _project(vertices_cam, K)
    hull = points[cv2.convexHull(points.astype(np.float32), returnPoints=False)[:, 0]]
    edges = np.roll(hull, -1, axis=0) - hull  # (E, 2)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    centres = np.stack([u.ravel(), v.ravel()], 1)  # (P, 2)
    offset = centres[:, None, :] - hull[None]  # (P, E, 2)
    cross = edges[None, :, 0] * offset[..., 1] - edges[None, :, 1] * offset[..., 0]
    inside = (cross >= 0).all(1) | (cross <= 0).all(1)
    return inside.reshape(size, size)


def _scene(seed: int, batch: int, depth_range=(0.3, 1.0), joint_spread: float = 1.0,
           shift_px: float = 0.0) -> dict:
    """A batch of synthetic samples with exact uv, a rendered mask and the true translation.

    shift_px moves the hands right; unless it is 0 their silhouettes may be cut by the border.
    """
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(batch):
        vertices, joints = _hand(rng, joint_spread)
        depth = rng.uniform(*depth_range)
        K = _camera(rng, depth)
        t = _translation(rng, vertices, K, depth, shift_px)
        mask = _render_mask(vertices + t, K)
        cut = mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
        assert shift_px or not cut
        samples.append((vertices, joints, _project(joints + t, K), mask, K, t))
    vertices, joints, uv, mask, K, t = (np.stack(parts) for parts in zip(*samples))
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return {
        "vertices": as_tensor(vertices),
        "joints": as_tensor(joints),
        "uv": as_tensor(uv),
        "confidence": torch.ones(batch, 21, dtype=torch.float64),
        "K": as_tensor(K),
        "mask": torch.as_tensor(mask),
        "t": as_tensor(t),
    }


def _error(t: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(B,) Euclidean translation errors in metres."""
    return (t - truth).norm(dim=1)


def _noise(shape: torch.Size, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise of standard deviation ``sigma`` (pixels), float64."""
    return sigma * torch.randn(shape, generator=generator, dtype=torch.float64)


def _register(scene: dict, **overrides):
    """Run register() on a scene dict, with scene entries replaced by ``overrides``."""
    inputs = {**scene, **overrides}
    config = inputs.pop("config", None)
    return register(inputs["vertices"], inputs["joints"], inputs["uv"], inputs["confidence"],
                    inputs["K"], inputs["mask"], config)


# -------------------------------------------------------------------------------------------- (a)


def test_exact_inputs_recover_translation_within_a_millimetre():
    scene = _scene(seed=0, batch=16)
    result = _register(scene)
    assert result.success.all() and result.has_silhouette.all()
    assert _error(result.translation, scene["t"]).max() < 1e-3
    assert _error(result.translation_2d, scene["t"]).max() < 1e-9
    # the silhouette alone also lands close: it agrees with the 2D answer, so fusion keeps 2D
    assert _error(result.translation_1d, scene["t"]).max() < 0.01
    assert torch.allclose(result.vertices, scene["vertices"] + scene["t"][:, None], atol=1e-3)
    assert torch.allclose(result.joints, scene["joints"] + scene["t"][:, None], atol=1e-3)


def test_silhouette_step_alone_recovers_translation():
    scene = _scene(seed=1, batch=16)
    result = _register(scene, confidence=torch.zeros(16, 21, dtype=torch.float64))
    depth_error = (result.translation[:, 2] - scene["t"][:, 2]).abs()
    assert depth_error.max() < 0.01
    assert _error(result.translation, scene["t"]).max() < 0.012
    assert result.silhouette_error_px.max() < 1.0


def test_silhouette_cut_by_the_crop_border():
    scene = _scene(seed=10, batch=8, shift_px=90.0)
    target, valid = mask_descriptor(scene["mask"], 0.5, 0.25)
    assert (~valid).any(1).all() and (valid.sum(1) >= 12).all()  # every hand is cut on the right
    no_joints = torch.zeros(8, 21, dtype=torch.float64)
    result = _register(scene, confidence=no_joints)
    assert result.has_silhouette.all()
    assert _error(result.translation, scene["t"]).max() < 0.015
    # trusting the cut entries instead pulls the hand into the crop
    start = scene["t"] + torch.tensor([0.01, -0.01, 0.05], dtype=torch.float64)
    trusting = fit_translation_1d(scene["vertices"], target.double(), torch.ones_like(valid),
                                  scene["K"], start, RegistrationConfig.defaults())
    assert _error(trusting, scene["t"]).mean() > 3.0 * _error(result.translation, scene["t"]).mean()


# -------------------------------------------------------------------------------------------- (b)


def test_noise_and_outliers_within_a_centimetre():
    scene = _scene(seed=2, batch=32)
    generator = torch.Generator().manual_seed(2)
    uv = scene["uv"] + _noise(scene["uv"].shape, 3.0, generator)
    outliers = torch.tensor([4, 15])
    uv[:, outliers] += torch.tensor([[35.0, -30.0], [-32.0, -34.0]], dtype=torch.float64)
    result = _register(scene, uv=uv)
    error = _error(result.translation, scene["t"])
    # 3 px of noise on a hand ~130 px tall leaves ~1.5 % depth uncertainty per sample from the
    # joints alone (even all 21 clean-of-outlier joints give 0.7 cm mean, 2.4 cm max here), so
    # "within 1 cm" holds for the typical sample; the fusion hands samples whose 2D answer is
    # more than 2 cm off the silhouette's to the silhouette, which caps the worst case
    assert error.median() < 0.0105 and error.mean() < 0.012
    assert error.max() < 0.025
    assert not result.inliers[:, outliers].any()
    single = fit_translation_2d(scene["joints"], uv, scene["confidence"], scene["K"],
                                RegistrationConfig.defaults(max_attempts=1))[0]
    error_2d = _error(result.translation_2d, scene["t"])
    assert _error(single, scene["t"]).mean() > 2.0 * error_2d.mean()


# -------------------------------------------------------------------------------------------- (c)


def test_silhouette_helps_when_joints_are_poor():
    scene = _scene(seed=3, batch=16, joint_spread=0.1)  # joints bunched near the ellipsoid centre
    generator = torch.Generator().manual_seed(3)
    noise = _noise(scene["uv"].shape, 4.0, generator)
    uv = scene["uv"] + noise + torch.tensor([3.0, -2.0], dtype=torch.float64)
    with_mask = _register(scene, uv=uv)
    without_mask = _register(scene, uv=uv, mask=None)
    error_2d = _error(without_mask.translation, scene["t"])
    error_fused = _error(with_mask.translation, scene["t"])
    assert torch.equal(without_mask.translation, without_mask.translation_2d)
    assert error_2d.mean() > 0.05
    assert error_fused.mean() < 0.25 * error_2d.mean()
    assert (with_mask.fusion_weight > 0).float().mean() > 0.5


# -------------------------------------------------------------------------------------------- (d)


def test_batched_equals_per_sample():
    scene = _scene(seed=4, batch=6)
    scene["confidence"][1] = 0.0  # one sample with no confident joint
    scene["mask"][2] = False  # one sample with an empty silhouette
    generator = torch.Generator().manual_seed(4)
    scene["uv"] += _noise(scene["uv"].shape, 2.0, generator)
    batched = _register(scene)
    for index in range(6):
        single = _register({key: value[index:index + 1] for key, value in scene.items()})
        for name in ("translation", "translation_2d", "translation_1d", "fusion_weight"):
            expected = getattr(batched, name)[index]
            assert torch.allclose(getattr(single, name)[0], expected, atol=1e-9)
        assert torch.equal(single.inliers[0], batched.inliers[index])
    assert batched.success.tolist() == [True, False, True, True, True, True]
    assert batched.has_silhouette.tolist() == [True, True, False, True, True, True]
    assert batched.fusion_weight[2] == 0.0 and batched.fusion_weight[1] == 1.0


def test_depth_bounds_are_respected():
    scene = _scene(seed=5, batch=8, depth_range=(0.15, 0.25))
    result = _register(scene, config=RegistrationConfig.defaults(z_min=0.3, z_max=2.0))
    assert (result.translation_2d[:, 2] == 0.3).all()
    assert (result.translation_1d[:, 2] >= 0.3).all()
    assert (result.translation[:, 2] >= 0.3).all()
    upper = _register(scene, config=RegistrationConfig.defaults(z_min=0.05, z_max=0.12))
    assert (upper.translation[:, 2] <= 0.12).all() and (upper.translation_2d[:, 2] == 0.12).all()
    # the default lower bound (0.1 m) admits these close hands
    assert _error(_register(scene).translation, scene["t"]).max() < 1e-3


def test_no_confident_joints_fails_2d_but_silhouette_places_the_hand():
    scene = _scene(seed=6, batch=4)
    confidence = torch.full((4, 21), 0.05, dtype=torch.float64)
    confidence[:, 0] = 0.9  # a single confident joint cannot fix the depth
    result = _register(scene, confidence=confidence)
    assert not result.success.any()
    assert (result.translation_2d == torch.tensor([0.0, 0.0, 0.6], dtype=torch.float64)).all()
    assert (result.fusion_weight == 1.0).all()
    assert _error(result.translation, scene["t"]).max() < 0.012
    neither = _register(scene, confidence=confidence, mask=None)
    assert (neither.translation == neither.translation_2d).all() and not neither.success.any()


# -------------------------------------------------------------------------------------------- (e)


def _slsqp(joints, uv, K, weight, bounds) -> np.ndarray:
    """Minimise algebraic_objective for one sample with SciPy's SLSQP (the reference's solver)."""
    as_batch = lambda a: torch.as_tensor(a, dtype=torch.float64)[None]  # noqa: E731
    args = (as_batch(joints), as_batch(uv), as_batch(K), as_batch(weight))

    def value_and_gradient(t):
        t = as_batch(t).requires_grad_()
        value = algebraic_objective(t, *args).sum()
        (gradient,) = torch.autograd.grad(value, t)
        return value.item(), gradient[0].numpy()

    solution = minimize(value_and_gradient, np.array([0.0, 0.0, 0.6]), jac=True, method="SLSQP",
                        bounds=bounds, options={"ftol": 1e-16, "maxiter": 500})
    return solution.x


def test_closed_form_matches_slsqp():
    scene = _scene(seed=7, batch=6, depth_range=(0.2, 1.2))
    generator = torch.Generator().manual_seed(7)
    uv = scene["uv"] + _noise(scene["uv"].shape, 5.0, generator)
    weight = (torch.rand(6, 21, generator=generator) > 0.3).to(torch.float64)
    z_min, z_max = 0.4, 0.9  # some optima are interior, some on either bound
    closed, ok = solve_translation_2d(scene["joints"], uv, scene["K"], weight, z_min, z_max)
    assert ok.all()
    on_bound = (closed[:, 2] == z_min) | (closed[:, 2] == z_max)
    assert on_bound.any() and not on_bound.all()
    for index in range(6):
        reference = _slsqp(scene["joints"][index], uv[index], scene["K"][index], weight[index],
                           ((None, None), (None, None), (z_min, z_max)))
        assert np.abs(reference - closed[index].numpy()).max() < 1e-6


# -------------------------------------------------------------------------------------------- (f)


def _gaussian_heatmaps(centres: torch.Tensor, height: int, width: int,
                       sigma: float) -> torch.Tensor:
    """(B, J, h, w) Gaussian peaks of height 0.9 at sub-cell ``centres`` (B, J, 2) = (x, y)."""
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    columns = torch.arange(width, dtype=torch.float64)[None, :]
    dx = columns - centres[..., 0, None, None]
    dy = rows - centres[..., 1, None, None]
    return 0.9 * torch.exp(-(dx**2 + dy**2) / (2.0 * sigma**2))


def test_heatmaps_to_uv_recovers_sub_pixel_centres():
    generator = torch.Generator().manual_seed(8)
    centres = 3.0 + 106.0 * torch.rand(4, 21, 2, generator=generator, dtype=torch.float64)
    heatmaps = _gaussian_heatmaps(centres, 112, 112, sigma=2.0)
    uv, confidence = heatmaps_to_uv(heatmaps, SIZE)
    # heatmap cell x covers [x - 0.5, x + 0.5]; in a 2x larger image that is pixel 2x + 0.5
    expected = (centres + 0.5) * 2.0 - 0.5
    assert (uv - expected).abs().max() < 0.1
    assert torch.allclose(confidence, torch.full_like(confidence, 0.9), atol=0.05)


def test_heatmaps_to_uv_handles_borders_and_flat_maps():
    heatmaps = torch.zeros(1, 2, 8, 16)
    heatmaps[0, 0, 0, 15] = 0.7  # corner peak: no neighbours on two sides
    uv, confidence = heatmaps_to_uv(heatmaps, (64, 32))  # non-square input: (width, height)
    assert torch.allclose(uv[0, 0], torch.tensor([(15 + 0.5) * 4 - 0.5, 0.5 * 4 - 0.5]))
    assert torch.allclose(confidence[0], torch.tensor([0.7, 0.0]))
    assert torch.isfinite(uv).all()


# ---------------------------------------------------------------------------------- descriptor


def test_mask_descriptor_matches_the_filled_shape():
    # a disc of radius 40 px at an off-grid centre, rasterised by pixel centres: every extreme
    # is centre +- 40, and the half-pixel pad keeps the descriptor within a pixel of it
    size, radius, centre = 160, 40.0, np.array([77.3, 81.6])
    v, u = np.mgrid[0:size, 0:size]
    disc = (u - centre[0]) ** 2 + (v - centre[1]) ** 2 <= radius**2
    probabilities = torch.as_tensor(np.where(disc, 0.8, 0.2)[None])
    descriptor, valid = mask_descriptor(probabilities, threshold=0.5, pad_px=0.5)
    angles = torch.tensor([0, 90, -15, 75, -30, 60, -45, 45, -60, 30, -75, 15], dtype=torch.float64)
    axes = torch.stack([torch.deg2rad(angles).cos(), torch.deg2rad(angles).sin()], 1)
    along = axes @ torch.as_tensor(centre)
    expected = torch.stack([along - radius, along + radius], 1).flatten()
    assert valid.all()
    assert (descriptor[0] - expected).abs().max() < 0.6
    unpadded, _ = mask_descriptor(torch.as_tensor(disc[None]), 0.5, 0.0)
    assert torch.allclose(descriptor[0] - unpadded[0].double(),
                          torch.tensor([-0.5, 0.5], dtype=torch.float64).repeat(12), atol=1e-4)
    _, valid = mask_descriptor(torch.zeros(1, 10, 10), 0.5, 0.25)
    assert not valid.any()


def test_point_descriptor_agrees_with_a_brute_force_projection():
    generator = torch.Generator().manual_seed(9)
    points = torch.rand(3, 50, 2, generator=generator, dtype=torch.float64) * 100
    descriptor = point_descriptor(points)
    for index, angle in enumerate([0, 90, -15, 75, -30, 60, -45, 45, -60, 30, -75, 15]):
        radians = np.deg2rad(angle)
        along = points[..., 0] * np.cos(radians) + points[..., 1] * np.sin(radians)
        assert torch.allclose(descriptor[:, 2 * index], along.amin(1))
        assert torch.allclose(descriptor[:, 2 * index + 1], along.amax(1))


def test_projection_uses_the_full_intrinsics():
    K = torch.tensor([[[500.0, 2.0, 100.0], [0.0, 510.0, 120.0], [0.0, 0.0, 1.0]]])
    points = torch.tensor([[[0.1, -0.05, 0.5]]])
    expected = torch.tensor([(500 * 0.1 + 2 * -0.05) / 0.5 + 100, 510 * -0.05 / 0.5 + 120])
    assert torch.allclose(project_points(points, K)[0, 0], expected)


def test_the_descriptor_constants_built_in_inference_mode_still_train():
    from cmr.registration.silhouette import descriptor_directions, entry_signs

    for constant in (descriptor_directions, entry_signs):
        constant.cache_clear()
        with torch.inference_mode():
            built = constant(torch.float32)
        assert not built.is_inference() and constant(torch.float32) is built
    weights = torch.ones(24, requires_grad=True)
    (weights * entry_signs(torch.float32)).sum().backward()  # an inference tensor could not be saved
    assert torch.equal(weights.grad, entry_signs(torch.float32))
