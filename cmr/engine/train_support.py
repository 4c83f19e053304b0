"""What the training loop (:mod:`cmr.engine.train`) and the training benchmark
(:mod:`cmr.bench.train`) share: the model, optimiser and loss scaler of a run, the parts of one
step, devices and precision, the data loader of plain and mixed runs, TensorBoard panels,
validation, parameter digests."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from cmr.data.mixing import RatioSampler, collate_mixed
from cmr.engine.distributed import ProcessInfo
from cmr.engine.runs import epoch_seed
from cmr.models.outputs import decode_outputs


def to_device(batch: dict, device: torch.device) -> dict:
    """Move every tensor (lists of tensors, dicts of tensors) of a collated batch to ``device``."""
    def move(value):
        if isinstance(value, torch.Tensor):
            return value.to(device, non_blocking=True)
        if isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
            return [item.to(device, non_blocking=True) for item in value]
        if isinstance(value, dict):
            return {key: move(item) for key, item in value.items()}
        return value

    return {key: move(value) for key, value in batch.items()}


def follow_schedule(scheduler: torch.optim.lr_scheduler.MultiStepLR, lr: float, milestones, gamma: float) -> None:
    """Make a restored step schedule the configured one (``TRAIN.LR``, ``TRAIN.DECAY_STEP``,
    ``TRAIN.LR_DECAY``): its base rate, milestones and factor, and each group's learning rate for
    the epochs already done (``lr * gamma ** (milestones passed)``), so a resumed run may change
    its schedule."""
    from collections import Counter

    scheduler.milestones, scheduler.gamma = Counter(int(m) for m in milestones), float(gamma)
    scheduler.base_lrs = [float(lr)] * len(scheduler.optimizer.param_groups)
    passed = sum(count for milestone, count in scheduler.milestones.items() if milestone <= scheduler.last_epoch)
    for group in scheduler.optimizer.param_groups:
        group["initial_lr"] = float(lr)
        group["lr"] = float(lr) * scheduler.gamma ** passed
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def autocast(cfg, device: torch.device):
    """The autocast context of ``TRAIN.AMP``: float16 on CUDA, bfloat16 on CPU."""
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=cfg.TRAIN.AMP)


def training_model(cfg, template, device: torch.device) -> torch.nn.Module:
    """The configuration's model on ``device``, in channels-last memory format with
    ``TRAIN.CHANNELS_LAST``."""
    from cmr.models.build import build_model

    model = build_model(cfg, template).to(device)
    return model.to(memory_format=torch.channels_last) if cfg.TRAIN.CHANNELS_LAST else model


def training_optimiser(cfg, parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam with ``TRAIN.LR`` and ``TRAIN.WEIGHT_DECAY``."""
    return torch.optim.Adam(parameters, lr=cfg.TRAIN.LR, weight_decay=cfg.TRAIN.WEIGHT_DECAY)


def loss_scaler(cfg, device: torch.device) -> torch.amp.GradScaler:
    """The float16 loss scaler of ``TRAIN.AMP`` on CUDA (disabled elsewhere: bfloat16 needs none)."""
    return torch.amp.GradScaler("cuda", enabled=cfg.TRAIN.AMP and device.type == "cuda")


def forward_outputs(network: torch.nn.Module, cfg, images: torch.Tensor, device: torch.device) -> dict:
    """The network's outputs on (B, 3, S, S) images under ``TRAIN.AMP``, cast back to float32."""
    with autocast(cfg, device):
        outputs = network(images)
    return float32_outputs(outputs)


def backward(total: torch.Tensor, optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """Fresh gradients of the (scaled) total loss."""
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(total).backward()


def optimiser_step(optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   parameters: list[torch.nn.Parameter], grad_clip: float) -> None:
    """Clip the gradient norm to ``grad_clip`` (if > 0), then step the optimiser and the scaler."""
    if grad_clip > 0:
        scaler.unscale_(optimiser)
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    scaler.step(optimiser)
    scaler.update()


def float32_outputs(outputs: dict) -> dict:
    """Cast autocast outputs back to float32 so the losses run in full precision."""
    def cast(value):
        if isinstance(value, torch.Tensor):
            return value.float()
        if isinstance(value, list):
            return [cast(item) for item in value]
        return value

    return {key: cast(value) for key, value in outputs.items()}


def data_loader(dataset, cfg, info: ProcessInfo, epoch: int, shuffle: bool, batch_size: int, drop_last: bool,
                sources=None) -> DataLoader:
    """A loader over ``dataset``: split over the processes, reshuffled per epoch; with ``sources``
    (:func:`cmr.data.mixing.training_sources`) drawn by their shares and collated by labels."""
    if sources is None:
        sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle,
                                     seed=cfg.TRAIN.SEED, drop_last=drop_last)
        collate = None
    else:
        samples = int(cfg.DATA.SAMPLES_PER_EPOCH) or len(dataset)
        sampler, collate = RatioSampler(sources, samples, cfg.TRAIN.SEED, info.rank, info.world_size), collate_mixed
    sampler.set_epoch(epoch)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=cfg.DATA.NUM_WORKERS,
        drop_last=drop_last, pin_memory=info.device.type == "cuda", collate_fn=collate,
        generator=torch.Generator().manual_seed(epoch_seed(cfg, epoch, info.rank)),
    )


def image_panel(batch: dict, outputs: dict, regressor: torch.Tensor) -> torch.Tensor:
    """(3, H, W) grid of the first samples: input, target mask (where every shown sample has one),
    predicted mask, predicted heatmaps."""
    import torch.nn.functional as F
    from torchvision.utils import make_grid

    count = min(4, batch["image"].shape[0])
    size = batch["image"].shape[-1]
    decoded = decode_outputs(outputs, regressor, size)
    images = (batch["image"][:count].detach().float().cpu() * 0.5 + 0.5).clamp(0, 1)

    def as_rgb(maps: torch.Tensor) -> torch.Tensor:
        maps = F.interpolate(maps[:count].detach().float().cpu(), size=(size, size), mode="nearest")
        return maps.clamp(0, 1).repeat(1, 3, 1, 1)

    rows = [images]
    if "mask" in batch and len(batch["mask"]) == batch["image"].shape[0]:
        rows.append(as_rgb(batch["mask"]))
    rows += [as_rgb(decoded.mask[:, None]), as_rgb(decoded.heatmaps.amax(dim=1, keepdim=True))]
    return make_grid(torch.cat(rows), nrow=count)


@torch.no_grad()
def root_relative_predictions(model: torch.nn.Module, loader: DataLoader, regressor: torch.Tensor,
                              device: torch.device, show_progress: bool):
    """Per batch of an evaluation split with ground truth, float64 arrays in metres relative to
    the true root: {"joints": ((B, 21, 3) predicted, (B, 21, 3) true), "vertices": ((B, N, 3)
    predicted, (B, N, 3) true)}."""
    model.eval()
    for batch in tqdm(loader, desc="validate", disable=not show_progress, dynamic_ncols=True, leave=False):
        batch = to_device(batch, device)
        decoded = decode_outputs(model(batch["image"]), regressor, batch["image"].shape[-1])
        root = batch["xyz_camera"][:, :1]
        pairs = {"joints": (decoded.joints, batch["xyz_camera"] - root),
                 "vertices": (decoded.vertices, batch["verts_camera"] - root)}
        yield {name: tuple(points.cpu().numpy().astype(np.float64) for points in pair) for name, pair in pairs.items()}


def validate(model: torch.nn.Module, loader: DataLoader, regressor: torch.Tensor, device: torch.device,
             show_progress: bool) -> dict:
    """Root-relative errors (mm) on an evaluation split: MPJPE, MPVPE and their PA versions."""
    from cmr.evaluation.metrics import align_w_scale

    errors: dict[str, list[np.ndarray]] = {"mpjpe": [], "pa_mpjpe": [], "mpvpe": [], "pa_mpvpe": []}
    for pairs in root_relative_predictions(model, loader, regressor, device, show_progress):
        for name, (pred, gt) in (("mpjpe", pairs["joints"]), ("mpvpe", pairs["vertices"])):
            errors[name].append(np.linalg.norm(pred - gt, axis=-1).mean(axis=1))
            aligned = align_w_scale(gt, pred, allow_reflection=False)
            errors[f"pa_{name}"].append(np.linalg.norm(aligned - gt, axis=-1).mean(axis=1))
    return {f"val_{name}_mm": float(np.concatenate(values).mean() * 1000.0) for name, values in errors.items()}


def parameter_digest(model: torch.nn.Module) -> str:
    """sha256 of every parameter's bytes (to check that DDP ranks hold identical weights).

    Buffers (BatchNorm running statistics) are left out: each rank updates them on its own data.
    """
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
