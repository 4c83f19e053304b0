"""FreiHAND benchmark: official scores, ground truth and the CodaLab submission files.

``evaluate`` gives the numbers the official ``eval.py`` writes to ``scores.txt`` (same names,
same units: mean errors in cm, AUCs and F-scores in [0, 1]) from arrays in metres. The
submission is the JSON ``[xyz_list, verts_list]`` (N x 21 x 3 keypoints in FreiHAND order and
N x 778 x 3 vertices, camera space, metres), uploaded as a zip whose only member is ``pred.json``.
:mod:`cmr.evaluation.scoring` scores such a file as written, with the ground truth as stored.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cmr.data.layout import FREIHAND_URL, FreiHANDLayout
from cmr.evaluation.metrics import (
    F_SCORE_THRESHOLDS_M,
    PointMeasures,
    align_w_scale,
    align_with_keypoint_fit,
    f_scores,
    fit_similarity,
    point_errors,
    point_measures,
)
from cmr.fileio import ZIP_EPOCH, atomic_write_bytes
from cmr.hand.conventions import NUM_KEYPOINTS

#: Vertices of a MANO-topology mesh (the ground truth the official script scores against).
MANO_VERTICES = 778
#: Name of the prediction file inside the submission zip (what the official eval.py opens).
SUBMISSION_MEMBER = "pred.json"
#: Decimals kept in the submission JSON: 1e-6 m, far below any error that matters.
SUBMISSION_DECIMALS = 6
#: What the official script reports for mesh scores it cannot compute (non-MANO predictions),
#: before its x100 to cm (so mesh_mean3d reads -100 and mesh_auc3d -1).
NOT_EVALUATED = -1.0
#: Score names in the order of the official ``scores.txt``.
SCORE_NAMES = (
    "xyz_mean3d", "xyz_auc3d", "xyz_al_mean3d", "xyz_al_auc3d",
    "mesh_mean3d", "mesh_auc3d", "mesh_al_mean3d", "mesh_al_auc3d",
    "f_score_5", "f_al_score_5", "f_score_15", "f_al_score_15",
)
#: Scores that need only the keypoints (``evaluation_xyz.json``).
KEYPOINT_SCORE_NAMES = SCORE_NAMES[:4]
#: Scores that also need the ground-truth meshes (``evaluation_verts.json``).
MESH_SCORE_NAMES = SCORE_NAMES[4:]
#: Centimetres per metre: the official scores report mean errors in cm.
CM_PER_M = 100.0


@dataclass(frozen=True)
class FreiHANDEvaluation:
    """Scores plus the PCK curves behind them.

    Attributes:
        scores: official score name -> value (see :data:`SCORE_NAMES`; means in cm).
        curves: ``'xyz'``, ``'xyz_al'`` and, for 778-vertex predictions, ``'mesh'`` and
            ``'mesh_al'`` -> their :class:`PointMeasures` (thresholds in metres).
    """

    scores: dict[str, float]
    curves: dict[str, PointMeasures]


def _as_points(value: Any, what: str, num_points: int | None = None) -> np.ndarray:
    """Convert nested lists or an array to float64 (N, P, 3), or raise ValueError naming ``what``."""
    expected = f"(N, {num_points if num_points is not None else 'V'}, 3)"
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{what}: expected numbers of shape {expected}, got ragged or non-numeric data ({error})"
        ) from None
    if points.ndim != 3 or points.shape[2] != 3 or (num_points is not None and points.shape[1] != num_points):
        raise ValueError(f"{what}: expected shape {expected}, got {points.shape}")
    if len(points) == 0 or points.shape[1] == 0:
        raise ValueError(f"{what}: expected at least one sample and one point, got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{what}: contains NaN or infinite values")
    return points


def validate_predictions(
    pred_xyz: Any, pred_verts: Any, gt_xyz: Any, gt_verts: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check predictions against the ground truth and return all four as float64 arrays.

    Returns:
        pred_xyz (N, 21, 3), pred_verts (N, W, 3), gt_xyz (N, 21, 3), gt_verts (N, V, 3), metres.
        ``W`` may differ from ``V``; the mesh is then scored as a non-MANO prediction.

    Raises:
        ValueError: a shape is wrong, a value is not finite, or a count differs from the GT's.
    """
    gt_xyz = _as_points(gt_xyz, "ground-truth keypoints", NUM_KEYPOINTS)
    gt_verts = _as_points(gt_verts, "ground-truth vertices")
    pred_xyz = _as_points(pred_xyz, "predicted keypoints", NUM_KEYPOINTS)
    pred_verts = _as_points(pred_verts, "predicted vertices")
    if len(gt_xyz) != len(gt_verts):
        raise ValueError(f"ground truth: {len(gt_xyz)} keypoint sets but {len(gt_verts)} meshes")
    _check_prediction_count("keypoint", pred_xyz, len(gt_xyz))
    _check_prediction_count("mesh", pred_verts, len(gt_xyz))
    return pred_xyz, pred_verts, gt_xyz, gt_verts


def _check_prediction_count(name: str, predictions: np.ndarray, expected: int) -> None:
    """Raise ValueError unless there is one prediction (first axis) per ground-truth sample."""
    if len(predictions) != expected:
        raise ValueError(f"predictions: {len(predictions)} {name} predictions for {expected} ground-truth samples")


def evaluate_with_curves(
    pred_xyz: Any, pred_verts: Any, gt_xyz: Any, gt_verts: Any, fix_non_mano_alignment: bool = False
) -> FreiHANDEvaluation:
    """Every official FreiHAND score and the PCK curves, from predictions and GT in metres.

    Args:
        pred_xyz: (N, 21, 3) predicted keypoints, FreiHAND order, camera space, metres.
        pred_verts: (N, W, 3) predicted vertices, metres. When ``W`` differs from the GT's vertex
            count the mesh errors are not computed (reported as the official -100 cm / -1) and
            the vertices are aligned with the keypoints' transform for the aligned F-scores.
        gt_xyz: (N, 21, 3) ground-truth keypoints, metres.
        gt_verts: (N, V, 3) ground-truth vertices, metres.
        fix_non_mano_alignment: only for ``W != V``: use the corrected keypoint transform instead
            of the official, buggy ``align_by_trafo`` (see ``align_with_keypoint_fit``). The
            aligned F-scores then differ from the official ones.
    """
    pred_xyz, pred_verts, gt_xyz, gt_verts = validate_predictions(pred_xyz, pred_verts, gt_xyz, gt_verts)
    is_mano = pred_verts.shape[1] == gt_verts.shape[1]
    curves = _keypoint_curves(pred_xyz, gt_xyz)
    if is_mano:
        verts_aligned = align_w_scale(gt_verts, pred_verts)
        curves["mesh"] = point_measures(point_errors(gt_verts, pred_verts))
        curves["mesh_al"] = point_measures(point_errors(gt_verts, verts_aligned))
    else:
        fit = fit_similarity(gt_xyz, pred_xyz)
        verts_aligned = align_with_keypoint_fit(pred_verts, fit, official=not fix_non_mano_alignment)
    scores = {}
    for name in ("xyz", "xyz_al", "mesh", "mesh_al"):
        scores.update(_point_score_entries(name, curves.get(name)))
    scores.update(_f_score_entries(gt_verts, pred_verts, verts_aligned))
    return FreiHANDEvaluation(scores={name: float(scores[name]) for name in SCORE_NAMES}, curves=curves)


def evaluate_keypoints_with_curves(pred_xyz: Any, gt_xyz: Any) -> FreiHANDEvaluation:
    """The keypoint scores alone (:data:`KEYPOINT_SCORE_NAMES`) and their two PCK curves.

    For ground truth without meshes: the values equal those of :func:`evaluate_with_curves`.

    Args:
        pred_xyz: (N, 21, 3) predicted keypoints, FreiHAND order, camera space, metres.
        gt_xyz: (N, 21, 3) ground-truth keypoints, metres.
    """
    gt_xyz = _as_points(gt_xyz, "ground-truth keypoints", NUM_KEYPOINTS)
    pred_xyz = _as_points(pred_xyz, "predicted keypoints", NUM_KEYPOINTS)
    _check_prediction_count("keypoint", pred_xyz, len(gt_xyz))
    curves = _keypoint_curves(pred_xyz, gt_xyz)
    scores = {}
    for name in ("xyz", "xyz_al"):
        scores.update(_point_score_entries(name, curves[name]))
    return FreiHANDEvaluation(scores={name: float(scores[name]) for name in KEYPOINT_SCORE_NAMES}, curves=curves)


def _keypoint_curves(pred_xyz: np.ndarray, gt_xyz: np.ndarray) -> dict[str, PointMeasures]:
    """``'xyz'`` and ``'xyz_al'`` measures of float64 (N, 21, 3) keypoints in metres."""
    return {
        "xyz": point_measures(point_errors(gt_xyz, pred_xyz)),
        "xyz_al": point_measures(point_errors(gt_xyz, align_w_scale(gt_xyz, pred_xyz))),
    }


def _point_score_entries(name: str, measures: PointMeasures | None) -> dict[str, float]:
    """``<name>_mean3d`` (cm) and ``<name>_auc3d``; the official -1 (x100 for the mean) when None."""
    if measures is None:
        return {f"{name}_mean3d": NOT_EVALUATED * CM_PER_M, f"{name}_auc3d": NOT_EVALUATED}
    return {f"{name}_mean3d": measures.mean_m * CM_PER_M, f"{name}_auc3d": measures.auc}


def _f_score_entries(
    gt_verts: np.ndarray, pred_verts: np.ndarray, verts_aligned: np.ndarray
) -> dict[str, float]:
    """``f_score_<mm>`` and ``f_al_score_<mm>`` averaged over samples, for the official thresholds."""
    unaligned = f_scores(gt_verts, pred_verts).mean(axis=0)
    aligned = f_scores(gt_verts, verts_aligned).mean(axis=0)
    entries = {}
    for threshold, value, value_aligned in zip(F_SCORE_THRESHOLDS_M, unaligned, aligned):
        millimetres = round(threshold * 1000)
        entries[f"f_score_{millimetres}"] = float(value)
        entries[f"f_al_score_{millimetres}"] = float(value_aligned)
    return entries


def evaluate(
    pred_xyz: Any, pred_verts: Any, gt_xyz: Any, gt_verts: Any, fix_non_mano_alignment: bool = False
) -> dict[str, float]:
    """The official ``scores.txt`` values as a dict (see :func:`evaluate_with_curves`)."""
    return evaluate_with_curves(pred_xyz, pred_verts, gt_xyz, gt_verts, fix_non_mano_alignment).scores


def _parse_json(data: bytes, source: str, description: str) -> Any:
    """Parse JSON bytes; ValueError naming ``source`` and what it should hold when they are not JSON."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{source} is not valid JSON ({error}); expected {description}") from None


def _read_json(path: Path, description: str) -> Any:
    """Load a JSON file, raising FileNotFoundError / ValueError that name it and its content."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected {description} (FreiHAND: {FREIHAND_URL})")
    return _parse_json(path.read_bytes(), str(path), description)


@dataclass(frozen=True)
class GroundTruth:
    """The evaluation ground truth of a FreiHAND-layout root, as stored (JSON numbers as float64).

    Attributes:
        xyz_path: ``<root>/evaluation_xyz.json``, whether or not it exists.
        verts_path: ``<root>/evaluation_verts.json``, likewise.
        xyz: (M, 21, 3) camera-space keypoints, metres, FreiHAND order; None when the file is missing.
        verts: (M, 778, 3) camera-space MANO vertices, metres; None when the file is missing.
    """

    xyz_path: Path
    verts_path: Path
    xyz: np.ndarray | None
    verts: np.ndarray | None

    @property
    def missing(self) -> tuple[Path, ...]:
        """The files that were not found."""
        return tuple(path for path, array in ((self.xyz_path, self.xyz), (self.verts_path, self.verts))
                     if array is None)


def read_ground_truth(root: str | os.PathLike) -> GroundTruth:
    """Read whichever of ``evaluation_xyz.json`` / ``evaluation_verts.json`` exist under ``root``.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a file is not JSON, has the wrong shape (keypoints (M, 21, 3), vertices
            (M, 778, 3)) or non-finite values, or the two files hold different counts.
    """
    layout = FreiHANDLayout(root)
    if not layout.root.is_dir():
        raise FileNotFoundError(
            f"{layout.root}: folder not found; expected a FreiHAND-layout dataset root holding "
            f"evaluation_xyz.json and evaluation_verts.json (FreiHAND: {FREIHAND_URL})"
        )
    arrays = []
    for name, count, what in (("xyz", NUM_KEYPOINTS, "keypoints"), ("verts", MANO_VERTICES, "MANO vertices")):
        path = layout.annotation("evaluation", name)
        content = _read_json(path, f"a list of M x {count} x 3 {what} in metres") if path.is_file() else None
        arrays.append((path, None if content is None else _as_points(content, str(path), count)))
    (xyz_path, xyz), (verts_path, verts) = arrays
    if xyz is not None and verts is not None and len(xyz) != len(verts):
        raise ValueError(f"{xyz_path} holds {len(xyz)} samples but {verts_path} holds {len(verts)}")
    return GroundTruth(xyz_path, verts_path, xyz, verts)


def load_ground_truth(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``evaluation_xyz.json`` and ``evaluation_verts.json``, both required (see :func:`read_ground_truth`).

    Returns:
        xyz (M, 21, 3) and verts (M, 778, 3), float64, camera space, metres (FreiHAND: M = 3960).

    Raises:
        FileNotFoundError: a file is missing (the message names it).
        ValueError: as :func:`read_ground_truth`.
    """
    ground_truth = read_ground_truth(root)
    if ground_truth.missing:
        raise FileNotFoundError(
            f"{ground_truth.missing[0]} not found: expected the evaluation ground truth (FreiHAND: {FREIHAND_URL})"
        )
    return ground_truth.xyz, ground_truth.verts


def write_submission(
    path: str | os.PathLike,
    xyz_list: Sequence[Any],
    verts_list: Sequence[Any],
    decimals: int = SUBMISSION_DECIMALS,
) -> Path:
    """Write the FreiHAND submission JSON ``[xyz_list, verts_list]`` atomically.

    Args:
        path: output ``.json`` (zip it with :func:`zip_submission` for CodaLab).
        xyz_list: N keypoint sets (21, 3), FreiHAND joint order, camera space, metres.
        verts_list: N meshes (778, 3), camera space, metres.
        decimals: values are rounded to this many decimals (6: micrometres).
    """
    xyz = _as_points(xyz_list, "submission keypoints", NUM_KEYPOINTS)
    verts = _as_points(verts_list, "submission vertices")
    if len(xyz) != len(verts):
        raise ValueError(f"submission: {len(xyz)} keypoint sets but {len(verts)} meshes")
    content = [np.round(xyz, decimals).tolist(), np.round(verts, decimals).tolist()]
    return atomic_write_bytes(path, json.dumps(content, separators=(",", ":")).encode("utf-8"))


def zip_submission(json_path: str | os.PathLike, zip_path: str | os.PathLike) -> Path:
    """Zip a submission JSON as the single member ``pred.json`` (fixed timestamp: same bytes each run)."""
    info = zipfile.ZipInfo(SUBMISSION_MEMBER, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, Path(json_path).read_bytes())
    return atomic_write_bytes(zip_path, buffer.getvalue())


def load_submission(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a submission ``.json`` or a ``.zip`` holding ``pred.json``, as the official script does.

    Returns:
        xyz (N, 21, 3) and verts (N, W, 3), the stored numbers as float64, metres.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: not a readable zip / JSON, or not ``[xyz_list, verts_list]`` of matching counts.
    """
    path = Path(path)
    description = "a submission [xyz_list, verts_list] (N x 21 x 3 keypoints, N x W x 3 vertices, metres)"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected {description}, as .json or as a .zip of pred.json")
    if zipfile.is_zipfile(path):
        content = _parse_json(_read_zip_member(path, SUBMISSION_MEMBER), f"{path}:{SUBMISSION_MEMBER}", description)
    else:
        content = _read_json(path, description)
    if not isinstance(content, list) or len(content) != 2:
        raise ValueError(f"{path}: expected a JSON list [xyz_list, verts_list] of two entries")
    xyz = _as_points(content[0], f"{path} keypoints", NUM_KEYPOINTS)
    verts = _as_points(content[1], f"{path} vertices")
    if len(xyz) != len(verts):
        raise ValueError(f"{path}: {len(xyz)} keypoint sets but {len(verts)} meshes")
    return xyz, verts


def _read_zip_member(path: Path, member: str) -> bytes:
    """The bytes of ``member`` in the zip ``path``; ValueError naming both when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                raise ValueError(f"{path} has no member {member!r} (members: {archive.namelist()})")
            return archive.read(member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as error:
        raise ValueError(f"{path}: cannot read {member!r} from the zip ({error})") from None
