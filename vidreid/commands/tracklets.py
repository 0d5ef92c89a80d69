"""`vidreid tracklets`: videos in, re-ID tracklets out (detect, track, cut), ready for `vidreid index build`."""
from __future__ import annotations

HELP = "detect and track people in videos and cut them into tracklets (crops, manifest, contact sheet, preview)"

EPILOG = """detectors:
  hog (default)     OpenCV's HOG people detector: no weights to fetch; misses people under ~100 px tall unless
                    --upscale 2, and slow on large frames (use --every N or --upscale 0.5)
  --detections F    MOTChallenge det.txt per video (frame,id,x,y,w,h,score,...; 1-based frames): your own
                    detector's boxes (YOLO, ByteTrack pipelines ...)
  onnx:PATH         your ONNX person detector (onnxruntime); output layouts yolov5 (1,N,5+C), yolov8 (1,4+C,N),
                    boxes (1,N,6) x1,y1,x2,y2,score,class after NMS; --onnx-layout when the shape does not tell
output: OUT/<camera>/<tracklet>/f<frame>.jpg, OUT/manifest.jsonl, OUT/tracklets.json (frames and boxes),
        OUT/<camera>.tracks.txt (MOTChallenge), OUT/contact_sheet.png, OUT/<camera>.preview.mp4"""


def add_arguments(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, one camera each")
    p.add_argument("--out", required=True, help="output folder (must not exist, unless --force)")
    p.add_argument("--camera", action="append", help="camera label of each video, in order (default: file names)")
    p.add_argument("--detector", default="hog", help="hog | onnx:PATH (default hog)")
    p.add_argument("--detections", action="append", metavar="DET_TXT",
                   help="MOTChallenge det.txt instead of a detector, one per video in order")
    p.add_argument("--onnx-layout", choices=("yolov5", "yolov8", "boxes"), help="output layout of an ONNX detector")
    p.add_argument("--person-class", type=int, default=0, help="class index of person in an ONNX detector (0)")
    p.add_argument("--min-score", type=float, help="drop detections below this score (hog 0.5, onnx 0.3, file none)")
    p.add_argument("--upscale", type=float, default=1.0,
                   help="hog: scale frames by this before detecting (2 finds smaller people; 0.5 is faster)")
    p.add_argument("--every", type=int, default=1, help="process every N-th frame (default 1)")
    p.add_argument("--start", type=int, default=1, help="first frame (1-based, default 1)")
    p.add_argument("--stop", type=int, help="last frame (inclusive; default: the end)")
    p.add_argument("--min-len", type=int, default=8, help="boxes a tracklet needs (default 8)")
    p.add_argument("--max-gap", type=int, default=10, help="frames without the person that cut a track (default 10)")
    p.add_argument("--min-height", type=int, default=48, help="drop boxes shorter than this many pixels (48)")
    p.add_argument("--crop-size", default="256x128", help="crop HEIGHTxWIDTH; its aspect pads the boxes (256x128)")
    p.add_argument("--track-buffer", type=int, default=30, help="steps a lost track waits to be found again (30)")
    p.add_argument("--high-score", type=float, help="tracker: score of a confident detection (default 0.6; "
                                                     "with --detections 0.5)")
    p.add_argument("--checkpoint", help="a re-ID checkpoint: join fragments of one person by appearance (the "
                                        "model's features under a motion gate)")
    p.add_argument("--join-distance", type=float, default=0.25,
                   help="--checkpoint: join fragments whose features are at most this far apart (1 - cos; 0.25)")
    p.add_argument("--join-gap", type=int, default=100, help="--checkpoint: at most this many frames apart (100)")
    p.add_argument("--preview", choices=("mp4", "gif", "none"), default="mp4", help="annotated preview (mp4)")
    p.add_argument("--force", action="store_true", help="replace OUT when it is an earlier tracklets output")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    import json
    import os

    from ..data.synthped import parse_size
    from ..errors import VidReIDError
    from ..tracking.cut import CutConfig
    from ..tracking.detectors import build_detector
    from ..tracking.pipeline import run_tracklets
    from ..tracking.tracker import TrackerConfig

    try:
        h, w = parse_size(args.crop_size)
    except Exception:
        raise VidReIDError(f"--crop-size must be HEIGHTxWIDTH, e.g. 256x128, got {args.crop_size!r}") from None
    if args.detections and len(args.detections) != len(args.videos):
        raise VidReIDError(f"--detections given {len(args.detections)} times for {len(args.videos)} videos: "
                           f"one det.txt per video")
    if args.detections and args.detector != "hog":
        raise VidReIDError("pass either --detector or --detections, not both")
    kw = dict(upscale=args.upscale, min_score=args.min_score, onnx_layout=args.onnx_layout,
              person_class=args.person_class)
    if args.detections:
        detectors = [build_detector(None, d, **kw) for d in args.detections]
        name = "detections " + ", ".join(args.detections)
    else:
        detectors = [build_detector(args.detector, None, **kw)] * len(args.videos)
        name = args.detector
    tcfg = TrackerConfig(track_buffer=args.track_buffer)
    if args.high_score is not None:
        tcfg.high_score = args.high_score
    elif args.detections:
        tcfg.high_score = 0.5
    tcfg.new_track_score = tcfg.high_score + 0.1          # ByteTrack's rule: new tracks need a little more
    cut = CutConfig(args.min_len, args.max_gap, args.min_height, h, w)
    join = None
    if args.checkpoint:
        from ..search.extractor import FeatureExtractor
        from ..tracking.join import JoinConfig
        join = (FeatureExtractor(args.checkpoint, workers=0), JoinConfig(args.join_distance, args.join_gap))
    doc = run_tracklets(args.videos, args.out, detectors, args.camera, tcfg, cut, args.every, args.start, args.stop,
                        None if args.preview == "none" else args.preview, not args.no_progress, args.force, name,
                        join)
    if args.json:
        print(json.dumps({"out": os.path.abspath(args.out), "videos": doc["videos"],
                          "tracklets": len(doc["tracklets"])}, indent=1))
        return 0
    for v in doc["videos"]:
        fps = v["frames_processed"] / max(v["seconds_track"], 1e-9)
        print(f"{v['camera']}: {v['frames_processed']} frames ({fps:.1f} frames/s tracking), {v['tracks']} tracks, "
              f"{v['tracklets']} tracklets" + (f" ({v['joined']} joined by appearance)" if args.checkpoint else "")
              + f"; {v['seconds_track'] + v['seconds_cut']:.1f} s")
    if not doc["tracklets"]:
        print("no tracklet kept: people too small or too briefly seen? try --upscale 2 (hog), a lower --min-height "
              "or --min-len, or check the preview")
    print(f"{len(doc['tracklets'])} tracklets in {args.out} (manifest.jsonl, tracklets.json, contact_sheet.png)")
    return 0
