"""Face-pixel candidate pairs as dense per-face tiles (shared by both rasterisers).

Instead of testing every face against every pixel, each face is tested only against the pixel
centres of a small tile covering its screen-space bounding box. Faces are grouped by tile size
(sizes from a 1-1.5-2 ladder), and each group is evaluated as one dense (M, h, w) tensor by
broadcasting per-face coefficients against per-tile pixel rows and columns, so the hot loop is
made of elementwise operations only (no per-pair gathers, which are ~10x slower on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TileGroup:
    """Faces sharing one tile size.

    Attributes:
        members: (M,) int64 indices into the list of boxes given to :func:`tile_groups`.
        u_first, v_first: (M,) int64 pixel column / row of each tile's top-left pixel; tiles lie
            fully inside the image.
        width, height: tile size in pixels.
    """

    members: torch.Tensor
    u_first: torch.Tensor
    v_first: torch.Tensor
    width: int
    height: int

    def columns(self, dtype: torch.dtype) -> torch.Tensor:
        """(M, 1, width) pixel u of every tile column."""
        offsets = torch.arange(self.width, device=self.members.device)
        return (self.u_first[:, None] + offsets).to(dtype)[:, None, :]

    def rows(self, dtype: torch.dtype) -> torch.Tensor:
        """(M, height, 1) pixel v of every tile row."""
        offsets = torch.arange(self.height, device=self.members.device)
        return (self.v_first[:, None] + offsets).to(dtype)[:, :, None]


def pixel_boxes(uv: torch.Tensor, margin: float, height: int, width: int) -> torch.Tensor:
    """Inclusive pixel ranges covered by triangles' bounding boxes grown by ``margin``.

    Args:
        uv: (M, 3, 2) triangle corners in pixels (u, v); no gradient is needed.
        margin: pixels added on every side.
        height, width: image size; boxes are clipped to it.

    Returns:
        (M, 4) int64 [u_first, u_last, v_first, v_last]; empty boxes have last < first.
    """
    low = uv.amin(dim=1) - margin
    high = uv.amax(dim=1) + margin
    limits = uv.new_tensor([width, height])
    first = low.clamp(min=-1.0).minimum(limits).ceil().long().clamp(min=0)
    last = high.maximum(uv.new_tensor(-1.0)).minimum(limits - 1).floor().long()
    return torch.stack([first[:, 0], last[:, 0], first[:, 1], last[:, 1]], dim=1)


def _ladder(limit: int) -> list[int]:
    """Tile sizes 1, 2, 3, 4, 6, 8, 12, ... below ``limit``, then ``limit`` itself."""
    sizes, power = [1], 2
    while power < limit:
        sizes += [size for size in (power, power * 3 // 2) if size < limit]
        power *= 2
    return sorted(set(sizes)) + [limit]


def tile_groups(boxes: torch.Tensor, height: int, width: int) -> list[TileGroup]:
    """Group non-empty boxes by the smallest ladder tile that holds them.

    Args:
        boxes: (M, 4) int64 from :func:`pixel_boxes`.
        height, width: image size.

    Returns:
        One :class:`TileGroup` per tile size in use; empty boxes are left out.
    """
    box_width = boxes[:, 1] - boxes[:, 0] + 1
    box_height = boxes[:, 3] - boxes[:, 2] + 1
    present = ((box_width > 0) & (box_height > 0)).nonzero(as_tuple=True)[0]
    widths = torch.tensor(_ladder(width), device=boxes.device)
    heights = torch.tensor(_ladder(height), device=boxes.device)
    width_class = torch.searchsorted(widths, box_width[present])
    height_class = torch.searchsorted(heights, box_height[present])
    key = width_class * len(heights) + height_class
    key, order = key.sort()
    present = present[order]
    keys, counts = torch.unique_consecutive(key, return_counts=True)
    groups = []
    for group_key, members in zip(keys.tolist(), present.split(counts.tolist())):
        tile_width = int(widths[group_key // len(heights)])
        tile_height = int(heights[group_key % len(heights)])
        groups.append(TileGroup(members,
                                boxes[members, 0].clamp(max=width - tile_width),
                                boxes[members, 2].clamp(max=height - tile_height),
                                tile_width, tile_height))
    return groups
