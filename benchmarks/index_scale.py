"""The gallery index at 1 M and 10 M tracklets on realistic features (issue 30, item 3).

Features. A base of real re-ID features -- SynthPed's query + gallery tracklets through a trained checkpoint
(`vidreid extract ... --out`, two feature files; distractor and junk rows left out) -- is L2-normalised, centred
and projected on its top `--dim` principal directions, then L2-normalised again: the deployed feature (a PCA to fewer dimensions, as large indexes
use; the script prints what it costs the base's own retrieval mAP). On those vectors a noise model is fitted:

* identity centres ~ N(mean of the identity means, S_b), S_b the covariance of the base's identity means shrunk
  towards a multiple of the identity (`--shrink`: 152 identities cannot fill 256 dimensions);
* a tracklet = its identity's centre + N(0, S_w), S_w the measured within-identity covariance (full, anisotropic:
  the spread lies along the directions the base's own tracklets vary in), then L2-normalised;
* "matched": the same shape, S_w scaled by alpha^2, alpha fitted so that a set generated like the base has the
  base's retrieval mAP. With the measured S_w alone the generated people are far easier to tell apart than the real
  ones (the real residuals point towards other people: occluders, look-alikes -- shuffling the real residuals
  between identities makes the base itself easy too), so the covariance matches the spread but not the difficulty;
* the isotropic row: the same centres, N(0, s^2 I) with the same total within-identity variance (trace S_w).

A check first (printed): the base, and a set generated from each model with as many identities and tracklets per
identity, scored alike (every tracklet a query against all others, mAP; mean cosine to the same / other identities):
the realistic model should be about as hard as the base, the isotropic one shows what the shape of the noise does.

Index rows. For each size N and each model: `GalleryIndex` (what `vidreid search` uses) of kind `ivfhnswpq`
(IVF with an HNSW coarse quantiser, PQ codes; --nlist lists, --pq-m bytes a vector), trained on a seeded sample of
256 k vectors, filled chunk by chunk (features regenerated from seeds, never all in memory), with the vectors also
kept as float16 on disk for exact re-ranking; then 100 probes (new tracklets of random gallery identities) one at a
time: latency median / p95, recall@10 = the share of the exact top 10 (streamed over the regenerated gallery) in the
returned top 10, at each --nprobe, with and without exact re-ranking of the top --exact-rerank candidates. Each
(N, model) runs in its own process, so its peak RSS is its own.

    python benchmarks/index_scale.py --base runs/index_scale/query.safetensors runs/index_scale/gallery.safetensors \\
        --sizes 1000000 10000000 [--dim 256] [--work runs/index_scale]
    python benchmarks/index_scale.py --smoke        # seconds: a random base, 10 k tracklets, the matched noise
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # spinning OpenMP threads slow FAISS on a shared machine
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

CHUNK = 100_000
PER_ID = 10                      # tracklets per identity in the generated galleries (the base has ~9)
PROBES = 100


# ------------------------------------------------------------------------------------------------ the base
from vidreid.eval.distance_fusion import l2_rows as l2          # noqa: E402  (rows to unit length, float64)

def load_base(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D) float64, pids (N,)) of vidreid feature files (query and gallery of one dataset)."""
    from safetensors.numpy import load_file
    parts = [load_file(p) for p in paths]
    x = np.concatenate([p["features"] for p in parts]).astype(np.float64)
    pids = np.concatenate([p["pids"] for p in parts])
    person = pids > 0                              # distractors (0) and junk (-1) are many people under one id
    return x[person], pids[person]


def project(x: np.ndarray, dim: int) -> tuple[np.ndarray, dict]:
    """The deployed feature: L2, centre, top-`dim` principal directions, L2 -> (y (N, dim), the projection)."""
    x = l2(x)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    dim = min(dim, len(s))
    kept = float((s[:dim] ** 2).sum() / (s ** 2).sum())
    return l2((x - mean) @ vt[:dim].T), {"mean": mean, "basis": vt[:dim], "variance_kept": kept}


def fit_noise(y: np.ndarray, pids: np.ndarray, shrink: float) -> dict:
    """Centres' mean and covariance (shrunk), within-identity covariance, the isotropic scale (module docstring)."""
    ids, inv = np.unique(pids, return_inverse=True)
    means = np.stack([y[inv == i].mean(0) for i in range(len(ids))])                  # (P, d), P ~ 150
    resid = y - means[inv]
    d = y.shape[1]
    s_b = np.cov(means, rowvar=False)
    s_b = (1 - shrink) * s_b + shrink * np.trace(s_b) / d * np.eye(d)
    dof = max(len(y) - len(ids), 1)
    s_w = resid.T @ resid / dof
    return {"centre_mean": means.mean(0), "chol_b": np.linalg.cholesky(s_b + 1e-9 * np.eye(d)),
            "chol_w": np.linalg.cholesky(s_w + 1e-9 * np.eye(d)), "iso": float(np.sqrt(np.trace(s_w) / d)),
            "identities": len(ids), "dim": d}


class Generator:
    """Seeded tracklets of `ids` identities under one noise model ("realistic" or "isotropic"); any chunk can be
    made again from (seed, start), so a 10 M gallery is regenerated, never stored."""

    def __init__(self, model: dict, kind: str, ids: int, seed: int = 0):
        self.m, self.kind, self.ids, self.seed = model, kind, ids, seed
        d = model["dim"]
        rng = np.random.default_rng([seed, 1])
        self.centres = np.empty((ids, d), np.float32)                                        # (ids, d)
        for a in range(0, ids, CHUNK):   # in chunks (the same draws as one): 1 M centres would take 4 GB of float64
            z = rng.standard_normal((min(CHUNK, ids - a), d))
            self.centres[a:a + len(z)] = model["centre_mean"] + z @ model["chol_b"].T
        self.chol_w = model["chol_w"].T.astype(np.float32)

    def tracklets(self, pids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((len(pids), self.m["dim"]), dtype=np.float32)
        if self.kind == "isotropic":
            noise = self.m["iso"] * z
        else:                                          # matched: the measured shape, scaled to the base's mAP
            noise = (z @ self.chol_w) * (self.m.get("alpha", 1.0) if self.kind == "matched" else 1.0)
        return l2(self.centres[pids] + noise).astype(np.float32)

    def gallery_pids(self, start: int, m: int) -> np.ndarray:
        return (np.arange(start, start + m) % self.ids).astype(np.int64)       # PER_ID tracklets per identity

    def chunks(self, n: int):
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            yield start, self.tracklets(self.gallery_pids(start, m), np.random.default_rng([self.seed, 2, start]))


def match_difficulty(model: dict, per: np.ndarray, target: float, steps: int = 14) -> float:
    """The scale alpha of the measured within-identity noise at which a set generated like the base (identities
    `per`) has the base's leave-one-out mAP `target` (bisection: mAP falls as the noise grows)."""
    lo, hi = 0.5, 8.0
    for _ in range(steps):
        alpha = (lo + hi) / 2
        y = Generator(dict(model, alpha=alpha), "matched", int(per.max()) + 1, seed=3).tracklets(
            per, np.random.default_rng(4))
        lo, hi = (alpha, hi) if leave_one_out_map(y, per) > target else (lo, alpha)
    return (lo + hi) / 2


def leave_one_out_map(y: np.ndarray, pids: np.ndarray) -> float:
    """Every row a query against all other rows (cosine), mAP over the queries with another row of their id."""
    from vidreid.eval.metrics import evaluate
    d = 1 - y @ y.T
    np.fill_diagonal(d, np.inf)                        # itself: last, and not a hit (a different "camera" below)
    cams = np.arange(len(y))                           # every row its own camera: only itself is junk
    return float(evaluate(d, pids, pids, cams, cams, protocol="mars")["mAP"])


def cosines(y: np.ndarray, pids: np.ndarray) -> tuple[float, float]:
    c = y @ y.T
    same = pids[:, None] == pids[None]
    np.fill_diagonal(same, False)
    other = pids[:, None] != pids[None]
    return float(c[same].mean()), float(c[other].mean())


# ------------------------------------------------------------------------------------------------ one index
def exact_top(gen: Generator, n: int, probes: np.ndarray, k: int = 10) -> np.ndarray:
    """(Q, k) rows of the exact top-k inner products over the regenerated gallery, chunk by chunk."""
    best_s = np.full((len(probes), k), -np.inf, np.float32)
    best_r = np.zeros((len(probes), k), np.int64)
    for start, x in gen.chunks(n):
        s = probes @ x.T                                                        # (Q, CHUNK)
        top = np.argpartition(-s, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        cand_r = np.concatenate([best_r, top + start], 1)
        keep = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_r = np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_r, keep, 1)
    return best_r


def run_one(args) -> dict:
    from search_latency import time_search
    from vidreid.search.index import TRAIN_SAMPLE, GalleryIndex
    model = load_model(args)
    n, kind = args.one_n, args.one_kind
    gen = Generator(model, kind, max(1, n // PER_ID))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    gi = GalleryIndex.create(model["dim"], {"hash": "0" * 64, "name": "synthetic", "backbone": "-", "checkpoint": "-"},
                             {"sampling": "-", "seq_len": 0}, kind="ivfhnswpq", train_count=n, nlist=args.nlist,
                             pq_m=args.pq_m, opq=args.opq, keep_features=True)
    sample = np.concatenate([x for _, x in gen.chunks(min(n, TRAIN_SAMPLE))])
    gi.train(sample)
    del sample
    t_train = time.perf_counter() - t0
    for start, x in gen.chunks(n):
        m = len(x)
        names = [f"c{(start + i) % 8 + 1}/t{start + i:08d}" for i in range(m)]
        gi.add(x, names, [f"c{(start + i) % 8 + 1}" for i in range(m)], [-1] * m, names,
               [(f"/g/{nm}/f1.jpg",) for nm in names], "0" * 64)
    t_build = time.perf_counter() - t0
    build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # before the exact top-10 and searches
    rng = np.random.default_rng([7, n])
    probes = gen.tracklets(rng.integers(0, gen.ids, PROBES), rng)
    t1 = time.perf_counter()
    exact = exact_top(gen, n, probes)
    t_exact = time.perf_counter() - t1
    rows = []
    for nprobe in args.nprobe:
        for rerank in (None, args.exact_rerank):
            times, batched, found = time_search(gi, probes, 64, nprobe=nprobe, exact_rerank=rerank)
            recall = float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact)]))
            rows.append({"nprobe": nprobe, "rerank": rerank, "p50_ms": 1e3 * float(np.median(times)),
                         "p95_ms": 1e3 * float(np.percentile(times, 95)), "batched_ms": 1e3 * batched,
                         "recall10": recall})
    return {"n": n, "kind": kind, "factory": gi.header["factory"], "train_s": t_train, "build_s": t_build,
            "exact_s": t_exact, "rss_before_mb": rss0, "build_peak_rss_mb": build_peak,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "codes_mb": gi.faiss_index.sa_code_size() * n / 2 ** 20, "float16_mb": 2 * model["dim"] * n / 2 ** 20,
            "rows": rows}


def load_model(args) -> dict:
    if args.smoke:
        rng = np.random.default_rng(0)
        pids = np.repeat(np.arange(40), 8)
        x = np.abs(rng.standard_normal((40, 96)))[pids] + 0.8 * np.abs(rng.standard_normal((320, 96)))
    else:
        x, pids = load_base(args.base)
    y, proj = project(x, args.dim)
    model = dict(fit_noise(y, pids, args.shrink), y=y, pids=pids, variance_kept=proj["variance_kept"], x=x)
    _, counts = np.unique(pids, return_counts=True)
    model["alpha"] = match_difficulty(model, np.repeat(np.arange(len(counts)), counts), leave_one_out_map(y, pids))
    return model


# ------------------------------------------------------------------------------------------------ driver
def check_models(model: dict) -> list[str]:
    """The base against sets generated like it (same identities, same tracklets per identity)."""
    y, pids = model["y"], model["pids"]
    ids, counts = np.unique(pids, return_counts=True)
    per = np.repeat(np.arange(len(ids)), counts)
    lines = ["| features | identities x tracklets | leave-one-out mAP | cos same id | cos other ids |",
             "|---|---|---|---|---|"]
    x = l2(model["x"])
    raw = (leave_one_out_map(x, pids), *cosines(x, pids))
    lines.append(f"| base, full {x.shape[1]}-d features (L2) | {len(ids)} x {len(pids) / len(ids):.1f} | "
                 f"{100 * raw[0]:.1f} | {raw[1]:.3f} | {raw[2]:.3f} |")
    for label, yy in [(f"base, PCA-{model['dim']} (the deployed feature; {100 * model['variance_kept']:.0f} % of the "
                       f"variance)", y)] + [
            (f"generated, {kind} noise" + (f" (x {model['alpha']:.2f})" if kind == "matched" else ""),
             Generator(model, kind, len(ids), seed=3).tracklets(per, np.random.default_rng(4)))
            for kind in ("realistic", "matched", "isotropic")]:
        m, cs, co = leave_one_out_map(yy, pids if label.startswith("base") else per), *cosines(
            yy, pids if label.startswith("base") else per)
        lines.append(f"| {label} | {len(ids)} x {len(pids) / len(ids):.1f} | {100 * m:.1f} | {cs:.3f} | {co:.3f} |")
    return lines


def index_lines(results: list[dict], exact_rerank: int) -> list[str]:
    lines = ["| tracklets | noise | index | nprobe | exact re-rank | latency p50 | p95 | per probe, batched | "
             "recall@10 | memory (codes; float16 on disk) | build (of which training) | peak RSS (after the build; "
             "whole run) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for row in r["rows"]:
            lines.append(f"| {r['n']:,} | {r['kind']} | {r['factory']} | {row['nprobe']} | "
                         f"{row['rerank'] or '-'} | {row['p50_ms']:.2f} ms | {row['p95_ms']:.2f} ms | "
                         f"{row['batched_ms']:.2f} ms | {row['recall10']:.3f} | {r['codes_mb']:,.0f} MB; "
                         f"{r['float16_mb']:,.0f} MB | {r['build_s']:.0f} s ({r['train_s']:.0f} s) | "
                         + (f"{r['build_peak_rss_mb']:,.0f} MB; " if "build_peak_rss_mb" in r else "")
                         + f"{r['peak_rss_mb']:,.0f} MB |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", nargs="+", help="vidreid feature files (vidreid extract --out) of one dataset")
    p.add_argument("--sizes", nargs="+", type=int, default=[1_000_000, 10_000_000])
    p.add_argument("--kinds", nargs="+", default=["realistic", "matched", "isotropic"],
                   choices=["realistic", "matched", "isotropic"])
    p.add_argument("--dim", type=int, default=256, help="PCA dimensions of the deployed feature (default 256)")
    p.add_argument("--shrink", type=float, default=0.1, help="shrinkage of the centres' covariance (default 0.1)")
    p.add_argument("--nlist", type=int, default=4096)
    p.add_argument("--pq-m", type=int, default=32, help="PQ bytes a vector (default 32)")
    p.add_argument("--opq", action="store_true", help="an OPQ rotation before PQ (balances the PCA-ordered "
                                                       "variance across the sub-quantisers)")
    p.add_argument("--nprobe", nargs="+", type=int, default=[16, 64])
    p.add_argument("--exact-rerank", type=int, default=100)
    p.add_argument("--work", help="results.json goes here (default runs/index_scale; --smoke: a temporary folder)")
    p.add_argument("--smoke", action="store_true", help="seconds: a random base, 10 k tracklets, 32 lists")
    p.add_argument("--one-n", type=int, help=argparse.SUPPRESS)           # a child process: one (N, noise) index
    p.add_argument("--one-kind", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.nlist, args.pq_m, args.dim, args.nprobe, args.kinds = [10_000], 32, 8, 32, [8], ["matched"]
        args.work = args.work or tempfile.mkdtemp(prefix="index_scale_smoke")
    elif not args.base:
        p.error("--base FEATURE_FILE ... (or --smoke)")
    args.work = args.work or os.path.join("runs", "index_scale")
    if args.one_n:
        print("RESULT " + json.dumps(run_one(args)), flush=True)
        return 0
    os.makedirs(args.work, exist_ok=True)
    model = load_model(args)
    check = check_models(model)
    print("\n".join(check), flush=True)
    results = []
    own = [a for a in (argv if argv is not None else sys.argv[1:])]
    for n in args.sizes:
        for kind in args.kinds:
            t0 = time.time()
            out = subprocess.run([sys.executable, os.path.abspath(__file__), *own, "--one-n", str(n),
                                  "--one-kind", kind], capture_output=True, text=True)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if out.returncode or not line:
                print(f"{n:,} {kind}: failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}", flush=True)
                continue
            results.append(json.loads(line[0][7:]))
            print("\n".join(index_lines(results[-1:], args.exact_rerank)[2:]) + f"   ({time.time() - t0:.0f} s)",
                  flush=True)
    doc = {"check": check, "index": index_lines(results, args.exact_rerank), "results": results,
           "settings": {k: v for k, v in vars(args).items() if not k.startswith("one_")}}
    from vidreid.utils.io import atomic_write_text
    atomic_write_text(os.path.join(args.work, "results.json"), json.dumps(doc, indent=1))
    print("\n".join(doc["index"]))
    return 0 if len(results) == len(args.sizes) * len(args.kinds) else 1


if __name__ == "__main__":
    sys.exit(main())
