"""Demo: camera-space hand meshes for a folder of images.

``python -m cmr demo [--checkpoint PT] [--input DIR] [--output DIR] [--left] [--fov DEG]
[--device DEV] [--config FILE] [KEY VALUE ...]``; every flag is sugar for a ``DEMO.*`` (or
``DEVICE``) override.

Each image (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``) is taken to show one hand. The network sees
it framed by the model's crop policy: the image is first predicted whole, then re-cropped around
the silhouette found there (:func:`cmr.engine.inference.predict_images`). Intrinsics come from
``<stem>_K.npy`` (a 3x3 matrix in pixels; for FreiHAND's ``<id>_img.jpg`` also ``<id>_K.npy``),
else from the assumed horizontal field of view (``DEMO.FOV``). Written per image, with ``<id>``
the file stem without a trailing ``_img``:

* ``<id>_plot.jpg``: the 5-panel plot (:func:`cmr.vis.plot.plot_prediction`);
* ``<id>_mesh.ply``: the camera-space mesh in metres (in the image's camera);
* ``<id>_overlay.jpg``: the mesh rendered over the original image (same size).

The outputs of an earlier demo in the same folder are removed first (:class:`cmr.fileio.OutputFolder`).
Images that cannot be read, with a broken K file, or in which no hand is found are reported
on stderr and skipped; a run that writes nothing exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cmr import REPO_ROOT
from cmr.config import get_cfg, load_cfg, resolve_path
from cmr.engine.checkpoint import LoadedModel, open_run
from cmr.engine.command import NothingProduced, add_config_arguments, flag_overrides
from cmr.engine.hand_presence import hand_presence
from cmr.engine.inference import predict_images
from cmr.engine.runs import run_dir
from cmr.fileio import OutputFolder, read_rgb
from cmr.geometry.camera import intrinsics_from_fov, mirror_faces, validate_intrinsics
from cmr.geometry.crop import CropPolicy
from cmr.mesh.ply import write_ply
from cmr.registration import RegistrationConfig
from cmr.vis.overlay import render_overlay, write_rgb_jpeg
from cmr.vis.plot import plot_prediction

#: The checkpoint used when none is given (``DEMO.CHECKPOINT``'s default).
BUNDLED_CHECKPOINT = resolve_path(get_cfg().DEMO.CHECKPOINT)
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
    """One readable input: its file name, output id, (H, W, 3) uint8 RGB pixels and (3, 3) K."""

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
    paths = sorted(path for path in input_dir.iterdir()
                   if path.is_file() and not path.name.startswith(".") and not path.name.endswith("_K.npy"))
    if not paths:
        raise ValueError(f"demo input folder {input_dir} holds no files (expected images: {', '.join(IMAGE_SUFFIXES)})")
    return paths


def read_intrinsics(path: Path, width: int, height: int, fov_deg: float) -> np.ndarray:
    """(3, 3) float64 K of an image: ``<stem>_K.npy`` or ``<id>_K.npy`` if present, else from the FOV.

    Raises ValueError naming the K file and what is wrong with it (see
    :func:`cmr.geometry.camera.validate_intrinsics`).
    """
    for candidate in (path.with_name(f"{path.stem}_K.npy"), path.with_name(f"{image_id(path)}_K.npy")):
        if candidate.is_file():
            try:
                K = np.load(candidate, allow_pickle=False)
            except Exception as error:  # numpy raises several types for a broken file
                raise ValueError(f"{candidate.name}: not a readable .npy file ({error})") from error
            return validate_intrinsics(K, width, height, candidate.name)
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


def write_outputs(item: DemoInput, prediction, faces: np.ndarray, folder: OutputFolder,
                  mask_threshold: float) -> None:
    """Write ``<id>_mesh.ply``, ``<id>_overlay.jpg`` and ``<id>_plot.jpg`` of one image."""
    mesh, overlay_path, plot = (folder.path / f"{item.id}_{kind}" for kind in ("mesh.ply", "overlay.jpg", "plot.jpg"))
    folder.record(mesh, overlay_path, plot)  # recorded first: an interrupted run's files go next time too
    write_ply(mesh, prediction.vertices, faces)
    overlay = render_overlay(item.image, prediction.vertices, faces, item.K)
    write_rgb_jpeg(overlay_path, overlay)
    plot_prediction(item.image, prediction, faces, item.K, plot, mask_threshold, overlay=overlay)


def _warn(summary: DemoSummary, name: str, reason: str) -> None:
    """Record and report a skipped file."""
    summary.skipped.append((name, reason))
    tqdm.write(f"warning: skipped {name}: {reason}", file=sys.stderr)


def _load_batch(paths: list[Path], ids: dict[Path, str], fov: float, summary: DemoSummary) -> list[DemoInput]:
    batch = []
    for path in paths:
        try:
            batch.append(load_input(path, ids[path], fov))
        except ValueError as error:
            _warn(summary, path.name, str(error))
    return batch


def run_demo(cfg, loaded: LoadedModel) -> DemoSummary:
    """Predict and write camera-space meshes for every image in ``DEMO.INPUT``.

    cfg: the run's configuration (:func:`cmr.engine.checkpoint.run_config`); loaded: its model.
    Output folder: ``DEMO.OUTPUT``, else ``<run folder>/demo``. Raises :class:`NothingProduced`
    when no image gave a mesh.
    """
    paths = list_inputs(resolve_path(cfg.DEMO.INPUT))
    folder = OutputFolder(resolve_path(cfg.DEMO.OUTPUT) if cfg.DEMO.OUTPUT else run_dir(cfg) / "demo")
    left = bool(cfg.DEMO.LEFT)
    faces = mirror_faces(loaded.template.faces[0]) if left else loaded.template.faces[0]
    summary, ids = DemoSummary(folder.path), output_ids(paths)
    with tqdm(total=len(paths), desc="demo", unit="image", file=sys.stderr) as progress:
        for start in range(0, len(paths), BATCH_SIZE):
            batch = _load_batch(paths[start:start + BATCH_SIZE], ids, float(cfg.DEMO.FOV), summary)
            if batch:
                _run_batch(batch, loaded, faces, cfg, folder, summary)
            progress.update(len(paths[start:start + BATCH_SIZE]))
    print(f"demo: wrote {len(summary.written)} image(s), skipped {len(summary.skipped)}, in {folder.path}")
    if not summary.written:
        raise NothingProduced(f"no mesh written: all {len(paths)} input(s) of {cfg.DEMO.INPUT} were skipped")
    return summary


def _run_batch(batch: list[DemoInput], loaded: LoadedModel, faces: np.ndarray, cfg, folder: OutputFolder,
               summary: DemoSummary) -> None:
    """Predict a batch of inputs and write the outputs of those where a hand was found."""
    config = RegistrationConfig.from_config(cfg.REGISTRATION)
    prediction = predict_images(loaded.model, [item.image for item in batch], [item.K for item in batch],
                                loaded.template.joint_regressor, config, CropPolicy.from_config(cfg.MODEL),
                                int(cfg.DEMO.PASSES), bool(cfg.DEMO.LEFT))
    found, reasons = hand_presence(prediction)
    for index, item in enumerate(batch):
        if not found[index]:
            _warn(summary, item.name, f"no hand found ({reasons[index]})")
            continue
        write_outputs(item, prediction.sample(index), faces, folder, config.mask_threshold)
        summary.written.append(item.id)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's flags (each one sugar for a config override) and ``--config`` / overrides."""
    parser.add_argument("--checkpoint", default=None,
                        help=f"model checkpoint (DEMO.CHECKPOINT; default {BUNDLED_CHECKPOINT.relative_to(REPO_ROOT)})")
    parser.add_argument("--input", default=None, help="image folder (DEMO.INPUT; default: the bundled samples)")
    parser.add_argument("--output", default=None,
                        help="output folder (DEMO.OUTPUT; default <OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/demo)")
    parser.add_argument("--left", action="store_true", help="the images show left hands (DEMO.LEFT True)")
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view (degrees) for images without <stem>_K.npy (DEMO.FOV)")
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', 'cuda:N' (DEVICE)")
    add_config_arguments(parser)


FLAGS = {"checkpoint": "DEMO.CHECKPOINT", "input": "DEMO.INPUT", "output": "DEMO.OUTPUT",
         "left": "DEMO.LEFT", "fov": "DEMO.FOV", "device": "DEVICE"}


def run(args: argparse.Namespace) -> int:
    """Build the run's one configuration from the checkpoint, the file and the flags; run."""
    overrides = flag_overrides(args, FLAGS, paths=("checkpoint", "input", "output"))
    path = resolve_path(load_cfg(args.config, overrides).DEMO.CHECKPOINT)  # before the weights' config
    loaded = open_run(path, args.config, overrides)
    run_demo(loaded.cfg, loaded)
    return 0
