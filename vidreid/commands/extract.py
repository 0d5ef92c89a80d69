from ._common import add_config_arguments

HELP = "extract the tracklet features of a split to a feature file (reused by `vidreid eval`)"


def add_arguments(p):
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint written by vidreid train")
    p.add_argument("--split", required=True, choices=["query", "gallery"], help="which tracklets (the split index of iLIDS-VID / PRID2011 is the override data.split=N)")
    p.add_argument("--sampling", choices=["all", "dense", "rrs", "evenly"],
                   help="test-time clip sampling (default: the config's); `all` streams every frame, exactly, in "
                        "bounded memory")
    p.add_argument("--out", help="feature file to write (default: <run dir>/features/<split>-<sampling>-<key>"
                                 ".safetensors, where `vidreid eval` looks); an existing file there must be a "
                                 "vidreid feature file (reused if up to date, else replaced), anything else is "
                                 "never written over")
    p.add_argument("--chunk", type=int, help="frames per forward for `all` sampling (default: data.test_batch_size "
                                             "x test clip length)")
    p.add_argument("--workers", type=int, help="frame-decoding worker processes (default: data.workers)")
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], help="autocast (default: train.amp on CUDA, off on CPU)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format (faster convolutions on GPUs)")
    p.add_argument("--force", action="store_true", help="extract even if the file is up to date")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..builders import prepare_dataset
    from ..errors import ConfigError, OutputError
    from ..inference.extract import resolve_sampling
    from ..inference.feature_cache import CachedExtractor
    from ..inference.model import build_model_from_checkpoint, open_checkpoint
    from ..utils.system import resolve_device

    if args.out:
        check_feature_output(args)
    cfg, _ = open_checkpoint(args.checkpoint, args.config, args.overrides)
    if args.sampling:
        cfg.eval.sampling = args.sampling
    if args.workers is not None:
        cfg.data.workers = args.workers
    if args.chunk is not None and args.chunk <= 0:
        raise ConfigError(f"--chunk must be positive, got {args.chunk}")
    sampling = resolve_sampling(cfg)
    device = resolve_device(cfg.train.device)
    dataset = prepare_dataset(cfg, progress=not args.no_progress)
    tracklets = getattr(dataset, args.split)
    extractor = CachedExtractor(
        lambda: build_model_from_checkpoint(args.checkpoint, dataset.num_train_pids, device)[0], cfg,
        args.checkpoint, dataset.name, dataset.root, sampling, device, path=args.out, force=args.force,
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
