"""MOT metrics on cases small enough to count by hand (py-motmetrics' definitions)."""
import numpy as np
import pytest

from vidreid.tracking.metrics import evaluate_mot

A, B, FAR = (0, 0, 10, 20), (100, 0, 10, 20), (300, 300, 10, 20)


def rows(*items):
    return np.array([[f, i, *box] for f, i, box in items], float)


def test_hand_counted_fn_fp_switch_and_idf1():
    gt = rows(*[(f, 1, A) for f in range(1, 5)], *[(f, 2, B) for f in range(1, 5)])
    hyp = rows((1, 10, A), (2, 10, A), (3, 11, A), (4, 11, A),          # object 1: hypothesis changes at frame 3
               (1, 20, B), (2, 20, B), (3, 20, B),                       # object 2: missed at frame 4
               (2, 30, FAR))                                             # a false positive
    m = evaluate_mot(gt, hyp)
    assert (m.num_gt, m.num_hyp, m.matches, m.fn, m.fp, m.id_switches) == (8, 8, 7, 1, 1, 1)
    assert m.mota == pytest.approx(1 - 3 / 8)
    # IDF1: gt 1 <-> hyp 10 (2 frames) or 11 (2 frames), gt 2 <-> hyp 20 (3 frames): IDTP 5
    assert m.idtp == 5 and m.idf1 == pytest.approx(10 / 16)
    assert m.idp == pytest.approx(5 / 8) and m.idr == pytest.approx(5 / 8)
    assert m.motp == pytest.approx(0.0)


def test_previous_match_is_kept_while_valid_and_motp():
    near = (1, 0, 10, 20)                                                # IoU with A = 19 * 20 / (21 * 20) = 19/21
    half = (3, 0, 10, 20)                                                # IoU 7 / 13 >= 0.5: still valid
    gt = rows((1, 1, A), (2, 1, A))
    hyp = rows((1, 10, half), (2, 10, half), (2, 11, near))
    m = evaluate_mot(gt, hyp)
    # frame 2: hyp 11 fits better, but the frame-1 match (hyp 10) is still valid and kept: no switch, 11 is a FP
    assert (m.matches, m.fp, m.fn, m.id_switches) == (2, 1, 0, 0)
    assert m.motp == pytest.approx(1 - 7 / 13)


def test_switch_counted_against_the_last_match_even_after_a_gap():
    gt = rows((1, 1, A), (2, 1, A), (3, 1, A))
    hyp = rows((1, 10, A), (3, 11, A))                                   # unmatched at frame 2, then another id
    m = evaluate_mot(gt, hyp)
    assert (m.fn, m.id_switches) == (1, 1) and m.mota == pytest.approx(1 - 2 / 3)


def test_perfect_tracking():
    gt = rows(*[(f, i, (10 * i + f, 0, 10, 20)) for f in range(1, 6) for i in (1, 2)])
    hyp = gt.copy()
    hyp[:, 1] += 100
    m = evaluate_mot(gt, hyp)
    assert m.mota == 1.0 and m.idf1 == 1.0 and m.id_switches == 0


def test_multicamera_idf1_needs_one_id_across_cameras():
    from vidreid.tracking.metrics import evaluate_multicamera
    box = [10, 10, 20, 40]
    gt = {"a": np.array([[f, 1, *box] for f in range(1, 5)], float),
          "b": np.array([[f, 1, *box] for f in range(1, 5)], float)}     # person 1: 4 frames in each camera
    same = evaluate_multicamera(gt, {"a": gt["a"], "b": gt["b"]})
    assert same.idf1 == 1.0 and same.idtp == 8
    # the tracker calls person 1 "7" in camera b: per camera perfect, across cameras only half the boxes count
    other = {"a": gt["a"], "b": gt["b"] * [1, 7, 1, 1, 1, 1]}
    m = evaluate_multicamera(gt, other)
    assert m.idtp == 4 and m.idf1 == pytest.approx(2 * 4 / 16) and m.gt_ids == 1 and m.hyp_ids == 2
    # frames of different cameras never match each other (camera b's boxes shifted onto their own range)
    assert evaluate_multicamera({"a": gt["a"]}, {"b": gt["b"]}).idtp == 0


def test_labelled_idf1_hand_case():
    """Person 1: items of 10 and 4 boxes, person 2: one of 6. Hyp puts the 10-box item alone (id 7) and joins the
    4-box one with person 2's (id 8): best matching 1->7 (10), 2->8 (6): IDTP 16 of 20 -> 0.8. One id for all:
    only one person can be matched: max(14, 6) / 20 = 0.7. Each item its own id: 10 + 6 -> 0.8."""
    from vidreid.tracking.metrics import labelled_idf1
    gt, w = np.array([1, 1, 2]), np.array([10, 4, 6])
    assert labelled_idf1(gt, np.array([7, 8, 8]), w) == pytest.approx(0.8)
    assert labelled_idf1(gt, np.array([5, 5, 5]), w) == pytest.approx(0.7)
    assert labelled_idf1(gt, np.array([1, 2, 3]), w) == pytest.approx(0.8)
    assert labelled_idf1(gt, np.array([9, 9, 4]), w) == 1.0
