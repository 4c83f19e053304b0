"""``python -m cmr experiment bundled``: the bundled default (``cmr/assets/lite_real.pt``) from its
recipe, in two stages: ``configs/lite_real.yaml`` (from scratch), then
``configs/lite_real_aligned.yaml`` (from the first stage's export, pseudo-labels compared up to a
similarity); and the second stage's control, ``configs/experiments/bundled_more.yaml`` (the same
epochs, pseudo-labels compared as they are). Each run is trained (resumed when interrupted,
skipped when done) and exported; the curves are drawn and every export scored.

Written to ``out/experiments/bundled/``: the first stage's export ``lite_real_stage1.pt`` (which
the second stage starts from) and the control's ``lite_real_more.pt``; ``results.{md,json}`` (the
synthetic evaluation split's official FreiHAND metrics, network + registration; Ge et al.'s real
dev crops, when ``../shared/data/ge_real_dev`` is there, for every stage of the photo pipeline of
the bundled model and for the network of the other two) and ``training.png`` (also
``cmr/assets/figures/bundled_training.png``): the training loss per step and the validation errors
after every epoch, against samples seen, both stages in turn.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cmr.config import resolve_path

#: The recipe's stages, in order (each starts from the export of the one before), and the control
#: of the last one.
STAGES = ("configs/lite_real.yaml", "configs/lite_real_aligned.yaml")
CONTROL = "configs/experiments/bundled_more.yaml"
#: Where the first stage and the control are exported (the second stage's TRAIN.WEIGHTS is the first).
STAGE1_EXPORT = "out/experiments/bundled/lite_real_stage1.pt"
CONTROL_EXPORT = "out/experiments/bundled/lite_real_more.pt"
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
    run (or of runs in turn); ``stage_starts``: indices into it where a new run begins (dashed)."""
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


def _scores(checkpoint: Path, exp_name: str, ge_stages: dict[str, str]) -> dict[str, dict]:
    """Rows of one export: the synthetic evaluation split and, when there, Ge's dev crops for
    ``ge_stages`` (stage -> title)."""
    from cmr.tools.experiments import GE_DEV, ge_stage_scores, synth_scores

    rows = {"synthetic evaluation split (500)": synth_scores(checkpoint, exp_name, SYNTH_SCORES)}
    if resolve_path(GE_DEV).is_dir():
        stages = ge_stage_scores(checkpoint, exp_name)
        rows.update({f"Ge dev: {title}": stages[stage] for stage, title in ge_stages.items()})
    return rows


def run_bundled() -> dict:
    """Train, export and score the bundled default and its second stage's control (see the module
    docstring)."""
    from cmr.engine.checkpoint import export_checkpoint
    from cmr.tools import experiment_data
    from cmr.tools.experiments import train_once

    experiment_data.prepare(["sign_digits"])
    stage1 = export_checkpoint(train_once(STAGES[0]), resolve_path(STAGE1_EXPORT))
    last = train_once(STAGES[1])
    bundled = export_checkpoint(last, resolve_path(BUNDLED))
    control = export_checkpoint(train_once(CONTROL), resolve_path(CONTROL_EXPORT))
    return report_bundled(stage1, last, bundled, control)


def report_bundled(stage1: Path, last: Path, bundled: Path, control: Path) -> dict:
    """Draw the curves of both stages and score the exports of :func:`run_bundled`: the first
    stage's, the second stage's last checkpoint and export (the bundled model), the control's."""
    from cmr.engine.checkpoint import load_checkpoint
    from cmr.tools.experiments import OUT, config, report

    folder = resolve_path(OUT) / "bundled"
    first, second = load_checkpoint(stage1)["history"], load_checkpoint(last)["history"]
    training_figure(first + second, int(config(STAGES[1]).TRAIN.BATCH_SIZE), folder / "training.png", (len(first),))
    shutil.copyfile(folder / "training.png", resolve_path(FIGURE))
    network = {"network": GE_STAGES["network"]}
    rows = {f"bundled, {name}": row for name, row in _scores(bundled, "bundled", GE_STAGES).items()}
    rows.update({f"first stage, {name}": row for name, row in _scores(stage1, "bundled_stage1", network).items()})
    rows.update({f"control, {name}": row for name, row in _scores(control, "bundled_more", network).items()})
    return report("bundled", rows, f"\n{BUNDLED} ({bundled.stat().st_size / 2**20:.1f} MiB), trained by "
                  f"{' then '.join(STAGES)}; control: {CONTROL}. Figure: training.png.\n")
