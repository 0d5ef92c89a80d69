"""Streaming evaluation (vidreid/models/streaming.py): for every model that streams exactly, the feature of a clip fed
chunk by chunk equals the one-shot eval forward (chunk 1, a divisor of the length, a non-divisor, longer than the
clip), and the activation memory of streaming does not grow with the clip length."""
import pytest
import torch

from vidreid.models import build_model
from vidreid.models.streaming import (ActivationMemoryTracker, OnlineSoftmaxPool, pad_to_multiple, stream_clip,
                                      supports_streaming)

SIZE = (64, 32)                                                        # resnet18 maps: 4x2 (last stride 1), 2x1 (2)
LENGTH = 12
CHUNKS = (1, 3, 5, 16)                                                 # 1, divisor, non-divisor, > length

MODELS = {
    "tp": {},
    "ta": {},
    "rnn": {},
    "sta": {"num_blocks": 4},
    "sta_max": {"num_blocks": 2, "fusion": "max"},
    "sta_weighted": {"num_blocks": 4, "fusion": "weighted", "spatial_norm": "l2"},
    "drsta": {"num_parts": 3, "attention_dim": 8},
    "rru_stim": {"rru_hidden": 16, "stim_dim": 32},
    "ste_nvan": {},
}


def make(name: str, seed: int = 0):
    torch.manual_seed(seed)
    kwargs = dict(MODELS[name])
    arch = name.split("_")[0] if name.startswith("sta") else name
    model = build_model(arch, 5, input_size=SIZE, backbone="resnet18", **kwargs)
    # non-trivial BN statistics, so that eval-mode normalisation is exercised
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def one_shot(model, x):
    """The reference: the model's eval forward on the whole clip (RRU+STIM's eval forward itself streams, so its
    reference is the training-mode computation path in eval mode: RRU over all frames, then STIM)."""
    if hasattr(model, "rru"):
        S, _ = model.rru(model.frame_maps(x))
        return model.head(model.stim(S.transpose(1, 2)))[1]
    return model(x).embedding


def clip(length, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, 3, *SIZE, generator=g)


@pytest.mark.parametrize("name", list(MODELS))
def test_stream_equals_one_shot(name):
    model = make(name)
    assert supports_streaming(model)
    x = clip(LENGTH if name != "ste_nvan" else 10)
    with torch.inference_mode():
        expected = one_shot(model, pad_to_multiple(x, 4) if name == "ste_nvan" else x)
        for chunk in CHUNKS:
            got = stream_clip(model, x, chunk)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, msg=f"{name}, chunk {chunk}")
        # frames arriving as an iterable of uneven chunks
        got = stream_clip(model, iter(x.split(4 if name == "ste_nvan" else 7, dim=1)))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_single_frame_and_nvan_does_not_stream():
    with torch.inference_mode():
        for name in ("tp", "ta", "sta", "drsta", "rru_stim"):
            model = make(name)
            x = clip(1, batch=1)
            torch.testing.assert_close(stream_clip(model, x, 4), one_shot(model, x), rtol=1e-5, atol=1e-5)
    nvan = build_model("nvan", 5, backbone="resnet18")
    assert not supports_streaming(nvan)
    assert not supports_streaming(build_model("ste_nvan", 5, backbone="resnet18", temporal_reduction=False))


def test_online_softmax_pool_matches_softmax():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 11, 2, generator=g) * 30                   # large scores: the max shifts chunk to chunk
    values = torch.randn(3, 11, 2, 5, generator=g)
    expected = torch.einsum("btk,btkd->bkd", scores.softmax(1), values)
    for chunk in (1, 4, 11):
        pool = OnlineSoftmaxPool()
        for s, v in zip(scores.split(chunk, 1), values.split(chunk, 1)):
            pool.update(s, v)
        torch.testing.assert_close(pool.result(), expected, rtol=1e-5, atol=1e-6)


def test_pad_to_multiple_repeats_the_last_frame():
    x = torch.arange(6.0).view(1, 6, 1)
    assert pad_to_multiple(x, 4).flatten().tolist() == [0, 1, 2, 3, 4, 5, 5, 5]
    assert pad_to_multiple(x, 3) is x


def _peak(fn) -> int:
    with torch.inference_mode(), ActivationMemoryTracker() as tracker:
        fn()
    return tracker.peak


@pytest.mark.parametrize("name", ["tp", "ta", "rnn", "sta", "drsta", "rru_stim", "ste_nvan"])
def test_streaming_peak_memory_does_not_grow_with_length(name):
    """Frames are made chunk by chunk inside the measured block (as the extractor's loader delivers them), so the
    peak counts input, activations and streaming state; it must be the same for 8 and 32 frames, while the one-shot
    forward's grows with the length."""
    model = make(name)
    chunk = 4

    def chunks(length):
        g = torch.Generator().manual_seed(0)
        for _ in range(length // chunk):
            yield torch.randn(1, chunk, 3, *SIZE, generator=g)

    short = _peak(lambda: stream_clip(model, chunks(8)))
    long = _peak(lambda: stream_clip(model, chunks(32)))
    assert long == short, (short, long)
    x_short, x_long = clip(8, batch=1), clip(32, batch=1)
    assert _peak(lambda: one_shot(model, x_long)) > 2.5 * _peak(lambda: one_shot(model, x_short))


def test_memory_tracker_counts_live_storage():
    with ActivationMemoryTracker() as tracker:
        a = torch.zeros(1000)                                          # 4000 bytes
        b = a + 1                                                      # +4000
        del a
        c = b * 2                                                      # a freed: still 8000 at most
        del b, c
    assert tracker.peak == 8000 and tracker.current == 0
