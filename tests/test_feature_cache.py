"""Feature files (vidreid/inference/feature_cache.py) and their reuse by `vidreid extract` / `vidreid eval`: written
atomically with the model/config/data hashes; reused only when all three match (and the CLI says so); a changed
checkpoint, setting or tracklet list is reported and recomputed, never silently reused."""
import os

import numpy as np
import pytest
import torch
from safetensors import safe_open

from vidreid.cli import main
from vidreid.config import Config
from vidreid.data import load_dataset
from vidreid.inference.feature_cache import CachedExtractor, feature_key, load_if_valid, read_features, save_features
from vidreid.store.run_folder import run_dir_of


@pytest.fixture(scope="module")
def dataset(tiny_synthped):
    return load_dataset("synthped", tiny_synthped)


def config(root: str) -> Config:
    from conftest import TINY_SYNTH
    cfg = Config()
    cfg.data.dataset, cfg.data.root, cfg.data.synth = "synthped", root, dict(TINY_SYNTH)
    cfg.data.height, cfg.data.width, cfg.data.workers = 32, 16, 0
    cfg.data.test_seq_len, cfg.data.test_batch_size, cfg.data.test_sampling = 4, 8, "rrs"
    cfg.model.name, cfg.model.backbone, cfg.train.device = "tp", "resnet18", "cpu"
    return cfg


def write_checkpoint(path, root, seed=0) -> str:
    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.builders import build_for_dataset
    cfg = config(root)
    torch.manual_seed(seed)
    model = build_for_dataset(cfg, 8, pretrained=False)
    save_checkpoint(str(path), model, {"model": "tp", "num_classes": 8, "config": cfg.to_dict()})
    return str(path)


def test_round_trip_and_hashes(dataset, tiny_synthped, tmp_path):
    ckpt = write_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors", tiny_synthped)
    assert run_dir_of(ckpt) == str(tmp_path / "run")
    cfg = config(tiny_synthped)
    query = dataset.query
    key, _ = feature_key(ckpt, cfg, dataset.name, dataset.root, query, "all")
    feats = np.random.default_rng(0).standard_normal((len(query), 7)).astype(np.float32)
    path = str(tmp_path / "f" / "q.safetensors")
    save_features(path, feats, query, key, {"split": "query", "settings": {"a": 1}})
    assert os.listdir(tmp_path / "f") == ["q.safetensors"]              # atomic: no temporary file left
    arrays, meta = read_features(path)
    assert np.array_equal(arrays["features"], feats) and arrays["features"].dtype == np.float32
    assert arrays["pids"].tolist() == [t.pid for t in query] and arrays["camids"].tolist() == [t.camid for t in query]
    assert arrays["track_ids"].tolist() == list(range(len(query)))
    assert meta["model_hash"] == key.model_hash and meta["split"] == "query" and meta["settings"] == '{"a": 1}'
    got, why = load_if_valid(path, key, query)
    assert np.array_equal(got, feats) and why == ""

    # each hash changes with what it covers, and the mismatch says which
    def stale_reason(**changes):
        c = config(tiny_synthped)
        tracklets, checkpoint = changes.pop("tracklets", query), changes.pop("checkpoint", ckpt)
        for k, v in changes.items():
            setattr(c.data, k, v)
        other, _ = feature_key(checkpoint, c, dataset.name, dataset.root, tracklets, "all")
        got, why = load_if_valid(path, other, tracklets)
        assert got is None
        return why
    assert "the eval settings changed" in stale_reason(test_seq_len=8)
    assert "the eval settings changed" in stale_reason(height=64)
    assert "the tracklet list or its files changed" in stale_reason(tracklets=query[:-1])
    moved = [t._replace(frames=t.frames[:-1]) if i == 3 else t for i, t in enumerate(query)]
    assert "the tracklet list or its files changed" in stale_reason(tracklets=moved)
    retrained = write_checkpoint(tmp_path / "run" / "checkpoints" / "other.safetensors", tiny_synthped, seed=1)
    assert "the checkpoint changed" in stale_reason(checkpoint=retrained)
    assert load_if_valid(path, key, query)[1] == ""

    # a rewritten sampled frame (first / last of a tracklet) or index file: stale; the file is put back after
    def touched(frame):
        st = os.stat(frame)
        os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        try:
            other, _ = feature_key(ckpt, cfg, dataset.name, dataset.root, query, "all")
            return load_if_valid(path, other, query)
        finally:
            os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns))
    track = next(t for t in query if len(t.frames) >= 3)
    for frame in (track.frames[0], track.frames[-1], os.path.join(tiny_synthped, "info", "query_IDX.mat")):
        got, why = touched(frame)
        assert got is None and "the tracklet list or its files changed" in why, frame
    assert touched(track.frames[1])[1] == ""                            # not sampled: two stats per tracklet only
    # another vidreid version, or other model source code: stale
    import vidreid.inference.feature_cache as fc
    for attr, value in (("__version__", "99.0"), ("_PIPELINE_SOURCES", fc._PIPELINE_SOURCES[:-1])):
        saved = getattr(fc, attr)
        setattr(fc, attr, value)
        fc._code_hashes.clear()
        try:
            other, _ = feature_key(ckpt, cfg, dataset.name, dataset.root, query, "all")
        finally:
            setattr(fc, attr, saved)
            fc._code_hashes.clear()
        got, why = load_if_valid(path, other, query)
        assert got is None and "the vidreid version or the model / feature code changed" in why
    package = os.path.dirname(os.path.dirname(os.path.abspath(fc.__file__)))
    sources = {os.path.relpath(f, package) for f in fc.model_source_files("tp")}
    assert {"models/tp.py", "models/backbones/mobilenet.py", "models/heads.py", "data/transforms.py"} <= sources
    assert "models/sta.py" not in sources
    # not a feature file
    with open(path, "wb") as f:
        f.write(b"garbage")
    got, why = load_if_valid(path, key, query)
    assert got is None and "not a readable feature file" in why


def test_a_listed_source_file_that_no_longer_exists_fails(monkeypatch):
    """A module moved or deleted out from under _PIPELINE_SOURCES would silently drop out of the code hash (stale
    features then look valid): model_source_files fails, naming the file."""
    import vidreid.inference.feature_cache as fc
    monkeypatch.setattr(fc, "_PIPELINE_SOURCES", fc._PIPELINE_SOURCES + ("data/moved_away.py",))
    monkeypatch.setattr(fc, "_code_hashes", {})
    with pytest.raises(RuntimeError, match="do not exist.*data/moved_away.py"):
        fc.code_hash("tp")


def test_extractor_builds_the_model_only_on_a_miss(dataset, tiny_synthped, tmp_path):
    from vidreid.inference.model import build_model_from_checkpoint
    ckpt = write_checkpoint(tmp_path / "ck.safetensors", tiny_synthped)
    cfg, built, logs = config(tiny_synthped), [], []

    def factory():
        built.append(1)
        return build_model_from_checkpoint(ckpt)[0]

    def extractor():
        return CachedExtractor(factory, cfg, ckpt, dataset.name, dataset.root, "all", progress=False,
                               log=logs.append)
    first = extractor()(dataset.query, "query")
    assert built == [1] and "no cached features" in logs[0] and logs[1].startswith("query: wrote")
    assert os.path.exists(os.path.join(tmp_path, "features", os.path.basename(logs[1].split()[-1])))
    again = extractor()
    second = again(dataset.query, "query")
    assert built == [1] and again.reused == ["query"] and np.array_equal(first, second)


def _eval(capsys, *argv):
    assert main(["eval", "--no-plots", *argv]) == 0     # the caching is under test, not the pictures
    out = capsys.readouterr()
    return out.out, out.err


def test_cli_extract_then_eval_reuses_and_detects_stale(tiny_synthped, tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors", tiny_synthped)
    features = tmp_path / "run" / "features"
    assert main(["extract", "--checkpoint", ckpt, "--split", "query", "--sampling", "all", "--no-progress"]) == 0
    out = capsys.readouterr().out
    (written,) = os.listdir(features)
    assert written.startswith("query-all-") and written in out and "frames/s" in out
    with safe_open(str(features / written), framework="numpy") as f:
        meta = f.metadata()
        assert f.get_tensor("features").shape[0] == len(load_dataset("synthped", tiny_synthped).query)
    assert {"model_hash", "config_hash", "data_hash", "checkpoint", "settings"} <= set(meta)
    assert main(["extract", "--checkpoint", ckpt, "--split", "query", "--sampling", "all", "--no-progress"]) == 0
    assert "up to date" in capsys.readouterr().out

    # mars protocol: every query is in the gallery, so eval embeds (or reads) the gallery alone
    table, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "all", "--rerank")
    assert "gallery: no cached features" in err and "query:" not in err
    assert "all" in table and "yes" in table                           # sampling and re-ranking named
    table2, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "all", "--rerank")
    assert "gallery: reusing" in err and "query:" not in err and table2 == table

    # another clip length: another file; the message names the setting that differs
    _, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "dense", "data.test_seq_len=2")
    assert "gallery: no cached features" in err
    _, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "dense", "data.test_seq_len=3")
    assert "has other settings: seq_len 2 -> 3" in err

    # retrained checkpoint at the same path: stale, said why, recomputed and overwritten
    write_checkpoint(ckpt, tiny_synthped, seed=5)
    table3, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "all")
    assert "are stale: the checkpoint changed" in err and "gallery: wrote" in err
    _, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "all")
    assert err.count("reusing cached features") == 1
    # --no-cache: neither read nor written
    _, err = _eval(capsys, "--checkpoint", ckpt, "--sampling", "all", "--no-cache")
    assert "cached" not in err and "wrote" not in err


def test_eval_split_all_uses_the_cache(tmp_path, capsys):
    """`vidreid eval --split all` caches each split's query/gallery features like a single evaluation."""
    from helpers_datasets import make_ilidsvid_root

    from vidreid.store.checkpoint import save_checkpoint
    from vidreid.builders import build_for_dataset
    root = make_ilidsvid_root(tmp_path, [(1, 5, 4), (2, 3, 6), (4, 4, 4), (7, 2, 3)], num_splits=3)
    cfg = Config()
    cfg.data.dataset, cfg.data.root, cfg.data.protocol = "ilidsvid", str(root), "gao"
    cfg.data.height, cfg.data.width, cfg.data.seq_len, cfg.data.workers = 16, 8, 2, 0
    cfg.data.test_sampling, cfg.data.test_batch_size = "rrs", 8
    cfg.model.name, cfg.model.backbone, cfg.train.device = "tp", "resnet18", "cpu"
    torch.manual_seed(0)
    ckpt = str(tmp_path / "run" / "checkpoints" / "best.safetensors")
    save_checkpoint(ckpt, build_for_dataset(cfg, 2, pretrained=False),
                    {"model": "tp", "num_classes": 2, "config": cfg.to_dict(), "dataset": "other"})
    # trained on another dataset: its run folder is left alone unless --features-dir names where to cache
    _, err = _eval(capsys, "--checkpoint", ckpt, "--split", "all")
    assert err.count("not caching the features") == 3 and not (tmp_path / "run" / "features").exists()
    features = ["--features-dir", str(tmp_path / "run" / "features")]
    table, err = _eval(capsys, "--checkpoint", ckpt, "--split", "all", *features)
    assert err.count("no cached features") == 6 and err.count(": wrote ") == 6
    assert len(os.listdir(tmp_path / "run" / "features")) == 6        # query + gallery of each of the 3 splits
    table2, err = _eval(capsys, "--checkpoint", ckpt, "--split", "all", *features)
    assert err.count("reusing cached features") == 6 and table2 == table
    _, err = _eval(capsys, "--checkpoint", ckpt, "--split", "all", "--no-cache", *features)
    assert "cached" not in err and "wrote" not in err


def test_one_eval_loads_the_checkpoints_tensors_once_and_not_at_all_when_cached(tiny_synthped, tmp_path, capsys,
                                                                                 monkeypatch):
    """The checkpoint is read once (store.checkpoint.Checkpoint) and passed down: one full tensor load for an eval
    that extracts (model, feature-cache key, calibration hash share it), none when every split's features are
    cached (the hash then comes from the file's bytes)."""
    import vidreid.store.checkpoint as C
    ckpt = write_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors", tiny_synthped)
    loads = []
    real = C.load_tensors
    monkeypatch.setattr(C, "load_tensors", lambda path: loads.append(path) or real(path))
    assert main(["eval", "--checkpoint", ckpt, "--ranked", "2", "--no-progress"]) == 0
    first = capsys.readouterr()
    assert loads == [ckpt] and "calibration" in first.out               # pictures and calibration.json written too
    loads.clear()
    assert main(["eval", "--checkpoint", ckpt, "--ranked", "2", "--no-progress"]) == 0
    assert "reusing cached features" in capsys.readouterr().err and loads == []
