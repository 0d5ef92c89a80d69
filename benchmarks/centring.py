"""What feature centring (subtract the gallery's mean feature, then L2-normalise) does to mAP, per model, on SynthPed;
and how well the calibrated same-person probability of `vidreid.search.calibration` is calibrated.

    .venv/bin/python benchmarks/centring.py --out runs/centring            # 8 models, ~20 min on 2 cores
    .venv/bin/python benchmarks/centring.py --out runs/centring --report    # tables from the saved features only

A cheap measurement (the budget of a CI-sized check, not the benchmark's): every model trains from its own
`configs/<model>_synthped.yaml` (its paper's loss) with the same small SynthPed (`--ids` identities, 3 cameras,
rendered and read at 64x32), ResNet-18 from scratch, `--iters` Adam steps of 16 clips x 4 frames; then the
query and gallery features (rrs clips of 4 frames, mars protocol) are saved to `<out>/<model>.npz`, and mAP is
computed with the cosine distance of the L2-normalised features (what search uses) with and without centring. The
paired standard error of the per-query AP difference says whether a change is beyond noise (2 SE); centring is kept
on by default (register_model's centre_by_default, vidreid.search.calibration.centre_by_default) only for models where it does not lower mAP at all. The
calibration columns: expected calibration error of the same-person probability on held-out query identities (2 folds
by identity: fitted on one half's pairs, checked on the other's), over all cross-camera pairs and over each query's
20 nearest results, with the features centred where that is the default.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

MODELS = ["tp", "ta", "rnn", "sta", "drsta", "nvan", "ste_nvan", "rru_stim"]


def train_and_extract(model: str, args) -> str:
    import torch

    from vidreid.config import load_config
    from vidreid.inference.extract import extract_features
    from vidreid.engine.train import train

    path = os.path.join(args.out, f"{model}.npz")
    if os.path.exists(path):
        return path
    synth = json.dumps({"ids": args.ids, "cams": 3, "height": 64, "width": 32, "seed": 0, "max_len": 40})
    overrides = [f"data.root={os.path.join(args.out, 'synthped')}", f"data.synth={synth}", "data.height=64",
                 "data.width=32", "data.batch_size=16", "data.num_instances=4", "data.workers=0",
                 f"train.epochs={args.iters // 5}", "train.iters_per_epoch=5", "train.eval_every=0",
                 "train.tensorboard=false", "train.threads=1", f"train.output_dir={os.path.join(args.out, model)}"]
    if args.smoke:      # the code path at an eighth of the work a step: 8 clips of 32x16
        overrides += ["data.height=32", "data.width=16", "data.batch_size=8", "data.num_instances=2"]
    cfg = load_config(os.path.join(REPO, "configs", f"{model}_synthped.yaml"), overrides)
    torch.set_num_threads(1)
    t0 = time.time()
    res = train(cfg, progress=False)
    net, ds = res["model"], res["dataset"]
    net.eval()
    qf = extract_features(net, ds.query, cfg, "rrs", "cpu", "query", False)
    gf = extract_features(net, ds.gallery, cfg, "rrs", "cpu", "gallery", False)
    np.savez(path, qf=qf, gf=gf, q_pids=[t.pid for t in ds.query], q_cams=[t.camid for t in ds.query],
             g_pids=[t.pid for t in ds.gallery], g_cams=[t.camid for t in ds.gallery], seconds=time.time() - t0,
             metric=cfg.eval.metric)
    print(f"{model}: trained and extracted in {time.time() - t0:.0f} s", flush=True)
    return path


def report(args) -> str:
    from vidreid.eval import distance
    from vidreid.eval.metrics import per_query_metrics
    from vidreid.search.calibration import calibrate_features, center_features

    rows = ["| model | train+extract s | mAP cosine | mAP centred cosine | Δ ± paired SE | verdict | "
            "ECE all pairs | ECE top-20 |", "|---|---|---|---|---|---|---|---|"]
    verdicts = {}
    for model in MODELS:
        path = os.path.join(args.out, f"{model}.npz")
        if not os.path.exists(path):
            continue
        z = np.load(path)
        qp, qc, gp, gc = z["q_pids"], z["q_cams"], z["g_pids"], z["g_cams"]
        aps = {}
        for centred in (False, True):
            qf, gf = z["qf"], z["gf"]
            if centred:
                mean = center_features(gf).mean
                qf, gf = center_features(qf, mean).features, center_features(gf, mean).features
            d = distance(qf, gf, "cosine")
            aps[centred] = per_query_metrics(d, qp, gp, qc, gc, "mars")["ap"]
        diff = aps[True] - aps[False]
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        # the rule for the default: centring stays off wherever it lowers mAP at all (point estimate), noise or not
        verdict = ("lower" if diff.mean() < 0 else "not lower") + \
            (" (beyond 2 SE)" if abs(diff.mean()) > 2 * se else " (within 2 SE)")
        verdicts[model] = verdict
        # calibration, fitted and checked on held-out query identities (2 folds)
        _, tables = calibrate_features(z["qf"], z["gf"], qp, gp, qc, gc, centred=not verdict.startswith("lower"))
        eces = [tables["all pairs"]["ece"], tables["top 20"]["ece"]]
        rows.append(f"| {model} | {float(z['seconds']):.0f} | {100 * aps[False].mean():.1f} | "
                    f"{100 * aps[True].mean():.1f} | {100 * diff.mean():+.1f} ± {100 * se:.1f} | {verdict} | "
                    f"{eces[0]:.4f} | {eces[1]:.4f} |")
    text = "\n".join(rows)
    text += "\n\ncentring on by default for: " + ", ".join(m for m, v in verdicts.items() if not v.startswith("lower"))
    text += "\ncentring off by default for: " + (", ".join(m for m, v in verdicts.items() if v.startswith("lower")) or "none")
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/centring")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--ids", type=int, default=120)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--report", action="store_true", help="only print the tables from saved features")
    p.add_argument("--smoke", action="store_true",
                   help="seconds: TP, 12 ids, 5 steps of 8 clips at 32x16, in a temporary folder")
    args = p.parse_args()
    if args.smoke:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _smoke import smoke_dir
        args.out, args.models, args.ids, args.iters = smoke_dir("centring"), "tp", 12, 5
    os.makedirs(args.out, exist_ok=True)
    if not args.report:
        for m in args.models.split(","):
            train_and_extract(m, args)
    print(report(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
