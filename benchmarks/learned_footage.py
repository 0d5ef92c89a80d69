"""The learned pipeline against the body-region colour baseline on real footage (vtest), with 95 % intervals.

    .venv/bin/python benchmarks/learned_footage.py --checkpoint demo=runs/demo/checkpoints/last.safetensors \
        --checkpoint recommended=runs/demo/checkpoints/recommended.safetensors \
        --checkpoint "recommended, no masks=runs/demo/checkpoints/recommended.safetensors@keep"

Sets: vtest (vidreid/data/datasets/vtest.py) `strict_cross_pass` (a query's own second half and the rest of its walk
are junk: re-finding a person on another pass), `main` and the lenient `cross_pass`, whole video, gao rules. Rows: the body-region colour
histograms (configs/body_colour.yaml, the reference row), the same mask-weighted (the crops' masks/), then one row
per --checkpoint, each evaluated with its own config (--background / --grayscale change every checkpoint row: see
benchmarks/real_footage.py). Per row and set: mAP and R1 with 95 % intervals from the bootstrap over PEOPLE
(vidreid/eval/bootstrap.py, 10,000 resamples), and the paired mAP difference to the reference row, marked * when
its interval excludes 0 (beyond the person-level noise).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_footage as rf                                     # noqa: E402  (rows and feature makers)

SETS = ("strict_cross_pass", "main", "cross_pass")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", help="the crops' folder (default runs/real_footage/vtest, or vtest_tight with --boxes "
                                  "tight: real_footage.py's)")
    p.add_argument("--boxes", choices=("loose", "tight"), default="loose",
                   help="vtest's boxes: the tracker's (loose) or refined by HOG at 2x (tight)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH[@OPTION]",
                   help="a row; @keep / @suppress: that data.background, @grayscale: luma-only frames")
    p.add_argument("--background", choices=("keep", "suppress"), help="every checkpoint row with this")
    p.add_argument("--grayscale", action="store_true", help="every checkpoint row on luma-only frames")
    p.add_argument("--no-classical", action="store_true", help="checkpoint rows only (no reference: no differences)")
    p.add_argument("--compare-to", action="append", default=[], metavar="LABEL",
                   help="also print every row's paired mAP difference to this row (a --checkpoint label or the "
                        "start of one; repeatable)")
    p.add_argument("--part", choices=("full", "late"), default="full",
                   help="late: frames >= 400 only, for checkpoints adapted on the frames before (vtest's adapt set)")
    p.add_argument("--resamples", type=int, default=10000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="seconds: 3 identities, 8 frames a tracklet, 64x32 frames")
    args = p.parse_args()
    args.video = None
    if args.smoke:
        args.workers, args.resamples = 0, 200
    import torch
    torch.set_num_threads(2)
    from vidreid.data import load_dataset
    from vidreid.eval.bootstrap import paired_differences, person_bootstrap
    from vidreid.eval.metrics import per_query_metrics
    args.root = args.root or os.path.join("runs", "real_footage", "vtest" if args.boxes == "loose" else "vtest_tight")
    os.makedirs(os.path.dirname(os.path.abspath(args.root)), exist_ok=True)   # the crops are cut into ROOT
    sets = {s: load_dataset("vtest", args.root, evaluation=s, part=args.part, boxes=args.boxes) for s in SETS}
    if args.smoke:                                                # the first 3 people, 8 frames a tracklet
        import dataclasses
        keep = sorted({t.pid for t in sets["main"].query})[:3]
        sets = {s: dataclasses.replace(ds, **{k: [t._replace(frames=t.frames[:8]) for t in getattr(ds, k)
                                                 if t.pid in keep] for k in ("query", "gallery")})
                for s, ds in sets.items()}
    rows = [] if args.no_classical else [
        ("body-region colour (configs/body_colour.yaml)", rf.classical("body_colour.yaml"), ""),
        ("body-region colour, mask-weighted", rf.classical("body_colour.yaml", background="suppress",
                                                           skip_colour=[124, 116, 104]), "")]
    for spec in args.checkpoint:
        label, _, path = spec.partition("=")
        path, _, option = path.partition("@")                     # PATH@keep, PATH@suppress, PATH@grayscale
        rows.append((label, rf.named_checkpoint(label, path), option))
    per = {s: [] for s in SETS}                                   # set -> per row (ap (Q,), r1 (Q,))
    notes = []
    for label, make, option in rows:
        saved = (args.background, args.grayscale)
        if label.startswith("body-region"):
            args.background, args.grayscale = None, False         # the references stay what they are
        if option in ("keep", "suppress"):
            args.background = option
        args.grayscale = args.grayscale or option == "grayscale"
        feats = make(args)
        args.background, args.grayscale = saved
        feats.prepare([t for ds in sets.values() for t in ds.query + ds.gallery])
        notes.append(f"{label}: {feats.note}")
        for s, ds in sets.items():
            q, g = ds.query, ds.gallery
            m = per_query_metrics(feats.distances(q, g), [t.pid for t in q], [t.pid for t in g],
                                  [t.camid for t in q], [t.camid for t in g], "gao")
            valid = m["num_good"] > 0
            per[s].append((m["ap"][valid], (m["first_rank"][valid] == 1).astype(float),
                           np.array([t.pid for t in q])[valid]))
        print(f"done: {label}", flush=True)
    labels = [label for label, _, _ in rows]
    references = [_row_named(labels, name) for name in args.compare_to]      # before the tables: a typo stops here
    head = "| features | " + " | ".join(f"{s} mAP [95% CI] | R1 | Δ mAP vs body colour" for s in SETS) + " |"
    lines = [head, "|---|" + "---|---|---|" * len(SETS)]
    cells = {i: [] for i in range(len(rows))}
    for s in SETS:
        aps = np.stack([a for a, _, _ in per[s]])
        r1s = np.stack([r for _, r, _ in per[s]])
        people = per[s][0][2]
        ci, r1 = person_bootstrap(aps, people, args.resamples), person_bootstrap(r1s, people, args.resamples)
        diff = None if args.no_classical else paired_differences(aps, people, 0, args.resamples)
        for i in range(len(rows)):
            d = "" if diff is None or i == 0 else (f"{100 * diff.mean[i]:+.1f} [{100 * diff.low[i]:+.1f}, "
                                                   f"{100 * diff.high[i]:+.1f}]{'*' if diff.beyond_noise[i] else ''}")
            cells[i].append(f"{100 * ci.mean[i]:.1f} [{100 * ci.low[i]:.1f}, {100 * ci.high[i]:.1f}] | "
                            f"{100 * r1.mean[i]:.1f} | {d}")
    for i, (label, _, _) in enumerate(rows):
        lines.append(f"| {label} | " + " | ".join(cells[i]) + " |")
    print("\n".join(lines))
    print(f"queries / people: " + ", ".join(f"{s} {len(per[s][0][0])} / {len(set(per[s][0][2].tolist()))}"
                                          for s in SETS))
    print("\n".join(f"  {n}" for n in notes))
    for ref in references:                                        # the same bootstrap, another reference row
        print(f"\nΔ mAP vs {labels[ref]} (paired over people, 95 % interval, * = excludes 0)")
        print("| features | " + " | ".join(SETS) + " |\n|---|" + "---|" * len(SETS))
        diffs = [paired_differences(np.stack([a for a, _, _ in per[s]]), per[s][0][2], ref, args.resamples)
                 for s in SETS]
        for i, label in enumerate(labels):
            if i != ref:
                print(f"| {label} | " + " | ".join(f"{100 * d.mean[i]:+.1f} [{100 * d.low[i]:+.1f}, "
                                                   f"{100 * d.high[i]:+.1f}]{'*' if d.beyond_noise[i] else ''}"
                                                   for d in diffs) + " |")
    return 0


def _row_named(labels: list[str], name: str) -> int:
    """The index of the row whose label is `name` or starts with it (exactly one)."""
    hits = [i for i, label in enumerate(labels) if label == name] or \
           [i for i, label in enumerate(labels) if label.startswith(name)]
    if len(hits) != 1:
        raise SystemExit(f"--compare-to {name!r}: {'no' if not hits else 'more than one'} row is labelled so "
                         f"(rows: {'; '.join(labels)})")
    return hits[0]


if __name__ == "__main__":
    sys.exit(main())
