"""Feature files: the tracklet features of one split, with what made them, so a stale file is never reused.

A feature file is a safetensors file holding `features` (N, D) float32, `pids` (N,) int64, `camids` (N,) int64 and
`track_ids` (N,) int64 (the tracklet's index in the split's list), and string metadata:
  * model_hash:  the feature-space identity of the checkpoint (vidreid.store.identity: its weights and the
                 model settings stored in it), the hash search indexes record too;
  * config_hash: sha256 of the settings that change features without changing the checkpoint: input size,
                 normalisation, test sampling and clip length, autocast precision, feature-file format version;
  * code_hash:   sha256 of the vidreid version and of the source files that compute a feature: the model's module
                 (and the vidreid.models modules it uses), the backbones, streaming, and the frame pipeline (decode,
                 transforms, sampling, extraction) -- a code change that changes features is never served stale;
  * data_hash:   sha256 of the dataset name, root and the split's tracklet list (frame paths, pids, camids, in order),
                 the size and modification time of a fixed sample of frames (first and last of every tracklet: two
                 stats per tracklet, no frame is read) and of the dataset's index files (see `index_files`);
plus readable context (checkpoint path, dataset, split, sampling, the hashed settings as JSON, frames, seconds).

Default location: <run dir>/features/<split>-<sampling>-<key8>.safetensors, the run dir being the folder above the
checkpoint's `checkpoints/` folder (else the checkpoint's folder), key8 the first 8 hex digits of a hash of the
config hash and the dataset's identity (name, root, split index, data and eval protocols, loader options). Same
settings, same dataset -> same file name, so a retrained checkpoint or a changed tracklet list is found and reported stale (then
recomputed and overwritten), never silently reused. Files are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import __version__
from ..config import Config
from ..data.types import Tracklet
from ..errors import CheckpointError, OutputError
from ..utils.io import atomic_path
from ..store.checkpoint import Checkpoint, checkpoint_hash
from ..store.run_folder import features_folder

FORMAT = "vidreid-features"
FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------------- hashes
def eval_settings(cfg: Config, sampling: str, amp: str = "off") -> dict:
    """The settings that change the features of a given checkpoint on a given tracklet list."""
    d = cfg.data
    return {"format_version": FORMAT_VERSION, "height": d.height, "width": d.width, "mean": list(d.mean),
            "std": list(d.std), "sampling": sampling, "seq_len": d.test_seq_len or d.seq_len, "amp": amp}


def _json_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# modules (relative to the vidreid package) that turn frame files into a feature, whatever the model
_PIPELINE_SOURCES = ("__init__.py", "models/backbones/__init__.py", "models/backbones/base.py",
                     "models/backbones/resnet.py", "models/backbones/mobilenet.py", "models/backbones/weights.py",
                     "models/heads.py", "models/registry.py",
                     "models/streaming.py", "data/decode.py", "data/transforms.py", "data/sampling.py",
                     "data/loader.py", "inference/extract.py")
_code_hashes: dict[str, str] = {}


def model_source_files(model_name: str) -> list[str]:
    """Absolute paths of the source files that decide `model_name`'s features: its module, the vidreid.models
    modules that module uses (heads, non-local blocks, streaming ...), and `_PIPELINE_SOURCES`."""
    import types

    from ..models import registry
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = {os.path.join(package, rel) for rel in _PIPELINE_SOURCES}
    gone = sorted(f for f in files if not os.path.isfile(f))
    if gone:  # a moved module would silently leave the feature identity: fail loudly instead
        raise RuntimeError(f"feature_cache._PIPELINE_SOURCES lists files that do not exist: {gone}")
    builder = registry._MODELS.get(model_name)
    module = sys.modules.get(getattr(builder, "__module__", "") or "")
    if module is not None:
        files.add(os.path.abspath(module.__file__))
        for value in vars(module).values():                            # what the model's module imported
            used = value if isinstance(value, types.ModuleType) else sys.modules.get(
                getattr(value, "__module__", None) or "")
            if used is not None and used.__name__.startswith("vidreid.models") and getattr(used, "__file__", None):
                files.add(os.path.abspath(used.__file__))
    return sorted(f for f in files if os.path.isfile(f))


def code_hash(model_name: str) -> str:
    """sha256 of the vidreid version and the bytes of `model_source_files(model_name)` (memoised per process)."""
    if model_name not in _code_hashes:
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256(f"vidreid {__version__}\0{model_name}\0".encode())
        for path in model_source_files(model_name):
            with open(path, "rb") as f:
                h.update(f"{os.path.relpath(path, package)}\0".encode() + f.read() + b"\0")
        _code_hashes[model_name] = h.hexdigest()
    return _code_hashes[model_name]


_INDEX_FOLDER_MAX_ENTRIES = 64                                         # more: a folder of data, not of index files
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def index_files(root: str) -> list[str]:
    """The dataset's index files, found without walking the frames: the regular files at the top of `root`
    (manifests, PRID's splits json, LS-VID's lists) and those of each top-level folder that holds only a few
    non-image files and no folder (MARS/SynthPed `info/`, iLIDS-VID's `train-test people splits/`)."""
    out = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:                                              # a few dozen entries at most
        if entry.is_file():
            out.append(entry.path)
        elif entry.is_dir():
            try:
                inner = sorted(os.scandir(entry.path), key=lambda e: e.name)
            except OSError:
                continue
            if (len(inner) <= _INDEX_FOLDER_MAX_ENTRIES and all(e.is_file() for e in inner)
                    and not any(e.name.lower().endswith(_IMAGE_SUFFIXES) for e in inner)):
                out.extend(e.path for e in inner)
    return out


def _stat_signature(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def data_hash(dataset_name: str, root: str, tracklets: list[Tracklet]) -> str:
    """sha256 of the dataset name, root, every tracklet's (pid, camid, frame paths) in order, the size and mtime of
    the first and last frame of every tracklet, and the size and mtime of the dataset's `index_files`. Cost: two
    stats per tracklet (24k on MARS's test split, a fraction of a second), no frame read."""
    root = os.path.abspath(root)
    h = hashlib.sha256(f"{dataset_name}\0{root}\0{len(tracklets)}\0".encode())
    for path in index_files(root):
        h.update(f"index {os.path.relpath(path, root)}\0{_stat_signature(path)}\0".encode())
    for t in tracklets:                                                # one update per tracklet, no file read
        h.update(f"{t.pid}\0{t.camid}\0{len(t.frames)}\0".encode())
        h.update("\0".join(t.frames).encode())
        if t.frames:                                                   # rewritten / replaced frames
            h.update(f"\0{_stat_signature(t.frames[0])}\0{_stat_signature(t.frames[-1])}\0".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class FeatureKey:
    """What a feature file must have been made with to be reused."""
    model_hash: str
    config_hash: str
    data_hash: str
    name_hash: str                                                     # settings + dataset identity, for file names
    code_hash: str = ""                                                # vidreid version + feature source code

    def mismatches(self, meta: dict) -> list[str]:
        """Why a file with metadata `meta` does not match this key ([] when it does)."""
        reasons = []
        for field, what in (("model_hash", "the checkpoint changed"),
                            ("config_hash", "the eval settings changed"),
                            ("code_hash", "the vidreid version or the model / feature code changed"),
                            ("data_hash", "the tracklet list or its files changed")):
            theirs, ours = meta.get(field, ""), getattr(self, field)
            if theirs != ours:
                reasons.append(f"{what} ({field.split('_')[0]} hash {theirs[:8] or 'missing'} -> {ours[:8]})")
        return reasons


def feature_key(checkpoint: str, cfg: Config, dataset_name: str, root: str, tracklets: list[Tracklet],
                sampling: str, amp: str = "off", model_hash: str | None = None) -> tuple[FeatureKey, dict]:
    """-> (key, the hashed eval settings)."""
    settings = eval_settings(cfg, sampling, amp)
    config_hash = _json_hash(settings)
    # eval.protocol too: its rules may ask for another gallery than data.protocol's (evaluate.gallery_for_protocol)
    identity = [config_hash, dataset_name, os.path.abspath(root), cfg.data.split, cfg.data.protocol,
                cfg.eval.protocol, cfg.data.options]
    key = FeatureKey(model_hash or checkpoint_hash(checkpoint), config_hash, data_hash(dataset_name, root, tracklets),
                     _json_hash(identity), code_hash(cfg.model.name))
    return key, settings


def default_feature_path(checkpoint: str, split: str, sampling: str, key: FeatureKey,
                         folder: str | None = None) -> str:
    folder = folder or features_folder(checkpoint)
    return os.path.join(folder, f"{split}-{sampling}-{key.name_hash[:8]}.safetensors")


# --------------------------------------------------------------------------------------------------- files
def save_features(path: str, features: np.ndarray, tracklets: list[Tracklet], key: FeatureKey,
                  meta: dict | None = None) -> None:
    """Write a feature file atomically (see the module docstring for its layout)."""
    import torch
    from safetensors.torch import save_file
    n = len(tracklets)
    if features.shape[0] != n:
        raise ValueError(f"{features.shape[0]} feature rows for {n} tracklets")
    tensors = {"features": torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
               "pids": torch.tensor([t.pid for t in tracklets], dtype=torch.int64),
               "camids": torch.tensor([t.camid for t in tracklets], dtype=torch.int64),
               "track_ids": torch.arange(n, dtype=torch.int64)}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "vidreid_version": __version__,
                "model_hash": key.model_hash, "config_hash": key.config_hash, "data_hash": key.data_hash,
                "code_hash": key.code_hash,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    metadata.update({k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in (meta or {}).items()})
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def read_features(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """-> (arrays features/pids/camids/track_ids, metadata). CheckpointError if not a vidreid feature file."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable feature file ({e})") from None
    missing = {"features", "pids", "camids", "track_ids"} - set(arrays)
    if meta.get("format") != FORMAT or missing:
        raise CheckpointError(f"{path}: not a vidreid feature file (format {meta.get('format')!r}, "
                              f"missing {sorted(missing)})")
    return arrays, meta


def read_metadata(path: str) -> dict:
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, framework="numpy") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable feature file ({e})") from None


def is_feature_file(path: str) -> bool:
    """True for a file written by save_features (a cache file: reusing or replacing it loses nothing)."""
    try:
        return read_metadata(path).get("format") == FORMAT
    except CheckpointError:
        return False


def load_if_valid(path: str, key: FeatureKey, tracklets: list[Tracklet]) -> tuple[np.ndarray | None, str]:
    """-> (features, "") when `path` holds features made with `key` for these tracklets, else (None, why not)."""
    if not os.path.exists(path):
        return None, f"no cached features at {path}"
    try:
        reasons = key.mismatches(read_metadata(path))
        if reasons:
            return None, f"cached features {path} are stale: " + "; ".join(reasons)
        arrays, _ = read_features(path)
    except CheckpointError as e:
        return None, str(e)
    pids = np.fromiter((t.pid for t in tracklets), dtype=np.int64, count=len(tracklets))
    if arrays["features"].shape[0] != len(tracklets) or not np.array_equal(arrays["pids"], pids):
        return None, f"cached features {path} do not match the {len(tracklets)} tracklets"
    return arrays["features"].astype(np.float32, copy=False), ""


def explain_missing(path: str, key: FeatureKey, settings: dict) -> str:
    """Why there is no file at `path`: other settings' files for the same checkpoint and tracklets, if any."""
    folder, name = os.path.split(path)
    prefix = name.rsplit("-", 1)[0] + "-"                              # <split>-<sampling>-
    try:
        siblings = sorted(f for f in os.listdir(folder) if f.startswith(prefix) and f != name)
    except OSError:
        siblings = []
    for other in siblings:
        try:
            meta = read_metadata(os.path.join(folder, other))
            theirs = json.loads(meta.get("settings", "{}"))
        except (CheckpointError, ValueError):
            continue
        if meta.get("model_hash") == key.model_hash and meta.get("data_hash") == key.data_hash:
            changed = ", ".join(f"{k} {theirs.get(k)!r} -> {v!r}" for k, v in settings.items() if theirs.get(k) != v)
            return f"no cached features at {path} ({other} has other settings: {changed or 'other dataset options'})"
    return f"no cached features at {path}"


# --------------------------------------------------------------------------------------------------- eval helper
class CachedExtractor:
    """`extractor(tracklets, split) -> (N, D) features` for `vidreid.inference.evaluate.evaluate_model` and
    `vidreid extract`: reuses the split's feature file when its hashes match (and says so), else extracts (saying
    why) and writes the file.

    model_factory: builds the model only when something must be extracted (a full cache hit loads no weights).
    folder: where feature files live (default <run dir>/features); path: one explicit file instead (one split);
    enabled=False extracts and writes nothing; force=True extracts and writes even if a valid file exists.
    `last_stats` holds the last extraction's frames, seconds and aggregation ({} after a cache hit)."""

    def __init__(self, model_factory: Callable, cfg: Config, checkpoint: str | Checkpoint, dataset_name: str, root: str,
                 sampling: str, device="cpu", folder: str | None = None, path: str | None = None,
                 enabled: bool = True, force: bool = False, progress: bool = True, amp: str | None = None,
                 chunk: int | None = None, channels_last: bool | None = None,
                 log: Callable[[str], None] | None = None):
        from .extract import resolve_amp
        self.model_factory, self.cfg = model_factory, cfg
        self.ck = checkpoint if isinstance(checkpoint, Checkpoint) else None   # opened on first use otherwise
        self.checkpoint = checkpoint.path if isinstance(checkpoint, Checkpoint) else checkpoint
        self.dataset_name, self.root, self.sampling, self.device = dataset_name, root, sampling, device
        self.folder, self.path, self.enabled, self.force = folder, path, enabled, force
        self.progress, self.chunk, self.channels_last = progress, chunk, channels_last
        self.amp = resolve_amp(cfg, device, amp)
        self.log = log or (lambda msg: print(f"vidreid: {msg}", file=sys.stderr))
        self._model = None
        self._model_hash: str | None = None
        self.reused: list[str] = []                                    # splits served from a feature file
        self.last_stats: dict = {}
        self.last_path: str | None = None

    def opened(self) -> Checkpoint:
        if self.ck is None:
            self.ck = Checkpoint.open(self.checkpoint)
        return self.ck

    def model(self):
        if self._model is None:
            self._model = self.model_factory()
        return self._model

    def __call__(self, tracklets: list[Tracklet], split: str) -> np.ndarray:
        from .extract import extract_features
        path = key = settings = None
        self.last_stats, self.last_path = {}, None
        if self.enabled:
            if self._model_hash is None:
                self._model_hash = self.opened().hash
            key, settings = feature_key(self.checkpoint, self.cfg, self.dataset_name, self.root, tracklets,
                                        self.sampling, self.amp, self._model_hash)
            path = self.path or default_feature_path(self.checkpoint, split, self.sampling, key, self.folder)
            self.last_path = path
            if not self.force:
                features, why = load_if_valid(path, key, tracklets)
                if features is None and not os.path.exists(path):
                    why = explain_missing(path, key, settings)
                if features is not None:
                    self.log(f"{split}: reusing cached features {path}")
                    self.reused.append(split)
                    return features
                self.log(f"{split}: {why}; extracting")
        stats: dict = {}
        features = extract_features(self.model(), tracklets, self.cfg, self.sampling, self.device, split,
                                    self.progress, chunk=self.chunk, amp=self.amp, channels_last=self.channels_last,
                                    stats=stats)
        self.last_stats = stats
        if self.enabled and self.opened().changed():
            self.log(f"warning: {self.checkpoint} changed during extraction; its features are not cached")
            self.last_path = None
        elif self.enabled:
            meta = {"checkpoint": os.path.abspath(self.checkpoint), "dataset": self.dataset_name,
                    "root": os.path.abspath(self.root), "split": split, "sampling": self.sampling,
                    "settings": settings, "aggregation": stats.get("aggregation", ""),
                    "frames": stats.get("frames", 0), "seconds": round(stats.get("seconds", 0.0), 3)}
            if os.path.lexists(path) and not is_feature_file(path):   # never write over a file that is not ours
                self.log(f"warning: {path} exists and is not a vidreid feature file: not writing over it")
                self.last_path = None
                return features
            try:
                save_features(path, features, tracklets, key, meta)
                self.log(f"{split}: wrote {path}")
            except (OSError, OutputError) as e:                     # a cache that cannot be written is not fatal
                self.log(f"warning: could not write the feature file {path} ({getattr(e, 'strerror', None) or e})")
                self.last_path = None
        return features
