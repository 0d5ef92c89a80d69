#!/usr/bin/env python3
"""Check the loose and the tight vtest boxes against boxes drawn by eye.

    python scripts/footage_box_check.py sheet OUT.png [--n 12 --seed 0]   # a sheet to read the eye boxes off
    python scripts/footage_box_check.py score EYE.csv                     # mean IoU and background share
    python scripts/footage_box_check.py carry                             # labels carried loose -> tight

`carry`: the hand-checked labels carried from the loose boxes to the tight ones by vidreid/tracking/carry_labels.py
(each tight piece takes the label of the loose segment it overlaps most in time and IoU; excluded segments compete),
as a re-detection would need: every piece must get its own label back, the others are listed.
`sheet`: n boxes drawn at random (seeded) from the labelled pieces, each shown as the frame's window around it at
3x, the loose box in red, the tight box in green, a grid every 10 video pixels (the labels are video x / y); 4 tiles a PNG.
EYE.csv (frame,tracklet,x,y,w,h: the person's own extent, head to feet, read off the sheet) is scored: per box
variant, the mean IoU with the eye box and the mean share of the box outside the eye box (background).
"""
import argparse
import csv
import os
import sys

import numpy as np


def tables():
    from vidreid.data.datasets import vtest as V
    loose, tight = V.read_table(V.BOXES["loose"]), V.read_table(V.BOXES["tight"])
    return V, loose, {t.name: t for t in loose.tracklets}, {t.name: t for t in tight.tracklets}


def sheet(out: str, n: int, seed: int, video: str | None) -> None:
    import cv2
    V, loose, old, new = tables()
    pieces = [(p.name, int(f)) for p in loose.labelled for f in p.frames.tolist()]
    picks = sorted((pieces[i] for i in np.random.default_rng(seed).choice(len(pieces), n, replace=False)),
                   key=lambda p: p[1])                            # frame order: one decoding pass
    cap = cv2.VideoCapture(V.find_video(video, loose.video))
    tiles, frame_no, frame = [], 0, None
    for name, f in picks:                                        # a dozen boxes, in frame order: one pass
        while frame_no < f:
            _, frame = cap.read()
            frame_no += 1
        a = old[name].boxes[old[name].frames == f][0]
        b = new[name].boxes[new[name].frames == f][0]
        x0, y0 = int(max(a[0] - 20, 0)), int(max(a[1] - 20, 0))
        x1, y1 = int(min(a[0] + a[2] + 20, frame.shape[1])), int(min(a[1] + a[3] + 20, frame.shape[0]))
        s = 4
        tile = cv2.resize(frame[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST)
        for gx in range((x0 // 10 + 1) * 10, x1, 10):
            cv2.line(tile, ((gx - x0) * s, 0), ((gx - x0) * s, tile.shape[0]), (200, 200, 200), 1)
            if gx % 20 == 0:
                cv2.putText(tile, str(gx), ((gx - x0) * s + 1, 10), cv2.FONT_HERSHEY_PLAIN, 1.2, (255, 0, 255), 1)
        for gy in range((y0 // 10 + 1) * 10, y1, 10):
            cv2.line(tile, (0, (gy - y0) * s), (tile.shape[1], (gy - y0) * s), (200, 200, 200), 1)
            if gy % 20 == 0:
                cv2.putText(tile, str(gy), (1, (gy - y0) * s - 2), cv2.FONT_HERSHEY_PLAIN, 1.2, (255, 0, 255), 1)
        for box, colour in ((a, (0, 0, 255)), (b, (0, 255, 0))):
            p, q = (int((box[0] - x0) * s), int((box[1] - y0) * s)), (int((box[0] + box[2] - x0) * s),
                                                                        int((box[1] + box[3] - y0) * s))
            cv2.rectangle(tile, p, q, colour, 2)
        cv2.putText(tile, f"{f} {name}", (2, tile.shape[0] - 4), cv2.FONT_HERSHEY_PLAIN, 1.0, (255, 255, 255), 1)
        tiles.append(tile)
    for k in range(0, len(tiles), 4):                            # sheets of 4 tiles: legible grid labels
        part = tiles[k:k + 4]
        h = max(t.shape[0] for t in part)
        sheet_png = out if k == 0 else out.replace(".png", f"-{k // 4 + 1}.png")
        cv2.imwrite(sheet_png, np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 6), (0, 0))) for t in part], 1))
    print(out, "\n".join(f"{f},{name}" for name, f in picks), sep="\n")


def score(eye_csv: str) -> None:
    from vidreid.tracking.tracker import iou_matrix
    _, _, old, new = tables()
    rows = list(csv.DictReader(line for line in open(eye_csv) if not line.startswith("#")))
    eye = np.array([[float(r[k]) for k in "xywh"] for r in rows])
    for label, boxes in (("loose", old), ("tight", new)):
        b = np.array([boxes[r["tracklet"]].boxes[boxes[r["tracklet"]].frames == int(r["frame"])][0] for r in rows])
        iou = np.diag(iou_matrix(b, eye))
        iw = np.clip(np.minimum(b[:, 0] + b[:, 2], eye[:, 0] + eye[:, 2]) - np.maximum(b[:, 0], eye[:, 0]), 0, None)
        ih = np.clip(np.minimum(b[:, 1] + b[:, 3], eye[:, 1] + eye[:, 3]) - np.maximum(b[:, 1], eye[:, 1]), 0, None)
        background = 1 - iw * ih / (b[:, 2] * b[:, 3])
        missed = 1 - iw * ih / (eye[:, 2] * eye[:, 3])
        print(f"{label}: {len(rows)} boxes, mean IoU with the eye boxes {iou.mean():.2f}, background share of the "
              f"box {background.mean():.2f}, share of the person outside the box {missed.mean():.2f}, median box "
              f"{np.median(b[:, 2]):.0f} x {np.median(b[:, 3]):.0f} (eye {np.median(eye[:, 2]):.0f} x "
              f"{np.median(eye[:, 3]):.0f})")


def carry() -> int:
    from vidreid.tracking.carry_labels import carry_labels
    V, loose, old, new = tables()
    segments = [(p.name, p.frames, p.identity) for p in loose.labelled] + [
        (name, old[name].frames[(old[name].frames >= a) & (old[name].frames <= b)], 0)
        for name, a, b, _ in loose.excluded]
    def rows_of(boxes, items):
        f = np.concatenate([fr for _, fr, _ in items])
        b = np.concatenate([boxes[n].boxes[np.isin(boxes[n].frames, fr)] for n, fr, _ in items])
        return f, b
    old_f, old_b = rows_of(old, segments)
    old_l = np.concatenate([np.full(len(fr), lab) for _, fr, lab in segments])
    pieces = [(p.name, p.frames, p.identity) for p in loose.labelled]
    new_f, new_b = rows_of(new, pieces)
    new_t = np.concatenate([np.full(len(fr), i) for i, (_, fr, _) in enumerate(pieces)])
    got = carry_labels(old_f, old_b, old_l, new_f, new_b, new_t)
    wrong = [(pieces[i], c) for i, c in got.items() if c.label != pieces[i][2]]
    print(f"{len(pieces) - len(wrong)} of {len(pieces)} tight pieces carry their own label back")
    for (name, fr, identity), c in wrong:
        print(f"  {name} {fr[0]}-{fr[-1]} (identity {identity}): got {c.label}, {c.reason}")
    return 0 if not wrong else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("sheet", "score", "carry"))
    p.add_argument("path", nargs="?", help="sheet: the PNG to write (must not exist); score: the eye boxes' CSV "
                                          "(default vidreid/data/datasets/tables/vtest_eye_boxes.csv)")
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video")
    args = p.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if args.what == "carry":
        return carry()
    if args.what == "sheet":
        if os.path.exists(args.path):
            raise SystemExit(f"{args.path} exists")
        sheet(args.path, args.n, args.seed, args.video)
    else:
        from vidreid.data.datasets.vtest import TABLES
        score(args.path or os.path.join(TABLES, "vtest_eye_boxes.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
