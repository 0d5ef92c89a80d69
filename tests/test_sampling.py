import numpy as np
import pytest

from vidreid.data.sampling import clip_counts, sample_clip
from vidreid.errors import ConfigError


def rng(seed=0):
    return np.random.default_rng(seed)


def test_consecutive_train_is_a_window_and_covers_all_starts():
    starts = set()
    for seed in range(200):
        idx = sample_clip(10, 4, "consecutive", True, rng(seed))
        assert idx.shape == (1, 4) and idx.dtype == np.int64
        assert np.array_equal(idx[0], idx[0, 0] + np.arange(4))
        starts.add(int(idx[0, 0]))
    assert starts == set(range(7))                               # 0..L-T inclusive


def test_consecutive_short_tracklet_cycles_and_test_takes_first_frames():
    assert sample_clip(3, 5, "consecutive", True, rng()).tolist() == [[0, 1, 2, 0, 1]]
    assert sample_clip(10, 4, "consecutive", False).tolist() == [[0, 1, 2, 3]]


def test_rrs_test_takes_first_frame_of_equal_chunks():
    # L=10, T=4: chunks [0,2) [2,5) [5,7) [7,10)
    assert sample_clip(10, 4, "rrs", False).tolist() == [[0, 2, 5, 7]]
    assert sample_clip(8, 4, "rrs", False).tolist() == [[0, 2, 4, 6]]
    assert sample_clip(4, 4, "rrs", False).tolist() == [[0, 1, 2, 3]]


def test_rrs_train_takes_one_frame_per_chunk():
    seen = [set() for _ in range(4)]
    for seed in range(300):
        idx = sample_clip(10, 4, "rrs", True, rng(seed))[0]
        for i, (lo, hi) in enumerate([(0, 2), (2, 5), (5, 7), (7, 10)]):
            assert lo <= idx[i] < hi
            seen[i].add(int(idx[i]))
    assert seen == [{0, 1}, {2, 3, 4}, {5, 6}, {7, 8, 9}]


def test_rrs_and_evenly_pad_short_tracklets_with_last_frame():
    for train in (True, False):
        assert sample_clip(3, 5, "rrs", train, rng()).tolist() == [[0, 1, 2, 2, 2]]
        assert sample_clip(3, 5, "evenly", train, rng()).tolist() == [[0, 1, 2, 2, 2]]


def test_evenly_fixed_stride():
    assert sample_clip(10, 4, "evenly", False).tolist() == [[0, 2, 4, 6]]
    assert sample_clip(17, 4, "evenly", False).tolist() == [[0, 4, 8, 12]]
    offsets = {int(sample_clip(10, 4, "evenly", True, rng(s))[0, 0]) for s in range(50)}
    assert offsets == {0, 1}
    idx = sample_clip(10, 4, "evenly", True, rng(3))[0]
    assert np.all(np.diff(idx) == 2)


def test_dense_clips_cover_every_frame_last_clip_cycles():
    assert sample_clip(10, 4, "dense", False).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 8, 9]]
    assert sample_clip(8, 4, "dense", False).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sample_clip(1, 4, "dense", False).tolist() == [[0, 0, 0, 0]]
    assert sample_clip(9, 4, "dense", False)[-1].tolist() == [8, 8, 8, 8]
    lengths = np.arange(1, 40)
    assert clip_counts(lengths, 4, "dense").tolist() == [len(sample_clip(n, 4, "dense", False)) for n in lengths]
    assert clip_counts(lengths, 4, "rrs").tolist() == [1] * len(lengths)


def test_all_returns_whole_tracklet():
    assert sample_clip(7, 4, "all", False).tolist() == [list(range(7))]


def test_indices_in_range_and_reproducible():
    for mode in ("consecutive", "rrs", "evenly"):
        for length in range(1, 30):
            for T in (1, 3, 4, 8):
                a = sample_clip(length, T, mode, True, rng(length * 31 + T))
                b = sample_clip(length, T, mode, True, rng(length * 31 + T))
                assert a.shape == (1, T) and np.array_equal(a, b)
                assert a.min() >= 0 and a.max() < length
    for mode in ("consecutive", "rrs", "evenly", "dense", "all"):
        for length in range(1, 30):
            idx = sample_clip(length, 4, mode, False)
            assert idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < length


def test_invalid_modes_and_arguments():
    with pytest.raises(ConfigError, match="dense"):
        sample_clip(10, 4, "dense", True, rng())                 # test-only mode
    with pytest.raises(ConfigError, match="bogus"):
        sample_clip(10, 4, "bogus", False)
    with pytest.raises(ValueError, match="Generator"):
        sample_clip(10, 4, "rrs", True, None)
    with pytest.raises(ValueError, match="empty"):
        sample_clip(0, 4, "rrs", False)
