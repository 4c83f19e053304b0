"""Synthetic FreiHAND: the open hand model rendered into FreiHAND's exact on-disk layout.

:func:`generate` (on the command line ``python -m cmr synth``, :mod:`cmr.tools.synth`) writes
every file of :mod:`cmr.data.layout`: training images in ``versions`` appearances per annotation
(same geometry, different skin jitter, light, background, forearm and occluders, like
FreiHAND's four versions), masks, camera-space meshes, 16-bit depth, and the annotation JSONs.

Generation is deterministic for a seed (the same bytes whatever the number of workers: every
draw comes from a ``SeedSequence`` of (seed, split, chunk or sample) and every chunk is computed
single-threaded), parallel over processes, and resumable: the annotations are computed and
written first, then images are rendered in chunks whose files are each written atomically; a
rerun renders only the chunks with missing files, and refuses a root generated with other
parameters (``synth_config.json``).

This module is the parallel, resumable driver; the pieces are :mod:`cmr.data.synth_scene`
(sample geometry), :mod:`cmr.data.synth_render` with :mod:`cmr.data.synth_appearance`
(images), :mod:`cmr.data.synth_files` (writing) and :mod:`cmr.data.synth_settings`.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch
from tqdm import tqdm

from cmr.data.layout import FreiHANDLayout
from cmr.data.synth_appearance import sample_skin_tone
from cmr.data.synth_files import (
    RGB_JPEG_QUALITY, remove_partial_files, rgb_paths, sample_paths, write_annotations, write_depth, write_jpeg,
    write_mask,
)
from cmr.data.synth_render import compose_image, rasterize_chunk, render_context, version_rng
from cmr.data.synth_scene import CHUNK_SIZE, SceneParameters, chunk_rng, posed_hand, sample_chunk
from cmr.data.synth_settings import SPLITS, SynthSettings, check_config
from cmr.fileio import writable_folder
from cmr.mesh.ply import write_ply

@dataclass(frozen=True)
class ChunkTask:
    """One chunk to render: its parameters and which of its annotations need files."""

    settings: SynthSettings
    root: Path
    split: str
    chunk: int
    params: SceneParameters
    todo: np.ndarray  # (B,) bool


def _sample_task(args: tuple[SynthSettings, str, int, int]
                 ) -> tuple[SceneParameters, np.ndarray, np.ndarray | None]:
    """Parameters, (B, 21, 3) joints and, for evaluation, (B, 778, 3) vertices of one chunk
    (float32, metres; training meshes go to PLY files instead, not through memory)."""
    settings, split, chunk, count = args
    hand = render_context().hand
    params = sample_chunk(hand, settings.seed, split, chunk, count, settings.image_size)
    output = posed_hand(hand, params.pose, params.shape, params.trans)
    return params, output.joints.numpy(), output.vertices.numpy() if split == "evaluation" else None


def _render_task(task: ChunkTask) -> int:
    """Render and write the files of a chunk's unfinished annotations; returns RGB images written."""
    context, settings = render_context(), task.settings
    layout = FreiHANDLayout(task.root)
    vertices, pixels = rasterize_chunk(context, task.params, settings.image_size,
                                       chunk_rng(settings.seed, task.split, task.chunk, stream=2))
    tone_rng = chunk_rng(settings.seed, task.split, task.chunk, stream=1)
    tones = [sample_skin_tone(tone_rng) for _ in pixels]
    written = 0
    for b in np.flatnonzero(task.todo):
        index = task.chunk * CHUNK_SIZE + int(b)
        for version, path in enumerate(rgb_paths(layout, settings, task.split, index)):
            image = compose_image(version_rng(settings, task.split, index, version), context, tones[b], pixels[b])
            write_jpeg(path, image, RGB_JPEG_QUALITY)
            written += 1
        if task.split == "evaluation":
            write_mask(layout.evaluation_mask(index), pixels[b].mask)
            continue
        write_mask(layout.training_mask(index), pixels[b].mask)
        write_ply(layout.training_mesh(index), vertices[b], context.faces_np)
        write_depth(layout.training_depth(index), pixels[b].depth)
    return written


def _init_worker() -> None:
    """Run torch and OpenCV on one thread in this process (each pool worker, or the parent)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """Run torch and OpenCV on one thread (deterministic float results), then restore."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    _init_worker()
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)


@contextlib.contextmanager
def _mapper(workers: int) -> Iterator[Callable[[Callable, Iterable], Iterator]]:
    """An ordered ``map`` over ``workers`` processes (in this process when ``workers == 1``)."""
    with _single_threaded():
        if workers == 1:
            yield map
            return
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            yield functools.partial(pool.imap, chunksize=1)


def sample_split(run: Callable, settings: SynthSettings, split: str
                 ) -> tuple[list[SceneParameters], np.ndarray, np.ndarray | None]:
    """Every chunk's parameters, with (N, 21, 3) joints and, for evaluation, (N, 778, 3)
    vertices (float32, metres). Empty splits give ([], (0, 21, 3), None)."""
    results = list(run(_sample_task, [(settings, split, c, n) for c, n in settings.chunks(split)]))
    if not results:
        return [], np.zeros((0, 21, 3), np.float32), None
    vertices = np.concatenate([r[2] for r in results]) if split == "evaluation" else None
    return [r[0] for r in results], np.concatenate([r[1] for r in results]), vertices


def pending_tasks(layout: FreiHANDLayout, settings: SynthSettings, split: str,
                  chunk_params: list[SceneParameters]) -> list[ChunkTask]:
    """Chunks with at least one annotation missing a file."""
    tasks = []
    for (chunk, count), params in zip(settings.chunks(split), chunk_params):
        todo = np.array([not all(p.is_file() for p in sample_paths(layout, settings, split, chunk * CHUNK_SIZE + b))
                         for b in range(count)])
        if todo.any():
            tasks.append(ChunkTask(settings, layout.root, split, chunk, params, todo))
    return tasks


def generate(root: str | Path, num_training: int, num_evaluation: int, versions: int = 4, seed: int = 0,
             workers: int = 2, image_size: int = 224, progress: bool = True) -> dict:
    """Generate (or finish) a synthetic FreiHAND-layout dataset under ``root``.

    Args:
        num_training: training annotations N (N * versions training images).
        num_evaluation: evaluation images M.
        versions: appearances per training annotation (FreiHAND: 4).
        seed: everything is a deterministic function of (seed, the sizes, image_size).
        workers: rendering processes (the output does not depend on it).
        image_size: side of the square images, pixels (FreiHAND: 224).
        progress: show a tqdm bar (images/s).

    Returns:
        Summary: root, sizes, ``rendered_images`` (this run), ``skipped_images`` (already there),
        ``seconds`` and ``images_per_second`` (rendered RGB images over the whole run's wall time).

    Raises:
        ValueError: a size out of range, or ``root`` is not a writable folder (checked before
            any work; the message names it).
        cmr.data.synth_settings.SynthConfigError: ``root`` holds a dataset generated with other parameters.
    """
    if num_training < 0 or num_evaluation < 0 or versions < 1 or workers < 1 or image_size < 32:
        raise ValueError("need num_training, num_evaluation >= 0, versions >= 1, workers >= 1, image_size >= 32")
    settings = SynthSettings(int(seed), int(num_training), int(num_evaluation), int(versions), int(image_size))
    layout = FreiHANDLayout(Path(root))
    writable_folder(layout.root)
    check_config(layout.root, settings)
    remove_partial_files(layout)
    start = time.perf_counter()
    with _mapper(workers) as run:
        tasks = []
        for split in SPLITS:
            chunk_params, joints, vertices = sample_split(run, settings, split)
            params = SceneParameters.concatenate(chunk_params) if chunk_params else None
            if params is not None:
                write_annotations(layout, split, params, joints, vertices)
            tasks += pending_tasks(layout, settings, split, chunk_params)
        total = sum(int(t.todo.sum()) * settings.versions_of(t.split) for t in tasks)
        with tqdm(total=total, unit="img", disable=not progress, desc="synth", smoothing=0.1) as bar:
            for written in run(_render_task, tasks):
                bar.update(written)
    seconds = time.perf_counter() - start
    images = settings.num_training * settings.versions + settings.num_evaluation
    return {"root": str(layout.root), "training_annotations": settings.num_training,
            "training_images": settings.num_training * settings.versions,
            "evaluation_images": settings.num_evaluation, "rendered_images": total,
            "skipped_images": images - total, "seconds": round(seconds, 3),
            "images_per_second": round(total / seconds, 1) if seconds > 0 else 0.0}
