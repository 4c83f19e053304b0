"""A training run's folder and random state.

Runs live in ``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/``. Every epoch reseeds Python, NumPy and torch
from (TRAIN.SEED, epoch, rank), so a resumed run repeats the uninterrupted one step for step.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from cmr.config import resolve_path
from cmr.fileio import writable_folder


def run_dir(cfg) -> Path:
    """``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>`` (relative OUTPUT_DIR: below the repository root)."""
    return resolve_path(cfg.OUTPUT_DIR) / cfg.DATA.NAME / cfg.EXP_NAME


def data_root(cfg) -> Path:
    """``DATA.ROOT`` (relative: below the repository root)."""
    return resolve_path(cfg.DATA.ROOT)


def check_run_folder(cfg) -> Path:
    """The run folder, writable, and holding no earlier run unless this one resumes it.

    Raises ValueError naming the folder: a fresh start into a folder with checkpoints or a
    history would overwrite that run (resume it with ``TRAIN.RESUME last``, or pick another
    ``EXP_NAME`` / ``OUTPUT_DIR``).
    """
    folder = run_dir(cfg)
    earlier = [path for path in (folder / "checkpoints" / "checkpoint_last.pt", folder / "history.json")
               if path.exists()]
    if earlier and not cfg.TRAIN.RESUME:
        raise ValueError(
            f"{folder} already holds a run ({', '.join(path.name for path in earlier)}); training from "
            "scratch would overwrite it. Resume it with TRAIN.RESUME last, or choose another EXP_NAME "
            "or OUTPUT_DIR for a new run"
        )
    writable_folder(folder / "checkpoints")
    return folder


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def epoch_seed(cfg, epoch: int, rank: int) -> int:
    return cfg.TRAIN.SEED * 1_000_003 + epoch * 1_009 + rank
