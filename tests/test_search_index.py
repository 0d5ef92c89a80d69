"""GalleryIndex on synthetic features: exact search vs brute force, camera exclusion, atomic saves, appends,
model-hash refusal, IVF/PQ options."""
import json
import os

import numpy as np
import pytest

pytest.importorskip("faiss", reason="search needs faiss-cpu (pip install 'vidreid[search]')")

from vidreid.search.index import (Chunks, GalleryIndex, PackedStrings, SearchIndexError, TrackletTable,  # noqa: E402
                                   factory_string, index_spec, train_sample)

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


def clustered(rng, n, d, clusters=30, noise=0.35):
    """Unit vectors around `clusters` random centres: many close neighbours, which a coarse PQ code confuses."""
    centres = unit(rng, clusters, d)
    x = centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def list_of_rows(gi):
    """Row -> inverted list it is stored in (of the IVF inside gi's FAISS index, through an OPQ pre-transform)."""
    import faiss
    ivf = faiss.extract_index_ivf(gi.faiss_index)
    where = np.full(len(gi), -1)
    for lst in range(ivf.nlist):
        n = ivf.invlists.list_size(lst)
        if n:
            where[faiss.rev_swig_ptr(ivf.invlists.get_ids(lst), n).copy()] = lst
    return where


def test_ivfhnswpq_and_opq_factory_strings():
    assert factory_string("ivfhnswpq", 512, 10_000_000, nlist=65536) == "IVF65536_HNSW32,PQ32x8"
    assert factory_string("ivfhnswpq", 512, 10_000_000, nlist=65536, opq=True) == "OPQ32,IVF65536_HNSW32,PQ32x8"
    assert factory_string("ivfpq", 1024, 100000, nlist=1024, opq=True) == "OPQ64,IVF1024,PQ64x8"
    assert factory_string("ivfpq", 1024, 100000, nlist=1024) == "IVF1024,PQ64x8"   # no OPQ unless asked
    for kind in ("flat", "ivf"):
        with pytest.raises(Exception, match="--opq .* ivfpq or ivfhnswpq, not " + kind):
            factory_string(kind, 512, 100000, opq=True)
    with pytest.raises(Exception, match="--opq goes with --index-type ivfpq / ivfhnswpq; with --factory"):
        index_spec("flat", "OPQ8,IVF16,PQ8", 32, 1000, opq=True)
    assert index_spec("flat", "HNSW32,Flat", 32, 10) == ("factory", "HNSW32,Flat")


def test_opq_ivfhnswpq_trains_without_polysemous_and_honours_nprobe(tmp_path):
    import faiss
    rng = np.random.default_rng(10)
    gi, x = filled(rng, n=2000, d=32, kind="ivfhnswpq", nlist=8, pq_m=8, nprobe=8, opq=True)
    assert gi.header["factory"] == "OPQ8,IVF8_HNSW32,PQ8x8" and gi.header["nprobe"] == 8
    assert isinstance(gi.faiss_index, faiss.IndexPreTransform)
    ivfpq = faiss.downcast_index(faiss.extract_index_ivf(gi.faiss_index))
    assert isinstance(ivfpq, faiss.IndexIVFPQ) and not ivfpq.do_polysemous_training
    assert isinstance(faiss.downcast_index(ivfpq.quantizer), faiss.IndexHNSWFlat)
    where = list_of_rows(gi)
    q = unit(rng, 10, 32)
    _, one = gi.search(q, top=20, nprobe=1)                   # nprobe reaches the IVF inside the pre-transform:
    assert all(len(set(where[r].tolist())) == 1 for r in one)  # every hit of a query from one list
    _, all_lists = gi.search(q, top=20)                       # the index's nprobe 8: hits from several lists
    assert max(len(set(where[r].tolist())) for r in all_lists) > 1
    assert (gi.search(x[:50], top=1)[1][:, 0] == np.arange(50)).mean() >= 0.8
    _, r = gi.search(q, top=20, exclude_cameras="c2")          # the camera selector passes the pre-transform too
    assert (r >= 0).all() and not (r % 3 == 1).any()
    back = GalleryIndex.load(gi.save(str(tmp_path / "idx")))
    assert faiss.extract_index_ivf(back.faiss_index).nprobe == 8
    assert (back.search(q, top=20, nprobe=1)[1] == one).all()


def test_training_uses_a_seeded_sample_of_a_large_first_add(monkeypatch):
    import faiss

    import vidreid.search.index as index_module
    monkeypatch.setattr(index_module, "TRAIN_SAMPLE", 500)
    s = train_sample(2000)
    assert len(s) == 500 and (np.diff(s) > 0).all() and s.max() < 2000 and (s == train_sample(2000)).all()
    assert s.min() < 100 and s.max() > 1900 and np.histogram(s, 4, (0, 2000))[0].min() > 90   # spread, not a prefix
    assert (train_sample(400) == np.arange(400)).all()
    rng = np.random.default_rng(11)

    def centroids(gi):
        q = faiss.downcast_index(faiss.extract_index_ivf(gi.faiss_index).quantizer)
        return faiss.rev_swig_ptr(q.get_xb(), q.ntotal * q.d).reshape(q.ntotal, q.d).copy()
    gi, x = filled(rng, n=2000, d=16, kind="ivf", nlist=8)
    on_sample = GalleryIndex.create(16, MODEL, EXTRACTION, kind="ivf", nlist=8, train_count=500)
    on_sample.faiss_index.train(x[s])
    on_all = GalleryIndex.create(16, MODEL, EXTRACTION, kind="ivf", nlist=8, train_count=2000)
    on_all.faiss_index.train(x)
    assert np.allclose(centroids(gi), centroids(on_sample)) and not np.allclose(centroids(gi), centroids(on_all))
    assert len(gi) == 2000                                     # every vector is added, not only the sample


def test_chunks_take_across_parts_and_save(tmp_path):
    c = Chunks(np.arange(5))
    c.append(np.arange(5, 8))
    c.append(np.zeros(0, np.int64))
    c.append(np.arange(8, 12))
    assert len(c) == 12 and (c.take(np.array([[11, 0], [5, 7]])) == [[11, 0], [5, 7]]).all()
    c.save(str(tmp_path / "c.npy"))
    assert (np.load(str(tmp_path / "c.npy")) == np.arange(12)).all() and (c.array == np.arange(12)).all()


def test_chunks_spill_to_a_nameless_file_past_their_memory_bound(tmp_path):
    rng = np.random.default_rng(3)
    rows = [rng.standard_normal((n, 4)).astype(np.float16) for n in (3, 5, 0, 7, 2, 6, 1)]
    c = Chunks(np.zeros((0, 4), np.float16), spill_bytes=64, spill_dir=str(tmp_path))   # 64 B = 8 rows
    for i, part in enumerate(rows):
        c.append(part)
        assert c.held_bytes <= 64                               # never more than the bound in memory
    whole = np.concatenate(rows)
    assert len(c) == len(whole) == 24
    assert isinstance(c._parts[1], np.memmap) and len(c._parts) <= 3   # base, the spill, an unspilled tail
    assert os.listdir(tmp_path) == []                          # the spill file has no name: nothing to leave behind
    pick = rng.integers(0, 24, (5, 3))
    assert (c.take(pick) == whole[pick]).all()
    c.save(str(tmp_path / "c.npy"))
    assert (np.load(str(tmp_path / "c.npy")) == whole).all() and (c.array == whole).all()


def test_an_index_keeping_features_spills_them_and_searches_the_same(tmp_path, monkeypatch):
    rng = np.random.default_rng(8)
    x = unit(rng, 600, 16)
    q = unit(rng, 5, 16)
    built = {}
    for bound in (1 << 30, 1000):                              # never spills / spills every ~30 rows
        monkeypatch.setattr("vidreid.search.index.FEATURE_SPILL_BYTES", bound)
        gi = GalleryIndex.create(16, MODEL, EXTRACTION, kind="ivfpq", nlist=4, pq_m=4, train_count=600,
                                 keep_features=True)
        gi.train(x)
        for a in range(0, 600, 50):                            # a sharded fill
            gi.add(x[a:a + 50], *meta(50, start=a), HASH)
        assert (gi.features.held_bytes <= 1000) == (bound == 1000)
        built[bound] = (gi.search(q, top=10, exact_rerank=60), gi.save(str(tmp_path / f"i{bound}")))
    (d0, r0), p0 = built[1 << 30]
    (d1, r1), p1 = built[1000]
    assert (r0 == r1).all() and (d0 == d1).all()
    f0, f1 = (np.load(os.path.join(p, json.load(open(os.path.join(p, "index.json")))["features_file"]))
              for p in (p0, p1))
    assert (f0 == f1).all() and (f0 == x.astype(np.float16)).all()


def test_many_small_appends_make_the_table_of_one_large_append():
    one, many = TrackletTable(), TrackletTable()
    one.append(*meta(10_000, cams=("a", "b", "c", "d")))
    for start in range(0, 10_000, 50):                        # a sharded fill: 200 adds of 50
        many.append(*meta(50, cams=("a", "b", "c", "d"), start=start))
    assert len(many._cols["pids"]._parts) == 201               # appends keep chunks (+ the empty start) ...
    a, b = one.arrays(), many.arrays()                         # ... concatenated once, when read
    assert a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and (a[k] == b[k]).all() for k in a)
    assert many.camera_labels == one.camera_labels == ["a", "b", "c", "d"]
    assert many.thumbnails(9999) == one.thumbnails(9999) and many.names[4321] == "tracklet ü4321"


def test_loaded_metadata_is_memory_mapped_read_only_and_appends_copy(tmp_path):
    rng = np.random.default_rng(12)
    gi, x = filled(rng, n=40, d=8)
    path = gi.save(str(tmp_path / "idx"))
    back = GalleryIndex.load(path)
    assert isinstance(back.table.pids, np.memmap) and not back.table.pids.flags.writeable
    assert not back.table.names.data.flags.writeable and not back.table.thumb_start.flags.writeable
    back.add(unit(rng, 5, 8), *meta(5, start=40), HASH)         # would fail writing into a read-only memmap
    assert (back.table.pids == np.arange(45)).all() and back.table.names[44] == "tracklet ü44"
    assert back.hits(*[a[0] for a in back.search(x[3], top=1)])[0].thumbnails[-1] == "/g/3/003.jpg"
    again = GalleryIndex.load(back.save())
    assert (again.table.pids == np.arange(45)).all() and again.table.thumbnails(44) == back.table.thumbnails(44)


def test_a_version_1_folder_still_loads_and_is_rewritten_as_version_2(tmp_path):
    rng = np.random.default_rng(13)
    x = unit(rng, 30, 8)
    gi = GalleryIndex.create(8, MODEL, EXTRACTION, centre=True)
    gi.add(x, *meta(30), HASH)
    path = gi.save(str(tmp_path / "idx"))
    head_path = os.path.join(path, "index.json")
    head = json.load(open(head_path))
    for f in head.pop("tracklets_files").values():              # the folder as version 1 wrote it: one .npz
        os.unlink(os.path.join(path, f))
    np.savez(os.path.join(path, "tracklets.1.npz"), **gi.table.arrays(), centre_mean=gi.centre_mean)
    head.pop("features_file")
    json.dump(dict(head, version=1, tracklets_file="tracklets.1.npz"), open(head_path, "w"))
    old = GalleryIndex.load(path)
    assert old.header["version"] == 1 and np.allclose(old.centre_mean, gi.centre_mean)
    assert (old.search(x[:5], top=3)[1] == gi.search(x[:5], top=3)[1]).all()
    assert old.hits(*[a[0] for a in old.search(x[7], top=1)])[0].tracklet == "tracklet ü7"
    old.add(unit(rng, 2, 8), *meta(2, start=30), HASH)
    old.save()
    new = GalleryIndex.load(path)
    assert new.header["version"] == 2 and "tracklets_file" not in new.header and len(new) == 32
    assert not [f for f in os.listdir(path) if f.endswith(".npz")] and np.allclose(new.centre_mean, gi.centre_mean)


def test_exact_rerank_gives_exact_distances_and_better_recall(tmp_path):
    rng = np.random.default_rng(14)
    n, d = 3000, 32
    x = clustered(rng, n, d)
    gi = GalleryIndex.create(d, MODEL, EXTRACTION, kind="ivfpq", nlist=16, pq_m=4, nprobe=16, train_count=n,
                             keep_features=True)
    gi.add(x, *meta(n), HASH)
    q = clustered(np.random.default_rng(15), 60, d)
    ref_d, ref_rows = brute_force(q, x, 10)
    recall = lambda rows: np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows.tolist(), ref_rows.tolist())])
    pq_d, pq_rows = gi.search(q, top=10)
    rr_d, rr_rows = gi.search(q, top=10, exact_rerank=100)
    exact = 1 - np.take_along_axis(q @ x.T, rr_rows, 1)
    assert np.abs(rr_d - exact).max() < 1e-3                  # re-scored from float16 copies
    assert np.abs(pq_d - (1 - np.take_along_axis(q @ x.T, pq_rows, 1))).max() > 1e-2   # PQ alone is not exact
    assert recall(rr_rows) > recall(pq_rows) + 0.1 and recall(rr_rows) >= 0.9, (recall(rr_rows), recall(pq_rows))
    all_d, _ = gi.search(q, top=10, exact_rerank=n)            # every candidate: the exact neighbours
    assert np.abs(all_d - ref_d).max() < 1e-3
    _, r = gi.search(q, top=10, exclude_cameras="c2", exact_rerank=100)
    assert (r >= 0).all() and not (r % 3 == 1).any()
    path = gi.save(str(tmp_path / "idx"))
    assert os.path.isfile(os.path.join(path, "features.1.f16.npy"))
    back = GalleryIndex.load(path)
    assert isinstance(back.features.array, np.memmap) and back.features.array.shape == (n, d)
    assert (back.search(q, top=10, exact_rerank=100)[1] == rr_rows).all()
    y = clustered(rng, 3, d)
    back.add(y, *meta(3, start=n), HASH)                       # rows after the memmapped ones
    d_new, r_new = back.search(y, top=1, exact_rerank=50)
    assert (r_new[:, 0] == np.arange(n, n + 3)).all() and d_new.max() < 1e-3
    assert len(GalleryIndex.load(back.save()).features) == n + 3


def test_exact_rerank_without_stored_features_is_one_line(tmp_path):
    rng = np.random.default_rng(16)
    gi, x = filled(rng, n=20, d=8)
    path = gi.save(str(tmp_path / "idx"))
    with pytest.raises(SearchIndexError, match=f"{path} keeps no features .* --keep-features"):
        GalleryIndex.load(path).search(x[0], top=5, exact_rerank=10)
    keep = GalleryIndex.create(8, MODEL, EXTRACTION, keep_features=True)
    keep.add(x, *meta(20), HASH)
    with pytest.raises(SearchIndexError, match=">= 1"):
        keep.search(x[0], top=5, exact_rerank=0)
    assert (keep.search(x[:3], top=5, exact_rerank=2)[1] == gi.search(x[:3], top=5)[1]).all()   # R < top: top


def test_damaged_stored_features_or_table_files_are_one_line(tmp_path):
    rng = np.random.default_rng(17)
    gi = GalleryIndex.create(8, MODEL, EXTRACTION, keep_features=True)
    gi.add(unit(rng, 6, 8), *meta(6), HASH)
    path = gi.save(str(tmp_path / "idx"))
    feats = os.path.join(path, "features.1.f16.npy")
    good = open(feats, "rb").read()
    open(feats, "wb").write(good[:len(good) // 2])                # truncated
    with pytest.raises(SearchIndexError, match="features.1.f16.npy: unreadable stored features"):
        GalleryIndex.load(path)
    np.save(feats, np.zeros((5, 8), np.float16))                  # one row short
    with pytest.raises(SearchIndexError, match=r"shape \(5, 8\).*6 vectors"):
        GalleryIndex.load(path)
    open(feats, "wb").write(good)
    head_path = os.path.join(path, "index.json")
    head = json.load(open(head_path))
    json.dump(dict(head, tracklets_files=["x"]), open(head_path, "w"))
    with pytest.raises(SearchIndexError, match="tracklets_files is not an object"):
        GalleryIndex.load(path)
    json.dump(dict(head, tracklets_files={k: v for k, v in head["tracklets_files"].items() if k != "pids"}),
              open(head_path, "w"))
    with pytest.raises(SearchIndexError, match="unreadable tracklet table .*pids"):
        GalleryIndex.load(path)
    json.dump(head, open(head_path, "w"))
    assert len(GalleryIndex.load(path).features) == 6
