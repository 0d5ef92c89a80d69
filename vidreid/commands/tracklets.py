"""`vidreid tracklets`: videos in, re-ID tracklets out (detect, track, cut), ready for `vidreid index build`."""
from __future__ import annotations

from ..options import add_force_argument, add_progress_argument

HELP = "detect and track people in videos and cut them into tracklets (crops, manifest, contact sheet, preview)"

EPILOG = """detectors:
  hog (default)     OpenCV's HOG people detector: no weights to fetch; misses people under ~100 px tall unless
                    --upscale 2, and slow on large frames (use --every N or --upscale 0.5)
  --detections F    MOTChallenge det.txt per video (frame,id,x,y,w,h,score,...; 1-based frames): your own
                    detector's boxes (YOLO, ByteTrack pipelines ...)
  onnx:PATH         your ONNX person detector (onnxruntime); output layouts yolov5 (1,N,5+C), yolov8 (1,4+C,N),
                    boxes (1,N,6) x1,y1,x2,y2,score,class after NMS; --onnx-layout when the shape does not tell
output: OUT/<camera>/<tracklet>/f<frame>.jpg, OUT/manifest.jsonl, OUT/tracklets.json (frames and boxes),
        OUT/<camera>.tracks.txt (MOTChallenge), OUT/contact_sheet.png, OUT/<camera>.preview.mp4
footage: --footage MANIFEST (.yaml/.csv: video, camera, start, transit times) gives every tracklet clock times
        (start_time, end_time, start_clock, end_clock in tracklets.json) for `vidreid associate`
many videos: --engine ray runs one Ray task per video (--address auto: on your cluster; the videos and OUT on a
        file system every node sees) and writes the same OUT as the default engine. Finished videos wait in
        OUT.parts/ until all are done: a rerun of the same command (after a failure, Ctrl-C or a crash) skips them
        (same video bytes and settings), failed tasks are retried (--retries), and what failed is listed."""


def add_arguments(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="video files, one camera each (or --footage)")
    p.add_argument("--footage", metavar="MANIFEST", help="a footage manifest (.yaml/.csv: video, camera, start "
                   "time, transit times; docs/search.md) instead of VIDEO and --camera: tracklets get clock times")
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
    p.add_argument("--masks", action="store_true",
                   help="fixed cameras: write each crop's foreground mask (temporal-median background) to "
                        "<tracklet>/masks/; `data.background=suppress` then greys the background out")
    p.add_argument("--preview", choices=("mp4", "gif", "none"), default="mp4", help="annotated preview (mp4)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: one process, video after video (default); ray: one Ray task per video, resumable "
                        "(needs `pip install 'vidreid[ray]'`; see the epilog)")
    p.add_argument("--address", help="--engine ray: a running Ray cluster's address (e.g. auto); default: start a "
                                     "local Ray on this machine")
    p.add_argument("--workers", type=int, help="--engine ray without --address: CPUs of the local Ray, i.e. videos "
                                               "at once (default: all cores)")
    p.add_argument("--retries", type=int, default=2,
                   help="--engine ray: tries again a video whose task raised or whose worker died (default 2)")
    add_force_argument(p, "replace OUT when it is an earlier tracklets output")
    add_progress_argument(p, "no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> int:
    from ..workflows.tracklets import cut_tracklets
    return cut_tracklets(args)
