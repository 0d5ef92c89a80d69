"""`vidreid recommend`: the recommended checkpoint for unlabeled footage made from any network checkpoint
(vidreid/inference/recommended.py), as `make demo` makes it from the demo's network."""
from __future__ import annotations

from ..options import add_overwrite_argument, add_progress_argument

HELP = "fuse a network checkpoint with body-region colour into one checkpoint for unlabeled footage"

EPILOG = """the fusion weight and the two distance scales are chosen on the held-out training identities of the dataset
CHECKPOINT was trained on (read where it already exists; never generated from a checkpoint's metadata). The result
works in `vidreid eval`, `index build` and `search` on any folder or manifest of tracklets, masks used where the
crops have them. Example: a longer-trained STA (BENCHMARKS.md, "Learned pipeline on real footage", (e2))."""


def add_arguments(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("--checkpoint", required=True, help="a network checkpoint written by vidreid train or adapt")
    p.add_argument("--out", help="where to write it (default: recommended.safetensors beside CHECKPOINT)")
    add_overwrite_argument(p, "replace an existing --out file")
    add_progress_argument(p, "no progress bars")


def run(args) -> int:
    from ..errors import VidReIDError
    from ..inference.recommended import describe, recommended_path, trained_on, write_recommended
    from ..store.checkpoint import Checkpoint
    from ..utils.io import check_output_file
    checkpoint = Checkpoint.open(args.checkpoint)                      # a bad checkpoint fails here, in one line
    out = args.out or recommended_path(args.checkpoint)
    if not out.endswith(".safetensors"):
        raise VidReIDError(f"--out {out}: a checkpoint file ends in .safetensors")
    out = check_output_file(out, "--out", args.overwrite, inputs={"checkpoint": args.checkpoint})
    if checkpoint.meta.get("fusion"):
        raise VidReIDError(f"{args.checkpoint} is a fused checkpoint already: give the network checkpoint it was made "
                           f"from ({(checkpoint.meta.get('recommended') or {}).get('network_checkpoint', '?')})")
    dataset = trained_on(checkpoint, progress=not args.no_progress)
    path = write_recommended(args.checkpoint, dataset, out, progress=not args.no_progress,
                             overwrite=args.overwrite, log=lambda *a: None)
    print(f"recommended: {path}\n             {describe(Checkpoint.open(path).meta)}")
    return 0
