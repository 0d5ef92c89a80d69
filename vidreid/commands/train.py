from ._common import add_config_arguments, load_cli_config

HELP = "train a model from a YAML config (key=value overrides allowed)"


def add_arguments(p):
    add_config_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")


def run(args) -> int:
    from ..engine.train import train
    cfg = load_cli_config(args)
    res = train(cfg, progress=not args.no_progress)
    print(f"run directory: {cfg.train.output_dir} (metrics.json, train.log, checkpoints/)")
    return 0 if res else 1
