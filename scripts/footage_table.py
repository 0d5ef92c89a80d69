#!/usr/bin/env python3
"""Write the committed tracklets table of a real-footage set from a `vidreid tracklets` output (its tracklets.json):
per tracklet its name, track id and rows [frame, x, y, w, h] (boxes as the tracker gave them, 0.1 px), one tracklet
per line so that a change shows as a readable diff. The table is what vidreid/data/datasets/vtest.py cuts the crops
from, so the crops do not depend on re-running the detector.

    vidreid tracklets data/opencv-doc-data/vtest.avi --out runs/real_footage/trk --preview none
    python scripts/footage_table.py runs/real_footage/trk/tracklets.json vidreid/data/datasets/tables/vtest_tracklets.json
"""
import argparse
import json
import os
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sidecar", help="tracklets.json of a `vidreid tracklets` output (one video)")
    p.add_argument("out", help="table to write (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from vidreid.utils.io import atomic_write_text, check_output_file
    check_output_file(args.out, "OUT", args.overwrite)
    doc = json.load(open(args.sidecar))
    if len(doc["videos"]) != 1:
        raise SystemExit(f"{args.sidecar}: {len(doc['videos'])} videos; a footage table holds one")
    from vidreid.data.video import probe_video
    video = doc["videos"][0]
    info = probe_video(video["path"])
    head = {"format": "vidreid-footage-table/1", "video": os.path.basename(video["path"]), "width": video["width"],
            "height": video["height"], "frame_count": info.frame_count,
            "crop_size": [doc["cut"]["crop_height"], doc["cut"]["crop_width"]],
            "made_by": f"vidreid tracklets {os.path.basename(video['path'])} --out OUT --preview none "
                       f"(detector {doc['detector']}, every {doc['every']}); scripts/footage_table.py",
            "tracker": doc["tracker"], "cut": doc["cut"]}
    lines = []
    for t in doc["tracklets"]:                                   # loop over the few dozen tracklets
        rows = [[f] + [round(v, 1) for v in b] for f, b in zip(t["frames"], t["boxes"])]
        lines.append(json.dumps({"name": t["name"].split("/", 1)[1], "track": t["track"], "rows": rows},
                                separators=(",", ":")))
    text = json.dumps(head, indent=1)[:-2] + ',\n "tracklets": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    json.loads(text)                                             # well-formed before it is written
    atomic_write_text(args.out, text)
    print(f"{args.out}: {len(lines)} tracklets, {sum(len(t['frames']) for t in doc['tracklets'])} boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
