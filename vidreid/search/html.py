"""A self-contained HTML page of one search: the probe's frames and the top-k gallery tracklets.

Every picture is embedded (JPEG data URIs), so the page is one file that can be mailed or archived. Each tracklet is
a strip of up to `strip` evenly spaced frames at the model's input size. For models that return spatial attention
(STA's per-frame map g; also RRU gates, NVAN/DRSTA maps) a second strip overlays it on the same frames (jet colour
map, each frame's map scaled to its own range); STA's block weights S(n, k) are in each frame's tooltip. The
attention is computed on the strip itself, taken as one clip.

The probe card is framed in PROBE_COLOUR and every result card in HIT_COLOUR (tests find them in a screenshot).
"""
from __future__ import annotations

import base64
import html
import os
import time

import numpy as np

PROBE_COLOUR = (0, 80, 255)      # border of the probe card
HIT_COLOUR = (255, 140, 0)       # border of every result card
_GREY = 150


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def data_uri(data: bytes, mime: str) -> str:
    """A file's bytes as a data URI (pictures embedded in the page: one file to mail or archive)."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _data_uri(img: np.ndarray) -> str:
    import simplejpeg
    return data_uri(simplejpeg.encode_jpeg(np.ascontiguousarray(img), quality=88, colorspace="RGB"), "image/jpeg")


def _resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (L, H, W, 3) -> (L, h, w, 3), all frames in one torch op (as the test transform resizes)."""
    import torch
    from ..data.transforms import resize_clip, to_float_clip
    if frames.shape[1:3] == tuple(size):
        return frames
    x = resize_clip(to_float_clip(frames), *size)                       # (L, 3, h, w) float
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def read_frames(paths, size: tuple[int, int]) -> tuple[np.ndarray, list[bool]]:
    """Decode frame files at `size`; unreadable ones become grey frames (flagged False)."""
    from ..data.decode import FrameReadError, _resize_uint8, read_frame
    out, ok = [], []
    for p in paths:                                                     # loop over <= strip thumbnails
        try:
            out.append(_resize_uint8(read_frame(p, size), size))
            ok.append(True)
        except FrameReadError:
            out.append(np.full((*size, 3), _GREY, np.uint8))
            ok.append(False)
    return np.stack(out), ok


def attention_overlays(frames: np.ndarray, attention: dict[str, np.ndarray]) -> tuple[np.ndarray | None, list[str]]:
    """frames (L, H, W, 3) uint8, attention of that clip -> (overlaid frames or None, per-frame tooltip lines).

    The spatial map is the first entry shaped (L, h, w) ("g" for STA), or (L, K, h, w) averaged over K."""
    import torch
    import torch.nn.functional as F
    L = len(frames)
    spatial = None
    for name in ("g", "gates", "nonlocal", "spatial", *attention):
        a = attention.get(name)
        if a is None or a.shape[0] != L:
            continue
        if a.ndim == 4:
            a = a.mean(1)                                               # (L, K, h, w) -> (L, h, w)
        if a.ndim == 3:
            spatial = a
            break
    tips = [""] * L
    S = attention.get("S")
    if S is not None and S.ndim == 2 and S.shape[0] == L:               # STA block weights (L, K)
        tips = ["S(n, k) over blocks top to bottom: " + " ".join(f"{v:.2f}" for v in row) for row in S.tolist()]
    temporal = attention.get("temporal")
    if temporal is not None and temporal.ndim == 1 and temporal.shape[0] == L:
        tips = [f"temporal weight {v:.3f}" for v in temporal.tolist()]
    if spatial is None:
        return None, tips
    H, W = frames.shape[1:3]
    m = torch.as_tensor(spatial, dtype=torch.float32)[:, None]          # (L, 1, h, w)
    m = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)[:, 0]  # (L, H, W)
    lo = m.flatten(1).min(1).values[:, None, None]
    hi = m.flatten(1).max(1).values[:, None, None]
    m = ((m - lo) / (hi - lo).clamp_min(1e-12)).numpy()                 # each frame in [0, 1]
    heat = _jet((m * 255).round().astype(np.uint8))                     # (L, H, W, 3)
    blended = (0.5 * frames.astype(np.float32) + 0.5 * heat).round().clip(0, 255).astype(np.uint8)
    return blended, tips


def _jet(index: np.ndarray) -> np.ndarray:
    """uint8 values -> RGB through matplotlib's jet colour map (a 256-entry lookup table)."""
    import matplotlib
    lut = (matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.float32)
    return lut[index]


def _strip(frames: np.ndarray, tips: list[str], alt: str) -> str:
    imgs = []
    for img, tip in zip(frames, tips):                                  # loop over <= strip thumbnails
        title = f' title="{html.escape(tip)}"' if tip else ""
        imgs.append(f'<img src="{_data_uri(img)}" alt="{html.escape(alt)}"{title}>')
    return '<div class="strip">' + "".join(imgs) + "</div>"


def card(kind: str, heading: str, frames: np.ndarray, attention: tuple[np.ndarray | None, list[str]] | None,
         alt: str) -> str:
    """A framed box (CSS class `kind`) with a heading and a strip of frames (L, H, W, 3) RGB; attention: (overlaid
    frames or None, per-frame tooltips) from attention_overlays, or None."""
    overlay, tips = attention if attention is not None else (None, [""] * len(frames))
    parts = [f'<div class="card {kind}">', f'<div class="meta">{heading}</div>', _strip(frames, tips, alt)]
    if overlay is not None:
        parts.append(_strip(overlay, tips, alt + " attention"))
    parts.append("</div>")
    return "".join(parts)


def render_html(path: str, result, index, extractor=None, strip: int = 8, attention: bool = True,
                title: str | None = None) -> str:
    """Write the page of a `SearchResult` from `index` (a GalleryIndex) to `path` (atomically); returns path.

    extractor: the FeatureExtractor that made the features; needed for attention overlays (and the frame size).
    """
    from ..utils.io import atomic_write_text
    from .index import format_percentile
    size = extractor.input_size if extractor is not None else tuple(index.header["model"].get("input_size",
                                                                                                (256, 128)))
    probe = result.probe
    picks = probe.pick(strip)
    if probe.frames is not None:
        p_frames = _resize(probe.frames[picks], size)
    else:
        p_frames, _ = read_frames([probe.frame_paths[i] for i in picks.tolist()], size)
    use_attention = attention and extractor is not None
    p_att = None
    if use_attention:
        att = extractor.attention(p_frames)
        p_att = attention_overlays(p_frames, att) if att else None
        use_attention = bool(att)                                       # {} = the model explains nothing
    model = index.header["model"]
    cam = f"camera {html.escape(result.camera)}" if result.camera else "camera unknown"
    probe_head = (f"<b>probe</b> &middot; {html.escape(probe.source)} &middot; {probe.kind}, {probe.num_frames} "
                  f"frames &middot; {cam}" + (f" &middot; box {probe.box}" if probe.box else ""))
    if getattr(probe, "followed", None):
        from .probe import describe_followed
        probe_head += f"<br>{html.escape(describe_followed(probe.followed))}"
    cards = []
    for h in result.hits:                                               # loop over the k results
        frames, ok = read_frames(h.thumbnails, size) if h.thumbnails else (np.full((1, *size, 3), _GREY, np.uint8),
                                                                             [False])
        att = None
        if use_attention and all(ok):
            a = extractor.attention(frames)
            att = attention_overlays(frames, a) if a else None
        readable = f"top {format_percentile(h.percentile)} of the gallery"
        if h.probability is not None:
            readable += f" &middot; same person <b>{100 * h.probability:.0f}%</b>"
        head = (f"<b>#{h.rank}</b> &middot; distance <b>{h.distance:.4f}</b> &middot; {readable} &middot; "
                f"camera {html.escape(h.camera or '?')} &middot; <span class=\"name\">{html.escape(h.tracklet)}</span>"
                f" &middot; {h.num_frames} frames" + (f" &middot; id {h.pid}" if h.pid >= 0 else ""))
        cards.append(card("hit", head, frames, att, f"rank {h.rank}"))
    note = ""
    if p_att is not None and p_att[0] is not None:
        note = ("<p class=\"note\">Second strip of each card: the model's spatial attention on those frames "
                "(red = high, blue = low, each frame scaled to its own range)"
                + ("; hover a frame for STA's block weights S(n, k)" if model.get("name") == "sta" else "")
                + ".</p>")
    excl = " (same-camera tracklets excluded)" if result.exclude_same_camera else ""
    name, backbone = html.escape(str(model.get("name"))), html.escape(str(model.get("backbone")))
    summary = (f"{len(result.hits)} results from {html.escape(str(index.path or 'index'))} ({len(index)} tracklets)"
               f"{excl} &middot; model {name} ({backbone}), "
               f"hash {model['hash'][:12]} &middot; distance = 1 &minus; cosine similarity"
               f"{' of centred features' if index.header.get('centred') else ''} &middot; "
               f"top N% = share of the gallery at that distance or closer"
               f"{' &middot; same person = calibrated probability' if index.header.get('calibration') else ''} &middot; "
               f"{time.strftime('%Y-%m-%d %H:%M')}")
    title = title or f"vidreid search: {os.path.basename(probe.source.rstrip('/')) or probe.source}"
    body = f"""<p>{summary}</p>
{note}
<h2>Probe</h2>
{card("probe", probe_head, p_frames, p_att, "probe")}
<h2>Top {len(result.hits)}</h2>
<div class="results">
{chr(10).join(cards)}
</div>"""
    atomic_write_text(path, page(title, body))
    return path


def page(title: str, body: str, style: str = "") -> str:
    """A whole HTML document: `title` as its title and heading, the result pages' style sheet (+ `style`), `body`."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; background: #ffffff; color: #222222; }}
h1 {{ font-size: 20px; margin: 0 0 4px 0; }}
h2 {{ font-size: 16px; margin: 16px 0 4px 0; }}
p {{ font-size: 13px; margin: 2px 0; color: #555555; }}
.results {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ border: 6px solid; padding: 6px; background: #ffffff; display: inline-block; }}
.probe {{ border-color: {_hex(PROBE_COLOUR)}; }}
.hit {{ border-color: {_hex(HIT_COLOUR)}; }}
.meta {{ font-size: 13px; margin-bottom: 4px; }}
.name {{ font-family: ui-monospace, monospace; }}
.strip {{ display: flex; gap: 2px; margin-top: 2px; }}
.strip img {{ height: 128px; width: auto; image-rendering: auto; }}
{style}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""
