"""The Ray engines on a local Ray. `vidreid tracklets --engine ray` (workflows/ray_tracklets.py): the same output as
the single-process path, retries, failures reported, and a run stopped mid-way resumed without redoing, losing or
duplicating anything. `vidreid index build --engine ray` (workflows/ray_index.py): the same index (features within
float tolerance) from model actors' shards, and a failed shard redone alone. Skipped when Ray is not installed
(`make test-ray` installs the `ray` extra and runs these)."""
import json
import os
import sys
import uuid

import pytest

from helpers_video import block_video, write_det
from vidreid.cli import build_parser, main
from vidreid.tracking.pipeline import output_differences

try:
    import ray
except ImportError:
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed: `make test-ray` installs vidreid[ray]")
CAMERAS = ("gate", "hall", "yard")


@pytest.fixture(scope="module", autouse=True)
def detect_every_time():
    """No detection cache in this module: the engines are compared on detecting, not on reading each other's boxes
    (the Ray workers, started below, inherit it)."""
    before = os.environ.get("VIDREID_NO_DETECTION_CACHE")
    os.environ["VIDREID_NO_DETECTION_CACHE"] = "1"
    yield
    if before is None:
        del os.environ["VIDREID_NO_DETECTION_CACHE"]
    else:
        os.environ["VIDREID_NO_DETECTION_CACHE"] = before


@pytest.fixture(scope="module")
def local_ray():
    """One small local Ray for the module (the engine uses a Ray already started in its process)."""
    ray.init(num_cpus=2, object_store_memory=100 << 20, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the test's task wrappers, for the workers
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """Three tiny cameras (coloured blocks walking), their det.txt files and a footage manifest (CSV)."""
    root = tmp_path_factory.mktemp("footage")
    people = {"gate": None, "hall": [((230, 80, 0), 140, 40, 16, 40, -5)],
              "yard": [((0, 200, 0), 20, 50, 16, 40, 3), ((0, 0, 230), 120, 30, 16, 40, -3)]}
    dets = []
    for cam in CAMERAS:
        boxes = block_video(root / f"{cam}.avi", people=people[cam])
        dets.append(write_det(root / f"{cam}.txt", boxes, drop=range(12, 16) if cam == "gate" else ()))
    (root / "footage.csv").write_text("video,camera,start\n" + "".join(
        f"{c}.avi,{c},2026-12-05T10:0{i}:00\n" for i, c in enumerate(CAMERAS)))
    argv = ["tracklets", "--footage", str(root / "footage.csv"), "--min-len", "5", "--max-gap", "3",
            "--min-height", "20", "--crop-size", "64x32", "--no-progress"]
    for d in dets:
        argv += ["--detections", d]
    return root, argv


@pytest.fixture(scope="module")
def single_process(footage):
    root, argv = footage
    out = root / "single"
    assert main(argv + ["--out", str(out)]) == 0
    return out


def same_output(a, b):
    """Every file of the two outputs byte-identical, the sidecar apart from its RUN_FIELDS -> a's sidecar."""
    differ, side = output_differences(str(a), str(b))
    assert not differ, differ
    return side


def counted(task, calls, fail=(), fail_first=()):
    """Wrap the engine's task: record each call in `calls` (a folder: calls run in other processes); raise in
    cameras `fail` always and in `fail_first` on their first call."""
    def wrapped(job, parts):
        seen = [n for n in os.listdir(calls) if n.startswith(job.camera + "-")]
        open(os.path.join(calls, f"{job.camera}-{uuid.uuid4().hex}"), "w").close()
        if job.camera in fail or (job.camera in fail_first and not seen):
            raise RuntimeError(f"injected failure in {job.camera}")
        return task(job, parts)
    return wrapped


def calls_of(calls):
    return sorted(n.split("-")[0] for n in os.listdir(calls))


def part_cameras(parts):
    """The cameras of the parts in a parts folder (each whole: its part.json written last, inside the rename)."""
    names = [n for n in os.listdir(parts) if os.path.isdir(os.path.join(parts, n)) and not n.startswith(".")]
    assert all(os.path.isfile(os.path.join(parts, n, "part.json")) for n in names)
    return sorted(n.split("-")[0] for n in names)


def ray_run(argv, out, tmp_path, **kw):
    """run_tracklets_ray through the command's own parser and plan, with the test's task wrapper."""
    from vidreid.workflows.ray_tracklets import run_tracklets_ray, run_video_job
    from vidreid.workflows.tracklets import plan_tracklets
    args = build_parser().parse_args(argv + ["--engine", "ray", "--out", str(out), "--retries", "1"])
    calls = tmp_path / f"calls-{uuid.uuid4().hex[:6]}"
    calls.mkdir()
    on_done = kw.pop("on_done", None)
    try:
        run_tracklets_ray(plan_tracklets(args), args, counted(run_video_job, str(calls), **kw), on_done)
    finally:
        done = calls_of(calls)
    return done


@needs_ray
def test_ray_engine_gives_the_single_process_output(local_ray, footage, single_process, tmp_path, capsys):
    root, argv = footage
    out = tmp_path / "ray"
    assert main(argv + ["--out", str(out), "--engine", "ray"]) == 0
    side = same_output(single_process, out)
    assert len(side["tracklets"]) == 7 and side["tracklets"][0]["start_clock"] == "2026-12-05T10:00:00"
    assert not os.path.exists(str(out) + ".parts") and not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert "3 videos to do, 0 already done" in capsys.readouterr().out
    # an existing output is refused before any work; --force replaces it (and redoes the videos: no parts left)
    assert main(argv + ["--out", str(out), "--engine", "ray"]) == 2
    assert "already exists" in capsys.readouterr().err


@needs_ray
def test_ray_engine_with_appearance_join_and_masks_gives_the_same_output(local_ray, footage, tmp_path):
    """--checkpoint (each task loads the model to join fragments) and --masks go through the tasks unchanged."""
    from test_search import make_checkpoint
    root, argv = footage
    argv = argv + ["--checkpoint", make_checkpoint(tmp_path / "tp.safetensors"), "--join-distance", "2", "--masks",
                   "--preview", "none"]
    assert main(argv + ["--out", str(tmp_path / "single")]) == 0
    assert main(argv + ["--out", str(tmp_path / "ray"), "--engine", "ray"]) == 0
    side = same_output(tmp_path / "single", tmp_path / "ray")
    assert side["join"]["checkpoint"].endswith("tp.safetensors") and side["masks"]
    assert any("joined_to" in t for t in side["tracklets"])                 # the join did something
    assert os.path.isdir(tmp_path / "ray" / "tracklets" / "gate" / side["tracklets"][0]["name"].split("/")[1] / "masks")


@needs_ray
def test_failed_task_is_retried_then_reported_and_the_rerun_does_only_it(local_ray, footage, single_process,
                                                                        tmp_path):
    from vidreid.workflows.ray_tracklets import VideosFailed
    root, argv = footage
    out = tmp_path / "ray"
    # a task that fails once is retried and the run succeeds
    assert ray_run(argv, out, tmp_path, fail_first=("hall",)) == ["gate", "hall", "hall", "yard"]
    same_output(single_process, out)
    # a task that always fails: tried 1 + --retries 1 times, reported; OUT not written, the others' parts kept
    out2 = tmp_path / "ray2"
    with pytest.raises(VideosFailed, match=r"1 of 3 videos failed \(first: hall .*injected failure in hall"):
        ray_run(argv, out2, tmp_path, fail=("hall",))
    parts = str(out2) + ".parts"
    assert not os.path.exists(out2)
    assert part_cameras(parts) == ["gate", "yard"] and os.path.isfile(os.path.join(parts, "failures.json"))
    assert json.load(open(os.path.join(parts, "failures.json")))[0]["camera"] == "hall"
    # the rerun does only the failed video and gives the whole, same output
    assert ray_run(argv, out2, tmp_path) == ["hall"]
    same_output(single_process, out2)
    assert not os.path.exists(parts)


@needs_ray
def test_run_stopped_after_the_first_video_resumes_without_redoing_or_duplicating(local_ray, footage,
                                                                                 single_process, tmp_path):
    root, argv = footage
    out = tmp_path / "ray"
    parts = str(out) + ".parts"
    finished = []

    def stop_after_first(job, part, error):              # the driver stops (Ctrl-C) once one video is done
        finished.append(job.camera)
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        ray_run(argv, out, tmp_path, on_done=stop_after_first)
    assert len(finished) == 1 and not os.path.exists(out)
    whole = part_cameras(parts)
    assert finished[0] in whole            # (the other task running then may have finished too, whole or not at all)
    redone = ray_run(argv, out, tmp_path)
    # nothing finished is done again (a task cancelled by the stop may still have finished before the rerun: then
    # it is not redone either), and the rest is done once
    assert set(whole).isdisjoint(redone) and len(redone) == len(set(redone))
    assert set(CAMERAS) - set(whole) >= set(redone)
    side = same_output(single_process, out)
    names = [t["name"] for t in side["tracklets"]]
    assert len(names) == len(set(names)) == 7


def test_changed_video_is_redone(footage, tmp_path):
    """The part key covers the video's bytes: a part made from other bytes is not reused."""
    from vidreid.workflows.ray_tracklets import file_hash, job_key
    root, _ = footage
    settings = {"detector": "hog", "every": 1}
    key = job_key(str(root / "gate.avi"), "gate", "hog", None, settings, "mp4", {})
    copy = tmp_path / "gate.avi"
    copy.write_bytes((root / "gate.avi").read_bytes())
    assert job_key(str(copy), "gate", "hog", None, settings, "mp4", {}) == key
    with open(copy, "ab") as f:
        f.write(b"\0")
    assert file_hash(str(copy)) != file_hash(str(root / "gate.avi"))
    assert job_key(str(copy), "gate", "hog", None, settings, "mp4", {}) != key
    assert job_key(str(root / "gate.avi"), "gate", "hog", None, dict(settings, every=2), "mp4", {}) != key


def test_without_ray_the_engine_says_how_to_install_it(footage, tmp_path, monkeypatch, capsys):
    root, argv = footage
    monkeypatch.setitem(sys.modules, "ray", None)                 # `import ray` raises ImportError
    assert main(argv + ["--out", str(tmp_path / "out"), "--engine", "ray"]) == 2
    assert "pip install 'vidreid[ray]'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "out.parts")
    assert main(["index", "build", "--checkpoint", str(tmp_path / "x.safetensors"), "--gallery", str(root),
                 "--out", str(tmp_path / "idx"), "--engine", "ray"]) == 2
    assert "pip install 'vidreid[ray]'" in capsys.readouterr().err and not os.path.exists(tmp_path / "idx")


# ---------------------------------------------------------------------------------- index build --engine ray
@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    pytest.importorskip("faiss", reason="search needs faiss-cpu")
    from test_search import make_checkpoint, make_gallery
    root = tmp_path_factory.mktemp("gallery")
    ck = make_checkpoint(root / "tp.safetensors")
    g = make_gallery(root / "gallery", cams=3, tracks=3)
    single = str(root / "single.index")
    assert main(["index", "build", "--checkpoint", ck, "--gallery", g, "--out", single, "--no-progress"]) == 0
    return ck, g, single


def index_content(path):
    """(names, paths, cameras, stored vectors) of an index folder."""
    from vidreid.search.index import GalleryIndex
    gi = GalleryIndex.load(path)
    t = gi.table
    return ([t.names[i] for i in range(len(t))], [t.paths[i] for i in range(len(t))],
            list(t.camera_codes), gi.faiss_index.reconstruct_n(0, len(t)))


@needs_ray
def test_index_build_on_ray_equals_the_single_process_index(local_ray, gallery, tmp_path, monkeypatch, capsys):
    import numpy as np
    from vidreid.workflows import ray_index
    ck, g, single = gallery
    monkeypatch.setattr(ray_index, "SHARD", 2)                    # 9 tracklets -> 5 shards over 2 actors
    out = tmp_path / "ray.index"
    assert main(["index", "build", "--checkpoint", ck, "--gallery", g, "--out", str(out), "--no-progress",
                 "--engine", "ray", "--actors", "2"]) == 0
    a, b = index_content(single), index_content(str(out))
    assert a[:3] == b[:3] and len(a[0]) == 9
    np.testing.assert_allclose(a[3], b[3], atol=1e-5)
    assert not os.path.exists(str(out) + ".parts")


@needs_ray
def test_index_build_failed_shard_is_reported_and_redone_alone(local_ray, gallery, tmp_path, monkeypatch, capsys):
    import numpy as np
    from vidreid.search.searcher import Searcher
    from vidreid.workflows import ray_index
    ck, g, single = gallery
    monkeypatch.setattr(ray_index, "SHARD", 2)

    class Failing(ray_index.Embedder):
        def embed(self, tracklets, path):
            if os.path.basename(path).startswith("4-"):            # the shard of tracklets 4-5, on every try
                raise RuntimeError("injected failure")
            return super().embed(tracklets, path)
    out = str(tmp_path / "ray.index")
    s = Searcher(ck, workers=0, progress=False)
    with pytest.raises(ray_index.ShardsFailed, match=r"1 of 5 shards failed \(first: tracklets 4-5: .*injected"):
        s.index(g, out, embed_chunks=ray_index.RayEmbedding(out, s.extractor, {}, 2, retries=1, actor_class=Failing))
    assert not os.path.exists(os.path.join(out, "index.json"))
    assert sorted(n.split("-")[0] for n in os.listdir(out + ".parts") if n.endswith(".npy")) == ["0", "2", "6", "8"]
    capsys.readouterr()
    embed = ray_index.RayEmbedding(out, s.extractor, {}, 2)
    s.index(g, out, embed_chunks=embed)
    assert "ray: 1 of 5 shards to embed (4 done" in capsys.readouterr().out
    embed.cleanup()
    a, b = index_content(single), index_content(out)
    assert a[:3] == b[:3]
    np.testing.assert_allclose(a[3], b[3], atol=1e-5)
