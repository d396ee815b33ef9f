"""Fréchet distance and diversity of motion feature sets (AIST++ / Bailando protocol).

Both sets are z-normalised with the real set's per-feature mean and standard deviation (so a
feature's units cancel); FID is the Fréchet distance between Gaussians fitted to the two sets;
diversity is the mean Euclidean distance over all pairs of samples of one set.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

STD_EPSILON = 1e-10
EIGEN_CUTOFF = 1e-12


def normalise_with_reference(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Z-normalise the reference set and every other set with the reference's statistics."""
    reference = np.asarray(reference, dtype=np.float64)
    mean, std = reference.mean(axis=0), reference.std(axis=0)
    return [(np.asarray(x, dtype=np.float64) - mean) / (std + STD_EPSILON) for x in (reference, *others)]


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """tr((S_a S_b)^(1/2)) as the sum of square roots of the eigenvalues of the symmetric PSD
    matrix S_a^(1/2) S_b S_a^(1/2) (same eigenvalues). Eigenvalues below EIGEN_CUTOFF of the
    largest are rounding noise of a rank-deficient covariance (fewer samples than features, the
    usual case here) and count as 0; their square roots would otherwise add ~1e-6 of bias."""
    root_a = _psd_sqrt(cov_a)
    values = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    values[values < EIGEN_CUTOFF * max(values.max(), 0.0)] = 0.0
    return float(np.sqrt(values).sum())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for (N, D) sample sets (N >= 2)."""
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Fréchet distance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    diff = a.mean(axis=0) - b.mean(axis=0)
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * _trace_sqrt_product(cov_a, cov_b)
    return float(distance)


def diversity(features: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows; NaN for fewer than 2 samples."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) < 2:
        return float("nan")
    return float(pdist(features).mean())


def fid_and_diversity(real: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """FID of generated vs real and the diversity of both, on features normalised by the real set."""
    real_n, generated_n = normalise_with_reference(real, generated)
    return {
        "fid": frechet_distance(generated_n, real_n),
        "diversity": diversity(generated_n),
        "diversity_real": diversity(real_n),
    }
