"""`vidreid eval`: evaluate a checkpoint on a dataset under a named protocol, with its pictures and calibration.

`evaluate(opts)` takes the parsed options of the command (commands/eval.py lists them: checkpoint, config,
overrides, fuse, fuse_weight, protocol, sampling, metric, rerank, json, overwrite, split, no_cache, features_dir,
out, ranked, no_plots, no_progress). The checkpoint file is opened once (`store.checkpoint.Checkpoint`) and that
value is passed down: its tensors are loaded at most once, only when a split's features are not cached.
"""
from __future__ import annotations

import os
import sys

def evaluate(args) -> int:
    import json

    if args.split == "all":
        from ..errors import ConfigError
        if not args.checkpoint or args.fuse:
            raise ConfigError("--split all evaluates trained checkpoints: pass --checkpoint (classical features "
                              "and --fuse: one split at a time, --split N)")
        return evaluate_all_splits(args)

    from ..inference.evaluate import evaluate_model, format_results
    from ..inference.resolve import resolve_checkpoint
    from ..store.checkpoint import Checkpoint
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text
    from ..validate import require_option

    check_json_output(args)
    require_option(args.fuse_weight != "auto", "--fuse-weight", "--fuse", args.fuse)
    check_output_folders(args)
    split = None if args.split is None else _split_index(args.split)
    path = resolve_checkpoint(args.checkpoint, args.config, args.overrides, fuse=args.fuse,
                              fuse_weight=args.fuse_weight, split=split, progress=not args.no_progress,
                              dataset_and_device=lambda path: _eval_setup(args, path, split)[2:])
    checkpoint = Checkpoint.open(path)
    cfg, meta, dataset, device = _eval_setup(args, checkpoint, split)
    # decided (and an --out holding an earlier eval refused) before the extraction, not after it
    out = None if args.no_plots else output_folder(args, path, cfg.eval.protocol or dataset.protocol,
                                                   trained_on(meta, cfg, dataset))
    features = {}                                    # the features also feed the calibration
    res = evaluate_model(None, dataset, cfg, device, features=features,
                         extractor=_cached_extractor(args, checkpoint, cfg, dataset, device))
    title = f"{meta.get('model')} on {dataset.name} ({path})"
    print(format_results(res, title=title))
    extra = {}
    if out is not None:
        extra = write_eval_outputs(args, res, dataset, features, checkpoint, cfg, out)
    if args.json:
        atomic_write_text(args.json, json.dumps(jsonable({**{k: v for k, v in res.items() if k != "distmat"},
                                                           **extra}), indent=1))
    return 0


def _eval_setup(args, checkpoint, split: int | None):
    """-> (cfg, meta, dataset, device) of one evaluation: the checkpoint's config is the base; the --config file
    (dataset, eval settings), the overrides and the eval options apply on top."""
    from ..builders import prepare_dataset
    from ..inference.model import open_checkpoint
    from ..utils.system import resolve_device
    from ..validate import check_dataset_for_evaluation
    cfg, meta = open_checkpoint(checkpoint, args.config, args.overrides)
    if args.protocol:
        cfg.eval.protocol = cfg.data.protocol = args.protocol
    if args.sampling:
        cfg.eval.sampling = args.sampling
    if args.metric:
        cfg.eval.metric = args.metric
    cfg.eval.rerank = cfg.eval.rerank or args.rerank
    if split is not None:
        from ..data.datasets.registry import is_multi_split
        from ..errors import ConfigError
        if not is_multi_split(cfg.data.dataset):
            raise ConfigError(f"--split {split}: dataset {cfg.data.dataset!r} has one split (--split is for the "
                              f"multi-split datasets, ilidsvid and prid2011)")
        cfg.data.split = split
    dataset = prepare_dataset(cfg, progress=not args.no_progress)
    if not dataset.query:
        from ..errors import DatasetError
        raise DatasetError(f"dataset {dataset.name} ({dataset.root}) has no query tracklets to evaluate"
                           + (": the unlabeled tracklets a `vidreid adapt` run trained on; pass --config (or "
                              "data.dataset=... data.root=...) naming a labelled dataset" if dataset.name == "tracklets"
                              else ""))
    check_dataset_for_evaluation(dataset, cfg)
    return cfg, meta, dataset, resolve_device(cfg.train.device)


def _cached_extractor(args, checkpoint, cfg, dataset, device):
    """Features come from <run dir>/features when a file there was made with this checkpoint (an opened
    `Checkpoint`), these settings and this tracklet list (else they are extracted and written there); the model is
    built only if needed."""
    from ..inference.extract import resolve_sampling
    from ..inference.feature_cache import CachedExtractor
    from ..inference.model import build_model_from_checkpoint
    cache, folder = feature_cache_folder(args.features_dir, checkpoint.meta, cfg, dataset, checkpoint.path, "eval")
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


def check_output_folders(args) -> None:
    """--ranked, --out and --features-dir checked before any work: a count >= 0, folders (not files)."""
    from ..errors import ConfigError, OutputError
    if args.ranked < 0:
        raise ConfigError(f"--ranked must be >= 0 (0: no ranked-list picture), got {args.ranked}")
    for option, folder in (("--out", args.out), ("--features-dir", args.features_dir)):
        if folder and os.path.exists(folder) and not os.path.isdir(folder):
            raise OutputError(f"{option} {folder} is a file, not a folder")


# ---------------------------------------------------------------------------------------------- pictures
OUTPUT_FILES = ("cmc.png", "ranked.png", "camera_pairs.png", "reliability.png", "calibration.json")


def output_folder(args, checkpoint: str, protocol: str, own_dataset: bool = True) -> str | None:
    """--out, refused when it holds files an eval writes (unless --overwrite); by default
    <run dir>/eval/<checkpoint name>-<protocol>, numbered when taken, so an earlier eval's files are never replaced.
    The run folder only receives evaluations on the checkpoint's own dataset: for another one, None (no pictures)
    unless --out names a folder."""
    from ..errors import ConfigError
    from ..store.run_folder import eval_folder
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
    return eval_folder(checkpoint.replace("{split}", "all"), protocol)


def write_eval_outputs(args, res: dict, dataset, features: dict, checkpoint, cfg, out: str) -> dict:
    """Pictures (vidreid.viz.plots.eval_figures), and the calibration of search distances fitted on these features
    with its reliability diagram (vidreid.search.calibration). Returns what --json adds."""
    import numpy as np

    from ..errors import ConfigError
    from ..inference.evaluate import chance_level, gallery_for_protocol
    from ..inference.extract import finite_rows
    from ..eval.camera_pairs import camera_pair_metrics
    from ..viz.plots import eval_figures

    meta = checkpoint.meta
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
    try:
        tables = write_calibration(out, qf, gf, query, gallery, checkpoint, dataset.name, res["protocol"], paths)
        extra["calibration_ece"] = {k: t["ece"] for k, t in tables.items()}
    except ConfigError as e:          # e.g. no query with a true match: nothing to fit
        print(f"vidreid eval: no calibration ({e})")
    print(f"\npictures and calibration in {out}:")
    for name, path in paths.items():
        print(f"  {name:<13} {path}")
    return extra


def write_calibration(out: str, qf, gf, query: list, gallery: list, checkpoint, dataset_name: str, protocol: str,
                      paths: dict) -> dict:
    """The calibration of the distance a search index reports (cosine of L2-normalised features, plain and centred)
    fitted on these labelled features -> <out>/calibration.json (what `index build --calibration auto` finds in the
    checkpoint's run) and its reliability diagram; their paths go into `paths`. Returns the held-out reliability
    tables of the model's default (plain or centred). ConfigError when there is nothing to fit."""
    import json

    import numpy as np

    from ..search.calibration import calibration_document, centre_by_default
    from ..store.run_folder import CALIBRATION
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text
    from ..viz.plots import plot_reliability
    meta = checkpoint.meta
    q_pids, g_pids = np.array([t.pid for t in query]), np.array([t.pid for t in gallery])
    q_cams, g_cams = np.array([t.camid for t in query]), np.array([t.camid for t in gallery])
    doc = calibration_document(qf, gf, q_pids, g_pids, q_cams, g_cams, header={
        "model_hash": checkpoint.hash, "model": meta.get("model"), "checkpoint": os.path.abspath(checkpoint.path),
        "dataset": dataset_name, "protocol": protocol, "queries": len(query), "gallery": len(gallery)})
    centred = centre_by_default(meta.get("model", ""))
    tables = doc["centred" if centred else "plain"]["held_out_reliability"]
    os.makedirs(out, exist_ok=True)
    paths["reliability"] = plot_reliability(
        tables, os.path.join(out, "reliability.png"),
        title=f"{meta.get('model')} on {dataset_name}: same-person probability\n"
              f"({'centred' if centred else 'plain'} features, held-out query identities)")
    paths["calibration"] = os.path.join(out, CALIBRATION)
    atomic_write_text(paths["calibration"], json.dumps(jsonable(doc), indent=1))
    return tables


# ---------------------------------------------------------------------------------------------- --split
def _split_index(value: str) -> int:
    from ..errors import ConfigError
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--split must be a split index (0, 1, ...) or 'all', got {value!r}") from None


def evaluate_all_splits(args) -> int:
    """Evaluate every split of the dataset (iLIDS-VID, PRID2011: 10) and print each and the mean (the published
    protocol). Checkpoint `...{split}...` is formatted per split; one checkpoint for every split is accepted (e.g. a
    model trained on another dataset) with a warning when it was trained on this dataset."""
    import json

    from ..errors import ConfigError
    from ..inference.evaluate import evaluate_model, format_split_results, mean_results
    from ..store.checkpoint import Checkpoint
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text

    check_json_output(args)
    results, n, settings = [], None, None
    split = 0
    while n is None or split < n:                                  # one pass per split
        checkpoint = Checkpoint.open(args.checkpoint.replace("{split}", str(split)))
        cfg, meta, dataset, device = _eval_setup(args, checkpoint, split)
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
                             extractor=_cached_extractor(args, checkpoint, cfg, dataset, device))
        res.pop("distmat", None)
        results.append(res)
        settings = (res["protocol"], res.get("sampling"), res.get("metric"), res.get("rerank"))
        split += 1
    mean = mean_results(results)
    print(format_split_results(results, mean, f"{dataset.name}: {n} splits, protocol {settings[0]}, sampling "
                                              f"{settings[1]}, distance {settings[2]}, rerank "
                                              f"{'yes' if settings[3] else 'no'} ({args.checkpoint})"))
    if args.json:
        atomic_write_text(args.json, json.dumps(jsonable({"splits": results, "mean": mean}), indent=1))
    return 0


# ---------------------------------------------------------------------------------------------- run folder
def trained_on(meta: dict, cfg, dataset) -> bool:
    """Is `dataset` (at cfg.data.root) the one the checkpoint of `meta` was trained on? Only then do its features
    and pictures belong in the checkpoint's run folder."""
    saved_data = (meta.get("config") or {}).get("data") or {}
    same_name = meta.get("dataset") in (None, dataset.name)
    return same_name and (not saved_data.get("root") or
                          os.path.abspath(saved_data["root"]) == os.path.abspath(cfg.data.root))


def feature_cache_folder(features_dir: str | None, meta: dict, cfg, dataset, checkpoint: str, command: str
                         ) -> tuple[bool, str | None]:
    """(cache enabled, folder) for the feature cache of `vidreid eval`: the default <run dir>/features belongs to
    the checkpoint's run, so features of another dataset (or another root) are not written there: no cache then,
    unless --features-dir names a folder for them."""
    if features_dir:
        return True, features_dir
    if trained_on(meta, cfg, dataset):
        return True, None
    saved_data = (meta.get("config") or {}).get("data") or {}
    print(f"vidreid {command}: note: {checkpoint} was trained on {meta.get('dataset')} ({saved_data.get('root')}); "
          f"not caching the features of {dataset.name} ({cfg.data.root}) in its run folder (pass --features-dir to "
          f"cache them)", file=sys.stderr)
    return False, None
