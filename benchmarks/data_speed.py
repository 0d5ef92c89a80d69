"""Frames/s of vidreid's data pipelines next to their floors on the same JPEG files, per stage, on one core.

On a SynthPed at 256x128 in the MARS layout (JPEG frames; generated once under benchmarks/.cache/), in one process
with one torch thread and no DataLoader workers, alternating `--rounds` times and keeping each measure's best
round: "frames/s per core" = frames / this process's CPU time (a shared machine's other programs do not count):
  * floors: bare decode (read the file + libjpeg-turbo via simplejpeg at the input size, the fastest CPU decoder
    here), and reading pre-decoded uint8 frames from a
    frame cache (vidreid/data/frame_cache.py, built here once);
  * per stage, ms per frame, before -> after this data path: the training clip transform per clip as it was (torch
    ops: pad, slice, flip, normalise) -> ClipTransform's numpy path (bit-identical) or, for a GPU, nothing in the
    worker (transforms.augment_clips on the device); the collate of float32 clips -> of uint8 pixels; with CUDA the
    host->device copy of a float32 batch -> of a pinned uint8 batch;
  * pipelines: the training loader (float clips, as on a CPU; pixels + batch_to_device, as on a GPU) and the test
    loader (dense clips as extraction reads them on a CPU; with the frame cache; pixels + normalize_clips); the
    "before" rows rebuild the previous per-clip transform (torch ops) / per-clip normalisation + stacking collate
    around today's decoding, so they isolate what the new transform and collate save;
  * with CUDA (`gpu_measures`, also run by benchmarks/gpu_check.py): the data-wait share of a short `vidreid train`
    (TP, ResNet-50, bf16, data.workers auto; its second epoch, past the workers' start-up) and extraction end to end
    / the model's bare forward (`dense`, bf16, the gallery repeated to 30000 frames).
Checks (exit 1): the numpy transform, the batched augmentation and the cache give exactly the reference pixels.
The last line is `pipeline/decode floor: R`, R = test pipeline frames/s / bare-decode frames/s, both on one core.

    python benchmarks/data_speed.py [--ids 16] [--rounds 3] [--gpu-iters 60] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from vidreid.config import Config  # noqa: E402
from vidreid.data import load_dataset  # noqa: E402
from vidreid.data.decode import read_clip  # noqa: E402
from vidreid.data.frame_cache import FrameCacheError, build_frame_cache, dataset_frames, open_frame_cache  # noqa: E402
from vidreid.data.loader import (batch_to_device, build_test_loader, build_train_loader, normalize_clips,  # noqa: E402
                                 stack_pixels)
from vidreid.data.synthped import ensure_synthped  # noqa: E402
from vidreid.data.transforms import ClipTransform, augment_clips  # noqa: E402

SIZE = (256, 128)
MIN_FRAMES = 1000
CACHE = os.path.join(HERE, ".cache")


def best_rate(fn, count: int, rounds: int, clock=time.process_time) -> float:
    """count / the fastest of `rounds` timed calls of fn (after one warm-up call). The default clock is this
    process's CPU time: with one thread and no workers that is the work done on one core, which other programs
    sharing the machine do not inflate (wall time would count their turns on the core too)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return count / best


def make_config(root: str, batch: int, test_batch: int) -> Config:
    cfg = Config()
    cfg.data.dataset, cfg.data.root = "mars", root
    cfg.data.height, cfg.data.width = SIZE
    cfg.data.workers, cfg.data.batch_size, cfg.data.num_instances = 0, batch, 4
    cfg.data.test_batch_size, cfg.data.random_erasing = test_batch, 0.5
    return cfg


def open_or_build_cache(paths, folder: str) -> object:
    """The benchmark's own frame cache: reused when current, rebuilt (it is ours: benchmarks/.cache) otherwise."""
    try:
        return open_frame_cache(folder, *SIZE)
    except FrameCacheError:
        build_frame_cache(paths, folder, *SIZE, force=os.path.exists(folder), progress=False,
                          say=lambda line: print(line, flush=True))
        return open_frame_cache(folder, *SIZE)


def stage_table(dataset, cfg, cache, clips_idx, rounds: int, device, failures: list) -> list[tuple]:
    """(stage, before ms/frame, after ms/frame, note) rows on the same clips."""
    import simplejpeg
    from torch.utils.data import default_collate
    train_tf = ClipTransform.from_config(cfg.data, True)
    tracks = [dataset.train[i % len(dataset.train)] for i in range(len(clips_idx))]
    frame_lists = [[t.frames[j] for j in idx] for t, idx in zip(tracks, clips_idx)]
    n = sum(len(f) for f in frame_lists)
    files = [p for f in frame_lists for p in f]
    datas = [open(p, "rb").read() for p in files]
    clips = [read_clip(t.frames, idx, SIZE) for t, idx in zip(tracks, clips_idx)]
    params = [train_tf.draw_params(np.random.default_rng(i)) for i in range(len(clips))]
    ms = lambda rate: 1e3 / rate                                            # noqa: E731
    rows = []
    read = ms(best_rate(lambda: [open(p, "rb").read() for p in files], n, rounds))
    decode = ms(best_rate(lambda: [simplejpeg.decode_jpeg(d, colorspace="RGB", min_height=SIZE[0],
                                                          min_width=SIZE[1], min_factor=2) for d in datas], n, rounds))
    decode_clip = ms(best_rate(lambda: [read_clip(t.frames, idx, SIZE) for t, idx in zip(tracks, clips_idx)], n,
                               rounds))
    cached = ms(best_rate(lambda: [cache.read_clip(t.frames, idx) for t, idx in zip(tracks, clips_idx)], n, rounds))
    rows.append(("read file", read, read, "same"))
    rows.append(("decode JPEG (simplejpeg)", decode, decode, "same"))
    rows.append(("read_clip (read + decode + stack)", decode_clip, cached, "frame cache instead"))
    torch_path = lambda: [train_tf.apply(torch.from_numpy(c), p) for c, p in zip(clips, params)]   # noqa: E731
    numpy_path = lambda: [train_tf.apply(c, p) for c, p in zip(clips, params)]                    # noqa: E731
    before, after = torch_path(), numpy_path()
    if not all(torch.equal(a, b) for a, b in zip(before, after)):
        failures.append("numpy training transform differs from the torch one")
    rows.append(("train transform (pad-crop, flip, norm, erase)", ms(best_rate(torch_path, n, rounds)),
                 ms(best_rate(numpy_path, n, rounds)), "numpy path; GPU: on the device"))
    floats = [(a, 0, 0) for a in after]
    pixels = [torch.from_numpy(c) for c in clips]
    rows.append(("collate (B clips)", ms(best_rate(lambda: default_collate(floats), n, rounds)),
                 ms(best_rate(lambda: stack_pixels(pixels), n, rounds)), "uint8 pixels, GPU path"))
    batched = augment_clips(stack_pixels(pixels), torch.from_numpy(np.stack(params)), cfg.data.pad, cfg.data.mean,
                            cfg.data.std)
    if not torch.equal(batched, torch.stack(after)):
        failures.append("batched augment_clips differs from the per-clip transform")
    if device.type == "cuda":
        fb = default_collate(floats)[0].pin_memory()
        ub = stack_pixels(pixels).pin_memory()
        p = torch.from_numpy(np.stack(params))

        def h2d(x, augment):
            y = x.to(device, non_blocking=True)
            if augment:
                y = augment_clips(y, p, cfg.data.pad, cfg.data.mean, cfg.data.std)
            torch.cuda.synchronize()
        wall = time.perf_counter
        rows.append(("host->device (+ augment on the GPU)", ms(best_rate(lambda: h2d(fb, False), n, rounds, wall)),
                     ms(best_rate(lambda: h2d(ub, True), n, rounds, wall)), "uint8, pinned, non-blocking; wall"))
    return rows


class TorchOpsTransform(ClipTransform):
    """The clip transform as it was before the numpy path: torch ops on every clip (same results, bit for bit)."""

    def apply(self, clip, params, out=None):
        return super().apply(torch.from_numpy(np.ascontiguousarray(clip)), params, out)


def old_train_loader(dataset, cfg):
    """The training loader as it was: the dataset transforms each clip (torch ops), default_collate stacks floats."""
    from vidreid.data.loader import VideoTrainDataset
    from vidreid.data.samplers import ItemSeedSampler, PKSampler
    d = cfg.data
    tf = TorchOpsTransform(d.height, d.width, True, d.pad, d.flip, d.random_erasing, d.mean, d.std)
    ds = VideoTrainDataset(dataset.train, d.seq_len, d.train_sampling, tf)
    pk = PKSampler([t.pid for t in dataset.train], d.num_instances, d.batch_size, 0)
    return iter(torch.utils.data.DataLoader(ds, batch_size=d.batch_size, sampler=ItemSeedSampler(pk, 0),
                                            drop_last=True))


def old_test_loader(gallery, cfg):
    """The test loader as it was: each item normalised on its own (numpy), the batch stacked by the collate."""
    import functools
    from vidreid.data.loader import VideoTestDataset, _collate_test
    d = cfg.data
    ds = VideoTestDataset(gallery, d.seq_len, "dense", ClipTransform(d.height, d.width), d.strict)
    return iter(torch.utils.data.DataLoader(ds, batch_size=d.test_batch_size, collate_fn=functools.partial(
        _collate_test, empty_shape=(d.seq_len, 3, d.height, d.width))))


def speed_synthped(ids: int, smoke: bool, workers: int = 1) -> str:
    """The benchmark's SynthPed (MARS layout, JPEG frames at SIZE), generated once under benchmarks/.cache -> root."""
    opts = dict(ids=ids, cams=2, size=f"{SIZE[0]}x{SIZE[1]}", max_len=24 if smoke else 60,
                median_len=12 if smoke else 30)
    name = f"data_speed_{ids}ids" + ("_smoke" if smoke else "")
    return ensure_synthped(os.path.join(CACHE, name), progress=False, workers=workers, **opts)


def gpu_measures(root: str, iters: int, device: str = "cuda", backbone: str = "resnet50", amp: str | None = "bf16",
                 batch: int = 32, size: tuple[int, int] = SIZE, min_frames: int = 30000, reps: int = 20) -> dict:
    """Training data-wait share and extraction end to end / bare forward (made for CUDA; any device runs it).

    Training: TP on `backbone`, `batch` clips of 4 frames, data.workers auto, two epochs of iters/2 steps; the data
    wait of the second epoch is the steady state (the first also pays the workers' start-up, reported beside it).
    Extraction: `dense` test clips of the gallery repeated to >= `min_frames` frames (a loader's start-up is paid over
    a realistic amount of work), frames/s end to end (loader start-up included) and inside the model's calls, next
    to the bare forward of the same model on a random batch of the test batch's shape (`reps` timed calls)."""
    from vidreid.builders import prepare_dataset, build_for_dataset
    from vidreid.engine.train import train
    from vidreid.inference.extract import extract_features
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = {"device": str(dev), "backbone": backbone, "amp": amp or "off", "batch": batch, "size": list(size)}
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = make_config(root, batch, 8)
        cfg.data.height, cfg.data.width = size
        cfg.data.workers = "auto"
        cfg.model.name, cfg.model.backbone = "tp", backbone
        cfg.train.device, cfg.train.amp, cfg.train.epochs = device, amp or "off", 2
        cfg.train.iters_per_epoch, cfg.train.eval_every, cfg.train.output_dir = max(1, iters // 2), 0, run_dir
        cfg.train.tensorboard = False
        res = train(cfg, progress=False, force=True)
        out["train"] = {"steps": len(res["step_losses"]), "clips": f"{batch} x {cfg.data.seq_len}",
                        "data_wait_first_epoch": res["history"][0]["data_wait_fraction"],
                        "data_wait": res["history"][-1]["data_wait_fraction"],
                        "clips_per_s": res["history"][-1]["clips_per_s"]}
        dataset = prepare_dataset(cfg, progress=False)
        model = build_for_dataset(cfg, dataset.num_train_pids, pretrained=False).to(dev)
        gallery_frames = sum(len(t.frames) for t in dataset.gallery)
        tracks = dataset.gallery * max(1, -(-min_frames // gallery_frames))
        stats: dict = {}
        extract_features(model, tracks, cfg, "dense", dev, progress=False, amp=amp, stats=stats)
        x = torch.randn(cfg.data.test_batch_size, cfg.data.seq_len, 3, *size, device=dev)
        model.eval()
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            model(x)
            sync()
            start = time.perf_counter()
            for _ in range(reps):
                model(x)
            sync()
        forward = reps * x.shape[0] * x.shape[1] / (time.perf_counter() - start)
        e2e = stats["frames"] / stats["seconds"]
        out["extract"] = {"frames": stats["frames"], "end_to_end_fps": e2e,
                          "in_model_calls_fps": stats["frames"] / max(stats["model_seconds"], 1e-9),
                          "bare_forward_fps": forward, "ratio": e2e / forward}
    return out


def gpu_rows(root: str, iters: int) -> list[str]:
    """Training data-wait share and extraction end to end / forward, on CUDA, as printed lines."""
    m = gpu_measures(root, iters)
    t, e = m["train"], m["extract"]
    return [f"GPU train (TP resnet50 bf16, batch 32x4, workers auto, {t['steps']} steps): data-wait "
            f"{t['data_wait']:.1%} (second epoch; first epoch, workers starting: {t['data_wait_first_epoch']:.1%})",
            f"GPU extraction (dense, bf16, {e['frames']} frames): end to end {e['end_to_end_fps']:.0f} frames/s, "
            f"forward {e['bare_forward_fps']:.0f} frames/s, ratio {e['ratio']:.2f}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", type=int, default=16, help="SynthPed identities (default 16)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per measure; the best is kept")
    ap.add_argument("--gpu-iters", type=int, default=60, help="training steps of the CUDA data-wait run")
    ap.add_argument("--smoke", action="store_true", help="seconds: 4 identities, short tracklets, 1 round")
    args = ap.parse_args(argv)
    if args.smoke:
        args.ids, args.gpu_iters, args.rounds = 4, 5, 1
    torch.set_num_threads(1)                                               # one core
    root = speed_synthped(args.ids, args.smoke)
    name = os.path.basename(root)
    dataset = load_dataset("mars", root)
    cache = open_or_build_cache(dataset_frames(dataset), os.path.join(CACHE, name + "_frames"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = make_config(root, 8, 8)
    failures: list[str] = []
    print(f"SynthPed {args.ids} ids at {SIZE[0]}x{SIZE[1]} ({sum(len(t.frames) for t in dataset.gallery)} gallery "
          f"frames), 1 thread, 0 workers, best of {args.rounds}; device {device}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    # ---- floors and pipelines, measured in interleaved rounds (they see the same machine load)
    gallery_files = sorted({f for t in dataset.gallery for f in t.frames})
    # passes of at least MIN_FRAMES frames (the gallery repeated): a loader's set-up is paid over enough frames and
    # a pass lasts long enough to time on a busy machine
    reps = -(-MIN_FRAMES // len(gallery_files))
    gallery, gallery_files = dataset.gallery * reps, gallery_files * reps
    import simplejpeg

    def bare_decode():
        for p in gallery_files:                                             # noqa: B007 (a timed loop)
            with open(p, "rb") as f:
                simplejpeg.decode_jpeg(f.read(), colorspace="RGB", min_height=SIZE[0], min_width=SIZE[1],
                                       min_factor=2)
    unique = gallery_files[:len(gallery_files) // reps]
    reference = np.stack([simplejpeg.decode_jpeg(open(p, "rb").read(), colorspace="RGB") for p in unique])
    if not np.array_equal(cache.read_clip(unique, np.arange(len(unique))), reference):
        failures.append("frame cache pixels differ from the decoded frames")
    steps = 4 if args.smoke else 12
    cpu = torch.device("cpu")
    T = cfg.data.seq_len

    def train_pass(loader, prepare=None):
        """One pass of `steps` batches (fewer if the epoch is shorter) -> frames delivered."""
        def once():
            n = 0
            for _, batch in zip(range(steps), loader()):
                if prepare is not None:
                    prepare(batch)
                n += len(batch[-1]) * T
            return n
        return once

    def test_pass(loader, prepare=None):
        def once():
            n = 0
            for batch in loader():
                if prepare is not None:
                    prepare(batch)
                n += len(batch[1]) * T
            return n
        return once
    test_frames = train_frames = None                                      # counted by the warm-up pass
    cached_cfg = Config()
    cached_cfg.data = type(cfg.data)(**{**cfg.data.__dict__, "frame_cache": cache.folder})
    measures = {
        "floor: bare decode (read + simplejpeg)": (bare_decode, len(gallery_files)),
        "floor: frame cache (uint8 memmap)": (lambda: [cache.read_clip(gallery_files, [i, i + 1, i + 2, i + 3])
                                                      for i in range(0, len(gallery_files) - 3, 4)],
                                             len(gallery_files) // 4 * 4),
        "train loader, before (torch ops per clip, float collate)": (
            train_pass(lambda: old_train_loader(dataset, cfg)), train_frames),
        "train loader (CPU path: numpy, into the batch)": (train_pass(lambda: build_train_loader(dataset, cfg.data)),
                                                          train_frames),
        "train loader, pixels + augment_clips here (GPU path)": (train_pass(
            lambda: build_train_loader(dataset, cfg.data, pixels=True),
            lambda b: batch_to_device(b, cpu, cfg.data)), train_frames),
        "test loader, before (per-clip normalise + stack)": (test_pass(lambda: old_test_loader(gallery, cfg)),
                                                            test_frames),
        "test loader (dense; CPU path)": (test_pass(lambda: build_test_loader(gallery, cfg.data,
                                                                              sampling="dense")), test_frames),
        "test loader, frame cache": (test_pass(lambda: build_test_loader(gallery, cached_cfg.data,
                                                                         sampling="dense")), test_frames),
        "test loader, pixels + normalize_clips here (GPU path)": (test_pass(
            lambda: build_test_loader(gallery, cfg.data, sampling="dense", pixels=True),
            lambda b: normalize_clips(b[0], cfg.data)), test_frames),
    }
    best = {name: float("inf") for name in measures}
    counts = {name: fn() if count is None else count for name, (fn, count) in measures.items()}  # + warm-up
    for _ in range(args.rounds):
        for name, (fn, _) in measures.items():
            start = time.process_time()                                    # CPU time: see best_rate
            fn()
            best[name] = min(best[name], time.process_time() - start)
    rate = {name: counts[name] / best[name] for name in measures}
    print("\nframes/s, one core")
    for name, r in rate.items():
        print(f"  {name:55s} {r:8.0f}", flush=True)

    # ---- per-stage costs, before -> after
    clip_idx = [np.resize(np.arange(len(dataset.train[i % len(dataset.train)].frames)), T)
                for i in range(8 if args.smoke else 32)]
    print("\nstage (ms/frame, one core)                      before   after  note")
    for stage, before, after, note in stage_table(dataset, cfg, cache, clip_idx, args.rounds, device, failures):
        print(f"  {stage:45s} {before:6.3f}  {after:6.3f}  {note}", flush=True)
    test_fps = rate["test loader (dense; CPU path)"]
    decode_fps = rate["floor: bare decode (read + simplejpeg)"]
    if device.type == "cuda":
        for line in gpu_rows(root, args.gpu_iters):
            print(line, flush=True)
    for f in failures:
        print(f"FAILED: {f}")
    print(f"pipeline/decode floor: {test_fps / decode_fps:.2f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
