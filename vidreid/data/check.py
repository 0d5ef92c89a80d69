"""`vidreid data check`: statistics per split and every problem of a dataset root, without stopping at the first.

Two passes:
1. the index, built by the dataset's own loader with a collecting `Issues` (name/metadata mismatches, pids or
   cameras out of range, empty tracklets, bad split, list or index files), plus frames listed by several tracklets;
   MARS-layout roots are indexed with the mars protocol so that every test tracklet, junk included, is checked;
2. every frame file read and fully decoded in parallel worker processes (chunks of frames, progress bar): missing
   or unreadable files, truncated or corrupt images (JPEG: end-of-image marker and a full decode; PNG and others:
   a full decode), then the tracklets left without a single readable frame.

Exit status (the CLI): 0 clean, 1 problems found, 2 wrong root (the expected layout is printed).
"""
from __future__ import annotations

import io
import json
import multiprocessing
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import DatasetError
from ..utils.io import atomic_write_text
from ..utils.system import usable_cpus
from .datasets.issues import KINDS, Issues, Problem, RootError
from .decode import JPEG_MAGIC
from .types import Tracklet, VideoReIDDataset

_JPEG_EOI = b"\xff\xd9"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
CHUNK = 256                      # frames per worker task


@dataclass
class CheckReport:
    dataset: str
    root: str
    stats: list[dict]                               # one row per split (see split_stats)
    problems: list[Problem] = field(default_factory=list)
    frames_checked: int = 0
    options: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "root": self.root, "options": self.options, "ok": self.ok,
                "frames_checked": self.frames_checked, "stats": self.stats, "problem_counts": self.counts(),
                "problems": [p.to_dict() for p in self.problems]}


# ---------------------------------------------------------------------------------------------- index
def build_index(name: str, root: str, issues: Issues, split: int = 0, **options) -> VideoReIDDataset | None:
    """The dataset's index built by its loader in collecting mode; None if the index itself cannot be built (the
    reason is in `issues`). Wrong roots raise RootError, unknown options ConfigError.

    MARS layout (mars, synthped): protocol mars by default -- its gallery is every test tracklet, junk (pid -1)
    included, so every tracklet of the dataset is listed and decoded (the gao split leaves the junk out)."""
    from .datasets import check_options, is_multi_split, load_dataset
    from .datasets.issues import index_or_none
    from .datasets.registry import dataset_checker
    check_options(name, options)
    if is_multi_split(name):
        options = {"split": split, **options}
    checker = dataset_checker(name)                 # registered beside each loader (register_dataset's check)
    if checker is None:                 # a loader without a collecting mode (vtest): its first error is the problem
        return index_or_none(lambda r, issues, **o: load_dataset(name, r, **o), root, issues, **options)
    return checker(root, issues, **options)


# ---------------------------------------------------------------------------------------------- statistics
SPLITS = ("train", "query", "gallery")


def split_stats(dataset: VideoReIDDataset) -> list[dict]:
    rows = []
    for split in SPLITS:
        ts: list[Tracklet] = getattr(dataset, split)
        lengths = np.fromiter((len(t.frames) for t in ts), dtype=np.int64, count=len(ts))
        rows.append({"split": split, "ids": len({t.pid for t in ts}), "tracklets": len(ts),
                     "frames": int(lengths.sum()), "min": int(lengths.min()) if len(ts) else 0,
                     "median": float(np.median(lengths)) if len(ts) else 0.0,
                     "max": int(lengths.max()) if len(ts) else 0, "cameras": len({t.camid for t in ts})})
    return rows


def _all_tracklets(dataset: VideoReIDDataset) -> tuple[list[Tracklet], list[str]]:
    """Every tracklet once (a gallery that includes the queries lists the same objects twice) with its split. By
    identity, not value: two table rows or manifest lines with the same frames are two tracklets, whose frames are
    then reported as listed by several tracklets."""
    seen, out, splits = set(), [], []
    for split in SPLITS:
        for t in getattr(dataset, split):
            key = id(t)
            if key in seen:
                continue
            seen.add(key)
            out.append(t)
            splits.append(split)
    return out, splits


def duplicate_frames(tracklets: list[Tracklet], splits: list[str]) -> list[Problem]:
    """Frames that belong to more than one tracklet (vectorised over all frames)."""
    lengths = np.fromiter((len(t.frames) for t in tracklets), dtype=np.int64, count=len(tracklets))
    if lengths.sum() == 0:
        return []
    paths = np.array([f for t in tracklets for f in t.frames])
    owner = np.repeat(np.arange(len(tracklets)), lengths)
    order = np.lexsort((owner, paths))
    p, o = paths[order], owner[order]
    same = (p[1:] == p[:-1]) & (o[1:] != o[:-1])
    out = []
    for i in np.flatnonzero(same).tolist():                       # one entry per duplicated frame (rare)
        a, b = tracklets[o[i]], tracklets[o[i + 1]]
        out.append(Problem("duplicate_frame", str(p[i + 1]),
                           f"listed by two tracklets: pid {a.pid} camid {a.camid} ({splits[o[i]]}) and pid {b.pid} "
                           f"camid {b.camid} ({splits[o[i + 1]]})", splits[o[i + 1]]))
    return out


# ---------------------------------------------------------------------------------------------- frames
def verify_frame(path: str) -> tuple[str, str] | None:
    """Read and fully decode one frame -> None if good, else (kind, message)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return "missing_frame", "no such file"
    except OSError as e:
        return "unreadable_frame", f"cannot read ({e.strerror or e})"
    if not data:
        return "corrupt_image", "empty file (0 bytes)"
    if data[:2] == JPEG_MAGIC:
        if not data.rstrip(b"\0").endswith(_JPEG_EOI):
            return "corrupt_image", f"truncated JPEG: no end-of-image marker ({len(data)} bytes)"
        import simplejpeg
        try:
            simplejpeg.decode_jpeg(data, colorspace="RGB")
            return None
        except ValueError:
            pass                                                  # a variant turbojpeg refuses: PIL decides
    elif data[:8] == _PNG_MAGIC and _PNG_IEND not in data[-16:]:
        return "corrupt_image", f"truncated PNG: no IEND chunk ({len(data)} bytes)"
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Image.UnidentifiedImageError:
        return "corrupt_image", f"not an image file (unrecognised content, {len(data)} bytes)"
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError...)
        return "corrupt_image", f"not a decodable image ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})"
    return None


def _verify_chunk(task: tuple[int, list[str]]) -> tuple[int, list[tuple[int, str, str]]]:
    start, paths = task
    bad = []
    for i, p in enumerate(paths):                                 # one worker task = one chunk of frames
        res = verify_frame(p)
        if res is not None:
            bad.append((start + i, *res))
    return len(paths), bad


def verify_frames(paths: list[str], workers: int | None = None, progress: bool = True) -> list[tuple[int, str, str]]:
    """Check every frame (index, kind, message for the bad ones), in `workers` processes (default: the CPUs)."""
    from ..progress import progress_bar
    workers = usable_cpus() if workers is None else int(workers)
    tasks = [(a, paths[a:a + CHUNK]) for a in range(0, len(paths), CHUNK)]
    bad: list[tuple[int, str, str]] = []
    bar = progress_bar(total=len(paths), desc="reading frames", unit="frame", enabled=progress)
    if workers <= 1 or len(tasks) <= 1:
        results = map(_verify_chunk, tasks)
        pool = None
    else:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        pool = ctx.Pool(min(workers, len(tasks)))
        results = pool.imap_unordered(_verify_chunk, tasks)
    try:
        for n, chunk_bad in results:
            bad.extend(chunk_bad)
            bar.update(n)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    return sorted(bad)


# ---------------------------------------------------------------------------------------------- the check
def check_dataset(name: str, root: str, split: int = 0, workers: int | None = None, progress: bool = True,
                  **options) -> CheckReport:
    """Index + frames check of a dataset root -> CheckReport. Raises RootError for a wrong root and DatasetError
    for an unknown dataset name."""
    from ..errors import ConfigError
    from .datasets import is_multi_split
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1 (frame-reading processes), got {workers}")
    issues = Issues(collect=True)
    dataset = build_index(name, root, issues, split, **options)
    if split and not is_multi_split(name):
        raise ConfigError(f"--split {split}: dataset {name!r} has one split (--split is for the multi-split "
                          f"datasets, ilidsvid and prid2011)")
    opts = {"split": split, **options} if is_multi_split(name) else dict(options)
    if name == "synthped" and dataset is not None:
        from .datasets.mars import synthped_layout
        opts["layout"] = synthped_layout(root)
    if name in ("mars", "synthped") and dataset is not None:
        opts["protocol"] = dataset.protocol                       # the mars gallery holds the queries too
    if dataset is None:
        return CheckReport(name, os.path.abspath(root), [], issues.problems, 0, opts)
    report = CheckReport(name, dataset.root, split_stats(dataset), list(issues.problems), 0, opts)
    tracklets, splits = _all_tracklets(dataset)
    report.problems += duplicate_frames(tracklets, splits)

    # every distinct frame once, then map the results back to tracklets
    lengths = np.fromiter((len(t.frames) for t in tracklets), dtype=np.int64, count=len(tracklets))
    all_paths = np.array([f for t in tracklets for f in t.frames]) if lengths.sum() else np.zeros(0, "<U1")
    unique, inverse = np.unique(all_paths, return_inverse=True)
    owner = np.repeat(np.arange(len(tracklets)), lengths)
    first_owner = np.zeros(len(unique), dtype=np.int64)
    first_owner[inverse[::-1]] = owner[::-1]                        # the first tracklet listing each frame
    bad = verify_frames(unique.tolist(), workers, progress)
    report.frames_checked = len(unique)
    bad_mask = np.zeros(len(unique), dtype=bool)
    for i, kind, message in bad:
        bad_mask[i] = True
        report.problems.append(Problem(kind, str(unique[i]), message, splits[first_owner[i]]))
    if len(all_paths):
        good_per_tracklet = np.bincount(owner, weights=~bad_mask[inverse], minlength=len(tracklets))
        for t_idx in np.flatnonzero(good_per_tracklet == 0).tolist():   # tracklets with no readable frame (rare)
            t = tracklets[t_idx]
            report.problems.append(Problem("no_readable_frame", os.path.dirname(t.frames[0]),
                                           f"all {len(t.frames)} frames of this tracklet (pid {t.pid}, camid "
                                           f"{t.camid}) are missing or corrupt: it will be dropped",
                                           splits[t_idx]))
    return report


# ---------------------------------------------------------------------------------------------- output
def format_stats(stats: list[dict]) -> str:
    head = f"{'split':<9}{'ids':>7}{'tracklets':>11}{'frames':>10}{'min':>6}{'median':>8}{'max':>7}{'cameras':>9}"
    lines = [head, "-" * len(head)]
    for r in stats:
        if not r["tracklets"]:   # e.g. the train split of a query/gallery-only manifest: say so, not a row of zeros
            lines.append(f"{r['split']:<9}  (no tracklets in this split)")
            continue
        lines.append(f"{r['split']:<9}{r['ids']:>7}{r['tracklets']:>11}{r['frames']:>10}{r['min']:>6}"
                     f"{r['median']:>8g}{r['max']:>7}{r['cameras']:>9}")
    return "\n".join(lines)


def usability_notes(stats: list[dict]) -> list[str]:
    """What an empty split rules out (not a problem of the files: `vidreid train` refuses such a dataset up front)."""
    empty = {r["split"] for r in stats if not r["tracklets"]}
    notes = []
    if "train" in empty:
        notes.append("note: no train tracklets: this dataset can be evaluated on, not trained on")
    if empty & {"query", "gallery"}:
        notes.append(f"note: no {' and no '.join(s for s in ('query', 'gallery') if s in empty)} tracklets: this "
                     f"dataset cannot be evaluated on (and `vidreid train`, which evaluates at its end, refuses it)")
    return notes


def format_report(report: CheckReport) -> str:
    opts = " ".join(f"{k}={v}" for k, v in report.options.items())
    lines = [f"{report.dataset} at {report.root}" + (f" ({opts})" if opts else "")]
    if report.stats:
        lines.append(format_stats(report.stats))
        lines += usability_notes(report.stats)
    lines.append(f"{report.frames_checked} frame files read and decoded")
    if report.ok:
        lines.append("no problems found")
        return "\n".join(lines)
    counts = report.counts()
    lines.append(f"{len(report.problems)} problem(s): " + ", ".join(f"{n} {KINDS.get(k, k)}"
                                                                     for k, n in counts.items()))
    for kind in counts:
        lines.append(f"{KINDS.get(kind, kind)}:")
        for p in report.problems:
            if p.kind == kind:
                lines.append(f"  {p.path}: {p.message}" + (f" [{p.split}]" if p.split else ""))
    return "\n".join(lines)


def write_fix_report(report: CheckReport, path: str) -> None:
    atomic_write_text(path, json.dumps(report.to_dict(), indent=1) + "\n")
