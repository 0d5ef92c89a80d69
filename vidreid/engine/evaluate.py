"""Evaluate a model on a dataset's query/gallery split under a named protocol."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
from torch import nn

from ..config import Config
from ..data.types import VideoReIDDataset
from .extract import extract_features, finite_rows


def evaluate_model(model: nn.Module | None, dataset: VideoReIDDataset, cfg: Config, device="cpu",
                   progress: bool = True, extractor=None) -> dict:
    """Extract query/gallery features, compute distances (optionally re-rank) and the metrics.

    `extractor(tracklets, split_name) -> (N, D)` replaces the plain extraction with `model` (e.g. a
    `feature_cache.CachedExtractor`, which reuses feature files; model may then be None).
    Returns the metrics dict of `vidreid.eval.evaluate` plus the settings that produced it and, under
    the key `distmat`, the (Q, G) distance matrix used for ranking (for plots)."""
    from ..eval import distance, evaluate, rerank
    protocol = cfg.eval.protocol or dataset.protocol
    sampling = cfg.eval.sampling or cfg.data.test_sampling
    if extractor is None:
        def extractor(tracklets, split):
            return extract_features(model, tracklets, cfg, sampling, device, split, progress)
    t0 = time.time()
    qf = extractor(dataset.query, "query")
    gf = extractor(dataset.gallery, "gallery")
    t_extract = time.time() - t0
    q_keep, g_keep = finite_rows(qf, dataset.query, "query"), finite_rows(gf, dataset.gallery, "gallery")
    dropped = {"query": len(qf) - len(q_keep), "gallery": len(gf) - len(g_keep)}
    if any(dropped.values()):                            # tracklets with no readable frame: leave them out
        qf, gf = qf[q_keep], gf[g_keep]
        dataset = dataclasses.replace(dataset, query=[dataset.query[i] for i in q_keep],
                                      gallery=[dataset.gallery[i] for i in g_keep])
    dist = distance(qf, gf, cfg.eval.metric)
    if cfg.eval.rerank:
        dist = rerank(dist, distance(qf, qf, cfg.eval.metric), distance(gf, gf, cfg.eval.metric))
    res = evaluate_distmat(dist, dataset, protocol, cfg.eval.max_rank)
    res.update(sampling=sampling, metric=cfg.eval.metric, rerank=cfg.eval.rerank, extract_seconds=t_extract,
               distmat=dist, dropped_tracklets=dropped)
    return res


def evaluate_distmat(dist: np.ndarray, dataset: VideoReIDDataset, protocol: str, max_rank: int = 50) -> dict:
    from ..eval import evaluate
    q_pids = np.array([t.pid for t in dataset.query]); q_cams = np.array([t.camid for t in dataset.query])
    g_pids = np.array([t.pid for t in dataset.gallery]); g_cams = np.array([t.camid for t in dataset.gallery])
    res = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=max_rank)
    res["protocol"] = protocol
    return res


def chance_level(dataset: VideoReIDDataset, protocol: str, seeds: int = 5, max_rank: int = 50) -> dict:
    """Metrics of random rankings (mean over `seeds` random distance matrices): the floor to compare with."""
    rng = np.random.default_rng(0)
    runs = [evaluate_distmat(rng.random((len(dataset.query), len(dataset.gallery)), dtype=np.float32),
                             dataset, protocol, max_rank) for _ in range(seeds)]
    return {"cmc": np.mean([r["cmc"] for r in runs], 0), "mAP": float(np.mean([r["mAP"] for r in runs])),
            "mINP": float(np.mean([r["mINP"] for r in runs]))}


def format_results(res: dict, chance: dict | None = None, title: str = "") -> str:
    """A fixed-width table naming protocol, sampling, distance and re-ranking next to the numbers."""
    cmc = res["cmc"]
    def pct(x):
        return f"{100 * x:6.2f}"
    head = (f"{'protocol':<9}{'sampling':<10}{'distance':<10}{'rerank':<7}"
            f"{'R1':>7}{'R5':>7}{'R10':>7}{'R20':>7}{'mAP':>7}{'mINP':>7}{'queries':>9}")
    def row(name_cols, r, n):
        c = r["cmc"]
        return (name_cols + "".join(f" {pct(c[k - 1]) if len(c) >= k else '   n/a'}" for k in (1, 5, 10, 20))
                + f" {pct(r['mAP'])} {pct(r['mINP'])}{n:>9}")
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    lines.append(row(f"{res['protocol']:<9}{res.get('sampling', '-'):<10}{res.get('metric', '-'):<10}"
                     f"{'yes' if res.get('rerank') else 'no':<7}", res, res["num_valid_queries"]))
    if chance is not None:
        lines.append(row(f"{'chance (random ranking)':<36}", chance, res["num_valid_queries"]))
    del cmc
    return "\n".join(lines)
