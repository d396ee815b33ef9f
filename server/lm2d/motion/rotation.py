"""Rotation conversions in torch, batched over any leading dimensions, float32 or float64.

Conventions: rotation matrices act on column vectors; quaternions are (w, x, y, z); axis-angle
is the rotation vector (axis times angle in radians); the 6D form is the first two *columns*
of the matrix, r00 r10 r20 r01 r11 r21 (docs/ARCHITECTURE.md); Euler orders name intrinsic
axes left to right, so "ZXY" means R = Rz(a0) @ Rx(a1) @ Ry(a2) (the BVH channel convention).
"""
from __future__ import annotations

import numpy as np
import torch
from smplx.lbs import batch_rodrigues

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


def as_tensor(x, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A tensor view of numpy or torch input; float64 numpy stays float64 unless dtype is given."""
    t = torch.as_tensor(x)
    if dtype is not None:
        return t.to(dtype)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def to_numpy(x: torch.Tensor, dtype=np.float32) -> np.ndarray:
    """A detached CPU numpy copy of a tensor."""
    return x.detach().cpu().numpy().astype(dtype, copy=False)


# --- axis-angle ---------------------------------------------------------------------------

def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) matrices (smplx's Rodrigues, which adds 1e-8
    inside the norm to stay finite at 0: exact to ~1e-8, below float32 resolution)."""
    flat = axis_angle.reshape(-1, 3)
    return batch_rodrigues(flat).reshape(*axis_angle.shape[:-1], 3, 3)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) rotation vectors with angle in [0, pi]; stable near 0 and pi
    because it goes through the (well-conditioned) quaternion."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)
    half = 0.5 * angle
    small = angle < 1e-4
    # sin(angle/2)/angle, with its Taylor series where the division is ill-conditioned.
    safe_angle = torch.where(small, torch.ones_like(angle), angle)
    sin_half_over_angle = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe_angle)
    return torch.cat([torch.cos(half), axis_angle * sin_half_over_angle], dim=-1)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) (w, x, y, z), any sign or norm -> (..., 3) rotation vectors, angle in [0, pi]."""
    q = standardize_quaternion(quaternion)
    xyz = q[..., 1:]
    sin_half = torch.linalg.norm(xyz, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    small = sin_half < 1e-6
    # angle / sin(angle/2) -> 2 + angle^2/12 as the angle goes to 0.
    safe_sin = torch.where(small, torch.ones_like(sin_half), sin_half)
    scale = torch.where(small, 2.0 + angle * angle / 12.0, angle / safe_sin)
    return xyz * scale


# --- quaternions --------------------------------------------------------------------------

def standardize_quaternion(quaternion: torch.Tensor) -> torch.Tensor:
    """Unit quaternions with w >= 0 (one of the two signs that describe each rotation)."""
    q = quaternion / torch.linalg.norm(quaternion, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) (w, x, y, z), normalised here -> (..., 3, 3)."""
    q = quaternion / torch.linalg.norm(quaternion, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    matrix = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1)
    return matrix.reshape(*q.shape[:-1], 3, 3)


# Indices into [4w², 4x², 4y², 4z², d21, d02, d10, s01, s02, s12] of each candidate's (w, x, y, z).
_CANDIDATES = torch.tensor([[0, 4, 5, 6], [4, 1, 7, 8], [5, 7, 2, 9], [6, 8, 9, 3]])


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternions with w >= 0.

    Each of the four components can be recovered from the diagonal; the others follow from
    off-diagonal sums divided by it. Dividing by the largest one keeps every rotation
    (including half turns, where w -> 0) well-conditioned.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    four_sq = torch.stack([          # 4 w^2, 4 x^2, 4 y^2, 4 z^2
        1 + m00 + m11 + m22,
        1 + m00 - m11 - m22,
        1 - m00 + m11 - m22,
        1 - m00 - m11 + m22,
    ], dim=-1)
    # Candidate quaternions scaled by 4*(chosen component); candidate k is exact when component k
    # is largest. Each candidate is four of these ten values (_CANDIDATES), picked by one gather.
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    values = torch.cat([four_sq, torch.stack([d21, d02, d10, s01, s02, s12], dim=-1)], dim=-1)
    best = four_sq.argmax(dim=-1)
    chosen = torch.gather(values, -1, _CANDIDATES.to(best.device)[best])
    return standardize_quaternion(chosen)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of (..., 4) quaternions (rotation b first, then a)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def quaternion_make_continuous(quaternion: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Flip signs along `dim` (time) so consecutive quaternions have a non-negative dot
    product: interpolating keys then never takes the long way round."""
    q = quaternion.movedim(dim, 0)
    dots = (q[1:] * q[:-1]).sum(dim=-1, keepdim=True)
    # The sign of frame t is the product of every flip up to t.
    flips = torch.where(dots < 0, -1.0, 1.0).to(q.dtype)
    # The first frame keeps its sign (q[:1], not flips[:1], which is empty for a single frame).
    signs = torch.cat([torch.ones_like(q[:1, ..., :1]), torch.cumprod(flips, dim=0)], dim=0)
    return (q * signs).movedim(0, dim)


def slerp(q0: torch.Tensor, q1: torch.Tensor, t) -> torch.Tensor:
    """Spherical linear interpolation of unit quaternions (..., 4) along the shorter arc;
    t broadcasts against the leading dimensions (a tensor of shape (...,) or a float)."""
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    if t.dim():
        t = t[..., None]
    dot = (q0 * q1).sum(dim=-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-6     # nearly identical: linear interpolation is exact to rounding
    safe_sin = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(near, 1.0 - t, torch.sin((1.0 - t) * theta) / safe_sin)
    w1 = torch.where(near, t, torch.sin(t * theta) / safe_sin)
    out = w0 * q0 + w1 * q1
    return out / torch.linalg.norm(out, dim=-1, keepdim=True)


# --- 6D -----------------------------------------------------------------------------------

def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first column then second column."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def rotation_6d_to_matrix(rotation_6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (any 6 numbers with independent halves give a rotation)."""
    a1, a2 = rotation_6d[..., :3], rotation_6d[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


# --- Euler angles -------------------------------------------------------------------------

def _euler_axes(order: str) -> tuple[int, int, int, float]:
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    i, j, k = (_AXIS_INDEX[a] for a in order)
    parity = 1.0 if (j - i) % 3 == 1 else -1.0     # +1 for the cyclic orders XYZ, YZX, ZXY
    return i, j, k, parity


def _axis_rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == 1:
        rows = (c, zero, s, zero, one, zero, -s, zero, c)
    else:
        rows = (c, -s, zero, s, c, zero, zero, zero, one)
    return torch.stack(rows, dim=-1).reshape(*angle.shape, 3, 3)


def euler_to_matrix(angles: torch.Tensor, order: str) -> torch.Tensor:
    """(..., 3) radians, one per letter of `order` -> (..., 3, 3) = R_order[0] @ R_order[1] @ R_order[2]."""
    i, j, k, _ = _euler_axes(order)
    a, b, c = angles.unbind(-1)
    return _axis_rotation(i, a) @ _axis_rotation(j, b) @ _axis_rotation(k, c)


def matrix_to_euler(matrix: torch.Tensor, order: str) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) radians in `order` (see euler_to_matrix); the middle angle is in
    [-pi/2, pi/2].

    Only the first angle is read off the matrix; the other two come from the residual
    R_first(a)^T @ R = R_middle(b) @ R_last(c). Near gimbal lock (b -> +-90 degrees) the split
    between a and c is ill-conditioned, but computing c from the residual keeps a + c (or
    a - c), and so the rotation, exact whatever a turned out to be.
    """
    i, j, k, parity = _euler_axes(order)
    a = torch.atan2(-parity * matrix[..., j, k], matrix[..., k, k])
    residual = _axis_rotation(i, a).transpose(-1, -2) @ matrix
    b = torch.atan2(parity * residual[..., i, k], residual[..., k, k])
    c = torch.atan2(parity * residual[..., j, i], residual[..., j, j])
    return torch.stack([a, b, c], dim=-1)
