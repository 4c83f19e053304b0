"""Training from mixed supervision: photo folders with detections, ratio sampling, label-wise
collation, and a short mixed run (labelled subset + photos with depth + colour head)."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from cmr import REPO_ROOT
from cmr.config import load_cfg
from cmr.data.mixing import RatioSampler, Source, collate_mixed
from cmr.data.photos import DetectedPhotos, find_hands, fit_pseudo_labels
from cmr.data.targets import MESH_SCALE
from cmr.fitting import FittingConfig
from cmr.models.build import load_template
from cmr.registration import RegistrationConfig
from cmr.fileio import read_rgb
from cmr.geometry.camera import project_points
from cmr.geometry.crop import CropPolicy
from cmr.vis.overlay import write_rgb_jpeg

COMPACT_SYNTH = str(REPO_ROOT / "configs" / "compact_synth.yaml")


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """A tiny synthetic set, and its training images as a photo folder with detection records
    made from the true keypoints (the last one mirrored and recorded as a left hand)."""
    from cmr.data.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, num_training=6, num_evaluation=2, versions=1, seed=0, workers=1, progress=False)
    photos, depth = root / "photos", root / "depth"
    photos.mkdir(), depth.mkdir()
    Ks = json.loads((root / "training_K.json").read_text())
    xyz = np.asarray(json.loads((root / "training_xyz.json").read_text()))
    for index in range(6):
        name = f"{index:08d}"
        image = read_rgb(root / "training" / "rgb" / f"{name}.jpg")
        keypoints, K, side = project_points(xyz[index], np.asarray(Ks[index])), np.asarray(Ks[index]), "right"
        if index == 5:
            width = image.shape[1]
            image, keypoints, side = image[:, ::-1], keypoints * [-1, 1] + [width - 1, 0], "left"
            K = K.copy()
            K[0, 2] = width - 1 - K[0, 2]
        write_rgb_jpeg(photos / f"{name}.jpg", np.ascontiguousarray(image))
        np.save(photos / f"{name}_K.npy", K)
        (depth / f"{name}.png").write_bytes((root / "training" / "depth" / f"{name}.png").read_bytes())
        world = xyz[index] * ([-1, 1, 1] if side == "left" else 1)  # the detector's metric answer, exact
        record = {"image": f"{name}.jpg", "width": image.shape[1], "height": image.shape[0], "hands": [
            {"side": side, "score": 0.9, "keypoints": keypoints.tolist(), "confidence": [0.9] * 21,
             "world": (world - world.mean(0)).tolist()}]}
        (photos / f"{name}_hands.json").write_text(json.dumps(record))
    return root


def test_photo_samples_put_the_detected_keypoints_in_the_crop(photo_folder):
    hands = find_hands(photo_folder / "photos", photo_folder / "photos", photo_folder / "depth", 0.5, 45.0)
    assert len(hands) == 6 and hands[5].side == "left"
    dataset = DetectedPhotos(hands, CropPolicy(64, 1.3), None, False, 0.2)
    sample = dataset[0]
    assert sample["image"].shape == (3, 64, 64) and sample["keypoint_heatmaps"].shape == (21, 32, 32)
    assert sample["depth"].shape == (1, 32, 32) and (sample["depth"] > 0).any()
    keypoints = sample["keypoints"].numpy()
    assert ((keypoints > -0.5) & (keypoints < 63.5)).all() and (sample["keypoint_confidence"] == 0.9).all()
    peaks = sample["keypoint_heatmaps"].flatten(1).argmax(1)
    cells = torch.stack([peaks % 32, peaks // 32], dim=1).float()
    assert ((cells + 0.5) * 2 - 0.5 - sample["keypoints"]).abs().max() < 1.5


def test_a_left_hand_is_mirrored_into_the_right_hand_it_shows(photo_folder):
    hands = find_hands(photo_folder / "photos", photo_folder / "photos", None, 0.5, 45.0)
    left = DetectedPhotos(hands, CropPolicy(64, 1.3), None, False, 0.2)[5]
    width = read_rgb(hands[5].path).shape[1]
    original = dataclasses.replace(
        hands[5], path=photo_folder / "training" / "rgb" / "00000005.jpg", side="right",
        K=np.asarray(json.loads((photo_folder / "training_K.json").read_text())[5]),
        keypoints=hands[5].keypoints * [-1, 1] + [width - 1, 0])
    right = DetectedPhotos([original], CropPolicy(64, 1.3), None, False, 0.2)[0]
    assert torch.allclose(left["keypoints"], right["keypoints"], atol=1e-3)
    assert torch.allclose(left["K"], right["K"], atol=1e-3)
    assert (left["image"] - right["image"]).abs().mean() < 0.05  # JPEG re-encoding only


def _pseudo_labels(hands, max_error=0.08):
    return fit_pseudo_labels(hands, RegistrationConfig.defaults(), FittingConfig.defaults(), max_error)


def test_pseudo_labels_recover_the_hand_the_photo_shows(photo_folder):
    hands = find_hands(photo_folder / "photos", photo_folder / "photos", None, 0.5, 45.0)
    pseudo = _pseudo_labels(hands)
    xyz = np.asarray(json.loads((photo_folder / "training_xyz.json").read_text()))
    errors = np.linalg.norm(pseudo.joints - xyz, axis=-1).mean(-1) * 1000  # the left one in its right view
    assert pseudo.usable.all() and errors.max() < 6.0, errors
    template = load_template("template")
    dataset = DetectedPhotos(hands, CropPolicy(64, 1.3), None, False, 0.2, pseudo=pseudo, template=template)
    sample = dataset[5]
    assert [tuple(level.shape) for level in sample["pseudo_mesh"]] == [(778, 3), (389, 3), (195, 3), (98, 3)]
    truth = (xyz[5] - xyz[5][0]) / MESH_SCALE  # a centred crop does not rotate
    assert np.abs(sample["pseudo_xyz"].numpy() - truth).max() * MESH_SCALE < 0.012


def test_photos_whose_fit_misses_the_keypoints_get_no_pseudo_label(photo_folder):
    hands = find_hands(photo_folder / "photos", photo_folder / "photos", None, 0.5, 45.0)
    few = np.where(np.arange(21) < 5, 0.9, 0.0)  # five trusted keypoints
    bent = [dataclasses.replace(hands[0], world=hands[0].world[::-1].copy()),  # joints reversed
            hands[1], dataclasses.replace(hands[2], confidence=few),
            dataclasses.replace(hands[3], world=np.zeros((21, 3))), *hands[4:]]  # no 3-D answer
    pseudo = _pseudo_labels(bent, max_error=0.03)
    assert pseudo.usable.tolist() == [False, True, False, False, True, True]
    dataset = DetectedPhotos(bent, CropPolicy(64, 1.3), None, False, 0.2, pseudo=pseudo, template=load_template("template"))
    assert "pseudo_mesh" not in dataset[0] and "pseudo_mesh" in dataset[1]
    with pytest.raises(ValueError, match="px wide, its detection record says 999"):
        DetectedPhotos([dataclasses.replace(hands[1], width=999)], CropPolicy(64, 1.3), None, False, 0.2)[0]
    with pytest.raises(ValueError, match="one fit per hand"):
        DetectedPhotos(hands[:2], CropPolicy(64, 1.3), None, False, 0.2, pseudo=pseudo, template=load_template("template"))


def test_missing_detections_say_which_command_writes_them(tmp_path):
    (tmp_path / "photos").mkdir()
    write_rgb_jpeg(tmp_path / "photos" / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="python -m cmr detect --input"):
        find_hands(tmp_path / "photos", tmp_path / "nothing", None, 0.5, 45.0)


def test_a_record_without_its_image_size_names_the_file(tmp_path):
    (tmp_path / "photos").mkdir()
    write_rgb_jpeg(tmp_path / "photos" / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "photos" / "a_hands.json").write_text(json.dumps({"hands": []}))
    with pytest.raises(ValueError, match=r"a_hands\.json: not a `cmr detect` record: it lacks width, height"):
        find_hands(tmp_path / "photos", tmp_path / "photos", None, 0.5, 45.0)


def test_ratio_sampler_draws_each_source_by_its_share_without_repeats():
    sources = [Source("a", list(range(10)), 1.0), Source("b", list(range(30)), 3.0)]
    sampler = RatioSampler(sources, 20, seed=1)
    first = list(sampler)
    assert len(first) == 20 and sum(i < 10 for i in first) == 5 and len(set(first)) == 20
    sampler.set_epoch(1)
    second = list(sampler)
    assert not set(i for i in first if i < 10) & set(i for i in second if i < 10)  # a permutation walked on
    ranks = [list(RatioSampler(sources, 20, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == sorted(first) and not set(ranks[0]) & set(ranks[1])


def test_collate_mixed_stacks_each_key_over_the_samples_holding_it():
    samples = [{"image": torch.zeros(3), "mesh": [torch.ones(2, 3)]}, {"image": torch.ones(3)},
               {"image": torch.ones(3), "mesh": [torch.zeros(2, 3)]}]
    batch = collate_mixed(samples)
    assert batch["image"].shape == (3, 3) and batch["mesh"][0].shape == (2, 2, 3)
    assert batch["rows"]["mesh"].tolist() == [0, 2] and batch["rows"]["image"].tolist() == [0, 1, 2]


def test_a_mixed_run_trains_every_kind_of_sample(photo_folder, tmp_path):
    from cmr.engine.train import train

    photos = str(photo_folder / "photos")
    cfg = load_cfg(COMPACT_SYNTH, [
        "DATA.ROOT", str(photo_folder), "OUTPUT_DIR", str(tmp_path), "DEVICE", "cpu", "DATA.NUM_WORKERS", "0",
        "MODEL.INPUT_SIZE", "64", "MODEL.TEXTURE", "True", "TRAIN.BATCH_SIZE", "4", "TRAIN.EPOCHS", "1",
        "TRAIN.VALIDATE", "False", "DATA.LABELLED_COUNT", "3", "DATA.SAMPLES_PER_EPOCH", "8",
        "DATA.PHOTOS.FOLDERS", f"['{photos}']", "DATA.PHOTOS.DEPTH", f"['{photo_folder / 'depth'}']",
        "DATA.PHOTOS.RATIOS", "[1.0]", "LOSS.SELF.RENDER_SIZE", "32", "DATA.PHOTOS.PSEUDO_LABELS", "True"])
    summary = train(cfg)
    last = summary["last"]
    for name in ("train_mesh_l1", "train_keypoint_2d", "train_depth", "train_photometric", "train_silhouette",
                 "train_pseudo_mesh_l1"):
        assert np.isfinite(last[name]), name
    assert len(last["step_losses"]) == 2
