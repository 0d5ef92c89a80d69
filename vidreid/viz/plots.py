"""Pictures a person would rather look at than read, one module for every command that draws (demo, eval, train,
plot): CMC curves, ranked lists, per-camera-pair R1/mAP heat-maps, training curves and reliability diagrams; and
the benchmarks' learning curves (metric against training steps, benchmarks/synthped_models.py --curve).

Every function writes one PNG atomically (a temporary file renamed into place) and returns its path.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

from ..data.types import Tracklet


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")                         # files only: no display needed (CI, servers)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> str:
    from ..utils.io import atomic_path
    fig.tight_layout()
    with atomic_path(path) as tmp:                # temp name keeps the .png suffix, so the format is inferred
        fig.savefig(tmp, format="png")
    _pyplot().close(fig)
    return path


def plot_cmc(curves: dict[str, np.ndarray], path: str, title: str = "CMC") -> str:
    """curves: label -> CMC array (fractions); a label containing "chance" is drawn dashed. Writes a PNG."""
    plt = _pyplot()
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
    # below the axes: inside, "lower right" covered the chance curve (it rises there, at high ranks)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(len(curves), 2), fontsize=8, frameon=False)
    return _save(fig, path)


def plot_learning_curves(series: dict[str, tuple], path: str, title: str = "learning curves",
                         ylabel: str = "mAP (%)", panels: tuple = ()) -> str:
    """series: label -> (steps, values, standard errors), one line per label with a ±1 SE band. `panels`: more
    (title, series) side by side with the same axes labels and colours per label (e.g. the same runs on another
    test set). Writes a PNG."""
    plt = _pyplot()
    allp = [(title, series), *panels]
    fig, axes = plt.subplots(1, len(allp), figsize=(6 * len(allp), 4), dpi=120, squeeze=False)
    colours = {}                                    # one colour per label across panels
    for ax, (panel_title, panel) in zip(axes[0], allp):
        for label, (steps, values, errors) in panel.items():
            steps, values, errors = (np.asarray(v, dtype=np.float64) for v in (steps, values, errors))
            line, = ax.plot(steps, values, marker="o", markersize=3, label=label, color=colours.get(label))
            colours[label] = line.get_color()
            ax.fill_between(steps, values - errors, values + errors, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("training steps")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.set_title(panel_title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


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
    from ..utils.io import atomic_path
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path


def pick_ranked_queries(first_rank: np.ndarray, n: int) -> list[int]:
    """Query rows for a ranked-list picture that shows both outcomes: about half whose first result is right
    (first_rank == 1) and half whose is wrong, each half spread evenly over the query list; rows of the other kind
    fill in when one kind is short. first_rank: per query, the junk-free rank of its first true match (0 = none)."""
    first_rank = np.asarray(first_rank)
    hits, misses = np.flatnonzero(first_rank == 1), np.flatnonzero(first_rank != 1)
    n = int(min(n, len(first_rank)))
    take_hits = min(len(hits), max(n - len(misses), (n + 1) // 2))

    def spread(rows, k):
        return rows[np.linspace(0, len(rows) - 1, k).round().astype(int)] if k else rows[:0]
    picked = np.concatenate([spread(hits, take_hits), spread(misses, n - take_hits)])
    return sorted(set(picked.tolist()))


def plot_camera_pairs(pairs: dict, path: str, title: str = "per camera pair", camera_names=None) -> str:
    """Two heat-maps, R1 and mAP (%) per (query camera, gallery camera), from
    `vidreid.eval.camera_pairs.camera_pair_metrics`; every cell is annotated with its value and query count,
    cells without a counted query are grey. camera_names: camera id -> label (default "cam <id + 1>")."""
    plt = _pyplot()
    qc, gc = pairs["query_cameras"], pairs["gallery_cameras"]
    name = camera_names or (lambda c: f"cam {int(c) + 1}")
    n = max(len(qc), len(gc))
    fig, axes = plt.subplots(1, 2, figsize=(2.6 + 1.6 * n * 2, 2.0 + 1.2 * n), dpi=110)
    cmap = plt.get_cmap("viridis").with_extremes(bad=(0.85, 0.85, 0.85))   # grey: no query counted
    for ax, key in zip(axes, ("r1", "mAP")):
        values = 100 * np.asarray(pairs[key], dtype=float)
        im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=100)
        for i in range(len(qc)):                   # annotate every cell (cameras are few)
            for j in range(len(gc)):
                v = values[i, j]
                text = "n/a" if np.isnan(v) else f"{v:.0f}\n({pairs['queries'][i, j]})"
                ax.text(j, i, text, ha="center", va="center", fontsize=11,
                        color="black" if np.isnan(v) or v > 60 else "white")
        ax.set_xticks(range(len(gc)), [name(c) for c in gc], rotation=45 if len(gc) > 4 else 0)
        ax.set_yticks(range(len(qc)), [name(c) for c in qc])
        ax.set_xlabel("gallery camera")
        ax.set_ylabel("query camera")
        ax.set_title(f"{'R1' if key == 'r1' else 'mAP'} (%), (queries)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title)
    return _save(fig, path)


# keys of a metrics.json history entry that are not loss terms
_NOT_LOSSES = {"epoch", "lr", "clips_per_s", "data_wait_fraction", "elapsed_s"}


def plot_training(doc: dict, path: str, title: str = "training") -> str:
    """Loss terms, learning rate and evaluation metrics per epoch from a run's metrics.json (as written by
    `vidreid.engine.run_log.write_metrics`): three panels sharing the epoch axis; the per-step total loss is drawn
    faintly behind the per-epoch means."""
    from ..errors import ConfigError
    history, evals = doc.get("history") or [], doc.get("evals") or []
    if not history:
        raise ConfigError("metrics.json has no epoch history to draw (did the run finish an epoch?)")
    plt = _pyplot()
    fig, (ax_loss, ax_lr, ax_eval) = plt.subplots(3, 1, figsize=(6.5, 7.5), dpi=110, sharex=True)
    epochs = np.array([h["epoch"] for h in history], dtype=float)
    steps = doc.get("step_losses") or []
    if steps:                                      # step k of N ends at epoch position k * epochs / N
        x = np.arange(1, len(steps) + 1) * epochs[-1] / len(steps)
        ax_loss.plot(x, steps, color="0.75", linewidth=0.7, label="loss per step")
    terms = [k for k in history[-1] if k not in _NOT_LOSSES and history[-1][k] is not None]
    for k in sorted(terms, key=lambda t: (t != "loss", t)):
        ax_loss.plot(epochs, [h.get(k, np.nan) for h in history], marker="o", markersize=3,
                     linewidth=2 if k == "loss" else 1.2, label=k)
    ax_loss.set_ylabel("loss (epoch mean)")
    ax_loss.legend(fontsize=8, ncol=2)
    ax_loss.grid(True, alpha=0.3)
    ax_lr.plot(epochs, [h.get("lr", np.nan) for h in history], marker="o", markersize=3, color="tab:purple")
    ax_lr.set_ylabel("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax_lr.grid(True, alpha=0.3)
    if evals:
        e = np.array([v["epoch"] for v in evals], dtype=float)
        for key in ("R1", "mAP"):
            values = [100 * v[key] for v in evals]
            line, = ax_eval.plot(e, values, marker="o", label=key)
            # the latest value written beside its point (a single evaluation is otherwise a lone dot)
            ax_eval.annotate(f"{key} {values[-1]:.1f}", (e[-1], values[-1]), textcoords="offset points",
                             xytext=(-6, 6), ha="right", fontsize=8, color=line.get_color())
        ax_eval.set_ylim(0, 100)
        ax_eval.legend(fontsize=8)
    else:
        ax_eval.text(0.5, 0.5, "no evaluation yet", ha="center", va="center", transform=ax_eval.transAxes)
    ax_eval.set_ylabel("evaluation (%)")
    ax_eval.set_xlabel("epoch")
    ax_eval.grid(True, alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def plot_reliability(table: dict, path: str, title: str = "reliability") -> str:
    """Reliability diagram of a calibrated probability: per bin, the mean predicted probability against the
    observed same-person rate (the diagonal = perfect calibration), with the pairs per bin below (log scale).
    table: `vidreid.search.calibration.reliability(...)` (several under {"label": table} draw one line each)."""
    tables = table if "ece" not in table else {"": table}
    plt = _pyplot()
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5, 6), dpi=110, sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="perfect calibration")
    width = 0.8 / max(len(tables), 1)
    for i, (label, t) in enumerate(tables.items()):
        used = np.asarray(t["count"]) > 0
        pred, obs = np.asarray(t["predicted"])[used], np.asarray(t["observed"])[used]
        ax.plot(pred, obs, marker="o", label=f"{label + ': ' if label else ''}ECE {t['ece']:.4f}")
        centres = (np.asarray(t["edges"][:-1]) + np.asarray(t["edges"][1:])) / 2
        step = np.diff(t["edges"]).min()
        ax_n.bar(centres + (i - (len(tables) - 1) / 2) * width * step, t["count"], width=width * step,
                 label=label or None)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed same-person rate")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, alpha=0.3)
    ax_n.set_yscale("log")
    ax_n.set_ylabel("pairs")
    ax_n.set_xlabel("predicted same-person probability")
    ax.set_title(title)
    return _save(fig, path)


def eval_figures(res: dict, query: list[Tracklet], gallery: list[Tracklet], out: str, title: str,
                 ranked: int = 6, chance: dict | None = None, frame_size: tuple[int, int] = (128, 64),
                 label: str = "model") -> dict[str, str]:
    """The pictures of one evaluation, written into folder `out`: cmc.png (against `chance`), ranked.png (`ranked`
    queries, both hits and failures; 0 = none) and, when the gallery spans several cameras, camera_pairs.png.
    res: `evaluate_model`'s result (its distmat rows/columns are `query`/`gallery`). Returns name -> path."""
    from ..eval.camera_pairs import camera_pair_metrics
    from ..eval.metrics import per_query_metrics
    os.makedirs(out, exist_ok=True)
    dist, protocol = res["distmat"], res["protocol"]
    curves = {label: res["cmc"]}
    if chance is not None:
        curves["chance (random ranking)"] = chance["cmc"]
    paths = {"cmc": plot_cmc(curves, os.path.join(out, "cmc.png"), title=title)}
    q_pids, g_pids = np.array([t.pid for t in query]), np.array([t.pid for t in gallery])
    q_cams, g_cams = np.array([t.camid for t in query]), np.array([t.camid for t in gallery])
    if ranked > 0 and len(query) and len(gallery):
        first = per_query_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol)["first_rank"]
        paths["ranked"] = ranked_list_image(query, gallery, dist, pick_ranked_queries(first, ranked),
                                            os.path.join(out, "ranked.png"), frame_size=frame_size)
    if len(np.unique(g_cams)) > 1 and len(query):
        pairs = camera_pair_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol)
        paths["camera_pairs"] = plot_camera_pairs(pairs, os.path.join(out, "camera_pairs.png"),
                                                  title=f"{title}: per camera pair")
    return paths
