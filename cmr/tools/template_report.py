"""Measured figures of a template: mesh statistics, up-sampling error, regressor accuracy,
and agreement with CMR's released files. Printed by ``python -m cmr template --report``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from cmr.hand import FREIHAND_TO_MANO, MANO_TO_FREIHAND, HandModel, sample_poses
from cmr.mesh.decimate import build_pyramid
from cmr.mesh.template import Template
from cmr.mesh.topology import boundary_vertices, unique_edges

#: sha256 prefixes of CMR's released spirals (int64 bytes), cmr.md section 2.3: length -> levels.
RELEASED_SPIRAL_SHA256 = {
    27: ("0d75796009701420", "6e9a068fd0176c8e", "cb36e18addb3e16a", "8811ea0b3aab6cd2"),
    9: ("1e5a0cadeb154c8e", "96453e0548a629ea", "d1741fcae7b27004", "b4285466556b99f7"),
}


def mesh_statistics(template: Template) -> list[str]:
    """Vertex/face counts, boundary vertices and valence range of every level."""
    lines = ["| level | vertices | faces | boundary vertices | valence min-max |", "|---|---|---|---|---|"]
    for level, (vertices, faces) in enumerate(zip(template.vertices, template.faces)):
        boundary = boundary_vertices(faces)
        valence = np.bincount(unique_edges(faces).reshape(-1), minlength=len(vertices))
        lines.append(
            f"| {level} | {len(vertices)} | {len(faces)} | {len(boundary)} | {valence.min()}-{valence.max()} |"
        )
    return lines


def upsampling_error_mm(up: list, vertices: list[np.ndarray]) -> list[tuple[float, float, float]]:
    """Per level l: (mean per-vertex, max per-vertex, mean per-coordinate) |U_l V_{l+1} - V_l| in mm."""
    errors = []
    for level, matrix in enumerate(up):
        difference = (matrix @ vertices[level + 1] - vertices[level]) * 1000.0
        distance = np.linalg.norm(difference, axis=1)
        errors.append((float(distance.mean()), float(distance.max()), float(np.abs(difference).mean())))
    return errors


def regressor_accuracy_mm(num_shapes: int = 50, seed: int = 0) -> dict[str, tuple[float, float]]:
    """(mean, max) distance in mm between regressed keypoints and the rig's joints.

    Cases: the mean hand at rest, ``num_shapes`` random shapes (beta ~ U(-2, 2)) at rest, and
    the same shapes in poses from every sampler kind. The 16 articulated joints are compared
    with the rig's joint centres; the 5 tips are tip vertices by construction.
    """
    model = HandModel()
    generator = torch.Generator().manual_seed(seed)
    shapes = torch.rand(num_shapes, 10, generator=generator) * 4.0 - 2.0
    kinds = ("open", "point", "pinch", "grasp", "fist", "random")
    posed = torch.cat([sample_poses(kind, num_shapes, generator=generator) for kind in kinds])
    cases = {
        "mean hand, rest": (torch.zeros(1, 16, 3), torch.zeros(1, 10)),
        f"{num_shapes} shapes, rest": (torch.zeros(num_shapes, 16, 3), shapes),
        f"{num_shapes} shapes x {len(kinds)} pose kinds": (posed, shapes.repeat(len(kinds), 1)),
    }
    result = {}
    with torch.no_grad():
        for name, (pose, shape) in cases.items():
            out = model(pose, shape)
            regressed = out.joints[:, FREIHAND_TO_MANO[:16]]
            error = torch.linalg.norm(regressed - out.rig_joints, dim=-1) * 1000.0
            result[name] = (float(error.mean()), float(error.max()))
    return result


def cmr_release_comparison(folder: str | Path) -> list[str]:
    """Spiral checksums and own-decimation error against CMR's released files in ``folder``."""
    released = Template.from_cmr_release(folder, MANO_TO_FREIHAND)
    lines = ["| spiral length | level | sha256 prefix | matches release |", "|---|---|---|---|"]
    for length, prefixes in RELEASED_SPIRAL_SHA256.items():
        for level, prefix in enumerate(prefixes):
            digest = hashlib.sha256(released.spiral(level, length).astype(np.int64).tobytes()).hexdigest()
            lines.append(f"| {length} | {level} | {digest[:16]} | {'yes' if digest.startswith(prefix) else 'NO'} |")
    vertices, faces, _, up = build_pyramid(released.vertices[0], released.faces[0])
    ours_error = upsampling_error_mm(up, vertices)
    theirs_error = upsampling_error_mm(released.up, released.vertices)
    counts = " / ".join(str(len(v)) for v in vertices)
    same = [_same_faces(faces[level], released.faces[level]) for level in range(1, len(faces))]
    lines += [
        "",
        f"own decimation of template.ply: {counts} vertices; coarse faces equal to the release "
        f"at levels 1-4: {same}",
        "| up level | ours mean / max mm (per coord.) | released mean / max mm (per coord.) |",
        "|---|---|---|",
    ]
    for level, (mine, theirs) in enumerate(zip(ours_error, theirs_error)):
        lines.append(
            f"| {level} | {mine[0]:.3f} / {mine[1]:.2f} ({mine[2]:.3f}) | "
            f"{theirs[0]:.3f} / {theirs[1]:.2f} ({theirs[2]:.3f}) |"
        )
    return lines


def _same_faces(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two (F, 3) face arrays hold the same triangles, in any order and rotation."""
    def canonical(faces: np.ndarray) -> np.ndarray:
        rolled = np.stack([np.roll(faces, -k, axis=1) for k in range(3)], axis=1)  # (F, 3, 3)
        start = np.argmin(rolled[:, :, 0], axis=1)
        rows = rolled[np.arange(len(faces)), start]
        return rows[np.lexsort(rows.T[::-1])]

    return first.shape == second.shape and bool(np.array_equal(canonical(first), canonical(second)))


def template_report(template: Template, cmr_release: str | Path | None = None) -> str:
    """The whole report as Markdown-ish text."""
    lines = [f"template {template.name!r}, checksum {template.checksum()[:16]}", ""]
    lines += mesh_statistics(template)
    lines += ["", "| up level | mean / max mm per vertex | mean mm per coordinate |", "|---|---|---|"]
    for level, (mean, largest, per_coordinate) in enumerate(upsampling_error_mm(template.up, template.vertices)):
        lines.append(f"| {level} | {mean:.3f} / {largest:.2f} | {per_coordinate:.3f} |")
    lines += ["", "| joint regressor vs rig joints | mean mm | max mm |", "|---|---|---|"]
    for name, (mean, largest) in regressor_accuracy_mm().items():
        lines.append(f"| {name} | {mean:.3f} | {largest:.3f} |")
    if cmr_release is not None:
        lines += ["", f"CMR release at {cmr_release}:"] + cmr_release_comparison(cmr_release)
    return "\n".join(lines)
