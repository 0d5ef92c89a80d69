from ._common import add_config_arguments, load_cli_config

HELP = "evaluate a checkpoint on the config's dataset under a named protocol"


def add_arguments(p):
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint written by vidreid train")
    p.add_argument("--protocol", choices=["mars", "gao"], help="evaluation protocol (default: the config's)")
    p.add_argument("--sampling", choices=["rrs", "dense", "all", "evenly"], help="test-time clip sampling")
    p.add_argument("--metric", choices=["euclidean", "cosine"], help="distance")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--json", help="also write the metrics to this JSON file")


def run(args) -> int:
    import json

    from ..config import load_config
    from ..engine.checkpoint import build_model_from_checkpoint, read_checkpoint
    from ..engine.evaluate import evaluate_model, format_results
    from ..engine.extract import resolve_device
    from ..engine.train import jsonable, prepare_dataset

    _, meta = read_checkpoint(args.checkpoint)
    # the checkpoint's config is the base; the --config file (dataset, eval settings) and overrides apply on top
    cfg = load_config(args.config, args.overrides, base=meta.get("config"))
    if args.protocol:
        cfg.eval.protocol = args.protocol
        cfg.data.protocol = args.protocol
    if args.sampling:
        cfg.eval.sampling = args.sampling
    if args.metric:
        cfg.eval.metric = args.metric
    cfg.eval.rerank = cfg.eval.rerank or args.rerank
    device = resolve_device(cfg.train.device)
    dataset = prepare_dataset(cfg)
    model, _ = build_model_from_checkpoint(args.checkpoint, dataset.num_train_pids, device)
    res = evaluate_model(model, dataset, cfg, device)
    print(format_results(res, title=f"{meta.get('model')} on {dataset.name} ({args.checkpoint})"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(jsonable({k: v for k, v in res.items() if k != "distmat"}), f, indent=1)
    return 0
