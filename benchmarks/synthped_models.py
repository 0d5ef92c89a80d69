"""Every founding model on the same SynthPed under the same budget, plus the STA ablations of Fu et al. (AAAI 2019).

    .venv/bin/python benchmarks/synthped_models.py --update        # 8 models + 13 STA ablation runs, ~1 h on 2 cores
    .venv/bin/python benchmarks/synthped_models.py --only sta,tp --no-ablations --iters 40

Every run trains through `vidreid.engine.train.train` from the model's own `configs/<model>_synthped.yaml` (its
paper's loss; see the config), with the same SynthPed, ResNet-18 from scratch, seed, batch, clip length and number of
Adam steps (`--iters`, cosine schedule over 10 "epochs" of iters/10 steps), and evaluates under the `mars` protocol
on all queries and on SynthPed's occlusion-heavy queries (`slices.occlusion_heavy.query` of synthped.json: the rows
of the distance matrix of those queries against the whole gallery). Per-iteration costs differ, so train time is
reported next to the metrics; parameters and GFLOPs (vidreid.models.flops) at the benchmark's frame size and T.

Ablations (STA, on top of the STA row): frames N in 2/4/6/8 (train and test clips of N), blocks K in 1/2/4/8,
lambda (loss.reg_weights.sta_reg), fusion (weighted sum P2 only / max-index P1 only / both), spatial_norm l1 / l2.

Results go to `<out>/results.json` (atomically, after every run: a crash or a timeout keeps what finished; `--resume`
reuses the finished runs whose settings match) and `<out>/tables.md`; `--update` also rewrites the "SynthPed
models" and "STA ablations" sections of BENCHMARKS.md and the "Compared on SynthPed" part of docs/models.md (only
the text between this script's markers).

Learning curves (`--curve 50,100,200,400`): each run is ONE training run evaluated after each of those step counts
(per-query AP and R1 kept at every point), with a schedule that does not depend on the total: a warm-up of
`--warmup-steps` (lr x 0.1 rising in blocks of `--curve-epoch` steps, the trainer's per-epoch LambdaLR), then the
configs' lr held constant (optim.scheduler none). A point at step s is therefore what a run stopped at s would give,
not what a run planned for s steps (with a decay to the end) would give. Every point gets mAP / R1 +- SE over the
queries and the paired difference to TP (STA for STA's ablations) at the same step; `<out>/curve.png` plots mAP against steps, a line per run;
with --update only the "SynthPed learning curves" section of BENCHMARKS.md is rewritten (picture in docs/img/).

Noise: one seed, ~450 queries (~120 occlusion-heavy). The tables give, for each run, the standard error of mAP over
queries, and for the headline comparisons the paired standard error of the per-query AP difference (same queries,
same gallery): a difference is called meaningful only beyond 2 paired SEs. Seed-to-seed variation of a short
training run is not in that SE; `--repeat tp,sta --repeat-seeds 1` measures it for the models named.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
import traceback

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))     # real_footage (--real-footage)

MODELS = ["tp", "ta", "rnn", "sta", "drsta", "nvan", "ste_nvan", "rru_stim"]
MARKERS = {
    "models": ("<!-- synthped-models:start -->", "<!-- synthped-models:end -->", "## SynthPed models"),
    "ablations": ("<!-- sta-ablations:start -->", "<!-- sta-ablations:end -->", "## STA ablations"),
    "docs": ("<!-- synthped-compare:start -->", "<!-- synthped-compare:end -->", "## Compared on SynthPed"),
    "curves": ("<!-- synthped-curves:start -->", "<!-- synthped-curves:end -->", "## SynthPed learning curves"),
}


def use_section(name: str) -> None:
    """--section NAME: write to sections of their own (e.g. the pretrained tables beside the from-scratch ones)."""
    if name:
        for key, (start, end, heading) in list(MARKERS.items()):
            MARKERS[key] = (start.replace(":start", f"-{name}:start"), end.replace(":end", f"-{name}:end"),
                            f"{heading} ({name})")


def backbone_text(settings: dict) -> str:
    names = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "mobilenetv2": "MobileNetV2",
             "efficientnet_lite0": "EfficientNet-Lite0"}
    arch = settings.get("backbone", "resnet18")
    init = "ImageNet-pretrained" if settings.get("pretrained") == "imagenet" else (
        f"initialised from {settings['pretrained']}" if settings.get("pretrained") else "from scratch")
    return f"{names.get(arch, arch)} {init}"
RECIPE = {"nvan": "soft-margin triplet + CE, BNNeck, cosine", "ste_nvan": "soft-margin triplet + CE, BNNeck, cosine",
          "rru_stim": "CE + triplet 0.3 (video + parts)", "sta": "CE + triplet 0.3 + λ·Reg",
          "drsta": "CE + triplet 0.3 + λ·diversity"}


# ------------------------------------------------------------------------------------------------ the runs
def ablation_runs(base_lambda: float, map_rows: int) -> list[dict]:
    """STA ablations: (key, group, label, config overrides). The base STA run (N=4, K=4, both, l1, default λ) is
    the `sta` row of the model table and the reference row of every group. K must divide the map's rows."""
    runs = []
    for n in (2, 6, 8):
        runs.append({"key": f"sta_N{n}", "group": "frames N", "label": f"N = {n}",
                     "overrides": {"data.seq_len": n, "data.test_seq_len": n}, "frames": n})
    for k in (k for k in (1, 2, 8) if map_rows % k == 0):
        runs.append({"key": f"sta_K{k}", "group": "blocks K", "label": f"K = {k}",
                     "overrides": {"model.kwargs.num_blocks": k}})
    if map_rows % 8:     # K = 8 needs 8 map rows: frames twice as large, with K = 4 at that size as its base
        for k in (4, 8):
            runs.append({"key": f"sta_K{k}_{BIG_FRAMES[0]}x{BIG_FRAMES[1]}", "group": BIG_K_GROUP,
                         "label": f"K = {k}" + (" (base)" if k == 4 else ""),
                         "overrides": {"model.kwargs.num_blocks": k, "data.height": BIG_FRAMES[0],
                                       "data.width": BIG_FRAMES[1]}})
    for lam in sorted({0.0, 0.1, 1.0, 10.0} - {base_lambda}):
        runs.append({"key": f"sta_lambda{lam:g}", "group": "λ (sta_reg)", "label": f"λ = {lam:g}",
                     "overrides": {"loss.reg_weights.sta_reg": lam}})
    for fusion, label in (("weighted", "weighted sum only (P2)"), ("max", "max-index only (P1)")):
        runs.append({"key": f"sta_fusion_{fusion}", "group": "fusion", "label": label,
                     "overrides": {"model.kwargs.fusion": fusion}})
    runs.append({"key": "sta_norm_l2", "group": "spatial_norm", "label": "l2",
                 "overrides": {"model.kwargs.spatial_norm": "l2"}})
    for r in runs:
        r["model"] = "sta"
    return runs


BIG_FRAMES = (128, 64)                                   # frame size of the K = 8 ablation (8 map rows)
BIG_K_GROUP = f"blocks K at {BIG_FRAMES[0]}x{BIG_FRAMES[1]}"
BASE_LABEL = {"frames N": "N = 4", "blocks K": "K = 4", "fusion": "both (paper)", "spatial_norm": "l1 (paper formula)"}


def config_path(model: str) -> str:
    return os.path.join(REPO, "configs", f"{model}_synthped.yaml")


def run_curve(run: dict, args) -> list[int]:
    """The curve points of one run: --curve, cut at the run's --curve-stop if it has one. The schedule does not
    depend on the total, so a run stopped at step s is the first s steps of the longer run (same seed)."""
    stop = args.curve_stop.get(run["key"])
    return [s for s in args.curve if stop is None or s <= stop]


def run_config(run: dict, args):
    """The resolved Config of one run: the model's synthped config + the benchmark's shared overrides."""
    from vidreid.config import load_config
    epochs = min(10, args.iters)
    shared = {"train.epochs": epochs, "train.iters_per_epoch": args.iters // epochs, "train.eval_every": 0,
              "train.output_dir": os.path.join(args.out, run["key"]), "train.seed": run.get("seed", args.seed),
              "train.tensorboard": False, "train.threads": args.threads, "train.keep_last": 1,
              "data.workers": args.workers, "data.test_seq_len": args.test_frames, "data.seq_len": args.frames,
              "optim.warmup_epochs": 1 if epochs > 1 else 0}
    if args.curve:     # one run to the last point; warm-up then constant lr: a point does not depend on the total
        shared.update({"train.epochs": run_curve(run, args)[-1] // args.curve_epoch, "train.iters_per_epoch": args.curve_epoch,
                       "train.eval_every": 1,                 # every epoch end is offered; CurveTrainer keeps the points
                       "optim.scheduler": "none", "optim.warmup_epochs": args.warmup_steps // args.curve_epoch})
    if args.batch_size:
        shared["data.batch_size"] = args.batch_size
    if args.backbone:
        shared["model.backbone"] = args.backbone
    if args.pretrained:
        shared["model.pretrained"] = args.pretrained
    if args.root:
        shared["data.root"] = args.root
    if args.size:
        shared["data.height"], shared["data.width"] = (int(v) for v in args.size.lower().split("x"))
    shared.update(dict(kv.split("=", 1) for kv in args.set))
    shared.update(run.get("overrides", {}))
    overrides = [f"{k}={json.dumps(v) if isinstance(v, (dict, bool)) else v}" for k, v in shared.items()]
    if args.synth:
        overrides.append("data.synth=" + json.dumps(args.synth))
    return load_config(config_path(run["model"]), overrides)


# ------------------------------------------------------------------------------------------------ metrics
def per_query(dist: np.ndarray, dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP and rank-1 hit of each query in `rows` under the mars protocol (its own row against the whole gallery)."""
    from vidreid.eval import evaluate
    q, g = dataset.query, dataset.gallery
    g_pids = np.array([t.pid for t in g]); g_cams = np.array([t.camid for t in g])
    ap, r1 = np.zeros(len(rows)), np.zeros(len(rows))
    for i, r in enumerate(rows):                     # one query at a time: ~1 ms each, for paired statistics
        res = evaluate(dist[r:r + 1], [q[r].pid], g_pids, [q[r].camid], g_cams, protocol="mars", max_rank=1)
        ap[i], r1[i] = res["mAP"], res["cmc"][0]
    return ap, r1


def subset_metrics(dist: np.ndarray, dataset, rows: np.ndarray) -> dict:
    """`vidreid.eval.evaluate` on the sub-matrix of the given query rows (mars protocol)."""
    from vidreid.eval import evaluate
    q = [dataset.query[i] for i in rows]
    g = dataset.gallery
    res = evaluate(dist[rows], [t.pid for t in q], [t.pid for t in g], [t.camid for t in q], [t.camid for t in g],
                   protocol="mars", max_rank=20)
    return {"mAP": res["mAP"], "R1": float(res["cmc"][0]), "R5": float(res["cmc"][4]), "queries": len(rows)}


def occlusion_heavy_rows(root: str) -> np.ndarray:
    with open(os.path.join(root, "synthped.json")) as f:
        return np.array(json.load(f)["slices"]["occlusion_heavy"]["query"], dtype=np.int64)


def model_cost(cfg, num_classes: int) -> dict:
    from vidreid.models.flops import count_model
    m = cfg.model
    T = cfg.data.test_seq_len or cfg.data.seq_len
    r = count_model(m.name, frames=T, size=(cfg.data.height, cfg.data.width), num_classes=num_classes,
                    backbone=m.backbone, last_stride=m.last_stride, **m.kwargs)
    return {"params_M": r["params"] / 1e6, "gflops": r["gflops"], "frames": T}


def execute(run: dict, args, occl_rows_cache: dict) -> dict:
    """Train + evaluate one run; returns its record (metrics, per-query AP, times, cost, settings)."""
    import torch
    from vidreid.engine.train import train
    cfg = run_config(run, args)
    root = cfg.data.root
    if root not in occl_rows_cache:
        occl_rows_cache[root] = occlusion_heavy_rows(root)
    heavy = occl_rows_cache[root]
    points: list[dict] = []
    t0 = time.time()
    if args.curve:
        # --resume: a curve run that did not finish (killed, timed out) is trained again from step 0 in its folder
        real = real_footage_sets(args) if args.real_footage else None
        res = train(cfg, progress=False, force=args.resume,
                    make_trainer=curve_trainer(run_curve(run, args), points, heavy, real))
    else:
        res = train(cfg, progress=False)
    wall = time.time() - t0
    dataset, dist = res["dataset"], res["distmat"]
    rest = np.setdiff1d(np.arange(len(dataset.query)), heavy)
    all_rows = np.arange(len(dataset.query))
    ap, r1 = (np.asarray(points[-1]["ap"]), np.asarray(points[-1]["r1"])) if points else \
        per_query(dist, dataset, all_rows)
    history = res["history"]
    train_s = history[-1]["elapsed_s"] if history else res["train_seconds"]
    train_s -= sum(p["eval_seconds"] for p in points[:-1])       # the evaluations inside the run are not training
    steps = len(res["step_losses"])
    record = {
        "key": run["key"], "model": run["model"], "group": run.get("group", "models"), "label": run.get("label", ""),
        "seed": cfg.train.seed, "config": cfg.to_dict(), "steps": steps,
        "all": {"mAP": res["mAP"], "R1": float(res["cmc"][0]), "R5": float(res["cmc"][4]),
                "queries": res["num_valid_queries"]},
        "occlusion_heavy": subset_metrics(dist, dataset, heavy),
        "not_occlusion_heavy": subset_metrics(dist, dataset, rest),
        "ap": ap.tolist(), "r1": r1.tolist(), "occlusion_heavy_rows": heavy.tolist(),
        "train_seconds": train_s, "sec_per_iter": train_s / max(steps, 1), "eval_seconds": res.get("extract_seconds"),
        "wall_seconds": wall, "final_loss": float(np.mean(res["step_losses"][-5:])),
        **model_cost(cfg, dataset.num_train_pids),
    }
    if points:
        record["curve"] = points
    # keep only last.safetensors (for `vidreid explain`): step checkpoints and states are not needed here
    ckdir = os.path.join(cfg.train.output_dir, "checkpoints")
    for f in os.listdir(ckdir) if os.path.isdir(ckdir) else []:
        if f != "last.safetensors":
            os.unlink(os.path.join(ckdir, f))
    del res
    torch.set_num_threads(args.threads)
    return record


def real_footage_sets(args) -> dict:
    """--real-footage ROOT: {split: VideoReIDDataset} of the real-footage benchmark (vtest, whole video, loose boxes,
    gao rules) on which every curve point is also evaluated (benchmarks/real_footage.py has the sets' definitions)."""
    from vidreid.data import load_dataset
    return {split: load_dataset("vtest", args.real_footage, evaluation=split, part="full")
            for split in REAL_SPLITS}


REAL_SPLITS = ("strict_cross_pass", "main")


def real_footage_point(model, cfg, sets: dict) -> dict:
    """The model as it is now on the real-footage sets: {split: {mAP, R1, ap, people}} (per-query AP and identity
    of the counted queries, for paired differences and the bootstrap over people). One extraction for all sets."""
    from real_footage import model_features, per_query as real_per_query
    feats = model_features(model, cfg, "curve point")
    out = {}
    for split, ds in sets.items():
        pq = real_per_query(feats.distances(ds.query, ds.gallery), ds)
        out[split] = {"mAP": float(pq.ap.mean()), "R1": float(pq.r1.mean()), "ap": pq.ap.tolist(),
                      "people": pq.people.tolist()}
    return out


def curve_trainer(steps: list[int], points: list, heavy: np.ndarray, real: dict | None = None):
    """make_trainer for vidreid.engine.train.train: a Trainer that evaluates only after the epochs ending at one of
    `steps` (the last epoch always is one), appending each point (step, mAP, R1, per-query AP and R1, the
    occlusion-heavy mAP, the lr of the steps just taken, evaluation seconds; with `real`, the same model on the
    real-footage sets) to `points` and to <run dir>/curve_points.json (kept when the run is killed before its end)."""
    from vidreid.engine.train import Trainer

    class CurveTrainer(Trainer):
        def evaluate(self, epoch: int) -> dict:
            if self.state.step not in steps:
                return {}
            t0 = time.time()
            res = super().evaluate(epoch)
            ap, r1 = per_query(res["distmat"], self.dataset, np.arange(len(self.dataset.query)))
            points.append({"step": self.state.step, "mAP": res["mAP"], "R1": float(res["cmc"][0]),
                           "ap": ap.tolist(), "r1": r1.tolist(), "heavy_mAP": float(ap[heavy].mean()),
                           "lr": self.optimizer.param_groups[0]["lr"], "eval_seconds": time.time() - t0})
            if real:
                was_training = self.core.training
                self.core.eval()
                points[-1]["real"] = real_footage_point(self.core, self.cfg, real)
                self.core.train(was_training)
                points[-1]["eval_seconds"] = time.time() - t0
            from vidreid.utils.io import atomic_write_text     # the points so far survive a killed run
            atomic_write_text(os.path.join(self.run_dir, "curve_points.json"), json.dumps(points))
            return res
    return CurveTrainer


def warmup_factors(cfg) -> list[float]:
    """The lr multipliers of the warm-up epochs (vidreid.builders.lr_factor), one per block of curve-epoch steps."""
    from vidreid.builders import lr_factor
    return [lr_factor(e, cfg) for e in range(cfg.optim.warmup_epochs)]


def schedule_text(cfg) -> str:
    o, e = cfg.optim, cfg.train.iters_per_epoch
    warm = ", ".join(f"{f:.2f}" for f in warmup_factors(cfg))
    return (f"{o.name} lr {o.lr:g}: warm-up of {o.warmup_epochs * e} steps (lr x {warm}, each for {e} steps), then "
            f"constant (optim.scheduler none); the schedule does not depend on the number of steps, so each point "
            f"is one run's state at that step" if o.warmup_epochs else
            f"{o.name} lr {o.lr:g} constant (optim.scheduler none): each point is one run's state at that step")


# ------------------------------------------------------------------------------------------------ tables
def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def se(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def paired(a: dict, b: dict, rows: list[int] | None = None, key: str = "ap") -> tuple[float, float]:
    """Mean and standard error of the per-query difference a - b of `key` (ap: AP; r1: rank-1 hit) over `rows`
    (default all queries)."""
    x, y = np.asarray(a[key]), np.asarray(b[key])
    if rows is not None:
        x, y = x[rows], y[rows]
    d = x - y
    return float(d.mean()), se(d)


def fmt_diff(mean: float, err: float) -> str:
    verdict = "meaningful" if abs(mean) > 2 * err else "within noise"
    return f"{100 * mean:+.1f} ± {100 * err:.1f} ({verdict})"


def model_row(r: dict) -> str:
    heavy = np.asarray(r["occlusion_heavy_rows"])
    name = r["model"] if "@seed" not in r["key"] else f"{r['model']} (seed {r['seed']})"
    return (f"| {name} "
            f"| {RECIPE.get(r['model'], 'CE + triplet 0.3')} | {r['params_M']:.2f} | {r['gflops']:.2f} "
            f"| {pct(r['all']['mAP'])} ± {100 * se(r['ap']):.1f} | {pct(r['all']['R1'])} "
            f"| {pct(r['occlusion_heavy']['mAP'])} ± {100 * se(np.asarray(r['ap'])[heavy]):.1f} "
            f"| {pct(r['occlusion_heavy']['R1'])} | {pct(r['not_occlusion_heavy']['mAP'])} "
            f"| {r['train_seconds']:.0f} ({r['sec_per_iter']:.2f}) | {r['eval_seconds'] or 0:.0f} |")


def models_table(results: dict, meta: dict) -> str:
    head = ("| model | loss (paper's recipe) | params (M) | GFLOPs / clip | mAP ± SE | R1 | occl.-heavy mAP ± SE "
            "| occl.-heavy R1 | other queries mAP | train s (s/iter) | eval s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for m in MODELS:
        for key in [m] + sorted(k for k in results if k.startswith(f"{m}@seed")):
            if key in results and "error" not in results[key]:
                rows.append(model_row(results[key]))
            elif key in results:
                rows.append(f"| {m} | failed: {results[key]['error'][:80]} |" + " |" * 9)
    ch = meta.get("chance")
    if ch:
        rows.append(f"| random ranking | — | — | — | {pct(ch['mAP'])} | {pct(ch['R1'])} | {pct(ch['heavy_mAP'])} "
                    f"| {pct(ch['heavy_R1'])} | — | — | — |")
    return "\n".join(rows)


def comparisons(results: dict) -> list[str]:
    """Headline paired comparisons against TP (all queries and occlusion-heavy ones)."""
    lines = []
    if "tp" not in results or "error" in results["tp"]:
        return lines
    tp = results["tp"]
    heavy = tp["occlusion_heavy_rows"]
    for m in MODELS[1:]:
        r = results.get(m)
        if not r or "error" in r:
            continue
        lines.append(f"| {m} − tp | {fmt_diff(*paired(r, tp))} | {fmt_diff(*paired(r, tp, heavy))} |")
    if not lines:
        return lines
    return ["| mAP difference (paired over queries) | all queries | occlusion-heavy queries |", "|---|---|---|"] + lines


def seed_noise(results: dict) -> list[str]:
    lines = []
    for m in MODELS:
        reps = [results[k] for k in results if (k == m or k.startswith(f"{m}@seed")) and "error" not in results[k]]
        if len(reps) > 1:
            maps = [100 * r["all"]["mAP"] for r in reps]
            heavy = [100 * r["occlusion_heavy"]["mAP"] for r in reps]
            lines.append(f"* {m}: seeds {', '.join(str(r['seed']) for r in reps)} give mAP "
                         f"{', '.join(f'{v:.1f}' for v in maps)} (occlusion-heavy {', '.join(f'{v:.1f}' for v in heavy)})")
    return lines


def ablation_table(results: dict, default_lambda: float, map_rows: int) -> str:
    base = results.get("sta")
    rows = ["| ablation | setting | mAP ± SE | R1 | occl.-heavy mAP | occl.-heavy R1 | Δ mAP vs base (paired) "
            "| Δ occl.-heavy mAP vs base (paired) | GFLOPs / clip | train s |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    groups = ["frames N", "blocks K", BIG_K_GROUP, "λ (sta_reg)", "fusion", "spatial_norm"]
    for group in groups:
        members = [r for r in results.values() if r.get("group") == group]
        group_base = base
        if group == BIG_K_GROUP:     # its own base: K = 4 at the same (larger) frame size
            group_base = next((r for r in members if "(base)" in r.get("label", "") and "error" not in r), None)
        elif base is not None and "error" not in base:
            label = BASE_LABEL.get(group, f"λ = {default_lambda:g} (model default)")
            members = [dict(base, label=label + " (base)")] + members
        def order(r):
            if group in ("frames N", "blocks K", BIG_K_GROUP):
                return float(r["label"].split("=")[1].split()[0])
            if group.startswith("λ"):
                return float(r["label"].split("=")[1].split()[0])
            return 0 if "(base)" in r["label"] else 1
        if group == "blocks K":
            big_k8 = any(r.get("group") == BIG_K_GROUP for r in results.values())
            for k in (1, 2) + (() if big_k8 else (8,)):
                # a K that divides the map's rows but has no row was only not selected (--ablation-keys)
                if map_rows % k and not any(r["label"] == f"K = {k}" for r in members) and results.get("sta"):
                    members.append({"label": f"K = {k}", "error": f"not run: K must divide the {map_rows} rows of "
                                    f"the feature map at this frame size (use --size 128x64 for 8 rows)"})
        for r in sorted(members, key=order):
            if "error" in r:
                rows.append(f"| {group} | {r['label']} | {r['error'] if r['error'].startswith('not run') else 'failed: ' + r['error'][:60]} |" + " |" * 7)
                continue
            heavy = r["occlusion_heavy_rows"]
            if group_base is not None and "error" not in group_base and r["key"] != group_base["key"]:
                d_all, d_heavy = fmt_diff(*paired(r, group_base)), fmt_diff(*paired(r, group_base, heavy))
            else:
                d_all = d_heavy = "—"
            rows.append(f"| {group} | {r['label']} | {pct(r['all']['mAP'])} ± {100 * se(r['ap']):.1f} "
                        f"| {pct(r['all']['R1'])} | {pct(r['occlusion_heavy']['mAP'])} "
                        f"| {pct(r['occlusion_heavy']['R1'])} | {d_all} | {d_heavy} | {r['gflops']:.2f} "
                        f"| {r['train_seconds']:.0f} |")
    return "\n".join(rows)


def curve_base(key: str) -> str:
    """The run a curve run is paired against: STA for STA's ablations (one setting changed), TP for the rest."""
    return "sta" if key.startswith("sta_") else "tp"


def curve_rows(results: dict) -> list[tuple[str, dict, dict | None]]:
    """(run key, point, its base run's point at the same step or None) for every curve point, by step then in run
    order; the base is curve_base(key) (TP itself has none)."""
    by_step = {key: {p["step"]: p for p in r.get("curve", [])} for key, r in results.items() if "error" not in r}
    rows = [(key, p, by_step.get(curve_base(key), {}).get(p["step"]) if key != "tp" else None)
            for key, r in results.items() if "error" not in r for p in r.get("curve", [])]
    return sorted(rows, key=lambda row: row[1]["step"])


def curve_table(results: dict) -> str:
    rows = curve_rows(results)
    real = any("real" in p for _, p, _ in rows)
    head = ["| steps | run | mAP ± SE | R1 ± SE | Δ mAP vs base (paired) | Δ R1 vs base (paired) | occl.-heavy mAP |",
            "|---|---|---|---|---|---|---|"]
    if real:
        head = [head[0] + " vtest strict cross-pass mAP [95 % CI] | Δ vs base [95 % CI] | vtest main mAP [95 % CI] "
                "| Δ vs base [95 % CI] |", head[1] + "---|---|---|---|"]
    for key, p, tp in rows:
        d_map = fmt_diff(*paired(p, tp)) if tp else "—"
        d_r1 = fmt_diff(*paired(p, tp, key="r1")) if tp else "—"
        line = (f"| {p['step']} | {key} | {pct(p['mAP'])} ± {100 * se(p['ap']):.1f} "
                f"| {pct(p['R1'])} ± {100 * se(p['r1']):.1f} | {d_map} | {d_r1} | {pct(p['heavy_mAP'])} |")
        if real:
            line += "".join(real_cells(p.get("real", {}).get(split), (tp or {}).get("real", {}).get(split))
                            for split in REAL_SPLITS)
        head.append(line)
    return "\n".join(head)


def real_cells(point: dict | None, tp: dict | None) -> str:
    """' mAP [CI] | Δ vs base [CI] |' of one real-footage split: 95 % intervals from the bootstrap over people
    (vidreid.eval.bootstrap, 2000 resamples), the Δ paired (same resamples), `*` where its interval excludes 0."""
    if not point:
        return " — | — |"
    from vidreid.eval.bootstrap import paired_differences, person_bootstrap
    ap, people = np.asarray(point["ap"]), np.asarray(point["people"])
    m = person_bootstrap(ap, people, 2000)
    cell = f" {pct(point['mAP'])} [{100 * m.low:.1f}, {100 * m.high:.1f}] |"
    if not tp:
        return cell + " — |"
    diff = paired_differences(np.stack([ap, np.asarray(tp["ap"])]), people, reference=1, n_resamples=2000)
    d, dlo, dhi = diff.mean[0], diff.low[0], diff.high[0]
    star = "*" if dlo > 0 or dhi < 0 else ""
    return cell + f" {100 * d:+.1f} [{100 * dlo:+.1f}, {100 * dhi:+.1f}]{star} |"


def person_se(split: dict) -> float:
    """The standard error of a real-footage mAP over PEOPLE (the spread of the bootstrap over people; queries of one
    person are not independent, so the SE over queries would understate it)."""
    from vidreid.eval.bootstrap import person_bootstrap
    return float(person_bootstrap(np.asarray(split["ap"]), np.asarray(split["people"]), 2000).samples.std())


def plot_curves(results: dict, path: str, title: str) -> str | None:
    """mAP (± one SE over the queries) against training steps, a line per run -> the PNG's path (None: no curve).
    Where the points were also evaluated on real footage (--real-footage), a second panel: vtest strict cross-pass."""
    from vidreid.viz.plots import plot_learning_curves
    done = {key: r["curve"] for key, r in results.items() if "error" not in r and r.get("curve")}
    series = {key: ([p["step"] for p in c], [100 * p["mAP"] for p in c], [100 * se(p["ap"]) for p in c])
              for key, c in done.items()}
    real = {key: ([p["step"] for p in c], [100 * p["real"]["strict_cross_pass"]["mAP"] for p in c],
                  [100 * person_se(p["real"]["strict_cross_pass"]) for p in c])
            for key, c in done.items() if all("real" in p for p in c)}
    panels = (("real footage: vtest strict cross-pass (loose boxes, ±1 SE over people)", real),) if real else ()
    return plot_learning_curves(series, path, title, "mAP (%)", panels) if series else None


def settings_text(meta: dict) -> str:
    s = meta["settings"]
    return (f"SynthPed `{s['root']}` ({s['synth']}; {s['num_query']} queries of which {s['num_heavy']} occlusion-heavy, "
            f"{s['num_gallery']} gallery tracklets, {s['num_train_ids']} training identities), frames "
            f"{s['height']}x{s['width']}, {backbone_text(s)}, seed {s['seed']}, {s['iters']} Adam steps of "
            f"{s['batch_size']} clips x {s['frames']} frames (rrs), "
            f"{s.get('schedule') or 'lr 1e-3 cosine with 1 warm-up epoch'}, test clips of "
            f"{s['test_frames']} frames (rrs), `mars` protocol; {s['threads']} torch threads on {s['machine']}. "
            f"The runs' wall times add up to {meta.get('runs_minutes', 0):.0f} min.")


def render(results: dict, meta: dict) -> dict[str, str]:
    cmd = meta["command"]
    models = [f"Generated by `{cmd}` ({meta.get('finished') or 'partial: still running or interrupted'}).", "",
              settings_text(meta), "", models_table(results, meta), ""]
    comp = comparisons(results)
    if comp:
        models += ["Paired differences of per-query AP against TP, in mAP points, ± one standard error over the "
                   "queries; \"meaningful\" = beyond 2 SE:", ""] + comp + [""]
    noise = seed_noise(results)
    if noise:
        models += ["Seed-to-seed variation (same settings, other seeds):", ""] + noise + [""]
    models += analysis_text(meta)
    models += meta.get("notes_models", [])
    ablations = [f"Generated by `{cmd}`: STA (Fu et al., AAAI 2019) with one setting changed at a time from the "
                 "`sta` row above (N = 4 frames, K = 4 blocks, both fusion maps, l1 spatial normalisation, the "
                 "model's default λ); same data, budget and seed. Δ = paired per-query AP difference to the base "
                 "row ± one SE.", "", ablation_table(results, meta["sta_lambda"], meta["sta_map_rows"]), ""] + meta.get("notes_ablations", [])
    docs_rows = ["| model | params (M), benchmark | GFLOPs / clip, benchmark | GFLOPs, paper setting | SynthPed mAP "
                 "| R1 | occl.-heavy mAP | train s / iter |", "|---|---|---|---|---|---|---|---|"]
    paper = meta.get("paper_gflops", {})
    for m in MODELS:
        r = results.get(m)
        if r and "error" not in r:
            docs_rows.append(f"| {m} | {r['params_M']:.2f} | {r['gflops']:.2f} | {paper.get(m, '—')} "
                             f"| {pct(r['all']['mAP'])} | {pct(r['all']['R1'])} | {pct(r['occlusion_heavy']['mAP'])} "
                             f"| {r['sec_per_iter']:.2f} |")
    docs = [f"Generated by `{cmd}` (full tables, noise and conclusions: BENCHMARKS.md, \"SynthPed models\"). "
            f"Benchmark setting: {backbone_text(meta['settings'])}, {meta['settings']['height']}x{meta['settings']['width']} "
            "frames, clips of "
            f"{meta['settings']['test_frames']} frames, {meta['settings']['num_train_ids']} classes; paper setting: "
            "the first table above (ResNet-50, 256x128, each paper's frame count).", "", "\n".join(docs_rows), ""]
    docs += meta.get("notes_docs", [])
    sections = {"models": "\n".join(models), "ablations": "\n".join(ablations), "docs": "\n".join(docs)}
    if any(r.get("curve") for r in results.values()):
        curves = [f"Generated by `{cmd}` ({meta.get('finished') or 'partial: still running or interrupted'}).", "",
                  settings_text(meta), "",
                  f"Each run is one training run evaluated at {', '.join(map(str, meta['curve']))} steps"
                  + (" (" + ", ".join(f"{k} stopped at {v}" for k, v in meta["curve_stop"].items()) + ": the first "
                     "steps of the same schedule)" if meta.get("curve_stop") else "") + ". mAP and R1 "
                  "± one standard error over the queries; Δ = paired per-query difference to the base run at the same "
                  "step (TP; STA for STA's ablations, one setting changed) ± one SE (\"meaningful\" = beyond 2 SE; "
                  "seed-to-seed variation is not in it). Where the points were also evaluated on real footage "
                  "(vtest, whole video, loose boxes, strict cross-pass and main): mAP with a 95 % interval from a "
                  "bootstrap over the people (2000 resamples) and the paired difference to the base run, `*` where "
                  "its interval excludes 0.", "",
                  curve_table(results), ""]
        if meta.get("curve_png"):
            curves += [f"![mAP against training steps]({meta['curve_png']})", ""]
        sections["curves"] = "\n".join(curves + meta.get("notes_curves", []))
    return sections


def replace_section(path: str, which: str, body: str, title_if_new: str = "") -> None:
    """Rewrite the text between this script's markers in `path` (re-read just before writing; other sections and
    other people's edits are kept). A missing section is appended with its heading."""
    from vidreid.utils.io import atomic_write_text
    start, end, heading = MARKERS[which]
    text = open(path).read() if os.path.exists(path) else title_if_new
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        a, b = text.index(start), text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip() + f"\n\n{heading}\n\n{block}\n"
    atomic_write_text(path, text)


def paper_gflops(models: list[str]) -> dict:
    """Each of `models`' GFLOPs at its paper setting (benchmarks/model_table.py's PAPER_SETTINGS, ResNet-50)."""
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    from model_table import PAPER_SETTINGS
    from vidreid.models.flops import count_model
    out = {}
    for label, name, frames, size, kw, *_ in PAPER_SETTINGS:
        if label == name and name in models:
            out[name] = f"{count_model(name, frames=frames, size=size, backbone='resnet50', **kw)['gflops']:.1f} " \
                        f"({frames} x {size[0]}x{size[1]})"
    return out


# ------------------------------------------------------------------------------------------------ occlusion analysis
KINDS = ("pole", "car", "person")


def query_occlusions(dataset, root: str) -> list[dict]:
    """synthped.json's record of every query (occluder kind, occluded frame range [start, end), heavy or not)."""
    with open(os.path.join(root, "synthped.json")) as f:
        records = json.load(f)["tracklets"]["test"]                 # one per test row, in row order
    return [records[r] for r in dataset.meta["query_rows"]]


def by_occluder(results: dict, occl: list[dict]) -> dict:
    """Mean per-query AP of every model on the queries grouped by occluder kind (occluded queries, any fraction)."""
    groups = {"none": [i for i, o in enumerate(occl) if o["occluder"] is None]}
    for kind in KINDS:
        groups[kind] = [i for i, o in enumerate(occl) if o["occluder"] == kind]
    out = {"counts": {g: len(rows) for g, rows in groups.items()}, "heavy_counts": {
        kind: sum(occl[i]["occlusion_heavy"] for i in rows) for kind, rows in groups.items()}, "models": {}}
    for m in MODELS:
        r = results.get(m)
        if r and "error" not in r:
            ap = np.asarray(r["ap"])
            out["models"][m] = {g: float(ap[rows].mean()) if rows else None for g, rows in groups.items()}
            if m != "tp" and "tp" in results and "error" not in results["tp"]:
                out["models"][m]["vs_tp"] = {g: paired(r, results["tp"], rows) if len(rows) > 1 else None
                                             for g, rows in groups.items()}
    return out


def attention_on_occluded_frames(args, dataset, occl: list[dict]) -> dict:
    """Do STA's S and TA's weights avoid occluded frames? On every query clip (the test sampling) that mixes
    occluded and clean frames, average the weight of the occluded and of the clean frames (uniform = 1/T), per
    occluder kind; for STA per block (top to bottom), with the share of blocks whose max-index pick (P1) is an
    occluded frame next to the share of occluded frames (what a random pick would give)."""
    import torch
    from vidreid.data.loader import build_test_loader
    from vidreid.data.sampling import sample_clip
    from vidreid.store.checkpoint import read_checkpoint
    from vidreid.inference.model import build_model_from_checkpoint
    from vidreid.config import config_from_dict
    out = {}
    for model_name in ("sta", "ta"):
        ckpt = os.path.join(args.out, model_name, "checkpoints", "last.safetensors")
        if not os.path.exists(ckpt):
            continue
        _, meta = read_checkpoint(ckpt)
        cfg = config_from_dict(meta["config"])
        T = cfg.data.test_seq_len or cfg.data.seq_len
        mixed, masks = [], []
        for i, (t, o) in enumerate(zip(dataset.query, occl)):
            if o["occluder"] is None:
                continue
            idx = sample_clip(len(t.frames), T, cfg.data.test_sampling, train=False)[0]   # (T,)
            mask = (idx >= o["occluded"][0]) & (idx < o["occluded"][1])                    # (T,) occluded frames
            if 0 < mask.sum() < T:
                mixed.append(i)
                masks.append(mask)
        if not mixed:
            continue
        model, _ = build_model_from_checkpoint(ckpt, dataset.num_train_pids)
        weights = []
        with torch.no_grad():
            loader = build_test_loader([dataset.query[i] for i in mixed], cfg.data, seq_len=T)
            for clips, _ in loader:                                                     # (N, T, 3, H, W)
                att = model(clips, return_attention=True).attention
                weights.append(att["S"] if model_name == "sta" else att["temporal"][..., None])  # (N, T, K|1)
        w = torch.cat(weights).numpy()                                                  # (M, T, K)
        masks = np.stack(masks)                                                         # (M, T)
        kinds = np.array([occl[i]["occluder"] for i in mixed])
        res = {}
        for kind in KINDS + ("all",):
            sel = np.ones(len(mixed), bool) if kind == "all" else kinds == kind
            if not sel.any():
                continue
            ws, ms = w[sel], masks[sel]                                                 # (n, T, K), (n, T)
            occ_w = (ws * ms[..., None]).sum((0, 1)) / ms.sum()                         # (K,) mean weight
            clean_w = (ws * ~ms[..., None]).sum((0, 1)) / (~ms).sum()
            picks = ws.argmax(1)                                                        # (n, K) frame per block
            picked_occluded = np.take_along_axis(ms, picks, 1).mean(0)                  # (K,)
            res[kind] = {"clips": int(sel.sum()), "occluded_weight": occ_w.tolist(), "clean_weight": clean_w.tolist(),
                         "pick_occluded": picked_occluded.tolist(), "occluded_share": float(ms.mean())}
        out[model_name] = {"T": T, **res}
    return out


def analysis_text(meta: dict) -> list[str]:
    a = meta.get("analysis")
    if not a:
        return []
    bo = a["by_occluder"]
    c, hc = bo["counts"], bo["heavy_counts"]
    lines = ["Mean per-query AP (×100) by what occludes the query tracklet (all occluded queries, any occluded "
             "fraction; in brackets how many of them are occlusion-heavy). Pole = a vertical band over the whole "
             "height; car = a band over the lower 28–50% of the body; person = another pedestrian in front.", "",
             "| model | no occlusion (" + str(c["none"]) + ") | " + " | ".join(
                 f"{k} ({c[k]}; {hc[k]} heavy)" for k in KINDS) + " |", "|---|---|---|---|---|"]
    for m, v in bo["models"].items():
        cells = []
        for g in ("none",) + KINDS:
            cell = "—" if v[g] is None else f"{100 * v[g]:.1f}"
            d = v.get("vs_tp", {}).get(g)
            if d:
                cell += f" ({100 * d[0]:+.1f} ± {100 * d[1]:.1f})"
            cells.append(cell)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "In brackets: paired difference to TP ± one SE over those queries.", ""]
    att = a.get("attention", {})
    if "sta" in att:
        s = att["sta"]
        lines += [f"Does STA's attention avoid occluded frames? Query clips of {s['T']} frames (test sampling) with "
                  "some frames occluded and some clean; S(n, k) averaged over the occluded and over the clean frames, "
                  f"per block k (1 = top; uniform = {1 / s['T']:.2f}), and how often the max-index pick P1 of a block "
                  "is an occluded frame (a random pick: the occluded share).", "",
                  "| occluder | clips | S of occluded frames, blocks 1..K | S of clean frames | P1 picks an occluded "
                  "frame | occluded share |", "|---|---|---|---|---|---|"]
        for kind in KINDS + ("all",):
            if kind in s:
                r = s[kind]
                f = lambda xs: " / ".join(f"{x:.3f}" for x in xs)
                lines.append(f"| {kind} | {r['clips']} | {f(r['occluded_weight'])} | {f(r['clean_weight'])} "
                             f"| {f(r['pick_occluded'])} | {r['occluded_share']:.2f} |")
        lines.append("")
    if "ta" in att:
        t = att["ta"]
        lines += ["TA's temporal weights on the same kind of clips: " + "; ".join(
            f"{kind} ({t[kind]['clips']} clips): occluded frames {t[kind]['occluded_weight'][0]:.3f}, clean "
            f"{t[kind]['clean_weight'][0]:.3f}" for kind in KINDS + ("all",) if kind in t)
            + f" (uniform {1 / t['T']:.2f}).", ""]
    return lines


def analyse(results: dict, args, meta: dict) -> None:
    from vidreid.builders import prepare_dataset
    cfg = run_config({"key": "tp", "model": "tp"}, args)
    dataset = prepare_dataset(cfg, progress=False)
    occl = query_occlusions(dataset, cfg.data.root)
    meta["analysis"] = {"by_occluder": by_occluder(results, occl),
                        "attention": attention_on_occluded_frames(args, dataset, occl)}


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated models (default: all eight)")
    p.add_argument("--ablations", action=argparse.BooleanOptionalAction, default=True, help="run the STA ablations")
    p.add_argument("--ablation-keys", default="", help="comma-separated ablation runs to do (default: all; "
                   "e.g. sta_lambda0,sta_fusion_max,sta_fusion_weighted)")
    p.add_argument("--iters", type=int, default=100, help="Adam steps per run (the shared budget)")
    p.add_argument("--curve", default="", metavar="S1,S2,...",
                   help="learning curves: evaluate each run at these step counts within one run (warm-up, then "
                        "constant lr); the last is the run's length (replaces --iters)")
    p.add_argument("--real-footage", metavar="ROOT",
                   help="--curve: also evaluate every point on the real-footage benchmark (vtest crops in ROOT, cut "
                        "from vtest.avi on first use; strict cross-pass and main, whole video, loose boxes)")
    p.add_argument("--curve-stop", default="", metavar="KEY=STEPS,...",
                   help="--curve: runs that stop earlier (their points up to STEPS, which must be one of --curve), "
                        "e.g. ta=200,sta_K8=300: fewer steps for the runs compared at a smaller budget")
    p.add_argument("--curve-epoch", type=int, default=10,
                   help="--curve: steps per epoch, the granularity of the warm-up and of the step counts")
    p.add_argument("--warmup-steps", type=int, default=20,
                   help="--curve: warm-up steps (a multiple of --curve-epoch; lr from 0.1x up in epoch blocks)")
    p.add_argument("--analysis", action=argparse.BooleanOptionalAction, default=True,
                   help="the occlusion analysis after the runs (occluder kinds, STA/TA attention)")
    p.add_argument("--batch-size", type=int, default=0, help="clips per batch (default: the configs', P x 4)")
    p.add_argument("--size", default="", help="frame size HxW for every run (default: the configs', 64x32)")
    p.add_argument("--frames", type=int, default=4, help="T of training clips (STA's N ablation changes it)")
    p.add_argument("--test-frames", type=int, default=4, help="T of test clips (rrs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default="", help="backbone of every run (default: the configs', resnet18)")
    p.add_argument("--pretrained", default="", help="imagenet or a weights file (default: from scratch)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every run (e.g. optim.lr=3.5e-4 for fine-tuning); repeatable")
    p.add_argument("--section", default="", help="write BENCHMARKS.md/docs sections of this name (e.g. pretrained)")
    p.add_argument("--repeat", default="", help="models to train again with --repeat-seeds (seed noise)")
    p.add_argument("--repeat-seeds", default="1", help="comma-separated extra seeds for --repeat")
    p.add_argument("--root", default="", help="SynthPed root (default: the configs', runs/demo/synthped)")
    p.add_argument("--synth", default="", help="SynthPed options as JSON or a JSON file (default: the configs')")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    p.add_argument("--out", default=os.path.join(REPO, "runs", "bench"), help="results folder")
    p.add_argument("--resume", action="store_true", help="reuse finished runs of <out>/results.json (same settings); "
                   "with --curve, an unfinished run's folder is replaced")
    p.add_argument("--shard", default="", metavar="I/N",
                   help="run only runs I, I+N, I+2N, ... into <out>/results-shardI.json (no --update, no analysis): "
                        "start N shards side by side, then the same command with --resume and no --shard reuses "
                        "them all and writes the tables")
    p.add_argument("--analyse-only", action="store_true",
                   help="no training: re-run the occlusion analysis on <out>/results.json and its checkpoints, "
                        "rewrite the tables")
    p.add_argument("--update", action="store_true", help="rewrite this script's sections of BENCHMARKS.md and "
                                                         "docs/models.md")
    p.add_argument("--benchmarks-md", default=os.path.join(REPO, "BENCHMARKS.md"))
    p.add_argument("--models-md", default=os.path.join(REPO, "docs", "models.md"))
    p.add_argument("--smoke", action="store_true", help="seconds: TP and STA (or --only's models), no ablations, a "
                   "learning curve of 2 steps (points 1 and 2) on a tiny SynthPed in a temporary folder, no --update")
    args = p.parse_args(argv)
    if args.smoke:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _smoke import TINY_SYNTH, smoke_dir
        args.out = smoke_dir("synthped_models")
        args.root, args.synth = os.path.join(args.out, "synthped"), json.dumps({**TINY_SYNTH, "ids": 12})
        args.only = args.only or "tp,sta"
        args.ablations, args.iters, args.threads, args.workers, args.update = False, 2, 1, 0, False
        args.curve, args.curve_epoch, args.warmup_steps = "1,2", 1, 1     # the curve path: 2 points, 1 warm-up step
        args.batch_size = 8                                            # 2 ids x 4 tracklets
    if args.synth:
        raw = open(args.synth).read() if os.path.isfile(args.synth) else args.synth
        args.synth = json.loads(raw)
    args.only = [m for m in args.only.split(",") if m] or MODELS
    bad = sorted(set(args.only) - set(MODELS))
    if bad:
        p.error(f"--only: unknown model(s) {', '.join(bad)}; expected some of {', '.join(MODELS)}")
    args.repeat = [m for m in args.repeat.split(",") if m]
    args.ablation_keys = [k for k in args.ablation_keys.split(",") if k]
    args.repeat_seeds = [int(s) for s in args.repeat_seeds.split(",") if s]
    if args.iters < 1:
        p.error("--iters must be >= 1")
    try:
        args.curve = sorted({int(v) for v in args.curve.split(",") if v.strip()})
    except ValueError:
        p.error(f"--curve: expected comma-separated step counts, got {args.curve!r}")
    if args.curve:
        if args.curve_epoch < 1 or args.warmup_steps < 0:
            p.error("--curve-epoch must be >= 1 and --warmup-steps >= 0")
        bad = [v for v in args.curve + [args.warmup_steps] if v % args.curve_epoch or v < 0] + \
            [v for v in args.curve if v < 1]
        if bad:
            p.error(f"--curve and --warmup-steps: {', '.join(map(str, bad))} not a positive multiple of "
                    f"--curve-epoch {args.curve_epoch}")
        args.iters = args.curve[-1]
    try:
        args.curve_stop = {k.strip(): int(v) for k, v in (kv.split("=") for kv in args.curve_stop.split(",") if kv)}
    except ValueError:
        p.error(f"--curve-stop: expected KEY=STEPS,..., got {args.curve_stop!r}")
    if any(v not in args.curve for v in args.curve_stop.values()):
        p.error(f"--curve-stop: each STEPS must be one of --curve {args.curve}")
    if args.shard:
        try:
            args.shard = tuple(int(v) for v in args.shard.split("/"))
            assert len(args.shard) == 2 and 0 <= args.shard[0] < args.shard[1]
        except (ValueError, AssertionError):
            p.error(f"--shard: expected I/N with 0 <= I < N, got {args.shard!r}")
        if args.update:
            p.error("--shard writes its share only; --update goes with the merging run (--resume, no --shard)")
    return args


def same_config(saved: dict | None, current: dict) -> bool:
    """A finished run's config equals the current one, read through today's Config (fields added since get their
    defaults, lists and tuples compare equal)."""
    from vidreid.config import config_from_dict
    if saved is None:
        return False
    try:
        return config_from_dict(saved).to_dict() == current
    except Exception:
        return False


def recorded_command(argv: list[str]) -> str:
    """The command that reproduces the tables in one process: --shard and --resume only split or reuse the work."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--shard":
            skip = True
        elif not (a.startswith("--shard=") or a == "--resume"):
            kept.append(a)
    return " ".join([".venv/bin/python benchmarks/synthped_models.py"] + [shlex.quote(a) for a in kept])


def curve_title(meta: dict) -> str:
    s = meta["settings"]
    return f"SynthPed, {backbone_text(s)}, {s['height']}x{s['width']}, {s['frames']} frames"


def write_outputs(results: dict, meta: dict, args) -> None:
    """results.json (atomically), tables.md and, with --update, this script's sections of the docs."""
    from vidreid.utils.io import atomic_write_text
    from vidreid.utils.arrays import jsonable
    name = f"results-shard{args.shard[0]}.json" if args.shard else "results.json"
    atomic_write_text(os.path.join(args.out, name), json.dumps(jsonable({"meta": meta, "results": results}), indent=1))
    if args.shard:
        return
    if args.curve:
        png = plot_curves(results, os.path.join(args.out, "curve.png"), curve_title(meta))
        if png and args.update:      # the published copy, next to the docs' other pictures
            from vidreid.utils.io import atomic_write_bytes
            name = "synthped_curve" + (f"_{args.section}" if args.section else "") + ".png"
            atomic_write_bytes(os.path.join(REPO, "docs", "img", name), open(png, "rb").read())
            meta["curve_png"] = f"docs/img/{name}"
    sections = render(results, meta)
    atomic_write_text(os.path.join(args.out, "tables.md"),
                      "\n\n".join(f"{MARKERS[k][2]}\n\n{v}" for k, v in sections.items()))
    if args.update and args.curve:   # a curve run rewrites its own section only (the fixed-budget tables stay)
        replace_section(args.benchmarks_md, "curves", sections["curves"], "# Benchmarks\n")
    elif args.update:
        title = "# Benchmarks\n\nEach section names the command that produced it.\n"
        replace_section(args.benchmarks_md, "models", sections["models"], title)
        replace_section(args.benchmarks_md, "ablations", sections["ablations"], title)
        replace_section(args.models_md, "docs", sections["docs"])


def main(argv=None) -> int:
    import torch
    from vidreid.inference.evaluate import chance_level
    from vidreid.builders import prepare_dataset

    args = parse_args(argv)
    use_section(args.section)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    argv = sys.argv[1:] if argv is None else argv
    command = recorded_command(argv)
    results_path = os.path.join(args.out, "results.json")
    if args.analyse_only:
        doc = json.load(open(results_path))
        results, meta = doc["results"], doc["meta"]
        analyse(results, args, meta)
        write_outputs(results, meta, args)
        print(f"analysis written to {results_path} and {os.path.join(args.out, 'tables.md')}")
        return 0
    previous = {}
    if args.resume:                   # finished runs of an earlier run and of its shards
        import glob
        for path in [results_path] + sorted(glob.glob(os.path.join(args.out, "results-shard*.json"))):
            if os.path.exists(path):
                previous.update(json.load(open(path)).get("results", {}))

    runs = [{"key": m, "model": m} for m in args.only]
    runs += [{"key": f"{m}@seed{s}", "model": m, "seed": s} for m in args.repeat for s in args.repeat_seeds]
    from vidreid.models.sta import STA
    base_lambda = run_config({"key": "sta", "model": "sta"}, args).loss.reg_weights.get(
        "sta_reg", STA(2, backbone="resnet18").default_reg_weights["sta_reg"])     # the base STA run's λ
    sta_cfg = run_config({"key": "sta", "model": "sta"}, args)
    from vidreid.models.backbones import build_backbone
    map_rows = build_backbone(sta_cfg.model.backbone, sta_cfg.model.last_stride or 1).map_size(
        (sta_cfg.data.height, sta_cfg.data.width))[0]
    if args.ablations:
        runs += [r for r in ablation_runs(base_lambda, map_rows)
                 if not args.ablation_keys or r["key"] in args.ablation_keys]
    if args.shard:
        runs = runs[args.shard[0]::args.shard[1]]

    # the dataset once, up front: generation (if needed) is not charged to the first run
    cfg0 = run_config(runs[0], args)
    dataset = prepare_dataset(cfg0, progress=True)
    heavy = occlusion_heavy_rows(cfg0.data.root)
    chance = chance_level(dataset, "mars")
    rng = np.random.default_rng(0)
    ch_heavy = [subset_metrics(rng.random((len(dataset.query), len(dataset.gallery))), dataset, heavy)
                for _ in range(5)]
    meta = {
        "command": command, "started": time.strftime("%Y-%m-%d %H:%M"), "finished": None,
        "chance": {"mAP": chance["mAP"], "R1": float(chance["cmc"][0]),
                   "heavy_mAP": float(np.mean([c["mAP"] for c in ch_heavy])),
                   "heavy_R1": float(np.mean([c["R1"] for c in ch_heavy]))},
        "settings": {"root": os.path.relpath(cfg0.data.root, REPO) if cfg0.data.root.startswith(REPO)
                     else cfg0.data.root, "synth": json.dumps(cfg0.data.synth), "num_query": len(dataset.query),
                     "num_heavy": len(heavy), "num_gallery": len(dataset.gallery),
                     "num_train_ids": dataset.num_train_pids, "height": cfg0.data.height, "width": cfg0.data.width,
                     "seed": args.seed, "iters": (args.iters // min(10, args.iters)) * min(10, args.iters),
                     "batch_size": cfg0.data.batch_size, "frames": args.frames, "test_frames": args.test_frames,
                     "threads": args.threads, "machine": f"{os.cpu_count()} CPU cores (shared)",
                     "backbone": cfg0.model.backbone, "pretrained": cfg0.model.pretrained,
                     "schedule": schedule_text(cfg0) if args.curve else None},
        # a smoke run counts its own models only (each count is most of a second)
        "paper_gflops": paper_gflops(args.only if args.smoke else MODELS), "sta_lambda": base_lambda,
        "sta_map_rows": map_rows, "curve": args.curve, "curve_stop": args.curve_stop,
    }
    if args.curve:
        meta["settings"]["iters"] = args.curve[-1]
    results: dict = {}
    t_start = time.time()

    def save():
        meta["wall_minutes"] = (time.time() - t_start) / 60
        meta["runs_minutes"] = sum(r.get("wall_seconds", 0) for r in results.values()) / 60
        write_outputs(results, meta, args)

    occl_cache = {cfg0.data.root: heavy}
    for i, run in enumerate(runs):
        cfg_dict = run_config(run, args).to_dict()
        old = previous.get(run["key"])
        if old and "error" not in old and same_config(old.get("config"), cfg_dict):
            results[run["key"]] = old
            print(f"[{i + 1}/{len(runs)}] {run['key']}: reused from {results_path}", flush=True)
            continue
        print(f"[{i + 1}/{len(runs)}] {run['key']} ({time.time() - t_start:.0f} s elapsed)", flush=True)
        try:
            rec = execute(run, args, occl_cache)
            results[run["key"]] = rec
            for pt in rec.get("curve", [])[:-1]:
                print(f"    step {pt['step']}: mAP {pct(pt['mAP'])} R1 {pct(pt['R1'])}", flush=True)
            print(f"    mAP {pct(rec['all']['mAP'])} R1 {pct(rec['all']['R1'])} | occlusion-heavy mAP "
                  f"{pct(rec['occlusion_heavy']['mAP'])} R1 {pct(rec['occlusion_heavy']['R1'])} | train "
                  f"{rec['train_seconds']:.0f} s ({rec['sec_per_iter']:.2f} s/iter), eval {rec['eval_seconds']:.0f} s",
                  flush=True)
        except Exception as e:  # one failing model must not lose the others' results
            traceback.print_exc()
            results[run["key"]] = {"key": run["key"], "model": run["model"], "group": run.get("group", "models"),
                                   "label": run.get("label", ""), "error": f"{type(e).__name__}: {e}"}
        save()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M")
    save()
    if args.shard:
        print(f"shard {args.shard[0]}/{args.shard[1]} done in {(time.time() - t_start) / 60:.1f} min")
        return 0
    analysed = False
    try:                                           # after the tables are safe: the analysis only adds to them
        if args.analysis:
            analyse(results, args, meta)
            write_outputs(results, meta, args)
        analysed = True
    except Exception:
        traceback.print_exc()
    print(f"done in {(time.time() - t_start) / 60:.1f} min: {results_path}, {os.path.join(args.out, 'tables.md')}")
    failed = sorted(k for k, r in results.items() if "error" in r and not r["error"].startswith("not run"))
    failed += [f"{k} (curve points {[p['step'] for p in r['curve']]}, not {run_curve({'key': k}, args)})"
               for k, r in results.items() if args.curve and "error" not in r
               and [p["step"] for p in r.get("curve", [])] != run_curve({"key": k}, args)]
    if args.smoke and (failed or not analysed):    # a long run goes on past a failure; a smoke run reports it
        print(f"smoke run FAILED: {', '.join(failed) or 'the analysis'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
