"""``python -m cmr experiment bundled``: the bundled default (``cmr/assets/lite_real.pt``) from its
two-stage recipe: ``configs/lite_real.yaml`` (stage 1, exported to the stage-2 configuration's
``TRAIN.WEIGHTS``) then ``configs/lite_real_continued.yaml`` (stage 2, from those weights); each
stage resumed when interrupted and skipped when done (stage 1 when its export exists); then export,
draw the training curves of both stages and score it.

Written to ``out/experiments/bundled/``: ``results.{md,json}`` (the synthetic evaluation split's
official FreiHAND metrics, network + registration; Ge et al.'s real dev crops for every stage of
the photo pipeline, when ``../shared/data/ge_real_dev`` is there) and ``training.png`` (also
``cmr/assets/figures/bundled_training.png``): the training loss per step and the validation errors
after every epoch, against samples seen.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cmr.config import resolve_path

STAGE1 = "configs/lite_real.yaml"
RECIPE = "configs/lite_real_continued.yaml"
BUNDLED = "cmr/assets/lite_real.pt"
FIGURE = "cmr/assets/figures/bundled_training.png"
#: Official FreiHAND scores reported (cm -> mm for the means) and their titles.
SYNTH_SCORES = {"xyz_mean3d": "camera MPJPE mm", "mesh_mean3d": "camera MPVPE mm", "xyz_al_mean3d": "PA-MPJPE mm",
                "mesh_al_mean3d": "PA-MPVPE mm", "xyz_al_auc3d": "AUC 0-5 cm aligned", "f_al_score_5": "F@5 aligned",
                "f_al_score_15": "F@15 aligned"}
#: Stages of the photo pipeline on Ge's crops and their titles.
GE_STAGES = {"network": "network mesh, registered (no fitting)", "fitted": "hand model fitted to all (the demo)",
             "detector_fitted": "hand model fitted to the detector alone (the pseudo-labeller)"}


def training_figure(history: list[dict], batch_size: int, figure: Path, stage_starts: tuple[int, ...] = ()) -> None:
    """Two panels against samples seen: each step's training loss (and a 25-step mean), and the
    validation PA-MPJPE / PA-MPVPE (mm) after every epoch. ``history``: the per-epoch records of a
    run (or of runs one after another); ``stage_starts``: indices into it where a stage begins,
    marked by a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = np.concatenate([record["step_losses"] for record in history])
    steps = np.arange(1, len(losses) + 1) * batch_size
    ends = np.cumsum([len(record["step_losses"]) for record in history]) * batch_size
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=120)
    left.plot(steps, losses, lw=0.5, alpha=0.4, label="step")
    if len(losses) >= 25:
        left.plot(steps[12:-12], np.convolve(losses, np.ones(25) / 25, mode="valid"), lw=1.5, label="25-step mean")
    left.set(xlabel="samples seen", ylabel="training loss (weighted sum)", yscale="log", title="training")
    for key, title in (("val_pa_mpjpe_mm", "PA-MPJPE"), ("val_pa_mpvpe_mm", "PA-MPVPE")):
        right.plot(ends, [record[key] for record in history], marker="o", label=title)
    right.set(xlabel="samples seen", ylabel="mm", title="validation (synthetic evaluation split)")
    for axis in (left, right):
        for start in stage_starts:
            axis.axvline(ends[start - 1], color="grey", ls="--", lw=1)
        axis.grid(alpha=0.3), axis.legend()
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure)
    plt.close(fig)


def run_bundled() -> dict:
    """Train, export and score the bundled default (see the module docstring)."""
    from cmr.engine.checkpoint import export_checkpoint, load_checkpoint
    from cmr.tools import experiment_data
    from cmr.tools.experiments import GE_DEV, OUT, config, ge_stage_scores, report, synth_scores, train_once

    experiment_data.prepare(["sign_digits"])
    recipe = config(RECIPE)
    stage1 = resolve_path(recipe.TRAIN.WEIGHTS)
    if not stage1.is_file():
        export_checkpoint(train_once(STAGE1), stage1)
    last = train_once(RECIPE)
    bundled = export_checkpoint(last, resolve_path(BUNDLED))
    folder = resolve_path(OUT) / "bundled"
    first_history = load_checkpoint(stage1)["history"]
    training_figure(first_history + load_checkpoint(last)["history"], int(recipe.TRAIN.BATCH_SIZE),
                    folder / "training.png", (len(first_history),))
    shutil.copyfile(folder / "training.png", resolve_path(FIGURE))
    rows = {"synthetic evaluation split (500)": synth_scores(bundled, "bundled", SYNTH_SCORES)}
    if resolve_path(GE_DEV).is_dir():
        stages = ge_stage_scores(bundled, "bundled")
        rows.update({f"Ge dev: {title}": stages[stage] for stage, title in GE_STAGES.items()})
    return report("bundled", rows, f"\n{BUNDLED} ({bundled.stat().st_size / 2**20:.1f} MiB), trained by {STAGE1} "
                  f"then {RECIPE}. "
                  "Figure: training.png.\n")
