"""Demo: camera-space hand meshes for a folder of images.

``python -m cmr demo [--checkpoint PT] [--input DIR] [--output DIR] [--left] [--fov DEG]
[--device DEV] [KEY VALUE ...]`` (also ``python -m cmr.engine.demo``).

Every image in the input folder (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``) should show one hand,
roughly centred and filling most of the frame (e.g. a crop 1.3x the hand box, as FreiHAND's).
Intrinsics come from ``<stem>_K.npy`` (a 3x3 matrix for that image; for FreiHAND's
``<id>_img.jpg`` also ``<id>_K.npy``), else from the assumed horizontal field of view
(``--fov`` or ``DEMO.FOV``). The file's principal point is kept (cmr.md pitfall 25). Written
per image, with ``<id>`` the file stem without a trailing ``_img``:

* ``<id>_plot.jpg``: the 5-panel plot (:func:`cmr.vis.plot.plot_prediction`);
* ``<id>_mesh.ply``: the camera-space mesh in metres (in the image's camera);
* ``<id>_overlay.jpg``: the mesh rendered over the original image (same size).

Images that cannot be read, with a broken K file, or in which no hand is found are reported
on stderr and skipped; the rest still run.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from cmr import REPO_ROOT, repo_path
from cmr.engine.checkpoint import cfg_from_checkpoint, load_checkpoint, load_model
from cmr.engine.distributed import resolve_device
from cmr.engine.train import run_dir
from cmr.engine.inference import hand_found, intrinsics_from_fov, mirror_faces, predict_images
from cmr.mesh.ply import write_ply
from cmr.vis.overlay import render_overlay, write_rgb_jpeg
from cmr.vis.plot import plot_prediction

#: The checkpoint used when none is given.
BUNDLED_CHECKPOINT = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: Images predicted together.
BATCH_SIZE = 8


@dataclass
class DemoSummary:
    """What :func:`run_demo` did: ids written, (file name, reason) skipped, the output folder."""

    output_dir: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DemoInput:
    """One readable input: its id, (H, W, 3) uint8 RGB pixels and (3, 3) intrinsics."""

    name: str
    id: str
    image: np.ndarray
    K: np.ndarray


def image_id(path: Path) -> str:
    """Output id of an input image: its stem without a trailing ``_img`` (FreiHAND naming)."""
    return path.stem[:-4] if path.stem.endswith("_img") and len(path.stem) > 4 else path.stem


def list_inputs(input_dir: Path) -> list[Path]:
    """Files of the input folder (sorted) that are not intrinsics files or hidden."""
    if not input_dir.is_dir():
        raise FileNotFoundError(f"demo input folder not found: {input_dir}")
    return sorted(path for path in input_dir.iterdir()
                  if path.is_file() and not path.name.startswith(".") and not path.name.endswith("_K.npy"))


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image file; ValueError when it cannot be decoded."""
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError("not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_intrinsics(path: Path, width: int, height: int, fov_deg: float) -> np.ndarray:
    """(3, 3) float64 K of an image: ``<stem>_K.npy`` or ``<id>_K.npy`` if present, else from the FOV.

    Raises ValueError when the K file is not a finite 3x3 matrix with positive focal lengths.
    """
    for candidate in (path.with_name(f"{path.stem}_K.npy"), path.with_name(f"{image_id(path)}_K.npy")):
        if candidate.is_file():
            try:
                K = np.load(candidate, allow_pickle=False).astype(np.float64)
            except Exception as error:  # numpy raises several types for a broken file
                raise ValueError(f"unreadable {candidate.name} ({error})") from error
            if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
                raise ValueError(f"{candidate.name} is not a 3x3 intrinsic matrix")
            return K
    return intrinsics_from_fov(width, height, fov_deg)


def output_ids(paths: list[Path]) -> dict[Path, str]:
    """Output id per input: :func:`image_id`, or ``<stem>_<extension>`` where two inputs share one."""
    ids = {path: image_id(path) for path in paths}
    shared = {name for name in ids.values() if list(ids.values()).count(name) > 1}
    return {path: f"{path.stem}_{path.suffix[1:]}" if name in shared else name for path, name in ids.items()}


def load_input(path: Path, output_id: str, fov_deg: float) -> DemoInput:
    """Read one input image and its intrinsics; ValueError (with the reason) when unusable."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"not an image file (expected {', '.join(IMAGE_SUFFIXES)})")
    image = read_rgb(path)
    K = read_intrinsics(path, image.shape[1], image.shape[0], fov_deg)
    return DemoInput(path.name, output_id, image, K)


def write_outputs(item: DemoInput, prediction, faces: np.ndarray, output_dir: Path,
                  mask_threshold: float) -> None:
    """Write ``<id>_mesh.ply``, ``<id>_overlay.jpg`` and ``<id>_plot.jpg`` of one image."""
    write_ply(output_dir / f"{item.id}_mesh.ply", prediction.vertices, faces)
    overlay = render_overlay(item.image, prediction.vertices, faces, item.K)
    write_rgb_jpeg(output_dir / f"{item.id}_overlay.jpg", overlay)
    plot_prediction(item.image, prediction, faces, item.K, output_dir / f"{item.id}_plot.jpg", mask_threshold,
                    overlay=overlay)


def _warn(summary: DemoSummary, name: str, reason: str) -> None:
    """Record and report a skipped file."""
    summary.skipped.append((name, reason))
    tqdm.write(f"warning: skipped {name}: {reason}", file=sys.stderr)


def run_demo(cfg, checkpoint_path: str | os.PathLike, input_dir: str | os.PathLike,
             output_dir: str | os.PathLike, left: bool = False, fov: float | None = None) -> DemoSummary:
    """Predict and write camera-space meshes for every image in ``input_dir``.

    cfg: the configuration; its MODEL section must match the checkpoint (:func:`main` takes it
    from the checkpoint), REGISTRATION and DEVICE apply. left: the images show left hands.
    fov: horizontal field of view (degrees) for images without a K file (None: DEMO.FOV).
    Returns a :class:`DemoSummary`; unusable images are skipped with a warning, not raised.
    """
    if cfg.NUM_THREADS > 0:
        torch.set_num_threads(cfg.NUM_THREADS)
    model, _, template = load_model(checkpoint_path, cfg, resolve_device(cfg.DEVICE))
    faces = mirror_faces(template.faces[0]) if left else template.faces[0]
    fov = float(cfg.DEMO.FOV if fov is None else fov)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(output_dir)
    paths = list_inputs(Path(input_dir))
    ids = output_ids(paths)
    with tqdm(total=len(paths), desc="demo", unit="image", file=sys.stderr) as progress:
        for start in range(0, len(paths), BATCH_SIZE):
            batch = []
            for path in paths[start:start + BATCH_SIZE]:
                try:
                    batch.append(load_input(path, ids[path], fov))
                except ValueError as error:
                    _warn(summary, path.name, str(error))
            if batch:
                _run_batch(batch, model, template, faces, cfg, left, summary)
            progress.update(len(paths[start:start + BATCH_SIZE]))
    print(f"demo: wrote {len(summary.written)} image(s), skipped {len(summary.skipped)}, in {output_dir}")
    return summary


def _run_batch(batch: list[DemoInput], model, template, faces: np.ndarray, cfg, left: bool,
               summary: DemoSummary) -> None:
    """Predict a batch of inputs and write the outputs of those where a hand was found."""
    threshold = float(cfg.REGISTRATION.MASK_THRESHOLD)
    prediction = predict_images(model, [item.image for item in batch], [item.K for item in batch],
                                template, cfg.REGISTRATION, int(cfg.MODEL.INPUT_SIZE), left)
    found = hand_found(prediction, threshold).cpu()
    for index, item in enumerate(batch):
        if not found[index]:
            _warn(summary, item.name, "no hand found (no confident joints, empty silhouette)")
            continue
        write_outputs(item, prediction.sample(index), faces, summary.output_dir, threshold)
        summary.written.append(item.id)


def default_checkpoint() -> Path:
    """The bundled checkpoint, or FileNotFoundError saying how to get one."""
    if not BUNDLED_CHECKPOINT.is_file():
        raise FileNotFoundError(
            f"no --checkpoint given and the bundled {BUNDLED_CHECKPOINT.relative_to(REPO_ROOT)} is "
            "missing: train a model (python -m cmr train ...) and pass its checkpoint with "
            "--checkpoint PATH (an official CMR release needs --config too)"
        )
    return BUNDLED_CHECKPOINT


def demo_config(checkpoint_path: Path, config_path: str | None, overrides: list[str], device: str | None):
    """The run's configuration: the checkpoint's own (else ``--config``/defaults), then overrides."""
    from cmr.config import load_cfg

    checkpoint = load_checkpoint(checkpoint_path)
    if "cfg" in checkpoint and not config_path:
        cfg = cfg_from_checkpoint(checkpoint, checkpoint_path)
    else:
        cfg = load_cfg(config_path, freeze=False)
    if len(overrides) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got {overrides}")
    try:
        cfg.merge_from_list(list(overrides) + (["DEVICE", device] if device else []))
    except (KeyError, AssertionError) as error:
        raise ValueError(f"bad override in {overrides}: {error}") from error
    cfg.freeze()
    return cfg


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cmr demo",
        description="Camera-space hand meshes for a folder of images (one right hand each, or "
                    "--left): writes <id>_plot.jpg, <id>_mesh.ply (metres) and <id>_overlay.jpg.",
    )
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help=f"model checkpoint (default: {BUNDLED_CHECKPOINT.relative_to(REPO_ROOT)})")
    parser.add_argument("--config", default=None,
                        help="YAML config, for checkpoints without one (official CMR releases)")
    parser.add_argument("--input", type=Path, default=None, help="image folder (default: DEMO.INPUT)")
    parser.add_argument("--output", type=Path, default=None,
                        help="output folder (default: <OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/demo)")
    parser.add_argument("--left", action="store_true", help="the images show left hands")
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view (degrees) for images without <stem>_K.npy "
                             "(default: DEMO.FOV)")
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', 'cuda:N' (default: DEVICE)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="config KEY VALUE pairs")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on a usage or file error)."""
    args = build_parser().parse_args(argv)
    try:
        checkpoint = args.checkpoint or default_checkpoint()
        cfg = demo_config(checkpoint, args.config, args.overrides, args.device)
        output = args.output or run_dir(cfg) / "demo"
        run_demo(cfg, checkpoint, args.input or repo_path(cfg.DEMO.INPUT), output,
                 left=args.left or bool(cfg.DEMO.LEFT), fov=args.fov)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
