"""`vidreid models`: every registered model with its paper, the backbones it runs on, parameters and GFLOPs."""

HELP = "list the models: paper, backbones each runs on, parameters and GFLOPs (8 frames of 256x128)"


def add_arguments(p):
    p.add_argument("names", nargs="*", metavar="MODEL", help="only these models (default: all)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--no-cache", action="store_true", help="recount instead of reading the cached counts")


def format_models(rows: list[dict]) -> str:
    head = f"{'model':<10} {'params (M)':>10} {'GFLOPs':>8}  {'backbones':<30} paper"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("kind", "network") != "network":                    # classical features, fusion: no network
            lines.append(f"{r['name']:<10} {'-':>10} {'-':>8}  {'(' + r['kind'] + ', no backbone)':<30} {r['paper']}")
            continue
        lines.append(f"{r['name']:<10} {r['params'] / 1e6:>10.2f} {r['gflops']:>8.2f}  "
                     f"{', '.join(r['backbones']) or '-':<30} {r['paper']}")
    lines.append("params and GFLOPs (FLOPs = 2 x MACs) of one eval forward of 8 frames of 256x128 with each model's "
                 "default backbone and 625 classes; `vidreid flops MODEL` counts other settings")
    return "\n".join(lines)


def run(args) -> int:
    import json

    from ..listing import model_rows
    rows = model_rows(args.names or None, use_cache=not args.no_cache)
    print(json.dumps(rows, indent=1) if args.json else format_models(rows))
    return 0
