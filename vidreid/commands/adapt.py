"""`vidreid adapt`: fine-tune a checkpoint on your own unlabeled videos (tracklet self-supervision, engine/adapt.py)."""
from __future__ import annotations

from ..options import add_force_argument, add_progress_argument

HELP = "fine-tune a checkpoint on your own unlabeled videos or tracklets (labels from tracking, no annotation)"

EPILOG = """what it learns from (TAUDL, ECCV 2018 / UTAL, TPAMI 2019): every frame of a track is one person; two tracks
seen in the same frame of one camera are two people. The videos are cut into tracklets first (as `vidreid tracklets`
does, into OUT/cut), or --tracklets names such a cut. Output: OUT/checkpoints/last.safetensors, a normal checkpoint
for `vidreid eval`, `index build` and `search` (with --recommended also OUT/checkpoints/recommended.safetensors);
OUT/train.log, OUT/metrics.json. key=value overrides set any config
key of the run (e.g. data.batch_size=16 optim.lr=1e-4)."""


def add_arguments(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("--checkpoint", required=True, help="the checkpoint to adapt (.safetensors)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", nargs="+", metavar="VIDEO", help="unlabeled videos, one camera each")
    src.add_argument("--tracklets", metavar="FOLDER",
                     help="an output of `vidreid tracklets` (or <camera>/<tracklet>/<frames> folders)")
    src.add_argument("--dataset", metavar="NAME",
                     help="the train split of a registered dataset at --data-root, its labels ignored (tracklet "
                          "folders named like `vidreid tracklets` names them, crops f<frame>.jpg); its query and "
                          "gallery, if labelled, are evaluated at the end (data.options.KEY=VALUE for its options)")
    p.add_argument("--data-root", help="--dataset: its root folder")
    p.add_argument("--out", required=True, help="run folder (checkpoints, train.log; the cut videos in OUT/cut)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument("--iters", type=int, default=20, help="steps per epoch (default 20; 0 = one pass over the tracks)")
    p.add_argument("--lr", type=float, help="learning rate (default: a tenth of the checkpoint's)")
    # the --videos options default to None (their defaults apply where the videos are cut): given with --tracklets
    # or --dataset, which are cut already, they are refused rather than ignored
    p.add_argument("--detector", help="--videos: hog | onnx:PATH (default hog)")
    p.add_argument("--detections", action="append", metavar="DET_TXT",
                   help="--videos: MOTChallenge det.txt instead of a detector, one per video in order")
    p.add_argument("--upscale", type=float, help="--videos, hog: scale frames before detecting (default 1)")
    p.add_argument("--every", type=int, help="--videos: process every N-th frame (default 1)")
    p.add_argument("--min-len", type=int, help="--videos: boxes a tracklet needs (default 8)")
    p.add_argument("--min-height", type=int, help="--videos: drop boxes shorter than this (48 px)")
    p.add_argument("--recommended", action="store_true",
                   help="also write OUT/checkpoints/recommended.safetensors: the adapted network fused with "
                        "body-region colour like the demo's recommended checkpoint, the fusion re-chosen on the dataset "
                        "CHECKPOINT was trained on (e.g. the demo's SynthPed; it must exist)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    add_force_argument(p, "replace a previous run in OUT (and its cut videos)")
    add_progress_argument(p, "no progress bars (logs only)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.batch_size=16")


def run(args) -> int:
    from ..workflows.adaptation import adapt
    return adapt(args)
