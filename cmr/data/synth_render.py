"""Images of synthetic samples: rasterise a chunk's posed hands once, compose each version.

A chunk's hands are posed and rasterised once (:func:`rasterize_chunk`); every image version
of an annotation then draws its own appearance (skin jitter, light, background, forearm,
occluder, camera effects) from :func:`version_rng` (:func:`compose_image`). Units: metres
(OpenCV camera space), pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from cmr.data.synth_appearance import (
    FOREARM_PROBABILITY, OCCLUDER_PROBABILITY, draw_forearm, draw_occluder, finish_image, sample_background,
    sample_light, shade, skin_albedo,
)
from cmr.data.synth_scene import SPLIT_IDS, SceneParameters, posed_hand
from cmr.data.synth_settings import SynthSettings
from cmr.hand import HandModel
from cmr.render import rasterize, vertex_normals
from cmr.render.hard import interpolate_covered


class RenderContext:
    """Per-process state: the hand model and its rest-frame geometry.

    Attributes:
        hand: the hand model; faces: (F, 3) int64 tensor and faces_np its array.
        rest_vertices, rest_normals: (778, 3) float64 rest positions (metres) and unit normals.
    """

    def __init__(self) -> None:
        self.hand = HandModel()
        self.faces = self.hand.faces
        self.faces_np = self.faces.numpy()
        self.rest_vertices = self.hand.rest_vertices.double().numpy()
        self.rest_normals = vertex_normals(self.hand.rest_vertices[None], self.faces)[0].double().numpy()


@functools.lru_cache(maxsize=1)
def render_context() -> RenderContext:
    """This process's :class:`RenderContext`, built on first use."""
    return RenderContext()


def version_rng(settings: SynthSettings, split: str, index: int, version: int) -> np.random.Generator:
    """Generator of one image's appearance."""
    return np.random.default_rng(np.random.SeedSequence([settings.seed, SPLIT_IDS[split], 1, index, version]))


@dataclass(frozen=True)
class HandPixels:
    """The rasterised hand of one annotation.

    Attributes:
        mask: (H, W) bool; depth: (H, W) metres, 0 on background.
        corners: (P, 3) vertex ids of the face at each hand pixel (row-major order);
        weights: (P, 3) perspective-correct barycentrics; normals: (P, 3) unit camera-space normals.
        wrist: (3,) wrist keypoint, metres; rotation: (3, 3) global rotation; K: (3, 3).
    """

    mask: np.ndarray
    depth: np.ndarray
    corners: np.ndarray
    weights: np.ndarray
    normals: np.ndarray
    wrist: np.ndarray
    rotation: np.ndarray
    K: np.ndarray


def _facing_camera(normals: np.ndarray, covered: np.ndarray, starts: np.ndarray, K: np.ndarray,
                   image_size: int) -> np.ndarray:
    """Flip the (P, 3) pixel normals that face away from the camera (two-sided lighting).

    Such pixels show the inside of the open wrist; flipped, they shade like skin instead of
    a black ring. ``covered`` holds the flat pixel indices b * H * W + v * W + u and
    ``starts`` (B + 1,) the first entry of each sample.
    """
    sample = np.repeat(np.arange(len(K)), np.diff(starts))
    pixel = covered % (image_size * image_size)
    rays = np.stack([(pixel % image_size - K[sample, 0, 2]) / K[sample, 0, 0],
                     (pixel // image_size - K[sample, 1, 2]) / K[sample, 1, 1], np.ones(len(pixel))], axis=1)
    away = np.einsum("pc,pc->p", normals, rays) > 0.0
    return np.where(away[:, None], -normals, normals)


def rasterize_chunk(context: RenderContext, params: SceneParameters, image_size: int
                    ) -> tuple[np.ndarray, list[HandPixels]]:
    """Pose and rasterise a chunk once for all its versions; returns (B, 778, 3) vertices and pixels."""
    output = posed_hand(context.hand, params.pose, params.shape, params.trans)
    vertices = output.vertices
    fragments = rasterize(vertices, context.faces, torch.from_numpy(params.K).float(), (image_size, image_size))
    covered, normals = interpolate_covered(fragments, context.faces, vertex_normals(vertices, context.faces))
    starts = np.searchsorted(covered.numpy(), np.arange(len(params.pose) + 1) * image_size**2)
    normals = _facing_camera(torch.nn.functional.normalize(normals, dim=-1).double().numpy(),
                             covered.numpy(), starts, params.K, image_size)
    face_index, barycentrics = fragments.face_index.numpy(), fragments.barycentrics.double().numpy()
    depth, joints = fragments.depth.double().numpy(), output.joints.double().numpy()
    rotations = Rotation.from_rotvec(params.pose[:, 0].astype(np.float64)).as_matrix()
    pixels = []
    for b in range(len(params.pose)):
        mask = face_index[b] >= 0
        pixels.append(HandPixels(mask, depth[b], context.faces_np[face_index[b][mask]], barycentrics[b][mask],
                                 normals[starts[b]:starts[b + 1]], joints[b, 0], rotations[b], params.K[b]))
    return vertices.numpy(), pixels


def compose_image(rng: np.random.Generator, context: RenderContext, tone: np.ndarray, hand: HandPixels
                  ) -> np.ndarray:
    """One (H, W, 3) uint8 RGB version of a rasterised hand: skin, light, scene, camera effects."""
    tone = np.clip(tone * (1.0 + rng.normal(0.0, 0.03, 3)), 0.0, 1.0).astype(np.float32)
    albedo = skin_albedo(rng, tone, context.rest_vertices, context.rest_normals)
    pixel_albedo = np.einsum("pkc,pk->pc", albedo[hand.corners], hand.weights)
    light = sample_light(rng)
    image = sample_background(rng, hand.mask.shape[0])
    colours = shade(pixel_albedo, hand.normals, light)
    if rng.random() < FOREARM_PROBABILITY and len(colours):
        draw_forearm(rng, image, hand.wrist, hand.rotation, hand.K, np.median(colours, axis=0))
    image[hand.mask] = colours
    if rng.random() < OCCLUDER_PROBABILITY:
        draw_occluder(rng, image, hand.mask)
    return finish_image(rng, image)
