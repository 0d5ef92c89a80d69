import numpy as np
import pytest

from vidreid.data.samplers import ItemSeedSampler, PKSampler
from vidreid.errors import ConfigError

PIDS = np.repeat(np.arange(12), [3, 5, 4, 4, 6, 2, 4, 4, 5, 3, 4, 8])


def _rank_batches(world, epoch=0, B=8, K=2):
    out = []
    for r in range(world):
        s = PKSampler(PIDS, K, B, seed=3, rank=r, world_size=world)
        s.set_epoch(epoch)
        out.append(np.array(list(s)).reshape(-1, B // world))
    return out


def test_ranks_partition_the_global_batches_by_identity():
    (single,) = _rank_batches(1)
    r0, r1 = _rank_batches(2)
    assert len(r0) == len(r1) == len(single)
    for g, a, b in zip(single, r0, r1):
        assert np.array_equal(np.concatenate([a, b]), g)          # union over ranks = the global batch
        assert not set(PIDS[a]) & set(PIDS[b])                     # different identities on each rank
        for part in (a, b):                                        # every identity keeps its K tracklets on one rank
            assert all(c == 2 for c in np.unique(PIDS[part], return_counts=True)[1])


def test_epochs_reshuffle_and_are_reproducible():
    a0, a1 = _rank_batches(2, epoch=0)[0], _rank_batches(2, epoch=1)[0]
    assert not np.array_equal(a0[:3], a1[:3])
    assert np.array_equal(a0, _rank_batches(2, epoch=0)[0])


def test_skip_batches_resumes_midway_with_the_same_item_seeds():
    full = ItemSeedSampler(PKSampler(PIDS, 2, 8, seed=1), seed=1)
    full.set_epoch(2)
    items = list(full)
    resumed = ItemSeedSampler(PKSampler(PIDS, 2, 8, seed=1), seed=1)
    resumed.set_epoch(2, skip_batches=2)
    assert list(resumed) == items[16:]


def test_item_seeds_do_not_depend_on_world_size():
    one = ItemSeedSampler(PKSampler(PIDS, 2, 8, seed=1), seed=1)
    one.set_epoch(0)
    seeds = dict(list(one))
    for r in range(2):
        s = ItemSeedSampler(PKSampler(PIDS, 2, 8, seed=1, rank=r, world_size=2), seed=1)
        s.set_epoch(0)
        for idx, seed in s:
            assert seeds[idx] == seed


def test_identities_must_split_evenly():
    with pytest.raises(ConfigError, match="split evenly"):
        PKSampler(PIDS, 2, 6, rank=0, world_size=2)   # P = 3 identities over 2 ranks
