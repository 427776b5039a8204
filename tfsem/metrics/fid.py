"""Frechet Inception Distance and Kernel Inception Distance on feature arrays.

FID (Heusel et al. 2017): ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
Tr((S1 S2)^(1/2)) is computed as Tr((S1^(1/2) S2 S1^(1/2))^(1/2)): the inner
matrix is symmetric positive semi-definite, so both roots come from symmetric
eigendecompositions (no complex parts, no ill-conditioned general sqrtm); tiny
negative eigenvalues from round-off are clipped to 0. Computed in float64.

KID (Binkowski et al. 2018): the unbiased MMD^2 estimator with the polynomial
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets (the
reference's 100 subsets of 1000), reported with its standard deviation.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

__all__ = ["feature_statistics", "frechet_distance", "fid_from_features",
           "kernel_inception_distance", "polynomial_mmd_unbiased"]


def feature_statistics(features) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, rows are samples) of [N, D] features."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape [N >= 2, D], got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """FID between two Gaussians (see module doc for the stable square root)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {mu1.shape}/{sigma1.shape} vs "
                         f"{mu2.shape}/{sigma2.shape}")
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    values = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = float(np.sqrt(np.clip(values, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid_from_features(features1, features2) -> float:
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def polynomial_mmd_unbiased(x, y, degree: int = 3) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^degree (diagonal terms excluded)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"KID needs >= 2 samples per set, got {m} and {n}")
    kxx = (x @ x.T / d + 1.0) ** degree
    kyy = (y @ y.T / d + 1.0) ** degree
    kxy = (x @ y.T / d + 1.0) ** degree
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def kernel_inception_distance(features1, features2, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> Dict[str, float]:
    """KID mean and std over random subsets (size capped by the smaller set)."""
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(subset_size, f1.shape[0], f2.shape[0])
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd_unbiased(f1[rng.choice(f1.shape[0], size, replace=False)],
                                      f2[rng.choice(f2.shape[0], size, replace=False)])
              for _ in range(num_subsets)]
    return {"kid": float(np.mean(values)), "kid_std": float(np.std(values)),
            "subsets": num_subsets, "subset_size": size}
