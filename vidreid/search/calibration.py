"""Distances a person can read: feature centring, and a calibrated same-person probability.

Centring. Features pooled after a ReLU are non-negative, so they all lie in one narrow cone and every cosine distance
is small (on real footage the top 20 results of a search lay between 0.0024 and 0.013). Subtracting the gallery's
mean feature and L2-normalising again (`center_features`) spreads them over the sphere without changing what is near
what much; whether it helps ranking depends on the model, so each model's registration (`centre_by_default`) turns
it on only for the models where it did not lower mAP on SynthPed (benchmarks/centring.py, docs/search.md).

Calibration. `fit_calibration(d, same)` maps a distance to the probability that the two tracklets show the same
person, fitted on labelled pairs (each query against every gallery tracklet of another camera, the protocol's junk
left out): the pairs are grouped into bins along the distance (quantiles of all distances and, finer, of the
same-person ones), each bin's same-person rate is made non-increasing in the distance by pool-adjacent-violators (isotonic regression, Zadrozny & Elkan, KDD 2002), and the
probability is interpolated linearly between the bins' mean distances. The probability holds for pairs drawn like the
fitting ones: a gallery where a probe has about as many true matches among as many tracklets.
`reliability(p, same)` is the check: per bin of predicted probability, the mean prediction against the observed
same-person rate, and the expected calibration error ECE = sum over bins of (pairs in bin / pairs) x |difference|.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .extractor import l2_normalize

def centre_by_default(model_name: str) -> bool:
    """Do search indexes centre the features of `model_name` by default? (its registration: register_model's
    centre_by_default; on only where centring did not lower SynthPed mAP at all, cosine distance, every change within
    2 paired standard errors; off for a name not registered)."""
    from ..models.registry import model_attribute
    return bool(model_attribute(model_name, "centre_by_default", False))


class Centred(NamedTuple):
    features: np.ndarray      # (N, D) centred and L2-normalised
    mean: np.ndarray          # (D,) the mean that was subtracted (of L2-normalised features)


def center_features(x: np.ndarray, mean: np.ndarray | None = None) -> Centred:
    """L2-normalise the rows of `x` (N, D), subtract `mean` (default: their own mean, i.e. pass the gallery here and
    reuse its .mean for probes) and L2-normalise again."""
    x = l2_normalize(x)
    mean = x.mean(0) if mean is None else np.asarray(mean, np.float32)
    return Centred(l2_normalize(x - mean), mean.astype(np.float32))


# ------------------------------------------------------------------------------------------------ pairs
def calibration_pairs(dist: np.ndarray, q_pids, g_pids, q_cams, g_cams, top: int | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Labelled pairs of a (Q, G) distance matrix -> (distances, same-person flags), the evaluation protocols' junk
    left out (gallery pid -1; same person in the same camera). top: only each query's `top` nearest non-junk gallery
    tracklets (the pairs a user sees in a result list)."""
    dist = np.asarray(dist, np.float64)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    same = q_pids[:, None] == g_pids[None, :]                                     # (Q, G)
    junk = (g_pids[None, :] == -1) | (same & (np.asarray(q_cams)[:, None] == np.asarray(g_cams)[None, :]))
    if top is not None and top < dist.shape[1]:
        ranked = np.where(junk, np.inf, dist)
        nearest = np.argpartition(ranked, top - 1, axis=1)[:, :top]               # (Q, top)
        keep = np.zeros_like(junk)
        np.put_along_axis(keep, nearest, True, axis=1)
        keep &= ~junk
    else:
        keep = ~junk
    return dist[keep], same[keep]


def identity_folds(pids, k: int = 2, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (fit rows, held-out rows) splits of the rows by identity (a person's rows all on one side)."""
    pids = np.asarray(pids)
    people = np.random.default_rng(seed).permutation(np.unique(pids))
    fold_of = dict(zip(people.tolist(), (np.arange(len(people)) % k).tolist()))
    fold = np.array([fold_of[p] for p in pids.tolist()])                        # loop over rows' ids (lookup)
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


# ------------------------------------------------------------------------------------------------ calibration
@dataclass
class Calibration:
    """distance -> same-person probability, non-increasing, linear between knots (see the module docstring)."""
    distance: np.ndarray      # (K,) knot distances, increasing: the mean distance of each bin
    probability: np.ndarray   # (K,) same-person rate there, non-increasing
    pairs: int = 0            # labelled pairs it was fitted on
    positives: int = 0        # ... of which same-person
    centred: bool = False     # fitted on centred features (see center_features)

    def predict(self, d) -> np.ndarray:
        return np.interp(np.asarray(d, np.float64), self.distance, self.probability)

    def to_dict(self) -> dict:
        return {"method": "isotonic regression on distance bins (quantiles of all and of same-person distances)", "distance": self.distance.tolist(),
                "probability": self.probability.tolist(), "pairs": int(self.pairs),
                "positives": int(self.positives), "centred": bool(self.centred)}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        from ..errors import ConfigError
        try:
            dist, prob = np.asarray(d["distance"], np.float64), np.asarray(d["probability"], np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"not a vidreid calibration (needs 'distance' and 'probability' lists): {e}") from None
        if dist.ndim != 1 or dist.shape != prob.shape or len(dist) < 1 or np.any(np.diff(dist) < 0):
            raise ConfigError("calibration: 'distance' and 'probability' must be equal-length lists, distance "
                              "increasing")
        return cls(dist, prob, int(d.get("pairs", 0)), int(d.get("positives", 0)), bool(d.get("centred", False)))


def _pool_adjacent_violators(rate: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-increasing fit of `rate` (a loop over <= a few hundred bins, not over pairs)."""
    blocks: list[list[float]] = []                 # [value, weight, length]
    for r, w in zip(rate.tolist(), weight.tolist()):
        blocks.append([r, w, 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:  # an increase: merge into their weighted mean
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks[-1]
            blocks[-1] = [(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    return np.concatenate([np.full(n, v) for v, _, n in blocks])


def fit_calibration(d, same, bins: int = 100, positive_bins: int = 50, centred: bool = False) -> Calibration:
    """Fit on labelled pairs (distances, same-person flags); see the module docstring. The bin edges are `bins`
    quantiles of all distances plus `positive_bins` quantiles of the same-person ones: same-person pairs are rare
    (about 1% of pairs), and equal-count bins alone would blur the short distances where they lie."""
    from ..errors import ConfigError
    d, same = np.asarray(d, np.float64), np.asarray(same, bool)
    if d.size == 0 or not same.any() or same.all():
        raise ConfigError("calibration needs both same-person and different-person pairs")
    edges = np.unique(np.concatenate([np.quantile(d, np.linspace(0, 1, bins + 1)),
                                      np.quantile(d[same], np.linspace(0, 1, positive_bins + 1))]))
    bin_of = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, max(len(edges) - 2, 0))
    count = np.bincount(bin_of, minlength=max(len(edges) - 1, 1))
    used = count > 0
    mean_d = np.bincount(bin_of, weights=d, minlength=len(count))[used] / count[used]
    rate = np.bincount(bin_of, weights=same, minlength=len(count))[used] / count[used]
    prob = _pool_adjacent_violators(rate, count[used].astype(np.float64))
    return Calibration(mean_d, prob, int(len(d)), int(same.sum()), centred)


def reliability(predicted, same, bins: int = 10) -> dict:
    """Per bin of predicted probability (equal width on [0, 1]): mean prediction, observed same-person rate, pairs;
    and the expected calibration error (ECE, pair-weighted mean |prediction - observation|)."""
    p, y = np.asarray(predicted, np.float64), np.asarray(same, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    count = np.bincount(b, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.bincount(b, weights=p, minlength=bins) / count
        obs = np.bincount(b, weights=y, minlength=bins) / count
    used = count > 0
    ece = float(np.sum(count[used] * np.abs(pred[used] - obs[used])) / max(count.sum(), 1))
    return {"edges": edges.tolist(), "predicted": np.where(used, pred, np.nan).tolist(),
            "observed": np.where(used, obs, np.nan).tolist(), "count": count.tolist(), "ece": ece,
            "pairs": int(count.sum())}


def calibrate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, centred: bool, folds: int = 2, top: int = 20,
                       ) -> tuple[Calibration, dict]:
    """Fit a calibration on query/gallery features (cosine distance of L2-normalised, optionally centred features,
    as a search index computes it) and measure it honestly: `folds` splits by query identity, each fitted on the
    other folds and checked on its own held-out queries. Returns (calibration fitted on all queries,
    {"all pairs": reliability, f"top {top}": reliability of the held-out queries' `top` nearest results})."""
    from ..eval import distance
    qf, gf = np.asarray(qf, np.float32), np.asarray(gf, np.float32)
    if centred:
        c = center_features(gf)
        qf, gf = center_features(qf, c.mean).features, c.features
    dist = distance(qf, gf, "cosine")                                          # (Q, G)
    q_pids, q_cams = np.asarray(q_pids), np.asarray(q_cams)
    held = {"all pairs": ([], []), f"top {top}": ([], [])}
    for fit_rows, test_rows in identity_folds(q_pids, folds):                   # loop over a few folds
        cal = fit_calibration(*calibration_pairs(dist[fit_rows], q_pids[fit_rows], g_pids, q_cams[fit_rows],
                                                 g_cams))
        for name, k in (("all pairs", None), (f"top {top}", top)):
            d, y = calibration_pairs(dist[test_rows], q_pids[test_rows], g_pids, q_cams[test_rows], g_cams, k)
            held[name][0].append(cal.predict(d))
            held[name][1].append(y)
    tables = {name: reliability(np.concatenate(p), np.concatenate(y)) for name, (p, y) in held.items()}
    final = fit_calibration(*calibration_pairs(dist, q_pids, g_pids, q_cams, g_cams), centred=centred)
    return final, tables


def calibration_document(qf, gf, q_pids, g_pids, q_cams, g_cams, header: dict) -> dict:
    """The calibration.json `vidreid eval` writes and `index build --calibration` reads: `header` (model hash,
    model, checkpoint, dataset, protocol, counts) and the calibration of plain and of centred features, each with its
    held-out reliability tables. ConfigError when there is nothing to fit (no query with a true match)."""
    doc = {"format": "vidreid-calibration", "version": 1, **header}
    for centred in (False, True):
        cal, tables = calibrate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, centred=centred)
        doc["centred" if centred else "plain"] = {**cal.to_dict(), "held_out_reliability": tables}
    return doc
