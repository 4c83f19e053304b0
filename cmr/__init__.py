"""cmr: camera-space 3D hand mesh recovery from a single RGB image.

Sub-packages:
    cmr.hand   the project's open parametric hand model (rest mesh, shape space, skinning).
    cmr.mesh   mesh topology tools: PLY I/O, quadric decimation, spirals, the Template bundle.
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
