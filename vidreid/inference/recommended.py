"""The recommended checkpoint for unlabeled footage: one file that eval, index build and search use on any folder or
manifest of tracklets, with no train split.

What it is: the demo network (TP on an ImageNet MobileNetV2, trained on a SynthPed whose garment colours tell
people apart, configs/demo.yaml) fused with body-region colour histograms (vidreid/configs/recommended_colour.yaml:
the centre strip of the box, upper / lower body, HSV, Hellinger; nothing fitted). The fusion weight and the two
distance scales -- its calibration -- are chosen on SynthPed's held-out training identities (inference/fused_checkpoint.py)
and stored in the checkpoint's buffers, so using it needs nothing from the footage. Its config sets
`data.background: suppress`: where crops have foreground masks (`vidreid tracklets --masks`) the network sees the
background greyed out and the histograms skip it (mask-weighted); where they have none, crops are used as they are. Why this pair: BENCHMARKS.md,
"Learned pipeline on real footage" (the network alone uses colour too little; the histogram alone has no shape).

`write_recommended(network_checkpoint, dataset, out)` makes the fused checkpoint (cached next to the network's,
named by its hash) and writes a copy at `out` (default <checkpoints>/recommended.safetensors) whose metadata says
what it is (`recommended`: the recipe, the parts, the weight and scales).
"""
from __future__ import annotations

import os
from types import SimpleNamespace
from importlib.resources import as_file, files

RECOMMENDED = "recommended.safetensors"
COLOUR_CONFIG = ("configs", "recommended_colour.yaml")      # inside the vidreid package


def describe(meta: dict) -> str:
    """One line saying what a recommended (or any fused) checkpoint is, from its metadata."""
    f = meta.get("fusion") or {}
    cfg = meta.get("config") or {}
    kw = (cfg.get("model") or {}).get("kwargs") or {}
    if not f:
        return f"{(cfg.get('model') or {}).get('name', '?')} network (no fusion)"
    return (f"{kw.get('network', '?')} network + body-region {kw.get('classical', '?')} (weight "
            f"{f.get('weight', float('nan')):.2f} on the colour, scales {f.get('scale_net', float('nan')):.4f} / "
            f"{f.get('scale_cls', float('nan')):.4f}, chosen on {f.get('chosen_on', meta.get('dataset', '?'))}'s "
            f"held-out identities)")


def write_recommended(network_checkpoint: str, dataset, out: str | None = None, device="cpu", progress: bool = False,
                      overwrite: bool = False, log=print) -> str:
    """Path of the recommended checkpoint written for `network_checkpoint` (module docstring); `dataset` is the one
    the network was trained on (its train split's held-out identities choose the weight)."""
    from ..store.checkpoint import read_checkpoint, save_checkpoint
    from ..errors import CheckpointError
    from .fused_checkpoint import fused_checkpoint
    out = out or recommended_path(network_checkpoint)
    if os.path.lexists(out) and not overwrite:
        raise CheckpointError(f"{out} exists; pass --force (demo), --overwrite (recommend) or choose another path")
    with as_file(files("vidreid").joinpath(*COLOUR_CONFIG)) as colour:
        fused = fused_checkpoint(network_checkpoint, str(colour), "auto", dataset, device, progress, log=log)
    state, meta = read_checkpoint(fused)
    # masks where the footage has them (vidreid tracklets --masks): background out of both parts; none: unchanged
    meta["config"]["data"]["background"] = "suppress"
    meta = dict(meta, recommended={"what": describe(meta), "fused_from": os.path.basename(fused),
                                   "network_checkpoint": os.path.abspath(network_checkpoint)})
    save_checkpoint(out, SimpleNamespace(state_dict=lambda: state), meta)     # the fused weights, as they are
    return out


def recommended_path(network_checkpoint: str) -> str:
    """Where the recommended checkpoint of `network_checkpoint` goes by default: beside it."""
    return os.path.join(os.path.dirname(os.path.abspath(network_checkpoint)), RECOMMENDED)


def trained_on(checkpoint, progress: bool = False):
    """The dataset `checkpoint` (a store.checkpoint.Checkpoint) was trained on, whose held-out identities choose the
    fusion: read only where it already exists (a checkpoint's stored paths never direct a generation)."""
    from ..builders import prepare_dataset
    from .model import open_checkpoint
    cfg, _ = open_checkpoint(checkpoint)
    return prepare_dataset(cfg, progress)
