"""cmr: camera-space 3D hand mesh recovery from a single RGB image.

Sub-packages, by layer (imports only point down):
    ground        cmr.hand (the open hand model and the joint conventions), cmr.mesh (PLY,
                  decimation, spirals, the Template), cmr.geometry (camera, pixel maps, crops,
                  the crop policy), cmr.render, cmr.registration, cmr.config, cmr.fileio
    learning      cmr.data (datasets, targets, the synthetic generator), cmr.models
    reporting     cmr.vis, cmr.evaluation
    applications  cmr.engine (train, evaluate, score, demo), cmr.tools, cmr.bench, cmr.cli
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of the repository checkout (the folder that holds ``cmr/``, ``template/``, ``scripts/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where the project's generated template bundle is committed.
TEMPLATE_DIR = REPO_ROOT / "template"


def repo_path(path: str | Path) -> Path:
    """``path`` as given when absolute; a relative one is taken below the repository root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path
