"""Search latency: per-probe search time on synthetic gallery indexes, and probe-embedding time on this CPU.

1. Search. Synthetic L2-normalised features with identity structure (as re-ID features have): N / 10 identity
   centres, each tracklet = its centre + Gaussian noise (cosine to the centre 0.72), probes = new noisy samples of
   random identities.
   For each size N: build the index through vidreid's GalleryIndex (metadata included), then time
   `GalleryIndex.search` + `hits` (what `Searcher.search` does after embedding) for one probe at a time: median and
   95th percentile over `--probes` probes, top 20. Also the per-probe time when `--batch` probes are searched at
   once (what a program embedding many probes can do). Kinds: flat (exact) at every size; ivf / ivfpq on the
   largest (recall@10: the share of the exact top 10 they return in their top 10; a probe's identity has ~10
   tracklets in the gallery, `--per-id`). Memory: N x D x 4 bytes per flat index (1 M x 1024 = 4 GB;
   1 M x 2048 would be 8 GB, hence D = 1024 by default; PQ stores D/16 bytes per tracklet).
2. Probe embedding. A 32-frame probe (a folder of 32 JPEGs, 256x128) through FeatureExtractor with the default test
   sampling (dense, T=4: 8 clips), for tp with resnet50 and resnet18 backbones (untrained weights: same speed):
   model forward alone, and end to end (decode + transform + forward).

    python benchmarks/search_latency.py [--sizes 10000 1000000] [--dim 1024] [--probes 100] [--kinds flat ivf ivfpq]
                                        [--skip-embed] [--skip-search] [--smoke]
Prints markdown rows for BENCHMARKS.md ("Search latency").
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np

# OpenMP threads that spin while waiting make FAISS training ~5x slower on a machine shared with other jobs
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

CHUNK = 100_000


NOISE = 0.03   # per-coordinate std: cos(sample, its centre) = 1 / sqrt(1 + NOISE^2 D) = 0.72 at D = 1024


def clustered_features(n: int, dim: int, ids: int, seed: int, noise: float = NOISE):
    """Yield (start, chunk) of n unit vectors around `ids` unit centres (chunked: 1 M x 1024 never sits twice in
    memory)."""
    centres = np.random.default_rng(seed).standard_normal((ids, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    for start in range(0, n, CHUNK):
        rng = np.random.default_rng([seed, start])
        m = min(CHUNK, n - start)
        x = centres[rng.integers(0, ids, m)] + noise * rng.standard_normal((m, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        yield start, x


def build(kind: str, n: int, dim: int, ids: int, nlist: int | None, keep_features: bool = False):
    from vidreid.search.index import GalleryIndex
    model = {"hash": "0" * 64, "name": "synthetic", "backbone": "-", "checkpoint": "-"}
    gi = GalleryIndex.create(dim, model, {"sampling": "dense", "seq_len": 4}, kind=kind, train_count=n,
                             nlist=nlist, keep_features=keep_features)
    t0 = time.perf_counter()
    if not gi.is_trained():                                  # train on the first 64 * nlist vectors (>= 50 k)
        need = max(50_000, 64 * (nlist or 1))
        sample = np.concatenate([x for _, x in clustered_features(min(n, need), dim, ids, 0)])
        gi.train(sample)
        del sample
    t_train = time.perf_counter() - t0
    for start, x in clustered_features(n, dim, ids, 0):
        m = len(x)
        names = [f"cam{(start + i) % 6 + 1}/t{start + i:07d}" for i in range(m)]
        gi.add(x, names, [f"cam{(start + i) % 6 + 1}" for i in range(m)], [-1] * m, names,
               [(f"/g/{name}/0001.jpg",) for name in names], "0" * 64)
    return gi, t_train, time.perf_counter() - t0 - t_train


def time_search(gi, probes: np.ndarray, batch: int, top: int = 20, recall_at: int = 10, nprobe: int | None = None,
                exact_rerank: int | None = None):
    times = []
    rows_all = []
    for q in probes:                                         # one probe at a time: the latency a user sees
        t0 = time.perf_counter()
        dist, rows = gi.search(q[None], top, nprobe=nprobe, exact_rerank=exact_rerank)
        gi.hits(dist[0], rows[0])
        times.append(time.perf_counter() - t0)
        rows_all.append(rows[0, :recall_at])
    t0 = time.perf_counter()
    for s in range(0, len(probes), batch):
        gi.search(probes[s:s + batch], top, nprobe=nprobe, exact_rerank=exact_rerank)
    per_probe_batched = (time.perf_counter() - t0) / len(probes)
    return np.array(times), per_probe_batched, np.stack(rows_all)


def search_benchmark(args) -> list[str]:
    rows = []
    for n in args.sizes:
        rng = np.random.default_rng(123)
        centres = np.random.default_rng(0).standard_normal((max(1, n // args.per_id), args.dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        ids = max(1, n // args.per_id)
        probes = centres[rng.integers(0, ids, args.probes)] + NOISE * rng.standard_normal(
            (args.probes, args.dim), dtype=np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        exact = None
        kinds = [k for k in args.kinds if k == "flat" or n == max(args.sizes)]
        for kind in kinds:
            nlist = None if kind == "flat" else args.nlist
            pq = "pq" in kind
            gi, t_train, t_add = build(kind, n, args.dim, ids, nlist, keep_features=pq and bool(args.exact_rerank))
            runs = [(p, None) for p in ([None] if kind == "flat" else args.nprobe)]
            runs += [(p, args.exact_rerank) for p in args.nprobe if pq and args.exact_rerank]
            for nprobe, rerank in runs:                      # one build, several nprobe (and exact re-ranking)
                times, batched, found = time_search(gi, probes, args.batch, nprobe=nprobe, exact_rerank=rerank)
                if kind == "flat":
                    exact = found
                recall = "1 (exact)" if kind == "flat" else (
                    f"{np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact)]):.3f}"
                    if exact is not None else "-")
                mb = gi.faiss_index.sa_code_size() * n / 2 ** 20 if kind != "flat" else 4 * args.dim * n / 2 ** 20
                disk = f" + {2 * args.dim * n / 2 ** 20:,.0f} MB float16 on disk" if rerank else ""
                what = gi.header["factory"] + (f", nprobe {nprobe}" if nprobe else "") + (
                    f", exact re-rank of {rerank}" if rerank else "")
                line = (f"| {n:,} | {args.dim} | {what} | "
                        f"{1e3 * np.median(times):.2f} ms | {1e3 * np.percentile(times, 95):.2f} ms | "
                        f"{1e3 * batched:.3f} ms | {recall} | {mb:,.0f} MB{disk} | {t_train + t_add:.0f} s |")
                print(line, flush=True)
                rows.append(line)
            del gi
    return rows


def embed_benchmark(args) -> list[str]:
    import simplejpeg
    import torch

    from vidreid.config import Config
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.models import build_model
    from vidreid.search import FeatureExtractor
    rows, (H, W) = [], args.frame_size
    tmp = tempfile.mkdtemp(prefix="vidreid-bench-")
    probe = os.path.join(tmp, "probe")
    os.makedirs(probe)
    rng = np.random.default_rng(0)
    for i in range(32):
        img = np.kron(rng.integers(0, 255, (16, 8, 3)), np.ones((H // 16, W // 8, 1))).astype(np.uint8)  # (H, W, 3)
        with open(os.path.join(probe, f"{i:04d}.jpg"), "wb") as f:
            f.write(simplejpeg.encode_jpeg(img, quality=90))
    for backbone in args.backbones:
        cfg = Config()
        cfg.model.name, cfg.model.backbone = "tp", backbone
        cfg.data.height, cfg.data.width = H, W
        ck = os.path.join(tmp, f"tp_{backbone}.safetensors")
        save_checkpoint(ck, build_model("tp", 625, backbone=backbone), {"model": "tp", "num_classes": 625,
                                                                          "config": cfg.to_dict()})
        fx = FeatureExtractor(ck)
        fx(probe)                                            # warm-up (allocations, oneDNN kernels)
        clips = torch.randn(8, 4, 3, H, W)
        fwd, e2e = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with torch.no_grad():
                fx.model(clips)
            fwd.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fx(probe)
            e2e.append(time.perf_counter() - t0)
        line = (f"| tp / {backbone} | 32 frames {H}x{W} (dense, 8 clips of T=4) | {1e3 * min(fwd):.0f} ms | "
                f"{1e3 * min(e2e):.0f} ms | {torch.get_num_threads()} |")
        print(line, flush=True)
        rows.append(line)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--per-id", type=int, default=10, help="gallery tracklets per identity (MARS: ~10)")
    p.add_argument("--probes", type=int, default=100)
    p.add_argument("--batch", type=int, default=64, help="probes per call for the batched figure")
    p.add_argument("--kinds", nargs="+", default=["flat", "ivf", "ivfpq"],
                   help="flat ivf ivfpq ivfhnswpq (vidreid.search.index.KINDS)")
    p.add_argument("--exact-rerank", type=int, default=0, metavar="R",
                   help="PQ kinds: also time searches that re-score R candidates exactly (keep_features)")
    p.add_argument("--nlist", type=int, default=1024, help="IVF lists for the largest size")
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 128], help="IVF lists visited (each timed)")
    p.add_argument("--backbones", nargs="+", default=["resnet50", "resnet18"])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-embed", action="store_true")
    p.add_argument("--skip-search", action="store_true")
    p.add_argument("--smoke", action="store_true", help="seconds: 2,000 x 64-d, flat/ivf/ivfpq with 16 lists, 10 "
                   "probes; resnet18 embedding of a 64x32 probe once")
    args = p.parse_args()
    args.frame_size = (64, 32) if args.smoke else (256, 128)             # of the probe's frames and the model input
    if args.smoke:
        args.sizes, args.dim, args.probes, args.batch, args.nlist, args.nprobe = [2000], 64, 10, 5, 16, [4]
        args.kinds, args.exact_rerank = ["flat", "ivf", "ivfpq", "ivfhnswpq"], 50
        args.backbones, args.repeat = ["resnet18"], 1
    import faiss
    import torch
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads)")
    if not args.skip_search:
        print("\n| tracklets | D | index | latency median | p95 | per probe, batched | recall@10 | memory | build |")
        print("|---|---|---|---|---|---|---|---|---|")
        search_benchmark(args)
    if not args.skip_embed:
        print("\n| model | probe | forward | end to end | threads |")
        print("|---|---|---|---|---|")
        embed_benchmark(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
