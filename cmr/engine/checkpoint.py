"""Checkpoints: atomic save, load with clear errors, and a ready model from a checkpoint file.

A checkpoint written by the trainer is a dict::

    {"model": state_dict, "cfg": the run's YAML config (str), "epoch": last finished epoch,
     "optimizer", "scheduler", "scaler": state dicts, "rng": RNG states,
     "best_metric": float, "history": list of per-epoch dicts}

Bundled checkpoints keep only ``model`` (possibly float16) and ``cfg``. Official CMR releases
(bare state dicts) are recognised and converted (:mod:`cmr.models.convert`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn
from yacs.config import CfgNode

from cmr.config import get_cfg
from cmr.fileio import atomic_write_bytes


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """``torch.save`` to a temporary file, then rename: an interrupted save loses nothing."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint on the CPU, with an error naming the file when it is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({error})") from error


#: Config sections that describe how a model is used, not what it is: a checkpoint's values for
#: them are ignored in favour of the current defaults (and the user's overrides).
RUNTIME_SECTIONS = ("DEMO", "TEST", "REGISTRATION", "DEVICE", "NUM_THREADS")


def cfg_from_checkpoint(checkpoint: dict, path: str | os.PathLike = "checkpoint") -> CfgNode:
    """The configuration stored in one of our checkpoints.

    Keys newer than the checkpoint get their defaults, and so do the runtime sections
    (:data:`RUNTIME_SECTIONS`).
    """
    if "cfg" not in checkpoint:
        raise ValueError(f"{path}: holds no 'cfg' entry; is it an official CMR release? Pass a config too")
    stored = CfgNode.load_cfg(checkpoint["cfg"])
    for key in RUNTIME_SECTIONS:
        stored.pop(key, None)
    cfg = get_cfg()
    cfg.merge_from_other_cfg(stored)
    return cfg


def load_weights(model: nn.Module, checkpoint: dict, path: str | os.PathLike = "checkpoint") -> nn.Module:
    """Load model weights from one of our checkpoints or an official CMR release (strict)."""
    if "model" in checkpoint and "cfg" in checkpoint:
        state = {key: value.float() if value.is_floating_point() else value
                 for key, value in checkpoint["model"].items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: weights do not fit the model built from the config: missing "
                f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
                f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        return model
    from cmr.models.convert import load_official_checkpoint

    return load_official_checkpoint(model, checkpoint)


def load_model(path: str | os.PathLike, fallback_cfg: CfgNode | None = None,
               device: str | torch.device = "cpu"):
    """(model in eval mode on ``device``, its cfg, template) from a checkpoint file.

    The architecture comes from the checkpoint's own config; ``fallback_cfg`` is used only for
    official CMR releases, which carry none.
    """
    from cmr.models.build import build_model, load_template

    checkpoint = load_checkpoint(path)
    if "cfg" in checkpoint:
        cfg = cfg_from_checkpoint(checkpoint, path)
    elif fallback_cfg is not None:
        cfg = fallback_cfg
    else:
        raise ValueError(f"{path}: holds no config (an official CMR release?); pass --config with its architecture")
    template = load_template(cfg.MODEL.TEMPLATE)
    model = build_model(cfg, template)
    load_weights(model, checkpoint, path)
    return model.to(device).eval(), cfg, template


def export_checkpoint(source: str | os.PathLike, destination: str | os.PathLike, half: bool = True) -> Path:
    """Write a small inference checkpoint: the model weights (float16 if ``half``) and the config.

    Optimizer, scheduler and RNG states are dropped; :func:`load_model` reads the result and
    casts the weights back to float32.
    """
    checkpoint = load_checkpoint(source)
    if "model" not in checkpoint or "cfg" not in checkpoint:
        raise ValueError(f"{source}: not a checkpoint written by cmr's trainer (needs 'model' and 'cfg')")
    model = {key: value.half() if half and value.is_floating_point() else value
             for key, value in checkpoint["model"].items()}
    kept = {"model": model, "cfg": checkpoint["cfg"], "epoch": checkpoint.get("epoch"),
            "history": checkpoint.get("history", [])}
    return save_checkpoint(destination, kept)
