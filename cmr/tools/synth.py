"""Render a synthetic hand dataset in FreiHAND's exact layout from the project's open hand model.

``python -m cmr synth [--root data/FreiHAND_synth] [--training N] [--evaluation M] ...``
writes rgb/mask/mesh/depth and the annotation JSONs (:func:`cmr.data.synth.generate`).
Deterministic for a seed, parallel, and resumable: rerun the same command to finish an
interrupted run. A root generated with other parameters is refused (exit status 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cmr import REPO_ROOT
from cmr.data.synth import generate

DESCRIPTION = (
    "Render a synthetic hand dataset in FreiHAND's exact layout (rgb/mask/mesh/depth and the annotation "
    "JSONs) from the project's open hand model. Deterministic for a seed, parallel, and resumable: rerun "
    "the same command to finish an interrupted run.")
#: Default sizes: a small set generated in a few minutes on two cores.
DEFAULT_TRAINING = 2000
DEFAULT_EVALUATION = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator's options (sizes, seed, workers, image size, output root)."""
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "data" / "FreiHAND_synth",
                        help="output dataset root (default: data/FreiHAND_synth in the repository)")
    parser.add_argument("--training", type=int, default=DEFAULT_TRAINING,
                        help=f"training annotations (default {DEFAULT_TRAINING}; FreiHAND has 32560)")
    parser.add_argument("--evaluation", type=int, default=DEFAULT_EVALUATION,
                        help=f"evaluation images (default {DEFAULT_EVALUATION}; FreiHAND has 3960)")
    parser.add_argument("--versions", type=int, default=4, help="images per training annotation (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="rendering processes (default 2)")
    parser.add_argument("--image-size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Generate (or finish) the dataset and print a summary; returns 0.

    Raises:
        ValueError: a size out of range, or ``--root`` is not a writable folder (a read-only
            folder, or a path under a regular file), both checked before any work.
        cmr.data.synth_settings.SynthConfigError: the root holds a dataset generated with other
            parameters (a ValueError: the command line reports it with exit status 2).
    """
    summary = generate(args.root, args.training, args.evaluation, args.versions, args.seed, args.workers,
                       args.image_size, progress=not args.no_progress)
    print(f"{summary['root']}: {summary['training_images']} training images ({summary['training_annotations']} "
          f"annotations x {args.versions}), {summary['evaluation_images']} evaluation images; rendered "
          f"{summary['rendered_images']} ({summary['skipped_images']} already there) in {summary['seconds']:.1f} s, "
          f"{summary['images_per_second']:.1f} images/s")
    return 0
