"""`vidreid export`: the eval graph of a checkpoint as ONNX, checked against PyTorch (vidreid/export.py)."""
from ..options import add_overwrite_argument

HELP = "export a checkpoint's eval graph (ONNX, dynamic batch and T) for deployment"


def add_arguments(p):
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint written by vidreid train")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (onnx)")
    p.add_argument("--frames", type=int, help="frames T of the example clip (default: the checkpoint's test clip "
                                              "length); the exported T is dynamic except for rru_stim")
    p.add_argument("--out", help="output file (default: the checkpoint's path with .onnx); an existing file is "
                                 "replaced only with --overwrite, the checkpoint never")
    add_overwrite_argument(p, "replace an existing --out file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--static-frames", action="store_true", help="fix T to --frames (dynamic batch only)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-PyTorch comparison")
    p.add_argument("--json", action="store_true", help="print the export report as JSON")


def run(args) -> int:
    import json

    from ..export import export_onnx
    report = export_onnx(args.checkpoint, args.out, args.frames, opset=args.opset,
                         dynamic_frames=False if args.static_frames else None, check=not args.no_check,
                         overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    shape = " x ".join(str(v) for v in report["input"]["shape"])
    print(f"wrote {report['path']}  ({report['model']}, opset {report['opset']})")
    print(f"  input   clips    {shape}  (RGB/255, normalised with mean {report['metadata']['mean']}, "
          f"std {report['metadata']['std']})")
    print(f"  output  features batch x {report['output']['shape'][1]}")
    if not report["dynamic_frames"]:
        print(f"  T fixed at {report['frames']}: {report['static_frames_reason']}")
    if report["check"]:
        cases = ", ".join(f"B={c['batch']} T={c['frames']}" for c in report["check"]["cases"])
        print(f"  check   onnxruntime vs PyTorch max |diff| {report['check']['max_abs_diff']:.1e} ({cases})")
    return 0
