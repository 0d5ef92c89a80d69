"""Scene benchmark: detection + tracking + tracklet cutting + cross-camera re-ID on SynthPed scenes, where every box
and identity is known.

1. Scenes: `vidreid synth --scenes` (default here: 3 cameras, 12 identities, 200 frames of 288x512 at 10 fps, seed 1
   -- not seed 0, so that no scene identity is one of a SynthPed seed-0 training set's).
2. For each detector -- "oracle" (the ground-truth boxes with visibility >= 0.25 as det.txt, score 1: the tracker
   alone) and "hog" (OpenCV's HOG people detector, frames upscaled by --upscale) -- run `vidreid tracklets` on all
   cameras, then
   * MOT metrics of each camera's tracks (OUT/<cam>.tracks.txt) against all its ground-truth boxes (visibility > 0),
     py-motmetrics definitions (vidreid.tracking.metrics), IoU >= 0.5; totals = counts summed over cameras;
     also of the cut tracklets (the boxes kept in tracklets.json, with their track numbers: what the gallery gets);
   * "+join" modes add `--checkpoint` fragment joining (vidreid.tracking.join) with the same checkpoint;
   * re-ID of the cut tracklets across cameras: each tracklet's identity is the majority ground-truth id of its
     boxes (IoU >= 0.5 with that frame's ground truth; none -> pid 0, a distractor); purity = share of its boxes
     with that id. Features: FeatureExtractor(--checkpoint) (its own test sampling), distance 1 - cos; `mars`
     rules (vidreid.eval.evaluate): gallery = every tracklet, queries = the tracklets whose identity also has a
     tracklet in another camera; same id + same camera is junk.

    python benchmarks/scene_tracking.py --checkpoint runs/scene_reid/checkpoints/last.safetensors \
        [--work runs/scene_bench] [--detectors oracle hog] [--upscale 1.5] [--every 1]
Prints markdown rows for BENCHMARKS.md ("Scene benchmark") and writes WORK/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def majority_ids(entry: dict, gt: np.ndarray) -> tuple[int, float]:
    """A tracklet's majority ground-truth id (0 when none of its boxes matches one) and its purity."""
    from vidreid.tracking.tracker import iou_matrix
    frames = np.asarray(entry["frames"])
    boxes = np.asarray(entry["boxes"], np.float64)
    g = gt[np.isin(gt[:, 0], frames)]
    ids = np.zeros(len(frames), np.int64)
    for k, f in enumerate(frames.tolist()):                           # loop over one tracklet's boxes
        rows = g[g[:, 0] == f]
        if len(rows):
            iou = iou_matrix(boxes[k:k + 1], rows[:, 2:6])[0]
            if iou.max() >= 0.5:
                ids[k] = int(rows[iou.argmax(), 1])
    matched = ids[ids > 0]
    if not len(matched):
        return 0, 0.0
    values, counts = np.unique(matched, return_counts=True)
    return int(values[counts.argmax()]), float(counts.max() / len(ids))


def reid(sidecar: dict, out: str, gts: dict, checkpoint: str) -> dict:
    from vidreid.data.types import Tracklet
    from vidreid.eval.metrics import evaluate
    from vidreid.search.extractor import FeatureExtractor
    entries = sidecar["tracklets"]
    pids, purity = zip(*[majority_ids(e, gts[e["camera"]]) for e in entries]) if entries else ((), ())
    pids, camids = np.array(pids), np.array([e["camid"] for e in entries])
    tracklets = [Tracklet(tuple(os.path.join(out, "tracklets", e["name"], f"f{f:06d}.jpg") for f in e["frames"]), int(p), int(c))
                 for e, p, c in zip(entries, pids, camids)]
    ex = FeatureExtractor(checkpoint, workers=0)
    feats = ex.embed_tracklets(tracklets)
    dist = 1.0 - feats @ feats.T
    other_cam = (pids[:, None] == pids[None]) & (camids[:, None] != camids[None]) & (pids[:, None] > 0)
    q = np.flatnonzero(other_cam.any(1))
    res = evaluate(dist[q], pids[q], pids, camids[q], camids, "mars") if len(q) else None
    return {"tracklets": len(entries), "distractors": int((pids == 0).sum()), "queries": int(len(q)),
            "identities": int(len(set(pids[pids > 0].tolist()))), "purity": float(np.mean(purity)) if entries else 0,
            "mAP": res["mAP"] if res else float("nan"), "R1": float(res["cmc"][0]) if res else float("nan"),
            "R5": float(res["cmc"][4]) if res else float("nan")}


def totals() -> dict:
    return dict(num_gt=0, num_hyp=0, fp=0, fn=0, id_switches=0, idtp=0, mota=float("nan"), idf1=float("nan"))


def add(tot: dict, m) -> None:
    """Sum one camera's counts into `tot` and recompute MOTA and IDF1 from the sums."""
    for k in ("num_gt", "num_hyp", "fp", "fn", "id_switches", "idtp"):
        tot[k] += getattr(m, k)
    tot["mota"] = 1 - (tot["fn"] + tot["fp"] + tot["id_switches"]) / tot["num_gt"]
    tot["idf1"] = 2 * tot["idtp"] / (tot["num_gt"] + tot["num_hyp"])


def main() -> int:
    # every run detects: its frames/s are the detector's and the engine's, not the detection cache's (a second run
    # of a video would read its boxes from there; benchmarks/detection_cache.py measures that)
    os.environ["VIDREID_NO_DETECTION_CACHE"] = "1"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="re-ID checkpoint for the cross-camera part (required)")
    ap.add_argument("--work", default="runs/scene_bench", help="scenes and tracklets go here")
    ap.add_argument("--detectors", nargs="+", default=["oracle", "oracle+join", "hog"],
                    choices=["oracle", "oracle+join", "hog", "hog+join"])
    ap.add_argument("--cams", type=int, default=3)
    ap.add_argument("--ids", type=int, default=12)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", default="288x512")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--upscale", type=float, default=1.5, help="hog: frame scale before detection")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--join-distance", type=float, nargs="+", default=[0.25],
                    help="+join modes: JoinConfig.max_distance values to run (one row each)")
    ap.add_argument("--smoke", action="store_true", help="seconds: 2 cameras, 3 ids, 30 frames of 144x256, oracle "
                    "detections with and without joining, an untrained TP checkpoint, in a temporary folder")
    args = ap.parse_args()
    if args.smoke:
        from _smoke import smoke_dir, untrained_checkpoint
        args.work = smoke_dir("scene_tracking")
        args.checkpoint = untrained_checkpoint(args.work, "tp")
        args.cams, args.ids, args.frames, args.size, args.detectors = 2, 3, 30, "144x256", ["oracle", "oracle+join"]
    elif not args.checkpoint:
        ap.error("--checkpoint is required (or --smoke)")
    import torch
    torch.set_num_threads(1)
    from vidreid.data.synthped import parse_size
    from vidreid.data.synthped.scenes import SceneConfig, generate_scenes
    from vidreid.tracking.cut import CutConfig
    from vidreid.tracking.detectors import FileDetector, HogDetector, read_mot_file
    from vidreid.tracking.metrics import evaluate_mot
    from vidreid.tracking.pipeline import run_tracklets
    from vidreid.tracking.tracker import TrackerConfig

    h, w = parse_size(args.size)
    cfg = SceneConfig(cams=args.cams, ids=args.ids, frames=args.frames, height=h, width=w, seed=args.seed)
    scenes = os.path.join(args.work, "scenes")
    marker = os.path.join(scenes, "scenes.json")
    if not (os.path.isfile(marker) and json.load(open(marker))["config"] == json.loads(json.dumps(cfg.__dict__))):
        t0 = time.perf_counter()
        generate_scenes(scenes, cfg, progress=True, force=os.path.exists(marker))
        print(f"scenes rendered in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    cams = [f"cam{i + 1}" for i in range(args.cams)]
    videos = [os.path.join(scenes, c, f"{c}.avi") for c in cams]
    gts = {c: read_mot_file(os.path.join(scenes, c, "gt", "gt.txt")) for c in cams}
    results = {"config": cfg.__dict__, "upscale": args.upscale, "every": args.every, "checkpoint": args.checkpoint}
    rows = []
    runs = [(m, d) for m in args.detectors for d in (args.join_distance if m.endswith("+join") else [None])]
    for mode, join_distance in runs:
        join = None
        if join_distance is not None:
            from vidreid.search.extractor import FeatureExtractor
            from vidreid.tracking.join import JoinConfig
            join = (FeatureExtractor(args.checkpoint, workers=0), JoinConfig(max_distance=join_distance))
            mode = f"{mode} {join_distance:g}"
        if mode.startswith("oracle"):
            dets = [FileDetector(os.path.join(scenes, c, "det", "det.txt")) for c in cams]
            tcfg = TrackerConfig(high_score=0.5, new_track_score=0.6)
        else:
            dets = [HogDetector(args.upscale)] * len(cams)
            tcfg = TrackerConfig()
        out = os.path.join(args.work, "tracklets_" + mode.replace("+", "_").replace(" ", "_"))
        t0 = time.perf_counter()
        side = run_tracklets(videos, out, dets, cams, tcfg, CutConfig(min_height=32), args.every, preview=None,
                             progress=True, force=True, detector_name=mode, join=join)
        seconds = time.perf_counter() - t0
        per_cam, tot, tot_cut = {}, totals(), totals()
        for c in cams:
            path = os.path.join(out, f"{c}.tracks.txt")
            hyp = read_mot_file(path) if os.path.getsize(path) else np.zeros((0, 7))
            m = evaluate_mot(gts[c], hyp)
            per_cam[c] = m.to_dict()
            add(tot, m)
            cut = [[f, e["track"], *b] for e in side["tracklets"] if e["camera"] == c
                   for f, b in zip(e["frames"], e["boxes"])]
            add(tot_cut, evaluate_mot(gts[c], np.array(cut, np.float64).reshape(-1, 6)))
        r = reid(side, out, gts, args.checkpoint)
        frames = sum(v["frames_processed"] for v in side["videos"])
        results[mode] = {"mot": tot, "mot_tracklets": tot_cut, "per_camera": per_cam, "reid": r,
                         "seconds": seconds, "frames": frames}
        rows.append(f"| {mode} | {100 * tot['mota']:.1f} | {100 * tot['idf1']:.1f} | {tot['id_switches']} | "
                    f"{tot['fp']} | {tot['fn']} | {tot['num_gt']} | {100 * tot_cut['idf1']:.1f} | "
                    f"{tot_cut['id_switches']} | {r['tracklets']} ({r['distractors']} distractors) "
                    f"| {100 * r['purity']:.1f} | {r['queries']} | {100 * r['mAP']:.1f} | {100 * r['R1']:.1f} | "
                    f"{frames / seconds:.1f} |")
    path = os.path.join(args.work, "results.json")
    previous = json.load(open(path)) if os.path.isfile(path) else {}
    previous.update(results)                                           # runs of other detectors are kept
    with open(path, "w") as f:
        json.dump(previous, f, indent=1)
    print("| detector | MOTA | IDF1 | ID sw. | FP | FN | GT boxes | tracklets IDF1 | tracklets ID sw. | tracklets "
          "| purity | queries | mAP | R1 | frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
