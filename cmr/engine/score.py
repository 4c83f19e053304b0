"""Score an existing FreiHAND submission file against a ground-truth folder, as the server would.

``python -m cmr score SUBMISSION --root GT_FOLDER [--out scores.json]`` reads the
submission (``.json`` ``[xyz_list, verts_list]`` or a ``.zip`` holding ``pred.json``; metres) and
``evaluation_xyz.json`` / ``evaluation_verts.json`` under ``GT_FOLDER``, prints every score and
writes them (means in cm, AUCs and F-scores in [0, 1]) to ``scores.json`` beside the submission,
or to ``--out``, with ``pck.png`` beside that. Without ``evaluation_verts.json`` only the keypoint
scores are computed; without ``evaluation_xyz.json`` it fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cmr.evaluation import SCORES_FILE, ScoreReport, read_ground_truth, score_submission
from cmr.fileio import writable_folder


DESCRIPTION = ("Score a FreiHAND submission (.json or .zip) against the evaluation ground truth of a "
               "FreiHAND-layout folder, as the official server does; writes scores.json + pck.png.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options (SUBMISSION, --root, --out) to ``parser``."""
    parser.add_argument("submission", type=Path,
                        help="submission .json [xyz_list, verts_list] or .zip holding pred.json (metres)")
    parser.add_argument("--root", type=Path, required=True,
                        help="FreiHAND-layout folder holding evaluation_xyz.json and evaluation_verts.json")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"scores JSON to write, or a folder for {SCORES_FILE} (default: {SCORES_FILE} "
                             f"beside the submission); pck.png is written beside it")


def _scores_path(submission: Path, out: Path | None) -> Path:
    """Where the scores JSON goes: ``--out`` (a file, or a folder for scores.json), else beside the submission."""
    if out is None:
        return submission.parent / SCORES_FILE
    return out / SCORES_FILE if out.is_dir() else out


def score_file(submission: Path, root: Path, out: Path | None = None) -> ScoreReport:
    """Score ``submission`` against ``root`` and write the scores (see the module docstring).

    Raises:
        FileNotFoundError: the submission, the folder or its ``evaluation_xyz.json`` is missing.
        ValueError: a file is broken, has the wrong shape, or the counts differ, or the output
            folder cannot be written (the message names the file or folder).
    """
    if not submission.is_file():
        raise FileNotFoundError(f"{submission} not found: expected a submission .json or .zip")
    ground_truth = read_ground_truth(root)
    if ground_truth.xyz is None:
        raise FileNotFoundError(
            f"{ground_truth.xyz_path} not found: every score needs the keypoint ground truth "
            f"(M x 21 x 3, metres) in the folder given by --root"
        )
    scores_path = _scores_path(submission, out)
    writable_folder(scores_path.parent)
    return score_submission(submission, ground_truth, scores_path.parent, scores_path.name)


def run(args: argparse.Namespace) -> int:
    """Score and print (errors propagate to :func:`cmr.cli.main`, which reports them)."""
    report = score_file(args.submission.absolute(), args.root.absolute(), args.out and args.out.absolute())
    for message in report.messages:
        print(f"note: {message}", file=sys.stderr)
    for name, value in report.scores.items():
        print(f"  {name:14s} {value:.6f}")
    print(f"wrote {report.scores_path} and {report.plot_path}")
    return 0
