"""Batch samplers of the training loader: identity-balanced PK batches, split across ranks and resumable mid-epoch,
and the per-item seeds that make every item's clip and augmentation independent of workers, ranks and resumes."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from ..errors import ConfigError


class PKSampler(Sampler[int]):
    """Identity-balanced sampler (Hermans et al., "In Defense of the Triplet Loss", 2017; torchreid's
    RandomIdentitySampler): every batch of `batch_size` = P*K indices holds P distinct identities x K tracklets.

    Per epoch, each identity's tracklets are shuffled and cut into groups of K (identities with fewer than K
    tracklets are sampled with replacement to K; leftovers < K are dropped); batches then take P identities at
    random among those with groups left, until fewer than P remain. Everything is drawn from
    numpy Generator(seed, epoch, pass): `set_epoch(e)` selects the epoch and resets the pass counter; each
    iteration uses the next pass, so iterating twice within one epoch (iters_per_epoch > len) gives two different
    orders, and resuming at epoch e with set_epoch(e) reproduces it. The number of batches varies slightly
    between epochs (the random draw can strand a few groups at the end).
    """

    def __init__(self, pids: Sequence[int], num_instances: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1):
        self.K, self.batch_size, self.seed = int(num_instances), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        if self.K <= 0 or self.batch_size <= 0 or self.batch_size % self.K:
            raise ConfigError(f"data.batch_size ({batch_size}) must be a positive multiple of data.num_instances "
                              f"({num_instances}): a PK batch holds P identities x K tracklets")
        self.P = self.batch_size // self.K
        if self.P % self.world_size:
            raise ConfigError(f"with {self.world_size} processes, the P = {self.P} identities of a batch must split "
                              f"evenly across processes: make data.batch_size / data.num_instances a multiple of "
                              f"{self.world_size}")
        pids = np.asarray(pids, dtype=np.int64)
        order = np.argsort(pids, kind="stable")
        self.unique_pids, starts = np.unique(pids[order], return_index=True)
        self.groups = np.split(order, starts[1:])                # tracklet indices of each identity
        if len(self.unique_pids) < self.P:
            raise ConfigError(f"a PK batch needs P = batch_size / num_instances = {self.P} identities, but the "
                              f"training set has only {len(self.unique_pids)}")
        self.epoch, self.pass_index, self.start_batch = 0, 0, 0
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Select the epoch; `skip_batches` resumes it after that many (global) batches, across passes."""
        self.epoch, self.pass_index, self.start_batch = int(epoch), 0, int(skip_batches)
        while self.start_batch and self.start_batch >= self.num_batches(self.epoch, self.pass_index):
            self.start_batch -= self.num_batches(self.epoch, self.pass_index)
            self.pass_index += 1

    def num_batches(self, epoch: int, pass_index: int = 0) -> int:
        return len(self.epoch_indices(epoch, pass_index)) // self.batch_size

    def epoch_indices(self, epoch: int, pass_index: int = 0) -> np.ndarray:
        """All indices of one pass, (num_batches * batch_size,) int64, batch after batch (global batches)."""
        key = (int(epoch), int(pass_index))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, *key])
        chunks, owner = [], []
        for i, idxs in enumerate(self.groups):                   # loop over identities, not frames
            idxs = rng.choice(idxs, self.K, replace=True) if len(idxs) < self.K else rng.permutation(idxs)
            n = len(idxs) // self.K
            chunks.append(idxs[:n * self.K].reshape(n, self.K))
            owner.append(np.full(n, i))
        chunks, owner = np.concatenate(chunks), np.concatenate(owner)  # (num_groups, K), (num_groups,)
        # groups of one identity are consumed in order; next[i] = next unused group row of identity i
        first = np.searchsorted(owner, np.arange(len(self.groups)))
        left = np.bincount(owner, minlength=len(self.groups))
        batches = []
        while np.count_nonzero(left) >= self.P:                  # one iteration per batch
            ids = self.choose_identities(left, rng)
            batches.append(chunks[first[ids]].reshape(-1))
            first[ids] += 1
            left[ids] -= 1
        out = np.concatenate(batches).astype(np.int64) if batches else np.zeros(0, dtype=np.int64)
        self._cache = (key, out)
        return out

    def choose_identities(self, left: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The P identity indices (into unique_pids) of the next batch, among those with groups `left` > 0 (at
        least P have): P at random. Subclasses compose batches otherwise (pseudo_labels.CooccurrenceSampler)."""
        return rng.choice(np.flatnonzero(left), self.P, replace=False)

    def next_pass(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices, positions) of this rank for the next pass: positions index the global pass (for seeds).

        Rank r takes columns [r*B/W, (r+1)*B/W) of every global batch: P/W whole identities with their K
        tracklets each, so an identity never straddles ranks and the union over ranks is the global batch."""
        key = (self.epoch, self.pass_index)
        self.pass_index += 1
        idx = self.epoch_indices(*key)
        pos = np.arange(len(idx)).reshape(-1, self.batch_size)[self.start_batch:]   # (batches, B)
        self.start_batch = 0
        local = self.batch_size // self.world_size
        pos = pos[:, self.rank * local:(self.rank + 1) * local].reshape(-1)
        return idx[pos], pos

    def __iter__(self) -> Iterator[int]:
        return iter(self.next_pass()[0].tolist())

    def __len__(self) -> int:
        """Indices this rank yields in the current pass."""
        n = self.num_batches(self.epoch, self.pass_index) - self.start_batch
        return n * (self.batch_size // self.world_size)


class ItemSeedSampler(Sampler[tuple]):
    """Wraps a PKSampler: yields (index, item_seed), item seeds drawn from (seed, epoch, pass) and indexed by the
    item's position in the global pass, so that each item's clip and augmentation depend neither on which worker
    loads it, nor on the number of ranks, nor on whether the epoch was resumed midway. `set_epoch` is forwarded."""

    def __init__(self, sampler: PKSampler, seed: int = 0):
        self.sampler, self.seed = sampler, int(seed)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.sampler.set_epoch(epoch, skip_batches)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def __iter__(self):
        key = (self.sampler.epoch, self.sampler.pass_index)
        total = len(self.sampler.epoch_indices(*key))
        indices, positions = self.sampler.next_pass()            # advances the sampler's pass counter
        seeds = np.random.default_rng([self.seed, *key, 1]).integers(0, 2 ** 63 - 1, size=total)[positions]
        return iter(zip(indices.tolist(), seeds.tolist()))

    def __len__(self) -> int:
        return len(self.sampler)
