"""Pipeline scale benchmark (issue 30): `vidreid tracklets` on the same videos, single process against the Ray engine
(local Ray, 1 and 2 workers), with the per-task overhead of the Ray path.

1. Videos: SynthPed scenes (`vidreid synth --scenes`: --cams videos of --frames frames at --size, seed 1).
2. Detectors: "hog" (OpenCV's HOG, compute-bound: what parallel workers can speed up) and "oracle" (each scene's
   det.txt: tracking and cutting only, so the engine's own costs show).
3. Per detector: the default single-process engine, then for each --workers W a fresh local Ray
   (ray.init(num_cpus=W, object_store_memory=100 MB, no dashboard): its start time is reported apart). Each engine
   runs the command twice, into new OUTs: "cold" (the first: this process imports OpenCV and vidreid's tracking;
   Ray starts its worker processes, which import them too) and "warm" (the same command again). Every Ray
   output's tracklets must equal the single process's (checked here; the benchmark stops otherwise).
   per-task overhead = (wall of Ray with 1 worker - wall of the single process, cold with cold and warm with warm)
   / videos: the same work done serially
   by one worker, so the difference is what the engine adds per video (scheduling, a worker building its
   detector, the part's temp folder, json and rename, hard-linking the parts into OUT).
   Every process (this one, Ray's workers) uses one thread for OpenCV and BLAS (OPENCV_FOR_THREADS_NUM,
   OMP_NUM_THREADS = 1), so that 1 worker = 1 core; 2 workers on this 2-core machine share it with whatever else runs.

    nice -n 5 python benchmarks/scale.py [--cams 4] [--frames 60] [--size 288x512] [--detectors hog oracle]
        [--workers 1 2] [--work runs/scale_bench]
    python benchmarks/scale.py --smoke       # tiny; without Ray installed: the single-process run and a skip line
Prints markdown rows for BENCHMARKS.md ("Pipeline at scale") and writes WORK/results.json.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")           # before numpy / cv2 / torch load, inherited by Ray's workers
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")

import argparse                                          # noqa: E402
import contextlib                                        # noqa: E402
import io                                                # noqa: E402
import json                                              # noqa: E402
import shutil                                            # noqa: E402
import sys                                               # noqa: E402
import time                                              # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def make_videos(work: str, cams: int, frames: int, size: tuple[int, int]) -> tuple[list[str], list[str]]:
    """SynthPed scenes -> (video paths, their oracle det.txt files), made once per WORK."""
    from vidreid.data.synthped.scenes import SceneConfig, generate_scenes
    root = os.path.join(work, f"scenes-{cams}x{frames}-{size[0]}x{size[1]}")
    if not os.path.isfile(os.path.join(root, "scenes.json")):
        generate_scenes(root, SceneConfig(cams=cams, ids=max(2, 2 * cams), frames=frames, height=size[0],
                                          width=size[1], seed=1), progress=False)
    names = [f"cam{i}" for i in range(1, cams + 1)]
    return ([os.path.join(root, n, f"{n}.avi") for n in names],
            [os.path.join(root, n, "det", "det.txt") for n in names])


def tracklets(argv: list[str], out: str) -> float:
    """One `vidreid tracklets` run into a fresh `out` -> wall seconds (the benchmark stops if it fails)."""
    from vidreid.cli import main
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):                 # (its JSON summary: not for this table)
        code = main(argv + ["--out", out, "--no-progress", "--json"])
    wall = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"vidreid tracklets {' '.join(argv)} exited {code}")
    return wall


def same_tracklets(a: str, b: str) -> None:
    docs = [json.load(open(os.path.join(o, "tracklets.json"))) for o in (a, b)]
    if docs[0]["tracklets"] != docs[1]["tracklets"]:
        sys.exit(f"the Ray output {b} differs from the single-process output {a}")


def bench_detector(name: str, videos: list[str], dets: list[str], workers: list[int], work: str, ray) -> list[dict]:
    """Rows for one detector: the single process, then Ray with each worker count; each twice (cold, warm)."""
    argv = ["tracklets", *videos] + ([a for d in dets for a in ("--detections", d)] if name == "oracle" else [])
    single = os.path.join(work, f"out-{name}-single-cold")
    rows = [{"detector": name, "engine": f"single process ({run})", "workers": 1, "run": run,
             "wall_s": tracklets(argv, os.path.join(work, f"out-{name}-single-{run}"))} for run in ("cold", "warm")]
    doc = json.load(open(os.path.join(single, "tracklets.json")))
    frames = sum(v["frames_processed"] for v in doc["videos"])
    if ray is not None:
        from vidreid.workflows.ray_engine import OBJECT_STORE_BYTES
        for w in workers:
            t0 = time.perf_counter()
            ray.init(num_cpus=w, object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False,
                     log_to_driver=False)
            start = time.perf_counter() - t0
            try:
                for run in ("cold", "warm"):
                    out = os.path.join(work, f"out-{name}-ray{w}-{run}")
                    wall = tracklets(argv + ["--engine", "ray"], out)
                    same_tracklets(single, out)
                    rows.append({"detector": name, "engine": f"Ray ({run})", "workers": w, "run": run,
                                 "wall_s": wall, "ray_start_s": start if run == "cold" else None})
            finally:
                ray.shutdown()
    by_run = {r["run"]: r["wall_s"] for r in rows[:2]}
    for r in rows:
        r["frames"], r["tracklets"] = frames, len(doc["tracklets"])
        if r["engine"].startswith("Ray") and r["workers"] == 1:
            r["overhead_per_task_s"] = (r["wall_s"] - by_run[r["run"]]) / len(videos)
    return rows


def main() -> int:
    # every run detects: its frames/s are the detector's and the engine's, not the detection cache's (a second run
    # of a video would read its boxes from there; benchmarks/detection_cache.py measures that)
    os.environ["VIDREID_NO_DETECTION_CACHE"] = "1"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cams", type=int, default=4, help="videos (scene cameras)")
    ap.add_argument("--frames", type=int, default=60, help="frames per video")
    ap.add_argument("--size", default="288x512", help="frame HEIGHTxWIDTH")
    ap.add_argument("--detectors", nargs="+", default=["hog", "oracle"], choices=("hog", "oracle"))
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="local Ray CPUs to compare")
    ap.add_argument("--work", default="runs/scale_bench")
    ap.add_argument("--smoke", action="store_true", help="2 tiny videos, oracle detections, 1 worker")
    args = ap.parse_args()
    if args.smoke:
        from _smoke import smoke_dir
        args.cams, args.frames, args.size, args.detectors, args.workers = 2, 20, "96x160", ["oracle"], [1]
        args.work = smoke_dir("scale")
    try:
        import ray
    except ImportError:
        ray = None
    size = tuple(int(v) for v in args.size.lower().split("x"))
    os.makedirs(args.work, exist_ok=True)
    videos, dets = make_videos(args.work, args.cams, args.frames, size)
    rows, load = [], [os.getloadavg()[0]]
    for name in args.detectors:
        rows += bench_detector(name, videos, dets, args.workers, args.work, ray)
    load.append(os.getloadavg()[0])
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump({"cams": args.cams, "frames": args.frames, "size": args.size, "load_average": load, "rows": rows},
                  f, indent=1)
    print(f"\n{args.cams} videos x {args.frames} frames of {args.size} (SynthPed scenes, seed 1); load average "
          f"{load[0]:.1f} at the start, {load[1]:.1f} at the end\n")
    print("| detector | engine | workers | tracklets | Ray start (s) | wall (s) | frames/s | "
          "per-task overhead vs single (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        start = f"{r['ray_start_s']:.1f}" if r.get("ray_start_s") is not None else ""
        over = f"{r['overhead_per_task_s']:+.2f}" if "overhead_per_task_s" in r else ""
        print(f"| {r['detector']} | {r['engine']} | {r['workers']} | {r['tracklets']} | {start} | "
              f"{r['wall_s']:.2f} | {r['frames'] / r['wall_s']:.1f} | {over} |")
    if ray is None:
        print("skipped the Ray rows: Ray is not installed (pip install 'vidreid[ray]', or `make test-ray`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
