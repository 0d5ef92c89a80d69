"""SynthPed scenes: full-frame multi-camera videos of SynthPed pedestrians walking across a background, with ground
truth in MOTChallenge format -- a benchmark for detection + tracking + cross-camera re-ID where every box is known.

Each camera is static and sees its own background (SynthPed's camera backgrounds), light, colour cast, blur and noise.
Identities are SynthPed persons; each walks through several cameras (the same person across cameras, as re-ID
needs), entering and leaving the frame: across the view (side view, left or right) or along the depth axis (towards
the camera: front view, growing; away: back view, shrinking). Box height follows a ground-plane perspective (lower
feet = nearer = taller). People cross and occlude each other; a pole in front of some scenes occludes them too.

Output (`generate_scenes(out, cfg)`), one MOTChallenge sequence per camera:
    OUT/cam1/cam1.avi           the video (MJPG), frames 1..frames
    OUT/cam1/gt/gt.txt          frame, id, x, y, w, h, 1, 1, visibility  (full-body boxes; may extend past the frame
                                edges; id = the global identity, the same in every camera; rows where visibility > 0)
    OUT/cam1/det/det.txt        "oracle" detections: the ground-truth boxes with visibility >= 0.25, score 1
    OUT/cam1/seqinfo.ini        MOTChallenge sequence info
    OUT/scenes.json             the config and every pass (identity, camera, frames, motion)
The ground-truth box of a person is the tight box of the figure's painted pixels (coverage >= 1/2), measured from a
separate render of that person alone; visibility is the share of those pixels inside the frame and not covered by a
nearer person or the pole.

By default each camera plans its passes on its own clock (plan_passes: one person may be in two cameras at once).
`itinerary=True` puts every camera on one clock (plan_itinerary): people walk routes along a line of cameras with
transit times, some through one camera only; OUT/footage.yaml is the footage manifest of that clock. `twin_share`
dresses some people in an earlier person's clothes; `det_*` turn det.txt into a noisy stand-in for a detector.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from ...errors import ConfigError, VidReIDError
from .appearance import sample_palette, sample_person
from .config import S_IDENTITY, S_PALETTE, SynthPedConfig
from .figure import F32, draw_person
from .render import VIEWS, camera_pipeline, make_background, make_cameras

CLOTHES = ("top", "top_texture", "top2", "top_period", "logo_shape", "sleeves", "bottom_type", "bottom",
           "bottom_texture", "bottom2", "bottom_period", "shoes", "backpack", "bag", "bag_side", "hat")   # near-twins
S_SCENE = 40            # seed stream of the scenes (clear of SynthPed's own streams 1..12)
CHUNK = 8               # frames rendered at once (the union of a walker's boxes over a chunk bounds the work)
SENTINEL = -10.0        # mask renders start from this value: painted pixels move towards the colour (>= 0)
GROUND_TOP = 0.55       # the walkable ground starts at this share of the frame height (the far end)


@dataclass
class SceneConfig:
    cams: int = 3                  # cameras (one video each)
    ids: int = 8                   # identities; each walks through 2..cams cameras
    frames: int = 150              # frames per camera
    height: int = 288              # frame height
    width: int = 512               # frame width
    fps: float = 10.0              # frame rate written to the videos
    seed: int = 0                  # everything is derived from it: same seed, same pixels
    passes_per_cam: float = 1.0    # mean passes of an identity through each of its cameras (Poisson, >= 1)
    depth_share: float = 0.3       # share of passes along the depth axis (front / back views) instead of across
    pole_prob: float = 0.5         # probability that a camera has a pole in front of the scene (occlusions)
    speed: float = 0.055           # walking speed in body heights per frame (~1.4 m/s at 10 fps for 1.7 m)
    # itineraries (off by default: the scenes above stay as they were)
    itinerary: bool = False        # one shared clock: each person walks a route through cameras (plan_itinerary)
    transit: float = 6.0           # itinerary: seconds of walking between neighbouring cameras (cameras on a line)
    single_cam_share: float = 0.2  # itinerary: share of persons seen by one camera only
    twin_share: float = 0.0        # share of persons wearing the clothes of an earlier person (a different body)
    det_jitter: float = 0.0        # det.txt noise: box edges moved by this share of the box size (std, Gaussian)
    det_miss: float = 0.0          # det.txt noise: share of boxes missed
    det_false: float = 0.0         # det.txt noise: false boxes per frame (Poisson mean), person-sized, score 1

    def validate(self) -> "SceneConfig":
        checks = [(self.cams >= 1, "cams must be >= 1"), (self.ids >= 1, "ids must be >= 1"),
                  (self.frames >= 2, "frames must be >= 2"), (self.height >= 48 and self.width >= 48,
                                                               "the frame size must be at least 48x48"),
                  (self.fps > 0, "fps must be > 0"), (0 <= self.depth_share <= 1, "depth_share must be in [0, 1]"),
                  (0 <= self.pole_prob <= 1, "pole_prob must be in [0, 1]"),
                  (self.passes_per_cam > 0, "passes_per_cam must be > 0"), (self.speed > 0, "speed must be > 0"),
                  (self.transit >= 0, "transit must be >= 0"),
                  (0 <= self.single_cam_share <= 1, "single_cam_share must be in [0, 1]"),
                  (0 <= self.twin_share <= 1, "twin_share must be in [0, 1]"),
                  (self.det_jitter >= 0 and 0 <= self.det_miss <= 1 and self.det_false >= 0,
                   "det_jitter and det_false must be >= 0, det_miss in [0, 1]")]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"synth --scenes: {msg}")
        return self


@dataclass
class Pass:
    pid: int                 # identity (1-based; the MOT id in every camera)
    cam: int                 # 1-based camera
    view: str                # side | front | back
    direction: int           # +1 right / -1 left (side views)
    start: int               # first frame (1-based) it is computed from
    x0: float                # axis x at `start`
    feet0: float             # feet y at `start`
    vx: float                # pixels per frame, axis
    vfeet: float             # pixels per frame, feet
    phase0: float            # gait phase at `start`


def person_height(feet: np.ndarray, H: int) -> np.ndarray:
    """Ground-plane perspective: figure height in pixels for feet at y = feet (nearer = lower = taller)."""
    return (np.asarray(feet, F32) / F32(H) - F32(0.35)) * F32(1.1 * H)


def plan_passes(cfg: SceneConfig) -> list[Pass]:
    """Independent clocks: each camera's passes are planned on its own (a person may be in two cameras at once)."""
    if cfg.itinerary:
        return plan_itinerary(cfg)
    rng = np.random.default_rng([cfg.seed, S_SCENE, 0])
    passes = []
    for pid in range(1, cfg.ids + 1):                                   # loop over identities
        k = int(rng.integers(min(2, cfg.cams), cfg.cams + 1))
        for cam in sorted(rng.choice(cfg.cams, k, replace=False).tolist()):
            earliest = 1                                                # passes of one person never overlap
            for _ in range(max(1, int(rng.poisson(cfg.passes_per_cam)))):
                if earliest >= cfg.frames - 15:
                    break
                start = int(rng.integers(earliest, max(earliest + 1, cfg.frames - 15)))
                passes.append(_new_pass(rng, cfg, pid, cam + 1, start))
                frames = pass_track(passes[-1], cfg, 1.0)["frames"]
                earliest = int(frames[-1]) + 5 if len(frames) else start + 1
    return passes


def transit_seconds(cfg: SceneConfig) -> np.ndarray:
    """(cams, cams) least walking seconds between camera views: cameras on a line, `transit` between neighbours."""
    i = np.arange(cfg.cams)
    return cfg.transit * np.abs(i[:, None] - i[None]).astype(np.float64)


def plan_itinerary(cfg: SceneConfig) -> list[Pass]:
    """One shared clock (frame n is the same instant in every camera). Each person enters the first camera of a
    route at a random time and walks along the line of cameras (up or down) through 1 (`single_cam_share`) or 2..cams
    of them, one pass each; the next pass starts only after the previous one left the view plus the walking time
    between the two cameras (transit_seconds * fps frames). So no one is in two cameras at once and no one walks
    faster than the transit times. A route ends at the end of the footage."""
    rng = np.random.default_rng([cfg.seed, S_SCENE, 3])
    walk = np.ceil(transit_seconds(cfg) * cfg.fps).astype(int)
    passes = []
    for pid in range(1, cfg.ids + 1):                                   # loop over identities
        k = 1 if cfg.cams == 1 or rng.random() < cfg.single_cam_share else int(rng.integers(2, cfg.cams + 1))
        first = int(rng.integers(0, cfg.cams - k + 1))
        route = list(range(first, first + k))[::1 if rng.random() < 0.5 else -1]
        start = int(rng.integers(1, max(2, int(0.6 * cfg.frames))))
        for a, b in zip(route, route[1:] + [None]):                     # loop over the route's cameras
            if start >= cfg.frames - 15:
                break
            passes.append(_new_pass(rng, cfg, pid, a + 1, start))
            frames = pass_track(passes[-1], cfg, 1.0)["frames"]
            if b is None or not len(frames):
                break
            start = int(frames[-1]) + 1 + int(walk[a, b])
    return passes


def _new_pass(rng: np.random.Generator, cfg: SceneConfig, pid: int, cam: int, start: int) -> Pass:
    """One pass of `pid` through camera `cam` (1-based) entering at frame `start`: across the view or along depth."""
    H, W = cfg.height, cfg.width
    phase0 = float(rng.uniform(0, 2 * np.pi))
    if rng.random() < cfg.depth_share:
        view = "front" if rng.random() < 0.5 else "back"
        x0 = float(rng.uniform(0.15, 0.85) * W)
        vfeet = float(rng.uniform(0.6, 1.2) * cfg.speed * 0.35 * H)   # slower on screen along depth
        feet0 = GROUND_TOP * H + 2 if view == "front" else 1.2 * H
        return Pass(pid, cam, view, 1, start, x0, feet0, float(rng.uniform(-0.3, 0.3)),
                    vfeet if view == "front" else -vfeet, phase0)
    d = 1 if rng.random() < 0.5 else -1
    feet0 = float(rng.uniform(GROUND_TOP + 0.12, 0.98) * H)
    h = float(person_height(feet0, H))
    x0 = -0.3 * h if d > 0 else W + 0.3 * h
    vx = d * float(rng.uniform(0.7, 1.3) * cfg.speed * h)
    return Pass(pid, cam, "side", d, start, x0, feet0, vx, float(rng.uniform(-0.05, 0.05) * cfg.speed * h), phase0)


def pass_track(p: Pass, cfg: SceneConfig, gait_period: float) -> dict:
    """Per-frame geometry of a pass over the frames it is on screen: frame numbers, cx, top, height, phase."""
    H, W = cfg.height, cfg.width
    f = np.arange(p.start, cfg.frames + 1)
    t = (f - p.start).astype(F32)
    feet = F32(p.feet0) + F32(p.vfeet) * t
    h = person_height(feet, H)
    cx = F32(p.x0) + F32(p.vx) * t
    on = (h > 8) & (cx + 0.4 * h > 0) & (cx - 0.4 * h < W) & (feet - h < H)
    if p.view == "back":
        on &= feet >= GROUND_TOP * H                                     # walked off at the far end of the ground
    if p.view == "front":
        on &= feet <= 1.25 * H
    # one contiguous stay: from the first frame on screen to the first frame off screen after it
    idx = np.flatnonzero(on)
    if not len(idx):
        return {"frames": np.zeros(0, np.int64)}
    a = idx[0]
    off = np.flatnonzero(~on[a:])
    b = a + off[0] if len(off) else len(f)
    sl = slice(a, b)
    phase = F32(p.phase0) + F32(2 * np.pi) * t[sl] / F32(gait_period)
    return {"frames": f[sl], "cx": cx[sl], "top": feet[sl] - h[sl], "h": h[sl], "feet": feet[sl], "phase": phase}


def _mask_render(person, view, direction, h, cx, top, phase, gait) -> tuple[np.ndarray, int, int]:
    """The figure alone on a sentinel canvas around it -> (coverage >= 1/2 mask (n, wh, ww), x0, y0 of the window)."""
    x0 = int(np.floor(np.min(cx - 0.7 * h))) - 2
    x1 = int(np.ceil(np.max(cx + 0.7 * h))) + 2
    y0 = int(np.floor(np.min(top))) - 2
    y1 = int(np.ceil(np.max(top + 1.05 * h))) + 2
    canvas = np.full((3, len(h), y1 - y0, x1 - x0), SENTINEL, F32)
    draw_person(canvas, person, view, direction, h, cx - x0, top - y0, phase, gait)
    return canvas[0] > SENTINEL / 2 + 0.5, x0, y0                       # alpha >= ~1/2 whatever the colour


def _place(mask: np.ndarray, x0: int, y0: int, H: int, W: int) -> np.ndarray:
    """A window mask (n, wh, ww) at (x0, y0) -> the full-frame mask (n, H, W) (parts outside the frame dropped)."""
    out = np.zeros((mask.shape[0], H, W), bool)
    ya, xa = max(0, y0), max(0, x0)
    yb, xb = min(H, y0 + mask.shape[1]), min(W, x0 + mask.shape[2])
    if ya < yb and xa < xb:
        out[:, ya:yb, xa:xb] = mask[:, ya - y0:yb - y0, xa - x0:xb - x0]
    return out


def _tight_boxes(mask: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, wh, ww) masks -> (boxes (n, 4) [x, y, w, h] in frame pixels, non-empty (n,))."""
    rows, cols = mask.any(2), mask.any(1)                                # (n, wh), (n, ww)
    ok = rows.any(1)
    top = rows.argmax(1)
    bottom = rows.shape[1] - rows[:, ::-1].argmax(1)
    left = cols.argmax(1)
    right = cols.shape[1] - cols[:, ::-1].argmax(1)
    boxes = np.stack([left + x0, top + y0, right - left, bottom - top], 1).astype(np.float64)
    return boxes, ok


def render_camera(cfg: SceneConfig, scfg: SynthPedConfig, cam, persons: dict, passes: list[Pass], writer,
                  progress=None) -> np.ndarray:
    """Render one camera's video into `writer` (frame by frame, BGR) -> ground truth rows (K, 9)."""
    H, W, T = cfg.height, cfg.width, cfg.frames
    rng = np.random.default_rng([cfg.seed, S_SCENE, cam.index, 1])
    noise_rng = np.random.default_rng([cfg.seed, S_SCENE, cam.index, 2])
    bg_strip = make_background(scfg, cam)                                # (3, H, 4W)
    off = int(rng.integers(0, bg_strip.shape[2] - W + 1))
    background = np.ascontiguousarray(bg_strip[:, :, off:off + W])       # (3, H, W): a static camera
    pole = None
    if rng.random() < cfg.pole_prob:
        pw = max(3, int(W * rng.uniform(0.012, 0.025)))
        px = int(rng.uniform(0.15, 0.85) * W)
        pole = (px, pw, np.clip(rng.uniform(0.2, 0.5, 3), 0, 1).astype(F32))
    tracks = [(p, pass_track(p, cfg, persons[p.pid].gait_period)) for p in passes]
    tracks = [(p, tr) for p, tr in tracks if len(tr["frames"])]
    gt = []
    for c0 in range(1, T + 1, CHUNK):                                    # loop over chunks of frames
        c1 = min(T + 1, c0 + CHUNK)
        n = c1 - c0
        canvas = np.repeat(background[:, None], n, axis=1)               # (3, n, H, W)
        present = []
        for p, tr in tracks:                                             # the passes on screen in this chunk
            sel = (tr["frames"] >= c0) & (tr["frames"] < c1)
            if sel.any():
                i = np.flatnonzero(sel)
                present.append((p, tr, slice(i[0], i[-1] + 1), int(tr["frames"][i[0]] - c0)))
        # far to near: the nearer walker (larger feet y) is painted last and occludes
        present.sort(key=lambda e: float(e[1]["feet"][e[2]].mean()))
        masks = []
        for p, tr, sl, a in present:
            args = (persons[p.pid], p.view, p.direction, tr["h"][sl], tr["cx"][sl], tr["top"][sl], tr["phase"][sl],
                    scfg.gait_amplitude)
            b = a + (sl.stop - sl.start)
            draw_person(canvas[:, a:b], *args)
            m, mx, my = _mask_render(*args)
            boxes, ok = _tight_boxes(m, mx, my)
            full = np.zeros((n, H, W), bool)
            full[a:b] = _place(m, mx, my, H, W)
            masks.append((p, a, b, boxes, ok, m.sum((1, 2)), full))
        occupied = np.zeros((n, H, W), bool)
        if pole is not None:
            px, pw, colour = pole
            canvas[:, :, :, px:px + pw] = colour[:, None, None, None]
            occupied[:, :, px:px + pw] = True
        for p, a, b, boxes, ok, total, full in reversed(masks):          # near to far: what is still visible
            visible = (full & ~occupied)[a:b].sum((1, 2))
            occupied |= full
            vis = np.where(total > 0, visible / np.maximum(total, 1), 0.0)
            keep = ok & (vis > 0)
            frames = np.arange(c0 + a, c0 + b)[keep]
            rows = np.column_stack([frames, np.full(len(frames), p.pid), boxes[keep], np.ones(len(frames)),
                                    np.ones(len(frames)), vis[keep]])
            gt.append(rows)
        np.clip(canvas, 0.0, 1.0, out=canvas)
        out = camera_pipeline(canvas, cam, scfg, np.full(n, cam.gain, F32), noise_rng)   # (n, H, W, 3) RGB
        for img in out:                                                  # the encoder takes one frame a call
            writer.write(np.ascontiguousarray(img[..., ::-1]))
        if progress is not None:
            progress.update(n)
    gt = np.concatenate(gt) if gt else np.zeros((0, 9))
    return gt[np.lexsort((gt[:, 1], gt[:, 0]))]


def dress_twins(cfg: SceneConfig, persons: dict) -> dict:
    """Near-twins: a `twin_share` of persons (from the 2nd on) take every garment of an earlier person but keep
    their own body, skin, hair and gait -> {twin pid: pid whose clothes it wears}. Changes `persons` in place."""
    if cfg.twin_share <= 0 or cfg.ids < 2:
        return {}
    rng = np.random.default_rng([cfg.seed, S_SCENE, 4])
    twins = {}
    for pid in range(2, cfg.ids + 1):                                   # loop over identities
        if rng.random() < cfg.twin_share:
            src = int(rng.integers(1, pid))
            while src in twins:                                          # dress like an original, not a twin
                src = twins[src]
            persons[pid] = dataclasses.replace(persons[pid], **{k: getattr(persons[src], k) for k in CLOTHES})
            twins[pid] = src
    return twins


def detector_noise(det: np.ndarray, cfg: SceneConfig, cam: int) -> np.ndarray:
    """Oracle boxes (K, 9) standing for a detector: `det_miss` of them dropped, edges jittered by `det_jitter` of
    the box size, Poisson(`det_false`) person-sized false boxes per frame -> rows (K', 9), id -1."""
    det = det.copy()
    det[:, 1], det[:, 7], det[:, 8] = -1, -1, -1
    if not (cfg.det_jitter or cfg.det_miss or cfg.det_false):
        return det
    rng = np.random.default_rng([cfg.seed, S_SCENE, cam, 5])
    det = det[rng.random(len(det)) >= cfg.det_miss]
    wh = np.repeat(det[:, 4:6], 2, axis=1)                               # (K, 4) w, w, h, h
    x0, x1 = det[:, 2], det[:, 2] + det[:, 4]
    y0, y1 = det[:, 3], det[:, 3] + det[:, 5]
    e = rng.normal(0, cfg.det_jitter, (len(det), 4)) * wh                # (K, 4) moves of left, right, top, bottom
    x0, x1, y0, y1 = x0 + e[:, 0], np.maximum(x1 + e[:, 1], x0 + e[:, 0] + 2), y0 + e[:, 2], \
        np.maximum(y1 + e[:, 3], y0 + e[:, 2] + 4)
    det[:, 2:6] = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    n = rng.poisson(cfg.det_false, cfg.frames)                           # false boxes per frame
    frames = np.repeat(np.arange(1, cfg.frames + 1), n)
    feet = rng.uniform(GROUND_TOP + 0.1, 1.0, len(frames)) * cfg.height
    h = person_height(feet, cfg.height).astype(np.float64)
    false = np.column_stack([frames, -np.ones(len(frames)), rng.uniform(0, cfg.width, len(frames)) - 0.2 * h,
                             feet - h, 0.4 * h, h, -np.ones((len(frames), 3))])
    rows = np.concatenate([det, false])
    return rows[np.argsort(rows[:, 0], kind="stable")]


def footage_yaml(cfg: SceneConfig) -> str:
    """The footage manifest of an itinerary scene: every camera starts at 0 s on the shared clock; transit times."""
    t = transit_seconds(cfg)
    videos = "".join(f"  - {{video: cam{c}/cam{c}.avi, camera: cam{c}, start: 0, fps: {cfg.fps:g}}}\n"
                     for c in range(1, cfg.cams + 1))
    transit = "".join(f"  - {{from: cam{a + 1}, to: cam{b + 1}, seconds: {t[a, b]:g}}}\n"
                      for a in range(cfg.cams) for b in range(a + 1, cfg.cams))
    return f"# SynthPed itinerary scene (seed {cfg.seed}): one clock\nvideos:\n{videos}" + \
        (f"transit:\n{transit}" if transit else "")


def _mot_text(rows: np.ndarray) -> str:
    return "".join(f"{int(f)},{int(i)},{x:.0f},{y:.0f},{w:.0f},{h:.0f},{int(c)},{int(k)},{v:.3f}\n"
                   for f, i, x, y, w, h, c, k, v in rows.tolist())


def generate_scenes(out: str, cfg: SceneConfig | None = None, progress: bool = True, force: bool = False) -> dict:
    """Render the scenes into `out` (see the module docstring); refuses an existing `out` unless force (and then
    only an earlier scenes output). Returns the scenes.json document."""
    import cv2
    from ...progress import progress_bar
    from ...utils.io import atomic_folder
    cfg = (cfg or SceneConfig()).validate()
    # SynthPed's persons and cameras at this frame size (its identity / camera seed streams)
    scfg = SynthPedConfig(ids=max(2, cfg.ids), cams=max(2, cfg.cams), height=cfg.height, width=cfg.width,
                          seed=cfg.seed)
    palette = sample_palette(np.random.default_rng([cfg.seed, S_PALETTE]), scfg.palette_size)
    persons = {pid: sample_person(np.random.default_rng([cfg.seed, S_IDENTITY, pid]), palette, scfg)
               for pid in range(1, cfg.ids + 1)}
    twins = dress_twins(cfg, persons)
    cameras = make_cameras(scfg)[:cfg.cams]
    passes = plan_passes(cfg)
    summary = []
    with atomic_folder(out, force, "scenes.json", "scenes") as tmp:
        bar = progress_bar(total=cfg.frames * cfg.cams, desc="render scenes", unit="frame", enabled=progress)
        for cam in cameras:                                              # loop over cameras
            name = f"cam{cam.index}"
            seq = os.path.join(tmp, name)
            os.makedirs(os.path.join(seq, "gt"))
            os.makedirs(os.path.join(seq, "det"))
            video = os.path.join(seq, f"{name}.avi")
            writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), cfg.fps, (cfg.width, cfg.height))
            if not writer.isOpened():
                raise VidReIDError(f"{video}: OpenCV cannot write an MJPG video here")
            try:
                gt = render_camera(cfg, scfg, cam, persons, [p for p in passes if p.cam == cam.index], writer, bar)
            finally:
                writer.release()
            with open(os.path.join(seq, "gt", "gt.txt"), "w") as f:
                f.write(_mot_text(gt))
            det = detector_noise(gt[gt[:, 8] >= 0.25], cfg, cam.index)
            with open(os.path.join(seq, "det", "det.txt"), "w") as f:
                f.write("".join(f"{int(r[0])},-1,{r[2]:.0f},{r[3]:.0f},{r[4]:.0f},{r[5]:.0f},1,-1,-1,-1\n"
                                for r in det.tolist()))
            with open(os.path.join(seq, "seqinfo.ini"), "w") as f:
                f.write(f"[Sequence]\nname={name}\nimDir=img1\nframeRate={cfg.fps:g}\nseqLength={cfg.frames}\n"
                        f"imWidth={cfg.width}\nimHeight={cfg.height}\nimExt=.jpg\n")
            summary.append({"camera": name, "video": f"{name}/{name}.avi", "gt_rows": len(gt),
                            "identities": sorted({int(i) for i in gt[:, 1]})})
        bar.close()
        doc = {"format": "synthped-scenes/1", "config": asdict(cfg), "cameras": summary,
               "passes": [asdict(p) for p in passes], "twins": twins}
        if cfg.itinerary:                                                # one clock: a footage manifest for it
            doc["transit_seconds"] = transit_seconds(cfg).tolist()
            with open(os.path.join(tmp, "footage.yaml"), "w") as f:
                f.write(footage_yaml(cfg))
        with open(os.path.join(tmp, "scenes.json"), "w") as f:
            json.dump(doc, f, indent=1)
    return doc


__all__ = ["SceneConfig", "generate_scenes", "plan_passes", "plan_itinerary", "transit_seconds", "VIEWS"]
