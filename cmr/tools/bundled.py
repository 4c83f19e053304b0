"""``python -m cmr experiment bundled``: the bundled default (``cmr/assets/lite_real.pt``) from its
recipe of :data:`STAGES`: ``configs/lite_real.yaml`` from scratch, then each later stage from the
export of the one before (its ``TRAIN.WEIGHTS``, under ``out/experiments/bundled/``); each stage
resumed when interrupted and skipped when done (an earlier stage when its export exists); then
export, draw the training curves of all stages and score it.

Written to ``out/experiments/bundled/``: ``results.{md,json}`` (the official FreiHAND metrics,
network + registration, on the evaluation split of the first stage's synthetic set, whatever set
a later stage trains on; Ge et al.'s real dev crops for every stage of
the photo pipeline, when ``../shared/data/ge_real_dev`` is there) and ``training.png`` (also
``cmr/assets/figures/bundled_training.png``): the training loss per step and the validation errors
after every epoch, against samples seen.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cmr.config import resolve_path

#: The recipe's configurations in order; each after the first starts from the previous one's export.
STAGES = ("configs/lite_real.yaml", "configs/lite_real_continued.yaml", "configs/lite_real_averaged.yaml",
          "configs/lite_real_fresh.yaml", "configs/lite_real_longer.yaml")
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
    validation PA-MPJPE / PA-MPVPE (mm) after every epoch (dotted: the optimiser's weights where
    the run averaged them, ``TRAIN.EMA``). ``history``: the per-epoch records of a
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
        line, = right.plot(ends, [record[key] for record in history], marker="o", label=title)
        averaged = [index for index, record in enumerate(history) if f"trained_{key}" in record]
        if averaged:  # TRAIN.EMA: the optimiser's own weights beside their average
            right.plot(ends[averaged], [history[index][f"trained_{key}"] for index in averaged], ls=":",
                       color=line.get_color(), label=f"{title}, weights before averaging")
    right.set(xlabel="samples seen", ylabel="mm", title="validation (synthetic evaluation split)")
    for axis in (left, right):
        for start in stage_starts:
            axis.axvline(ends[start - 1], color="grey", ls="--", lw=1)
        axis.grid(alpha=0.3), axis.legend()
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure)
    plt.close(fig)


def train_stages() -> tuple[Path, list[list[dict]]]:
    """Train the stages of :data:`STAGES` that are needed: (the last stage's last checkpoint, the
    per-epoch history of every stage in order)."""
    from cmr.engine.checkpoint import export_checkpoint, load_checkpoint
    from cmr.tools.experiments import config, train_once

    exports = [resolve_path(config(stage).TRAIN.WEIGHTS) for stage in STAGES[1:]]
    for stage, export in zip(STAGES, exports):
        if not export.is_file():
            export_checkpoint(train_once(stage), export)
    last = train_once(STAGES[-1])
    return last, [load_checkpoint(path)["history"] for path in (*exports, last)]


def run_bundled() -> dict:
    """Train, export and score the bundled default (see the module docstring)."""
    from cmr.engine.checkpoint import export_checkpoint
    from cmr.tools import experiment_data
    from cmr.tools.experiments import GE_DEV, OUT, config, ge_stage_scores, report, synth_scores

    experiment_data.prepare(["sign_digits"])
    last, histories = train_stages()
    bundled = export_checkpoint(last, resolve_path(BUNDLED))
    folder = resolve_path(OUT) / "bundled"
    starts = tuple(np.cumsum([len(history) for history in histories[:-1]]))
    training_figure(sum(histories, []), int(config(STAGES[-1]).TRAIN.BATCH_SIZE), folder / "training.png", starts)
    shutil.copyfile(folder / "training.png", resolve_path(FIGURE))
    first_set = str(resolve_path(config(STAGES[0]).DATA.ROOT))  # every stage scored on the same split
    rows = {"synthetic evaluation split (500)": synth_scores(bundled, "bundled", SYNTH_SCORES, ("DATA.ROOT", first_set))}
    if resolve_path(GE_DEV).is_dir():
        stages = ge_stage_scores(bundled, "bundled")
        rows.update({f"Ge dev: {title}": stages[stage] for stage, title in GE_STAGES.items()})
    return report("bundled", rows, f"\n{BUNDLED} ({bundled.stat().st_size / 2**20:.1f} MiB), trained by "
                  f"{' then '.join(STAGES)}. Figure: training.png.\n")
