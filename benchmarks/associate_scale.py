"""Cost of `vidreid associate`'s clustering (vidreid.tracking.associate on the k-nearest-neighbour graph of
vidreid.workflows.identities.neighbour_pairs) against the number of tracklets: random 64-d features of N/4 people
(each tracklet its person's vector + noise, L2-normalised), 8 cameras, 1000 tracklets an hour (starts uniform over
N * 3.6 s), 2-20 s long, 20 s transit between any two cameras, threshold 0.3, k = 30 neighbours. Each size runs in
its own process, so each peak RSS is that size's alone; "before" is the process's RSS with the features and times
made and the modules imported, "peak" its maximum during the association (k-NN search + clustering). At sizes up to
--exact-up-to the same tracklets are also clustered on every pair (the exact dense result) and compared.

    OMP_NUM_THREADS=1 python benchmarks/associate_scale.py [--sizes 1000 10000 100000] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def one_size(n: int, k: int, exact: bool) -> dict:
    """Associate n random tracklets in this process -> seconds, identities, RSS (MB), agreement with every pair."""
    from vidreid.tracking.associate import AssociateConfig, TrackletTimes, associate
    from vidreid.workflows.identities import neighbour_pairs
    rng = np.random.default_rng(0)
    people = rng.normal(size=(max(1, n // 4), 64))
    f = people[rng.integers(0, len(people), n)] + 0.5 * rng.normal(size=(n, 64))
    f = (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)
    start = rng.uniform(0, 3.6 * n, n)
    times = TrackletTimes(rng.integers(0, 8, n), start, start + rng.uniform(2, 20, n), True)
    cfg, transit = AssociateConfig(0.3, neighbours=k), np.full((8, 8), 20.0)
    before = _rss_mb()
    t0 = time.perf_counter()
    pairs = neighbour_pairs(f, k)
    t1 = time.perf_counter()
    ids = associate(f, times, cfg, transit, pairs)
    t2 = time.perf_counter()
    out = {"n": n, "knn_seconds": t1 - t0, "cluster_seconds": t2 - t1, "pairs": len(pairs[0]) if pairs else None,
           "identities": len(set(ids.tolist())), "rss_before_mb": before,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if exact:
        full = associate(f, times, cfg, transit)                         # every pair: the dense result
        same = [frozenset(np.flatnonzero(lab == g).tolist()) for lab in (ids, full) for g in np.unique(lab)]
        a, b = set(same[:out["identities"]]), set(same[out["identities"]:])
        out["exact_identities"] = len(b)
        out["tracklets_in_identical_identities"] = sum(len(s) for s in a & b) / n
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--neighbours", type=int, default=30)
    ap.add_argument("--exact-up-to", type=int, default=2000, help="also cluster on every pair up to this size")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)          # a child process: one size, JSON out
    ap.add_argument("--smoke", action="store_true", help="N = 40 and 300 only")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.neighbours, args.one <= args.exact_up_to)))
        return 0
    sizes = [40, 300] if args.smoke else args.sizes
    print("| tracklets | k-NN pairs | k-NN search (s) | clustering (s) | identities | RSS before (MB) | peak RSS (MB) "
          "| every pair: identities, tracklets in identical identities |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:                                                      # one process per size: separate peaks
        run = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", str(n), "--neighbours",
                              str(args.neighbours), "--exact-up-to", str(args.exact_up_to)],
                             capture_output=True, text=True)
        if run.returncode:
            print(run.stderr, file=sys.stderr)
            return run.returncode
        r = json.loads(run.stdout.strip().splitlines()[-1])
        exact = (f"{r['exact_identities']}, {100 * r['tracklets_in_identical_identities']:.1f} %"
                 if "exact_identities" in r else "")
        print(f"| {n} | {r['pairs'] or 'all'} | {r['knn_seconds']:.2f} | {r['cluster_seconds']:.2f} | "
              f"{r['identities']} | {r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | {exact} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
