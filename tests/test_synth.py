"""Synthetic FreiHAND generator: layout, formats, geometry consistency, determinism, resuming."""

import argparse
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cmr.data.layout import MANO_PARAMETERS, MASK_THRESHOLD, SCALE_BONE, FreiHANDLayout
from cmr.cli import main
from cmr.data.synth import generate
from cmr.data.synth_scene import CHUNK_SIZE
from cmr.data.synth_settings import CONFIG_NAME, SynthConfigError
from cmr.hand import HandModel
from cmr.mesh.ply import read_ply
from cmr.render import rasterize

#: Two training chunks (one partial), two versions, one evaluation chunk.
TRAINING, VERSIONS, EVALUATION, SIZE = CHUNK_SIZE + 2, 2, 3, 224


def _generate(root: Path, workers: int = 1, **overrides) -> dict:
    sizes = {"num_training": TRAINING, "num_evaluation": EVALUATION, "versions": VERSIONS}
    sizes.update(overrides)
    return generate(root, seed=7, workers=workers, progress=False, **sizes)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _load(root: Path, split: str, name: str) -> np.ndarray:
    return np.array(json.loads(FreiHANDLayout(root).annotation(split, name).read_text()))


def _hard_mask(vertices: np.ndarray, faces: np.ndarray, K: np.ndarray):
    fragments = rasterize(torch.tensor(vertices)[None].float(), torch.as_tensor(faces),
                          torch.tensor(K)[None].float(), (SIZE, SIZE))
    return fragments.mask[0].numpy(), fragments.depth[0].numpy()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "FreiHAND_synth"
    summary = _generate(root)
    assert summary["rendered_images"] == TRAINING * VERSIONS + EVALUATION
    return root


@pytest.fixture(scope="module")
def hand() -> HandModel:
    return HandModel()


def test_every_layout_file_with_counts_and_formats(dataset, hand):
    names = {"training/rgb": TRAINING * VERSIONS, "training/mask": TRAINING, "training/mesh": TRAINING,
             "training/depth": TRAINING, "evaluation/rgb": EVALUATION, "evaluation/mask": EVALUATION}
    for folder, count in names.items():
        files = sorted(p.name for p in (dataset / folder).iterdir())
        suffix = {"mesh": ".ply", "depth": ".png"}.get(folder.split("/")[1], ".jpg")
        assert files == [f"{i:08d}{suffix}" for i in range(count)], folder
    json_files = sorted(p.name for p in dataset.glob("*.json"))
    assert json_files == sorted([CONFIG_NAME] + [f"training_{n}.json" for n in ("K", "xyz", "mano", "scale")]
                                + [f"evaluation_{n}.json" for n in ("K", "xyz", "mano", "scale", "verts")])
    for split, count in (("training", TRAINING), ("evaluation", EVALUATION)):
        assert _load(dataset, split, "K").shape == (count, 3, 3)
        assert _load(dataset, split, "xyz").shape == (count, 21, 3)
        assert _load(dataset, split, "mano").shape == (count, MANO_PARAMETERS)
        assert _load(dataset, split, "scale").shape == (count,)
    assert _load(dataset, "evaluation", "verts").shape == (EVALUATION, 778, 3)
    K = _load(dataset, "training", "K")
    assert np.all(K[:, 0, 0] == K[:, 1, 1]) and np.all(K[:, 2] == [0.0, 0.0, 1.0])
    assert np.all(np.abs(K[:, :2, 2] - (SIZE - 1) / 2) < 12) and np.any(K[:, :2, 2] != (SIZE - 1) / 2)
    layout = FreiHANDLayout(dataset)
    image = cv2.imread(str(layout.training_rgb(TRAINING * VERSIONS - 1)), cv2.IMREAD_UNCHANGED)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    mask = cv2.imread(str(layout.training_mask(0)), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (SIZE, SIZE, 3)
    depth = cv2.imread(str(layout.training_depth(0)), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (SIZE, SIZE)
    vertices, faces = read_ply(layout.training_mesh(1))
    assert vertices.shape == (778, 3) and np.array_equal(faces, hand.faces.numpy())
    assert not list(dataset.rglob("*.tmp"))


def test_annotations_agree_with_the_hand_model(dataset, hand):
    layout = FreiHANDLayout(dataset)
    for split, count in (("training", TRAINING), ("evaluation", EVALUATION)):
        mano = torch.tensor(_load(dataset, split, "mano"), dtype=torch.float32)
        output = hand(mano[:, :48].reshape(-1, 16, 3), mano[:, 48:58], mano[:, 58:])
        xyz = _load(dataset, split, "xyz")
        np.testing.assert_allclose(xyz, output.joints.numpy(), atol=1e-5)
        bone = np.linalg.norm(xyz[:, SCALE_BONE[0]] - xyz[:, SCALE_BONE[1]], axis=1)
        np.testing.assert_allclose(_load(dataset, split, "scale"), bone, rtol=1e-5)
        assert np.all((bone > 0.02) & (bone < 0.07))  # a proximal phalanx
        uvw = np.einsum("nij,nkj->nki", _load(dataset, split, "K"), xyz)
        uv = uvw[..., :2] / uvw[..., 2:]
        assert np.all(uvw[..., 2] > 0.2) and np.all((uv >= 0) & (uv <= SIZE - 1)), split
        if split == "evaluation":
            np.testing.assert_allclose(_load(dataset, split, "verts"), output.vertices.numpy(), atol=1e-5)
        else:
            for index in (0, count - 1):
                vertices, _ = read_ply(layout.training_mesh(index))
                np.testing.assert_allclose(vertices, output.vertices[index].numpy(), atol=1e-5)


def test_masks_and_depth_match_the_rasterised_mesh(dataset, hand):
    layout = FreiHANDLayout(dataset)
    faces = hand.faces.numpy()
    K_train, K_eval = _load(dataset, "training", "K"), _load(dataset, "evaluation", "K")
    eval_vertices = _load(dataset, "evaluation", "verts")
    cases = [(layout.training_mask(i), read_ply(layout.training_mesh(i))[0], K_train[i], layout.training_depth(i))
             for i in (0, 5, TRAINING - 1)]
    cases += [(layout.evaluation_mask(i), eval_vertices[i], K_eval[i], None) for i in range(EVALUATION)]
    for mask_path, vertices, K, depth_path in cases:
        expected, expected_depth = _hard_mask(vertices, faces, K)
        mask = cv2.imread(str(mask_path))[..., 0] > MASK_THRESHOLD
        iou = (mask & expected).sum() / (mask | expected).sum()
        assert iou >= 0.95 and mask.sum() > 1000, mask_path
        if depth_path is not None:
            depth = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED).astype(np.float64)
            both = mask & expected
            assert np.abs(depth[both] - 1000.0 * expected_depth[both]).max() <= 2.0
            assert np.all(depth[~expected] == 0)


def test_versions_share_geometry_but_not_appearance(dataset):
    layout = FreiHANDLayout(dataset)
    first, second = (cv2.imread(str(layout.training_rgb(v * TRAINING + 3))).astype(np.float64) for v in range(2))
    mask = cv2.imread(str(layout.training_mask(3)))[..., 0] > MASK_THRESHOLD
    assert np.abs(first - second)[~mask].mean() > 10  # different backgrounds
    assert first[~mask].std() > 3 and first[mask].std() > 3  # textured, shaded


def test_reruns_are_byte_identical_whatever_the_workers(dataset, tmp_path):
    other = tmp_path / "two_workers"
    _generate(other, workers=2)
    assert _files(other) == _files(dataset)


def test_resume_rewrites_only_missing_files_identically(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    layout = FreiHANDLayout(copy)
    for path in (layout.training_rgb(TRAINING + 1), layout.training_mask(TRAINING - 1),
                 layout.training_depth(4), layout.evaluation_rgb(2)):
        path.unlink()
    stale = layout.training_rgb(0).parent / f".{layout.training_rgb(0).name}.123.tmp"
    stale.write_bytes(b"half an image")  # what a killed run can leave behind
    summary = _generate(copy)
    assert summary["rendered_images"] == 3 * VERSIONS + 1  # annotations 1, 4, TRAINING - 1; eval 2
    assert _files(copy) == _files(dataset)
    assert _generate(copy)["rendered_images"] == 0


def test_mismatched_parameters_are_refused(dataset, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    with pytest.raises(SynthConfigError, match="num_training: 34 there, 40 requested"):
        _generate(copy, num_training=40)
    status = main(["synth", "--root", str(copy), "--training", str(TRAINING), "--evaluation", str(EVALUATION),
                   "--versions", "3", "--seed", "7", "--workers", "1", "--no-progress"])
    assert status == 2 and "versions: 2 there, 3 requested" in capsys.readouterr().err


def _run_tool(argv: list[str]) -> int:
    from cmr.tools import synth

    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    return synth.run(parser.parse_args(argv))


def test_a_root_under_a_regular_file_is_refused_before_any_work(tmp_path):
    regular = tmp_path / "a_file"
    regular.write_text("not a folder")
    with pytest.raises(ValueError, match=f"output folder {regular / 'root'}: {regular} is a regular file"):
        _run_tool(["--root", str(regular / "root"), "--training", "1", "--evaluation", "0", "--no-progress"])


@pytest.mark.skipif(os.geteuid() == 0, reason="folder permissions do not bind root")
def test_a_read_only_root_is_refused_before_any_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(ValueError, match=f"output folder {locked} is not writable"):
        _run_tool(["--root", str(locked), "--training", "1", "--evaluation", "0", "--no-progress"])
    assert not list(locked.iterdir())
