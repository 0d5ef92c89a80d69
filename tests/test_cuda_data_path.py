"""The GPU data path on a real CUDA device (skipped without one; benchmarks/gpu_check.py runs these on a GPU machine).

* device-side augmentation: a training batch shipped as uint8 pixels + parameters and augmented on the GPU by
  `batch_to_device` (transforms.augment_clips) equals, on the same batch (same seed), the float batch the loader
  workers augment on the CPU; test clips and stream frames normalised on the GPU equal the CPU path's;
* uint8 transfer: pixel batches leave the loader as pinned uint8 (a quarter of float32's bytes), cross to the GPU
  unchanged, and extraction on the GPU (the pixel path) gives the CPU extraction's features;
* channels-last: every registered method (and NVAN on every backbone) runs forward on the GPU with its convolutions
  NHWC / NDHWC (models.base.to_channels_last) and gives the contiguous model's outputs; under bf16 autocast the
  forward and backward stay finite.

`VIDREID_CUDA_TESTS_DEVICE=cpu` runs the same checks on the CPU, to try the tests' own code on a machine without a GPU
(there the pixel path is exercised through batch_to_device / normalize_clips on the CPU, and extraction compares the
CPU path with itself).
"""
import copy
import os

import numpy as np
import pytest
import torch

from helpers_data import mars_root_fixtures
from test_channels_last import CASES, assert_channels_last, build
from vidreid.config import Config, DataConfig
from vidreid.data import loader as L
from vidreid.data.loader import batch_to_device, build_test_loader, build_train_loader, normalize_clips
from vidreid.data.transforms import ClipTransform
from vidreid.inference.extract import extract_features
from vidreid.models.base import frames_channels_last, to_channels_last

DEVICE = torch.device(os.environ.get("VIDREID_CUDA_TESTS_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (benchmarks/gpu_check.py runs these on a GPU machine)")

TRACKS = [(1, 1, 6), (1, 2, 3), (2, 1, 9), (2, 2, 4), (3, 1, 5), (3, 2, 7), (4, 1, 2), (4, 2, 8)]
root, dataset = mars_root_fixtures(TRACKS, "cudapath")


@pytest.fixture(autouse=True)
def exact_float32():
    """No TF32 in convolutions and matmuls (Ampere and later use it by default for convolutions): comparisons
    against float32 references then measure layout and data-path differences, not TF32's 10-bit mantissa."""
    if DEVICE.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def cfg(**kw):
    base = dict(height=32, width=16, seq_len=4, batch_size=4, num_instances=2, test_batch_size=3, workers=0, pad=2,
                flip=0.5, random_erasing=0.5)
    base.update(kw)
    return DataConfig(**base)


# ------------------------------------------------------------------------------------------- device-side augmentation
def epochs_of(loader, epochs: int) -> list:
    """The batches of `epochs` epochs (each a function of (seed, epoch): the same for both data paths)."""
    batches = []
    for epoch in range(epochs):
        loader.sampler.set_epoch(epoch)
        batches += list(loader)
    return batches


@pytest.mark.parametrize("workers", [0, 2])
def test_gpu_augmentation_equals_the_cpu_path_on_the_same_batch(dataset, workers):
    c = cfg(workers=workers)
    floats = epochs_of(build_train_loader(dataset, c, seed=5), 3)                # CPU path
    pixels = epochs_of(build_train_loader(dataset, c, seed=5, pixels=True), 3)   # GPU path
    assert len(floats) == len(pixels) >= 6
    params = torch.cat([p[1] for p in pixels])                        # (6B, 7): the batches exercise every op
    assert (params[:, 0] != c.pad).any() and params[:, 2].any() and (params[:, 5] > 0).any()
    for (cpu_clips, cpu_pids, _), raw in zip(floats, pixels):
        clips, pids = batch_to_device(raw, DEVICE, c)                 # (B, T, 3, H, W) on the device
        assert clips.device.type == DEVICE.type and clips.dtype == torch.float32
        got = clips.cpu()
        assert torch.equal(pids.cpu(), cpu_pids)
        diff = (got - cpu_clips).abs().max().item()
        assert diff <= 1e-5, f"device augmentation differs from the CPU path by up to {diff}"
        # transforms.augment_clips promises the same float32 operations, hence the same bits
        assert torch.equal(got, cpu_clips), f"equal within {diff} but not bit for bit"


def test_gpu_test_clips_and_stream_frames_equal_the_cpu_path(dataset):
    c = cfg()
    floats = list(build_test_loader(dataset.gallery, c, sampling="dense"))
    pixels = list(build_test_loader(dataset.gallery, c, sampling="dense", pixels=True))
    assert len(floats) == len(pixels) > 0
    for (a, ia), (p, ip) in zip(floats, pixels):
        assert torch.equal(normalize_clips(p.to(DEVICE), c).cpu(), a) and torch.equal(ia, ip)
    tf = ClipTransform.from_config(c, False)
    stream_u8 = L.FrameStreamDataset(dataset.gallery, 8, tf, False, 1, True)
    stream_f = L.FrameStreamDataset(dataset.gallery, 8, tf, False, 1, False)
    assert len(stream_u8) == len(stream_f) > 0
    for k in range(len(stream_f)):
        frames_u8, frames_f = stream_u8[k][0], stream_f[k][0]
        assert frames_u8.dtype == torch.uint8
        assert torch.equal(L.normalize_frames(frames_u8.to(DEVICE), c).cpu(), frames_f)


# ------------------------------------------------------------------------------------------- uint8 transfer
def test_pixel_batches_cross_as_pinned_uint8_unchanged(dataset):
    c = cfg()
    raw = next(iter(build_train_loader(dataset, c, seed=1, pixels=True)))
    floats = next(iter(build_train_loader(dataset, c, seed=1)))[0]
    pixels = raw[0]                                                   # (B, T, H, W, 3)
    assert pixels.dtype == torch.uint8 and pixels.shape == (4, 4, 32, 16, 3)
    assert pixels.numel() * pixels.element_size() * 4 == floats.numel() * floats.element_size()
    if DEVICE.type == "cuda":
        assert pixels.is_pinned()                                     # so that non_blocking copies are asynchronous
    moved = pixels.to(DEVICE, non_blocking=True)
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    assert moved.dtype == torch.uint8 and torch.equal(moved.cpu(), pixels)


@pytest.mark.parametrize("sampling", ["dense", "all"])
def test_extraction_on_the_device_gives_the_cpu_features(dataset, sampling):
    """extract_features on the GPU (uint8 clips or frames normalised there) against the CPU path (float clips
    from the workers), same weights: equal up to float32 kernel differences."""
    config = Config()
    config.data = cfg(test_batch_size=2)
    config.model.backbone = "resnet18"
    torch.manual_seed(0)
    from vidreid.models import build_model
    net = build_model("tp", 4, input_size=(32, 16), backbone="resnet18", pretrained=None).eval()
    cpu = extract_features(copy.deepcopy(net), dataset.gallery, config, sampling, "cpu", progress=False, amp="off")
    dev = extract_features(copy.deepcopy(net), dataset.gallery, config, sampling, DEVICE, progress=False, amp="off")
    assert cpu.shape == dev.shape and np.isfinite(cpu).all()
    np.testing.assert_allclose(dev, cpu, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------- channels-last
@pytest.mark.parametrize("model,backbone", CASES)
def test_channels_last_forward_of_every_method_on_the_device(model, backbone):
    ref, (H, W) = build(model, backbone)
    ref = ref.to(DEVICE).eval()
    nhwc = to_channels_last(copy.deepcopy(ref))
    assert_channels_last(nhwc)
    x = torch.rand(2, 4, 3, H, W, device=DEVICE)                     # (B, T, 3, H, W)
    with torch.no_grad():
        a, b = ref(x, return_attention=True), nhwc(frames_channels_last(x), return_attention=True)
    torch.testing.assert_close(b.embedding, a.embedding, rtol=1e-4, atol=1e-4)
    for name in a.attention:
        torch.testing.assert_close(b.attention[name], a.attention[name], rtol=1e-4, atol=1e-4)
    # bf16 autocast (what train.amp / extract --amp use on a GPU): a training step's forward and backward finite
    nhwc.train()
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16):
        out = nhwc(frames_channels_last(x))
    logits = out.logits if isinstance(out.logits, list) else [out.logits]
    loss = sum(lg.float().square().mean() for lg in logits if lg is not None) + out.embedding.float().square().mean()
    loss.backward()
    grads = [p.grad for p in nhwc.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
