"""Registration problems built from real hand meshes, for the registration accuracy benchmark.

Each sample is a posed, shaped hand of the open hand model (:class:`cmr.hand.model.HandModel`,
poses of every kind from :func:`cmr.hand.poses.sample_poses` with a random global rotation,
shape coefficients ~ N(0, 1)), root-relative (joint 0, the wrist, at the origin; 21 joints in
FreiHAND order). It is placed at a depth of 0.35-1 m in front of a 640 x 480 camera with a
FreiHAND-like focal length (500-700 px), somewhere in the image, and framed by the project's crop
policy (box 1.3 times the hand's extent, scale jitter 0.2, resized to 224 px), so the crop's K
has the off-centre principal point and focal length a real crop has.

Silhouettes come from the project's hard rasteriser (:func:`cmr.render.rasterize`): a pixel is
foreground when its centre is covered by the mesh. The forearm variant adds a tapered tube
from the wrist along the forearm's direction (0.25 m long), rasterised the same way.

A :class:`Case` turns the exact scene into registration inputs: noisy 2D joints, confidences and
one of several silhouettes (exact, network-like soft, eroded, dilated, with a forearm).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from cmr.geometry.camera import project_points
from cmr.geometry.crop import CropJitter, CropPolicy
from cmr.hand.model import HandModel
from cmr.hand.poses import POSE_KINDS, sample_poses
from cmr.render import rasterize

SIZE = 224
#: Source camera: image size (width, height) and focal length range (pixels).
SOURCE_SIZE, SOURCE_FOCAL = (640, 480), (500.0, 700.0)
#: Depth range (metres) of the wrist.
DEPTH_RANGE = (0.35, 1.0)
#: Forearm tube: length (metres), radius at the wrist and at the far end (metres), segments.
FOREARM = (0.25, 0.027, 0.035, 24)
#: Confidence of the reliable joints (uniform range).
GOOD_CONFIDENCE = (0.8, 1.0)


@dataclass
class Scene:
    """B exact registration problems (float64 tensors).

    vertices: (B, 778, 3) metres, root-relative. joints: (B, 21, 3) metres, root-relative.
    K: (B, 3, 3) crop intrinsics (pixels). t: (B, 3) metres, the true translation.
    uv: (B, 21, 2) exact projected joints (pixels). mask: (B, 224, 224) bool, the hand's
    silhouette. forearm_mask: (B, 224, 224) bool, the hand's and forearm's silhouette.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    K: torch.Tensor
    t: torch.Tensor
    uv: torch.Tensor
    mask: torch.Tensor
    forearm_mask: torch.Tensor


def _posed_hands(samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Root-relative vertices (B, 778, 3), joints (B, 21, 3) (float64, metres) and faces (F, 3)."""
    model = HandModel()
    kinds = [POSE_KINDS[i % len(POSE_KINDS)] for i in range(samples)]
    pose = torch.cat([sample_poses(kind, 1, generator, random_global_rotation=True) for kind in kinds])
    shape = torch.randn(samples, 10, generator=generator)
    with torch.no_grad():
        output = model(pose, shape)
    root = output.joints[:, :1]
    return (output.vertices - root).double(), (output.joints - root).double(), model.faces


def _placement(vertices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A camera-space translation (3,) metres and the 224 px crop's K (3, 3) for one hand."""
    width, height = SOURCE_SIZE
    focal = rng.uniform(*SOURCE_FOCAL)
    source_K = np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    depth = rng.uniform(*DEPTH_RANGE)
    target = np.array([rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height])
    lateral = (target - source_K[:2, 2]) * depth / focal
    t = np.array([lateral[0], lateral[1], depth])
    pixels = project_points(vertices + t, source_K)
    crop = CropPolicy(SIZE, 1.3).jittered(pixels, source_K, CropJitter(0.0, 0.2), rng)
    return t, crop.K


def _tube(wrist_direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-relative forearm tubes: vertices (B, 2S, 3) metres and faces (4S - 4, 3).

    wrist_direction: (B, 3) unit vectors from the hand towards the elbow. The tube starts a
    centimetre inside the hand, so it joins the palm without a gap.
    """
    length, near_radius, far_radius, segments = FOREARM
    helper = torch.tensor([0.0, 0.0, 1.0], dtype=wrist_direction.dtype).expand_as(wrist_direction)
    side = torch.linalg.cross(wrist_direction, helper)
    side = side / side.norm(dim=1, keepdim=True).clamp_min(1e-9)
    other = torch.linalg.cross(wrist_direction, side)
    angle = torch.arange(segments, dtype=wrist_direction.dtype) * (2.0 * np.pi / segments)
    ring = angle.cos()[None, :, None] * side[:, None] + angle.sin()[None, :, None] * other[:, None]
    start = -0.01 * wrist_direction[:, None]
    end = (length - 0.01) * wrist_direction[:, None]
    vertices = torch.cat([start + near_radius * ring, end + far_radius * ring], dim=1)
    index = torch.arange(segments)
    following = (index + 1) % segments
    sides = torch.cat([torch.stack([index, following, index + segments], 1),
                       torch.stack([following, following + segments, index + segments], 1)])
    fan = torch.arange(1, segments - 1)
    caps = torch.cat([torch.stack([torch.zeros_like(fan), fan, fan + 1], 1),
                      torch.stack([torch.zeros_like(fan), fan + 1, fan], 1) + segments])
    return vertices, torch.cat([sides, caps])


def make_scene(samples: int, seed: int) -> Scene:
    """``samples`` exact problems, reproducible from ``seed`` (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    vertices, joints, faces = _posed_hands(samples, generator)
    placements = [_placement(v, rng) for v in vertices.numpy()]
    t = torch.as_tensor(np.stack([p[0] for p in placements]))
    K = torch.as_tensor(np.stack([p[1] for p in placements]))
    camera = vertices + t[:, None]
    mask = rasterize(camera, faces, K, (SIZE, SIZE)).mask
    direction = joints[:, 0] - joints[:, 9]  # middle-finger knuckle -> wrist
    tube, tube_faces = _tube(direction / direction.norm(dim=1, keepdim=True))
    forearm = rasterize(tube + t[:, None], tube_faces, K, (SIZE, SIZE)).mask
    return Scene(vertices, joints, K, t, project_points(joints + t[:, None], K), mask, mask | forearm)


@dataclass(frozen=True)
class Case:
    """How the inputs of one benchmark case are degraded.

    noise_px: standard deviation of the 2D joint noise (pixels, per coordinate).
    outliers: joints moved by ``outlier_px`` pixels in a random direction.
    low_confidence: joints given a confidence in [0.12, 0.4] and noise ``noise_px * 0.9 / c``.
    silhouette: 'exact' (the rasterised mask), 'soft' (network-like probabilities: the mask's
        2x2 coverage at half resolution, bilinearly resized back, as the network is trained and
        decoded), 'eroded' / 'dilated' (by ``morphology_px`` with a disc), 'forearm'.
    """

    name: str
    noise_px: float = 2.0
    outliers: int = 0
    outlier_px: float = 20.0
    low_confidence: int = 0
    silhouette: str = "exact"
    morphology_px: int = 2


#: The benchmark's cases.
CASES = (
    Case("clean"),
    Case("3 joints 20 px off", outliers=3),
    Case("6 low-confidence joints", low_confidence=6),
    Case("soft silhouette", silhouette="soft"),
    Case("eroded 2 px", silhouette="eroded"),
    Case("dilated 2 px", silhouette="dilated"),
    Case("forearm", silhouette="forearm"),
)


def soft_silhouette(mask: torch.Tensor) -> torch.Tensor:
    """Network-like silhouette probabilities of exact masks.

    mask: (B, S, S) bool, S even. Returns (B, S, S) float64: the 2x2 area coverage at S/2 (the
    training target, :func:`cmr.data.targets.half_resolution_mask`) bilinearly resized to S
    (as :func:`cmr.models.outputs.decode_outputs` resizes the predicted map).
    """
    coverage = F.avg_pool2d(mask[:, None].double(), 2)
    return F.interpolate(coverage, size=mask.shape[1:], mode="bilinear", align_corners=False)[:, 0]


def _morphology(mask: torch.Tensor, radius: int, dilate: bool) -> torch.Tensor:
    """(B, H, W) bool masks eroded or dilated by a disc of ``radius`` pixels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    operation = cv2.dilate if dilate else cv2.erode
    return torch.as_tensor(np.stack([operation(m.astype(np.uint8), kernel) > 0 for m in mask.numpy()]))


def case_silhouette(scene: Scene, case: Case) -> torch.Tensor:
    """(B, 224, 224) silhouette of ``case``: bool, or float64 probabilities for 'soft'."""
    if case.silhouette == "exact":
        return scene.mask
    if case.silhouette == "soft":
        return soft_silhouette(scene.mask)
    if case.silhouette in ("eroded", "dilated"):
        return _morphology(scene.mask, case.morphology_px, case.silhouette == "dilated")
    if case.silhouette == "forearm":
        return scene.forearm_mask
    raise ValueError(f"unknown silhouette kind {case.silhouette!r}")


def case_inputs(scene: Scene, case: Case, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2D joints (B, 21, 2) pixels, confidences (B, 21) and the silhouette of ``case``."""
    generator = torch.Generator().manual_seed(seed)
    batch, joints = scene.uv.shape[:2]
    confidence = GOOD_CONFIDENCE[0] + (GOOD_CONFIDENCE[1] - GOOD_CONFIDENCE[0]) * torch.rand(
        batch, joints, generator=generator, dtype=torch.float64)
    sigma = torch.full((batch, joints), case.noise_px, dtype=torch.float64)
    order = torch.rand(batch, joints, generator=generator).argsort(1)
    weak = order[:, :case.low_confidence]
    low = 0.12 + 0.28 * torch.rand(weak.shape, generator=generator, dtype=torch.float64)
    confidence.scatter_(1, weak, low)
    sigma.scatter_(1, weak, case.noise_px * 0.9 / low)
    uv = scene.uv + sigma[..., None] * torch.randn(batch, joints, 2, generator=generator, dtype=torch.float64)
    moved = order[:, joints - case.outliers:]
    angle = 2.0 * np.pi * torch.rand(moved.shape, generator=generator, dtype=torch.float64)
    offset = case.outlier_px * torch.stack([angle.cos(), angle.sin()], -1)
    uv.scatter_add_(1, moved[..., None].expand(-1, -1, 2), offset)
    return uv, confidence, case_silhouette(scene, case)
