"""The real-footage set `vtest` (vidreid/data/datasets/vtest.py): the committed tables, the splits (main,
cross-pass; full, late, adapt) and the crops cut from vtest.avi (skipped without the video); the benchmark's smoke run
is tests/test_benchmarks_smoke.py's."""
import os

import numpy as np
import pytest

from helpers_assets import opencv_data_file
from vidreid.data import load_dataset
from vidreid.data.datasets import vtest as V
from vidreid.errors import ConfigError, DatasetError


def frame_of(path: str) -> int:
    return int(os.path.basename(path)[1:-4])                    # .../f000123.jpg -> 123


# ------------------------------------------------------------------------------ tables and splits (no video)
def test_committed_table():
    t = V.read_table()
    assert os.path.getsize(V.TRACKLETS_FILE) < 1 << 20
    assert len(t.tracklets) == 38 and sum(len(x.frames) for x in t.tracklets) == 2252
    assert len(t.labelled) == 39 and len(t.excluded) == 16
    assert sorted({p.identity for p in t.labelled}) == list(range(1, 10))
    assert all(len(p.frames) >= V.MIN_PIECE for p in t.labelled)
    assert all(note for *_, note in t.excluded)                  # every exclusion says why
    assert (t.width, t.height, t.frame_count, t.crop_size) == (768, 576, 795, (256, 128))
    # fully excluded tracklets: the false detection and the two ambiguous ones
    labelled = {p.name for p in t.labelled}
    assert {x.name for x in t.tracklets} - labelled == {"t0005", "t0007-2", "t0016"}


def test_split_counts_and_cameras():
    t = V.read_table()
    full, late = V.pieces(t, "full"), V.pieces(t, "late")
    assert len(full) == 39 and len(late) == 18
    assert len({p.identity for p in late}) == 8                  # person 7 (striped jumper) leaves before frame 400
    q, g = V.split_cross_pass(full)
    assert len(q) == len(g) == 39
    assert {c for _, c in q} == {0} and {c for _, c in g} == {1}
    for (a, _), (b, _), p in zip(q, g, full):                    # halves of one piece, first half first
        assert a.identity == b.identity == p.identity
        assert np.array_equal(np.concatenate([a.frames, b.frames]), p.frames) and a.frames[-1] < b.frames[0]
        assert len(a.frames) == len(p.frames) // 2
    q, g = V.split_main(full)
    assert [p for p, _ in q] == [p for p, _ in g] == full
    assert sorted(c for _, c in q) == list(range(39))            # each piece its own camera: itself is junk


def test_strict_cross_pass_makes_the_own_second_half_junk():
    """Same halves as cross_pass; a perfect ranking has mAP 1 in both, but a ranking that finds only each query's
    own second half scores R1 = 1 on cross_pass and is not credited under strict_cross_pass, where only persons
    with two or more pieces count (37 queries, as main)."""
    from vidreid.eval import evaluate
    full = V.pieces(V.read_table(), "full")
    q, g = V.split_strict_cross_pass(full)
    lq, lg = V.split_cross_pass(full)
    assert [p.frames.tolist() for p, _ in q] == [p.frames.tolist() for p, _ in lq]
    assert [p.frames.tolist() for p, _ in g] == [p.frames.tolist() for p, _ in lg]
    cam = np.array(V.walks(full))
    assert [c for _, c in q] == [c for _, c in g] == cam.tolist()   # both halves of a piece: its walk's camid
    pid = np.array([p.identity for p in full])
    own_first = np.where(np.eye(39, dtype=bool), 0.0, 1.0) + np.random.default_rng(0).random((39, 39))
    lenient = evaluate(own_first, pid, pid, np.zeros(39), np.ones(39), protocol="gao")
    assert lenient["cmc"][0] == 1.0 and lenient["num_valid_queries"] == 39
    strict = evaluate(own_first, pid, pid, cam, cam, protocol="gao")
    assert strict["num_valid_queries"] == 35 and strict["mAP"] < 1.0  # persons 7, 8, 9: one walk each
    other_walk = (pid[:, None] == pid[None]) & (cam[:, None] != cam[None])
    perfect = evaluate(np.where(other_walk, 0.0, 1.0), pid, pid, cam, cam, protocol="gao")
    assert perfect["mAP"] == 1.0
    # a ranking that finds only the same walk's next piece (after a tracker loss) is not credited either
    same_walk = (pid[:, None] == pid[None]) & (cam[:, None] == cam[None]) & ~np.eye(39, dtype=bool)
    assert same_walk.any()
    walk_first = evaluate(np.where(same_walk, 0.0, 1.0) + np.eye(39), pid, pid, cam, cam, protocol="gao")
    assert walk_first["cmc"][0] < 1.0


def test_walks_join_pieces_a_tracker_loss_apart():
    """Hand-made: person 1 seen at frames 0-9, 25-30 (15 frames later: same walk at gap 20), 100-110 (a new walk);
    person 2 at 5-8 and 29-40 (21 frames later: a new walk at gap 20, the same walk at gap 21)."""
    piece = lambda pid, a, b: V.Piece(f"p{pid}-{a}", pid, np.arange(a, b + 1))
    parts = [piece(1, 100, 110), piece(2, 5, 8), piece(1, 0, 9), piece(1, 25, 30), piece(2, 29, 40)]
    w = V.walks(parts, gap=20)
    assert w[2] == w[3] != w[0] and w[1] != w[4] and len(set(w)) == 4
    w = V.walks(parts, gap=21)
    assert w[1] == w[4] and len(set(w)) == 3
    assert len({w[0], w[1], w[2]}) == 3                           # different people never share a walk


def test_adapt_and_late_do_not_overlap_in_time():
    t = V.read_table()
    adapt, late = V.adapt_pieces(t), V.pieces(t, "late")
    assert len(adapt) == 22 and all(p.identity == 0 for p in adapt)
    assert max(int(p.frames.max()) for p in adapt) < V.ADAPT_END <= min(int(p.frames.min()) for p in late)
    assert all(len(p.frames) >= V.MIN_PIECE for p in adapt + late)


def test_gao_metrics_of_a_perfect_and_a_reversed_ranking():
    """The split's camids make a query's own piece junk (main) and every other piece of its person a positive."""
    from vidreid.eval import evaluate
    full = V.pieces(V.read_table(), "full")
    q, g = V.split_main(full)
    pid = np.array([p.identity for p, _ in q])
    cam = np.array([c for _, c in q])
    same = pid[:, None] == pid[None]
    perfect = evaluate(np.where(same, 0.0, 1.0), pid, pid, cam, cam, protocol="gao")
    assert perfect["mAP"] == 1.0 and perfect["num_valid_queries"] == 37   # persons 8 and 9 are seen once
    worst = evaluate(np.where(same, 1.0, 0.0), pid, pid, cam, cam, protocol="gao")
    assert worst["cmc"][0] == 0.0
    q, _ = V.split_main(V.pieces(V.read_table(), "late"))
    pid, cam = np.array([p.identity for p, _ in q]), np.array([c for _, c in q])
    late = evaluate(np.where(pid[:, None] == pid[None], 0.0, 1.0), pid, pid, cam, cam, protocol="gao")
    assert late["num_valid_queries"] == 15                       # persons 2, 8 and 9 appear once after frame 400


@pytest.mark.parametrize("row, message", [
    ("t9999,,,1,\n", "tracklet 't9999' is not in"),
    ("t0003,16,30,2,\n", "overlap another labelled segment"),
    ("t0005,44,46,3,\n", "a labelled segment needs 8"),
    ("t0003,x,,1,\n", "must be integers or blank"),
])
def test_bad_identity_rows_name_file_and_line(tmp_path, row, message):
    csv = tmp_path / "ids.csv"
    text = open(V.IDENTITIES_FILE).read()
    csv.write_text(text + row)
    with pytest.raises(DatasetError, match=message) as e:
        V.read_table(V.TRACKLETS_FILE, str(csv))
    if "t9999" in row or "overlap" in message:
        assert f"ids.csv:{len(text.splitlines()) + 1}" in str(e.value)


def test_every_tracklet_needs_a_row(tmp_path):
    csv = tmp_path / "ids.csv"
    csv.write_text("".join(line for line in open(V.IDENTITIES_FILE) if not line.startswith("t0033,")))
    with pytest.raises(DatasetError, match="no row for tracklet.*t0033"):
        V.read_table(V.TRACKLETS_FILE, str(csv))


def test_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="evaluation must be one of main, cross_pass, strict_cross_pass"):
        load_dataset("vtest", str(tmp_path / "r"), evaluation="test")
    with pytest.raises(ConfigError, match="boxes must be one of loose, tight"):
        load_dataset("vtest", str(tmp_path / "r"), boxes="huge")
    with pytest.raises(ConfigError, match="part must be one of full, late"):
        load_dataset("vtest", str(tmp_path / "r"), part="early")
    with pytest.raises(ConfigError, match="protocol"):
        load_dataset("vtest", str(tmp_path / "r"), protocol="mars")


# ------------------------------------------------------------------------------ crops from the video
@pytest.fixture(scope="module")
def crops(vtest_crops):
    return vtest_crops


def test_loader_cross_pass_full(crops):
    root, video = crops
    ds = load_dataset("vtest", root, evaluation="cross_pass", video=video)
    assert (len(ds.query), len(ds.gallery), len(ds.train)) == (39, 39, 0)
    assert {t.camid for t in ds.query} == {0} and {t.camid for t in ds.gallery} == {1}
    assert sum(len(t.frames) for t in ds.query + ds.gallery) == 2059
    assert all(os.path.isfile(f) for t in ds.query + ds.gallery for f in t.frames)
    for q, g in zip(ds.query, ds.gallery):                       # the two passes of one piece, in time order
        assert q.pid == g.pid and frame_of(q.frames[-1]) < frame_of(g.frames[0])
    assert ds.meta["identities"] == 9 and ds.meta["excluded_segments"] == 16


def test_loader_late_and_adapt_set(crops):
    root, video = crops
    ds = load_dataset("vtest", root, evaluation="main", part="late", video=video)
    assert len(ds.query) == len(ds.gallery) == 18
    eval_frames = [frame_of(f) for t in ds.query for f in t.frames]
    adapt_frames = [frame_of(f) for t in ds.train for f in t.frames]
    assert min(eval_frames) >= V.ADAPT_END > max(adapt_frames)
    assert len(ds.train) == 22 == ds.num_train_pids             # each adapt tracklet its own class, no hand label
    assert {t.camid for t in ds.train} == {0}
    assert V.adapt_tracklets(root, video) == ds.train


def test_crops_are_reused_and_never_clobbered(crops, tmp_path):
    root, video = crops
    marker = os.path.join(root, V.MARKER)
    before = os.stat(marker).st_mtime_ns
    assert V.ensure_crops(root, video=video) == os.path.abspath(root)
    assert os.stat(marker).st_mtime_ns == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a vtest crops folder"):
        V.ensure_crops(str(mine), video=video)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(DatasetError, match="does not exist"):         # no tree of folders from a mistyped path
        V.ensure_crops(str(tmp_path / "typo" / "crops"), video=video)
    assert not (tmp_path / "typo").exists()


def test_listing_writes_nothing(tmp_path, monkeypatch):
    """`vidreid datasets` probes each loader on a missing root: vtest must not cut crops there."""
    from vidreid.listing import dataset_rows
    monkeypatch.chdir(tmp_path)
    row = dataset_rows(["vtest"])[0]
    assert row["protocols"] == ["gao"] and "evaluation" in row["options"]
    assert not os.path.exists(os.path.join(os.sep, "nonexistent-vidreid-listing-root"))


def test_data_check(crops, capsys):
    from vidreid.cli import main
    root, video = crops
    assert main(["data", "check", root, "--dataset", "vtest", "-o", "evaluation=cross_pass", "-o",
                 f"video={video}", "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out and "2059 frame files read" in out


def test_another_video_is_refused(tmp_path):
    other = opencv_data_file("tree.avi")
    with pytest.raises(DatasetError, match="another file than"):
        V.ensure_crops(str(tmp_path / "r"), video=other)
    assert not os.path.exists(tmp_path / "r")


@pytest.mark.slow
def test_table_is_what_the_pipeline_gives(tmp_path):
    """The committed boxes are vidreid's own detector + tracker output: tracking the first 30 frames again gives
    every committed box of frames <= 25 (later ones may belong to tracks confirmed after frame 30)."""
    from vidreid.tracking.cut import CutConfig
    from vidreid.tracking.detectors import build_detector
    from vidreid.tracking.pipeline import track_video
    from vidreid.tracking.tracker import TrackerConfig
    video = opencv_data_file("vtest.avi")
    t = V.read_table()
    tracks, _ = track_video(video, build_detector("hog", None), TrackerConfig(), stop=30)
    again = {(int(r[0]), *np.round(r[2:6], 1).tolist()) for r in tracks}
    committed = {(int(f), *b.tolist()) for x in t.tracklets for f, b in zip(x.frames, x.boxes) if f <= 25}
    assert len(committed) > 40 and committed <= again
    assert CutConfig().crop_height == t.crop_size[0]
