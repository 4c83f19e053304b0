"""Where a model's root-relative joint error comes from: size, global rotation or articulation.

Runs a checkpoint on the evaluation split of a FreiHAND-layout set with ground truth (the
synthetic one by default) and prints the root-relative MPJPE as it is, after the best scale alone,
after the best rotation alone and after both (PA-MPJPE, proper rotations); the percentiles of the
angle of that best rotation and the share beyond 90 degrees (palm and back confused); and how the
predicted hand size (the sum of the 20 bone lengths) follows the true one.
Run ``python -m cmr bench orientation [--checkpoint cmr/assets/lite_real.pt] [--root DIR]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from cmr.hand.conventions import hand_size


def error_parts(pred: np.ndarray, gt: np.ndarray) -> dict:
    """The decomposition of the module docstring for (N, 21, 3) root-relative joints in metres;
    errors in mm, angles in degrees."""
    from cmr.evaluation.metrics import align_w_scale, fit_similarity

    def mean_mm(aligned: np.ndarray) -> float:
        return float(np.linalg.norm(aligned - gt, axis=-1).mean() * 1000.0)

    scale = (pred * gt).sum(axis=(1, 2)) / np.maximum((pred * pred).sum(axis=(1, 2)), 1e-12)
    fit = fit_similarity(gt, pred, eps=0.0, allow_reflection=False)
    rotated = (pred - fit.pred_centroid[:, None]) @ np.swapaxes(fit.rotation, 1, 2) + fit.gt_centroid[:, None]
    cosine = (np.trace(fit.rotation, axis1=1, axis2=2) - 1.0) / 2.0
    angles = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    sizes = hand_size(pred), hand_size(gt)
    return {
        "mpjpe_mm": mean_mm(pred), "scaled_mm": mean_mm(pred * scale[:, None, None]),
        "rotated_mm": mean_mm(rotated), "pa_mpjpe_mm": mean_mm(align_w_scale(gt, pred, allow_reflection=False)),
        "angle_percentiles_deg": dict(zip((25, 50, 75, 90), np.percentile(angles, [25, 50, 75, 90]).tolist())),
        "share_beyond_90_deg": float((angles > 90.0).mean()),
        "size_ratio_median": float(np.median(sizes[0] / sizes[1])),
        "size_correlation": float(np.corrcoef(*sizes)[0, 1]),
    }


def predicted_joints(checkpoint: str, root: str | None, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) (N, 21, 3) root-relative joints in metres on the evaluation split (the
    trainer's validation pass, :func:`cmr.engine.train_support.root_relative_predictions`)."""
    import torch

    from cmr.data.freihand import dataset_from_config
    from cmr.engine.checkpoint import open_run
    from cmr.engine.distributed import ProcessInfo
    from cmr.engine.train_support import data_loader, root_relative_predictions

    loaded = open_run(checkpoint, None, ["DATA.ROOT", root] if root else [])
    dataset = dataset_from_config(loaded.cfg, "evaluation", loaded.template)
    if dataset.xyz is None or dataset.verts is None:
        raise ValueError(f"{loaded.cfg.DATA.ROOT}: its evaluation split has no 3-D joints and meshes to compare with")
    device = next(loaded.model.parameters()).device
    regressor = torch.as_tensor(loaded.template.joint_regressor, dtype=torch.float32, device=device)
    loader = data_loader(dataset, loaded.cfg, ProcessInfo(0, 0, 1, device), 0, False, batch, False)
    pairs = [batch_pairs["joints"] for batch_pairs in root_relative_predictions(loaded.model, loader, regressor,
                                                                                  device, True)]
    return np.concatenate([pred for pred, _ in pairs]), np.concatenate([gt for _, gt in pairs])


DESCRIPTION = __doc__.splitlines()[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoint, the dataset and the batch size."""
    parser.add_argument("--checkpoint", default="cmr/assets/lite_real.pt", help="default: the bundled model")
    parser.add_argument("--root", help="FreiHAND-layout set (default: the checkpoint's DATA.ROOT)")
    parser.add_argument("--batch", type=int, default=50)


def run(args: argparse.Namespace) -> int:
    """Print the decomposition."""
    from cmr.config import resolve_path

    parts = error_parts(*predicted_joints(str(resolve_path(args.checkpoint)), args.root, args.batch))
    print(f"root-relative MPJPE {parts['mpjpe_mm']:.1f} mm; best scale alone {parts['scaled_mm']:.1f}; "
          f"best rotation alone {parts['rotated_mm']:.1f}; both (PA-MPJPE) {parts['pa_mpjpe_mm']:.1f}")
    angles = ", ".join(f"{q}%: {value:.1f}" for q, value in parts["angle_percentiles_deg"].items())
    print(f"best rotation's angle, degrees: {angles}; beyond 90: {parts['share_beyond_90_deg']:.1%}")
    print(f"hand size (sum of bones), predicted / true: median {parts['size_ratio_median']:.3f}, "
          f"correlation {parts['size_correlation']:.2f}")
    return 0
