from ..options import add_overwrite_argument

HELP = "draw a model's own attention on one tracklet (frames with the spatial maps, temporal/part weights beside)"


def add_arguments(p):
    p.add_argument("--config", default=None,
                   help="YAML config (dataset, frame size, sampling); default: the config stored in the checkpoint")
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint written by vidreid train")
    p.add_argument("--tracklet", type=int, required=True, help="0-based index of the tracklet in --split")
    p.add_argument("--split", choices=["query", "gallery", "train"], default="query",
                   help="which list the index refers to (default: query)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames in the clip (default: the config's test_seq_len, else seq_len)")
    p.add_argument("--sampling", choices=["rrs", "evenly", "consecutive", "all"],
                   help="how the clip's frames are picked (default: the config's test sampling; dense -> rrs)")
    p.add_argument("--out", default=None,
                   help="PNG path (default: <run dir>/explain_<model>_<split><N>.png next to the checkpoints/ folder)")
    p.add_argument("--json", default=None, help="also write the attention values to this JSON file")
    add_overwrite_argument(p, "replace existing --out / --json files (inputs such as the checkpoint are never "
                              "replaced)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")


def run(args) -> int:
    from ..workflows.explanation import explain
    return explain(args)
