"""Pictures a person would rather look at than read: CMC curves and ranked lists."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..data.types import Tracklet


def plot_cmc(curves: dict[str, np.ndarray], path: str, title: str = "CMC") -> str:
    """curves: label -> CMC array (fractions). Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    for label, cmc in curves.items():
        ranks = np.arange(1, len(cmc) + 1)
        ax.plot(ranks, 100 * np.asarray(cmc), label=label, linestyle="--" if "chance" in label else "-")
    ax.set_xscale("log")
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _load(path: str, size: tuple[int, int]) -> Image.Image:
    try:
        return Image.open(path).convert("RGB").resize((size[1], size[0]))
    except OSError:
        return Image.new("RGB", (size[1], size[0]), (128, 128, 128))


def ranked_list_image(query: list[Tracklet], gallery: list[Tracklet], distmat: np.ndarray, query_rows: list[int],
                      path: str, top: int = 10, query_frames: int = 4, frame_size: tuple[int, int] = (128, 64),
                      exclude_junk: bool = True) -> str:
    """One row per query: `query_frames` frames of the query tracklet, then its top-`top` gallery tracklets
    (middle frame), each framed green (same identity) or red (different). Junk gallery items (pid -1 and same
    pid & camera as the query) are skipped, as the metric skips them."""
    h, w = frame_size
    b, gap, label_h = 3, 14, 14
    g_pids = np.array([t.pid for t in gallery])
    g_cams = np.array([t.camid for t in gallery])
    cell_w = w + 2 * b + 2
    width = query_frames * (w + 2) + gap + top * cell_w
    height = len(query_rows) * (h + 2 * b + label_h + 6) + label_h
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 0), "query frames", fill=(0, 0, 0))
    draw.text((query_frames * (w + 2) + gap, 0), f"top-{top} gallery (green = same id, red = different)",
              fill=(0, 0, 0))
    for r, qi in enumerate(query_rows):
        y = label_h + r * (h + 2 * b + label_h + 6)
        q = query[qi]
        picks = np.linspace(0, len(q.frames) - 1, query_frames).round().astype(int)
        for j, fi in enumerate(picks):
            canvas.paste(_load(q.frames[fi], frame_size), (j * (w + 2), y + b))
        draw.text((0, y + h + 2 * b), f"q{qi} id {q.pid} cam {q.camid + 1}", fill=(0, 0, 0))
        order = np.argsort(distmat[qi], kind="stable")
        if exclude_junk:
            junk = (g_pids[order] == -1) | ((g_pids[order] == q.pid) & (g_cams[order] == q.camid))
            order = order[~junk]
        x0 = query_frames * (w + 2) + gap
        for k, gi in enumerate(order[:top]):
            g = gallery[gi]
            color = (0, 170, 0) if g.pid == q.pid else (220, 0, 0)
            x = x0 + k * cell_w
            draw.rectangle([x, y, x + w + 2 * b - 1, y + h + 2 * b - 1], fill=color)
            canvas.paste(_load(g.frames[len(g.frames) // 2], frame_size), (x + b, y + b))
            draw.text((x, y + h + 2 * b), f"{distmat[qi, gi]:.3g}", fill=(0, 0, 0))
    canvas.save(path)
    return path
