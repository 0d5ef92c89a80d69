"""Pictures from eval and training (vidreid/viz/plots.py) and the numbers they show: the per-camera-pair metrics
against a plain per-query reference, the ranked-list query choice, and every PNG opened (size, not blank)."""
import json
import os

import numpy as np
import pytest

from vidreid.cli import main
from vidreid.eval.camera_pairs import camera_pair_metrics
from vidreid.viz.plots import pick_ranked_queries


def assert_picture(path, min_w=200, min_h=150):
    """The PNG exists, has a sensible size and is not blank (many distinct colours, real contrast)."""
    from PIL import Image
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] >= min_w and im.size[1] >= min_h, (path, im.size)
        px = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert px.std() > 10, f"{path} looks blank"
    assert len(np.unique(px.reshape(-1, 3)[::7], axis=0)) > 20, f"{path} has almost no colours"


# ------------------------------------------------------------------------------------------------ camera pairs
def reference_camera_pairs(dist, q_pids, g_pids, q_cams, g_cams):
    """Plain per-query loop, gao rules (junk = same pid and camera; AP = mean precision at the hits)."""
    qc, gc = np.unique(q_cams), np.unique(g_cams)
    r1, ap = np.full((len(qc), len(gc)), np.nan), np.full((len(qc), len(gc)), np.nan)
    for i, a in enumerate(qc):
        for j, b in enumerate(gc):
            r1s, aps = [], []
            for q in np.flatnonzero(q_cams == a):
                cols = [g for g in np.argsort(dist[q], kind="stable") if g_cams[g] == b
                        and not (g_pids[g] == q_pids[q] and g_cams[g] == q_cams[q])]
                match = np.array([g_pids[g] == q_pids[q] for g in cols])
                if not match.any():
                    continue
                r1s.append(float(match[0]))
                hits = np.flatnonzero(match)
                aps.append(np.mean((np.arange(len(hits)) + 1) / (hits + 1)))
            if r1s:
                r1[i, j], ap[i, j] = np.mean(r1s), np.mean(aps)
    return r1, ap


def test_camera_pairs_hand_checked():
    """2 cameras. Query 0 (id 1, cam 0) sees in cam 1: id 2 at 0.1, id 1 at 0.2 -> R1 0, AP 1/2. Query 1 (id 2,
    cam 1) sees in cam 0: id 2 at 0.3, id 1 at 0.4 -> R1 1, AP 1. Same-camera cells have no true match: NaN."""
    g_pids, g_cams = np.array([1, 2, 2, 1]), np.array([1, 1, 0, 0])
    q_pids, q_cams = np.array([1, 2]), np.array([0, 1])
    dist = np.array([[0.2, 0.1, 0.5, 0.0],
                     [0.9, 0.0, 0.3, 0.4]])
    p = camera_pair_metrics(dist, q_pids, g_pids, q_cams, g_cams, "gao")
    assert p["query_cameras"].tolist() == [0, 1] and p["gallery_cameras"].tolist() == [0, 1]
    assert np.isnan(p["r1"][0, 0]) and np.isnan(p["r1"][1, 1]) and np.isnan(p["mAP"][0, 0])
    assert p["r1"][0, 1] == 0 and p["mAP"][0, 1] == 0.5
    assert p["r1"][1, 0] == 1 and p["mAP"][1, 0] == 1
    assert p["queries"].tolist() == [[0, 1], [1, 0]]


def test_camera_pairs_match_a_per_query_reference():
    rng = np.random.default_rng(3)
    q_pids, q_cams = rng.integers(0, 6, 40), rng.integers(0, 3, 40)
    g_pids, g_cams = rng.integers(0, 6, 70), rng.integers(0, 4, 70)
    dist = rng.random((40, 70)).round(2)                                     # ties included
    p = camera_pair_metrics(dist, q_pids, g_pids, q_cams, g_cams, "gao")
    r1, ap = reference_camera_pairs(dist, q_pids, g_pids, q_cams, g_cams)
    np.testing.assert_allclose(p["r1"], r1, equal_nan=True)
    np.testing.assert_allclose(p["mAP"], ap, equal_nan=True)


def test_pick_ranked_queries_shows_hits_and_failures():
    first = np.array([1, 1, 1, 1, 3, 0, 1, 2, 1, 1])
    rows = pick_ranked_queries(first, 4)
    assert len(rows) == 4 and sum(first[rows] == 1) == 2 and sum(first[rows] != 1) == 2
    assert pick_ranked_queries(np.ones(5, int), 3) == [0, 2, 4]              # only hits: spread over them
    assert len(pick_ranked_queries(first, 50)) == 10


# ------------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def trained_run(tiny_synthped, tmp_path_factory):
    """A tiny finished run (1 epoch of 3 steps) through `vidreid train`: -> run dir."""
    from tests.conftest import tiny_train_overrides
    out = str(tmp_path_factory.mktemp("pictures") / "run")
    demo = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")
    overrides = tiny_train_overrides(tiny_synthped, out, **{"train.epochs": 2, "train.iters_per_epoch": 2,
                                                            "train.eval_every": 1})
    assert main(["train", "--config", demo, "--no-progress", *overrides]) == 0
    return out


def test_train_draws_training_curves_and_plot_redraws_them(trained_run, tmp_path, capsys):
    assert_picture(os.path.join(trained_run, "training.png"), 400, 500)
    out = str(tmp_path / "again.png")
    assert main(["plot", trained_run, "--out", out]) == 0
    assert_picture(out, 400, 500)
    capsys.readouterr()
    assert main(["plot", trained_run, "--out", out]) == 2                     # no clobbering without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2                                  # not a run directory
    own = os.path.join(trained_run, "training.png")                         # the run's own picture: redrawn
    assert main(["plot", trained_run]) == 0 and capsys.readouterr().out.strip() == own
    assert_picture(own, 400, 500)


def test_eval_writes_pictures_and_calibration(trained_run, tmp_path, capsys):
    ck = os.path.join(trained_run, "checkpoints", "last.safetensors")
    out, js = str(tmp_path / "eval"), str(tmp_path / "eval.json")
    assert main(["eval", "--checkpoint", ck, "--out", out, "--json", js, "--no-cache", "--no-progress",
                 "--ranked", "4"]) == 0
    printed = capsys.readouterr()
    assert "camera_pairs" in printed.out and "frame/s" not in printed.err      # --no-progress: no progress lines
    assert_picture(os.path.join(out, "cmc.png"))
    assert_picture(os.path.join(out, "ranked.png"), 300, 4 * 32)
    assert_picture(os.path.join(out, "camera_pairs.png"))
    assert_picture(os.path.join(out, "reliability.png"))
    doc = json.load(open(js))
    assert set(doc["figures"]) >= {"cmc", "ranked", "camera_pairs", "reliability", "calibration"}
    pairs = doc["camera_pairs"]
    assert len(pairs["r1"]) == 3 and all(pairs["r1"][i][i] is None for i in range(3))   # 3 cameras, no diagonal
    # held-out calibration error on SynthPed (fitted on half the query identities, checked on the other half)
    assert 0 <= doc["calibration_ece"]["all pairs"] < 0.05 and 0 <= doc["calibration_ece"]["top 20"] < 0.1
    cal = json.load(open(os.path.join(out, "calibration.json")))
    assert len(cal["model_hash"]) == 64 and cal["plain"]["pairs"] > 0 and cal["centred"]["centred"] is True
    for part in ("plain", "centred"):
        p = np.array(cal[part]["probability"])
        assert np.all(np.diff(p) <= 1e-12) and p.min() >= 0 and p.max() <= 1   # non-increasing in distance
    # the same --out again: refused without --overwrite (an earlier eval's files are not replaced)
    assert main(["eval", "--checkpoint", ck, "--out", out, "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # default folder: <run dir>/eval/<checkpoint>-<protocol>, numbered when taken
    for expected in ("last-mars", "last-mars-2"):
        assert main(["eval", "--checkpoint", ck, "--no-progress", "--ranked", "0"]) == 0
        assert os.path.isfile(os.path.join(trained_run, "eval", expected, "cmc.png"))
        assert not os.path.exists(os.path.join(trained_run, "eval", expected, "ranked.png"))
