"""A picture of a model's own attention on one clip: the frames with the spatial maps overlaid, and the temporal /
part weights plotted beside them (`vidreid explain`).

What each model returns in eval with `return_attention=True` (batch dimension removed here), and how it is drawn:

| model            | key         | shape        | drawn as                                                           |
|------------------|-------------|--------------|--------------------------------------------------------------------|
| sta (Fu et al.)  | `g`         | (T, h, w)    | one overlay row; the K horizontal blocks are outlined, each block  |
|                  |             |              | labelled with S(n, k), the frame P1 picks for block k boxed        |
|                  | `S`         | (T, K)       | weights plot: one line per block k (columns sum to 1 over frames)  |
| ta (Gao&Nevatia) | `temporal`  | (T,)         | weights plot: one bar per frame                                    |
| drsta (Li et al.)| `spatial`   | (T, K, h, w) | one overlay row per part k                                         |
|                  | `temporal`  | (T, K)       | weights plot: one line per part                                    |
| rru_stim         | `gates`     | (T, h, w)    | one overlay row (fixed 0..1 scale: 1 = take the new frame)         |
| nvan             | `nonlocal`  | (T, h, w)    | one overlay row (where the last layer3 non-local block looks)      |
| ste_nvan         | `nonlocal`  | (T/2, S)     | one overlay row: each pair of frames shares its S stripe weights   |
| tp, rnn          | (none)      |              | the frames only; TP weighs frames 1/T by construction              |

Maps are upsampled bilinearly to the frame size. One colour scale is shared by all frames of a row (so a brighter
frame has more attention mass than a darker one, which is what STA's S compares), except the RRU gates, drawn on
their natural 0..1 scale.
"""
from __future__ import annotations

import numpy as np

_OVERLAY_ALPHA = 0.5


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) -> (N, H, W), bilinear (align_corners=False), vectorised through torch."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]     # (N, 1, h, w)
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def describe_attention(attention: dict, num_frames: int) -> dict:
    """Turn one clip's attention dict (batch dimension removed) into what the figure draws.

    Returns {"rows": [(label, maps (T, h, w), vmax or None)], "weights": [(label, values (T, L), line labels)],
    "blocks": (K, S (T, K)) or None} with every per-frame array expanded to `num_frames` frames.
    """
    a = {k: _np(v) for k, v in attention.items()}
    T = num_frames
    rows, weights, blocks = [], [], None
    if "g" in a and "S" in a:                                                  # STA
        S = a["S"].reshape(T, -1)                                              # (T, K)
        rows.append(("spatial attention g (STA)", a["g"].reshape(T, *a["g"].shape[-2:]), None))
        weights.append(("S(n, k): block weights over frames", S, [f"block {k + 1}" for k in range(S.shape[1])]))
        blocks = (S.shape[1], S)
    if "spatial" in a:                                                         # DRSTA
        sp = a["spatial"].reshape(T, -1, *a["spatial"].shape[-2:])             # (T, K, h, w)
        for k in range(sp.shape[1]):
            rows.append((f"part {k + 1} spatial attention (DRSTA)", sp[:, k], None))
    if "temporal" in a:
        tw = a["temporal"].reshape(T, -1)                                      # (T,) TA -> (T, 1); DRSTA (T, K)
        if tw.shape[1] == 1:
            weights.append(("temporal attention weights", tw, ["weight"]))
        else:
            weights.append(("temporal weights per part", tw, [f"part {k + 1}" for k in range(tw.shape[1])]))
    if "gates" in a:                                                           # RRU: update gate z, in [0, 1]
        rows.append(("RRU update gate z (1 = take the new frame)", a["gates"].reshape(T, *a["gates"].shape[-2:]), 1.0))
        weights.append(("mean update gate per frame", a["gates"].reshape(T, -1).mean(1, keepdims=True), ["mean z"]))
    if "nonlocal" in a:
        nl = a["nonlocal"]
        if nl.ndim == 3:                                                       # NVAN (T, h, w)
            maps = nl.reshape(T, *nl.shape[-2:])
        else:                                                                  # STE-NVAN (T', S) stripes
            stripes = nl.reshape(nl.shape[-2], nl.shape[-1])                   # (T', S)
            per = max(1, T // stripes.shape[0])                                # frames sharing one layer3 frame
            maps = np.repeat(stripes, per, 0)[:T, :, None]                     # (T, S, 1)
        rows.append(("non-local attention received (last layer3 block)", maps, None))
        label = "non-local attention mass per frame" if nl.ndim == 3 else "non-local attention mass (per layer3 frame)"
        weights.append((label, maps.reshape(T, -1).sum(1, keepdims=True), ["mass"]))
    return {"rows": rows, "weights": weights, "blocks": blocks}


def attention_figure(frames: np.ndarray, attention: dict, path: str, title: str = "") -> str:
    """Write a PNG: `frames` (T, H, W, 3) uint8 as columns, one overlay row per spatial map, the weights on the
    right. `attention` is one clip's model output (batch dimension removed). Returns `path`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    frames = np.asarray(frames)
    T, H, W = frames.shape[:3]
    d = describe_attention(attention, T)
    rows = [("frames", None, None)] + d["rows"]
    n_rows, has_weights = len(rows), bool(d["weights"])
    cell = 1.3                                                                 # inches per frame column
    fig_w = T * cell * W / H * 1.6 + (4.2 if has_weights else 0) + 0.4
    fig_h = max(n_rows * cell * 1.15 + 0.6, 2.6 * max(1, len(d["weights"])) if has_weights else 0)
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=110)
    grid = fig.add_gridspec(n_rows, T + (1 if has_weights else 0),
                            width_ratios=[1] * T + ([T * 0.9] if has_weights else []), wspace=0.05, hspace=0.35)
    for r, (label, maps, vmax) in enumerate(rows):
        up = _upsample(maps, (H, W)) if maps is not None else None            # (T, H, W)
        top = vmax if vmax is not None else (float(up.max()) if up is not None else 1.0)
        for t in range(T):
            ax = fig.add_subplot(grid[r, t])
            ax.imshow(frames[t])
            if up is not None:
                ax.imshow(up[t], cmap="jet", alpha=_OVERLAY_ALPHA, vmin=0.0, vmax=max(top, 1e-12))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {t + 1}", fontsize=7)
            if t == 0:
                ax.set_ylabel(label if len(label) < 28 else label.replace(" (", "\n("), fontsize=6)
            if d["blocks"] is not None and r == 1:                             # STA: blocks, S values, P1 picks
                K, S = d["blocks"]
                picks = S.argmax(0)                                            # (K,) frame P1 takes per block
                for k in range(K):
                    y0, y1 = k * H / K, (k + 1) * H / K
                    ax.axhline(y0 - 0.5, color="white", lw=0.6)
                    ax.text(1, y0 + 1, f"{S[t, k]:.2f}", color="white", fontsize=5, va="top",
                            bbox=dict(facecolor="black", alpha=0.5, pad=0.5, lw=0))
                    if picks[k] == t:
                        ax.add_patch(Rectangle((-0.5, y0 - 0.5), W, y1 - y0, fill=False, ec="lime", lw=1.5))
    if has_weights:
        span = min(n_rows, max(2, 2 * len(d["weights"])))                # rows of frames the plots stand beside
        sub = grid[:span, T].subgridspec(len(d["weights"]), 1, hspace=0.6)
        x = np.arange(1, T + 1)
        for i, (label, values, names) in enumerate(d["weights"]):
            ax = fig.add_subplot(sub[i])
            if values.shape[1] == 1:
                ax.bar(x, values[:, 0], color="tab:blue")
                if "temporal" in label:
                    ax.axhline(1 / T, color="grey", ls="--", lw=0.8, label="uniform 1/T")
                    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
            else:
                for k in range(values.shape[1]):
                    ax.plot(x, values[:, k], marker="o", ms=3, lw=1, label=names[k])
                ax.axhline(1 / T, color="grey", ls="--", lw=0.8)
                # beside the axes, not over the curves
                ax.legend(fontsize=5, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
            ax.set_xticks(x)
            ax.set_xlabel("frame", fontsize=7)
            ax.set_title(label, fontsize=8)
            ax.tick_params(labelsize=6)
            ax.set_ylim(bottom=0)
    if not d["rows"] and not d["weights"]:
        fig.text(0.5, 0.02, "this model returns no attention (TP weighs every frame 1/T; RNN has no explicit weights)",
                 ha="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    from ..utils.io import atomic_path
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
