"""Rendering of SynthPed: cameras, backgrounds, the walking figure and occluders, one tracklet at a time.

Everything is vectorised over the frames of a tracklet: the canvas is a float32 array (3, T, H, W) (channel-first so
each channel is contiguous), a figure lives in body coordinates (u right, v down, in units of the figure height; head
top v = 0, soles v = 1) and each frame maps pixels to body coordinates with its own box scale and offset. That map is
separable (no rotation), so u is (T, 1, W) and v is (T, H, 1); each part is computed only inside its bounding window
(union over the frames), from a distance field that also gives soft (anti-aliased) edges and cylinder shading.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .appearance import Person, sample_person
from .config import S_CAMERA, S_NOISE, S_OCCLUDER, S_RENDER

F32 = np.float32
VIEWS = ("front", "back", "side")
TWO_PI = 2.0 * math.pi


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
        ))
    return cams


def _muted(rng, lo=0.2, hi=0.8, sat=0.45):
    c = rng.uniform(lo, hi, 3)
    return c * sat + c.mean() * (1.0 - sat)


def make_background(cfg, cam: Camera) -> np.ndarray:
    """The camera's scene as a wide strip (3, H, 4W); each tracklet crops (and scrolls through) a W-wide window."""
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
# the figure
# ----------------------------------------------------------------------------------------------------------------------
class _Painter:
    """Maps the pixels of T frames to body coordinates and paints parts into a (3, T, H, W) canvas."""

    def __init__(self, canvas: np.ndarray, box_h, cx, top):
        self.canvas = canvas
        _, T, H, W = canvas.shape
        self.H, self.W = H, W
        self.bh = np.asarray(box_h, F32).reshape(T)     # figure height in pixels, per frame
        self.cx = np.asarray(cx, F32).reshape(T)        # x of the figure's axis
        self.top = np.asarray(top, F32).reshape(T)      # y of the head top
        self.px = self.bh[:, None, None]                # pixels per body unit (T, 1, 1): sharpness of soft edges
        self.u = (np.arange(W, dtype=F32)[None, None, :] + 0.5 - self.cx[:, None, None]) / self.px  # (T, 1, W)
        self.v = (np.arange(H, dtype=F32)[None, :, None] + 0.5 - self.top[:, None, None]) / self.px  # (T, H, 1)

    def window(self, u0, u1, v0, v1):
        """Pixel window (union over frames) covering the body-space box [u0, u1] x [v0, v1] (scalars or (T,))."""
        x0 = np.min(self.cx + np.asarray(u0, F32) * self.bh)
        x1 = np.max(self.cx + np.asarray(u1, F32) * self.bh)
        y0 = np.min(self.top + np.asarray(v0, F32) * self.bh)
        y1 = np.max(self.top + np.asarray(v1, F32) * self.bh)
        c0, c1 = max(0, int(math.floor(x0)) - 1), min(self.W, int(math.ceil(x1)) + 2)
        r0, r1 = max(0, int(math.floor(y0)) - 1), min(self.H, int(math.ceil(y1)) + 2)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1), self.u[:, :, c0:c1], self.v[:, r0:r1, :]

    def paint(self, win, alpha, rgb, shade=None, tex=None, rgb2=None):
        rs, cs = win[0], win[1]
        for c in range(3):
            col = rgb[c] if tex is None else rgb[c] + tex * F32(rgb2[c] - rgb[c])
            if shade is not None:
                col = col * shade
            reg = self.canvas[c, :, rs, cs]   # a strided view: touch it as few times as possible
            delta = col - reg
            delta *= alpha
            reg += delta

    def edge(self, signed):
        """Soft coverage from a signed distance in body units (positive inside)."""
        return np.clip(F32(0.5) + signed * self.px, 0.0, 1.0)


def _seg_dist(u, v, a, b):
    """Distance from (u, v) to the segments a->b; a, b are ((T,), (T,)) endpoint pairs."""
    au, av = a[0][:, None, None], a[1][:, None, None]
    eu, ev = (b[0] - a[0])[:, None, None], (b[1] - a[1])[:, None, None]
    inv = 1.0 / (eu * eu + ev * ev + F32(1e-9))
    du, dv = u - au, v - av
    h = np.clip((du * eu + dv * ev) * inv, 0.0, 1.0)
    qu = du - h * eu
    qv = dv - h * ev
    return np.sqrt(qu * qu + qv * qv)


def _texture(kind, u, v, period):
    if kind == "hstripes":
        return np.clip(0.5 + 2.0 * np.sin(v * F32(TWO_PI / period)), 0.0, 1.0)
    if kind == "vstripes":
        return np.clip(0.5 + 2.0 * np.sin(u * F32(TWO_PI / period)), 0.0, 1.0)
    if kind == "checks":
        return np.clip(0.5 + 4.0 * np.sin(u * F32(TWO_PI / period)) * np.sin(v * F32(TWO_PI / period)), 0.0, 1.0)
    return None


def _limb(P: _Painter, joints, r, rgb, darken=1.0, tex_kind=None, rgb2=None, period=0.05, v_ref=0.0):
    """A chain of capsules through `joints` [(u (T,), v (T,)), ...], radius r, cylinder-shaded."""
    us = np.stack([j[0] for j in joints])
    vs = np.stack([j[1] for j in joints])
    win = P.window(us.min(0) - r, us.max(0) + r, vs.min(0) - r, vs.max(0) + r)
    if win is None:
        return
    _, _, u, v = win
    d = None
    for a, b in zip(joints[:-1], joints[1:]):
        dd = _seg_dist(u, v, a, b)
        d = dd if d is None else np.minimum(d, dd)
    alpha = P.edge(F32(r) - d)
    q = d * F32(1.0 / r)
    shade = F32(darken) * (F32(1.0) - F32(0.35) * q * q)
    tex = _texture(tex_kind, u, v - F32(v_ref), period) if tex_kind else None
    P.paint(win, alpha, rgb, shade, tex, rgb2)


def _disc(P: _Painter, cu, cv, r, rgb, darken=1.0):
    win = P.window(cu - r, cu + r, cv - r, cv + r)
    if win is None:
        return
    _, _, u, v = win
    du, dv = u - cu[:, None, None], v - cv[:, None, None]
    d = np.sqrt(du * du + dv * dv)
    P.paint(win, P.edge(F32(r) - d), rgb, F32(darken) * (F32(1.0) - F32(0.3) * (d / F32(r)) ** 2))


def _box(P: _Painter, cu, u_half, v0, v1, rgb, darken=1.0, tex_kind=None, rgb2=None, period=0.05):
    """Axis-aligned box centred at cu (T,) with half-width u_half, rows v0..v1 (body units), softly shaded."""
    win = P.window(cu - u_half, cu + u_half, v0, v1)
    if win is None:
        return
    _, _, u, v = win
    du = np.abs(u - cu[:, None, None])
    alpha = P.edge(np.minimum(F32(u_half) - du, np.minimum(v - F32(v0), F32(v1) - v)))
    q = du * F32(1.0 / u_half)
    shade = F32(darken) * (F32(1.0) - F32(0.25) * q * q)
    tex = _texture(tex_kind, u - cu[:, None, None], v - F32(v0), period) if tex_kind else None
    P.paint(win, alpha, rgb, shade, tex, rgb2)


def draw_person(canvas, person: Person, view: str, direction: int, box_h, cx, top, phase, gait_amplitude: float):
    """Paint `person` walking, seen from `view`, into canvas (3, T, H, W); per-frame box and gait phase are (T,)."""
    P = _Painter(canvas, box_h, cx, top)
    T = canvas.shape[1]
    p = person
    d = 1 if direction >= 0 else -1
    zeros = np.zeros(T, F32)
    phase = np.asarray(phase, F32)
    A = F32(gait_amplitude)

    rh = p.head_r
    v_head = F32(rh * 1.05)
    v_sh = F32(2 * rh + 0.035)
    v_hip = F32(p.hip_v)
    v_ankle = F32(0.955)
    leg_len = v_ankle - v_hip
    thigh, shin = F32(0.5 * leg_len), F32(0.5 * leg_len)
    upper, fore = F32(0.165), F32(0.15)
    side = view == "side"
    lat = {"front": 1, "back": -1}.get(view, 0)   # image direction of the person's left side (front/back views)
    near = d                                        # side view: the near side (+1 left) when walking right (d=+1)

    # joint angles per frame: legs swing with phase (opposite each other), knees flex in the swing, arms counter-swing
    def leg_angles(ph_shift):
        th = A * np.sin(phase + F32(ph_shift))
        flex = F32(1.2) * A * np.maximum(F32(0.0), np.sin(phase + F32(ph_shift + 1.2)))
        return th, flex

    def leg_joints(hip_u, th, flex):
        if side:
            knee = (hip_u + d * thigh * np.sin(th), v_hip + thigh * np.cos(th))
            ang = th - flex
            ankle = (knee[0] + d * shin * np.sin(ang), knee[1] + shin * np.cos(ang))
        else:  # swing is towards/away from the camera: seen as foreshortening (the foot lifts)
            knee = (hip_u + zeros, v_hip + thigh * np.cos(th))
            ankle = (hip_u + zeros, knee[1] + shin * np.cos(th - flex))
        return (hip_u + zeros, v_hip + zeros), knee, ankle

    def draw_leg(hip_u, ph_shift, darken):
        th, flex = leg_angles(ph_shift)
        hip, knee, ankle = leg_joints(hip_u, th, flex)
        r = F32(p.leg_r)
        skin_shin = p.bottom_type in ("shorts", "skirt")
        tex = p.bottom_texture if p.bottom_texture != "solid" else None
        if p.bottom_type == "skirt":
            _limb(P, [hip, knee], r * 0.8, p.skin, darken)
        else:
            _limb(P, [hip, knee], r, p.bottom, darken, tex, p.bottom2, p.bottom_period, v_hip)
        if skin_shin:
            _limb(P, [knee, ankle], r * 0.75, p.skin, darken)
        else:
            _limb(P, [knee, ankle], r * 0.92, p.bottom, darken, tex, p.bottom2, p.bottom_period, v_hip)
        # shoe: a short horizontal capsule, pointing forward in side views
        sr = F32(0.021)
        if side:
            toe = (ankle[0] + d * F32(0.045), ankle[1] + F32(0.02))
            heel = (ankle[0] - d * F32(0.01), ankle[1] + F32(0.015))
        else:
            toe = (ankle[0] + F32(0.012), ankle[1] + F32(0.02))
            heel = (ankle[0] - F32(0.012), ankle[1] + F32(0.02))
        _limb(P, [heel, toe], sr, p.shoes, darken)

    def draw_arm(sh_u, ph_shift, out_sign, darken):
        al = -F32(p.arm_swing) * A * np.sin(phase + F32(ph_shift))
        elbow_flex = F32(0.25) + F32(0.5) * np.maximum(F32(0.0), -al)
        sh = (sh_u + zeros, v_sh + F32(p.arm_r) + zeros)
        if side:
            el = (sh[0] + d * upper * np.sin(-al), sh[1] + upper * np.cos(al))
            ang = -al + elbow_flex
            wr = (el[0] + d * fore * np.sin(ang), el[1] + fore * np.cos(ang))
        else:
            el = (sh[0] + out_sign * F32(0.012), sh[1] + upper * np.cos(al))
            wr = (el[0] + out_sign * F32(0.004), el[1] + fore * np.cos(al + elbow_flex))
        r = F32(p.arm_r)
        sleeve_tex = p.top_texture if p.top_texture in ("hstripes", "checks") else None
        _limb(P, [sh, el], r, p.top, darken, sleeve_tex, p.top2, p.top_period, v_sh)
        if p.sleeves == "short":
            _limb(P, [el, wr], r * 0.85, p.skin, darken)
        else:
            _limb(P, [el, wr], r * 0.95, p.top, darken, sleeve_tex, p.top2, p.top_period, v_sh)
        _disc(P, wr[0] + (d * F32(0.005) if side else F32(0.0)), wr[1] + F32(0.012), r * 1.05, p.skin, darken)

    # torso half-widths: the side view shows the body's depth
    sw = F32(p.shoulder_w * (0.68 if side else 1.0))
    hw = F32(p.hip_w * (0.85 if side else 1.0))
    torso_u = zeros + (F32(d * 0.008) if side else F32(0.0))

    def draw_torso():
        # neck first so the collar covers its base
        head_u = torso_u + (F32(d * 0.012) if side else F32(0.0))
        _limb(P, [(head_u, zeros + v_head + F32(0.5 * rh)), (torso_u, zeros + v_sh + F32(0.01))], F32(0.42 * rh),
              p.skin)
        v0, v1 = v_sh - F32(0.005), v_hip + F32(0.025)
        win = P.window(torso_u - sw, torso_u + sw, v0, v1)
        if win is None:
            return
        _, _, u, v = win
        t = np.clip((v - v_sh) / (v_hip - v_sh), 0.0, 1.0)
        half = sw + (hw - sw) * t                             # (T, h, 1) tapering from shoulders to hips
        du = np.abs(u - torso_u[:, None, None])
        alpha = P.edge(np.minimum(half - du, np.minimum(v - v0, v1 - v)))
        q = du / half
        shade = F32(1.0) - F32(0.3) * q * q
        kind = p.top_texture if p.top_texture in ("hstripes", "vstripes", "checks") else None
        tex = _texture(kind, u - torso_u[:, None, None], v - v_sh, p.top_period) if kind else None
        P.paint(win, alpha, p.top, shade, tex, p.top2)
        if p.top_texture == "logo" and view == "front":   # chest print: only visible from the front
            lu, lv, ls = torso_u, zeros + v_sh + F32(0.08), F32(0.03)
            w2 = P.window(lu - 2 * ls, lu + 2 * ls, lv - ls, lv + ls)
            if w2 is not None:
                _, _, u2, v2 = w2
                a, b = np.abs(u2 - lu[:, None, None]), np.abs(v2 - lv[:, None, None])
                sd = {"circle": ls - np.sqrt(a * a + b * b), "square": ls - np.maximum(a, b),
                      "diamond": F32(1.3) * ls - (a + b),
                      "bar": np.minimum(F32(1.8) * ls - a, F32(0.45) * ls - b)}[p.logo_shape]
                P.paint(w2, P.edge(sd), p.top2)

    def draw_backpack():
        if p.backpack is None:
            return
        if view == "back":
            _box(P, torso_u, F32(0.72 * p.shoulder_w), v_sh + F32(0.02), v_sh + F32(0.215), p.backpack)
            _box(P, torso_u, F32(0.45 * p.shoulder_w), v_sh + F32(0.12), v_sh + F32(0.2), p.backpack, darken=0.8)
        elif side:
            _box(P, torso_u - d * (sw + F32(0.03)), F32(0.04), v_sh + F32(0.02), v_sh + F32(0.21), p.backpack)
        else:  # front: only the straps over the shoulders
            for sgn in (-1, 1):
                _limb(P, [(torso_u + sgn * F32(0.6) * sw, zeros + v_sh + F32(0.005)),
                          (torso_u + sgn * F32(0.55) * sw, zeros + v_sh + F32(0.17))], F32(0.009), p.backpack)

    def draw_bag(strap=True):
        if p.bag is None:
            return
        if side:
            if p.bag_side != near:  # on the far hip: hidden behind the body
                return
            bu, half = torso_u + d * F32(0.005), F32(0.05)
        else:
            bu, half = zeros + F32(lat * p.bag_side) * (F32(p.hip_w) + F32(0.04)), F32(0.038)
        if strap:
            shoulder_u = torso_u + (F32(-lat * p.bag_side) * F32(0.6) * sw if not side else F32(0.0))
            _limb(P, [(shoulder_u, zeros + v_sh + F32(0.005)), (bu, zeros + v_hip - F32(0.035))], F32(0.007),
                  p.bag, 0.85)
        _box(P, bu, half, v_hip - F32(0.04), v_hip + F32(0.085), p.bag)

    def draw_long_hair():
        if p.hair_style != "long":
            return
        hu = torso_u + (F32(d * 0.012) if side else F32(0.0))
        if view == "back":
            _box(P, hu, F32(0.85 * rh), v_head, v_sh + F32(0.1), p.hair)
        elif side:
            _box(P, hu - d * F32(0.55 * rh), F32(0.45 * rh), v_head, v_sh + F32(0.07), p.hair)
        else:
            for sgn in (-1, 1):
                _box(P, hu + sgn * F32(0.82 * rh), F32(0.25 * rh), v_head, v_sh + F32(0.04), p.hair)

    def draw_head():
        hu = torso_u + (F32(d * 0.012) if side else F32(0.0))
        rx, ry = F32(0.85 * rh), F32(rh)
        win = P.window(hu - rx * 1.3, hu + rx * 1.3, v_head - ry * 1.3, v_head + ry)
        if win is None:
            return
        _, _, u, v = win
        du = (u - hu[:, None, None]) / rx
        dv = (v - v_head) / ry
        rr = np.sqrt(du * du + dv * dv)
        alpha = P.edge((F32(1.0) - rr) * ry)
        if view == "back":
            hair = np.ones_like(rr)
        else:
            top_hair = np.clip(F32(0.5) - (dv + F32(0.3)) * F32(4.0), 0.0, 1.0)     # (T, h, 1)
            if side:  # back half of the head
                hair = np.maximum(top_hair, np.clip(F32(0.5) - (d * du + F32(0.1)) * F32(4.0), 0.0, 1.0))
            else:     # sideburns
                hair = np.maximum(top_hair, np.clip((np.abs(du) - F32(0.8)) * F32(4.0), 0.0, 1.0)
                                  * (dv < F32(0.2)))
        shade = F32(1.0) - F32(0.25) * rr * rr
        P.paint(win, alpha, p.skin, shade, hair, p.hair)
        if p.hat is not None:  # a cap over the top of the head, with a brim pointing forward
            cap = P.edge(np.minimum((F32(1.1) - rr) * ry, (F32(-0.2) - dv) * ry))
            P.paint(win, cap, p.hat, shade)
            if side:
                brim_v = zeros + v_head - F32(0.22) * ry
                _limb(P, [(hu, brim_v), (hu + d * F32(1.6) * rx, brim_v)], F32(0.011), p.hat, 0.9)
            elif view == "front":
                _box(P, hu, F32(1.05) * rx, v_head - F32(0.3) * ry, v_head - F32(0.12) * ry, p.hat, 0.8)

    legs_u = F32(p.hip_w) - F32(0.8 * p.leg_r)
    arms_u = F32(p.shoulder_w) - F32(0.5 * p.arm_r)
    if side:
        far = 0.72  # far limbs are in the body's shadow
        draw_arm(torso_u - d * F32(0.01), math.pi, 0, far)
        draw_leg(torso_u - d * F32(0.005), math.pi, far)
        draw_torso()
        draw_backpack()
        draw_leg(torso_u, 0.0, 1.0)
        if p.bottom_type == "skirt":
            _skirt(P, p, torso_u, v_hip, hw * F32(0.9))
        draw_bag()
        draw_arm(torso_u, 0.0, 0, 1.0)
        draw_long_hair()
        draw_head()
    else:
        # the person's left leg/arm are on the image side `lat`; left leg leads with phase 0
        draw_leg(zeros + F32(lat) * legs_u, 0.0, 1.0)
        draw_leg(zeros - F32(lat) * legs_u, math.pi, 1.0)
        if p.bottom_type == "skirt":
            _skirt(P, p, torso_u, v_hip, hw)
        draw_torso()
        draw_backpack()
        draw_bag()
        draw_long_hair()
        draw_arm(zeros + F32(lat) * arms_u, math.pi, F32(lat), 1.0)
        draw_arm(zeros - F32(lat) * arms_u, 0.0, F32(-lat), 1.0)
        draw_head()


def _skirt(P, p, cu, v_hip, hw):
    v0, v1 = v_hip - F32(0.03), v_hip + F32(0.2)
    win = P.window(cu - hw - F32(0.06), cu + hw + F32(0.06), v0, v1)
    if win is None:
        return
    _, _, u, v = win
    half = hw + F32(0.01) + F32(0.25) * (v - v0)
    du = np.abs(u - cu[:, None, None])
    alpha = P.edge(np.minimum(half - du, np.minimum(v - v0, v1 - v)))
    tex = _texture(p.bottom_texture, u, v - v0, p.bottom_period) if p.bottom_texture != "solid" else None
    P.paint(win, alpha, p.bottom, F32(1.0) - F32(0.25) * (du / half) ** 2, tex, p.bottom2)


# ----------------------------------------------------------------------------------------------------------------------
# occluders
# ----------------------------------------------------------------------------------------------------------------------
def draw_occluder(canvas, occ: dict, person_box, cfg, palette, occ_seed) -> None:
    """Paint the occluder of event `occ` into the frames [start, end) of canvas (3, T, H, W)."""
    a, b = occ["start"], occ["end"]
    sub = canvas[:, a:b]
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
    elif kind == "person":
        other = sample_person(rng, palette, cfg)
        bh, cx, top = (np.asarray(x, F32)[a:b] for x in person_box)
        scale = F32(occ["scale"])
        bh2 = bh * scale
        cx2 = (F32(occ["x0"]) + F32(occ["x1"] - occ["x0"]) * t) * W
        top2 = top + (bh - bh2) + F32(0.03) * bh    # nearer to the camera: feet lower in the frame
        phase = F32(rng.uniform(0, TWO_PI)) + F32(TWO_PI) * np.arange(n, dtype=F32) / F32(other.gait_period)
        view = VIEWS[int(rng.integers(3))]
        draw_person(sub, other, view, int(rng.choice([-1, 1])), bh2, cx2, top2, phase, cfg.gait_amplitude)
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
                    phase if np.ndim(phase) else np.full(T, phase, F32), cfg.gait_amplitude)
    if occlusion and plan.occlusion is not None:
        draw_occluder(canvas, plan.occlusion, (box_h, cx, top), cfg, palette, [cfg.seed, S_OCCLUDER, plan.uid])
    if empty:
        canvas[:, empty] = bg_empty

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
