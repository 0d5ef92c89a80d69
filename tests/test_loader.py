import dataclasses

import numpy as np
import pytest
import simplejpeg
import torch
from PIL import Image

from helpers_data import fresh_bad_frame_memory, frame_colour, mars_root_fixtures  # noqa: F401 (fixtures)
from vidreid.config import DataConfig
from vidreid.data.decode import CorruptFrameWarning, read_clip, read_frame
from vidreid.data.loader import build_test_loader, build_train_loader
from vidreid.data.samplers import PKSampler
from vidreid.errors import ConfigError, DatasetError

# 4 train ids (2 cameras, lengths incl. shorter than T=4), same list as the test split
TRACKS = [(1, 1, 6), (1, 2, 3), (2, 1, 9), (2, 2, 4), (3, 1, 5), (3, 2, 7), (3, 1, 2), (4, 1, 2), (4, 2, 8)]
MEAN, STD = np.array(DataConfig.mean), np.array(DataConfig.std)

root, dataset = mars_root_fixtures(TRACKS, "loader")


def cfg(**kw):
    base = dict(height=32, width=16, seq_len=4, batch_size=4, num_instances=2, test_batch_size=5, workers=0, pad=2)
    base.update(kw)
    return DataConfig(**base)


def test_fixture_loads_as_mars(dataset):
    assert len(dataset.train) == 9 and dataset.num_train_pids == 4
    assert [t.pid for t in dataset.query] == [1, 2] and len(dataset.gallery) == 9
    assert all(len(t.frames) == n for t, (_, _, n) in zip(dataset.train, TRACKS))


def test_train_loader_shapes_and_pk_batches(dataset):
    loader = build_train_loader(dataset, cfg(), seed=0)
    batches = list(loader)
    assert len(batches) == len(loader) > 0
    clips, pids, camids = batches[0]
    assert clips.shape == (4, 4, 3, 32, 16) and clips.dtype == torch.float32
    assert pids.dtype == torch.int64 and camids.dtype == torch.int64 and pids.shape == camids.shape == (4,)
    for _, pids, _ in batches:
        p = pids.view(2, 2)                                       # P=2 identities x K=2
        assert (p == p[:, :1]).all() and p[0, 0] != p[1, 0]


def test_train_loader_reproducible_per_seed_and_epoch(dataset):
    def epoch(seed, e, workers=0):
        loader = build_train_loader(dataset, cfg(workers=workers, random_erasing=0.5), seed=seed)
        loader.sampler.set_epoch(e)
        return [b for b in loader]

    a, b = epoch(0, 0), epoch(0, 0)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    c = epoch(0, 1)
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(a, c))
    d = epoch(1, 0)
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(a, d))
    w = epoch(0, 0, workers=1)                                    # the same batches whatever the worker count
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, w))


def test_pk_sampler_composition_and_epochs():
    pids = [0] * 5 + [1] * 1 + [2] * 3 + [3] * 8 + [4] * 2
    s = PKSampler(pids, num_instances=2, batch_size=4, seed=3)
    e0 = list(s)
    assert len(e0) % 4 == 0 and len(e0) > 0
    for batch in np.array(e0).reshape(-1, 4):
        ids = np.array(pids)[batch].reshape(2, 2)
        assert (ids == ids[:, :1]).all() and ids[0, 0] != ids[1, 0]
    again = list(s)                                               # a second pass in the same epoch: new order
    assert again != e0
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0 and e1 != again
    s.set_epoch(0)
    assert len(s) == len(e0) and list(s) == e0
    assert list(PKSampler(pids, 2, 4, seed=3)) == e0
    assert list(PKSampler(pids, 2, 4, seed=4)) != e0
    assert e0.count(5) >= 2 or 5 not in e0                        # id 1 (one tracklet) drawn with replacement
    with pytest.raises(ConfigError, match="multiple"):
        PKSampler(pids, 3, 4)
    with pytest.raises(ConfigError, match="identities"):
        PKSampler(pids, 2, 16)


def test_test_loader_dense_covers_all_clips(dataset):
    loader = build_test_loader(dataset.gallery, cfg(test_sampling="dense"))
    items = [(c, t) for c, t in loader]
    track_idx = torch.cat([t for _, t in items])
    lengths = [len(t.frames) for t in dataset.gallery]
    assert track_idx.tolist() == sum(([i] * -(-n // 4) for i, n in enumerate(lengths)), [])
    assert items[0][0].shape[1:] == (4, 3, 32, 16) and items[0][0].dtype == torch.float32
    assert track_idx.dtype == torch.int64 and items[0][0].shape[0] == 5


def test_test_loader_all_and_rrs(dataset):
    lengths = [len(t.frames) for t in dataset.query]
    items = list(build_test_loader(dataset.query, cfg(), sampling="all"))
    assert [c.shape for c, _ in items] == [(1, n, 3, 32, 16) for n in lengths]
    items = list(build_test_loader(dataset.gallery, cfg(), sampling="rrs", seq_len=3))
    clips = torch.cat([c for c, _ in items])
    assert clips.shape == (len(dataset.gallery), 3, 3, 32, 16)


def test_decoded_frames_in_order_and_rgb(dataset):
    # query 0 = tracklet (1, cam 1, 6 frames): "all" returns every frame in order with its colour
    clip, _ = next(iter(build_test_loader(dataset.query, cfg(), sampling="all")))
    pixel = clip[0, :, :, 16, 8].numpy()                          # (T, 3) normalised centre pixels
    expected = (np.array([frame_colour(1, 1, k) for k in range(6)]) / 255 - MEAN) / STD
    assert np.abs(pixel - expected).max() < 0.1


def test_reduced_scale_jpeg_decode_and_png(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    (tmp_path / "a.jpg").write_bytes(simplejpeg.encode_jpeg(img))
    assert read_frame(str(tmp_path / "a.jpg")).shape == (64, 32, 3)
    assert read_frame(str(tmp_path / "a.jpg"), (16, 8)).shape == (16, 8, 3)   # decoded at 1/4 scale
    assert read_frame(str(tmp_path / "a.jpg"), (40, 20)).shape == (64, 32, 3)  # < 2x smaller: full size
    Image.fromarray(img).save(tmp_path / "b.png")
    assert np.array_equal(read_frame(str(tmp_path / "b.png")), img)


def test_corrupt_and_missing_frames_warn_and_fill(root, dataset):
    t = dataset.train[2]                                          # pid 2, cam 1, 9 frames
    frames = list(t.frames)
    with open(frames[3], "rb") as f:
        good = f.read()
    bad = str(root / "bad.jpg")
    with open(bad, "wb") as f:
        f.write(good[: len(good) // 2])                           # truncated JPEG
    frames[3], frames[4] = bad, str(root / "missing.jpg")
    with pytest.warns(CorruptFrameWarning) as rec:
        clip = read_clip(frames, [2, 3, 4, 5])
    messages = " ".join(str(w.message) for w in rec)
    assert "bad.jpg" in messages and "missing.jpg" in messages
    assert clip.shape == (4, 32, 16, 3)
    assert np.array_equal(clip[1], clip[0]) and np.array_equal(clip[2], clip[3])  # nearest good neighbours
    # a clip of only bad frames is filled from the rest of the tracklet
    clip = read_clip(frames, [3, 3, 4, 4])
    assert np.abs(clip[0, 16, 8].astype(int) - frame_colour(2, 1, 2)).max() <= 3
    with pytest.raises(DatasetError, match="bad.jpg"):
        read_clip(frames, [2, 3], strict=True)
    with pytest.raises(DatasetError, match="no readable frame"):
        read_clip([bad, str(root / "missing.jpg")], [0, 1])


def test_loader_strict_flag(root, dataset):
    broken = dataset.query[1]._replace(frames=(str(root / "nope.jpg"),) + dataset.query[1].frames[1:])
    with pytest.warns(CorruptFrameWarning, match="nope.jpg"):
        list(build_test_loader([broken], cfg(), sampling="dense"))
    with pytest.raises(DatasetError, match="nope.jpg"):
        list(build_test_loader([broken], cfg(strict=True), sampling="dense"))


def test_bad_loader_config(dataset):
    with pytest.raises(ConfigError, match="train_sampling"):
        build_train_loader(dataset, cfg(train_sampling="dense"))
    with pytest.raises(ConfigError, match="multiple"):
        build_train_loader(dataset, cfg(batch_size=5))
    with pytest.raises(ConfigError, match="test_sampling"):
        build_test_loader(dataset.query, cfg(), sampling="random")
    assert dataclasses.is_dataclass(cfg())


def _unreadable(root, t, name):
    """`t` with every frame replaced by a missing file in folder root/name."""
    return t._replace(frames=tuple(str(root / name / f"{i:04d}.jpg") for i in range(len(t.frames))))


def _drop_warnings(rec):
    from vidreid.data.decode import UnreadableTrackletWarning
    return [str(w.message) for w in rec if issubclass(w.category, UnreadableTrackletWarning)]


def test_dropped_tracklets_warns_once_naming_the_tracklet(root, dataset):
    import warnings
    from vidreid.data.decode import DataWarning, DroppedTracklets, UnreadableTrackletWarning
    tracks = [dataset.gallery[0], _unreadable(root, dataset.gallery[1], "gone")]
    dropped = DroppedTracklets(tracks, "gallery", "it gets no feature")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        dropped.drop(1)
        dropped.drop(1)                                           # known: no second warning
    assert [w.category for w in rec] == [UnreadableTrackletWarning]
    t = tracks[1]
    assert str(rec[0].message) == (f"dropping gallery tracklet 1 (pid {t.pid}, camid {t.camid}, {root / 'gone'}): "
                                   f"none of its {len(t.frames)} frames is readable; it gets no feature")
    assert 1 in dropped and 0 not in dropped and len(dropped) == 1
    assert issubclass(UnreadableTrackletWarning, (CorruptFrameWarning, DataWarning))
    line = warnings.formatwarning(rec[0].message, rec[0].category, "x.py", 1)
    assert line.startswith("vidreid: warning: dropping gallery tracklet 1") and line.count("\n") == 1


@pytest.mark.parametrize("sampling", ["dense", "all"])
def test_each_test_dataset_drops_an_unreadable_tracklet_with_one_warning(root, dataset, sampling):
    import warnings
    from vidreid.data.loader import build_frame_stream_loader
    tracks = [dataset.gallery[0], _unreadable(root, dataset.gallery[2], "dead"), dataset.gallery[3]]  # 9 frames
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if sampling == "all":                                     # 4 frames per batch: tracklet 1 spans 3 batches
            seen = [b[1].tolist() for b in build_frame_stream_loader(tracks, cfg(), batch_frames=4)]
        else:                                                     # 3 clips of tracklet 1, in 2 batches
            seen = [b[1].tolist() for b in build_test_loader(tracks, cfg(test_batch_size=2), sampling="dense")]
    msgs = _drop_warnings(rec)
    assert len(msgs) == 1 and msgs[0].startswith("dropping test tracklet 1 (") and str(root / "dead") in msgs[0]
    assert 1 not in sum(seen, []) and {0, 2} <= set(sum(seen, []))


def test_training_dataset_drops_an_unreadable_tracklet_with_one_warning(root, dataset):
    import warnings
    from vidreid.data.loader import VideoTrainDataset
    from vidreid.data.transforms import ClipTransform
    tracks = [_unreadable(root, dataset.train[0], "dead"), dataset.train[1]]   # both pid of dataset.train[0]
    train = VideoTrainDataset(tracks, 4, "rrs", ClipTransform.from_config(cfg(), True))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for seed in range(3):
            _, pid, camid = train[(0, seed)]
            assert (pid, camid) == (tracks[1].pid, tracks[1].camid)  # served by the readable tracklet
    msgs = _drop_warnings(rec)
    assert len(msgs) == 1 and msgs[0].startswith("dropping training tracklet 0 (") and str(root / "dead") in msgs[0]
    assert msgs[0].endswith("its items use another tracklet of the same identity")
