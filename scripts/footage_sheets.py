#!/usr/bin/env python3
"""Contact sheets to check the hand-made identities of the real-footage set `vtest` by eye: one PNG per person
(a row of evenly spaced crops per labelled piece, its tracklet, frames and length) and one of the excluded segments
(with the reason), from the crops the dataset cuts from vtest.avi.

    python scripts/footage_sheets.py --out runs/real_footage/sheets [--root runs/real_footage/vtest] [--video PATH]
"""
import argparse
import os
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the PNGs (must not exist)")
    p.add_argument("--root", default=os.path.join("runs", "real_footage", "vtest"), help="the crops' folder")
    p.add_argument("--video", help="vtest.avi (default: the opencv-doc data folders)")
    p.add_argument("--per-row", type=int, default=10, help="crops per piece (10)")
    args = p.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import cv2

    from vidreid.data.datasets import vtest as V
    from vidreid.tracking.draw import contact_sheet, write_png
    table = V.read_table()
    os.makedirs(os.path.dirname(os.path.abspath(args.root)), exist_ok=True)   # the crops' parent (a folder, no file)
    root = V.ensure_crops(args.root, table, args.video, progress=True)
    os.makedirs(args.out)                                       # a new folder: nothing of the user's is replaced

    def row(name, frames, label):
        crops = [cv2.imread(V.crop_path(root, name, int(f))) for f in frames]
        return f"{label}\n{name} {frames[0]}-{frames[-1]}\n{len(frames)} boxes", crops
    by_person = {}
    for piece in table.labelled:
        by_person.setdefault(piece.identity, []).append(piece)
    for person, group in sorted(by_person.items()):             # loop over the few persons and their pieces
        rows = [row(g.name, g.frames.tolist(), f"person {person}") for g in sorted(group, key=lambda g: g.frames[0])]
        write_png(os.path.join(args.out, f"person{person:02d}.png"),
                  contact_sheet(rows, thumb=(128, 64), per_row=args.per_row))
    rows = []
    for name, first, last, why in table.excluded:
        frames = next(t.frames for t in table.tracklets if t.name == name)
        frames = frames[(frames >= first) & (frames <= last)].tolist()
        rows.append(row(name, frames, why[:24]))
    write_png(os.path.join(args.out, "excluded.png"), contact_sheet(rows, thumb=(128, 64), per_row=args.per_row))
    print(f"{len(by_person) + 1} sheets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
