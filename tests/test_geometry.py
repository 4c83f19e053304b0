"""The one geometry module: projection, intrinsics, pixel maps, crops and the crop policy."""

import numpy as np
import pytest
import torch

from cmr.geometry.camera import (
    MIN_DEPTH, intrinsics_from_fov, mirror_faces, mirror_intrinsics, project_points, validate_intrinsics,
)
from cmr.geometry.crop import CropJitter, CropPolicy, letterbox_crop, warp_image
from cmr.geometry.pixel_maps import apply_affine, mirror_map, rescale_coordinates, scale_map

CASES = [  # (height, width, fx, fy, skew, cx, cy, input size)
    (224, 224, 627.5, 627.4, 0.0, 146.4, 79.9, 128),   # FreiHAND-like: off-centre, shrink
    (100, 160, 300.0, 310.0, 2.0, 40.0, 70.0, 128),    # wide, padded top/bottom, shrink
    (90, 61, 200.0, 200.0, 0.0, 45.5, 20.0, 128),      # tall, enlarge
    (1500, 2000, 1800.0, 1800.0, 0.0, 999.5, 749.5, 128),  # a photo: area-averaged first
]


def _K(fx, fy, skew, cx, cy) -> np.ndarray:
    return np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def test_projection_is_one_function_for_numpy_and_torch():
    points = np.random.default_rng(0).uniform([-0.1, -0.1, 0.3], [0.1, 0.1, 0.8], (2, 5, 3))
    K = _K(500.0, 510.0, 1.0, 100.0, 90.0)
    expected = (points @ K.T)[..., :2] / (points @ K.T)[..., 2:]
    np.testing.assert_allclose(project_points(points, K), expected, rtol=1e-12)
    batched = project_points(torch.as_tensor(points), torch.as_tensor(K).expand(2, 3, 3))
    np.testing.assert_allclose(batched.numpy(), expected, rtol=1e-12)
    behind = project_points(np.array([[0.1, 0.0, -1.0]]), K)
    np.testing.assert_allclose(behind, [[(50.0 - 100.0) / MIN_DEPTH, -90.0 / MIN_DEPTH]])  # (K X)[:2] / MIN_DEPTH


def test_resampling_maps_keep_pixel_centres():
    assert rescale_coordinates(-0.5, 224, 112) == -0.5 and rescale_coordinates(223.5, 224, 112) == 111.5
    np.testing.assert_allclose(apply_affine(scale_map((200, 100), (50, 25)), [[199.5, 99.5]]), [[49.5, 24.5]])
    np.testing.assert_allclose(mirror_map(31) @ mirror_map(31), np.eye(3))


@pytest.mark.parametrize("height, width, fx, fy, skew, cx, cy, size", CASES)
def test_letterbox_crop_maps_projections_exactly(height, width, fx, fy, skew, cx, cy, size):
    K = _K(fx, fy, skew, cx, cy)
    crop = letterbox_crop(width, height, K, size)
    points = np.random.default_rng(0).uniform([-0.1, -0.1, 0.3], [0.1, 0.1, 0.8], (50, 3))
    np.testing.assert_allclose(project_points(points, crop.K), apply_affine(crop.matrix, project_points(points, K)),
                               atol=1e-9)
    side = max(width, height)  # the whole image fits, centred
    corners = apply_affine(crop.matrix, [[-0.5, -0.5], [width - 0.5, height - 0.5]])
    np.testing.assert_allclose(corners.max() - corners.min(), size * max(width, height) / side, atol=1e-9)


@pytest.mark.parametrize("height, width, fx, fy, skew, cx, cy, size", CASES)
def test_warped_pixels_move_with_K(height, width, fx, fy, skew, cx, cy, size):
    """A bright blob around a projected point ends up where the crop's K projects that point."""
    K = _K(fx, fy, skew, cx, cy)
    u, v = 0.45 * width + 0.3, 0.55 * height - 0.2
    point = 0.5 * np.linalg.solve(K, [u, v, 1.0])[None]
    rows, cols = np.mgrid[:height, :width]
    sigma = 0.02 * max(width, height) + 3.0
    blob = np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * sigma**2))
    image = np.repeat((255 * blob)[..., None], 3, axis=2).round().astype(np.uint8)
    crop = letterbox_crop(width, height, K, size)
    weight = warp_image(image, crop)[..., 0].astype(np.float64) / 255.0
    weight = weight * (weight > 0.05)
    rows, cols = np.mgrid[:size, :size]
    centroid = np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()
    np.testing.assert_allclose(centroid, project_points(point, crop.K)[0], atol=0.3)


def test_crop_policy_frames_the_box_by_its_scale():
    K = _K(600.0, 600.0, 0.0, 112.0, 112.0)
    crop = CropPolicy(128, box_scale=1.3).around_box((100.0, 90.0), 100.0, K)
    np.testing.assert_allclose(apply_affine(crop.matrix, [[35.0, 25.0], [165.0, 155.0]]), [[-0.5, -0.5], [127.5, 127.5]])
    points = np.array([[50.0, 60.0], [149.0, 119.0]])  # a hand box of 100 x 60 pixels
    same = CropPolicy(128, 1.3).around_points(points, K)
    np.testing.assert_allclose(same.matrix, CropPolicy(128, 1.3).around_box((99.5, 89.5), 100.0, K).matrix)
    jittered = CropPolicy(128, 1.3).jittered(points, K, CropJitter(rotation=0.0, scale=0.0), np.random.default_rng(0))
    inside = apply_affine(jittered.matrix, points)
    assert (inside >= -0.5).all() and (inside <= 127.5).all()
    with pytest.raises(ValueError, match="even"):
        CropPolicy(127, 1.3)


def test_intrinsics_from_fov_spans_the_image():
    K = intrinsics_from_fov(640, 480, 60.0)
    edge = np.array([[np.tan(np.radians(30.0)), 0.0, 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(project_points(edge, K), [[639.5, 239.5], [319.5, 239.5]], atol=1e-9)


@pytest.mark.parametrize("K, message", [
    (np.eye(2), "expected a 3x3 intrinsic matrix"),
    (np.full((3, 3), np.nan), "NaN or infinite"),
    (_K(-500.0, 500.0, 0.0, 100.0, 100.0), "focal lengths must be positive"),
    (_K(2.4, 2.4, 0.0, 0.5, 0.5), "field of view .* must be in pixels"),
    (np.array([[500.0, 0, 100], [0, 500, 100], [0, 0, 2.0]]), "last row"),
])
def test_validate_intrinsics_says_what_is_wrong(K, message):
    with pytest.raises(ValueError, match=f"cam_K.npy: .*{message}"):
        validate_intrinsics(K, 224, 224, "cam_K.npy")
    assert validate_intrinsics(_K(500.0, 500.0, 0.0, 112.0, 112.0), 224, 224, "ok").shape == (3, 3)


def test_mirroring_round_trip():
    rng = np.random.default_rng(1)
    K = _K(300.0, 310.0, 1.5, 10.0, 8.0)
    np.testing.assert_allclose(mirror_intrinsics(mirror_intrinsics(K, 31), 31), K)
    points = rng.uniform([-0.1, -0.1, 0.3], [0.1, 0.1, 0.8], (20, 3))
    mirrored = points * [-1.0, 1.0, 1.0]
    uv, uv_mirrored = project_points(points, K), project_points(mirrored, mirror_intrinsics(K, 31))
    np.testing.assert_allclose(uv_mirrored, apply_affine(mirror_map(31), uv), atol=1e-9)
    triangle = points[:3]
    normal = np.cross(triangle[1] - triangle[0], triangle[2] - triangle[0])
    flipped = mirrored[mirror_faces(np.array([[0, 1, 2]]))[0]]
    np.testing.assert_allclose(np.cross(flipped[1] - flipped[0], flipped[2] - flipped[0]), normal * [-1, 1, 1],
                               atol=1e-12)
