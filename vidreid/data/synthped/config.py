"""SynthPedConfig: every knob of the synthetic dataset, one comment per field.

Rates and fractions are in [0, 1]; lengths are in frames; geometry is in units of the bounding-box size so the same
config renders the same dataset (up to resolution) at 256x128 and at 128x64.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import ConfigError

LAYOUTS = ("mars", "dukev")
MAX_CAMS = {"mars": 6, "dukev": 8}  # cameras the layout's loader accepts (datasets/mars.py, datasets/dukev.py)
OCCLUDER_KINDS = ("pole", "car", "person")
# Random streams: every draw comes from np.random.default_rng([seed, STREAM, key...]) so that an item's randomness
# depends on (seed, item) only -- not on the worker that renders it or on how many other items exist.
S_IDENTITY, S_CAMERA, S_TRACKLETS, S_RENDER, S_NOISE, S_OCCLUDER = 1, 2, 3, 4, 5, 6
S_DISTRACTOR, S_JUNK, S_SPLIT, S_QUERY, S_PALETTE, S_CLOCK = 7, 8, 9, 10, 11, 12
# options added after GENERATOR_VERSION 1 shipped, with the value that renders exactly what that version rendered
OPT_IN = {"camera_gamma": 0.0, "camera_lowres": 0.0, "photo_backgrounds": 0.0, "foreground_masks": False}
GENERATOR_VERSION = 1  # bump whenever the same config would render different pixels; a stale marker then regenerates


@dataclass
class SynthPedConfig:
    # --- size, seed, layout -----------------------------------------------------------------------------------------
    ids: int = 300                      # labelled identities (half train, half test); twins included
    cams: int = 6                       # cameras: 2..6 in the MARS layout, 2..8 in the DukeV one (what loaders read)
    height: int = 256                   # frame height in pixels
    width: int = 128                    # frame width in pixels
    seed: int = 0                       # global seed; every identity/camera/tracklet seed is derived from it
    layout: str = "mars"                # on-disk layout: mars (bbox_train/bbox_test/info) | dukev (train/query/gallery)
    # --- splits and tracklets ---------------------------------------------------------------------------------------
    train_fraction: float = 0.5         # share of identities used for training (disjoint from the test identities)
    min_cams_per_id: int = 2            # every identity is seen by at least this many cameras (>= 2 for cross-camera)
    max_cams_per_id: int = 6            # ... and at most this many (capped at cams)
    cams_per_id_decay: float = 0.6      # P(k cameras) ~ decay**(k - min): < 1 favours few cameras, as in MARS
    max_tracklets_per_cam: int = 2      # tracklets per (identity, camera): uniform in 1..this
    min_len: int = 8                    # shortest tracklet (frames)
    max_len: int = 120                  # longest tracklet (frames)
    median_len: int = 24                # median tracklet length; lengths are log-normal, clipped to [min_len, max_len]
    distractor_fraction: float = 0.2    # distractor tracklets (one-off passers-by, false detections) as a share of the
                                        # test table: pid 0 in MARS; gallery-only identities in DukeV
    junk_fraction: float = 0.07         # pid -1 tracklets (fragments, background) as a share of the test table
                                        # (real MARS: 7%); MARS layout only
    # --- identity appearance (what tells people apart) --------------------------------------------------------------
    palette_size: int = 8               # base garment colours shared by everyone (small: coarse colour is ambiguous)
    colour_jitter: float = 0.05         # per-identity jitter of garment colours (smaller than the camera colour cast)
    texture_prob: float = 0.65          # share of tops with a texture (stripes, checks, logo) rather than solid colour
    bottom_texture_prob: float = 0.2    # share of trousers/skirts with a texture
    body_variation: float = 1.0         # scale of the per-identity variation of body proportions (0 = all identical)
    backpack_prob: float = 0.3          # share with a backpack (seen from back/side; only its straps from the front)
    bag_prob: float = 0.25              # share with a shoulder bag on one hip (hidden when that hip faces away)
    hat_prob: float = 0.15              # share with a cap
    twin_rate: float = 0.2              # share of identities that belong to a near-twin pair differing in one part only
    # --- camera (what changes between cameras) ----------------------------------------------------------------------
    view_bias: float = 0.7              # probability that a tracklet shows the camera's dominant viewpoint
    gain_range: float = 0.35            # camera illumination gain in 1 +- this
    colour_cast: float = 0.15           # per-channel camera colour cast in 1 +- this
    clutter: int = 8                    # background clutter objects per camera
    blur_max: float = 1.2               # max Gaussian blur sigma (pixels at 128 px height; scaled with height)
    noise_max: float = 6.0              # max sensor noise std (grey levels of 255)
    jpeg_quality_min: int = 55          # per-camera JPEG quality drawn in [min, max]
    jpeg_quality_max: int = 92
    camera_gamma: float = 0.0           # per-camera tone curve: gamma in [1/(1+g), 1+g] (0 = linear, as before)
    camera_lowres: float = 0.0          # per-camera sensor resolution: a share in [1-this, 1] of the pixels per side,
                                        # upscaled back to the frame size (0 = full resolution, as before)
    photo_backgrounds: float = 0.0      # share of cameras whose scene is a crop of a real photo (assets/) instead of
                                        # a drawn street (0 = all drawn, as before)
    bbox_scale_jitter: float = 0.05     # per-frame relative jitter of the detection box scale
    bbox_offset_jitter: float = 0.04    # per-frame jitter of the box position (fraction of the box width/height)
    # --- time (what changes within a tracklet) ----------------------------------------------------------------------
    gait_amplitude: float = 0.45        # leg swing amplitude (radians); arms swing opposite at 0.7x
    drift: float = 0.08                 # slow drift of box offset/scale/illumination over a tracklet
    occlusion_rate: float = 0.3         # share of tracklets with an occlusion event
    occlusion_min_frac: float = 0.3     # an event covers a contiguous run of min..max of the tracklet's frames
    occlusion_max_frac: float = 1.0
    occluders: str = "pole,car,person"  # occluder kinds to draw from: pole (vertical band), car (lower band), person
    occlusion_heavy_frac: float = 0.5   # "occlusion-heavy" tracklets (an evaluation slice): >= this share occluded
    bad_detection_rate: float = 0.06    # share of tracklets with a few misaligned or empty detections
    max_bad_frames: int = 3             # at most this many bad frames in such a tracklet
    # --- extra outputs (the frames are the same with or without them) -----------------------------------------------
    foreground_masks: bool = False      # also write each frame's true foreground mask (people, not poles or cars) as
                                        # <folder>/masks/<frame name>.png, 255 = person, where real footage's masks
                                        # go (vidreid/data/masks.py): what data.background=suppress reads

    # ---------------------------------------------------------------------------------------------------------------
    @property
    def size(self) -> str:
        return f"{self.height}x{self.width}"

    def occluder_kinds(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.occluders.split(",") if k.strip())

    def to_dict(self) -> dict:
        # opt-in options at their "off" value are left out, so that datasets made before they existed keep
        # matching their synthped.json (and their render hash)
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if not (k in OPT_IN and v == OPT_IN[k])}

    def validate(self) -> "SynthPedConfig":
        def bad(msg):
            raise ConfigError(f"synthped: {msg}")

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            want = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
            if isinstance(v, bool) != (f.type == "bool") or not isinstance(v, want):
                bad(f"{f.name} must be {f.type}, got {v!r}")
        if self.ids < 4:
            bad(f"ids must be >= 4 (at least 2 train and 2 test identities), got {self.ids}")
        if self.layout not in LAYOUTS:
            bad(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        # the loaders that read SynthPed back accept the real datasets' cameras: MARS 1..6, DukeMTMC 1..8
        max_cams = MAX_CAMS[self.layout]
        if not 2 <= self.cams <= max_cams:
            bad(f"cams must be in 2..{max_cams} for the {self.layout} layout (its loader reads cameras "
                f"1..{max_cams}, as the real {'MARS' if self.layout == 'mars' else 'DukeMTMC-VideoReID'} has), "
                f"got {self.cams}")
        if self.height < 32 or self.width < 16:
            bad(f"size must be at least 32x16, got {self.size}")
        if self.seed < 0:
            bad(f"seed must be >= 0, got {self.seed}")
        n_train = round(self.ids * self.train_fraction)
        if n_train < 2 or self.ids - n_train < 2:
            bad(f"train_fraction={self.train_fraction} leaves fewer than 2 train or 2 test identities of {self.ids}")
        if not 2 <= self.min_cams_per_id <= self.max_cams_per_id:
            bad(f"need 2 <= min_cams_per_id <= max_cams_per_id, got {self.min_cams_per_id}, {self.max_cams_per_id}")
        if self.min_cams_per_id > self.cams:
            bad(f"min_cams_per_id={self.min_cams_per_id} exceeds cams={self.cams}")
        if self.max_tracklets_per_cam < 1:
            bad(f"max_tracklets_per_cam must be >= 1, got {self.max_tracklets_per_cam}")
        if not 1 <= self.min_len <= self.max_len <= 999:
            bad(f"need 1 <= min_len <= max_len <= 999 (MARS frame numbers have 3 digits), "
                f"got {self.min_len}, {self.max_len}")
        if not self.min_len <= self.median_len <= self.max_len:
            bad(f"median_len={self.median_len} must lie in [min_len, max_len] = [{self.min_len}, {self.max_len}]")
        for name in ("train_fraction", "distractor_fraction", "junk_fraction", "colour_jitter", "texture_prob",
                     "bottom_texture_prob", "backpack_prob", "bag_prob", "hat_prob", "twin_rate", "view_bias",
                     "gain_range", "colour_cast", "occlusion_rate", "occlusion_min_frac", "occlusion_max_frac",
                     "occlusion_heavy_frac", "bad_detection_rate", "cams_per_id_decay", "drift",
                     "bbox_scale_jitter", "bbox_offset_jitter", "photo_backgrounds"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                bad(f"{name} must be in [0, 1], got {v}")
        if self.distractor_fraction + self.junk_fraction >= 0.9:
            bad("distractor_fraction + junk_fraction must be < 0.9")
        if self.occlusion_min_frac > self.occlusion_max_frac:
            bad(f"occlusion_min_frac={self.occlusion_min_frac} > occlusion_max_frac={self.occlusion_max_frac}")
        if not 1 <= self.palette_size <= 12:
            bad(f"palette_size must be in 1..12, got {self.palette_size}")
        if not 1 <= self.jpeg_quality_min <= self.jpeg_quality_max <= 100:
            bad(f"need 1 <= jpeg_quality_min <= jpeg_quality_max <= 100, "
                f"got {self.jpeg_quality_min}, {self.jpeg_quality_max}")
        if not 0.0 <= self.camera_lowres <= 0.75:
            bad(f"camera_lowres must be in [0, 0.75], got {self.camera_lowres}")
        for name in ("body_variation", "blur_max", "noise_max", "gait_amplitude", "camera_gamma"):
            if getattr(self, name) < 0:
                bad(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.clutter < 0 or self.max_bad_frames < 0:
            bad("clutter and max_bad_frames must be >= 0")
        kinds = self.occluder_kinds()
        unknown = [k for k in kinds if k not in OCCLUDER_KINDS]
        if unknown or (not kinds and self.occlusion_rate > 0):
            bad(f"occluders must be a comma list of {', '.join(OCCLUDER_KINDS)}, got {self.occluders!r}")
        # pid folders are 4 digits; DukeV distractor identities are numbered after the labelled ones.
        if self.ids > 4999:
            bad(f"ids must be <= 4999 (4-digit person folders), got {self.ids}")
        return self


def parse_size(text) -> tuple[int, int]:
    """'256x128' (height x width) or a (height, width) pair -> (height, width)."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        h, w = text
    else:
        parts = str(text).lower().replace("*", "x").split("x")
        if len(parts) != 2:
            raise ConfigError(f"synthped: size must look like HEIGHTxWIDTH (e.g. 128x64), got {text!r}")
        h, w = parts
    try:
        return int(h), int(w)
    except (TypeError, ValueError):
        raise ConfigError(f"synthped: size must look like HEIGHTxWIDTH (e.g. 128x64), got {text!r}") from None


def make_config(cfg: SynthPedConfig | None = None, **overrides) -> SynthPedConfig:
    """A validated copy of cfg (default config if None) with overrides; `size="HxW"` sets height and width."""
    base = dataclasses.asdict(cfg) if cfg is not None else {}
    if "size" in overrides:
        size = overrides.pop("size")
        if size is not None:
            base["height"], base["width"] = parse_size(size)
    names = {f.name for f in dataclasses.fields(SynthPedConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"synthped: unknown option(s) {', '.join(unknown)}; known: size, {', '.join(sorted(names))}")
    base.update(overrides)
    # Coerce ints given where floats are expected (JSON/YAML round trips), so configs compare equal.
    for f in dataclasses.fields(SynthPedConfig):
        if f.type == "float" and isinstance(base.get(f.name), int) and not isinstance(base.get(f.name), bool):
            base[f.name] = float(base[f.name])
    return SynthPedConfig(**base).validate()
