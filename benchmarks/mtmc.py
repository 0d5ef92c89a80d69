"""Multi-camera tracking benchmark: global identities (`vidreid associate`) on SynthPed itinerary scenes, scored with
Ristani et al.'s multi-camera IDF1 / IDP / IDR (vidreid.tracking.metrics.evaluate_multicamera, IoU >= 0.5, against
every ground-truth box with visibility > 0).

1. Itinerary scenes (`vidreid synth --scenes --itinerary`; default 4 cameras, 30 identities, 500 frames of
   144x256 at 10 fps, 6 s between neighbouring cameras, 20 % single-camera persons, 15 % near-twins): seeds 2, 4
   and 5 choose the thresholds (validation: the best mean IDF1 over them, --val-seeds), seeds 1 and 3 are reported
   (test, --test-seeds).
2. For each detector -- "oracle" (ground-truth boxes with visibility >= 0.25) and "noisy" (the same with edges
   jittered by 5 % of the box size, 10 % missed, 0.05 false boxes per frame) -- `vidreid tracklets --footage` with
   those det.txt files, then
   * per-camera tracks: each camera's tracker ids (OUT/<cam>.tracks.txt), never joined across cameras;
   * each tracklet its own identity (the cut tracklets, no association);
   * appearance only: constrained clustering with the constraints off (vidreid.tracking.associate);
   * appearance + constraints: the same with the time / transit constraints;
   * incremental: appearance + constraints at its validation threshold, the tracklets fed in --chunks equal
     spans of time (by start) to `vidreid associate --update`'s code (workflows.identities.join_identities: each
     chunk joins the identities so far, which keep their ids; the per-camera centring uses the tracklets so far);
     and, as a diagnostic, the same with each camera's mean taken from the whole test scene (features as the
     batch rows see them: what the incremental mode would do with camera means known in advance);
   both clustering rows with the threshold (within = across) that maximises the validation scenes' mean IDF1, from
   --thresholds. Features: camera-centred centre-strip colour histograms (default) or --checkpoint.

    python benchmarks/mtmc.py [--work runs/mtmc] [--checkpoint CKPT] [--smoke]
Prints markdown rows for BENCHMARKS.md and writes WORK/results.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

NOISE = dict(det_jitter=0.05, det_miss=0.1, det_false=0.05)


def scene(work: str, cfg) -> str:
    from vidreid.data.synthped.scenes import generate_scenes
    out = os.path.join(work, f"scene_seed{cfg.seed}")
    marker = os.path.join(out, "scenes.json")
    if not (os.path.isfile(marker) and json.load(open(marker))["config"] == json.loads(json.dumps(
            dataclasses.asdict(cfg)))):
        generate_scenes(out, cfg, progress=False, force=os.path.exists(marker))
    return out


def tracklets(work: str, scenes: str, cfg, mode: str) -> str:
    """`vidreid tracklets --footage` on the scene with oracle or noisy det.txt -> the output folder."""
    from vidreid.tracking.cut import CutConfig
    from vidreid.tracking.detectors import FileDetector, read_mot_file
    from vidreid.tracking.footage import load_footage
    from vidreid.tracking.pipeline import run_tracklets
    from vidreid.tracking.tracker import TrackerConfig
    from vidreid.data.synthped.scenes import detector_noise
    cams = [f"cam{c}" for c in range(1, cfg.cams + 1)]
    dets = []
    for k, c in enumerate(cams, 1):
        path = os.path.join(scenes, c, "det", "det.txt")
        if mode == "noisy":
            gt = read_mot_file(os.path.join(scenes, c, "gt", "gt.txt"))
            rows = detector_noise(gt[gt[:, 8] >= 0.25], dataclasses.replace(cfg, **NOISE), k)
            path = os.path.join(work, f"det_noisy_seed{cfg.seed}_{c}.txt")
            with open(path, "w") as f:
                f.write("".join(f"{int(r[0])},-1,{r[2]:.1f},{r[3]:.1f},{r[4]:.1f},{r[5]:.1f},1,-1,-1,-1\n"
                                for r in rows.tolist()))
        dets.append(FileDetector(path))
    out = os.path.join(work, f"tracklets_{mode}_seed{cfg.seed}")
    run_tracklets([], out, dets, None, TrackerConfig(high_score=0.5, new_track_score=0.6), CutConfig(min_height=32),
                  preview=None, force=True, detector_name=mode, footage=load_footage(os.path.join(scenes,
                                                                                              "footage.yaml")))
    return out


def score(gts: dict, ts, ids: np.ndarray):
    from vidreid.workflows.identities import mot_rows
    from vidreid.tracking.metrics import evaluate_multicamera
    return evaluate_multicamera(gts, {c: mot_rows(ts, ids, c) for c in ts.cameras})


def incremental(raw: np.ndarray, times, cfg, transit, chunks: int, join) -> tuple[np.ndarray, int, int]:
    """Global ids of the tracklets fed in `chunks` equal spans of start time, each chunk joining the identities of
    the ones before (join: workflows.identities.join_identities, what `vidreid associate --update` runs) -> (ids,
    updates, updates that kept the earlier identities: where every camera of the earlier chunks had MIN_FINAL
    tracklets; the others re-join everything, so they equal the batch run by construction)."""
    from vidreid.workflows.identities import settled
    order = np.argsort(times.start, kind="stable")
    edges = np.linspace(times.start.min(), times.start.max(), chunks + 1)[1:-1]
    ends = np.concatenate([np.searchsorted(times.start[order], edges, side="right"), [len(order)]])
    ids, updates, kept = None, 0, 0
    for end in ends.tolist():                                            # loop over chunks
        if end == (0 if ids is None else len(ids)):
            continue                                                     # an empty chunk
        if ids is not None:
            updates += 1
            kept += int(settled(times.camera[order[:len(ids)]]))
        rows = order[:end]
        ids = join(raw[rows], times.take(rows), cfg, transit, ids)
    out = np.empty(len(order), np.int64)
    out[order] = ids
    return out, updates, kept


def ground_truth_ids(ts, gts: dict) -> np.ndarray:
    """(N,) each tracklet's ground-truth person: the id most of its boxes match at IoU >= 0.5 (-1: none)."""
    from vidreid.tracking.tracker import iou_matrix
    out = np.full(len(ts.entries), -1)
    for k, e in enumerate(ts.entries):                                   # loop over tracklets (~70 a scene)
        gt, votes = gts[e["camera"]], []
        for f, box in zip(e["frames"], np.asarray(e["boxes"]).reshape(-1, 4)):   # loop over its boxes
            g = gt[gt[:, 0] == f]
            iou = iou_matrix(box[None], g[:, 2:6])[0] if len(g) else np.zeros(0)
            if len(iou) and iou.max() >= 0.5:
                votes.append(int(g[iou.argmax(), 1]))
        if votes:
            out[k] = np.bincount(votes).argmax()
    return out


def blocked_truth(data: dict, modes: list[str], seeds: list[int]) -> list[str]:
    """Per mode: how many same-person tracklet pairs (ground truth) of the test scenes the constraints forbid."""
    from vidreid.tracking.associate import all_pairs, cannot_link
    from vidreid.workflows.identities import transit_of
    lines = []
    for mode in modes:
        same_pairs = blocked = 0
        for seed in seeds:
            gts, ts = data[f"test{seed}", mode][:2]
            g = ground_truth_ids(ts, gts)
            i, j = all_pairs(len(g))
            same = (g[i] == g[j]) & (g[i] >= 0)
            same_pairs += int(same.sum())
            blocked += int((same & cannot_link(ts.times, i, j, transit_of(ts))).sum())
        lines.append(f"{mode}: {blocked} of {same_pairs} same-person tracklet pairs are cannot-link pairs")
    return lines


# (row, reference row) pairs whose IDF1 difference is summarised over the test scenes
COMPARISONS = [("appearance + constraints", "appearance only"),
               ("incremental, 2 time chunks", "appearance + constraints"),
               ("incremental, 4 time chunks", "appearance + constraints")]


def scene_summary(results: dict, modes: list[str], seeds: list[int]) -> list[str]:
    """Markdown rows: for each detector mode and COMPARISONS pair, the mean IDF1 difference over the test scenes
    with a 95 % interval from resampling the scenes (vidreid.eval.bootstrap, the scene as the unit: its people,
    routes and look-alikes make its rows succeed or fail together), `*` where it excludes 0, and the per-scene
    differences."""
    from vidreid.eval.bootstrap import paired_differences
    lines = ["| boxes | IDF1 difference | mean over scenes [95 % CI] | ahead / behind / equal | per scene (seeds "
             + ", ".join(map(str, seeds)) + ") |", "|---|---|---|---|---|"]
    for mode in modes:
        for row, ref in COMPARISONS:
            if row not in results[f"{mode} seed {seeds[0]}"]:                 # (--chunks without 4)
                continue
            v = 100 * np.array([[results[f"{mode} seed {s}"][name]["metrics"]["idf1"] for s in seeds]
                                for name in (ref, row)])                                    # (2, scenes)
            iv = paired_differences(v, np.arange(len(seeds)), reference=0)
            d = v[1] - v[0]
            interval = f"[{iv.low[1]:+.1f}, {iv.high[1]:+.1f}]" + ("*" if iv.beyond_noise[1] else "") \
                if len(seeds) >= 3 else "(fewer than 3 scenes: no interval)"
            lines.append(f"| {mode} | {row} − {ref} | {iv.mean[1]:+.1f} {interval} | "
                         f"{int((d > 0.05).sum())} / {int((d < -0.05).sum())} / {int((abs(d) <= 0.05).sum())} | "
                         + ", ".join(f"{x:+.1f}" for x in d) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="runs/mtmc")
    ap.add_argument("--checkpoint", help="re-ID checkpoint for appearance (default: HSV colour histograms)")
    ap.add_argument("--cams", type=int, default=4)
    ap.add_argument("--ids", type=int, default=30)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--size", default="144x256")
    ap.add_argument("--twin-share", type=float, default=0.15)
    ap.add_argument("--thresholds", type=float, nargs="+",
                    default=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[1, 3], help="scenes to report")
    ap.add_argument("--val-seeds", type=int, nargs="+", default=[2, 4, 5],
                    help="scenes that choose the thresholds (their mean IDF1)")
    ap.add_argument("--modes", nargs="+", default=["oracle", "noisy"], choices=["oracle", "noisy"])
    ap.add_argument("--chunks", type=int, nargs="+", default=[2, 4], help="time chunks of the incremental rows")
    ap.add_argument("--smoke", action="store_true", help="seconds: 2 cameras, 4 ids, 120 frames of 96x160")
    args = ap.parse_args()
    if args.smoke:
        from _smoke import smoke_dir
        args.work, args.cams, args.ids, args.frames, args.size = smoke_dir("mtmc"), 2, 4, 120, "96x160"
        args.thresholds, args.modes, args.test_seeds, args.chunks = [0.3, 0.6], ["oracle"], [1], [2]
        args.val_seeds = [2]
    import torch
    torch.set_num_threads(1)
    from vidreid.data.synthped import parse_size
    from vidreid.data.synthped.scenes import SceneConfig
    from vidreid.tracking.associate import AssociateConfig, associate
    from vidreid.tracking.detectors import read_mot_file
    from vidreid.workflows.identities import (centre_by_camera, join_identities, load_tracklet_sets,
                                              tracklet_features, transit_of)
    from vidreid.tracking.metrics import evaluate_multicamera

    os.makedirs(args.work, exist_ok=True)
    h, w = parse_size(args.size)
    results, rows, sweeps = {"thresholds": args.thresholds, "features": args.checkpoint or "centre colour"}, [], []
    data = {}
    if set(args.val_seeds) & set(args.test_seeds):
        ap.error("--val-seeds and --test-seeds must not share a scene")
    for split, seed in [(f"val{s}", s) for s in args.val_seeds] + [(f"test{s}", s) for s in args.test_seeds]:
        cfg = SceneConfig(cams=args.cams, ids=args.ids, frames=args.frames, height=h, width=w, seed=seed,
                          itinerary=True, twin_share=args.twin_share)
        t0 = time.perf_counter()
        sc = scene(args.work, cfg)
        gts = {f"cam{c}": read_mot_file(os.path.join(sc, f"cam{c}", "gt", "gt.txt"))
               for c in range(1, cfg.cams + 1)}
        for mode in args.modes:
            ts = load_tracklet_sets([tracklets(args.work, sc, cfg, mode)])
            raw = tracklet_features(ts, args.checkpoint, centre_cameras=False)
            feats = centre_by_camera(raw, ts.times.camera)
            data[split, mode] = (gts, ts, feats, os.path.join(args.work, f"tracklets_{mode}_seed{seed}"), raw)
        print(f"{split} scene (seed {seed}) ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for mode, seed in [(m, s) for m in args.modes for s in args.test_seeds]:
        gts, ts, feats, folder, raw = data[f"test{seed}", mode]
        methods = {}
        hyp = {}
        for c in ts.cameras:                                             # per-camera tracks: ids never shared
            path = os.path.join(folder, f"{c}.tracks.txt")
            r = read_mot_file(path) if os.path.getsize(path) else np.zeros((0, 7))
            hyp[c] = r[:, :6] + np.array([0, 100000 * (ts.cameras.index(c) + 1), 0, 0, 0, 0])
        methods["per-camera tracks (no association)"] = (evaluate_multicamera(gts, hyp), None)
        methods["each tracklet its own identity"] = (score(gts, ts, np.arange(len(feats))), None)
        for name, constraints in (("appearance only", False), ("appearance + constraints", True)):
            val = [float(np.mean([score(vgts, vts, associate(vfeats, vts.times, AssociateConfig(t, None, constraints),
                                                            transit_of(vts))).idf1
                                  for vgts, vts, vfeats, _, _ in (data[f"val{v}", mode] for v in args.val_seeds)]))
                   for t in args.thresholds]
            best = args.thresholds[int(np.argmax(val))]
            t0 = time.perf_counter()
            ids = associate(feats, ts.times, AssociateConfig(best, None, constraints), transit_of(ts))
            seconds = time.perf_counter() - t0
            sweep = [score(gts, ts, associate(feats, ts.times, AssociateConfig(t, None, constraints),
                                              transit_of(ts))).idf1 for t in args.thresholds]
            methods[name] = (score(gts, ts, ids), {"threshold": best, "val_idf1": val, "seconds": seconds,
                                                   "identities": int(len(set(ids.tolist()))), "test_idf1": sweep})
            sweeps.append(f"| {mode} | {seed} | {name} | " + " | ".join(f"{100 * v:.1f}" for v in sweep) + " |")
        batch = methods["appearance + constraints"][1]
        for chunks in args.chunks:
            t0 = time.perf_counter()
            ids, updates, kept = incremental(raw, ts.times, AssociateConfig(batch["threshold"]), transit_of(ts),
                                             chunks, join_identities)
            methods[f"incremental, {chunks} time chunks"] = (score(gts, ts, ids), {
                "threshold": batch["threshold"], "seconds": time.perf_counter() - t0,
                "identities": int(len(set(ids.tolist()))), "updates": updates, "updates_kept_identities": kept})
        for chunks in args.chunks:
            ids = incremental(feats, ts.times, AssociateConfig(batch["threshold"]), transit_of(ts), chunks,
                              lambda *a: join_identities(*a, centre=False))[0]
            methods[f"incremental, {chunks} time chunks, whole-scene camera means (diagnostic)"] = (
                score(gts, ts, ids), {"threshold": batch["threshold"], "identities": int(len(set(ids.tolist())))})
        results[f"{mode} seed {seed}"] = {k: {"metrics": m.to_dict(), "tuning": t} for k, (m, t) in methods.items()}
        results[f"{mode} seed {seed}"]["tracklets"] = len(feats)
        for name, (m, t) in methods.items():
            thr = "" if t is None else f"{t['threshold']:g}"
            rows.append(f"| {mode} | {seed} | {name} | {thr} | {100 * m.idf1:.1f} | "
                        f"{100 * m.idp:.1f} | {100 * m.idr:.1f} | {m.hyp_ids} | {m.gt_ids} |")
    print("| boxes | test seed | identities from | threshold (val) | IDF1 | IDP | IDR | hyp ids | gt ids |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\ntest IDF1 at every threshold (not a result: the thresholds above are the validation scenes' choice)")
    print("| boxes | test seed | identities from | " + " | ".join(f"{t:g}" for t in args.thresholds) + " |")
    print("|---|---|---|" + "---|" * len(args.thresholds))
    print("\n".join(sweeps))
    summary = scene_summary(results, args.modes, args.test_seeds)
    print("\nover the test scenes (each at its validation threshold)")
    print("\n".join(summary))
    print("\nincremental updates that kept the earlier identities (the others re-joined everything: MIN_FINAL)")
    for mode in args.modes:
        for chunks in args.chunks:
            t = [results[f"{mode} seed {s}"][f"incremental, {chunks} time chunks"]["tuning"] for s in args.test_seeds]
            print(f"{mode}, {chunks} time chunks: {sum(x['updates_kept_identities'] for x in t)} of "
                  f"{sum(x['updates'] for x in t)} updates")
    print("\nconstraints against the ground truth (tracklets labelled by their boxes' majority id, IoU >= 0.5)")
    print("\n".join(blocked_truth(data, args.modes, args.test_seeds)))
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump({**results, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
