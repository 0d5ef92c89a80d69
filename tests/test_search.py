"""End-to-end search: `vidreid index build|add|info`, `vidreid search`, and the Python API (Searcher,
FeatureExtractor), on an untrained tiny model (resnet18, 64x32 frames) and galleries of a few tracklets."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import simplejpeg
import torch

pytest.importorskip("faiss", reason="search needs faiss-cpu (pip install 'vidreid[search]')")

from vidreid.cli import main  # noqa: E402

SIZE = (64, 32)
CAMS, TRACKS, FRAMES = 3, 3, 5


# ------------------------------------------------------------------ helpers (also used by test_html_render.py)
def make_checkpoint(path, model="tp", seed=0, **data) -> str:
    """A checkpoint of an untrained resnet18 model at 64x32 (nothing trained: the features are still a function of
    the frames, which is all search needs)."""
    from vidreid.config import Config
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.models import build_model
    cfg = Config()
    cfg.data.height, cfg.data.width = SIZE
    cfg.data.workers = 0
    for k, v in data.items():
        setattr(cfg.data, k, v)
    cfg.model.name, cfg.model.backbone = model, "resnet18"
    torch.manual_seed(seed)
    m = build_model(model, 5, backbone="resnet18", input_size=SIZE)
    save_checkpoint(str(path), m, {"model": model, "num_classes": 5, "config": cfg.to_dict()})
    return str(path)


def tracklet_frames(key: int, n: int = FRAMES) -> np.ndarray:
    """(n, 64, 32, 3) uint8: a blocky random picture (distinct per key, JPEG-friendly) drifting in brightness."""
    rng = np.random.default_rng(key)
    base = np.kron(rng.integers(20, 235, (4, 2, 3)), np.ones((16, 16, 1)))      # (64, 32, 3)
    drift = np.arange(n)[:, None, None, None] * 3
    return np.clip(base[None] + drift, 0, 255).astype(np.uint8)


def write_frames(folder, frames) -> None:
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(frames):
        with open(os.path.join(folder, f"{i + 1:04d}.jpg"), "wb") as f:
            f.write(simplejpeg.encode_jpeg(np.ascontiguousarray(img), quality=95))


def make_gallery(root, cams=CAMS, tracks=TRACKS, key0=0) -> str:
    """ROOT/cam<c>/t<k>/0001.jpg ...: cams x tracks tracklets."""
    for c in range(cams):
        for t in range(tracks):
            write_frames(os.path.join(root, f"cam{c + 1}", f"t{t:03d}"), tracklet_frames(key0 + 10 * c + t))
    return str(root)


def cli(*argv, capsys=None) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """checkpoint + gallery + its index, built once for the module."""
    root = tmp_path_factory.mktemp("search")
    ck = make_checkpoint(root / "tp.safetensors")
    gallery = make_gallery(root / "gallery")
    index = str(root / "index")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", gallery, "--out", index, "--no-progress"]) == 0
    return {"root": root, "ck": ck, "gallery": gallery, "index": index}


# ------------------------------------------------------------------ CLI
def index_files(index: str, gen: int) -> list[str]:
    """The files an index folder of generation `gen` holds: header, vectors, one .npy per metadata array."""
    head = json.load(open(os.path.join(index, "index.json")))
    assert head["generation"] == gen and all(f.startswith(f"tracklets.{gen}.") and f.endswith(".npy")
                                             for f in head["tracklets_files"].values())
    return sorted(["index.json", f"vectors.{gen}.faiss", *head["tracklets_files"].values()])


def test_build_writes_index_folder(setup):
    files = sorted(os.listdir(setup["index"]))
    assert files == index_files(setup["index"], 1)                           # no temporary files left
    head = json.load(open(os.path.join(setup["index"], "index.json")))
    assert head["count"] == CAMS * TRACKS and head["dim"] == 512 and head["kind"] == "flat"
    assert len(head["model"]["hash"]) == 64 and head["model"]["name"] == "tp"
    assert head["extraction"] == {"sampling": "dense", "seq_len": 4, "normalize": True}


def test_search_finds_the_probe_itself_first(setup, capsys):
    probe = os.path.join(setup["gallery"], "cam2", "t001")
    code, out, _ = cli("search", "--index", setup["index"], "--probe", probe, "--top", 4, capsys=capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 4
    assert rows[0][0] == "1" and float(rows[0][1]) < 1e-4 and rows[0][4:] == ["cam2", "cam2/t001"]
    # readable scores: rank r of N tracklets is the top 100 r / N %; no calibration in this index: no probability
    from vidreid.search.index import format_percentile
    assert [r[2] for r in rows] == [format_percentile(100 * k / (CAMS * TRACKS)) for k in range(1, 5)]
    assert [r[3] for r in rows] == ["-"] * 4
    dists = [float(r[1]) for r in rows]
    assert dists == sorted(dists) and dists[1] > 1e-4


def test_search_json_and_exclude_same_camera(setup, capsys):
    probe = os.path.join(setup["gallery"], "cam2", "t001")
    code, out, _ = cli("search", "--index", setup["index"], "--probe", probe, "--top", 20, "--json",
                       "--exclude-same-camera", capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["probe"]["camera"] == "cam2"                    # read from the probe's path (<camera>/<tracklet>)
    hits = doc["hits"]
    assert len(hits) == (CAMS - 1) * TRACKS                    # top 20 > what is left: every other-camera tracklet
    assert {h["camera"] for h in hits} == {"cam1", "cam3"}
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert all(os.path.isfile(p) for p in hits[0]["thumbnails"])
    # an explicit --camera wins over the path
    code, out, _ = cli("search", "--index", setup["index"], "--probe", probe, "--json", "--exclude-same-camera",
                       "--camera", "cam1", capsys=capsys)
    assert {h["camera"] for h in json.loads(out)["hits"]} == {"cam2", "cam3"}


def write_video(path, frames, box=(50, 30), size=(120, 100)) -> str:
    """An MJPG .avi of `frames` pasted at box=(x, y) on a grey (height, width) canvas."""
    cv2 = pytest.importorskip("cv2", reason="video probes need opencv (pip install 'vidreid[video]')")
    canvas = np.full((len(frames), *size, 3), 40, np.uint8)
    x, y = box
    canvas[:, y:y + frames.shape[1], x:x + frames.shape[2]] = frames
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size[1], size[0]))
    for img in canvas:
        writer.write(np.ascontiguousarray(img[..., ::-1]))     # RGB -> BGR
    writer.release()
    return str(path)


def test_video_probe_with_box(setup, tmp_path, capsys):
    video = write_video(tmp_path / "probe.avi", tracklet_frames(10 * 2 + 1))   # cam3/t001 at x=50, y=30, 32x64
    code, out, _ = cli("search", "--index", setup["index"], "--probe", video, "--box", "50,30,32,64", "--json",
                       "--top", 3, capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["probe"]["kind"] == "video" and doc["probe"]["frames"] == FRAMES
    assert doc["hits"][0]["tracklet"] == "cam3/t001"
    assert doc["hits"][0]["distance"] < doc["hits"][1]["distance"]


def docs_quick_start() -> list[str]:
    """The commands of the first fenced block of docs/search.md (its quick start), as written there."""
    import re
    doc = open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "search.md")).read()
    block = re.search(r"```bash\n(.*?)```", doc, re.S).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip().startswith("vidreid ")]


def test_docs_quick_start(tmp_path, capsys):
    """The three commands at the top of docs/search.md, run as written there (only the files are replaced by test
    files): build, search a cropped video excluding its camera, write the page."""
    import shlex
    ck = make_checkpoint(tmp_path / "best.safetensors")
    gallery = make_gallery(tmp_path / "gallery")
    video = write_video(tmp_path / "probe.avi", tracklet_frames(10 * 1 + 2))    # cam2/t002, at x=50, y=30, 32x64
    idx, page = tmp_path / "gallery.index", tmp_path / "matches.html"
    files = {"runs/mars/checkpoints/best.safetensors": ck, "gallery/": gallery, "gallery.index": idx,
             "probe.mp4": video, "matches.html": page, "410,120,90,230": "50,30,32,64"}
    commands = docs_quick_start()
    assert [c.split()[:2] for c in commands] == [["vidreid", "index"], ["vidreid", "search"], ["vidreid", "search"]]
    outputs = []
    for command in commands:
        argv = shlex.split(command)[1:]
        assert all(a in files or a.startswith("-") or not ("/" in a or "." in a or "," in a) for a in argv), \
            f"a file in the docs' command that this test does not provide: {command}"
        code, out, err = cli(*[files.get(a, a) for a in argv], capsys=capsys)
        assert code == 0, (command, err)
        outputs.append(out)
    assert "same camera excluded" in outputs[1] and " cam1 " not in outputs[1]
    assert f"page: {page}" in outputs[2]
    doc = page.read_text()
    assert doc.count('class="card hit"') == CAMS * TRACKS and "cam2/t002" in doc


def test_frames_in_memory_are_resized_like_frame_files(tmp_path):
    """128x64 JPEG frames into a 64x32 model: `vidreid eval` (and a probe folder) decode them at half scale, then the
    test transform resizes; the same pixels given in memory (array, list, or decoded from a video) must reach the
    model through the same resize -- before, the transform's one-step bilinear resize gave other inputs."""
    from vidreid.data.decode import read_clip, read_frame
    from vidreid.search import FeatureExtractor
    from vidreid.search.probe import decode_like_files, decoded_size, list_frames, read_video, reduce_like_decoder
    rng = np.random.default_rng(0)
    folder = tmp_path / "t"
    write_frames(folder, rng.integers(0, 256, (FRAMES, 128, 64, 3), dtype=np.uint8))   # detail at every scale
    paths = list_frames(str(folder))
    full = np.stack([read_frame(p) for p in paths])                   # (L, 128, 64, 3): the files' pixels
    fx = FeatureExtractor(make_checkpoint(tmp_path / "ck.safetensors"))
    f_folder = fx(str(folder))
    for in_memory in (full, list(full)):
        assert 1 - float(f_folder @ fx(in_memory)) < 1e-4                # was 9e-4 with the one-step resize
    # the model's inputs: the eval loader's (read_clip at the model size) vs the in-memory path's
    files = fx.transform(read_clip(paths, np.arange(len(paths)), SIZE))
    memory = fx.transform(decode_like_files(full, SIZE))
    assert float((files - memory).abs().mean()) < 0.02                # < ~1 grey level (was 0.26: ~15)
    # the decoder's reduced sizes (libjpeg's M/8 scaling, M <= 4) and frames already small enough left alone
    for shape, size in (((128, 64), (64, 32)), ((176, 88), (64, 32)), ((127, 63), (32, 16)), ((100, 50), (64, 32))):
        img = np.zeros((*shape, 3), np.uint8)
        assert read_frame(_jpeg(tmp_path / "s.jpg", img), size).shape[:2] == decoded_size(*shape, size)
    small = np.ascontiguousarray(full[:, :100, :50])
    assert reduce_like_decoder(small, SIZE) is small                   # < 2x the input: decoded at full size too
    # video frames go through the same reduction while decoding
    video = write_video(tmp_path / "v.avi", full, box=(10, 20), size=(200, 120))
    at_size = read_video(video, box=(10, 20, 64, 128), size=SIZE)
    assert at_size.shape == (FRAMES, 64, 32, 3)
    assert np.array_equal(at_size, reduce_like_decoder(read_video(video, box=(10, 20, 64, 128)), SIZE))


def _jpeg(path, img) -> str:
    with open(path, "wb") as f:
        f.write(simplejpeg.encode_jpeg(np.ascontiguousarray(img), quality=95))
    return str(path)


def test_index_add_and_info(setup, tmp_path, capsys):
    index = str(tmp_path / "index")
    code, _, _ = cli("index", "build", "--checkpoint", setup["ck"], "--gallery", setup["gallery"], "--out", index,
                     "--no-progress", capsys=capsys)
    new = make_gallery(tmp_path / "more", cams=1, tracks=2, key0=500)
    code, out, _ = cli("index", "add", "--index", index, "--gallery", new, "--no-progress", capsys=capsys)
    assert code == 0 and f"{CAMS * TRACKS} -> {CAMS * TRACKS + 2}" in out
    assert sorted(os.listdir(index)) == index_files(index, 2)                # generation 1 deleted
    code, out, _ = cli("search", "--index", index, "--probe", os.path.join(new, "cam1", "t001"), "--json",
                       "--top", 1, capsys=capsys)
    hit = json.loads(out)["hits"][0]
    assert hit["tracklet"] == "cam1/t001" and hit["index"] == CAMS * TRACKS + 1 and hit["distance"] < 1e-4
    code, out, _ = cli("index", "info", "--index", index, capsys=capsys)
    assert code == 0 and f"tracklets  {CAMS * TRACKS + 2}" in out and "generation 2" in out


def test_other_model_is_refused(setup, tmp_path, capsys):
    other = make_checkpoint(tmp_path / "other.safetensors", seed=1)
    probe = os.path.join(setup["gallery"], "cam1", "t000")
    code, _, err = cli("search", "--index", setup["index"], "--probe", probe, "--checkpoint", other, capsys=capsys)
    assert code == 2 and "hash" in err and "not comparable" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("index", "add", "--index", setup["index"], "--checkpoint", other, "--gallery",
                       setup["gallery"], capsys=capsys)
    assert code == 2 and "hash" in err
    # re-saving the same weights (another epoch number in the metadata) keeps the hash
    from vidreid.store.checkpoint import read_checkpoint, save_checkpoint
    from vidreid.search import FeatureExtractor
    state, meta = read_checkpoint(setup["ck"])
    model = FeatureExtractor(setup["ck"]).model
    save_checkpoint(str(tmp_path / "again.safetensors"), model, dict(meta, epoch=99))
    assert FeatureExtractor(str(tmp_path / "again.safetensors")).model_hash == FeatureExtractor(setup["ck"]).model_hash


def test_user_errors_are_one_line(setup, tmp_path, capsys):
    flat = tmp_path / "flat"
    write_frames(flat / "trackA", tracklet_frames(1))
    write_frames(flat / "trackB", tracklet_frames(2))
    cases = [
        ("search", "--index", setup["index"], "--probe", tmp_path / "nope"),
        ("search", "--index", tmp_path / "noindex", "--probe", setup["gallery"]),
        ("search", "--index", setup["index"], "--probe", os.path.join(setup["gallery"], "cam1", "t000"),
         "--box", "1,2,3"),
        ("index", "build", "--checkpoint", setup["ck"], "--gallery", flat, "--out", tmp_path / "i",
         "--pattern", r"cam(?P<camera>\d+)"),
        ("index", "build", "--checkpoint", setup["ck"], "--gallery", flat, "--out", tmp_path / "i",
         "--index-type", "ivf", "--nlist", "5"),
    ]
    for argv in cases:
        code, _, err = cli(*argv, capsys=capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    # a flat layout has no camera: excluding the probe's camera needs --camera
    code, _, _ = cli("index", "build", "--checkpoint", setup["ck"], "--gallery", flat, "--out", tmp_path / "f",
                     "--no-progress", capsys=capsys)
    code, _, err = cli("search", "--index", tmp_path / "f", "--probe", flat / "trackA", "--exclude-same-camera",
                       capsys=capsys)
    assert code == 2 and "--camera" in err


def test_pattern_names_cameras_and_pids(setup, tmp_path, capsys):
    g = tmp_path / "g"
    for c, t, pid in [(1, 1, 7), (2, 1, 7), (2, 2, 9)]:
        write_frames(g / f"c{c}_t{t:02d}_p{pid}", tracklet_frames(100 + 10 * c + t))
    idx = tmp_path / "idx"
    code, _, _ = cli("index", "build", "--checkpoint", setup["ck"], "--gallery", g, "--out", idx, "--no-progress",
                     "--pattern", r"c(?P<camera>\d+)_t(?P<tracklet>\d+)_p(?P<pid>\d+)", capsys=capsys)
    assert code == 0
    code, out, _ = cli("search", "--index", idx, "--probe", g / "c2_t02_p9", "--json", "--exclude-same-camera",
                       capsys=capsys)
    doc = json.loads(out)
    assert doc["probe"]["camera"] == "2"                      # the probe's camera read with the index's pattern
    assert [(h["camera"], h["tracklet"], h["pid"]) for h in doc["hits"]] == [("1", "01", 7)]


def test_ivf_index_through_cli(setup, tmp_path, capsys):
    idx = tmp_path / "ivf"
    code, out, _ = cli("index", "build", "--checkpoint", setup["ck"], "--gallery", setup["gallery"], "--out", idx,
                       "--index-type", "ivf", "--nlist", 2, "--nprobe", 2, "--no-progress", capsys=capsys)
    assert code == 0 and "IVF2,Flat" in out
    code, out, _ = cli("search", "--index", idx, "--probe", os.path.join(setup["gallery"], "cam1", "t002"),
                       "--json", "--top", 1, capsys=capsys)
    assert json.loads(out)["hits"][0]["tracklet"] == "cam1/t002"    # nprobe = nlist: exhaustive


def test_dataset_and_manifest_galleries(setup, tmp_path, capsys):
    from helpers_data import make_mars_root
    mars = make_mars_root(tmp_path, [(1, 1, 4), (1, 2, 3), (2, 1, 5), (3, 3, 4)], query_rows=[0], size=SIZE)
    idx = tmp_path / "mars_idx"
    code, out, _ = cli("index", "build", "--checkpoint", setup["ck"], "--dataset", "mars", "--root", mars,
                       "--out", idx, "--no-progress", capsys=capsys)
    assert code == 0 and "tracklets  4 " in out               # mars protocol: every test tracklet
    code, out, _ = cli("search", "--index", idx, "--probe", mars / "bbox_test" / "0002", "--json", "--top", 1,
                       capsys=capsys)
    hit = json.loads(out)["hits"][0]
    assert hit["camera"] == "cam1" and hit["pid"] == 2 and hit["distance"] < 1e-4
    # a manifest: names are the tracklet folders relative to the manifest, cameras cam{camid + 1}
    lines = [{"dir": "gallery/cam1/t000", "pid": 1, "camid": 0, "split": "gallery"},
             {"dir": "gallery/cam2/t001", "pid": 2, "camid": 1, "split": "query"},
             {"dir": "gallery/cam3/t002", "pid": 3, "camid": 2, "split": "train"}]
    manifest = setup["root"] / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    idx = tmp_path / "man_idx"
    code, out, _ = cli("index", "build", "--checkpoint", setup["ck"], "--gallery", manifest, "--out", idx,
                       "--no-progress", capsys=capsys)
    assert code == 0 and "tracklets  3 " in out
    code, out, _ = cli("search", "--index", idx, "--probe", os.path.join(setup["gallery"], "cam2", "t001"),
                       "--json", "--top", 3, capsys=capsys)
    hits = json.loads(out)["hits"]
    assert (hits[0]["tracklet"], hits[0]["camera"], hits[0]["pid"]) == ("gallery/cam2/t001", "cam2", 2)
    assert {h["pid"] for h in hits} == {1, 2, 3}              # train pids are reported as written, not relabelled


# ------------------------------------------------------------------ Python API
def test_python_api(setup, tmp_path):
    import vidreid
    from vidreid.search import GalleryIndex
    s = vidreid.Searcher(setup["ck"])
    gi = s.index(setup["gallery"], out=str(tmp_path / "api_idx"))
    assert len(gi) == CAMS * TRACKS and GalleryIndex.load(str(tmp_path / "api_idx")).model_hash == s.model_hash
    hits = s.search(os.path.join(setup["gallery"], "cam1", "t002"), top=3)
    assert [h.rank for h in hits] == [1, 2, 3] and hits[0].tracklet == "cam1/t002" and hits[0].camera == "cam1"
    assert isinstance(hits[0], vidreid.Hit) and hits[0].to_dict()["thumbnails"]
    # FeatureExtractor: one tracklet -> a unit (D,) vector; frames in memory == the same frames as files
    fx = vidreid.FeatureExtractor(setup["ck"])
    folder = os.path.join(setup["gallery"], "cam1", "t002")
    from vidreid.search.probe import list_frames
    from vidreid.data.decode import read_frame
    f_folder = fx(folder)
    f_array = fx(np.stack([read_frame(p) for p in list_frames(folder)]))
    assert f_folder.shape == (512,) and f_folder.dtype == np.float32
    assert abs(np.linalg.norm(f_folder) - 1) < 1e-5 and np.abs(f_folder - f_array).max() < 1e-5
    # the gallery loader (worker path) and the probe path agree
    stored = gi.faiss_index.reconstruct(2)
    assert np.abs(stored - f_folder).max() < 1e-5
    # reopen and append from Python
    s2 = vidreid.Searcher(setup["ck"], index=str(tmp_path / "api_idx"))
    assert s2.add(make_gallery(tmp_path / "more", cams=1, tracks=1, key0=900)) == 1
    assert len(GalleryIndex.load(str(tmp_path / "api_idx"))) == CAMS * TRACKS + 1


def test_import_vidreid_stays_light():
    code = ("import sys, vidreid; assert 'torch' not in sys.modules and 'faiss' not in sys.modules; "
            "assert vidreid.Searcher.__name__ == 'Searcher'; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model", ["sta", "nvan"])
def test_all_frames_sampling_probe_matches_gallery(model, tmp_path):
    """`all` sampling: the gallery is streamed by extract_features, the probe by FeatureExtractor (STA streams;
    NVAN cannot, and both sides fall back to dense clips)."""
    from vidreid.search import Searcher
    ck = make_checkpoint(tmp_path / f"{model}.safetensors", model=model, test_sampling="all")
    gallery = make_gallery(tmp_path / "g", cams=1, tracks=2)
    s = Searcher(ck)
    gi = s.index(gallery)
    assert gi.header["extraction"]["sampling"] == ("all" if model == "sta" else "dense")
    hits = s.search(os.path.join(gallery, "cam1", "t001"), top=2)
    assert hits[0].tracklet == "cam1/t001" and hits[0].distance < 1e-4


def test_video_probe_without_box_and_unknown_camera_are_said(setup, tmp_path, capsys):
    video = write_video(tmp_path / "probe.avi", tracklet_frames(10 * 2 + 1))
    code, _, err = cli("search", "--index", setup["index"], "--probe", video, "--top", 1, capsys=capsys)
    assert code == 0 and "whole frames (no --box)" in err
    code, _, err = cli("search", "--index", setup["index"], "--probe", video, "--box", "50,30,32,64",
                       "--camera", "cam9", "--exclude-same-camera", capsys=capsys)
    assert code == 2 and "--camera 'cam9' is not a camera of the index" in err and "cam1" in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


def test_keep_features_and_exact_rerank_cli(setup, tmp_path, capsys):
    index = str(tmp_path / "kept")
    code, out, _ = cli("index", "build", "--checkpoint", setup["ck"], "--gallery", setup["gallery"], "--out", index,
                       "--keep-features", "--no-progress", capsys=capsys)
    assert code == 0 and "float16 copies kept for exact re-ranking" in out
    assert os.path.isfile(os.path.join(index, "features.1.f16.npy"))
    probe = os.path.join(setup["gallery"], "cam2", "t001")
    search = ("search", "--index", index, "--probe", probe, "--top", 5, "--json", "--exclude-same-camera")
    _, plain, _ = cli(*search, capsys=capsys)
    code, out, _ = cli(*search, "--exact-rerank", 8, capsys=capsys)
    assert code == 0
    hits, want = json.loads(out)["hits"], json.loads(plain)["hits"]      # a flat index: the same, to float16
    assert [h["index"] for h in hits] == [h["index"] for h in want] and {h["camera"] for h in hits} <= {"cam1", "cam3"}
    assert max(abs(h["distance"] - w["distance"]) for h, w in zip(hits, want)) < 2e-3
