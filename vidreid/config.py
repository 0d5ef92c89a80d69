"""Experiment configuration: nested dataclasses loaded from YAML, with dotted `key=value` overrides.

Unknown keys are an error (a typo must never silently fall back to a default).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError


@dataclass
class DataConfig:
    dataset: str = "synthped"           # registered dataset name (vidreid.data.list_datasets())
    root: str = "data/synthped"         # dataset root folder
    protocol: str = ""                  # evaluation protocol: mars (official) | gao (torchreid / Gao & Nevatia); "" = the dataset's own
    split: int = 0                      # split index for datasets with several (iLIDS-VID, PRID2011)
    options: dict = field(default_factory=dict)  # extra loader options (e.g. prid2011 seed/min_frames, lsvid subset)
    synth: dict = field(default_factory=dict)  # SynthPed options (ids, cams, size, seed ...) used when generating root
    height: int = 256                   # input frame height
    width: int = 128                    # input frame width
    seq_len: int = 4                    # T: frames per training clip
    train_sampling: str = "consecutive" # consecutive | rrs | evenly
    test_sampling: str = "dense"        # dense | rrs | evenly | all
    test_seq_len: int = 0               # T at test time (0 = same as seq_len)
    num_instances: int = 4              # K: tracklets per identity in a PK batch
    batch_size: int = 32                # clips per training batch (P*K)
    test_batch_size: int = 32           # clips per extraction batch
    workers: int | str = "auto"         # DataLoader worker processes (0 = main process; auto = usable cores - 1, <= 12)
    prefetch: int = 0                   # batches each worker prepares ahead (0 = auto: 4 with a GPU, else 2)
    frame_cache: str = ""               # pre-decoded frame cache folder (`vidreid cache build`); "" = decode JPEGs
    pad: int = 10                       # zero padding before the random crop (0 disables pad+crop)
    flip: float = 0.5                   # horizontal flip probability
    random_erasing: float = 0.0         # random erasing probability (same box on every frame of a clip)
    # camera-style (photometric) jitter of training clips, one draw per clip (vidreid/data/photometric.py); all 0 = off
    photo_brightness: float = 0.0       # exposure: gain factor in [1-b, 1+b]
    photo_white_balance: float = 0.0    # white balance: per-channel gains in [1-w, 1+w] (normalised to mean 1)
    photo_gamma: float = 0.0            # tone curve: gamma in [1/(1+g), 1+g]
    photo_contrast: float = 0.0         # contrast factor in [1-c, 1+c]
    photo_saturation: float = 0.0       # saturation factor in [1-s, 1+s]
    photo_hue: float = 0.0              # hue shift in [-h, h] turns (0.5 = any hue)
    photo_blur: float = 0.0             # Gaussian blur sigma in [0, this] pixels (of the decoded frame)
    photo_jpeg_min: int = 0             # JPEG re-encode at a quality in [this, 95] (0 = never)
    photo_prob: float = 1.0             # share of training clips that get the jitter (when any strength is > 0)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)  # ImageNet normalisation (one value per RGB channel)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    strict: bool = False                # corrupt/missing frame: error (True) or skip with a warning (False)
    background: str = "keep"            # keep | suppress: pixels outside a frame's foreground mask (a masks/ file
                                        # beside it, vidreid/data/background.py) set to the mean colour; frames
                                        # without a mask are left as they are


@dataclass
class ModelConfig:
    name: str = "tp"                    # registered model name (vidreid.models.list_models())
    backbone: str | None = "resnet50"   # resnet18 | resnet34 | resnet50 ...; null for the classical features (no network)
    last_stride: int | None = None      # stride of layer4 (1 keeps a 16x8 map at 256x128); None = the model's default
    pretrained: str | None = None       # None | "imagenet" | path to a torchvision-style state dict
    freeze_stages: int = 0              # keep the backbone's stem and first N stages at their (ImageNet) weights,
                                        # batch-norm statistics included: 0 = train everything
    kwargs: dict = field(default_factory=dict)  # model-specific options (e.g. bnneck, num_parts, spatial_norm)


@dataclass
class LossConfig:
    ce_weight: float = 1.0              # weight of cross-entropy on the logits
    label_smoothing: float = 0.1        # epsilon of label-smoothed cross-entropy
    triplet_weight: float = 1.0         # weight of batch-hard triplet on every feature the model returns
    triplet_margin: float = 0.3         # m of the hard hinge max(0, m + d_ap - d_an), >= 0 (0: a hinge at 0)
    triplet_soft_margin: bool = False   # true: soft margin log(1 + exp(d_ap - d_an)) instead (triplet_margin unused)
    triplet_distance: str = "euclidean" # distance inside the triplet loss: euclidean | cosine
    triplet_weights: dict = field(default_factory=dict)  # feature name -> multiplier of triplet_weight (missing: 1)
    reg_weights: dict = field(default_factory=dict)  # regulariser name -> weight (missing names weigh 1.0)


@dataclass
class OptimConfig:
    name: str = "adam"                  # adam | sgd | adamw
    lr: float = 3e-4                    # base learning rate
    weight_decay: float = 5e-4
    momentum: float = 0.9               # SGD only
    scheduler: str = "step"             # step | cosine | none
    warmup_epochs: int = 0              # linear warm-up from lr*warmup_factor
    warmup_factor: float = 0.1
    step_size: int = 50                 # step scheduler: decay every step_size epochs
    gamma: float = 0.1                  # step scheduler: decay factor


@dataclass
class TrainConfig:
    epochs: int = 100
    iters_per_epoch: int = 0            # 0 = one pass of the PK sampler
    eval_every: int = 10                # evaluate every N epochs (0 = only at the end)
    log_every: int = 20                 # iterations between log lines
    seed: int = 0
    device: str = "auto"                # auto | cpu | cuda | cuda:N
    amp: str = "off"                    # mixed precision: off | bf16 | fp16 (fp16 uses a gradient scaler)
    channels_last: bool = False         # NHWC memory format (faster convolutions on recent GPUs)
    sync_bn: bool = False               # batch norm over the global batch (STE-NVAN's authors blame per-GPU BN for a gap)
    output_dir: str = "runs/default"
    threads: int = 0                    # torch intra-op threads (0 = torch default)
    checkpoint_every: int = 0           # also checkpoint every N steps (0 = at epoch ends only)
    keep_last: int = 2                  # step checkpoints kept (plus last.safetensors and best.safetensors)
    resume: str = ""                    # "" = start fresh | auto = latest checkpoint in output_dir | path to a .state.pt
    tensorboard: bool = True            # write TensorBoard scalars to output_dir/tb (if tensorboard is installed)
    deterministic: bool = False         # torch.use_deterministic_algorithms (repeatable runs at some speed cost)


@dataclass
class EvalConfig:
    protocol: str = ""                  # "" = data.protocol
    sampling: str = ""                  # "" = data.test_sampling
    metric: str = "euclidean"           # euclidean | cosine
    rerank: bool = False                # k-reciprocal re-ranking (Zhong et al., CVPR 2017)
    max_rank: int = 50


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_FREE_DICTS = {"kwargs", "reg_weights", "triplet_weights", "synth", "options"}  # dict fields whose keys are not checked here
_ALIASES = {"resume": "train.resume"}  # top-level shorthands accepted in overrides (`resume=auto`)


@functools.lru_cache(maxsize=None)
def _field_types(cls) -> dict[str, Any]:
    """Field name -> resolved annotation (this module uses `from __future__ import annotations`, so the raw
    annotations are strings)."""
    return typing.get_type_hints(cls)


def _merge(obj, updates: dict, where: str, source: str) -> None:
    if not isinstance(updates, dict):
        raise ConfigError(f"{source}: {where or 'top level'} must be a mapping, got {type(updates).__name__}")
    names = {f.name: f for f in dataclasses.fields(obj)}
    types_ = _field_types(type(obj))
    for key, value in updates.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"{source}: unknown config key {path!r}; valid keys here: {', '.join(names)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _merge(current, value, path, source)
        elif key in _FREE_DICTS and isinstance(current, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {path} must be a mapping, got {value!r}")
            current.update(value)
        else:
            setattr(obj, key, _coerce(value, types_.get(key, Any), path, source))


def _type_name(tp) -> str:
    if tp is type(None):
        return "null"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        plural = {float: "numbers", int: "integers", str: "strings", bool: "true/false values"}
        return f"a list of {plural.get(args[0], _type_name(args[0]))}" if len(args) == 2 and args[1] is Ellipsis \
            else "a list"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", tuple: "a list",
            list: "a list", dict: "a mapping"}.get(tp, getattr(tp, "__name__", str(tp)))


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp) -> Any:
    """`value` as type `tp` (a field annotation), or _Mismatch. YAML gives us bool/int/float/str/list/dict/None."""
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:  # int | None: the first alternative that accepts the value
            if a is not type(None):
                try:
                    return _convert(value, a)
                except _Mismatch:
                    pass
        raise _Mismatch
    if value is None:
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp in (int, float):
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                value = float(value)
            except ValueError:
                raise _Mismatch from None
        if not isinstance(value, (int, float)):
            raise _Mismatch
        if tp is float:
            return float(value)
        if isinstance(value, float) and not value.is_integer():  # epochs=2.5 is a mistake, not 2
            raise _Mismatch
        return int(value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if tp is tuple or origin is tuple or tp is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if args and len(args) == 2 and args[1] is Ellipsis:
            value = [_convert(v, args[0]) for v in value]
        return list(value) if list in (tp, origin) else tuple(value)
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise _Mismatch
    return value  # an annotation this function does not know: taken as given


def _coerce(value: Any, tp, path: str, source: str) -> Any:
    """`value` converted to the field's annotated type; ConfigError naming the key, the value and the type."""
    try:
        return _convert(value, tp)
    except _Mismatch:
        raise ConfigError(f"{source}: {path} must be {_type_name(tp)}, got {value!r}"
                          + (f" ({type(value).__name__})" if value is not None else "")) from None


class _Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true / false. YAML 1.1 also reads yes / no / on / off as booleans, so
    `train.amp=off` would be False and refused for a string field; here those stay words."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def load_yaml(text_or_file):
    """YAML with true / false as the only booleans (_Loader): config files and overrides."""
    return yaml.load(text_or_file, Loader=_Loader)


def parse_overrides(overrides: list[str]) -> dict:
    """["train.epochs=5", "model.kwargs.bnneck=true"] -> nested dict (values parsed as YAML scalars).
    Top-level aliases: `resume=X` is `train.resume=X`."""
    nested: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. train.epochs=5)")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw) if raw != "" else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: the value is not valid YAML{_yaml_where(e)}") from None
        node = nested
        key = _ALIASES.get(key.strip(), key.strip())
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):       # `data=x data.mean=...`: a value, then a key inside it
                raise ConfigError(f"override {item!r}: {'.'.join(parts[:i + 1])} was given a value by an earlier "
                                  f"override, so it has no keys to set; drop one of the two")
        node[parts[-1]] = value
    return nested


def load_config(path: str | None = None, overrides: list[str] | None = None, base: dict | None = None) -> Config:
    """Defaults, then `base` (e.g. a checkpoint's config), then the YAML file, then the overrides."""
    cfg = Config()
    if base:
        _merge(cfg, upgrade_soft_margin(base, "checkpoint config"), "", "checkpoint config")
    if path:
        try:
            with open(path) as f:
                raw = load_yaml(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML{_yaml_where(e)}") from None
        except (IsADirectoryError, NotADirectoryError, PermissionError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read the config file ({getattr(e, 'strerror', None) or e})") from None
        if raw == {} and not base:   # every default: 462 MB of SynthPed and a ResNet-50, surely not what was meant
            raise ConfigError(f"{path}: the config file is empty; name the dataset and model at least (data.dataset, "
                              f"data.root, model.name: see configs/, e.g. configs/sta_synthped.yaml)")
        _merge(cfg, upgrade_soft_margin(raw, path, warn=True), "", path)
    if overrides:
        _merge(cfg, parse_overrides(overrides), "", "command line")
    validate(cfg)
    return cfg


def _yaml_where(e: yaml.YAMLError) -> str:
    """' at line L, column C: problem' (PyYAML's multi-line message, folded into one line)."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and cmark is not None and (mark is None or cmark.line != mark.line):
        context += f" started at line {cmark.line + 1}, column {cmark.column + 1}"
    what = "; ".join(str(x) for x in (context, problem) if x) or " ".join(str(e).split())
    return f"{where}: {what}"


MAX_LR = 10.0   # a learning rate above this is a typo (3e4 for 3e-4), never a schedule: refused before any step

# key -> (check, what the value must be): out-of-range values fail at load time, before any data is read
_RANGES = {
    "data.height": (lambda v: v >= 1, ">= 1"), "data.width": (lambda v: v >= 1, ">= 1"),
    "data.seq_len": (lambda v: v >= 1, ">= 1"), "data.test_seq_len": (lambda v: v >= 0, ">= 0 (0 = seq_len)"),
    "data.num_instances": (lambda v: v >= 1, ">= 1"), "data.batch_size": (lambda v: v >= 1, ">= 1"),
    "data.test_batch_size": (lambda v: v >= 1, ">= 1"),
    "data.workers": (lambda v: v == "auto" or (isinstance(v, int) and v >= 0), ">= 0 or auto"),
    "data.prefetch": (lambda v: v >= 0, ">= 0 (0 = auto)"),
    "data.pad": (lambda v: v >= 0, ">= 0"), "data.flip": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "data.random_erasing": (lambda v: 0 <= v <= 1, "in [0, 1]"), "data.split": (lambda v: v >= 0, ">= 0"),
    "loss.ce_weight": (lambda v: v >= 0, ">= 0"), "loss.triplet_weight": (lambda v: v >= 0, ">= 0"),
    "loss.label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "loss.triplet_margin": (lambda v: v >= 0, ">= 0 (the soft margin is loss.triplet_soft_margin: true)"),
    "optim.weight_decay": (lambda v: v >= 0, ">= 0"), "optim.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "optim.warmup_epochs": (lambda v: v >= 0, ">= 0"), "optim.warmup_factor": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "optim.step_size": (lambda v: v >= 1, ">= 1"), "optim.gamma": (lambda v: v > 0, "> 0"),
    "train.epochs": (lambda v: v >= 1, ">= 1"), "train.iters_per_epoch": (lambda v: v >= 0, ">= 0 (0 = one pass)"),
    "train.eval_every": (lambda v: v >= 0, ">= 0"), "train.log_every": (lambda v: v >= 0, ">= 0"),
    "train.threads": (lambda v: v >= 0, ">= 0 (0 = torch's default)"),
    "train.checkpoint_every": (lambda v: v >= 0, ">= 0"), "train.keep_last": (lambda v: v >= 1, ">= 1"),
    "eval.max_rank": (lambda v: v >= 1, ">= 1"),
    "optim.lr": (lambda v: 0 < v <= MAX_LR and math.isfinite(v),
                 f"a positive number <= {MAX_LR:g} (larger steps make the weights non-finite)"),
    "data.mean": (lambda v: len(v) == 3 and all(math.isfinite(x) for x in v),
                  "a list of 3 finite numbers, one per RGB channel (e.g. [0.485, 0.456, 0.406])"),
    "data.std": (lambda v: len(v) == 3 and all(math.isfinite(x) and x > 0 for x in v),
                 "a list of 3 positive numbers, one per RGB channel (e.g. [0.229, 0.224, 0.225])"),
    "data.photo_prob": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "data.photo_jpeg_min": (lambda v: 0 <= v <= 95, "in [0, 95] (0 = no JPEG re-encode)"),
}
_CHOICES = {
    "optim.name": ("adam", "adamw", "sgd"), "optim.scheduler": ("step", "cosine", "none"),
    "train.amp": ("off", "bf16", "fp16"), "eval.metric": ("euclidean", "cosine"),
    "loss.triplet_distance": ("euclidean", "cosine"), "data.background": ("keep", "suppress"),
    "data.train_sampling": ("consecutive", "rrs", "evenly"),            # data/sampling.py TRAIN_MODES
    "data.test_sampling": ("consecutive", "rrs", "evenly", "dense", "all"),   # data/sampling.py TEST_MODES
    "eval.sampling": ("", "consecutive", "rrs", "evenly", "dense", "all"),   # "" = data.test_sampling
    "eval.protocol": ("", "mars", "gao"),
    "data.protocol": ("", "mars", "gao"),
}


def validate(cfg: Config) -> None:
    """ConfigError naming the first key whose value is out of range or not one of its choices."""
    for key, (ok, what) in _RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if not ok(value):
            raise ConfigError(f"{key} must be {what}, got {value!r}")
    for key, choices in _CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(c or repr(c) for c in choices)}, got {value!r}")


def upgrade_soft_margin(d: dict, source: str, warn: bool = False) -> dict:
    """Configs written before loss.triplet_soft_margin existed said "soft margin" with triplet_margin <= 0: read them
    so (a checkpoint trained with the soft margin must resume with it), and say so for a YAML file a person edits.
    A dict that sets triplet_soft_margin, or a margin > 0, is returned as it is."""
    loss = d.get("loss") if isinstance(d, dict) else None
    if not isinstance(loss, dict) or "triplet_soft_margin" in loss or not isinstance(loss.get("triplet_margin"),
                                                                                   (int, float)):
        return d
    if loss["triplet_margin"] > 0:
        return d
    if warn:
        import sys
        print(f"vidreid: note: {source}: loss.triplet_margin {loss['triplet_margin']} without "
              f"loss.triplet_soft_margin is read as the soft-margin triplet (its meaning in earlier versions); set "
              f"loss.triplet_soft_margin: true (or false for a hard hinge at 0) to say which", file=sys.stderr)
    return {**d, "loss": {**loss, "triplet_margin": 0.0, "triplet_soft_margin": True}}


def config_from_dict(d: dict) -> Config:
    cfg = Config()
    _merge(cfg, upgrade_soft_margin(d, "checkpoint"), "", "checkpoint")
    return cfg
