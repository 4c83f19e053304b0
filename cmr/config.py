"""Project configuration (YACS). ``get_cfg()`` returns a fresh, mutable copy of the defaults.

Sections so far: ``MODEL`` (architecture) and ``LOSS`` (term weights, cmr.md §4). Further
sections are added next to these; YAML files override any key (``cfg.merge_from_file``).
"""

from __future__ import annotations

from yacs.config import CfgNode as CN

_C = CN()

# ------------------------------------------------------------------ model
_C.MODEL = CN()
#: 'cmr_sg' | 'cmr_pg' | 'cmr_g'.
_C.MODEL.NAME = "cmr_sg"
#: 'resnet18' | 'resnet34' | 'resnet50' | 'resnet10' (one block per stage, compact runs).
_C.MODEL.BACKBONE = "resnet18"
#: Square input side in pixels (a multiple of 32); 2-D outputs are INPUT_SIZE / 2.
_C.MODEL.INPUT_SIZE = 224
#: Mesh-decoder widths per predicted level, fine to coarse.
_C.MODEL.OUT_CHANNELS = [64, 128, 256, 512]
#: Spiral length and dilation per predicted level, fine to coarse.
_C.MODEL.SPIRAL_LENGTH = [27, 27, 27, 27]
_C.MODEL.DILATION = [1, 1, 1, 1]
#: Self-attention on the latent: None gives the variant's default (SG/PG yes, G no).
_C.MODEL.ATTENTION = None
#: 'spiral' (CMR) | 'cheb' (Chebyshev graph convolutions, Ge et al. 2019).
_C.MODEL.DECODER = "spiral"
#: Chebyshev order K of the 'cheb' decoder.
_C.MODEL.CHEB_K = 3
#: Size of the latent vector (the ResNet fc output).
_C.MODEL.LATENT_SIZE = 1000
#: Block widths of the 2-D (heatmap/silhouette) decoders; empty gives CMR's (C3, C2, C1, C1).
_C.MODEL.DECODER_2D_CHANNELS = []
#: Template: a folder holding CMR's released files (transform.pkl, ...) or one written by
#: Template.save, or '<folder>/<name>' for a saved template named <name>. Relative paths are
#: resolved against the current directory, then the repository root.
_C.MODEL.TEMPLATE = "template"

# ------------------------------------------------------------------ losses
_C.LOSS = CN()
#: L1 on the mesh pyramid, one weight per level (fine to coarse).
_C.LOSS.MESH_L1 = [1.0, 1.0, 1.0, 1.0]
#: Binary cross-entropy of the final heatmaps, of each intermediate heatmap.
_C.LOSS.HEATMAP = 10.0
_C.LOSS.AUX_HEATMAP = 10.0
#: Binary cross-entropy of the final silhouette, of each intermediate silhouette.
_C.LOSS.MASK = 0.5
_C.LOSS.AUX_MASK = 0.5
#: Face-normal consistency and edge-length losses on the finest level.
_C.LOSS.NORMAL = 0.1
_C.LOSS.EDGE = 1.0
#: L1 on 3-D joints regressed from the finest mesh (for data without meshes).
_C.LOSS.JOINT_3D = 0.0


def get_cfg() -> CN:
    """A fresh copy of the default configuration."""
    return _C.clone()
