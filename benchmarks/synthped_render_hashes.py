"""SynthPed rendering fingerprint: sha256 of every rendered canvas/frame, to prove a refactor of the renderer is
bit-identical, plus the time of a tiny generation.

    python benchmarks/synthped_render_hashes.py --save before.json     # before the change
    python benchmarks/synthped_render_hashes.py --compare before.json  # after: exits 1 on any differing hash

What it renders (float32 canvases hashed before the camera's rounding, so a 1-ulp change is caught):
- draw_person directly, for every value of every appearance option (top texture x logo shape, sleeves, bottom type x
  bottom texture, backpack, bag on either side, hat, long/short hair) in each view (front, back, side) and both
  walking directions, on a noisy canvas, at two figure sizes;
- render_tracklet for every tracklet of build_plan at several dataset seeds (occluders, bad frames, distractors);
- a tiny SynthPed written to disk (every frame file and .mat/.txt file hashed), timed.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vidreid.data.synthped import generate_synthped, make_config  # noqa: E402
from vidreid.data.synthped.appearance import LOGO_SHAPES, sample_person  # noqa: E402
from vidreid.data.synthped.plan import build_plan  # noqa: E402
from vidreid.data.synthped.figure import draw_person  # noqa: E402
from vidreid.data.synthped.render import VIEWS, make_background, make_cameras, render_tracklet  # noqa: E402

TINY = {"ids": 16, "cams": 3, "height": 32, "width": 16, "max_len": 12, "median_len": 8}


def sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def person_variants(cfg, palette):
    """Persons covering every value of every appearance option (each option varied on a few base persons)."""
    rng = np.random.default_rng(123)
    bases = [sample_person(rng, palette, cfg) for _ in range(3)]
    acc = (0.9, 0.5, 0.12)
    options = {
        "top": [dict(top_texture="solid")] + [dict(top_texture=k) for k in ("hstripes", "vstripes", "checks")]
        + [dict(top_texture="logo", logo_shape=s) for s in LOGO_SHAPES],
        "sleeves": [dict(sleeves="long"), dict(sleeves="short")],
        "bottom": [dict(bottom_type=b, bottom_texture=t) for b in ("trousers", "shorts", "skirt")
                   for t in ("solid", "hstripes", "checks")],
        "backpack": [dict(backpack=None), dict(backpack=acc)],
        "bag": [dict(bag=None), dict(bag=acc, bag_side=1), dict(bag=acc, bag_side=-1)],
        "hat": [dict(hat=None), dict(hat=acc)],
        "hair": [dict(hair_style="short"), dict(hair_style="long")],
    }
    for b, base in enumerate(bases):
        for opt, values in options.items():
            for k, change in enumerate(values):
                yield f"base{b}/{opt}{k}", dataclasses.replace(base, **change)
    # everything at once (accessories drawn over each other)
    yield "all", dataclasses.replace(bases[0], top_texture="logo", backpack=acc, bag=acc, hat=acc,
                                     hair_style="long", bottom_type="skirt", bottom_texture="checks")


def person_hashes() -> dict:
    cfg = make_config(**TINY, seed=0)
    palette = build_plan(cfg).palette
    out = {}
    T, H, W = 6, 64, 32
    for name, person in person_variants(cfg, palette):
        for view, direction, size in itertools.product(VIEWS, (1, -1), (0.9, 0.55)):
            canvas = np.random.default_rng(7).random((3, T, H, W), dtype=np.float32)
            t = np.arange(T, dtype=np.float32)
            box_h = np.float32(H * size) * (1 + 0.02 * t)
            cx = np.float32(W / 2) + 0.7 * t * direction
            top = (np.float32(H) - box_h) / 2 + 0.3 * t
            phase = np.float32(0.4) + np.float32(2 * np.pi / person.gait_period) * t
            draw_person(canvas, person, view, direction, box_h, cx, top, phase, 0.45)
            out[f"person/{name}/{view}/{direction}/{size}"] = sha(canvas)
    return out


def tracklet_hashes(seeds=(0, 1, 2, 3)) -> dict:
    out = {}
    for seed in seeds:
        cfg = make_config(**TINY, seed=seed, occlusion_rate=0.6, bad_detection_rate=0.2)
        plan = build_plan(cfg)
        cams = make_cameras(cfg)
        bgs = {c.index: make_background(cfg, c) for c in cams}
        for t in plan.train + plan.test:
            cam = cams[t.cam - 1]
            out[f"tracklet/{seed}/{t.uid}"] = sha(render_tracklet(t, cfg, cam, bgs[t.cam], plan.palette))
    return out


def dataset_hashes(seed: int = 5) -> tuple[dict, float]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "synthped")
        t0 = time.perf_counter()
        generate_synthped(root, make_config(**TINY, seed=seed), workers=1, progress=False)
        seconds = time.perf_counter() - t0
        for folder, _, files in os.walk(root):
            for f in files:
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, root)
                if f.endswith((".jpg", ".mat", ".txt")):
                    with open(path, "rb") as fh:
                        out[f"file/{rel}"] = hashlib.sha256(fh.read()).hexdigest()
    return out, seconds


def time_generation(repeats: int = 3) -> float:
    """Best of `repeats` wall times of a small full-size SynthPed (40 ids, 128x64), one worker."""
    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate_synthped(os.path.join(tmp, "s"), make_config(ids=40, cams=3, seed=9), workers=1,
                              progress=False)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", help="write the hashes to this JSON file")
    ap.add_argument("--compare", help="compare with the hashes in this JSON file")
    ap.add_argument("--time", action="store_true", help="also time a 40-id 128x64 generation (best of 3)")
    ap.add_argument("--smoke", action="store_true", help="seconds: the tracklets of one dataset seed (not comparable "
                    "with a full --save)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    hashes = person_hashes()
    t_person = time.perf_counter() - t0
    t0 = time.perf_counter()
    hashes.update(tracklet_hashes((0,) if args.smoke else (0, 1, 2, 3)))
    t_track = time.perf_counter() - t0
    files, t_gen = dataset_hashes()
    hashes.update(files)
    print(f"{len(hashes)} hashes; draw_person variants {t_person:.2f} s, tracklets {t_track:.2f} s, "
          f"tiny generation {t_gen:.2f} s")
    if args.time:
        print(f"40-id 128x64 generation, one worker: {time_generation():.2f} s (best of 3)")
    if args.save:
        with open(args.save, "w") as f:
            json.dump(hashes, f, indent=0, sort_keys=True)
    if args.compare:
        with open(args.compare) as f:
            ref = json.load(f)
        diff = sorted(k for k in ref.keys() | hashes.keys() if ref.get(k) != hashes.get(k))
        print(f"{len(diff)} of {len(ref)} differ" + (": " + ", ".join(diff[:10]) if diff else " (bit-identical)"))
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
