"""Feature extraction (vidreid/inference/extract.py): `all` sampling streams the frames of every tracklet in bounded
batches and equals the one-shot forward on each whole tracklet at every chunk size (batches that cut tracklets
anywhere); dense equals the mean of its clips; worker processes change nothing; models that cannot stream fall back
to dense with a warning; unreadable tracklets get a NaN row (which finite_rows drops); memory does not grow with the
tracklet length."""
import numpy as np
import pytest
import torch

from vidreid.config import Config
from vidreid.data import load_dataset
from vidreid.data.decode import CorruptFrameWarning, read_clip
from vidreid.data.loader import FrameStreamDataset
from vidreid.data.sampling import sample_clip
from vidreid.data.transforms import ClipTransform
from vidreid.inference.extract import SamplingFallbackWarning, extract_features
from vidreid.models import build_model
from vidreid.models.streaming import ActivationMemoryTracker

SIZE = (32, 16)


@pytest.fixture(scope="module")
def tracklets(tiny_synthped):
    ds = load_dataset("synthped", tiny_synthped)
    return ds.query[:6]                                                # 6 tracklets of 8-12 frames


def config(**data) -> Config:
    cfg = Config()
    cfg.data.height, cfg.data.width = SIZE
    cfg.data.workers, cfg.data.test_seq_len, cfg.data.test_batch_size = 0, 4, 3
    for k, v in data.items():
        setattr(cfg.data, k, v)
    return cfg


def make(name, **kw):
    torch.manual_seed(0)
    return build_model(name, 5, input_size=SIZE, backbone="resnet18", **kw).eval()


def reference(model, tracklets, sampling="all", seq_len=4, multiple=1):
    """One-shot eval forward on each whole decoded tracklet (padded to `multiple` frames by repeating the last), or
    the mean of its clips."""
    transform = ClipTransform(*SIZE)
    out = []
    with torch.no_grad():
        for t in tracklets:
            clips = sample_clip(len(t.frames), seq_len, sampling, False)
            if multiple > 1:
                clips = np.minimum(np.arange(-(-clips.shape[1] // multiple) * multiple), len(t.frames) - 1)[None]
            x = torch.stack([transform(read_clip(t.frames, c, SIZE)) for c in clips])
            out.append(model(x).embedding.mean(0).numpy())
    return np.stack(out)


@pytest.mark.parametrize("name, kwargs, multiple", [("tp", {}, 1), ("ta", {}, 1), ("sta", {"num_blocks": 2}, 1),
                                                     ("ste_nvan", {}, 4)])
def test_all_sampling_streams_exactly_at_any_chunk(tracklets, name, kwargs, multiple):
    model = make(name, **kwargs)
    expected = reference(model, tracklets, multiple=multiple)
    for chunk in (1, 3, 5, 64):                                       # 1, non-divisors, more than every tracklet
        stats = {}
        got = extract_features(model, tracklets, config(), "all", progress=False, chunk=chunk, stats=stats)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"{name}, chunk {chunk}")
        assert stats["aggregation"] == "stream"
        padded = sum(-(-len(t.frames) // multiple) * multiple for t in tracklets)
        assert stats["frames"] == padded
    assert model.training is False


def test_dense_is_the_mean_of_its_clips_and_workers_change_nothing(tracklets):
    model = make("tp")
    expected = reference(model, tracklets, "dense")
    got = extract_features(model, tracklets, config(), "dense", progress=False)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    in_workers = extract_features(model, tracklets, config(workers=1), "all", progress=False, chunk=5)
    np.testing.assert_allclose(in_workers, reference(model, tracklets), rtol=1e-5, atol=1e-5)


def test_frame_stream_batches_are_bounded_and_cover_every_frame(tracklets):
    transform = ClipTransform(*SIZE)
    lengths = [len(t.frames) for t in tracklets]
    for batch, multiple in ((5, 1), (3, 4), (100, 1)):
        stream = FrameStreamDataset(tracklets, batch, transform, frame_multiple=multiple)
        per_track = {i: 0 for i in range(len(tracklets))}
        order, lasts = [], []
        for k in range(len(stream)):
            frames, seg_track, seg_len, seg_last = stream[k]
            assert len(frames) == int(seg_len.sum()) <= stream.batch_frames
            assert stream.batch_frames % multiple == 0
            for i, n, last in zip(seg_track.tolist(), seg_len.tolist(), seg_last.tolist()):
                assert n % multiple == 0
                per_track[i] += n
                order.append(i)
                lasts.append((i, last))
        padded = [-(-n // multiple) * multiple for n in lengths]
        assert [per_track[i] for i in range(len(tracklets))] == padded
        assert order == sorted(order)                                 # tracklets in order, each contiguous
        assert [i for i, last in lasts if last] == list(range(len(tracklets)))
    # padding repeats the last frame; the frames are the decoded, transformed tracklet
    stream = FrameStreamDataset(tracklets[:1], 64, transform, frame_multiple=5)
    frames = stream[0][0]
    L = lengths[0]
    assert len(frames) == -(-L // 5) * 5
    assert torch.equal(frames[L:], frames[L - 1:L].expand(len(frames) - L, -1, -1, -1))
    assert torch.equal(frames[:L], transform(read_clip(tracklets[0].frames, np.arange(L), SIZE)))


def test_model_that_cannot_stream_falls_back_to_dense(tracklets):
    model = make("nvan")
    with pytest.warns(SamplingFallbackWarning, match="nvan cannot stream.*dense clips of 4 frames"):
        stats = {}
        got = extract_features(model, tracklets[:2], config(), "all", progress=False, stats=stats)
    assert stats["aggregation"] == "dense-fallback"
    np.testing.assert_allclose(got, reference(model, tracklets[:2], "dense"), rtol=1e-5, atol=1e-5)


def test_unreadable_tracklet_gets_a_nan_row(tracklets, tmp_path):
    broken = tracklets[1]._replace(frames=tuple(str(tmp_path / f"missing{i}.jpg") for i in range(9)))
    items = [tracklets[0], broken, tracklets[2]]
    model = make("tp")
    with pytest.warns(CorruptFrameWarning, match="dropping test tracklet 1"):
        got = extract_features(model, items, config(), "all", progress=False, chunk=4)
    assert np.isnan(got[1]).all()     # no feature: evaluation and indexing leave the row out (finite_rows)
    np.testing.assert_allclose(got[[0, 2]], reference(model, [tracklets[0], tracklets[2]]), rtol=1e-5, atol=1e-5)


def test_long_tracklet_extraction_memory_does_not_grow(tracklets):
    """A 240-frame tracklet costs the same peak tensor memory (activations, streaming state, features) as a 24-frame
    one, measured over the whole extraction (loader in this process). The decoded input is numpy-made, so not
    counted here: test_frame_stream_batches_are_bounded_and_cover_every_frame bounds it by the batch."""
    model = make("ta")
    t = tracklets[0]

    def peak(length):
        long = t._replace(frames=tuple(t.frames[i % len(t.frames)] for i in range(length)))  # frames cycled
        with ActivationMemoryTracker() as tracker:
            extract_features(model, [long], config(), "all", progress=False, chunk=8)
        return tracker.peak

    short, long = peak(24), peak(240)
    assert long == short, (short, long)


def test_bf16_autocast_and_channels_last_stay_close(tracklets):
    # 64x32 frames: on AMX CPUs torch 2.13's bf16 3x3 stride-2 convolution returns wrong values when its output map
    # is 2x1 (layer3 of a ResNet at 32x16 frames; relative error ~1.5, sometimes NaN), a oneDNN kernel bug that
    # real frame sizes never reach; 64x32 gives layer3 a 4x2 output, computed right
    model = build_model("tp", 5, input_size=(64, 32), backbone="resnet18").eval()
    cfg = config(height=64, width=32)
    fp32 = extract_features(model, tracklets[:3], cfg, "all", progress=False)
    with torch.backends.mkldnn.flags(enabled=False):   # and intermittently at other shapes: PyTorch's own kernels
        bf16 = extract_features(model, tracklets[:3], cfg, "all", progress=False, amp="bf16", channels_last=True)
    assert bf16.dtype == np.float32
    assert np.abs(bf16 - fp32).max() < 0.05 * np.abs(fp32).max()


def test_uint8_frames_normalised_on_the_device_give_the_same_features(tracklets, monkeypatch):
    """The GPU path (frames leave the workers as uint8 and are normalised on the device), forced on the CPU."""
    from vidreid.data.loader import DataPath
    model = make("tp")
    expected = extract_features(model, tracklets, config(), "all", progress=False, chunk=5)
    monkeypatch.setattr(DataPath, "for_device", classmethod(lambda cls, device: cls(on_device=True)))
    got = extract_features(model, tracklets, config(), "all", progress=False, chunk=5)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    stream = FrameStreamDataset(tracklets[:1], 4, ClipTransform(*SIZE), uint8=True)
    assert stream[0][0].dtype == torch.uint8 and stream[0][0].shape == (4, *SIZE, 3)


def test_fast_test_transform_is_the_test_transform_bit_for_bit():
    from vidreid.data.loader import fast_test_transform
    clip = np.random.default_rng(0).integers(0, 256, (3, *SIZE, 3), dtype=np.uint8)
    transform = ClipTransform(*SIZE, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    assert torch.equal(fast_test_transform(transform, clip), transform(clip))
    small = clip[:, ::2, ::2]                                         # another size: through the transform (resize)
    assert torch.equal(fast_test_transform(transform, small), transform(small))
