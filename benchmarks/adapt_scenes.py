"""Adaptation benchmark: does `vidreid adapt` (tracklet self-supervision, no labels) improve a checkpoint's re-ID on
footage it has never seen, measured on tracklets it did not train on?

1. Scenes: `vidreid synth --scenes` (default: 3 cameras, 16 identities, 2 passes per camera on average, 400 frames
   of 288x512, seed 1 -- not SynthPed's seed 0, so no scene identity is one of a seed-0 training set's).
2. The videos are split in time: frames 1..F/2 ("early") are cut into tracklets with the oracle detections (the
   ground-truth boxes, the tracker alone: `vidreid tracklets --detections`); frames F/2+1..F ("late") likewise.
3. `vidreid adapt --tracklets early` fine-tunes the checkpoint on the early tracklets (their identities unused).
4. Re-ID of the late tracklets across cameras before and after (benchmarks/scene_tracking.py's protocol: each
   tracklet's identity is the majority ground-truth id of its boxes, `mars` rules, queries = tracklets whose
   identity has a tracklet in another camera, distance 1 - cos); the early ones too, for reference (adaptation saw
   their pixels, not their labels). Some people walk in both halves: a deployment adapts on yesterday's footage of
   the same place and is used today.

    python benchmarks/adapt_scenes.py --checkpoint runs/demo/checkpoints/last.safetensors [--work runs/adapt_bench]
        [--epochs 5] [--iters 10] [--variants full ce_only]
    python benchmarks/adapt_scenes.py --smoke          # seconds: tiny scenes, a tiny untrained checkpoint
Prints a markdown table and writes WORK/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# adapt settings each variant adds to the command line (key=value overrides of the run's config)
VARIANTS = {
    "full": [],                                                        # within-camera CE + known-negative triplet
    "ce_only": ["loss.triplet_weight=0"],                              # TAUDL's tracklet discrimination alone
    "triplet_only": ["loss.ce_weight=0"],                              # the known-negative triplet alone
}


def tiny_checkpoint(path: str) -> str:
    import torch

    from vidreid.builders import build_for_dataset
    from vidreid.config import load_config
    from vidreid.store.checkpoint import save_checkpoint
    cfg = load_config(None, ["data.height=32", "data.width=16", "data.batch_size=8", "data.num_instances=2",
                             "data.workers=0", "model.backbone=resnet18", "model.pretrained=null",
                             "train.threads=1", "train.tensorboard=false"])
    torch.manual_seed(0)
    save_checkpoint(path, build_for_dataset(cfg, 2, pretrained=False),
                    {"model": "tp", "num_classes": 2, "config": cfg.to_dict(), "dataset": "synthped"})
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="the checkpoint to adapt (required unless --smoke)")
    ap.add_argument("--work", default="runs/adapt_bench", help="scenes, tracklets and adapted runs go here")
    ap.add_argument("--cams", type=int, default=3)
    ap.add_argument("--ids", type=int, default=16)
    ap.add_argument("--passes", type=float, default=2.0, help="mean passes of an identity through each camera")
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", default="288x512")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--variants", nargs="+", default=["full"], choices=sorted(VARIANTS))
    ap.add_argument("--smoke", action="store_true", help="tiny everything: runs in seconds")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    from scene_tracking import reid
    from vidreid.cli import main as cli
    from vidreid.data.synthped import parse_size
    from vidreid.data.synthped.scenes import SceneConfig, generate_scenes
    from vidreid.tracking.cut import CutConfig
    from vidreid.tracking.detectors import FileDetector, read_mot_file
    from vidreid.tracking.pipeline import run_tracklets
    from vidreid.tracking.tracker import TrackerConfig

    extra = []
    if args.smoke:
        import tempfile
        args.work = tempfile.mkdtemp(prefix="adapt_smoke_")
        args.checkpoint = tiny_checkpoint(os.path.join(args.work, "tiny.safetensors"))
        args.cams, args.ids, args.frames, args.size, args.epochs, args.iters = 2, 6, 60, "96x160", 1, 2
        extra = ["data.batch_size=4"]
    if not args.checkpoint:
        ap.error("--checkpoint is required (or --smoke)")
    h, w = parse_size(args.size)
    cfg = SceneConfig(cams=args.cams, ids=args.ids, frames=args.frames, height=h, width=w, seed=args.seed,
                      passes_per_cam=args.passes)
    scenes = os.path.join(args.work, "scenes")
    marker = os.path.join(scenes, "scenes.json")
    if not (os.path.isfile(marker) and json.load(open(marker))["config"] == json.loads(json.dumps(cfg.__dict__))):
        generate_scenes(scenes, cfg, progress=not args.smoke, force=os.path.exists(marker))
    cams = [f"cam{i + 1}" for i in range(args.cams)]
    videos = [os.path.join(scenes, c, f"{c}.avi") for c in cams]
    gts = {c: read_mot_file(os.path.join(scenes, c, "gt", "gt.txt")) for c in cams}
    half = args.frames // 2
    sides = {}
    for part, (start, stop) in {"early": (1, half), "late": (half + 1, args.frames)}.items():
        dets = [FileDetector(os.path.join(scenes, c, "det", "det.txt")) for c in cams]
        out = os.path.join(args.work, f"tracklets_{part}")
        sides[part] = run_tracklets(videos, out, dets, cams, TrackerConfig(high_score=0.5, new_track_score=0.6),
                                    CutConfig(min_height=32 if not args.smoke else 16), start=start, stop=stop,
                                    preview=None, progress=False, force=True, detector_name="oracle")
    results = {"config": cfg.__dict__, "checkpoint": args.checkpoint, "epochs": args.epochs, "iters": args.iters}
    rows = []

    def measure(name, checkpoint, seconds=None):
        r = {part: reid(sides[part], os.path.join(args.work, f"tracklets_{part}"), gts, checkpoint)
             for part in ("late", "early")}
        results[name] = {**r, "adapt_seconds": seconds}
        rows.append(f"| {name} | {100 * r['late']['mAP']:.1f} | {100 * r['late']['R1']:.1f} | "
                    f"{100 * r['early']['mAP']:.1f} | {100 * r['early']['R1']:.1f} | "
                    + ("" if seconds is None else f"{seconds:.0f}") + " |")
    measure("before (the checkpoint)", args.checkpoint)
    for v in args.variants:
        run_dir = os.path.join(args.work, f"adapted_{v}")
        t0 = time.perf_counter()
        code = cli(["adapt", "--no-progress", "--checkpoint", args.checkpoint, "--tracklets",
                    os.path.join(args.work, "tracklets_early"), "--out", run_dir, "--epochs", str(args.epochs),
                    "--iters", str(args.iters), "--force", *extra, *VARIANTS[v]])
        if code:
            return code
        measure(f"adapted: {v}", os.path.join(run_dir, "checkpoints", "last.safetensors"), time.perf_counter() - t0)
    late, early = results["before (the checkpoint)"]["late"], results["before (the checkpoint)"]["early"]
    print(f"late: {late['tracklets']} tracklets, {late['identities']} identities, {late['queries']} queries; "
          f"early (adapted on): {early['tracklets']} tracklets, {early['identities']} identities")
    print("| model | late mAP | late R1 | early mAP | early R1 | adapt s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.smoke:
        import shutil
        shutil.rmtree(args.work)
        return 0
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
