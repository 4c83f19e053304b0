"""Offline hand detection: every hand in a photo with box, handedness, score and 21 keypoints.

:class:`HandDetector` runs Google's MediaPipe hand networks (Apache-2.0; installed at set-up
from PyPI and checked by sha256, see :mod:`cmr.detection.model_files`) with the TFLite runtime.
"""

from cmr.detection.detector import HandDetection, HandDetector
from cmr.detection.model_files import DetectorUnavailable
from cmr.detection.settings import DetectorConfig

__all__ = ["DetectorConfig", "DetectorUnavailable", "HandDetection", "HandDetector"]
