"""A model's prediction for a batch of inputs: decoded outputs placed in camera space.

:func:`predict` runs the model, decodes its outputs (:func:`cmr.models.outputs.decode_outputs`)
and registers the root-relative mesh in the camera of each input
(:func:`cmr.registration.register`); the network is a torch model or an exported graph in
onnxruntime (:class:`cmr.models.onnx_graph.OnnxNetwork`, decoding inside). :func:`mirror_prediction` turns the prediction for mirrored
inputs (left hands, predicted as right hands) into the prediction for the original ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from cmr.geometry.camera import mirror_intrinsics, mirror_points
from cmr.geometry.pixel_maps import mirror_map
from cmr.hand.conventions import hand_size
from cmr.models.onnx_graph import OnnxNetwork
from cmr.models.outputs import DecodedOutputs, decode_outputs
from cmr.registration import Registration, RegistrationConfig, register
from cmr.registration.evidence import choose_keypoints


@dataclass
class SamplePrediction:
    """One image's prediction as NumPy arrays (N vertices, S = input side).

    vertices, joints: (N, 3), (21, 3) metres, camera space. vertices_relative: (N, 3) metres,
    root-relative. uv: (21, 2) pixels in the input. confidence: (21,). mask: (S, S) silhouette
    probability in the input. K: (3, 3) intrinsics of the input. input_from_image: (3, 3) pixel
    map from the image the input was cut from to the input. translation: (3,) metres, and
    translation_2d: (3,) the 2D step's alone (before the silhouette step's fusion).
    success: the 2D registration step ran. has_silhouette: the 1D step ran.
    albedo: (N, 3) per-vertex colours in [0, 1] and light: (9,) the colour head's light
    (:func:`cmr.models.texture.light_from_vector`), with the colour head only; else None.
    """

    vertices: np.ndarray
    joints: np.ndarray
    vertices_relative: np.ndarray
    uv: np.ndarray
    confidence: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    input_from_image: np.ndarray
    translation: np.ndarray
    translation_2d: np.ndarray
    success: bool
    has_silhouette: bool
    albedo: np.ndarray | None = None
    light: np.ndarray | None = None


@dataclass
class Prediction:
    """Batched prediction (B inputs, N vertices, 21 joints in FreiHAND order, S input side).

    vertices_relative: (B, N, 3) and joints_relative: (B, 21, 3) metres, root-relative.
    heatmaps: (B, 21, S/2, S/2) and mask: (B, S, S) probabilities; uv: (B, 21, 2) input pixels;
    confidence: (B, 21); K: (B, 3, 3) intrinsics of the inputs; input_from_image: (B, 3, 3)
    pixel maps from the source images to the inputs (identity when the inputs are the images);
    registration: the camera-space placement (translation (B, 3) metres, vertices, joints, ...);
    images: (B, 3, S, S) the normalised inputs the network saw.
    albedo: (B, N, 3) per-vertex colours in [0, 1] and light: (B, 9) camera-space light
    (direction, diffuse, ambient; :func:`cmr.models.texture.light_from_vector`), from the colour
    head (``MODEL.TEXTURE``); None without it (and from an exported graph).
    Tensors stay on the model's device; :meth:`sample` gives one input as NumPy arrays.
    """

    vertices_relative: Tensor
    joints_relative: Tensor
    heatmaps: Tensor
    mask: Tensor
    uv: Tensor
    confidence: Tensor
    K: Tensor
    input_from_image: Tensor
    registration: Registration
    images: Tensor
    albedo: Tensor | None = None
    light: Tensor | None = None

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
        """Input ``index`` of the batch as NumPy arrays."""
        numpy = lambda tensor: None if tensor is None else tensor[index].detach().cpu().numpy()  # noqa: E731
        return SamplePrediction(
            vertices=numpy(self.vertices), joints=numpy(self.joints),
            vertices_relative=numpy(self.vertices_relative), uv=numpy(self.uv),
            confidence=numpy(self.confidence), mask=numpy(self.mask), K=numpy(self.K),
            input_from_image=numpy(self.input_from_image).astype(np.float64),
            translation=numpy(self.registration.translation),
            translation_2d=numpy(self.registration.translation_2d),
            success=bool(self.registration.success[index]),
            has_silhouette=bool(self.registration.has_silhouette[index]),
            albedo=numpy(self.albedo), light=numpy(self.light),
        )


def decoded_outputs(model: nn.Module | OnnxNetwork, images: Tensor, joint_regressor: Tensor) -> DecodedOutputs:
    """The network's decoded outputs for (B, 3, S, S) images on its device: a torch model's
    through :func:`decode_outputs` (joint_regressor: (21, N)), an :class:`OnnxNetwork`'s from its graph."""
    if isinstance(model, OnnxNetwork):
        return model(images)
    return decode_outputs(model(images), joint_regressor, images.shape[-1])


def scaled_to_size(decoded: DecodedOutputs, size: float) -> DecodedOutputs:
    """``decoded`` with its root-relative vertices and joints scaled about the root so that the
    hand's size (:func:`cmr.hand.conventions.hand_size`) is ``size`` metres; unchanged if size is 0."""
    if size <= 0:
        return decoded
    factor = size / hand_size(decoded.joints).clamp_min(1e-6)[:, None, None]
    return dataclasses.replace(decoded, vertices=decoded.vertices * factor, joints=decoded.joints * factor)


def predict(model: nn.Module | OnnxNetwork, images: Tensor, K, joint_regressor, config: RegistrationConfig,
            input_from_image=None, keypoints=None, keypoint_source: str = "network") -> Prediction:
    """Run the model and register its meshes in camera space (no gradients).

    model: a CMR model in eval mode, or an :class:`OnnxNetwork` (``DEMO.BACKEND: onnx``). images: (B, 3, S, S) normalised inputs. K: (B, 3, 3)
    intrinsics of the inputs (pixels). joint_regressor: (21, N) array or tensor (the model's
    template's). config: the registration settings. input_from_image: optional (B, 3, 3) maps
    from source images to the inputs (identity if None). keypoints: optional detector evidence,
    ((B, 21, 2) input pixels, (B, 21) confidences), used by the registration as
    ``keypoint_source`` says (:func:`cmr.registration.evidence.choose_keypoints`). With
    ``config.hand_size`` > 0 the root-relative mesh is first scaled to that size (:func:`scaled_to_size`).
    """
    device = model.device if isinstance(model, OnnxNetwork) else next(model.parameters()).device
    images = images.to(device=device, dtype=torch.float32)
    K = torch.as_tensor(K, dtype=torch.float32, device=device)
    if input_from_image is None:
        input_from_image = np.tile(np.eye(3), (len(images), 1, 1))
    maps = torch.as_tensor(np.asarray(input_from_image), dtype=torch.float64, device=device)
    regressor = torch.as_tensor(joint_regressor, dtype=torch.float32, device=device)
    detector_uv, detector_confidence = (None, None) if keypoints is None else (
        torch.as_tensor(np.asarray(part), dtype=torch.float32, device=device) for part in keypoints)
    with torch.no_grad():
        decoded = scaled_to_size(decoded_outputs(model, images, regressor), config.hand_size)
        uv, confidence = choose_keypoints(decoded.uv, decoded.confidence, detector_uv, detector_confidence,
                                          keypoint_source)
        result = register(decoded.vertices, decoded.joints, uv, confidence, K, decoded.mask, config)
    return Prediction(decoded.vertices, decoded.joints, decoded.heatmaps, decoded.mask, decoded.uv,
                      decoded.confidence, K, maps, result, images, decoded.albedo, decoded.light)


def mirror_prediction(prediction: Prediction, image_widths: list[int]) -> Prediction:
    """The prediction for the mirrored inputs of mirrored images: 3D points through x = 0, 2D
    outputs flipped, each input's map composed with the flip of its source image; per-vertex
    colours unchanged, the light's direction mirrored (:func:`mirror_light`).

    Turns a right-hand prediction on mirrored images (with mirrored K) into the left-hand
    prediction on the original images, in the original camera frame. image_widths: B source
    image widths (pixels).
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
    flips = torch.as_tensor(np.stack([mirror_map(width) for width in image_widths]),
                            dtype=torch.float64, device=uv.device)
    maps = torch.as_tensor(mirror_map(size), dtype=torch.float64, device=uv.device) @ prediction.input_from_image @ flips
    return Prediction(
        vertices_relative=mirror_points(prediction.vertices_relative),
        joints_relative=mirror_points(prediction.joints_relative),
        heatmaps=prediction.heatmaps.flip(-1), mask=prediction.mask.flip(-1), uv=uv,
        confidence=prediction.confidence, K=mirror_intrinsics(prediction.K, size),
        input_from_image=maps, registration=registration, images=prediction.images.flip(-1),
        albedo=prediction.albedo, light=mirror_light(prediction.light),
    )


def mirror_light(light: Tensor | None) -> Tensor | None:
    """(B, 9) colour-head light (direction first, :func:`cmr.models.texture.light_from_vector`)
    mirrored through x = 0: the direction's x negated, the colours kept (None stays None)."""
    if light is None:
        return None
    return torch.cat([mirror_points(light[..., :3]), light[..., 3:]], dim=-1)
