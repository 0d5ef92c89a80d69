from ._common import add_config_arguments

HELP = "train a model from a YAML config (key=value overrides allowed)"


def add_arguments(p):
    add_config_arguments(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in train.output_dir (= train.resume=auto; starts afresh "
                        "if there is none); resume=PATH or train.resume=PATH resumes from a given .state.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")


def config_from_args(args):
    """The config: file, then --resume (as train.resume=auto), then the dotted overrides (so an explicit
    train.resume=PATH given with --resume wins)."""
    from ..config import load_config
    overrides = (["train.resume=auto"] if args.resume else []) + list(args.overrides)
    return load_config(args.config, overrides)


def run(args) -> int:
    import os

    from ..engine.train import train
    from .plot import draw_training
    cfg = config_from_args(args)
    res = train(cfg, progress=not args.no_progress)
    # under torchrun only rank 0 writes the run directory's files
    picture = draw_training(cfg.train.output_dir) if int(os.environ.get("RANK", "0")) == 0 else None
    print(f"run directory: {cfg.train.output_dir} (metrics.json, train.log, checkpoints/"
          + (f", {os.path.basename(picture)}" if picture else "") + ")")
    return 0 if res else 1
