"""`vidreid tracklets`: videos -> detect -> track -> cut -> crops on disk, manifest, sidecar, pictures.

Two streaming passes per video, each holding one frame at a time: pass 1 detects and tracks (only boxes are kept);
pass 2 decodes again and writes the crops of the tracklets the cutting rules keep, and the annotated preview.
Decoding twice costs far less than detecting, and it keeps memory bounded whatever the video's length (a one-pass
design would have to keep the crops of every tentative track in memory).

Output folder (written under a temporary name next to it, renamed into place when complete):
    OUT/tracklets/<camera>/<tracklet>/f000123.jpg   crops, named by 1-based frame number (a folder of tracklet
                                            folders: `vidreid index build --gallery OUT` reads it)
    OUT/tracklets/<camera>/<tracklet>/masks/f000123.png   with --masks: each crop's foreground mask (a fixed
                                            camera's temporal-median background, background.py; 255 = person)
    OUT/manifest.jsonl                      vidreid's manifest format (pid -1 = unknown, split gallery)
    OUT/tracklets.json                      sidecar: per tracklet its video, frame numbers, boxes and scores
    OUT/<camera>.tracks.txt                 every confirmed track in MOTChallenge format (frame,id,x,y,w,h,score,-1,-1,-1)
    OUT/contact_sheet.png                   one row of crops per tracklet
    OUT/<camera>.preview.mp4 | .gif         the video with boxes and track ids drawn
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import VidReIDError
from ..data.background import MASKS, foreground_mask, sample_background
from ..data.video import check_video_size, probe_video, progress_frames, write_box_crops
from .cut import CutConfig, cut_tracks, tracklet_names
from .detection_cache import detect_frames
from .tracker import Tracker, TrackerConfig

SIDECAR = "tracklets.json"
CROPS = "tracklets"      # the crops' folder inside OUT (kept apart from the pictures, which are images too)
SHEET_ROWS = 80          # contact sheet: at most this many tracklets (the longest), so the PNG stays viewable


@dataclass
class VideoResult:
    path: str
    camera: str
    width: int
    height: int
    fps: float
    frames_processed: int = 0
    tracks: int = 0
    tracklets: int = 0
    seconds_track: float = 0.0
    seconds_cut: float = 0.0
    joined: int = 0                                          # fragments joined to an earlier one (--checkpoint)
    frames_cached: int = 0                                   # frames whose detections came from the cache
    rows: np.ndarray = field(default=None, repr=False)       # kept boxes (k, 7) [frame, id, x, y, w, h, score]
    names: list = field(default_factory=list, repr=False)    # tracklet name of each kept row


def camera_name(path: str) -> str:
    """A camera label from a video's file name: its stem with anything but letters, digits, - _ . replaced."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) or "camera"


def track_video(path: str, detector, tracker_cfg: TrackerConfig, every: int = 1, start: int = 1,
                stop: int | None = None, progress: bool = False, desc: str = "track",
                counts: dict | None = None) -> tuple[np.ndarray, int]:
    """Pass 1: detect and track -> (confirmed tracks (K, 7) [frame, id, x, y, w, h, score], frames processed).
    counts["cached"]: the frames whose detections came from the detection cache (detection_cache.py)."""
    tracker = Tracker(tracker_cfg)
    if getattr(detector, "needs_pixels", True):
        info = probe_video(path)
        last = min(stop or info.frame_count, info.frame_count) if info.frame_count else stop
        total = (max(0, (last - start)) // every + 1) if last else None
        detections = detect_frames(path, detector, every, start, stop, counts)   # remembered per video
    else:                                    # detections from a file: no decoding needed to track
        last = int(detector.frames.max()) if len(detector.frames) else start
        last = min(last, stop) if stop else last
        numbers = range(start, last + 1, every)
        total, detections = len(numbers), ((n, detector.detect(None, n)) for n in numbers)
    count = 0
    with progress_frames(total, desc, progress) as bar:
        for n, rows in detections:           # per-frame loop: the stream hands out one frame at a time
            tracker.step(n, rows)
            count += 1
            bar.update()
    return tracker.result(), count


def write_crops(path: str, folder: str, preview_path: str, rows: np.ndarray, names: list[str], tracks: np.ndarray, cut: CutConfig,
                every: int, start: int, stop: int | None, preview: str | None, progress: bool,
                desc: str = "cut", background: np.ndarray | None = None) -> int:
    """Pass 2: decode again; write the crop of every kept row to folder/<name>/f<frame>.jpg (data/video.py:
    write_box_crops) and the preview. Returns the frames decoded."""
    writer = on_frame = None
    if preview:
        from .draw import PreviewWriter
        info = probe_video(path)
        total = info.frame_count and len(range(start, min(stop or info.frame_count, info.frame_count) + 1, every))
        writer = PreviewWriter(preview_path, preview, info.fps / every, (info.height, info.width),
                               total=total)
        t_order = np.argsort(tracks[:, 0], kind="stable")
        t_frames, t_rows = tracks[t_order, 0].astype(np.int64), tracks[t_order]

        def on_frame(n, frame):
            a, b = np.searchsorted(t_frames, [n, n + 1])
            writer.add(frame, t_rows[a:b, 2:6], t_rows[a:b, 1])
    count = write_box_crops(path, folder, rows[:, 0], rows[:, 2:6], names, (cut.crop_height, cut.crop_width),
                            every, start, stop, progress, desc, on_frame,
                            None if background is None else (lambda frame: foreground_mask(frame, background)),
                            MASKS)
    if writer is not None:
        writer.close()
    return count


def _mot_lines(tracks: np.ndarray) -> str:
    return "".join(f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1\n"
                   for f, i, x, y, w, h, s in tracks.tolist())


def check_inputs(videos: list[str], cameras: list[str] | None, cut: CutConfig, every: int, start: int,
                 stop: int | None, footage=None) -> tuple[list[str], list[str], list]:
    """Every check that can fail before any work: options, camera labels, every video readable.
    Returns (videos, cameras, infos); footage (a footage.Footage) replaces `videos` and `cameras`."""
    if every < 1 or start < 1 or (stop is not None and stop < start):
        raise VidReIDError(f"need --every >= 1, --start >= 1 and --stop >= --start, got {every}, {start}, {stop}")
    if cut.min_len < 1 or cut.max_gap < 1 or cut.crop_height < 8 or cut.crop_width < 4:
        raise VidReIDError("need --min-len >= 1, --max-gap >= 1 and a crop size of at least 8x4")
    if footage is not None:
        videos, cameras = [v.video for v in footage.videos], footage.cameras
    cameras = list(cameras) if cameras else [camera_name(v) for v in videos]
    if len(cameras) != len(videos):
        raise VidReIDError(f"--camera given {len(cameras)} times for {len(videos)} videos: one label per video")
    if len(set(cameras)) != len(cameras):
        raise VidReIDError(f"two videos have the same camera label ({', '.join(cameras)}); name them with --camera")
    bad = [c for c in cameras if not re.fullmatch(r"[A-Za-z0-9_.-]+", c) or c.startswith(".")]
    if bad:
        raise VidReIDError(f"--camera {bad[0]!r}: use letters, digits, '-', '_' or '.' (it names a folder)")
    infos = [probe_video(v) for v in videos]                          # every video readable before any work
    for info in infos:
        check_video_size(info)
    for v, info in zip(footage.videos if footage is not None else (), infos):   # clock times need a frame rate
        if not ((v.fps or info.fps) and (v.fps or info.fps) > 0):
            raise VidReIDError(f"{v.video}: the file gives no frame rate; set `fps` in {footage.path}")
    return list(videos), cameras, infos


def output_settings(detector_name: str, tracker_cfg: TrackerConfig, cut: CutConfig, every: int, start: int,
                    stop: int | None, join_cfg=None, checkpoint: str | None = None, masks: bool = False) -> dict:
    """The sidecar's record of the settings (also what the Ray engine hashes to know a video's part is current)."""
    return {"format": "vidreid-tracklets/1", "detector": detector_name, "every": every, "start": start,
            "stop": stop, "tracker": asdict(tracker_cfg), "cut": asdict(cut),
            "join": None if join_cfg is None else dict(asdict(join_cfg), checkpoint=checkpoint),
            "masks": "temporal-median background" if masks else None}


def track_and_cut(folder: str, video: str, cam: str, camid: int, info, detector, tracker_cfg: TrackerConfig,
                  cut: CutConfig, every: int, start: int, stop: int | None, preview: str | None, progress: bool,
                  join=None, masks: bool = False) -> tuple[VideoResult, list[dict]]:
    """One video, the whole per-video work: detect, track, cut, write folder/tracklets/<cam>/..., <cam>.tracks.txt
    and the preview. Returns its VideoResult and its tracklets' sidecar entries (without clock times). Both the
    single-process loop (run_tracklets) and the Ray engine's tasks call this."""
    r = VideoResult(os.path.abspath(video), cam, info.width, info.height, info.fps)
    t0 = time.perf_counter()
    counts = {}
    tracks, r.frames_processed = track_video(video, detector, tracker_cfg, every, start, stop, progress,
                                             f"track {cam}", counts)
    r.frames_cached = counts.get("cached", 0)
    r.seconds_track = time.perf_counter() - t0
    rows, pieces = cut_tracks(tracks, cut)
    names = tracklet_names(rows[:, 1], pieces) if len(rows) else []
    r.tracks, r.rows, r.names = len(np.unique(tracks[:, 1])), rows, names
    t0 = time.perf_counter()
    background = sample_background(video, start, stop) if masks and len(rows) else None
    write_crops(video, os.path.join(folder, CROPS, cam), os.path.join(folder, f"{cam}.preview.{preview}"), rows,
                names, tracks, cut, every, start, stop, preview, progress, f"cut {cam}", background)
    r.seconds_cut = time.perf_counter() - t0
    with open(os.path.join(folder, f"{cam}.tracks.txt"), "w") as f:
        f.write(_mot_lines(tracks))
    uniq, first = np.unique(np.asarray(names), return_index=True) if names else ([], [])
    entries = []
    for name in [names[i] for i in sorted(first)]:                    # loop over tracklets
        part = rows[np.asarray(names) == name]
        entries.append({"name": f"{cam}/{name}", "camera": cam, "camid": camid, "video": r.path,
                        "track": int(part[0, 1]), "frames": part[:, 0].astype(int).tolist(),
                        "boxes": np.round(part[:, 2:6], 1).tolist(), "scores": np.round(part[:, 6], 4).tolist()})
    if join is not None and len(entries) > 1:
        r.joined = join_camera(folder, entries, *join)
    r.tracklets = len(uniq)
    return r, entries


# a sidecar's per-video fields that say how a run went (its timings, the frames the detection cache gave), not what
# it found: two runs on the same videos and settings (another engine, a warm cache) differ there only
RUN_FIELDS = ("seconds_track", "seconds_cut", "frames_cached")


def output_differences(a: str, b: str) -> tuple[list[str], dict]:
    """Two output folders of `vidreid tracklets` -> (the files that differ or are in one of them only, with the
    sidecar compared without its RUN_FIELDS; a's sidecar without them)."""
    import filecmp
    names = [sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)
             for top in (a, b)]
    sides = []
    for top in (a, b):
        with open(os.path.join(top, SIDECAR)) as f:
            side = json.load(f)
        side["videos"] = [{k: v for k, v in video.items() if k not in RUN_FIELDS} for video in side["videos"]]
        sides.append(side)
    both = sorted(set(names[0]) & set(names[1]) - {SIDECAR})
    _, mismatch, errors = filecmp.cmpfiles(a, b, both, shallow=False)
    differ = sorted(set(names[0]) ^ set(names[1])) + mismatch + errors + ([SIDECAR] if sides[0] != sides[1] else [])
    return differ, sides[0]


def finish_output(folder: str, settings: dict, results: list[VideoResult], entries: list[list[dict]],
                  footage=None) -> dict:
    """The run-wide files from the per-video results, in the videos' order: clock times (footage), manifest.jsonl,
    the sidecar and the contact sheet. Returns the sidecar."""
    from ..utils.io import atomic_write_text
    manifest, tracklets = [], []
    for camid, (r, cam_entries) in enumerate(zip(results, entries)):
        for e in cam_entries:                                          # loop over tracklets
            e["camid"] = camid
        if footage is not None:
            add_clock_times(cam_entries, footage.videos[camid], footage, r.fps)
        tracklets += cam_entries
        manifest += [json.dumps({"dir": f"{CROPS}/{e['name']}", "pid": -1, "camid": camid, "split": "gallery"})
                     for e in cam_entries]
    sidecar = dict(settings, videos=[{k: v for k, v in asdict(r).items() if k not in ("rows", "names")}
                                     for r in results],
                   footage=None if footage is None else footage.to_dict(), tracklets=tracklets)
    atomic_write_text(os.path.join(folder, "manifest.jsonl"), "".join(m + "\n" for m in manifest))
    atomic_write_text(os.path.join(folder, SIDECAR), json.dumps(sidecar, indent=1))
    write_sheet(folder, tracklets)
    return sidecar


def run_tracklets(videos: list[str], out: str, detectors: list, cameras: list[str] | None = None,
                  tracker_cfg: TrackerConfig | None = None, cut: CutConfig | None = None, every: int = 1,
                  start: int = 1, stop: int | None = None, preview: str | None = "mp4", progress: bool = False,
                  force: bool = False, detector_name: str = "hog", join=None, masks: bool = False,
                  footage=None) -> dict:
    """Videos (one camera each) -> the output folder described in the module docstring; returns the sidecar.
    join: (FeatureExtractor, JoinConfig) to join fragments of one person by appearance (join.py), or None.
    masks: write each crop's foreground mask (a fixed camera's temporal-median background, background.py).
    footage: a footage.Footage (its videos and cameras replace `videos` / `cameras`): every tracklet gets clock
    times and the sidecar keeps the manifest."""
    from ..utils.io import atomic_folder
    tracker_cfg, cut = tracker_cfg or TrackerConfig(), cut or CutConfig()
    videos, cameras, infos = check_inputs(videos, cameras, cut, every, start, stop, footage)
    settings = output_settings(detector_name, tracker_cfg, cut, every, start, stop,
                               None if join is None else join[1], None if join is None else join[0].checkpoint,
                               masks)
    with atomic_folder(out, force, SIDECAR, "`vidreid tracklets`") as tmp:
        done = [track_and_cut(tmp, video, cam, camid, info, det, tracker_cfg, cut, every, start, stop, preview,
                              progress, join, masks)
                for camid, (video, cam, info, det) in enumerate(zip(videos, cameras, infos, detectors))]
        return finish_output(tmp, settings, [d[0] for d in done], [d[1] for d in done], footage)


def add_clock_times(entries: list[dict], video, footage, file_fps: float) -> None:
    """Each tracklet's first and last frame on the footage clock: start + (frame - 1) / fps seconds (the manifest's
    fps, else the file's), and the same as the manifest spells times."""
    fps = video.fps or file_fps
    if not fps or fps <= 0:
        raise VidReIDError(f"{video.video}: the file gives no frame rate; set `fps` in {footage.path}")
    for e in entries:                                                   # loop over tracklets
        t0, t1 = video.start + (e["frames"][0] - 1) / fps, video.start + (e["frames"][-1] - 1) / fps
        e["start_time"], e["end_time"] = round(t0, 3), round(t1, 3)
        e["start_clock"], e["end_clock"] = footage.format(t0), footage.format(t1)


def join_camera(tmp: str, entries: list[dict], extractor, cfg) -> int:
    """Join one camera's fragments by appearance (join.py): renumber their tracks and pieces, rename their crop
    folders in `tmp` to match, record each joined fragment's former name and feature distance. Returns the joins."""
    from ..data.types import Tracklet
    from .join import chain_roots, link_fragments
    tracklets = [Tracklet(tuple(os.path.join(tmp, CROPS, e["name"], f"f{f:06d}.jpg") for f in e["frames"]), -1, 0)
                 for e in entries]
    feats = extractor.embed_tracklets(tracklets)
    starts = np.array([e["frames"][0] for e in entries])
    ends = np.array([e["frames"][-1] for e in entries])
    first = np.array([e["boxes"][0] for e in entries], np.float64)
    last = np.array([e["boxes"][-1] for e in entries], np.float64)
    pred, dist = link_fragments(starts, ends, first, last, feats, cfg)
    if (pred < 0).all():
        return 0
    roots = chain_roots(pred)
    tracks = np.array([entries[i]["track"] for i in roots])             # a chain takes its first fragment's track
    cam = entries[0]["camera"]
    old = [e["name"] for e in entries]
    pieces = np.zeros(len(entries), np.int64)
    for t in np.unique(tracks):                                         # number the pieces of each track by time
        idx = np.flatnonzero(tracks == t)
        pieces[idx[np.argsort(starts[idx], kind="stable")]] = np.arange(1, len(idx) + 1)
    new = [f"{cam}/{n}" for n in tracklet_names(tracks, pieces)]
    base = os.path.join(tmp, CROPS)
    for i, name in enumerate(old):                                      # two-phase rename: names may swap
        os.rename(os.path.join(base, name), os.path.join(base, name + ".joining"))
    for i, name in enumerate(old):
        os.rename(os.path.join(base, name + ".joining"), os.path.join(base, new[i]))
    for i, e in enumerate(entries):
        if new[i] != e["name"] or pred[i] >= 0:
            e["was"] = e["name"]
        if pred[i] >= 0:
            e["joined_to"], e["appearance_distance"] = new[pred[i]], round(float(dist[i]), 4)
        e["name"], e["track"] = new[i], int(tracks[i])
    entries.sort(key=lambda e: (e["track"], e["frames"][0]))
    return int((pred >= 0).sum())


def write_sheet(folder: str, entries: list[dict]) -> str:
    """folder/contact_sheet.png from the crops on disk (the longest SHEET_ROWS tracklets when there are more)."""
    import cv2

    from .draw import contact_sheet, write_png
    shown = sorted(entries, key=lambda e: -len(e["frames"]))[:SHEET_ROWS]
    shown = sorted(shown, key=lambda e: (e["camid"], e["track"], e["name"]))
    rows = []
    for e in shown:                                                   # loop over tracklets, <= 8 crops each
        picks = np.unique(np.linspace(0, len(e["frames"]) - 1, min(8, len(e["frames"]))).round().astype(int))
        crops = [cv2.imread(os.path.join(folder, CROPS, e["name"], f"f{e['frames'][i]:06d}.jpg")) for i in picks]
        rows.append((f"{e['name']}\nframes {e['frames'][0]}-{e['frames'][-1]}\n{len(e['frames'])} boxes",
                     [c for c in crops if c is not None]))
    path = os.path.join(folder, "contact_sheet.png")
    write_png(path, contact_sheet(rows))
    return path
