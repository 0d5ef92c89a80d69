"""vidreid.eval.evaluate vs torchreid 0.2.5's numpy `evaluate_rank`, on a MARS-sized problem.

MARS's real test pids and cameras (tracks_test_info.mat + query_IDX.mat) with random 128-d features:
* gao: 1980 queries x 9330 gallery (test tracklets minus the queries and pid -1); CMC and mAP must equal
  torchreid's to 1e-6.
* mars: 1980 x 12180 (every test tracklet); CMC, mAP and mINP must equal the per-query reference of
  tests/test_metrics.py to 1e-6. torchreid has no mars protocol: as the speed reference at equal size, its
  `evaluate_rank` (gao rules) is timed on the same 1980 x 12180 matrix (its numbers are not compared: other rules).
Distances are float32, as vidreid.eval.distance returns them, made unique within each row (a one-ulp nudge on
the rare exact ties), because torchreid's unstable quicksort orders ties arbitrarily while we order them by index.
Both sides run in this process, alternately, `--repeat` times; the minimum is reported (timings are noisy on a
shared machine). Exits 1 on any mismatch. Prints markdown rows for BENCHMARKS.md.

    python benchmarks/eval_speed.py [--repeat 3] [--mars-info DIR] [--seed 0] [--smoke]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import scipy.io

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import _torchreid_ref  # noqa: E402

from vidreid.eval import distance, evaluate  # noqa: E402

TOLERANCE = 1e-6


def load_mars_test(info_dir):
    """pids, 0-based cameras of the 12180 test tracklets and the 0-based query indices."""
    try:
        table = scipy.io.loadmat(os.path.join(info_dir, "tracks_test_info.mat"))["track_test_info"]
        query = scipy.io.loadmat(os.path.join(info_dir, "query_IDX.mat"))["query_IDX"]
    except (OSError, KeyError) as err:
        sys.exit(f"error: cannot read MARS info files in {info_dir} (tracks_test_info.mat, query_IDX.mat): {err}")
    # columns: first frame, last frame, pid, camera (1-based); query_IDX is 1-based (and uint16)
    return table[:, 2].astype(np.int64), table[:, 3].astype(np.int64) - 1, query.ravel().astype(np.int64) - 1


def smoke_problem(seed, n=400, num_query=60):
    """A tiny MARS-like test set: pids (-1 and 0 = junk/distractors, as in MARS), 6 cameras, queries among the
    real identities."""
    rng = np.random.default_rng(seed)
    pids, cams = rng.integers(-1, 40, n), rng.integers(0, 6, n)
    return pids, cams, np.flatnonzero(pids > 0)[:num_query]


def synthetic_features(pids, seed, dim=128, signal=0.8):
    """Random 128-d features with some identity signal (an identity centre plus noise; pid -1 and 0 are pure
    noise), so that CMC and mAP are neither 0 nor 1 and the comparison checks something."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((pids.max() + 1, dim))
    features = rng.standard_normal((len(pids), dim))
    person = pids > 0
    features[person] += signal * centres[pids[person]]
    return features.astype(np.float32)


def untie_rows(dist):
    """Nudge exact ties within each row up by one ulp until every row's values are distinct."""
    dist = dist.copy()
    nudged = 0
    while True:
        order = np.argsort(dist, axis=1, kind="stable")
        ranked = np.take_along_axis(dist, order, 1)
        rows, cols = np.nonzero(ranked[:, 1:] == ranked[:, :-1])
        if rows.size == 0:
            return dist, nudged
        later = order[rows, cols + 1]
        dist[rows, later] = np.nextafter(dist[rows, later], np.asarray(np.inf, dist.dtype))
        nudged += rows.size


def load_reference_evaluate():
    path = os.path.join(os.path.dirname(HERE), "tests", "test_metrics.py")
    spec = importlib.util.spec_from_file_location("_vidreid_test_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_evaluate


def best_of(repeat, *calls):
    """Run the calls alternately `repeat` times; per call, (min seconds, last result)."""
    times = [[] for _ in calls]
    results = [None] * len(calls)
    for _ in range(repeat):
        for k, call in enumerate(calls):
            start = time.perf_counter()
            results[k] = call()
            times[k].append(time.perf_counter() - start)
    return [(min(t), r) for t, r in zip(times, results)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side (min is reported)")
    parser.add_argument("--mars-info", default=os.environ.get("VIDREID_MARS_INFO", "/work/shared/data/mars-info"),
                        help="folder with MARS's tracks_test_info.mat and query_IDX.mat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: 60 queries of 400 synthetic tracklets (no MARS files), one run each")
    args = parser.parse_args()

    if args.smoke:
        pids, cams, query = smoke_problem(args.seed)
        args.repeat = 1
    else:
        pids, cams, query = load_mars_test(args.mars_info)
    features = synthetic_features(pids, args.seed)
    q_pids, q_cams = pids[query], cams[query]
    gao_gallery = np.ones(len(pids), dtype=bool)
    gao_gallery[query] = False
    gao_gallery &= pids != -1
    torchreid_evaluate_rank = _torchreid_ref.evaluate_rank()
    reference_evaluate = load_reference_evaluate()
    load = os.getloadavg()[0]
    failures = []
    rows = []

    # gao: against torchreid
    dist, nudged = untie_rows(distance(features[query], features[gao_gallery]))
    g_pids, g_cams = pids[gao_gallery], cams[gao_gallery]
    (t_ref, (ref_cmc, ref_map)), (t_ours, ours) = best_of(
        args.repeat,
        lambda: torchreid_evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50, use_cython=False),
        lambda: evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol="gao", max_rank=50))
    diff = max(np.abs(ref_cmc - ours["cmc"]).max(), abs(ref_map - ours["mAP"]))
    print(f"gao  {dist.shape[0]} x {dist.shape[1]} ({nudged} tied values nudged): torchreid {t_ref:.3f} s, "
          f"vidreid {t_ours:.3f} s, speed-up {t_ref / t_ours:.1f}x; R1 {ours['cmc'][0]:.4f} mAP {ours['mAP']:.4f} "
          f"({ours['num_valid_queries']} queries); max |diff| {diff:.1e}")
    if not diff <= TOLERANCE:
        failures.append(f"gao: CMC/mAP differ from torchreid by {diff:.2e} > {TOLERANCE}")
    rows.append(f"| evaluate, gao | {dist.shape[0]} x {dist.shape[1]}, float32 | torchreid 0.2.5 `evaluate_rank` "
                f"(numpy) | {t_ref:.2f} s | {t_ours:.3f} s | {t_ref / t_ours:.0f}x | CMC, mAP: max diff {diff:.0e} |")

    # mars: correctness against the per-query reference (timed once); speed against torchreid's evaluate_rank on
    # the same matrix (gao rules: the nearest thing torchreid has, the same sort and cumulative sums per query)
    dist, nudged = untie_rows(distance(features[query], features))
    start = time.perf_counter()
    expected = reference_evaluate(dist, q_pids, pids, q_cams, cams, "mars", max_rank=50)
    t_per_query = time.perf_counter() - start
    (t_ref, _), (t_ours, ours) = best_of(
        args.repeat,
        lambda: torchreid_evaluate_rank(dist, q_pids, pids, q_cams, cams, max_rank=50, use_cython=False),
        lambda: evaluate(dist, q_pids, pids, q_cams, cams, protocol="mars"))
    diff = max(np.abs(expected["cmc"] - ours["cmc"]).max(), abs(expected["mAP"] - ours["mAP"]),
               abs(expected["mINP"] - ours["mINP"]))
    print(f"mars {dist.shape[0]} x {dist.shape[1]} ({nudged} tied values nudged): torchreid evaluate_rank (gao rules, "
          f"same matrix) {t_ref:.3f} s, per-query reference {t_per_query:.3f} s, vidreid {t_ours:.3f} s, speed-up "
          f"{t_ref / t_ours:.1f}x vs torchreid; R1 {ours['cmc'][0]:.4f} mAP {ours['mAP']:.4f} mINP "
          f"{ours['mINP']:.4f} ({ours['num_valid_queries']} queries); max |diff| vs reference {diff:.1e}")
    if not diff <= TOLERANCE or expected["num_valid_queries"] != ours["num_valid_queries"]:
        failures.append(f"mars: CMC/mAP/mINP differ from the reference by {diff:.2e} > {TOLERANCE}")
    rows.append(f"| evaluate, mars | {dist.shape[0]} x {dist.shape[1]}, float32 | torchreid 0.2.5 `evaluate_rank` "
                f"(numpy) on the same matrix, gao rules (speed reference: torchreid has no mars protocol) | "
                f"{t_ref:.2f} s | {t_ours:.3f} s | {t_ref / t_ours:.0f}x | CMC, mAP, mINP vs the per-query reference "
                f"(tests/test_metrics.py, {t_per_query:.2f} s): max diff {diff:.0e} |")

    print(f"\n{len(os.sched_getaffinity(0))} CPUs, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
          f"min of {args.repeat} runs\n")
    print("| task | problem | reference | reference time | vidreid | speed-up | agreement |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if failures:
        print("\nFAILED: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
