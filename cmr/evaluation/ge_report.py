"""The files recording a run on Ge et al.'s real-world test set: scores JSON and PCK plot.

``ge_scores.json`` holds :data:`cmr.evaluation.ge_real.GE_SCORE_NAMES` -> value (null for a
score that could not be computed: the found-only scores when no hand was found); ``ge_pck.png``
has two panels, 3D PCK (camera space, root-relative, Procrustes-aligned; mm) and 2D PCK (px),
solid over the found hands and dashed over every image with misses counted as failures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from cmr.evaluation.ge_real import MM_PER_M
from cmr.evaluation.metrics import PointMeasures
from cmr.fileio import atomic_write_json
from cmr.vis.pck import PckCurve, PckPanel, plot_pck_panels

GE_SCORES_FILE = "ge_scores.json"
GE_PCK_PLOT_FILE = "ge_pck.png"
#: Curve key -> (legend label, colour); the 3D kinds share a panel.
_CURVE_STYLE = {
    "camera": ("camera space", "C0"),
    "root_relative": ("root-relative", "C1"),
    "procrustes": ("Procrustes-aligned", "C2"),
    "uv": ("projected joints", "C3"),
}


def _curves(curves: Mapping[str, PointMeasures], kinds: tuple[str, ...], unit: float) -> list[PckCurve]:
    """The found-hand and all-image curves of ``kinds`` present in ``curves``, thresholds x ``unit``."""
    drawn = []
    for kind in kinds:
        label, colour = _CURVE_STYLE[kind]
        for key, suffix, dashed in ((kind, "found hands", False), (f"{kind}_all", "all images", True)):
            if key in curves:
                measures = curves[key]
                drawn.append(PckCurve(f"{label}, {suffix}", measures.thresholds_m * unit, measures.pck,
                                      measures.auc, colour, dashed))
    return drawn


def plot_ge_pck(curves: Mapping[str, PointMeasures], path: str | os.PathLike) -> Path:
    """Write the 3D (mm) and 2D (px) PCK panels of :attr:`GeEvaluation.curves` as a PNG."""
    panels = (
        PckPanel("3D PCK", "threshold (mm)", _curves(curves, ("camera", "root_relative", "procrustes"), MM_PER_M)),
        PckPanel("2D PCK of the projected joints", "threshold (px)", _curves(curves, ("uv",), 1.0)),
    )
    return plot_pck_panels(panels, path)


def write_ge_report(scores: Mapping[str, float | None], curves: Mapping[str, PointMeasures],
                    folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``ge_scores.json`` and ``ge_pck.png`` into ``folder`` (created when missing), atomically.

    Args:
        scores: :attr:`GeEvaluation.scores` (name -> number or None), written in their order.
        curves: :attr:`GeEvaluation.curves`.
        folder: output folder.

    Returns:
        (scores path, plot path).
    """
    folder = Path(folder)
    values = {name: value if value is None or isinstance(value, int) else float(value)
              for name, value in scores.items()}
    plot_path = plot_ge_pck(curves, folder / GE_PCK_PLOT_FILE)
    return atomic_write_json(folder / GE_SCORES_FILE, values), plot_path
