"""The training-speed experiment's figure: validation error against training time, per model."""

from __future__ import annotations

from pathlib import Path


def accuracy_against_time(curves: dict[str, list[dict]], figure: Path) -> None:
    """Plot each model's validation PA-MPJPE (mm) against its training minutes, one point per epoch.

    Args:
        curves: model title -> per-epoch rows with ``'training minutes'`` and ``'val PA-MPJPE mm'``
            (:func:`cmr.tools.experiments.training_curve`).
        figure: PNG path (its folder is created).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5, 3.2), dpi=120)
    for title, rows in curves.items():
        minutes = [row["training minutes"] for row in rows]
        errors = [row["val PA-MPJPE mm"] for row in rows]
        axis.plot(minutes, errors, marker="o", label=title)
    axis.set(xlabel="training minutes (2 CPU cores)", ylabel="validation PA-MPJPE (mm)",
             title="same data and schedule, one point per epoch")
    axis.grid(alpha=0.3), axis.legend(), fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure)
    plt.close(fig)
