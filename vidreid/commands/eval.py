from ._common import add_config_arguments, add_fuse_arguments

HELP = "evaluate a checkpoint on the config's dataset under a named protocol"


def add_arguments(p):
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint",
                   help="a .safetensors checkpoint written by vidreid train, or 'none' for the --config's model "
                        "as initialised (ImageNet backbone, no training): what training adds on your data. Not "
                        "needed for a classical --config (colour_hist, lomo): its metric, if any, is fitted on the "
                        "train split and saved in <train.output_dir>/checkpoints")
    add_fuse_arguments(p, "evaluate")
    p.add_argument("--protocol", choices=["mars", "gao"], help="evaluation protocol (default: the config's)")
    p.add_argument("--sampling", choices=["rrs", "dense", "all", "evenly"], help="test-time clip sampling")
    p.add_argument("--metric", choices=["euclidean", "cosine"], help="distance")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--json", help="also write the metrics to this JSON file (an existing file is replaced only with "
                                  "--overwrite; an input never)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --json file and the files of an earlier eval in --out")
    p.add_argument("--split", help="split of a multi-split dataset (ilidsvid, prid2011): an index, or 'all' for "
                                   "every split and their mean; a checkpoint path containing {split} gives one "
                                   "checkpoint per split (runs/ilids{split}/checkpoints/best.safetensors)")
    p.add_argument("--no-cache", action="store_true",
                   help="always extract, and write no feature file (default: reuse <run dir>/features/ files whose "
                        "checkpoint, settings and tracklet hashes match, else extract and write them)")
    p.add_argument("--features-dir", help="folder of cached feature files (default: <run dir>/features)")
    p.add_argument("--out", help="folder for the pictures (cmc.png, ranked.png, camera_pairs.png, reliability.png) "
                                 "and calibration.json (default: <run dir>/eval/<checkpoint name>-<protocol>, "
                                 "numbered -2, -3 ... when that exists)")
    p.add_argument("--ranked", type=int, default=6, metavar="N",
                   help="queries in the ranked-list picture, hits and failures (default 6; 0 = no picture)")
    p.add_argument("--no-plots", action="store_true", help="write no pictures and no calibration")
    p.add_argument("--no-progress", action="store_true", help="no progress display")


def run(args) -> int:
    import json

    if args.split == "all":
        from ..errors import ConfigError
        if not args.checkpoint or args.fuse:
            raise ConfigError("--split all evaluates trained checkpoints: pass --checkpoint (classical features "
                              "and --fuse: one split at a time, --split N)")
        return _run_all_splits(args)

    from ..inference.evaluate import evaluate_model, format_results
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text
    from ._common import trained_on

    check_json_output(args)
    _use_initial_checkpoint(args)
    split = None if args.split is None else _split_index(args.split)
    _use_fusion(args, split)
    cfg, meta, dataset, device = _eval_setup(args, args.checkpoint, split)
    # decided (and an --out holding an earlier eval refused) before the extraction, not after it
    out = None if args.no_plots else output_folder(args, cfg.eval.protocol or dataset.protocol,
                                                   trained_on(meta, cfg, dataset))
    features = {}                                    # the features also feed the calibration
    res = evaluate_model(None, dataset, cfg, device, features=features,
                         extractor=_cached_extractor(args, args.checkpoint, meta, cfg, dataset, device))
    title = f"{meta.get('model')} on {dataset.name} ({args.checkpoint})"
    print(format_results(res, title=title))
    extra = {}
    if out is not None:
        extra = write_eval_outputs(args, res, dataset, features, meta, cfg, out, title)
    if args.json:
        atomic_write_text(args.json, json.dumps(jsonable({**{k: v for k, v in res.items() if k != "distmat"},
                                                           **extra}), indent=1))
    return 0


def _use_fusion(args, split: int | None) -> None:
    """--fuse CONFIG: the fused checkpoint of --checkpoint and CONFIG's classical feature (inference/fusion.py) takes
    the place of --checkpoint (made on the eval dataset's train split on first use)."""
    if not getattr(args, "fuse", None):
        return
    from ..inference.fusion import fused_checkpoint
    _, _, dataset, device = _eval_setup(args, args.checkpoint, split)
    args.checkpoint = fused_checkpoint(args.checkpoint, args.fuse, args.fuse_weight, dataset, device,
                                       progress=not args.no_progress)


def _eval_setup(args, checkpoint: str, split: int | None):
    """-> (cfg, meta, dataset, device) of one evaluation: the checkpoint's config is the base; the --config file
    (dataset, eval settings), the overrides and the eval options apply on top."""
    from ..builders import prepare_dataset
    from ..inference.model import open_checkpoint
    from ..utils.system import resolve_device
    cfg, meta = open_checkpoint(checkpoint, args.config, args.overrides)
    if args.protocol:
        cfg.eval.protocol = cfg.data.protocol = args.protocol
    if args.sampling:
        cfg.eval.sampling = args.sampling
    if args.metric:
        cfg.eval.metric = args.metric
    cfg.eval.rerank = cfg.eval.rerank or args.rerank
    if split is not None:
        cfg.data.split = split
    dataset = prepare_dataset(cfg, progress=not args.no_progress)
    if not dataset.query:
        from ..errors import DatasetError
        raise DatasetError(f"dataset {dataset.name} ({dataset.root}) has no query tracklets to evaluate"
                           + (": the unlabeled tracklets a `vidreid adapt` run trained on; pass --config (or "
                              "data.dataset=... data.root=...) naming a labelled dataset" if dataset.name == "tracklets"
                              else ""))
    return cfg, meta, dataset, resolve_device(cfg.train.device)


def _cached_extractor(args, checkpoint: str, meta: dict, cfg, dataset, device):
    """Features come from <run dir>/features when a file there was made with this checkpoint, these settings and
    this tracklet list (else they are extracted and written there); the model is built only if needed."""
    from ..inference.extract import resolve_sampling
    from ..inference.feature_cache import CachedExtractor
    from ..inference.model import build_model_from_checkpoint
    from ._common import feature_cache_folder
    cache, folder = feature_cache_folder(args.features_dir, meta, cfg, dataset, checkpoint, "eval")
    return CachedExtractor(lambda: build_model_from_checkpoint(checkpoint, dataset.num_train_pids, device)[0],
                           cfg, checkpoint, dataset.name, dataset.root, resolve_sampling(cfg), device,
                           folder=folder, enabled=cache and not args.no_cache, progress=not args.no_progress)


def check_json_output(args) -> None:
    """--json follows the no-clobber rule (checked before any work): never an input, an existing file only with
    --overwrite, its folder writable."""
    if args.json:
        from ..utils.io import check_output_file
        inputs = {"checkpoint": (args.checkpoint or "").replace("{split}", "0"), "config file": args.config}
        check_output_file(args.json, "--json", args.overwrite, inputs=inputs)


def _use_initial_checkpoint(args) -> None:
    """--checkpoint none: the epoch-0 checkpoint of --config (vidreid/inference/initial.py) takes its place; for a
    classical --config (no --checkpoint, or none), the checkpoint of its fitted metric (inference/classical.py)."""
    from ..inference.initial import NO_CHECKPOINT, initial_checkpoint
    from ..errors import ConfigError
    if args.checkpoint not in (None, NO_CHECKPOINT):
        return
    if not args.config:
        raise ConfigError("--checkpoint none needs --config: the model and data to evaluate untrained"
                          if args.checkpoint else "vidreid eval needs --checkpoint (or a classical --config: "
                                                  "colour_hist, lomo)")
    if args.split == "all":
        raise ConfigError("--checkpoint none evaluates one split: pass --split N")
    from ..config import load_config
    from ..builders import prepare_dataset
    from ..models.classical import is_classical
    cfg = load_config(args.config, args.overrides)
    if args.split is not None:
        cfg.data.split = _split_index(args.split)
    dataset = prepare_dataset(cfg, progress=False)
    if is_classical(cfg.model.name):
        from ..inference.classical import classical_checkpoint
        from ..utils.system import resolve_device
        args.checkpoint = classical_checkpoint(cfg, dataset, resolve_device(cfg.train.device),
                                               progress=not args.no_progress)
    elif args.checkpoint is None:
        raise ConfigError(f"vidreid eval needs --checkpoint: {cfg.model.name} is a network (pass a trained "
                          f"checkpoint, or --checkpoint none for it untrained)")
    else:
        args.checkpoint = initial_checkpoint(cfg, dataset.num_train_pids)


# ---------------------------------------------------------------------------------------------- pictures
OUTPUT_FILES = ("cmc.png", "ranked.png", "camera_pairs.png", "reliability.png", "calibration.json")


def output_folder(args, protocol: str, own_dataset: bool = True) -> str | None:
    """--out, refused when it holds files an eval writes (unless --overwrite); by default
    <run dir>/eval/<checkpoint name>-<protocol>, numbered when taken, so an earlier eval's files are never replaced.
    The run folder only receives evaluations on the checkpoint's own dataset: for another one, None (no pictures)
    unless --out names a folder."""
    import os
    import sys

    from ..errors import ConfigError
    if args.out:
        taken = [f for f in OUTPUT_FILES if os.path.exists(os.path.join(args.out, f))]
        if taken and not args.overwrite:
            raise ConfigError(f"--out {args.out} already holds {', '.join(taken)} from an earlier eval; pass "
                              f"--overwrite to replace them, or choose another --out")
        return args.out
    if not own_dataset:
        print("vidreid eval: note: another dataset than the checkpoint's: no pictures written into its run folder "
              "(pass --out DIR for them)", file=sys.stderr)
        return None
    ckpt = os.path.abspath(args.checkpoint.replace("{split}", "all"))
    folder = os.path.dirname(ckpt)
    run_dir = os.path.dirname(folder) if os.path.basename(folder) == "checkpoints" else folder
    base = os.path.join(run_dir, "eval", f"{os.path.basename(ckpt).split('.')[0]}-{protocol}")
    path, n = base, 1
    while os.path.exists(path) and os.listdir(path):
        n += 1
        path = f"{base}-{n}"
    return path


def write_eval_outputs(args, res: dict, dataset, features: dict, meta: dict, cfg, out: str, title: str) -> dict:
    """Pictures (vidreid.viz.plots.eval_figures), and the calibration of search distances fitted on these features
    with its reliability diagram (vidreid.search.calibration). Returns what --json adds."""
    import json
    import os

    import numpy as np

    from ..errors import ConfigError
    from ..inference.evaluate import chance_level, gallery_for_protocol
    from ..inference.extract import finite_rows
    from ..inference.identity import checkpoint_hash
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text
    from ..eval.camera_pairs import camera_pair_metrics
    from ..search.calibration import calibrate_features, centre_by_default
    from ..viz.plots import eval_figures, plot_reliability

    ds, _ = gallery_for_protocol(dataset, res["protocol"])
    q_keep = finite_rows(features["query"], ds.query, "query")
    g_keep = finite_rows(features["gallery"], ds.gallery, "gallery")
    query, gallery = [ds.query[i] for i in q_keep], [ds.gallery[i] for i in g_keep]
    qf, gf = features["query"][q_keep], features["gallery"][g_keep]
    chance = chance_level(dataset, res["protocol"])
    paths = eval_figures(res, query, gallery, out, title=f"{meta.get('model')} on {dataset.name}",
                         ranked=args.ranked, chance=chance, frame_size=(cfg.data.height, cfg.data.width),
                         label=f"{meta.get('model')} ({res['protocol']} protocol)")
    q_pids, g_pids = np.array([t.pid for t in query]), np.array([t.pid for t in gallery])
    q_cams, g_cams = np.array([t.camid for t in query]), np.array([t.camid for t in gallery])
    extra = {"figures": paths}
    if "camera_pairs" in paths:
        pairs = camera_pair_metrics(res["distmat"], q_pids, g_pids, q_cams, g_cams, res["protocol"])
        extra["camera_pairs"] = {k: np.where(np.isnan(v), None, v).tolist() if v.dtype.kind == "f" else v.tolist()
                                 for k, v in pairs.items()}
    # calibration of the distance a search index reports (cosine of L2-normalised features), plain and centred
    try:
        doc = {"format": "vidreid-calibration", "version": 1,
               "model_hash": checkpoint_hash(args.checkpoint), "model": meta.get("model"),
               "checkpoint": os.path.abspath(args.checkpoint), "dataset": dataset.name, "protocol": res["protocol"],
               "queries": len(query), "gallery": len(gallery)}
        default = centre_by_default(meta.get("model", ""))
        for centred in (False, True):
            cal, tables = calibrate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, centred=centred)
            doc["centred" if centred else "plain"] = {**cal.to_dict(), "held_out_reliability": tables}
            if centred == default:
                paths["reliability"] = plot_reliability(
                    tables, os.path.join(out, "reliability.png"),
                    title=f"{meta.get('model')} on {dataset.name}: same-person probability\n"
                          f"({'centred' if centred else 'plain'} features, held-out query identities)")
                extra["calibration_ece"] = {k: t["ece"] for k, t in tables.items()}
        paths["calibration"] = os.path.join(out, "calibration.json")
        atomic_write_text(paths["calibration"], json.dumps(jsonable(doc), indent=1))
    except ConfigError as e:          # e.g. no query with a true match: nothing to fit
        print(f"vidreid eval: no calibration ({e})")
    print(f"\npictures and calibration in {out}:")
    for name, path in paths.items():
        print(f"  {name:<13} {path}")
    return extra


# ---------------------------------------------------------------------------------------------- --split
def _split_index(value: str) -> int:
    from ..errors import ConfigError
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--split must be a split index (0, 1, ...) or 'all', got {value!r}") from None


def _run_all_splits(args) -> int:
    """Evaluate every split of the dataset (iLIDS-VID, PRID2011: 10) and print each and the mean (the published
    protocol). Checkpoint `...{split}...` is formatted per split; one checkpoint for every split is accepted (e.g. a
    model trained on another dataset) with a warning when it was trained on this dataset."""
    import json
    import sys

    import numpy as np

    from ..errors import ConfigError
    from ..inference.evaluate import evaluate_model
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text

    check_json_output(args)

    def checkpoint(split: int) -> str:
        return args.checkpoint.replace("{split}", str(split))

    results, n, settings = [], None, None
    split = 0
    while n is None or split < n:                                  # one pass per split
        cfg, meta, dataset, device = _eval_setup(args, checkpoint(split), split)
        if n is None:
            n = int(dataset.meta.get("num_splits") or 0)
            if n < 2:
                raise ConfigError(f"--split all needs a dataset with several splits (ilidsvid, prid2011); "
                                  f"{cfg.data.dataset!r} has one")
            if "{split}" not in args.checkpoint and meta.get("dataset") == dataset.name:
                print(f"vidreid eval: warning: one checkpoint for all {n} splits, trained on {dataset.name}: its "
                      f"training people are test people of other splits; pass a path with {{split}} to use one "
                      f"checkpoint per split", file=sys.stderr)
        # each split's features are cached like a single evaluation's (the split index is part of the file key)
        res = evaluate_model(None, dataset, cfg, device,
                             extractor=_cached_extractor(args, checkpoint(split), meta, cfg, dataset, device))
        res.pop("distmat", None)
        results.append(res)
        settings = (res["protocol"], res.get("sampling"), res.get("metric"), res.get("rerank"))
        split += 1

    def row(name, cmc, mAP, mINP, q):
        ranks = " ".join(f"{100 * cmc[k - 1]:6.2f}" if len(cmc) >= k else "   n/a" for k in (1, 5, 10, 20))
        return f"{name:<6} {ranks} {100 * mAP:6.2f} {100 * mINP:6.2f} {q:>8}"

    mean_cmc = np.mean([r["cmc"] for r in results], 0)
    mean = {"cmc": mean_cmc, "mAP": float(np.mean([r["mAP"] for r in results])),
            "mINP": float(np.mean([r["mINP"] for r in results]))}
    print(f"{dataset.name}: {n} splits, protocol {settings[0]}, sampling {settings[1]}, distance {settings[2]}, "
          f"rerank {'yes' if settings[3] else 'no'} ({args.checkpoint})")
    if results[-1].get("gallery_note"):
        print(results[-1]["gallery_note"])
    head = f"{'split':<6} {'R1':>6} {'R5':>6} {'R10':>6} {'R20':>6} {'mAP':>6} {'mINP':>6} {'queries':>8}"
    print(head + "\n" + "-" * len(head))
    for i, r in enumerate(results):
        print(row(str(i), r["cmc"], r["mAP"], r["mINP"], r["num_valid_queries"]))
    print("-" * len(head) + "\n" + row("mean", mean_cmc, mean["mAP"], mean["mINP"],
                                         sum(r["num_valid_queries"] for r in results)))
    if args.json:
        atomic_write_text(args.json, json.dumps(jsonable({"splits": results, "mean": mean}), indent=1))
    return 0
