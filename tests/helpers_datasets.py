"""Fixtures in the real layouts of DukeV, iLIDS-VID, PRID2011, LS-VID and a manifest: real folder trees, file-name
patterns and split-file formats, with tiny solid-colour frames (8x4 pixels) so a test writes them in milliseconds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.io
import simplejpeg
from PIL import Image

SIZE = (8, 4)  # (height, width) of every generated frame


def colour(pid: int, cam: int, frame: int) -> tuple[int, int, int]:
    """The solid RGB colour of frame `frame` (0-based, in true order) of a (pid, cam) tracklet."""
    return ((pid * 37 + 40) % 256, (cam * 60 + 20) % 256, (frame * 23 + 10) % 256)


def _image(pid: int, cam: int, frame: int) -> np.ndarray:
    img = np.empty((*SIZE, 3), dtype=np.uint8)
    img[:] = colour(pid, cam, frame)
    return img


def write_jpeg(path: Path, pid: int, cam: int, frame: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(simplejpeg.encode_jpeg(_image(pid, cam, frame), quality=95))


def write_png(path: Path, pid: int, cam: int, frame: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_image(pid, cam, frame)).save(path)


def truncate(path: Path, keep: float = 0.5) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


def _shuffled(n: int) -> list[int]:
    """1..n in a fixed scrambled order: files are created out of order, so a loader that trusted the directory's
    creation order (rather than the frame numbers) would be caught on file systems that keep it."""
    return (np.random.default_rng(n).permutation(n) + 1).tolist()


# ---------------------------------------------------------------------------------------------- DukeV
def dukev_name(pid: int, cam: int, f: int, x: int, style: str = "old", pad: bool = True) -> str:
    """pad=False writes the F index without leading zeros (F9, F10): name order then differs from frame order."""
    fs = f"{f:04d}" if pad else str(f)
    if style == "old":
        return f"{pid:04d}C{cam}F{fs}X{x:05d}.jpg"
    return f"{pid:04d}_C{cam}_F{fs}_X{x:05d}.jpg"


def make_dukev_root(tmp_path, splits: dict, style: str = "old", pad: bool = True) -> Path:
    """DukeMTMC-VideoReID layout under tmp_path/"dukev": splits = {"train"|"query"|"gallery": [(pid, cam, n)]};
    tracklet folders numbered per pid from 0001; frames F0001..F{n} (F1..F{n} with pad=False), written in a
    shuffled order, X counting down so that X order != F order."""
    root = Path(tmp_path) / "dukev"
    for split in ("train", "query", "gallery"):
        (root / split).mkdir(parents=True, exist_ok=True)
        per_pid: dict[int, int] = {}
        for pid, cam, n in splits.get(split, []):
            per_pid[pid] = per_pid.get(pid, 0) + 1
            folder = root / split / f"{pid:04d}" / f"{per_pid[pid]:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in _shuffled(n):
                write_jpeg(folder / dukev_name(pid, cam, f, 90000 - 7 * f, style, pad), pid, cam, f - 1)
    return root


# ---------------------------------------------------------------------------------------------- iLIDS-VID
def make_ilidsvid_root(tmp_path, people: list[tuple[int, int, int]], num_splits: int = 10, seed: int = 0,
                       pad: bool = True) -> Path:
    """iLIDS-VID layout under tmp_path/"ilids": people = [(person number, frames cam1, frames cam2)]; frame numbers
    start at 100 + person and are 5-digit (pad=False: frame numbers 1 + 3 * k without leading zeros, so that name
    order differs from frame order); split file `train-test people splits/train_test_splits_ilidsvid.mat`
    with ls_set (num_splits, len(people)): per row a permutation of 1..P, first half test, second half train."""
    root = Path(tmp_path) / "ilids"
    seq = root / "i-LIDS-VID" / "sequences"
    for no, n1, n2 in people:
        for k, n in ((1, n1), (2, n2)):
            folder = seq / f"cam{k}" / f"person{no:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in (np.array(_shuffled(n)) - 1).tolist():
                number = f"{100 + no + 3 * f:05d}" if pad else str(1 + 3 * f)
                write_png(folder / f"cam{k}_person{no:03d}_{number}.png", no, k - 1, f)
    rng = np.random.default_rng(seed)
    ls_set = np.stack([rng.permutation(len(people)) + 1 for _ in range(num_splits)]).astype(np.float64)
    split_dir = root / "train-test people splits"
    split_dir.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(split_dir / "train_test_splits_ilidsvid.mat", {"ls_set": ls_set})
    return root


# ---------------------------------------------------------------------------------------------- PRID2011
def make_prid_root(tmp_path, people: list[tuple[int, int, int]], only_a: list[tuple[int, int]] = (),
                   only_b: list[tuple[int, int]] = (), splits: list[dict] | None = None, pad: bool = True) -> Path:
    """PRID2011 multi-shot layout under tmp_path/"prid": people = [(person number, frames cam_a, frames cam_b)]
    seen in both cameras; only_a / only_b = [(person number, frames)] seen in one; frames 0001.png... (pad=False:
    1.png, 2.png, ..., 10.png); splits, if given, written as splits_prid2011.json."""
    root = Path(tmp_path) / "prid"
    base = root / "prid_2011" / "multi_shot"
    entries = [(no, "cam_a", na) for no, na, _ in people] + [(no, "cam_b", nb) for no, _, nb in people]
    entries += [(no, "cam_a", n) for no, n in only_a] + [(no, "cam_b", n) for no, n in only_b]
    for no, cam, n in entries:
        folder = base / cam / f"person_{no:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for f in (np.array(_shuffled(n)) - 1).tolist():
            write_png(folder / (f"{f + 1:04d}.png" if pad else f"{f + 1}.png"), no, 0 if cam == "cam_a" else 1, f)
    if splits is not None:
        (root / "splits_prid2011.json").write_text(json.dumps(splits))
    return root


# ---------------------------------------------------------------------------------------------- LS-VID
def lsvid_frame(tracklet: int, frame: int, cam: int, pad: bool = True) -> str:
    return f"{tracklet:05d}_{frame:04d}_{cam:02d}_0303morning.jpg" if pad else \
        f"{tracklet:05d}_{frame}_{cam:02d}_0303morning.jpg"


def make_lsvid_root(tmp_path, train: list[tuple[int, int, int]], test: list[tuple[int, int, int]],
                    query_rows: list[int], info_dir: str = "test/data", pad: bool = True) -> Path:
    """LS-VID layout under tmp_path/"LS-VID": train/test = [(pid, cam 1..15, frames)]; list_sequence/list_seq_*.txt
    lines "tracklet_<split>/<pid4>/<tracklet5>_ <pid>"; frames <tracklet5>_<frame4>_<cam2>_0303morning.jpg;
    <info_dir>/info_test.mat with `query` = 1-based lines of the test list (query_rows are 0-based); pad=False writes
    the frame number without leading zeros (_9_ before _10_ only in numeric order)."""
    root = Path(tmp_path) / "LS-VID"
    lists = root / "list_sequence"
    lists.mkdir(parents=True, exist_ok=True)
    tid = 0
    for split, rows in (("train", train), ("test", test)):
        lines = []
        for pid, cam, n in rows:
            tid += 1
            folder = root / f"tracklet_{split}" / f"{pid:04d}"
            for f in (np.array(_shuffled(n)) - 1).tolist():
                write_jpeg(folder / lsvid_frame(tid, f + 1, cam, pad), pid, cam, f)
            lines.append(f"tracklet_{split}/{pid:04d}/{tid:05d}_ {pid}")
        (lists / f"list_seq_{split}.txt").write_text("\n".join(lines) + "\n")
    (root / info_dir).mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / info_dir / "info_test.mat",
                     {"query": (np.asarray(query_rows, dtype=np.float64) + 1).reshape(-1, 1)})
    return root


def write_mat_v73_header(path: Path) -> None:
    """A file that declares itself MATLAB v7.3 (HDF5), which scipy refuses to read."""
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
              b"HDF5 schema 1.00 .").ljust(116)
    Path(path).write_bytes(header + b"\x00" * 8 + b"\x00\x02" + b"IM" + b"\x00" * 384)


# ---------------------------------------------------------------------------------------------- index guard
def forbid_frame_access(monkeypatch) -> None:
    """Make opening, stat'ing or decoding an image file an assertion error (loaders index from listings and list
    files only): patches builtins.open, os.open, os.stat, os.lstat and PIL.Image.open. os.path.isfile/exists go
    through os.stat, so they are caught too."""
    import builtins
    import os

    def is_frame(p) -> bool:
        return isinstance(p, (str, bytes, os.PathLike)) and os.fsdecode(p).lower().endswith(
            (".jpg", ".jpeg", ".png", ".bmp"))

    def guard(name, real):
        def guarded(p, *a, **k):
            assert not is_frame(p), f"{name} on a frame: {p}"
            return real(p, *a, **k)
        return guarded
    monkeypatch.setattr(builtins, "open", guard("open", builtins.open))
    monkeypatch.setattr(os, "open", guard("os.open", os.open))
    monkeypatch.setattr(os, "stat", guard("os.stat", os.stat))
    monkeypatch.setattr(os, "lstat", guard("os.lstat", os.lstat))
    monkeypatch.setattr(Image, "open", guard("PIL.Image.open", Image.open))
