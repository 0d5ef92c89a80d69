"""Real footage: mAP / R1 of several features side by side on the `vtest` dataset (vidreid/data/datasets/vtest.py:
OpenCV's vtest.avi cut into tracklets by vidreid's own HOG detector and tracker, identities checked by eye).

    .venv/bin/python benchmarks/real_footage.py                       # every row, four evaluation sets (~minutes)
    .venv/bin/python benchmarks/real_footage.py --adapted-checkpoint runs/adapt/checkpoints/last.safetensors
    .venv/bin/python benchmarks/real_footage.py --smoke                # seconds: 3 identities, 8 frames a tracklet

Evaluation sets (all under the gao rules): the `main` split (every labelled piece is a query against all the
others: re-finding a person the tracker lost) and the `cross_pass` split (each piece's first half of frames is
the query, its second half the gallery, as if seen by two cameras), each on the `full` video and on its `late`
part (frames >= 400; the frames before are the adapt set, so a model adapted on them is measured on footage it did
not see).

Rows: a table of named feature makers (ROWS below; `--only 1,3` picks some by number, `--checkpoint LABEL=PATH`
adds one for any checkpoint, e.g. a fused one). Each row gives, for a list of tracklets, their features and the
distance to rank them by, through the project's own layers: models are built with vidreid.inference
(build_model_from_checkpoint, initial_checkpoint for `--checkpoint none`, build_classical for the classical
features), features come from vidreid.inference.extract.extract_features with the model's config (test sampling,
frame size), distances from vidreid.eval.distance and metrics from vidreid.eval.evaluate.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SETS = (("main", "full"), ("cross_pass", "full"), ("main", "late"), ("cross_pass", "late"))


@dataclass
class Features:
    """A way to compare tracklets: `embed(tracklets) -> (N, D)` and the distance to rank by."""
    embed: Callable                     # list[Tracklet] -> (N, D) float array (NaN rows: no readable frame)
    metric: str = "euclidean"           # vidreid.eval.distance metric of the features
    note: str = ""                      # settings worth printing (sampling, frame size)
    cache: dict = field(default_factory=dict)

    def prepare(self, tracklets: list) -> None:
        """Embed every tracklet not embedded yet, in one extraction (one loader start-up for all the sets)."""
        new = list(dict.fromkeys(t for t in tracklets if t not in self.cache))
        if new:
            for t, f in zip(new, self.embed(new)):
                self.cache[t] = f

    def distances(self, query: list, gallery: list) -> np.ndarray:
        from vidreid.eval import distance
        self.prepare(query + gallery)
        return distance(np.stack([self.cache[t] for t in query]), np.stack([self.cache[t] for t in gallery]),
                        self.metric)


@dataclass
class Row:
    name: str
    make: Callable                      # args -> Features, or a str saying why the row is skipped
    parts: tuple = ("full", "late")     # the parts it is measured on


# ---------------------------------------------------------------------------------------------- feature makers
def demo_config(args):
    """The demo's config (MobileNetV2 TP, 128x64 frames, its test sampling), smaller frames with --smoke."""
    from vidreid.config import load_config
    overrides = [f"data.workers={args.workers}"]
    if args.smoke:
        overrides += ["data.height=64", "data.width=32"]
    return load_config(os.path.join(REPO, "configs", "demo.yaml"), overrides)


def model_features(model, cfg, what: str) -> Features:
    from vidreid.inference.extract import extract_features, resolve_sampling

    def embed(tracklets):
        return extract_features(model, tracklets, cfg, device="cpu", progress=False)
    sampling = resolve_sampling(cfg)
    frames = "every frame" if sampling == "all" else f"clips of {cfg.data.test_seq_len or cfg.data.seq_len} frames"
    return Features(embed, cfg.eval.metric, f"{what}: {sampling} sampling ({frames}), {cfg.data.height}x"
                                             f"{cfg.data.width} frames, {cfg.eval.metric} distance")


def checkpoint_features(path: str, args, what: str) -> Features:
    from vidreid.inference.model import build_model_from_checkpoint, open_checkpoint
    cfg, _ = open_checkpoint(path, overrides=[f"data.workers={args.workers}"])
    model, _ = build_model_from_checkpoint(path)
    return model_features(model, cfg, what)


def random_weights(args):
    """The demo's network with random weights (seeded): what the architecture alone gives."""
    import torch

    from vidreid.builders import build_for_dataset
    cfg = demo_config(args)
    torch.manual_seed(cfg.train.seed)
    return model_features(build_for_dataset(cfg, 1, pretrained=False).eval(), cfg, "random")


def imagenet_only(args):
    """`vidreid eval --checkpoint none --config configs/demo.yaml`: the ImageNet backbone, no re-ID training (TP's
    test feature is the pooled backbone map, so the classifier's size, here 1, changes nothing)."""
    from vidreid.inference.initial import initial_checkpoint
    cfg = demo_config(args)
    path = initial_checkpoint(cfg, 1, log=lambda *a: None)
    return checkpoint_features(path, args, "imagenet")


def demo_checkpoint(args):
    if not os.path.isfile(args.demo_checkpoint):
        return f"no {args.demo_checkpoint} (run `make demo`, or pass --demo-checkpoint)"
    return checkpoint_features(args.demo_checkpoint, args, "demo")


def named_checkpoint(label: str, path: str):
    """A row for `--checkpoint LABEL=PATH`: any vidreid checkpoint (a fused one of `vidreid eval --fuse`, a
    transfer-recipe run, ...), evaluated with its own config."""
    def make(args):
        if not os.path.isfile(path):
            return f"no {path}"
        return checkpoint_features(path, args, label)
    return make


def adapted_checkpoint(args):
    if not args.adapted_checkpoint:
        return "no --adapted-checkpoint given"
    if not os.path.isfile(args.adapted_checkpoint):
        return f"no {args.adapted_checkpoint}"
    return checkpoint_features(args.adapted_checkpoint, args, "adapted")


def classical(name: str, **kwargs):
    """A classical feature (vidreid.models.classical: `colour_hist`, `lomo`) with no learned metric, evaluated at
    the demo's frame size with every frame of a tracklet (`all` sampling), as configs/<name>_synthped.yaml does."""
    def make(args):
        from vidreid.config import load_config
        from vidreid.data.types import VideoReIDDataset
        from vidreid.inference.classical import build_classical
        cfg = load_config(None, [f"model.name={name}", "model.backbone=null", f"data.workers={args.workers}",
                                 "data.height=128", "data.width=64", "data.test_sampling=all",
                                 "data.test_batch_size=16", "eval.metric=euclidean"]
                          + [f"model.kwargs.{k}={v}" for k, v in kwargs.items()])
        if args.smoke:
            cfg.data.height, cfg.data.width = 64, 32
        model, _ = build_classical(cfg, VideoReIDDataset(NAME, "", [], [], []), progress=False)
        return model_features(model, cfg, name)
    return make


def fused_checkpoint(args):
    """A fused checkpoint (`vidreid eval --checkpoint NET --fuse CONFIG` on SynthPed: the network + a classical
    feature with its metric, weight and scales chosen on SynthPed's held-out training identities)."""
    if not args.fused_checkpoint:
        return "no --fused-checkpoint given (make one with `vidreid eval --checkpoint NET --fuse CONFIG`)"
    if not os.path.isfile(args.fused_checkpoint):
        return f"no {args.fused_checkpoint}"
    return checkpoint_features(args.fused_checkpoint, args, "fused")


NAME = "vtest"
ROWS = [
    Row("random-weight network (demo's MobileNetV2 TP)", random_weights),
    Row("ImageNet MobileNetV2, no re-ID training (`--checkpoint none`)", imagenet_only),
    Row("demo checkpoint (`make demo`)", demo_checkpoint),
    Row("HSV colour histograms, 6 stripes, Hellinger (`colour_hist`)", classical("colour_hist")),
    Row("HSV colour histograms, 2 stripes (upper / lower body)", classical("colour_hist", stripes=2)),
    Row("LOMO, no metric (`lomo`)", classical("lomo")),
    Row("fused checkpoint (`--fused-checkpoint`)", fused_checkpoint),
    Row("adapted checkpoint (`--adapted-checkpoint`)", adapted_checkpoint, parts=("late",)),
]


# ---------------------------------------------------------------------------------------------- evaluation
def load_sets(args) -> dict:
    """{(split, part): VideoReIDDataset}; --smoke keeps 3 identities and the first 8 frames of each tracklet."""
    import dataclasses

    from vidreid.data import load_dataset
    sets = {}
    for split, part in SETS:
        ds = load_dataset(NAME, args.root, evaluation=split, part=part, video=args.video or "")
        if args.smoke:
            keep = sorted({t.pid for t in ds.query})[:3]

            def cut(ts):
                return [t._replace(frames=t.frames[:8]) for t in ts if t.pid in keep]
            ds = dataclasses.replace(ds, query=cut(ds.query), gallery=cut(ds.gallery))
        sets[(split, part)] = ds
    return sets


def measure(features: Features, ds) -> dict:
    from vidreid.inference.evaluate import evaluate_distmat
    res = evaluate_distmat(features.distances(ds.query, ds.gallery), ds, "gao")
    return {"mAP": 100 * res["mAP"], "R1": 100 * res["cmc"][0], "queries": res["num_valid_queries"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.path.join("runs", "real_footage", "vtest"),
                   help="the crops' folder (made from the video on first use)")
    p.add_argument("--video", help="vtest.avi (default: the opencv-doc data folders)")
    p.add_argument("--demo-checkpoint", default=os.path.join("runs", "demo", "checkpoints", "last.safetensors"))
    p.add_argument("--fused-checkpoint", help="a fused checkpoint of `vidreid eval --fuse` (network + classical)")
    p.add_argument("--adapted-checkpoint", help="a checkpoint adapted on the adapt set (evaluated on `late` only)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH",
                   help="one more row: the checkpoint at PATH, labelled LABEL (repeatable)")
    p.add_argument("--only", help="comma-separated row numbers (1-based) to measure")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--workers", type=int, default=2, help="frame-decoding workers (default 2; --smoke: 0)")
    p.add_argument("--smoke", action="store_true", help="seconds: 3 identities, 8 frames a tracklet, 64x32 frames")
    args = p.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    if args.smoke:
        args.workers = 0
    from vidreid.errors import VidReIDError
    from vidreid.inference.evaluate import chance_level
    os.makedirs(os.path.dirname(os.path.abspath(args.root)), exist_ok=True)   # the crops' folder goes in it
    try:
        sets = load_sets(args)
    except VidReIDError as e:
        print(f"real_footage: {e}", file=sys.stderr)
        return 2
    rows = list(ROWS)
    for spec in args.checkpoint:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            print(f"real_footage: --checkpoint {spec!r}: expected LABEL=PATH", file=sys.stderr)
            return 2
        rows.append(Row(label, named_checkpoint(label, path)))
    if args.only:
        picks = [int(i) for i in args.only.split(",") if i.strip().isdigit()]
        if not picks or any(not 1 <= i <= len(rows) for i in picks):
            print(f"real_footage: --only {args.only!r}: expected row numbers 1..{len(rows)}", file=sys.stderr)
            return 2
        rows = [rows[i - 1] for i in picks]
    print(f"vtest ({os.path.abspath(args.root)}), gao protocol" + (" [--smoke: 3 identities, 8 frames]" if args.smoke
                                                                  else ""))
    for (split, part), ds in sets.items():
        print(f"  {split:<10} {part:<4}: {len(ds.query)} queries, {len(ds.gallery)} gallery tracklets, "
              f"{len({t.pid for t in ds.query})} identities")
    head = "| features | " + " | ".join(f"{s} {p} mAP | R1" for s, p in SETS) + " | s |"
    lines = [head, "|---|" + "---|---|" * len(SETS) + "---|"]
    chance = [chance_level(ds, "gao") for ds in sets.values()]
    lines.append("| random ranking | " + " | ".join(f"{100 * c['mAP']:.1f} | {100 * c['cmc'][0]:.1f}"
                                                   for c in chance) + " | |")
    notes = []
    for row in rows:
        t0 = time.perf_counter()
        feats = row.make(args)
        if isinstance(feats, str):
            notes.append(f"{row.name}: skipped ({feats})")
            continue
        wanted = [ds for (s, p), ds in sets.items() if p in row.parts]
        feats.prepare([t for ds in wanted for t in ds.query + ds.gallery])
        cells = []
        for (split, part), ds in sets.items():
            if part not in row.parts:
                cells.append("— | —")
                continue
            r = measure(feats, ds)
            cells.append(f"{r['mAP']:.1f} | {r['R1']:.1f}")
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.0f} |")
        notes.append(feats.note)
        print(lines[-1], flush=True)
    print()
    print("\n".join(lines))
    print("\n".join(f"  {n}" for n in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
