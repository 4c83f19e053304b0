"""``python -m cmr samples``: bundle demo inputs and their ground truth from a FreiHAND-layout set.

Writes ``<id>_img.jpg`` and ``<id>_K.npy`` (3x3 float64) per evaluation image into ``--out`` (the
naming the demo reads; FreiHAND's own sample crops use it too) and, when the set has evaluation
ground truth, ``--ground-truth``: a JSON object ``{id: {"xyz": 21 x 3, "verts": N x 3}}`` in
camera-space metres, rounded to 1e-6 m. The bundled ``cmr/assets/samples`` and
``cmr/assets/sample_ground_truth.json`` were made with::

    ./scripts/make_synthetic.sh && python -m cmr samples --count 6
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from cmr import REPO_ROOT
from cmr.data.layout import FreiHANDLayout
from cmr.fileio import atomic_write_json, writable_folder

DESCRIPTION = __doc__.split("\n\n")[0]
#: Where the bundled synthetic samples (renders with their ground truth) and that ground truth live;
#: the demo's default input (``DEMO.INPUT``) is the real photos of ``cmr/assets/photos``.
BUNDLED_SAMPLES = REPO_ROOT / "cmr" / "assets" / "samples"
BUNDLED_GROUND_TRUTH = REPO_ROOT / "cmr" / "assets" / "sample_ground_truth.json"


def _read(path: Path) -> list:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: generate the dataset first (./scripts/make_synthetic.sh)")
    return json.loads(path.read_text())


def export_samples(root: Path, destination: Path, ground_truth: Path, indices: list[int]) -> list[Path]:
    """Copy evaluation images ``indices`` of ``root`` with their K (and ground truth); returns the files."""
    layout = FreiHANDLayout(root)
    intrinsics = _read(layout.annotation("evaluation", "K"))
    writable_folder(destination)
    written, truth = [], {}
    has_truth = all(layout.annotation("evaluation", name).is_file() for name in ("xyz", "verts"))
    xyz = _read(layout.annotation("evaluation", "xyz")) if has_truth else None
    verts = _read(layout.annotation("evaluation", "verts")) if has_truth else None
    for index in indices:
        if not 0 <= index < len(intrinsics):
            raise ValueError(f"{layout.annotation('evaluation', 'K')}: no evaluation image {index} "
                             f"(it holds {len(intrinsics)})")
        image = destination / f"{index:04d}_img.jpg"
        shutil.copyfile(layout.evaluation_rgb(index), image)
        np.save(destination / f"{index:04d}_K.npy", np.asarray(intrinsics[index], dtype=np.float64))
        written += [image, destination / f"{index:04d}_K.npy"]
        if has_truth:
            truth[f"{index:04d}"] = {"xyz": np.round(xyz[index], 6).tolist(), "verts": np.round(verts[index], 6).tolist()}
    if has_truth:
        written.append(atomic_write_json(ground_truth, truth, indent=None))
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source set, count and destinations."""
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "data" / "FreiHAND_synth",
                        help="FreiHAND-layout dataset root (default: data/FreiHAND_synth)")
    parser.add_argument("--count", type=int, default=6, help="the first COUNT evaluation images")
    parser.add_argument("--out", type=Path, default=BUNDLED_SAMPLES, help="destination folder of the images")
    parser.add_argument("--ground-truth", type=Path, default=BUNDLED_GROUND_TRUTH,
                        help="destination of the ground-truth JSON")


def run(args: argparse.Namespace) -> int:
    """Export and report."""
    written = export_samples(args.root.absolute(), args.out.absolute(), args.ground_truth.absolute(),
                             list(range(args.count)))
    print(f"wrote {len(written)} files to {args.out} (ground truth: {args.ground_truth})")
    return 0
