"""Issue 27, item 7: the bad-input suite of every command. Each case runs `vidreid.cli.main` in process on a bad
input and asserts the exit code, one error line naming the offending file, option or key (never a traceback), and
that nothing was written or lost: every file under the test's folder and under the shared inputs (dataset, run
folder, checkpoint, index, tracklets, video) has the same bytes and mtime after the refusal, and nothing new
appeared. Every case fails during validation, before any training, extraction or rendering."""
from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from helpers_datasets import make_dukev_root
from helpers_files import snapshot
from helpers_video import block_video, write_det
from vidreid.cli import main

SPLITS = {"train": [(1, 1, 6), (1, 2, 5), (2, 1, 6), (2, 3, 4)], "query": [(5, 1, 4), (6, 2, 5)],
          "gallery": [(5, 2, 6), (6, 1, 4), (9, 4, 3)]}
GARBAGE = bytes(range(256)) * 4                     # not any format vidreid reads


# ---------------------------------------------------------------------------------------------- shared inputs
@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """What the commands read, made once: a DukeV root, its config, a trained run folder (checkpoint,
    metrics.json), a gallery index, a video with its det.txt and its `vidreid tracklets` output."""
    base = tmp_path_factory.mktemp("inputs")
    root = make_dukev_root(base, SPLITS)
    cfg = {"data": {"dataset": "dukev", "root": str(root), "protocol": "gao", "height": 16, "width": 8,
                    "seq_len": 4, "batch_size": 4, "num_instances": 2, "test_batch_size": 4, "workers": 0,
                    "pad": 0, "test_sampling": "rrs"},
           "model": {"name": "tp", "backbone": "resnet18", "pretrained": None},
           "train": {"epochs": 1, "iters_per_epoch": 1, "eval_every": 0, "device": "cpu", "tensorboard": False,
                     "output_dir": str(base / "run")}}
    (base / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "--no-progress", "--config", str(base / "cfg.yaml")]) == 0
    ckpt = base / "run" / "checkpoints" / "last.safetensors"
    assert ckpt.is_file() and (base / "run" / "metrics.json").is_file()
    assert main(["index", "build", "--checkpoint", str(ckpt), "--dataset", "dukev", "--root", str(root), "--out",
                 str(base / "index"), "--calibration", "none", "--no-progress"]) == 0
    boxes = block_video(base / "gate.avi")
    write_det(base / "gate.txt", boxes)
    assert main(["tracklets", str(base / "gate.avi"), "--detections", str(base / "gate.txt"), "--out",
                 str(base / "trk"), "--min-len", "5", "--min-height", "20", "--preview", "none", "--no-progress"]) == 0
    assert (base / "trk" / "manifest.jsonl").read_text().strip()            # tracklets were cut
    return {"base": base, "root": root, "cfg": base / "cfg.yaml", "run": base / "run", "ckpt": ckpt,
            "index": base / "index", "video": base / "gate.avi", "det": base / "gate.txt", "trk": base / "trk"}


def _diff(before: dict, after: dict) -> str:
    added = sorted(set(after) - set(before))
    lost = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added[:5]}, lost {lost[:5]}, changed {changed[:5]}"


@pytest.fixture
def unchanged(inputs, tmp_path):
    """Snapshot the test's folder and the shared inputs around a refusal: `with unchanged(): ...` fails the test
    when anything was written, replaced or removed."""
    import contextlib

    @contextlib.contextmanager
    def check():
        before = snapshot(tmp_path, inputs["base"])
        yield
        after = snapshot(tmp_path, inputs["base"])
        assert after == before, "something was written or lost: " + _diff(before, after)
    return check


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """tmp_path/ro refuses writes (simulated: the tests may run as root, whom permission bits do not stop):
    creating a file or folder inside it raises PermissionError, as on a read-only mount."""
    ro = str(tmp_path / "ro")
    os.mkdir(ro)
    import builtins
    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def inside(p) -> bool:
        try:
            return os.path.abspath(os.fsdecode(p)).startswith(ro + os.sep)
        except TypeError:
            return False

    def denied(p):
        return PermissionError(errno.EACCES, "Permission denied", os.fsdecode(p))

    def guarded_open(p, mode="r", *a, **k):
        if isinstance(mode, str) and set(mode) & set("wax+") and inside(p):
            raise denied(p)
        return real_open(p, mode, *a, **k)

    def guarded_os_open(p, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(p):
            raise denied(p)
        return real_os_open(p, flags, *a, **k)

    def guarded_mkdir(p, *a, **k):
        if inside(p):
            raise denied(p)
        return real_mkdir(p, *a, **k)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    return ro


# ---------------------------------------------------------------------------------------------- the cases
DIR = object()                                        # a `files` value: make a folder, not a file


@dataclass
class Case:
    id: str
    argv: list                                        # str.format'ed with the paths (see _paths)
    fragments: tuple                                  # each must be in the error line (formatted too)
    files: dict = field(default_factory=dict)         # tmp-relative name -> bytes | str | DIR | fn(paths) -> bytes
    code: int = 2
    read_only: bool = False
    layout: bool = False                              # `data check`: the expected folder tree follows the error


def C(id, argv, *fragments, files=None, code=2, read_only=False, layout=False) -> Case:
    return Case(id, argv.split() if isinstance(argv, str) else argv, fragments, files or {}, code, read_only,
                layout)


def _truncated(paths) -> bytes:
    return Path(paths["ckpt"]).read_bytes()[:5000]


def _pickle_pt(paths) -> bytes:
    import io

    import torch
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(2)}}, buf)
    return buf.getvalue()


def _metrics(paths) -> bytes:
    return (Path(paths["run"]) / "metrics.json").read_bytes()


def _config(**over):
    """A config file (bytes) over the DukeV fixture with sections updated by `over` {"section.key": value}."""
    def make(paths) -> bytes:
        cfg = yaml.safe_load(Path(paths["cfg"]).read_text())
        cfg["train"]["output_dir"] = str(Path(paths["tmp"]) / "run")
        for key, value in over.items():
            section, name = key.split(".")
            cfg.setdefault(section, {})[name] = value
        return yaml.safe_dump(cfg).encode()
    return make


BAD_YAML = "data:\n  root: x\n  height: [1, 2\nmodel:\n  name: tp\n"
CASES = {}

CASES["adapt"] = [
    C("checkpoint-missing", "adapt --checkpoint {tmp}/no.safetensors --tracklets {trk} --out {tmp}/a",
      "{tmp}/no.safetensors"),
    C("checkpoint-garbage", "adapt --checkpoint {tmp}/g.safetensors --tracklets {trk} --out {tmp}/a",
      "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("checkpoint-folder", "adapt --checkpoint {tmp}/d --tracklets {trk} --out {tmp}/a", "{tmp}/d",
      files={"d": DIR}),
    C("videos-missing", "adapt --checkpoint {ckpt} --videos {tmp}/no.avi --out {tmp}/a", "{tmp}/no.avi"),
    C("tracklets-missing", "adapt --checkpoint {ckpt} --tracklets {tmp}/none --out {tmp}/a", "--tracklets",
      "{tmp}/none"),
    C("tracklets-a-file", "adapt --checkpoint {ckpt} --tracklets {video} --out {tmp}/a", "--tracklets", "{video}"),
    C("dataset-unknown", "adapt --checkpoint {ckpt} --dataset nosuch --data-root {root} --out {tmp}/a", "nosuch"),
    C("dataset-without-root", "adapt --checkpoint {ckpt} --dataset dukev --out {tmp}/a", "--data-root"),
    C("epochs-zero", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a --epochs 0", "--epochs"),
    C("iters-negative", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a --iters -1", "--iters"),
    C("lr-negative", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a --lr -1", "lr"),
    C("unknown-key", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a data.seqlen=4", "data.seqlen"),
    C("wrong-type", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a data.batch_size=many",
      "data.batch_size"),
    C("out-a-file", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("out-previous-run", "adapt --checkpoint {ckpt} --tracklets {trk} --out {run}", "{run}", "--force"),
    C("videos-and-tracklets", "adapt --checkpoint {ckpt} --videos {video} --tracklets {trk} --out {tmp}/a",
      "not allowed with"),
    C("detections-count", "adapt --checkpoint {ckpt} --videos {video} --detections {det} --detections {det} "
      "--out {tmp}/a", "--detections", "one det.txt per video"),
    C("every-zero", "adapt --checkpoint {ckpt} --videos {video} --detections {det} --out {tmp}/a --every 0",
      "--every"),
    C("min-len-zero", "adapt --checkpoint {ckpt} --videos {video} --detections {det} --out {tmp}/a --min-len 0",
      "--min-len"),
    C("data-root-without-dataset", "adapt --checkpoint {ckpt} --tracklets {trk} --data-root {root} --out {tmp}/a",
      "--data-root"),
    C("out-read-only", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/ro/a", "{tmp}/ro",
      read_only=True),
    C("video-option-with-tracklets", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a --upscale 0",
      "--upscale only applies with --videos"),
    C("video-option-with-dataset", "adapt --checkpoint {ckpt} --dataset dukev --data-root {root} --out {tmp}/a "
      "--every 2", "--every only applies with --videos"),
    C("override-changes-the-model", "adapt --checkpoint {ckpt} --tracklets {trk} --out {tmp}/a "
      "model.backbone=resnet50", "model.backbone"),
]

CASES["associate"] = [
    C("tracklets-missing", "associate {tmp}/none --out {tmp}/ids", "{tmp}/none"),
    C("tracklets-a-file", "associate {video} --out {tmp}/ids", "{video}"),
    C("tracklets-empty-folder", "associate {tmp}/e --out {tmp}/ids", "{tmp}/e", files={"e": DIR}),
    C("tracklets-json-garbage", "associate {tmp}/t --out {tmp}/ids", "{tmp}/t",
      files={"t/tracklets.json": "{not json", "t/manifest.jsonl": ""}),
    C("out-a-file", "associate {trk} --out {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("out-other-folder", "associate {trk} --out {tmp}/o", "{tmp}/o", files={"o/notes.txt": "mine"}),
    C("out-is-the-input", "associate {trk} --out {trk} --force", "{trk}"),
    C("threshold-negative", "associate {trk} --out {tmp}/ids --threshold -1", "--threshold"),
    C("threshold-nan", "associate {trk} --out {tmp}/ids --threshold nan", "--threshold"),
    C("within-threshold-huge", "associate {trk} --out {tmp}/ids --within-threshold 5", "--within-threshold"),
    C("slack-negative", "associate {trk} --out {tmp}/ids --slack -3", "--slack"),
    C("checkpoint-missing", "associate {trk} --out {tmp}/ids --checkpoint {tmp}/no.safetensors",
      "{tmp}/no.safetensors"),
    C("checkpoint-garbage", "associate {trk} --out {tmp}/ids --checkpoint {tmp}/g.safetensors",
      "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("threshold-not-a-number", "associate {trk} --out {tmp}/ids --threshold low", "--threshold"),
    C("checkpoint-not-safetensors", "associate {trk} --out {tmp}/ids --checkpoint {run}/metrics.json",
      "{run}/metrics.json"),
    C("same-folder-twice", "associate {trk} {trk} --out {tmp}/ids", "{trk}"),
    C("out-read-only", "associate {trk} --out {tmp}/ro/ids", "{tmp}/ro", read_only=True),
]

CASES["cache"] = [
    C("action-unknown", "cache make --config {cfg} --out {tmp}/c", "invalid choice: 'make'"),
    C("config-missing", "cache build --config {tmp}/no.yaml --out {tmp}/c", "{tmp}/no.yaml"),
    C("config-folder", "cache build --config {tmp}/d --out {tmp}/c", "{tmp}/d", files={"d": DIR}),
    C("config-bad-yaml", "cache build --config {tmp}/b.yaml --out {tmp}/c", "{tmp}/b.yaml", "invalid YAML",
      files={"b.yaml": BAD_YAML}),
    C("config-empty", "cache build --config {tmp}/e.yaml --out {tmp}/c", "{tmp}/e.yaml", "empty",
      files={"e.yaml": ""}),
    C("unknown-key", "cache build --config {cfg} --out {tmp}/c data.seqlen=4", "data.seqlen"),
    C("wrong-type", "cache build --config {cfg} --out {tmp}/c data.height=tall", "data.height"),
    C("no-out", "cache build --config {cfg}", "--out"),
    C("root-missing", "cache build --config {cfg} --out {tmp}/c data.root={tmp}/nowhere", "{tmp}/nowhere"),
    C("dataset-unknown", "cache build --config {cfg} --out {tmp}/c data.dataset=nosuch", "nosuch"),
    C("height-zero", "cache build --config {cfg} --out {tmp}/c data.height=0", "data.height"),
    C("out-a-file", "cache build --config {cfg} --out {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("out-other-folder", "cache build --config {cfg} --out {tmp}/o", "{tmp}/o", files={"o/notes.txt": "mine"}),
    C("out-read-only", "cache build --config {cfg} --out {tmp}/ro/c", "{tmp}/ro", read_only=True),
    C("out-the-dataset-root", "cache build --config {cfg} --out {root}", "{root}", "already exists"),
]

CASES["data"] = [
    C("subcommand-missing", "data", "required"),
    C("root-missing", "data check {tmp}/nowhere --dataset dukev --no-progress", "{tmp}/nowhere", layout=True),
    C("dataset-unknown", "data check {root} --dataset nosuch --no-progress", "nosuch"),
    C("root-a-file", "data check {video} --dataset dukev --no-progress", "{video}", layout=True),
    C("option-not-key-value", "data check {root} --dataset dukev -o subset --no-progress", "--option", "subset"),
    C("option-split", "data check {root} --dataset dukev -o split=1 --no-progress", "--split"),
    C("option-unknown", "data check {root} --dataset dukev -o colour=red --no-progress", "colour"),
    C("fix-report-exists", "data check {root} --dataset dukev --fix-report {tmp}/r.json --no-progress",
      "{tmp}/r.json", "already exists", files={"r.json": '{"mine": 1}'}),
    C("fix-report-folder", "data check {root} --dataset dukev --fix-report {tmp}/d --no-progress", "{tmp}/d",
      files={"d": DIR}),
    C("fix-report-read-only", "data check {root} --dataset dukev --fix-report {tmp}/ro/r.json --no-progress",
      "{tmp}/ro", read_only=True),
    C("workers-zero", "data check {root} --dataset dukev --workers 0 --no-progress", "--workers"),
    C("split-beyond", "data check {root} --dataset dukev --split 7 --no-progress", "split"),
    C("workers-negative", "data check {root} --dataset dukev --workers -3 --no-progress", "--workers"),
    C("workers-not-a-number", "data check {root} --dataset dukev --workers all --no-progress", "--workers"),
    C("manifest-missing", "data check {tmp}/none.jsonl --dataset manifest --no-progress", "{tmp}/none.jsonl",
      layout=True),
    C("fix-report-is-the-root", "data check {root} --dataset dukev --fix-report {root} --overwrite --no-progress",
      "{root}"),
    C("override-given", "data check {root} --dataset dukev data.root=x", "takes no key=value"),
]

CASES["datasets"] = [
    C("unknown", "datasets nosuch", "nosuch"),
    C("unknown-among-known", "datasets mars nosuch", "nosuch"),
    C("typo", "datasets dukemtmc", "dukemtmc", "dukev"),
    C("empty-name", ["datasets", ""], "''"),
    C("a-path", "datasets /data/MARS", "/data/MARS"),
    C("unknown-with-json", "datasets nosuch --json", "nosuch"),
    C("unknown-with-layout", "datasets --layout nosuch", "nosuch"),
    C("unknown-option", "datasets --tree", "--tree"),
    C("override-given", "datasets data.root=x", "unknown dataset 'data.root=x'"),
    C("flag-with-value", "datasets --json=yes", "--json"),
    C("a-model-name", "datasets tp", "'tp'"),
]

CASES["demo"] = [
    C("config-missing", "demo --no-progress --config {tmp}/no.yaml", "{tmp}/no.yaml"),
    C("config-bad-yaml", "demo --no-progress --config {tmp}/b.yaml", "{tmp}/b.yaml", "invalid YAML",
      files={"b.yaml": BAD_YAML}),
    C("config-folder", "demo --no-progress --config {tmp}/d", "{tmp}/d", files={"d": DIR}),
    C("config-empty", "demo --no-progress --config {tmp}/e.yaml", "{tmp}/e.yaml", "empty", files={"e.yaml": ""}),
    C("config-a-list", "demo --no-progress --config {tmp}/l.yaml", "{tmp}/l.yaml", files={"l.yaml": "- 1\n- 2\n"}),
    C("unknown-key", "demo --no-progress --out {tmp}/d train.epoch=1", "train.epoch"),
    C("wrong-type", "demo --no-progress --out {tmp}/d train.epochs=ten", "train.epochs"),
    C("epochs-zero", "demo --no-progress --out {tmp}/d train.epochs=0", "train.epochs"),
    C("lr-negative", "demo --no-progress --out {tmp}/d optim.lr=-0.1", "optim.lr"),
    C("model-unknown", "demo --no-progress --out {tmp}/d model.name=nosuch", "nosuch"),
    C("backbone-unknown", "demo --no-progress --out {tmp}/d model.backbone=resnet1000", "resnet1000"),
    C("amp-unknown", "demo --no-progress --out {tmp}/d train.amp=fp8", "train.amp"),
    C("out-a-file", "demo --no-progress --out {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("out-previous-run", "demo --no-progress --out {run}", "{run}", "--force"),
    C("out-read-only", "demo --no-progress --out {tmp}/ro/d", "{tmp}/ro", read_only=True),
]

EVAL = "eval --no-progress --checkpoint"
CASES["eval"] = [
    C("checkpoint-missing", EVAL + " {tmp}/no.safetensors", "{tmp}/no.safetensors"),
    C("checkpoint-garbage", EVAL + " {tmp}/g.safetensors", "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("checkpoint-truncated", EVAL + " {tmp}/t.safetensors", "{tmp}/t.safetensors",
      files={"t.safetensors": _truncated}),
    C("checkpoint-pickle", EVAL + " {tmp}/m.pt", "{tmp}/m.pt", files={"m.pt": _pickle_pt}),
    C("checkpoint-empty", EVAL + " {tmp}/e.safetensors", "{tmp}/e.safetensors", files={"e.safetensors": b""}),
    C("checkpoint-folder", EVAL + " {tmp}/d", "{tmp}/d", files={"d": DIR}),
    C("nothing-to-evaluate", "eval --no-progress", "--checkpoint"),
    C("config-bad-yaml", EVAL + " {ckpt} --config {tmp}/b.yaml", "{tmp}/b.yaml", files={"b.yaml": BAD_YAML}),
    C("unknown-key", EVAL + " {ckpt} eval.metrc=cosine", "eval.metrc"),
    C("root-missing", EVAL + " {ckpt} data.root={tmp}/nowhere", "{tmp}/nowhere"),
    C("json-exists", EVAL + " {ckpt} --json {tmp}/m.json", "{tmp}/m.json", "--overwrite",
      files={"m.json": '{"mine": 1}'}),
    C("json-is-the-checkpoint", EVAL + " {ckpt} --json {ckpt} --overwrite", "is the checkpoint"),
    C("json-read-only", EVAL + " {ckpt} --json {tmp}/ro/m.json", "{tmp}/ro", read_only=True),
    C("split-on-single-split", EVAL + " {ckpt} --split 3", "--split"),
    C("ranked-negative", EVAL + " {ckpt} --ranked -1", "--ranked"),
    C("fuse-weight-without-fuse", EVAL + " {ckpt} --fuse-weight 0.5", "--fuse-weight", "--fuse"),
    C("fuse-config-missing", EVAL + " {ckpt} --fuse {tmp}/no.yaml", "{tmp}/no.yaml"),
    C("fuse-weight-out-of-range", EVAL + " {ckpt} --fuse {tmp}/c.yaml --fuse-weight 2", "--fuse-weight",
      files={"c.yaml": _config(**{"model.name": "colour_hist", "model.backbone": None})}),
    C("fuse-a-network-config", EVAL + " {ckpt} --fuse {cfg}", "--fuse {cfg}", "not a classical feature"),
    C("features-dir-a-file", EVAL + " {ckpt} --features-dir {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("out-a-file", EVAL + " {ckpt} --out {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("protocol-unknown", EVAL + " {ckpt} --protocol duke", "invalid choice: 'duke'"),
    C("dataset-unknown", EVAL + " {ckpt} data.dataset=nosuch", "nosuch"),
    C("checkpoint-none-without-config", "eval --no-progress --checkpoint none", "--checkpoint none needs --config"),
]

EXPLAIN = "explain --checkpoint"
CASES["explain"] = [
    C("checkpoint-missing", EXPLAIN + " {tmp}/no.safetensors --tracklet 0", "{tmp}/no.safetensors"),
    C("checkpoint-garbage", EXPLAIN + " {tmp}/g.safetensors --tracklet 0", "{tmp}/g.safetensors",
      files={"g.safetensors": GARBAGE}),
    C("checkpoint-truncated", EXPLAIN + " {tmp}/t.safetensors --tracklet 0", "{tmp}/t.safetensors",
      files={"t.safetensors": _truncated}),
    C("tracklet-negative", EXPLAIN + " {ckpt} --tracklet -1 --out {tmp}/x.png", "--tracklet"),
    C("tracklet-beyond", EXPLAIN + " {ckpt} --tracklet 100000 --out {tmp}/x.png", "--tracklet"),
    C("tracklet-not-a-number", EXPLAIN + " {ckpt} --tracklet first", "--tracklet"),
    C("frames-zero", EXPLAIN + " {ckpt} --tracklet 0 --frames 0 --out {tmp}/x.png", "--frames"),
    C("frames-negative", EXPLAIN + " {ckpt} --tracklet 0 --frames -4 --out {tmp}/x.png", "--frames"),
    C("out-exists", EXPLAIN + " {ckpt} --tracklet 0 --out {tmp}/x.png", "{tmp}/x.png", "--overwrite",
      files={"x.png": b"mine"}),
    C("out-is-the-checkpoint", EXPLAIN + " {ckpt} --tracklet 0 --out {ckpt} --overwrite", "is the checkpoint"),
    C("out-a-folder", EXPLAIN + " {ckpt} --tracklet 0 --out {tmp}/d", "{tmp}/d", files={"d": DIR}),
    C("json-exists", EXPLAIN + " {ckpt} --tracklet 0 --out {tmp}/x.png --json {tmp}/a.json", "{tmp}/a.json",
      files={"a.json": "{}"}),
    C("out-read-only", EXPLAIN + " {ckpt} --tracklet 0 --out {tmp}/ro/x.png", "{tmp}/ro", read_only=True),
    C("config-bad-yaml", EXPLAIN + " {ckpt} --tracklet 0 --config {tmp}/b.yaml --out {tmp}/x.png", "{tmp}/b.yaml",
      files={"b.yaml": BAD_YAML}),
    C("unknown-key", EXPLAIN + " {ckpt} --tracklet 0 --out {tmp}/x.png data.seqlen=4", "data.seqlen"),
    C("split-unknown", EXPLAIN + " {ckpt} --tracklet 0 --split test", "invalid choice: 'test'"),
]

def checkpoint_file_cases(command: str, out: str, tail: str = "") -> list[Case]:
    """The bad checkpoint and bad --out cases of a command that reads one checkpoint and writes one file `out`
    (a name in {tmp}); `tail` follows --checkpoint X in the broken-checkpoint cases."""
    return [
        C("checkpoint-missing", f"{command} {{tmp}}/no.safetensors{tail}", "{tmp}/no.safetensors"),
        C("checkpoint-garbage", f"{command} {{tmp}}/g.safetensors{tail}", "{tmp}/g.safetensors",
          files={"g.safetensors": GARBAGE}),
        C("checkpoint-truncated", f"{command} {{tmp}}/t.safetensors{tail}", "{tmp}/t.safetensors",
          files={"t.safetensors": _truncated}),
        C("checkpoint-pickle", f"{command} {{tmp}}/m.pt{tail}", "{tmp}/m.pt", files={"m.pt": _pickle_pt}),
        C("checkpoint-folder", f"{command} {{tmp}}/d{tail}", "{tmp}/d", files={"d": DIR}),
        C("out-exists", f"{command} {{ckpt}} --out {{tmp}}/{out}", f"{{tmp}}/{out}", "--overwrite",
          files={out: b"mine"}),
        C("out-is-the-checkpoint", f"{command} {{ckpt}} --out {{ckpt}} --overwrite", "is the checkpoint"),
        C("out-a-folder", f"{command} {{ckpt}} --out {{tmp}}/d", "{tmp}/d", files={"d": DIR}),
        C("out-read-only", f"{command} {{ckpt}} --out {{tmp}}/ro/{out}", "{tmp}/ro", read_only=True),
    ]


EXPORT = "export --checkpoint"
CASES["export"] = checkpoint_file_cases(EXPORT, "m.onnx", " --out {tmp}/m.onnx") + [
    C("frames-zero", EXPORT + " {ckpt} --out {tmp}/m.onnx --frames 0", "--frames"),
    C("frames-negative", EXPORT + " {ckpt} --out {tmp}/m.onnx --frames -2", "--frames"),
    C("opset-too-old", EXPORT + " {ckpt} --out {tmp}/m.onnx --opset 3", "--opset"),
    C("opset-negative", EXPORT + " {ckpt} --out {tmp}/m.onnx --opset -1", "--opset"),
    C("format-unknown", EXPORT + " {ckpt} --format tflite", "invalid choice: 'tflite'"),
    C("override-given", EXPORT + " {ckpt} data.seq_len=4", "takes no key=value"),
]

RECOMMEND = "recommend --no-progress --checkpoint"
CASES["recommend"] = checkpoint_file_cases(RECOMMEND, "r.safetensors") + [
    C("out-not-safetensors", RECOMMEND + " {ckpt} --out {tmp}/r.pt", "{tmp}/r.pt", ".safetensors"),
    C("override-given", RECOMMEND + " {ckpt} data.seq_len=4", "unrecognized arguments: data.seq_len=4"),
    C("checkpoint-required", "recommend --no-progress", "--checkpoint"),
]

EXTRACT = "extract --no-progress --checkpoint"
CASES["extract"] = [
    C("checkpoint-missing", EXTRACT + " {tmp}/no.safetensors --split query --out {tmp}/f.safetensors",
      "{tmp}/no.safetensors"),
    C("checkpoint-garbage", EXTRACT + " {tmp}/g.safetensors --split query --out {tmp}/f.safetensors",
      "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("checkpoint-pickle", EXTRACT + " {tmp}/m.pt --split query --out {tmp}/f.safetensors", "{tmp}/m.pt",
      files={"m.pt": _pickle_pt}),
    C("split-unknown", EXTRACT + " {ckpt} --split train", "invalid choice: 'train'"),
    C("chunk-zero", EXTRACT + " {ckpt} --split query --sampling all --chunk 0 --out {tmp}/f.safetensors",
      "--chunk"),
    C("workers-negative", EXTRACT + " {ckpt} --split query --workers -1 --out {tmp}/f.safetensors", "--workers"),
    C("out-not-a-feature-file", EXTRACT + " {ckpt} --split query --out {tmp}/f.safetensors", "{tmp}/f.safetensors",
      files={"f.safetensors": GARBAGE}),
    C("out-is-the-checkpoint", EXTRACT + " {ckpt} --split query --out {ckpt}", "is the checkpoint"),
    C("out-a-folder", EXTRACT + " {ckpt} --split query --out {tmp}/d", "{tmp}/d", files={"d": DIR}),
    C("out-read-only", EXTRACT + " {ckpt} --split query --out {tmp}/ro/f.safetensors", "{tmp}/ro", read_only=True),
    C("unknown-key", EXTRACT + " {ckpt} --split query --out {tmp}/f.safetensors data.seqlen=2", "data.seqlen"),
    C("config-bad-yaml", EXTRACT + " {ckpt} --split query --config {tmp}/b.yaml --out {tmp}/f.safetensors",
      "{tmp}/b.yaml", files={"b.yaml": BAD_YAML}),
    C("root-missing", EXTRACT + " {ckpt} --split query --out {tmp}/f.safetensors data.root={tmp}/nowhere",
      "{tmp}/nowhere"),
    C("amp-unknown", EXTRACT + " {ckpt} --split query --amp fp8", "invalid choice: 'fp8'"),
]

CASES["flops"] = [
    C("model-unknown", "flops nosuch", "nosuch"),
    C("frames-zero", "flops tp --frames 0", "--frames"),
    C("batch-negative", "flops tp --batch -1", "--batch"),
    C("size-zero", "flops tp --size 0x64", "--size", "0x64"),
    C("size-garbage", "flops tp --size big", "--size", "big"),
    C("backbone-unknown", "flops tp --backbone resnet1000", "resnet1000"),
    C("set-without-value", "flops tp --set num_stripes", "--set", "num_stripes"),
    C("set-unknown-key", "flops tp --set colour=3", "colour"),
    C("set-wrong-type", "flops sta --set num_blocks=many", "num_blocks", "must be an integer"),
    C("num-classes-zero", "flops tp --num-classes 0", "num_classes"),
    C("device-unknown", "flops tp --device tpu", "tpu"),
    C("last-stride-three", "flops tp --last-stride 3", "invalid choice: 3"),
    C("classical-model", "flops colour_hist", "colour_hist", "not a network"),
    C("frames-not-divisible", "flops ste_nvan --frames 6 --size 64x32 --backbone resnet18", "T=6"),
]

CASES["index"] = [
    C("action-missing", "index", "required"),
    C("build-checkpoint-missing", "index build --checkpoint {tmp}/no.safetensors --gallery {trk} --out {tmp}/i",
      "{tmp}/no.safetensors"),
    C("build-checkpoint-garbage", "index build --checkpoint {tmp}/g.safetensors --gallery {trk} --out {tmp}/i",
      "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("build-over-an-index", "index build --checkpoint {ckpt} --dataset dukev --root {root} --out {index}",
      "{index}", "already holds an index"),
    C("build-out-a-file", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/f", "{tmp}/f",
      files={"f": "mine"}),
    C("build-out-other-folder", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/o", "{tmp}/o",
      files={"o/notes.txt": "mine"}),
    C("build-out-read-only", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/ro/i", "{tmp}/ro",
      read_only=True),
    C("build-gallery-missing", "index build --checkpoint {ckpt} --gallery {tmp}/none --out {tmp}/i", "{tmp}/none"),
    C("build-dataset-without-root", "index build --checkpoint {ckpt} --dataset dukev --out {tmp}/i", "--root"),
    C("build-dataset-unknown", "index build --checkpoint {ckpt} --dataset nosuch --root {root} --out {tmp}/i",
      "nosuch"),
    C("build-gallery-and-dataset", "index build --checkpoint {ckpt} --gallery {trk} --dataset dukev --root {root} "
      "--out {tmp}/i", "--gallery", "--dataset"),
    C("build-no-gallery", "index build --checkpoint {ckpt} --out {tmp}/i", "--gallery"),
    C("build-nlist-zero", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --index-type ivf "
      "--nlist 0", "--nlist"),
    C("build-pq-bits-zero", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --index-type ivfpq "
      "--pq-bits 0", "--pq-bits"),
    C("build-batch-size-zero", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --batch-size 0",
      "--batch-size"),
    C("build-workers-negative", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --workers -2",
      "--workers"),
    C("build-calibration-missing", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i "
      "--calibration {tmp}/no.json", "{tmp}/no.json"),
    C("build-fuse-weight-without-fuse", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i "
      "--fuse-weight 0.5", "--fuse-weight"),
    C("build-pattern-bad-regex", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --pattern (",
      "--pattern"),
    C("build-device-unknown", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --device tpu", "tpu"),
    C("build-factory-garbage", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --factory Garbage1",
      "Garbage1"),
    C("build-opq-flat", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --opq", "--opq", "ivfpq"),
    C("build-opq-factory", "index build --checkpoint {ckpt} --gallery {trk} --out {tmp}/i --opq --factory Flat",
      "--opq", "--factory"),
    C("add-index-missing", "index add --index {tmp}/none --gallery {trk}", "{tmp}/none"),
    C("add-index-a-file", "index add --index {video} --gallery {trk}", "{video}"),
    C("add-gallery-missing", "index add --index {index} --gallery {tmp}/none", "{tmp}/none"),
    C("add-checkpoint-garbage", "index add --index {index} --checkpoint {tmp}/g.safetensors --gallery {trk}",
      "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("info-index-missing", "index info --index {tmp}/none", "{tmp}/none"),
    C("info-empty-folder", "index info --index {tmp}/e", "{tmp}/e", files={"e": DIR}),
    C("info-header-garbage", "index info --index {tmp}/i", "{tmp}/i", files={"i/index.json": "{garbage"}),
]

CASES["models"] = [
    C("unknown", "models nosuch", "nosuch"),
    C("unknown-among-known", "models tp nosuch", "nosuch"),
    C("a-backbone", "models resnet18", "resnet18"),
    C("a-dataset", "models mars", "'mars'"),
    C("empty-name", ["models", ""], "''"),
    C("comma-list", "models tp,ta", "tp,ta"),
    C("unknown-with-json", "models nosuch --json", "nosuch"),
    C("unknown-option", "models --params", "--params"),
    C("override-given", "models model.name=tp", "unknown model 'model.name=tp'"),
    C("flag-with-value", "models --json=1", "--json"),
]

CASES["plot"] = [
    C("run-missing", "plot {tmp}/none", "{tmp}/none"),
    C("run-without-metrics", "plot {tmp}/r", "{tmp}/r", "metrics.json", files={"r": DIR}),
    C("run-a-file", "plot {video}", "{video}"),
    C("metrics-garbage", "plot {tmp}/r", "{tmp}/r/metrics.json", files={"r/metrics.json": "{garbage"}),
    C("metrics-empty", "plot {tmp}/r", "{tmp}/r/metrics.json", files={"r/metrics.json": ""}),
    C("metrics-a-list", "plot {tmp}/r", "{tmp}/r/metrics.json", files={"r/metrics.json": "[1, 2]"}),
    C("metrics-no-epoch", "plot {tmp}/r", "{tmp}/r/metrics.json", files={"r/metrics.json": "{}"}),
    C("metrics-a-folder", "plot {tmp}/r", "{tmp}/r", files={"r/metrics.json": DIR}),
    C("out-exists", "plot {tmp}/r --out {tmp}/p.png", "{tmp}/p.png", "--overwrite",
      files={"r/metrics.json": _metrics, "p.png": b"mine"}),
    C("out-a-folder", "plot {tmp}/r --out {tmp}/d", "{tmp}/d", files={"r/metrics.json": _metrics, "d": DIR}),
    C("out-under-a-file", "plot {tmp}/r --out {tmp}/f/p.png", "{tmp}/f",
      files={"r/metrics.json": _metrics, "f": "mine"}),
    C("out-read-only", "plot {tmp}/r --out {tmp}/ro/p.png", "{tmp}/ro", files={"r/metrics.json": _metrics},
      read_only=True),
    C("out-is-the-metrics", "plot {tmp}/r --out {tmp}/r/metrics.json --overwrite", "metrics.json",
      files={"r/metrics.json": _metrics}),
    C("metrics-history-not-epochs", "plot {tmp}/r", "{tmp}/r/metrics.json",
      files={"r/metrics.json": '{"history": [1, 2]}'}),
]

SEARCH = "search --index {index} --probe"
PROBE = "{root}/query/0005/0001"
CASES["search"] = [
    C("index-missing", "search --index {tmp}/none --probe " + PROBE, "{tmp}/none"),
    C("index-garbage", "search --index {tmp}/i --probe " + PROBE, "{tmp}/i", files={"i/index.json": "[1]"}),
    C("probe-missing", SEARCH + " {tmp}/none", "{tmp}/none"),
    C("probe-empty-folder", SEARCH + " {tmp}/e", "{tmp}/e", files={"e": DIR}),
    C("probe-garbage-image", SEARCH + " {tmp}/x.jpg", "{tmp}/x.jpg", files={"x.jpg": GARBAGE}),
    C("top-zero", SEARCH + " " + PROBE + " --top 0", "--top"),
    C("exact-rerank-without-features", SEARCH + " " + PROBE + " --exact-rerank 50", "{index}", "--keep-features"),
    C("exact-rerank-zero", SEARCH + " " + PROBE + " --exact-rerank 0", "--exact-rerank"),
    C("strip-zero", SEARCH + " " + PROBE + " --strip 0", "--strip"),
    C("box-three-numbers", SEARCH + " " + PROBE + " --box 1,2,3", "--box"),
    C("box-not-numbers", SEARCH + " " + PROBE + " --box a,b,c,d", "--box"),
    C("box-zero-size", SEARCH + " " + PROBE + " --box 0,0,0,10", "--box"),
    C("box-negative", SEARCH + " " + PROBE + " --box -5,0,4,10", "--box"),
    C("frame-without-box", SEARCH + " {video} --frame 3", "--frame", "--box"),
    C("frame-zero", SEARCH + " {video} --box 1,1,10,20 --frame 0", "--frame"),
    C("frame-beyond", SEARCH + " {video} --box 1,1,10,20 --frame 100000", "--frame"),
    C("frame-on-a-folder", SEARCH + " " + PROBE + " --box 1,1,4,8 --frame 2", PROBE, "expected a video file"),
    C("html-exists", SEARCH + " " + PROBE + " --html {tmp}/p.html", "{tmp}/p.html", "--overwrite",
      files={"p.html": "mine"}),
    C("html-a-folder", SEARCH + " " + PROBE + " --html {tmp}/d", "{tmp}/d", files={"d": DIR}),
    C("html-read-only", SEARCH + " " + PROBE + " --html {tmp}/ro/p.html", "{tmp}/ro", read_only=True),
    C("checkpoint-garbage", SEARCH + " " + PROBE + " --checkpoint {tmp}/g.safetensors", "{tmp}/g.safetensors",
      files={"g.safetensors": GARBAGE}),
    C("nprobe-zero", SEARCH + " " + PROBE + " --nprobe 0", "--nprobe"),
    C("every-zero", SEARCH + " {video} --box 1,1,10,20 --frame 2 --every 0", "--every"),
    C("track-on-a-folder-of-frames", SEARCH + " " + PROBE + " --track 7", "--track"),
    C("track-unknown", SEARCH + " {trk} --track 999", "999"),
    C("camera-unknown", SEARCH + " " + PROBE + " --camera cam99 --exclude-same-camera", "cam99"),
    C("device-unknown", SEARCH + " " + PROBE + " --device tpu", "tpu"),
    C("detector-unknown", SEARCH + " {video} --box 1,1,10,20 --frame 2 --detector yolo", "yolo"),
]

SYNTH = "synth --quiet --out {tmp}/s"
CASES["synth"] = [
    C("ids-zero", SYNTH + " --ids 0", "ids"),
    C("ids-negative", SYNTH + " --ids -5", "ids"),
    C("cams-one", SYNTH + " --cams 1", "cams"),
    C("cams-too-many", SYNTH + " --cams 99", "cams"),
    C("size-garbage", SYNTH + " --size big", "big"),
    C("size-zero", SYNTH + " --size 0x16", "0x16"),
    C("layout-unknown", SYNTH + " --layout prid", "prid"),
    C("set-unknown-key", SYNTH + " --set colour=red", "colour"),
    C("set-wrong-type", SYNTH + " --set min_len=long", "min_len"),
    C("workers-zero", SYNTH + " --workers 0", "--workers"),
    C("lengths-crossed", SYNTH + " --min-len 20 --max-len 5", "len"),
    C("rate-above-one", SYNTH + " --twin-rate 2", "twin_rate"),
    C("out-a-file", "synth --quiet --out {tmp}/f --ids 4", "{tmp}/f", files={"f": "mine"}),
    C("out-other-folder", "synth --quiet --out {tmp}/o --ids 4", "{tmp}/o", files={"o/notes.txt": "mine"}),
    C("out-read-only", "synth --quiet --out {tmp}/ro/s --ids 4", "{tmp}/ro", read_only=True),
    C("scenes-frames-zero", SYNTH + " --scenes --frames 0", "frames"),
    C("scenes-fps-zero", SYNTH + " --scenes --fps 0", "fps"),
    C("scenes-miss-above-one", SYNTH + " --scenes --det-miss 1.5", "det_miss"),
    C("itinerary-without-scenes", SYNTH + " --itinerary", "--itinerary", "--scenes"),
    C("frames-without-scenes", SYNTH + " --frames 5", "--frames", "--scenes"),
]

TRACK = "tracklets --no-progress --preview none"
CASES["tracklets"] = [
    C("video-missing", TRACK + " {tmp}/no.avi --out {tmp}/t", "{tmp}/no.avi"),
    C("video-garbage", TRACK + " {tmp}/x.avi --out {tmp}/t", "{tmp}/x.avi", files={"x.avi": GARBAGE}),
    C("video-a-folder", TRACK + " {tmp}/d --out {tmp}/t", "{tmp}/d", files={"d": DIR}),
    C("no-video", TRACK + " --out {tmp}/t", "VIDEO", "--footage"),
    C("footage-and-video", TRACK + " {video} --footage {tmp}/f.yaml --out {tmp}/t", "--footage",
      files={"f.yaml": "cameras: []\n"}),
    C("footage-missing", TRACK + " --footage {tmp}/no.yaml --out {tmp}/t", "{tmp}/no.yaml"),
    C("footage-bad-yaml", TRACK + " --footage {tmp}/f.yaml --out {tmp}/t", "{tmp}/f.yaml",
      files={"f.yaml": "cameras: [a, b\n"}),
    C("detections-count", TRACK + " {video} {video} --detections {det} --out {tmp}/t", "one det.txt per video"),
    C("detections-garbage", TRACK + " {video} --detections {tmp}/d.txt --out {tmp}/t", "{tmp}/d.txt",
      files={"d.txt": "1,-1,1,2,3,4,0.9\n2,-1,1,2\n"}),
    C("camera-with-slash", TRACK + " {video} --detections {det} --camera a/b --out {tmp}/t", "--camera"),
    C("every-zero", TRACK + " {video} --detections {det} --every 0 --out {tmp}/t", "--every"),
    C("start-zero", TRACK + " {video} --detections {det} --start 0 --out {tmp}/t", "--start"),
    C("stop-before-start", TRACK + " {video} --detections {det} --start 10 --stop 5 --out {tmp}/t", "--stop"),
    C("min-len-zero", TRACK + " {video} --detections {det} --min-len 0 --out {tmp}/t", "--min-len"),
    C("crop-size-garbage", TRACK + " {video} --detections {det} --crop-size big --out {tmp}/t", "--crop-size"),
    C("upscale-zero", TRACK + " {video} --upscale 0 --out {tmp}/t", "--upscale"),
    C("detector-unknown", TRACK + " {video} --detector yolo --out {tmp}/t", "yolo"),
    C("detector-onnx-missing", TRACK + " {video} --detector onnx:{tmp}/no.onnx --out {tmp}/t", "{tmp}/no.onnx"),
    C("detector-onnx-garbage", TRACK + " {video} --detector onnx:{tmp}/g.onnx --out {tmp}/t", "{tmp}/g.onnx",
      files={"g.onnx": GARBAGE}),
    C("checkpoint-garbage", TRACK + " {video} --detections {det} --checkpoint {tmp}/g.safetensors --out {tmp}/t",
      "{tmp}/g.safetensors", files={"g.safetensors": GARBAGE}),
    C("join-distance-negative", TRACK + " {video} --detections {det} --checkpoint {ckpt} --join-distance -1 "
      "--out {tmp}/t", "--join-distance"),
    C("out-a-file", TRACK + " {video} --detections {det} --out {tmp}/f", "{tmp}/f", files={"f": "mine"}),
    C("out-other-folder", TRACK + " {video} --detections {det} --out {tmp}/o", "{tmp}/o",
      files={"o/notes.txt": "mine"}),
    C("out-earlier-output", TRACK + " {video} --detections {det} --out {trk}", "{trk}", "--force"),
    C("out-read-only", TRACK + " {video} --detections {det} --out {tmp}/ro/t", "{tmp}/ro", read_only=True),
    C("track-buffer-negative", TRACK + " {video} --detections {det} --track-buffer -1 --out {tmp}/t",
      "--track-buffer"),
]

TRAIN = "train --no-progress --config"
CASES["train"] = [
    C("config-missing", TRAIN + " {tmp}/no.yaml", "{tmp}/no.yaml"),
    C("config-folder", TRAIN + " {tmp}/d", "{tmp}/d", files={"d": DIR}),
    C("config-bad-yaml", TRAIN + " {tmp}/b.yaml", "{tmp}/b.yaml", "invalid YAML", files={"b.yaml": BAD_YAML}),
    C("config-empty", TRAIN + " {tmp}/e.yaml", "{tmp}/e.yaml", "empty", files={"e.yaml": ""}),
    C("config-a-list", TRAIN + " {tmp}/l.yaml", "{tmp}/l.yaml", files={"l.yaml": "- 1\n- 2\n"}),
    C("config-garbage-bytes", TRAIN + " {tmp}/g.yaml", "{tmp}/g.yaml", files={"g.yaml": GARBAGE}),
    C("config-unknown-section", TRAIN + " {tmp}/c.yaml", "optimiser", files={"c.yaml": _config(**{"optimiser.lr": 1})}),
    C("unknown-key", TRAIN + " {tmp}/c.yaml train.epoch=1", "train.epoch", files={"c.yaml": _config()}),
    C("wrong-type", TRAIN + " {tmp}/c.yaml train.epochs=ten", "train.epochs", files={"c.yaml": _config()}),
    C("lr-negative", TRAIN + " {tmp}/c.yaml optim.lr=-1", "optim.lr", files={"c.yaml": _config()}),
    C("model-unknown", TRAIN + " {tmp}/c.yaml model.name=nosuch", "nosuch", files={"c.yaml": _config()}),
    C("backbone-unknown", TRAIN + " {tmp}/c.yaml model.backbone=resnet1000", "resnet1000",
      files={"c.yaml": _config()}),
    C("dataset-unknown", TRAIN + " {tmp}/c.yaml data.dataset=nosuch", "nosuch", files={"c.yaml": _config()}),
    C("classical-model", TRAIN + " {tmp}/c.yaml model.name=colour_hist", "colour_hist", files={"c.yaml": _config()}),
    C("output-dir-a-file", TRAIN + " {tmp}/c.yaml train.output_dir={tmp}/f", "{tmp}/f",
      files={"c.yaml": _config(), "f": "mine"}),
    C("previous-run", TRAIN + " {cfg}", "{run}", "--force"),
    C("resume-state-missing", TRAIN + " {tmp}/c.yaml train.resume={tmp}/no.state.pt", "{tmp}/no.state.pt",
      files={"c.yaml": _config()}),
    C("resume-state-garbage", TRAIN + " {tmp}/c.yaml train.resume={tmp}/g.state.pt", "{tmp}/g.state.pt",
      files={"c.yaml": _config(), "g.state.pt": GARBAGE}),
    C("output-dir-read-only", TRAIN + " {tmp}/c.yaml train.output_dir={tmp}/ro/run", "{tmp}/ro",
      files={"c.yaml": _config()}, read_only=True),
    C("no-config", "train --no-progress", "--config"),
    C("resume-with-unknown-backbone", TRAIN + " {cfg} --resume model.backbone=resnet1000", "resnet1000"),
    C("force-with-unknown-backbone", TRAIN + " {tmp}/c.yaml --force model.backbone=resnet1000", "resnet1000",
      files={"c.yaml": _config(), "run/metrics.json": _metrics, "run/checkpoints/last.safetensors": b"old"}),
    C("force-with-root-missing", TRAIN + " {tmp}/c.yaml --force data.root={tmp}/nowhere", "{tmp}/nowhere",
      files={"c.yaml": _config(), "run/metrics.json": _metrics, "run/checkpoints/last.safetensors": b"old"}),
    C("device-unknown", TRAIN + " {tmp}/c.yaml train.device=tpu", "tpu", files={"c.yaml": _config()}),
    C("model-option-wrong-type", TRAIN + " {tmp}/c.yaml model.name=sta", "num_blocks", "must be an integer",
      files={"c.yaml": _config(**{"model.kwargs": {"num_blocks": "many"}})}),
]


# ---------------------------------------------------------------------------------------------- the test
def _paths(inputs, tmp_path) -> dict:
    return {**{k: str(v) for k, v in inputs.items()}, "tmp": str(tmp_path)}


def _params():
    return [pytest.param(command, case, id=f"{command}-{case.id}") for command, cases in CASES.items()
            for case in cases]


def _write(tmp_path: Path, files: dict, paths: dict) -> None:
    for name, content in files.items():
        target = tmp_path / name
        if content is DIR:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        content = content(paths) if callable(content) else content
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def _run(argv) -> int:
    """main(argv) with warnings printed to stderr, as a user's terminal shows them (pytest would record them)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("default")              # Python's own filters: what a user sees
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = lambda msg, cat, fn, ln, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(msg, cat, fn, ln, line))
        try:
            return main(argv)
        except SystemExit as e:                       # argparse's usage errors
            return e.code


@pytest.mark.parametrize("command, case", _params())
def test_bad_input_is_one_line_and_writes_nothing(command, case, inputs, tmp_path, monkeypatch, capsys, request,
                                                 unchanged):
    paths = _paths(inputs, tmp_path)
    monkeypatch.chdir(tmp_path)                       # default outputs (runs/demo ...) land under the snapshot
    if case.read_only:
        request.getfixturevalue("read_only")
    _write(tmp_path, case.files, paths)
    argv = [a.format(**paths) for a in case.argv]
    assert argv[0] == command
    with unchanged():
        code = _run(argv)
        out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    if case.layout:                                   # the folder tree `data check` prints after a wrong root
        at = next(i for i, line in enumerate(lines) if line.startswith("expected layout for --dataset"))
        lines = lines[:at]
    errors = [line for line in lines if "error:" in line]
    assert code == case.code, err
    assert "Traceback" not in err + out and len(errors) == 1, err
    usage = [line for line in lines if line.startswith("usage:") or line.startswith(" ")]
    assert len(lines) == 1 + len(usage), err         # the error line, after argparse's usage at most
    line = errors[0]
    assert line.startswith(f"vidreid {command}"), line
    for fragment in case.fragments:
        assert fragment.format(**paths) in line, line


def test_every_command_has_ten_cases():
    from vidreid.cli import build_parser
    import argparse
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(CASES)
    assert {c: len(cases) for c, cases in CASES.items() if len(cases) < 10} == {}
    for cases in CASES.values():
        assert len({c.id for c in cases}) == len(cases)
