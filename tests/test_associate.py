"""Global identities (vidreid.tracking.associate): constraints, constrained clustering, and the command."""
import json
import os

import numpy as np
import pytest

from vidreid.tracking.associate import (AssociateConfig, TrackletTimes, agglomerate, all_pairs, associate,
                                       cannot_link, graph_pairs)


def _times(cam, start, end, shared=True):
    return TrackletTimes(np.array(cam), np.array(start, float), np.array(end, float), shared)


def _cannot_link_matrix(t, transit=None, slack=0.0):
    n = len(t.camera)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return cannot_link(t, i.ravel(), j.ravel(), transit, slack).reshape(n, n)


def _agg(d, labels, blocked, threshold, allowed=None):
    """The sparse agglomerate on every pair of a dense distance / cannot-link / allowed matrix."""
    i, j = all_pairs(len(d))
    return agglomerate(i, j, d[i, j], labels, threshold, lambda a, b: blocked[a, b],
                       allowed=None if allowed is None else allowed[i, j])


def dense_agglomerate(dist, labels, blocked, threshold, allowed=None):
    """The reference: constrained average linkage on dense K x K matrices (the implementation before the k-NN
    graph), one argmin over all cluster pairs per merge."""
    labels = np.unique(labels, return_inverse=True)[1]
    k = int(labels.max()) + 1
    member = np.zeros((k, len(labels)))
    member[labels, np.arange(len(labels))] = 1.0
    size = member.sum(1)
    D = member @ dist @ member.T / np.outer(size, size)
    B = (member @ blocked.astype(np.float64) @ member.T) > 0
    A = np.ones_like(B) if allowed is None else (member @ allowed.astype(np.float64) @ member.T) > 0
    free = np.where(B | ~A, np.inf, D)
    np.fill_diagonal(free, np.inf)
    alive = np.ones(k, bool)
    parent = np.arange(k)
    while True:
        i, j = divmod(int(np.argmin(free)), k)
        if not np.isfinite(free[i, j]) or free[i, j] > threshold:
            break
        D[i] = D[:, i] = (size[i] * D[i] + size[j] * D[j]) / (size[i] + size[j])
        size[i] += size[j]
        B[i] = B[:, i] = B[i] | B[j]
        A[i] = A[:, i] = A[i] | A[j]
        alive[j] = False
        parent[parent == j] = i
        row = np.where(B[i] | ~A[i] | ~alive, np.inf, D[i])
        free[i], free[:, i] = row, row
        free[j], free[:, j] = np.inf, np.inf
        free[i, i] = np.inf
    return np.unique(parent[labels], return_inverse=True)[1]


def dense_associate(f, t, cfg, transit=None):
    dist = np.clip(1.0 - f @ f.T, 0.0, 2.0)
    blocked = _cannot_link_matrix(t, transit, cfg.slack) if cfg.constraints else np.zeros(dist.shape, bool)
    within = cfg.threshold if cfg.within_threshold is None else cfg.within_threshold
    labels = dense_agglomerate(dist, np.arange(len(f)), blocked, within, t.camera[:, None] == t.camera[None])
    return dense_agglomerate(dist, labels, blocked, cfg.threshold)


def test_cannot_link_rules():
    # 0: cam0 0-10 s; 1: cam0 5-15 s (overlaps 0 in the same camera); 2: cam1 12-20 s (2 s after 0 left);
    # 3: cam1 40-50 s; 4: cam0 10-12 s (touches 0 in the same camera)
    t = _times([0, 0, 1, 1, 0], [0, 5, 12, 40, 10], [10, 15, 20, 50, 12])
    transit = np.array([[0, 5], [5, 0]])
    b = _cannot_link_matrix(t, transit)
    assert b[0, 1] and b[1, 0]                                          # same camera at once
    assert b[0, 2]                                                      # 2 s < 5 s of walking
    assert not b[0, 3]                                                  # 30 s later: possible
    assert b[1, 2]                                                      # in two cameras at once (12-15 s)
    assert b[0, 4]                                                      # same frame at 10 s
    assert not b.diagonal().any() and (b == b.T).all()
    assert not _cannot_link_matrix(t, transit, slack=3)[0, 2]                   # 2 s >= 5 - 3 s
    # without a shared clock only the same-camera rule holds
    nb = _cannot_link_matrix(_times([0, 0, 1, 1, 0], [0, 5, 12, 40, 10], [10, 15, 20, 50, 12], shared=False), transit)
    assert nb[0, 1] and not nb[0, 2] and not nb[1, 2]


def test_constraint_splits_two_look_alikes():
    """Near-twins A and B (features 0.5 % apart) seen at the same time in two cameras, and A again later in camera
    1: appearance alone makes one person of all three; the constraints keep B apart and give the later tracklet to
    the closer A."""
    f = np.array([[1, 0], [0.995, 0.0998], [1, 0]], float)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    t = _times([0, 1, 1], [0, 0, 30], [10, 10, 40])                     # A: cam0 0-10 s, B: cam1 0-10 s, A': cam1
    transit = np.array([[0, 5], [5, 0]])
    cfg = dict(threshold=0.2, within_threshold=0.001)
    loose = associate(f, t, AssociateConfig(constraints=False, **cfg), transit)
    assert len(set(loose.tolist())) == 1
    ids = associate(f, t, AssociateConfig(**cfg), transit)
    assert ids[0] == ids[2] and ids[1] != ids[0]
    # a transit time longer than the 20 s between A and A': A' cannot be A, so it goes to B (same camera, later)
    ids = associate(f, t, AssociateConfig(**cfg), np.array([[0, 25], [25, 0]]))
    assert ids[0] != ids[2] and ids[1] == ids[2]


def test_agglomerate_average_linkage_and_threshold():
    # 1-d points 0, 0.1, 1.0, 1.1: two clusters at threshold 0.2; average linkage 0.1 / 1.0 apart
    x = np.array([0, 0.1, 1.0, 1.1])
    d = np.abs(x[:, None] - x[None])
    none = np.zeros((4, 4), bool)
    assert _agg(d, np.arange(4), none, 0.2).tolist() == [0, 0, 1, 1]
    assert _agg(d, np.arange(4), none, 1.0).tolist() == [0, 0, 0, 0]  # average of 1.0, 1.1, 0.9, 1.0 = 1.0
    assert _agg(d, np.arange(4), none, 0.99).tolist() == [0, 0, 1, 1]
    blocked = none.copy()
    blocked[0, 3] = blocked[3, 0] = True                                 # one cannot-link pair blocks the clusters
    assert _agg(d, np.arange(4), blocked, 5.0).tolist() == [0, 0, 1, 1]
    # `allowed` restricts a stage (within-camera first); starting labels are kept
    same = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], bool)
    assert _agg(d, np.arange(4), none, 0.2, allowed=same).tolist() == [0, 1, 2, 3]
    assert _agg(d, np.array([0, 1, 0, 1]), none, 0.0).tolist() == [0, 1, 0, 1]


def _random_case(seed, n):
    """n tracklets of n // 3 people in 3 cameras on a shared clock (many cannot-link pairs), 8-d features."""
    rng = np.random.default_rng(seed)
    people = rng.normal(size=(max(1, n // 3), 8))
    f = people[rng.integers(0, len(people), n)] + 0.6 * rng.normal(size=(n, 8))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    start = rng.uniform(0, 120, n)
    t = _times(rng.integers(0, 3, n), start, start + rng.uniform(2, 30, n))
    return f, t, rng.uniform(0, 20, (3, 3))


@pytest.mark.parametrize("seed", range(12))
def test_sparse_equals_dense_on_every_pair(seed):
    """With every pair in the graph (no graph, or a k-NN graph with k >= N - 1) the sparse clustering is the dense
    constrained average linkage, item for item, at several thresholds, with and without constraints."""
    f, t, transit = _random_case(seed, 6 + 3 * seed)
    n = len(f)
    knn = np.argsort(-(f @ f.T), axis=1)[:, 1:]                          # (N, N-1): every other tracklet
    merged = 0
    for threshold, within, constraints in ((0.3, None, True), (0.6, 0.4, True), (0.9, None, True),
                                           (0.5, None, False), (1.3, 0.2, True)):
        cfg = AssociateConfig(threshold, within, constraints)
        want = dense_associate(f, t, cfg, transit)
        assert associate(f, t, cfg, transit).tolist() == want.tolist()
        assert associate(f, t, cfg, transit, pairs=graph_pairs(knn)).tolist() == want.tolist()
        merged += n - len(set(want.tolist()))
    assert merged > 0                                                    # the cases do merge something


def test_sparse_graph_pairs_and_far():
    # neighbour rows -> each unordered pair once, -1 and self dropped
    nb = np.array([[1, 2], [0, -1], [0, 2], [2, 1]])
    i, j = graph_pairs(nb)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    i, j = graph_pairs(np.array([[0, 4]]), queries=np.array([2]))        # rows of some items only (incremental)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 2), (2, 4)]
    # 1-d points 0, 0.1, 0.2 with the pair (0, 2) left out of the graph: it counts as `far`
    x = np.array([0, 0.1, 0.2])
    i, j = np.array([0, 1]), np.array([1, 2])
    d = np.abs(x[i] - x[j])
    # 0 and 1 merge (0.1); {0, 1} to 2: (far + 0.1) / 2 -> 0.15 with far 0.2 (the true value), 0.55 with far 1
    assert agglomerate(i, j, d, np.arange(3), 0.16, far=0.2).tolist() == [0, 0, 0]
    assert agglomerate(i, j, d, np.arange(3), 0.16, far=1.0).tolist() == [0, 0, 1]
    # clusters without a graph pair are never merged, whatever `far` is
    assert agglomerate(np.array([0]), np.array([1]), np.array([0.1]), np.arange(3), 5.0, far=0.0).tolist() == \
        [0, 0, 1]


def test_neighbour_pairs_are_the_knn_graph():
    """The FAISS k-NN graph of the command: each tracklet's k nearest by 1 - cos, symmetrised; None (every pair)
    when k >= N - 1; with `queries` only those tracklets' neighbours."""
    from vidreid.workflows.identities import neighbour_pairs
    rng = np.random.default_rng(3)
    f = rng.normal(size=(50, 16)).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    knn = np.argsort(-(f.astype(np.float64) @ f.T.astype(np.float64)), axis=1)[:, 1:5]     # self first
    want = {(min(a, b), max(a, b)) for a in range(50) for b in knn[a].tolist()}
    i, j = neighbour_pairs(f, 4)
    assert set(zip(i.tolist(), j.tolist())) == want and len(i) == len(want)
    i, j = neighbour_pairs(f, 4, queries=np.array([7, 9]))
    assert set(zip(i.tolist(), j.tolist())) == {(min(a, b), max(a, b)) for a in (7, 9) for b in knn[a].tolist()}
    assert neighbour_pairs(f, 49) is None


def test_fixed_clusters_stay_apart():
    """Incremental runs: two existing identities (fixed) never merge; a new item joins the closer one."""
    x = np.array([0.0, 0.1, 0.15, 1.0])
    i, j = all_pairs(4)
    d = np.abs(x[i] - x[j])
    fixed = np.array([True, True, False, False])
    assert agglomerate(i, j, d, np.arange(4), 0.5).tolist() == [0, 0, 0, 1]
    assert agglomerate(i, j, d, np.arange(4), 0.5, fixed=fixed).tolist() == [0, 1, 1, 2]


def test_within_camera_fragments_first():
    # features at angles 0, 20, 10, 40 degrees: fragments 0, 1 of one person in cam0 (a gap between them), its cam1
    # tracklet 2, a stranger 3 in cam1. 1 - cos: 0-1 0.060, 0-2 and 1-2 0.015, 2-3 0.134, 1-3 0.060, 0-3 0.234
    a = np.radians([0, 20, 10, 40])
    f = np.stack([np.cos(a), np.sin(a)], 1)
    t = _times([0, 0, 1, 1], [0, 12, 40, 80], [10, 20, 50, 90])
    transit = np.array([[0, 5], [5, 0]])
    ids = associate(f, t, AssociateConfig(threshold=0.05, within_threshold=0.07), transit)
    assert ids[0] == ids[1] == ids[2] and ids[3] != ids[0]
    ids = associate(f, t, AssociateConfig(threshold=0.01, within_threshold=0.07), transit)
    assert ids[0] == ids[1] and len(set(ids.tolist())) == 3            # stage 1 joined the fragments only
    assert len(set(associate(f, t, AssociateConfig(threshold=0.01), transit).tolist())) == 4


def test_no_tracklets_is_an_error():
    from vidreid.errors import VidReIDError
    with pytest.raises(VidReIDError, match="no tracklets"):
        associate(np.zeros((0, 4)), _times([], [], []), AssociateConfig())


def test_associate_command_end_to_end(tmp_path, capsys):
    from helpers_video import block_video, write_det
    from vidreid.cli import main
    # camera gate: a red person, 10 fps, frames 1-24 from 10:00:00; camera hall: the same red person from
    # 10:00:10 and a blue one at 10:00:00 (seen at the same time as red in gate: another person)
    red, blue = ((0, 0, 230), 10, 30, 16, 40, 4), ((230, 80, 0), 130, 40, 16, 40, -4)
    b1 = block_video(tmp_path / "gate.avi", people=[red])
    b2 = block_video(tmp_path / "hall.avi", people=[red])
    b3 = block_video(tmp_path / "hall2.avi", people=[blue])
    for name, b in (("gate", b1), ("hall", b2), ("hall2", b3)):
        write_det(tmp_path / f"{name}.txt", b)
    (tmp_path / "f.yaml").write_text(
        "videos:\n  - {video: gate.avi, camera: gate, start: '10:00:00'}\n"
        "  - {video: hall.avi, camera: hall, start: '10:00:10'}\n  - {video: hall2.avi, camera: hall2, start: '10:00:00'}\n"
        "transit:\n  - {from: gate, to: hall, seconds: 5}\n")
    common = ["--min-len", "5", "--min-height", "20", "--crop-size", "64x32", "--preview", "none", "--no-progress"]
    assert main(["tracklets", "--footage", str(tmp_path / "f.yaml"), "--detections", str(tmp_path / "gate.txt"),
                 "--detections", str(tmp_path / "hall.txt"), "--detections", str(tmp_path / "hall2.txt"),
                 "--out", str(tmp_path / "trk"), *common]) == 0
    capsys.readouterr()
    out = tmp_path / "ids"
    assert main(["associate", str(tmp_path / "trk"), "--out", str(out), "--threshold", "0.3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "person 1: gate 10:00:00, hall 10:00:10" in printed and "2 identities from 3 tracklets" in printed
    doc = json.load(open(out / "identities.json"))
    apps = [[a["camera"] for a in p["appearances"]] for p in doc["identities"]]
    assert sorted(apps) == [["gate", "hall"], ["hall2"]]
    rows = np.loadtxt(out / "hall.global.txt", delimiter=",")
    assert rows.shape == (24, 10) and (rows[:, 1] == 1).all()
    assert (out / "timeline.png").stat().st_size > 1000 and "identity,camera,start" in (out / "identities.csv").read_text()
    page = (out / "identities.html").read_text()                        # self-contained: pictures embedded
    assert page.count('class="card person"') == 2 and "<b>person 1</b>" in page and "<b>person 2</b>" in page
    assert page.count("data:image/jpeg;base64,") == 3 and "data:image/png;base64," in page
    assert "src=\"/" not in page and all(os.path.isfile(a["thumbnail"]) for p in doc["identities"]
                                          for a in p["appearances"])
    # one camera is valid input (no shared clock in a plain run: only the within-camera rule)
    assert main(["tracklets", str(tmp_path / "gate.avi"), "--detections", str(tmp_path / "gate.txt"), "--out",
                 str(tmp_path / "one"), *common]) == 0
    capsys.readouterr()
    assert main(["associate", str(tmp_path / "one"), "--out", str(tmp_path / "one_ids"), "--no-progress"]) == 0
    assert "1 identities from 1 tracklets of 1 cameras (no shared clock" in capsys.readouterr().out
    # an existing output is kept without --force; a folder without tracklets is one line
    assert main(["associate", str(tmp_path / "trk"), "--out", str(out), "--no-progress"]) == 2
    assert main(["associate", str(tmp_path), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "not a `vidreid tracklets` output" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert main(["associate", str(tmp_path / "trk"), "--out", str(tmp_path / "y"), "--checkpoint", str(bad),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad.safetensors" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "y").exists()
    assert main(["associate", str(tmp_path / "trk"), "--out", str(tmp_path / "z"), "--neighbours", "0",
                 "--no-progress"]) == 2
    assert "--neighbours must be >= 1" in capsys.readouterr().err


def test_camera_centring_removes_a_colour_cast(tmp_path):
    """Five people (a coloured body on grey) in camera a, the same five under a strong red cast in camera b: the
    same person's cross-camera distance, relative to different people's, drops when each camera's mean is
    subtracted. Fewer than MIN_CENTRE tracklets in a camera: no centring."""
    import cv2
    from vidreid.workflows.identities import MIN_CENTRE, TrackletSet, tracklet_features
    rng = np.random.default_rng(0)
    bodies = rng.integers(0, 256, (5, 2, 3))                              # top and bottom colour of each person
    entries = []
    for cam, cast, bg in (("a", (0, 0, 0), 120), ("b", (0, 0, 90), 60)):   # BGR cast: red in camera b
        for k in range(5):
            d = tmp_path / "tracklets" / cam / f"t{k}"
            d.mkdir(parents=True)
            img = np.full((128, 64, 3), bg, np.int64)
            img[10:64, 22:42], img[64:120, 22:42] = bodies[k, 0], bodies[k, 1]
            img = np.clip(img + np.array(cast) * (img > -1), 0, 255).astype(np.uint8)
            cv2.imwrite(str(d / "f000001.jpg"), img)
            entries.append({"folder": str(tmp_path), "name": f"{cam}/t{k}", "frames": [1], "camera": cam})
    cams = np.repeat([0, 1], 5)
    ts = TrackletSet(entries, ["a", "b"], _times(cams, np.zeros(10), np.zeros(10)), None)
    ratio = []
    for centre in (False, True):
        f = tracklet_features(ts, centre_cameras=centre)
        d = 1 - f[:5] @ f[5:].T                                          # (a people, b people)
        ratio.append(d.diagonal().mean() / d[~np.eye(5, dtype=bool)].mean())
    assert ratio[1] < 0.85 * ratio[0], ratio                             # 0.32 -> 0.25 here
    assert MIN_CENTRE == 5
    few = TrackletSet(entries[:4] + entries[5:], ["a", "b"], _times(np.repeat([0, 1], [4, 5]), np.zeros(9),
                                                                     np.zeros(9)), None)
    np.testing.assert_allclose(tracklet_features(few), tracklet_features(few, centre_cameras=False))


def test_incremental_keeps_ids_and_constraints():
    """Existing identities 5 (person A, cam0 0-10 s) and 7 (person B, cam1 0-10 s) stay as they are; new tracklets:
    A again in cam1 at 40-50 s joins 5; an A look-alike in cam0 at 5-15 s (overlapping A in the same camera: another
    person) does not, and becomes 8; a stranger at 60 s becomes 9. Two existing identities never merge, even with
    equal features. (centre=False: features compared as given, and the earlier identities final -- with centring,
    identities of so few tracklets a camera would be provisional, test_an_uncentred_earlier_run_is_provisional.)"""
    from vidreid.workflows.identities import join_identities
    a = np.radians([0, 90, 2, -3, 200])
    f = np.stack([np.cos(a), np.sin(a)], 1)
    t = _times([0, 1, 1, 0, 0], [0, 0, 40, 5, 60], [10, 10, 50, 15, 70])
    cfg = AssociateConfig(threshold=0.2)
    ids = join_identities(f, t, cfg, np.array([[0, 5], [5, 0]]), old_ids=np.array([5, 7]), centre=False)
    assert ids.tolist() == [5, 7, 5, 8, 9]
    sparse = AssociateConfig(threshold=0.2, neighbours=2)               # the new tracklets' k-NN graph only
    assert join_identities(f, t, sparse, np.array([[0, 5], [5, 0]]), old_ids=np.array([5, 7]),
                           centre=False).tolist() == ids.tolist()
    # without the constraints the look-alike joins A too; a batch run numbers 1, 2, ... by first appearance
    assert join_identities(f, t, AssociateConfig(0.2, constraints=False), old_ids=np.array([5, 7]),
                           centre=False).tolist() == \
        [5, 7, 5, 5, 8]
    assert join_identities(f, t, cfg, np.array([[0, 5], [5, 0]])).tolist() == [1, 2, 1, 3, 4]
    twins = _times([0, 1, 0], [0, 100, 300], [10, 110, 310])
    same = np.array([[1.0, 0], [1, 0], [1, 0]])
    assert join_identities(same, twins, cfg, old_ids=np.array([1, 2]), centre=False).tolist() == [1, 2, 1]
    assert join_identities(same, twins, cfg).tolist() == [1, 1, 1]


def test_associate_update_command(tmp_path, capsys, monkeypatch):
    """`vidreid associate MORE --out OUT --update`: the red person seen later in another camera joins person 1,
    person 2 keeps its id; rerunning with nothing new, or updating a folder that is no associate output, is one
    line. The page lists every identity, with thumbnails for the first HTML_PICTURES."""
    import vidreid.workflows.identities as identities
    monkeypatch.setattr(identities, "HTML_PICTURES", 1)
    from helpers_video import block_video, write_det
    from vidreid.cli import main
    red, blue = ((0, 0, 230), 10, 30, 16, 40, 4), ((230, 80, 0), 130, 40, 16, 40, -4)
    common = ["--min-len", "5", "--min-height", "20", "--crop-size", "64x32", "--preview", "none", "--no-progress"]
    for part, videos in (("a", [("gate", red, "10:00:00"), ("hall2", blue, "10:00:00")]),
                         ("b", [("hall", red, "10:00:10")])):
        rows, dets = [], []
        for cam, person, start in videos:
            write_det(tmp_path / f"{cam}.txt", block_video(tmp_path / f"{cam}.avi", people=[person]))
            rows.append(f"  - {{video: {cam}.avi, camera: {cam}, start: '{start}'}}\n")
            dets += ["--detections", str(tmp_path / f"{cam}.txt")]
        (tmp_path / f"{part}.yaml").write_text("videos:\n" + "".join(rows))
        assert main(["tracklets", "--footage", str(tmp_path / f"{part}.yaml"), *dets, "--out",
                     str(tmp_path / f"trk_{part}"), *common]) == 0
    capsys.readouterr()
    out = tmp_path / "ids"
    assert main(["associate", str(tmp_path / "trk_a"), "--out", str(out), "--threshold", "0.3", "--no-progress"]) == 0
    assert "2 identities from 2 tracklets" in capsys.readouterr().out
    assert main(["associate", str(tmp_path / "trk_b"), "--out", str(out), "--threshold", "0.3", "--update",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "person 1: gate 10:00:00, hall 10:00:10" in printed and "person 2: hall2 10:00:00" in printed
    assert "2 identities from 3 tracklets" in printed
    assert (out / "hall.global.txt").read_text().split(",")[1] == "1"
    page = (out / "identities.html").read_text()
    assert page.count('class="card person"') == 2 and page.count("data:image/jpeg;base64,") == 2
    assert "<b>person 2</b>" in page and "thumbnails for the first 1" in page
    assert main(["associate", str(tmp_path / "trk_b"), "--out", str(out), "--update", "--no-progress"]) == 2
    assert "no new tracklets" in capsys.readouterr().err
    assert main(["associate", str(tmp_path / "trk_b"), "--out", str(tmp_path / "nothing"), "--update",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not a `vidreid associate` output" in err and len(err.strip().splitlines()) == 1


def test_an_occupied_out_is_refused_before_any_tracklet_is_read(tmp_path, monkeypatch):
    """--out is checked first: a folder the user made costs no feature extraction (hours on a large footage set)."""
    from vidreid.errors import OutputError
    from vidreid.workflows import identities
    read = []
    monkeypatch.setattr(identities, "load_tracklet_sets", lambda folders: read.append(folders))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already exists"):
        identities.run_associate([str(tmp_path / "trk")], str(tmp_path / "mine"), AssociateConfig())
    with pytest.raises(OutputError, match="not a `vidreid associate` output"):
        identities.run_associate([str(tmp_path / "trk")], str(tmp_path / "mine"), AssociateConfig(), force=True)
    assert read == [] and (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_keep_old_ids_by_largest_overlap():
    """Batch identities 1..4 of six tracklets, the first four with earlier ids 7, 7, 7, 9: batch 1 (two of 7's
    tracklets) keeps 7, batch 2 (one of 7's, one of 9's) gets 9 since 7 is taken, 3 and 4 are new: 10, 11."""
    from vidreid.workflows.identities import keep_old_ids
    assert keep_old_ids(np.array([1, 1, 2, 2, 3, 4]), np.array([7, 7, 7, 9])).tolist() == [7, 7, 9, 9, 10, 11]
    assert keep_old_ids(np.array([2, 1, 1]), np.array([4, 5])).tolist() == [4, 5, 5]


def test_an_uncentred_earlier_run_is_provisional():
    """An update whose earlier tracklets could not be centred (a camera had < MIN_CENTRE of them) or were centred
    with means of fewer than MIN_FINAL tracklets joins everything afresh, keeping the earlier ids by overlap; once
    every camera had MIN_FINAL, the earlier identities are final."""
    from vidreid.workflows.identities import MIN_CENTRE, MIN_FINAL, join_identities, keep_old_ids
    rng = np.random.default_rng(0)
    n = 2 * MIN_FINAL + 2 * MIN_CENTRE
    cam = np.arange(n) % 2
    raw = rng.normal(size=(n, 8)) + np.where(cam[:, None] == 0, 3.0, -3.0)   # a strong per-camera cast
    t = _times(cam.tolist(), (10 * np.arange(n)).tolist(), (10 * np.arange(n) + 5).tolist())
    cfg = AssociateConfig(threshold=0.9, constraints=False)
    batch = join_identities(raw, t, cfg)
    few = 2 * (MIN_CENTRE - 1)                                           # MIN_CENTRE - 1 tracklets a camera
    early = join_identities(raw[:few], t.take(np.arange(few)), cfg)
    assert len(set(early.tolist())) <= 2                                 # uncentred: the cast decides, one id a camera
    update = join_identities(raw, t, cfg, old_ids=early)
    assert update.tolist() == keep_old_ids(batch, early).tolist()
    assert len(set(update.tolist())) == len(set(batch.tolist())) > 2
    some = 2 * MIN_CENTRE                                                # centred, means of few: provisional
    early = join_identities(raw[:some], t.take(np.arange(some)), cfg)
    assert join_identities(raw, t, cfg, old_ids=early).tolist() == keep_old_ids(batch, early).tolist()
    many = 2 * MIN_FINAL                                                 # MIN_FINAL a camera: the ids are final
    early = join_identities(raw[:many], t.take(np.arange(many)), cfg)
    update = join_identities(raw, t, cfg, old_ids=early)
    assert update[:many].tolist() == early.tolist()
