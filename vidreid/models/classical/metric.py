"""Metric learning for classical features, as a linear projection: d(x, y) = ||L (x - y)||^2 = (x - y)^T M (x - y)
with M = L^T L, so distances stay Euclidean in the projected space (evaluation, indexes and search unchanged).

Both metrics are fitted from the covariances of pairwise differences of labelled training samples:
  Sigma_S = mean over same-identity pairs (i != j) of (x_i - x_j)(x_i - x_j)^T,
  Sigma_D = mean over different-identity pairs of the same,
computed in closed form without enumerating the pairs (`pair_covariances`).

* XQDA (Liao et al., CVPR 2015, "cross-view quadratic discriminant analysis"): the subspace W maximising
  w^T Sigma_E w / w^T Sigma_I w (Sigma_I = Sigma_S + lambda I, lambda = 0.001; Sigma_E = Sigma_D): the generalised
  eigenvectors of (Sigma_E, Sigma_I) with eigenvalue > 1; in it, M = (W^T Sigma_I W)^-1 - (W^T Sigma_E W)^-1. With
  W normalised so that W^T Sigma_I W = I (scipy's eigh does this), W^T Sigma_E W = diag(lambda_k) and
  M = I - diag(1 / lambda_k), positive definite exactly because lambda_k > 1: L = diag(sqrt(1 - 1/lambda_k)) W^T.
  When the feature is longer than there are samples (LOMO: 26,960 dimensions), the data are first expressed in an
  orthonormal basis of their span (a QR decomposition, as the authors' code does): every difference lies in it.
  Pairs: all pairs of distinct training samples (the paper pairs a probe view with a gallery view; video training
  sets have tracklets of one identity in several cameras, all of them are used).
* KISSME (Koestinger et al., "Large Scale Metric Learning from Equivalence Constraints", CVPR 2012): after PCA to
  `pca_dim` dimensions, M = Sigma_S^-1 - Sigma_D^-1, projected onto the positive semi-definite cone by clipping
  negative eigenvalues. All different-identity pairs are used (the paper samples as many as there are similar
  pairs; all of them give the expectation that sampling estimates).

A fitted metric is `(mean, projection)`: feature -> (feature - mean) @ projection, projection (D, d).
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from ...errors import ConfigError

XQDA_LAMBDA = 1e-3


def pair_covariances(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) samples, (N,) labels -> (Sigma_S, Sigma_D), each (D, D): mean outer product of the differences over
    ordered pairs of distinct samples with the same / a different label.

    Sum over same-label pairs = sum_k (2 n_k sum_{i in k} x_i x_i^T - 2 s_k s_k^T), s_k the class sum (the i = j
    terms are zero); over all pairs 2 N sum_i x_i x_i^T - 2 s s^T; different-label pairs are the rest."""
    x = np.asarray(x, np.float64)
    _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n = len(x)
    class_sums = np.zeros((len(counts), x.shape[1]))
    np.add.at(class_sums, inv, x)                                            # (K, D)
    n_same = int((counts ** 2).sum() - n)
    n_diff = int(n * n - (counts ** 2).sum())
    if n_same == 0 or n_diff == 0:
        raise ConfigError(f"metric learning needs identities with two or more samples and two or more identities "
                          f"(got {n} samples of {len(counts)} identities)")
    weighted = (x * counts[inv][:, None]).T @ x                              # sum_i n_{y_i} x_i x_i^T
    same = 2 * weighted - 2 * class_sums.T @ class_sums
    total = x.sum(0)
    all_pairs = 2 * n * (x.T @ x) - 2 * np.outer(total, total)
    return same / n_same, (all_pairs - same) / n_diff


def _span_basis(xc: np.ndarray) -> np.ndarray | None:
    """(D, r) orthonormal basis of the span of the rows of centred data when D > N, else None (use the identity)."""
    n, d = xc.shape
    if d <= n:
        return None
    q, r = np.linalg.qr(xc.T)                                                # (D, N), (N, N)
    keep = np.abs(np.diag(r)) > 1e-10 * max(np.abs(np.diag(r)).max(), 1e-300)
    return q[:, keep]


def fit_xqda(x: np.ndarray, labels: np.ndarray, lam: float = XQDA_LAMBDA, max_dim: int | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (mean (D,), projection (D, d), eigenvalues (d,)): XQDA on samples x (N, D) with identity labels.
    d = the number of generalised eigenvalues > 1 (at most max_dim, the largest first)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    xc = x - mean
    basis = _span_basis(xc)
    z = xc if basis is None else xc @ basis                                   # (N, r)
    sigma_i, sigma_e = pair_covariances(z, labels)
    sigma_i = sigma_i + lam * np.eye(len(sigma_i))
    vals, vecs = linalg.eigh(sigma_e, sigma_i)                                # vecs^T Sigma_I vecs = I, ascending
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    d = int((vals > 1).sum())
    if max_dim is not None:
        d = min(d, int(max_dim))
    if d == 0:
        raise ConfigError("XQDA found no direction where different people differ more than the same person "
                          "(no generalised eigenvalue > 1): the features do not separate the training identities")
    vals, w = vals[:d], vecs[:, :d]
    proj = w * np.sqrt(1.0 - 1.0 / vals)                                      # (r, d): W diag(sqrt(1 - 1/lambda))
    if basis is not None:
        proj = basis @ proj
    return mean, proj, vals


def fit_kissme(x: np.ndarray, labels: np.ndarray, pca_dim: int = 100, ridge: float = 1e-6
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (mean (D,), projection (D, d), eigenvalues of M (d,), positive): KISSME after PCA to pca_dim dimensions
    (fewer when the data span fewer). `ridge` * mean variance is added to both covariances (invertible)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    xc = x - mean
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    k = int(min(pca_dim, (s > 1e-10 * max(s.max(), 1e-300)).sum()))
    pca = vt[:k].T                                                            # (D, k)
    z = xc @ pca
    sigma_s, sigma_d = pair_covariances(z, labels)
    eye = np.eye(k) * ridge * np.trace(sigma_d) / k
    m = np.linalg.inv(sigma_s + eye) - np.linalg.inv(sigma_d + eye)
    m = (m + m.T) / 2
    vals, vecs = np.linalg.eigh(m)
    keep = vals > 1e-12 * max(np.abs(vals).max(), 1e-300)                     # PSD projection: negative parts clipped
    if not keep.any():
        raise ConfigError("KISSME: Sigma_S^-1 - Sigma_D^-1 has no positive eigenvalue (the features do not separate "
                          "the training identities)")
    vals, vecs = vals[keep][::-1], vecs[:, keep][:, ::-1]
    return mean, pca @ (vecs * np.sqrt(vals)), vals
