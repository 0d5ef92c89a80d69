"""How loaders report what is wrong: the problem collector that `vidreid data check` reuses (`Issues`, `Problem`,
`KINDS`), the non-fatal `DatasetWarning`, the wrong-root error that carries the expected tree, the protocol check."""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

from ...errors import ConfigError, DatasetError
from ..decode import DataWarning


class DatasetWarning(DataWarning):
    """A dataset problem that does not stop loading (e.g. an empty tracklet folder, dropped)."""


class RootError(DatasetError):
    """The dataset root is missing or does not have the expected layout; `.layout` is the expected tree."""

    def __init__(self, message: str, layout: str = ""):
        super().__init__(message)
        self.layout = layout


def root_error(name: str, root: str, problem: str, layout: str, short: str,
               markers: Sequence[str] = ()) -> RootError:
    """One-line message (root, what is wrong, the expected layout in one line); the full tree in `.layout`.
    `markers`: the folders a right root holds; when a folder below `root` holds them all (the official archive and
    torchreid unpack into e.g. ROOT/DukeMTMC-VideoReID/), the message names it."""
    if problem == "no such folder" and os.path.isfile(root):
        problem = "is a file, not a folder" + (" (a manifest of your own tracklets is --dataset manifest)"
                                               if name != "manifest" else "")
    nested = find_nested_root(root, markers) if markers else None
    hint = f"; the dataset seems to be one level down: use {nested} as the root" if nested else ""
    return RootError(f"{name} root {root}: {problem}; expected {short}{hint}", layout)


def find_nested_root(root: str, markers: Sequence[str], depth: int = 2, max_entries: int = 64) -> str | None:
    """The first folder at most `depth` levels below `root` that holds every folder in `markers` (only the first
    `max_entries` subfolders of each folder are looked at: a data folder with thousands of entries is not scanned)."""
    level = [root]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as it:
                    subdirs = sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))[:max_entries]
            except OSError:
                continue
            for sub in subdirs:
                if all(os.path.isdir(os.path.join(sub, m)) for m in markers):
                    return sub
            below += subdirs
        level = below[:max_entries]
    return None


def check_protocol(name: str, protocol: str, allowed: Sequence[str] = ("gao",)) -> None:
    if protocol not in allowed:
        why = (" (its query/gallery split is evaluated with the gao rules; the mars protocol, whose gallery includes "
               "the queries, is for MARS-layout datasets)" if allowed == ("gao",) and protocol == "mars" else "")
        raise ConfigError(f"dataset {name!r} supports protocol {' or '.join(allowed)}, got {protocol!r}{why}; "
                          f"set data.protocol={allowed[0]}")


@dataclass
class Problem:
    kind: str         # see KINDS
    path: str         # the file or folder concerned
    message: str      # what is wrong, and what was expected
    split: str = ""   # train | query | gallery | test | ... ("" when not tied to one)

    def to_dict(self) -> dict:
        return asdict(self)


KINDS = {  # kind -> heading printed by `vidreid data check`
    "missing_frame": "missing frame",
    "unreadable_frame": "unreadable frame",
    "corrupt_image": "corrupt image",
    "empty_tracklet": "empty tracklet",
    "no_readable_frame": "tracklet without a readable frame",
    "name_mismatch": "name/metadata mismatch",
    "out_of_range": "pid/camera out of range",
    "duplicate_frame": "frame in several tracklets",
    "index": "index file problem",
    "split_file": "split file problem",
}


class Issues:
    """Where a loader reports what it finds wrong.

    Loading (collect=False): `error` raises a DatasetError naming the first file and the number of such problems;
    `drop` (the item is left out, e.g. an empty tracklet) warns once with the count. Checking (collect=True, used by
    `vidreid data check`): both record every problem and the loader carries on."""

    def __init__(self, collect: bool = False):
        self.collect = collect
        self.problems: list[Problem] = []

    def error(self, kind: str, paths, messages, split="") -> None:
        paths, messages = _as_lists(paths, messages)
        if not paths:
            return
        if not self.collect:
            more = f" ({len(paths)} such problems)" if len(paths) > 1 else ""
            raise DatasetError(f"{paths[0]}: {messages[0]}{more}")
        self._record(kind, paths, messages, split)

    def drop(self, kind: str, paths, messages, split="") -> None:
        paths, messages = _as_lists(paths, messages)
        if not paths:
            return
        if not self.collect:
            more = f" (and {len(paths) - 1} more like it)" if len(paths) > 1 else ""
            warnings.warn(f"{paths[0]}: {messages[0]}; left out{more}", DatasetWarning, stacklevel=3)
        self._record(kind, paths, messages, split)

    def _record(self, kind, paths, messages, split) -> None:
        splits = [split] * len(paths) if isinstance(split, str) else [str(s) for s in split]
        self.problems.extend(Problem(kind, p, m, s) for p, m, s in zip(paths, messages, splits))


def _as_lists(paths, messages) -> tuple[list[str], list[str]]:
    paths = [paths] if isinstance(paths, str) else [str(p) for p in paths]
    messages = [messages] * len(paths) if isinstance(messages, str) else [str(m) for m in messages]
    return paths, messages


def index_or_none(build, root: str, issues: "Issues", **options):
    """`build(root, issues=issues, **options)` for `vidreid data check`: a wrong root still raises RootError (the
    expected tree is printed); any other DatasetError (e.g. an unreadable list file: nothing to index) is recorded in
    `issues` and None returned, so the check reports it with the rest."""
    try:
        return build(root, issues=issues, **options)
    except RootError:
        raise
    except DatasetError as e:
        issues.error("index", root, str(e))
        return None
