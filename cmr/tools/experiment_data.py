"""The photo folders of the self-supervision experiments (:mod:`cmr.tools.experiments`).

* ``synth_unlabelled``: images of the synthetic set's annotations that the labelled subset does not
  use, as a plain photo folder (each with its ``<id>_K.npy``) and their depth maps
  (``depth/<id>.png``), with no 3-D label; their keypoints come from ``cmr detect``.
* ``sign_digits``: the real photos of ``../shared/data/real_unlabeled/sign_language_digits``
  (one folder per digit) linked into one flat folder, with their detections.

Every step is skipped when its output exists, so an interrupted preparation resumes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from cmr.config import load_cfg, resolve_path
from cmr.data.layout import FreiHANDLayout
from cmr.fileio import IMAGE_SUFFIXES, atomic_write_bytes

#: Where the experiments' photo folders are written.
DATA_DIR = "out/experiments/data"
#: The synthetic annotations left unlabelled: [first, first + count).
UNLABELLED_FIRST, UNLABELLED_COUNT = 250, 1000
#: The real unlabelled photos (see its README for the licence).
SIGN_DIGITS = "../shared/data/real_unlabeled/sign_language_digits"


def synth_unlabelled(root: Path, out: Path) -> Path:
    """Copy annotations ``UNLABELLED_FIRST..`` of ``root``'s training split (first image version)
    into ``out/photos`` with their K files and ``out/depth``; returns ``out``."""
    layout = FreiHANDLayout(root)
    Ks = json.loads(layout.annotation("training", "K").read_text())
    last = UNLABELLED_FIRST + UNLABELLED_COUNT
    if last > len(Ks):
        raise ValueError(f"{root}: {len(Ks)} annotations, the experiment needs {last} (./scripts/make_synthetic.sh)")
    (out / "photos").mkdir(parents=True, exist_ok=True)
    (out / "depth").mkdir(exist_ok=True)
    for index in range(UNLABELLED_FIRST, last):
        name = f"{index:08d}"
        _write_once(out / "photos" / f"{name}.jpg", layout.training_rgb(index).read_bytes)
        _write_once(out / "photos" / f"{name}_K.npy", lambda: _npy_bytes(np.asarray(Ks[index], dtype=np.float64)))
        _write_once(out / "depth" / f"{name}.png", layout.training_depth(index).read_bytes)
    return out


def _write_once(path: Path, contents) -> None:
    """Write ``contents()`` (bytes) to ``path`` atomically unless the file is already there."""
    if not path.is_file():
        atomic_write_bytes(path, contents(), fsync=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def sign_digits(source: Path, out: Path) -> Path:
    """Link every photo of the digit folders of ``source`` into ``out/photos`` as
    ``<digit>_<name>``; returns ``out``."""
    if not source.is_dir():
        raise FileNotFoundError(f"real unlabelled photos not found: {source} (see ../shared/data)")
    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            link = photos / f"{path.parent.name}_{path.name}"
            if not link.exists():
                link.symlink_to(path.resolve())
    return out


def detect_once(folder: Path) -> None:
    """Run ``cmr detect`` on ``folder/photos`` into ``folder/detections`` unless already done."""
    from cmr.engine.detect import S2HAND_FILE, run_detect

    if (folder / "detections" / S2HAND_FILE).is_file():
        return
    counts = run_detect(load_cfg(None, []), folder / "photos", folder / "detections", 1, False)
    print(f"detect {folder.name}: {counts}")


def prepare(names: list[str]) -> None:
    """Prepare the named photo folders ('synth_unlabelled', 'sign_digits')."""
    out = resolve_path(DATA_DIR)
    for name in names:
        if name == "synth_unlabelled":
            detect_once(synth_unlabelled(resolve_path(load_cfg("configs/compact_synth.yaml", []).DATA.ROOT),
                                         out / name))
        elif name == "sign_digits":
            detect_once(sign_digits(resolve_path(SIGN_DIGITS), out / name))
        else:
            raise ValueError(f"unknown experiment data {name!r}")
