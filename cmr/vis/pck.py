"""PCK curves (fraction of points within a threshold) drawn side by side in panels, as a PNG.

Generic over what is measured: each panel has a title, an x-axis label in the thresholds' unit
and its curves; the AUC of each curve goes into the legend. Matplotlib's Agg canvas, no display.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cmr.fileio import atomic_write_bytes

#: Size of one panel, inches (at 100 dpi).
PANEL_INCHES = (5.0, 4.2)


@dataclass(frozen=True)
class PckCurve:
    """One curve of a panel.

    Attributes:
        label: legend text (the AUC is appended).
        thresholds: (T,) increasing thresholds, in the panel's unit.
        pck: (T,) fraction of points within each threshold, in [0, 1].
        auc: normalised area under the curve, in [0, 1].
        colour: a matplotlib colour (``'C0'``: the first of the default cycle).
        dashed: draw the curve dashed.
    """

    label: str
    thresholds: np.ndarray
    pck: np.ndarray
    auc: float
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class PckPanel:
    """A panel: its title, the x-axis label (naming the unit), its curves and the y-axis label."""

    title: str
    xlabel: str
    curves: Sequence[PckCurve]
    ylabel: str = "fraction of correct points"


def plot_pck_panels(panels: Sequence[PckPanel], path: str | os.PathLike) -> Path:
    """Write the panels side by side as a PNG (deterministic bytes: no software stamp).

    A panel without curves reads "not evaluated". Returns the written path.
    """
    width, height = PANEL_INCHES
    figure = Figure(figsize=(width * max(1, len(panels)), height), dpi=100)
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), index + 1)
        for curve in panel.curves:
            ax.plot(curve.thresholds, curve.pck, color=curve.colour, linestyle="--" if curve.dashed else "-",
                    label=f"{curve.label} (AUC {curve.auc:.3f})")
        ax.set(title=panel.title, xlabel=panel.xlabel, ylabel=panel.ylabel, ylim=(0.0, 1.01))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="lower right", fontsize="small")
        else:
            ax.text(0.5, 0.5, "not evaluated", ha="center", va="center", transform=ax.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return atomic_write_bytes(path, buffer.getvalue())
