"""`vidreid tracklets`: videos in, re-ID tracklets out (detect, track, cut; tracking/pipeline.py).
`cut_tracklets(opts)` takes the command's parsed options (commands/tracklets.py); `--engine ray` hands the same
per-video work to Ray tasks (workflows/ray_tracklets.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrackletsPlan:
    """What both engines need, checked once from the command's options."""
    videos: list            # video paths, one camera each
    cameras: list | None    # camera labels (None: from the file names)
    footage: object         # a footage.Footage, or None
    detector: str           # hog | onnx:PATH (ignored with detections)
    detections: list | None  # one MOTChallenge det.txt per video, or None
    detector_options: dict  # build_detector's keywords (upscale, min_score, onnx_layout, person_class)
    detector_name: str      # the sidecar's "detector"
    tracker_cfg: object     # tracker.TrackerConfig
    cut: object             # cut.CutConfig
    join_cfg: object        # join.JoinConfig with --checkpoint, else None
    preview: str | None     # mp4 | gif | None


def plan_tracklets(args) -> TrackletsPlan:
    from ..data.synthped import parse_size
    from ..errors import VidReIDError
    from ..tracking.cut import CutConfig
    from ..tracking.tracker import tracker_config

    footage = None
    if args.footage:
        from ..tracking.footage import load_footage
        if args.videos or args.camera:
            raise VidReIDError("pass either --footage or VIDEO files (and --camera), not both")
        footage = load_footage(args.footage)
        args.videos = [v.video for v in footage.videos]
    elif not args.videos:
        raise VidReIDError("no video: pass VIDEO files or --footage MANIFEST")
    try:
        h, w = parse_size(args.crop_size)
    except Exception:
        raise VidReIDError(f"--crop-size must be HEIGHTxWIDTH, e.g. 256x128, got {args.crop_size!r}") from None
    if args.detections and len(args.detections) != len(args.videos):
        raise VidReIDError(f"--detections given {len(args.detections)} times for {len(args.videos)} videos: "
                           f"one det.txt per video")
    if args.track_buffer < 0:
        raise VidReIDError(f"--track-buffer must be >= 0 (steps a lost track waits), got {args.track_buffer}")
    if args.detections and args.detector != "hog":
        raise VidReIDError("pass either --detector or --detections, not both")
    join_cfg = None
    if args.checkpoint:
        from ..tracking.join import JoinConfig
        if not 0 <= args.join_distance <= 2 or args.join_gap < 1:    # 1 - cos lies in [0, 2]
            raise VidReIDError(f"need 0 <= --join-distance <= 2 and --join-gap >= 1, got {args.join_distance}, "
                               f"{args.join_gap}")
        join_cfg = JoinConfig(args.join_distance, args.join_gap)
    return TrackletsPlan(
        args.videos, args.camera, footage, args.detector, args.detections,
        dict(upscale=args.upscale, min_score=args.min_score, onnx_layout=args.onnx_layout,
             person_class=args.person_class),
        "detections " + ", ".join(args.detections) if args.detections else args.detector,
        tracker_config(bool(args.detections), args.high_score, args.track_buffer),
        CutConfig(args.min_len, args.max_gap, args.min_height, h, w), join_cfg,
        None if args.preview == "none" else args.preview)


def cut_tracklets(args) -> int:
    import json
    import os

    from ..tracking.detectors import build_detectors
    from ..tracking.pipeline import run_tracklets

    plan = plan_tracklets(args)
    detectors = build_detectors(args.videos, plan.detector, plan.detections, **plan.detector_options)
    if args.engine == "ray":          # checked above in this process; run in Ray tasks
        from .ray_tracklets import run_tracklets_ray
        doc = run_tracklets_ray(plan, args)
    else:
        join = None
        if args.checkpoint:
            from ..search.extractor import FeatureExtractor
            join = (FeatureExtractor(args.checkpoint, workers=0), plan.join_cfg)
        doc = run_tracklets(args.videos, args.out, detectors, args.camera, plan.tracker_cfg, plan.cut, args.every,
                            args.start, args.stop, plan.preview, not args.no_progress, args.force,
                            plan.detector_name, join=join, masks=args.masks, footage=plan.footage)
    if args.json:
        print(json.dumps({"out": os.path.abspath(args.out), "videos": doc["videos"],
                          "tracklets": len(doc["tracklets"])}, indent=1))
        return 0
    for v in doc["videos"]:
        fps = v["frames_processed"] / max(v["seconds_track"], 1e-9)
        cached = v.get("frames_cached", 0)                 # a Ray part of an earlier version has none
        speed = ("detections from the cache" if cached and cached == v["frames_processed"] else
                 f"{fps:.1f} frames/s tracking" + (f", {cached} from the cache" if cached else ""))
        print(f"{v['camera']}: {v['frames_processed']} frames ({speed}), {v['tracks']} tracks, "
              f"{v['tracklets']} tracklets" + (f" ({v['joined']} joined by appearance)" if args.checkpoint else "")
              + f"; {v['seconds_track'] + v['seconds_cut']:.1f} s")
    if not doc["tracklets"]:
        print("no tracklet kept: people too small or too briefly seen? try --upscale 2 (hog), a lower --min-height "
              "or --min-len, or check the preview")
    print(f"{len(doc['tracklets'])} tracklets in {args.out} (manifest.jsonl, tracklets.json, contact_sheet.png)")
    return 0
