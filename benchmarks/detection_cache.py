"""The detection cache (vidreid/tracking/detection_cache.py): `vidreid tracklets` on a real video, first with an
empty cache (HOG runs on every frame, the boxes are remembered), then again on the same video into another folder
(the boxes come from the cache, the detection pass decodes nothing); both outputs must be the same bytes apart from
the sidecar's RUN_FIELDS (timings, cache hits). Prints one markdown row for BENCHMARKS.md ("Detection cache").

    python benchmarks/detection_cache.py [--video vtest.avi] [--threads 1]
    python benchmarks/detection_cache.py --smoke      # a generated 16-frame video, seconds
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def generated_video(path: str, frames: int = 16) -> str:
    """A grey street with a dark figure walking across: enough for the code path, not for HOG's accuracy."""
    import cv2
    import numpy as np
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for f in range(frames):                                     # loop over a handful of frames
        img = np.full((240, 320, 3), 150, np.uint8)
        img[40:200, 20 + 8 * f:80 + 8 * f] = 40
        writer.write(img)
    writer.release()
    return path


def run(video: str, out: str) -> tuple[float, dict]:
    from vidreid.cli import main
    t0 = time.perf_counter()
    code = main(["tracklets", video, "--out", out, "--no-progress", "--preview", "none"])
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"vidreid tracklets exited {code}")
    return seconds, json.load(open(os.path.join(out, "tracklets.json")))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", help="the video (default: vtest.avi from the opencv-doc data folders)")
    p.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: one core, as the tables elsewhere)")
    p.add_argument("--smoke", action="store_true", help="a generated 16-frame video: the code path in seconds")
    args = p.parse_args(argv)
    import cv2
    cv2.setNumThreads(args.threads)
    work = tempfile.mkdtemp(prefix="vidreid-detection-cache-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")          # an empty cache, this run's own
    os.environ.pop("VIDREID_NO_DETECTION_CACHE", None)
    if args.smoke:
        video = generated_video(os.path.join(work, "walk.avi"))
    else:
        from vidreid.data.datasets.vtest import find_video
        video = find_video(args.video)
    run(generated_video(os.path.join(work, "warm-up.avi"), 2), os.path.join(work, "warm-up"))   # imports untimed
    cold, side = run(video, os.path.join(work, "cold"))
    cached, side2 = run(video, os.path.join(work, "cached"))
    v, v2 = side["videos"][0], side2["videos"][0]
    assert v["frames_cached"] == 0 and v2["frames_cached"] == v2["frames_processed"], (v, v2)
    from vidreid.tracking.pipeline import output_differences
    identical = not output_differences(os.path.join(work, "cold"), os.path.join(work, "cached"))[0]
    print(f"\n{os.path.basename(video)}: {v['frames_processed']} frames of {v['width']}x{v['height']}, "
          f"{len(side['tracklets'])} tracklets; OpenCV threads {args.threads}")
    print("| video | frames | first run (detects) | second run (cache) | speed-up | same bytes |")
    print("|---|---:|---:|---:|---:|---|")
    print(f"| {os.path.basename(video)} {v['width']}x{v['height']} | {v['frames_processed']} | {cold:.1f} s "
          f"({v['frames_processed'] / cold:.1f} frames/s) | {cached:.2f} s | {cold / cached:.0f}x | "
          f"{'yes' if identical else 'NO'} |")
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
