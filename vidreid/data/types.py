"""The dataset interface every loader returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Tracklet(NamedTuple):
    frames: tuple[str, ...]  # ordered frame paths (absolute, or relative to the dataset root's parent)
    pid: int                 # person id; train pids relabelled 0..N-1; test: 0 = distractor, -1 = junk
    camid: int               # 0-based camera index


@dataclass
class VideoReIDDataset:
    name: str
    root: str
    train: list[Tracklet]
    query: list[Tracklet]
    gallery: list[Tracklet]
    protocol: str = "mars"   # evaluation protocol the query/gallery split was built for ("mars" | "gao")
    meta: dict = field(default_factory=dict)

    @property
    def num_train_pids(self) -> int:
        return len({t.pid for t in self.train})

    def summary(self) -> str:
        rows = []
        for split in ("train", "query", "gallery"):
            ts = getattr(self, split)
            rows.append(f"  {split:<8} {len({t.pid for t in ts}):>6} ids {len(ts):>7} tracklets "
                        f"{sum(len(t.frames) for t in ts):>9} frames")
        return f"{self.name} ({self.root}, protocol={self.protocol})\n" + "\n".join(rows)
