"""Itinerary scenes (`vidreid synth --scenes --itinerary`): one clock, routes with transit times, near-twins,
detector noise, and the default scenes unchanged."""
import json
from dataclasses import asdict

import numpy as np
import pytest

from vidreid.cli import main
from vidreid.data.synthped.scenes import SceneConfig, detector_noise, pass_track, plan_itinerary, plan_passes
from vidreid.tracking.detectors import read_mot_file
from vidreid.tracking.footage import load_footage


def _visits(passes, cfg):
    """pid -> [(first frame, last frame, camera)] in time order."""
    out = {}
    for p in passes:
        f = pass_track(p, cfg, 1.0)["frames"]
        if len(f):
            out.setdefault(p.pid, []).append((int(f[0]), int(f[-1]), p.cam))
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_routes_never_two_cameras_at_once_and_respect_transit(seed):
    cfg = SceneConfig(cams=4, ids=40, frames=500, height=144, width=256, seed=seed, itinerary=True, transit=5)
    visits = _visits(plan_itinerary(cfg), cfg)
    gaps = []
    for v in visits.values():
        cams = [c for _, _, c in v]
        assert len(set(cams)) == len(cams)                               # one pass per camera of the route
        assert all(abs(b - a) == 1 for a, b in zip(cams, cams[1:]))      # walking along the line of cameras
        for (s0, e0, c0), (s1, e1, c1) in zip(v, v[1:]):
            gaps.append((s1 - e0) - cfg.transit * abs(c1 - c0) * cfg.fps)
    assert gaps and min(gaps) >= 1                                       # left + transit, then the next view
    counts = np.array([len(v) for v in visits.values()])
    assert (counts == 1).any() and (counts >= 3).any()                   # single-camera persons and long routes


def test_itinerary_knobs_leave_the_default_scenes_alone():
    base = SceneConfig(cams=3, ids=10, frames=120, seed=5)
    other = SceneConfig(cams=3, ids=10, frames=120, seed=5, transit=30, single_cam_share=0.9)
    assert [asdict(p) for p in plan_passes(base)] == [asdict(p) for p in plan_passes(other)]
    # the independent clocks do put one person in two cameras at once; the itinerary never does
    overlap = lambda vs: any(a[1] >= b[0] for v in vs.values() for a, b in zip(v, v[1:]))
    assert overlap(_visits(plan_passes(SceneConfig(cams=4, ids=30, frames=200, seed=1)), base))


def test_detector_noise():
    cfg = SceneConfig(frames=100, det_jitter=0.1, det_miss=0.3, det_false=0.5)
    gt = np.column_stack([np.arange(1, 101), np.ones(100), np.full(100, 50.0), np.full(100, 60.0),
                          np.full(100, 40.0), np.full(100, 100.0), np.ones((100, 3))])
    det = detector_noise(gt, cfg, 1)
    true = det[np.abs(det[:, 2] - 50) < 30]
    assert 55 <= len(true) <= 85                                         # ~70 kept of 100
    assert 0.02 < np.std(true[:, 5] - 100) / 100 < 0.3                   # jittered heights
    assert 25 <= len(det) - len(true) <= 80                              # ~50 false boxes
    assert (det[:, 1] == -1).all() and (np.diff(det[:, 0]) >= 0).all()
    np.testing.assert_array_equal(detector_noise(gt, SceneConfig(), 1)[:, 2:6], gt[:, 2:6])   # default: oracle


def test_rendered_itinerary_scene(tmp_path):
    out = tmp_path / "s"
    assert main(["synth", "--scenes", "--itinerary", "--cams", "3", "--ids", "8", "--frames", "160", "--size",
                 "96x160", "--seed", "2", "--twin-share", "0.5", "--transit", "2", "--quiet", "--out", str(out)]) == 0
    doc = json.load(open(out / "scenes.json"))
    assert doc["config"]["itinerary"] and doc["twins"]
    f = load_footage(str(out / "footage.yaml"))
    assert f.cameras == ["cam1", "cam2", "cam3"] and f.transit_matrix(f.cameras)[0, 2] == 4
    spans = {}                                                           # (pid) -> [(first, last, cam)] from gt.txt
    for c in (1, 2, 3):
        gt = read_mot_file(str(out / f"cam{c}" / "gt" / "gt.txt"))
        for pid in np.unique(gt[:, 1]).astype(int):
            fr = gt[gt[:, 1] == pid, 0]
            spans.setdefault(pid, []).append((fr.min(), fr.max(), c))
    for v in spans.values():                                             # the ground truth keeps the clock
        v.sort()
        for (s0, e0, c0), (s1, e1, c1) in zip(v, v[1:]):
            assert s1 - e0 >= 2 * abs(c1 - c0) * 10
    assert all(int(k) > v for k, v in doc["twins"].items())


def test_near_twins_same_clothes_other_body():
    from vidreid.data.synthped import SynthPedConfig
    from vidreid.data.synthped.appearance import sample_palette, sample_person
    from vidreid.data.synthped.scenes import CLOTHES, dress_twins
    scfg = SynthPedConfig()
    palette = sample_palette(np.random.default_rng(0), scfg.palette_size)
    persons = {p: sample_person(np.random.default_rng([0, p]), palette, scfg) for p in range(1, 21)}
    before = dict(persons)
    twins = dress_twins(SceneConfig(ids=20, twin_share=0.3), persons)
    assert 2 <= len(twins) <= 12
    for t, src in twins.items():
        assert src not in twins and all(getattr(persons[t], k) == getattr(persons[src], k) for k in CLOTHES)
        assert persons[t].gait_period == before[t].gait_period and persons[t].skin == before[t].skin
        assert persons[t].top != before[t].top or persons[t].bottom != before[t].bottom
    assert all(persons[p] is before[p] for p in persons if p not in twins)
