"""Association on real footage: vtest's hand-labelled pieces (the real-footage benchmark's, BENCHMARKS.md "Real
footage") joined into identities by `vidreid associate`'s code, scored against the hand labels.

vtest is one camera, 80 s: what association can do there is join the pieces a tracker left of one person (lost
behind another, or gone and back on a later walk) under the one rule a single camera gives -- pieces overlapping in
time are different people. Each piece is one tracklet of the command (its crops, its first and last frame at 10 fps);
its features are the command's: camera-centred centre-strip colour histograms (`centre_colour_features`, one camera:
the mean over all pieces subtracted) or, with --checkpoint, the network's. The score is IDF1 over the pieces'
frames (`vidreid.tracking.metrics.labelled_idf1`: the boxes are the truth's own, so IDP = IDR = IDF1; a piece
counts with its frame count).

Rows: each piece its own identity; the tracker's tracklets (pieces cut from one tracklet joined: what tracking alone
gives); appearance only and appearance + the time rule, both at the command's default threshold (`vidreid associate`
uses 0.6 without a checkpoint, 0.4 with one, chosen on SynthPed scenes: no real footage tuned them); then IDF1 at every threshold (hindsight,
not a result: there is no second labelled real video to tune on).

    python benchmarks/vtest_associate.py [--checkpoint CKPT] [--root runs/real_footage/vtest] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FPS = 10.0           # vtest.avi's frame rate: frame numbers -> seconds


def piece_features(root: str, parts, checkpoint: str | None) -> np.ndarray:
    """(N, D) raw (uncentred) features of the pieces, as `vidreid associate` makes them for tracklets."""
    from vidreid.data.datasets.vtest import crop_path
    from vidreid.workflows.identities import centre_colour_features
    paths = [[crop_path(root, p.name, int(f)) for f in p.frames] for p in parts]
    if not checkpoint:
        return np.stack([centre_colour_features(p) for p in paths])
    from vidreid.data.types import Tracklet
    from vidreid.search.extractor import FeatureExtractor
    return FeatureExtractor(checkpoint, workers=0).embed_tracklets([Tracklet(tuple(p), -1, 0) for p in paths], False,
                                                                   "vtest")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", help="vtest crops folder (made from the video on first use; default "
                                   "runs/real_footage/vtest, the real-footage benchmark's)")
    ap.add_argument("--video", help="vtest.avi (default: opencv-doc's, as the dataset finds it)")
    ap.add_argument("--checkpoint", help="re-ID checkpoint for appearance (default: centre-strip colour histograms)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--smoke", action="store_true", help="seconds: 3 identities, 8 frames a piece")
    args = ap.parse_args()
    from vidreid.data.datasets.vtest import ensure_crops, pieces, read_table
    from vidreid.errors import VidReIDError
    from vidreid.tracking.associate import AssociateConfig, TrackletTimes, associate
    from vidreid.tracking.metrics import labelled_idf1
    from vidreid.workflows.identities import centre_by_camera, default_threshold

    root = args.root or os.path.join("runs", "real_footage", "vtest")
    table = read_table()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
        root = ensure_crops(root, table, args.video, progress=not args.smoke)
    except VidReIDError as e:
        if args.smoke:                                # a fresh clone without opencv-doc's video: nothing to smoke
            print(f"vtest_associate --smoke: skipped ({e})")
            return 0
        raise
    parts = pieces(table, "full")
    if args.smoke:
        keep = sorted({p.identity for p in parts})[:3]
        parts = [type(p)(p.name, p.identity, p.frames[:8]) for p in parts if p.identity in keep]
    gt = np.array([p.identity for p in parts])
    frames = np.array([len(p.frames) for p in parts])
    tracker = np.unique([p.name for p in parts], return_inverse=True)[1].reshape(-1)
    times = TrackletTimes(np.zeros(len(parts), np.int64), np.array([p.frames[0] for p in parts]) / FPS,
                          np.array([p.frames[-1] for p in parts]) / FPS, False)
    feats = centre_by_camera(piece_features(root, parts, args.checkpoint), times.camera)
    default = default_threshold(args.checkpoint)       # what `vidreid associate` uses without --threshold

    def run(threshold: float, constraints: bool) -> np.ndarray:
        return associate(feats, times, AssociateConfig(threshold, None, constraints))

    rows = [("each piece its own identity", np.arange(len(parts))), ("the tracker's tracklets", tracker)]
    rows += [(f"appearance only, threshold {default:g}", run(default, False)),
             (f"appearance + time rule, threshold {default:g}", run(default, True))]
    what = args.checkpoint or "centre-strip colour histograms, centred"
    print(f"vtest full: {len(parts)} pieces of {len(set(gt.tolist()))} people, {frames.sum()} frames; features: "
          f"{what}" + (" [--smoke]" if args.smoke else ""))
    print("| identities from | IDF1 | identities |")
    print("|---|---|---|")
    for name, ids in rows:
        print(f"| {name} | {100 * labelled_idf1(gt, ids, frames):.1f} | {len(set(ids.tolist()))} |")
    print("\nIDF1 at every threshold (hindsight, not a result)")
    print("| identities from | " + " | ".join(f"{t:g}" for t in args.thresholds) + " |")
    print("|---|" + "---|" * len(args.thresholds))
    for name, constraints in (("appearance only", False), ("appearance + time rule", True)):
        print(f"| {name} | " + " | ".join(f"{100 * labelled_idf1(gt, run(t, constraints), frames):.1f}"
                                          for t in args.thresholds) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
