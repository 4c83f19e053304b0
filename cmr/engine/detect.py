"""``python -m cmr detect --input PATH [--output DIR] [--every N] [--draw] [--config FILE] [KEY VALUE ...]``:
every hand in a folder of images or a video, by the offline detector (:mod:`cmr.detection`).

Written into the output folder (default ``<OUTPUT_DIR>/detect/<input name>``):

* ``<id>_hands.json`` per image (video frames: ``<video>_<frame>``): image name, width, height
  and the hands, most confident first, each with ``box`` (x0, y0, x1, y1), ``side``,
  ``handedness``, ``score``, ``palm_score``, ``keypoints`` (21 x 2, FreiHAND order, pixels),
  ``confidence`` (21), ``depth`` (21, relative, pixels) and ``world`` (21 x 3 metres);
* ``detect.json``: the most confident hand of every image in the layout S2HAND reads as its
  OpenPose detections, ``[xy_list, value_list, name_list]`` (integer pixels 21 x 2, confidences
  21 x 1, ``[file name]``), one entry per image in input order, zeros where no hand was found;
* ``<id>_hands.jpg`` with ``--draw``: the image with boxes and keypoints.

The detector's settings are ``DETECTOR.*``. Earlier outputs of the command in the folder are
removed first; a run that finds no hand at all exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from cmr.config import load_cfg, resolve_path
from cmr.detection import DetectorConfig, HandDetection, HandDetector
from cmr.engine.command import NothingProduced, add_config_arguments, flag_overrides
from cmr.engine.inputs import VIDEO_SUFFIXES, list_inputs, open_video, output_ids, video_frames
from cmr.fileio import IMAGE_SUFFIXES, OutputFolder, atomic_write_json, read_rgb
from cmr.vis.contact_sheet import draw_skeleton
from cmr.vis.overlay import write_rgb_jpeg

DESCRIPTION = __doc__.split("\n\n")[0]
S2HAND_FILE = "detect.json"
BOX_COLOURS = {"right": (40, 200, 255), "left": (255, 120, 40)}


def frames_of(source: Path, every: int):
    """(output id, display name, RGB image or ValueError) of each image of a folder or frame of a video."""
    if source.is_file():
        for index, frame in video_frames(open_video(str(source))[0], every):
            yield f"{source.stem}_{index:06d}", f"{source.name}#{index}", frame
        return
    paths = list_inputs(source, "detect")
    for path, name in output_ids(paths).items():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            yield name, path.name, ValueError(f"not an image file (expected {', '.join(IMAGE_SUFFIXES)})")
            continue
        try:
            yield name, path.name, read_rgb(path)
        except ValueError as error:
            yield name, path.name, error


def draw_hands(image: np.ndarray, hands: list[HandDetection]) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 RGB image with each hand's box, side and keypoints."""
    canvas = image.copy()
    for hand in hands:
        x0, y0, x1, y1 = (int(round(c)) for c in hand.box)
        colour = BOX_COLOURS[hand.side]
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 2)
        cv2.putText(canvas, f"{hand.side} {hand.score:.2f}", (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, colour, 1, cv2.LINE_AA)
        draw_skeleton(canvas, hand.keypoints)
    return canvas


def s2hand_entry(hands: list[HandDetection]) -> tuple[list, list]:
    """The most confident hand as S2HAND's (21 x 2 integer pixels, 21 x 1 confidences)."""
    if not hands:
        return [[0, 0]] * 21, [[0.0]] * 21
    best = hands[0]
    return (np.round(best.keypoints).astype(int).tolist(),
            [[round(float(c), 4)] for c in best.confidence])


def run_detect(cfg, source: Path, output: Path, every: int, draw: bool) -> dict:
    """Detect hands in every input; returns counts (images, hands, without_hand, unreadable)."""
    detector = HandDetector(DetectorConfig.from_config(cfg.DETECTOR))
    folder = OutputFolder(output)
    xy, values, names = [], [], []
    counts = {"images": 0, "hands": 0, "without_hand": 0, "unreadable": 0}
    for output_id, name, image in tqdm(frames_of(source, every), desc="detect", unit="image", file=sys.stderr):
        if isinstance(image, ValueError):
            counts["unreadable"] += 1
            tqdm.write(f"warning: skipped {name}: {image}", file=sys.stderr)
            continue
        hands = detector.detect(image)
        counts["images"] += 1
        counts["hands"] += len(hands)
        counts["without_hand"] += not hands
        record = {"image": name, "width": image.shape[1], "height": image.shape[0],
                  "hands": [hand.to_json() for hand in hands]}
        folder.record(folder.path / f"{output_id}_hands.json")
        atomic_write_json(folder.path / f"{output_id}_hands.json", record)
        if draw:
            folder.record(folder.path / f"{output_id}_hands.jpg")
            write_rgb_jpeg(folder.path / f"{output_id}_hands.jpg", draw_hands(image, hands))
        points, confidence = s2hand_entry(hands)
        xy.append(points), values.append(confidence), names.append([name])
    folder.record(folder.path / S2HAND_FILE)
    atomic_write_json(folder.path / S2HAND_FILE, [xy, values, names], indent=None)
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="folder of images, or a video file")
    parser.add_argument("--output", default=None, help="output folder (default <OUTPUT_DIR>/detect/<input name>)")
    parser.add_argument("--every", type=int, default=1, help="videos: detect in every N-th frame (default 1)")
    parser.add_argument("--draw", action="store_true", help="also write <id>_hands.jpg with boxes and keypoints")
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.every < 1:
        raise ValueError(f"--every must be a positive number of frames, got {args.every}")
    cfg = load_cfg(args.config, flag_overrides(args, {}))
    source = Path(args.input).expanduser().absolute()
    if not source.exists():
        raise FileNotFoundError(f"detect input not found: {source}")
    if source.is_file() and source.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"detect input {source} is neither a folder nor a video ({', '.join(VIDEO_SUFFIXES)})")
    output = Path(args.output).expanduser().absolute() if args.output else resolve_path(cfg.OUTPUT_DIR) / "detect" / source.stem
    counts = run_detect(cfg, source, output, args.every, args.draw)
    print(f"detect: {counts['images']} image(s), {counts['hands']} hand(s), {counts['without_hand']} without a hand, "
          f"{counts['unreadable']} unreadable, in {output}")
    if not counts["hands"]:
        raise NothingProduced(f"no hand found in {source}")
    return 0
