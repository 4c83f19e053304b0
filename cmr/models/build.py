"""Build a CMR model from the configuration and a template."""

from __future__ import annotations

import torch
from torch import nn

from cmr.models.cmr_g import CMRG
from cmr.models.cmr_pg import CMRPG
from cmr.models.cmr_sg import CMRSG
from cmr.models.mesh_decoder import ChebMeshDecoder, SpiralMeshDecoder

#: Model name -> (class, whether the latent self-attention is on by default).
VARIANTS = {"cmr_sg": (CMRSG, True), "cmr_pg": (CMRPG, True), "cmr_g": (CMRG, False)}


def uses_attention(model_cfg) -> bool:
    """The resolved ``MODEL.ATTENTION`` (None means the variant's default)."""
    if model_cfg.ATTENTION is None:
        return VARIANTS[model_cfg.NAME][1]
    return bool(model_cfg.ATTENTION)


def build_mesh_decoder(model_cfg, template) -> nn.Module:
    """The 3-D decoder named by ``MODEL.DECODER`` ('spiral' or 'cheb').

    Args:
        model_cfg: ``cfg.MODEL``; the spiral decoder takes its spirals from the template with
            ``MODEL.SPIRAL_LENGTH`` and ``MODEL.DILATION`` (one per predicted level).
        template: a :class:`cmr.mesh.template.Template`.
    """
    attention = uses_attention(model_cfg)
    channels = list(model_cfg.OUT_CHANNELS)
    if model_cfg.DECODER == "spiral":
        lengths, dilations = list(model_cfg.SPIRAL_LENGTH), list(model_cfg.DILATION)
        return SpiralMeshDecoder(model_cfg.LATENT_SIZE, channels, template, lengths, dilations, attention)
    if model_cfg.DECODER == "cheb":
        return ChebMeshDecoder(model_cfg.LATENT_SIZE, channels, template, attention, model_cfg.CHEB_K)
    raise ValueError(f"unknown MODEL.DECODER {model_cfg.DECODER!r}; choose 'spiral' or 'cheb'")


def build_model(cfg, template) -> nn.Module:
    """The model named by ``cfg.MODEL.NAME``.

    Args:
        cfg: the configuration (see :mod:`cmr.config`).
        template: a :class:`cmr.mesh.template.Template` (the mesh decoder's topology).
    """
    model_cfg = cfg.MODEL
    if model_cfg.NAME not in VARIANTS:
        raise ValueError(f"unknown MODEL.NAME {model_cfg.NAME!r}; choose one of {sorted(VARIANTS)}")
    if model_cfg.INPUT_SIZE % 32:
        raise ValueError(f"MODEL.INPUT_SIZE must be a multiple of 32, got {model_cfg.INPUT_SIZE}")
    model_class = VARIANTS[model_cfg.NAME][0]
    decoder_channels = tuple(model_cfg.DECODER_2D_CHANNELS) or None
    model = model_class(
        model_cfg.BACKBONE,
        build_mesh_decoder(model_cfg, template),
        model_cfg.LATENT_SIZE,
        decoder_channels=decoder_channels,
        width=model_cfg.WIDTH,
        mesh_reduce=model_cfg.MESH_REDUCE,
    )
    if model_cfg.TEXTURE:
        model.add_texture_head(template.num_vertices[0])
    return model


def load_template(spec: str):
    """Load the template named by ``MODEL.TEMPLATE`` (see :mod:`cmr.config`; a relative path is
    resolved by the configuration's one rule, :func:`cmr.config.resolve_path`)."""
    from cmr.config import resolve_path
    from cmr.hand.conventions import MANO_TO_FREIHAND
    from cmr.mesh.template import Template

    path = resolve_path(spec)
    if (path / "transform.pkl").is_file():
        return Template.from_cmr_release(path, MANO_TO_FREIHAND)
    if path.is_dir():
        return Template.load(path)
    if path.with_suffix(".npz").is_file():
        return Template.load(path.parent, path.name)
    raise FileNotFoundError(
        f"template {spec!r} ({path}) not found: expected a CMR release folder (with transform.pkl), a folder "
        f"holding hand.npz/hand.json, or '<folder>/<name>' of a saved template"
    )


def forward_gflop(model: torch.nn.Module, input_size: int, device: torch.device) -> float:
    """GFLOP of one eval-mode forward of a (1, 3, S, S) image (the model's mode is restored)."""
    from torch.utils.flop_counter import FlopCounterMode

    training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, input_size, input_size, device=device))
    model.train(training)
    return counter.get_total_flops() / 1e9
