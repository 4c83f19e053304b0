"""The detector's hand / no-hand decision (``python -m cmr bench hand_presence``) on generated
images without a hand: no hand is found (measured: none in any of the benchmark's 32 patterns,
50 synthetic backgrounds and 20 hand-less forearms)."""

import pytest

from cmr.bench import hand_presence as bench

PATTERNS = ("gradient horizontal", "gradient skin", "black", "skin flat", "uniform noise 0",
            "blurred noise sigma 4", "colour blobs 0", "checkerboard 16px", "stripes 8px")


@pytest.fixture(scope="module")
def patterns():
    """The benchmark's named (224, 224, 3) uint8 patterns."""
    return bench.pattern_images()


@pytest.mark.parametrize("name", PATTERNS)
def test_no_hand_is_found_in_a_pattern(hand_detector, patterns, name):
    assert hand_detector.detect(patterns[name]) == []


def test_no_hand_is_found_in_a_background_or_a_bare_forearm(hand_detector):
    images = {**bench.background_images(2), **bench.forearm_images(2)}
    assert {name: len(hand_detector.detect(image)) for name, image in images.items()} == dict.fromkeys(images, 0)
