"""Fusion of a network with a classical feature: the formula on a hand-checkable case, its limits (w = 0, w = 1),
the weight chosen on validation data, and eval / index build / search end to end on the tiny SynthPed."""
import json
import os

import numpy as np
import pytest
import torch

from vidreid.eval.distance_fusion import (choose_weight, fused_distance, l2_rows, median_pair_distance,
                                          pairwise_euclidean)
from vidreid.models.fused import fuse


def test_fused_ranking_equals_the_hand_computed_one():
    # one query, three gallery items; network features 1-D angles and classical 2-D, all already unit length
    net = np.array([[1, 0], [0.6, 0.8], [0, 1], [1, 0]], float)           # q, g1, g2, g3
    cls = np.array([[1, 0], [1, 0], [0.8, 0.6], [0, 1]], float)
    # chordal distances from q: net: g1 sqrt(0.16 + 0.64) = 0.894, g2 sqrt(2) = 1.414, g3 0
    #                           cls: g1 0, g2 sqrt(0.04 + 0.36) = 0.632, g3 sqrt(2) = 1.414
    # scales 1, w = 0.5: d^2 = (net^2 + cls^2) / 2 -> g1 0.4, g2 1.2, g3 1.0 -> ranking g1, g3, g2
    f = fuse(torch.tensor(net), torch.tensor(cls), 0.5, 1.0, 1.0).numpy()
    d = pairwise_euclidean(f[:1], f[1:])[0]
    np.testing.assert_allclose(d ** 2, [0.4, 1.2, 1.0], atol=1e-6)
    assert list(np.argsort(d)) == [0, 2, 1]
    # with scales: the concatenation's distance is the fused distance of the two distance matrices
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    f = fuse(torch.tensor(a), torch.tensor(b), 0.3, 0.7, 1.9).numpy()
    expected = fused_distance(pairwise_euclidean(l2_rows(a), l2_rows(a)), pairwise_euclidean(l2_rows(b), l2_rows(b)),
                              0.3, 0.7, 1.9)
    np.testing.assert_allclose(pairwise_euclidean(f, f), expected, atol=1e-5)
    # every fused feature has the same length: an index's L2 normalisation keeps the ranking
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), np.sqrt(0.7 / 0.7 ** 2 + 0.3 / 1.9 ** 2), rtol=1e-6)


def test_weight_zero_is_the_network_and_one_the_classical_feature():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 8)), rng.normal(size=(6, 5))
    cos = lambda x: 1 - l2_rows(x) @ l2_rows(x).T                          # noqa: E731
    for w, alone in ((0.0, a), (1.0, b)):
        f = fuse(torch.tensor(a), torch.tensor(b), w, 0.5, 2.0).numpy()
        d = pairwise_euclidean(f, f)
        np.testing.assert_array_equal(np.argsort(d, 1, kind="stable")[:, 1:], np.argsort(cos(alone), 1, kind="stable")[:, 1:])


def test_weight_is_chosen_on_validation_map():
    rng = np.random.default_rng(2)
    pids = np.repeat(np.arange(8), 4)
    cams = np.tile(np.arange(4), 8)
    informative = np.eye(8)[pids] + 0.05 * rng.normal(size=(32, 8))
    noise = rng.normal(size=(32, 8))
    for net, cls, side in ((noise, informative, "classical"), (informative, noise, "network")):
        got = choose_weight(net, cls, pids, cams)
        by_w = {w: m for w, m, _ in got["table"]}
        best = max(by_w.values())
        tied = [w for w, m in by_w.items() if m >= best - 1e-3]
        assert got["weight"] == min(tied, key=lambda w: (abs(w - 0.5), w))
        if side == "classical":
            assert got["weight"] > 0.5 and by_w[1.0] == best > by_w[0.0] + 0.5
        else:
            assert got["weight"] < 0.5 and by_w[0.0] == best > by_w[1.0] + 0.5
    assert got["scale_net"] == pytest.approx(median_pair_distance(l2_rows(informative)))
    assert got["scale_cls"] == pytest.approx(median_pair_distance(l2_rows(noise)))


def test_a_network_perfect_on_its_training_identities_does_not_drop_the_classical_feature():
    """Hand-made: the network separates the 8 identities perfectly (mAP 1 at w = 0), the classical feature is good
    but imperfect; small weights tie at mAP 1, and the tie goes to the weight nearest 0.5 among them, not to 0."""
    rng = np.random.default_rng(3)
    pids = np.repeat(np.arange(8), 4)
    cams = np.tile(np.arange(4), 8)
    net = np.eye(8)[pids] + 0.01 * rng.normal(size=(32, 8))
    cls = np.eye(8)[pids] + 0.6 * rng.normal(size=(32, 8))
    got = choose_weight(net, cls, pids, cams)
    by_w = {w: m for w, m, _ in got["table"]}
    tied = [w for w, m in by_w.items() if m >= 1.0 - 1e-3]
    assert by_w[0.0] == 1.0 and by_w[1.0] < 0.99 and 0.0 < max(tied) < 1.0     # the case: several weights tie at 1
    assert got["weight"] == min(tied, key=lambda w: (abs(w - 0.5), w)) > 0.0
    assert by_w[got["weight"]] >= 1.0 - 1e-3


# ------------------------------------------------------------------ end to end (tiny SynthPed)
@pytest.fixture(scope="module")
def fusion_setup(tiny_synthped, tmp_path_factory):
    from conftest import untrained_tp_checkpoint
    root = tmp_path_factory.mktemp("fusion")
    ck = untrained_tp_checkpoint(str(root / "run" / "checkpoints" / "tp.safetensors"), tiny_synthped)
    classical = root / "colour.yaml"
    classical.write_text("model:\n  name: colour_hist\n  backbone: null\n  kwargs: {spaces: [hsv], stripes: 2, "
                         "bins: 4, metric: xqda}\n")
    return ck, str(classical), root


def test_eval_and_index_with_fusion(fusion_setup, tiny_synthped, capsys):
    pytest.importorskip("faiss")
    from vidreid.cli import main
    ck, classical, root = fusion_setup
    out = str(root / "m.json")
    assert main(["eval", "--checkpoint", ck, "--fuse", classical, "--fuse-weight", "auto", "--no-plots",
                 "--no-progress", "--json", out]) == 0
    text = capsys.readouterr().out
    assert "fused tp + colour_hist: weight" in text and "fused on synthped" in text
    fused = [f for f in os.listdir(os.path.dirname(ck)) if f.startswith("fused-colour_hist-xqda-")]
    assert len(fused) == 1
    from vidreid.store.checkpoint import read_checkpoint
    state, meta = read_checkpoint(os.path.join(os.path.dirname(ck), fused[0]))
    w, s_net, s_cls = state["fusion"].tolist()
    assert meta["fusion"]["weight"] == pytest.approx(w) and s_net > 0 and s_cls > 0
    assert state["classical.projection"].shape[0] == 2 * 3 * 4                  # fitted XQDA on 24-D histograms
    # a fixed weight reuses nothing of the auto one (another file), and w = 0 ranks as the network under cosine
    assert main(["eval", "--checkpoint", ck, "--fuse", classical, "--fuse-weight", "0", "--no-plots",
                 "--no-progress", "--json", str(root / "w0.json")]) == 0
    assert main(["eval", "--checkpoint", ck, "--metric", "cosine", "--no-plots", "--no-progress",
                 "--json", str(root / "net.json")]) == 0
    m0, net = (json.load(open(root / f)) for f in ("w0.json", "net.json"))
    assert m0["mAP"] == pytest.approx(net["mAP"], abs=1e-6) and m0["cmc"][:5] == pytest.approx(net["cmc"][:5])
    capsys.readouterr()
    # index build with fusion (the dataset of the checkpoint's config), then search finds a gallery tracklet itself
    index = str(root / "index")
    assert main(["index", "build", "--checkpoint", ck, "--fuse", classical, "--fuse-weight", "0.5",
                 "--dataset", "synthped", "--root", tiny_synthped, "--out", index, "--no-progress"]) == 0
    header = json.load(open(os.path.join(index, "index.json")))
    assert header["model"]["name"] == "fused" and header["model"]["fusion"]["weight"] == 0.5
    capsys.readouterr()
    from vidreid.data import load_dataset
    import shutil
    probe = root / "probe"                                   # the frames of one gallery tracklet, in a folder
    probe.mkdir()
    for f in load_dataset("synthped", tiny_synthped).gallery[3].frames:
        shutil.copy(f, probe / os.path.basename(f))
    assert main(["search", "--index", index, "--probe", str(probe), "--json", "--top", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["distance"] == pytest.approx(0, abs=1e-4)


def test_body_colour_config_fuses_with_a_network(fusion_setup, capsys):
    """configs/body_colour.yaml as the classical half of --fuse: its region reaches the fused checkpoint's model."""
    from vidreid.cli import main
    from vidreid.store.checkpoint import read_checkpoint
    ck, _, root = fusion_setup
    assert main(["eval", "--checkpoint", ck, "--fuse", "configs/body_colour.yaml", "--fuse-weight", "0.5",
                 "--no-plots", "--no-progress", "--json", str(root / "body.json")]) == 0
    assert "fused tp + colour_hist: weight" in capsys.readouterr().out
    fused = [f for f in os.listdir(os.path.dirname(ck)) if f.startswith("fused-colour_hist-none-")]
    assert len(fused) == 1
    _, meta = read_checkpoint(os.path.join(os.path.dirname(ck), fused[0]))
    assert "0.385" in json.dumps(meta) and "0.615" in json.dumps(meta)      # region_x of the config


def test_classical_eval_without_checkpoint(tiny_synthped, tmp_path, capsys):
    from conftest import TINY_SYNTH
    from vidreid.cli import main
    synth = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_SYNTH.items()) + "}"
    args = ["eval", "--config", "configs/colour_hist_synthped.yaml", f"data.root={tiny_synthped}",
            f"data.synth={synth}", "data.height=32", "data.width=16", "data.workers=0", "model.kwargs.stripes=4",
            f"train.output_dir={tmp_path}", "--no-plots", "--no-progress"]
    assert main(args + ["model.kwargs.metric=kissme", "model.kwargs.pca_dim=16"]) == 0
    out = capsys.readouterr().out
    assert "colour_hist (metric kissme, " in out and "mAP" in out
    assert any(f.startswith("colour_hist-kissme-") for f in os.listdir(tmp_path / "checkpoints"))
    assert main(args) == 0                                                  # metric none: nothing fitted
    assert "colour_hist (metric none)" in capsys.readouterr().out


def test_python_api_features_and_fused_distances(tiny_synthped):
    from vidreid.data import load_dataset
    from vidreid.data.decode import read_clip
    from vidreid.eval.distance_fusion import fused_distmat
    from vidreid.inference.classical import classical_features
    from vidreid.models.classical.colour import stripe_histograms
    ds = load_dataset("synthped", tiny_synthped)
    tracks = ds.gallery[:5]
    f = classical_features("colour_hist", tracks, size=(32, 16), stripes=2, bins=4)
    frames = read_clip(list(tracks[0].frames), np.arange(len(tracks[0].frames)), (32, 16))
    np.testing.assert_allclose(f[0], np.sqrt(stripe_histograms(frames, ("hsv",), 2, 4).mean(0)), atol=1e-6)
    g = classical_features("colour_hist", tracks, train=ds.train, size=(32, 16), stripes=2, bins=4, metric="xqda")
    assert g.shape[0] == 5 and 0 < g.shape[1] <= 24
    d = fused_distmat(f, f, g, g, 1.0, 1.0, 1.0)                              # w = 1: the classical part alone
    np.testing.assert_allclose(d, pairwise_euclidean(l2_rows(g), l2_rows(g)), atol=1e-9)


def test_index_build_with_a_classical_config(tiny_synthped, tmp_path, capsys):
    pytest.importorskip("faiss")
    from conftest import TINY_SYNTH
    from vidreid.cli import main
    synth = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_SYNTH.items()) + "}"
    index = str(tmp_path / "index")
    assert main(["index", "build", "--checkpoint", "none", "--config", "configs/colour_hist_synthped.yaml",
                 f"data.root={tiny_synthped}", f"data.synth={synth}", "data.height=32", "data.width=16",
                 "data.workers=0", "model.kwargs.stripes=4", "model.kwargs.metric=xqda",
                 f"train.output_dir={tmp_path / 'run'}", "--dataset", "synthped", "--root", tiny_synthped,
                 "--out", index, "--no-progress"]) == 0
    header = json.load(open(os.path.join(index, "index.json")))
    assert header["model"]["name"] == "colour_hist" and "colour_hist-xqda-" in header["model"]["checkpoint"]
