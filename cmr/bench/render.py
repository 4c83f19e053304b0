"""Benchmark of cmr.render at 224 x 224: hard rasteriser + shading, and the soft rasteriser.

The default mesh is a closed hand-sized ellipsoid (semi-axes 4.5 x 9 x 2.5 cm, 770 vertices,
1536 faces - MANO's size) 0.6 m in front of a 560 px focal-length camera, i.e. ~11k covered
pixels, like a FreiHAND crop; ``--ply`` renders another mesh, re-centred at the same depth.
Run ``python -m cmr bench render [--device cuda] [--threads 1] [--ply template/hand.ply]``.
Frames per second are given on wall time and on this process's CPU time (the latter is what
counts on a shared machine; on GPU only wall time means anything).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from cmr.render import SoftSettings, render, soft_rasterize, uv_sphere

SIZE = 224


def make_scene(batch: int, device: str, ply: str | None = None) -> dict:
    """Vertices (B, N, 3) m, faces (F, 3), K (B, 3, 3), colours (B, N, 3) for the benchmark."""
    if ply:
        from cmr.mesh.ply import read_ply
        points, faces = (torch.as_tensor(a) for a in read_ply(ply))
        points = (points - points.mean(dim=0)).float()
        points = points * (0.18 / (points.max(dim=0).values - points.min(dim=0).values).max())
    else:
        points, faces = uv_sphere(24, 32)
        points = points * torch.tensor([0.045, 0.09, 0.025])
    vertices = (points + torch.tensor([0.0, 0.0, 0.6])).expand(batch, -1, -1).contiguous()
    K = torch.tensor([[560.0, 0.0, SIZE / 2], [0.0, 560.0, SIZE / 2], [0.0, 0.0, 1.0]])
    colours = torch.rand(batch, len(points), 3, generator=torch.Generator().manual_seed(0))
    return {"vertices": vertices.to(device), "faces": faces.to(device),
            "K": K.expand(batch, 3, 3).to(device), "colours": colours.to(device)}


def time_call(call: Callable[[], object], iterations: int, device: str) -> tuple[float, float]:
    """(wall, process-CPU) seconds per call, after one warm-up call."""
    call()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iterations):
        call()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - wall) / iterations, (time.process_time() - cpu) / iterations


def cases(scene: dict) -> dict[str, Callable[[], object]]:
    """The timed operations on one scene."""
    vertices, faces, K, colours = scene["vertices"], scene["faces"], scene["K"], scene["colours"]

    def hard():
        return render(vertices, faces, K, (SIZE, SIZE), colours)

    def soft_forward():
        with torch.no_grad():
            return soft_rasterize(vertices, faces, K, (SIZE, SIZE), SoftSettings(), colours)

    def soft_backward():
        points = vertices.clone().requires_grad_()
        albedo = colours.clone().requires_grad_()
        images = soft_rasterize(points, faces, K, (SIZE, SIZE), SoftSettings(), albedo)
        (images.silhouette.sum() + images.depth.sum() + images.image.sum()).backward()

    return {"hard render (RGB+mask+depth)": hard, "soft forward": soft_forward,
            "soft forward+backward": soft_backward}


PLAN = [("hard render (RGB+mask+depth)", 1, 20), ("hard render (RGB+mask+depth)", 32, 4),
        ("soft forward", 1, 5), ("soft forward", 32, 1),
        ("soft forward+backward", 1, 3), ("soft forward+backward", 8, 1)]
"""(case, batch, timed iterations) rows of the table."""


DESCRIPTION = __doc__.split("\n")[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: leave torch's default)")
    parser.add_argument("--ply", default=None, help="mesh to render instead of the ellipsoid")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its table."""
    if args.threads:
        torch.set_num_threads(args.threads)

    scenes = {batch: make_scene(batch, args.device, args.ply) for batch in {b for _, b, _ in PLAN}}
    mesh = scenes[1]
    print(f"{SIZE}x{SIZE}, {mesh['vertices'].shape[1]} vertices, {len(mesh['faces'])} faces, "
          f"device {args.device}, {torch.get_num_threads()} CPU threads")
    print(f"{'case':<30}{'batch':>6}{'iters':>6}{'ms/batch':>10}{'fps wall':>10}{'fps cpu':>10}")
    for name, batch, iterations in PLAN:
        wall, cpu = time_call(cases(scenes[batch])[name], iterations, args.device)
        print(f"{name:<30}{batch:>6}{iterations:>6}{wall * 1e3:>10.1f}{batch / wall:>10.1f}"
              f"{batch / max(cpu, 1e-9):>10.1f}")
    return 0
