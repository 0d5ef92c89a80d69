"""`vidreid eval`: the options; the work is vidreid/workflows/evaluation.py."""
from ..options import add_config_arguments, add_fuse_arguments, add_overwrite_argument, add_progress_argument

HELP = "evaluate a checkpoint on the config's dataset under a named protocol"


def add_arguments(p):
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint",
                   help="a .safetensors checkpoint written by vidreid train, or 'none' for the --config's model "
                        "as initialised (ImageNet backbone, no training): what training adds on your data. Not "
                        "needed for a classical --config (colour_hist, lomo): its metric, if any, is fitted on the "
                        "train split and saved in <train.output_dir>/checkpoints")
    add_fuse_arguments(p, "evaluate")
    p.add_argument("--protocol", choices=["mars", "gao"], help="evaluation protocol (default: the config's)")
    p.add_argument("--sampling", choices=["rrs", "dense", "all", "evenly"], help="test-time clip sampling")
    p.add_argument("--metric", choices=["euclidean", "cosine"], help="distance")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--json", help="also write the metrics to this JSON file (an existing file is replaced only with "
                                  "--overwrite; an input never)")
    add_overwrite_argument(p, "replace an existing --json file and the files of an earlier eval in --out")
    p.add_argument("--split", help="split of a multi-split dataset (ilidsvid, prid2011): an index, or 'all' for "
                                   "every split and their mean; a checkpoint path containing {split} gives one "
                                   "checkpoint per split (runs/ilids{split}/checkpoints/best.safetensors)")
    p.add_argument("--no-cache", action="store_true",
                   help="always extract, and write no feature file (default: reuse <run dir>/features/ files whose "
                        "checkpoint, settings and tracklet hashes match, else extract and write them)")
    p.add_argument("--features-dir", help="folder of cached feature files (default: <run dir>/features)")
    p.add_argument("--out", help="folder for the pictures (cmc.png, ranked.png, camera_pairs.png, reliability.png) "
                                 "and calibration.json (default: <run dir>/eval/<checkpoint name>-<protocol>, "
                                 "numbered -2, -3 ... when that exists)")
    p.add_argument("--ranked", type=int, default=6, metavar="N",
                   help="queries in the ranked-list picture, hits and failures (default 6; 0 = no picture)")
    p.add_argument("--no-plots", action="store_true", help="write no pictures and no calibration")
    add_progress_argument(p, "no progress display")




def run(args) -> int:
    from ..workflows.evaluation import evaluate
    return evaluate(args)
