"""The plan of a SynthPed dataset: identities, splits, tracklets and every per-tracklet event, fixed before rendering.

All randomness here comes from generators seeded by (global seed, stream, key) so that the plan, and therefore every
file, depends on the config only (not on worker count or scheduling); each identity and each extra tracklet has its
own stream, so e.g. changing one identity's tracklets does not reshuffle the others.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError
from .appearance import Person, make_twin, sample_palette, sample_person
from .config import S_DISTRACTOR, S_IDENTITY, S_JUNK, S_PALETTE, S_QUERY, S_SPLIT, S_TRACKLETS
from .render import VIEWS, Camera, TrackletPlan, make_cameras

# car paints: white, black, silver, grey, dark blue, dark red, beige
CAR_COLOURS = ((0.88, 0.88, 0.86), (0.07, 0.07, 0.08), (0.66, 0.68, 0.70), (0.35, 0.36, 0.38), (0.10, 0.16, 0.35),
               (0.50, 0.08, 0.08), (0.72, 0.66, 0.52))


@dataclass
class Plan:
    cfg: object
    palette: tuple
    cameras: list[Camera]
    persons: dict[int, Person]                  # labelled pid -> appearance
    train_pids: list[int]
    test_pids: list[int]
    twins: dict[int, tuple[int, str]]           # twin pid -> (pid it copies, the one part that differs)
    train: list[TrackletPlan]                   # in table order
    test: list[TrackletPlan]                    # in table order (MARS: -1, 0, then test ids; DukeV: ids, distractors)
    query: list[int] = field(default_factory=list)  # indices into `test` of the query tracklets, in query order


def _length(rng, cfg) -> int:
    n = math.exp(math.log(cfg.median_len) + 0.6 * rng.normal())
    return int(np.clip(round(n), cfg.min_len, cfg.max_len))


def _occlusion(rng, cfg, n_frames: int) -> dict:
    kind = cfg.occluder_kinds()[int(rng.integers(len(cfg.occluder_kinds())))]
    frac = rng.uniform(cfg.occlusion_min_frac, cfg.occlusion_max_frac)
    run = int(np.clip(round(frac * n_frames), 1, n_frames))
    start = int(rng.integers(0, n_frames - run + 1))
    occ = {"kind": kind, "start": start, "end": start + run}
    aspect = cfg.height / cfg.width
    if kind == "pole":
        x0 = rng.uniform(0.3, 0.7)
        x1 = float(np.clip(x0 + rng.uniform(-0.2, 0.2), 0.15, 0.85))
        width = rng.uniform(0.18, 0.32)
        grey = rng.uniform(0.2, 0.7)
        occ.update(x0=round(x0, 4), x1=round(x1, 4), width=round(width, 4),
                   colour=[round(grey * t, 4) for t in rng.uniform(0.85, 1.1, 3)],
                   band=["x", round(max(0.0, min(x0, x1) - width / 2), 4), round(min(1.0, max(x0, x1) + width / 2), 4)])
    elif kind == "car":
        y0 = rng.uniform(0.5, 0.72)
        base = np.asarray(CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))])
        colour = np.clip(base + rng.uniform(-0.05, 0.05, 3), 0.0, 1.0)
        occ.update(y0=round(y0, 4), speed=round(rng.uniform(-0.5, 0.5), 4),
                   colour=[round(float(c), 4) for c in colour], band=["y", round(y0, 4), 1.0])
    else:  # another pedestrian in front, covering one side of the body
        sgn = 1 if rng.random() < 0.5 else -1
        x0 = 0.5 + sgn * rng.uniform(0.3, 0.5)
        x1 = x0 + rng.uniform(-0.1, 0.1)
        scale = rng.uniform(1.0, 1.15)
        half = 0.13 * aspect * scale   # half-width of a figure (shoulders + arms) as a share of the frame width
        occ.update(x0=round(x0, 4), x1=round(x1, 4), scale=round(scale, 4),
                   band=["x", round(max(0.0, min(x0, x1) - half), 4), round(min(1.0, max(x0, x1) + half), 4)])
    return occ


def _bad_frames(rng, cfg, n_frames: int) -> tuple:
    if cfg.max_bad_frames < 1 or n_frames < 3 or rng.random() >= cfg.bad_detection_rate:
        return ()
    k = int(min(rng.integers(1, cfg.max_bad_frames + 1), n_frames - 1))
    out = []
    for f in sorted(int(x) for x in rng.choice(n_frames, k, replace=False)):
        if rng.random() < 0.3:
            out.append((f, "empty", 0.0, 0.0, 1.0))
        else:
            out.append((f, "shift", round(float(rng.choice([-1, 1]) * rng.uniform(0.25, 0.5)), 4),
                        round(float(rng.uniform(-0.25, 0.25)), 4), round(float(rng.uniform(0.6, 1.4)), 4)))
    return tuple(out)


def _tracklet(rng, cfg, cam: Camera, split, kind, pid, person, occludable=True) -> TrackletPlan:
    n = _length(rng, cfg)
    if rng.random() < cfg.view_bias:
        view = cam.dominant_view
    else:
        others = [v for v in VIEWS if v != cam.dominant_view]
        view = others[int(rng.integers(len(others)))]
    direction = 1 if rng.random() < 0.5 else -1
    occ = _occlusion(rng, cfg, n) if occludable and rng.random() < cfg.occlusion_rate else None
    bad = _bad_frames(rng, cfg, n)
    return TrackletPlan(uid=-1, split=split, kind=kind, pid=pid, cam=cam.index, number=0, n_frames=n, person=person,
                        view=view, direction=direction, occlusion=occ, bad_frames=bad)


def build_plan(cfg) -> Plan:
    palette = sample_palette(np.random.default_rng([cfg.seed, S_PALETTE]), cfg.palette_size)
    cameras = make_cameras(cfg)
    pids = np.arange(1, cfg.ids + 1)
    order = np.random.default_rng([cfg.seed, S_SPLIT]).permutation(pids)
    n_train = int(round(cfg.ids * cfg.train_fraction))
    train_pids, test_pids = sorted(int(p) for p in order[:n_train]), sorted(int(p) for p in order[n_train:])

    persons = {int(p): sample_person(np.random.default_rng([cfg.seed, S_IDENTITY, int(p)]), palette, cfg)
               for p in pids}
    twins: dict[int, tuple[int, str]] = {}
    for k, group in enumerate((train_pids, test_pids)):
        rng = np.random.default_rng([cfg.seed, S_SPLIT, k + 1])
        n_pairs = int(round(cfg.twin_rate * len(group) / 2))
        shuffled = [int(p) for p in rng.permutation(group)]
        for i in range(n_pairs):
            base, twin = shuffled[2 * i], shuffled[2 * i + 1]
            persons[twin], part = make_twin(persons[base], np.random.default_rng([cfg.seed, S_IDENTITY, twin, 1]),
                                            palette, cfg)
            twins[twin] = (base, part)

    # tracklets of labelled identities: 2..6 cameras each, 1..k tracklets per camera
    ks = np.arange(cfg.min_cams_per_id, min(cfg.max_cams_per_id, cfg.cams) + 1)
    pk = cfg.cams_per_id_decay ** (ks - ks[0]).astype(np.float64)
    pk = pk / pk.sum()
    tracks: dict[str, list[TrackletPlan]] = {"train": [], "test": []}
    for split, group in (("train", train_pids), ("test", test_pids)):
        for pid in group:
            rng = np.random.default_rng([cfg.seed, S_TRACKLETS, pid])
            n_cams = int(rng.choice(ks, p=pk))
            cams = sorted(int(c) for c in rng.choice(cfg.cams, n_cams, replace=False))
            for c in cams:
                for _ in range(int(rng.integers(1, cfg.max_tracklets_per_cam + 1))):
                    tracks[split].append(_tracklet(rng, cfg, cameras[c], split, "id", pid, persons[pid]))

    # test extras: distractors (pid 0 in MARS; one-off identities in DukeV) and junk (pid -1, MARS only)
    n_id_test = len(tracks["test"])
    junk_frac = cfg.junk_fraction if cfg.layout == "mars" else 0.0
    total = n_id_test / (1.0 - cfg.distractor_fraction - junk_frac)
    n_distractors, n_junk = int(round(cfg.distractor_fraction * total)), int(round(junk_frac * total))
    if cfg.layout == "dukev" and cfg.ids + n_distractors > 9999:
        raise ConfigError(f"synthped: {cfg.ids} ids + {n_distractors} distractor ids exceed 4-digit DukeV folders; "
                          "lower ids or distractor_fraction")
    extras = []
    for i in range(n_distractors):
        rng = np.random.default_rng([cfg.seed, S_DISTRACTOR, i])
        cam = cameras[int(rng.integers(cfg.cams))]
        person = sample_person(rng, palette, cfg)
        pid = 0 if cfg.layout == "mars" else cfg.ids + 1 + i
        t = _tracklet(rng, cfg, cam, "test", "distractor", pid, person)
        if rng.random() < 0.5:  # a false detection: part of a passer-by, badly framed
            t.scale = round(float(rng.uniform(1.3, 2.0)), 4)
            t.offset = (round(float(rng.uniform(-0.3, 0.3)), 4), round(float(rng.uniform(-0.35, 0.35)), 4))
        extras.append(t)
    for i in range(n_junk):
        rng = np.random.default_rng([cfg.seed, S_JUNK, i])
        cam = cameras[int(rng.integers(cfg.cams))]
        person = sample_person(rng, palette, cfg) if rng.random() < 0.5 else None  # None: background only
        t = _tracklet(rng, cfg, cam, "test", "junk", -1, person, occludable=False)
        t.scale = round(float(rng.uniform(1.8, 3.0)), 4)
        t.offset = (round(float(rng.uniform(-0.4, 0.4)), 4), round(float(rng.uniform(-0.6, 0.6)), 4))
        extras.append(t)

    # table order: (pid, camera, creation order); MARS puts pid -1 rows first, then 0, then the test ids
    def key(t):
        return (t.pid, t.cam)

    train = sorted(tracks["train"], key=key)
    if cfg.layout == "mars":
        test = sorted(tracks["test"] + extras, key=key)
    else:
        test = sorted(tracks["test"], key=key) + sorted(extras, key=key)
    counter: dict = defaultdict(int)
    for uid, t in enumerate(train + test):
        t.uid = uid
        counter[(t.split, t.pid, t.cam)] += 1
        t.number = counter[(t.split, t.pid, t.cam)]
    if any(n > 9999 for n in counter.values()):
        raise ConfigError("synthped: more than 9999 tracklets in one (pid, camera) group; lower distractor_fraction")

    plan = Plan(cfg=cfg, palette=palette, cameras=cameras, persons=persons, train_pids=train_pids,
                test_pids=test_pids, twins=twins, train=train, test=test)
    plan.query = mars_query_rows(test) if cfg.layout == "mars" else _dukev_queries(cfg, test)
    return plan


def mars_query_rows(test: list[TrackletPlan]) -> list[int]:
    """MARS' rule, checked on the real tables: the last row of each (pid > 0, camera) group of the test table, for
    identities seen by at least two cameras. Returns 0-based indices into `test`."""
    last: dict = {}
    cams: dict = defaultdict(set)
    for i, t in enumerate(test):
        if t.pid > 0:
            last[(t.pid, t.cam)] = i
            cams[t.pid].add(t.cam)
    return sorted(i for (pid, _), i in last.items() if len(cams[pid]) >= 2)


def _dukev_queries(cfg, test: list[TrackletPlan]) -> list[int]:
    """DukeMTMC-VideoReID: one randomly chosen tracklet per test identity is the query (in pid order)."""
    by_pid: dict = defaultdict(list)
    for i, t in enumerate(test):
        if t.kind == "id":
            by_pid[t.pid].append(i)
    rng = np.random.default_rng([cfg.seed, S_QUERY])
    return [rows[int(rng.integers(len(rows)))] for _, rows in sorted(by_pid.items())]
