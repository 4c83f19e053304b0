"""Checkpoints: atomic save, one read per run, the run's one configuration, a ready model.

A checkpoint written by the trainer is a dict::

    {"model": state_dict, "cfg": the run's YAML config (str), "template": {"name", "checksum"},
     "epoch": last finished epoch, "optimizer", "scheduler", "scaler": state dicts,
     "rng": RNG states, "best_metric": float, "history": list of per-epoch dicts}

and, with ``TRAIN.EMA``, ``"model"`` is the weights' moving average, beside ``"trained_model"``
(the optimiser's own weights, which a resumed run continues from) and ``"average_updates"``
(:mod:`cmr.engine.averaging`).

Bundled checkpoints keep ``model`` (possibly float16), ``cfg`` and ``template``. Official CMR
releases (bare state dicts) are recognised and converted (:mod:`cmr.models.convert`).

The configuration of a run that uses a checkpoint (:func:`run_config`) is built once: the
defaults, the checkpoint's stored configuration (its ``MODEL`` section describes the weights),
the user's experiment file and ``KEY VALUE`` overrides; a ``MODEL`` value that contradicts the
weights is refused, and so is a template whose checksum differs from the one the weights were
trained with (:func:`load_model`).
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import nn
from yacs.config import CfgNode

from cmr.config import apply_overrides, get_cfg, merge_dict, read_yaml, resolve_path
from cmr.fileio import atomic_write_bytes

#: Config sections that describe how a model is used, not what it is: a checkpoint's values for
#: them are ignored in favour of the current defaults (and the user's settings).
RUNTIME_SECTIONS = ("DEMO", "TEST", "REGISTRATION", "DETECTOR", "FITTING", "VIDEO", "DEVICE", "NUM_THREADS")


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
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({error})") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: expected a checkpoint dict, got {type(checkpoint).__name__}")
    return checkpoint


def stored_config(checkpoint: dict, path: str | os.PathLike) -> dict | None:
    """The configuration stored in one of our checkpoints as a dict (None for official releases)."""
    if "cfg" not in checkpoint:
        return None
    try:
        return yaml.safe_load(checkpoint["cfg"])
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: the stored config is not readable YAML ({error})") from None


def model_conflicts(stored_model: dict, model_cfg: CfgNode) -> list[str]:
    """``MODEL`` keys whose value in ``model_cfg`` differs from the stored one ('KEY: new vs stored')."""
    stored = get_cfg()
    merge_dict(stored, {"MODEL": stored_model}, "stored config")
    conflicts = []
    for key in stored.MODEL:
        if key == "TEMPLATE":  # a template is checked by content (checksum), not by path
            continue
        if stored.MODEL[key] != model_cfg[key]:
            conflicts.append(f"MODEL.{key}: {model_cfg[key]} vs {stored.MODEL[key]} in the checkpoint")
    return conflicts


def run_config(checkpoint: dict, path: str | os.PathLike, config_path: str | None = None,
               overrides: list[str] | None = None) -> CfgNode:
    """The one configuration of a run that uses ``checkpoint`` (frozen).

    Defaults, then the checkpoint's stored config (without :data:`RUNTIME_SECTIONS`), then the
    experiment file, then the overrides. For our checkpoints the ``MODEL`` section must stay
    the weights' own: a contradicting value from the file or an override raises ValueError
    naming the keys. Official releases carry no config: the file gives the architecture.
    """
    cfg = get_cfg()
    stored = stored_config(checkpoint, path)
    if stored is not None:
        stored = {key: value for key, value in stored.items() if key not in RUNTIME_SECTIONS}
        merge_dict(cfg, stored, f"{path} (stored config)")
    if config_path:
        merge_dict(cfg, read_yaml(config_path), str(config_path))
    apply_overrides(cfg, overrides)
    if stored is not None:
        conflicts = model_conflicts(stored.get("MODEL", {}), cfg.MODEL)
        if conflicts:
            raise ValueError(f"{path}: the configuration contradicts the weights ({'; '.join(conflicts)}); "
                             "MODEL settings come from the checkpoint: drop them from the config and overrides")
    cfg.freeze()
    return cfg


def check_template(checkpoint: dict, template, path: str | os.PathLike) -> None:
    """Refuse a template other than the one the weights were trained with (by checksum)."""
    recorded = checkpoint.get("template")
    if recorded is None:
        if "cfg" in checkpoint:
            warnings.warn(f"{path} records no template identity (written by an older cmr); "
                          f"cannot check it against template {template.name!r}", stacklevel=3)
        return
    if recorded["checksum"] != template.checksum():
        raise ValueError(
            f"{path} was trained with template {recorded['name']!r} (checksum {recorded['checksum'][:16]}) "
            f"but MODEL.TEMPLATE gives {template.name!r} (checksum {template.checksum()[:16]}); "
            "use the template the weights were trained with, or retrain"
        )


def load_weights(model: nn.Module, checkpoint: dict, path: str | os.PathLike, template,
                 new_heads: tuple[str, ...] = ()) -> nn.Module:
    """Load model weights from one of our checkpoints or an official CMR release (strict).

    ``template`` is the model's: one of our checkpoints trained with another is refused
    (:func:`check_template`); official releases are checked key by key by the converter.
    Parameters under a ``new_heads`` prefix (e.g. ``'texture.'``) may be absent from the
    checkpoint: a head added to a trained model keeps its initialisation.
    """
    check_template(checkpoint, template, path)
    if "model" in checkpoint and "cfg" in checkpoint:
        state = {key: value.float() if value.is_floating_point() else value
                 for key, value in checkpoint["model"].items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.startswith(tuple(new_heads))]
        if missing or unexpected:
            raise ValueError(
                f"{path}: weights do not fit the model built from the config: missing "
                f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected "
                f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        return model
    from cmr.models.convert import load_official_checkpoint

    return load_official_checkpoint(model, checkpoint)


@dataclass
class LoadedModel:
    """A model ready for inference: the network (eval mode), its template, the run's config."""

    model: nn.Module
    template: object
    cfg: CfgNode


def load_model(checkpoint: dict, path: str | os.PathLike, cfg: CfgNode,
               device: str | torch.device = "cpu") -> LoadedModel:
    """Build ``cfg``'s model (from :func:`run_config`) and load the already read ``checkpoint``;
    with ``TEST.FAST_INFERENCE`` the returned network is its fast inference copy
    (:func:`cmr.models.fast.prepare_for_inference`; compiled with ``TEST.COMPILE``)."""
    from cmr.models.build import build_model, load_template
    from cmr.models.fast import prepare_for_inference

    template = load_template(cfg.MODEL.TEMPLATE)
    model = build_model(cfg, template)
    load_weights(model, checkpoint, path, template)
    model = model.to(device).eval()
    if cfg.TEST.FAST_INFERENCE:
        model = prepare_for_inference(model, compile=bool(cfg.TEST.COMPILE))
    return LoadedModel(model, template, cfg)


def open_run(path: str | os.PathLike, config_path: str | None = None,
             overrides: list[str] | None = None) -> LoadedModel:
    """Read the checkpoint at ``path`` once, build the run's one configuration
    (:func:`run_config`), apply ``NUM_THREADS`` and load the model on ``DEVICE``."""
    from cmr.engine.distributed import resolve_device

    checkpoint = load_checkpoint(path)
    cfg = run_config(checkpoint, path, config_path, overrides)
    if cfg.NUM_THREADS > 0:
        torch.set_num_threads(cfg.NUM_THREADS)
    return with_backend(load_model(checkpoint, path, cfg, resolve_device(cfg.DEVICE)))


def with_backend(loaded: LoadedModel) -> LoadedModel:
    """``loaded`` with the network of ``DEMO.BACKEND``: the torch model ('torch'), or the exported
    graph at ``DEMO.ONNX`` in onnxruntime ('onnx'; :class:`cmr.models.onnx_graph.OnnxNetwork`,
    which :func:`cmr.models.prediction.predict` runs in place of the model, on the CPU)."""
    cfg = loaded.cfg
    if cfg.DEMO.BACKEND == "torch":
        return loaded
    if cfg.DEMO.BACKEND != "onnx":
        raise ValueError(f"unknown DEMO.BACKEND {cfg.DEMO.BACKEND!r}; choose 'torch' or 'onnx'")
    if not cfg.DEMO.ONNX:
        raise ValueError("DEMO.BACKEND onnx needs DEMO.ONNX, a graph written by "
                         "`python -m cmr export CHECKPOINT --onnx OUT.onnx`")
    from cmr.models.onnx_graph import OnnxNetwork

    network = OnnxNetwork(resolve_path(cfg.DEMO.ONNX), max(cfg.NUM_THREADS, 0))
    if network.input_size != cfg.MODEL.INPUT_SIZE:
        raise ValueError(f"{cfg.DEMO.ONNX} takes {network.input_size}-px inputs but the checkpoint's model "
                         f"{cfg.MODEL.INPUT_SIZE}-px ones: export the graph from this checkpoint")
    return dataclasses.replace(loaded, model=network)


def export_checkpoint(source: str | os.PathLike, destination: str | os.PathLike, half: bool = True) -> Path:
    """Write a small inference checkpoint: the model weights (float16 if ``half``), the config and
    the template identity. Optimizer, scheduler and RNG states are dropped."""
    checkpoint = load_checkpoint(source)
    if "model" not in checkpoint or "cfg" not in checkpoint:
        raise ValueError(f"{source}: not a checkpoint written by cmr's trainer (needs 'model' and 'cfg')")
    model = {key: value.half() if half and value.is_floating_point() else value
             for key, value in checkpoint["model"].items()}
    kept = {"model": model, "cfg": checkpoint["cfg"], "template": checkpoint.get("template"),
            "epoch": checkpoint.get("epoch"), "history": checkpoint.get("history", [])}
    return save_checkpoint(resolve_path(destination), kept)
