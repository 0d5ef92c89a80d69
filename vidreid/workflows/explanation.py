"""`vidreid explain`: a picture of a model's own attention on one tracklet (viz/attention.py), for a checkpoint read
once. `explain(opts)` takes the command's parsed options (commands/explain.py)."""
from __future__ import annotations


def default_output(checkpoint: str, model: str, split: str, index: int) -> str:
    import os

    from ..store.run_folder import run_dir_of
    return os.path.join(run_dir_of(checkpoint), f"explain_{model}_{split}{index}.png")


def explain(args) -> int:
    import json

    import torch

    from ..data.decode import read_clip
    from ..data.sampling import sample_clip
    from ..data.transforms import ClipTransform
    from ..builders import prepare_dataset
    from ..errors import ConfigError
    from ..inference.extract import resolve_sampling
    from ..inference.model import build_model_from_checkpoint, open_checkpoint
    from ..store.checkpoint import Checkpoint
    from ..utils.arrays import jsonable
    from ..utils.io import atomic_write_text, check_output_file
    from ..utils.system import resolve_device
    from ..viz.attention import attention_figure

    if args.frames is not None and args.frames <= 0:
        raise ConfigError(f"--frames must be positive, got {args.frames}")
    # as `vidreid eval`: the checkpoint's config is the base, the --config file and the overrides apply on top
    checkpoint = Checkpoint.open(args.checkpoint)                  # read once, passed down
    cfg, meta = open_checkpoint(checkpoint, args.config, args.overrides)
    out = args.out or default_output(args.checkpoint, meta.get("model", cfg.model.name), args.split, args.tracklet)
    inputs = {"checkpoint": args.checkpoint, "config file": args.config}
    check_output_file(out, "--out", args.overwrite, inputs=inputs)          # before any work: never an input
    if args.json:
        check_output_file(args.json, "--json", args.overwrite, inputs={**inputs, "--out": out})
    dataset = prepare_dataset(cfg, progress=False)
    tracklets = getattr(dataset, args.split)
    if not 0 <= args.tracklet < len(tracklets):
        raise ConfigError(f"--tracklet {args.tracklet} is out of range: {dataset.name} has {len(tracklets)} "
                          f"{args.split} tracklets (0..{len(tracklets) - 1})")
    track = tracklets[args.tracklet]
    T = args.frames or cfg.data.test_seq_len or cfg.data.seq_len
    sampling = resolve_sampling(cfg, args.sampling)
    if sampling == "dense":                                        # one picture = one clip: spread it over the tracklet
        sampling = "rrs"
    frame_idx = sample_clip(len(track.frames), T, sampling, train=False)[0]  # (T,)
    size = (cfg.data.height, cfg.data.width)
    frames = read_clip(track.frames, frame_idx, size, cfg.data.strict)       # (T, h0, w0, 3) uint8
    clip = ClipTransform.from_config(cfg.data, train=False)(frames)          # (T, 3, H, W) normalised
    shown = torch.nn.functional.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2).float(), size=size,
                                            mode="bilinear", align_corners=False)
    shown = shown.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()   # (T, H, W, 3) what the model saw

    device = resolve_device(cfg.train.device)
    model, _ = build_model_from_checkpoint(checkpoint, dataset.num_train_pids, device)
    with torch.no_grad():
        attention = model(clip[None].to(device), return_attention=True).attention
    attention = {k: v[0].float().cpu() for k, v in attention.items()}       # drop the batch dimension

    name = meta.get("model", cfg.model.name)
    title = (f"{name} on {dataset.name} {args.split} tracklet {args.tracklet} (id {track.pid}, cam {track.camid + 1}, "
             f"{len(track.frames)} frames; {sampling} sampling, frames {', '.join(str(i + 1) for i in frame_idx)})")
    attention_figure(shown, attention, out, title)
    print(title)
    for key, value in attention.items():
        v = value.numpy()
        if v.ndim <= 2 and v.size <= 64:                           # temporal / part weights: small enough to read
            print(f"{key} {tuple(v.shape)}:\n{v.round(3)}")
        else:
            print(f"{key} {tuple(v.shape)} (drawn)")
    if not attention:
        print(f"{name} returns no attention: the picture shows the frames only")
    print(f"wrote {out}")
    if args.json:
        doc = {"model": name, "split": args.split, "tracklet": args.tracklet, "pid": track.pid, "camid": track.camid,
               "frame_indices": frame_idx, "attention": {k: v.numpy() for k, v in attention.items()}}
        atomic_write_text(args.json, json.dumps(jsonable(doc)))
    return 0
