"""The walking figure of SynthPed: body-space painting primitives and one painter per body part.

A figure lives in body coordinates (u right, v down, in units of the figure height; head top v = 0, soles v = 1) and
each frame maps pixels to body coordinates with its own box scale and offset. That map is separable (no rotation), so
u is (T, 1, W) and v is (T, H, 1); each part is computed only inside its bounding window (union over the frames), from
a distance field that also gives soft (anti-aliased) edges and cylinder shading. `draw_person` builds the figure's
geometry once (`Figure`) and calls the part painters back to front.

With a `coverage` array (T, H, W) the painter also composites each part's alpha into it (coverage <- coverage +
alpha * (1 - coverage), the "over" rule the colours follow), so that after the figure it holds the share of each
pixel the figure covers: 1 - coverage is exactly the weight the background keeps (SynthPed's `foreground_masks`).
Without it (the default) nothing else is computed and the pixels are the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .appearance import Person

F32 = np.float32
TWO_PI = 2.0 * math.pi


class _Painter:
    """Maps the pixels of T frames to body coordinates and paints parts into a (3, T, H, W) canvas."""

    def __init__(self, canvas: np.ndarray, box_h, cx, top, coverage: np.ndarray | None = None):
        self.canvas = canvas
        self.coverage = coverage                        # (T, H, W) float32 share of a pixel the figure covers, or None
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
        if self.coverage is not None:          # the same "over" rule as the colours, for a white part on black
            cov = self.coverage[:, rs, cs]
            cov += alpha * (F32(1.0) - cov)

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

@dataclass
class Figure:
    """One figure in one tracklet: the painter, the person, the view and the body geometry every part shares.
    Heights (v_*) and lengths are float32 body units; per-frame values are (T,) float32."""
    P: _Painter
    p: Person
    view: str                 # front | back | side
    side: bool                # view == "side"
    d: int                    # walking direction: +1 to the image right, -1 to the left
    lat: int                  # image direction of the person's left side (front +1, back -1, side 0)
    near: int                 # side view: the near side (+1 left) when walking right (d=+1)
    zeros: np.ndarray         # (T,) zeros, to broadcast scalars to per-frame values
    phase: np.ndarray         # (T,) gait phase
    A: np.float32             # leg swing amplitude (radians)
    rh: float                 # head radius
    v_head: np.float32        # head centre
    v_sh: np.float32          # shoulders
    v_hip: np.float32         # hips
    thigh: np.float32
    shin: np.float32
    upper: np.float32         # upper arm
    fore: np.float32          # forearm
    sw: np.float32            # torso half-width at the shoulders (narrower in side views: the body's depth)
    hw: np.float32            # torso half-width at the hips
    torso_u: np.ndarray       # (T,) torso axis
    head_u: np.ndarray        # (T,) head axis (a little forward of the torso in side views)


def _figure(canvas, p: Person, view: str, direction: int, box_h, cx, top, phase, gait_amplitude: float,
            coverage=None) -> Figure:
    T = canvas.shape[1]
    d = 1 if direction >= 0 else -1
    zeros = np.zeros(T, F32)
    rh = p.head_r
    v_hip = F32(p.hip_v)
    leg_len = F32(0.955) - v_hip                      # hips to ankles
    side = view == "side"
    torso_u = zeros + (F32(d * 0.008) if side else F32(0.0))
    return Figure(
        P=_Painter(canvas, box_h, cx, top, coverage), p=p, view=view, side=side, d=d,
        lat={"front": 1, "back": -1}.get(view, 0), near=d, zeros=zeros, phase=np.asarray(phase, F32),
        A=F32(gait_amplitude), rh=rh, v_head=F32(rh * 1.05), v_sh=F32(2 * rh + 0.035), v_hip=v_hip,
        thigh=F32(0.5 * leg_len), shin=F32(0.5 * leg_len), upper=F32(0.165), fore=F32(0.15),
        sw=F32(p.shoulder_w * (0.68 if side else 1.0)), hw=F32(p.hip_w * (0.85 if side else 1.0)),
        torso_u=torso_u, head_u=torso_u + (F32(d * 0.012) if side else F32(0.0)))


def draw_person(canvas, person: Person, view: str, direction: int, box_h, cx, top, phase, gait_amplitude: float,
                coverage: np.ndarray | None = None):
    """Paint `person` walking, seen from `view`, into canvas (3, T, H, W); per-frame box and gait phase are (T,).
    Parts are painted back to front (each over the previous ones). `coverage` (T, H, W), when given, accumulates
    the share of each pixel the figure covers (see the module docstring)."""
    f = _figure(canvas, person, view, direction, box_h, cx, top, phase, gait_amplitude, coverage)
    p, d, zeros, torso_u = person, f.d, f.zeros, f.torso_u
    if f.side:
        far = 0.72  # far limbs are in the body's shadow
        _paint_arm(f, torso_u - d * F32(0.01), math.pi, 0, far)
        _paint_leg(f, torso_u - d * F32(0.005), math.pi, far)
        _paint_torso(f)
        _paint_backpack(f)
        _paint_leg(f, torso_u, 0.0, 1.0)
        if p.bottom_type == "skirt":
            _paint_skirt(f, f.hw * F32(0.9))
        _paint_bag(f)
        _paint_arm(f, torso_u, 0.0, 0, 1.0)
        _paint_long_hair(f)
        _paint_head(f)
    else:
        # the person's left leg/arm are on the image side `lat`; left leg leads with phase 0
        lat = F32(f.lat)
        legs_u = F32(p.hip_w) - F32(0.8 * p.leg_r)
        arms_u = F32(p.shoulder_w) - F32(0.5 * p.arm_r)
        _paint_leg(f, zeros + lat * legs_u, 0.0, 1.0)
        _paint_leg(f, zeros - lat * legs_u, math.pi, 1.0)
        if p.bottom_type == "skirt":
            _paint_skirt(f, f.hw)
        _paint_torso(f)
        _paint_backpack(f)
        _paint_bag(f)
        _paint_long_hair(f)
        _paint_arm(f, zeros + lat * arms_u, math.pi, lat, 1.0)
        _paint_arm(f, zeros - lat * arms_u, 0.0, -lat, 1.0)
        _paint_head(f)


# ------------------------------------------------------------------------------------------------ limbs
def _leg_joints(f: Figure, hip_u, ph_shift):
    """Hip, knee and ankle (u, v) per frame of a leg whose hip is at hip_u: legs swing with the phase (opposite each
    other) and knees flex in the swing."""
    A, phase, zeros, v_hip, thigh, shin = f.A, f.phase, f.zeros, f.v_hip, f.thigh, f.shin
    th = A * np.sin(phase + F32(ph_shift))
    flex = F32(1.2) * A * np.maximum(F32(0.0), np.sin(phase + F32(ph_shift + 1.2)))
    if f.side:
        knee = (hip_u + f.d * thigh * np.sin(th), v_hip + thigh * np.cos(th))
        ang = th - flex
        ankle = (knee[0] + f.d * shin * np.sin(ang), knee[1] + shin * np.cos(ang))
    else:  # swing is towards/away from the camera: seen as foreshortening (the foot lifts)
        knee = (hip_u + zeros, v_hip + thigh * np.cos(th))
        ankle = (hip_u + zeros, knee[1] + shin * np.cos(th - flex))
    return (hip_u + zeros, v_hip + zeros), knee, ankle


def _paint_leg(f: Figure, hip_u, ph_shift, darken):
    """Thigh and shin (trousers, or skin under shorts and skirts) and the shoe."""
    P, p, d = f.P, f.p, f.d
    hip, knee, ankle = _leg_joints(f, hip_u, ph_shift)
    r = F32(p.leg_r)
    skin_shin = p.bottom_type in ("shorts", "skirt")
    tex = p.bottom_texture if p.bottom_texture != "solid" else None
    if p.bottom_type == "skirt":
        _limb(P, [hip, knee], r * 0.8, p.skin, darken)
    else:
        _limb(P, [hip, knee], r, p.bottom, darken, tex, p.bottom2, p.bottom_period, f.v_hip)
    if skin_shin:
        _limb(P, [knee, ankle], r * 0.75, p.skin, darken)
    else:
        _limb(P, [knee, ankle], r * 0.92, p.bottom, darken, tex, p.bottom2, p.bottom_period, f.v_hip)
    # shoe: a short horizontal capsule, pointing forward in side views
    sr = F32(0.021)
    if f.side:
        toe = (ankle[0] + d * F32(0.045), ankle[1] + F32(0.02))
        heel = (ankle[0] - d * F32(0.01), ankle[1] + F32(0.015))
    else:
        toe = (ankle[0] + F32(0.012), ankle[1] + F32(0.02))
        heel = (ankle[0] - F32(0.012), ankle[1] + F32(0.02))
    _limb(P, [heel, toe], sr, p.shoes, darken)


def _paint_arm(f: Figure, sh_u, ph_shift, out_sign, darken):
    """Upper arm and forearm (sleeve, or skin below short sleeves) and the hand; arms counter-swing the legs."""
    P, p, d, zeros, upper, fore = f.P, f.p, f.d, f.zeros, f.upper, f.fore
    al = -F32(p.arm_swing) * f.A * np.sin(f.phase + F32(ph_shift))
    elbow_flex = F32(0.25) + F32(0.5) * np.maximum(F32(0.0), -al)
    sh = (sh_u + zeros, f.v_sh + F32(p.arm_r) + zeros)
    if f.side:
        el = (sh[0] + d * upper * np.sin(-al), sh[1] + upper * np.cos(al))
        ang = -al + elbow_flex
        wr = (el[0] + d * fore * np.sin(ang), el[1] + fore * np.cos(ang))
    else:
        el = (sh[0] + out_sign * F32(0.012), sh[1] + upper * np.cos(al))
        wr = (el[0] + out_sign * F32(0.004), el[1] + fore * np.cos(al + elbow_flex))
    r = F32(p.arm_r)
    sleeve_tex = p.top_texture if p.top_texture in ("hstripes", "checks") else None
    _limb(P, [sh, el], r, p.top, darken, sleeve_tex, p.top2, p.top_period, f.v_sh)
    if p.sleeves == "short":
        _limb(P, [el, wr], r * 0.85, p.skin, darken)
    else:
        _limb(P, [el, wr], r * 0.95, p.top, darken, sleeve_tex, p.top2, p.top_period, f.v_sh)
    _disc(P, wr[0] + (d * F32(0.005) if f.side else F32(0.0)), wr[1] + F32(0.012), r * 1.05, p.skin, darken)


# ------------------------------------------------------------------------------------------------ garments
def _paint_torso(f: Figure):
    """The neck, then the top tapering from shoulders to hips (textured), then its chest logo."""
    P, p, torso_u, zeros, v_sh, v_hip, sw, hw = f.P, f.p, f.torso_u, f.zeros, f.v_sh, f.v_hip, f.sw, f.hw
    # neck first so the collar covers its base
    _limb(P, [(f.head_u, zeros + f.v_head + F32(0.5 * f.rh)), (torso_u, zeros + v_sh + F32(0.01))], F32(0.42 * f.rh),
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
    if p.top_texture == "logo" and f.view == "front":   # chest print: only visible from the front
        _paint_logo(f)


def _paint_logo(f: Figure):
    P, p, zeros, torso_u = f.P, f.p, f.zeros, f.torso_u
    lu, lv, ls = torso_u, zeros + f.v_sh + F32(0.08), F32(0.03)
    w2 = P.window(lu - 2 * ls, lu + 2 * ls, lv - ls, lv + ls)
    if w2 is not None:
        _, _, u2, v2 = w2
        a, b = np.abs(u2 - lu[:, None, None]), np.abs(v2 - lv[:, None, None])
        sd = {"circle": ls - np.sqrt(a * a + b * b), "square": ls - np.maximum(a, b),
              "diamond": F32(1.3) * ls - (a + b),
              "bar": np.minimum(F32(1.8) * ls - a, F32(0.45) * ls - b)}[p.logo_shape]
        P.paint(w2, P.edge(sd), p.top2)


def _paint_skirt(f: Figure, hw):
    """A skirt flaring from the hips (half-width `hw` at the waist)."""
    P, p, cu, v_hip = f.P, f.p, f.torso_u, f.v_hip
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


# ------------------------------------------------------------------------------------------------ accessories
def _paint_backpack(f: Figure):
    """Seen whole from the back, as a slab from the side, as two straps from the front."""
    P, p, torso_u, zeros, v_sh, sw, d = f.P, f.p, f.torso_u, f.zeros, f.v_sh, f.sw, f.d
    if p.backpack is None:
        return
    if f.view == "back":
        _box(P, torso_u, F32(0.72 * p.shoulder_w), v_sh + F32(0.02), v_sh + F32(0.215), p.backpack)
        _box(P, torso_u, F32(0.45 * p.shoulder_w), v_sh + F32(0.12), v_sh + F32(0.2), p.backpack, darken=0.8)
    elif f.side:
        _box(P, torso_u - d * (sw + F32(0.03)), F32(0.04), v_sh + F32(0.02), v_sh + F32(0.21), p.backpack)
    else:  # front: only the straps over the shoulders
        for sgn in (-1, 1):
            _limb(P, [(torso_u + sgn * F32(0.6) * sw, zeros + v_sh + F32(0.005)),
                      (torso_u + sgn * F32(0.55) * sw, zeros + v_sh + F32(0.17))], F32(0.009), p.backpack)


def _paint_bag(f: Figure):
    """A bag on one hip with its strap across the chest; hidden behind the body on the far hip of a side view."""
    P, p, torso_u, zeros, v_sh, v_hip, side, lat = f.P, f.p, f.torso_u, f.zeros, f.v_sh, f.v_hip, f.side, f.lat
    if p.bag is None:
        return
    if side:
        if p.bag_side != f.near:  # on the far hip: hidden behind the body
            return
        bu, half = torso_u + f.d * F32(0.005), F32(0.05)
    else:
        bu, half = zeros + F32(lat * p.bag_side) * (F32(p.hip_w) + F32(0.04)), F32(0.038)
    shoulder_u = torso_u + (F32(-lat * p.bag_side) * F32(0.6) * f.sw if not side else F32(0.0))
    _limb(P, [(shoulder_u, zeros + v_sh + F32(0.005)), (bu, zeros + v_hip - F32(0.035))], F32(0.007), p.bag, 0.85)
    _box(P, bu, half, v_hip - F32(0.04), v_hip + F32(0.085), p.bag)


# ------------------------------------------------------------------------------------------------ head
def _paint_long_hair(f: Figure):
    """Long hair falling behind the shoulders (painted before the head, which covers its top)."""
    P, p, rh, d, hu, v_head, v_sh = f.P, f.p, f.rh, f.d, f.head_u, f.v_head, f.v_sh
    if p.hair_style != "long":
        return
    if f.view == "back":
        _box(P, hu, F32(0.85 * rh), v_head, v_sh + F32(0.1), p.hair)
    elif f.side:
        _box(P, hu - d * F32(0.55 * rh), F32(0.45 * rh), v_head, v_sh + F32(0.07), p.hair)
    else:
        for sgn in (-1, 1):
            _box(P, hu + sgn * F32(0.82 * rh), F32(0.25 * rh), v_head, v_sh + F32(0.04), p.hair)


def _paint_head(f: Figure):
    """The head: skin with the hair on top (all hair from the back, the back half from the side, sideburns from
    the front), then the hat."""
    P, p, d, hu, v_head, side = f.P, f.p, f.d, f.head_u, f.v_head, f.side
    rx, ry = F32(0.85 * f.rh), F32(f.rh)
    win = P.window(hu - rx * 1.3, hu + rx * 1.3, v_head - ry * 1.3, v_head + ry)
    if win is None:
        return
    _, _, u, v = win
    du = (u - hu[:, None, None]) / rx
    dv = (v - v_head) / ry
    rr = np.sqrt(du * du + dv * dv)
    alpha = P.edge((F32(1.0) - rr) * ry)
    if f.view == "back":
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
    if p.hat is not None:
        _paint_hat(f, win, rr, dv, shade, rx, ry)


def _paint_hat(f: Figure, win, rr, dv, shade, rx, ry):
    """A cap over the top of the head (in the head's window and coordinates), with a brim pointing forward."""
    P, p, hu, v_head = f.P, f.p, f.head_u, f.v_head
    cap = P.edge(np.minimum((F32(1.1) - rr) * ry, (F32(-0.2) - dv) * ry))
    P.paint(win, cap, p.hat, shade)
    if f.side:
        brim_v = f.zeros + v_head - F32(0.22) * ry
        _limb(P, [(hu, brim_v), (hu + f.d * F32(1.6) * rx, brim_v)], F32(0.011), p.hat, 0.9)
    elif f.view == "front":
        _box(P, hu, F32(1.05) * rx, v_head - F32(0.3) * ry, v_head - F32(0.12) * ry, p.hat, 0.8)
