"""SynthPed: determinism, MARS/DukeV layouts against the real conventions, splits, query rule, occlusion, caching."""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io as sio
import simplejpeg

from vidreid.cli import main as cli_main
from vidreid.data.synthped import SynthPedConfig, ensure_synthped, generate_synthped, make_config
from vidreid.data.synthped.appearance import make_twin, sample_palette, sample_person
from vidreid.data.synthped.plan import build_plan, mars_query_rows
from vidreid.data.synthped import writer
from vidreid.data.synthped.render import make_background, render_tracklet
from vidreid.errors import ConfigError, DatasetError, VidReIDError

REAL_INFO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mars-info"
if not REAL_INFO.is_dir():
    REAL_INFO = Path("/work/shared/data/mars-info")
TINY = dict(ids=12, cams=3, size="64x32", min_len=8, max_len=12, median_len=9)
MARS_NAME = re.compile(r"^(\d{4}|00-1)C(\d)T(\d{4})F(\d{3})\.jpg$")
DUKE_NAME = re.compile(r"^(\d{4})C(\d)F(\d{4})X(\d{5})\.jpg$")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def mars(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "mars"
    with pytest.MonkeyPatch.context() as mp:        # through the pool, though the job is small
        mp.setattr(writer, "POOL_MIN_PIXELS", 0)
        stats = generate_synthped(str(root), workers=2, progress=False, **TINY)
    return root, stats


@pytest.fixture(scope="module")
def tables(mars):
    info = mars[0] / "info"
    return {
        "train": sio.loadmat(info / "tracks_train_info.mat")["track_train_info"],
        "test": sio.loadmat(info / "tracks_test_info.mat")["track_test_info"],
        "query": sio.loadmat(info / "query_IDX.mat")["query_IDX"],
        "train_names": (info / "train_name.txt").read_text().split(),
        "test_names": (info / "test_name.txt").read_text().split(),
    }


# ----------------------------------------------------------------------------------------------------------------------
def test_same_seed_same_bytes_whatever_the_workers(mars, tmp_path):
    root, stats = mars
    assert stats["workers"] == 2
    again = generate_synthped(str(tmp_path / "again"), workers=2, progress=False, **TINY)
    assert again["workers"] == 1                    # under POOL_MIN_PIXELS: rendered in this process
    a, b = _tree(root), _tree(tmp_path / "again")
    assert sorted(a) == sorted(b)
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]][:5]


def test_different_seed_differs(mars, tmp_path):
    generate_synthped(str(tmp_path / "s1"), workers=1, progress=False, seed=1, **TINY)
    a, b = _tree(mars[0]), _tree(tmp_path / "s1")
    common = set(a) & set(b)
    assert sum(a[k] != b[k] for k in common) > 0.9 * len(common)


def test_mat_files_match_the_real_mars_conventions(mars):
    for fname, var in (("tracks_train_info", "track_train_info"), ("tracks_test_info", "track_test_info"),
                       ("query_IDX", "query_IDX")):
        ours, real = mars[0] / "info" / f"{fname}.mat", REAL_INFO / f"{fname}.mat"
        a, b = sio.loadmat(ours), sio.loadmat(real)
        assert sorted(k for k in a if not k.startswith("__")) == sorted(k for k in b if not k.startswith("__")) == [var]
        assert a[var].dtype == b[var].dtype and a[var].ndim == b[var].ndim == 2
        assert [c for _, _, c in sio.whosmat(ours)] == [c for _, _, c in sio.whosmat(real)]  # MATLAB class: double
        if var == "query_IDX":
            assert a[var].shape[0] == b[var].shape[0] == 1
        else:
            assert a[var].shape[1] == b[var].shape[1] == 4


def test_name_lists_match_tables_and_files(mars, tables):
    root = mars[0]
    for split, folder in (("train", "bbox_train"), ("test", "bbox_test")):
        table, names = tables[split], tables[f"{split}_names"]
        assert table[0, 0] == 1 and table[-1, 1] == len(names)
        assert np.all(table[1:, 0] == table[:-1, 1] + 1)           # rows tile the name list
        for start, end, pid, cam in table:
            group = [MARS_NAME.match(n) for n in names[start - 1:end]]
            assert all(group)
            pid_s = "00-1" if pid == -1 else f"{pid:04d}"
            assert {m.group(1) for m in group} == {pid_s} and {int(m.group(2)) for m in group} == {cam}
            assert len({m.group(3) for m in group}) == 1             # one tracklet number per row
            assert [int(m.group(4)) for m in group] == list(range(1, end - start + 2))
            assert 1 <= cam <= 3
        assert all((root / folder / n[:4] / n).is_file() for n in names)
        img = simplejpeg.decode_jpeg((root / folder / names[0][:4] / names[0]).read_bytes())
        assert img.shape == (64, 32, 3)


def test_query_rule_and_table_order(tables):
    test, query = tables["test"], tables["query"].ravel().astype(int)
    pids = test[:, 2]
    assert np.all(np.diff(pids) >= 0) and pids[0] == -1 and (pids == 0).any()   # -1 rows, then 0, then ids
    expected = []
    for pid in np.unique(pids[pids > 0]):
        for cam in np.unique(test[pids == pid, 3]):
            expected.append(np.flatnonzero((pids == pid) & (test[:, 3] == cam))[-1] + 1)
    assert query.tolist() == sorted(expected)
    assert np.all(pids[query - 1] > 0)


def test_query_rule_reproduces_the_real_mars_query_idx():
    real = sio.loadmat(REAL_INFO / "tracks_test_info.mat")["track_test_info"]
    rows = [SimpleNamespace(pid=int(p), cam=int(c)) for p, c in real[:, 2:]]
    expected = sio.loadmat(REAL_INFO / "query_IDX.mat")["query_IDX"].ravel()
    assert np.array_equal(np.asarray(mars_query_rows(rows)) + 1, expected)


def test_splits_cameras_and_lengths(mars, tables):
    train, test = tables["train"], tables["test"]
    train_ids, test_ids = set(train[:, 2].tolist()), set(test[test[:, 2] > 0, 2].tolist())
    assert not train_ids & test_ids and train_ids | test_ids == set(range(1, 13))
    assert len(train_ids) == len(test_ids) == 6
    for table in (train, test[test[:, 2] > 0]):
        lengths = table[:, 1] - table[:, 0] + 1
        assert lengths.min() >= TINY["min_len"] and lengths.max() <= TINY["max_len"]
        for pid in np.unique(table[:, 2]):
            assert len(np.unique(table[table[:, 2] == pid, 3])) >= 2
    stats = mars[1]
    assert stats["train"]["tracklets"] == len(train) and stats["test"]["tracklets"] == len(test)
    assert stats["query"]["tracklets"] == tables["query"].size
    assert stats["test"]["junk_tracklets"] == (test[:, 2] == -1).sum() > 0


def test_marker_metadata_and_slices(mars, tables):
    meta = json.loads((mars[0] / "synthped.json").read_text())
    assert meta["config"] == make_config(None, **TINY).to_dict() and meta["complete"]
    recs = meta["tracklets"]["test"]
    assert [r["row"] for r in recs] == list(range(1, len(tables["test"]) + 1))
    assert [[r["pid"], r["cam"]] for r in recs] == tables["test"][:, 2:].tolist()
    heavy = meta["slices"]["occlusion_heavy"]
    assert heavy["test_rows"] == [r["row"] for r in recs if r["occlusion_heavy"]]
    q = tables["query"].ravel().tolist()
    assert heavy["query"] == [k for k, row in enumerate(q) if recs[row - 1]["occlusion_heavy"]]
    assert all(r["occluded_frac"] >= 0.5 for r in recs if r["occlusion_heavy"])


def test_dukev_layout(tmp_path):
    root = tmp_path / "duke"
    stats = generate_synthped(str(root), layout="dukev", workers=1, progress=False, **TINY)
    assert sorted(os.listdir(root)) == ["gallery", "query", "synthped.json", "train"]
    pids = defaultdict(set)
    for split in ("train", "query", "gallery"):
        for pid_dir in (root / split).iterdir():
            assert re.fullmatch(r"\d{4}", pid_dir.name)
            for tdir in pid_dir.iterdir():
                assert re.fullmatch(r"\d{4}", tdir.name)
                names = sorted(os.listdir(tdir))
                ms = [DUKE_NAME.match(n) for n in names]
                assert all(ms) and {m.group(1) for m in ms} == {pid_dir.name} and len({m.group(2) for m in ms}) == 1
                assert [int(m.group(3)) for m in ms] == list(range(1, len(ms) + 1))
                assert TINY["min_len"] <= len(ms) <= TINY["max_len"]
                pids[split].add(int(pid_dir.name))
    assert not pids["train"] & (pids["query"] | pids["gallery"])
    assert pids["query"] <= pids["gallery"] and len(pids["query"]) == 6
    assert sum(len(os.listdir(p)) for p in (root / "query").iterdir()) == 6   # one query tracklet per test id
    assert stats["query"]["tracklets"] == 6 and stats["test"]["distractor_tracklets"] > 0


def test_occlusion_changes_pixels_in_the_band():
    cfg = make_config(None, occlusion_rate=1.0, occlusion_min_frac=0.3, occlusion_max_frac=0.6, blur_max=0.0,
                      bad_detection_rate=0.0, **TINY)
    plan = build_plan(cfg)
    seen = set()
    for t in plan.train + plan.test:
        kind = t.occlusion["kind"] if t.occlusion else None
        if kind is None or kind in seen or t.person is None:
            continue
        seen.add(kind)
        cam = plan.cameras[t.cam - 1]
        bg = make_background(cfg, cam)
        with_occ = render_tracklet(t, cfg, cam, bg, plan.palette).astype(int)
        without = render_tracklet(t, cfg, cam, bg, plan.palette, occlusion=False).astype(int)
        a, b = t.occlusion["start"], t.occlusion["end"]
        diff = np.abs(with_occ - without).sum(-1)                              # (T, H, W)
        assert diff[:a].max() == 0 and diff[b:].max() == 0                      # only the event's frames change
        axis, lo, hi = t.occlusion["band"]
        size = cfg.width if axis == "x" else cfg.height
        i0, i1 = int(np.floor(lo * size)), int(np.ceil(hi * size))
        band = diff[a:b, :, i0:i1] if axis == "x" else diff[a:b, i0:i1, :]
        assert band.mean() > 20
        if kind != "person":                                                   # rigid occluders stay in their band
            m = 2
            outside = (np.concatenate([diff[a:b, :, :max(0, i0 - m)], diff[a:b, :, i1 + m:]], axis=2)
                       if axis == "x" else diff[a:b, :max(0, i0 - m), :])
            assert outside.size == 0 or outside.max() == 0                     # same noise, no blur: exact
    assert seen == {"pole", "car", "person"}


def test_twins_differ_in_one_part():
    cfg = SynthPedConfig()
    palette = sample_palette(np.random.default_rng(0), cfg.palette_size)
    groups = {"top_colour": {"top"}, "top_texture": {"top_texture", "top2", "logo_shape"}, "bottom": {"bottom"},
              "shoes": {"shoes"}, "hair": {"hair_style"}, "backpack": {"backpack"}, "bag": {"bag"}, "hat": {"hat"}}
    for i in range(40):
        base = sample_person(np.random.default_rng([1, i]), palette, cfg)
        twin, part = make_twin(base, np.random.default_rng([2, i]), palette, cfg)
        changed = {f.name for f in dataclasses.fields(base) if getattr(base, f.name) != getattr(twin, f.name)}
        assert changed and changed <= groups[part], (part, changed)
    plan = build_plan(make_config(None, **TINY))
    for twin, (base, _) in plan.twins.items():
        assert (twin in plan.train_pids) == (base in plan.train_pids)       # pairs share a split


def test_ensure_reuses_and_never_replaces_another_dataset(tmp_path):
    root = tmp_path / "data" / "sp"
    assert ensure_synthped(str(root), progress=False, **TINY) == str(root)
    sentinel = root / "sentinel"
    sentinel.write_text("x")
    ensure_synthped(str(root), progress=False, **TINY)                       # same options: reused untouched
    assert sentinel.exists()
    marker = (root / "synthped.json").read_bytes()
    with pytest.raises(DatasetError, match=r"holds a SynthPed dataset made with other options \(seed: 0 -> 3\); "
                                           r"not replacing it"):
        ensure_synthped(str(root), progress=False, **dict(TINY, seed=3))     # different options: refused
    assert sentinel.exists() and (root / "synthped.json").read_bytes() == marker
    with pytest.raises(DatasetError, match="already holds a SynthPed dataset made with other options"):
        generate_synthped(str(root), progress=False, **dict(TINY, seed=3))   # explicit, without overwrite: refused
    # a killed writer's temp folders are removed by the next writer of the same path (and only those)
    stale = root.parent / ".sp.tmp-abc123"
    (stale / "bbox_train").mkdir(parents=True)
    other = root.parent / ".other.tmp-abc123"
    other.mkdir()
    generate_synthped(str(root), progress=False, overwrite=True, **dict(TINY, seed=3))   # explicit: regenerated
    assert not sentinel.exists() and not stale.exists() and other.exists()
    assert json.loads((root / "synthped.json").read_text())["config"]["seed"] == 3
    assert sorted(os.listdir(root.parent)) == [".other.tmp-abc123", "sp"]       # no lock file left either
    (root / "synthped.json").unlink()                                         # incomplete or foreign: never deleted
    with pytest.raises(DatasetError, match="refusing"):
        ensure_synthped(str(root), progress=False, **TINY)


def test_bad_options_raise_config_errors():
    for bad in (dict(size="64"), dict(ids=2), dict(layout="market"), dict(cams=12), dict(twin_rate=1.5),
                dict(min_len=20, max_len=10), dict(occluders="pole,tree"), dict(colour=3)):
        with pytest.raises(ConfigError):
            make_config(None, **bad)


def test_cameras_capped_at_what_the_layout_loader_reads():
    # the loaders read back MARS cameras 1..6 and DukeMTMC cameras 1..8: more would write an unreadable root
    with pytest.raises(ConfigError, match=r"cams must be in 2\.\.8 for the dukev layout .*got 9"):
        make_config(None, layout="dukev", cams=9)
    with pytest.raises(ConfigError, match=r"cams must be in 2\.\.6 for the mars layout .*got 7"):
        make_config(None, layout="mars", cams=7)
    assert make_config(None, layout="dukev", cams=8).cams == 8 and make_config(None, cams=6).cams == 6


def test_dukev_layout_with_eight_cameras_reads_back(tmp_path):
    from vidreid.data import load_dataset
    root = tmp_path / "duke8"
    generate_synthped(str(root), layout="dukev", workers=1, progress=False,
                      **{**TINY, "cams": 8, "ids": 8, "size": "32x16", "min_cams_per_id": 7, "max_cams_per_id": 8})
    ds = load_dataset("synthped", str(root), protocol="gao")
    assert max(t.camid for t in ds.train + ds.query + ds.gallery) == 7


def test_cli(tmp_path, capsys):
    args = ["synth", "--out", str(tmp_path / "cli"), "--ids", "8", "--cams", "2", "--size", "64x32", "--workers", "1",
            "--min-len", "8", "--max-len", "9", "--median-len", "8", "--set", "clutter=2"]
    assert cli_main(args) == 0
    assert "occlusion" in capsys.readouterr().out
    assert (tmp_path / "cli" / "info" / "query_IDX.mat").is_file()
    assert json.loads((tmp_path / "cli" / "synthped.json").read_text())["config"]["clutter"] == 2
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--size", "big"]) == 2
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--set", "nope=1"]) == 2
    assert issubclass(ConfigError, VidReIDError)


def _paint_figure(person, view, direction=1):
    """A figure 120 px tall, head top at row 4, axis at column 32, on a black (3, 2, 128, 64) canvas."""
    from vidreid.data.synthped.figure import draw_person
    T = 2
    canvas = np.zeros((3, T, 128, 64), np.float32)
    draw_person(canvas, person, view, direction, np.full(T, 120, np.float32), np.full(T, 32, np.float32),
                np.full(T, 4, np.float32), np.float32(0.3) + np.arange(T, dtype=np.float32), 0.45)
    return canvas


def test_part_painters_draw_each_part_only_where_the_view_shows_it():
    base = dataclasses.replace(sample_person(np.random.default_rng(3), sample_palette(np.random.default_rng(0), 6),
                                             SynthPedConfig()),
                               top_texture="solid", backpack=None, bag=None, hat=None, hair_style="short")
    colour = (0.9, 0.5, 0.1)
    plain = {view: _paint_figure(base, view) for view in ("front", "back", "side")}

    def changed(view, **parts):                                  # (2, H, W): pixels the part changed
        return np.abs(_paint_figure(dataclasses.replace(base, **parts), view) - plain[view]).sum(0) > 0

    head_bottom = 4 + int(np.ceil(120 * (base.head_r * 1.05 + base.head_r))) + 2
    for view in ("front", "back", "side"):                      # a cap: on the head, in every view
        hat = changed(view, hat=colour)
        assert hat.any() and not hat[:, head_bottom:].any(), view
    logo = {view: changed(view, top_texture="logo", logo_shape="square") for view in plain}
    assert logo["front"].any() and not logo["back"].any() and not logo["side"].any()   # a chest print
    rows = np.flatnonzero(logo["front"].any((0, 2)))
    v_chest = 2 * base.head_r + 0.035 + 0.08
    assert abs((rows.mean() - 4 + 0.5) / 120 - v_chest) < 0.01
    pack = {view: changed(view, backpack=colour).sum() for view in plain}
    assert pack["back"] > 3 * pack["front"] > 0                  # whole bag from the back, straps from the front
    side_pack = changed("side", backpack=colour)
    assert not side_pack[:, :, 33:].any()                        # walking right: the backpack is on the left
    assert not changed("side", bag=colour, bag_side=-1).any()    # a bag on the far hip is hidden
    assert changed("side", bag=colour, bag_side=1).any()


def test_render_workers_are_not_forks_of_the_caller():
    """Rendering runs torch ops; a plain fork of a caller that already used torch can hang on its thread pools' locks
    (benchmarks/centring.py --smoke hung 300 s in CI). Workers come from a fork server (or spawn) instead."""
    from vidreid.data.synthped.writer import _render_context
    assert _render_context().get_start_method() in ("forkserver", "spawn")
