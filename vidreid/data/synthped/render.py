"""Rendering of SynthPed: cameras, backgrounds, occluders and the camera pipeline, one tracklet at a time.

Everything is vectorised over the frames of a tracklet: the canvas is a float32 array (3, T, H, W) (channel-first so
each channel is contiguous). The walking figure is painted by `figure.draw_person`.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .appearance import Person, sample_person
from .config import S_CAMERA, S_NOISE, S_OCCLUDER, S_RENDER
from .figure import F32, TWO_PI, draw_person

VIEWS = ("front", "back", "side")
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


# ----------------------------------------------------------------------------------------------------------------------
# cameras and backgrounds
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Camera:
    index: int                # 1-based camera number
    dominant_view: str        # the viewpoint most tracklets of this camera show (front | back | side)
    gain: float               # illumination gain
    cast: tuple               # per-channel colour cast (multipliers)
    light_slope: float        # vertical illumination gradient: top of the frame brighter by this share than bottom
    blur: float               # Gaussian blur sigma in pixels (at this dataset's height)
    noise: float              # sensor noise std, grey levels of 255
    quality: int              # JPEG quality
    fill: float               # typical share of the box height the figure fills (detector looseness)
    jitter: float             # multiplier of the dataset's box jitter for this camera's detector
    scroll: float             # background motion in pixels/frame for side views (camera follows the walker)
    gamma: float = 1.0        # tone curve exponent (camera_gamma; 1 = linear)
    resolution: float = 1.0   # sensor pixels per side as a share of the frame's (camera_lowres; 1 = full)
    photo: int = -1           # index of the real photo its scene is cut from (photo_backgrounds), -1 = drawn


def make_cameras(cfg) -> list[Camera]:
    rng = np.random.default_rng([cfg.seed, S_CAMERA])
    # Every viewpoint is dominant in some camera when there are >= 3 cameras.
    views = [VIEWS[i % 3] for i in range(cfg.cams)]
    views = [views[i] for i in rng.permutation(cfg.cams)]
    scale = cfg.height / 128.0
    cams = []
    for c in range(cfg.cams):
        r = np.random.default_rng([cfg.seed, S_CAMERA, c + 1])
        cast = 1.0 + r.uniform(-cfg.colour_cast, cfg.colour_cast, 3)
        cast = cast / cast.mean()  # a cast changes hue, the gain changes brightness
        cams.append(Camera(
            index=c + 1, dominant_view=views[c],
            gain=float(1.0 + r.uniform(-cfg.gain_range, cfg.gain_range)),
            cast=tuple(float(x) for x in cast),
            light_slope=float(r.uniform(-0.25, 0.25)),
            blur=float(r.uniform(0.0, cfg.blur_max) * scale),
            noise=float(r.uniform(0.3, 1.0) * cfg.noise_max),
            quality=int(r.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1)),
            fill=float(r.uniform(0.80, 0.94)),
            jitter=float(r.uniform(0.5, 1.5)),
            scroll=float(r.uniform(0.3, 1.0) * scale),
            # opt-in styles draw after everything else, and only when on: the cameras above stay what they were
            gamma=float(np.exp(np.log1p(cfg.camera_gamma) * r.uniform(-1, 1))) if cfg.camera_gamma else 1.0,
            resolution=float(r.uniform(1.0 - cfg.camera_lowres, 1.0)) if cfg.camera_lowres else 1.0,
            photo=int(r.integers(len(background_photos()))) if r.random() < cfg.photo_backgrounds else -1,
        ))
    return cams


def _muted(rng, lo=0.2, hi=0.8, sat=0.45):
    c = rng.uniform(lo, hi, 3)
    return c * sat + c.mean() * (1.0 - sat)


@functools.lru_cache(maxsize=1)
def background_photos() -> tuple[str, ...]:
    """The real photos shipped for `photo_backgrounds` (assets/README.md: provenance), sorted by name."""
    return tuple(sorted(os.path.join(ASSETS, f) for f in os.listdir(ASSETS) if f.endswith(".jpg")))


def photo_background(cfg, cam: Camera) -> np.ndarray:
    """The camera's scene cut from real photo `cam.photo`: a random crop of the strip's aspect (H : 4W), covering
    60-100% of the photo's height, resized to (3, H, 4W) in [0, 1]."""
    from PIL import Image
    rng = np.random.default_rng([cfg.seed, S_CAMERA, cam.index, 2])
    H, Wb = cfg.height, 4 * cfg.width
    with Image.open(background_photos()[cam.photo]) as im:
        img = im.convert("RGB")
    pw, ph = img.size
    ch = ph * rng.uniform(0.6, 1.0)
    cw = min(pw, ch * Wb / H)
    ch = cw * H / Wb                                   # wide strips: the photo's width limits the crop
    x0, y0 = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
    crop = img.resize((Wb, H), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    return np.ascontiguousarray(np.asarray(crop, F32).transpose(2, 0, 1) / F32(255.0))


def make_background(cfg, cam: Camera) -> np.ndarray:
    """The camera's scene as a wide strip (3, H, 4W); each tracklet crops (and scrolls through) a W-wide window."""
    if cam.photo >= 0:
        return photo_background(cfg, cam)
    rng = np.random.default_rng([cfg.seed, S_CAMERA, cam.index, 1])
    H, W = cfg.height, cfg.width
    Wb = 4 * W
    ys = np.arange(H, dtype=F32)[:, None]
    xs = np.arange(Wb, dtype=F32)[None, :]
    horizon = int(H * rng.uniform(0.35, 0.7))
    wall, floor = _muted(rng), _muted(rng, 0.15, 0.6)
    bg = np.empty((3, H, Wb), F32)
    bg[:, :horizon] = wall[:, None, None]
    bg[:, horizon:] = floor[:, None, None]
    shade = np.ones((H, Wb), F32)
    unit = max(3.0, H / 16.0)
    style = int(rng.integers(4))
    wall_rows = ys < horizon
    if style == 0:    # bricks: mortar lines, staggered joints
        b = unit * rng.uniform(0.5, 0.9)
        row = np.floor(ys / b)
        joint = ((xs + (row % 2) * b) % (2 * b)) < 1.0
        shade = np.where(wall_rows & (((ys % b) < 1.0) | joint), 0.72, 1.0).astype(F32)
    elif style == 1:  # vertical panels
        p = unit * rng.uniform(1.5, 3.0)
        shade = np.where(wall_rows & ((xs // p) % 2 == 1), 0.88, 1.06).astype(F32) * np.ones_like(ys)
    elif style == 2:  # shop windows
        px, py = unit * rng.uniform(3, 5), unit * rng.uniform(3, 5)
        win = wall_rows & ((xs % px) < 0.65 * px) & ((ys % py) < 0.55 * py) & (ys > 2)
        glass = _muted(rng, 0.1, 0.45, 0.3)
        bg = np.where(win[None], glass[:, None, None].astype(F32), bg)
    floor_rows = ys >= horizon
    if rng.random() < 0.5:  # floor tiles
        t = unit * rng.uniform(1.5, 3.0)
        lines = floor_rows & ((((ys - horizon) % t) < 1.0) | ((xs % (1.6 * t)) < 1.0))
        shade = shade * np.where(lines, 0.8, 1.0).astype(F32)
    # low-frequency stains and fine grain, so backgrounds are textured rather than flat
    low = rng.normal(0.0, 1.0, (H // 8 + 2, Wb // 8 + 2)).astype(F32)
    low = ndimage.zoom(low, 8, order=1)[:H, :Wb]
    shade = shade * (1.0 + 0.07 * low) * (1.0 + 0.03 * rng.normal(0.0, 1.0, (H, Wb)).astype(F32))
    bg *= shade[None]
    # clutter: bins, signs, doors, bushes, far poles, parked bikes ... as boxes, ellipses and bars
    for _ in range(cfg.clutter):
        col = _muted(rng, 0.05, 0.95, rng.uniform(0.3, 1.0)).astype(F32)
        kind = int(rng.integers(3))
        w = int(W * rng.uniform(0.1, 0.5)) if kind != 2 else max(2, int(W * rng.uniform(0.03, 0.08)))
        h = int(H * rng.uniform(0.1, 0.45)) if kind != 2 else int(H * rng.uniform(0.5, 1.0))
        x0 = int(rng.integers(0, Wb - w))
        y1 = int(np.clip(horizon + H * rng.uniform(-0.05, 0.25), h, H))
        y0 = y1 - h
        if kind == 1:  # ellipse
            yy = (np.arange(y0, y1, dtype=F32)[:, None] - (y0 + y1) / 2) / (h / 2)
            xx = (np.arange(x0, x0 + w, dtype=F32)[None, :] - (x0 + x0 + w) / 2) / (w / 2)
            m = (xx * xx + yy * yy) <= 1.0
            patch = bg[:, y0:y1, x0:x0 + w]
            bg[:, y0:y1, x0:x0 + w] = np.where(m[None], col[:, None, None] * (0.9 - 0.2 * yy)[None], patch)
        else:
            grad = np.linspace(1.1, 0.85, h, dtype=F32)[:, None]
            bg[:, y0:y1, x0:x0 + w] = col[:, None, None] * grad[None]
    return np.clip(bg, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------------
# occluders
# ----------------------------------------------------------------------------------------------------------------------
def draw_occluder(canvas, occ: dict, person_box, cfg, palette, occ_seed, coverage=None) -> None:
    """Paint the occluder of event `occ` into the frames [start, end) of canvas (3, T, H, W). `coverage` (T, H, W),
    the figure's share of each pixel (foreground masks), loses what a pole or a car hides and gains a passing
    person: what a background model of a fixed camera calls foreground (people, not street furniture)."""
    a, b = occ["start"], occ["end"]
    sub = canvas[:, a:b]
    cov = coverage[a:b] if coverage is not None else None
    n = b - a
    _, _, H, W = canvas.shape
    t = np.linspace(0.0, 1.0, n, dtype=F32) if n > 1 else np.zeros(1, F32)
    kind = occ["kind"]
    rng = np.random.default_rng(occ_seed)
    if kind == "pole":
        centre = (F32(occ["x0"]) + F32(occ["x1"] - occ["x0"]) * t) * W          # (n,)
        half = F32(occ["width"] * W / 2)
        x = np.arange(W, dtype=F32)[None, None, :] + 0.5
        dx = x - centre[:, None, None]                                          # (n, 1, W)
        alpha = np.clip(F32(0.5) + half - np.abs(dx), 0.0, 1.0)
        col = np.asarray(occ["colour"], F32)
        shade = F32(1.05) - F32(0.45) * np.clip(dx / half, -1, 1) ** 2
        for c in range(3):
            reg = sub[c]
            reg += alpha * (col[c] * shade - reg)
        if cov is not None:
            cov *= F32(1.0) - alpha
    elif kind == "car":
        y0 = F32(occ["y0"] * H)
        y = np.arange(H, dtype=F32)[None, :, None] + 0.5
        alpha = np.clip(F32(0.5) + (y - y0), 0.0, 1.0)                           # (1, H, 1)
        x = np.arange(W, dtype=F32)[None, None, :]
        rel = (y - y0) / max(F32(1.0), F32(H) - y0)
        # body colour with a moving reflection, a chrome line and dark wheels/shadow at the bottom
        refl = F32(0.12) * np.sin((x + F32(occ["speed"] * W) * t[:, None, None] * n) * F32(TWO_PI / W))
        shade = (F32(0.95) + refl) * np.where(np.abs(rel - 0.3) < 0.04, F32(1.35), F32(1.0)) \
            * np.where(rel > 0.8, F32(0.35), F32(1.0))
        col = np.asarray(occ["colour"], F32)
        for c in range(3):
            reg = sub[c]
            reg += alpha * (col[c] * shade - reg)
        if cov is not None:
            cov *= F32(1.0) - alpha
    elif kind == "person":
        other = sample_person(rng, palette, cfg)
        bh, cx, top = (np.asarray(x, F32)[a:b] for x in person_box)
        scale = F32(occ["scale"])
        bh2 = bh * scale
        cx2 = (F32(occ["x0"]) + F32(occ["x1"] - occ["x0"]) * t) * W
        top2 = top + (bh - bh2) + F32(0.03) * bh    # nearer to the camera: feet lower in the frame
        phase = F32(rng.uniform(0, TWO_PI)) + F32(TWO_PI) * np.arange(n, dtype=F32) / F32(other.gait_period)
        view = VIEWS[int(rng.integers(3))]
        draw_person(sub, other, view, int(rng.choice([-1, 1])), bh2, cx2, top2, phase, cfg.gait_amplitude, cov)
    else:  # pragma: no cover - validated in the config
        raise ValueError(kind)


# ----------------------------------------------------------------------------------------------------------------------
# one tracklet
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class TrackletPlan:
    uid: int                      # global tracklet number: the key of its render seed
    split: str                    # train | test
    kind: str                     # id (a labelled identity) | distractor (pid 0) | junk (pid -1)
    pid: int                      # pid as written (MARS: -1, 0 or identity; DukeV: identity or distractor id)
    cam: int                      # 1-based camera
    number: int                   # tracklet number within (pid, cam) (MARS `T` field); 1-based
    n_frames: int
    person: Person | None         # None: no one (a pure background detection)
    view: str                     # front | back | side
    direction: int                # +1 walks to the image right, -1 to the left (side views)
    scale: float = 1.0            # extra zoom of the box (distractor/junk fragments)
    offset: tuple = (0.0, 0.0)    # extra box offset (fraction of width, of height)
    occlusion: dict | None = None # occlusion event: kind, start, end ([start, end) frames), band, geometry
    bad_frames: tuple = ()        # ((frame, "shift"|"empty", dx, dy, dscale), ...)
    files: tuple = field(default_factory=tuple)  # relative paths of the frame files (set by the layout)


def render_tracklet(plan: TrackletPlan, cfg, cam: Camera, background: np.ndarray, palette,
                    occlusion: bool = True) -> np.ndarray:
    """Render all frames of a tracklet: uint8 (T, H, W, 3). `occlusion=False` leaves the occluder out (tests)."""
    return _render(plan, cfg, cam, background, palette, occlusion, None)


def render_tracklet_and_masks(plan: TrackletPlan, cfg, cam: Camera, background: np.ndarray, palette,
                              occlusion: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The frames of `render_tracklet` (the same pixels) and their true foreground masks, bool (T, H, W): True where
    a person (the tracklet's figure, or a passing person occluder) covers at least half of the pixel in the scene,
    before the camera's blur and noise. A frame with no one in it (a junk background detection, an empty bad
    detection) is all False."""
    coverage = np.zeros((plan.n_frames, cfg.height, cfg.width), F32)                   # (T, H, W)
    frames = _render(plan, cfg, cam, background, palette, occlusion, coverage)
    return frames, coverage >= F32(0.5)


def _render(plan: TrackletPlan, cfg, cam: Camera, background: np.ndarray, palette, occlusion: bool,
            coverage: np.ndarray | None) -> np.ndarray:
    """render_tracklet; with `coverage` (T, H, W) zeros, also fills it with the people's share of each pixel."""
    T, H, W = plan.n_frames, cfg.height, cfg.width
    rng = np.random.default_rng([cfg.seed, S_RENDER, plan.uid])       # box jitter, gait start, background window
    noise_rng = np.random.default_rng([cfg.seed, S_NOISE, plan.uid])  # sensor noise: independent of everything else
    lin = np.linspace(-0.5, 0.5, T, dtype=F32) if T > 1 else np.zeros(1, F32)

    # background window, scrolling against the walking direction when the camera follows a side-walker
    Wb = background.shape[2]
    speed = cam.scroll * (1.0 if plan.view == "side" else 0.15) * rng.uniform(0.6, 1.4)
    speed = min(speed, (Wb - W - 1) / max(T, 1))
    travel = -plan.direction * speed * np.arange(T)
    lo = -min(0.0, travel.min())
    hi = Wb - W - 1 - max(0.0, travel.max())
    x0 = lo + rng.random() * max(0.0, hi - lo)
    starts = np.clip(np.round(x0 + travel).astype(np.int64), 0, Wb - W)                               # (T,)
    windows = np.lib.stride_tricks.sliding_window_view(background, W, axis=2).transpose(0, 2, 1, 3)  # (3, Wb-W+1, H, W)
    canvas = np.ascontiguousarray(windows[:, starts])                                 # (3, T, H, W)
    empty = [f for f, mode, *_ in plan.bad_frames if mode == "empty"]
    bg_empty = canvas[:, empty].copy() if empty else None

    # detection box per frame: camera looseness x tracklet scale, slow drift, per-frame detector jitter
    jit = cfg.bbox_scale_jitter * cam.jitter
    ojit = cfg.bbox_offset_jitter * cam.jitter
    n = np.clip(rng.normal(0.0, 1.0, (3, T)), -2.5, 2.5).astype(F32)
    drift = rng.uniform(-cfg.drift, cfg.drift, 3).astype(F32)
    base = cam.fill * rng.uniform(0.95, 1.04) * plan.scale
    box_h = F32(H * base) * (1 + drift[0] * lin) * (1 + F32(jit) * n[0])
    cx = F32(W) * (F32(0.5 + plan.offset[0]) + drift[1] * lin + F32(ojit) * n[1])
    phase = F32(rng.uniform(0, TWO_PI))
    if plan.person is not None:
        phase = phase + F32(TWO_PI) * np.arange(T, dtype=F32) / F32(plan.person.gait_period)
    bob = F32(0.012) * np.abs(np.sin(phase)) * box_h if np.ndim(phase) else 0.0
    top = (F32(H) - box_h) / 2 + F32(H) * (F32(plan.offset[1]) + drift[2] * lin + F32(ojit) * n[2]) - bob
    for f, mode, dx, dy, ds in plan.bad_frames:  # misaligned detections
        if mode == "shift":
            box_h[f] *= F32(ds)
            cx[f] += F32(dx * W)
            top[f] += F32(dy * H)

    if plan.person is not None:
        draw_person(canvas, plan.person, plan.view, plan.direction, box_h, cx, top,
                    phase if np.ndim(phase) else np.full(T, phase, F32), cfg.gait_amplitude, coverage)
    if occlusion and plan.occlusion is not None:
        draw_occluder(canvas, plan.occlusion, (box_h, cx, top), cfg, palette, [cfg.seed, S_OCCLUDER, plan.uid],
                      coverage)
    if empty:
        canvas[:, empty] = bg_empty
        if coverage is not None:
            coverage[empty] = 0.0

    # camera: gain (drifting a little within the tracklet), colour cast, vertical light gradient
    gain = F32(cam.gain * rng.uniform(0.9, 1.1)) * (1 + F32(cfg.drift) * F32(rng.uniform(-1, 1)) * lin)  # (T,)
    return camera_pipeline(canvas, cam, cfg, gain, noise_rng)


def camera_pipeline(canvas: np.ndarray, cam: Camera, cfg, gain: np.ndarray, noise_rng) -> np.ndarray:
    """What a camera does to the scene light: canvas (3, T, H, W) in [0, 1], modified in place -> uint8 (T, H, W, 3)
    after the per-frame gain (T,), colour cast, vertical light gradient, optics blur and sensor noise."""
    _, T, H, W = canvas.shape
    vert = F32(1.0) + F32(cam.light_slope) * (F32(0.5) - (np.arange(H, dtype=F32) + 0.5) / F32(H))      # (H,)
    light = np.asarray(cam.cast, F32)[:, None, None] * gain[None, :, None] * vert[None, None, :]         # (3, T, H)
    canvas *= (light * F32(255.0))[..., None]
    if cam.blur > 0.3:  # optics / focus
        canvas = ndimage.gaussian_filter1d(canvas, cam.blur, axis=2, truncate=2.0)
        canvas = ndimage.gaussian_filter1d(canvas, cam.blur, axis=3, truncate=2.0)
    if cam.resolution < 1.0:  # a coarser sensor: area-average down to its pixels, bilinear back up to the frame
        h, w = max(1, round(H * cam.resolution)), max(1, round(W * cam.resolution))
        small = F.interpolate(torch.from_numpy(canvas), size=(h, w), mode="area")
        canvas = F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False).numpy()
    if cam.gamma != 1.0:      # tone curve on the scene light (before noise, as in a camera's processing)
        np.clip(canvas, 0.0, 255.0, out=canvas)
        canvas = F32(255.0) * np.power(canvas / F32(255.0), F32(cam.gamma))
    # sensor noise (luminance) plus 0.5 so that the uint8 cast below rounds
    grain = noise_rng.standard_normal((T, H, W), dtype=F32) * F32(cam.noise) if cam.noise > 0 \
        else np.zeros((T, H, W), F32)
    grain += F32(0.5)
    out = np.empty((T, H, W, 3), np.uint8)                         # (T, H, W, 3), what the JPEG encoder takes
    for c in range(3):
        ch = canvas[c]
        ch += grain
        np.clip(ch, 0.0, 255.0, out=ch)
        out[..., c] = ch
    return out
