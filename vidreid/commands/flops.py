"""`vidreid flops MODEL`: parameters and GFLOPs of a registered model's eval forward (vidreid/models/flops.py)."""

HELP = "count parameters and GFLOPs (attention products included; conv/linear-only separately) of a model"


def _size(text: str) -> tuple[int, int]:
    import argparse
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h < 1 or w < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x128, got {text!r}") from None
    return h, w


def add_arguments(p):
    p.add_argument("model", help="registered model name (tp, ta, rnn, sta, drsta, nvan, ste_nvan, rru_stim ...)")
    p.add_argument("--frames", type=int, default=8, help="frames per clip T (default 8)")
    p.add_argument("--size", type=_size, default=(256, 128), metavar="HxW", help="frame size (default 256x128)")
    p.add_argument("--batch", type=int, default=1, help="clips in the counted batch (numbers are per clip)")
    p.add_argument("--backbone", help="resnet18 | resnet34 | resnet50 (default: the model's)")
    p.add_argument("--last-stride", type=int, choices=[1, 2], help="layer4 stride (default: the model's)")
    p.add_argument("--num-classes", type=int, default=625, help="classifier size (default 625, MARS train ids)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, value parsed as YAML (repeatable), e.g. --set num_stripes=8")
    p.add_argument("--device", default="auto",
                   help="auto (meta device, shapes only; CPU if the model needs values) | cpu | cuda | meta")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")


def format_counts(r: dict) -> str:
    lines = [
        f"{r['model']}: {r['frames']} frames of {r['size'][0]}x{r['size'][1]} per clip (FLOPs = 2 x MACs)",
        f"  parameters               {r['params'] / 1e6:10.2f} M  ({r['params']:,})",
        f"  GFLOPs total             {r['gflops']:10.2f}    ({r['gflops_per_frame']:.2f} per frame)"
        "  attention products included",
        f"  GFLOPs conv+linear only  {r['gflops_conv_linear']:10.2f}    "
        f"({r['gflops_conv_linear_per_frame']:.2f} per frame)",
        f"  GFLOPs attention etc.    {r['gflops_attention']:10.2f}    (matrix products between activations"
        + (f": {r['gflops_attention'] * 1e3:.3g} MFLOPs)" if 0 < r['gflops_attention'] < 0.005 else ")"),
        f"  GMACs total / conv+lin.  {r['gmacs']:10.2f} / {r['gmacs_conv_linear']:.2f}",
    ]
    return "\n".join(lines)


def run(args) -> int:
    import json

    import yaml

    from ..errors import ConfigError
    from ..models.flops import count_model

    from ..models.registry import model_kind
    if model_kind(args.model) != "network":
        raise ConfigError(f"{args.model} is not a network (classical feature or fusion): its work is numpy, not "
                          f"counted in FLOPs")
    if args.frames < 1 or args.batch < 1:
        raise ConfigError(f"--frames and --batch must be >= 1, got {args.frames} and {args.batch}")
    kwargs = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        kwargs[key.strip()] = yaml.safe_load(value)
    if args.backbone:
        kwargs["backbone"] = args.backbone
    if args.last_stride:
        kwargs["last_stride"] = args.last_stride
    r = count_model(args.model, args.frames, args.size, args.batch, args.num_classes, args.device, **kwargs)
    print(json.dumps(r, indent=1) if args.json else format_counts(r))
    return 0
