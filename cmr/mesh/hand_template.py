"""The project's own hand template: the open hand model's rest mesh as a Template bundle.

``write_hand_template(folder)`` writes, deterministically:
    hand.npz      every array of the bundle (levels, down/up matrices, spirals, regressor)
    hand.json     a manifest: vertex/face counts per level, spiral lengths, content checksum
    hand.ply      the level-0 rest mesh (ASCII PLY, metres)
    preview.png   the template in a few poses and its five decimation levels (optional)
"""

from __future__ import annotations

import io
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


def build_hand_template() -> Template:
    """Decimate the hand model's rest mesh into the 778/389/195/98/49-vertex template."""
    assets = build_hand_assets()
    return Template.from_mesh(
        HAND_TEMPLATE_NAME, assets.rest_vertices, assets.faces, assets.joint_regressor
    )


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
