"""Test helpers shared by data tests: MARS-layout roots in a tmp folder (tiny real JPEGs, or index only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import simplejpeg

MARS_INFO = Path("/work/shared/data/mars-info")  # the real MARS .mat tables (name lists are generated)


def mars_pid4(pid: int) -> str:
    """MARS pid folder / name prefix: 4 digits, "00-1" for junk."""
    return "00-1" if pid == -1 else f"{pid:04d}"


def mars_names(table: np.ndarray) -> list[str]:
    """Frame names consistent with a MARS track table [start, end, pid, cam] (rows contiguous from line 1, in order):
    `{pid4}C{cam}T{tracklet4}F{frame3}.jpg`, tracklet = row number (mod 10000), frame = 1-based (mod 1000)."""
    table = np.asarray(table, dtype=np.int64)
    lengths = table[:, 1] - table[:, 0] + 1
    prefixes = [f"{mars_pid4(p)}C{c}T{(r + 1) % 10000:04d}F" for r, (p, c) in enumerate(table[:, 2:4].tolist())]
    frame_no = (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1) % 1000
    row = np.repeat(np.arange(len(table)), lengths)
    return [f"{prefixes[r]}{f:03d}.jpg" for r, f in zip(row.tolist(), frame_no.tolist())]


def frame_colour(pid: int, cam: int, frame: int) -> tuple[int, int, int]:
    """The solid RGB colour make_mars_root paints frame `frame` (0-based) of a (pid, cam) tracklet with."""
    return ((pid * 37 + 40) % 256, cam * 60 % 256, (frame * 23 + 10) % 256)


def _write_tables(info: Path, split: str, tracks) -> np.ndarray:
    lengths = np.array([n for _, _, n in tracks], dtype=np.int64)
    ends = np.cumsum(lengths)
    table = np.stack([ends - lengths + 1, ends, [p for p, _, _ in tracks], [c for _, c, _ in tracks]], 1)
    table = table.astype(np.int32)
    var = f"track_{split}_info"
    scipy.io.savemat(info / f"tracks_{split}_info.mat", {var: table})
    (info / f"{split}_name.txt").write_text("\n".join(mars_names(table)) + "\n")
    return table


def make_mars_root(tmp_path, tracks, query_rows, size=(32, 16), images: bool = True) -> Path:
    """Write a MARS-layout root under tmp_path/"mars" and return it.

    tracks: list of (pid, cam, n_frames) with cam 1-based as in MARS names (the loader's Tracklet.camid is cam - 1),
        used for both the train and the test tables; or a dict {"train": [...], "test": [...]}.
    query_rows: 0-based rows of the test list that are queries (written 1-based to info/query_IDX.mat).
    size: (height, width) of the JPEG frames; each frame is a solid `frame_colour(pid, cam, frame)`.
    images: False writes info/ only (index tests).
    """
    root = Path(tmp_path) / "mars"
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    splits = tracks if isinstance(tracks, dict) else {"train": tracks, "test": tracks}
    for split in ("train", "test"):
        table = _write_tables(info, split, splits[split])
        if not images:
            continue
        folder = root / f"bbox_{split}"
        names = (info / f"{split}_name.txt").read_text().split()
        for start, end, pid, cam in table.tolist():
            (folder / mars_pid4(pid)).mkdir(parents=True, exist_ok=True)
            for k in range(end - start + 1):
                img = np.empty((size[0], size[1], 3), dtype=np.uint8)
                img[:] = frame_colour(pid, cam, k)
                (folder / mars_pid4(pid) / names[start - 1 + k]).write_bytes(simplejpeg.encode_jpeg(img, quality=95))
    q = np.asarray(query_rows, dtype=np.uint16).reshape(1, -1) + 1
    scipy.io.savemat(info / "query_IDX.mat", {"query_IDX": q})
    return root


def make_real_mars_index(root) -> Path:
    """info/ of a MARS root from the real .mat tables plus generated consistent name lists (no images)."""
    info = Path(root) / "info"
    info.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        src = MARS_INFO / f"tracks_{split}_info.mat"
        (info / src.name).write_bytes(src.read_bytes())
        table = scipy.io.loadmat(src)[f"track_{split}_info"]
        (info / f"{split}_name.txt").write_text("\n".join(mars_names(table)) + "\n")
    (info / "query_IDX.mat").write_bytes((MARS_INFO / "query_IDX.mat").read_bytes())
    return Path(root)


@pytest.fixture(autouse=True)
def fresh_bad_frame_memory(monkeypatch):
    """Each test sees unreadable frames anew (their warnings and counts), not as already reported by another test.
    Autouse in the modules that import it."""
    from vidreid.data import decode
    monkeypatch.setattr(decode, "_bad_frames", set())
    decode.forget_bad_frames()


def mars_root_fixtures(tracks, name: str):
    """Module-scoped fixtures (root, dataset): a MARS-layout root of `tracks` (pid, cam, length) with 32x16 frames,
    query rows 0 and 2, and the dataset loaded from it. Use: `root, dataset = mars_root_fixtures(TRACKS, "x")`."""
    @pytest.fixture(scope="module")
    def root(tmp_path_factory):
        return make_mars_root(tmp_path_factory.mktemp(name), tracks, query_rows=[0, 2], size=(32, 16))

    @pytest.fixture(scope="module")
    def dataset(root):
        from vidreid.data import load_dataset
        return load_dataset("mars", str(root))
    return root, dataset
