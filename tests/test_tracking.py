"""Tracking building blocks: IoU, the ByteTrack-style tracker, tracklet cutting, detectors (det.txt, ONNX, HOG)."""
import numpy as np
import pytest

from vidreid.tracking.cut import CutConfig, crop, cut_tracks, pad_to_aspect, tracklet_names
from vidreid.tracking.detectors import DetectionsError, FileDetector, OnnxDetector, nms, read_mot_file
from vidreid.tracking.tracker import Tracker, TrackerConfig, iou_matrix


def test_iou_matrix_hand_checked():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 5, 10, 10], [0, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 5]])
    np.testing.assert_allclose(iou_matrix(a, b), [[25 / 175, 1.0, 0.0, 0.5]])


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 20, 0.8], [1, 0, 10, 20, 0.9], [50, 0, 10, 20, 0.3]], np.float32)
    assert nms(boxes, 0.5).tolist() == [1, 2]


def crossing(T=20, score=0.9):
    """Two people walking towards each other on slightly different rows; they overlap around step 10."""
    return [np.array([[10 + 5 * f, 50, 20, 50, score], [110 - 5 * f, 52, 20, 50, score]]) for f in range(1, T + 1)]


def test_tracker_keeps_identities_through_a_crossing():
    tr = Tracker()
    for f, d in enumerate(crossing(), 1):
        tr.step(f, d)
    r = tr.result()
    assert sorted(np.unique(r[:, 1]).tolist()) == [1, 2]
    for tid, sign in ((1, 1), (2, -1)):                  # track 1 keeps moving right, track 2 left: no swap
        xs = r[r[:, 1] == tid, 2]
        assert len(xs) == 20 and (np.sign(np.diff(xs)) == sign).all()


def test_tracker_second_association_uses_low_scores_and_they_start_nothing():
    cfg = TrackerConfig()
    tr = Tracker(cfg)
    dets = crossing(12)
    for f, d in enumerate(dets, 1):
        d = d[:1].copy()
        if 5 <= f <= 8:
            d[:, 4] = 0.3                               # occluded: weak detections continue the track
        tr.step(f, d)
    tr.step(13, np.array([[300, 10, 20, 50, 0.3]]))     # a lone weak detection: no new track
    r = tr.result()
    assert np.unique(r[:, 1]).tolist() == [1] and len(r) == 12


def test_tracker_drops_one_frame_false_positives_and_refinds_lost_tracks():
    tr = Tracker(TrackerConfig(track_buffer=5))
    for f in range(1, 16):
        d = [[10 + 2 * f, 50, 20, 50, 0.9]] if not 6 <= f <= 8 else []     # missed on frames 6-8
        if f == 3:
            d.append([200, 10, 20, 50, 0.95])                               # a one-frame false positive
        tr.step(f, np.array(d).reshape(-1, 5))
    r = tr.result()
    assert np.unique(r[:, 1]).tolist() == [1]                               # found again after the gap, same id
    assert r[:, 0].tolist() == [f for f in range(1, 16) if not 6 <= f <= 8]


def test_tracker_does_not_jump_to_a_much_taller_box():
    tr = Tracker()
    for f in range(1, 6):
        tr.step(f, np.array([[100, 100, 20, 50, 0.9]]))
    tr.step(6, np.array([[95, 75, 40, 100, 0.9]]))      # a loose box around a group: IoU 0.25, but 2x taller
    tr.step(7, np.array([[95, 75, 40, 100, 0.9]]))
    r = tr.result()
    assert r[r[:, 1] == 1, 0].tolist() == [1, 2, 3, 4, 5] and len(np.unique(r[:, 1])) == 2


def test_tracker_confirms_on_second_match_and_keeps_the_first_box():
    tr = Tracker()
    tr.step(1, np.zeros((0, 5)))
    tr.step(2, np.array([[10, 10, 20, 40, 0.9]]))
    assert len(tr.result()) == 0                                           # tentative
    tr.step(3, np.array([[11, 10, 20, 40, 0.9]]))
    assert tr.result()[:, 0].tolist() == [2, 3]


def test_seeded_track_follows_its_person_not_the_other():
    dets = crossing()
    tr = Tracker()
    uid = tr.seed(1, dets[0][1, :4])                    # the person walking left
    for f, d in enumerate(dets, 1):
        tr.step(f, d)
    r = tr.result()
    first = r[r[:, 0] == 1]
    mine = r[r[:, 1] == first[np.argmin(np.abs(first[:, 2] - 105))][1]]
    assert uid == 0 and len(mine) == 20 and (np.diff(mine[:, 2]) < 0).all()


def test_cut_tracks_hand_checked():
    # track 1: frames 1-10, gap, 30-33 (too short); track 2: frames 1-9 with a tiny box at frame 5
    rows = [[f, 1, 0, 0, 20, 60, 1] for f in list(range(1, 11)) + [30, 31, 32, 33]]
    rows += [[f, 2, 0, 0, 20, 60 if f != 5 else 10, 1] for f in range(1, 10)]
    kept, piece = cut_tracks(np.array(rows, float), CutConfig(min_len=4, max_gap=3, min_height=48))
    assert kept[kept[:, 1] == 1, 0].tolist() == list(range(1, 11)) + [30, 31, 32, 33]
    assert piece[kept[:, 1] == 1].tolist() == [1] * 10 + [2] * 4
    assert kept[kept[:, 1] == 2, 0].tolist() == [1, 2, 3, 4, 6, 7, 8, 9]   # gap of 2 frames (< max_gap): one piece
    kept, piece = cut_tracks(np.array(rows, float), CutConfig(min_len=5, max_gap=3, min_height=48))
    assert kept[kept[:, 1] == 1, 0].tolist() == list(range(1, 11))          # the 4-box piece is dropped
    assert tracklet_names(kept[:, 1], piece)[:1] == ["t0001"]


def test_pad_to_aspect_and_crop_outside_is_black():
    np.testing.assert_allclose(pad_to_aspect(np.array([[10, 20, 10, 40]]), 0.5), [[5, 20, 20, 40]])
    np.testing.assert_allclose(pad_to_aspect(np.array([[10, 20, 40, 40]]), 0.5), [[10, 0, 40, 80]])
    frame = np.full((20, 20, 3), 200, np.uint8)
    c = crop(frame, (-10, 0, 20, 20), (20, 20))          # left half outside the frame
    assert c[:, :8].max() == 0 and c[:, 12:].min() == 200


def test_read_mot_file_errors_name_file_and_line(tmp_path):
    p = tmp_path / "det.txt"
    p.write_text("1,-1,10,20,30,40,0.9,-1,-1,-1\n2,-1,10,20,30\n")
    with pytest.raises(DetectionsError, match=r"det.txt: line 2: expected the MOTChallenge columns"):
        read_mot_file(str(p))
    p.write_text("1,-1,10,20,30,40,0.9\nx,-1,10,20,30,40,0.9\n")
    with pytest.raises(DetectionsError, match="line 2: not numbers"):
        read_mot_file(str(p))
    p.write_text("0,-1,10,20,30,40,0.9\n")
    with pytest.raises(DetectionsError, match="1-based"):
        read_mot_file(str(p))
    with pytest.raises(DetectionsError, match="not found"):
        read_mot_file(str(tmp_path / "nope.txt"))


def test_file_detector_returns_the_rows_of_a_frame(tmp_path):
    p = tmp_path / "det.txt"
    p.write_text("2,-1,1,2,3,4,0.5,-1,-1,-1\n1,-1,5,6,7,8,0.9,-1,-1,-1\n2,-1,9,9,9,9,0.8,-1,-1,-1\n")
    d = FileDetector(str(p))
    assert d.detect(None, 2)[:, 0].tolist() == [1, 9] and len(d.detect(None, 3)) == 0


# ------------------------------------------------------------------ ONNX
def constant_onnx(path, output: np.ndarray, size=64):
    """An ONNX graph with an image input (1, 3, size, size) whose first output is `output` (+ 0 x mean(image), so
    the graph depends on its input as a detector's does)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    const = numpy_helper.from_array(output.astype(np.float32), "const")
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    nodes = [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["m0"]),
             helper.make_node("Add", ["const", "m0"], ["output0"])]
    graph = helper.make_graph(nodes, "det", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                           [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
                              initializer=[const, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_onnx_yolov5_layout_maps_boxes_back_through_the_letterbox(tmp_path):
    pytest.importorskip("onnxruntime")
    out = np.zeros((1, 3, 85), np.float32)
    out[0, 0, :6] = [32, 32, 8, 16, 0.9, 0.95]          # a person at the input's centre, 8 x 16 input pixels
    out[0, 1, :5] = [10, 10, 4, 4, 0.9]
    out[0, 1, 5 + 2] = 0.9                              # class 2 (car): not a person
    out[0, 2, :6] = [32, 32, 8, 16, 0.1, 0.5]           # below min_score
    det = OnnxDetector(constant_onnx(tmp_path / "y5.onnx", out))
    frame = np.zeros((64, 128, 3), np.uint8)            # 128 wide: scale 0.5, letterbox pads 16 rows top and bottom
    boxes = det.detect(frame, 1)
    assert boxes.shape == (1, 5)
    np.testing.assert_allclose(boxes[0, :4], [(28 - 0) / 0.5, (24 - 16) / 0.5, 16, 32])
    assert boxes[0, 4] == pytest.approx(0.9 * 0.95)


def test_onnx_yolov8_and_boxes_layouts(tmp_path):
    pytest.importorskip("onnxruntime")
    v8 = np.zeros((1, 6, 200), np.float32)              # (1, 4 + 2 classes, 200 anchors), channels first
    v8[0, :, 7] = [20, 30, 10, 20, 0.8, 0.1]
    det = OnnxDetector(constant_onnx(tmp_path / "y8.onnx", v8))
    np.testing.assert_allclose(det.detect(np.zeros((64, 64, 3), np.uint8), 1), [[15, 20, 10, 20, 0.8]])
    post = np.array([[[4, 6, 14, 26, 0.7, 0], [0, 0, 5, 5, 0.9, 3]]], np.float32)
    det = OnnxDetector(constant_onnx(tmp_path / "nms.onnx", post), layout="boxes")
    np.testing.assert_allclose(det.detect(np.zeros((64, 64, 3), np.uint8), 1), [[4, 6, 10, 20, 0.7]], rtol=1e-6)


def test_onnx_unknown_layout_is_one_clear_error(tmp_path):
    pytest.importorskip("onnxruntime")
    det = OnnxDetector(constant_onnx(tmp_path / "odd.onnx", np.zeros((1, 3, 7), np.float32)))
    with pytest.raises(DetectionsError, match=r"odd.onnx: cannot tell the layout of the output of shape \[1, 3, 7\]"):
        det.detect(np.zeros((64, 64, 3), np.uint8), 1)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(DetectionsError, match="junk.onnx: onnxruntime cannot load this model"):
        OnnxDetector(str(tmp_path / "junk.onnx"))


def test_link_fragments_hand_checked():
    from vidreid.tracking.join import JoinConfig, chain_roots, link_fragments
    # fragments: 0 (frames 1-10, x=0) -> 1 (20-30, x=5, same look) -> 2 (40-50, x=8, same look);
    # 3 (15-25, x=300: too far to be 0's continuation) looks like 0; 4 (35-45, x=6) looks different
    starts, ends = np.array([1, 20, 40, 15, 35]), np.array([10, 30, 50, 25, 45])
    boxes = np.array([[0, 0, 20, 50], [5, 0, 20, 50], [8, 0, 20, 50], [300, 0, 20, 50], [6, 0, 20, 50]], float)
    e = np.eye(3)
    feats = np.stack([e[0], e[0], (e[0] + 0.1 * e[1]) / np.linalg.norm(e[0] + 0.1 * e[1]), e[0], e[2]])
    pred, dist = link_fragments(starts, ends, boxes, boxes, feats, JoinConfig(max_distance=0.25, max_gap=100,
                                                                              max_speed=0.1))
    assert pred.tolist() == [-1, 0, 1, -1, -1]
    assert dist[1] == pytest.approx(0.0) and dist[2] == pytest.approx(1 - 1 / np.sqrt(1.01))
    assert chain_roots(pred).tolist() == [0, 0, 0, 3, 4]
    pred, _ = link_fragments(starts, ends, boxes, boxes, feats, JoinConfig(max_gap=5))
    assert (pred == -1).all()                                           # gaps of 10 frames: too long


def test_lost_track_keeps_its_height():
    """A box growing fast (a loose detector box) then unseen: ByteTrack stops the height's growth while the track is
    lost, so the person is found again at a sensible size instead of a predicted giant."""
    tr = Tracker()
    for f, h in enumerate(range(40, 131, 10), 1):                     # frames 1-10: 40 -> 130 px tall
        tr.step(f, np.array([[100, 100, h * 0.4, h, 0.9]]))
    for f in range(11, 21):
        tr.step(f, np.zeros((0, 5)))
    tr.step(21, np.array([[100, 100, 52, 130, 0.9]]))                 # back, as tall as when last seen
    r = tr.result()
    assert np.unique(r[:, 1]).tolist() == [1] and r[-1, 0] == 21
