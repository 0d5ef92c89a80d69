"""`vidreid datasets`: every registered dataset with the folder layout its loader expects and its protocols."""

HELP = "list the datasets: folder layout expected, evaluation protocols, loader options"


def add_arguments(p):
    p.add_argument("names", nargs="*", metavar="DATASET", help="only these datasets (default: all)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--layout", action="store_true", help="print each dataset's whole folder tree")


def format_datasets(rows: list[dict], full_layout: bool = False) -> str:
    lines = []
    for r in rows:
        protocols = ", ".join(p + (" (default)" if p == r["default_protocol"] else "") for p in r["protocols"])
        lines.append(f"{r['name']}")
        lines.append(f"  protocols  {protocols}")
        lines.append(f"  options    {', '.join(r['options'])}")
        if full_layout and r["layout"]:
            lines.append("  layout")
            lines += ["    " + line for line in r["layout"].splitlines()]
        else:
            lines.append(f"  layout     {r['layout_short'] or '-'}")
    if not full_layout:
        lines.append("\n(--layout prints each folder tree; docs/datasets.md describes every dataset)")
    return "\n".join(lines)


def run(args) -> int:
    import json

    from ..listing import dataset_rows
    rows = dataset_rows(args.names or None)
    print(json.dumps(rows, indent=1) if args.json else format_datasets(rows, args.layout))
    return 0
