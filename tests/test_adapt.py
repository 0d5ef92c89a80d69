"""`vidreid adapt`: pseudo-labels and known negatives on hand-made track tables, the within-camera softmax and the
masked triplet on hand-checkable cases, the co-occurrence sampler, and the command end to end on generated videos
(fine-tunes, resumes to the uninterrupted result, never writes over a run, bad input in one line)."""
import json
import os

import numpy as np
import pytest
import torch

from helpers_video import block_video, write_det
from vidreid.cli import main
from vidreid.data.pseudo_labels import CooccurrenceSampler, known_negatives, pseudo_labels, unlabeled_view
from vidreid.engine.loss_terms import batch_hard_triplet, grouped_cross_entropy


# ------------------------------------------------------------------------------------------------ pseudo-labels
def test_pseudo_labels_one_class_per_camera_and_track():
    # tracklets: cam 0 track 7 (two pieces), cam 0 track 2, cam 1 track 7 (another person: another camera)
    labels, class_camera = pseudo_labels([0, 0, 0, 1], [7, 2, 7, 7])
    assert labels.tolist() == [1, 0, 1, 2] and class_camera.tolist() == [0, 0, 1]


def test_known_negatives_are_tracks_of_one_camera_seen_in_one_frame():
    # class 0: cam 0 frames 1-10; class 1: cam 0 frames 10-20 (shares frame 10 with 0); class 2: cam 0 frames
    # 30-40 (after both: may be one of them coming back, not a known negative); class 3: cam 1 frames 1-40
    # (other camera: unknown); class 4: cam 0, two pieces 21-25 and 35-36 (its second piece meets class 2)
    labels = np.array([0, 1, 2, 3, 4, 4])
    class_camera = np.array([0, 0, 0, 1, 0])
    frames = [np.arange(1, 11), np.arange(10, 21), np.arange(30, 41), np.arange(1, 41), np.arange(21, 26),
              np.array([35, 36])]
    neg = known_negatives(labels, class_camera, frames)
    expected = np.zeros((5, 5), bool)
    for a, b in [(0, 1), (2, 4)]:
        expected[a, b] = expected[b, a] = True
    np.testing.assert_array_equal(neg, expected)


def test_unlabeled_view_relabels_train_by_track_and_reads_frame_numbers():
    from vidreid.data.types import Tracklet, VideoReIDDataset
    train = [Tracklet(("r/cam/t0007-1/f000010.jpg", "r/cam/t0007-1/f000011.jpg"), 3, 0),
             Tracklet(("r/cam/t0007-2/f000030.jpg",), 5, 0),             # track 7's second piece: same class
             Tracklet(("r/cam/t0002/f000011.jpg",), 3, 0),               # seen with track 7 at frame 11
             Tracklet(("r/cam/0001C1T0001/0001C1T0001F001.jpg",), 3, 0)]  # MARS-like: no track, no frame numbers
    query = [Tracklet(("q/a.jpg",), 1, 0)]
    ds = unlabeled_view(VideoReIDDataset("x", "r", train, query, query))
    assert [t.pid for t in ds.train] == [1, 1, 0, 2] and ds.query == query
    assert [f.tolist() for f in ds.meta["frames"]] == [[10, 11], [30], [11], []]
    neg = known_negatives(np.array([t.pid for t in ds.train]), ds.meta["class_camera"], ds.meta["frames"])
    assert np.argwhere(neg).tolist() == [[0, 1], [1, 0]]


def test_cooccurrence_sampler_batches_tracks_seen_together():
    # 8 tracks: 0-3 seen together, 4-7 seen together, no known negative across the groups; P = 4, K = 2
    pids = np.repeat(np.arange(8), 2)
    neg = np.zeros((8, 8), bool)
    neg[:4, :4] = neg[4:, 4:] = True
    np.fill_diagonal(neg, False)
    s = CooccurrenceSampler(pids.tolist(), neg, num_instances=2, batch_size=8, seed=3)
    batches = s.epoch_indices(0).reshape(-1, 8)
    assert len(batches) == 2
    groups = sorted(sorted(set((pids[b] // 4).tolist())) for b in batches)
    assert groups == [[0], [1]]                             # each batch is one group of tracks seen together
    for b in batches:                                       # P tracks x K clips, as any PK batch
        assert np.bincount(pids[b], minlength=8)[np.unique(pids[b])].tolist() == [2] * 4
    # resumable like PKSampler: a function of (seed, epoch)
    again = CooccurrenceSampler(pids.tolist(), neg, num_instances=2, batch_size=8, seed=3)
    np.testing.assert_array_equal(again.epoch_indices(0), s.epoch_indices(0))


# ------------------------------------------------------------------------------------------------ losses
def test_grouped_cross_entropy_is_a_softmax_within_the_camera():
    logits = torch.tensor([[1.0, 2.0, 30.0], [0.5, -1.0, 4.0]], requires_grad=True)
    class_group = torch.tensor([0, 0, 1])                   # classes 0 and 1: camera 0; class 2: camera 1
    targets = torch.tensor([0, 2])
    loss = grouped_cross_entropy(logits, targets, class_group)
    # row 0: softmax over classes 0, 1 only (class 2's 30 is another camera); row 1: class 2 alone -> loss 0
    expected = (np.log(np.exp(1) + np.exp(2)) - 1) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # smoothing spreads eps over the group's G = 2 classes: 0.9 * nll + 0.1 * mean(-log p) over the group
    p0 = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    smoothed = (0.9 * -np.log(p0[0]) + 0.1 * -np.log(p0).mean()) / 2
    loss_s = grouped_cross_entropy(logits, targets, class_group, 0.1)
    assert loss_s.item() == pytest.approx(smoothed, rel=1e-6)
    loss_s.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[:, 2].abs().sum() == 0 and logits.grad[1].abs().sum() == 0


def test_triplet_mines_only_known_negatives():
    f = torch.tensor([[0.0], [1.0], [1.5], [5.0]])
    pids = torch.tensor([0, 0, 1, 2])
    # without a mask, anchor 1's nearest negative is pid 1 at 0.5; known negatives: only pid 0 <-> pid 2
    known = torch.tensor([[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    loss = batch_hard_triplet(f, pids, margin=1.0, negatives=known)
    # anchors 0 and 1 (pid 0): d_ap = 1, d_an = 5 and 4 -> hinge 0; anchors 2 and 3 have no positive: ignored
    assert loss.item() == 0.0
    # unmasked: anchor 0 meets pid 1 at 1.5 (1 + 1 - 1.5), anchor 1 at 0.5 (1 + 1 - 0.5)
    assert batch_hard_triplet(f, pids, margin=1.0).item() == pytest.approx((0.5 + 1.5) / 2)


# ------------------------------------------------------------------------------------------------ end to end
def _tiny_checkpoint(path):
    from vidreid.builders import build_for_dataset
    from vidreid.config import load_config
    from vidreid.store.checkpoint import save_checkpoint
    cfg = load_config(None, ["data.height=32", "data.width=16", "data.batch_size=8", "data.num_instances=2",
                             "data.workers=0", "data.seq_len=4", "model.backbone=resnet18", "model.pretrained=null",
                             "train.threads=1", "train.tensorboard=false", "optim.lr=0.003"])
    torch.manual_seed(0)
    save_checkpoint(str(path), build_for_dataset(cfg, 3, pretrained=False),
                    {"model": "tp", "num_classes": 3, "config": cfg.to_dict(), "dataset": "synthped"})
    return str(path)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """Two generated cameras: gate (3 people walking at once), hall (2 people, then 1 more after they left);
    their true boxes as det.txt files, and a tiny untrained checkpoint."""
    root = tmp_path_factory.mktemp("footage")
    gate = block_video(root / "gate.avi", frames=16, people=[((0, 0, 230), 10, 30, 16, 40, 4),
                                                           ((230, 80, 0), 130, 40, 16, 40, -4),
                                                           ((0, 200, 0), 60, 60, 16, 40, 1)])
    hall = block_video(root / "hall.avi", frames=16, people=[((230, 80, 0), 140, 40, 16, 40, -5),
                                                           ((0, 200, 200), 20, 50, 16, 40, 3),
                                                           ((200, 0, 200), 70, 20, 16, 40, 0)])
    dets = [write_det(root / "gate.txt", gate),
            write_det(root / "hall.txt", hall, drop={0: range(9, 17), 1: range(9, 17), 2: range(1, 9)})]
    return root, dets, _tiny_checkpoint(root / "tiny.safetensors")


def _adapt(footage, out, *extra):
    root, dets, ckpt = footage
    return main(["adapt", "--no-progress", "--checkpoint", ckpt, "--videos", str(root / "gate.avi"),
                 str(root / "hall.avi"), "--detections", dets[0], "--detections", dets[1], "--out", str(out),
                 "--min-len", "5", "--min-height", "20", "--epochs", "2", "--iters", "2",
                 "train.checkpoint_every=1", *extra])


def _weights(path):
    from vidreid.store.checkpoint import read_checkpoint
    return read_checkpoint(str(path))


def test_adapt_end_to_end_resume_and_no_clobber(footage, tmp_path, capsys, monkeypatch):
    _, _, ckpt = footage
    out = tmp_path / "run"
    assert _adapt(footage, out) == 0
    side = json.load(open(out / "cut" / "tracklets.json"))
    assert len(side["tracklets"]) == 6
    log = open(out / "train.log").read()
    # gate: 3 people always together (3 pairs); hall: 2 together, the third alone later (1 pair)
    assert "6 tracks in 2 camera(s), 4 pairs known to be different people" in log
    state, meta = _weights(out / "checkpoints" / "last.safetensors")
    start, _ = _weights(ckpt)
    assert meta["num_classes"] == 6 and meta["adapted_from"] == os.path.abspath(ckpt) and meta["step"] == 4
    moved = [k for k in start if "classifier" not in k and start[k].dtype.is_floating_point
             and not torch.equal(start[k], state[k])]
    assert moved, "adaptation changed no weight"
    # a normal checkpoint: the inference layer builds its model
    from vidreid.inference.model import build_model_from_checkpoint
    model, _ = build_model_from_checkpoint(str(out / "checkpoints" / "last.safetensors"))
    assert model(torch.zeros(1, 4, 3, 32, 16)).embedding.shape[0] == 1
    # its own (unlabeled) data cannot be evaluated: one line, not a traceback
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "checkpoints" / "last.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err

    # never writes over a run: refused without --force (one line), inputs untouched
    before = sorted(os.listdir(out / "checkpoints"))
    capsys.readouterr()
    assert _adapt(footage, out) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(out / "checkpoints")) == before

    # interrupted at step 3, resumed: the same weights as the uninterrupted run
    import vidreid.engine.adapt as A
    real, calls = A.AdaptTrainer.compute_loss, {"n": 0}

    def interrupted(self, *a):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *a)
    cut = tmp_path / "cut_run"
    monkeypatch.setattr(A.AdaptTrainer, "compute_loss", interrupted)
    assert _adapt(footage, cut) == 130
    assert "continue with: vidreid adapt" in capsys.readouterr().err
    monkeypatch.setattr(A.AdaptTrainer, "compute_loss", real)
    assert _adapt(footage, cut, "--resume") == 0
    assert "resumed from" in open(cut / "train.log").read()
    resumed, _ = _weights(cut / "checkpoints" / "last.safetensors")
    for k in state:
        assert torch.equal(state[k], resumed[k]), f"{k} differs after resume"

    # --force replaces the run
    assert _adapt(footage, out, "--force") == 0
    forced, _ = _weights(out / "checkpoints" / "last.safetensors")
    assert all(torch.equal(state[k], forced[k]) for k in state)      # same seed, same run


def test_adapt_on_a_tracklets_folder_and_bad_input(footage, tmp_path, capsys):
    root, dets, ckpt = footage
    cut = tmp_path / "cut"
    assert main(["tracklets", str(root / "gate.avi"), "--detections", dets[0], "--out", str(cut), "--min-len", "5",
                 "--min-height", "20", "--crop-size", "32x16", "--preview", "none", "--no-progress"]) == 0

    def one_line(argv, *fragments):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        for f in fragments:
            assert f in err, err
    base = ["adapt", "--no-progress", "--out", str(tmp_path / "o"), "--epochs", "1", "--iters", "1"]
    # one camera with 3 tracks: too few for P = 4 tracks a batch
    one_line([*base, "--checkpoint", ckpt, "--tracklets", str(cut)], "too few tracks", "3 track(s)")
    # ... enough with P = 2 (data.batch_size=4), and the folder form without the sidecar works too
    assert main([*base, "--checkpoint", ckpt, "--tracklets", str(cut), "data.batch_size=4", "--force"]) == 0
    os.unlink(cut / "tracklets.json")
    from vidreid.data import load_dataset
    ds = load_dataset("tracklets", str(cut))
    assert len(ds.train) == 3 and ds.meta["frames"][0].tolist() == list(range(1, 17))
    # --dataset: a registered dataset's train split, labels ignored; its labelled query/gallery evaluated at the end
    lines = [{"dir": f"tracklets/{n}", "pid": 9, "camid": 0, "split": "train"} for n in ds.meta["names"]]
    lines += [{"dir": f"tracklets/{n}", "pid": i, "camid": i % 2, "split": s} for i, n in
              enumerate(ds.meta["names"]) for s in ("query", "gallery")]
    (cut / "manifest.jsonl").write_text("".join(json.dumps(d) + "\n" for d in lines))
    assert main([*base, "--checkpoint", ckpt, "--dataset", "manifest", "--data-root", str(cut),
                 "data.batch_size=4", "--force"]) == 0
    metrics = json.load(open(tmp_path / "o" / "metrics.json"))
    assert metrics["final"]["mAP"] >= 0 and "3 tracks in 1 camera(s), 3 pairs" in open(tmp_path / "o" / "train.log").read()
    one_line([*base, "--checkpoint", ckpt, "--dataset", "manifest"], "--data-root")
    one_line([*base, "--checkpoint", str(tmp_path / "none.safetensors"), "--tracklets", str(cut)],
             "checkpoint not found")
    one_line([*base, "--checkpoint", ckpt, "--videos", str(tmp_path / "missing.mp4")], "video not found",
             "missing.mp4")
    one_line([*base, "--checkpoint", ckpt, "--tracklets", str(tmp_path / "nowhere")], "no such folder")
    # a blank video (no one in it): the HOG detector finds no box, and the message says so, not "too few tracks"
    blank = block_video(tmp_path / "blank.avi", frames=12, people=[])
    assert blank == {}
    one_line([*base, "--checkpoint", ckpt, "--videos", str(tmp_path / "blank.avi"), "--force"],
             "the detector found no one in the footage", "--min-height")
    assert not (tmp_path / "o" / "cut").exists()                    # its empty cut removed: a rerun needs no --force
