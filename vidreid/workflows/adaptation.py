"""`vidreid adapt`: fine-tune a checkpoint on unlabeled videos or tracklets (engine/adapt.py): the run's config,
cutting the videos into tracklets, the run. `adapt(opts)` takes the command's parsed options (commands/adapt.py)."""
from __future__ import annotations

from ..store.checkpoint import Checkpoint


def adapt_config(checkpoint: str | Checkpoint, data_root: str, out: str, epochs: int, iters: int, lr: float | None,
                 resume: bool, overrides: list[str], dataset: str = "tracklets"):
    """The run's config: the checkpoint's (same model, frame size, clips, losses), then adapt's settings (the
    tracklets dataset, the run folder, the schedule), then the overrides."""
    import copy

    from ..config import load_config
    from ..errors import ConfigError
    from ..inference.model import MODEL_KEYS
    checkpoint = Checkpoint.open(checkpoint)                            # a path or an opened checkpoint
    meta = checkpoint.meta
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
        raise ConfigError(f"the overrides change model.{changed[0]}: adapt fine-tunes {checkpoint.path}'s own model")
    return cfg


# the options of cutting --videos (commands/adapt.py) and their defaults, as `vidreid tracklets` has them
VIDEO_OPTIONS = {"detector": "hog", "detections": None, "upscale": 1.0, "every": 1, "min_len": 8, "min_height": 48}


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


def adapt(args) -> int:
    import os

    from ..engine.adapt import AdaptTrainer
    from ..engine.train import TrainingInterrupted, train
    from ..engine.adapt import adapt_cut_refusal
    from ..errors import DatasetError, OutputError, VidReIDError
    from ..store.run_folder import checkpoints_folder

    from ..validate import require_option
    if args.epochs < 1 or args.iters < 0:
        raise VidReIDError(f"need --epochs >= 1 and --iters >= 0, got {args.epochs}, {args.iters}")
    require_option(bool(args.data_root), "--data-root", "--dataset", args.dataset)
    for name in VIDEO_OPTIONS:
        require_option(getattr(args, name) is not None, "--" + name.replace("_", "-"), "--videos", args.videos)
    checkpoint = Checkpoint.open(args.checkpoint)                      # a bad checkpoint fails here, in one line
    if checkpoint.meta.get("fusion"):
        network = (checkpoint.meta.get("recommended") or {}).get("network_checkpoint", "its network checkpoint")
        raise VidReIDError(f"{args.checkpoint} is a fused checkpoint: adapt its network ({network}), with "
                           f"--recommended for a recommended checkpoint of the adapted network")
    from ..inference.recommended import trained_on
    recommended_data = trained_on(checkpoint, not args.no_progress) if args.recommended else None
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
            raise OutputError(adapt_cut_refusal(root, args.out))
        prepare = _cutter(args, root, checkpoint)
    cfg = adapt_config(checkpoint, root, args.out, args.epochs, args.iters, args.lr, args.resume,
                       args.overrides, args.dataset or "tracklets")

    def make_trainer(cfg, progress):
        return AdaptTrainer(cfg, progress, os.path.abspath(args.checkpoint), prepare)
    try:
        train(cfg, progress=not args.no_progress, force=args.force and not args.resume, make_trainer=make_trainer)
    except TrainingInterrupted as e:
        hint = f"; continue with: {resume_command(args)}" if e.last_checkpoint else ""
        raise TrainingInterrupted(f"{e}{hint}", e.last_checkpoint, e.run_dir, e.exit_code) from None
    last = os.path.join(checkpoints_folder(cfg.train.output_dir), "last.safetensors")
    print(f"adapted checkpoint: {last} (run folder {cfg.train.output_dir}: train.log, metrics.json)")
    if recommended_data is not None:
        from ..inference.recommended import describe, write_recommended
        path = write_recommended(last, recommended_data, overwrite=True, progress=not args.no_progress,
                                 log=lambda *a: None)                # OUT is this run's (or --force / --resume)
        print(f"recommended: {path}\n             {describe(Checkpoint.open(path).meta)}")
    return 0


def _cutter(args, root: str, checkpoint):
    """-> a function that cuts args.videos into `root` (once: a finished cut is reused by --resume), with the
    crops at the checkpoint's frame size."""
    def cut() -> None:
        import os

        from ..inference.model import open_checkpoint
        from ..tracking.cut import CutConfig
        from ..tracking.detectors import build_detectors
        from ..tracking.pipeline import SIDECAR, run_tracklets
        from ..tracking.tracker import tracker_config
        if args.resume and os.path.isfile(os.path.join(root, SIDECAR)):
            return
        cfg, _ = open_checkpoint(checkpoint, data=False)
        o = {k: default if getattr(args, k) is None else getattr(args, k) for k, default in VIDEO_OPTIONS.items()}
        kw = dict(upscale=o["upscale"], min_score=None, onnx_layout=None, person_class=0)
        detectors = build_detectors(args.videos, o["detector"], o["detections"], **kw)
        tracker = tracker_config(bool(o["detections"]))                    # as `vidreid tracklets`
        sidecar = run_tracklets(args.videos, root, detectors, tracker_cfg=tracker,
                                cut=CutConfig(o["min_len"], 10, o["min_height"], cfg.data.height, cfg.data.width),
                                every=o["every"], preview=None, progress=not args.no_progress, force=args.force)
        if not sidecar["tracklets"]:                 # else the loader's "no tracklets found" would blame the folder
            import shutil

            from ..engine.adapt import no_one_found
            from ..errors import DatasetError
            shutil.rmtree(root)                      # this run's empty cut: a rerun must not need --force
            raise DatasetError(no_one_found(", ".join(args.videos)))
    return cut
