"""Training from several sources at once: labelled FreiHAND-layout sets and photo folders.

:func:`training_sources` builds the sources of a configuration: ``DATA.ROOT``'s training split
(its first ``DATA.LABELLED_COUNT`` annotations, all their image versions; share
``DATA.LABELLED_RATIO``) and every ``DATA.PHOTOS`` folder (share ``RATIOS[i]``). A
:class:`RatioSampler` draws each epoch's samples from them by these shares, without repeating a
source's sample before it has shown all of them, and splits them over the processes.

Samples of different sources carry different labels, so :func:`collate_mixed` stacks each key
over the samples that have it and records which rows of the batch these are in
``batch['rows'][key]`` (a (k,) int64 tensor); the losses then follow from the labels each sample
has (:mod:`cmr.models.mixed_losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler, Subset
from torch.utils.data import default_collate


@dataclass(frozen=True)
class Source:
    """One training source: its dataset, share of the samples and a name for logs."""

    name: str
    dataset: Dataset
    ratio: float


def training_sources(cfg, template) -> list[Source]:
    """The configured sources (see the module docstring); raises ValueError on a bad mix."""
    from cmr.config import resolve_path
    from cmr.data.freihand import dataset_from_config
    from cmr.data.photos import DetectedPhotos, find_hands
    from cmr.geometry.crop import CropJitter, CropPolicy

    photos = cfg.DATA.PHOTOS
    folders = list(photos.FOLDERS)
    for key in ("DETECTIONS", "DEPTH", "RATIOS", "SIDES"):
        if len(photos[key]) not in (0, len(folders)) or (key == "RATIOS" and len(photos[key]) != len(folders)):
            raise ValueError(f"DATA.PHOTOS.{key} has {len(photos[key])} entries for {len(folders)} DATA.PHOTOS.FOLDERS "
                             f"(give one per folder{'' if key == 'RATIOS' else ', or none'})")
    sources = []
    if cfg.DATA.LABELLED_RATIO > 0:
        labelled = dataset_from_config(cfg, "training", template, augment=True)
        sources.append(Source("labelled", labelled_subset(labelled, int(cfg.DATA.LABELLED_COUNT)),
                              float(cfg.DATA.LABELLED_RATIO)))
    jitter = CropJitter(float(cfg.DATA.ROTATION), float(cfg.DATA.SCALE_JITTER))
    for index, folder in enumerate(folders):
        detections = photos.DETECTIONS[index] if photos.DETECTIONS else ""
        depth = photos.DEPTH[index] if photos.DEPTH else ""
        hands = find_hands(resolve_path(folder), resolve_path(detections or folder),
                           resolve_path(depth) if depth else None, float(photos.MIN_SCORE), float(cfg.DEMO.FOV),
                           photos.SIDES[index] if photos.SIDES else "auto")
        dataset = DetectedPhotos(hands, CropPolicy.from_config(cfg.MODEL), jitter, bool(cfg.DATA.COLOR_AUG),
                                 float(cfg.LOSS.SELF.MIN_CONFIDENCE), int(cfg.TRAIN.SEED) + index + 1,
                                 _pseudo_labels(cfg, hands, folder), template)
        sources.append(Source(f"photos{index}", dataset, float(photos.RATIOS[index])))
    if not sources or any(source.ratio < 0 for source in sources) or sum(s.ratio for s in sources) <= 0:
        raise ValueError("no training source: DATA.LABELLED_RATIO and DATA.PHOTOS.RATIOS must be >= 0 with a "
                         "positive sum (DATA.LABELLED_RATIO 0 needs DATA.PHOTOS.FOLDERS)")
    return sources


def _pseudo_labels(cfg, hands: list, folder: str):
    """The folder's pseudo-labels when ``DATA.PHOTOS.PSEUDO_LABELS`` (else None), with a count printed."""
    if not cfg.DATA.PHOTOS.PSEUDO_LABELS or not hands:  # no hands: DetectedPhotos says so
        return None
    from cmr.data.photos import pseudo_labels_from_config

    pseudo = pseudo_labels_from_config(cfg, hands)
    print(f"{folder}: pseudo-labels for {int(pseudo.usable.sum())} of {len(hands)} hands "
          f"(fits within {cfg.DATA.PHOTOS.PSEUDO_MAX_ERROR} of the hand's extent)", flush=True)
    return pseudo


def labelled_subset(dataset, count: int) -> Dataset:
    """The samples of a FreiHAND-layout training set showing its first ``count`` annotations
    (every image version of each); the whole set when ``count`` is 0."""
    if count <= 0 or count >= dataset.num_annotations:
        return dataset
    indices = [version * dataset.num_annotations + a for version in range(dataset.num_versions) for a in range(count)]
    return Subset(dataset, indices)


def is_mixed(cfg) -> bool:
    """Whether the configuration trains from more than ``DATA.ROOT``'s whole training split."""
    return bool(cfg.DATA.PHOTOS.FOLDERS) or int(cfg.DATA.LABELLED_COUNT) > 0


class RatioSampler(Sampler):
    """Indices into ``ConcatDataset([s.dataset for s in sources])`` drawn by the sources' shares.

    Epoch ``e`` holds ``num_samples`` indices (rounded down to a multiple of ``world_size``), a
    share ``ratio_i / sum(ratios)`` of them from source i, each source walking through
    permutations of its samples (seeded by ``(seed, source, round)``), the whole epoch shuffled
    by ``(seed, epoch)``; process ``rank`` takes every ``world_size``-th index.
    """

    def __init__(self, sources: list[Source], num_samples: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.sizes = [len(source.dataset) for source in sources]
        ratios = np.array([source.ratio for source in sources], dtype=np.float64)
        self.counts = np.floor(ratios / ratios.sum() * num_samples + 1e-9).astype(int)
        self.counts[np.argmax(ratios)] += num_samples - self.counts.sum()
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0
        self.total = (num_samples // world_size) * world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _source_indices(self, source: int) -> np.ndarray:
        """This epoch's indices of one source, continuing its permutations from earlier epochs."""
        size, count = self.sizes[source], int(self.counts[source])
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        start = self.epoch * count
        first, last = start // size, (start + count - 1) // size
        walk = np.concatenate([np.random.default_rng([self.seed, source, r]).permutation(size)
                               for r in range(first, last + 1)])
        begin = start - first * size
        return walk[begin: begin + count] + self.offsets[source]

    def __iter__(self):
        indices = np.concatenate([self._source_indices(s) for s in range(len(self.sizes))])
        indices = np.random.default_rng([self.seed, self.epoch]).permutation(indices)[: self.total]
        return iter(indices[self.rank:: self.world_size].tolist())

    def __len__(self) -> int:
        return self.total // self.world_size


def concatenated(sources: list[Source]) -> ConcatDataset:
    """The sources' datasets as one (indices as :class:`RatioSampler` draws them)."""
    return ConcatDataset([source.dataset for source in sources])


def collate_mixed(samples: list[dict]) -> dict:
    """Stack every key over the samples holding it; ``batch['rows'][key]`` names their rows."""
    keys = sorted({key for sample in samples for key in sample})
    batch, rows = {}, {}
    for key in keys:
        holders = [row for row, sample in enumerate(samples) if key in sample]
        batch[key] = default_collate([samples[row][key] for row in holders])
        rows[key] = torch.tensor(holders, dtype=torch.long)
    batch["rows"] = rows
    return batch
