"""Training runs as the commands start them: the training picture of a run folder (`vidreid train`, `plot`, `demo`)
and the demo (generate SynthPed, fine-tune, evaluate, draw)."""
from __future__ import annotations

import os

PICTURE = "training.png"


def draw_training(run_dir: str, out: str | None = None) -> str | None:
    """Draw RUN_DIR/metrics.json as `out` (default RUN_DIR/training.png); None when there is no epoch to draw yet
    (or on ranks other than 0 of a distributed run, which write no metrics.json)."""
    import json

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
    if not isinstance(doc, dict) or not all(isinstance(e, dict) for e in doc.get("history") or ()):
        raise ConfigError(f"{path}: not a vidreid metrics file (expected a JSON object whose history is a list of "
                          f"per-epoch objects)")
    if not doc.get("history"):
        return None
    cfg = doc.get("config") or {}
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    title = f"{model.get('name', '?')} ({model.get('backbone', '?')}) on {data.get('dataset', '?')}: {run_dir}"
    return plot_training(doc, out or os.path.join(run_dir, PICTURE), title=title)


def default_config():
    """The demo config shipped inside the package (vidreid/configs/demo.yaml; configs/demo.yaml of a checkout
    links to it), as an importlib.resources Traversable: found from a wheel as well as from a checkout."""
    from importlib.resources import files
    return files("vidreid").joinpath("configs", "demo.yaml")


def demo_calibration(last: str, res: dict, ds) -> str | None:
    """The calibration of the demo network's search distances, from the final evaluation's SynthPed features (no
    second extraction) into <run dir>/eval/last-<protocol>/, where `index build --calibration auto` finds it ->
    its path (None: nothing to fit)."""
    from ..errors import ConfigError
    from ..store.checkpoint import Checkpoint
    from ..store.run_folder import eval_folder
    from .evaluation import write_calibration
    feats = res.get("features") or {}
    if "query" not in feats:                     # no evaluation in this process: nothing to fit on
        return None
    paths: dict = {}
    try:
        write_calibration(eval_folder(last, res["protocol"]), feats["query"], feats["gallery"], ds.query, ds.gallery,
                          Checkpoint.open(last), ds.name, res["protocol"], paths)
    except ConfigError:
        return None
    return paths["calibration"]


def run_demo(config: str | None, out: str | None, resume: bool, force: bool, overrides: list[str],
             progress: bool = True) -> int:
    """`vidreid demo`: train the demo config (the packaged one unless `config`), add the chance level to its
    metrics.json, draw its pictures and print the results table."""
    import time
    from importlib.resources import as_file

    from ..config import load_config
    from ..engine.run_log import add_to_metrics
    from ..engine.train import train
    from ..errors import ConfigError
    from ..inference.evaluate import chance_level, format_results, gallery_for_protocol
    from ..store.run_folder import checkpoints_folder
    from ..viz.plots import eval_figures

    overrides = (["train.resume=auto"] if resume else []) + list(overrides)
    if out:
        overrides += [f"train.output_dir={out}", f"data.root={os.path.join(out, 'synthped')}"]
    if config:
        cfg = load_config(config, overrides)
    else:
        resource = default_config()
        if not resource.is_file():
            raise ConfigError("the packaged demo config vidreid/configs/demo.yaml is missing from this "
                              "installation (reinstall vidreid, or pass --config)")
        with as_file(resource) as path:
            cfg = load_config(str(path), overrides)
    out = cfg.train.output_dir
    t0 = time.time()
    res = train(cfg, progress=progress, force=force and not resume,
                console_final_table=False)                 # printed below, with the chance level
    dataset = res["dataset"]
    chance = chance_level(dataset, res["protocol"])
    res["chance"] = chance
    metrics_path = add_to_metrics(out, final={"chance": chance}, total_seconds=time.time() - t0)

    # SynthPed frames are all readable, so the distance matrix's rows/columns are the protocol's query/gallery
    ds, _ = gallery_for_protocol(dataset, res["protocol"])
    figures = eval_figures(res, ds.query, ds.gallery, out, title=f"SynthPed, {res['protocol']} protocol",
                           ranked=5, chance=chance, frame_size=(cfg.data.height, cfg.data.width),
                           label=f"{cfg.model.name} ({cfg.model.backbone})")
    training_png = draw_training(out)
    from ..inference.recommended import describe, write_recommended
    last = os.path.join(checkpoints_folder(out), "last.safetensors")
    recommended = write_recommended(last, dataset, overwrite=force or resume, log=lambda *a: None)
    calibration = demo_calibration(last, res, ds)
    add_to_metrics(out, total_seconds=time.time() - t0)
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
    print(f"checkpoint:  {last}")
    if calibration:
        print(f"calibration: {calibration} (same-person probabilities for `vidreid index build`)")
    from ..store.checkpoint import Checkpoint
    print(f"recommended: {recommended}\n             for your own footage (no train split needed): "
          f"{describe(Checkpoint.open(recommended).meta)}")
    return 0
