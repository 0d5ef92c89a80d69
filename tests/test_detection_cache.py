"""The detection cache (vidreid/tracking/detection_cache.py): a second pass over a video takes the detector's boxes
from the cache, without decoding once a pass has reached the video's end; anything that could change a box (the
video's bytes, the detector's settings or code) misses; a bad cache file is ignored; the opt-out writes nothing; and
`vidreid tracklets` gives the same bytes from the cache as without it."""
import json
import os

import numpy as np
import pytest

import vidreid.tracking.detection_cache as dc
from helpers_video import block_video
from vidreid.cli import main
from vidreid.tracking.detection_cache import DetectionCache, detect_frames
from vidreid.tracking.detectors import HogDetector
from vidreid.tracking.pipeline import SIDECAR, output_differences


class Oracle:
    """A cacheable detector: the true boxes of a block_video (score 0.9) and a count of its calls."""

    def __init__(self, boxes: dict, setting: str = "a"):
        self.boxes, self.setting, self.calls = boxes, setting, []

    def cache_key(self) -> str:
        return f"oracle|{self.setting}"

    def detect(self, frame, n):
        assert frame is not None and frame.ndim == 3        # detectors get decoded frames
        self.calls.append(n)
        return np.array([[*b[n - 1], 0.9] for b in self.boxes.values()], np.float32)


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VIDREID_NO_DETECTION_CACHE", raising=False)
    return tmp_path / "cache" / "vidreid" / "detections"


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "walk.avi"
    return str(path), block_video(path, frames=12)


def run(video, detector, **kw):
    counts = {}
    out = list(detect_frames(video, detector, counts=counts, **kw))
    return [n for n, _ in out], [r for _, r in out], counts["cached"]


def no_decoding(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("decoded although the cache holds every frame")
    monkeypatch.setattr(dc, "iter_frames", refuse)


def test_second_pass_reads_the_cache_without_decoding(cache_home, video, monkeypatch):
    path, boxes = video
    det = Oracle(boxes)
    numbers, rows, cached = run(path, det)
    assert numbers == list(range(1, 13)) and det.calls == numbers and cached == 0
    [name] = os.listdir(cache_home)
    assert name.startswith(dc.video_sha256(path) + "-") and name.endswith(".npz")
    no_decoding(monkeypatch)
    again = Oracle(boxes)
    numbers2, rows2, cached2 = run(path, again)
    assert again.calls == [] and numbers2 == numbers and cached2 == 12
    assert all(a.dtype == b.dtype == np.float32 and np.array_equal(a, b) for a, b in zip(rows, rows2))
    np.testing.assert_array_equal(rows2[4][0, :4], boxes[0][4])         # frame 5: the red block's true box
    # a sparser or shorter pass over the same frames is served too
    assert run(path, again, every=3)[0] == [1, 4, 7, 10] and run(path, again, start=5, stop=8)[0] == [5, 6, 7, 8]
    assert run(path, again, stop=99)[0] == numbers                       # a stop past the end ends at the end
    assert again.calls == []


def test_partial_passes_detect_only_the_new_frames_and_the_end_needs_a_pass_to_it(cache_home, video):
    path, boxes = video
    det = Oracle(boxes)
    run(path, det, stop=5)
    assert DetectionCache.open(path, det).end is None                   # the end is not known from frames 1-5
    run(path, det, every=2)                                              # 1, 3 ... 11: the end still unknown
    assert DetectionCache.open(path, det).end is None
    det.calls.clear()
    assert run(path, det)[2] == 8                                        # 1-5, 7, 9, 11 from the cache
    assert det.calls == [6, 8, 10, 12] and DetectionCache.open(path, det).end == 12


def test_a_consumer_that_stops_early_keeps_what_was_detected(cache_home, video):
    path, boxes = video
    det = Oracle(boxes)
    for n, _ in detect_frames(path, det):
        if n == 4:
            break
    cache = DetectionCache.open(path, det)
    assert sorted(cache.rows) == [1, 2, 3, 4] and cache.end is None


def test_another_video_or_setting_misses(cache_home, video, tmp_path):
    path, boxes = video
    run(path, Oracle(boxes))
    other = Oracle(boxes, setting="b")
    assert run(path, other)[2] == 0 and len(other.calls) == 12          # another detector setting
    moved = str(tmp_path / "copy.avi")
    os.link(path, moved)                                                 # the same bytes under another name: a hit
    assert run(moved, Oracle(boxes))[2] == 12
    edited = str(tmp_path / "edited.avi")
    block_video(edited, frames=12, people=[((0, 0, 230), 20, 30, 16, 40, 4)])
    fresh = Oracle(boxes)
    assert run(edited, fresh)[2] == 0 and len(fresh.calls) == 12
    assert len(os.listdir(cache_home)) == 3


def test_hog_key_names_its_settings_opencv_and_its_code(monkeypatch):
    import cv2
    key = HogDetector().cache_key()
    assert cv2.__version__ in key and key != HogDetector(upscale=2).cache_key()
    assert key != HogDetector(scale=1.1).cache_key() and key == HogDetector().cache_key()

    class Tuned(HogDetector):                                            # a subclass may detect otherwise
        pass
    assert Tuned().cache_key() != key
    import vidreid.tracking.detectors as detectors
    monkeypatch.setattr(detectors, "_code_digest", lambda: "changed")
    assert HogDetector().cache_key() != key


def test_a_bad_cache_file_is_ignored_and_rewritten(cache_home, video):
    path, boxes = video
    run(path, Oracle(boxes))
    [name] = os.listdir(cache_home)
    import io
    foreign = io.BytesIO()                    # the right format number, the wrong shapes
    np.savez(foreign, format=1, frames=np.zeros((2, 2), np.int64), counts=np.zeros(2, np.int64),
             rows=np.zeros((0, 5), np.float32), end=12)
    for junk in (b"not an npz", b"", foreign.getvalue()):
        (cache_home / name).write_bytes(junk)
        det = Oracle(boxes)
        assert run(path, det)[2] == 0 and len(det.calls) == 12
        assert DetectionCache.open(path, det).end == 12                  # rewritten whole


def test_the_opt_out_and_uncacheable_detectors_write_nothing(cache_home, video, monkeypatch):
    path, boxes = video
    monkeypatch.setenv("VIDREID_NO_DETECTION_CACHE", "1")
    for _ in range(2):
        det = Oracle(boxes)
        assert run(path, det)[2] == 0 and len(det.calls) == 12
    monkeypatch.delenv("VIDREID_NO_DETECTION_CACHE")

    class Plain:                                                         # no cache_key (ONNX, say)
        def detect(self, frame, n):
            return np.zeros((0, 5), np.float32)
    assert run(path, Plain())[2] == 0
    assert not cache_home.exists()


def test_an_unwritable_cache_costs_only_time(cache_home, video, monkeypatch):
    path, boxes = video
    cache_home.parent.mkdir(parents=True)
    cache_home.write_text("a file where the folder should be")
    det = Oracle(boxes)
    assert run(path, det)[0] == list(range(1, 13)) and len(det.calls) == 12


def test_tracklets_twice_gives_the_same_bytes_from_the_cache(cache_home, tmp_path, capsys, monkeypatch):
    """The first run's "HOG" returns the walking block's true boxes (HOG itself finds no block: the key stays HOG's),
    the second run's returns nothing and must not be called: its tracklets come from the cache alone."""
    video = tmp_path / "gate.avi"
    boxes = block_video(video, frames=16, size=(240, 200), people=[((0, 0, 230), 10, 40, 60, 150, 4)])[0]
    common = [str(video), "--no-progress", "--min-len", "2", "--preview", "none"]
    monkeypatch.setattr(HogDetector, "detect", lambda self, frame, n: np.array([[*boxes[n - 1], 0.9]], np.float32))
    assert main(["tracklets", *common, "--out", str(tmp_path / "a")]) == 0
    assert "detections from the cache" not in capsys.readouterr().out
    calls = []
    monkeypatch.setattr(HogDetector, "detect", lambda self, frame, n: calls.append(n) or np.zeros((0, 5), np.float32))
    assert main(["tracklets", *common, "--out", str(tmp_path / "b")]) == 0
    assert calls == [] and "gate: 16 frames (detections from the cache)" in capsys.readouterr().out
    sides = [json.load(open(tmp_path / o / "tracklets.json")) for o in "ab"]
    assert sides[0]["videos"][0]["frames_cached"] == 0 and sides[1]["videos"][0]["frames_cached"] == 16
    assert [t["frames"] for t in sides[1]["tracklets"]] == [list(range(1, 17))]   # the block, every frame
    np.testing.assert_allclose(sides[1]["tracklets"][0]["boxes"], boxes)
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "a") for d, _, fs in os.walk(tmp_path / "a")
                   for f in fs)
    assert len([f for f in files if f.endswith(".jpg")]) == 16
    assert output_differences(str(tmp_path / "a"), str(tmp_path / "b"))[0] == []
    # the comparison itself: a run field may differ, a box, a crop's byte or a missing file may not
    side = sides[1]
    side["videos"][0]["seconds_track"] += 1
    (tmp_path / "b" / SIDECAR).write_text(json.dumps(side))
    assert output_differences(str(tmp_path / "a"), str(tmp_path / "b"))[0] == []
    side["tracklets"][0]["boxes"][3][0] += 1
    (tmp_path / "b" / SIDECAR).write_text(json.dumps(side))
    crop = next(f for f in files if f.endswith(".jpg"))
    (tmp_path / "b" / crop).write_bytes((tmp_path / "b" / crop).read_bytes() + b"x")
    os.remove(tmp_path / "b" / "manifest.jsonl")
    assert output_differences(str(tmp_path / "a"), str(tmp_path / "b"))[0] == ["manifest.jsonl", crop, SIDECAR]
