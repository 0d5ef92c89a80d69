"""Readable search scores: feature centring stored in the index, the per-hit percentile and the calibrated
same-person probability (vidreid/search/calibration.py), in the CLI table, the JSON and the HTML page."""
import json
import os

import numpy as np
import pytest

from vidreid.search.calibration import (Calibration, _pool_adjacent_violators, calibration_pairs, center_features,
                                        fit_calibration, identity_folds, reliability)


# ------------------------------------------------------------------------------------------------ calibration maths
def test_reliability_and_ece_by_hand():
    # bin [0.1, 0.2): predictions 0.1, 0.1, observed 0 of 2; bin [0.9, 1]: 0.9, 0.9, observed 1 of 2
    r = reliability([0.1, 0.1, 0.9, 0.9], [0, 0, 1, 0])
    assert r["count"][1] == 2 and r["count"][9] == 2 and sum(r["count"]) == 4
    assert r["observed"][1] == 0 and r["observed"][9] == 0.5
    assert r["ece"] == pytest.approx((2 * 0.1 + 2 * 0.4) / 4)


def test_pool_adjacent_violators_makes_rates_non_increasing():
    np.testing.assert_allclose(_pool_adjacent_violators(np.array([0.1, 0.5, 0.3]), np.ones(3)), [0.3, 0.3, 0.3])
    np.testing.assert_allclose(_pool_adjacent_violators(np.array([0.9, 0.2, 0.4, 0.0]), np.array([1., 1., 3., 1.])),
                               [0.9, 0.35, 0.35, 0.0])


def test_calibration_recovers_a_known_probability_and_is_calibrated_on_fresh_pairs():
    """Pairs with P(same | d) = 1 - d: the fit predicts 1 - d, and on new pairs its reliability error is small."""
    rng = np.random.default_rng(0)
    d = rng.random(40000)
    same = rng.random(40000) < 1 - d
    cal = fit_calibration(d, same)
    grid = np.linspace(0.05, 0.95, 10)
    np.testing.assert_allclose(cal.predict(grid), 1 - grid, atol=0.04)
    assert np.all(np.diff(cal.probability) <= 0)
    d2 = rng.random(40000)
    same2 = rng.random(40000) < 1 - d2
    assert reliability(cal.predict(d2), same2)["ece"] < 0.02
    # a probability the wrong way round (P = d) is caught by the same check
    assert reliability(d2, same2)["ece"] > 0.4
    assert Calibration.from_dict(cal.to_dict()).predict(0.3) == pytest.approx(cal.predict(0.3))


def test_calibration_pairs_leave_out_junk_and_keep_the_nearest():
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    q_pids, q_cams = np.array([7]), np.array([0])
    g_pids, g_cams = np.array([7, 7, -1, 3]), np.array([0, 1, 1, 1])    # same camera = junk; pid -1 = junk
    d, y = calibration_pairs(dist, q_pids, g_pids, q_cams, g_cams)
    assert d.tolist() == [0.2, 0.4] and y.tolist() == [True, False]
    d, y = calibration_pairs(dist, q_pids, g_pids, q_cams, g_cams, top=1)
    assert d.tolist() == [0.2] and y.tolist() == [True]


def test_identity_folds_keep_a_person_on_one_side():
    pids = np.array([1, 1, 2, 3, 3, 3, 4, 5])
    folds = identity_folds(pids, 2)
    for fit, held in folds:
        assert not set(pids[fit]) & set(pids[held]) and len(fit) + len(held) == len(pids)


def test_centring_spreads_a_narrow_cone():
    rng = np.random.default_rng(0)
    x = 5 + rng.random((50, 16))                                  # non-negative features: one narrow cone
    plain = 1 - center_features(x, np.zeros(16)).features @ center_features(x, np.zeros(16)).features.T
    c = center_features(x)
    centred = 1 - c.features @ c.features.T
    assert plain.max() < 0.05 and centred.max() > 1.0
    np.testing.assert_allclose(np.linalg.norm(c.features, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(c.mean, (x / np.linalg.norm(x, axis=1, keepdims=True)).mean(0), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ index and search
faiss = pytest.importorskip("faiss", reason="search needs faiss-cpu")
from tests.test_search import CAMS, TRACKS, cli, make_checkpoint, make_gallery  # noqa: E402


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A checkpoint, its gallery, a calibration.json of its model (as `vidreid eval` writes it, in
    <run dir>/eval/<name>/) and a centred index built with it (found automatically)."""
    from vidreid.cli import main
    from vidreid.search.extractor import FeatureExtractor
    root = tmp_path_factory.mktemp("scores")
    ck = make_checkpoint(root / "tp.safetensors")
    gallery = make_gallery(root / "gallery")
    model_hash = FeatureExtractor(ck).model_hash
    curve = {"distance": [0.0, 0.5, 1.0, 2.0], "probability": [0.9, 0.4, 0.1, 0.0], "pairs": 100, "positives": 10}
    doc = {"format": "vidreid-calibration", "model_hash": model_hash,
           "plain": {**curve, "centred": False}, "centred": {**curve, "centred": True}}
    os.makedirs(root / "eval" / "best-mars")
    with open(root / "eval" / "best-mars" / "calibration.json", "w") as f:
        json.dump(doc, f)
    index = str(root / "centred")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", gallery, "--out", index, "--center", "on",
                 "--no-progress"]) == 0
    plain = str(root / "plain")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", gallery, "--out", plain, "--center", "off",
                 "--calibration", "none", "--no-progress"]) == 0
    return {"root": root, "ck": ck, "gallery": gallery, "index": index, "plain": plain, "curve": curve,
            "doc": doc}


def test_centred_index_stores_its_mean_and_applies_it_to_probes(scored):
    from vidreid.search.index import GalleryIndex
    from vidreid.search.searcher import Searcher
    gi = GalleryIndex.load(scored["index"])
    assert gi.header["centred"] is True and gi.centre_mean.shape == (gi.dim,)
    assert gi.header["calibration"]["source"].endswith(os.path.join("best-mars", "calibration.json"))
    probe = os.path.join(scored["gallery"], "cam2", "t001")
    hits = Searcher(scored["ck"], index=gi).search(probe, top=CAMS * TRACKS)
    assert hits[0].tracklet == "cam2/t001" and hits[0].distance < 1e-4       # the probe finds itself
    plain = Searcher(scored["ck"], index=scored["plain"]).search(probe, top=CAMS * TRACKS)
    assert plain[-1].distance < 0.05 < hits[-1].distance                     # centring spreads the distances
    # the stored features are the gallery's centred ones: the mean of the plain ones, subtracted
    plain_gi = GalleryIndex.load(scored["plain"])
    stored = plain_gi._flat_vectors()
    np.testing.assert_allclose(gi.centre_mean, stored.mean(0), atol=1e-6)
    np.testing.assert_allclose(gi._flat_vectors(), center_features(stored, stored.mean(0)).features, atol=1e-5)


def test_index_add_keeps_the_centring_mean(scored, tmp_path):
    import shutil

    from vidreid.cli import main
    from vidreid.search.index import GalleryIndex
    index = str(tmp_path / "idx")
    shutil.copytree(scored["index"], index)
    before = GalleryIndex.load(index).centre_mean.copy()
    more = make_gallery(tmp_path / "more", cams=1, tracks=2, key0=500)
    assert main(["index", "add", "--index", index, "--gallery", more, "--no-progress"]) == 0
    gi = GalleryIndex.load(index)
    assert len(gi) == CAMS * TRACKS + 2 and np.array_equal(gi.centre_mean, before)


def test_search_shows_percentile_and_probability_in_table_json_and_html(scored, tmp_path, capsys):
    from vidreid.search.index import format_percentile
    probe = os.path.join(scored["gallery"], "cam1", "t002")
    page = str(tmp_path / "page.html")
    code, out, _ = cli("search", "--index", scored["index"], "--probe", probe, "--top", 5, "--html", page,
                       "--no-attention", capsys=capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    curve = scored["curve"]
    for r in rows:
        assert float(r[3]) == pytest.approx(np.interp(float(r[1]), curve["distance"], curve["probability"]),
                                            abs=0.006)
    code, out, _ = cli("search", "--index", scored["index"], "--probe", probe, "--top", 5, "--json", capsys=capsys)
    doc = json.loads(out)
    hits = doc["hits"]
    n = CAMS * TRACKS
    assert [h["percentile"] for h in hits] == pytest.approx([100 * k / n for k in range(1, 6)])
    assert all(0 <= h["probability"] <= 0.9 for h in hits) and hits[0]["probability"] == pytest.approx(0.9, abs=1e-3)
    assert "centred" in doc["distance"]
    # excluding the probe's camera: percentiles among the tracklets searched
    code, out, _ = cli("search", "--index", scored["index"], "--probe", probe, "--top", 2, "--json",
                       "--exclude-same-camera", "--camera", "cam1", capsys=capsys)
    assert [h["percentile"] for h in json.loads(out)["hits"]] == pytest.approx([100 / (n - TRACKS),
                                                                               200 / (n - TRACKS)])
    html = open(page).read()
    assert "same person <b>90%</b>" in html and f"top {format_percentile(100 / n)} of the gallery" in html


def test_calibration_of_another_model_is_refused(scored, tmp_path, capsys):
    doc = dict(scored["doc"], model_hash="0" * 64)
    path = tmp_path / "other.json"
    path.write_text(json.dumps(doc))
    code, _, err = cli("index", "build", "--checkpoint", scored["ck"], "--gallery", scored["gallery"], "--out",
                       tmp_path / "idx", "--calibration", path, "--no-progress", capsys=capsys)
    assert code == 2 and "another model" in err and not os.path.exists(tmp_path / "idx")
