"""Images of synthetic samples: rasterise a chunk's posed hands once, compose each version.

A chunk's hands and their forearms are posed and rasterised once (:func:`rasterize_chunk`); every
image version of an annotation then draws its own appearance (skin jitter and detail, light,
background, whether the forearm shows and its sleeve, occluder, camera effects) from
:func:`version_rng` (:func:`compose_image`). Units: metres
(OpenCV camera space), pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from cmr.data.synth_appearance import (
    FOREARM_PROBABILITY,
    OCCLUDER_PROBABILITY,
    arm_colours,
    draw_occluder,
    finish_image,
    sample_background,
    sample_light,
    shade,
    skin_albedo,
)
from cmr.data.synth_forearm import ARM_RINGS, forearm_vertices, tube_faces, wrist_ring
from cmr.data.synth_scene import SPLIT_IDS, SceneParameters, posed_hand
from cmr.data.synth_settings import SynthSettings
from cmr.data.synth_skin import PixelSkin, detailed_albedo, hand_anatomy, locate_pixels
from cmr.hand import HandModel
from cmr.render import Fragments, rasterize, vertex_normals
from cmr.render.hard import interpolate_covered


class RenderContext:
    """Per-process state: the hand model and its rest-frame geometry.

    Attributes:
        hand: the hand model; faces: (F, 3) int64 tensor and faces_np its array.
        rest_vertices, rest_normals: (778, 3) float64 rest positions (metres) and unit normals.
        anatomy: the rest-frame landmarks the skin details are drawn from.
        wrist_ring: (R,) the wrist opening's vertex ids; arm_faces: (F, 3) int64 tensor of a forearm.
    """

    def __init__(self) -> None:
        self.hand = HandModel()
        self.faces = self.hand.faces
        self.faces_np = self.faces.numpy()
        self.rest_vertices = self.hand.rest_vertices.double().numpy()
        self.rest_normals = vertex_normals(self.hand.rest_vertices[None], self.faces)[0].double().numpy()
        self.anatomy = hand_anatomy(self.hand.rest_joints.double().numpy(),
                                    self.rest_vertices[self.hand.tip_vertex_ids.numpy()],
                                    self.hand.skin_weights.double().numpy())
        self.wrist_ring = wrist_ring(self.faces_np, self.rest_vertices)
        self.arm_faces = torch.from_numpy(tube_faces(len(self.wrist_ring), ARM_RINGS + 1))


@functools.lru_cache(maxsize=1)
def render_context() -> RenderContext:
    """This process's :class:`RenderContext`, built on first use."""
    return RenderContext()


def version_rng(settings: SynthSettings, split: str, index: int, version: int) -> np.random.Generator:
    """Generator of one image's appearance."""
    return np.random.default_rng(np.random.SeedSequence([settings.seed, SPLIT_IDS[split], 1, index, version]))


@dataclass(frozen=True)
class ArmPixels:
    """The rasterised forearm of one annotation (:mod:`cmr.data.synth_forearm`).

    Attributes:
        mask: (H, W) bool; normals: (P, 3) unit camera-space normals at its pixels (row-major
        order), turned towards the camera; along: (P,) distance from the wrist along the arm, metres.
    """

    mask: np.ndarray
    normals: np.ndarray
    along: np.ndarray


@dataclass(frozen=True)
class HandPixels:
    """The rasterised hand of one annotation.

    Attributes:
        mask: (H, W) bool; depth: (H, W) metres, 0 on background.
        corners: (P, 3) vertex ids of the face at each hand pixel (row-major order);
        weights: (P, 3) perspective-correct barycentrics; normals: (P, 3) unit camera-space normals.
        skin: where each pixel lies on the template at rest (:func:`cmr.data.synth_skin.locate_pixels`).
        arm: the forearm behind the hand, None where it would point at the camera.
    """

    mask: np.ndarray
    depth: np.ndarray
    corners: np.ndarray
    weights: np.ndarray
    normals: np.ndarray
    skin: PixelSkin
    arm: ArmPixels | None


@dataclass(frozen=True)
class Surface:
    """Covered pixels of a rasterised batch (row-major, sample after sample): fragments, (B + 1,)
    first entry of each sample, (P, 3) unit normals turned towards the camera (two-sided
    lighting: the inside of an open end shades like skin, not as a black ring) and (P, C) any
    further interpolated attributes."""

    fragments: Fragments
    starts: np.ndarray
    normals: np.ndarray
    attributes: np.ndarray


def rasterize_surface(vertices: torch.Tensor, faces: torch.Tensor, K: np.ndarray, image_size: int,
                      attributes: torch.Tensor | None = None) -> Surface:
    """Rasterise (B, N, 3) camera-space meshes (metres) with (B, 3, 3) intrinsics and interpolate
    their normals (and (B, N, C) ``attributes``) at the covered pixels."""
    fragments = rasterize(vertices, faces, torch.from_numpy(K).to(vertices.dtype), (image_size, image_size))
    values = vertex_normals(vertices, faces)
    if attributes is not None:
        values = torch.cat([values, attributes.to(values.dtype)], dim=-1)
    covered, values = interpolate_covered(fragments, faces, values)
    covered, values = covered.numpy(), values.double().numpy()
    starts = np.searchsorted(covered, np.arange(len(K) + 1) * image_size**2)
    sample = np.repeat(np.arange(len(K)), np.diff(starts))
    pixel = covered % (image_size * image_size)
    rays = np.stack([(pixel % image_size - K[sample, 0, 2]) / K[sample, 0, 0],
                     (pixel // image_size - K[sample, 1, 2]) / K[sample, 1, 1], np.ones(len(pixel))], axis=1)
    normals = values[:, :3] / np.maximum(np.linalg.norm(values[:, :3], axis=1, keepdims=True), 1e-12)
    normals = np.where((np.einsum("pc,pc->p", normals, rays) > 0.0)[:, None], -normals, normals)
    return Surface(fragments, starts, normals, values[:, 3:])


def rasterize_arms(rng: np.random.Generator, context: RenderContext, vertices: np.ndarray,
                    rotations: np.ndarray, K: np.ndarray, image_size: int) -> list[ArmPixels | None]:
    """One forearm per posed hand of a chunk (None where left out): (B, 778, 3) camera-space
    vertices (metres), (B, 3, 3) global rotations (rest frame to camera), (B, 3, 3) intrinsics."""
    arms = [forearm_vertices(rng, vertices[b, context.wrist_ring], rotations[b]) for b in range(len(K))]
    kept = [b for b, arm in enumerate(arms) if arm is not None]
    pixels: list[ArmPixels | None] = [None] * len(K)
    if not kept:
        return pixels
    surface = rasterize_surface(torch.tensor(np.stack([arms[b][0] for b in kept]), dtype=torch.float32),
                                context.arm_faces, K[kept], image_size,
                                torch.tensor(np.stack([arms[b][1] for b in kept]))[..., None])
    for slot, b in enumerate(kept):
        chosen = slice(surface.starts[slot], surface.starts[slot + 1])
        pixels[b] = ArmPixels(surface.fragments.face_index[slot].numpy() >= 0, surface.normals[chosen],
                              surface.attributes[chosen, 0])
    return pixels


def rasterize_chunk(context: RenderContext, params: SceneParameters, image_size: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, list[HandPixels]]:
    """Pose and rasterise a chunk's hands and forearms (geometry drawn from ``rng``) once for all
    its versions; returns (B, 778, 3) vertices and pixels."""
    output = posed_hand(context.hand, params.pose, params.shape, params.trans)
    vertices = output.vertices
    surface = rasterize_surface(vertices, context.faces, params.K, image_size)
    face_index = surface.fragments.face_index.numpy()
    barycentrics, depth = surface.fragments.barycentrics.double().numpy(), surface.fragments.depth.double().numpy()
    rotations = Rotation.from_rotvec(params.pose[:, 0].astype(np.float64)).as_matrix()
    arms = rasterize_arms(rng, context, vertices.numpy(), rotations, params.K, image_size)
    pixels = []
    for b in range(len(params.pose)):
        mask = face_index[b] >= 0
        corners, weights = context.faces_np[face_index[b][mask]], barycentrics[b][mask]
        skin = locate_pixels(context.anatomy, context.rest_vertices, context.rest_normals, corners, weights)
        pixels.append(HandPixels(mask, depth[b], corners, weights, surface.normals[surface.starts[b]:surface.starts[b + 1]],
                                 skin, arms[b]))
    return vertices.numpy(), pixels


def compose_image(rng: np.random.Generator, context: RenderContext, tone: np.ndarray, hand: HandPixels
                  ) -> np.ndarray:
    """One (H, W, 3) uint8 RGB version of a rasterised hand: skin, light, scene, camera effects."""
    tone = np.clip(tone * (1.0 + rng.normal(0.0, 0.03, 3)), 0.0, 1.0).astype(np.float32)
    albedo = skin_albedo(rng, tone, context.rest_vertices, context.rest_normals)
    pixel_albedo = np.einsum("pkc,pk->pc", albedo[hand.corners], hand.weights)
    pixel_albedo, gloss = detailed_albedo(rng, context.anatomy, hand.skin, pixel_albedo)
    light = sample_light(rng)
    image = sample_background(rng, hand.mask.shape[0])
    colours = shade(pixel_albedo, hand.normals, light, gloss)
    if rng.random() < FOREARM_PROBABILITY and hand.arm is not None and len(colours):
        image[hand.arm.mask] = arm_colours(rng, hand.arm.normals, hand.arm.along, pixel_albedo.mean(axis=0), light)
    image[hand.mask] = colours
    if rng.random() < OCCLUDER_PROBABILITY:
        draw_occluder(rng, image, hand.mask)
    return finish_image(rng, image)
