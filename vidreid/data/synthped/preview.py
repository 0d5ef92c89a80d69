"""A contact sheet of a generated SynthPed (MARS layout): one row per identity, frames from each of its tracklets.

    python -m vidreid.data.synthped.preview DATASET_ROOT OUT.png [--ids 8]

For eyeballing what the knobs do (do the figures look like pedestrians, how strong are the camera shifts).
"""
from __future__ import annotations

import argparse
import os

import numpy as np


def contact_sheet(root: str, out_png: str, ids: int = 8, per_row: int = 6, split: str = "train") -> str:
    import scipy.io
    import simplejpeg
    from PIL import Image

    folder, names_file, table_file, var = {
        "train": ("bbox_train", "train_name.txt", "tracks_train_info.mat", "track_train_info"),
        "test": ("bbox_test", "test_name.txt", "tracks_test_info.mat", "track_test_info")}[split]
    table = scipy.io.loadmat(os.path.join(root, "info", table_file))[var].astype(np.int64)
    with open(os.path.join(root, "info", names_file)) as fh:
        names = fh.read().split()

    def frame(line: int) -> np.ndarray:
        name = names[line - 1]
        with open(os.path.join(root, folder, name[:4], name), "rb") as fh:
            return simplejpeg.decode_jpeg(fh.read())

    pids = [p for p in np.unique(table[:, 2]) if p > 0][:ids]
    blank = np.zeros_like(frame(int(table[0, 0])))
    rows = []
    for pid in pids:
        tiles = []
        for start, end, _, _ in table[table[:, 2] == pid][:per_row]:
            tiles += [frame(int(start)), frame(int((start + end) // 2))]  # first and middle frame of the tracklet
        tiles += [blank] * (2 * per_row - len(tiles))
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    Image.fromarray(sheet).save(out_png)
    return out_png


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("out")
    ap.add_argument("--ids", type=int, default=8)
    ap.add_argument("--split", default="train", choices=("train", "test"))
    a = ap.parse_args()
    print(contact_sheet(a.root, a.out, a.ids, split=a.split))
