"""Confidence intervals of re-ID metrics from a bootstrap that resamples PEOPLE, not queries.

The queries of a small benchmark are not independent samples: several queries of one person share that person's
clothes, gait and background, so they succeed or fail together. Resampling queries treats 37 queries of 9 people
as 37 independent draws and gives intervals that are too narrow. The cluster (block) bootstrap resamples the
people with replacement and keeps every query of each person drawn (Davison & Hinkley, "Bootstrap Methods and
their Application", 1997, section 3.8; Field & Welsh, "Bootstrapping clustered data", JRSS B 2007).

One resample: draw P people from the P with replacement; m_p = how often person p was drawn. The resampled
mean of a per-query value v (AP, or 1 for a rank-1 hit) is

    sum_p m_p * S_p / sum_p m_p * n_p      S_p = the sum of v over person p's queries, n_p their number

(each drawn person contributes all its queries, as many times as drawn). The 95 % interval is the 2.5 % and 97.5 %
percentiles of the resampled means (the percentile bootstrap; `inverted_cdf`, so its ends are resampled means).

Paired differences: every row is resampled with the SAME draws, so the difference of two rows' means is computed on
the same people in each resample; its interval excluding 0 means the ranking of the two rows holds beyond this
person-level noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Interval:
    mean: np.ndarray       # (R,) the mean over all queries (the usual metric)
    low: np.ndarray        # (R,) lower end of the interval
    high: np.ndarray       # (R,) upper end
    samples: np.ndarray    # (B, R) the resampled means

    @property
    def beyond_noise(self) -> np.ndarray:
        """(R,) bool: the interval excludes 0 (for a difference: the sign holds beyond the resampling noise)."""
        return (self.low > 0) | (self.high < 0)


def person_resamples(people: np.ndarray, n_resamples: int = 10000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """-> (counts (B, P) how often each of the P people was drawn in each resample, inverse (Q,) the person index of
    each query). `people` (Q,): each query's identity."""
    _, inverse = np.unique(np.asarray(people), return_inverse=True)
    n_people = int(inverse.max()) + 1 if len(inverse) else 0
    if n_people == 0:
        raise ValueError("a bootstrap over people needs at least one query")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_people, (n_resamples, n_people))                 # (B, P) drawn person indices
    flat = (np.arange(n_resamples)[:, None] * n_people + draws).ravel()
    counts = np.bincount(flat, minlength=n_resamples * n_people).reshape(n_resamples, n_people)
    return counts, inverse.ravel()


def person_bootstrap(values: np.ndarray, people: np.ndarray, n_resamples: int = 10000, seed: int = 0,
                     level: float = 0.95) -> Interval:
    """Per-query values (Q,) or rows of them (R, Q) (AP, rank-1 hits as 0/1, ...) of queries whose identities are
    `people` (Q,) -> the mean of each row over the queries and its `level` interval from resampling people."""
    v = np.asarray(values, np.float64)
    rows = v[None] if v.ndim == 1 else v                                      # (R, Q)
    if rows.shape[1] != len(people):
        raise ValueError(f"{rows.shape[1]} values per row for {len(people)} queries")
    counts, inverse = person_resamples(people, n_resamples, seed)             # (B, P), (Q,)
    n_people = counts.shape[1]
    sums = np.zeros((len(rows), n_people))
    np.add.at(sums.T, inverse, rows.T)                                        # (R, P) per-person sums S_p
    sizes = np.bincount(inverse, minlength=n_people).astype(np.float64)      # (P,) queries per person n_p
    means = (counts @ sums.T) / (counts @ sizes)[:, None]                     # (B, R)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail], axis=0, method="inverted_cdf")
    out = Interval(rows.mean(1), low, high, means)
    return out if v.ndim > 1 else Interval(out.mean[0], low[0], high[0], means[:, 0])


def paired_differences(values: np.ndarray, people: np.ndarray, reference: int, n_resamples: int = 10000,
                       seed: int = 0, level: float = 0.95) -> Interval:
    """Rows (R, Q) of per-query values -> the interval of each row's mean minus row `reference`'s, both resampled
    on the same people (the reference's own row is 0 with a [0, 0] interval)."""
    v = np.asarray(values, np.float64)
    return person_bootstrap(v - v[reference], people, n_resamples, seed, level)
