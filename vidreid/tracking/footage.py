"""Footage manifests: which video is which camera, when each started, and how long walking between cameras takes.

One format, two spellings. YAML (with transit times):

    videos:
      - {video: gate.mp4, camera: gate, start: "2026-12-05T10:00:00"}
      - {video: hall.mp4, camera: hall, start: "2026-12-05T10:01:30", fps: 25}   # fps: overrides the file's
    transit:                       # optional: least seconds to walk from one camera's view to another's
      - {from: gate, to: hall, seconds: 40}            # both ways unless `one_way: true`
    default_transit: 0             # optional: pairs not listed (0 = only "nobody is in two cameras at once")

CSV (videos only; a header row names the columns, `fps` optional):

    video,camera,start
    gate.mp4,gate,2026-12-05T10:00:00

`start` is an ISO 8601 date and time, a time of day HH:MM[:SS[.fff]], or a number of seconds; all rows use the same
kind. Video paths are relative to the manifest's folder. Every time becomes seconds on one clock (`Footage.seconds`);
`Footage.format` writes a clock time back the way the manifest spelled it. A bad row gets one line naming the file,
the row and the problem (FootageError).
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import VidReIDError

CAMERA_RX = re.compile(r"[A-Za-z0-9_.-]+")       # a camera label names a folder


class FootageError(VidReIDError):
    """A footage manifest is missing, malformed or contradicts itself."""


@dataclass
class FootageVideo:
    video: str                 # absolute path of the video file
    camera: str                # camera label (a folder name in the tracklets output)
    start: float               # clock seconds of the video's first frame
    fps: float | None = None   # frame rate overriding the file's (None: the file's)


@dataclass
class Footage:
    videos: list[FootageVideo]
    clock: str = "seconds"                          # how `start` was spelled: datetime | time | seconds
    transit: dict = field(default_factory=dict)     # (from camera, to camera) -> least seconds between their views
    default_transit: float = 0.0                    # seconds for pairs not in `transit`
    path: str = ""                                  # the manifest file

    @property
    def cameras(self) -> list[str]:
        return [v.camera for v in self.videos]

    def video_of(self, camera: str) -> FootageVideo:
        return self.videos[self.cameras.index(camera)]

    def transit_matrix(self, cameras: list[str]) -> np.ndarray:
        """(C, C) least seconds from camera i's view to camera j's (0 on the diagonal)."""
        m = np.full((len(cameras), len(cameras)), float(self.default_transit))
        index = {c: i for i, c in enumerate(cameras)}
        for (a, b), s in self.transit.items():
            if a in index and b in index:
                m[index[a], index[b]] = s
        np.fill_diagonal(m, 0.0)
        return m

    def format(self, seconds: float) -> str:
        """Clock seconds -> the manifest's spelling (ISO date-time, HH:MM:SS or seconds)."""
        if self.clock == "datetime":
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None).isoformat(
                timespec="seconds")
        if self.clock == "time":
            s = int(round(seconds))
            return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
        return f"{seconds:.1f}s"

    def to_dict(self) -> dict:
        return {"path": self.path, "clock": self.clock, "default_transit": self.default_transit,
                "videos": [asdict(v) for v in self.videos],
                "transit": [{"from": a, "to": b, "seconds": s} for (a, b), s in sorted(self.transit.items())]}

    @classmethod
    def from_dict(cls, d: dict) -> "Footage":
        return cls([FootageVideo(**v) for v in d["videos"]], d["clock"],
                   {(t["from"], t["to"]): float(t["seconds"]) for t in d.get("transit", [])},
                   float(d.get("default_transit", 0.0)), d.get("path", ""))


def parse_start(value, where: str) -> tuple[float, str]:
    """A start time -> (clock seconds, kind): ISO date-time (seconds since 1970, naive = UTC), HH:MM[:SS] (seconds
    since midnight) or a number of seconds."""
    if isinstance(value, (dt.datetime, dt.date)):      # YAML parses unquoted ISO date-times itself
        value = value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), "seconds"
    text = str(value).strip()
    try:
        return float(text), "seconds"
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?", text)
    if m:
        h, mi, s = int(m[1]), int(m[2]), float(m[3] or 0)
        if h < 24 and mi < 60 and s < 60:
            return h * 3600 + mi * 60 + s, "time"
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FootageError(f"{where}: start {text!r} is not a time (ISO 8601 date-time, HH:MM:SS or seconds)") \
            from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp(), "datetime"


def _number(value, name: str, where: str, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FootageError(f"{where}: {name} {value!r} is not a number") from None
    if not np.isfinite(x) or x < 0 or (positive and x == 0):
        raise FootageError(f"{where}: {name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return x


def _rows(path: str) -> tuple[list[dict], list, object]:
    """The manifest's video rows (dicts), its transit rows and its default transit."""
    if path.lower().endswith((".yaml", ".yml")):
        import yaml
        try:
            with open(path) as f:
                doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise FootageError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("videos"), list) or not doc["videos"]:
            raise FootageError(f"{path}: expected a mapping with a non-empty list `videos:`")
        unknown = set(doc) - {"videos", "transit", "default_transit"}
        if unknown:
            raise FootageError(f"{path}: unknown key {sorted(unknown)[0]!r} (videos, transit, default_transit)")
        transit = doc.get("transit") or []
        if not isinstance(transit, list):
            raise FootageError(f"{path}: `transit:` must be a list of {{from, to, seconds}}")
        return doc["videos"], transit, doc.get("default_transit", 0)
    if path.lower().endswith(".csv"):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise FootageError(f"{path}: no rows under the header (video,camera,start[,fps])")
        missing = {"video", "camera", "start"} - set(rows[0])
        if missing:
            raise FootageError(f"{path}: the header lacks {', '.join(sorted(missing))} (video,camera,start[,fps])")
        return rows, [], 0
    raise FootageError(f"{path}: a footage manifest is .yaml, .yml or .csv")


def load_footage(path: str, check_videos: bool = True) -> Footage:
    """Read and check a footage manifest (module docstring) -> Footage."""
    if not os.path.isfile(path):
        raise FootageError(f"{path}: no such footage manifest")
    rows, transit_rows, default = _rows(path)
    base = os.path.dirname(os.path.abspath(path))
    videos, kinds = [], set()
    for n, row in enumerate(rows, 1):                                   # loop over manifest rows (a few)
        where = f"{path} video {n}"
        if not isinstance(row, dict):
            raise FootageError(f"{where}: expected video, camera and start, got {row!r}")
        extra = set(row) - {"video", "camera", "start", "fps"}
        if extra:
            raise FootageError(f"{where}: unknown field {sorted(extra)[0]!r} (video, camera, start, fps)")
        for key in ("video", "camera", "start"):
            if row.get(key) in (None, ""):
                raise FootageError(f"{where}: {key} is missing")
        camera = str(row["camera"]).strip()
        if not CAMERA_RX.fullmatch(camera) or camera.startswith("."):
            raise FootageError(f"{where}: camera {camera!r}: use letters, digits, '-', '_' or '.' (it names a folder)")
        video = os.path.join(base, os.path.expanduser(str(row["video"]).strip()))
        if check_videos and not os.path.isfile(video):
            raise FootageError(f"{where}: video {video} does not exist")
        start, kind = parse_start(row["start"], where)
        kinds.add(kind)
        fps = None if row.get("fps") in (None, "") else _number(row["fps"], "fps", where, positive=True)
        videos.append(FootageVideo(os.path.abspath(video), camera, start, fps))
    if len(kinds) > 1:
        raise FootageError(f"{path}: start times mix {' and '.join(sorted(kinds))}; use one kind for every video")
    cams = [v.camera for v in videos]
    dup = next((c for c in cams if cams.count(c) > 1), None)
    if dup:
        raise FootageError(f"{path}: camera {dup!r} is given to two videos; one label per video")
    transit = {}
    for n, t in enumerate(transit_rows, 1):                             # loop over transit rows
        where = f"{path} transit {n}"
        if not isinstance(t, dict) or not {"from", "to", "seconds"} <= set(t):
            raise FootageError(f"{where}: expected {{from, to, seconds[, one_way]}}, got {t!r}")
        a, b = str(t["from"]), str(t["to"])
        for c in (a, b):
            if c not in cams:
                raise FootageError(f"{where}: camera {c!r} is not one of the videos' ({', '.join(cams)})")
        if a == b:
            raise FootageError(f"{where}: from and to are the same camera {a!r}")
        s = _number(t["seconds"], "seconds", where)
        for key in [(a, b)] + ([] if t.get("one_way") else [(b, a)]):
            if key in transit and transit[key] != s:
                raise FootageError(f"{where}: {key[0]} -> {key[1]} is given {transit[key]:g} s and {s:g} s")
            transit[key] = s
    return Footage(videos, kinds.pop(), transit, _number(default, "default_transit", path), os.path.abspath(path))


__all__ = ["Footage", "FootageError", "FootageVideo", "load_footage", "parse_start"]
