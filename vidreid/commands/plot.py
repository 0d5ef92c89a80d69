"""`vidreid plot RUN_DIR`: redraw a run's training picture (loss terms, learning rate, evaluation per epoch) from its
metrics.json; `vidreid train` draws the same picture at its end (and on resume)."""

from ..options import add_overwrite_argument

HELP = "draw a run's training curves (loss terms, learning rate, R1/mAP per epoch) from its metrics.json"

def add_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by vidreid train (holds metrics.json)")
    p.add_argument("--out", help="the PNG to write (default RUN_DIR/training.png)")
    add_overwrite_argument(p, "replace an existing picture")


def run(args) -> int:
    import os

    from ..errors import ConfigError
    from ..utils.io import check_output_file
    from ..workflows.training import draw_training
    out = args.out or os.path.join(args.run_dir, "training.png")
    metrics = os.path.join(args.run_dir, "metrics.json")
    if not os.path.isfile(metrics):
        raise ConfigError(f"{args.run_dir}: no metrics.json (not a vidreid run directory, or no epoch finished yet)")
    # RUN_DIR/training.png is the run's own picture, drawn by vidreid train from the same metrics.json: redrawn
    # freely (README's `vidreid plot RUN_DIR` after a run); any other existing file only with --overwrite, the
    # metrics file never
    own = not args.out or os.path.abspath(args.out) == os.path.abspath(os.path.join(args.run_dir, "training.png"))
    check_output_file(out, "--out", args.overwrite or own, inputs={"metrics file": metrics})
    picture = draw_training(args.run_dir, out)
    if picture is None:
        raise ConfigError(f"{os.path.join(args.run_dir, 'metrics.json')}: no finished epoch to draw yet")
    print(picture)
    return 0
