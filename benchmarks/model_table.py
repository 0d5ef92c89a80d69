"""Regenerate the model tables of docs/models.md: parameters and FLOPs of every registered model, next to the papers'.

    .venv/bin/python benchmarks/model_table.py                          # print the tables (markdown)
    .venv/bin/python benchmarks/model_table.py --update docs/models.md  # rewrite the block between the markers
    .venv/bin/python benchmarks/model_table.py --smoke                  # two rows, seconds (tests/test_benchmarks_smoke)

Counts come from vidreid.models.flops.count_model (FlopCounterMode, FLOPs = 2 x MACs, eval forward of one clip,
625 classes = MARS training ids), on the meta device: shapes only, so the whole table takes seconds on a CPU.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"

# (row label, registered name, frames, (H, W), backbone kwargs, paper compute, paper MARS mAP / R1, note)
PAPER_SETTINGS = [
    ("tp", "tp", 4, (256, 128), {"last_stride": 2}, "—", "75.8 / 83.1", "Gao & Nevatia: 4 frames, last stride 2"),
    ("ta", "ta", 4, (256, 128), {"last_stride": 2}, "—", "76.7 / 83.3", "Gao & Nevatia (their TA ran as TP, typo)"),
    ("rnn", "rnn", 4, (256, 128), {"last_stride": 2}, "—", "73.9 / 81.6", "Gao & Nevatia"),
    ("sta", "sta", 4, (256, 128), {"last_stride": 1}, "—", "80.8 / 86.3", "Fu et al.: N = 4, K = 4"),
    ("drsta", "drsta", 6, (256, 128), {"last_stride": 2}, "—", "65.8 / 82.3", "Li et al.: N = 6, K = 6"),
    ("tp (ResNet-50+FPL baseline of NVAN)", "tp", 8, (256, 128), {"last_stride": 1},
     "32.7 conv+lin GMACs", "79.4 / 87.4", "Liu et al. BMVC 2019 baseline"),
    ("nvan", "nvan", 8, (256, 128), {"last_stride": 1},
     "43.5 conv+lin + ≈20 attn GMACs", "82.8 / 90.0", "Liu et al. BMVC 2019"),
    ("ste_nvan", "ste_nvan", 8, (256, 128), {"last_stride": 1},
     "17.9 conv+lin + ≈0.5 attn GMACs; −72.7% vs NVAN", "81.2 / 88.9", "Liu et al. BMVC 2019"),
    ("rru_stim", "rru_stim", 8, (256, 128), {"last_stride": 1}, "—", "72.7 / 84.4",
     "paper: Inception-v3 at 299x299; here ResNet-50"),
]


def _fmt(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}f}"


def paper_table(settings=PAPER_SETTINGS) -> tuple[str, dict]:
    from vidreid.models import list_models
    from vidreid.models.flops import count_model

    registered = set(list_models())
    head = ("| model | frames | input | backbone | params (M) | GFLOPs total | GFLOPs conv+linear | GFLOPs attention "
            "| GMACs conv+linear / attention | paper compute | paper MARS mAP / R1 | setting |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows, results = [head], {}
    for label, name, frames, size, kw, paper_compute, paper_mars, note in settings:
        backbone = f"ResNet-50, last stride {kw['last_stride']}"
        if name not in registered:
            rows.append(f"| {label} | {frames} | {size[0]}x{size[1]} | {backbone} | — | — | — | — | — "
                        f"| {paper_compute} | {paper_mars} | not registered yet |")
            continue
        r = count_model(name, frames=frames, size=size, backbone="resnet50", **kw)
        results[label] = r
        rows.append(
            f"| {label} | {frames} | {size[0]}x{size[1]} | {backbone} | {r['params'] / 1e6:.2f} | {_fmt(r['gflops'])} "
            f"| {_fmt(r['gflops_conv_linear'])} | {_fmt(r['gflops_attention'])} "
            f"| {_fmt(r['gmacs_conv_linear'])} / {_fmt(r['gmacs_attention'])} | {paper_compute} | {paper_mars} "
            f"| {note} |")
    if "nvan" in results and "ste_nvan" in results:
        saving = 1 - results["ste_nvan"]["gflops"] / results["nvan"]["gflops"]
        rows.append(f"\nSTE-NVAN needs {100 * saving:.1f}% fewer FLOPs than NVAN (attention products included; "
                    f"paper: 72.7%).")
    return "\n".join(rows), results


def common_table(frames: int = 8, size: tuple[int, int] = (256, 128)) -> str:
    """Every registered model at one setting, with its own vidreid defaults (backbone ResNet-50, model's stride)."""
    from vidreid.models import build_model, list_models
    from vidreid.models.flops import count_model

    rows = ["| model | last stride (vidreid default) | params (M) | GFLOPs total | GFLOPs per frame "
            "| GFLOPs conv+linear | GFLOPs attention |\n|---|---|---|---|---|---|---|"]
    import torch
    for name in list_models():
        try:
            r = count_model(name, frames=frames, size=size)
        except Exception as e:  # e.g. a model that refuses this T
            rows.append(f"| {name} | — | — | — | — | — | {type(e).__name__}: {e} |")
            continue
        with torch.device("meta"):
            model = build_model(name, 625, input_size=size)
        stride = model.backbone.layer4[0].conv2.stride[0] if hasattr(model, "backbone") else "?"
        rows.append(f"| {name} | {stride} | {r['params'] / 1e6:.2f} | {_fmt(r['gflops'])} "
                    f"| {_fmt(r['gflops_per_frame'])} | {_fmt(r['gflops_conv_linear'])} "
                    f"| {_fmt(r['gflops_attention'])} |")
    return "\n".join(rows)


def render() -> str:
    table1, _ = paper_table()
    return (f"{START}\n"
            "<!-- generated by: .venv/bin/python benchmarks/model_table.py --update docs/models.md -->\n\n"
            "### At the papers' settings\n\n"
            f"{table1}\n\n"
            "### All models at one setting: 8 frames of 256x128, each model's vidreid defaults\n\n"
            f"{common_table()}\n\n{END}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", metavar="MARKDOWN", help="replace the generated block of this file")
    parser.add_argument("--smoke", action="store_true", help="seconds: count TP and NVAN only, print, write nothing")
    args = parser.parse_args()
    if args.smoke:
        print(paper_table([s for s in PAPER_SETTINGS if s[0] in ("tp", "nvan")])[0])
        return 0
    block = render()
    if not args.update:
        print(block)
        return 0
    with open(args.update) as f:
        text = f.read()
    if START not in text or END not in text:
        print(f"{args.update}: no {START} ... {END} block to replace", file=sys.stderr)
        return 2
    text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    tmp = args.update + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.update)
    print(f"updated {args.update}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
