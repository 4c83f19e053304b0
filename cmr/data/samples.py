"""Bundle demo inputs: evaluation images of a FreiHAND-layout dataset with their intrinsics.

Writes ``<id>_img.jpg`` and ``<id>_K.npy`` (3x3 float64) per image, the naming the demo reads
(FreiHAND's own sample crops use it too). The bundled ``cmr/assets/samples`` were made with::

    ./scripts/make_synthetic.sh && python -m cmr.data.samples --root data/FreiHAND_synth --count 6
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from cmr import REPO_ROOT
from cmr.data.layout import FreiHANDLayout

#: Where the bundled demo inputs live.
BUNDLED_SAMPLES = REPO_ROOT / "cmr" / "assets" / "samples"


def export_samples(root: str | Path, destination: str | Path, indices: list[int]) -> list[Path]:
    """Copy evaluation images ``indices`` of ``root`` with their K into ``destination``."""
    layout = FreiHANDLayout(root)
    k_path = layout.annotation("evaluation", "K")
    if not k_path.is_file():
        raise FileNotFoundError(f"{k_path} not found: generate the dataset first (./scripts/make_synthetic.sh)")
    intrinsics = json.loads(k_path.read_text())
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for index in indices:
        if not 0 <= index < len(intrinsics):
            raise ValueError(f"{k_path}: no evaluation image {index} (it holds {len(intrinsics)})")
        image = destination / f"{index:04d}_img.jpg"
        shutil.copyfile(layout.evaluation_rgb(index), image)
        np.save(destination / f"{index:04d}_K.npy", np.asarray(intrinsics[index], dtype=np.float64))
        written.append(image)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cmr.data.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data/FreiHAND_synth", help="FreiHAND-layout dataset root")
    parser.add_argument("--count", type=int, default=6, help="the first COUNT evaluation images")
    parser.add_argument("--out", default=str(BUNDLED_SAMPLES), help="destination folder")
    args = parser.parse_args(argv)
    written = export_samples(args.root, args.out, list(range(args.count)))
    print(f"wrote {len(written)} images with K files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
