"""The add-on's rotation math in numpy: unit quaternions in (w, x, y, z) order like Blender and the
result file, rotation matrices, Euler angles. The server has the same math in torch
(lm2d.motion.rotation); tests/test_retarget.py checks the two agree."""
from __future__ import annotations

import numpy as np


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a⊗b over the last axis (broadcasting); its matrix is M(a)·M(b)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def inverse(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion (its conjugate)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def continuous_signs(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 (time) so neighbouring quaternions have a non-negative dot product:
    q and -q are the same rotation, but keys that jump between them interpolate the long way round."""
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0.0, -1.0, 1.0), axis=0)
    out = q.copy()
    out[1:] *= flips[..., None]
    return out


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions (last axis 4), t broadcast over the rest."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)  # the short way round
    dot = np.abs(dot)
    angle = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_angle = np.sin(angle)
    nearly_equal = sin_angle < 1e-6
    safe_sin = np.where(nearly_equal, 1.0, sin_angle)
    w0 = np.where(nearly_equal, 1.0 - t, np.sin((1.0 - t) * angle) / safe_sin)
    w1 = np.where(nearly_equal, t, np.sin(t * angle) / safe_sin)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def rotation_part(matrices: np.ndarray) -> np.ndarray:
    """The 3×3 rotation of (…, 4, 4) or (…, 3, 3) matrices, object scale divided out."""
    rotation = matrices[..., :3, :3]
    return rotation / np.linalg.norm(rotation, axis=-2, keepdims=True)


def nearest_rotation(matrices: np.ndarray) -> np.ndarray:
    """The rotation nearest each (…, 3, 3) matrix (Frobenius): U·diag(1, 1, det)·Vᵀ of its SVD."""
    u, _, vt = np.linalg.svd(matrices)
    fix = np.ones(matrices.shape[:-1])
    fix[..., -1] = np.sign(np.linalg.det(u @ vt))
    return (u * fix[..., None, :]) @ vt


def kabsch(from_vectors: np.ndarray, to_vectors: np.ndarray) -> np.ndarray:
    """The rotation R minimising Σ|R·from − to|² over (n, 3) vectors, n ≥ 2."""
    return nearest_rotation(to_vectors.T @ from_vectors)


def heading_alignment(from_vectors: np.ndarray, to_vectors: np.ndarray) -> np.ndarray:
    """The turn about world Z that best carries the (n, 3) vectors' floor-plane parts onto the others'."""
    a, b = from_vectors[:, :2], to_vectors[:, :2]
    angle = np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b))
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def skew(v: np.ndarray) -> np.ndarray:
    """(…, 3, 3) cross-product matrices: skew(a) @ b == a × b."""
    x, y, z = np.moveaxis(v, -1, 0)
    zero = np.zeros_like(x)
    return np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)


def shortest_arc(from_vectors: np.ndarray, to_vectors: np.ndarray) -> np.ndarray:
    """(…, 3, 3): the smallest rotation carrying each unit vector onto the other (Rodrigues); for
    opposite vectors, the half turn about an axis perpendicular to them."""
    a, b = np.broadcast_arrays(np.asarray(from_vectors, np.float64), np.asarray(to_vectors, np.float64))
    cos = np.sum(a * b, axis=-1)[..., None, None]
    k = skew(np.cross(a, b))
    rotation = np.eye(3) + k + k @ k / np.maximum(1.0 + cos, 1e-12)
    opposite = cos[..., 0, 0] < -1.0 + 1e-9
    if np.any(opposite):
        helper = np.eye(3)[np.argmin(np.abs(a[opposite]), axis=-1)]
        p = np.cross(a[opposite], helper)
        p /= np.linalg.norm(p, axis=-1, keepdims=True)
        rotation[opposite] = 2.0 * p[..., :, None] * p[..., None, :] - np.eye(3)
    return rotation


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(…, 4) quaternions (w, x, y, z), any length, to (…, 3, 3) rotations."""
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(…, 3, 3) rotations to (…, 4) unit quaternions (w, x, y, z), from the largest of the four
    candidate components (numerically safe everywhere)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = np.stack([
        np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 - m00 - m11 + m22], -1),
    ], -2)
    best = np.argmax(np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                               1 - m00 - m11 + m22], -1), axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """(…, 3) Euler angles (X, Y, Z values) in Blender's order 'XYZ' (X applied first) to rotations."""
    def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
        c, s = np.cos(angle), np.sin(angle)
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        out = np.zeros(angle.shape + (3, 3))
        out[..., axis, axis] = 1.0
        out[..., i, i], out[..., i, j], out[..., j, i], out[..., j, j] = c, -s, s, c
        return out

    matrix = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3))
    for letter in order:
        axis = "XYZ".index(letter)
        matrix = axis_rotation(axis, angles[..., axis]) @ matrix
    return matrix


def compose(location: np.ndarray, rotation: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T, 4, 4) matrices T·R·S from (T, 3), (T, 3, 3) and (T, 3)."""
    out = np.zeros(location.shape[:-1] + (4, 4))
    out[..., :3, :3] = rotation * scale[..., None, :]
    out[..., :3, 3] = location
    out[..., 3, 3] = 1.0
    return out
