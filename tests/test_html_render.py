"""The HTML result page: its content, and how headless Chromium draws it (the probe card and k result cards,
found in the screenshot by their border colours)."""
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("faiss", reason="search needs faiss-cpu (pip install 'vidreid[search]')")

from test_search import make_checkpoint, make_gallery  # noqa: E402
from vidreid.cli import main  # noqa: E402
from vidreid.search.html import HIT_COLOUR, PROBE_COLOUR  # noqa: E402

TOP = 3
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """An STA checkpoint, a gallery index, and the page of one search with the top 3."""
    root = tmp_path_factory.mktemp("html")
    ck = make_checkpoint(root / "sta.safetensors", model="sta")
    gallery = make_gallery(root / "gallery", cams=2, tracks=3)
    index = str(root / "index")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", gallery, "--out", index, "--no-progress"]) == 0
    out = str(root / "results.html")
    probe = os.path.join(gallery, "cam1", "t001")
    assert main(["search", "--index", index, "--probe", probe, "--top", str(TOP), "--html", out]) == 0
    return {"root": root, "html": out, "ck": ck, "index": index, "probe": probe}


def test_page_content(page):
    doc = open(page["html"]).read()
    assert doc.count('class="card probe"') == 1 and doc.count('class="card hit"') == TOP
    # STA: every card has a frame strip and an attention strip of the same 5 frames (gallery tracklets have 5)
    assert doc.count("<img ") == (1 + TOP) * 2 * 5 and doc.count("data:image/jpeg;base64,") == (1 + TOP) * 2 * 5
    assert "spatial attention" in doc and "S(n, k)" in doc
    assert re.search(r"#1</b> &middot; distance <b>0\.0000</b>", doc)          # the probe's own tracklet
    assert "cam1/t001" in doc and "1 &minus; cosine similarity" in doc


def test_page_without_attention_model(page, tmp_path):
    ck = make_checkpoint(tmp_path / "tp.safetensors", model="tp")
    gallery = make_gallery(tmp_path / "g", cams=1, tracks=2)
    index = str(tmp_path / "index")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", gallery, "--out", index, "--no-progress"]) == 0
    out = str(tmp_path / "tp.html")
    assert main(["search", "--index", index, "--probe", os.path.join(gallery, "cam1", "t000"), "--html", out]) == 0
    doc = open(out).read()
    assert doc.count("<img ") == (1 + 2) * 5 and "spatial attention" not in doc


def count_boxes(rgb: np.ndarray, colour, min_pixels: int = 400) -> int:
    """Connected regions drawn exactly in `colour` (a card's border is one ring-shaped region)."""
    from scipy import ndimage
    mask = (np.abs(rgb.astype(np.int16) - np.array(colour, np.int16)) <= 2).all(-1)
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= min_pixels).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="headless rendering needs Chromium (Debian: apt-get install chromium)")
def test_chromium_renders_probe_and_results(page, tmp_path):
    from PIL import Image
    png = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--force-color-profile=srgb", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
           "--window-size=1280,1400", "file://" + os.path.abspath(page["html"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.is_file(), proc.stderr[-2000:]
    rgb = np.asarray(Image.open(png).convert("RGB"))
    assert count_boxes(rgb, PROBE_COLOUR) == 1
    assert count_boxes(rgb, HIT_COLOUR) == TOP
    # the cards hold pictures: inside the probe card's ring, many distinct colours (frames + attention maps)
    ys, xs = np.nonzero((rgb == np.array(PROBE_COLOUR)).all(-1))
    inside = rgb[ys.min() + 10:ys.max() - 10, xs.min() + 10:xs.max() - 10]
    assert len(np.unique(inside.reshape(-1, 3), axis=0)) > 200
