"""SynthPed: a deterministic, procedurally rendered multi-camera video re-ID dataset written in real layouts.

`generate_synthped(out, cfg, workers, progress, **overrides)` renders a dataset in the MARS layout (bbox_train/,
bbox_test/, info/ with the real .mat variable names, dtypes and shapes) or the DukeMTMC-VideoReID layout
(train/ query/ gallery/), so the real loaders read it. `ensure_synthped(root, **options)` reuses a complete dataset
made with the same options (recorded in root/synthped.json) and regenerates otherwise.

What makes it hard, each a knob of SynthPedConfig: identities differ mostly by fine details (textures, a one-part
difference between near-twins, accessories seen from some viewpoints only); cameras differ in viewpoint, light, colour
cast, background, blur, noise, JPEG quality and box jitter; tracklets have gait, drift, occlusion events (pole, car,
another pedestrian over a band of the body for a run of frames) and a few misaligned or empty detections.
synthped.json also lists per-tracklet events (e.g. the occlusion-heavy test rows/queries) for evaluation slices.
"""
from .config import SynthPedConfig, make_config, parse_size
from .writer import MARKER, ensure_synthped, format_stats, generate_synthped, read_marker

__all__ = ["SynthPedConfig", "generate_synthped", "ensure_synthped", "make_config", "parse_size", "format_stats",
           "read_marker", "MARKER"]
