"""The project's own hand template: the open hand model's rest mesh as a Template bundle.

``write_hand_template(folder)`` writes, deterministically:
    hand.npz      every array of the bundle (levels, down/up matrices, spirals, regressor)
    hand.json     a manifest: vertex/face counts per level, spiral lengths, content checksum
    hand.ply      the level-0 rest mesh (ASCII PLY, metres)
    preview.png   the template in a few poses and its five decimation levels (optional)

The same bytes on every machine: the rest mesh and the joint regressor come out of float
computations (BLAS, least squares) whose last bits vary between machines, so both are snapped
to fixed grids first (:data:`VERTEX_STEPS_PER_M`, :data:`REGRESSOR_STEPS`), and everything
after that (decimation, sampling matrices, spirals) is bit-exact by construction (see
:mod:`cmr.mesh.exact`). ``tests/test_template.py`` checks that no input value lies near a
rounding mid-point of its grid, so perturbations far larger than the machine differences
(about 1e-16 m for the vertices, 1e-11 for the regressor) snap to the same values.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from cmr.fileio import atomic_write_bytes
from cmr.hand import HandModel, build_hand_assets, sample_poses
from cmr.mesh.ply import write_ply
from cmr.mesh.template import Template

#: Name of the project's template inside ``template/``.
HAND_TEMPLATE_NAME = "hand"
#: Pose kinds shown in the preview (sampled with a fixed seed).
PREVIEW_POSES = ("open", "point", "pinch", "grasp", "fist")
#: Grid of the template's vertex coordinates: steps per metre (1e6: a 1 micrometre grid).
VERTEX_STEPS_PER_M = 1_000_000
#: Grid of the joint regressor's weights: steps per unit weight (a power of two, so every
#: snapped weight and every row sum is exact).
REGRESSOR_STEPS = 2**16


def snap_to_grid(values: np.ndarray, steps: int) -> np.ndarray:
    """``values`` (any shape) rounded to the nearest multiple of ``1 / steps`` (halves to even).

    ``rint(values * steps) / steps + 0.0``: one correctly rounded product, an exact rounding to
    an integer, one correctly rounded quotient, so the result is the same bits everywhere; the
    final ``+ 0.0`` turns -0.0 (a tiny negative value rounded to zero) into +0.0.
    """
    return np.rint(np.asarray(values, dtype=np.float64) * steps) / steps + 0.0


def grid_margin(values: np.ndarray, steps: int) -> float:
    """Smallest distance (in the units of ``values``) of any value from a rounding mid-point
    of the grid ``1 / steps``: perturbations smaller than this leave :func:`snap_to_grid` unchanged.
    """
    scaled = np.asarray(values, dtype=np.float64) * steps
    return float(np.min(np.abs(scaled - np.floor(scaled) - 0.5))) / steps


def snap_regressor(regressor: np.ndarray, steps: int = REGRESSOR_STEPS) -> np.ndarray:
    """Joint regressor (J, N) with weights on the grid ``1 / steps`` and rows summing to exactly 1.

    Each row's rounding residual goes to its largest weight (the lowest index among equals).
    ``steps`` must be a power of two: then the weights, their sums and the residual are exact.
    """
    if steps <= 0 or steps & (steps - 1):
        raise ValueError(f"regressor grid steps must be a power of two, got {steps}")
    snapped = snap_to_grid(regressor, steps)
    for row in snapped:
        row[int(np.argmax(row))] += 1.0 - math.fsum(row.tolist())
    return snapped


def template_from_hand(rest_vertices: np.ndarray, faces: np.ndarray, joint_regressor: np.ndarray) -> Template:
    """Snap the hand's rest mesh and regressor to their grids and decimate into the template.

    Args:
        rest_vertices: (778, 3) float rest mesh, metres.
        faces: (F, 3) int triangles.
        joint_regressor: (21, 778) float, FreiHAND joint order, rows summing to 1.

    Returns:
        The 778/389/195/98/49-vertex :class:`Template` named :data:`HAND_TEMPLATE_NAME`.
    """
    return Template.from_mesh(
        HAND_TEMPLATE_NAME,
        snap_to_grid(rest_vertices, VERTEX_STEPS_PER_M),
        faces,
        snap_regressor(joint_regressor),
    )


def build_hand_template() -> Template:
    """The template of the hand model's rest mesh (see :func:`template_from_hand`)."""
    assets = build_hand_assets()
    return template_from_hand(assets.rest_vertices, assets.faces, assets.joint_regressor)


def write_hand_template(folder: str | os.PathLike, preview: bool = True) -> tuple[Template, list[Path]]:
    """Build the hand template and write its files into ``folder``; returns it and the paths."""
    folder = Path(folder)
    template = build_hand_template()
    written = list(template.save(folder))
    ply_path = folder / f"{HAND_TEMPLATE_NAME}.ply"
    write_ply(ply_path, template.vertices[0], template.faces[0], ascii=True)
    written.append(ply_path)
    if preview:
        written.append(render_preview(template, folder / "preview.png"))
    return template, written


def render_preview(template: Template, path: str | os.PathLike) -> Path:
    """Save a PNG: the hand in the preview poses (top) and the template levels (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from cmr.vis.mesh_drawing import draw_mesh, rotation_from_euler

    model = HandModel()
    generator = torch.Generator().manual_seed(0)
    poses = torch.cat([sample_poses(kind, 1, generator=generator) for kind in PREVIEW_POSES])
    with torch.no_grad():
        posed = model(poses).vertices.numpy()
    view = rotation_from_euler(-30.0, 20.0)

    columns = max(len(PREVIEW_POSES), template.num_levels)
    figure, axes = plt.subplots(2, columns, figsize=(2.4 * columns, 5.2))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, kind, vertices in zip(axes[0], PREVIEW_POSES, posed):
        draw_mesh(ax, vertices, template.faces[0], view)
        ax.set_title(kind, fontsize=10)
    for level, ax in enumerate(axes[1]):
        if level >= template.num_levels:
            break
        draw_mesh(ax, template.vertices[level], template.faces[level], view, edges=True)
        ax.set_title(f"level {level}: {template.num_vertices[level]} vertices", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
