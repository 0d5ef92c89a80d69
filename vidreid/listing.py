"""What vidreid knows: its models (paper, backbones each runs on, size and compute) and datasets (layout, protocols),
for `vidreid models` and `vidreid datasets`.

Nothing here is a hand-kept list that could go stale: a model "runs on" a backbone when `build_model` builds it with
that backbone (ConfigError = refused), on the meta device (shapes only, no memory, no weights); a dataset accepts a
protocol when its loader, pointed at a missing folder, fails on the folder rather than refusing the protocol.
Parameters and GFLOPs come from `vidreid.models.flops.count_model` at 8 frames of 256x128, each model's defaults,
625 classes (the table of docs/models.md). The model rows are cached on disk, keyed by the vidreid and torch versions
and the bytes of vidreid/models/*.py, so a new backbone or model invalidates them.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys

COUNT_FRAMES, COUNT_SIZE, COUNT_CLASSES = 8, (256, 128), 625

# the paper each model implements (models added later fall back to their module docstring's first line)
PAPERS = {
    "tp": "Gao & Nevatia, Revisiting Temporal Modeling for Video-based Person ReID, BMVC 2018 (temporal pooling)",
    "ta": "Gao & Nevatia, Revisiting Temporal Modeling for Video-based Person ReID, BMVC 2018 (temporal attention)",
    "rnn": "Gao & Nevatia, Revisiting Temporal Modeling for Video-based Person ReID, BMVC 2018 (RNN)",
    "sta": "Fu et al., STA: Spatial-Temporal Attention for Large-Scale Video-based Person Re-Identification, "
           "AAAI 2019",
    "drsta": "Li et al., Diversity Regularized Spatiotemporal Attention for Video-based Person "
             "Re-identification, CVPR 2018",
    "nvan": "Liu et al., Spatially and Temporally Efficient Non-local Attention Network for Video-based Person "
            "Re-Identification, BMVC 2019 (NVAN)",
    "ste_nvan": "Liu et al., Spatially and Temporally Efficient Non-local Attention Network for Video-based Person "
                "Re-Identification, BMVC 2019 (STE-NVAN)",
    "rru_stim": "Liu et al., Spatial and Temporal Mutual Promotion for Video-based Person Re-identification, "
                "AAAI 2019 (RRU + STIM)",
    "colour_hist": "classical: colour histograms over horizontal stripes (rgb/hsv/lab/ycbcr, Hellinger); "
                   "metric none | xqda | kissme",
    "lomo": "classical: Liao et al., Person Re-identification by Local Maximal Occurrence Representation and Metric "
            "Learning, CVPR 2015 (LOMO; metric none | xqda | kissme)",
    "fused": "a network checkpoint fused with a classical feature (vidreid eval --fuse; docs/models.md)",
}


def _paper(name: str, builder) -> str:
    if name in PAPERS:
        return PAPERS[name]
    doc = inspect.getdoc(sys.modules.get(builder.__module__)) or inspect.getdoc(builder) or ""
    return doc.splitlines()[0] if doc else "-"


def runs_on(name: str, backbone: str) -> tuple[bool, str]:
    """(True, "") when model `name` builds with `backbone`, else (False, the one-line reason)."""
    from .errors import ConfigError
    from .models import build_model
    from .models.meta import on_device
    try:
        with on_device("meta"):
            build_model(name, num_classes=2, input_size=COUNT_SIZE, backbone=backbone, pretrained=None)
    except ConfigError as e:
        return False, str(e).splitlines()[0]
    return True, ""


def _cache_key() -> str:
    import torch

    from . import __version__
    from .models import list_models
    from .models.backbones import list_backbones
    h = hashlib.sha256(f"{__version__}|{torch.__version__}|{list_models()}|{list_backbones()}".encode())
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    for f in sorted(os.listdir(folder)):                              # any change to a model's code counts
        if f.endswith(".py"):
            with open(os.path.join(folder, f), "rb") as fh:
                h.update(f.encode() + fh.read())
    return h.hexdigest()[:16]


def _cache_path(key: str) -> str:
    from .utils.io import user_cache_dir
    return user_cache_dir(f"models-{key}.json")


def model_rows(names: list[str] | None = None, use_cache: bool = True) -> list[dict]:
    """One dict per registered model (or per name in `names`): name, paper, backbones (it runs on), refused
    ({backbone: reason}), params, gflops (8 frames of 256x128, the model's default backbone)."""
    from .errors import ConfigError
    from .models import list_models
    from .models.backbones import list_backbones
    from .models.flops import count_model
    from .models.registry import _MODELS, model_kind

    known = list_models(classical=True)
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise ConfigError(f"unknown model {unknown[0]!r}; expected one of {', '.join(known)}")
    cache, path = {}, None
    if use_cache:
        path = _cache_path(_cache_key())
        try:
            with open(path) as f:
                cache = json.load(f)
        except (OSError, ValueError):
            cache = {}
    rows, changed = [], False
    for name in names or known:                                       # loop over models (a handful)
        kind = model_kind(name)
        if kind != "network":                                         # no network of its own to count
            rows.append({"name": name, "kind": kind, "paper": _paper(name, _MODELS[name]), "backbones": [],
                         "refused": {}, "params": 0, "gflops": None})
            continue
        if name not in cache:
            ok, refused = [], {}
            for b in list_backbones():
                runs, why = runs_on(name, b)
                if runs:
                    ok.append(b)
                else:
                    refused[b] = why
            counted_on = "the model's default"
            try:
                counted = count_model(name, COUNT_FRAMES, COUNT_SIZE, 1, COUNT_CLASSES)
            except ConfigError:                                       # e.g. a default the model itself refuses
                if not ok:
                    raise
                counted_on = ok[0]
                counted = count_model(name, COUNT_FRAMES, COUNT_SIZE, 1, COUNT_CLASSES, backbone=ok[0])
            cache[name] = {"name": name, "kind": kind, "paper": _paper(name, _MODELS[name]), "backbones": ok, "refused": refused,
                           "params": int(counted["params"]), "gflops": round(float(counted["gflops"]), 3),
                           "counted_at": {"frames": COUNT_FRAMES, "size": list(COUNT_SIZE),
                                          "num_classes": COUNT_CLASSES, "backbone": counted_on}}
            changed = True
        rows.append(cache[name])
    if changed and path is not None:
        from .utils.io import atomic_write_text
        try:
            atomic_write_text(path, json.dumps(cache, indent=1))
        except OSError:                                               # a read-only home: just no cache
            pass
    return rows


# ------------------------------------------------------------------------------------------------ datasets
def _layout(name: str, loader) -> tuple[str, str]:
    module = sys.modules.get(loader.__module__)
    full = getattr(module, f"{name.upper()}_LAYOUT", None) or getattr(module, "LAYOUT", "")
    short = getattr(module, f"{name.upper()}_LAYOUT_SHORT", None) or getattr(module, "LAYOUT_SHORT", "")
    return full, short


def accepts_protocol(name: str, protocol: str) -> bool:
    """Whether dataset `name` loads under `protocol`: its loader, given a folder that does not exist, refuses the
    protocol (ConfigError) before it looks for the folder (DatasetError)."""
    from .data.datasets import dataset_loader
    from .errors import ConfigError, DatasetError
    missing = os.path.join(os.sep, "nonexistent-vidreid-listing-root", "x")
    try:
        dataset_loader(name)(missing, protocol=protocol)
    except ConfigError:
        return False
    except (DatasetError, OSError):
        return True
    return True


def dataset_rows(names: list[str] | None = None) -> list[dict]:
    """One dict per registered dataset: name, layout (the folder tree its loader expects), layout_short,
    protocols (accepted), default_protocol, options (loader keyword options)."""
    from .data.datasets import dataset_loader, dataset_options, list_datasets
    from .errors import ConfigError
    from .eval.metrics import PROTOCOLS
    known = list_datasets()
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise ConfigError(f"unknown dataset {unknown[0]!r}; expected one of {', '.join(known)}")
    rows = []
    for name in names or known:
        loader = dataset_loader(name)
        full, short = _layout(name, loader)
        p = inspect.signature(loader).parameters.get("protocol")
        rows.append({"name": name, "layout": full, "layout_short": short,
                     "protocols": [pr for pr in PROTOCOLS if accepts_protocol(name, pr)],
                     "default_protocol": p.default if p is not None else None,
                     "options": dataset_options(name)})
    return rows
