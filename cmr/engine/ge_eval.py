"""The photo pipeline on Ge et al.'s real-world test set (:mod:`cmr.data.ge_real`), scored.

Every crop goes through what a photo goes through in the demo: the detector finds the hand
(its most confident one is taken; the set's known side, left, is imposed), the model sees it
framed by its crop policy, the registration places it with the configured 2D evidence
(:mod:`cmr.engine.hands`). Crops where no hand is found count as misses
(:mod:`cmr.evaluation.ge_real`). ``cmr eval`` runs it when ``TEST.DATASET`` is ``ge_real``, on
the set in ``DATA.ROOT``, writing to ``<OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/eval_ge/``:
``ge_scores.json`` and ``ge_pck.png`` of the pipeline's answer, ``ge_scores_by_stage.json``
(the scores of every stage, :func:`stage_joints`) and ``ge_predictions.npz`` (joints and
detector_joints (N, 21, 3) m, NaN for misses; detector_uv (N, 21, 2) px; found (N,)).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from cmr.data.ge_real import GeRealWorld
from cmr.detection import DetectorConfig, HandDetector
from cmr.engine.checkpoint import LoadedModel
from cmr.engine.hands import HandSettings, predict_and_fit
from cmr.engine.runs import data_root, run_dir
from cmr.evaluation.ge_real import evaluate_ge_joints
from cmr.evaluation.ge_report import write_ge_report
from cmr.fileio import OutputFolder, atomic_write_bytes, atomic_write_json, npz_bytes
from cmr.fitting.detected import fit_placed_keypoints

#: Crops predicted together.
BATCH_SIZE = 8
#: Scores of every stage (:func:`stage_joints`), by stage name.
STAGES_FILE = "ge_scores_by_stage.json"


@dataclass
class GePredictions:
    """The pipeline's answers on a set of N crops.

    joints: (N, 21, 3) metres, camera space (NaN where no hand was found). detector_joints:
    (N, 21, 3) metres, the detector's 3D keypoints placed in camera space; fitted_joints: the
    joints of the hand model fitted to all of it (:func:`cmr.engine.hands.fit_predicted`; NaN
    when fitting is off)
    (:func:`cmr.engine.hands.place_detector_joints`). detector_uv:
    (N, 21, 2) pixels (NaN likewise). found: (N,) bool. detect_seconds, predict_seconds,
    fit_seconds: total wall time of the detector, of the model with registration, of the fit.
    detector_fitted_joints: (N, 21, 3) metres, the hand model fitted to the detector's answer
    alone (:func:`cmr.fitting.detected.fit_placed_keypoints`, the pseudo-labels of photo folders).
    """

    joints: np.ndarray
    fitted_joints: np.ndarray
    detector_fitted_joints: np.ndarray
    detector_joints: np.ndarray
    detector_uv: np.ndarray
    found: np.ndarray
    detect_seconds: float
    predict_seconds: float
    fit_seconds: float


def _detect_all(detector: HandDetector, dataset: GeRealWorld) -> tuple[list, list]:
    """The images and the most confident detection (or None) of every crop."""
    images, hands = [], []
    for index in tqdm(range(len(dataset)), desc="detect", unit="image", file=sys.stderr):
        image = dataset[index].image
        found = detector.detect(image)
        images.append(image)
        hands.append(found[0] if found else None)
    return images, hands


def predict_ge(loaded: LoadedModel, settings: HandSettings, dataset: GeRealWorld,
               detector: HandDetector) -> GePredictions:
    """Run the pipeline on every crop of ``dataset`` (see the module docstring)."""
    start = time.perf_counter()
    images, hands = _detect_all(detector, dataset)
    detected = time.perf_counter()
    seconds = [0.0, 0.0]
    count = len(dataset)
    joints, uv = np.full((count, 21, 3), np.nan), np.full((count, 21, 2), np.nan)
    detector_joints, fitted, detector_fitted = joints.copy(), joints.copy(), joints.copy()
    chosen = [k for k, hand in enumerate(hands) if hand is not None]
    for begin in tqdm(range(0, len(chosen), BATCH_SIZE), desc="predict", unit="batch", file=sys.stderr):
        rows = chosen[begin:begin + BATCH_SIZE]
        result = predict_and_fit(loaded.model, [images[k] for k in rows], [dataset.K[k] for k in rows],
                                 [hands[k] for k in rows], loaded.template.joint_regressor, settings, "left")
        joints[rows] = result.prediction.joints.cpu().numpy()
        uv[rows] = np.stack([hands[k].keypoints for k in rows])
        detector_joints[rows] = result.detector_joints
        seconds[0] += result.predict_seconds
        seconds[1] += result.fit_seconds
        if result.fit is not None:
            fitted[rows] = result.fit.joints.numpy()
        detector_fitted[rows] = fit_placed_keypoints(
            result.detector_joints, uv[rows], np.stack([hands[k].confidence for k in rows]),
            np.stack([dataset.K[k] for k in rows]), settings.fitting, "left").joints.numpy()
    found = np.zeros(count, dtype=bool)
    found[chosen] = True
    return GePredictions(joints, fitted, detector_fitted, detector_joints, uv, found, detected - start, *seconds)


def stage_joints(result: GePredictions) -> dict[str, np.ndarray]:
    """(N, 21, 3) camera-space joints of each stage of the pipeline that can be scored:
    'network' (the model's mesh, registered) and 'detector_3d' (the detector's 3D keypoints,
    placed by the 2D step), 'detector_fitted' (the hand model fitted to the detector's answer alone)
    and, with fitting on, 'fitted' (the hand model fitted to all of it)."""
    stages = {"network": result.joints, "detector_3d": result.detector_joints,
              "detector_fitted": result.detector_fitted_joints}
    if np.isfinite(result.fitted_joints).any() or not result.found.any():
        stages["fitted"] = result.fitted_joints
    return stages


def evaluate_ge(cfg, loaded: LoadedModel) -> dict:
    """Predict and score the set in ``DATA.ROOT``; returns the scores of the pipeline's answer
    (the network's) and of every stage (see the module docstring)."""
    dataset = GeRealWorld(data_root(cfg))
    folder = OutputFolder(run_dir(cfg) / "eval_ge")
    settings = dataclasses.replace(HandSettings.from_config(cfg), side="left")
    result = predict_ge(loaded, settings, dataset, HandDetector(DetectorConfig.from_config(cfg.DETECTOR)))
    stages = {name: evaluate_ge_joints(joints, dataset.joints, dataset.K, result.found)
              for name, joints in stage_joints(result).items()}
    names = ("ge_predictions.npz", "ge_scores.json", "ge_pck.png", STAGES_FILE)
    folder.record(*(folder.path / name for name in names))
    atomic_write_bytes(folder.path / names[0], npz_bytes({
        "joints": result.joints, "detector_joints": result.detector_joints, "detector_uv": result.detector_uv,
        "found": result.found}))
    write_ge_report(stages["network"].scores, stages["network"].curves, folder.path)
    atomic_write_json(folder.path / STAGES_FILE, {name: stage.scores for name, stage in stages.items()})
    return {"scores": stages["network"].scores, "stages": {n: st.scores for n, st in stages.items()},
            "folder": folder.path}
