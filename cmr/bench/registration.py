"""Benchmark of cmr.registration: closed-form 2D step vs SciPy SLSQP, and full-registration speed.

Synthetic inputs: a random hand-sized point cloud (778 "vertices" and 21 "joints" in a
0.18 x 0.1 x 0.05 m box), FreiHAND-like 224 px crops with off-centre principal points, root
depths 0.3-1 m, 2 px noise on the 2D joints, and the silhouette drawn as the filled convex hull
of the projected vertices. The full registration is also timed at batch 1 against the official
algorithm on the same problems. Run ``python -m cmr bench registration [--samples 256]``.
"""

import argparse
import time

import cv2
import numpy as np
import torch
from scipy.optimize import minimize

from cmr.registration import RegistrationConfig, register, solve_translation_2d

SIZE = 224


def make_inputs(samples: int, seed: int = 0, vertices: int = 778) -> dict[str, torch.Tensor]:
    """Random registration problems (float64 tensors, a bool mask) with their true translation.

    Returns a dict: vertices (B, N, 3) m, joints (B, 21, 3) m, uv (B, 21, 2) px,
    confidence (B, 21), K (B, 3, 3), mask (B, 224, 224) bool, t (B, 3) m.
    """
    rng = np.random.default_rng(seed)
    extent = np.array([0.1, 0.18, 0.05])
    points = (rng.uniform(-0.5, 0.5, size=(samples, vertices + 21, 3)) * extent) + [0.0, 0.07, 0.0]
    depth = rng.uniform(0.3, 1.0, size=samples)
    focal = 560.0 * depth / 0.75 * rng.uniform(0.9, 1.1, size=samples)
    K = np.zeros((samples, 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 2, 2] = focal, focal, 1.0
    K[:, :2, 2] = SIZE / 2 + rng.uniform(-8.0, 8.0, size=(samples, 2))
    t = np.stack([(SIZE / 2 - K[:, 0, 2]) * depth / focal, (SIZE / 2 - K[:, 1, 2]) * depth / focal
                  - 0.07, depth], axis=1)
    camera = points + t[:, None]
    image = np.einsum("bij,bnj->bni", K, camera)
    projected = image[..., :2] / image[..., 2:]
    masks = np.zeros((samples, SIZE, SIZE), np.uint8)
    for mask, pixels in zip(masks, projected[:, :vertices]):
        hull = cv2.convexHull(pixels.astype(np.float32))
        cv2.fillPoly(mask, [np.round(hull * 16).astype(np.int32)], 1, shift=4)
    uv = projected[:, vertices:] + rng.normal(scale=2.0, size=(samples, 21, 2))
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return {"vertices": as_tensor(points[:, :vertices]), "joints": as_tensor(points[:, vertices:]),
            "uv": as_tensor(uv), "confidence": torch.ones(samples, 21, dtype=torch.float64),
            "K": as_tensor(K), "mask": torch.as_tensor(masks > 0), "t": as_tensor(t)}


def slsqp_translation(joints: np.ndarray, uv: np.ndarray, K: np.ndarray, z_min: float,
                      z_max: float, tight: bool) -> np.ndarray:
    """The reference's 2D solve for one sample: SLSQP on the mean squared algebraic residual.

    joints (21, 3) m, uv (21, 2) px, K (3, 3). ``tight`` adds the analytic gradient and
    ftol=1e-15; otherwise SciPy's defaults with finite differences, as the reference.
    Returns t (3,) metres.
    """
    homogeneous = np.concatenate([uv, np.ones((len(uv), 1))], axis=1)

    def residual(t):
        camera = joints + t
        return camera @ K.T - homogeneous * camera[:, 2:]

    def objective(t):
        return np.mean(residual(t) ** 2)

    def gradient(t):
        r = residual(t)  # (J, 3)
        d_r = K[None] - homogeneous[:, :, None] * np.array([0.0, 0.0, 1.0])  # (J, 3 rows, 3 t)
        return 2.0 * np.einsum("jk,jkt->t", r, d_r) / r.size

    options = {"ftol": 1e-15, "maxiter": 500} if tight else {}
    solution = minimize(objective, np.array([0.0, 0.0, 0.6]), method="SLSQP",
                        jac=gradient if tight else None,
                        bounds=((None, None), (None, None), (z_min, z_max)), options=options)
    return solution.x


def _seconds(function, repeats: int) -> float:
    """Best-of-``repeats`` wall time of ``function()`` in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_2d(inputs: dict, config: RegistrationConfig) -> list[tuple[str, float, float]]:
    """Time the 2D solvers on all samples; returns rows (name, seconds per sample, max |dt| m)."""
    joints, uv, K = inputs["joints"], inputs["uv"], inputs["K"]
    weight = torch.ones(joints.shape[:2], dtype=joints.dtype)
    samples = len(joints)

    def batched():
        return solve_translation_2d(joints, uv, K, weight, config.z_min, config.z_max)[0]

    def per_sample():
        return torch.cat([solve_translation_2d(joints[i:i + 1], uv[i:i + 1], K[i:i + 1],
                                               weight[i:i + 1], config.z_min, config.z_max)[0]
                          for i in range(samples)])

    def scipy(tight):
        return lambda: np.stack([slsqp_translation(joints[i].numpy(), uv[i].numpy(), K[i].numpy(),
                                                   config.z_min, config.z_max, tight)
                                 for i in range(samples)])

    closed = batched().numpy()
    per_sample_delta = np.abs(per_sample().numpy() - closed).max()
    rows = [("closed form, batched", _seconds(batched, 5), 0.0),
            ("closed form, per sample", _seconds(per_sample, 2), per_sample_delta)]
    slsqp_variants = (("SLSQP, reference settings", False), ("SLSQP, gradient + ftol 1e-15", True))
    for name, tight in slsqp_variants:
        rows.append((name, _seconds(scipy(tight), 1), np.abs(scipy(tight)() - closed).max()))
    return [(name, seconds / samples, delta) for name, seconds, delta in rows]


def bench_full(inputs: dict, batch: int, repeats: int) -> tuple[float, float]:
    """Seconds per sample of the full 2D+1D registration at ``batch``, and its mean error (m)."""
    part = {key: value[:batch] for key, value in inputs.items()}

    def run():
        return register(part["vertices"].float(), part["joints"].float(), part["uv"].float(),
                        part["confidence"].float(), part["K"].float(), part["mask"])

    seconds = _seconds(run, repeats)
    error = (run().translation.double() - part["t"]).norm(dim=1).mean().item()
    return seconds / batch, error


def bench_official(inputs: dict, samples: int, repeats: int) -> tuple[float, float]:
    """Seconds per sample of the official algorithm (:mod:`cmr.bench.registration_official`:
    SLSQP 2D fit and outlier loop, 1D fit on the largest contour, fusion ramp) one sample at a
    time on the first ``samples`` problems, and its mean error (m)."""
    from cmr.bench.registration_official import official_registration

    arrays = {key: value[:samples].numpy() for key, value in inputs.items()}

    def run():
        return np.stack([official_registration(arrays["vertices"][i], arrays["joints"][i], arrays["uv"][i],
                                               arrays["confidence"][i], arrays["K"][i], arrays["mask"][i]).translation
                         for i in range(samples)])

    seconds = _seconds(run, repeats)
    return seconds / samples, float(np.linalg.norm(run() - arrays["t"], axis=1).mean())


DESCRIPTION = __doc__.splitlines()[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--samples", type=int, default=256, help="problems for the 2D comparison")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Print the 2D-solver comparison and the full-registration timings."""
    torch.set_num_threads(args.threads)
    config = RegistrationConfig.defaults()
    inputs = make_inputs(max(args.samples, 32), args.seed)
    inputs_2d = {key: value[:args.samples] for key, value in inputs.items()}

    rows = bench_2d(inputs_2d, config)
    batched_seconds = rows[0][1]
    print(f"2D step, {args.samples} samples, depth bound [{config.z_min}, {config.z_max}] m")
    print(f"{'solver':<30} {'us/sample':>10} {'x batched':>10} {'max |dt| (m)':>13}")
    for name, seconds, delta in rows:
        ratio = seconds / batched_seconds
        print(f"{name:<30} {seconds * 1e6:>10.1f} {ratio:>10.1f} {delta:>13.2e}")

    print("\nfull registration (2D + 1D + fusion, 778 vertices, 224 px mask, float32)")
    print(f"{'batch':>5} {'ms/sample':>10} {'mean |t - t_true| (m)':>22}")
    per_sample = np.mean([bench_full({key: value[i:] for key, value in inputs.items()}, 1, 3)[0] for i in range(16)])
    official, official_error = bench_official(inputs, 16, 3)
    for batch, repeats in ((1, 10), (32, 3)):
        seconds, error = bench_full(inputs, batch, repeats)
        print(f"{batch:>5} {seconds * 1e3:>10.2f} {error:>22.4f}")
    print(f"\nbatch 1, mean over 16 problems: this registration {per_sample * 1e3:.2f} ms, the official algorithm "
          f"(registration_official.py, mean error {official_error:.4f} m) {official * 1e3:.2f} ms: "
          f"{official / per_sample:.2f}x as fast")
    return 0
