"""`vidreid plot RUN_DIR`: redraw a run's training picture (loss terms, learning rate, evaluation per epoch) from its
metrics.json; `vidreid train` draws the same picture at its end (and on resume)."""

HELP = "draw a run's training curves (loss terms, learning rate, R1/mAP per epoch) from its metrics.json"

PICTURE = "training.png"


def add_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by vidreid train (holds metrics.json)")
    p.add_argument("--out", help=f"the PNG to write (default RUN_DIR/{PICTURE})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing picture")


def draw_training(run_dir: str, out: str | None = None) -> str | None:
    """Draw RUN_DIR/metrics.json as `out` (default RUN_DIR/training.png); None when there is no epoch to draw yet
    (or on ranks other than 0 of a distributed run, which write no metrics.json)."""
    import json
    import os

    from ..errors import ConfigError
    from ..viz.plots import plot_training

    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: unreadable metrics file ({e})") from None
    if not doc.get("history"):
        return None
    cfg = doc.get("config") or {}
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    title = f"{model.get('name', '?')} ({model.get('backbone', '?')}) on {data.get('dataset', '?')}: {run_dir}"
    return plot_training(doc, out or os.path.join(run_dir, PICTURE), title=title)


def run(args) -> int:
    import os

    from ..errors import ConfigError
    out = args.out or os.path.join(args.run_dir, PICTURE)
    if not os.path.isfile(os.path.join(args.run_dir, "metrics.json")):
        raise ConfigError(f"{args.run_dir}: no metrics.json (not a vidreid run directory, or no epoch finished yet)")
    if os.path.exists(out) and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to redraw it, or --out another.png")
    picture = draw_training(args.run_dir, out)
    if picture is None:
        raise ConfigError(f"{os.path.join(args.run_dir, 'metrics.json')}: no finished epoch to draw yet")
    print(picture)
    return 0
