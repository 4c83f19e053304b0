"""The one inference path shared by evaluation and the demo.

1. :func:`prepare_image` turns an RGB image of any size and its intrinsics into the network
   input (a normalised square tensor) and the intrinsics of that input. The image is padded to
   a square (symmetrically, with black) and resized; ``K`` follows both steps exactly, so a
   camera-space point projects onto the same image content before and after.
2. :func:`predict` runs the model on a batch of prepared inputs, decodes the 2D outputs and
   places the root-relative mesh in camera space by the 2D-1D registration
   (:func:`cmr.registration.register`).
3. Left hands: :func:`predict_images` (with ``left=True``) mirrors each image (and its ``K``),
   predicts a right hand and mirrors the result back (:func:`mirror_prediction`); mirror the
   faces with :func:`mirror_faces`.

Conventions: pixel centres sit at integer coordinates (pixel row i, column j is centred at
u = j, v = i), as in :mod:`cmr.registration` and :mod:`cmr.render.camera`. Camera space is
OpenCV's (x right, y down, z forward), metres. Cropping, padding, resizing and mirroring only
change ``K`` (and the pixels), never the 3D camera frame, so the camera-space outputs are in
the camera of the original image; the affine map from original pixels to input pixels is
``K_input @ inv(K_original)`` (see :func:`input_from_original`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cmr.data.augment import normalise_image
from cmr.data.targets import MESH_SCALE
from cmr.registration import Registration, RegistrationConfig, heatmaps_to_uv, register

#: Fewest silhouette pixels (fraction of the input area) that count as a hand when the 2D
#: registration step found no confident joints (see :func:`hand_found`).
MIN_HAND_AREA_FRACTION = 0.002


# --------------------------------------------------------------------------------------------
# Intrinsics and image preparation


def intrinsics_from_fov(width: int, height: int, fov_deg: float) -> np.ndarray:
    """(3, 3) float64 intrinsics of a pinhole camera with horizontal field of view ``fov_deg``.

    The image spans u in [-0.5, width - 0.5], so ``fx = fy = width / (2 tan(fov / 2))`` and
    the principal point is the image centre ``((width - 1) / 2, (height - 1) / 2)``.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    focal = width / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    return np.array([[focal, 0.0, (width - 1) / 2.0],
                     [0.0, focal, (height - 1) / 2.0],
                     [0.0, 0.0, 1.0]])


def square_padding(width: int, height: int) -> tuple[int, int, int]:
    """(side, left, top): the square side and the offsets of the image inside it (pixels)."""
    side = max(width, height)
    return side, (side - width) // 2, (side - height) // 2


def resize_matrix(source_side: int, target_side: int) -> np.ndarray:
    """(3, 3) pixel map of resizing a square image: ``u' = (u + 0.5) * s - 0.5``, s = target/source."""
    scale = target_side / source_side
    offset = 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset], [0.0, scale, offset], [0.0, 0.0, 1.0]])


def prepare_image(image_rgb: np.ndarray, K: np.ndarray, input_size: int) -> tuple[Tensor, np.ndarray]:
    """Network input and its intrinsics from an RGB image of any size.

    The image is padded with black to a square (centred; the offset is added to the principal
    point), then resized to ``input_size`` (area averaging when shrinking, bilinear when
    enlarging) with ``K`` mapped by :func:`resize_matrix`. Nothing is cropped.

    image_rgb: (H, W, 3) uint8 RGB. K: (3, 3) intrinsics of ``image_rgb`` (pixels).
    Returns tensor: (3, S, S) float32, ``(x / 255 - 0.5) / 0.5``, and K_input: (3, 3) float64.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image_rgb.shape}")
    height, width = image_rgb.shape[:2]
    side, left, top = square_padding(width, height)
    square = cv2.copyMakeBorder(image_rgb, top, side - height - top, left, side - width - left,
                                cv2.BORDER_CONSTANT, value=(0, 0, 0))
    shift = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
    interpolation = cv2.INTER_AREA if side > input_size else cv2.INTER_LINEAR
    resized = cv2.resize(square, (input_size, input_size), interpolation=interpolation)
    K_input = resize_matrix(side, input_size) @ shift @ np.asarray(K, dtype=np.float64)
    return torch.from_numpy(normalise_image(resized)), K_input


def input_from_original(K_input: np.ndarray, K_original: np.ndarray) -> np.ndarray:
    """(3, 3) affine map from original-image pixels to input pixels (same camera frame)."""
    return np.asarray(K_input, dtype=np.float64) @ np.linalg.inv(np.asarray(K_original, dtype=np.float64))


# --------------------------------------------------------------------------------------------
# Mirroring (left hands)


def mirror_image(image: np.ndarray) -> np.ndarray:
    """Horizontal flip of an (H, W, ...) image: pixel column j goes to W - 1 - j."""
    return np.ascontiguousarray(image[:, ::-1])


def mirror_intrinsics(K: np.ndarray | Tensor, width: int) -> np.ndarray | Tensor:
    """Intrinsics of the mirrored image of the mirrored world (x -> -x).

    A point (x, y, z) projecting to u with K projects to ``u' = W - 1 - u`` (same v) with the
    returned K' when its x is negated: cx' = W - 1 - cx and the skew changes sign. Works on
    (3, 3) or batched (..., 3, 3) arrays or tensors; applying it twice gives back K.
    """
    mirrored = K.clone() if isinstance(K, Tensor) else np.array(K, dtype=np.float64)
    mirrored[..., 0, 1] = -mirrored[..., 0, 1]
    mirrored[..., 0, 2] = (width - 1) - mirrored[..., 0, 2]
    return mirrored


def mirror_points(points: Tensor) -> Tensor:
    """Mirror (..., 3) camera-space points through the x = 0 plane (negate x)."""
    return points * points.new_tensor([-1.0, 1.0, 1.0])


def mirror_faces(faces: np.ndarray) -> np.ndarray:
    """(F, 3) faces with reversed winding, outward again after mirroring the vertices."""
    return np.ascontiguousarray(np.asarray(faces)[:, ::-1])


# --------------------------------------------------------------------------------------------
# Prediction


@dataclass
class SamplePrediction:
    """One image's prediction as NumPy arrays (N vertices, S = input side).

    vertices, joints: (N, 3), (21, 3) metres, camera space. vertices_relative: (N, 3) metres,
    root-relative. uv: (21, 2) pixels in the input. confidence: (21,). mask: (S, S) silhouette
    probability in the input. K: (3, 3) intrinsics of the input. translation: (3,) metres.
    success: the 2D registration step ran. has_silhouette: the 1D step ran.
    """

    vertices: np.ndarray
    joints: np.ndarray
    vertices_relative: np.ndarray
    uv: np.ndarray
    confidence: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    translation: np.ndarray
    success: bool
    has_silhouette: bool


@dataclass
class Prediction:
    """Batched inference result (B images, N vertices, 21 joints in FreiHAND order, S input side).

    All tensors stay on the model's device; :meth:`sample` gives one image as NumPy arrays.

    vertices_relative: (B, N, 3) metres, root-relative mesh (network output * 0.2).
    joints_relative: (B, 21, 3) metres, ``joint_regressor @ vertices_relative``.
    heatmaps: (B, 21, S/2, S/2) joint heatmap probabilities (sigmoid of the logits).
    mask: (B, S, S) silhouette probabilities, bilinearly resized to the input size.
    uv: (B, 21, 2) pixels in the input (:func:`cmr.registration.heatmaps_to_uv`).
    confidence: (B, 21) heatmap maxima.
    K: (B, 3, 3) intrinsics of the input.
    registration: the :class:`cmr.registration.Registration` (translation (B, 3) metres,
        success (B,), camera-space vertices (B, N, 3) and joints (B, 21, 3), ...).
    """

    vertices_relative: Tensor
    joints_relative: Tensor
    heatmaps: Tensor
    mask: Tensor
    uv: Tensor
    confidence: Tensor
    K: Tensor
    registration: Registration

    @property
    def vertices(self) -> Tensor:
        """(B, N, 3) metres, camera-space mesh."""
        return self.registration.vertices

    @property
    def joints(self) -> Tensor:
        """(B, 21, 3) metres, camera-space joints."""
        return self.registration.joints

    def __len__(self) -> int:
        return self.vertices.shape[0]

    def sample(self, index: int) -> SamplePrediction:
        """Image ``index`` of the batch as NumPy arrays."""
        numpy = lambda tensor: tensor[index].detach().cpu().numpy()  # noqa: E731
        return SamplePrediction(
            vertices=numpy(self.vertices), joints=numpy(self.joints),
            vertices_relative=numpy(self.vertices_relative), uv=numpy(self.uv),
            confidence=numpy(self.confidence), mask=numpy(self.mask), K=numpy(self.K),
            translation=numpy(self.registration.translation),
            success=bool(self.registration.success[index]),
            has_silhouette=bool(self.registration.has_silhouette[index]),
        )


def registration_config(section) -> RegistrationConfig:
    """:class:`RegistrationConfig` from the config's ``REGISTRATION`` section."""
    return RegistrationConfig(z_min=float(section.Z_MIN), z_max=float(section.Z_MAX),
                              confidence_threshold=float(section.CONFIDENCE),
                              mask_threshold=float(section.MASK_THRESHOLD))


def predict(model: nn.Module, images: Tensor, K: Tensor | np.ndarray, template, reg_cfg) -> Prediction:
    """Run the model and register its meshes in camera space.

    model: a CMR model in eval mode. images: (B, 3, S, S) normalised inputs
    (:func:`prepare_image`). K: (B, 3, 3) intrinsics of the inputs (pixels).
    template: the model's :class:`cmr.mesh.template.Template` (its joint regressor is used).
    reg_cfg: the config's ``REGISTRATION`` section (``SILHOUETTE`` False skips the 1D step).
    Returns a :class:`Prediction` on the model's device, computed without gradients.
    """
    device = next(model.parameters()).device
    images = images.to(device=device, dtype=torch.float32)
    K = torch.as_tensor(K, dtype=torch.float32, device=device)
    size = images.shape[-1]
    regressor = torch.as_tensor(template.joint_regressor, dtype=torch.float32, device=device)
    with torch.no_grad():
        outputs = model(images)
        vertices = outputs["mesh"][0].float() * MESH_SCALE
        joints = torch.einsum("jn,bnc->bjc", regressor, vertices)
        heatmaps = outputs["heatmap_logits"].float().sigmoid()
        mask = F.interpolate(outputs["mask_logits"].float().sigmoid(), size=(size, size),
                             mode="bilinear", align_corners=False)[:, 0]
        uv, confidence = heatmaps_to_uv(heatmaps, size)
        silhouette = mask if reg_cfg.SILHOUETTE else None
        result = register(vertices, joints, uv, confidence, K, silhouette, registration_config(reg_cfg))
    return Prediction(vertices, joints, heatmaps, mask, uv, confidence, K, result)


def mirror_prediction(prediction: Prediction) -> Prediction:
    """The prediction for the mirrored input: 3D points through x = 0, 2D outputs flipped.

    Turns a right-hand prediction on a mirrored image (with mirrored K) into the left-hand
    prediction on the original image, in the original camera frame. Its own inverse.
    """
    size = prediction.mask.shape[-1]
    reg = prediction.registration
    registration = dataclasses.replace(
        reg, translation=mirror_points(reg.translation), translation_2d=mirror_points(reg.translation_2d),
        translation_1d=mirror_points(reg.translation_1d), vertices=mirror_points(reg.vertices),
        joints=mirror_points(reg.joints),
    )
    uv = prediction.uv.clone()
    uv[..., 0] = (size - 1) - uv[..., 0]
    return Prediction(
        vertices_relative=mirror_points(prediction.vertices_relative),
        joints_relative=mirror_points(prediction.joints_relative),
        heatmaps=prediction.heatmaps.flip(-1), mask=prediction.mask.flip(-1), uv=uv,
        confidence=prediction.confidence, K=mirror_intrinsics(prediction.K, size),
        registration=registration,
    )


def predict_images(model: nn.Module, images_rgb: list[np.ndarray], Ks: list[np.ndarray], template,
                   reg_cfg, input_size: int, left: bool = False) -> Prediction:
    """:func:`prepare_image` and :func:`predict` for a list of RGB images of any sizes.

    images_rgb: B arrays (H_i, W_i, 3) uint8. Ks: B (3, 3) intrinsics. left: the images show
    left hands; each is mirrored (with its K), predicted as a right hand and mirrored back,
    so the result is a left hand in the original camera (use :func:`mirror_faces`).
    Returns a :class:`Prediction` whose ``K`` maps the original camera to each input.
    """
    tensors, input_Ks = [], []
    for image, K in zip(images_rgb, Ks):
        if left:
            image, K = mirror_image(image), mirror_intrinsics(K, image.shape[1])
        tensor, K_input = prepare_image(image, K, input_size)
        tensors.append(tensor)
        input_Ks.append(K_input)
    prediction = predict(model, torch.stack(tensors), np.stack(input_Ks), template, reg_cfg)
    return mirror_prediction(prediction) if left else prediction


def hand_found(prediction: Prediction, mask_threshold: float) -> Tensor:
    """(B,) bool: the 2D registration step succeeded or the silhouette is not tiny.

    A hand counts as missing only when fewer than two joints are confident (the 2D step failed)
    and fewer than ``MIN_HAND_AREA_FRACTION`` of the input pixels exceed ``mask_threshold``.
    """
    area = (prediction.mask > mask_threshold).float().mean(dim=(1, 2))
    return prediction.registration.success | (area >= MIN_HAND_AREA_FRACTION)
