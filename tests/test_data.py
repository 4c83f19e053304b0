"""Tests of the FreiHAND data pipeline: crops, targets, augmentation, Dataset and DataLoader.

The data is a tiny synthetic FreiHAND-layout set (:func:`cmr.data.synth.generate`), whose
principal points are off the image centre, so a rotation that ignores ``K`` would drift.
"""

import json
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cmr.data.augment import photometric_distort
from cmr.data.freihand import FreiHANDDataset, read_mask
from cmr.geometry.crop import CropJitter, CropPolicy
from cmr.geometry.pixel_maps import apply_affine, rotation_about_optical_axis, rotation_map
from cmr.data.layout import FREIHAND_URL, FreiHANDLayout
from cmr.data.synth import generate
from cmr.data.targets import MESH_SCALE, gaussian_heatmaps, half_resolution_mask
from cmr.mesh.template import Template
from cmr.models.outputs import heatmaps_to_uv
from cmr.render import rasterize


def _dataset(root, split, template=None, input_size=224, augment=True, rotation=90.0) -> FreiHANDDataset:
    """The dataset framed by the default crop policy at ``input_size``, jittered when ``augment``."""
    jitter = CropJitter(rotation=rotation, scale=0.2) if augment else None
    return FreiHANDDataset(root, split, template, CropPolicy(input_size, 1.3), jitter, depth=split == "training")

NUM_TRAINING, NUM_EVALUATION, VERSIONS = 6, 3, 2


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load("template")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("freihand_synth")
    generate(path, NUM_TRAINING, NUM_EVALUATION, versions=VERSIONS, seed=0, workers=1, progress=False)
    return path


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    projected = points.double() @ K.double().T
    return projected[:, :2] / projected[:, 2:]


def _whole_hand(root, annotation: int) -> bool:
    """The source silhouette does not touch the image border (so the crop mask is not cut)."""
    mask = read_mask(FreiHANDLayout(root).training_mask(annotation))
    return not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


# ---------------------------------------------------------------- geometry does not drift
@pytest.mark.parametrize("size", [224, 128])
def test_crops_keep_keypoints_and_mesh_on_the_hand(root, template, size):
    dataset = _dataset(root, "training", template, input_size=size)
    faces = torch.as_tensor(template.faces[0])
    whole = [a for a in range(NUM_TRAINING) if _whole_hand(root, a)]
    assert len(whole) >= 2
    for trial in range(12):
        index = trial % len(dataset)
        rng = np.random.default_rng(100 + trial)
        sample = dataset.training_sample(index, rng)
        assert sample["K"][0, 1] == 0 and sample["K"][1, 0] == 0  # a plain pinhole
        joints = sample["root"] + MESH_SCALE * sample["xyz"]
        assert torch.allclose(sample["xyz"][0], torch.zeros(3))
        assert (_project(joints, sample["K"]) - sample["uv"].double()).norm(dim=1).max() < 0.5
        if index % NUM_TRAINING not in whole:
            continue
        vertices = (sample["root"] + MESH_SCALE * sample["mesh"][0]).double()[None]
        covered = rasterize(vertices, faces, sample["K"].double()[None], (size, size)).mask[0]
        rendered = half_resolution_mask(covered.numpy())[0] > 0.5
        target = sample["mask"][0].numpy() > 0.5
        iou = (rendered & target).sum() / (rendered | target).sum()
        assert iou >= 0.95, f"sample {index}: mask IoU {iou:.3f}"


def test_rotation_moves_3d_ground_truth_with_the_image(root, template):
    """Same jitter, with and without rotation: the 3-D joints turn about the optical axis."""
    plain = _dataset(root, "training", template, rotation=0.0).training_sample(1, np.random.default_rng(5))
    turned = _dataset(root, "training", template, rotation=90.0).training_sample(1, np.random.default_rng(5))
    assert torch.allclose(plain["root"][2], turned["root"][2])  # depth is unchanged
    assert not torch.allclose(plain["root"][:2], turned["root"][:2], atol=1e-3)
    assert torch.allclose(plain["xyz"].norm(dim=1), turned["xyz"].norm(dim=1), atol=1e-5)


def test_heatmaps_decode_to_the_keypoints(root, template):
    dataset = _dataset(root, "training", template, input_size=128)
    for trial in range(6):
        sample = dataset.training_sample(trial, np.random.default_rng(trial))
        decoded, confidence = heatmaps_to_uv(sample["heatmaps"][None], 128)
        cells = (sample["uv"] + 0.5) / 2 - 0.5
        interior = sample["uv_visible"].bool() & ((cells >= 1) & (cells <= 62)).all(dim=1)
        assert interior.sum() >= 10
        assert (decoded[0] - sample["uv"])[interior].norm(dim=1).max() < 0.2
        assert (confidence[0][interior] > 0.9).all()
        assert (sample["heatmaps"][~sample["uv_visible"].bool()] == 0).all()


def test_depth_target_matches_the_rendered_mesh(root, template):
    dataset = _dataset(root, "training", template, input_size=128)
    sample = dataset.training_sample(0, np.random.default_rng(3))
    vertices = (sample["root"] + MESH_SCALE * sample["mesh"][0]).double()[None]
    half_K = torch.tensor([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]], dtype=torch.float64) @ sample["K"].double()
    rendered = rasterize(vertices, torch.as_tensor(template.faces[0]), half_K[None], (64, 64)).depth[0]
    both = (rendered > 0) & (sample["depth"][0] > 0)
    assert both.sum() > 0.8 * (rendered > 0).sum()
    assert (rendered[both] - sample["depth"][0][both]).abs().median() < 0.003  # metres


def test_mesh_pyramid_is_the_down_selection(root, template):
    sample = _dataset(root, "training", template).training_sample(2, np.random.default_rng(0))
    assert [len(level) for level in sample["mesh"]] == template.num_vertices[:4]
    for level in range(3):
        selected = template.down[level] @ sample["mesh"][level].numpy()
        assert np.array_equal(selected, sample["mesh"][level + 1].numpy())
    regressed = template.joint_regressor @ sample["mesh"][0].numpy()
    assert np.abs(regressed - sample["xyz"].numpy()).max() < 1e-4


def test_evaluation_crop_intrinsics_map_ground_truth(root):
    dataset = _dataset(root, "evaluation", input_size=128)
    assert len(dataset) == NUM_EVALUATION
    sample = dataset[1]
    assert set(sample) == {"image", "K", "index", "xyz_camera", "verts_camera"}
    source_K = torch.tensor(dataset.K[1], dtype=torch.float64)
    source_uv = _project(sample["xyz_camera"], source_K)
    # pixels 47 .. 177 (a box of half-side 65 around 112) onto [-0.5, 127.5]
    expected = (source_uv - 112.0) * (128 / 130) + 63.5
    assert (_project(sample["xyz_camera"], sample["K"]) - expected).abs().max() < 1e-3
    assert torch.equal(dataset[1]["image"], sample["image"])  # deterministic


def test_training_without_augmentation_is_deterministic(root, template):
    dataset = _dataset(root, "training", template, augment=False)
    first, second = dataset[3], dataset[3]
    assert torch.equal(first["image"], second["image"]) and torch.equal(first["K"], second["K"])
    assert first["image"].shape == (3, 224, 224) and first["image"].min() >= -1 and first["image"].max() <= 1
    assert first["heatmaps"].shape == (21, 112, 112) and first["mask"].shape == (1, 112, 112)
    assert first["depth"].shape == (1, 112, 112)
    assert all(value.dtype == torch.float32 for value in first.values() if isinstance(value, torch.Tensor))


# ---------------------------------------------------------------- targets and augmentation
def test_gaussian_heatmap_has_sub_pixel_centre_and_unit_peak():
    uv = np.array([[20.0 * 2 + 0.5, 10.0 * 2 + 0.5], [31.3, 7.9], [-5.0, 3.0]])  # crop 64 -> map 32
    maps = gaussian_heatmaps(uv, np.array([True, True, False]), 64, 32)
    assert maps.shape == (3, 32, 32) and maps.dtype == np.float32
    assert maps[0, 10, 20] == pytest.approx(1.0) and maps[0].max() == maps[0, 10, 20]
    assert np.all(maps[2] == 0)
    decoded, _ = heatmaps_to_uv(torch.from_numpy(maps[None, :2]), 64)
    assert np.allclose(decoded[0].numpy(), uv[:2], atol=1e-3)


def test_photometric_distort_is_clipped_and_reproducible():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    outputs = [photometric_distort(image, np.random.default_rng(seed)) for seed in (7, 7, 8)]
    assert np.array_equal(outputs[0], outputs[1]) and not np.array_equal(outputs[0], outputs[2])
    changed = [photometric_distort(image, np.random.default_rng(seed)) for seed in range(20)]
    assert all(out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255 for out in changed)
    assert sum(not np.allclose(out, image) for out in changed) >= 15


def test_rotation_homography_is_exact_for_any_intrinsics():
    K = np.array([[400.0, 0.0, 100.0], [0.0, 450.0, 120.0], [0.0, 0.0, 1.0]])
    rotation = rotation_about_optical_axis(33.0)
    points = np.random.default_rng(0).uniform([-0.1, -0.1, 0.4], [0.1, 0.1, 0.8], (50, 3))
    before = points @ K.T
    after = (points @ rotation.T) @ K.T
    moved = apply_affine(rotation_map(K, rotation), before[:, :2] / before[:, 2:])
    assert np.allclose(moved, after[:, :2] / after[:, 2:], atol=1e-9)


# ---------------------------------------------------------------- clear errors
def test_missing_folder_names_path_and_url(tmp_path, template):
    with pytest.raises(FileNotFoundError, match=FREIHAND_URL) as error:
        _dataset(tmp_path / "nowhere", "training", template)
    assert str(tmp_path / "nowhere") in str(error.value)


def test_broken_layouts_are_reported(root, template, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    shutil.rmtree(broken / "training" / "mesh")
    with pytest.raises(FileNotFoundError, match="training/mesh") as error:
        _dataset(broken, "training", template)
    assert FREIHAND_URL in str(error.value)
    shutil.copytree(root / "training" / "mesh", broken / "training" / "mesh")

    (broken / "training" / "rgb" / "00000000.jpg").unlink()
    with pytest.raises(ValueError, match="not a positive multiple"):
        _dataset(broken, "training", template)
    shutil.copy(root / "training" / "rgb" / "00000000.jpg", broken / "training" / "rgb")

    xyz = json.loads((root / "training_xyz.json").read_text())
    (broken / "training_xyz.json").write_text(json.dumps(xyz[:-1]))
    with pytest.raises(ValueError, match="disagree"):
        _dataset(broken, "training", template)

    (broken / "evaluation_verts.json").write_text(json.dumps([[[0.0] * 3] * 778]))
    with pytest.raises(ValueError, match="evaluation_verts.json"):
        _dataset(broken, "evaluation")


def test_corrupt_images_and_broken_annotations_name_the_file(root, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    image = broken / "evaluation" / "rgb" / "00000001.jpg"
    image.write_bytes(image.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"00000001\.jpg: the image file cannot be decoded"):
        _dataset(broken, "evaluation", input_size=64)[1]
    (broken / "evaluation_K.json").write_text("[[[1, 0, 0], [0, 1")
    with pytest.raises(ValueError, match=r"evaluation_K\.json: not valid JSON"):
        _dataset(broken, "evaluation")


# ---------------------------------------------------------------- DataLoader
def _epoch(dataset, seed: int) -> list[dict]:
    torch.manual_seed(seed)
    loader = DataLoader(dataset, batch_size=3, shuffle=True, num_workers=2)
    return list(loader)


def test_dataloader_with_workers_is_reproducible(root, template):
    dataset = _dataset(root, "training", template, input_size=64)
    first, again, other = _epoch(dataset, 0), _epoch(dataset, 0), _epoch(dataset, 1)
    batch = first[0]
    assert batch["image"].shape == (3, 3, 64, 64) and batch["heatmaps"].shape == (3, 21, 32, 32)
    assert [level.shape[1] for level in batch["mesh"]] == template.num_vertices[:4]
    assert sorted(torch.cat([b["index"] for b in first]).tolist()) == list(range(len(dataset)))
    for a, b in zip(first, again):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["image"], b["image"])
        assert torch.equal(a["K"], b["K"])
    images = {int(i): image for b in first for i, image in zip(b["index"], b["image"])}
    images_other = {int(i): image for b in other for i, image in zip(b["index"], b["image"])}
    assert not all(torch.equal(images[i], images_other[i]) for i in images)


# ---------------------------------------------------------------- contact sheet
def test_contact_sheet_writes_a_grid(root, tmp_path):
    import cv2

    from cmr.cli import main

    out = tmp_path / "sheet.png"
    assert main(["sheet", "--root", str(root), "--count", "4", "--input-size", "64", "--out", str(out)]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 64 + 2, 2 * 64 + 2, 3) and sheet.std() > 10


def test_contact_sheet_puts_real_photos_below_plain_crops(root, tmp_path):
    import cv2

    from cmr.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(3):  # wide photos: their centred squares are shown
        cv2.imwrite(str(photos / f"{k}.jpg"), np.full((40, 60, 3), 60 * k + 20, np.uint8))
    out = tmp_path / "sheet.png"
    assert main(["sheet", "--root", str(root), "--count", "4", "--input-size", "64", "--plain", "--real", str(photos),
                 "--out", str(out)]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * (2 * 64 + 2) + 8, 2 * 64 + 2, 3)
    assert abs(int(sheet[2 * 64 + 2 + 8 + 32, 32, 0]) - 20) <= 2  # the first photo, top left below the gap
    assert main(["sheet", "--root", str(root), "--real", str(tmp_path / "none"), "--out", str(out)]) == 2
