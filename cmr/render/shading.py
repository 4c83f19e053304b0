"""Vertex normals and Lambert shading under one directional light."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cmr.mesh.topology import face_normals


@dataclass
class DirectionalLight:
    """A directional light plus ambient term, in camera space.

    Attributes:
        direction: (3,) or (B, 3) vector pointing from the surface towards the light (any
            length; normalised when shading). The default, (0, 0, -1), shines from the camera.
        colour: (3,) or (B, 3) diffuse light colour, linear RGB.
        ambient: (3,) or (B, 3) ambient light colour, linear RGB.
    All three may require gradients.
    """

    direction: torch.Tensor
    colour: torch.Tensor
    ambient: torch.Tensor

    @classmethod
    def default(cls, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> "DirectionalLight":
        """Light from the camera: diffuse 0.7 and ambient 0.3 (white)."""
        make = lambda values: torch.tensor(values, dtype=dtype, device=device)  # noqa: E731
        return cls(make([0.0, 0.0, -1.0]), make([0.7, 0.7, 0.7]), make([0.3, 0.3, 0.3]))

    def per_sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3) unit direction, (B, 3) colour and (B, 3) ambient."""
        direction = torch.nn.functional.normalize(self.direction, dim=-1)
        return tuple(x.expand(batch, 3) for x in (direction, self.colour, self.ambient))


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (right-hand rule: outwards for counter-clockwise faces).

    Args:
        vertices: (B, N, 3) metres.
        faces: (F, 3) int64.

    Returns:
        (B, N, 3) unit normals (zero for vertices in no face). Differentiable.
    """
    weighted = face_normals(vertices, faces, unit=False)  # (B, F, 3), length = 2 * area
    summed = torch.zeros_like(vertices)
    for corner in range(3):
        summed = summed.index_add(1, faces[:, corner], weighted)
    return torch.nn.functional.normalize(summed, dim=-1)


def lambert(albedo: torch.Tensor, normals: torch.Tensor, direction: torch.Tensor,
            colour: torch.Tensor, ambient: torch.Tensor) -> torch.Tensor:
    """albedo * (ambient + colour * max(0, n . l)).

    Args:
        albedo: (..., 3) in [0, 1].
        normals: (..., 3), normalised here.
        direction, colour, ambient: (..., 3) light terms broadcastable to ``albedo``;
            ``direction`` is a unit vector towards the light.

    Returns:
        (..., 3) shaded colour.
    """
    normals = torch.nn.functional.normalize(normals, dim=-1)
    cosine = (normals * direction).sum(dim=-1, keepdim=True).clamp(min=0.0)
    return albedo * (ambient + colour * cosine)
