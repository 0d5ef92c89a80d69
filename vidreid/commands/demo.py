from ..options import add_force_argument, add_progress_argument

HELP = ("generate SynthPed, fine-tune TP from an ImageNet-pretrained MobileNetV2 on it, evaluate (mars "
        "protocol) and draw the results")

def add_arguments(p):
    p.add_argument("--config", default=None,
                   help="demo config (default: the packaged vidreid/configs/demo.yaml, = configs/demo.yaml)")
    p.add_argument("--out", default=None, help="run directory (default: the config's train.output_dir, runs/demo)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted demo run from its newest checkpoint (= train.resume=auto)")
    add_force_argument(p, "replace a previous demo run in the run directory (its checkpoints/, metrics.json ...)")
    add_progress_argument(p, "no progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")

def run(args) -> int:
    from ..workflows.training import run_demo
    return run_demo(args.config, args.out, args.resume, args.force, args.overrides, progress=not args.no_progress)
