"""Training: single process or torchrun + DistributedDataParallel, resumable, reproducible.

``train(cfg)`` runs the schedule of ``cfg.TRAIN`` on ``cfg.DATA.ROOT`` and writes, under
``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/``::

    checkpoints/checkpoint_last.pt   every epoch (model, optimizer, scheduler, scaler, RNG, history)
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

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from cmr.config import resolve_path
from cmr.data.freihand import dataset_from_config
from cmr.engine.checkpoint import load_checkpoint, load_weights, model_conflicts, save_checkpoint, stored_config
from cmr.engine.distributed import ProcessInfo, any_process, barrier, close_process, init_process
from cmr.engine.runs import check_run_folder, data_root, epoch_seed, rng_state, run_dir, seed_everything, set_rng_state
from cmr.fileio import atomic_write_bytes, atomic_write_json
from cmr.models.build import build_model, load_template
from cmr.models.losses import compute_losses
from cmr.models.outputs import decode_outputs


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says where and which checkpoint is kept."""


@dataclass
class TrainState:
    """What a checkpoint restores besides the weights."""

    epoch: int = 0  # next epoch to run
    best_metric: float = math.inf
    history: list[dict] = field(default_factory=list)


def build_datasets(cfg, template):
    """(training dataset, evaluation dataset with ground truth or None), framed by the crop policy."""
    training = dataset_from_config(cfg, "training", template, augment=True)
    evaluation = None
    if cfg.TRAIN.VALIDATE:
        candidate = dataset_from_config(cfg, "evaluation", template)
        evaluation = candidate if candidate.xyz is not None and candidate.verts is not None else None
    return training, evaluation


def to_device(batch: dict, device: torch.device) -> dict:
    """Move every tensor (and list of tensors) of a collated batch to ``device``."""
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            moved[key] = value.to(device, non_blocking=True)
        elif isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
            moved[key] = [item.to(device, non_blocking=True) for item in value]
        else:
            moved[key] = value
    return moved


def _autocast(cfg, device: torch.device):
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=cfg.TRAIN.AMP)


def _loader(dataset, cfg, info: ProcessInfo, epoch: int, shuffle: bool, batch_size: int, drop_last: bool):
    sampler = DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=cfg.TRAIN.SEED,
        drop_last=drop_last,
    )
    sampler.set_epoch(epoch)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=cfg.DATA.NUM_WORKERS,
        drop_last=drop_last, pin_memory=info.device.type == "cuda",
        generator=torch.Generator().manual_seed(epoch_seed(cfg, epoch, info.rank)),
    )


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
        self.model = build_model(cfg, self.template).to(info.device)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.parameters, lr=cfg.TRAIN.LR, weight_decay=cfg.TRAIN.WEIGHT_DECAY)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(cfg.TRAIN.DECAY_STEP), gamma=cfg.TRAIN.LR_DECAY
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.TRAIN.AMP and info.device.type == "cuda")
        self.state = TrainState()
        self.training_set, self.evaluation_set = build_datasets(cfg, self.template)
        if cfg.TRAIN.WEIGHTS:
            weights = resolve_path(cfg.TRAIN.WEIGHTS)
            load_weights(self.model, load_checkpoint(weights), weights, self.template)
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
        load_weights(self.model, checkpoint, path, self.template)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.state = TrainState(checkpoint["epoch"] + 1, checkpoint["best_metric"], checkpoint["history"])
        set_rng_state(checkpoint["rng"])

    def _save(self, epoch: int, best: bool) -> None:
        state = {
            "model": self.model.state_dict(), "cfg": self.cfg.dump(), "template": self.template.identity(),
            "epoch": epoch,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": rng_state(),
            "best_metric": self.state.best_metric, "history": self.state.history,
        }
        save_checkpoint(self.checkpoint_dir / "checkpoint_last.pt", state)
        if best:
            save_checkpoint(self.checkpoint_dir / "checkpoint_best.pt", state)
        atomic_write_json(self.out_dir / "history.json", self.state.history)

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, epoch: int) -> dict:
        cfg, info = self.cfg, self.info
        seed_everything(epoch_seed(cfg, epoch, info.rank))
        loader = _loader(self.training_set, cfg, info, epoch, True, cfg.TRAIN.BATCH_SIZE, True)
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
            batch = to_device(batch, info.device)
            with _autocast(cfg, info.device):
                outputs = self.network(batch["image"])
            losses = compute_losses(_float32(outputs), batch, cfg.LOSS, self.faces, self.regressor)
            total = losses["total"]
            if any_process(not torch.isfinite(total).item(), info):
                self._diverged(epoch, step, losses)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(total).backward()
            if cfg.TRAIN.GRAD_CLIP > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.parameters, cfg.TRAIN.GRAD_CLIP)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            values = {name: value.item() for name, value in losses.items()}
            step_losses.append(values["total"])
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
            images_per_second = (step + 1) * cfg.TRAIN.BATCH_SIZE * info.world_size / (time.perf_counter() - start)
            progress.set_postfix(loss=f"{values['total']:.4f}", img_s=f"{images_per_second:.1f}")
            progress.update()
            global_step = epoch * steps + step
            if self.board is not None and step % cfg.TRAIN.LOG_EVERY == 0:
                for name, value in values.items():
                    self.board.add_scalar(f"train/{name}", value, global_step)
                self.board.add_scalar("train/images_per_second", images_per_second, global_step)
            if self.board is not None and step == 0:
                self._log_images(batch, outputs, global_step)
        progress.close()
        elapsed = time.perf_counter() - start
        record = {f"train_{name}": value / steps for name, value in sums.items()}
        record.update(step_losses=step_losses, images_per_second=steps * cfg.TRAIN.BATCH_SIZE * info.world_size / elapsed)
        return record

    def _diverged(self, epoch: int, step: int, losses: dict) -> None:
        terms = ", ".join(f"{name}={value.item():.4g}" for name, value in losses.items())
        kept = self.checkpoint_dir / "checkpoint_last.pt"
        raise TrainingDiverged(
            f"non-finite loss at epoch {epoch + 1}, step {step + 1} ({terms}); training stopped. "
            + (f"The last good checkpoint is kept: {kept} (resume with TRAIN.RESUME last, perhaps with a lower "
               f"TRAIN.LR or TRAIN.GRAD_CLIP)" if kept.exists() else "No checkpoint had been written yet.")
        )

    def _log_images(self, batch: dict, outputs: dict, step: int) -> None:
        """A panel of the first samples: input, target mask, predicted mask, predicted heatmaps."""
        import torch.nn.functional as F
        from torchvision.utils import make_grid

        count = min(4, batch["image"].shape[0])
        size = batch["image"].shape[-1]
        decoded = decode_outputs(outputs, self.regressor, size)
        images = (batch["image"][:count].detach().float().cpu() * 0.5 + 0.5).clamp(0, 1)

        def as_rgb(maps: torch.Tensor) -> torch.Tensor:
            maps = F.interpolate(maps[:count].detach().float().cpu(), size=(size, size), mode="nearest")
            return maps.clamp(0, 1).repeat(1, 3, 1, 1)

        panel = torch.cat([
            images,
            as_rgb(batch["mask"]),
            as_rgb(decoded.mask[:, None]),
            as_rgb(decoded.heatmaps.amax(dim=1, keepdim=True)),
        ])
        self.board.add_image("train/input_mask_pred-mask_pred-heatmaps", make_grid(panel, nrow=count), step)

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def _validate(self, epoch: int) -> dict:
        """Root-relative errors (mm) on the evaluation split: MPJPE, MPVPE and their PA versions."""
        from cmr.evaluation.metrics import align_w_scale

        loader = _loader(self.evaluation_set, self.cfg, ProcessInfo(0, 0, 1, self.info.device), epoch,
                         False, self.cfg.TEST.BATCH_SIZE, False)
        self.model.eval()
        errors: dict[str, list[np.ndarray]] = {"mpjpe": [], "pa_mpjpe": [], "mpvpe": [], "pa_mpvpe": []}
        for batch in tqdm(loader, desc="validate", disable=not self.info.is_main, dynamic_ncols=True, leave=False):
            batch = to_device(batch, self.info.device)
            decoded = decode_outputs(self.model(batch["image"]), self.regressor, batch["image"].shape[-1])
            vertices, joints = decoded.vertices, decoded.joints
            gt_joints = batch["xyz_camera"] - batch["xyz_camera"][:, :1]
            gt_vertices = batch["verts_camera"] - batch["xyz_camera"][:, :1]
            for name, pred, gt in (("mpjpe", joints, gt_joints), ("mpvpe", vertices, gt_vertices)):
                pred, gt = pred.cpu().numpy().astype(np.float64), gt.cpu().numpy().astype(np.float64)
                errors[name].append(np.linalg.norm(pred - gt, axis=-1).mean(axis=1))
                aligned = align_w_scale(gt, pred, allow_reflection=False)
                errors[f"pa_{name}"].append(np.linalg.norm(aligned - gt, axis=-1).mean(axis=1))
        return {f"val_{name}_mm": float(np.concatenate(values).mean() * 1000.0) for name, values in errors.items()}

    # ------------------------------------------------------------------ the run
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
                    if name.startswith("val_"):
                        self.board.add_scalar(f"val/{name[4:]}", value, epoch + 1)
                self._save(epoch, best or self.evaluation_set is None)
                summary = ", ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
                tqdm.write(f"epoch {epoch + 1}: {summary}")
            barrier(info)
        if self.board is not None:
            self.board.close()
        return self.state


def _float32(outputs: dict) -> dict:
    """Cast autocast outputs back to float32 so the losses run in full precision."""
    def cast(value):
        if isinstance(value, torch.Tensor):
            return value.float()
        if isinstance(value, list):
            return [cast(item) for item in value]
        return value

    return {key: cast(value) for key, value in outputs.items()}


def parameter_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter's bytes (to check that DDP ranks hold identical weights).

    Buffers (BatchNorm running statistics) are left out: each rank updates them on its own data.
    """
    import hashlib

    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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
