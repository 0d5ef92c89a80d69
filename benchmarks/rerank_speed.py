"""vidreid.eval.rerank vs torchreid 0.2.5's `re_ranking`, on a MARS-sized problem: time and peak memory.

Q = 1980 queries, G = 9330 gallery tracklets (MARS's gao split with its real pids, when the MARS info files are
there; other sizes use synthetic identities), 128-d synthetic features with some identity signal; squared
Euclidean distances from vidreid.eval.distance (float32), k1=20, k2=6, lambda=0.3.
The parent process writes q_g, q_q and g_g to a temporary folder; every run happens in a fresh subprocess that
loads them, imports one implementation and calls it, so each peak RSS (VmHWM) is that implementation's alone.
"peak" is the subprocess's whole peak (inputs, interpreter and libraries included); "+" is the part above what
it held just before the call (inputs loaded, implementation imported). Runs alternate, `--repeat` times each; the
minimum time is reported. Exits 1 if the two results differ by more than 1e-4 anywhere.

    python benchmarks/rerank_speed.py [--repeat 2] [--num-query 1980] [--num-gallery 9330] [--skip-torchreid] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-4


def peak_rss() -> int:
    """Peak resident memory of this process, in bytes: VmHWM on Linux (ru_maxrss would also count the parent's
    memory at fork, which Linux carries over an exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(implementation, data_dir, out_path):
    """One timed call in this (fresh) process; prints a JSON line."""
    sys.path.insert(0, os.path.dirname(HERE))
    sys.path.insert(0, HERE)
    inputs = [np.load(os.path.join(data_dir, f"{name}.npy")) for name in ("q_g", "q_q", "g_g")]
    if implementation == "torchreid":
        import _torchreid_ref
        function = _torchreid_ref.re_ranking()
    else:
        from vidreid.eval import rerank as function
    ready = peak_rss()
    start = time.perf_counter()
    result = function(*inputs, k1=20, k2=6, lambda_value=0.3)
    seconds = time.perf_counter() - start
    peak = peak_rss()
    if out_path:
        np.save(out_path, result)
    print(json.dumps({"seconds": seconds, "peak": peak, "ready": ready}))


def run_child(implementation, data_dir, out_path):
    command = [sys.executable, os.path.abspath(__file__), "--child", implementation, "--data", data_dir,
               "--out", out_path or ""]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: the {implementation} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gib(n_bytes):
    return n_bytes / 2 ** 30


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side (min time, max memory)")
    parser.add_argument("--num-query", type=int, default=1980)
    parser.add_argument("--num-gallery", type=int, default=9330)
    parser.add_argument("--skip-torchreid", action="store_true", help="time ours only (e.g. for a big gallery)")
    parser.add_argument("--mars-info", default=os.environ.get("VIDREID_MARS_INFO", "/work/shared/data/mars-info"),
                        help="MARS info folder: its pids/cameras are used at the default sizes, if present")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="seconds: Q=40, G=200, one run each (checks agreement)")
    parser.add_argument("--child", choices=["ours", "torchreid"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data, args.out)
    if args.smoke:
        args.num_query, args.num_gallery, args.repeat = 40, 200, 1

    sys.path.insert(0, os.path.dirname(HERE))
    sys.path.insert(0, HERE)
    from eval_speed import load_mars_test, synthetic_features

    from vidreid.eval import distance, evaluate
    num_q, num_g = args.num_query, args.num_gallery
    if (num_q, num_g) == (1980, 9330) and os.path.isdir(args.mars_info):  # MARS's gao split, real identities
        mars_pids, mars_cams, query = load_mars_test(args.mars_info)
        gallery = np.ones(len(mars_pids), dtype=bool)
        gallery[query] = False
        gallery &= mars_pids != -1
        pids = np.concatenate([mars_pids[query], mars_pids[gallery]])
        cams = np.concatenate([mars_cams[query], mars_cams[gallery]])
        source = "MARS gao split"
    else:  # ~15 tracklets per identity, 6 cameras
        rng = np.random.default_rng(args.seed)
        pids = rng.integers(1, max(2, (num_q + num_g) // 15), num_q + num_g)
        cams = rng.integers(0, 6, num_q + num_g)
        source = "synthetic identities"
    features = synthetic_features(pids, args.seed)
    qf, gf = features[:num_q], features[num_q:]
    work = tempfile.mkdtemp(prefix="vidreid-rerank-bench-")
    try:
        q_g = distance(qf, gf)
        np.save(os.path.join(work, "q_g.npy"), q_g)
        np.save(os.path.join(work, "q_q.npy"), distance(qf, qf))
        np.save(os.path.join(work, "g_g.npy"), distance(gf, gf))  # not kept here: at G=50k it is 10 GB
        input_bytes = sum(os.path.getsize(os.path.join(work, f"{n}.npy")) for n in ("q_g", "q_q", "g_g"))
        load = os.getloadavg()[0]
        sides = ["ours"] if args.skip_torchreid else ["torchreid", "ours"]
        runs = {side: [] for side in sides}
        for r in range(args.repeat):
            for side in sides:
                out = os.path.join(work, f"{side}.npy") if r == 0 else None
                runs[side].append(run_child(side, work, out))
                print(f"  {side:9s} run {r + 1}: {runs[side][-1]['seconds']:.2f} s, "
                      f"peak {gib(runs[side][-1]['peak']):.2f} GiB", file=sys.stderr)
        best = {s: {"seconds": min(x["seconds"] for x in runs[s]), "peak": max(x["peak"] for x in runs[s]),
                    "extra": max(x["peak"] - x["ready"] for x in runs[s])} for s in sides}
        ours = np.load(os.path.join(work, "ours.npy"))
        before = evaluate(q_g, pids[:num_q], pids[num_q:], cams[:num_q], cams[num_q:], protocol="gao")
        after = evaluate(ours, pids[:num_q], pids[num_q:], cams[:num_q], cams[num_q:], protocol="gao")
        print(f"Q={num_q}, G={num_g}, d=128 ({source}): inputs {gib(input_bytes):.2f} GiB; mAP {before['mAP']:.4f} -> "
              f"{after['mAP']:.4f} after re-ranking")
        o = best["ours"]
        cells = f"{o['seconds']:.2f} s, {gib(o['peak']):.2f} GiB (+{gib(o['extra']):.2f})"
        if args.skip_torchreid:
            print(f"vidreid {cells}; {len(os.sched_getaffinity(0))} CPUs, load average {load:.1f} -> "
                  f"{os.getloadavg()[0]:.1f}; min time / max memory of {args.repeat} runs")
            return
        theirs = np.load(os.path.join(work, "torchreid.npy"))
        diff = float(np.abs(theirs - ours).max())
        t = best["torchreid"]
        print(f"torchreid {t['seconds']:.2f} s, peak {gib(t['peak']):.2f} GiB (+{gib(t['extra']):.2f}); "
              f"vidreid {o['seconds']:.2f} s, peak {gib(o['peak']):.2f} GiB (+{gib(o['extra']):.2f}); "
              f"speed-up {t['seconds'] / o['seconds']:.1f}x, memory {t['peak'] / o['peak']:.1f}x less; "
              f"max |diff| {diff:.1e}")
        print(f"\n{len(os.sched_getaffinity(0))} CPUs, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
              f"min time / max memory of {args.repeat} runs each\n")
        print("| task | problem | torchreid 0.2.5 (time, peak RSS (+ above inputs)) | vidreid | speed-up | "
              "agreement |")
        print("|---|---|---|---|---|---|")
        print(f"| rerank k1=20 k2=6 λ=0.3 | Q={num_q}, G={num_g}, d=128 | {t['seconds']:.2f} s, "
              f"{gib(t['peak']):.2f} GiB (+{gib(t['extra']):.2f}) | {cells} | {t['seconds'] / o['seconds']:.1f}x | "
              f"max diff {diff:.0e} |")
        if not diff <= TOLERANCE:
            print(f"\nFAILED: results differ by {diff:.2e} > {TOLERANCE}", file=sys.stderr)
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
