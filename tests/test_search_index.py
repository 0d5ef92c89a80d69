"""GalleryIndex on synthetic features: exact search vs brute force, camera exclusion, atomic saves, appends,
model-hash refusal, IVF/PQ options."""
import json
import os

import numpy as np
import pytest

pytest.importorskip("faiss", reason="search needs faiss-cpu (pip install 'vidreid[search]')")

from vidreid.search.index import (GalleryIndex, PackedStrings, SearchIndexError, factory_string)  # noqa: E402

HASH = "a" * 64
MODEL = {"hash": HASH, "name": "tp", "backbone": "resnet18", "checkpoint": "/x/tp.safetensors"}
EXTRACTION = {"sampling": "dense", "seq_len": 4, "normalize": True}
ARRAYS = ("names_data", "names_offsets", "paths_data", "paths_offsets", "thumbs_data", "thumbs_offsets",
          "camera_codes", "pids", "num_frames", "thumb_start", "camera_labels", "camera_labels_offsets")


def unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def meta(n, cams=("c1", "c2", "c3"), start=0):
    names = [f"tracklet ü{i}" for i in range(start, start + n)]         # non-ASCII names survive the round trip
    cameras = [cams[i % len(cams)] for i in range(start, start + n)]
    frames = [[f"/g/{i}/{k:03d}.jpg" for k in range(1 + i % 20)] for i in range(start, start + n)]
    return names, cameras, list(range(start, start + n)), [f"/g/{i}" for i in range(start, start + n)], frames


def filled(rng, n=300, d=32, **kw):
    x = unit(rng, n, d)
    gi = GalleryIndex.create(d, MODEL, EXTRACTION, train_count=n, **kw)
    gi.add(x, *meta(n), HASH)
    return gi, x


def brute_force(q, x, k, allowed=None):
    sims = q @ x.T
    if allowed is not None:
        sims = np.where(allowed[None], sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return 1 - np.take_along_axis(sims, order, 1), order


def test_flat_is_exact_and_distance_is_one_minus_cosine():
    rng = np.random.default_rng(0)
    gi, x = filled(rng)
    q = unit(rng, 7, 32)
    dist, rows = gi.search(q, top=10)
    ref_d, ref_rows = brute_force(q, x, 10)
    assert (rows == ref_rows).all()
    assert np.abs(dist - ref_d).max() < 1e-5
    d_self, r_self = gi.search(x[5], top=1)
    assert r_self[0, 0] == 5 and 0 <= d_self[0, 0] < 1e-6          # clipped at 0, never a tiny negative


@pytest.mark.parametrize("num_queries", [6, 25])
def test_exclude_camera_per_query_matches_masked_brute_force(num_queries):
    rng = np.random.default_rng(1)
    gi, x = filled(rng)
    q = unit(rng, num_queries, 32)
    exclude = (["c1", "c2", None, "c3", "c1", "unknown-camera"] * 5)[:num_queries]
    dist, rows = gi.search(q, top=15, exclude_cameras=exclude)
    cams = np.array(meta(len(x))[1])
    for i, cam in enumerate(exclude):
        allowed = cams != cam if cam in ("c1", "c2", "c3") else None
        ref_d, ref_rows = brute_force(q[i:i + 1], x, 15, allowed)
        assert (rows[i] == ref_rows[0]).all(), i
        assert np.abs(dist[i] - ref_d[0]).max() < 1e-5
        assert cam is None or cam not in cams[rows[i]]


@pytest.mark.parametrize("num_queries", [1, 25])
def test_fewer_results_than_top_are_padded(num_queries):
    rng = np.random.default_rng(2)
    x = unit(rng, 4, 8)
    gi = GalleryIndex.create(8, MODEL, EXTRACTION)
    gi.add(x, *meta(4, cams=("a", "a", "a", "b")), HASH)
    dist, rows = gi.search(np.repeat(x[:1], num_queries, 0), top=10, exclude_cameras="a")
    assert rows.shape == (num_queries, 4) and (rows[:, 0] == 3).all() and (rows[:, 1:] == -1).all()
    assert np.isinf(dist[:, 1:]).all()
    hits = gi.hits(dist[0], rows[0])
    assert len(hits) == 1 and hits[0].camera == "b" and hits[0].rank == 1


def test_save_load_roundtrip_add_and_generations(tmp_path):
    rng = np.random.default_rng(3)
    gi, x = filled(rng, n=50)
    path = str(tmp_path / "idx")
    gi.save(path)
    assert sorted(os.listdir(path)) == ["index.json", *sorted(f"tracklets.1.{a}.npy" for a in ARRAYS),
                                        "vectors.1.faiss"]
    back = GalleryIndex.load(path)
    assert len(back) == 50 and back.model_hash == HASH
    h = back.hits(*[a[0] for a in back.search(x[17], top=1)])[0]
    names, cams, pids, paths, frames = meta(50)
    assert (h.tracklet, h.camera, h.pid, h.path, h.num_frames) == (names[17], cams[17], 17, paths[17], 18)
    assert len(h.thumbnails) == 8 and h.thumbnails[0] == frames[17][0] and h.thumbnails[-1] == frames[17][-1]
    # append without rebuilding: the old rows keep their ids, the new ones follow
    y = unit(rng, 10, 32)
    assert back.search(x[9], top=1)[1][0, 0] == 9               # (caches a view of the vectors) ...
    back.add(y, *meta(10, start=50), HASH)
    assert back.search(y[3], top=1)[1][0, 0] == 53              # ... which an append refreshes
    back.save()
    assert sorted(os.listdir(path)) == ["index.json", *sorted(f"tracklets.2.{a}.npy" for a in ARRAYS),
                                        "vectors.2.faiss"]
    again = GalleryIndex.load(path)
    assert len(again) == 60 and json.load(open(os.path.join(path, "index.json")))["generation"] == 2
    assert again.search(y[3], top=1)[1][0, 0] == 53 and again.search(x[4], top=1)[1][0, 0] == 4
    assert again.table.camera_labels == ["c1", "c2", "c3"]


def test_features_of_another_model_are_refused(tmp_path):
    rng = np.random.default_rng(4)
    gi, _ = filled(rng, n=10)
    with pytest.raises(SearchIndexError, match="not comparable"):
        gi.add(unit(rng, 2, 32), *meta(2), "b" * 64)
    with pytest.raises(SearchIndexError, match="dimension 32"):
        gi.search(unit(rng, 1, 16))
    assert len(gi) == 10


def test_damaged_or_missing_index_is_a_user_error(tmp_path):
    with pytest.raises(SearchIndexError, match="not a vidreid index"):
        GalleryIndex.load(str(tmp_path / "missing"))
    rng = np.random.default_rng(5)
    gi, _ = filled(rng, n=10)
    path = gi.save(str(tmp_path / "idx"))
    head = json.load(open(os.path.join(path, "index.json")))
    head["count"] = 11
    json.dump(head, open(os.path.join(path, "index.json"), "w"))
    with pytest.raises(SearchIndexError, match="inconsistent"):
        GalleryIndex.load(path)
    open(os.path.join(path, "index.json"), "w").write("{not json")
    with pytest.raises(SearchIndexError, match="unreadable index header"):
        GalleryIndex.load(path)


def test_ivf_and_pq_options():
    rng = np.random.default_rng(6)
    # IVF visiting every list is exact
    gi, x = filled(rng, n=400, d=32, kind="ivf", nlist=8, nprobe=8)
    assert gi.header["factory"] == "IVF8,Flat" and gi.header["nprobe"] == 8
    q = unit(rng, 5, 32)
    assert (gi.search(q, top=5)[1] == brute_force(q, x, 5)[1]).all()
    # nprobe can be lowered per search (approximate), camera exclusion still holds
    d, r = gi.search(q, top=5, exclude_cameras="c2", nprobe=1)
    assert not np.isin(r[r >= 0] % 3, [1]).any()
    # PQ: 8 bytes per vector, a vector still finds itself
    gi, x = filled(rng, n=600, d=32, kind="ivfpq", nlist=4, pq_m=8, nprobe=4)
    assert gi.header["factory"] == "IVF4,PQ8x8"
    assert (gi.search(x[:20], top=1)[1][:, 0] == np.arange(20)).mean() >= 0.9


def test_factory_string_validates_options():
    assert factory_string("flat", 512, 10) == "Flat"
    assert factory_string("ivf", 512, 100000) == "IVF1264,Flat"               # ~4 sqrt(N)
    assert factory_string("ivfpq", 1024, 100000, nlist=1024) == "IVF1024,PQ64x8"  # D/16 sub-quantisers
    for args, msg in [(("ivf", 512, 10, 20), "nlist"), (("ivfpq", 512, 100, 4), "at least 256"),
                      (("ivfpq", 512, 1000, 4, 7), "divide"), (("hnsw", 512, 10), "kind")]:
        with pytest.raises(Exception, match=msg):
            factory_string(*args)


def test_packed_strings():
    p = PackedStrings.from_list(["", "a", "ü日本", "x" * 300])
    p.extend(PackedStrings.from_list(["tail"]))
    assert [p[i] for i in range(len(p))] == ["", "a", "ü日本", "x" * 300, "tail"]


def test_save_refuses_a_folder_of_other_files(tmp_path):
    rng = np.random.default_rng(7)
    gi, _ = filled(rng, n=5)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "me.jpg").write_bytes(b"x")
    with pytest.raises(SearchIndexError, match="not a vidreid index"):
        gi.save(str(tmp_path / "photos"))
    assert os.listdir(tmp_path / "photos") == ["me.jpg"]


def test_exact_search_in_blocks_of_queries(monkeypatch):
    import vidreid.search.index as index_module
    rng = np.random.default_rng(8)
    gi, x = filled(rng)
    q = unit(rng, 7, 32)
    exclude = ["c1", None, "c2", "c2", "c3", None, "c1"]
    want = gi.search(q, top=12, exclude_cameras=exclude)
    monkeypatch.setattr(index_module, "FLAT_BLOCK", 2 * len(x))   # 2 queries per block
    got = gi.search(q, top=12, exclude_cameras=exclude)
    assert (got[1] == want[1]).all() and np.abs(got[0] - want[0]).max() < 1e-6
