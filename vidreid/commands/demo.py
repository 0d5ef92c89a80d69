HELP = ("generate SynthPed, fine-tune TP from an ImageNet-pretrained MobileNetV2 on it, evaluate (mars "
        "protocol) and draw the results")

def default_config():
    """The demo config shipped inside the package (vidreid/configs/demo.yaml; configs/demo.yaml of a checkout
    links to it), as an importlib.resources Traversable: found from a wheel as well as from a checkout."""
    from importlib.resources import files
    return files("vidreid").joinpath("configs", "demo.yaml")

def add_arguments(p):
    p.add_argument("--config", default=None,
                   help="demo config (default: the packaged vidreid/configs/demo.yaml, = configs/demo.yaml)")
    p.add_argument("--out", default=None, help="run directory (default: the config's train.output_dir, runs/demo)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted demo run from its newest checkpoint (= train.resume=auto)")
    p.add_argument("--force", action="store_true",
                   help="replace a previous demo run in the run directory (its checkpoints/, metrics.json ...)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")

def run(args) -> int:
    import json
    import os
    import time
    from importlib.resources import as_file

    from ..config import load_config
    from ..inference.evaluate import chance_level, format_results, gallery_for_protocol
    from ..utils.io import atomic_write_text
    from ..engine.train import train
    from ..utils.arrays import jsonable
    from ..errors import ConfigError
    from ..viz.plots import eval_figures
    from .plot import draw_training

    overrides = (["train.resume=auto"] if args.resume else []) + list(args.overrides)
    if args.out:
        overrides += [f"train.output_dir={args.out}", f"data.root={os.path.join(args.out, 'synthped')}"]
    if args.config:
        cfg = load_config(args.config, overrides)
    else:
        resource = default_config()
        if not resource.is_file():
            raise ConfigError("the packaged demo config vidreid/configs/demo.yaml is missing from this "
                              "installation (reinstall vidreid, or pass --config)")
        with as_file(resource) as path:
            cfg = load_config(str(path), overrides)
    out = cfg.train.output_dir
    t0 = time.time()
    res = train(cfg, progress=not args.no_progress, force=args.force and not args.resume)
    dataset = res["dataset"]
    chance = chance_level(dataset, res["protocol"])
    res["chance"] = chance
    metrics_path = os.path.join(out, "metrics.json")
    doc = json.load(open(metrics_path))
    doc["final"]["chance"] = jsonable(chance)
    doc["total_seconds"] = time.time() - t0
    atomic_write_text(metrics_path, json.dumps(jsonable(doc), indent=1))

    # SynthPed frames are all readable, so the distance matrix's rows/columns are the protocol's query/gallery
    ds, _ = gallery_for_protocol(dataset, res["protocol"])
    figures = eval_figures(res, ds.query, ds.gallery, out, title=f"SynthPed, {res['protocol']} protocol",
                           ranked=5, chance=chance, frame_size=(cfg.data.height, cfg.data.width),
                           label=f"{cfg.model.name} ({cfg.model.backbone})")
    training_png = draw_training(out)
    print()
    print(format_results(res, chance, title=f"vidreid demo: {cfg.model.name} on SynthPed "
                                            f"({len(dataset.query)} queries, {len(dataset.gallery)} gallery)"))
    print(f"\ntime: {time.time() - t0:.0f} s (training {res['train_seconds']:.0f} s)")
    print(f"metrics:     {metrics_path}")
    print(f"CMC curve:   {figures['cmc']}")
    print(f"ranked list: {figures['ranked']}")
    if "camera_pairs" in figures:
        print(f"per camera:  {figures['camera_pairs']}")
    print(f"training:    {training_png}")
    print(f"checkpoint:  {os.path.join(out, 'checkpoints', 'last.safetensors')}")
    return 0
