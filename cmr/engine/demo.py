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
from cmr.engine.inputs import InputImage, list_inputs, load_input, output_ids
from cmr.engine.inference import predict_images
from cmr.engine.runs import run_dir
from cmr.fileio import OutputFolder
from cmr.geometry.camera import mirror_faces
from cmr.geometry.crop import CropPolicy
from cmr.mesh.ply import write_ply
from cmr.registration import RegistrationConfig
from cmr.vis.overlay import render_overlay, write_rgb_jpeg
from cmr.vis.plot import plot_prediction

#: The checkpoint used when none is given (``DEMO.CHECKPOINT``'s default).
BUNDLED_CHECKPOINT = resolve_path(get_cfg().DEMO.CHECKPOINT)
#: Images predicted together.
BATCH_SIZE = 8


@dataclass
class DemoSummary:
    """What :func:`run_demo` did: ids written, (file name, reason) skipped, the output folder."""

    output_dir: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def write_outputs(item: InputImage, prediction, faces: np.ndarray, folder: OutputFolder,
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


def _load_batch(paths: list[Path], ids: dict[Path, str], fov: float, summary: DemoSummary) -> list[InputImage]:
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


def _run_batch(batch: list[InputImage], loaded: LoadedModel, faces: np.ndarray, cfg, folder: OutputFolder,
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
