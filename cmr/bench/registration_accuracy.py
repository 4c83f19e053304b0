"""Registration accuracy: the project's stages against the official algorithm on real hand meshes.

For every case of :data:`cmr.bench.registration_scenes.CASES` (2 px joint noise; outliers;
low-confidence joints; exact, network-like soft, eroded, dilated and forearm-including
silhouettes) both registrations get identical inputs: the exact root-relative mesh and joints,
the crop's K, noisy 2D joints with confidences and the silhouette. Printed: the mean distance
(mm) between each stage's translation (2D, 1D silhouette, fused) and the true one, for the
project (:func:`cmr.registration.register`, batched, float32 as at inference) and for the
official algorithm re-implemented in :mod:`cmr.bench.registration_official`, and the time per
sample of each. Where a 1D step cannot run, its stage error is that of its 2D answer.
Run ``python -m cmr bench registration_accuracy [--samples 40] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from cmr.bench.registration_official import official_registration
from cmr.bench.registration_scenes import CASES, Case, Scene, case_inputs, make_scene
from cmr.registration import RegistrationConfig, register

DESCRIPTION = __doc__.splitlines()[0]
#: Stages in the table's order, with the project's result field of each.
STAGES = (("2D", "translation_2d"), ("1D", "translation_1d"), ("fused", "translation"))


@dataclass
class CaseResult:
    """Mean errors (mm) per stage name for the project and the official algorithm, the
    official 1D failures, and seconds per sample of each."""

    project_mm: dict[str, float]
    official_mm: dict[str, float]
    official_1d_failures: int
    project_seconds: float
    official_seconds: float


def _error_mm(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Mean Euclidean distance (mm) between (B, 3) translations (metres)."""
    return float(np.linalg.norm(estimate - truth, axis=1).mean() * 1e3)


def project_run(scene: Scene, uv: torch.Tensor, confidence: torch.Tensor, mask: torch.Tensor,
                config: RegistrationConfig):
    """The project's registration of the scene, float32, and its seconds per sample."""
    as_float = {"vertices": scene.vertices.float(), "joints": scene.joints.float(), "uv": uv.float(),
                "confidence": confidence.float(), "K": scene.K.float(),
                "mask": mask if mask.dtype == torch.bool else mask.float()}
    start = time.perf_counter()
    result = register(**as_float, config=config)
    return result, (time.perf_counter() - start) / len(uv)


def official_run(scene: Scene, uv: torch.Tensor, confidence: torch.Tensor, mask: torch.Tensor):
    """The official registration, one sample at a time: (2D, 1D or None, fused) translations
    (B, 3) metres each (1D: the 2D answer where it failed), failures, seconds per sample."""
    start = time.perf_counter()
    results = [official_registration(scene.vertices[i].numpy(), scene.joints[i].numpy(), uv[i].numpy(),
                                     confidence[i].numpy(), scene.K[i].numpy(), mask[i].numpy())
               for i in range(len(uv))]
    seconds = (time.perf_counter() - start) / len(uv)
    t_2d = np.stack([r.translation_2d for r in results])
    t_1d = np.stack([r.translation_2d if r.translation_1d is None else r.translation_1d for r in results])
    failures = sum(r.translation_1d is None for r in results)
    return (t_2d, t_1d, np.stack([r.translation for r in results])), failures, seconds


def run_case(scene: Scene, case: Case, seed: int, config: RegistrationConfig) -> CaseResult:
    """Both registrations on one case of the scene."""
    uv, confidence, mask = case_inputs(scene, case, seed)
    truth = scene.t.numpy()
    result, project_seconds = project_run(scene, uv, confidence, mask, config)
    official, failures, official_seconds = official_run(scene, uv, confidence, mask)
    project_mm = {name: _error_mm(getattr(result, field).double().numpy(), truth) for name, field in STAGES}
    official_mm = {name: _error_mm(t, truth) for (name, _), t in zip(STAGES, official)}
    return CaseResult(project_mm, official_mm, failures, project_seconds, official_seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--samples", type=int, default=40, help="hands per case")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hands (the joint noise uses seed + 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def _print_table(results: dict[str, CaseResult], samples: int) -> None:
    """The error table (mm, project / official per stage) and the timings."""
    stages = [name for name, _ in STAGES]
    header = " ".join(f"{name + ' proj':>10} {name + ' off':>10}" for name in stages)
    print(f"mean |t - t_true| (mm), {samples} hands per case; 'off' = official algorithm")
    print(f"{'case':<26} {header} {'off 1D fail':>11}")
    for name, result in results.items():
        cells = " ".join(f"{result.project_mm[s]:>10.1f} {result.official_mm[s]:>10.1f}" for s in stages)
        print(f"{name:<26} {cells} {result.official_1d_failures:>11d}")
    project = np.mean([r.project_seconds for r in results.values()])
    official = np.mean([r.official_seconds for r in results.values()])
    print(f"\ntime per sample: project {project * 1e3:.2f} ms (batch of {samples}), official "
          f"{official * 1e3:.1f} ms; official / project = {official / project:.0f}x")


def run(args: argparse.Namespace) -> int:
    """Print the accuracy table of every case."""
    torch.set_num_threads(args.threads)
    config = RegistrationConfig.defaults()
    scene = make_scene(args.samples, args.seed)
    results = {case.name: run_case(scene, case, args.seed + 1, config) for case in CASES}
    _print_table(results, args.samples)
    return 0
