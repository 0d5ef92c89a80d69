#!/usr/bin/env python3
"""Write the tight-box variant of the vtest tracklets table: every committed box refined by HOG at 2x scale in a
window around it (vidreid/tracking/refine.py), the same tracklets and frames, so the hand-checked identities apply
unchanged (vtest option boxes=tight reads it). Boxes where the refinement finds nothing are kept as they were.

    python scripts/footage_tight.py vidreid/data/datasets/tables/vtest_tracklets_tight.json [--video PATH]
"""
import argparse
import json
import os
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="table to write (must not exist unless --overwrite)")
    p.add_argument("--video", help="vtest.avi (default: the opencv-doc data folders)")
    p.add_argument("--upscale", type=float, default=2.0, help="HOG's scale in the windows (2)")
    p.add_argument("--margin", type=float, default=0.25, help="window = box grown by this share per side (0.25)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import cv2
    import numpy as np

    from vidreid.data.datasets import vtest as V
    from vidreid.tracking.detectors import HogDetector
    from vidreid.tracking.refine import refine_frame
    from vidreid.utils.io import atomic_write_text, check_output_file
    check_output_file(args.out, "OUT", args.overwrite)
    table = V.read_table()
    video = V.find_video(args.video, table.video)
    rows = np.concatenate([np.column_stack([t.frames, np.full(len(t.frames), i), t.boxes])
                           for i, t in enumerate(table.tracklets)])           # (n, 6) [frame, tracklet, x, y, w, h]
    refined, replaced = rows[:, 2:6].copy(), np.zeros(len(rows), bool)
    detector = HogDetector(args.upscale)
    cap = cv2.VideoCapture(video)
    t0 = time.perf_counter()
    for frame_number in range(1, table.frame_count + 1):                      # one decoding pass
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{video}: cannot read frame {frame_number}")
        here = np.flatnonzero(rows[:, 0] == frame_number)
        if len(here):
            refined[here], replaced[here] = refine_frame(frame, rows[here, 2:6], detector, args.margin)
    seconds = time.perf_counter() - t0
    doc = json.load(open(V.TRACKLETS_FILE))
    head = {k: v for k, v in doc.items() if k != "tracklets"}
    head["made_by"] = (doc["made_by"] + f"; boxes refined: scripts/footage_tight.py --upscale {args.upscale} "
                       f"--margin {args.margin} ({int(replaced.sum())} of {len(rows)} boxes replaced)")
    lines = []
    for i, t in enumerate(doc["tracklets"]):                                   # loop over the few dozen tracklets
        mine = rows[:, 1] == i
        r = [[int(f)] + [round(float(v), 1) for v in b] for f, b in zip(rows[mine, 0], refined[mine])]
        lines.append(json.dumps({"name": t["name"], "track": t["track"], "rows": r}, separators=(",", ":")))
    text = json.dumps(head, indent=1)[:-2] + ',\n "tracklets": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    json.loads(text)
    atomic_write_text(args.out, text)
    h0, h1 = rows[:, 5], refined[:, 3]
    print(f"{args.out}: {len(rows)} boxes, {int(replaced.sum())} replaced in {seconds:.0f} s; box height median "
          f"{np.median(h0):.0f} -> {np.median(h1):.0f} px, min {h0.min():.0f} -> {h1.min():.0f}; area kept "
          f"{np.median(refined[:, 2] * refined[:, 3] / (rows[:, 4] * rows[:, 5])):.2f} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
