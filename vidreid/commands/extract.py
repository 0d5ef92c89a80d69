"""`vidreid extract`: one split's features to a feature file (inference/feature_cache.py)."""
from ..options import add_config_arguments, add_force_argument, add_progress_argument

HELP = "extract the tracklet features of a split to a feature file (reused by `vidreid eval`)"


def add_arguments(p):
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint written by vidreid train")
    p.add_argument("--split", required=True, choices=["query", "gallery"], help="which tracklets (the split index of iLIDS-VID / PRID2011 is the override data.split=N)")
    p.add_argument("--sampling", choices=["all", "dense", "rrs", "evenly"],
                   help="test-time clip sampling (default: the config's); `all` streams every frame, exactly, in "
                        "bounded memory")
    p.add_argument("--out", help="feature file to write (default: <run dir>/features/<split>-<sampling>-<key>"
                                 ".safetensors, where `vidreid eval` looks); an existing file there must be a "
                                 "vidreid feature file (reused if up to date, else replaced), anything else is "
                                 "never written over")
    p.add_argument("--chunk", type=int, help="frames per forward for `all` sampling (default: data.test_batch_size "
                                             "x test clip length)")
    p.add_argument("--workers", type=int, help="frame-decoding worker processes (default: data.workers)")
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], help="autocast (default: train.amp on CUDA, off on CPU)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format (faster convolutions on GPUs)")
    add_force_argument(p, "extract even if the file is up to date")
    add_progress_argument(p, "no progress bar")


def run(args) -> int:
    from ..workflows.extraction import extract
    return extract(args)
