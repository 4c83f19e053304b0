"""A contact sheet of dataset samples with the ground-truth keypoints, mesh and silhouette overlaid.

``python -m cmr sheet [--config FILE] [--root DIR] [--split training] [--count 16] [--out PNG|JPG]
[KEY VALUE ...]`` draws ``--count`` random samples as the network sees them (framed by the
configuration's crop policy and jitter, :mod:`cmr.vis.contact_sheet`) and writes one image (PNG or JPEG, by ``--out``'s suffix).
``--root``, ``--template``, ``--input-size`` and ``--seed`` are sugar for ``DATA.ROOT``,
``MODEL.TEMPLATE``, ``MODEL.INPUT_SIZE`` and ``TRAIN.SEED``. ``--plain`` leaves the overlays
out; ``--real DIR`` adds, below a gap, as many photos of DIR (evenly spread over its sorted
images, each its centred square) at the same size, to compare the renders with real hands. The
output's folder is checked writable before the dataset is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from cmr import REPO_ROOT
from cmr.config import load_cfg
from cmr.data.freihand import dataset_from_config
from cmr.engine.command import add_config_arguments, flag_overrides
from cmr.data.augment import denormalise_image
from cmr.fileio import IMAGE_SUFFIXES, atomic_write_bytes, image_files, read_rgb, writable_folder
from cmr.models.build import load_template
from cmr.vis.contact_sheet import contact_sheet, photo_tile, sample_tile

DESCRIPTION = (
    "Contact sheet of dataset samples: each tile is one sample as the network sees it (augmented for "
    "the training split) with the ground-truth mesh, silhouette outline and keypoints overlaid.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sheet's options (dataset, split, sample count and choice, framing, overlays, real photos, output)."""
    parser.add_argument("--root", default=None, help="dataset root laid out like FreiHAND (DATA.ROOT)")
    parser.add_argument("--split", choices=("training", "evaluation"), default="training")
    parser.add_argument("--count", type=int, default=16, help="number of samples (tiles)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "contact_sheet.png",
                        help="PNG or JPEG to write (default: out/contact_sheet.png in the repository)")
    parser.add_argument("--template", default=None,
                        help="template (MODEL.TEMPLATE): 'template' (the project's hand) or CMR's release "
                             "folder for the real FreiHAND meshes")
    parser.add_argument("--input-size", type=int, default=None, help="crop side in pixels (MODEL.INPUT_SIZE)")
    parser.add_argument("--no-augment", action="store_true", help="centred crops, no jitter or colour change")
    parser.add_argument("--seed", type=int, default=None, help="sample choice and augmentation seed (TRAIN.SEED)")
    parser.add_argument("--plain", action="store_true", help="the crops alone, without mesh, outline or keypoints")
    parser.add_argument("--real", type=Path, default=None, metavar="DIR",
                        help="a folder of real photos: as many of them as samples, drawn below the samples")
    add_config_arguments(parser)


#: White rows between the samples and the real photos.
REAL_GAP_PX = 8


def real_photos(folder: Path, count: int) -> list[np.ndarray]:
    """``count`` (H, W, 3) uint8 RGB photos evenly spread over the sorted images of ``folder``
    (all of them when it holds fewer)."""
    paths = image_files(folder) if Path(folder).is_dir() else []
    if not paths:
        raise FileNotFoundError(f"--real {folder}: no images there (expected {', '.join(IMAGE_SUFFIXES)})")
    picks = np.unique(np.linspace(0, len(paths) - 1, count).round().astype(int))
    return [read_rgb(paths[index]) for index in picks]


FLAGS = {"root": "DATA.ROOT", "template": "MODEL.TEMPLATE", "input_size": "MODEL.INPUT_SIZE", "seed": "TRAIN.SEED"}


def run(args: argparse.Namespace) -> int:
    """Write the contact sheet and say so; returns 0.

    Raises:
        ValueError: ``--count`` below 1, or the folder of ``--out`` is not writable (both
            checked before the dataset is read); OpenCV cannot encode the sheet.
        FileNotFoundError: the dataset root, the template or the images of ``--real`` are missing
            (``--real`` is read before the dataset).
    """
    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    writable_folder(args.out.parent)
    photos = real_photos(args.real, args.count) if args.real is not None else []
    cfg = load_cfg(args.config, flag_overrides(args, FLAGS, paths=("root", "template")))
    template = load_template(cfg.MODEL.TEMPLATE)
    dataset = dataset_from_config(cfg, args.split, template, augment=not args.no_augment)
    torch.manual_seed(cfg.TRAIN.SEED)
    rng = np.random.default_rng(cfg.TRAIN.SEED)
    count = min(args.count, len(dataset))
    indices = np.sort(rng.choice(len(dataset), size=count, replace=False))
    faces = np.asarray(template.faces[0])
    tiles = [denormalise_image(dataset[int(i)]["image"]) if args.plain else sample_tile(dataset[int(i)], faces)
             for i in indices]
    columns = int(np.ceil(np.sqrt(count)))
    sheet = contact_sheet(tiles, columns)
    if photos:
        below = contact_sheet([photo_tile(image, tiles[0].shape[0]) for image in photos], columns)
        sheet = np.concatenate([sheet, np.full((REAL_GAP_PX, sheet.shape[1], 3), 255, np.uint8), below])
    if args.out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--out {args.out}: write a .png, .jpg or .jpeg file")
    ok, encoded = cv2.imencode(args.out.suffix.lower(), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{args.out}: OpenCV could not encode the contact sheet")
    atomic_write_bytes(args.out, encoded.tobytes())
    real = f", then photos of {args.real}" if args.real is not None else ""
    print(f"wrote {args.out} ({count} {args.split} samples from {cfg.DATA.ROOT}{real})")
    return 0
