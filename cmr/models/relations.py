"""Semantic (sub-pose) aggregation: extra "relation" maps that sum groups of joint heatmaps.

Joint indices are in FreiHAND order (:mod:`cmr.hand.conventions`).
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import nn

from cmr.hand.conventions import FREIHAND_DIGITS, NUM_KEYPOINTS

#: Tips of thumb, index, middle, ring and little finger (the last keypoint of each digit).
FINGERTIPS = tuple(keypoints[-1] for keypoints in FREIHAND_DIGITS.values())
#: The 10 fingertip pairs of CMR-SG and CMR-PG, in CMR's order.
FINGERTIP_PAIRS = tuple(combinations(FINGERTIPS, 2))
#: The 5 whole-finger chains that CMR-G adds after the pairs.
FINGER_CHAINS = tuple(FREIHAND_DIGITS.values())


class RelationMaps(nn.Module):
    """(B, J, h, w) joint maps -> (B, G, h, w), map g the sum of the joints of group g.

    Args:
        groups: G tuples of joint indices.
        num_joints: J.
    """

    def __init__(self, groups: tuple[tuple[int, ...], ...], num_joints: int = NUM_KEYPOINTS) -> None:
        super().__init__()
        membership = torch.zeros(len(groups), num_joints)
        for row, group in enumerate(groups):
            membership[row, list(group)] = 1.0
        self.register_buffer("membership", membership, persistent=False)

    @property
    def num_groups(self) -> int:
        return self.membership.shape[0]

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.einsum("gj,bjhw->bghw", self.membership.to(maps.dtype), maps)
