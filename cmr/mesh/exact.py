"""Fixed-order float arithmetic for the template build, identical on every machine.

The template build (decimation, sampling matrices) must give the same bits everywhere. BLAS
kernels, ``matmul``/``einsum``/``np.linalg.norm`` and multi-term reductions choose their own
summation order (SIMD width, blocking, numpy version), so two machines may round differently.
Every helper here is written out as element-wise products and sums in one fixed order, and
IEEE-754 rounds each element-wise ``+ - * / sqrt`` correctly, so the results are the same
bits on any CPU and with any numpy. Inputs broadcast; outputs are float64.
"""

from __future__ import annotations

import numpy as np


def dot3(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Dot product over the last axis of two (..., 3) arrays: x0*y0 + x1*y1 + x2*y2 -> (...)."""
    return x[..., 0] * y[..., 0] + x[..., 1] * y[..., 1] + x[..., 2] * y[..., 2]


def cross3(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross product of two (..., 3) arrays -> (..., 3)."""
    return np.stack(
        [
            x[..., 1] * y[..., 2] - x[..., 2] * y[..., 1],
            x[..., 2] * y[..., 0] - x[..., 0] * y[..., 2],
            x[..., 0] * y[..., 1] - x[..., 1] * y[..., 0],
        ],
        axis=-1,
    )


def combine3(weights: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Weighted sum of three points: w0*c0 + w1*c1 + w2*c2.

    Args:
        weights: (..., 3) weights of the corners.
        corners: (..., 3, D) the corners (D coordinates each).

    Returns:
        (..., D).
    """
    return (
        weights[..., 0, None] * corners[..., 0, :]
        + weights[..., 1, None] * corners[..., 1, :]
        + weights[..., 2, None] * corners[..., 2, :]
    )


def quadric_form(quadric: np.ndarray, point: np.ndarray) -> np.ndarray:
    """p^T Q p, summed row by row in index order.

    Args:
        quadric: (..., 4, 4) symmetric quadrics.
        point: (..., 4) homogeneous points [x, y, z, 1].

    Returns:
        (...) the quadratic forms.
    """
    total = np.zeros(np.broadcast_shapes(quadric.shape[:-2], point.shape[:-1]))
    for i in range(4):
        row = (
            quadric[..., i, 0] * point[..., 0]
            + quadric[..., i, 1] * point[..., 1]
            + quadric[..., i, 2] * point[..., 2]
            + quadric[..., i, 3] * point[..., 3]
        )
        total = total + point[..., i] * row
    return total


def sum_rows_in_order(values: np.ndarray, groups: np.ndarray, num_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` per group, each group's rows added in their order in ``values``.

    Args:
        values: (R, ...) float rows.
        groups: (R,) int group of each row, in [0, num_groups).
        num_groups: G.

    Returns:
        (G, ...) float64; group g is ((0 + v_a) + v_b) + ... over its rows a < b < ... (zero
        for an empty group).
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=num_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    total = np.zeros((num_groups,) + values.shape[1:], dtype=np.float64)
    for step in range(int(counts.max(initial=0))):
        members = np.flatnonzero(counts > step)
        total[members] = total[members] + values[order[starts[members] + step]]
    return total
