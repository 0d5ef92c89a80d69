"""Training and test DataLoaders over tracklets: clip sampling, decoding in workers, clip-consistent transforms.

Reproducibility: the training loader's sampler (`samplers.ItemSeedSampler` over a `samplers.PKSampler`) draws, from
(seed, epoch), both the PK batch composition and one 63-bit seed per item; each item's clip sampling and augmentation
use a numpy Generator seeded with that item seed. The batches of an epoch are therefore a function of (seed, epoch)
only: the same with 0, 1 or 8 workers, and after a resume (call `loader.sampler.set_epoch(epoch)` before each epoch;
every further pass over the loader within an epoch, and every pass when set_epoch is never called, draws a new order).

Fast path to a GPU (`pixels=True`, what training and extraction use on CUDA): the workers ship the decoded uint8
pixels (B, T, H, W, 3) (4x less than float32 to move through shared memory, pinned memory and the bus) and, for
training, each clip's augmentation parameters drawn from its item seed (ClipTransform.draw_params: same draws, same
order); `batch_to_device` copies them (non-blocking from pinned memory) and augments + normalises the whole batch on
the device in one vectorised function (transforms.augment_clips), bit for bit what the workers compute on a CPU.
"""
from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from ..errors import ConfigError, DatasetError
from ..utils.system import usable_cpus
from .decode import DroppedTracklets, NoReadableFrameError, read_clip
from .masks import suppress_background
from .frame_cache import FrameCache, open_frame_cache
from .photometric import PhotometricJitter
from .samplers import ItemSeedSampler, PKSampler
from .sampling import check_mode, clip_counts, sample_clip
from .transforms import ClipTransform, augment_clips, normalize_pixels
from .types import Tracklet, VideoReIDDataset



@dataclass(frozen=True)
class DataPath:
    """Where decoded pixels become model input, decided once for training, adaptation and extraction.

    on a GPU (`on_device`): the workers ship uint8 pixels (and, for training, each clip's augmentation parameters)
    and the device normalises / augments the whole batch (batch_to_device, normalize_clips, normalize_frames): 4x
    less to move through shared memory and the bus; on a CPU the workers normalise and augment, in parallel with the
    model."""
    on_device: bool         # pixels normalised and augmented on the device (True) or in the loader workers (False)

    @classmethod
    def for_device(cls, device) -> "DataPath":
        return cls(on_device=torch.device(device).type == "cuda")

class VideoTrainDataset(Dataset):
    """Item `i` or `(i, item_seed)` -> (clip (T, 3, H, W) float32, pid, camid), one random clip of tracklet i;
    with `pixels=True`: (pixels (T, H, W, 3), params (7,) int64, pid, camid), the clip's pixels before augmentation
    (uint8, or float32 in [0, 255] when they had to be resized) and its augmentation parameters, for
    transforms.augment_clips (see `batch_to_device`).

    A tracklet none of whose frames can be read (strict=False) is dropped with a warning: the item is served from
    another tracklet of the same identity (any other if it has none left), so PK batches keep their shape."""

    def __init__(self, tracklets: Sequence[Tracklet], seq_len: int, sampling: str, transform: ClipTransform,
                 strict: bool = False, pixels: bool = False, cache: FrameCache | None = None,
                 photometric: PhotometricJitter | None = None):
        check_mode(sampling, train=True)
        self.photometric = photometric                           # camera-style jitter of the uint8 clip, or None
        _check_nonempty(tracklets)
        self.tracklets, self.seq_len, self.sampling = list(tracklets), int(seq_len), sampling
        self.transform, self.strict, self.pixels, self.cache = transform, strict, pixels, cache
        self._fallback_rng: tuple[int, np.random.Generator] | None = None
        self._dropped = DroppedTracklets(self.tracklets, "training",
                                         "its items use another tracklet of the same identity")
        pids = np.fromiter((t.pid for t in self.tracklets), dtype=np.int64, count=len(self.tracklets))
        self._pids = pids

    def __len__(self) -> int:
        return len(self.tracklets)

    def _rng(self, item_seed) -> np.random.Generator:
        if item_seed is not None:
            return np.random.default_rng(item_seed)
        # plain int indices: one stream per process, seeded by torch (distinct per worker); keyed by pid so forked
        # workers do not inherit the parent's stream
        if self._fallback_rng is None or self._fallback_rng[0] != os.getpid():
            self._fallback_rng = (os.getpid(), np.random.default_rng([torch.initial_seed(), os.getpid()]))
        return self._fallback_rng[1]

    def __getitem__(self, item):
        index, item_seed = item if isinstance(item, tuple) else (item, None)
        rng = self._rng(item_seed)
        for index in self._candidates(index, rng):
            t = self.tracklets[index]
            frame_idx = sample_clip(len(t.frames), self.seq_len, self.sampling, True, rng)[0]  # (T,)
            try:
                clip = load_clip(t.frames, frame_idx, self.transform, self.strict, self.cache)
            except NoReadableFrameError:
                self._dropped.drop(index)
                continue
            if self.photometric is not None:
                clip = self.photometric(clip, rng)                  # uint8 in, uint8 out: before the transform
            params = self.transform.draw_params(rng)                # after the clip's draws, as ClipTransform
            if self.pixels:
                return clip_pixels(self.transform, clip), torch.from_numpy(params), t.pid, t.camid
            return self.transform.apply(clip, params), t.pid, t.camid                    # (T, 3, H, W)
        raise DatasetError(f"no training tracklet with a readable frame is left ({len(self._dropped)} dropped); "
                           f"run `vidreid data check` on the dataset root")

    def _candidates(self, index: int, rng: np.random.Generator) -> Iterator[int]:
        """The tracklet itself, else the other tracklets of its identity, else any other (in a random order)."""
        if index not in self._dropped:
            yield index                                          # the caller stops here unless it was unreadable
        same = np.flatnonzero(self._pids == self._pids[index])
        for pool in (same, np.flatnonzero(self._pids != self._pids[index])):
            for j in rng.permutation(pool).tolist():
                if j not in self._dropped:
                    yield j


def load_clip(frames: Sequence[str], indices, transform: ClipTransform, strict: bool,
              cache: FrameCache | None = None) -> np.ndarray:
    """frames[indices] -> uint8 (T, H, W, 3): from the frame cache when it holds them all, else decoded (at reduced
    scale where the JPEG allows, decode.read_clip, which also handles unreadable frames)."""
    clip = cache.read_clip(frames, indices) if cache is not None else None
    if clip is None:
        clip = read_clip(frames, indices, (transform.height, transform.width), strict)
    if getattr(transform, "background", "keep") == "suppress":
        clip = suppress_background(clip, [frames[i] for i in np.asarray(indices).reshape(-1)], transform.mean)
    return clip


def frame_cache_of(cfg) -> FrameCache | None:
    """The configured data.frame_cache, opened and checked (FrameCacheError if stale), or None."""
    return open_frame_cache(cfg.frame_cache, cfg.height, cfg.width) if getattr(cfg, "frame_cache", "") else None


def clip_pixels(transform: ClipTransform, clip: np.ndarray) -> torch.Tensor:
    """A decoded clip as shipped by `pixels=True` datasets: uint8 (T, H, W, 3) when it has the target size (no copy),
    else resized to it, float32 (T, H, W, 3) in [0, 255] (the values the transform itself would work on)."""
    if clip.shape[1:3] == (transform.height, transform.width):
        return torch.from_numpy(clip)
    return transform.resize(clip).permute(0, 2, 3, 1).contiguous()


def stack_pixels(pixels: list[torch.Tensor]) -> torch.Tensor:
    """(T, H, W, 3) clips -> (B, T, H, W, 3): uint8 when all are, else float32 (uint8 converts exactly); in a
    DataLoader worker straight into shared memory (default_collate)."""
    if len({p.dtype for p in pixels}) > 1:
        pixels = [p.float() for p in pixels]
    return default_collate(pixels)


def batch_buffer(shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    """An uninitialised batch tensor; in a DataLoader worker in shared memory (as default_collate makes it), so the
    batch written into it reaches the main process without another copy."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape))
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(numel)
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


def _collate_train(batch: list, transform: ClipTransform, augment: bool):
    """(pixels, params, pid, camid) items -> (clips (B, T, 3, H, W) float32, pids (B,), camids (B,)) with each clip
    augmented straight into its slot of the batch (`augment`, the CPU path), else (pixels (B, T, H, W, 3),
    params (B, 7), pids, camids) for batch_to_device (the GPU path)."""
    pixels, params, pids, camids = zip(*batch)
    pids, camids = torch.tensor(pids, dtype=torch.int64), torch.tensor(camids, dtype=torch.int64)
    if not augment:
        return stack_pixels(list(pixels)), torch.stack(params), pids, camids
    T = pixels[0].shape[0]
    clips = batch_buffer((len(batch), T, 3, transform.height, transform.width))
    out = clips.numpy()
    for k, (clip, p) in enumerate(zip(pixels, params)):              # loop over the clips of a batch (B)
        transform.apply(clip.numpy(), p.numpy(), out=out[k])
    return clips, pids, camids


def batch_to_device(batch, device: torch.device, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch -> (clips (B, T, 3, H, W) float32, pids (B,)) on `device`: float batches are copied
    (non-blocking); pixel batches (build_train_loader(pixels=True)) are copied as they are (uint8) and augmented +
    normalised there by transforms.augment_clips with the parameters the workers drew."""
    if len(batch) == 3:
        clips, pids, _ = batch
        return clips.to(device, non_blocking=True), pids.to(device, non_blocking=True)
    pixels, params, pids, _ = batch                                   # pixels: (B, T, H, W, 3)
    clips = augment_clips(pixels.to(device, non_blocking=True), params, cfg.pad, cfg.mean, cfg.std)
    return clips, pids.to(device, non_blocking=True)


class VideoTestDataset(Dataset):
    """Every test clip of every tracklet: item -> (clip (T, 3, H, W) float32, tracklet index); with `pixels=True`
    the clip's pixels (T, H, W, 3) instead (see `clip_pixels`), normalised by the consumer (`normalize_clips`).

    `dense` gives ceil(L/T) clips per tracklet (consecutive items share the tracklet index); `all` gives one clip of
    the whole tracklet (T = L varies, so batch it one at a time); other modes give one clip per tracklet.
    A tracklet none of whose frames can be read (strict=False) is dropped with a warning: its items are None, which
    the test loader's collate leaves out, so it gets no clip at all (its count in extraction stays 0).
    """

    def __init__(self, tracklets: Sequence[Tracklet], seq_len: int, sampling: str, transform: ClipTransform,
                 strict: bool = False, pixels: bool = False, cache: FrameCache | None = None):
        check_mode(sampling, train=False)
        _check_nonempty(tracklets)
        self.tracklets, self.seq_len, self.sampling = list(tracklets), int(seq_len), sampling
        self.transform, self.strict, self.pixels, self.cache = transform, strict, pixels, cache
        self.lengths = np.fromiter((len(t.frames) for t in self.tracklets), dtype=np.int64, count=len(self.tracklets))
        counts = clip_counts(self.lengths, self.seq_len, sampling)
        self.clip_end = np.cumsum(counts)                       # item i belongs to tracklet searchsorted(end, i, right)
        self.clip_start = self.clip_end - counts
        self._dropped = DroppedTracklets(self.tracklets, "test", "it gets no clip (no feature)")

    def __len__(self) -> int:
        return int(self.clip_end[-1]) if len(self.clip_end) else 0

    def __getitem__(self, item: int):
        t_idx = int(np.searchsorted(self.clip_end, item, side="right"))
        t = self.tracklets[t_idx]
        clips = sample_clip(len(t.frames), self.seq_len, self.sampling, False)  # (num_clips, T)
        frame_idx = clips[item - self.clip_start[t_idx]]
        try:
            clip = load_clip(t.frames, frame_idx, self.transform, self.strict, self.cache)
        except NoReadableFrameError:
            self._dropped.drop(t_idx)
            return None
        if self.pixels:
            return clip_pixels(self.transform, clip), t_idx
        return fast_test_transform(self.transform, clip), t_idx


def fast_test_transform(transform: ClipTransform, clip: np.ndarray) -> torch.Tensor:
    """transform(clip) for a test ClipTransform, bit for bit, ~10x faster when the frames already have the target
    size (MARS: 256x128): one uint8 -> float32 copy into the (T, 3, H, W) layout, then in-place normalisation with
    the same float32 arithmetic as normalize_clip ((x - 255 mean) / (255 std), each op correctly rounded). In numpy:
    single-threaded, so it costs the same in the main process, where torch's 2+ intra-op threads would fight the
    model's for the cores on small copies (measured 20x slower on 2 busy cores). Other clips go through the
    transform itself."""
    if transform.train or clip.shape[1:3] != (transform.height, transform.width):
        return transform(clip)
    return torch.from_numpy(normalize_pixels(clip, transform.mean, transform.std))


class _TestLoader(DataLoader):
    """A DataLoader that never yields an empty batch (every clip of it from dropped, unreadable tracklets): models
    cannot run on zero clips. len() still counts every batch."""

    def __iter__(self):
        for batch in super().__iter__():
            if len(batch[1]):
                yield batch


def _collate_test(batch: list, empty_shape: tuple[int, ...], pixels: bool = False,
                  transform: ClipTransform | None = None):
    """Collate the items left after dropping unreadable tracklets (None); an empty batch if none is. Items of a
    `pixels` dataset are stacked as pixels, or with `transform` normalised into one float32 batch (one copy, in
    numpy: see fast_test_transform for why); other items by default_collate."""
    kept = [b for b in batch if b is not None]
    if not kept:
        return torch.zeros((0, *empty_shape)), torch.zeros(0, dtype=torch.int64)
    track_idx = torch.tensor([t for _, t in kept], dtype=torch.int64)
    if pixels:                                                        # (T, H, W, 3) uint8 or float32
        if transform is None:
            return stack_pixels([clip for clip, _ in kept]), track_idx  # (N, T, H, W, 3)
        T, H, W, _ = kept[0][0].shape
        clips = batch_buffer((len(kept), T, 3, H, W))
        out = clips.numpy()
        for k, (clip, _) in enumerate(kept):                           # loop over the clips of a batch (N)
            normalize_pixels(clip.numpy(), transform.mean, transform.std, out=out[k])
        return clips, track_idx
    if torch.utils.data.get_worker_info() is None:
        # in the main process (workers=0): numpy's single-threaded copy; torch.stack's intra-op threads would fight
        # the model's for the cores (10x slower on 2 busy cores). Workers stack into shared memory (default_collate).
        clips = torch.from_numpy(np.stack([clip.numpy() for clip, _ in kept]))
        return clips, torch.tensor([t for _, t in kept], dtype=torch.int64)
    return default_collate(kept)


def _check_nonempty(tracklets: Sequence[Tracklet]) -> None:
    for i, t in enumerate(tracklets):
        if len(t.frames) == 0:
            raise DatasetError(f"tracklet {i} (pid {t.pid}, camid {t.camid}) has no frames")


def _worker_init(worker_id: int) -> None:
    # torch gives each worker base_seed + worker_id (base_seed from the loader's seeded generator); derive the
    # other libraries' seeds from it, and keep one thread per worker (the workers already run in parallel)
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)
    torch.set_num_threads(1)


MAX_AUTO_WORKERS = 12      # `workers: auto` never starts more (each holds a copy of the dataset's tracklet lists)


def resolve_workers(workers) -> int:
    """data.workers -> a worker count: an integer >= 0 as given; "auto": one per usable core but one (the main
    process runs the model), at most MAX_AUTO_WORKERS (0 on a single core: decoding there would only take turns
    with the model). Batches do not depend on it (item seeds), so `auto` keeps runs reproducible across machines."""
    if workers == "auto":
        return max(0, min(usable_cpus() - 1, MAX_AUTO_WORKERS))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"data.workers must be an integer >= 0 or auto, got {workers!r}")
    return workers


def resolve_prefetch(prefetch: int, workers: int) -> int | None:
    """data.prefetch -> DataLoader's prefetch_factor (batches each worker keeps ready): as given when > 0; 0 = auto:
    4 when a GPU consumes the batches (it drains them in bursts), else torch's default 2. None without workers."""
    if prefetch < 0:
        raise ConfigError(f"data.prefetch must be >= 0 (0 = auto), got {prefetch}")
    if workers == 0:
        return None
    return prefetch or (4 if torch.cuda.is_available() else 2)


def _loader_kwargs(cfg, seed: int) -> dict:
    workers = resolve_workers(cfg.workers)
    if cfg.height <= 0 or cfg.width <= 0:
        raise ConfigError(f"data.height and data.width must be positive, got {cfg.height}x{cfg.width}")
    # pinned memory only where a GPU will read the batches (page-locking host memory buys nothing on a CPU)
    return dict(num_workers=workers, persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(),
                prefetch_factor=resolve_prefetch(getattr(cfg, "prefetch", 0), workers),
                worker_init_fn=_worker_init, generator=torch.Generator().manual_seed(int(seed)))


def build_train_loader(dataset: VideoReIDDataset, cfg, seed: int = 0, rank: int = 0,
                       world_size: int = 1, pixels: bool = False, batches=None) -> DataLoader:
    """PK batches of `cfg.batch_size` clips: yields (clips (B, T, 3, H, W) float32, pids (B,) int64,
    camids (B,) int64), with B = cfg.batch_size, K = cfg.num_instances, T = cfg.seq_len, cfg.train_sampling.
    With world_size > 1, cfg.batch_size is the global batch and each rank gets its B / world_size share.
    `pixels=True` (for a GPU): yields (pixels (B, T, H, W, 3), params (B, 7), pids, camids) instead; pass each batch
    to `batch_to_device`, which gives the same clips. `batches`: the sampler that composes the batches (default
    PKSampler over the identities; `vidreid adapt` passes pseudo_labels.CooccurrenceSampler)."""
    if cfg.seq_len <= 0:
        raise ConfigError(f"data.seq_len must be positive, got {cfg.seq_len}")
    transform = ClipTransform.from_config(cfg, True)
    # the dataset always ships pixels + parameters: the collate augments them into one batch unless `pixels`
    train = VideoTrainDataset(dataset.train, cfg.seq_len, cfg.train_sampling, transform, cfg.strict, pixels=True,
                              cache=frame_cache_of(cfg), photometric=PhotometricJitter.from_config(cfg))
    if batches is None:
        batches = PKSampler([t.pid for t in dataset.train], cfg.num_instances, cfg.batch_size, seed, rank, world_size)
    return DataLoader(train, batch_size=cfg.batch_size // world_size, sampler=ItemSeedSampler(batches, seed),
                      drop_last=True,
                      collate_fn=functools.partial(_collate_train, transform=transform, augment=not pixels),
                      **_loader_kwargs(cfg, seed))


def build_test_loader(tracklets: list[Tracklet], cfg, sampling: str | None = None,
                      seq_len: int | None = None, pixels: bool = False) -> DataLoader:
    """Every test clip in order: yields (clips (N, T, 3, H, W) float32, track_idx (N,) int64), N <= test_batch_size.

    sampling defaults to cfg.test_sampling, seq_len to cfg.test_seq_len or cfg.seq_len. `dense` yields several clips
    per tracklet (average their features per track_idx); `all` yields one whole tracklet per batch (N = 1, T = L).
    `pixels=True` (for a GPU): clips come as pixels (N, T, H, W, 3), uint8 when the frames have the target size;
    `normalize_clips` turns them into the same float clips on the device.
    """
    sampling = sampling or cfg.test_sampling
    seq_len = seq_len or cfg.test_seq_len or cfg.seq_len
    if seq_len <= 0:
        raise ConfigError(f"test clip length must be positive, got {seq_len}")
    transform = ClipTransform.from_config(cfg, False)
    # the dataset always ships pixels: the collate normalises a whole batch into one buffer unless `pixels`
    test = VideoTestDataset(tracklets, seq_len, sampling, transform, cfg.strict, True, frame_cache_of(cfg))
    batch_size = 1 if sampling == "all" else cfg.test_batch_size
    if batch_size <= 0:
        raise ConfigError(f"data.test_batch_size must be positive, got {cfg.test_batch_size}")
    empty_shape = (seq_len, cfg.height, cfg.width, 3) if pixels else (seq_len, 3, cfg.height, cfg.width)
    return _TestLoader(test, batch_size=batch_size, shuffle=False, drop_last=False,
                       collate_fn=functools.partial(_collate_test, empty_shape=empty_shape, pixels=True,
                                                   transform=None if pixels else transform), **_loader_kwargs(cfg, 0))


class FrameStreamDataset(Dataset):
    """`all` sampling in bounded memory: every frame of every tracklet, in order, as one stream cut into batches of
    `batch_frames` frames (a batch may hold the end of one tracklet and the start of the next; a long tracklet spans
    several batches). Item k -> (frames (N, 3, H, W) float32 with N <= batch_frames, seg_track (S,) int64,
    seg_len (S,) int64, seg_last (S,) bool): the batch's frames are S consecutive segments, segment j holding seg_len[j]
    frames of tracklet seg_track[j], seg_last[j] when it ends that tracklet.

    `frame_multiple` m: each tracklet is padded to a multiple of m frames by repeating its last frame (STE-NVAN
    processes frames in groups of 4) and batch_frames is rounded up to a multiple of m, so no group is split.
    `uint8=True`: frames that already have the target size come as the decoded uint8 pixels (N, H, W, 3), not
    normalised: 4x less to move to a GPU, which normalises them (`normalize_frames`).
    Unreadable tracklets (strict=False) are dropped with a warning: their segments are left out of the item.
    """

    def __init__(self, tracklets: Sequence[Tracklet], batch_frames: int, transform: ClipTransform,
                 strict: bool = False, frame_multiple: int = 1, uint8: bool = False, cache: FrameCache | None = None):
        _check_nonempty(tracklets)
        m = int(frame_multiple)
        if batch_frames <= 0 or m <= 0:
            raise ConfigError(f"frames per batch ({batch_frames}) and frame multiple ({m}) must be positive")
        self.tracklets, self.transform, self.strict, self.uint8 = list(tracklets), transform, strict, uint8
        self.cache = cache
        self.batch_frames = -(-int(batch_frames) // m) * m
        self.lengths = np.fromiter((len(t.frames) for t in self.tracklets), dtype=np.int64, count=len(self.tracklets))
        self.padded = -(-self.lengths // m) * m                      # frames each tracklet takes in the stream
        self.ends = np.cumsum(self.padded)                           # tracklet i = stream frames [starts[i], ends[i])
        self.starts = self.ends - self.padded
        self.total_frames = int(self.ends[-1]) if len(self.ends) else 0
        self._dropped = DroppedTracklets(self.tracklets, "test", "it gets no frame (no feature)")

    def __len__(self) -> int:
        return -(-self.total_frames // self.batch_frames)

    def __getitem__(self, item: int):
        lo = item * self.batch_frames
        hi = min(lo + self.batch_frames, self.total_frames)
        first, last = np.searchsorted(self.ends, [lo, hi - 1], side="right")
        clips, tracks, counts, ends = [], [], [], []
        for i in range(int(first), int(last) + 1):                  # loop over the (few) tracklets of the batch
            t = self.tracklets[i]
            a, b = max(lo, self.starts[i]) - self.starts[i], min(hi, self.ends[i]) - self.starts[i]
            frame_idx = np.minimum(np.arange(a, b), self.lengths[i] - 1)  # padding repeats the last frame
            try:
                clip = load_clip(t.frames, frame_idx, self.transform, self.strict, self.cache)
            except NoReadableFrameError:
                self._dropped.drop(i)
                continue
            clips.append(clip)                                       # (b - a, h, w, 3) uint8
            tracks.append(i)
            counts.append(int(b - a))
            ends.append(bool(b == self.padded[i]))
        size = (self.transform.height, self.transform.width)
        if not clips:
            frames = torch.zeros(0, 3, *size)
        elif all(c.shape[1:3] == size for c in clips) and self.uint8:
            frames = torch.from_numpy(np.concatenate(clips))          # (N, H, W, 3) uint8
        elif all(c.shape[1:3] == size for c in clips):               # one transform for the whole batch
            frames = fast_test_transform(self.transform, np.concatenate(clips))
        else:
            frames = torch.cat([fast_test_transform(self.transform, c) for c in clips])  # (N, 3, H, W)
        return (frames, torch.tensor(tracks, dtype=torch.int64), torch.tensor(counts, dtype=torch.int64),
                torch.tensor(ends, dtype=torch.bool))


def normalize_frames(frames: torch.Tensor, cfg) -> torch.Tensor:
    """Frames from FrameStreamDataset(uint8=True), on any device: uint8 (N, H, W, 3) -> float32 (N, 3, H, W)
    normalised with the test transform's arithmetic, in channels-last memory (already-float frames pass through)."""
    if frames.dtype != torch.uint8:
        return frames
    mean = torch.tensor(cfg.mean, dtype=torch.float32, device=frames.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(cfg.std, dtype=torch.float32, device=frames.device).view(1, 3, 1, 1) * 255.0
    return frames.permute(0, 3, 1, 2).float().sub_(mean).div_(std)


def normalize_clips(clips: torch.Tensor, cfg) -> torch.Tensor:
    """Test clips from build_test_loader(pixels=True), on any device: (N, T, H, W, 3) uint8 or float32 pixels ->
    float32 (N, T, 3, H, W) normalised with the test transform's arithmetic."""
    return augment_clips(clips, None, 0, cfg.mean, cfg.std)


def build_frame_stream_loader(tracklets: list[Tracklet], cfg, batch_frames: int, frame_multiple: int = 1,
                              uint8: bool = False) -> DataLoader:
    """Every frame of every tracklet in stream order, `batch_frames` per batch (see FrameStreamDataset), decoded in
    `cfg.workers` processes: memory is bounded by the batch whatever the tracklet lengths."""
    stream = FrameStreamDataset(tracklets, batch_frames, ClipTransform.from_config(cfg, False), cfg.strict,
                                frame_multiple, uint8, frame_cache_of(cfg))
    return DataLoader(stream, batch_size=None, shuffle=False, **_loader_kwargs(cfg, 0))
