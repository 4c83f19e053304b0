"""FreiHAND's on-disk layout, shared by the real dataset and the project's synthetic one.

Under a dataset root (``data/FreiHAND`` or ``data/FreiHAND_synth``)::

    training/rgb/%08d.jpg        224x224 RGB; V versions x N annotations (FreiHAND: 4 x 32,560;
                                 image i shows annotation i % N)
    training/mask/%08d.jpg       hand silhouette of annotation i (foreground: channel 0 > 240)
    training/mesh/%08d.ply       camera-space mesh of annotation i, metres (CMR's mesh GT)
    training/depth/%08d.png      16-bit depth of the hand in millimetres, 0 = background
                                 (synthetic set only)
    training_K.json              N x 3 x 3 intrinsics of the 224x224 images
    training_xyz.json            N x 21 x 3 camera-space keypoints, metres, FreiHAND order
    training_mano.json           N x [61 numbers]: pose 16 x 3 axis-angle, 10 shape, 3 translation
                                 (FreiHAND stores MANO's; the synthetic set stores the open hand's)
    training_scale.json          N bone lengths |xyz[9] - xyz[10]| (middle MCP to PIP), metres
    evaluation/rgb/%08d.jpg      M evaluation images (FreiHAND: 3,960)
    evaluation/mask/%08d.jpg     evaluation silhouettes (synthetic set only)
    evaluation_K.json, evaluation_scale.json
    evaluation_xyz.json, evaluation_verts.json, evaluation_mano.json
                                 evaluation ground truth (FreiHAND releases it separately)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Where users get the real dataset (named in every "missing file" error).
FREIHAND_URL = "https://lmb.informatik.uni-freiburg.de/projects/freihand/"
#: Counts of the real dataset.
FREIHAND_TRAINING_ANNOTATIONS = 32560
FREIHAND_TRAINING_VERSIONS = 4  # gs, hom, sample, auto
FREIHAND_EVALUATION_IMAGES = 3960
#: Side of FreiHAND's images in pixels.
IMAGE_SIZE = 224
#: Numbers per entry of *_mano.json: 48 pose + 10 shape + 3 translation.
MANO_PARAMETERS = 61
#: Mask pixels whose first channel exceeds this are hand (as the reference reads FreiHAND's JPEGs).
MASK_THRESHOLD = 240
#: The hand box (centre (u, v), extent) assumed for FreiHAND's evaluation images, which frame
#: the hand roughly centred at about 100 px: the crop policy turns it into the evaluation crop
#: (the reference's fixed crop of half-side 65 px for its box scale 1.3). The synthetic
#: evaluation hands are generated to fit it.
EVALUATION_HAND_BOX = ((112.0, 112.0), 100.0)
#: Keypoints defining *_scale.json (middle finger MCP and PIP, FreiHAND order).
SCALE_BONE = (9, 10)


@dataclass(frozen=True)
class FreiHANDLayout:
    """Paths of one dataset root laid out like FreiHAND."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def training_rgb(self, index: int) -> Path:
        return self.root / "training" / "rgb" / f"{index:08d}.jpg"

    def training_mask(self, index: int) -> Path:
        return self.root / "training" / "mask" / f"{index:08d}.jpg"

    def training_mesh(self, index: int) -> Path:
        return self.root / "training" / "mesh" / f"{index:08d}.ply"

    def training_depth(self, index: int) -> Path:
        return self.root / "training" / "depth" / f"{index:08d}.png"

    def evaluation_rgb(self, index: int) -> Path:
        return self.root / "evaluation" / "rgb" / f"{index:08d}.jpg"

    def evaluation_mask(self, index: int) -> Path:
        return self.root / "evaluation" / "mask" / f"{index:08d}.jpg"

    def annotation(self, split: str, name: str) -> Path:
        """``<root>/<split>_<name>.json``, e.g. ``annotation('training', 'K')``."""
        if split not in ("training", "evaluation"):
            raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
        return self.root / f"{split}_{name}.json"
