"""Figures of the texture experiment: the photometric error over training, textured real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

#: Photos shown in the texture sheet; the fraction of the logged steps averaged at each end of the curve.
SHEET_PHOTOS, CURVE_END_FRACTION = 8, 0.2


def photometric_curve(board: Path, figure: Path) -> tuple[float, float]:
    """Plot ``train/photometric`` from a run's TensorBoard folder; returns its first logged value and
    the median of its last :data:`CURVE_END_FRACTION` of logged values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(board), size_guidance={"scalars": 0})
    events.Reload()
    if "train/photometric" not in events.Tags()["scalars"]:
        raise ValueError(f"{board}: no train/photometric scalars (was MODEL.TEXTURE on?)")
    points = events.Scalars("train/photometric")
    steps = np.array([p.step for p in points])
    values = np.array([p.value for p in points])
    fig, axis = plt.subplots(figsize=(5, 3), dpi=120)
    axis.plot(steps, values, lw=0.8, alpha=0.5, label="logged step")
    if len(values) >= 5:
        smooth = np.convolve(values, np.ones(5) / 5, mode="valid")
        axis.plot(steps[2:-2], smooth, lw=1.8, label="5-point mean")
    axis.set(xlabel="step", ylabel="photometric L1 in the silhouette", title="render-and-compare")
    axis.legend(), fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure)
    plt.close(fig)
    ends = max(1, round(CURVE_END_FRACTION * len(values)))
    return float(values[0]), float(np.median(values[-ends:]))


@torch.no_grad()
def texture_sheet(checkpoint: Path, folder: Path, figure: Path) -> None:
    """Rows of (photo crop, textured render over it, albedo alone) for the first photos of a
    prepared folder (``photos/`` with ``detections/``), written as one JPEG."""
    from cmr.data.mixing import collate_mixed
    from cmr.data.photos import DetectedPhotos, find_hands
    from cmr.engine.checkpoint import open_run
    from cmr.geometry.crop import CropPolicy
    from cmr.models.outputs import decode_outputs
    from cmr.models.render_losses import place_meshes
    from cmr.models.texture import light_from_vector
    from cmr.render import render
    from cmr.vis.overlay import write_rgb_jpeg

    loaded = open_run(checkpoint, None, ["TEST.FAST_INFERENCE", "False"])
    cfg, template = loaded.cfg, loaded.template
    hands = find_hands(folder / "photos", folder / "detections", None, 0.5, float(cfg.DEMO.FOV))
    step = max(1, len(hands) // SHEET_PHOTOS)
    dataset = DetectedPhotos(hands[::step][:SHEET_PHOTOS], CropPolicy.from_config(cfg.MODEL), None, False, 0.2)
    batch = collate_mixed([dataset[i] for i in range(len(dataset))])
    size = cfg.MODEL.INPUT_SIZE
    regressor = torch.as_tensor(template.joint_regressor, dtype=torch.float32)
    outputs = decode_outputs(loaded.model(batch["image"]), regressor, size)
    placed = place_meshes(outputs.vertices, outputs.joints, batch["keypoints"], batch["keypoint_confidence"] ** 2,
                          batch["K"], size, size)
    faces = torch.as_tensor(template.faces[0], dtype=torch.long)
    photo = (batch["image"].permute(0, 2, 3, 1) * 0.5 + 0.5).clamp(0, 1)
    shaded = render(placed.vertices, faces, placed.K, (size, size), outputs.albedo,
                    light_from_vector(outputs.light), background=photo).image
    flat = render(placed.vertices, faces, placed.K, (size, size), outputs.albedo,
                  background=torch.ones(3)).image
    rows = [torch.cat([photo[i], shaded[i].clamp(0, 1), flat[i].clamp(0, 1)], dim=1) for i in range(len(photo))]
    sheet = torch.cat(rows, dim=0).numpy()
    write_rgb_jpeg(figure, (sheet * 255).round().astype(np.uint8))
