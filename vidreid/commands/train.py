"""`vidreid train`: the options; training is vidreid/engine/train.py."""
from ..options import add_config_arguments, add_force_argument, add_progress_argument

HELP = "train a model from a YAML config (key=value overrides allowed)"


def add_arguments(p):
    add_config_arguments(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in train.output_dir (= train.resume=auto; starts afresh "
                        "if there is none); resume=PATH or train.resume=PATH resumes from a given .state.pt")
    add_force_argument(p, "replace a previous run in train.output_dir (its checkpoints/, metrics.json, train.log ... "
                          "are deleted first; without --force or --resume such a folder is refused)")
    add_progress_argument(p, "no progress bars (logs only)")
    p.add_argument("--nproc", type=int, metavar="N",
                   help="train on N processes of this machine (DDP: one GPU each where there are N, else gloo on "
                        "the CPU), started by vidreid as `torchrun --standalone --nproc_per_node N` would, with "
                        "one line when something fails; several machines: torchrun (docs/training.md)")


def config_from_args(args):
    """The config: file, then --resume (as train.resume=auto), then the dotted overrides (so an explicit
    train.resume=PATH given with --resume wins)."""
    from ..config import load_config
    overrides = (["train.resume=auto"] if args.resume else []) + list(args.overrides)
    return load_config(args.config, overrides)


def resume_command(args) -> str:
    """The command line that continues this run (what the user typed, --force dropped, --resume added)."""
    import shlex
    words = ["vidreid", "train", "--config", args.config, *args.overrides, "--resume"]
    if args.no_progress:
        words.insert(2, "--no-progress")
    if getattr(args, "nproc", None):
        words[2:2] = ["--nproc", str(args.nproc)]
    return " ".join(shlex.quote(w) for w in words)


def rank_argv(args) -> list[str]:
    """The argument list each rank of `--nproc` runs (`vidreid` + this), --nproc kept for the resume hint."""
    words = ["train", "--config", args.config, "--nproc", str(args.nproc), *args.overrides]
    return words + [flag for flag, on in (("--resume", args.resume), ("--force", args.force),
                                          ("--no-progress", args.no_progress)) if on]


def check_before_launch(cfg) -> None:
    """What the `--nproc` launcher refuses before it starts any rank: the config and its overrides, the model's
    options, a dataset that is missing or malformed (SynthPed is left to rank 0, which generates it) -- one line
    from one process, instead of N processes importing torch to fail the same way."""
    from ..builders import check_model_config, prepare_dataset
    check_model_config(cfg)
    if cfg.data.dataset != "synthped":
        prepare_dataset(cfg, progress=False)


def run(args) -> int:
    import os
    if args.nproc is not None and "RANK" not in os.environ:      # the launcher; the ranks have RANK set
        from ..engine.launch import launch_ranks
        check_before_launch(config_from_args(args))
        return launch_ranks(args.nproc, rank_argv(args))

    from ..engine.train import TrainingInterrupted, train
    from ..workflows.training import draw_training
    cfg = config_from_args(args)
    from ..models.registry import model_kind
    kind = model_kind(cfg.model.name)
    if kind != "network":
        from ..errors import ConfigError
        raise ConfigError(f"model {cfg.model.name!r} is a {kind} model, not a network: nothing to train (`vidreid "
                          f"eval --config ...` fits a classical feature's metric on the train split; `vidreid eval "
                          f"--checkpoint NET --fuse CONFIG` makes a fusion)")
    try:
        res = train(cfg, progress=not args.no_progress, force=args.force and not args.resume)
    except TrainingInterrupted as e:
        hint = f"; continue with: {resume_command(args)}" if e.last_checkpoint else ""
        raise TrainingInterrupted(f"{e}{hint}", e.last_checkpoint, e.run_dir, e.exit_code) from None
    # under torchrun only rank 0 writes the run directory's files
    picture = draw_training(cfg.train.output_dir) if int(os.environ.get("RANK", "0")) == 0 else None
    print(f"run directory: {cfg.train.output_dir} (metrics.json, train.log, checkpoints/"
          + (f", {os.path.basename(picture)}" if picture else "") + ")")
    return 0 if res else 1
