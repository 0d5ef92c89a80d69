"""Identities of SynthPed: an articulated figure's proportions, garments, textures and accessories.

Coarse colours come from a small shared palette (`palette_size`) so that many identities look alike at a glance;
what tells them apart are fine details: garment texture and its second colour, a chest logo seen only from the front,
a backpack seen only from the back or side, a bag on one hip, shoes, hair. Near-twins (`twin_rate`) copy another
identity and change exactly one of those parts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# Garment base colours (RGB in [0, 1]); `palette_size` of them, chosen per dataset seed, are shared by everyone.
GARMENT = (
    (0.08, 0.08, 0.09), (0.12, 0.16, 0.32), (0.45, 0.45, 0.47), (0.86, 0.86, 0.84), (0.15, 0.32, 0.18),
    (0.68, 0.13, 0.13), (0.20, 0.36, 0.70), (0.78, 0.70, 0.54), (0.40, 0.26, 0.15), (0.53, 0.51, 0.32),
    (0.45, 0.10, 0.18), (0.58, 0.72, 0.86),
)
ACCENT = GARMENT + ((0.92, 0.80, 0.15), (0.92, 0.50, 0.12), (0.90, 0.55, 0.70), (0.25, 0.70, 0.65))
SKIN = ((0.96, 0.80, 0.69), (0.89, 0.70, 0.56), (0.78, 0.57, 0.42), (0.60, 0.42, 0.30), (0.42, 0.28, 0.20))
HAIR = ((0.05, 0.04, 0.04), (0.20, 0.12, 0.07), (0.40, 0.26, 0.14), (0.80, 0.68, 0.42), (0.62, 0.62, 0.62),
        (0.50, 0.20, 0.08))
SHOES = ((0.05, 0.05, 0.05), (0.92, 0.92, 0.90), (0.45, 0.45, 0.45), (0.36, 0.22, 0.12), (0.70, 0.12, 0.12),
         (0.12, 0.16, 0.36))
TOP_TEXTURES = ("hstripes", "vstripes", "checks", "logo")
BOTTOM_TEXTURES = ("hstripes", "checks")
LOGO_SHAPES = ("circle", "square", "diamond", "bar")
TWIN_PARTS = ("top_colour", "top_texture", "bottom", "shoes", "hair", "backpack", "bag", "hat")

RGB = tuple  # (r, g, b) floats in [0, 1]


@dataclass(frozen=True)
class Person:
    # body proportions, in units of the figure height (head top = 0, soles = 1)
    head_r: float           # head radius
    shoulder_w: float       # half-width of the torso at the shoulders (front view)
    hip_w: float            # half-width at the hips
    hip_v: float            # height of the hips: larger = shorter legs
    arm_r: float            # arm thickness (radius)
    leg_r: float            # leg thickness (radius)
    # head
    skin: RGB
    hair: RGB
    hair_style: str         # short | long
    # top
    top: RGB
    top_texture: str        # solid | hstripes | vstripes | checks | logo
    top2: RGB               # second colour of the texture / logo colour
    top_period: float       # texture period (figure-height units)
    logo_shape: str         # circle | square | diamond | bar (only drawn for top_texture == "logo")
    sleeves: str            # long | short
    # bottom
    bottom_type: str        # trousers | shorts | skirt
    bottom: RGB
    bottom_texture: str     # solid | hstripes | checks
    bottom2: RGB
    bottom_period: float
    shoes: RGB
    # accessories: colour, or None when absent
    backpack: RGB | None
    bag: RGB | None
    bag_side: int           # +1 = left hip, -1 = right hip
    hat: RGB | None
    # gait
    gait_period: float      # frames per walking cycle
    arm_swing: float        # arm swing relative to the leg swing

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _jitter(rng: np.random.Generator, rgb, amount: float) -> RGB:
    c = np.clip(np.asarray(rgb, dtype=np.float64) + rng.uniform(-amount, amount, 3), 0.0, 1.0)
    return tuple(round(float(x), 4) for x in c)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def sample_palette(rng: np.random.Generator, size: int) -> tuple[RGB, ...]:
    idx = np.sort(rng.choice(len(GARMENT), size=size, replace=False))
    return tuple(GARMENT[i] for i in idx)


def sample_person(rng: np.random.Generator, palette, cfg) -> Person:
    bv = cfg.body_variation
    j = cfg.colour_jitter

    def prop(mean, spread):
        return round(float(mean + bv * spread * rng.uniform(-1.0, 1.0)), 4)

    def colour2(base):
        # The texture's second colour must differ visibly from the base colour.
        for _ in range(8):
            c = _pick(rng, ACCENT)
            if np.abs(np.subtract(c, base)).sum() > 0.45:
                return _jitter(rng, c, j)
        return _jitter(rng, (1.0 - np.asarray(base)).tolist(), j)

    top = _jitter(rng, _pick(rng, palette), j)
    top_texture = _pick(rng, TOP_TEXTURES) if rng.random() < cfg.texture_prob else "solid"
    bottom = _jitter(rng, _pick(rng, palette), j)
    bottom_texture = _pick(rng, BOTTOM_TEXTURES) if rng.random() < cfg.bottom_texture_prob else "solid"
    r = rng.random()
    bottom_type = "trousers" if r < 0.72 else ("shorts" if r < 0.86 else "skirt")
    return Person(
        head_r=prop(0.066, 0.006), shoulder_w=prop(0.105, 0.015), hip_w=prop(0.075, 0.012), hip_v=prop(0.515, 0.025),
        arm_r=prop(0.025, 0.004), leg_r=prop(0.034, 0.005),
        skin=_jitter(rng, _pick(rng, SKIN), 0.03), hair=_jitter(rng, _pick(rng, HAIR), 0.03),
        hair_style="long" if rng.random() < 0.3 else "short",
        top=top, top_texture=top_texture, top2=colour2(top), top_period=round(float(rng.uniform(0.04, 0.075)), 4),
        logo_shape=_pick(rng, LOGO_SHAPES), sleeves="short" if rng.random() < 0.35 else "long",
        bottom_type=bottom_type, bottom=bottom, bottom_texture=bottom_texture, bottom2=colour2(bottom),
        bottom_period=round(float(rng.uniform(0.045, 0.08)), 4),
        shoes=_jitter(rng, _pick(rng, SHOES), 0.04),
        backpack=_jitter(rng, _pick(rng, ACCENT), j) if rng.random() < cfg.backpack_prob else None,
        bag=_jitter(rng, _pick(rng, ACCENT), j) if rng.random() < cfg.bag_prob else None,
        bag_side=1 if rng.random() < 0.5 else -1,
        hat=_jitter(rng, _pick(rng, ACCENT), j) if rng.random() < cfg.hat_prob else None,
        gait_period=round(float(rng.uniform(9.0, 15.0)), 3), arm_swing=round(float(rng.uniform(0.5, 0.9)), 3),
    )


def make_twin(base: Person, rng: np.random.Generator, palette, cfg) -> tuple[Person, str]:
    """A near-twin of `base`: identical except for one part (returned as its name)."""
    part = _pick(rng, TWIN_PARTS)
    other = sample_person(rng, palette, cfg)  # a source of fresh values for the one part that changes
    if part == "top_colour":
        choices = [c for c in palette if np.abs(np.subtract(c, base.top)).sum() > 0.3] or list(ACCENT)
        changes = {"top": _jitter(rng, _pick(rng, choices), cfg.colour_jitter)}
    elif part == "top_texture":
        kinds = [k for k in ("solid",) + TOP_TEXTURES if k != base.top_texture]
        changes = {"top_texture": _pick(rng, kinds), "top2": other.top2, "logo_shape": other.logo_shape}
    elif part == "bottom":
        choices = [c for c in palette if np.abs(np.subtract(c, base.bottom)).sum() > 0.3] or list(ACCENT)
        changes = {"bottom": _jitter(rng, _pick(rng, choices), cfg.colour_jitter)}
    elif part == "shoes":
        choices = [c for c in SHOES if np.abs(np.subtract(c, base.shoes)).sum() > 0.3]
        changes = {"shoes": _jitter(rng, _pick(rng, choices), 0.04)}
    elif part == "hair":
        changes = {"hair_style": "long" if base.hair_style == "short" else "short"}
    else:  # accessory: add it if absent, remove it if present
        changes = {part: other_accessory(rng, cfg) if getattr(base, part) is None else None}
    return dataclasses.replace(base, **changes), part


def other_accessory(rng: np.random.Generator, cfg) -> RGB:
    return _jitter(rng, _pick(rng, ACCENT), cfg.colour_jitter)
