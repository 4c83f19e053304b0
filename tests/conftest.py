"""Shared pytest fixtures.

Tests that need CMR's released template files or the real FreiHAND crops look for them in
``$CMR_SHARED`` or in ``../shared`` beside the repository, and skip cleanly when absent.
"""

import os
from pathlib import Path

import pytest

from cmr import REPO_ROOT


def _shared_dir() -> Path:
    return Path(os.environ.get("CMR_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def cmr_release_dir() -> Path:
    """Folder with CMR's released ``template.ply``, ``transform.pkl`` and ``j_reg.npy``."""
    path = _shared_dir() / "data" / "cmr_template"
    if not (path / "transform.pkl").is_file():
        pytest.skip(f"CMR's released template files are not available at {path}")
    return path


@pytest.fixture(scope="session")
def freihand_samples_dir() -> Path:
    """Folder with a few real FreiHAND evaluation crops (``<id>_img.jpg``, ``<id>_K.npy``)."""
    path = _shared_dir() / "data" / "freihand_samples"
    if not path.is_dir():
        pytest.skip(f"FreiHAND sample crops are not available at {path}")
    return path


@pytest.fixture(scope="session")
def ge_real_dir() -> Path:
    """Folder in the layout of Ge et al.'s real-world test set (``images/``, ``params.mat``,
    ``pose_gt.mat``): the 60-image development subset."""
    path = _shared_dir() / "data" / "ge_real_dev"
    if not (path / "params.mat").is_file():
        pytest.skip(f"Ge et al.'s real-world development images are not available at {path}")
    return path


@pytest.fixture(scope="session")
def hand_detector():
    """The offline hand detector (skips when its model package is not installed)."""
    from cmr.detection import DetectorUnavailable, HandDetector

    try:
        return HandDetector()
    except DetectorUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's many small torch problems on one thread (on a busy machine extra threads
    only wait); restored afterwards. Modules use it with ``pytestmark``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
