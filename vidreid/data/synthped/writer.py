"""Writing SynthPed to disk in the MARS or DukeMTMC-VideoReID layout; `generate_synthped` and `ensure_synthped`."""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
import time

import numpy as np

from ...errors import DatasetError
from ...utils.system import usable_cpus
from ...utils.io import (RunLock, atomic_write_bytes, check_writable_folder, clean_stale_temp_folders,
                         raise_naming_output, temp_folder_prefixes)
from .config import GENERATOR_VERSION, S_CLOCK, SynthPedConfig, make_config
from .plan import Plan, build_plan
from ..masks import MASKS, mask_path
from .render import TrackletPlan, make_background, render_tracklet, render_tracklet_and_masks

MARKER = "synthped.json"
# below this many pixels to render, a pool costs more than it saves: its fork server is a fresh interpreter that
# imports torch (seconds), and one process renders a few megapixels a second (time generate_synthped(..., workers=1)
# and workers=2 on a small set to see both)
POOL_MIN_PIXELS = 8_000_000
_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created by: vidreid synthped".ljust(116)


# ----------------------------------------------------------------------------------------------------------------------
# file names
# ----------------------------------------------------------------------------------------------------------------------
def mars_pid(pid: int) -> str:
    """MARS person folder / name prefix: 4 characters; pid -1 is written '00-1'."""
    return "00-1" if pid == -1 else f"{pid:04d}"


def assign_files(plan: Plan) -> None:
    """Set `files` (paths relative to the dataset root) on every tracklet of the plan."""
    cfg = plan.cfg
    if cfg.layout == "mars":
        for folder, tracks in (("bbox_train", plan.train), ("bbox_test", plan.test)):
            for t in tracks:
                p = mars_pid(t.pid)
                t.files = tuple(f"{folder}/{p}/{p}C{t.cam}T{t.number:04d}F{f:03d}.jpg"
                                for f in range(1, t.n_frames + 1))
        return
    # DukeV: <split>/<pid4>/<tracklet4>/<pid4>C<cam>F<index4>X<frame in the camera's video, 5 digits>.jpg
    query = set(plan.query)
    clock = {c.index: int(np.random.default_rng([cfg.seed, S_CLOCK, c.index]).integers(0, 5000)) for c in plan.cameras}
    per_pid: dict = {}
    for i, t in enumerate(plan.train + plan.test):
        split = "train" if t.split == "train" else ("query" if i - len(plan.train) in query else "gallery")
        per_pid[t.pid] = per_pid.get(t.pid, 0) + 1
        start = clock[t.cam]
        clock[t.cam] = start + t.n_frames + 7
        folder = f"{split}/{t.pid:04d}/{per_pid[t.pid]:04d}"
        t.files = tuple(f"{folder}/{t.pid:04d}C{t.cam}F{f:04d}X{(start + f) % 100000:05d}.jpg"
                        for f in range(1, t.n_frames + 1))


# ----------------------------------------------------------------------------------------------------------------------
# rendering workers
# ----------------------------------------------------------------------------------------------------------------------
_W: dict = {}


def _keep_freed_memory() -> None:
    """Pool workers allocate and free the same few large arrays for every tracklet; glibc returns them to the OS each
    time (mmap/munmap + page faults), ~20% of the render time. Keep them in the heap instead (workers are short-lived)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 512 << 20)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1024 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _render_context():
    """Where the render workers come from: a fork server, not a fork of the caller. Rendering runs torch ops, and a
    caller that has already used torch (a training script generating its data on first use) may hold its thread
    pools' locks at the moment of a plain fork; the child then waits on them forever (seen as a 300 s hang in CI).
    The fork server is a fresh interpreter that imports this module once; each worker is a fork of it."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _init_pool_worker(cfg, palette, cameras, root):
    _keep_freed_memory()
    import torch
    torch.set_num_threads(1)   # one process per core already: intra-op threads would only oversubscribe
    _init_worker(cfg, palette, cameras, root)


def _init_worker(cfg, palette, cameras, root):
    _W.clear()
    _W.update(cfg=cfg, palette=palette, cameras={c.index: c for c in cameras}, root=root, backgrounds={})


def _background(cam_index: int) -> np.ndarray:
    bgs = _W["backgrounds"]
    if cam_index not in bgs:
        bgs[cam_index] = make_background(_W["cfg"], _W["cameras"][cam_index])
    return bgs[cam_index]


def mask_png(mask: np.ndarray) -> bytes:
    """bool (H, W) -> an 8-bit grayscale PNG, 255 = person, 0 = background (the real-footage masks' format)."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _render_and_write(t: TrackletPlan) -> tuple[int, int]:
    import simplejpeg

    cfg, cam = _W["cfg"], _W["cameras"][t.cam]
    masks = None
    if cfg.foreground_masks:
        frames, masks = render_tracklet_and_masks(t, cfg, cam, _background(t.cam), _W["palette"])
    else:
        frames = render_tracklet(t, cfg, cam, _background(t.cam), _W["palette"])
    total = 0
    root = _W["root"]
    for k, (img, rel) in enumerate(zip(frames, t.files)):     # per-frame loop: one file write each
        data = simplejpeg.encode_jpeg(img, quality=cam.quality, colorspace="RGB", colorsubsampling="420")
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(data)
        total += len(data)
        if masks is not None:                                   # counted in no statistic: `bytes` stays the JPEGs'
            with open(os.path.join(root, mask_path(rel)), "wb") as fh:
                fh.write(mask_png(masks[k]))
    return t.uid, total


def _render_all(plan: Plan, root: str, workers: int, progress: bool) -> int:
    tracks = sorted(plan.train + plan.test, key=lambda t: -t.n_frames)  # longest first: better load balance
    for d in sorted({os.path.dirname(f) for t in tracks for f in t.files}):
        os.makedirs(os.path.join(root, d, MASKS) if plan.cfg.foreground_masks else os.path.join(root, d),
                    exist_ok=True)
    init = (plan.cfg, plan.palette, plan.cameras, root)
    from ...progress import progress_bar
    n_total, total_bytes = sum(t.n_frames for t in tracks), 0
    bar = progress_bar(total=n_total, desc="synthped", unit="frame", enabled=progress, unit_scale=True)
    frames_of = {t.uid: t.n_frames for t in tracks}
    with bar:
        if workers <= 1:
            _init_worker(*init)
            for t in tracks:
                _, nbytes = _render_and_write(t)
                total_bytes += nbytes
                bar.update(t.n_frames)
        else:
            with _render_context().Pool(workers, _init_pool_worker, init) as pool:
                for uid, nbytes in pool.imap_unordered(_render_and_write, tracks, chunksize=1):
                    total_bytes += nbytes
                    bar.update(frames_of[uid])
    return total_bytes


# ----------------------------------------------------------------------------------------------------------------------
# index files
# ----------------------------------------------------------------------------------------------------------------------
def mat5_bytes(name: str, array: np.ndarray) -> bytes:
    """One numeric matrix as a MAT v5 file, written like the real MARS files: MATLAB class double with the data
    stored compactly as int32/uint16 (MATLAB reads doubles, scipy.io.loadmat returns the storage dtype, exactly as
    for the originals). Uncompressed, with a fixed header text, so the bytes depend on the data only."""
    array = np.asarray(array)
    storage = {np.dtype(np.int32): 5, np.dtype(np.uint16): 4}[array.dtype]  # miINT32 | miUINT16
    if array.ndim != 2:
        raise ValueError("mat5_bytes writes 2-D arrays")

    def element(dtype_code: int, payload: bytes) -> bytes:
        pad = (-len(payload)) % 8
        return struct.pack("<II", dtype_code, len(payload)) + payload + b"\0" * pad

    mx_double = 6
    body = (element(6, struct.pack("<II", mx_double, 0))                     # array flags (miUINT32): class double
            + element(5, struct.pack("<ii", *array.shape))                   # dimensions (miINT32)
            + element(1, name.encode("ascii"))                               # array name (miINT8)
            + element(storage, np.asfortranarray(array).astype(array.dtype.newbyteorder("<")).tobytes(order="F")))
    header = _MAT_HEADER + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    return header + struct.pack("<II", 14, len(body)) + body                 # miMATRIX


def save_mat(path: str, name: str, array: np.ndarray) -> None:
    atomic_write_bytes(path, mat5_bytes(name, array))


def _track_table(tracks: list[TrackletPlan]) -> np.ndarray:
    n = np.array([t.n_frames for t in tracks], dtype=np.int64)
    end = np.cumsum(n)
    table = np.stack([end - n + 1, end, [t.pid for t in tracks], [t.cam for t in tracks]], axis=1)
    return table.astype(np.int32)  # (N, 4): [start, end, pid, camid], 1-based inclusive lines


def _write_mars_index(plan: Plan, root: str) -> None:
    info = os.path.join(root, "info")
    os.makedirs(info, exist_ok=True)
    for split, tracks in (("train", plan.train), ("test", plan.test)):
        names = "".join(os.path.basename(f) + "\n" for t in tracks for f in t.files)
        atomic_write_bytes(os.path.join(info, f"{split}_name.txt"), names.encode())
        save_mat(os.path.join(info, f"tracks_{split}_info.mat"), f"track_{split}_info", _track_table(tracks))
    q = np.asarray(plan.query, dtype=np.int64) + 1
    if q.size and q.max() > np.iinfo(np.uint16).max:
        raise DatasetError(f"synthped: {q.max()} test tracklets do not fit MARS' uint16 query_IDX; use fewer ids")
    save_mat(os.path.join(info, "query_IDX.mat"), "query_IDX", q.astype(np.uint16).reshape(1, -1))


# ----------------------------------------------------------------------------------------------------------------------
# metadata and statistics
# ----------------------------------------------------------------------------------------------------------------------
def _occluded_frac(t: TrackletPlan) -> float:
    return 0.0 if t.occlusion is None else (t.occlusion["end"] - t.occlusion["start"]) / t.n_frames


def _record(t: TrackletPlan, cfg, position: int) -> dict:
    rec = {"pid": t.pid, "cam": t.cam, "frames": t.n_frames, "kind": t.kind, "view": t.view,
           "occluder": None, "occluded": None, "occluded_frac": round(_occluded_frac(t), 4),
           "occlusion_heavy": _occluded_frac(t) >= cfg.occlusion_heavy_frac and t.occlusion is not None,
           "bad_frames": [[f, m] for f, m, *_ in t.bad_frames]}
    if cfg.layout == "mars":
        rec["row"] = position + 1
    else:
        rec["dir"] = os.path.dirname(t.files[0])
    if t.occlusion is not None:
        o = t.occlusion
        rec["occluder"] = o["kind"]
        rec["occluded"] = [o["start"], o["end"]]  # frame range [start, end), 0-based
        rec["band"] = o["band"]                    # ["x" | "y", lo, hi] as a share of the frame width | height
    return rec


def _metadata(plan: Plan, total_bytes: int) -> tuple[dict, dict]:
    cfg = plan.cfg
    tracks = plan.train + plan.test
    heavy = [t.occlusion is not None and _occluded_frac(t) >= cfg.occlusion_heavy_frac for t in plan.test]
    occluded = [t.occlusion is not None for t in plan.test]
    twin_pids = set(plan.twins) | {b for b, _ in plan.twins.values()}
    qset = set(plan.query)
    test_ids = [t for t in plan.test if t.kind == "id"]
    views = {v: sum(t.view == v for t in tracks if t.person is not None) for v in ("front", "back", "side")}
    stats = {
        "layout": cfg.layout, "size": cfg.size, "seed": cfg.seed, "cams": cfg.cams,
        "ids": cfg.ids, "train_ids": len(plan.train_pids), "test_ids": len(plan.test_pids),
        "train": {"ids": len({t.pid for t in plan.train}), "tracklets": len(plan.train),
                  "frames": sum(t.n_frames for t in plan.train)},
        "test": {"ids": len({t.pid for t in test_ids}), "tracklets": len(plan.test),
                 "frames": sum(t.n_frames for t in plan.test),
                 "distractor_tracklets": sum(t.kind == "distractor" for t in plan.test),
                 "junk_tracklets": sum(t.kind == "junk" for t in plan.test)},
        "query": {"tracklets": len(plan.query), "frames": sum(plan.test[i].n_frames for i in plan.query)},
        "gallery": {"tracklets": len(plan.test) if cfg.layout == "mars" else len(plan.test) - len(plan.query)},
        "occlusion_rate": round(sum(t.occlusion is not None for t in tracks) / len(tracks), 4),
        "occluded_frame_rate": round(sum(t.n_frames * _occluded_frac(t) for t in tracks)
                                     / sum(t.n_frames for t in tracks), 4),
        "occlusion_heavy_queries": sum(heavy[i] for i in plan.query),
        "twins": len(twin_pids), "twin_pairs": len(plan.twins),
        "bad_detection_tracklets": sum(bool(t.bad_frames) for t in tracks),
        "views": views, "tracklet_frames_min": min(t.n_frames for t in tracks),
        "tracklet_frames_max": max(t.n_frames for t in tracks), "bytes": total_bytes,
    }
    records = {"train": [_record(t, cfg, i) for i, t in enumerate(plan.train)]}
    if cfg.layout == "mars":
        records["test"] = [_record(t, cfg, i) for i, t in enumerate(plan.test)]
        slices = {
            # 1-based rows of info/tracks_test_info.mat, and 0-based positions in query_IDX order
            "occlusion_heavy": {"test_rows": [i + 1 for i, h in enumerate(heavy) if h],
                                "query": [k for k, i in enumerate(plan.query) if heavy[i]]},
            "occluded": {"test_rows": [i + 1 for i, o in enumerate(occluded) if o],
                         "query": [k for k, i in enumerate(plan.query) if occluded[i]]},
            "twin": {"query": [k for k, i in enumerate(plan.query) if plan.test[i].pid in twin_pids]},
        }
    else:
        gallery = [i for i in range(len(plan.test)) if i not in qset]
        records["query"] = [_record(plan.test[i], cfg, k) for k, i in enumerate(plan.query)]
        records["gallery"] = [_record(plan.test[i], cfg, k) for k, i in enumerate(gallery)]
        slices = {
            # 0-based positions in query order (by pid) / gallery order (by pid, tracklet folder), and the folders
            "occlusion_heavy": {"query": [k for k, i in enumerate(plan.query) if heavy[i]],
                                "gallery": [k for k, i in enumerate(gallery) if heavy[i]],
                                "dirs": [os.path.dirname(plan.test[i].files[0]) for i in range(len(plan.test))
                                         if heavy[i]]},
            "occluded": {"query": [k for k, i in enumerate(plan.query) if occluded[i]],
                         "gallery": [k for k, i in enumerate(gallery) if occluded[i]]},
            "twin": {"query": [k for k, i in enumerate(plan.query) if plan.test[i].pid in twin_pids]},
        }
    identities = []
    for pid in sorted(plan.persons):
        p = plan.persons[pid]
        identities.append({
            "pid": pid, "split": "train" if pid in set(plan.train_pids) else "test",
            "twin_of": plan.twins[pid][0] if pid in plan.twins else None,
            "twin_part": plan.twins[pid][1] if pid in plan.twins else None,
            "top_texture": p.top_texture, "backpack": p.backpack is not None, "bag": p.bag is not None,
            "hat": p.hat is not None, "cams": sorted({t.cam for t in tracks if t.kind == "id" and t.pid == pid}),
        })
    meta = {
        "format": "synthped", "generator_version": GENERATOR_VERSION, "complete": True,
        "config": cfg.to_dict(), "stats": stats,
        "cameras": [dataclasses.asdict(c) for c in plan.cameras],
        "identities": identities, "tracklets": records, "slices": slices,
    }
    return meta, stats


def format_stats(stats: dict) -> str:
    tr, te, q = stats["train"], stats["test"], stats["query"]
    lines = [
        f"SynthPed {stats['layout']} {stats['size']} seed={stats['seed']}: {stats['ids']} ids, {stats['cams']} cameras",
        f"  train   {tr['ids']:>5} ids {tr['tracklets']:>6} tracklets {tr['frames']:>8} frames",
        f"  test    {te['ids']:>5} ids {te['tracklets']:>6} tracklets {te['frames']:>8} frames "
        f"({te['distractor_tracklets']} distractor, {te['junk_tracklets']} junk tracklets)",
        f"  query         {q['tracklets']:>10} tracklets {q['frames']:>8} frames; "
        f"gallery {stats['gallery']['tracklets']} tracklets",
        f"  occlusion: {stats['occlusion_rate']:.1%} of tracklets, {stats['occluded_frame_rate']:.1%} of frames, "
        f"{stats['occlusion_heavy_queries']} occlusion-heavy queries",
        f"  twins: {stats['twins']} ids ({stats['twin_pairs']} pairs); bad detections in "
        f"{stats['bad_detection_tracklets']} tracklets; views {stats['views']}",
        f"  tracklet length {stats['tracklet_frames_min']}..{stats['tracklet_frames_max']}; "
        f"{stats['bytes'] / 1e6:.1f} MB of JPEG",
    ]
    if "seconds" in stats:
        lines.append(f"  generated in {stats['seconds']:.1f} s with {stats['workers']} worker(s) -> {stats['root']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------------------------
def read_marker(root: str) -> dict | None:
    try:
        with open(os.path.join(root, MARKER), encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == "synthped" else None


def _check_target(out: str) -> None:
    """Refuse a target that is not a folder, or a non-empty folder that is not a SynthPed dataset (never ours)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise DatasetError(f"synthped: {out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and read_marker(out) is None:
        raise DatasetError(f"synthped: {out} is a non-empty folder without {MARKER}; refusing to overwrite it "
                           "(choose an empty or new folder)")


def config_differences(meta: dict, cfg: SynthPedConfig) -> list[str]:
    """What differs between the dataset described by `meta` (its synthped.json) and `cfg`: `key: folder -> asked`."""
    old, new = meta.get("config") or {}, cfg.to_dict()
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if meta.get("generator_version") != GENERATOR_VERSION:
        diffs.append(f"generator_version: {meta.get('generator_version')!r} -> {GENERATOR_VERSION!r}")
    if not meta.get("complete"):
        diffs.append("complete: false")
    return diffs


def _swap_in(tmp: str, out: str) -> None:
    """Move the finished dataset `tmp` to `out`, replacing an old SynthPed dataset there."""
    old = None
    if os.path.isdir(out):
        if os.listdir(out):
            old = tempfile.mkdtemp(prefix=temp_folder_prefixes(out)[1], dir=os.path.dirname(out))
            os.replace(out, os.path.join(old, "d"))
        else:
            os.rmdir(out)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate_synthped(out: str, cfg: SynthPedConfig | None = None, workers: int | None = None,
                      progress: bool = True, overwrite: bool = False, **overrides) -> dict:
    """Render a SynthPed dataset into `out` (atomically: built beside it, then moved in); return its statistics.

    `overrides` set SynthPedConfig fields (and `size="HxW"`). Same config -> byte-identical files, whatever `workers`
    (a job under POOL_MIN_PIXELS renders in this process: a pool would cost more to start than it saves).
    An existing SynthPed in `out` is replaced only with `overwrite` (never another program's folder). One writer per
    `out` at a time (a lock beside it); the temp folders a killed writer of `out` left are removed first.
    """
    t0 = time.perf_counter()
    cfg = make_config(cfg, **overrides)
    out = os.path.abspath(os.fspath(out))
    _check_target(out)
    meta = read_marker(out)
    if meta is not None and not overwrite:
        diffs = config_differences(meta, cfg)
        raise DatasetError(f"synthped: {out} already holds a SynthPed dataset"
                           + (f" made with other options ({'; '.join(diffs)})" if diffs else " made with these options")
                           + "; not replacing it (pass --overwrite to regenerate it, or choose another folder)")
    workers = usable_cpus() if workers is None else max(1, int(workers))
    parent = os.path.dirname(out)
    check_writable_folder(parent, f"synthped output {out}")
    with RunLock(parent, f"synthped output {out} (folder", name=f".{os.path.basename(out)}.lock"):
        stale = clean_stale_temp_folders(out)
        if stale and progress:
            print(f"synthped: removed {len(stale)} temporary folder(s) left by an interrupted run", file=sys.stderr)
        plan = build_plan(cfg)
        assign_files(plan)
        if sum(t.n_frames for t in plan.train + plan.test) * cfg.height * cfg.width < POOL_MIN_PIXELS:
            workers = 1                                     # a small job: rendered in this process
        tmp = tempfile.mkdtemp(prefix=temp_folder_prefixes(out)[0], dir=parent)
        try:
            total_bytes = _render_all(plan, tmp, workers, progress)
            if cfg.layout == "mars":
                _write_mars_index(plan, tmp)
            meta, stats = _metadata(plan, total_bytes)
            atomic_write_bytes(os.path.join(tmp, MARKER), json.dumps(meta, indent=1, sort_keys=True).encode())
            _check_target(out)  # still ours to replace?
            _swap_in(tmp, out)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                raise_naming_output(e, out)
            raise
    stats = dict(stats, seconds=round(time.perf_counter() - t0, 2), workers=workers, root=out)
    if progress:
        print(format_stats(stats), flush=True)
    return stats


def ensure_synthped(root: str, **options) -> str:
    """Return `root` holding a complete SynthPed dataset made with `options` (SynthPedConfig fields, `size`,
    plus `workers`, `progress`): reuse it when its synthped.json records the same options, generate it when `root`
    is missing or empty. A dataset made with other options is never replaced: DatasetError naming the differences."""
    workers = options.pop("workers", None)
    progress = options.pop("progress", True)
    cfg = make_config(None, **options)
    root = os.path.abspath(os.fspath(root))
    meta = read_marker(root)
    if meta is not None:
        diffs = config_differences(meta, cfg)
        if not diffs:
            return root
        raise DatasetError(
            f"data.root {root} holds a SynthPed dataset made with other options ({'; '.join(diffs)}); not replacing "
            f"it: set data.synth to match it, point data.root at another folder, or regenerate it explicitly with "
            f"`vidreid synth --out {root} --overwrite ...`")
    generate_synthped(root, cfg, workers=workers, progress=progress)
    return root
