"""`vidreid extract`: one split's features of a checkpoint (read once) to a feature file, reused when up to date
(inference/feature_cache.py). `extract(opts)` takes the command's parsed options (commands/extract.py)."""
from __future__ import annotations


def extract(args) -> int:
    from ..builders import prepare_dataset
    from ..errors import ConfigError, OutputError
    from ..inference.extract import resolve_sampling
    from ..inference.feature_cache import CachedExtractor
    from ..inference.model import build_model_from_checkpoint, open_checkpoint
    from ..store.checkpoint import Checkpoint
    from ..utils.system import resolve_device

    if args.chunk is not None and args.chunk <= 0:
        raise ConfigError(f"--chunk must be positive, got {args.chunk}")
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be >= 0 (0: decode in this process), got {args.workers}")
    if args.out:
        check_feature_output(args)
    checkpoint = Checkpoint.open(args.checkpoint)                  # read once, passed down
    cfg, _ = open_checkpoint(checkpoint, args.config, args.overrides)
    if args.sampling:
        cfg.eval.sampling = args.sampling
    if args.workers is not None:
        cfg.data.workers = args.workers
    sampling = resolve_sampling(cfg)
    device = resolve_device(cfg.train.device)
    dataset = prepare_dataset(cfg, progress=not args.no_progress)
    tracklets = getattr(dataset, args.split)
    extractor = CachedExtractor(
        lambda: build_model_from_checkpoint(checkpoint, dataset.num_train_pids, device)[0], cfg,
        checkpoint, dataset.name, dataset.root, sampling, device, path=args.out, force=args.force,
        progress=not args.no_progress, amp=args.amp, chunk=args.chunk, channels_last=args.channels_last or None)
    features = extractor(tracklets, args.split)
    stats = extractor.last_stats
    where = extractor.last_path or "(not written)"
    if args.out and not extractor.last_path:
        raise OutputError(f"--out {args.out} was not written (see the warning above)")
    if not stats:
        print(f"{args.split}: {features.shape[0]} x {features.shape[1]} features up to date in {where}")
        return 0
    fps = stats["frames"] / max(stats["seconds"], 1e-9)
    print(f"{args.split}: {features.shape[0]} x {features.shape[1]} features ({sampling}, {stats['aggregation']}) "
          f"-> {where}; {stats['frames']} frames in {stats['seconds']:.1f} s = {fps:.1f} frames/s on {device}")
    return 0


def check_feature_output(args) -> None:
    """--out before any work: never an input, never a file that is not a vidreid feature file (those are caches:
    reused when up to date, else replaced), its folder writable."""
    import os

    from ..inference.feature_cache import is_feature_file
    from ..utils.io import check_output_file
    overwrite = os.path.isfile(args.out) and is_feature_file(args.out)
    check_output_file(args.out, "--out", overwrite, inputs={"checkpoint": args.checkpoint, "config file": args.config},
                      hint="it is not a vidreid feature file: choose another path")
