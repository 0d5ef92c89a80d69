"""End-to-end feature extraction frames/s vs the model's own forward frames/s, on the same batch of frames.

On a SynthPed at 256x128 (generated once under benchmarks/.cache/), for each backbone (TP = per-frame ResNet +
temporal average pooling, random weights), in one process and alternately:
  * model forward: `model(x)` on a random (B/T, T, 3, 256, 128) batch of B frames already in memory, inference
    mode: what the model alone sustains;
  * end to end: `vidreid.inference.extract.extract_features` over real tracklets: JPEG decoding (simplejpeg) in `w`
    DataLoader worker processes, the clip transform, the forward, the temporal aggregation, everything from the
    loader's creation (worker start-up included) to the last feature.
    `all`: the frame stream cut into batches of B frames (exact streaming); `dense`: B/T clips of T frames per batch.
The ratio end-to-end / model forward is the target (>= 0.85); "model busy" is the share of the end-to-end wall time
spent inside the model's calls (on a CPU, what the pipeline leaves to the model; the model forward itself also runs
slower when worker processes take cores from it). `data only` is the loader alone (decode + transform in the main
process, no model): the ceiling the pipeline puts on a faster model.
`--memory L1 L2 ...`: peak tensor memory (vidreid.models.streaming.ActivationMemoryTracker: activations, streaming
state, outputs; decoded input excluded) of extracting one tracklet of L frames (a real tracklet's frames cycled) with
`all` sampling (streaming, B frames per forward) and of the one-shot forward on the whole tracklet (lengths up to
--one-shot-max only: it grows linearly).
Every run's features are checked against a reference: the model's one-shot forward on each whole decoded tracklet
(`all`; STE-NVAN-style padding does not apply to TP) or the mean of its dense clips (`dense`), on the first
`--check` tracklets, and against each other across worker counts. Exits 1 on any difference above 1e-4.

    python benchmarks/extract_speed.py [--archs resnet50 resnet18] [--batch 32] [--frames 128] [--workers 0 1 2]
                                       [--samplings all dense] [--device cpu|cuda] [--amp bf16] [--channels-last]
                                       [--memory 32 128 920] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from vidreid.config import Config  # noqa: E402
from vidreid.data import load_dataset  # noqa: E402
from vidreid.data.decode import read_clip  # noqa: E402
from vidreid.data.loader import build_frame_stream_loader, build_test_loader  # noqa: E402
from vidreid.data.sampling import sample_clip  # noqa: E402
from vidreid.data.synthped import ensure_synthped  # noqa: E402
from vidreid.data.transforms import ClipTransform  # noqa: E402
from vidreid.inference.extract import extract_features  # noqa: E402
from vidreid.utils.system import AMP_NAMES, amp_dtype  # noqa: E402
from vidreid.models import build_model  # noqa: E402
from vidreid.models.base import frames_channels_last, to_channels_last  # noqa: E402

TOLERANCE = 1e-4
SIZE = (256, 128)


def make_config(batch: int, seq_len: int, workers: int, device: str) -> Config:
    cfg = Config()
    cfg.data.height, cfg.data.width = SIZE
    cfg.data.test_seq_len, cfg.data.test_batch_size, cfg.data.workers = seq_len, batch // seq_len, workers
    cfg.train.device = device
    return cfg


def pick_tracklets(tracklets, frames: int):
    """The first tracklets (in dataset order) holding at least `frames` frames in all."""
    lengths = np.cumsum([len(t.frames) for t in tracklets])
    n = int(np.searchsorted(lengths, frames)) + 1
    return tracklets[:n]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_fps(model, batch: int, seq_len: int, device, amp, channels_last: bool, iters: int) -> float:
    """Frames/s of model(x) on a (batch/seq_len, seq_len, 3, H, W) batch in memory (after one warm-up)."""
    x = torch.randn(batch // seq_len, seq_len, 3, *SIZE, device=device)
    if channels_last:
        x = frames_channels_last(x)
    dtype = amp_dtype(amp)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        model(x)
        sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            model(x)
        sync(device)
    return iters * batch / (time.perf_counter() - start)


def data_fps(tracklets, cfg, sampling: str, batch: int) -> float:
    """Frames/s of the loader alone (decode + transform, in this process)."""
    cfg.data.workers = 0
    if sampling == "all":
        loader = build_frame_stream_loader(tracklets, cfg.data, batch)
        frames = loader.dataset.total_frames
    else:
        loader = build_test_loader(tracklets, cfg.data, sampling=sampling, seq_len=cfg.data.test_seq_len)
        frames = len(loader.dataset) * cfg.data.test_seq_len
    start = time.perf_counter()
    for _ in loader:
        pass
    return frames / (time.perf_counter() - start)


def reference(model, tracklets, sampling: str, seq_len: int, device) -> np.ndarray:
    """One-shot forward on each whole tracklet (`all`) or the mean of its dense clips, fp32."""
    transform = ClipTransform(*SIZE)
    out = []
    with torch.inference_mode():
        for t in tracklets:
            clips = sample_clip(len(t.frames), seq_len, sampling, False)           # (num_clips, T) or (1, L)
            x = torch.stack([transform(read_clip(t.frames, c, SIZE)) for c in clips]).to(device)
            out.append(model(x).embedding.float().mean(0).cpu().numpy())
    return np.stack(out)


def memory_rows(model, tracklet, lengths, batch: int, one_shot_max: int, device, failures) -> list[str]:
    """Peak tensor bytes of streaming extraction vs the one-shot forward, per tracklet length."""
    from vidreid.models.streaming import ActivationMemoryTracker
    transform, rows, stream_peaks = ClipTransform(*SIZE), [], []
    cfg = make_config(batch, 4, 0, str(device))
    for length in lengths:
        long = tracklet._replace(frames=tuple(tracklet.frames[i % len(tracklet.frames)] for i in range(length)))
        start = time.perf_counter()
        with ActivationMemoryTracker() as tracker:
            feats = extract_features(model, [long], cfg, "all", device, progress=False, chunk=batch)
        stream, seconds = tracker.peak, time.perf_counter() - start
        stream_peaks.append(stream)
        one_shot, diff = "-", "-"
        if length <= one_shot_max:
            x = transform(read_clip(long.frames, np.arange(length), SIZE))[None].to(device)   # (1, L, 3, H, W)
            with torch.inference_mode(), ActivationMemoryTracker() as tracker:
                expected = model(x).embedding.float().cpu().numpy()
            one_shot = f"{tracker.peak / 2 ** 20:.0f} MiB (+ {x.numel() * 4 / 2 ** 20:.0f} MiB input)"
            diff = f"{float(np.abs(feats - expected).max()):.0e}"
            if not float(diff) <= TOLERANCE:
                failures.append(f"memory run, {length} frames: streaming differs from one-shot by {diff}")
        print(f"{length} frames: streaming peak {stream / 2 ** 20:.1f} MiB ({seconds:.0f} s), one-shot {one_shot}, "
              f"max |diff| {diff}", flush=True)
        rows.append(f"| {length} | {batch} | {stream / 2 ** 20:.1f} MiB | {one_shot} | {diff} |")
    if max(stream_peaks) > 1.01 * min(stream_peaks):
        failures.append(f"streaming peak memory grows with the tracklet length: {stream_peaks}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["resnet50", "resnet18"])
    parser.add_argument("--model", default="tp", help="registered model (tp: per-frame backbone + mean)")
    parser.add_argument("--batch", type=int, default=32, help="frames per forward (B)")
    parser.add_argument("--seq-len", type=int, default=4, help="T of dense clips (B/T clips per batch)")
    parser.add_argument("--frames", type=int, default=128, help="frames extracted per end-to-end run")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samplings", nargs="*", default=["all", "dense"], help="none: memory only")
    parser.add_argument("--check", type=int, default=3, help="tracklets compared with the one-shot reference")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", default="off", choices=list(AMP_NAMES))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the main process (0: all CPUs)")
    parser.add_argument("--root", default=os.path.join(HERE, ".cache", "synthped-256x128"))
    parser.add_argument("--memory", type=int, nargs="*", default=[], metavar="L",
                        help="also measure peak memory for tracklets of these lengths (first arch), e.g. 32 128 920")
    parser.add_argument("--one-shot-max", type=int, default=128, help="longest one-shot forward in --memory")
    parser.add_argument("--smoke", action="store_true", help="seconds: 32x16 frames in a temporary SynthPed, ResNet-18, "
                        "8 frames, 0 and 1 workers, --memory 8 12, 1 thread (checks everything, measures nothing)")
    args = parser.parse_args()
    if args.smoke:
        global SIZE
        SIZE = (32, 16)
        args.archs, args.frames, args.workers, args.check, args.batch, args.threads = ["resnet18"], 8, [0, 1], 2, 8, 1
        from _smoke import smoke_dir
        args.root, args.memory, args.one_shot_max = os.path.join(smoke_dir("extract_speed"), "synthped"), [8, 12], 12

    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    device = torch.device(args.device)
    root = ensure_synthped(args.root, progress=False, ids=4 if args.smoke else 24, cams=3, height=SIZE[0],
                           width=SIZE[1], median_len=8 if args.smoke else 32, max_len=16 if args.smoke else 120, seed=0)
    dataset = load_dataset("synthped", root)
    tracklets = pick_tracklets(dataset.gallery, args.frames)
    for t in tracklets:                                                # warm the page cache
        for f in t.frames:
            with open(f, "rb") as fh:
                fh.read()
    total = sum(len(t.frames) for t in tracklets)
    load = os.getloadavg()[0]
    print(f"{len(tracklets)} tracklets, {total} frames at {SIZE[0]}x{SIZE[1]}; batch {args.batch} frames; device "
          f"{device}, amp {args.amp}, channels_last {args.channels_last}, {torch.get_num_threads()} torch threads, "
          f"{len(os.sched_getaffinity(0))} CPUs, load average {load:.1f}")
    failures, rows = [], []
    iters = max(2, -(-total // args.batch) // 2)
    for arch in args.archs:
        torch.manual_seed(0)
        model = build_model(args.model, 10, backbone=arch, input_size=SIZE).to(device).eval()
        if args.channels_last:
            model = to_channels_last(model)
        for sampling in args.samplings:
            cfg = make_config(args.batch, args.seq_len, 0, args.device)
            d_fps = data_fps(tracklets, cfg, sampling, args.batch)
            expected = reference(model, tracklets[:args.check], sampling, args.seq_len, device)
            first = None
            for workers in args.workers:
                cfg = make_config(args.batch, args.seq_len, workers, args.device)
                before = model_fps(model, args.batch, args.seq_len, device, args.amp, args.channels_last, iters)
                stats = {}
                feats = extract_features(model, tracklets, cfg, sampling, device, progress=False, chunk=args.batch,
                                         amp=args.amp, channels_last=args.channels_last, stats=stats)
                after = model_fps(model, args.batch, args.seq_len, device, args.amp, args.channels_last, iters)
                m_fps = (before + after) / 2
                e_fps = stats["frames"] / stats["seconds"]
                diff = float(np.abs(feats[:args.check] - expected).max())
                if args.amp == "off" and not diff <= TOLERANCE:
                    failures.append(f"{arch} {sampling} workers={workers}: differs from the one-shot reference by "
                                    f"{diff:.1e}")
                if first is None:
                    first = feats
                elif not np.allclose(feats, first, rtol=1e-5, atol=1e-5):
                    failures.append(f"{arch} {sampling} workers={workers}: features differ from workers="
                                    f"{args.workers[0]}")
                ratio = e_fps / m_fps
                busy = stats["model_seconds"] / stats["seconds"]
                print(f"{args.model}/{arch} {sampling:<5} workers={workers}: model forward {m_fps:7.1f} frames/s "
                      f"(before {before:.1f}, after {after:.1f}), end to end {e_fps:7.1f} frames/s "
                      f"({stats['frames']} frames, {stats['seconds']:.1f} s, model busy {100 * busy:.0f}% of it), "
                      f"ratio {ratio:.2f}; data only {d_fps:.0f} frames/s; max |diff| vs reference {diff:.1e}",
                      flush=True)
                rows.append(f"| {args.model}/{arch} | {sampling} | {args.batch} | {workers} | {m_fps:.1f} | "
                            f"{e_fps:.1f} | {ratio:.2f} | {'yes' if ratio >= 0.85 else 'no'} | {100 * busy:.0f}% | "
                            f"{d_fps:.0f} | {diff:.0e} |")
    memory = []
    if args.memory:
        torch.manual_seed(0)
        model = build_model(args.model, 10, backbone=args.archs[0], input_size=SIZE).to(device).eval()
        memory = memory_rows(model, tracklets[0], args.memory, args.batch, args.one_shot_max, device, failures)
    print(f"\nload average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")
    if rows:
        print("| model | sampling | batch (frames) | workers | model forward frames/s | end-to-end frames/s | ratio | "
              ">= 0.85 | model busy | data only frames/s | max diff vs one-shot |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
    if memory:
        print(f"\n{args.model}/{args.archs[0]}, peak tensor memory of one tracklet's extraction:\n")
        print("| tracklet frames | batch (frames) | streaming (`all`) | one-shot forward | max diff |")
        print("|---|---|---|---|---|")
        print("\n".join(memory))
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
