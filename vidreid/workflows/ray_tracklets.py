"""`vidreid tracklets --engine ray`: one Ray task per video, each doing the single-process path's per-video work
(tracking/pipeline.py: track_and_cut), then the run-wide files written once by the driver (finish_output), so the
output equals the single-process one.

Idempotent and resumable through a parts folder beside the output, OUT.parts/:
    OUT.parts/<camera>-<key>/          one finished video: tracklets/<camera>/..., <camera>.tracks.txt, the preview,
                                       part.json (its VideoResult and sidecar entries)
    OUT.parts/failures.json            the videos that failed in the last run, with their errors
<key> is a sha256 of the video's bytes, the camera label, the detector (and the bytes of its det.txt / ONNX file),
every tracking and cutting setting and the join checkpoint's bytes: a rerun skips a video whose part exists with
the same key, and a changed setting or file redoes it. A task builds its part in a temporary folder (.tmp-*) and
renames it into place when complete, so a part is either whole or absent whatever kills the task or the driver.
A task that raises or whose worker dies is retried (--retries); a bad input (VidReIDError) is not, it is reported.
When every video is done the driver hard-links the parts into OUT (written under a temporary name and renamed, as
the single-process path does) and deletes OUT.parts; if any video failed, OUT is not written and the parts stay.

Ray is optional (`pip install 'vidreid[ray]'`). Without --address a local Ray is started with --workers CPUs, a
small object store (only per-video summaries travel through it: crops go straight to disk) and no dashboard;
with --address (e.g. auto) the tasks run on an existing cluster, whose nodes must see the videos and OUT at the same
paths (a shared file system) and have vidreid installed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass

from ..errors import VidReIDError
from .ray_engine import one_line, ray_session, require_ray

PARTS_SUFFIX = ".parts"         # OUT.parts: the finished videos of an unfinished run
PART_FILE = "part.json"         # inside a part: {"result": VideoResult fields, "entries": sidecar entries}
FAILURES = "failures.json"      # inside OUT.parts: what failed in the last run
KEY_VERSION = "vidreid-tracklets-part/1"   # bump when the per-video output changes for the same inputs


class VideosFailed(VidReIDError):
    """Some videos of a Ray run failed; the finished ones are kept in OUT.parts for the rerun."""


@dataclass
class VideoJob:
    """Everything one Ray task needs (plain data: it is pickled to the worker, which builds its own detector)."""
    video: str                  # absolute path
    camera: str                 # camera label
    camid: int                  # position in the run (finish_output sets it again, so a part survives reordering)
    detector: str               # hog | onnx:PATH
    detections: str | None      # this video's det.txt (instead of the detector)
    detector_options: dict      # build_detector's keywords
    tracker_cfg: object         # tracker.TrackerConfig
    cut: object                 # cut.CutConfig
    every: int                  # process every N-th frame
    start: int                  # first frame (1-based)
    stop: int | None            # last frame (inclusive)
    preview: str | None         # mp4 | gif | None
    masks: bool                 # write foreground masks
    join: tuple | None          # (checkpoint path, JoinConfig) or None
    key: str                    # sha256 of the inputs and settings (module docstring)

    @property
    def part_name(self) -> str:
        return f"{self.camera}-{self.key[:16]}"


def file_hash(path: str | None) -> str | None:
    """sha256 of a file's bytes (None for no file)."""
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):          # 1 MB at a time (hashlib.file_digest is 3.11+)
            h.update(block)
    return h.hexdigest()


def job_key(video: str, camera: str, detector: str, detections: str | None, settings: dict, preview: str | None,
            detector_options: dict) -> str:
    """The part's key: what makes two runs of one video give the same files (module docstring)."""
    model = detector[5:] if detections is None and detector.startswith(("onnx:", "file:")) else None
    join = settings.get("join")
    doc = {"version": KEY_VERSION, "video": file_hash(video), "camera": camera,
           "detector": None if detections else detector, "detections": file_hash(detections),
           "detector_file": file_hash(model), "options": detector_options, "preview": preview,
           "settings": {k: v for k, v in settings.items() if k != "detector"},   # (its name lists every det.txt)
           "checkpoint": None if join is None else file_hash(join["checkpoint"])}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def run_video_job(job: VideoJob, parts: str) -> dict:
    """A Ray task: one video -> parts/<part_name>/ (renamed into place when whole). Returns the part's summary, or
    {"error": one line} for a bad input (not worth retrying); other exceptions propagate, and Ray retries them."""
    from ..data.video import probe_video
    from ..tracking.detectors import build_detector
    from ..tracking.pipeline import track_and_cut
    from ..utils.io import TEMP_PREFIX, atomic_write_text, fsync_path

    import cv2
    cv2.setNumThreads(1)             # a task holds one CPU (num_cpus=1): OpenCV's pool would take every core
    final = os.path.join(parts, job.part_name)
    if os.path.isfile(os.path.join(final, PART_FILE)):       # an earlier attempt finished it (e.g. after its driver
        return read_part(final)                              # was stopped while the task ran on)
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX + job.part_name + "-", dir=parts)
    try:
        try:
            info = probe_video(job.video)
            detector = build_detector(job.detector, job.detections, **job.detector_options)
            join = None
            if job.join is not None:
                from ..search.extractor import FeatureExtractor
                join = (FeatureExtractor(job.join[0], workers=0), job.join[1])
            result, entries = track_and_cut(tmp, job.video, job.camera, job.camid, info, detector, job.tracker_cfg,
                                            job.cut, job.every, job.start, job.stop, job.preview, False, join,
                                            job.masks)
        except VidReIDError as e:
            return {"error": f"{type(e).__name__}: {e}"}
        part = {"key": job.key, "result": {k: v for k, v in asdict(result).items() if k not in ("rows", "names")},
                "entries": entries}
        atomic_write_text(os.path.join(tmp, PART_FILE), json.dumps(part))
        try:
            os.rename(tmp, final)             # the part becomes visible whole, or not at all
        except OSError:
            if not os.path.isfile(os.path.join(final, PART_FILE)):
                raise
            # another attempt of the same key got there first: its files are the same, keep them
        fsync_path(parts)
        return part
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_part(folder: str) -> dict:
    with open(os.path.join(folder, PART_FILE), encoding="utf-8") as f:
        return json.load(f)


def run_jobs(ray, jobs: list[VideoJob], parts: str, retries: int, task=run_video_job, on_done=None) -> tuple:
    """Submit one task per job; return ({part_name: part}, {part_name: error line}) once all have ended.
    on_done(job, part_or_None, error_or_None) is called as each ends (in the driver). A Ctrl-C cancels the tasks
    still running and propagates (finished parts stay)."""
    remote = ray.remote(task).options(num_cpus=1, max_retries=retries, retry_exceptions=True)
    pending = {remote.remote(job, parts): job for job in jobs}
    done, failed = {}, {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            try:
                part = ray.get(ready[0])
                error = part.get("error")
            except Exception as e:                      # the task raised on every try, or its worker kept dying
                part, error = None, one_line(e)
            if error:
                failed[job.part_name] = error
            else:
                done[job.part_name] = part
            if on_done is not None:
                on_done(job, None if error else part, error)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        ray.wait(list(pending), num_returns=len(pending), timeout=5)     # let the kills land before we exit
        raise
    return done, failed


def run_tracklets_ray(plan, args, task=run_video_job, on_done=None) -> dict:
    """The `--engine ray` run of a checked plan (workflows/tracklets.py): parts for the videos not yet done, then
    OUT from all parts. Returns the sidecar; raises VideosFailed naming what failed (OUT not written)."""
    from ..tracking.pipeline import SIDECAR, check_inputs, output_settings
    from ..utils.io import RunLock, TEMP_PREFIX, atomic_write_text, check_replaceable_folder

    require_ray()                                           # before anything is written
    if args.retries < 0 or (args.workers is not None and args.workers < 1):
        raise VidReIDError(f"need --retries >= 0 and --workers >= 1, got {args.retries}, {args.workers}")
    videos, cameras, _ = check_inputs(plan.videos, plan.cameras, plan.cut, args.every, args.start, args.stop,
                                      plan.footage)
    out = check_replaceable_folder(args.out, args.force, SIDECAR, "`vidreid tracklets`")   # before hours of work
    checkpoint = os.path.abspath(args.checkpoint) if args.checkpoint else None
    settings = output_settings(plan.detector_name, plan.tracker_cfg, plan.cut, args.every, args.start, args.stop,
                               plan.join_cfg, checkpoint, args.masks)
    parts = out + PARTS_SUFFIX
    with RunLock(parts, "parts folder"):
        for name in os.listdir(parts):                      # the temp folders of tasks of a killed run
            if name.startswith(TEMP_PREFIX):
                shutil.rmtree(os.path.join(parts, name), ignore_errors=True)
        jobs = []
        for camid, (video, cam) in enumerate(zip(videos, cameras)):
            det = plan.detections[camid] if plan.detections else None
            key = job_key(video, cam, plan.detector, det, settings, plan.preview, plan.detector_options)
            jobs.append(VideoJob(os.path.abspath(video), cam, camid, plan.detector, det, plan.detector_options,
                                 plan.tracker_cfg, plan.cut, args.every, args.start, args.stop, plan.preview,
                                 args.masks, None if checkpoint is None else (checkpoint, plan.join_cfg), key))
        finished = {j.part_name: read_part(os.path.join(parts, j.part_name)) for j in jobs
                    if os.path.isfile(os.path.join(parts, j.part_name, PART_FILE))}
        todo = [j for j in jobs if j.part_name not in finished]
        say = (lambda *a: None) if args.json else print
        say(f"ray: {len(todo)} videos to do, {len(finished)} already done in {parts}")
        t0 = time.perf_counter()
        failed = {}
        if todo:
            def report(job, part, error):
                say(f"ray: {job.camera} " + (f"FAILED: {error}" if error else
                                             f"done ({len(part['entries'])} tracklets)"))
                if on_done is not None:
                    on_done(job, part, error)
            with ray_session(args.address, args.workers) as ray:
                done, failed = run_jobs(ray, todo, parts, args.retries, task, report)
            finished.update(done)
        say(f"ray: {len(todo) - len(failed)} videos in {time.perf_counter() - t0:.1f} s")
        if failed:
            lines = [f"{j.camera} ({j.video}): {failed[j.part_name]}" for j in jobs if j.part_name in failed]
            atomic_write_text(os.path.join(parts, FAILURES), json.dumps(
                [{"camera": j.camera, "video": j.video, "error": failed[j.part_name]}
                 for j in jobs if j.part_name in failed], indent=1))
            for line in lines:
                print(f"failed: {line}", flush=True)
            raise VideosFailed(f"{len(failed)} of {len(jobs)} videos failed (first: {lines[0]}; all in "
                               f"{os.path.join(parts, FAILURES)}); the {len(jobs) - len(failed)} finished are kept "
                               f"in {parts}: rerun the same command to do only the failed ones")
        sidecar = assemble(out, parts, jobs, finished, settings, plan.footage, args.force)
    shutil.rmtree(parts, ignore_errors=True)               # OUT holds everything now (the lock file went with it)
    return sidecar


def assemble(out: str, parts: str, jobs: list[VideoJob], finished: dict, settings: dict, footage,
             force: bool) -> dict:
    """OUT from the parts, in the videos' order: their files hard-linked (no copy of the crops; a copy where links
    are not possible), then the run-wide files (finish_output, the single-process path's code)."""
    from ..tracking.pipeline import CROPS, SIDECAR, VideoResult, finish_output
    from ..utils.io import atomic_folder

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    with atomic_folder(out, force, SIDECAR, "`vidreid tracklets`") as tmp:
        for job in jobs:                                      # loop over videos
            src = os.path.join(parts, job.part_name)
            for name in os.listdir(src):
                if name == CROPS:                             # tracklets/<camera>/...: one camera per part
                    shutil.copytree(os.path.join(src, CROPS), os.path.join(tmp, CROPS), copy_function=link,
                                    dirs_exist_ok=True)
                elif name != PART_FILE:
                    link(os.path.join(src, name), os.path.join(tmp, name))
        results = [VideoResult(**finished[j.part_name]["result"]) for j in jobs]
        return finish_output(tmp, settings, results, [finished[j.part_name]["entries"] for j in jobs], footage)
