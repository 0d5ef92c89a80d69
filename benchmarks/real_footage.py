"""Real footage: mAP / R1 of several features side by side on the `vtest` dataset (vidreid/data/datasets/vtest.py:
OpenCV's vtest.avi cut into tracklets by vidreid's own HOG detector and tracker, identities checked by eye).

    .venv/bin/python benchmarks/real_footage.py --fused-checkpoint runs/demo/checkpoints/fused-lomo-xqda-HASH.safetensors
    .venv/bin/python benchmarks/real_footage.py --boxes tight ...     # the refined (tight) boxes
    .venv/bin/python benchmarks/real_footage.py --adapted-checkpoint runs/adapt/checkpoints/last.safetensors
    .venv/bin/python benchmarks/real_footage.py --smoke                # seconds: 3 identities, 8 frames a tracklet

Evaluation sets (all under the gao rules): the `main` split (every labelled piece is a query against all the
others: re-finding a person the tracker lost), the `cross_pass` split (each piece's first half of frames is the
query, its second half the gallery, as if seen by two cameras; lenient: a query's own second half is a match) and
the `strict_cross_pass` split (the same halves, a query's own second half and the pieces its walk goes on in after a
tracker loss junk: re-finding the person on another pass), each on the `full` video and on its `late` part (frames >= 400; the frames before are the adapt set, so a
model adapted on them is measured on footage it did not see).

Every mAP / R1 comes with a 95 % interval from a bootstrap over PEOPLE (vidreid/eval/bootstrap.py: the queries of
one person are not independent), and every row's mAP with its paired difference against the strongest classical
row of the set (same resamples), marked `*` where that interval excludes 0.

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

EVALUATIONS = ("main", "cross_pass", "strict_cross_pass")
PARTS = ("full", "late")
SETS = tuple((e, p) for p in PARTS for e in EVALUATIONS)
SHORT = {"main": "main", "cross_pass": "cross-pass", "strict_cross_pass": "strict cross-pass"}


@dataclass
class Features:
    """A way to compare tracklets: `embed(tracklets) -> (N, D)` and the distance to rank by."""
    embed: Callable                     # list[Tracklet] -> (N, D) float array (NaN rows: no readable frame)
    metric: str = "euclidean"           # vidreid.eval.distance metric of the features
    note: str = ""                      # settings worth printing (sampling, frame size)
    cache: dict = field(default_factory=dict)

    def prepare(self, tracklets: list) -> None:
        """Embed every tracklet not embedded yet, in one extraction (one loader start-up for all the sets)."""
        new = list({t.frames: t for t in tracklets if t.frames not in self.cache}.values())
        if new:
            for t, f in zip(new, self.embed(new)):
                self.cache[t.frames] = f

    def distances(self, query: list, gallery: list) -> np.ndarray:
        from vidreid.eval import distance
        self.prepare(query + gallery)
        return distance(np.stack([self.cache[t.frames] for t in query]),
                        np.stack([self.cache[t.frames] for t in gallery]), self.metric)


@dataclass
class Row:
    name: str
    make: Callable                      # args -> Features, or a str saying why the row is skipped
    parts: tuple = ("full", "late")     # the parts it is measured on
    classical: bool = False             # a hand-made feature: the strongest of these is the reference of the
    #                                     paired differences


# ---------------------------------------------------------------------------------------------- feature makers
def demo_config(args):
    """The demo's config (MobileNetV2 TP, 128x64 frames, its test sampling), smaller frames with --smoke."""
    from vidreid.config import load_config
    overrides = [f"data.workers={args.workers}"]
    if args.smoke:
        overrides += ["data.height=64", "data.width=32"]
    return load_config(os.path.join(REPO, "configs", "demo.yaml"), overrides)


class Grayscale:
    """The grayscale probe: a model that sees every frame as its luma (BT.601 weights on the pixels, put back in all
    three channels), to measure how much of its ranking comes from colour."""

    def __init__(self, model, cfg):
        import torch
        self.model, self.feat_dim = model, getattr(model, "feat_dim", None)
        self.mean = torch.tensor(cfg.data.mean).view(3, 1, 1)
        self.std = torch.tensor(cfg.data.std).view(3, 1, 1)
        self.luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)

    def __getattr__(self, name):                      # eval(), to(), parameters() ... of the model
        return getattr(self.__dict__["model"], name)

    def __call__(self, x, **kw):                      # x: (B, T, 3, H, W) normalised
        px = x * self.std + self.mean
        grey = (px * self.luma).sum(-3, keepdim=True).expand_as(px)
        return self.model((grey - self.mean) / self.std, **kw)


def model_features(model, cfg, what: str, args=None) -> Features:
    from vidreid.inference.extract import extract_features, resolve_sampling
    if args is not None and args.background:
        cfg.data.background = args.background
        what += f", background {args.background}"
    if args is not None and args.grayscale and not getattr(model, "classical", False):
        model, what = Grayscale(model, cfg), what + ", grayscale frames"

    def embed(tracklets):
        return extract_features(model, tracklets, cfg, device="cpu", progress=False)
    sampling = resolve_sampling(cfg)
    frames = "every frame" if sampling == "all" else f"clips of {cfg.data.test_seq_len or cfg.data.seq_len} frames"
    return Features(embed, cfg.eval.metric, f"{what}: {sampling} sampling ({frames}), {cfg.data.height}x"
                                             f"{cfg.data.width} frames, {cfg.eval.metric} distance")


def checkpoint_features(path: str, args, what: str) -> Features:
    from vidreid.inference.model import build_model_from_checkpoint, open_checkpoint
    cfg, _ = open_checkpoint(path, overrides=[f"data.workers={args.workers}"], data=False)   # data: the vtest sets
    model, _ = build_model_from_checkpoint(path)
    return model_features(model, cfg, what, args)


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


def classical(config: str | None, name: str = "", background: str | None = None, **kwargs):
    """A classical feature (vidreid.models.classical) with no learned metric: the model section of a shipped config
    (configs/body_colour.yaml, ...) or `name` with `kwargs`, evaluated at the demo's frame size with every frame of
    a tracklet (`all` sampling), as configs/<name>_synthped.yaml does; `background` its data.background."""
    def make(args):
        from vidreid.config import load_config
        from vidreid.inference.classical import build_classical
        model = [] if config else [f"model.name={name}", "model.backbone=null"]
        cfg = load_config(os.path.join(REPO, "configs", config) if config else None, model + [
            f"data.workers={args.workers}", "data.height=128", "data.width=64", "data.test_sampling=all",
            "data.test_batch_size=16", "eval.metric=euclidean"])
        cfg.model.kwargs = {**(cfg.model.kwargs or {}), **kwargs}
        if background:
            cfg.data.background = background
        model, _ = build_classical(cfg, progress=False)       # 128x64 in --smoke too: LOMO needs a 10 px region
        return model_features(model, cfg, cfg.model.name + (f" ({config})" if config else ""), args)
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
    Row("whole-box HSV histograms, 6 stripes (`colour_hist`)", classical(None, "colour_hist"), classical=True),
    Row("whole-box HSV histograms, 2 stripes", classical(None, "colour_hist", stripes=2), classical=True),
    Row("body-region HSV histograms (configs/body_colour.yaml)", classical("body_colour.yaml"), classical=True),
    Row("body-region HSV histograms, mask-weighted (the crops' masks/: background not counted)",
        classical("body_colour.yaml", background="suppress", skip_colour=[124, 116, 104]), classical=True),
    Row("LOMO, whole box, no metric (`lomo`)", classical(None, "lomo"), classical=True),
    Row("LOMO, body region, no metric (configs/lomo_body.yaml)", classical("lomo_body.yaml"), classical=True),
    Row("fused: demo + LOMO/XQDA (`--fused-checkpoint`)", fused_checkpoint),
    Row("adapted checkpoint (`--adapted-checkpoint`)", adapted_checkpoint, parts=("late",)),
]


# ---------------------------------------------------------------------------------------------- evaluation
def load_sets(args) -> dict:
    """{(evaluation, part): VideoReIDDataset}; --smoke keeps 3 identities and the first 8 frames of each tracklet."""
    import dataclasses

    from vidreid.data import load_dataset
    sets = {}
    for split, part in SETS:
        if part not in args.parts:
            continue
        ds = load_dataset(NAME, args.root, evaluation=split, part=part, video=args.video or "", boxes=args.boxes)
        if args.smoke:
            keep = sorted({t.pid for t in ds.query})[:3]

            def cut(ts):
                return [t._replace(frames=t.frames[:8]) for t in ts if t.pid in keep]
            ds = dataclasses.replace(ds, query=cut(ds.query), gallery=cut(ds.gallery))
        sets[(split, part)] = ds
    return sets


@dataclass
class PerQuery:
    """One row on one evaluation set: the counted queries' AP and rank-1 hit, and their identities."""
    ap: np.ndarray         # (Q,) average precision of each query with a true match (gao rules)
    r1: np.ndarray         # (Q,) 1.0 where the first junk-free result is a true match
    people: np.ndarray     # (Q,) the query's identity: what the bootstrap resamples


def per_query(dist: np.ndarray, ds) -> PerQuery:
    from vidreid.eval.metrics import per_query_metrics
    ids = [np.array([getattr(t, k) for t in ts]) for ts in (ds.query, ds.gallery) for k in ("pid", "camid")]
    m = per_query_metrics(dist, ids[0], ids[2], ids[1], ids[3], protocol="gao")
    counted = m["num_good"] > 0                                               # gao: queries with a true match
    return PerQuery(m["ap"][counted], (m["first_rank"][counted] == 1).astype(np.float64), ids[0][counted])


def chance(ds, seeds: int = 5) -> PerQuery:
    """Random rankings: each query's AP and R1 averaged over `seeds` random distance matrices."""
    rng = np.random.default_rng(0)
    runs = [per_query(rng.random((len(ds.query), len(ds.gallery))), ds) for _ in range(seeds)]
    return PerQuery(np.mean([r.ap for r in runs], 0), np.mean([r.r1 for r in runs], 0), runs[0].people)


def interval_tables(results: dict, sets: dict, classical_rows: set, resamples: int) -> list[str]:
    """Markdown: per part, mAP and R1 with 95 % intervals over people on every evaluation; then the paired mAP
    differences against the strongest classical row of each set, `*` where the interval excludes 0."""
    from vidreid.eval.bootstrap import paired_differences, person_bootstrap
    names = list(results)
    lines = []
    for part in PARTS:
        keys = [k for k in sets if k[1] == part]
        if not keys:
            continue
        lines += ["", f"{part}: " + "; ".join(f"{SHORT[e]} {len(results['random ranking'][(e, part)].ap)} queries of "
                                            f"{len(set(results['random ranking'][(e, part)].people.tolist()))} "
                                            f"people" for e, _ in keys),
                  "", "| features | " + " | ".join(f"{SHORT[e]} mAP | R1" for e, _ in keys) + " |",
                  "|---|" + "---|---|" * len(keys)]
        cells = {n: [] for n in names}
        diffs = {n: [] for n in names}
        refs = []
        for key in keys:
            have = [n for n in names if key in results[n]]
            people = results[have[0]][key].people
            ap = np.stack([results[n][key].ap for n in have])                  # (R, Q)
            r1 = np.stack([results[n][key].r1 for n in have])
            m, r = person_bootstrap(ap, people, resamples), person_bootstrap(r1, people, resamples)
            for i, n in enumerate(have):
                cells[n].append(f"{100 * m.mean[i]:.1f} [{100 * m.low[i]:.0f}, {100 * m.high[i]:.0f}] | "
                                f"{100 * r.mean[i]:.1f} [{100 * r.low[i]:.0f}, {100 * r.high[i]:.0f}]")
            strongest = max((i for i, n in enumerate(have) if n in classical_rows), key=lambda i: m.mean[i],
                            default=None)
            refs.append(have[strongest] if strongest is not None else None)
            d = paired_differences(ap, people, strongest, resamples) if strongest is not None else None
            for i, n in enumerate(have):
                diffs[n].append("reference" if i == strongest else "—" if d is None else
                                f"{100 * d.mean[i]:+.1f} [{100 * d.low[i]:+.1f}, {100 * d.high[i]:+.1f}]"
                                + (" *" if d.beyond_noise[i] else ""))
            for n in set(names) - set(have):
                cells[n].append("— | —")
                diffs[n].append("—")
        lines += [f"| {n} | " + " | ".join(cells[n]) + " |" for n in names]
        lines += ["", f"{part}: mAP minus the strongest classical row's ("
                  + "; ".join(f"{SHORT[e]}: {ref}" for (e, _), ref in zip(keys, refs))
                  + "), same resamples of people; * = the 95 % interval excludes 0", "",
                  "| features | " + " | ".join(f"{SHORT[e]} Δ mAP" for e, _ in keys) + " |",
                  "|---|" + "---|" * len(keys)]
        lines += [f"| {n} | " + " | ".join(diffs[n]) + " |" for n in names if n != "random ranking"]
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", help="the crops' folder (made from the video on first use; default "
                                  "runs/real_footage/vtest, or vtest_tight with --boxes tight)")
    p.add_argument("--boxes", default="loose", choices=("loose", "tight"),
                   help="the tracker's boxes (loose, default) or the refined ones (tight): vtest option boxes")
    p.add_argument("--video", help="vtest.avi (default: the opencv-doc data folders)")
    p.add_argument("--demo-checkpoint", default=os.path.join("runs", "demo", "checkpoints", "last.safetensors"))
    p.add_argument("--fused-checkpoint", help="a fused checkpoint of `vidreid eval --fuse` (network + classical)")
    p.add_argument("--adapted-checkpoint", help="a checkpoint adapted on the adapt set (evaluated on `late` only)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH",
                   help="one more row: the checkpoint at PATH, labelled LABEL (repeatable)")
    p.add_argument("--grayscale", action="store_true",
                   help="the grayscale probe: every row sees luma-only frames (how much it relies on colour)")
    p.add_argument("--background", choices=("keep", "suppress"),
                   help="every row with this data.background (default: each row's own; suppress: the crops' "
                        "background, their masks/, set to the mean colour)")
    p.add_argument("--only", help="comma-separated row numbers (1-based) to measure")
    p.add_argument("--parts", default="full,late", help="the parts of the video: full, late or both (default)")
    p.add_argument("--resamples", type=int, default=10000, help="bootstrap resamples of the people (default 10000)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--workers", type=int, default=2, help="frame-decoding workers (default 2; --smoke: 0)")
    p.add_argument("--smoke", action="store_true", help="seconds: 3 identities, 8 frames a tracklet, 64x32 frames")
    args = p.parse_args()
    args.root = args.root or os.path.join("runs", "real_footage", "vtest" if args.boxes == "loose" else "vtest_tight")
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if not args.parts or set(args.parts) - set(PARTS):
        print(f"real_footage: --parts {','.join(args.parts)!r}: expected some of {', '.join(PARTS)}", file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(args.threads)
    if args.smoke:
        args.workers = 0
    from vidreid.data.datasets.vtest import find_video
    from vidreid.errors import VidReIDError
    if args.smoke:
        try:
            find_video(args.video)
        except VidReIDError as e:                     # a fresh clone without opencv-doc's video: nothing to smoke
            print(f"real_footage --smoke: skipped ({e})")
            return 0
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
    print(f"vtest ({os.path.abspath(args.root)}), {args.boxes} boxes, gao protocol"
          + (" [--smoke: 3 identities, 8 frames]" if args.smoke else ""))
    for (split, part), ds in sets.items():
        print(f"  {split:<17} {part:<4}: {len(ds.query)} query, {len(ds.gallery)} gallery tracklets, "
              f"{len({t.pid for t in ds.query})} identities")
    head = "| features | " + " | ".join(f"{SHORT[s]} {p} mAP | R1" for s, p in sets) + " | s |"
    lines = [head, "|---|" + "---|---|" * len(sets) + "---|"]
    results = {"random ranking": {key: chance(ds) for key, ds in sets.items()}}
    lines.append("| random ranking (mean of 5) | " + " | ".join(
        f"{100 * r.ap.mean():.1f} | {100 * r.r1.mean():.1f}" for r in results["random ranking"].values()) + " | |")
    notes = []
    for row in rows:
        t0 = time.perf_counter()
        feats = row.make(args)
        if isinstance(feats, str):
            notes.append(f"{row.name}: skipped ({feats})")
            continue
        wanted = {key: ds for key, ds in sets.items() if key[1] in row.parts}
        feats.prepare([t for ds in wanted.values() for t in ds.query + ds.gallery])
        results[row.name] = {key: per_query(feats.distances(ds.query, ds.gallery), ds) for key, ds in wanted.items()}
        cells = [f"{100 * results[row.name][k].ap.mean():.1f} | {100 * results[row.name][k].r1.mean():.1f}"
                 if k in wanted else "— | —" for k in sets]
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.0f} |")
        notes.append(feats.note)
        print(lines[-1], flush=True)
    lines += interval_tables(results, sets, {r.name for r in rows if r.classical}, args.resamples)
    print()
    print("\n".join(lines))
    print("\n".join(f"  {n}" for n in notes))
    print(f"95 % intervals: percentile bootstrap over people, {args.resamples} resamples, seed 0 "
          f"(vidreid/eval/bootstrap.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
