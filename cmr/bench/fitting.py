"""Benchmark of cmr.fitting: milliseconds per hand, and the recovery of known synthetic hands.

Synthetic hands: natural poses of every kind (:func:`cmr.hand.sample_poses`) with uniformly
random global rotations, shapes beta ~ N(0, 1), 0.45-0.75 m in front of a 224 px camera
(focal 500 px), half of them left hands. Two cases:

* **exact**: the target is the posed mesh itself plus its projected keypoints; the fit should
  give it back (mesh error, keypoint error, joint-angle error, within the joint limits);
* **noisy**: a stand-in for a network's prediction (the hand with every local joint angle
  jittered by 5 degrees, beta by 0.5, the root by 3 degrees and 5 mm, plus 1 mm of vertex
  noise), the true keypoints with 2 px of noise and the true silhouette (rasterised); the
  table gives the distance of the prediction and of the fits to the true hand.

Run ``python -m cmr bench fitting [--hands 64] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from cmr.fitting import FittingConfig, fit_hand
from cmr.geometry.camera import project_points
from cmr.hand import POSE_KINDS, HandModel, local_angles, sample_poses, within_limits
from cmr.hand.poses import clamp_to_limits, pose_from_local_angles
from cmr.render import rasterize

SIZE = 224
FOCAL = 500.0
#: Noise of the "noisy" case: joint angles (degrees), beta, root rotation (degrees), root
#: position (metres), vertices (metres), keypoints (pixels).
ANGLE_NOISE_DEG, SHAPE_NOISE, ROOT_NOISE_DEG, POSITION_NOISE, VERTEX_NOISE, KEYPOINT_NOISE_PX = 5.0, 0.5, 3.0, 0.005, 0.001, 2.0
_MIRROR = torch.tensor([1.0, -1.0, -1.0])


def make_hands(count: int, seed: int) -> dict:
    """``count`` known hands (see the module docstring), half right, half left.

    Returns a dict: pose (B, 16, 3) in each side's convention, right_pose (B, 16, 3) in the
    right-hand convention, shape (B, 10), translation (B, 3) m, sides, K (B, 3, 3),
    vertices (B, 778, 3) m, joints (B, 21, 3) m, uv (B, 21, 2) px, mask (B, 224, 224) bool.
    """
    generator = torch.Generator().manual_seed(seed)
    per_kind = math.ceil(count / len(POSE_KINDS))
    right_pose = torch.cat([sample_poses(kind, per_kind, seed + index, random_global_rotation=True)
                            for index, kind in enumerate(POSE_KINDS)])[:count]
    sides = tuple("left" if index % 2 else "right" for index in range(count))
    left = torch.tensor([side == "left" for side in sides])
    pose = torch.where(left[:, None, None], right_pose * _MIRROR, right_pose)
    shape = torch.randn(count, 10, generator=generator)
    depth = 0.45 + 0.3 * torch.rand(count, generator=generator)
    translation = torch.stack([0.02 * torch.randn(count, generator=generator),
                               0.02 * torch.randn(count, generator=generator), depth], dim=1)
    K = torch.tensor([[FOCAL, 0.0, (SIZE - 1) / 2], [0.0, FOCAL, (SIZE - 1) / 2], [0.0, 0.0, 1.0]]).repeat(count, 1, 1)
    hands = {"pose": pose, "right_pose": right_pose, "shape": shape, "translation": translation, "sides": sides, "K": K}
    hands.update(_posed(HandModel(), pose, shape, translation, sides))
    hands["uv"] = project_points(hands["joints"], K)
    hands["mask"] = rasterize(hands["vertices"], HandModel().faces, K, (SIZE, SIZE)).mask
    return hands


def _posed(model: HandModel, pose, shape, translation, sides) -> dict:
    """Vertices (B, 778, 3) and joints (B, 21, 3) of hands of mixed sides."""
    outputs = [model(pose[i:i + 1], shape[i:i + 1], translation[i:i + 1], side=side) for i, side in enumerate(sides)]
    return {"vertices": torch.cat([out.vertices for out in outputs]), "joints": torch.cat([out.joints for out in outputs])}


def noisy_prediction(hands: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A perturbed mesh (B, 778, 3) m and noisy keypoints (B, 21, 2) px (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)
    count = len(hands["pose"])
    angles = local_angles(hands["right_pose"])
    angles = angles + math.radians(ANGLE_NOISE_DEG) * torch.randn(angles.shape, generator=generator)
    right_pose = clamp_to_limits(pose_from_local_angles(angles))
    right_pose[:, 0] = hands["right_pose"][:, 0] + math.radians(ROOT_NOISE_DEG) * torch.randn(count, 3, generator=generator)
    left = torch.tensor([side == "left" for side in hands["sides"]])
    pose = torch.where(left[:, None, None], right_pose * _MIRROR, right_pose)
    shape = hands["shape"] + SHAPE_NOISE * torch.randn(count, 10, generator=generator)
    translation = hands["translation"] + POSITION_NOISE * torch.randn(count, 3, generator=generator)
    vertices = _posed(HandModel(), pose, shape, translation, hands["sides"])["vertices"]
    vertices = vertices + VERTEX_NOISE * torch.randn(vertices.shape, generator=generator)
    uv = hands["uv"] + KEYPOINT_NOISE_PX * torch.randn(hands["uv"].shape, generator=generator)
    return vertices, uv


def _seconds(function, repeats: int) -> float:
    """Best-of-``repeats`` wall time of ``function()`` in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def timing_rows(hands: dict, batches: tuple[int, ...], repeats: int) -> list[tuple[int, float, float]]:
    """(batch, ms per hand with keypoints, ms per hand with keypoints and silhouette) per batch size."""
    rows = []
    for batch in batches:
        part = {key: value[:batch] for key, value in hands.items()}

        def with_keypoints():
            return fit_hand(part["vertices"], part["uv"], None, part["K"], side=part["sides"])

        def with_mask():
            return fit_hand(part["vertices"], part["uv"], None, part["K"], part["mask"], side=part["sides"])

        rows.append((batch, 1e3 * _seconds(with_keypoints, repeats) / batch, 1e3 * _seconds(with_mask, repeats) / batch))
    return rows


def recovery(hands: dict) -> dict:
    """Errors of the exact case (see the module docstring) over all hands: means and maxima."""
    fit = fit_hand(hands["vertices"], hands["uv"], None, hands["K"], side=hands["sides"])
    left = torch.tensor([side == "left" for side in hands["sides"]])
    right_pose = torch.where(left[:, None, None], fit.pose * _MIRROR, fit.pose)
    angle_error = (local_angles(right_pose) - local_angles(hands["right_pose"]))[:, 1:].abs().rad2deg()
    truth_error = (fit.vertices - hands["vertices"]).norm(dim=-1).mean(-1) * 1000
    return {"mesh_mm": fit.mesh_error_mm, "keypoint_px": fit.keypoint_error_px, "truth_mm": truth_error,
            "angle_deg": angle_error.flatten(), "within_limits": within_limits(right_pose).float().mean().item()}


def noisy_rows(hands: dict, seed: int) -> list[tuple[str, float, float]]:
    """(inputs, mean vertex error to the truth mm, mean keypoint error to the truth px) per fit."""
    vertices, uv = noisy_prediction(hands, seed)
    true_uv = hands["uv"]

    def errors(mesh, joints):
        keypoints = project_points(joints, hands["K"])
        return ((mesh - hands["vertices"]).norm(dim=-1).mean().item() * 1000,
                (keypoints - true_uv).norm(dim=-1).mean().item())

    model = HandModel()
    joints = torch.einsum("kv,bvc->bkc", model.joint_regressor, vertices)
    rows = [("prediction (no fit)", *errors(vertices, joints))]
    for name, arguments in (("mesh", {}), ("mesh + keypoints", {"keypoints": uv, "K": hands["K"]}),
                            ("mesh + keypoints + silhouette", {"keypoints": uv, "K": hands["K"], "mask": hands["mask"]})):
        fit = fit_hand(vertices, side=hands["sides"], **arguments)
        rows.append((f"fit: {name}", *errors(fit.vertices, fit.joints)))
    return rows


DESCRIPTION = __doc__.splitlines()[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--hands", type=int, default=64, help="synthetic hands (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, best taken (default 3)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Print the timings, the exact-case recovery and the noisy-case comparison."""
    torch.set_num_threads(args.threads)
    config = FittingConfig.defaults()
    hands = make_hands(max(args.hands, 32), args.seed)
    fit_hand(hands["vertices"][:2], hands["uv"][:2], None, hands["K"][:2])  # warm-up
    print(f"fitting the open hand model: {config.iterations} Adam steps, {args.threads} thread(s), float32 CPU")
    print(f"{'batch':>5} {'ms/hand (mesh+kp)':>18} {'ms/hand (+silhouette)':>22}")
    for batch, keypoints_ms, mask_ms in timing_rows(hands, (1, 32), args.repeats):
        print(f"{batch:>5} {keypoints_ms:>18.1f} {mask_ms:>22.1f}")
    errors = recovery(hands)
    print(f"\nexact targets ({len(hands['pose'])} hands, half left): mean / max")
    for name, unit in (("mesh_mm", "mesh residual (mm)"), ("keypoint_px", "keypoint residual (px)"),
                       ("truth_mm", "vertex error to the true hand (mm)"), ("angle_deg", "joint-angle error (deg)")):
        print(f"  {unit:<36} {errors[name].mean().item():>7.3f} / {errors[name].max().item():.3f}")
    print(f"  {'fraction within the joint limits':<36} {errors['within_limits']:>7.3f}")
    print(f"\nnoisy prediction: angles {ANGLE_NOISE_DEG} deg, beta {SHAPE_NOISE}, root {ROOT_NOISE_DEG} deg / "
          f"{POSITION_NOISE * 1000:g} mm, vertices {VERTEX_NOISE * 1000:g} mm, keypoints {KEYPOINT_NOISE_PX} px")
    print(f"  {'inputs':<34} {'vertex error (mm)':>17} {'keypoint error (px)':>20}")
    for name, vertex_mm, keypoint_px in noisy_rows(hands, args.seed + 1):
        print(f"  {name:<34} {vertex_mm:>17.2f} {keypoint_px:>20.2f}")
    return 0
