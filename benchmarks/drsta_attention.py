"""How diverse and how peaked are a trained DRSTA's K spatial attention maps? (BENCHMARKS.md, "DRSTA diversity
normalisation"): for each checkpoint, on the first N query tracklets of its SynthPed (first T frames each):

    .venv/bin/python benchmarks/drsta_attention.py runs/fid_drsta_sum/drsta/checkpoints/last.safetensors \
        runs/fid_drsta_pairs/drsta/checkpoints/last.safetensors

prints R (the paper's ||QQ^T - I||_F^2, frame mean) and R / K(K-1), the mean largest weight of a map (uniform =
1 / positions) and how many of the K maps sit on distinct argmax positions per frame.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def clips(cfg, dataset, n: int, frames: int) -> torch.Tensor:
    """The first `frames` frames of the first `n` query tracklets, as the model's input (n, T, 3, H, W)."""
    from vidreid.data.decode import read_clip
    from vidreid.data.transforms import normalize_clip, resize_clip, to_float_clip
    d = cfg.data
    out = []
    for t in dataset.query[:n]:
        x = to_float_clip(read_clip(t.frames, range(min(frames, len(t.frames))), (d.height, d.width)))
        out.append(normalize_clip(resize_clip(x, d.height, d.width), d.mean, d.std))
    return torch.stack(out)                                           # (n, T, 3, H, W)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="*")
    p.add_argument("--tracklets", type=int, default=32)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--smoke", action="store_true", help="seconds: an untrained DRSTA on a tiny SynthPed, 4 tracklets")
    args = p.parse_args(argv)
    if args.smoke:
        from _smoke import smoke_dir, untrained_checkpoint
        args.checkpoints, args.tracklets = [untrained_checkpoint(smoke_dir("drsta_attention"), "drsta")], 4
    if not args.checkpoints:
        p.error("give at least one checkpoint (or --smoke)")
    torch.set_num_threads(1)
    from vidreid.builders import prepare_dataset
    from vidreid.config import config_from_dict
    from vidreid.store.checkpoint import read_checkpoint
    from vidreid.inference.model import build_model_from_checkpoint
    from vidreid.models.drsta import hellinger_diversity
    for path in args.checkpoints:
        cfg = config_from_dict(read_checkpoint(path)[1]["config"])
        model = build_model_from_checkpoint(path)[0].eval()
        x = clips(cfg, prepare_dataset(cfg, progress=False), args.tracklets, args.frames)
        with torch.no_grad():
            A = model(x, return_attention=True).attention["spatial"].flatten(0, 1).flatten(2)  # (n*T, K, L)
        distinct = torch.tensor([len(set(row.tolist())) for row in A.argmax(-1)]).float().mean()
        print(f"{path}: diversity_norm={model.diversity_norm} K={A.shape[1]} positions={A.shape[2]} "
              f"R={hellinger_diversity(A).item():.2f} R/K(K-1)={hellinger_diversity(A, 'pairs').item():.3f} "
              f"mean max weight={A.amax(-1).mean().item():.3f} (uniform {1 / A.shape[2]:.3f}) "
              f"distinct argmax positions per frame={distinct.item():.2f} of {A.shape[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
