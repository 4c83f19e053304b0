"""Demo: camera-space meshes of every hand in a folder of photos.

``python -m cmr demo [--checkpoint PT] [--input DIR] [--output DIR] [--left | --right]
[--fov DEG] [--device DEV] [--config FILE] [KEY VALUE ...]``; every flag is sugar for a
``DEMO.*`` (or ``DEVICE``) override.

Every hand of each photo (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``) is found by the offline
detector (:mod:`cmr.detection`, ``DETECTOR.*``), left or right as the detector decides
(``DEMO.SIDE`` forces one), framed by the model's crop policy around its keypoints and
re-cropped around the hand the network sees (:mod:`cmr.engine.hands`), and registered in the
photo's camera with the 2D evidence ``REGISTRATION.KEYPOINTS`` chooses. Intrinsics come from
``<stem>_K.npy``, else the photo's EXIF focal length, else ``DEMO.FOV``
(:mod:`cmr.engine.inputs`). Written, with ``<id>`` the file stem without a trailing ``_img``
and ``k`` the hand's rank by detector confidence:

* ``<id>_hand<k>_mesh.ply``: the network's camera-space mesh in metres (in the photo's camera);
* ``<id>_hand<k>_fit.ply``: the open hand model fitted to the detector's 3D and 2D keypoints,
  the network's mesh and silhouette (``FITTING.*``; :func:`cmr.engine.hands.fit_predicted`);
* ``<id>_hand<k>.json``: side, K and its source, translation, camera-space joints, 2D
  keypoints (projected, network, detector), the detection, the detector's placed 3D keypoints
  and the fit (pose, shape, translation, joints, residuals) (:mod:`cmr.engine.demo_outputs`);
* ``<id>_hand<k>_plot.jpg``: the 5-panel plot (:func:`cmr.vis.plot.plot_prediction`);
* ``<id>_overlay.jpg``: every hand's mesh (the fitted one when fitted) over the photo;
  ``contact_sheet.jpg``: all overlays.

The outputs of an earlier demo in the same folder are removed first (:class:`cmr.fileio.OutputFolder`).
Photos that cannot be read, with a broken K file, or without a hand are reported on stderr and
skipped; the summary counts photos, hands and skips; a run that writes nothing exits with 1.
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
from cmr.detection import DetectorConfig, HandDetector
from cmr.engine.checkpoint import LoadedModel, open_run
from cmr.engine.command import NothingProduced, add_config_arguments, flag_overrides
from cmr.engine.demo_outputs import write_contact_sheet, write_hand, write_photo
from cmr.engine.hands import HandSettings, PredictedHand, predict_hands
from cmr.engine.inputs import VIDEO_SUFFIXES, InputImage, list_inputs, load_input, output_ids
from cmr.engine.video import run_video
from cmr.engine.runs import run_dir
from cmr.fileio import OutputFolder

#: The checkpoint used when none is given (``DEMO.CHECKPOINT``'s default).
BUNDLED_CHECKPOINT = resolve_path(get_cfg().DEMO.CHECKPOINT)


@dataclass
class DemoSummary:
    """What :func:`run_demo` did: ids of the photos written, hands written, (file name, reason)
    skipped, the output folder."""

    output_dir: Path
    written: list[str] = field(default_factory=list)
    hands: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _warn(summary: DemoSummary, name: str, reason: str) -> None:
    """Record and report a skipped file."""
    summary.skipped.append((name, reason))
    tqdm.write(f"warning: skipped {name}: {reason}", file=sys.stderr)


class PhotoPipeline:
    """Detector, model and settings of a demo run; :meth:`hands` gives the hands of one photo."""

    def __init__(self, cfg, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.settings = HandSettings.from_config(cfg)
        self.detector = HandDetector(DetectorConfig.from_config(cfg.DETECTOR))

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) the template's right-hand faces (mirrored per hand by the writers)."""
        return self.loaded.template.faces[0]

    def hands(self, item: InputImage) -> list[PredictedHand]:
        """Every hand of a photo, most confident first (empty when none is found)."""
        return self.predict(item, self.detector.detect(item.image))

    def predict(self, item: InputImage, detections: list, settings: HandSettings | None = None) -> list[PredictedHand]:
        """The hands of a photo given by their detections (:class:`cmr.detection.HandDetection`),
        with the run's settings or ``settings``."""
        if not detections:
            return []
        return predict_hands(self.loaded.model, [item.image] * len(detections), [item.K] * len(detections),
                             detections, self.loaded.template.joint_regressor, settings or self.settings)


def run_demo(cfg, loaded: LoadedModel) -> DemoSummary:
    """Find, predict and write every hand of every photo in ``DEMO.INPUT``.

    cfg: the run's configuration (:func:`cmr.engine.checkpoint.run_config`); loaded: its model.
    Output folder: ``DEMO.OUTPUT``, else ``<run folder>/demo``. Raises :class:`NothingProduced`
    when no photo gave a mesh.
    """
    source = str(cfg.DEMO.INPUT)
    folder_path = resolve_path(cfg.DEMO.OUTPUT) if cfg.DEMO.OUTPUT else run_dir(cfg) / "demo"
    if source.isdigit() or Path(source).suffix.lower() in VIDEO_SUFFIXES:
        return _run_video(source if source.isdigit() else str(resolve_path(source)), cfg, loaded, folder_path)
    paths = list_inputs(resolve_path(source))
    pipeline = PhotoPipeline(cfg, loaded)
    folder = OutputFolder(folder_path)
    summary, ids, tiles = DemoSummary(folder.path), output_ids(paths), []
    mask_threshold = pipeline.settings.registration.mask_threshold
    for path in tqdm(paths, desc="demo", unit="photo", file=sys.stderr):
        try:
            item = load_input(path, ids[path], float(cfg.DEMO.FOV))
        except ValueError as error:
            _warn(summary, path.name, str(error))
            continue
        hands = pipeline.hands(item)
        if not hands:
            _warn(summary, item.name, "no hand found")
            continue
        for index, hand in enumerate(hands):
            write_hand(item, index, hand, pipeline.faces, folder, mask_threshold)
        tiles.append(write_photo(item, hands, pipeline.faces, folder))
        summary.written.append(item.id)
        summary.hands += len(hands)
    if tiles:
        write_contact_sheet(tiles, folder)
    print(f"demo: {len(paths)} file(s): {summary.hands} hand(s) in {len(summary.written)} photo(s), "
          f"skipped {len(summary.skipped)}, in {folder.path}")
    if not summary.written:
        raise NothingProduced(f"no mesh written: all {len(paths)} input(s) of {cfg.DEMO.INPUT} were skipped")
    return summary


def _run_video(source: str, cfg, loaded: LoadedModel, folder_path: Path) -> DemoSummary:
    """The demo on a video file or camera (:mod:`cmr.engine.video`)."""
    if not source.isdigit() and not Path(source).is_file():
        raise FileNotFoundError(f"demo input video not found: {source}")
    folder = OutputFolder(folder_path)
    result = run_video(source, PhotoPipeline(cfg, loaded), folder, cfg)
    jitter = result["jitter"]
    print(f"demo: {result['frames']} frame(s) of {result['video']}: {result['hands']} hand(s) in {result['tracks']} "
          f"track(s); jitter raw {jitter['raw_mm']} / smoothed {jitter['smoothed_mm']} mm per frame^2, in {folder.path}")
    if not result["hands"]:
        raise NothingProduced(f"no hand found in {source}")
    return DemoSummary(folder.path, [result["video"]], result["hands"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's flags (each one sugar for a config override) and ``--config`` / overrides."""
    parser.add_argument("--checkpoint", default=None,
                        help=f"model checkpoint (DEMO.CHECKPOINT; default {BUNDLED_CHECKPOINT.relative_to(REPO_ROOT)})")
    parser.add_argument("--input", default=None,
                        help="photo folder, video file or camera index (DEMO.INPUT; default: the bundled samples)")
    parser.add_argument("--output", default=None,
                        help="output folder (DEMO.OUTPUT; default <OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/demo)")
    sides = parser.add_mutually_exclusive_group()
    sides.add_argument("--left", dest="side", action="store_const", const="left",
                       help="every hand is a left hand (DEMO.SIDE left; default: the detector decides)")
    sides.add_argument("--right", dest="side", action="store_const", const="right",
                       help="every hand is a right hand (DEMO.SIDE right)")
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view (degrees) for photos without a K file or EXIF focal length (DEMO.FOV)")
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', 'cuda:N' (DEVICE)")
    add_config_arguments(parser)


FLAGS = {"checkpoint": "DEMO.CHECKPOINT", "input": "DEMO.INPUT", "output": "DEMO.OUTPUT",
         "side": "DEMO.SIDE", "fov": "DEMO.FOV", "device": "DEVICE"}


def run(args: argparse.Namespace) -> int:
    """Build the run's one configuration from the checkpoint, the file and the flags; run."""
    camera = args.input is not None and args.input.isdigit()  # a camera index, not a path
    overrides = flag_overrides(args, FLAGS, paths=("checkpoint", "output") + (() if camera else ("input",)))
    path = resolve_path(load_cfg(args.config, overrides).DEMO.CHECKPOINT)  # before the weights' config
    loaded = open_run(path, args.config, overrides)
    run_demo(loaded.cfg, loaded)
    return 0
