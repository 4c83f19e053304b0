"""Training: single process or torchrun + DistributedDataParallel, resumable, reproducible.

``train(cfg)`` runs the schedule of ``cfg.TRAIN`` on ``cfg.DATA.ROOT`` and writes, under
``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/``::

    checkpoints/checkpoint_last.pt   every epoch (model, optimizer, scheduler, scaler, RNG, history;
                                     with TRAIN.EMA, model is the weights' moving average and
                                     trained_model the optimiser's own: cmr.engine.averaging)
    checkpoints/checkpoint_best.pt   the epoch with the best validation PA-MPVPE
    board/                           TensorBoard scalars and image panels
    history.json                     per-epoch losses, learning rate, throughput, validation
    config.yaml                      the configuration of the run

Reproducibility: every epoch reseeds Python, NumPy and torch from (TRAIN.SEED, epoch, rank) and
the sampler shuffles from (TRAIN.SEED, epoch), so a run resumed from ``checkpoint_last.pt``
repeats, step for step, what the uninterrupted run would have done. A non-finite loss stops the
run (on every rank) with a message; the last good checkpoint stays as it was.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from cmr.config import resolve_path
from cmr.data.freihand import dataset_from_config
from cmr.data.mixing import concatenated, is_mixed, training_sources
from cmr.engine.averaging import WeightAverage
from cmr.engine.checkpoint import load_checkpoint, load_weights, model_conflicts, save_checkpoint, stored_config
from cmr.engine.distributed import ProcessInfo, any_process, barrier, close_process, init_process
from cmr.engine.runs import check_run_folder, data_root, epoch_seed, rng_state, run_dir, seed_everything, set_rng_state
from cmr.engine.train_support import (backward, data_loader, follow_schedule, forward_outputs, image_panel, loss_scaler,
                                      optimiser_step, parameter_digest, to_device, training_model,
                                      training_optimiser, validate)
from cmr.fileio import atomic_write_bytes, atomic_write_json
from cmr.models.build import load_template
from cmr.models.mixed_losses import MixedLoss, total_loss


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says where and which checkpoint is kept."""


@dataclass
class TrainState:
    """What a checkpoint restores besides the weights."""

    epoch: int = 0  # next epoch to run
    best_metric: float = math.inf
    history: list[dict] = field(default_factory=list)


def build_datasets(cfg, template):
    """(training dataset, its sources or None, evaluation dataset with ground truth or None),
    framed by the crop policy; a mixed run (:func:`cmr.data.mixing.is_mixed`) trains on the
    concatenated sources."""
    sources = training_sources(cfg, template) if is_mixed(cfg) else None
    training = concatenated(sources) if sources else dataset_from_config(cfg, "training", template, augment=True)
    evaluation = None
    if cfg.TRAIN.VALIDATE:
        candidate = dataset_from_config(cfg, "evaluation", template)
        evaluation = candidate if candidate.xyz is not None and candidate.verts is not None else None
    return training, sources, evaluation


class Trainer:
    """Owns the model, optimiser, data and outputs of one training run (see module docstring)."""

    def __init__(self, cfg, info: ProcessInfo) -> None:
        self.cfg, self.info = cfg, info
        self.out_dir = check_run_folder(cfg) if info.is_main else run_dir(cfg)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        seed_everything(cfg.TRAIN.SEED)
        self.template = load_template(cfg.MODEL.TEMPLATE)
        self.faces = torch.as_tensor(self.template.faces[0], device=info.device)
        self.regressor = torch.as_tensor(self.template.joint_regressor, dtype=torch.float32, device=info.device)
        self.model = training_model(cfg, self.template, info.device)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = training_optimiser(cfg, self.parameters)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(cfg.TRAIN.DECAY_STEP), gamma=cfg.TRAIN.LR_DECAY
        )
        self.scaler = loss_scaler(cfg, info.device)
        self.state = TrainState()
        self.training_set, self.sources, self.evaluation_set = build_datasets(cfg, self.template)
        self.loss = MixedLoss(cfg.LOSS, self.template, self.faces, self.regressor, cfg.MODEL.INPUT_SIZE)
        if cfg.TRAIN.WEIGHTS:
            weights = resolve_path(cfg.TRAIN.WEIGHTS)
            load_weights(self.model, load_checkpoint(weights), weights, self.template, new_heads=("texture.",))
        self.average = WeightAverage(self.model, float(cfg.TRAIN.EMA)) if cfg.TRAIN.EMA else None
        if cfg.TRAIN.RESUME:
            self._resume(cfg.TRAIN.RESUME)
        self.network = (
            DistributedDataParallel(self.model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
            if info.distributed else self.model
        )
        self.board = None
        if info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            atomic_write_bytes(self.out_dir / "config.yaml", cfg.dump().encode())
            self.board = SummaryWriter(str(self.out_dir / "board"))

    # ------------------------------------------------------------------ checkpoints
    def _resume(self, spec: str) -> None:
        path = self.checkpoint_dir / "checkpoint_last.pt" if spec == "last" else resolve_path(spec)
        checkpoint = load_checkpoint(path)
        missing = [key for key in ("model", "optimizer", "scheduler", "epoch", "rng") if key not in checkpoint]
        if missing:
            raise ValueError(f"{path}: cannot resume, the checkpoint lacks {missing} (is it a bundled or official one? "
                             f"use TRAIN.WEIGHTS to start from its weights instead)")
        conflicts = model_conflicts((stored_config(checkpoint, path) or {}).get("MODEL", {}), self.cfg.MODEL)
        if conflicts:
            raise ValueError(f"{path}: cannot resume with another architecture ({'; '.join(conflicts)}); "
                             "resume with the run's own MODEL settings, or start a new run")
        trained = checkpoint.get("trained_model")  # the optimiser's weights when "model" is their average
        load_weights(self.model, checkpoint if trained is None else {**checkpoint, "model": trained}, path,
                     self.template)
        if self.average is not None:  # without a stored average (TRAIN.EMA newly on), one starts here
            self.average.restore(self.model.state_dict() if trained is None else checkpoint["model"],
                                 checkpoint.get("average_updates", 0))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        follow_schedule(self.scheduler, self.cfg.TRAIN.LR, self.cfg.TRAIN.DECAY_STEP, self.cfg.TRAIN.LR_DECAY)
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.state = TrainState(checkpoint["epoch"] + 1, checkpoint["best_metric"], checkpoint["history"])
        set_rng_state(checkpoint["rng"])

    def _save(self, epoch: int, best: bool) -> None:
        state = {
            "model": self.validated_model().state_dict(), "cfg": self.cfg.dump(),
            "template": self.template.identity(), "epoch": epoch,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": rng_state(),
            "best_metric": self.state.best_metric, "history": self.state.history,
        }
        if self.average is not None:
            state.update(trained_model=self.model.state_dict(), average_updates=self.average.updates)
        save_checkpoint(self.checkpoint_dir / "checkpoint_last.pt", state)
        if best:
            save_checkpoint(self.checkpoint_dir / "checkpoint_best.pt", state)
        atomic_write_json(self.out_dir / "history.json", self.state.history)

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, epoch: int) -> dict:
        cfg, info = self.cfg, self.info
        seed_everything(epoch_seed(cfg, epoch, info.rank))
        loader = data_loader(self.training_set, cfg, info, epoch, True, cfg.TRAIN.BATCH_SIZE, True, self.sources)
        steps = len(loader) if not cfg.TRAIN.MAX_STEPS_PER_EPOCH else min(len(loader), cfg.TRAIN.MAX_STEPS_PER_EPOCH)
        if steps == 0:
            raise ValueError(
                f"{data_root(cfg)}: {len(self.training_set)} training samples give no batch of "
                f"{cfg.TRAIN.BATCH_SIZE} per process; lower TRAIN.BATCH_SIZE"
            )
        self.network.train()
        sums: dict[str, float] = {}
        step_losses: list[float] = []
        progress = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.TRAIN.EPOCHS}", disable=not info.is_main,
                        dynamic_ncols=True)
        start = time.perf_counter()
        for step, batch in enumerate(loader):
            if step >= steps:
                break
            global_step = epoch * steps + step
            batch = to_device(batch, info.device)
            outputs = forward_outputs(self.network, cfg, batch["image"], info.device)
            terms = self.loss(outputs, batch, global_step)
            total = total_loss(terms)
            if any_process(not torch.isfinite(total).item(), info):
                self._diverged(epoch, step, terms, total)
            backward(total, self.optimizer, self.scaler)
            optimiser_step(self.optimizer, self.scaler, self.parameters, cfg.TRAIN.GRAD_CLIP)
            if self.average is not None:
                self.average.update(self.model)
            values = {name: term.value.item() for name, term in terms.items()}
            values["total"] = total.item()
            step_losses.append(values["total"])
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
            images_per_second = (step + 1) * cfg.TRAIN.BATCH_SIZE * info.world_size / (time.perf_counter() - start)
            progress.set_postfix(loss=f"{values['total']:.4f}", img_s=f"{images_per_second:.1f}")
            progress.update()
            if self.board is not None and step % cfg.TRAIN.LOG_EVERY == 0:
                self._log_scalars(values, terms, images_per_second, global_step)
            if self.board is not None and step == 0:
                self.board.add_image("train/input_mask_pred-mask_pred-heatmaps",
                                     image_panel(batch, outputs, self.regressor), global_step)
        progress.close()
        elapsed = time.perf_counter() - start
        record = {f"train_{name}": value / steps for name, value in sums.items()}
        record.update(step_losses=step_losses, images_per_second=steps * cfg.TRAIN.BATCH_SIZE * info.world_size / elapsed)
        return record

    def _log_scalars(self, values: dict, terms: dict, images_per_second: float, step: int) -> None:
        """Each term's value, weight (with its schedule) and share of the batch; the throughput."""
        for name, value in values.items():
            self.board.add_scalar(f"train/{name}", value, step)
        for name, term in terms.items():
            self.board.add_scalar(f"weight/{name}", term.weight * term.schedule, step)
            self.board.add_scalar(f"schedule/{name}", term.schedule, step)
            self.board.add_scalar(f"share/{name}", term.share, step)
        self.board.add_scalar("train/images_per_second", images_per_second, step)

    def _diverged(self, epoch: int, step: int, losses: dict, total: torch.Tensor) -> None:
        terms = ", ".join(f"{name}={term.value.item():.4g}" for name, term in losses.items())
        terms += f", total={total.item():.4g}"
        kept = self.checkpoint_dir / "checkpoint_last.pt"
        raise TrainingDiverged(
            f"non-finite loss at epoch {epoch + 1}, step {step + 1} ({terms}); training stopped. "
            + (f"The last good checkpoint is kept: {kept} (resume with TRAIN.RESUME last, perhaps with a lower "
               f"TRAIN.LR or TRAIN.GRAD_CLIP)" if kept.exists() else "No checkpoint had been written yet.")
        )

    # ------------------------------------------------------------------ the run
    def validated_model(self) -> torch.nn.Module:
        """The weights validated and stored as the checkpoint's ``model``: their moving average with
        ``TRAIN.EMA`` (:mod:`cmr.engine.averaging`), else the optimiser's own."""
        return self.model if self.average is None else self.average.model

    def _validate(self, epoch: int) -> dict:
        """``val_*`` errors (mm) of the validated model on the evaluation split; with ``TRAIN.EMA``
        also ``trained_val_*``, those of the optimiser's own weights, to show what the average gives."""
        loader = data_loader(self.evaluation_set, self.cfg, ProcessInfo(0, 0, 1, self.info.device), epoch, False,
                             self.cfg.TEST.BATCH_SIZE, False)
        record = validate(self.validated_model(), loader, self.regressor, self.info.device, True)
        if self.average is not None:
            trained = validate(self.model, loader, self.regressor, self.info.device, True)
            record.update({f"trained_{name}": value for name, value in trained.items()})
        return record

    def fit(self) -> TrainState:
        cfg, info = self.cfg, self.info
        for epoch in range(self.state.epoch, cfg.TRAIN.EPOCHS):
            record = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            record.update(self._train_epoch(epoch))
            self.scheduler.step()
            best = False
            if info.is_main and self.evaluation_set is not None:
                record.update(self._validate(epoch))
                best = record["val_pa_mpvpe_mm"] < self.state.best_metric
                self.state.best_metric = min(self.state.best_metric, record["val_pa_mpvpe_mm"])
            self.state.history.append(record)
            self.state.epoch = epoch + 1
            if info.is_main:
                for name, value in record.items():
                    if "val_" in name:
                        self.board.add_scalar(f"val/{name.replace('val_', '')}", value, epoch + 1)
                self._save(epoch, best or self.evaluation_set is None)
                summary = ", ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
                tqdm.write(f"epoch {epoch + 1}: {summary}")
            barrier(info)
        if self.board is not None:
            self.board.close()
        return self.state


def train(cfg) -> dict:
    """Run training as configured (joins the torchrun process group if launched by torchrun).

    Returns a summary: the run folder, epochs done, best validation PA-MPVPE (mm, if validated),
    the last epoch's record and this rank's parameter digest.
    """
    info = init_process(cfg.DEVICE, cfg.NUM_THREADS)
    try:
        trainer = Trainer(cfg, info)
        state = trainer.fit()
        summary = {
            "run_dir": str(trainer.out_dir), "epochs": state.epoch, "rank": info.rank,
            "best_val_pa_mpvpe_mm": None if math.isinf(state.best_metric) else state.best_metric,
            "last": state.history[-1] if state.history else None,
            "parameter_digest": parameter_digest(trainer.model),
        }
    finally:
        close_process()
    if info.is_main:
        print(json.dumps({k: v for k, v in summary.items() if k != "last"}, indent=1))
    return summary


DESCRIPTION = (
    "Train the model of a config on a FreiHAND-layout dataset (real or synthetic): a YAML "
    "experiment (--config, see configs/) and KEY VALUE overrides of any config key, e.g. "
    "TRAIN.EPOCHS 5 DATA.ROOT data/FreiHAND_synth. Outputs go to <OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/ "
    "(checkpoints, TensorBoard board/, history.json); a folder holding a run is only written to "
    "when resuming it (TRAIN.RESUME last). Multi-GPU: torchrun --nproc_per_node N -m cmr train ...; "
    "multi-node: add torchrun's --nnodes, --node_rank and --rdzv_endpoint."
)


def add_arguments(parser) -> None:
    """``--config`` and ``KEY VALUE`` overrides."""
    from cmr.engine.command import add_config_arguments

    add_config_arguments(parser)


def run(args) -> int:
    """Train as configured."""
    from cmr.config import load_cfg

    train(load_cfg(args.config, args.overrides))
    return 0
