"""`vidreid adapt`: fine-tune a checkpoint on your own unlabeled videos (tracklet self-supervision, engine/adapt.py)."""
from __future__ import annotations

HELP = "fine-tune a checkpoint on your own unlabeled videos or tracklets (labels from tracking, no annotation)"

EPILOG = """what it learns from (TAUDL, ECCV 2018 / UTAL, TPAMI 2019): every frame of a track is one person; two tracks
seen in the same frame of one camera are two people. The videos are cut into tracklets first (as `vidreid tracklets`
does, into OUT/cut), or --tracklets names such a cut. Output: OUT/checkpoints/last.safetensors, a normal checkpoint
for `vidreid eval`, `index build` and `search`; OUT/train.log, OUT/metrics.json. key=value overrides set any config
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
    p.add_argument("--detector", default="hog", help="--videos: hog | onnx:PATH (default hog)")
    p.add_argument("--detections", action="append", metavar="DET_TXT",
                   help="--videos: MOTChallenge det.txt instead of a detector, one per video in order")
    p.add_argument("--upscale", type=float, default=1.0, help="--videos, hog: scale frames before detecting")
    p.add_argument("--every", type=int, default=1, help="--videos: process every N-th frame (default 1)")
    p.add_argument("--min-len", type=int, default=8, help="--videos: boxes a tracklet needs (default 8)")
    p.add_argument("--min-height", type=int, default=48, help="--videos: drop boxes shorter than this (48 px)")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    p.add_argument("--force", action="store_true", help="replace a previous run in OUT (and its cut videos)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.batch_size=16")


def adapt_config(checkpoint: str, data_root: str, out: str, epochs: int, iters: int, lr: float | None,
                 resume: bool, overrides: list[str], dataset: str = "tracklets"):
    """The run's config: the checkpoint's (same model, frame size, clips, losses), then adapt's settings (the
    tracklets dataset, the run folder, the schedule), then the overrides."""
    import copy

    from ..config import load_config
    from ..errors import ConfigError
    from ..inference.model import MODEL_KEYS, open_checkpoint
    _, meta = open_checkpoint(checkpoint)
    base = copy.deepcopy(meta.get("config") or {})
    data = base.setdefault("data", {})
    data["options"], data["synth"], data["protocol"] = {}, {}, ""
    base.setdefault("model", {})["pretrained"] = None          # the checkpoint's weights replace ImageNet's
    saved_lr = float((base.get("optim") or {}).get("lr", 3e-4))
    ours = [f"data.dataset={dataset}", f"train.epochs={epochs}",
            f"train.iters_per_epoch={iters}", "train.eval_every=0", f"train.resume={'auto' if resume else ''}",
            f"optim.lr={lr if lr is not None else saved_lr / 10}", "optim.warmup_epochs=0"]
    cfg = load_config(None, ours + list(overrides), base=base)
    cfg.data.root, cfg.train.output_dir = data_root, out        # set, not parsed: a path is never read as YAML
    now = cfg.to_dict()["model"]
    changed = [k for k in MODEL_KEYS if now.get(k) != (base.get("model") or {}).get(k, now.get(k))]
    if changed:
        raise ConfigError(f"the overrides change model.{changed[0]}: adapt fine-tunes {checkpoint}'s own model")
    return cfg


def resume_command(args) -> str:
    import shlex
    words = ["vidreid", "adapt", "--checkpoint", args.checkpoint]
    if args.videos:
        words += ["--videos", *args.videos]
    elif args.tracklets:
        words += ["--tracklets", args.tracklets]
    else:
        words += ["--dataset", args.dataset, "--data-root", args.data_root]
    words += ["--out", args.out, "--epochs", str(args.epochs), "--iters", str(args.iters)]
    if args.lr is not None:
        words += ["--lr", str(args.lr)]
    return " ".join(shlex.quote(w) for w in [*words, *args.overrides, "--resume"])


def run(args) -> int:
    import os

    from ..engine.adapt import AdaptTrainer
    from ..engine.train import TrainingInterrupted, train
    from ..errors import DatasetError, OutputError, VidReIDError
    from ..inference.model import open_checkpoint

    if args.epochs < 1 or args.iters < 0:
        raise VidReIDError(f"need --epochs >= 1 and --iters >= 0, got {args.epochs}, {args.iters}")
    open_checkpoint(args.checkpoint)                                     # a bad checkpoint fails here, in one line
    prepare = None
    if args.dataset:
        if not args.data_root:
            raise VidReIDError("--dataset needs --data-root (the dataset's folder)")
        root = os.path.abspath(args.data_root)
    elif args.tracklets:
        if not os.path.isdir(args.tracklets):
            raise DatasetError(f"--tracklets {args.tracklets}: no such folder")
        root = os.path.abspath(args.tracklets)
    else:
        missing = [v for v in args.videos if not os.path.isfile(v)]
        if missing:
            raise DatasetError(f"video not found: {missing[0]}")
        if args.detections and len(args.detections) != len(args.videos):
            raise VidReIDError(f"--detections given {len(args.detections)} times for {len(args.videos)} videos: "
                               f"one det.txt per video")
        root = os.path.join(os.path.abspath(args.out), "cut")
        if os.path.lexists(root) and not (args.resume or args.force):
            raise OutputError(f"{root} holds tracklets cut by an earlier run; pass --resume to continue that run, "
                              f"--force to replace it, or choose another --out")
        prepare = _cutter(args, root)
    cfg = adapt_config(args.checkpoint, root, args.out, args.epochs, args.iters, args.lr, args.resume,
                       args.overrides, args.dataset or "tracklets")

    def make_trainer(cfg, progress):
        return AdaptTrainer(cfg, progress, os.path.abspath(args.checkpoint), prepare)
    try:
        train(cfg, progress=not args.no_progress, force=args.force and not args.resume, make_trainer=make_trainer)
    except TrainingInterrupted as e:
        hint = f"; continue with: {resume_command(args)}" if e.last_checkpoint else ""
        raise TrainingInterrupted(f"{e}{hint}", e.last_checkpoint, e.run_dir) from None
    print(f"adapted checkpoint: {os.path.join(cfg.train.output_dir, 'checkpoints', 'last.safetensors')} "
          f"(run folder {cfg.train.output_dir}: train.log, metrics.json)")
    return 0


def _cutter(args, root: str):
    """-> a function that cuts args.videos into `root` (once: a finished cut is reused by --resume), with the
    crops at the checkpoint's frame size."""
    def cut() -> None:
        import os

        from ..inference.model import open_checkpoint
        from ..tracking.cut import CutConfig
        from ..tracking.detectors import build_detector
        from ..tracking.pipeline import SIDECAR, run_tracklets
        from ..tracking.tracker import TrackerConfig
        if args.resume and os.path.isfile(os.path.join(root, SIDECAR)):
            return
        cfg, _ = open_checkpoint(args.checkpoint)
        kw = dict(upscale=args.upscale, min_score=None, onnx_layout=None, person_class=0)
        if args.detections:
            detectors = [build_detector(None, d, **kw) for d in args.detections]
        else:
            detectors = [build_detector(args.detector, None, **kw)] * len(args.videos)
        tracker = TrackerConfig(high_score=0.5) if args.detections else TrackerConfig()   # as `vidreid tracklets`
        tracker.new_track_score = tracker.high_score + 0.1
        run_tracklets(args.videos, root, detectors, tracker_cfg=tracker, cut=CutConfig(args.min_len, 10, args.min_height,
                                                                  cfg.data.height, cfg.data.width),
                      every=args.every, preview=None, progress=not args.no_progress, force=args.force)
    return cut
