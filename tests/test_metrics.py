"""vidreid.eval.evaluate against plain per-query references, and vidreid.eval.distance against brute force.

`reference_evaluate` is also used by benchmarks/eval_speed.py to check the `mars` protocol at full size.
"""
import importlib

import numpy as np
import pytest
import torch

from vidreid.errors import ConfigError
from vidreid.eval import distance, evaluate

distance_module = importlib.import_module("vidreid.eval.distance")  # the package attribute is the function


# ------------------------------------------------------------------------------------------------ references

def _matlab_compute_ap(good_image, junk_image, index):
    """Line-by-line transliteration of compute_AP.m from the official MARS code (0-based indices).
    Returns (ap, cmc) with cmc over the whole list; ap is NaN for ngood = 0, as in MATLAB (0/0)."""
    cmc = np.zeros(len(index))
    ngood = len(good_image)
    old_recall, old_precision, ap, intersect_size, j, good_now, njunk = 0.0, 1.0, 0.0, 0.0, 0, 0, 0
    for n in range(len(index)):
        flag = False
        if index[n] in good_image:
            cmc[n - njunk:] = 1
            flag = True
            good_now += 1
        if index[n] in junk_image:
            njunk += 1
            continue
        if flag:
            intersect_size += 1
        recall = intersect_size / ngood if ngood else float("nan")
        precision = intersect_size / (j + 1)
        ap += (recall - old_recall) * ((old_precision + precision) / 2)
        old_recall, old_precision = recall, precision
        j += 1
        if good_now == ngood:
            return ap, cmc
    return ap, cmc


def reference_evaluate(dist, q_pids, g_pids, q_camids, g_camids, protocol, max_rank=50):
    """One query at a time, from the formulas: stable argsort, drop junk, score the hits."""
    cmcs, aps, inps = [], [], []
    for q in range(dist.shape[0]):
        order = np.argsort(dist[q], kind="stable")  # ties: gallery order
        same_pid = g_pids[order] == q_pids[q]
        same_cam = g_camids[order] == q_camids[q]
        junk = same_pid & same_cam
        if protocol == "mars":
            junk |= g_pids[order] == -1
        hits = (same_pid & ~same_cam & ~junk)[~junk]  # the junk-free ranked list: True at true matches
        num_hits = int(hits.sum())
        if num_hits == 0:
            if protocol == "mars":  # counted as a miss (MATLAB: NaN AP, zero CMC)
                cmcs.append(np.zeros(max_rank)); aps.append(0.0); inps.append(0.0)
            continue
        positions = np.flatnonzero(hits) + 1  # 1-based junk-free ranks of the hits
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        if protocol == "mars":  # trapezoid rule from (recall 0, precision 1), as compute_AP.m
            recall = np.cumsum(hits) / num_hits
            old_recall = np.concatenate([[0.0], recall[:-1]])
            old_precision = np.concatenate([[1.0], precision[:-1]])
            ap = np.sum((recall - old_recall) * (old_precision + precision) / 2)
        else:  # mean precision at the hits (torchreid eval_market1501)
            ap = precision[hits].mean()
        cmc = np.zeros(max_rank)
        cmc[positions[0] - 1:] = 1
        cmcs.append(cmc); aps.append(ap); inps.append(num_hits / positions[-1])
    if not aps:
        return {"cmc": np.zeros(max_rank), "mAP": 0.0, "mINP": 0.0, "num_valid_queries": 0}
    return {"cmc": np.mean(cmcs, 0), "mAP": float(np.mean(aps)), "mINP": float(np.mean(inps)),
            "num_valid_queries": len(aps)}


def assert_same(result, expected, atol=1e-9):
    assert result["num_valid_queries"] == expected["num_valid_queries"]
    assert len(result["cmc"]) == len(expected["cmc"])
    np.testing.assert_allclose(result["cmc"], expected["cmc"], rtol=0, atol=atol)
    assert result["mAP"] == pytest.approx(expected["mAP"], abs=atol)
    assert result["mINP"] == pytest.approx(expected["mINP"], abs=atol)


def random_problem(rng, num_q, num_g, integer=True):
    """pids with -1 (junk under mars) and 0 (distractors), a few cameras, queries whose pid is absent, ties."""
    g_pids = rng.integers(-1, 6, num_g)
    g_cams = rng.integers(0, 3, num_g)
    q_pids = rng.integers(0, 8, num_q)  # 6, 7: never in the gallery
    q_cams = rng.integers(0, 3, num_q)
    if integer:
        dist = rng.integers(0, 6, (num_q, num_g)).astype(np.float64)  # many ties
        dist[rng.random(dist.shape) < 0.05] = np.inf
    else:
        dist = rng.random((num_q, num_g)).astype(np.float32)
    return dist, q_pids, g_pids, q_cams, g_cams


# ------------------------------------------------------------------------------------------------ evaluate

def test_hand_computed_case():
    # Query 0: pid 1, camera 0. Gallery (index: pid, camera, distance):
    #   0: 1, 0, 0.0  same pid and camera -> junk (the query itself) under both protocols
    #   1: 2, 1, 0.1  negative
    #   2: 1, 1, 0.1  good; tied with item 1, which comes first (lower index)
    #   3: -1, 1, 0.3  junk under mars, a negative under gao
    #   4: 0, 2, 0.5  distractor (pid 0): a negative
    #   5: 1, 2, 0.5  good; tied with item 4, which comes first
    # mars junk-free list: 1 2 4 5 -> hits at ranks 2 and 4 (P = 2).
    #   trapezoid: rank 1 miss: recall 0, precision 0   -> +0 (recall unchanged)
    #              rank 2 hit:  recall 1/2, precision 1/2 -> +(1/2)(0 + 1/2)/2 = 1/8
    #              rank 3 miss: recall 1/2, precision 1/3 -> +0
    #              rank 4 hit:  recall 1, precision 2/4   -> +(1/2)(1/3 + 1/2)/2 = 5/24
    #   AP = 1/8 + 5/24 = 1/3; first hit at rank 2; INP = 2/4.
    # gao junk-free list: 1 2 3 4 5 -> hits at ranks 2 and 5: AP = (1/2 + 2/5)/2 = 0.45; INP = 2/5.
    # Query 1: pid 9, absent: mars counts it as AP 0 / CMC 0, gao skips it.
    g_pids = np.array([1, 2, 1, -1, 0, 1]); g_cams = np.array([0, 1, 1, 1, 2, 2])
    q_pids = np.array([1, 9]); q_cams = np.array([0, 0])
    dist = np.array([[0.0, 0.1, 0.1, 0.3, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    mars = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol="mars", max_rank=4)
    np.testing.assert_allclose(mars["cmc"], [0, 0.5, 0.5, 0.5])
    assert mars["mAP"] == pytest.approx((1 / 3 + 0) / 2)
    assert mars["mINP"] == pytest.approx((0.5 + 0) / 2)
    assert mars["num_valid_queries"] == 2
    gao = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol="gao", max_rank=4)
    np.testing.assert_allclose(gao["cmc"], [0, 1, 1, 1])
    assert gao["mAP"] == pytest.approx(0.45)
    assert gao["mINP"] == pytest.approx(0.4)
    assert gao["num_valid_queries"] == 1
    for protocol, res in (("mars", mars), ("gao", gao)):
        assert_same(res, reference_evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol, max_rank=4))


def test_reference_mars_matches_matlab_transliteration():
    rng = np.random.default_rng(1)
    for _ in range(30):
        dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, 4, int(rng.integers(5, 30)))
        for q in range(len(q_pids)):
            same = g_pids == q_pids[q]
            good = np.flatnonzero(same & (g_cams != q_cams[q]))
            junk = np.concatenate([np.flatnonzero(g_pids == -1), np.flatnonzero(same & (g_cams == q_cams[q]))])
            if q_pids[q] == -1 or len(good) == 0:
                continue  # the documented deviations
            ap, cmc = _matlab_compute_ap(set(good), set(junk), np.argsort(dist[q], kind="stable"))
            ref = reference_evaluate(dist[q:q + 1], q_pids[q:q + 1], g_pids, q_cams[q:q + 1], g_cams, "mars",
                                     max_rank=len(g_pids))
            assert ref["mAP"] == pytest.approx(ap, abs=1e-12)
            np.testing.assert_array_equal(ref["cmc"], cmc)


@pytest.mark.parametrize("protocol", ["mars", "gao"])
def test_random_problems_with_ties_match_reference(protocol):
    rng = np.random.default_rng(0 if protocol == "mars" else 1)
    for trial in range(60):
        num_q, num_g = int(rng.integers(1, 15)), int(rng.integers(1, 60))
        problem = random_problem(rng, num_q, num_g, integer=trial % 3 != 0)
        max_rank = int(rng.integers(1, 12))
        expected = reference_evaluate(*problem, protocol, max_rank=max_rank)
        result = evaluate(*problem, protocol=protocol, max_rank=max_rank,
                          chunk_size=int(rng.integers(1, 20)), num_threads=int(rng.integers(1, 3)))
        assert_same(result, expected)
        assert result["cmc"].dtype == np.float64 and result["cmc"].shape == (max_rank,)


@pytest.mark.parametrize("protocol", ["mars", "gao"])
def test_continuous_distances_match_reference(protocol):
    rng = np.random.default_rng(2)
    problem = random_problem(rng, 40, 500, integer=False)
    assert_same(evaluate(*problem, protocol=protocol), reference_evaluate(*problem, protocol))


def test_chunk_size_and_threads_do_not_change_results():
    rng = np.random.default_rng(3)
    problem = random_problem(rng, 23, 80)
    base = evaluate(*problem, protocol="mars", chunk_size=None, num_threads=1)
    for chunk_size in (1, 7, 23, 100):
        for threads in (1, 2):
            res = evaluate(*problem, protocol="mars", chunk_size=chunk_size, num_threads=threads)
            np.testing.assert_array_equal(res["cmc"], base["cmc"])
            assert res["mAP"] == base["mAP"] and res["mINP"] == base["mINP"]


def test_input_types():
    rng = np.random.default_rng(4)
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, 6, 30)
    dist[np.isinf(dist)] = 7
    expected = evaluate(dist, q_pids, g_pids, q_cams, g_cams, protocol="gao")
    as_torch = [torch.from_numpy(x) for x in (dist, q_pids, g_pids, q_cams, g_cams)]
    assert_same(evaluate(*as_torch, protocol="gao"), expected)
    for dtype in (np.int32, np.float16, np.float32):
        assert_same(evaluate(dist.astype(dtype), q_pids, g_pids, q_cams, g_cams, protocol="gao"), expected)
    assert_same(evaluate(as_torch[0].bfloat16(), *as_torch[1:], protocol="gao"), expected)  # small ints: exact


def test_no_query_with_a_match():
    dist = np.ones((2, 3))
    res = evaluate(dist, np.array([5, 6]), np.array([1, 2, 3]), np.zeros(2), np.ones(3), protocol="gao", max_rank=3)
    assert res["num_valid_queries"] == 0 and res["mAP"] == 0.0 and not res["cmc"].any()
    res = evaluate(dist, np.array([5, 6]), np.array([1, 2, 3]), np.zeros(2), np.ones(3), protocol="mars", max_rank=3)
    assert res["num_valid_queries"] == 2 and res["mAP"] == 0.0 and not res["cmc"].any()


def test_bad_inputs():
    dist = np.zeros((2, 3))
    ids_q, ids_g = np.zeros(2, int), np.zeros(3, int)
    with pytest.raises(ConfigError, match="protocol"):
        evaluate(dist, ids_q, ids_g, ids_q, ids_g, protocol="market")
    with pytest.raises(ValueError, match="g_pids"):
        evaluate(dist, ids_q, ids_q, ids_q, ids_g)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(np.full((2, 3), np.nan), ids_q, ids_g, ids_q, ids_g)
    with pytest.raises(ValueError, match="max_rank"):
        evaluate(dist, ids_q, ids_g, ids_q, ids_g, max_rank=0)


# ------------------------------------------------------------------------------------------------ distance

def test_distance_matches_brute_force(monkeypatch):
    monkeypatch.setattr(distance_module, "_BLOCK_ELEMENTS", 50)  # several row blocks
    rng = np.random.default_rng(5)
    qf = rng.standard_normal((13, 8)).astype(np.float32)
    gf = rng.standard_normal((17, 8)).astype(np.float32)
    qf[0] = gf[3]  # an exact match: distance 0, never negative
    gf[5] = 0  # a zero feature: cosine distance 1
    q64, g64 = qf.astype(np.float64), gf.astype(np.float64)
    squared = ((q64[:, None] - g64[None]) ** 2).sum(-1)
    norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    cosine = 1 - norm(q64) @ norm(g64).T
    for metric, expected in (("euclidean", squared), ("cosine", cosine)):
        for q, g in ((qf, gf), (torch.from_numpy(qf), torch.from_numpy(gf)), (q64, g64)):
            out = distance(q, g, metric)
            assert out.dtype == np.float32 and out.shape == (13, 17)
            assert (out >= 0).all()
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert distance(qf, gf, "euclidean")[0, 3] == 0
    np.testing.assert_allclose(distance(qf, gf, "cosine")[:, 5], 1)


def test_distance_bad_inputs():
    with pytest.raises(ConfigError, match="metric"):
        distance(np.zeros((2, 3)), np.zeros((2, 3)), "manhattan")
    with pytest.raises(ValueError, match="feature sizes"):
        distance(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        distance(np.zeros(3), np.zeros((2, 3)))


# ------------------------------------------------------------------------------------------------ protocol vs gallery
def _tracklet_features(tracklets, split=None):
    """A fixed 4-d feature per tracklet, from its first frame's name (the same tracklet -> the same feature)."""
    import zlib
    return np.stack([np.random.default_rng(zlib.crc32(t.frames[0].encode())).standard_normal(4)
                     for t in tracklets]).astype(np.float32)


def test_eval_protocol_gets_its_own_gallery(tmp_path):
    """eval.protocol=gao on a mars-protocol dataset evaluates on the gao gallery (queries and pid -1 left out), exactly
    as if the dataset had been loaded with protocol gao; mars rules on a gao gallery are refused."""
    from helpers_data import make_mars_root

    from vidreid.config import Config
    from vidreid.data import load_dataset
    from vidreid.inference.evaluate import evaluate_model, format_results
    tracks = [(p, c, 3) for p in (1, 2, 3, 4, 5) for c in (1, 2, 3)] + [(-1, 1, 2), (-1, 2, 2), (0, 3, 2)]
    root = make_mars_root(tmp_path, tracks, query_rows=[0, 4, 8, 12], images=False)
    as_mars, as_gao = load_dataset("mars", root, protocol="mars"), load_dataset("mars", root, protocol="gao")
    assert len(as_mars.gallery) == len(tracks) and len(as_gao.gallery) == len(tracks) - 4 - 2
    cfg = Config()
    cfg.eval.protocol = "gao"
    derived = evaluate_model(None, as_mars, cfg, extractor=_tracklet_features, progress=False)
    direct = evaluate_model(None, as_gao, cfg, extractor=_tracklet_features, progress=False)
    assert derived["protocol"] == "gao" and derived["num_gallery"] == len(as_gao.gallery)
    assert np.array_equal(derived["cmc"], direct["cmc"]) and derived["mAP"] == direct["mAP"]
    assert derived["num_valid_queries"] == direct["num_valid_queries"]
    assert np.array_equal(derived["distmat"], direct["distmat"])
    table = format_results(derived)
    assert table.splitlines()[2].startswith("gao ") and "minus its queries and pid -1" in table
    assert "minus" not in format_results(direct)
    cfg.eval.protocol = "mars"
    with pytest.raises(ConfigError, match="data.protocol=mars"):
        evaluate_model(None, as_gao, cfg, extractor=_tracklet_features, progress=False)


def test_gao_gallery_derived_from_real_mars_tables(tmp_path):
    from helpers_data import MARS_INFO, make_real_mars_index

    from vidreid.data import load_dataset
    from vidreid.inference.evaluate import gallery_for_protocol
    if not MARS_INFO.is_dir():
        pytest.skip("the real MARS info files are not here")
    root = make_real_mars_index(tmp_path / "mars")
    as_mars = load_dataset("mars", root, protocol="mars")
    derived, note = gallery_for_protocol(as_mars, "gao")
    as_gao = load_dataset("mars", root, protocol="gao")
    assert len(as_mars.gallery) == 12180 and len(derived.gallery) == 9330 and "12180 -> 9330" in note
    assert derived.gallery == as_gao.gallery and derived.meta["gallery_rows"] == as_gao.meta["gallery_rows"]


def test_mars_queries_are_sliced_from_the_gallery_not_embedded_twice(tmp_path):
    """Under the mars protocol every query is a gallery tracklet: the gallery alone is embedded and the query rows
    are taken from it; the metrics equal those of embedding both splits. A gao gallery (no queries) embeds both."""
    from helpers_data import make_mars_root

    from vidreid.config import Config
    from vidreid.data import load_dataset
    from vidreid.inference.evaluate import evaluate_distmat, evaluate_model
    tracks = [(p, c, 3) for p in (1, 2, 3, 4, 5) for c in (1, 2, 3)] + [(-1, 1, 2), (0, 3, 2)]
    root = make_mars_root(tmp_path, tracks, query_rows=[0, 4, 8, 12], images=False)
    calls = []

    def counting(tracklets, split):
        calls.append((split, len(tracklets)))
        return _tracklet_features(tracklets)
    for protocol, expected_calls in (("mars", [("gallery", len(tracks))]),
                                     ("gao", [("query", 4), ("gallery", len(tracks) - 4 - 1)])):
        ds = load_dataset("mars", root, protocol=protocol)
        calls.clear()
        features = {}
        res = evaluate_model(None, ds, Config(), extractor=counting, progress=False, features=features)
        assert calls == expected_calls
        qf, gf = _tracklet_features(ds.query), _tracklet_features(ds.gallery)
        assert np.array_equal(features["query"], qf) and np.array_equal(features["gallery"], gf)
        reference = evaluate_distmat(distance(qf, gf, "euclidean"), ds, protocol)
        assert np.array_equal(res["cmc"], reference["cmc"]) and res["mAP"] == reference["mAP"]
