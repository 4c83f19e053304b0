"""The losses of a batch whose samples carry different labels (:mod:`cmr.data.mixing`).

Each term is the mean over the samples it applies to, and enters the total as
``weight * schedule * (samples it applies to / batch) * value``, so every sample counts once:

* samples with a mesh (FreiHAND-layout sets): CMR's terms (:func:`cmr.models.losses.weighted_terms`);
* samples with a pseudo-label (photo folders with ``DATA.PHOTOS.PSEUDO_LABELS``): CMR's mesh
  terms against it (``pseudo_*``), weighted by ``LOSS.SELF.PSEUDO``; with ``LOSS.SELF.PSEUDO_ALIGN``
  the predicted meshes are first mapped onto the pseudo-labels by the similarity that fits them
  best (:func:`mapped_onto`), so only articulation and shape are supervised;
* samples with detected keypoints (photo folders): S2HAND's terms and the mesh priors
  (:mod:`cmr.models.self_supervision`) and the silhouette consistency;
* samples with a depth map: the depth term; with the colour head, every sample: the photometric
  term (:mod:`cmr.models.render_losses`). Rendered samples are placed by their 2-D keypoints
  (detected, or the labelled ``uv``).

The self-supervised weights (``LOSS.SELF``) rise linearly over ``WARMUP_STEPS`` (the schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cmr.data.targets import MESH_SCALE
from cmr.geometry.camera import project_points
from cmr.geometry.rotations import rigid_alignment
from cmr.models import render_losses as render
from cmr.models import self_supervision as ssl
from cmr.models.losses import weighted_terms
from cmr.models.texture import light_from_vector


@dataclass
class Term:
    """One loss term: value (mean over its samples), base weight, schedule factor, sample share."""

    value: Tensor
    weight: float
    schedule: float = 1.0
    share: float = 1.0

    @property
    def contribution(self) -> Tensor:
        return self.weight * self.schedule * self.share * self.value


def select(outputs: dict, rows: Tensor) -> dict:
    """The output dict restricted to batch ``rows`` (lists element-wise)."""
    def pick(value):
        if isinstance(value, Tensor):
            return value.index_select(0, rows)
        if isinstance(value, list):
            return [pick(item) for item in value]
        return value

    return {key: pick(value) for key, value in outputs.items()}


def batch_rows(batch: dict, key: str, batch_size: int, device) -> Tensor | None:
    """Rows of the batch holding ``key`` (all of them without ``batch['rows']``; None if none)."""
    if key not in batch:
        return None
    rows = batch.get("rows")
    return rows[key].to(device) if rows is not None else torch.arange(batch_size, device=device)


def mapped_onto(outputs: dict, targets: dict) -> dict:
    """``outputs`` with every level of its mesh mapped onto ``targets['mesh']`` by the similarity
    (rotation, translation, scale) that best maps the finest predicted level onto the finest
    target, found without gradient: the mesh terms then compare articulation and shape, not the
    global rotation, position or size, and scaling a prediction changes nothing.

    outputs['mesh'], targets['mesh']: lists of (k, N_l, 3), finest first, in correspondence."""
    predicted, finest = outputs["mesh"][0], targets["mesh"][0]
    with torch.no_grad():
        rotation, _ = rigid_alignment(predicted, finest)
        predicted_centre, target_centre = predicted.mean(1, keepdim=True), finest.mean(1, keepdim=True)
        turned = (predicted - predicted_centre) @ rotation.transpose(1, 2)
        scale = (turned * (finest - target_centre)).sum((1, 2)) / turned.pow(2).sum((1, 2)).clamp_min(1e-12)
    mapped = [scale[:, None, None] * ((level - predicted_centre) @ rotation.transpose(1, 2)) + target_centre
              for level in outputs["mesh"]]
    return dict(outputs, mesh=mapped)


class MixedLoss:
    """Callable ``(outputs, batch, step) -> {name: Term}``; see the module docstring.

    Args:
        loss_cfg: the ``LOSS`` section. template: the model's template (priors' references).
        faces: (F, 3) int64 and regressor: (21, N) tensors on the training device.
        input_size: S.
    """

    def __init__(self, loss_cfg, template, faces: Tensor, regressor: Tensor, input_size: int) -> None:
        self.cfg, self.self_cfg = loss_cfg, loss_cfg.SELF
        self.faces, self.regressor, self.input_size = faces, regressor, int(input_size)
        self.bones, self.laplacian, self.laplacian_norms = (x.to(faces.device) for x in ssl.template_references(template))

    def schedule(self, step: int) -> float:
        warmup = int(self.self_cfg.WARMUP_STEPS)
        return 1.0 if warmup <= 0 else min(1.0, step / warmup)

    def __call__(self, outputs: dict, batch: dict, step: int) -> dict[str, Term]:
        size = outputs["mesh"][0].shape[0]
        device = outputs["mesh"][0].device
        terms: dict[str, Term] = {}
        labelled = batch_rows(batch, "mesh", size, device)
        if labelled is not None:
            targets = {key: batch[key] for key in ("mesh", "heatmaps", "mask", "xyz") if key in batch}
            terms.update(self._label_terms(outputs, labelled, targets, size))
        pseudo = batch_rows(batch, "pseudo_mesh", size, device)
        if pseudo is not None:
            targets = {"mesh": batch["pseudo_mesh"], "xyz": batch["pseudo_xyz"]}
            terms.update(self._label_terms(outputs, pseudo, targets, size, float(self.self_cfg.PSEUDO), "pseudo_",
                                           bool(self.self_cfg.PSEUDO_ALIGN)))
        photos = batch_rows(batch, "keypoints", size, device)
        if photos is not None:
            K = batch["K"].index_select(0, photos)
            terms.update(self._keypoint_terms(select(outputs, photos), batch, K, step, len(photos) / size))
        terms.update(self._render_terms(outputs, batch, step, size, device))
        if not terms:
            raise ValueError(f"no loss term has a target; the batch holds {sorted(batch)}")
        return terms

    def _label_terms(self, outputs: dict, rows: Tensor, targets: dict, size: int, scale: float = 1.0,
                     prefix: str = "", aligned: bool = False) -> dict[str, Term]:
        """CMR's terms of the batch ``rows`` against their ``targets``, weights times ``scale``;
        ``aligned``: on the predictions :func:`mapped_onto` the targets."""
        chosen = select(outputs, rows)
        chosen = mapped_onto(chosen, targets) if aligned else chosen
        return {prefix + name: Term(value, scale * float(weight), share=len(rows) / size)
                for name, (value, weight) in weighted_terms(chosen, targets, self.cfg, self.faces,
                                                            self.regressor).items()}

    def _self_term(self, name: str, values: Tensor, step: int, share: float) -> Term:
        return Term(values.mean(), float(self.self_cfg[name.upper()]), self.schedule(step), share)

    def _keypoint_terms(self, outputs: dict, batch: dict, K: Tensor, step: int, share: float) -> dict[str, Term]:
        """S2HAND's terms and the mesh priors of the samples with detected keypoints (``outputs``
        and K (k, 3, 3) of those rows only)."""
        keypoints, confidence = batch["keypoints"], self._confidence(batch)
        vertices, joints = self._metric_mesh(outputs)
        translation = render.keypoint_translation(joints, keypoints, confidence**2, K)
        projected = project_points(joints + translation[:, None], K)
        heatmaps = ssl.heatmap_keypoint_loss(outputs["heatmap_logits"], batch["keypoint_heatmaps"], confidence)
        for aux in outputs["aux_heatmap_logits"]:
            heatmaps = heatmaps + ssl.heatmap_keypoint_loss(aux, batch["keypoint_heatmaps"], confidence)
        values = {
            "keypoint_2d": ssl.keypoint_loss(projected, keypoints, confidence, self.input_size),
            "keypoint_heatmap": heatmaps,
            "consistency": ssl.consistency_loss(ssl.soft_argmax_uv(outputs["heatmap_logits"], self.input_size),
                                                projected, self.input_size),
            "bone_direction": ssl.bone_direction_loss(projected, keypoints, confidence),
            "bone_length": ssl.bone_length_prior(joints, self.bones),
            "smoothness": ssl.smoothness_prior(vertices, self.laplacian, self.laplacian_norms),
        }
        return {name: self._self_term(name, value, step, share) for name, value in values.items()}

    def _confidence(self, batch: dict) -> Tensor:
        confidence = batch["keypoint_confidence"]
        return confidence * (confidence >= float(self.self_cfg.MIN_CONFIDENCE))

    def _metric_mesh(self, outputs: dict) -> tuple[Tensor, Tensor]:
        vertices = outputs["mesh"][0] * MESH_SCALE
        return vertices, torch.einsum("jn,bnc->bjc", self.regressor.to(vertices), vertices)

    def _evidence(self, batch: dict, size: int, device) -> tuple[Tensor, Tensor]:
        """(B, 21, 2) keypoints and (B, 21) weights of every row: detected, else labelled ``uv``."""
        uv = torch.zeros(size, 21, 2, device=device)
        weight = torch.zeros(size, 21, device=device)
        for key, weights in (("uv", lambda: batch["uv_visible"]), ("keypoints", lambda: self._confidence(batch) ** 2)):
            rows = batch_rows(batch, key, size, device)
            if rows is not None:
                uv, weight = uv.index_copy(0, rows, batch[key].float()), weight.index_copy(0, rows, weights().float())
        return uv, weight

    def _render_terms(self, outputs: dict, batch: dict, step: int, size: int, device) -> dict[str, Term]:
        """Silhouette (photo rows), depth (rows with a depth map) and photometric (all, with colours)."""
        cfg = self.self_cfg
        wanted = {"silhouette": batch_rows(batch, "keypoints", size, device) if cfg.SILHOUETTE > 0 else None,
                  "depth": batch_rows(batch, "depth", size, device) if cfg.DEPTH > 0 else None,
                  "photometric": (torch.arange(size, device=device)
                                  if "albedo" in outputs and cfg.PHOTOMETRIC > 0 else None)}
        wanted = {name: rows for name, rows in wanted.items() if rows is not None}
        if not wanted:
            return {}
        rows = torch.unique(torch.cat(list(wanted.values())))
        uv, weight = (x.index_select(0, rows) for x in self._evidence(batch, size, device))
        picked = select(outputs, rows)
        vertices, joints = self._metric_mesh(picked)
        placed = render.place_meshes(vertices, joints, uv, weight, batch["K"].index_select(0, rows),
                                     self.input_size, int(cfg.RENDER_SIZE))
        colours = light = background = None
        if "photometric" in wanted:
            colours, light = picked["albedo"], light_from_vector(picked["light"])
            background = render.image_in_unit_range(batch["image"].index_select(0, rows), placed.size)
        images = render.render(placed, self.faces, colours, light, background)
        terms = {}
        for name, term_rows in wanted.items():
            at = torch.searchsorted(rows, term_rows)  # rows is sorted and holds every term row
            terms[name] = self._self_term(name, self._render_value(name, images, picked, batch, at, background),
                                          step, len(term_rows) / size)
        return terms

    def _render_value(self, name: str, images, picked: dict, batch: dict, at: Tensor, background) -> Tensor:
        sub = render.SoftImages(*(None if x is None else x.index_select(0, at)
                                  for x in (images.silhouette, images.depth, images.image)))
        if name == "silhouette":
            return render.silhouette_loss(sub, picked["mask_logits"].index_select(0, at))
        if name == "depth":
            return render.depth_loss(sub, batch["depth"], float(self.self_cfg.DEPTH_ROBUST_CM))
        return render.photometric_loss(sub, background.index_select(0, at))


def total_loss(terms: dict[str, Term]) -> Tensor:
    """The weighted sum of the terms."""
    return sum(term.contribution for term in terms.values())
