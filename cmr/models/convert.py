"""Load the officially released CMR checkpoints (SeanChenxy/HandMesh) into this package's models.

The official key names (cmr_state_dict.md §7) differ from ours only by module prefixes, so the
mapping is a table of ``(official prefix, our prefix)`` pairs per variant; it is a bijection, and
:func:`to_official_state_dict` is its inverse. Tensors are copied unchanged: our spiral
convolutions use the same neighbour-major weight layout and our U-Net heads the same
concatenation order.

The checkpoints hold no mesh topology. They only work with CMR's MANO-topology template (778,
389, 195, 98, 49 vertices, its ``transform.pkl`` up-sampling matrices, spirals of length 27 and
dilation 1) and the full-size architecture (ResNet-18 at width 64, CMR's mesh-stage input block,
LATENT_SIZE 1000, OUT_CHANNELS [64, 128, 256, 512], the spiral decoder).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from cmr.models.backbone import STANDARD_WIDTH

TOPOLOGY_REQUIREMENT = (
    "official CMR checkpoints need the full-size model (MODEL.BACKBONE resnet18, WIDTH 64, MESH_REDUCE cmr, "
    "LATENT_SIZE 1000, OUT_CHANNELS [64, 128, 256, 512], DECODER spiral) built on CMR's MANO-topology template "
    "(MODEL.TEMPLATE = CMR's release folder with transform.pkl: 778/389/195/98/49 vertices, "
    "spirals of length 27, dilation 1)"
)

#: Per variant: official encoder prefix -> ours.
_ENCODERS = {
    "cmr_sg": {"backbone1": "mask_encoder", "backbone2": "pose_encoder", "backbone3": "mesh_encoder"},
    "cmr_pg": {"backbone1": "prior_encoder", "backbone2": "refine_encoder", "backbone3": "mesh_encoder"},
    "cmr_g": {"backbone": "pose_encoder", "backbone_mesh": "mesh_encoder"},
}
#: Per variant: (official block-list prefix, official head prefix) -> our 2-D decoder.
_DECODERS_2D = {
    "cmr_sg": {
        ("mask_delayer", "mask_head"): "mask_prior_decoder",
        ("uv_delayer", "uv_head"): "pose_prior_decoder",
        ("uvm_delayer", "uvm_head"): "final_decoder",
    },
    "cmr_pg": {
        ("uv_prior_delayer", "uv_prior_head"): "pose_prior_decoder",
        ("uv_delayer", "uv_head"): "pose_refine_decoder",
        ("uvm_delayer", "uvm_head"): "final_decoder",
    },
    "cmr_g": {
        ("uv_delayer", "uv_head"): "pose_prior_decoder",
        ("uv_delayer2", "uv_head2"): "final_decoder",
    },
}
#: Official ParallelDeblock sub-convolution -> ours.
_DEBLOCK_CONVS = {
    "conv": "spiral_full",
    "conv_2d3": "spiral_two_thirds",
    "conv_d3": "spiral_one_third",
    "conv1": "shortcut",
}
_MESH_LEVELS = 4


class CheckpointMismatchError(ValueError):
    """An official state dict does not fit the model; the message lists every offending key."""


def prefix_table(variant: str) -> list[tuple[str, str]]:
    """``(official prefix, our prefix)`` pairs (each ending in '.') covering every key of ``variant``."""
    if variant not in _ENCODERS:
        raise ValueError(f"unknown CMR variant {variant!r}; choose one of {sorted(_ENCODERS)}")
    table = [(f"{official}.", f"{ours}.") for official, ours in _ENCODERS[variant].items()]
    for (blocks, head), ours in _DECODERS_2D[variant].items():
        table += [(f"{blocks}.", f"{ours}.blocks."), (f"{head}.conv.", f"{ours}.head.")]
    table += [
        ("attention.gamma.", "mesh_decoder.attention.gamma."),
        ("attention.query_conv.", "mesh_decoder.attention.query."),
        ("attention.key_conv.", "mesh_decoder.attention.key."),
        ("attention.value_conv.", "mesh_decoder.attention.value."),
        ("de_layers.0.", "mesh_decoder.latent_to_mesh."),
    ]
    for level in range(_MESH_LEVELS):
        for official, ours in _DEBLOCK_CONVS.items():
            table.append((f"de_layers.{level + 1}.{official}.layer.", f"mesh_decoder.deblocks.{level}.{ours}.linear."))
        table.append((f"heads.{level}.layer.", f"mesh_decoder.heads.{level}.linear."))
    return table


def _rename(key: str, table: list[tuple[str, str]]) -> str | None:
    """Apply the first matching prefix pair (keys are matched with a trailing '.'), else None."""
    dotted = key + "."
    for source, target in table:
        if dotted.startswith(source):
            return (target + dotted[len(source):])[:-1]
    return None


def unwrap_state_dict(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: takes ``['model_state_dict']`` if present, strips ``module.``."""
    state = checkpoint.get("model_state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f"checkpoint['model_state_dict'] is a {type(state).__name__}, not a state dict")
    return {(key[len("module."):] if key.startswith("module.") else key): value for key, value in state.items()}


def detect_variant(state: Mapping) -> tuple[str, bool]:
    """(variant, has attention) of an official state dict, from its key prefixes."""
    prefixes = {key.split(".", 1)[0] for key in state}
    attention = "attention" in prefixes
    if "mask_delayer" in prefixes:
        return "cmr_sg", attention
    if "uv_prior_delayer" in prefixes:
        return "cmr_pg", attention
    if "backbone_mesh" in prefixes:
        return "cmr_g", attention
    raise CheckpointMismatchError(
        f"not an official CMR-SG/PG/G state dict: top-level prefixes {sorted(prefixes)}"
    )


def from_official_state_dict(checkpoint: Mapping, model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an official state dict (or checkpoint) to ``model``'s keys, checking keys and shapes.

    Raises:
        CheckpointMismatchError: naming every missing, unexpected and mis-shaped key, and the
            template and configuration the checkpoint needs.
    """
    state = unwrap_state_dict(checkpoint)
    table = prefix_table(model.variant)
    expected = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    unexpected, mismatched, seen = [], [], set()
    for key, value in state.items():
        ours = _rename(key, table)
        if ours is None or ours not in expected:
            unexpected.append(key)
            continue
        seen.add(ours)
        if tuple(value.shape) != tuple(expected[ours].shape):
            mismatched.append(f"{key} {list(value.shape)} (model expects {list(expected[ours].shape)})")
        else:
            converted[ours] = value
    inverse = [(ours, official) for official, ours in table]
    missing = [_rename(key, inverse) or key for key in expected if key not in seen]
    if unexpected or missing or mismatched:
        raise CheckpointMismatchError(_mismatch_report(model.variant, state, missing, unexpected, mismatched))
    return converted


def _mismatch_report(variant: str, state: Mapping, missing: list, unexpected: list, mismatched: list) -> str:
    lines = [f"official checkpoint does not fit this {variant} model:"]
    for title, entries in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if entries:
            shown = entries[:20] + ([f"... and {len(entries) - 20} more"] if len(entries) > 20 else [])
            lines.append(f"  {title} ({len(entries)}): " + "; ".join(shown))
    try:
        found, attention = detect_variant(state)
        lines.append(f"  the checkpoint looks like {found} with attention {'on' if attention else 'off'} "
                     "(set MODEL.NAME and MODEL.ATTENTION to match)")
    except CheckpointMismatchError as error:
        lines.append(f"  {error}")
    lines.append(f"  note: {TOPOLOGY_REQUIREMENT}")
    return "\n".join(lines)


def to_official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict under the official key names (the inverse of the conversion).

    Raises:
        CheckpointMismatchError: the model is not of CMR's shape (another width or mesh-stage
            input block), or has a key with no official counterpart.
    """
    if model.width != STANDARD_WIDTH or model.mesh_reduce != "cmr":
        raise CheckpointMismatchError(f"official CMR checkpoints hold width-{STANDARD_WIDTH} models with CMR's "
                                      f"mesh-stage input block; this model has MODEL.WIDTH {model.width} and "
                                      f"MODEL.MESH_REDUCE {model.mesh_reduce!r}")
    inverse = [(ours, official) for official, ours in prefix_table(model.variant)]
    state = {}
    for key, value in model.state_dict().items():
        official = _rename(key, inverse)
        if official is None:
            raise CheckpointMismatchError(f"{key} has no official counterpart (is this the spiral decoder?)")
        state[official] = value
    return state


def load_official_checkpoint(model: nn.Module, checkpoint: Mapping | str) -> nn.Module:
    """Load an official checkpoint (path or loaded object) into ``model`` strictly; returns ``model``."""
    if isinstance(checkpoint, str):
        checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(from_official_state_dict(checkpoint, model), strict=True)
    return model
