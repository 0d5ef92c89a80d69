"""Real footage: OpenCV's `vtest.avi` (a street scene, one camera, 795 frames of 768x576 at 10 fps; Debian's
opencv-doc ships it) cut into tracklets by vidreid's own detector and tracker, the identities checked by eye.

The set is two committed files and the video; the crops are cut from the video at first use:

    vidreid/data/datasets/tables/vtest_tracklets.json   machine-made: every tracklet of
                                                          `vidreid tracklets vtest.avi` (HOG, defaults), its frames
                                                          and boxes (the command is recorded in the file)
    vidreid/data/datasets/tables/vtest_identities.csv   hand-made: tracklet,first,last,identity,note: frames
                                                          first..last of the tracklet are that person (blank
                                                          identity = excluded, the note says why)
    ROOT/crops/<tracklet>/f000123.jpg                   the crops (256x128, boxes padded to that aspect, as
                                                          `vidreid tracklets` writes them), made once, atomically
    ROOT/crops/<tracklet>/masks/f000123.png             their foreground masks (`vidreid tracklets --masks`;
                                                          crops folders made before masks existed have none)
    ROOT/vtest.json                                     marker: the hash of the tracklets table the crops belong to

The identities table labels segments: a tracklet whose box switched from one person to another is cut at the
switch (each part labelled, the frames around the switch excluded), and a tracklet that is no person, or no one
person that can be told, is excluded with its reason. A labelled segment is a "piece" below.

Options:
  evaluation  main        re-finding a person the tracker lost: every piece is a query, the gallery is every
                          piece, each piece its own camid, so under the gao rules a query's own piece is junk and
                          its positives are the other pieces of its person (persons seen once are distractors).
              cross_pass  every piece cut into two passes in time, as if seen by two cameras: the first half of
                          its frames is a query (camid 0), the second half a gallery tracklet (camid 1). Lenient:
                          a query's own second half (the next frames of the same walk) is a true match.
              strict_cross_pass  the same halves, but a query's own second half is junk, and so are the pieces its
                          walk goes on in after a tracker loss (a person's pieces less than WALK_GAP = 20 frames,
                          2 s, apart are one walk): its positives are the second halves of its person's pieces on
                          other walks (re-finding the person on another pass; persons seen on one walk are not
                          counted).
  boxes       loose       the tracker's boxes (default; HOG at the video's scale gives none under ~128 px tall, so
                          vtest's 70-120 px people are padded with background).
              tight       the same boxes refined by HOG at 2x scale in a window around each
                          (vidreid/data/datasets/tables/vtest_tracklets_tight.json, scripts/footage_tight.py): the
                          same tracklets, frames and identities. Its crops need their own root.
  part        full        every piece.
              late        the pieces cut to their frames from ADAPT_END on (shorter than MIN_PIECE: dropped);
                          train = the adapt set (`adapt_tracklets`: every tracklet, labelled or not, cut to its
                          frames before ADAPT_END, each its own class), so a model adapted on `train` is evaluated
                          on footage it never saw.
  video       the path of vtest.avi (default: $VIDREID_OPENCV_DATA, ./data/opencv-doc-data, the repository's
              data/opencv-doc-data, /usr/share/doc/opencv-doc/examples/data).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from ...errors import DatasetError
from ..types import Tracklet, VideoReIDDataset
from .issues import check_protocol
from .registry import register_dataset

NAME = "vtest"
TABLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tables")
TRACKLETS_FILE = os.path.join(TABLES, "vtest_tracklets.json")
IDENTITIES_FILE = os.path.join(TABLES, "vtest_identities.csv")
# option `boxes`: the tracker's boxes (HOG at the video's scale: none under ~128 px, so loose around vtest's 70-120 px
# people) or the same boxes refined by HOG at 2x scale (scripts/footage_tight.py; same tracklets and frames)
BOXES = {"loose": TRACKLETS_FILE, "tight": os.path.join(TABLES, "vtest_tracklets_tight.json")}
MARKER = "vtest.json"
CROPS = "crops"
ADAPT_END = 400        # frames 1..399 are the adapt set, frames 400..795 the late evaluation set
WALK_GAP = 20          # frames (2 s at vtest's 10 fps): a person found again within this is on the same walk (strict)
MIN_PIECE = 8          # a tracklet cut at ADAPT_END keeps a piece only with this many frames (`tracklets --min-len`)
LAYOUT = """\
ROOT/                         made by the loader on first use, from vtest.avi (option video, or opencv-doc's)
├── vtest.json                marker: the hash of the committed tracklets table the crops belong to
└── crops/<tracklet>/f000123.jpg   256x128 crops of the committed boxes"""
LAYOUT_SHORT = "a folder the loader fills on first use from vtest.avi (crops/<tracklet>/f<frame>.jpg, vtest.json)"
EVALUATIONS = ("main", "cross_pass", "strict_cross_pass")   # the query / gallery splits (option `evaluation`)
PARTS = ("full", "late")


@dataclass
class TableTracklet:
    name: str              # tracklet name as `vidreid tracklets` gave it ("t0007", "t0007-2")
    frames: np.ndarray     # (n,) int64 1-based frame numbers, increasing
    boxes: np.ndarray      # (n, 4) float64 [x, y, w, h] in video pixels (the tracker's boxes, before padding)


@dataclass
class Piece:
    name: str              # the tracklet it is cut from
    identity: int          # hand-checked person label (>= 1); 0 in the unlabelled adapt set
    frames: np.ndarray     # (n,) frame numbers, increasing: all or part of the tracklet's


@dataclass
class FootageTable:
    video: str             # the video's file name
    width: int
    height: int
    frame_count: int
    crop_size: tuple[int, int]           # (height, width) of the crops
    tracklets: list[TableTracklet]
    labelled: list[Piece]  # the hand-labelled segments, in table order
    excluded: list[tuple[str, int, int, str]]   # (tracklet, first, last, why) of the excluded segments
    sha256: str            # of the tracklets file: the crops on disk belong to this table


def read_table(tracklets_file: str = TRACKLETS_FILE, identities_file: str = IDENTITIES_FILE) -> FootageTable:
    """The committed tracklets table joined with the hand-checked identities. Every tracklet must have a row, labelled
    segments of one tracklet must not overlap and must hold MIN_PIECE frames (DatasetError naming the row)."""
    try:
        with open(tracklets_file, "rb") as f:
            raw = f.read()
        doc = json.loads(raw)
        with open(identities_file, newline="", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, ValueError) as e:
        raise DatasetError(f"{NAME}: cannot read its tables ({e})") from None
    tracklets = {}
    for t in doc["tracklets"]:                                   # loop over the few dozen tracklets
        r = np.asarray(t["rows"], np.float64)                    # (n, 5) [frame, x, y, w, h]
        tracklets[t["name"]] = TableTracklet(t["name"], r[:, 0].astype(np.int64), r[:, 1:5])
    comments = sum(1 for line in lines if line.startswith("#"))     # the comment block heads the file
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    labelled, excluded, covered = [], [], {}
    for line, r in enumerate(rows, comments + 2):               # loop over the table's rows; line 1 + c: header
        where = f"{identities_file}:{line}"
        name = (r.get("tracklet") or "").strip()
        if name not in tracklets:
            raise DatasetError(f"{where}: tracklet {name!r} is not in {tracklets_file}")
        frames = tracklets[name].frames
        try:
            first = int(r["first"]) if (r.get("first") or "").strip() else int(frames[0])
            last = int(r["last"]) if (r.get("last") or "").strip() else int(frames[-1])
            identity = int(r["identity"]) if (r.get("identity") or "").strip() else 0
        except ValueError:
            raise DatasetError(f"{where}: first, last and identity must be integers or blank") from None
        part = frames[(frames >= first) & (frames <= last)]
        if identity < 0 or last < first:
            raise DatasetError(f"{where}: need identity >= 1 (blank = excluded) and first <= last")
        if identity and len(part) < MIN_PIECE:
            raise DatasetError(f"{where}: {name} has {len(part)} boxes in frames {first}-{last}; a labelled segment "
                               f"needs {MIN_PIECE}")
        taken = covered.setdefault(name, np.zeros(len(frames), bool))
        inside = (frames >= first) & (frames <= last)
        if identity and (taken & inside).any():
            raise DatasetError(f"{where}: frames {first}-{last} of {name} overlap another labelled segment")
        if identity:
            taken |= inside
            labelled.append(Piece(name, identity, part))
        else:
            excluded.append((name, first, last, (r.get("note") or "").strip()))
    missing = sorted(set(tracklets) - set(covered))
    if missing:
        raise DatasetError(f"{identities_file}: no row for tracklet(s) {', '.join(missing)} of {tracklets_file} "
                           f"(label them, or exclude them with a note)")
    return FootageTable(doc["video"], doc["width"], doc["height"], doc["frame_count"], tuple(doc["crop_size"]),
                        list(tracklets.values()), labelled, excluded, hashlib.sha256(raw).hexdigest())


def find_video(video: str | None = None, name: str = "vtest.avi") -> str:
    """The path of the video: `video` if given, else the first of the usual opencv-doc data folders holding it."""
    if video:
        if not os.path.isfile(video):
            raise DatasetError(f"{NAME}: video {video}: no such file")
        return video
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    folders = [os.environ.get("VIDREID_OPENCV_DATA", ""), os.path.join("data", "opencv-doc-data"),
               os.path.join(repo, "data", "opencv-doc-data"), "/usr/share/doc/opencv-doc/examples/data"]
    for folder in folders:
        if folder and os.path.isfile(os.path.join(folder, name)):
            return os.path.abspath(os.path.join(folder, name))
    raise DatasetError(f"{NAME}: {name} not found in {', '.join(f for f in folders if f)}; install Debian's "
                       f"opencv-doc (`make opencv-data`), set VIDREID_OPENCV_DATA, or pass the option video=PATH")


def crop_path(root: str, name: str, frame: int) -> str:
    return os.path.join(root, CROPS, name, f"f{frame:06d}.jpg")


def ensure_crops(root: str, table: FootageTable | None = None, video: str | None = None,
                 progress: bool = False) -> str:
    """`root` holding the crops of every tracklet of `table`: reused when its marker records this table, else cut
    from the video into a new folder renamed into place when complete. A folder holding anything else is never
    touched (DatasetError)."""
    from ...utils.io import atomic_folder, atomic_write_text
    table = table or read_table()
    root = os.path.abspath(os.fspath(root))
    marker = os.path.join(root, MARKER)
    if os.path.isfile(marker):
        try:
            done = json.load(open(marker))
        except (OSError, ValueError) as e:
            raise DatasetError(f"{marker}: unreadable marker ({e}); delete {root} to cut the crops again") from None
        if done.get("tracklets_sha256") == table.sha256:
            return root
        raise DatasetError(f"{root} holds crops of another {NAME} tracklets table (another version, or the other "
                           f"boxes option: loose / tight); choose another root, or delete it to cut them again")
    if os.path.isdir(root) and not os.listdir(root):
        os.rmdir(root)                                         # an empty folder: nothing of the user's to keep
    if os.path.lexists(root):
        raise DatasetError(f"{root} exists and is not a {NAME} crops folder (no {MARKER}); choose another root")
    if not os.path.isdir(os.path.dirname(root)):       # a mistyped path is an error, not a new tree of folders
        raise DatasetError(f"{NAME} root {root}: its folder {os.path.dirname(root)} does not exist (the crops are "
                           f"cut into ROOT on first use; create its parent folder first)")
    video = find_video(video, table.video)
    _check_video(video, table)
    with atomic_folder(root, False, MARKER, f"{NAME} crops") as tmp:
        _write_crops(video, tmp, table, progress)
        atomic_write_text(os.path.join(tmp, MARKER), json.dumps(
            {"format": "vidreid-real-footage/1", "dataset": NAME, "video": os.path.abspath(video),
             "tracklets_sha256": table.sha256, "tracklets": len(table.tracklets),
             "masks": "temporal-median background"}, indent=1))
    return root


def _check_video(video: str, table: FootageTable) -> None:
    from ..video import probe_video
    info = probe_video(video)
    if (info.width, info.height, info.frame_count) != (table.width, table.height, table.frame_count):
        raise DatasetError(f"{video}: {info.width}x{info.height}, {info.frame_count} frames; the {NAME} table was "
                           f"cut from a {table.width}x{table.height} video of {table.frame_count} frames (another "
                           f"file than Debian opencv-doc's {table.video}?)")


def _write_crops(video: str, folder: str, table: FootageTable, progress: bool) -> None:
    """The crops exactly as `vidreid tracklets --masks` writes them (data/video.py write_box_crops: one decoding
    pass), foreground masks included (the camera is fixed: data.background=suppress uses them)."""
    from ..background import MASKS, foreground_mask, sample_background
    from ..video import write_box_crops
    n = [len(t.frames) for t in table.tracklets]
    frames = np.concatenate([t.frames for t in table.tracklets])
    boxes = np.concatenate([t.boxes for t in table.tracklets]).astype(np.float64)   # (K, 4) x, y, w, h
    names = np.repeat([t.name for t in table.tracklets], n).tolist()
    background = sample_background(video)
    write_box_crops(video, os.path.join(folder, CROPS), frames, boxes, names, tuple(table.crop_size),
                    1, 1, None, progress, f"{NAME} crops", None, lambda frame: foreground_mask(frame, background),
                    MASKS)


# ---------------------------------------------------------------------------------------------- splits
def pieces(table: FootageTable, part: str) -> list[Piece]:
    """The labelled segments of a time part: `full` as they are, `late` cut to their frames >= ADAPT_END (pieces
    left with fewer than MIN_PIECE frames dropped)."""
    if part not in PARTS:
        from ...errors import ConfigError
        raise ConfigError(f"dataset {NAME!r}: part must be one of {', '.join(PARTS)}, got {part!r}")
    if part == "full":
        return list(table.labelled)
    late = [Piece(p.name, p.identity, p.frames[p.frames >= ADAPT_END]) for p in table.labelled]
    return [p for p in late if len(p.frames) >= MIN_PIECE]


def adapt_pieces(table: FootageTable) -> list[Piece]:
    """The adapt set: every tracklet of the table, labelled or not (no hand label is used), cut to its frames
    before ADAPT_END; pieces with fewer than MIN_PIECE frames dropped."""
    early = [Piece(t.name, 0, t.frames[t.frames < ADAPT_END]) for t in table.tracklets]
    return [p for p in early if len(p.frames) >= MIN_PIECE]


def split_main(parts: list[Piece]) -> tuple[list[tuple[Piece, int]], list[tuple[Piece, int]]]:
    """-> (query, gallery) as (piece, camid): every piece is a query and a gallery item, each piece its own camid,
    so under the gao rules a query's own piece is junk and the positives are the other pieces of its person (a
    person seen once has none: that query is not counted, its piece stays a distractor)."""
    both = [(p, i) for i, p in enumerate(parts)]
    return both, list(both)


def split_cross_pass(parts: list[Piece]) -> tuple[list[tuple[Piece, int]], list[tuple[Piece, int]]]:
    """-> (query, gallery): each piece's first half of frames (camid 0) and its second half (camid 1)."""
    halves = [(Piece(p.name, p.identity, p.frames[:len(p.frames) // 2]),
               Piece(p.name, p.identity, p.frames[len(p.frames) // 2:])) for p in parts]
    return [(a, 0) for a, _ in halves], [(b, 1) for _, b in halves]


def walks(parts: list[Piece], gap: int | None = None) -> list[int]:
    """The walk (pass through the scene) of each piece, numbered 0, 1, ...: a person's pieces in time order, a new
    walk wherever the gap to the previous piece's last frame exceeds `gap` frames (default WALK_GAP). A tracker that
    loses a person for a moment cuts one walk into several pieces; those pieces are one pass, not a re-finding."""
    gap = WALK_GAP if gap is None else gap
    walk, walks_so_far = [0] * len(parts), 0
    current: dict[int, tuple[int, int]] = {}                    # identity -> (its current walk, that walk's last frame)
    for i in sorted(range(len(parts)), key=lambda i: int(parts[i].frames[0])):   # loop over the few dozen pieces
        p = parts[i]
        if p.identity not in current or int(p.frames[0]) - current[p.identity][1] > gap:
            current[p.identity], walks_so_far = (walks_so_far, -1), walks_so_far + 1
        walk[i] = current[p.identity][0]
        current[p.identity] = (walk[i], max(current[p.identity][1], int(p.frames[-1])))
    return walk


def split_strict_cross_pass(parts: list[Piece]) -> tuple[list[tuple[Piece, int]], list[tuple[Piece, int]]]:
    """-> (query, gallery): the halves of split_cross_pass, but both halves of every piece of one walk (`walks`)
    share a camid, so under the gao rules a query's own second half and the pieces its walk continues in after a
    tracker loss are junk, and its positives are the second halves of its person's pieces on OTHER walks:
    re-finding the person on another pass. Persons seen on one walk have no positive (not counted; their halves
    stay distractors)."""
    query, gallery = split_cross_pass(parts)
    walk = walks(parts)
    return [(p, walk[i]) for i, (p, _) in enumerate(query)], [(p, walk[i]) for i, (p, _) in enumerate(gallery)]


SPLITS = {"main": split_main, "cross_pass": split_cross_pass, "strict_cross_pass": split_strict_cross_pass}


def as_tracklets(root: str, items: list[tuple[Piece, int]], pids: list[int] | None = None) -> list[Tracklet]:
    """(piece, camid) -> Tracklet of the piece's crop paths under root; pid = the piece's identity unless given."""
    pids = pids if pids is not None else [p.identity for p, _ in items]
    return [Tracklet(tuple(crop_path(root, p.name, f) for f in p.frames.tolist()), pid, camid)
            for (p, camid), pid in zip(items, pids)]


def adapt_tracklets(root: str, video: str | None = None, progress: bool = False,
                    table: FootageTable | None = None) -> list[Tracklet]:
    """The unlabelled adapt set (frames before ADAPT_END) as tracklets, the crops made on first use: pid = the
    tracklet's index (each tracklet its own class: the one label a tracker gives), camid 0."""
    table = table or read_table()
    root = ensure_crops(root, table, video, progress)
    early = adapt_pieces(table)
    return as_tracklets(root, [(p, 0) for p in early], list(range(len(early))))


@register_dataset(NAME)
def vtest(root: str, evaluation: str = "main", part: str = "full", video: str = "", protocol: str = "gao",
          boxes: str = "loose", progress: bool = False) -> VideoReIDDataset:
    check_protocol(NAME, protocol, ("gao",))
    if evaluation not in EVALUATIONS:
        from ...errors import ConfigError
        raise ConfigError(f"dataset {NAME!r}: evaluation must be one of {', '.join(EVALUATIONS)}, got "
                          f"{evaluation!r}")
    if boxes not in BOXES:
        from ...errors import ConfigError
        raise ConfigError(f"dataset {NAME!r}: boxes must be one of {', '.join(BOXES)}, got {boxes!r}")
    table = read_table(BOXES[boxes])
    chosen = pieces(table, part)                                  # ConfigError for an unknown part
    root = ensure_crops(root, table, video or None, progress)
    query, gallery = SPLITS[evaluation](chosen)
    train = adapt_tracklets(root, table=table) if part == "late" else []
    meta = {"evaluation": evaluation, "part": part, "boxes": boxes, "adapt_end": ADAPT_END,
            "tracklets_sha256": table.sha256,
            "identities": len({p.identity for p in chosen}), "pieces": len(chosen),
            "excluded_segments": len(table.excluded)}
    return VideoReIDDataset(name=NAME, root=root, train=train, query=as_tracklets(root, query),
                            gallery=as_tracklets(root, gallery), protocol=protocol, meta=meta)
