"""Evaluate a model on a dataset's query/gallery split under a named protocol."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
from torch import nn

from ..config import Config
from ..data.types import VideoReIDDataset
from .extract import extract_features, finite_rows, resolve_sampling


def evaluate_model(model: nn.Module | None, dataset: VideoReIDDataset, cfg: Config, device="cpu",
                   progress: bool = True, extractor=None, features: dict | None = None) -> dict:
    """Extract query/gallery features, compute distances (optionally re-rank) and the metrics.

    `extractor(tracklets, split_name) -> (N, D)` replaces the plain extraction with `model` (e.g. a
    `feature_cache.CachedExtractor`, which reuses feature files; model may then be None). `features`, if given,
    receives the "query" and "gallery" features (all rows, in the dataset's order).
    Returns the metrics dict of `vidreid.eval.evaluate` plus the settings that produced it and, under
    the key `distmat`, the (Q, G) distance matrix used for ranking (for plots)."""
    from ..eval import distance, rerank
    protocol = cfg.eval.protocol or dataset.protocol
    dataset, gallery_note = gallery_for_protocol(dataset, protocol)
    sampling = resolve_sampling(cfg)
    if extractor is None:
        def extractor(tracklets, split):
            return extract_features(model, tracklets, cfg, sampling, device, split, progress)
    t0 = time.time()
    qf, gf = query_and_gallery_features(dataset, extractor)
    t_extract = time.time() - t0
    if features is not None:
        features.update(query=qf, gallery=gf)
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
               distmat=dist, dropped_tracklets=dropped, num_query=len(dataset.query),
               num_gallery=len(dataset.gallery))
    if gallery_note:
        res["gallery_note"] = gallery_note
    return res


def query_and_gallery_features(dataset: VideoReIDDataset, extractor) -> tuple[np.ndarray, np.ndarray]:
    """(query, gallery) features. When every query tracklet is also in the gallery (the mars protocol: the gallery
    is the whole test set), only the gallery is embedded and the query rows are taken from it: test-time
    extraction is deterministic, so embedding the queries again (about 16 % more work on MARS) would give the same
    features."""
    row = {t: i for i, t in enumerate(dataset.gallery)}          # Tracklet is a NamedTuple: hashable, compared by value
    rows = [row.get(t) for t in dataset.query]
    if not dataset.query or any(r is None for r in rows):
        return extractor(dataset.query, "query"), extractor(dataset.gallery, "gallery")
    gf = extractor(dataset.gallery, "gallery")
    return gf[np.asarray(rows, dtype=np.int64)], gf


def gallery_for_protocol(dataset: VideoReIDDataset, protocol: str) -> tuple[VideoReIDDataset, str]:
    """The dataset with the gallery that `protocol`'s rules are defined on, and a note when it had to be derived.

    The metric rules (cfg.eval.protocol) and the gallery (built by the loader for data.protocol) must agree, or the
    numbers are silently wrong: the gao rules on a mars gallery count the pid -1 junk as negatives and rank the
    query tracklets among the gallery (spec/protocols.md, "Evaluation"). So
      * same protocol: the dataset as it is;
      * gao rules, mars-protocol dataset: the gao gallery is derived exactly as the loaders build it (every test
        tracklet minus the queries and minus pid -1; 12180 -> 9330 on MARS);
      * mars rules, gao-protocol dataset: refused (ConfigError): the queries and the junk the mars rules need are not
        in that gallery."""
    from ..errors import ConfigError
    if protocol == dataset.protocol or protocol not in ("mars", "gao"):
        return dataset, ""                           # unknown names: vidreid.eval.evaluate says what is allowed
    if protocol == "mars":
        raise ConfigError(f"eval.protocol=mars needs the mars gallery (every test tracklet, the queries and the pid -1 "
                          f"junk included), but dataset {dataset.name!r} was loaded with protocol "
                          f"{dataset.protocol!r}; set data.protocol=mars as well (vidreid eval --protocol mars sets "
                          f"both)")
    queries = set(dataset.query)                     # Tracklet is a NamedTuple: equal frames, pid, camera
    keep = [i for i, t in enumerate(dataset.gallery) if t.pid != -1 and t not in queries]
    meta = dict(dataset.meta)
    if len(meta.get("gallery_rows") or ()) == len(dataset.gallery):
        meta["gallery_rows"] = [meta["gallery_rows"][i] for i in keep]
    note = (f"gallery: the {dataset.protocol} gallery of {dataset.name} minus its queries and pid -1 junk "
            f"({len(dataset.gallery)} -> {len(keep)} tracklets), as the gao protocol defines it")
    return dataclasses.replace(dataset, gallery=[dataset.gallery[i] for i in keep], protocol=protocol,
                               meta=meta), note


def evaluate_distmat(dist: np.ndarray, dataset: VideoReIDDataset, protocol: str, max_rank: int = 50) -> dict:
    from ..eval import evaluate
    q_pids = np.array([t.pid for t in dataset.query]); q_cams = np.array([t.camid for t in dataset.query])
    g_pids = np.array([t.pid for t in dataset.gallery]); g_cams = np.array([t.camid for t in dataset.gallery])
    res = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=max_rank)
    res["protocol"] = protocol
    return res


def chance_level(dataset: VideoReIDDataset, protocol: str, seeds: int = 5, max_rank: int = 50) -> dict:
    """Metrics of random rankings (mean over `seeds` random distance matrices): the floor to compare with."""
    dataset, _ = gallery_for_protocol(dataset, protocol)
    rng = np.random.default_rng(0)
    runs = [evaluate_distmat(rng.random((len(dataset.query), len(dataset.gallery)), dtype=np.float32),
                             dataset, protocol, max_rank) for _ in range(seeds)]
    return mean_results(runs)


def metric_cells(r: dict) -> str:
    """R1 R5 R10 R20 mAP mINP of a result, in percent, one space apart (n/a past the gallery size): the columns every
    results table prints."""
    c = r["cmc"]
    cells = [f"{100 * c[k - 1]:6.2f}" if len(c) >= k else "   n/a" for k in (1, 5, 10, 20)]
    return " ".join(cells + [f"{100 * r['mAP']:6.2f}", f"{100 * r['mINP']:6.2f}"])


def format_results(res: dict, chance: dict | None = None, title: str = "") -> str:
    """A fixed-width table naming protocol, sampling, distance and re-ranking next to the numbers."""
    head = (f"{'protocol':<9}{'sampling':<10}{'distance':<10}{'rerank':<7}"
            f"{'R1':>7}{'R5':>7}{'R10':>7}{'R20':>7}{'mAP':>7}{'mINP':>7}{'queries':>9}")
    def row(name_cols, r, n):
        return f"{name_cols} {metric_cells(r)}{n:>9}"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    lines.append(row(f"{res['protocol']:<9}{res.get('sampling', '-'):<10}{res.get('metric', '-'):<10}"
                     f"{'yes' if res.get('rerank') else 'no':<7}", res, res["num_valid_queries"]))
    if chance is not None:
        lines.append(row(f"{'chance (random ranking)':<36}", chance, res["num_valid_queries"]))
    if res.get("gallery_note"):
        lines.append(res["gallery_note"])
    return "\n".join(lines)


def mean_results(results: list[dict]) -> dict:
    """The mean CMC, mAP and mINP of several results (the splits of a multi-split protocol, random rankings)."""
    return {"cmc": np.mean([r["cmc"] for r in results], 0), "mAP": float(np.mean([r["mAP"] for r in results])),
            "mINP": float(np.mean([r["mINP"] for r in results]))}


def format_split_results(results: list[dict], mean: dict, title: str) -> str:
    """One row per split and their mean (iLIDS-VID, PRID2011: 10 splits)."""
    def row(name, r, q):
        return f"{name:<6} {metric_cells(r)} {q:>8}"
    head = f"{'split':<6} {'R1':>6} {'R5':>6} {'R10':>6} {'R20':>6} {'mAP':>6} {'mINP':>6} {'queries':>8}"
    lines = [title] + ([results[-1]["gallery_note"]] if results[-1].get("gallery_note") else [])
    lines += [head, "-" * len(head)] + [row(str(i), r, r["num_valid_queries"]) for i, r in enumerate(results)]
    lines += ["-" * len(head), row("mean", mean, sum(r["num_valid_queries"] for r in results))]
    return "\n".join(lines)
