"""``python -m cmr experiment NAME``: the experiments of the README (learning without 3-D labels,
the training speed of the lite network).

Each runs its training runs (``configs/experiments/*.yaml``, resumed when interrupted, skipped
when done), evaluates them and writes ``out/experiments/<NAME>/results.json``, ``results.md``
(the table it prints) and its figures:

* ``selfsup``: the lite CMR-G with 3-D labels on a small synthetic subset, then more of the same
  against the same plus self-supervision on other synthetic images with detected keypoints,
  without and with their pseudo-labels (the open hand model fitted to each detection; alone,
  and compared up to a similarity), two arms again with another seed; synthetic evaluation split (PA-MPJPE, PA-MPVPE, camera-space MPJPE, F@15).
* ``real``: the compact model trained on renders alone (``cmr/assets/compact_synth.pt``) before
  and after self-supervised fine-tuning on the real unlabelled photos (and, as a control, after
  the same synthetic samples alone), on Ge's real crops (``../shared/data/ge_real_dev``).
* ``depth``: step 1's model, fine-tuned on unlabelled synthetic images with detected keypoints,
  without and with their depth maps (Ge et al.), on the synthetic evaluation split.
* ``texture``: the colour head trained by render-and-compare; the photometric error over the
  steps (``photometric.png``) and the textured render of real photos (``texture.jpg``).

* ``speed``: the compact CMR-G (the bundled architecture, 2 epochs) against the lite one
  (``configs/lite.yaml``, 6 epochs) on the same synthetic data and schedule: validation error after
  every epoch against samples seen and training minutes (``accuracy_vs_time.png``).

* ``pseudo``: the pseudo-labels of the real photos (the open hand model fitted to each detection) as
  the bundled recipe (``configs/lite_real.yaml``) fits them: counts, fit errors, and the photos with
  their pseudo-labels drawn over them (``pseudo_labels.jpg``); also prepares the photos for that recipe.

* ``finetune``: the bundled model (``cmr/assets/lite_real.pt``) trained 2 epochs more on its recipe,
  pseudo-labels compared as they are against up to a similarity; synthetic evaluation split and
  Ge's real dev crops.

``all`` runs the seven, in the order selfsup, depth, real, texture, speed, pseudo, finetune. ``bundled`` (:mod:`cmr.tools.bundled`) trains, exports and
scores the bundled default from its recipe. Sizes fit 2 CPU cores (about 3 hours in all).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cmr.config import load_cfg, resolve_path
from cmr.engine.runs import run_dir
from cmr.fileio import atomic_write_bytes, atomic_write_json
from cmr.tools import experiment_data

DESCRIPTION = __doc__.split("\n\n")[0]
OUT = "out/experiments"
CONFIGS = "configs/experiments"
GE_DEV = "../shared/data/ge_real_dev"
#: The starting point of the real-photo experiment: the compact model trained on renders alone
#: (the bundled default before cmr/assets/lite_real.pt).
COMPACT_SYNTH = "cmr/assets/compact_synth.pt"
#: Synthetic evaluation scores reported (FreiHAND names, cm) -> column titles (mm).
SYNTH_COLUMNS = {"xyz_al_mean3d": "PA-MPJPE mm", "mesh_al_mean3d": "PA-MPVPE mm",
                 "xyz_mean3d": "camera MPJPE mm", "f_al_score_15": "F@15"}
GE_COLUMNS = {"camera_mpjpe_mm": "camera MPJPE mm", "root_error_mm": "root mm", "pa_mpjpe_mm": "PA-MPJPE mm",
              "uv_error_px": "2D px"}


def config(name: str, *overrides: str):
    """``configs/experiments/<name>.yaml``, or the file ``name`` when it ends in .yaml."""
    return load_cfg(name if name.endswith(".yaml") else f"{CONFIGS}/{name}.yaml", list(overrides))


def train_once(name: str) -> Path:
    """Train :func:`config` ``(name)`` to its end (resuming, or skipping a finished run);
    returns its last checkpoint."""
    from cmr.engine.checkpoint import load_checkpoint
    from cmr.engine.train import train

    cfg = config(name)
    last = run_dir(cfg) / "checkpoints" / "checkpoint_last.pt"
    if last.is_file():
        if load_checkpoint(last)["epoch"] + 1 >= cfg.TRAIN.EPOCHS:
            return last
        cfg = config(name, "TRAIN.RESUME", "last")
    train(cfg)
    return last


def synth_scores(checkpoint: str | Path, exp_name: str, columns: dict[str, str] = SYNTH_COLUMNS,
                 overrides: tuple[str, ...] = ()) -> dict:
    """Official FreiHAND scores of a checkpoint on the synthetic evaluation split, ``columns``
    (FreiHAND name -> title) only, means in mm (cm -> mm); ``overrides``: more KEY VALUE pairs
    for the run's configuration (e.g. DEMO.BACKEND onnx)."""
    from cmr.engine.checkpoint import open_run
    from cmr.engine.evaluate import evaluate_model

    loaded = open_run(resolve_path(checkpoint), None, ["EXP_NAME", exp_name, "TEST.NUM_PLOTS", "4", *overrides])
    scores = evaluate_model(loaded.cfg, loaded)["scores"]
    return {title: scores[key] * (10.0 if key.endswith("mean3d") else 1.0) for key, title in columns.items()}


def ge_stage_scores(checkpoint: str | Path, exp_name: str, overrides: tuple[str, ...] = ()) -> dict[str, dict]:
    """Scores of every stage of the demo's pipeline on Ge's real dev crops, :data:`GE_COLUMNS` only
    (stage name, e.g. 'network' or 'fitted', -> title -> value); ``overrides`` as :func:`synth_scores`."""
    from cmr.engine.checkpoint import open_run
    from cmr.engine.ge_eval import evaluate_ge

    loaded = open_run(resolve_path(checkpoint), None, ["EXP_NAME", exp_name, "TEST.DATASET", "ge_real",
                                                       "DATA.ROOT", str(resolve_path(GE_DEV)), *overrides])
    return {stage: {title: scores[key] for key, title in GE_COLUMNS.items()}
            for stage, scores in evaluate_ge(loaded.cfg, loaded)["stages"].items()}


def ge_scores(checkpoint: str | Path, exp_name: str, overrides: tuple[str, ...] = ()) -> dict:
    """Scores of a checkpoint's network on Ge's real dev crops (the demo's pipeline)."""
    return ge_stage_scores(checkpoint, exp_name, overrides)["network"]


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def table(rows: dict[str, dict]) -> str:
    """A markdown table: one row per entry, the columns of every row in order of appearance
    (empty where a row lacks one)."""
    columns = list(dict.fromkeys(column for row in rows.values() for column in row))
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def report(name: str, rows: dict[str, dict], notes: str = "") -> dict:
    """Write and print an experiment's table; returns the rows."""
    folder = resolve_path(OUT) / name
    folder.mkdir(parents=True, exist_ok=True)
    text = f"## {name}\n\n{table(rows)}\n{notes}"
    atomic_write_json(folder / "results.json", rows)
    atomic_write_bytes(folder / "results.md", text.encode())
    print(text)
    return rows


def synthetic_experiment(name: str, runs: dict[str, str], notes: str) -> dict:
    """Train each run (title -> config name) in order and score it on the synthetic evaluation split."""
    experiment_data.prepare(["synth_unlabelled"])
    rows = {title: synth_scores(train_once(run), run) for title, run in runs.items()}
    return report(name, rows, notes)


def synthetic_pseudo_label_error(name: str = "ssl_lite_pseudo") -> dict:
    """How far the pseudo-labels of the unlabelled synthetic images (as run ``name`` fits them)
    lie from those images' true joints: hands, usable labels, mean PA-MPJPE and root-relative
    MPJPE (mm) over the usable ones."""
    import numpy as np

    from cmr.data.layout import FreiHANDLayout
    from cmr.data.photos import find_hands, pseudo_labels_from_config
    from cmr.evaluation.metrics import align_w_scale

    cfg, photos = config(name), config(name).DATA.PHOTOS
    hands = find_hands(resolve_path(photos.FOLDERS[0]), resolve_path(photos.DETECTIONS[0]), None,
                       float(photos.MIN_SCORE), float(cfg.DEMO.FOV), photos.SIDES[0])
    pseudo = pseudo_labels_from_config(cfg, hands)
    xyz = np.asarray(json.loads(FreiHANDLayout(resolve_path(cfg.DATA.ROOT)).annotation("training", "xyz").read_text()))
    truth = xyz[[int(hand.path.stem) for hand in hands]][pseudo.usable]
    fitted = pseudo.joints[pseudo.usable]
    pa = np.linalg.norm(align_w_scale(truth, fitted) - truth, axis=-1).mean()
    relative = np.linalg.norm((fitted - fitted[:, :1]) - (truth - truth[:, :1]), axis=-1).mean()
    return {"hands": len(hands), "usable": int(pseudo.usable.sum()), "PA-MPJPE mm": 1000 * float(pa),
            "root-relative MPJPE mm": 1000 * float(relative)}


def run_selfsup() -> dict:
    return synthetic_experiment("selfsup", {
        "3-D labels, 250 annotations": "ssl_lite_labelled", "+ more of the same": "ssl_lite_more",
        "+ self-supervision on 1,000 unlabelled": "ssl_lite_mixed",
        "+ the same with pseudo-labels": "ssl_lite_pseudo",
        "+ pseudo-labels and mesh priors only": "ssl_lite_pseudo_only",
        "+ the same, pseudo-labels aligned": "ssl_lite_pseudo_aligned",
        "+ more of the same, seed 1": "ssl_lite_more_seed1",
        "+ pseudo-labels aligned, seed 1": "ssl_lite_pseudo_aligned_seed1",
    }, "\nThe lite CMR-G; synthetic evaluation split (500 images), network + registration.\n"
       f"Pseudo-labels of the unlabelled images against their truth: {synthetic_pseudo_label_error()}.\n")


def run_depth() -> dict:
    return synthetic_experiment("depth", {
        "no fine-tuning": "ssl_labelled", "fine-tuned, detected keypoints": "depth_keypoints",
        "fine-tuned, keypoints + depth maps": "depth",
    }, "\nSynthetic evaluation split; the fine-tuning sees no 3-D label.\n")


def run_real() -> dict:
    experiment_data.prepare(["sign_digits"])
    rows = {"compact model, renders only": ge_scores(COMPACT_SYNTH, "real_before")}
    rows["+ the same synthetic samples only"] = ge_scores(train_once("real_control"), "real_control")
    rows["+ self-supervision on real photos"] = ge_scores(train_once("real_selfsup"), "real_selfsup")
    return report("real", rows, "\nGe et al.'s 60 real dev crops, the network's mesh (no fitting).\n")


def run_texture() -> dict:
    from cmr.tools.texture_figures import photometric_curve, texture_sheet

    experiment_data.prepare(["sign_digits"])
    checkpoint = train_once("texture")
    folder = resolve_path(OUT) / "texture"
    folder.mkdir(parents=True, exist_ok=True)
    curve = photometric_curve(run_dir(config("texture")) / "board", folder / "photometric.png")
    texture_sheet(checkpoint, resolve_path(experiment_data.DATA_DIR) / "sign_digits", folder / "texture.jpg")
    rows = {"photometric L1 (RGB in [0, 1], in the silhouette)": {"first step": curve[0],
                                                                  "last fifth (median)": curve[1]}}
    return report("texture", rows, "\nFigures: photometric.png, texture.jpg.\n")


def run_pseudo() -> dict:
    """Pseudo-labels of the real photos as the bundled recipe (configs/lite_real.yaml) fits them."""
    import numpy as np

    from cmr.data.photos import find_hands, pseudo_labels_from_config
    from cmr.models.build import load_template
    from cmr.tools.pseudo_figures import pseudo_label_sheet

    experiment_data.prepare(["sign_digits"])
    cfg, folder = load_cfg("configs/lite_real.yaml", []), resolve_path(experiment_data.DATA_DIR) / "sign_digits"
    photos = cfg.DATA.PHOTOS
    hands = find_hands(folder / "photos", folder / "detections", None, float(photos.MIN_SCORE), float(cfg.DEMO.FOV),
                       photos.SIDES[0])
    pseudo = pseudo_labels_from_config(cfg, hands)
    (resolve_path(OUT) / "pseudo").mkdir(parents=True, exist_ok=True)
    pseudo_label_sheet(hands, pseudo, load_template(cfg.MODEL.TEMPLATE).faces[0], resolve_path(OUT) / "pseudo" /
                       "pseudo_labels.jpg")
    rows = {"sign-language photos": {"photos": len(list((folder / "photos").iterdir())), "hands found": len(hands),
                                     "usable pseudo-labels": int(pseudo.usable.sum()),
                                     "median fit error, % of hand extent": 100 * float(np.median(pseudo.error[pseudo.usable]))}}
    return report("pseudo", rows, "\nThe open hand model fitted to each detection (placed 3-D keypoints, 2-D keypoints). "
                  "Figure: pseudo_labels.jpg.\n")


def synth_and_ge_scores(checkpoint: str | Path, exp_name: str) -> dict:
    """:data:`SYNTH_COLUMNS` on the synthetic evaluation split and, when there, :data:`GE_COLUMNS`
    of the network on Ge's dev crops, in one row (titles prefixed 'synthetic' and 'Ge')."""
    row = {f"synthetic {title}": value for title, value in synth_scores(checkpoint, exp_name).items()}
    if resolve_path(GE_DEV).is_dir():
        row.update({f"Ge {title}": value for title, value in ge_scores(checkpoint, exp_name).items()})
    return row


def run_finetune() -> dict:
    """The bundled model against itself trained 2 epochs more, pseudo-labels as they are or aligned."""
    from cmr.tools.bundled import BUNDLED

    experiment_data.prepare(["sign_digits"])
    rows = {"bundled model": synth_and_ge_scores(BUNDLED, "finetune_before")}
    rows["+ 2 epochs, pseudo-labels as they are"] = synth_and_ge_scores(train_once("finetune_more"), "finetune_more")
    rows["+ 2 epochs, pseudo-labels aligned"] = synth_and_ge_scores(train_once("finetune_aligned"), "finetune_aligned")
    return report("finetune", rows, "\nSynthetic evaluation split of data/FreiHAND_synth_large (500) and Ge et al.'s 60 "
                  "real dev crops (network mesh, no fitting).\n")


def training_curve(checkpoint: Path, batch_size: int) -> list[dict]:
    """Per epoch of a run (from its checkpoint's history): samples seen, training minutes so far
    (validation excluded), validation PA-MPJPE and PA-MPVPE (mm)."""
    from cmr.engine.checkpoint import load_checkpoint

    rows, samples, minutes = [], 0, 0.0
    for record in load_checkpoint(checkpoint)["history"]:
        count = len(record["step_losses"]) * batch_size
        samples, minutes = samples + count, minutes + count / record["images_per_second"] / 60.0
        rows.append({"samples": samples, "training minutes": minutes, "val PA-MPJPE mm": record["val_pa_mpjpe_mm"],
                     "val PA-MPVPE mm": record["val_pa_mpvpe_mm"]})
    return rows


def model_cost(exp_name: str) -> str:
    """'G GFLOP, P M parameters' of a run's model."""
    import torch

    from cmr.models.build import build_model, forward_gflop, load_template

    cfg = config(exp_name)
    model = build_model(cfg, load_template(cfg.MODEL.TEMPLATE))
    gflop = forward_gflop(model, cfg.MODEL.INPUT_SIZE, torch.device("cpu"))
    return f"{gflop:.2f} GFLOP per image, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters"


def run_speed() -> dict:
    from cmr.tools.speed_figures import accuracy_against_time

    runs = {"compact": "speed_compact", "lite": "speed_lite"}
    curves = {title: training_curve(train_once(run), config(run).TRAIN.BATCH_SIZE) for title, run in runs.items()}
    accuracy_against_time(curves, resolve_path(OUT) / "speed" / "accuracy_vs_time.png")
    rows = {f"{title}, epoch {epoch}": row for title, rows in curves.items() for epoch, row in enumerate(rows, 1)}
    costs = "; ".join(f"{title}: {model_cost(run)}" for title, run in runs.items())
    epoch = next(iter(curves.values()))[0]["samples"]
    return report("speed", rows, f"\nSynthetic evaluation split (500 images), validation after each epoch of {epoch:,} "
                  f"samples. {costs}. Figure: accuracy_vs_time.png. Step-by-step timing: python -m cmr bench train.\n")


EXPERIMENTS = {"selfsup": run_selfsup, "depth": run_depth, "real": run_real, "texture": run_texture,
               "speed": run_speed, "pseudo": run_pseudo, "finetune": run_finetune}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=[*EXPERIMENTS, "all", "bundled"],
                        help="the experiment to run ('bundled': the bundled default's recipe, not part of 'all')")


def run(args: argparse.Namespace) -> int:
    from cmr.tools.bundled import run_bundled

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    results = {name: run_bundled() if name == "bundled" else EXPERIMENTS[name]() for name in names}
    print(json.dumps({name: list(rows) for name, rows in results.items()}))
    return 0
