"""The recommended checkpoint (vidreid/inference/recommended.py): written once from a network and SynthPed, then used
by eval, index build and search on a manifest of tracklets that has no train split."""
import json
import os
import shutil

import pytest


@pytest.fixture(scope="module")
def recommended(tiny_synthped, tmp_path_factory):
    from conftest import untrained_tp_checkpoint
    from vidreid.data import load_dataset
    from vidreid.inference.recommended import write_recommended
    root = tmp_path_factory.mktemp("recommended")
    ck = untrained_tp_checkpoint(str(root / "run" / "checkpoints" / "last.safetensors"), tiny_synthped)
    ds = load_dataset("synthped", tiny_synthped)
    path = write_recommended(ck, ds, log=lambda *a: None)
    # a manifest with query and gallery rows only (copies of SynthPed's test tracklets): no train split at all
    rows = []
    for split, ts in (("query", ds.query[:6]), ("gallery", ds.gallery[:18])):
        for i, t in enumerate(ts):                                   # loop over a few tracklets
            folder = root / "footage" / split / f"t{i:03d}"
            folder.mkdir(parents=True)
            for f in t.frames:
                shutil.copy(f, folder / os.path.basename(f))
            rows.append({"dir": f"{split}/t{i:03d}", "pid": int(t.pid), "camid": int(t.camid), "split": split})
    (root / "footage" / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ck, path, root


def test_written_beside_the_network_says_what_it_is_and_refuses_to_overwrite(recommended, tiny_synthped):
    from vidreid.data import load_dataset
    from vidreid.store.checkpoint import read_checkpoint
    from vidreid.errors import CheckpointError
    from vidreid.inference.recommended import write_recommended
    ck, path, _ = recommended
    assert path == os.path.join(os.path.dirname(ck), "recommended.safetensors")
    state, meta = read_checkpoint(path)
    assert meta["model"] == "fused" and meta["config"]["model"]["kwargs"]["classical"] == "colour_hist"
    assert meta["config"]["model"]["kwargs"]["classical_kwargs"]["region_x"] == [0.385, 0.615]
    assert meta["config"]["data"]["background"] == "suppress"            # masks used wherever the crops have them
    w = float(state["fusion"][0])
    assert 0 <= w <= 1 and f"weight {w:.2f} on the colour" in meta["recommended"]["what"]
    with pytest.raises(CheckpointError, match="exists"):
        write_recommended(ck, load_dataset("synthped", tiny_synthped), log=lambda *a: None)


def test_eval_index_and_search_on_a_manifest_without_train_split(recommended, capsys):
    pytest.importorskip("faiss")
    from vidreid.cli import main
    _, path, root = recommended
    manifest = str(root / "footage" / "manifest.jsonl")
    out = str(root / "m.json")
    assert main(["eval", "--checkpoint", path, "--no-plots", "--no-progress", "--json", out,
                 "data.dataset=manifest", f"data.root={manifest}"]) == 0
    m = json.load(open(out))
    assert 0 < m["mAP"] <= 1 and m["num_valid_queries"] > 0
    index = str(root / "index")
    assert main(["index", "build", "--checkpoint", path, "--gallery", manifest, "--out", index,
                 "--no-progress"]) == 0
    header = json.load(open(os.path.join(index, "index.json")))
    assert header["model"]["name"] == "fused"
    capsys.readouterr()
    probe = str(root / "footage" / "gallery" / "t003")              # a gallery tracklet finds itself first
    assert main(["search", "--index", index, "--probe", probe, "--json", "--top", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["distance"] == pytest.approx(0, abs=1e-4)


def test_adapt_writes_a_recommended_checkpoint_of_the_adapted_network(recommended, tiny_synthped, tmp_path, capsys):
    """`vidreid adapt --recommended`: the adapted network fused with colour, its fusion re-chosen on the dataset the
    input network was trained on; a fused checkpoint given to adapt is refused in one line naming its network."""
    from conftest import TINY_SYNTH
    from vidreid.cli import main
    from vidreid.store.checkpoint import Checkpoint
    ck, path, _ = recommended
    synth = "data.synth={" + ", ".join(f"{k}: {v}" for k, v in TINY_SYNTH.items()) + "}"   # the tiny one's options
    out = tmp_path / "adapted"
    base = ["adapt", "--no-progress", "--dataset", "synthped", "--data-root", tiny_synthped, "--out", str(out),
            "--epochs", "1", "--iters", "1", "data.batch_size=8", "data.num_instances=2", "data.workers=0",
            "train.threads=1", synth]
    capsys.readouterr()
    assert main([*base, "--checkpoint", path]) == 2                  # the recommended (fused) checkpoint itself
    err = capsys.readouterr().err
    assert "fused checkpoint" in err and ck in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main([*base, "--checkpoint", ck, "--recommended"]) == 0
    last = out / "checkpoints" / "last.safetensors"
    meta = Checkpoint.open(str(out / "checkpoints" / "recommended.safetensors")).meta
    assert meta["recommended"]["network_checkpoint"] == os.path.abspath(last)
    assert 0 <= meta["fusion"]["weight"] <= 1 and meta["config"]["data"]["background"] == "suppress"
    assert "recommended:" in capsys.readouterr().out


def test_recommend_command_writes_beside_any_network_and_never_replaces_silently(recommended, tmp_path, capsys):
    from vidreid.cli import main
    from vidreid.store.checkpoint import read_checkpoint
    ck, path, _ = recommended
    out = str(tmp_path / "rec.safetensors")
    assert main(["recommend", "--checkpoint", ck, "--out", out, "--no-progress"]) == 0
    assert "network + body-region colour_hist (weight" in capsys.readouterr().out
    a, b = read_checkpoint(out)[0], read_checkpoint(path)[0]
    assert set(a) == set(b) and all((a[k] == b[k]).all() for k in a)       # the same as write_recommended's
    before = os.path.getmtime(out)
    assert main(["recommend", "--checkpoint", ck, "--out", out, "--no-progress"]) != 0
    assert "exists" in capsys.readouterr().err and os.path.getmtime(out) == before
    assert main(["recommend", "--checkpoint", ck, "--out", out, "--no-progress", "--overwrite"]) == 0
    assert main(["recommend", "--checkpoint", out, "--out", str(tmp_path / "x.safetensors")]) != 0
    assert "fused checkpoint already" in capsys.readouterr().err and not (tmp_path / "x.safetensors").exists()
