"""Natural hand pose sampling and anatomical-limit utilities.

Poses are (num, 16, 3) axis-angle rotation vectors in radians, MANO order: joint 0 is the
global rotation, joints 1-15 are local rotations expressed in the hand's rest axes. Limits
are box limits on the (flexion, abduction, twist) components of each rotation vector in
the joint's local frame (see :mod:`cmr.hand.skeleton`).
"""

from __future__ import annotations

import torch

from cmr.hand.assets import build_hand_assets
from cmr.hand.conventions import NUM_ARTICULATED_JOINTS
from cmr.hand.skeleton import DIGIT_JOINTS, JOINT_LIMITS

POSE_KINDS = ("fist", "pinch", "point", "open", "grasp", "random")
#: Kinds built from the ones above: 'count' (each finger straight or curled on its own, the thumb
#: out or folded: counting and sign-language hand shapes) and 'mix' (a blend of two posed kinds).
#: Kept apart because the hand model's own assets are built from ``POSE_KINDS`` alone.
GESTURE_KINDS = ("count", "mix")
ALL_POSE_KINDS = POSE_KINDS + GESTURE_KINDS
_POSED_KINDS = ("fist", "pinch", "point", "open", "grasp")
FINGER_NAMES = ("index", "middle", "ring", "little")

# Mean (flexion, abduction, twist) in degrees per digit joint for each posed kind.
# Finger entries: (MCP, PIP, DIP) flexion; thumb entries: CMC, MCP, IP triples.
_FINGER_FLEXION = {
    "fist": {name: (80.0, 100.0, 60.0) for name in FINGER_NAMES},
    "pinch": {"index": (45.0, 55.0, 30.0), "middle": (30.0, 35.0, 20.0), "ring": (25.0, 30.0, 20.0), "little": (20.0, 30.0, 20.0)},
    "point": {"index": (5.0, 5.0, 3.0), "middle": (80.0, 100.0, 60.0), "ring": (80.0, 100.0, 60.0), "little": (80.0, 100.0, 60.0)},
    "open": {name: (0.0, 0.0, 0.0) for name in FINGER_NAMES},
    "grasp": {name: (40.0, 55.0, 30.0) for name in FINGER_NAMES},
}
_FINGER_SPREAD = {"index": 6.0, "middle": 0.0, "ring": -4.0, "little": -8.0}  # abduction when open
# The thumb opposes in every closed kind: CMC flexion swings it in front of the palm toward
# the fingers (see the thumb's frame in cmr.hand.rest_mesh), MCP/IP flexion curls it across.
_THUMB = {
    "fist": ((30.0, -6.0, 6.0), (12.0, 0.0, 0.0), (32.0, 0.0, 0.0)),  # over index/middle middle phalanges
    "pinch": ((41.0, -1.0, 8.0), (-5.0, 0.0, 0.0), (-3.0, 0.0, 0.0)),  # tip on the index tip
    "point": ((32.0, -6.0, 6.0), (19.0, 0.0, 0.0), (9.0, 0.0, 0.0)),  # resting on the flexed middle finger
    "open": ((0.0, 5.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "grasp": ((24.0, 4.0, 5.0), (5.0, 0.0, 0.0), (10.0, 0.0, 0.0)),  # opposed around an object
}
#: Standard deviation (degrees) of the per-sample variation around a posed kind.
POSE_JITTER_DEGREES = 6.0
#: Joints whose jitter is reduced per kind (factor), so a pinch keeps its thumb-index contact.
_JITTER_SCALE = {"pinch": {joint: 0.35 for joint in DIGIT_JOINTS["index"] + DIGIT_JOINTS["thumb"]}}


def _frames(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(build_hand_assets().joint_frames, dtype=dtype, device=device)


def local_angles(pose: torch.Tensor) -> torch.Tensor:
    """(..., 16, 3) pose rotation vectors -> (flexion, abduction, twist) components per joint."""
    return torch.einsum("jkc,...jk->...jc", _frames(pose.dtype, pose.device), pose)


def pose_from_local_angles(angles: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`local_angles`: (..., 16, 3) local components -> rotation vectors."""
    return torch.einsum("jkc,...jc->...jk", _frames(angles.dtype, angles.device), angles)


def _limits(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    limits = torch.as_tensor(JOINT_LIMITS, dtype=dtype, device=device)
    return limits[:, 0], limits[:, 1]


def clamp_to_limits(pose: torch.Tensor) -> torch.Tensor:
    """Clamp every joint's local (flexion, abduction, twist) into its limits; (..., 16, 3)."""
    low, high = _limits(pose.dtype, pose.device)
    angles = local_angles(pose)
    clamped = pose_from_local_angles(torch.maximum(torch.minimum(angles, high), low))
    clamped[..., 0, :] = pose[..., 0, :]  # the global rotation is not limited
    return clamped


def within_limits(pose: torch.Tensor, tolerance: float = 1e-5) -> torch.Tensor:
    """(...,) bool: whether every articulated joint of each pose is within its limits."""
    low, high = _limits(pose.dtype, pose.device)
    angles = local_angles(pose)[..., 1:, :]
    inside = (angles >= low[1:] - tolerance) & (angles <= high[1:] + tolerance)
    return inside.flatten(-2).all(-1)


def _random_rotation_vectors(num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 3) rotation vectors of uniformly distributed rotations."""
    quaternions = torch.randn(num, 4, generator=generator, dtype=torch.float64)
    quaternions = quaternions / quaternions.norm(dim=1, keepdim=True)
    quaternions = quaternions * torch.sign(quaternions[:, :1] + 1e-12)
    half_angle = torch.acos(quaternions[:, 0].clamp(-1.0, 1.0))
    axis = quaternions[:, 1:] / torch.sin(half_angle).clamp_min(1e-9).unsqueeze(1)
    return axis * (2.0 * half_angle).unsqueeze(1)


def _uniform(num: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(num, generator=generator, dtype=torch.float64)


def _random_means(num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 16, 3) degrees: one overall curl shared by the fingers plus a per-finger deviation."""
    angles = torch.zeros(num, NUM_ARTICULATED_JOINTS, 3, dtype=torch.float64)
    overall = _uniform(num, generator)
    for name in FINGER_NAMES:
        curl = (overall + 0.25 * torch.randn(num, generator=generator, dtype=torch.float64)).clamp(0.0, 1.0)
        mcp, pip, dip = DIGIT_JOINTS[name]
        angles[:, mcp, 0] = -15.0 + 100.0 * curl
        angles[:, pip, 0] = 105.0 * curl
        angles[:, dip, 0] = 0.7 * 105.0 * curl
        angles[:, mcp, 1] = _FINGER_SPREAD[name] * (1.0 - curl) + 8.0 * torch.randn(num, generator=generator, dtype=torch.float64)
    thumb_curl = _uniform(num, generator)
    cmc, mcp, ip = DIGIT_JOINTS["thumb"]
    angles[:, cmc] = torch.stack([50.0 * thumb_curl, -10.0 + 40.0 * _uniform(num, generator), 20.0 * thumb_curl], dim=1)
    angles[:, mcp, 0] = 55.0 * thumb_curl
    angles[:, ip, 0] = 70.0 * thumb_curl
    return angles


def _posed_means(kind: str, num: int) -> torch.Tensor:
    """(num, 16, 3) degrees: the mean of one posed kind."""
    angles = torch.zeros(num, NUM_ARTICULATED_JOINTS, 3, dtype=torch.float64)
    for name in FINGER_NAMES:
        for joint, flexion in zip(DIGIT_JOINTS[name], _FINGER_FLEXION[kind][name]):
            angles[:, joint, 0] = flexion
        angles[:, DIGIT_JOINTS[name][0], 1] = _FINGER_SPREAD[name] if kind == "open" else 0.0
    for joint, triple in zip(DIGIT_JOINTS["thumb"], _THUMB[kind]):
        angles[:, joint] = torch.tensor(triple, dtype=torch.float64)
    return angles


def _count_means(num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 16, 3) degrees: every finger straight (spread) or curled into the palm on its own
    draw, the thumb out to the side or folded over the curled fingers (counting, sign digits)."""
    straight, curled = _posed_means("open", num), _posed_means("fist", num)
    angles = curled.clone()
    for name in FINGER_NAMES + ("thumb",):
        joints = list(DIGIT_JOINTS[name])
        out = (_uniform(num, generator) < 0.5)[:, None, None]
        angles[:, joints] = torch.where(out, straight[:, joints], curled[:, joints])
    thumb_out = out[:, 0, 0]  # the loop's last draw: the thumb's
    angles[:, DIGIT_JOINTS["thumb"][0], 1] += 25.0 * _uniform(num, generator) * thumb_out  # out: abducted
    return angles


def _mix_means(num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 16, 3) degrees: a random blend of two posed kinds' means (poses between the kinds)."""
    means = torch.stack([_posed_means(kind, num) for kind in _POSED_KINDS])  # (kinds, num, 16, 3)
    first = torch.randint(len(_POSED_KINDS), (num,), generator=generator)
    second = torch.randint(len(_POSED_KINDS), (num,), generator=generator)
    weight = _uniform(num, generator)[:, None, None]
    rows = torch.arange(num)
    return means[first, rows] + weight * (means[second, rows] - means[first, rows])


def _kind_means(kind: str, num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 16, 3) local angles in degrees before jitter."""
    if kind == "random":
        return _random_means(num, generator)
    if kind == "count":
        return _count_means(num, generator)
    if kind == "mix":
        return _mix_means(num, generator)
    return _posed_means(kind, num)


def sample_poses(
    kind: str,
    num: int,
    generator: torch.Generator | int | None = None,
    random_global_rotation: bool = False,
) -> torch.Tensor:
    """Sample natural right-hand poses of one kind, always within the anatomical limits.

    Args:
        kind: one of ``ALL_POSE_KINDS``: 'fist', 'pinch', 'point', 'open', 'grasp' (a posed
            kind with small per-sample variation), 'random' (correlated finger curls spanning
            the limits), 'count' or 'mix' (see ``GESTURE_KINDS``).
        num: number of poses.
        generator: a ``torch.Generator`` or an integer seed (None: seed 0).
        random_global_rotation: draw joint 0 uniformly over rotations (else zero).
    Returns:
        (num, 16, 3) float32 axis-angle poses in radians, MANO joint order.
    """
    if kind not in ALL_POSE_KINDS:
        raise ValueError(f"unknown pose kind {kind!r}; expected one of {ALL_POSE_KINDS}")
    if not isinstance(generator, torch.Generator):
        generator = torch.Generator().manual_seed(0 if generator is None else int(generator))
    angles = _kind_means(kind, num, generator)
    jitter = POSE_JITTER_DEGREES * torch.randn(num, NUM_ARTICULATED_JOINTS, 3, generator=generator, dtype=torch.float64)
    jitter[..., 1:] *= 0.5  # abduction and twist vary less than flexion
    for joint, factor in _JITTER_SCALE.get(kind, {}).items():
        jitter[:, joint] *= factor
    angles = torch.deg2rad(angles + jitter)
    angles[:, 0] = 0.0
    pose = clamp_to_limits(pose_from_local_angles(angles))
    if random_global_rotation:
        pose[:, 0] = _random_rotation_vectors(num, generator)
    return pose.float()
