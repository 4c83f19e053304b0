"""Geometry of synthetic samples: hand pose and shape, global orientation, camera and placement.

Everything here is drawn per fixed-size chunk of annotations from a numpy ``SeedSequence`` of
(seed, split, chunk), so a sample's parameters never depend on how many workers render it.
Units: metres (OpenCV camera space: x right, y down, z forward), pixels, radians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from cmr.geometry.camera import project_points
from cmr.hand import HandModel, sample_poses
from cmr.hand.poses import ALL_POSE_KINDS

#: Annotations per chunk: the unit of parameter sampling, rendering and resuming.
CHUNK_SIZE = 32
#: Ids of the two splits in every seed sequence.
SPLIT_IDS = {"training": 0, "evaluation": 1}
#: Probability of each entry of ``ALL_POSE_KINDS`` ('random' spans the whole pose space; 'count'
#: and 'mix' are counting shapes and blends between the posed kinds).
POSE_KIND_WEIGHTS = {"fist": 0.08, "pinch": 0.1, "point": 0.1, "open": 0.1, "grasp": 0.1, "random": 0.3,
                     "count": 0.14, "mix": 0.08}
#: Shape coefficients are N(0, 1) clipped to this magnitude.
SHAPE_CLIP = 2.5
#: Ranges at 224 px (scaled with the image size): focal length, hand box side, hand depth (m).
FOCAL_RANGE = (330.0, 1050.0)
BOX_RANGE = {"training": (80.0, 150.0), "evaluation": (80.0, 110.0)}
DEPTH_RANGE = (0.3, 1.0)
#: Standard deviations (224 px) of the principal point and of the hand centre around the middle.
PRINCIPAL_JITTER = 3.0
CENTRE_JITTER = 7.0
#: Pixels the projected hand keeps from the image border (224 px).
BORDER_MARGIN = 4.0
#: Pixel window (224 px) the hand must fit in: the whole image for training; for evaluation the
#: reference's evaluation crop (47..177: cmr.data.layout.EVALUATION_HAND_BOX at box scale 1.3),
#: as FreiHAND's evaluation hands do.
FRAME = {"training": (0.0, 223.0), "evaluation": (47.0, 177.0)}
#: Rest frame (fingers +y, palm +z) to the upright camera view (fingers up, palm to camera).
_REST_TO_UPRIGHT = Rotation.from_euler("x", np.pi)


@dataclass(frozen=True)
class SceneParameters:
    """Parameters of a batch of B annotations.

    Attributes:
        pose: (B, 16, 3) float32 axis-angle, radians; joint 0 is the global rotation.
        shape: (B, 10) float32 shape coefficients.
        trans: (B, 3) float32 translation, metres.
        K: (B, 3, 3) float64 intrinsics, pixels (fx = fy, no skew).
    """

    pose: np.ndarray
    shape: np.ndarray
    trans: np.ndarray
    K: np.ndarray

    def mano(self) -> np.ndarray:
        """(B, 61) float32: pose 48, shape 10, translation 3 (the *_mano.json rows)."""
        return np.concatenate([self.pose.reshape(len(self.pose), 48), self.shape, self.trans], axis=1)

    @staticmethod
    def concatenate(parts: list["SceneParameters"]) -> "SceneParameters":
        """One batch from several, in order."""
        return SceneParameters(*(np.concatenate([getattr(p, name) for p in parts])
                                 for name in ("pose", "shape", "trans", "K")))


def chunk_rng(seed: int, split: str, chunk: int, stream: int) -> np.random.Generator:
    """Generator of one chunk's draws; ``stream`` separates independent uses (geometry, ...)."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_IDS[split], 0, chunk, stream]))


def sample_rotations(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3) global rotation vectors giving natural views of the hand.

    From the upright view (fingers up, palm to the camera) the hand turns about the vertical
    axis by any angle (palm, side and back views), tilts towards or away from the camera, and
    rolls in the image plane (mostly fingers up or sideways, sometimes any direction).
    """
    yaw = rng.uniform(-np.pi, np.pi, count)
    pitch = np.clip(rng.normal(0.0, np.radians(30.0), count), -np.radians(75.0), np.radians(75.0))
    roll = rng.normal(0.0, np.radians(55.0), count)
    any_roll = rng.random(count) < 0.15
    roll = np.where(any_roll, rng.uniform(-np.pi, np.pi, count), roll)
    view = Rotation.from_euler("ZXY", np.stack([roll, pitch, yaw], axis=1))
    return (view * _REST_TO_UPRIGHT).as_rotvec()


def sample_poses_and_shapes(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 16, 3) float32 poses (joint 0 from :func:`sample_rotations`) and (count, 10) shapes."""
    kinds = rng.choice(len(ALL_POSE_KINDS), size=count, p=[POSE_KIND_WEIGHTS[k] for k in ALL_POSE_KINDS])
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    pose = np.zeros((count, 16, 3), dtype=np.float32)
    for k, kind in enumerate(ALL_POSE_KINDS):
        members = np.flatnonzero(kinds == k)
        if len(members):
            pose[members] = sample_poses(kind, len(members), generator=generator).numpy()
    pose[:, 0] = sample_rotations(rng, count)
    shape = np.clip(rng.standard_normal((count, 10)), -SHAPE_CLIP, SHAPE_CLIP).astype(np.float32)
    return pose, shape


def _projected_box(vertices: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[u_min, v_min, u_max, v_max] of (N, 3) camera-space points (metres) seen by K, pixels."""
    uv = project_points(vertices, K)
    return np.concatenate([uv.min(axis=0), uv.max(axis=0)])


def place_hand(rng: np.random.Generator, vertices: np.ndarray, image_size: int,
               split: str = "training") -> tuple[np.ndarray, np.ndarray]:
    """Choose intrinsics and a translation that frame one posed hand like a FreiHAND image.

    Args:
        vertices: (778, 3) posed hand without translation, metres.
        image_size: side of the square image, pixels.
        split: 'evaluation' hands are smaller and stay inside the fixed evaluation crop.

    Returns:
        K (3, 3) float64 with fx = fy (rounded to 1e-4 px) and trans (3,) float64, metres.
    """
    scale = image_size / 224.0
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = float(max(high[0] - low[0], high[1] - low[1]))
    box = rng.uniform(*BOX_RANGE[split]) * scale
    focal = np.exp(rng.uniform(*np.log(FOCAL_RANGE))) * scale
    depth = focal * extent / box
    if not DEPTH_RANGE[0] <= depth <= DEPTH_RANGE[1]:
        depth = float(np.clip(depth, *DEPTH_RANGE))
        focal = float(np.clip(box * depth / extent, 0.75 * FOCAL_RANGE[0] * scale, 1.3 * FOCAL_RANGE[1] * scale))
    middle = (image_size - 1) / 2.0
    principal = middle + np.clip(rng.normal(0.0, PRINCIPAL_JITTER, 2), -8.0, 8.0) * scale
    target = middle + np.clip(rng.normal(0.0, CENTRE_JITTER, 2), -18.0, 18.0) * scale
    focal, principal = round(float(focal), 4), np.round(principal, 4)
    K = np.array([[focal, 0.0, principal[0]], [0.0, focal, principal[1]], [0.0, 0.0, 1.0]])
    centre3d = (low + high) / 2.0
    first, last = (FRAME[split][0] + BORDER_MARGIN) * scale, (FRAME[split][1] - BORDER_MARGIN) * scale
    for _ in range(20):
        trans = np.append((target - principal) * depth / focal, depth) - centre3d
        u0, v0, u1, v1 = _projected_box(vertices + trans, K)
        if min(u0, v0) >= first and max(u1, v1) <= last:
            break
        depth *= 1.08  # too big or off the frame: step back
    return K, trans


def posed_hand(hand: HandModel, pose: np.ndarray, shape: np.ndarray, trans: np.ndarray | None = None):
    """Run the hand model on float32 parameters; returns its :class:`HandOutput` (metres)."""
    with torch.no_grad():
        return hand(torch.from_numpy(np.ascontiguousarray(pose, dtype=np.float32)),
                    torch.from_numpy(np.ascontiguousarray(shape, dtype=np.float32)),
                    None if trans is None else torch.from_numpy(np.ascontiguousarray(trans, dtype=np.float32)))


def sample_chunk(hand: HandModel, seed: int, split: str, chunk: int, count: int,
                 image_size: int) -> SceneParameters:
    """Parameters of ``count`` annotations (at most :data:`CHUNK_SIZE`) of one chunk."""
    rng = chunk_rng(seed, split, chunk, stream=0)
    pose, shape = sample_poses_and_shapes(rng, count)
    rest_placed = posed_hand(hand, pose, shape).vertices.double().numpy()
    placements = [place_hand(rng, vertices, image_size, split) for vertices in rest_placed]
    K = np.stack([k for k, _ in placements])
    trans = np.stack([t for _, t in placements]).astype(np.float32)
    return SceneParameters(pose, shape, trans, K)
