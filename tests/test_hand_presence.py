"""Hand / no-hand decision (cmr.engine.hand_presence) with the bundled checkpoint.

Images without a hand, made here, are rejected; the bundled samples are kept; the real crops in
``shared/data`` (skipped when absent) are mostly kept. The asserted fractions are the measured
ones (``python -m cmr bench hand_presence``: Ge et al. 60/60, FreiHAND 8/8, sign-language photos
200/200 as right hands) less a small margin.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from cmr.fileio import read_rgb
from cmr import REPO_ROOT
from cmr.bench import hand_presence as bench
from cmr.engine.hand_presence import CHECKS, hand_presence, input_pixels, skin_pixels
from cmr.engine.inference import predict_images
from cmr.geometry.camera import intrinsics_from_fov
from cmr.geometry.crop import CropPolicy
from cmr.registration import RegistrationConfig

DATA = Path(REPO_ROOT).parent / "shared" / "data"
CHECKPOINT = REPO_ROOT / "cmr" / "assets" / "compact_synth.pt"
#: Least kept fractions asserted on the real crops (all measured at 1.0).
MIN_KEPT_GE = 0.9
MIN_KEPT_FREIHAND = 0.85
MIN_KEPT_SIGN = 0.9


@pytest.fixture(scope="module")
def loaded():
    """The bundled model (CPU, one thread)."""
    from cmr.engine.checkpoint import open_run

    return open_run(CHECKPOINT, None, ["DEVICE", "cpu", "NUM_THREADS", "1"])


def decide(loaded, images: list[np.ndarray], Ks: list[np.ndarray], left: bool = False):
    """(prediction, found (B,) bool tensor, reasons) for images predicted as the demo does."""
    prediction = predict_images(loaded.model, images, Ks, loaded.template.joint_regressor,
                                RegistrationConfig.from_config(loaded.cfg.REGISTRATION),
                                CropPolicy.from_config(loaded.cfg.MODEL), int(loaded.cfg.DEMO.PASSES), left)
    return (prediction, *hand_presence(prediction))


def fov_intrinsics(images: list[np.ndarray]) -> list[np.ndarray]:
    """(3, 3) intrinsics of each image from the benchmark's field of view."""
    return [intrinsics_from_fov(image.shape[1], image.shape[0], bench.FOV_DEG) for image in images]


def test_skin_pixels_follow_the_chrominance_box():
    pixels = np.array([[[[224, 172, 140], [141, 85, 36], [128, 128, 128], [40, 80, 200], [0, 0, 0]]]],
                      dtype=np.uint8)
    assert skin_pixels(pixels).tolist() == [[[True, True, False, False, False]]]


@pytest.mark.parametrize("left", [False, True])
def test_images_without_a_hand_are_rejected(loaded, left):
    images = [bench.pattern_images()[name] for name in ("gradient horizontal", "black", "uniform noise 0")]
    _, found, reasons = decide(loaded, images, fov_intrinsics(images), left)
    assert not found.any()
    texts = [text for _, _, text in CHECKS]
    assert all(any(text in reason for text in texts) for reason in reasons)


def test_bundled_samples_are_kept(loaded):
    samples = bench.folder_set("samples", bench.BUNDLED_SAMPLES)
    prediction, found, reasons = decide(loaded, samples.images, samples.Ks)
    assert found.all() and reasons == ["hand"] * len(samples.images)
    assert input_pixels(prediction).shape == (len(samples.images), *prediction.mask.shape[1:], 3)


def test_input_pixels_follow_a_left_hand_prediction(loaded):
    """For left hands the mask is mirrored back to the original image, and so are the pixels."""
    image = bench.folder_set("samples", bench.BUNDLED_SAMPLES).images[0]
    mirrored = np.ascontiguousarray(image[:, ::-1])
    right, _, _ = decide(loaded, [mirrored], fov_intrinsics([mirrored]))
    left, _, _ = decide(loaded, [image], fov_intrinsics([image]), left=True)
    flipped_back = input_pixels(right)[0, :, ::-1].astype(int)
    assert np.abs(input_pixels(left)[0].astype(int) - flipped_back).mean() < 2.0
    assert torch.allclose(left.mask[0], right.mask[0].flip(-1), atol=1e-4)


def kept_fraction(loaded, images: list[np.ndarray], Ks: list[np.ndarray], left: bool = False) -> float:
    kept = [decide(loaded, images[i:i + 16], Ks[i:i + 16], left)[1] for i in range(0, len(images), 16)]
    return float(torch.cat(kept).float().mean())


@pytest.mark.slow
def test_real_crops_are_mostly_kept(loaded):
    if not DATA.is_dir():
        pytest.skip(f"shared data not available at {DATA}")
    ge_root, freihand, sign_root = (DATA / "ge_real_dev", DATA / "freihand_samples",
                                    DATA / "real_unlabeled" / "sign_language_digits")
    checked = 0
    if (ge_root / "params.mat").is_file():
        ge, _ = bench.ge_crops(ge_root)
        assert kept_fraction(loaded, ge.images, ge.Ks, left=True) >= MIN_KEPT_GE
        checked += 1
    if freihand.is_dir():
        crops = bench.folder_set("FreiHAND", freihand)
        assert kept_fraction(loaded, crops.images, crops.Ks) >= MIN_KEPT_FREIHAND
        checked += 1
    if sign_root.is_dir():
        photos = [read_rgb(path) for path in bench.sign_paths(sign_root, 32)]
        assert kept_fraction(loaded, photos, fov_intrinsics(photos)) >= MIN_KEPT_SIGN
        checked += 1
    if not checked:
        pytest.skip(f"no real crops in {DATA}")
