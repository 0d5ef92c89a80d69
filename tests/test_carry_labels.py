"""vidreid.tracking.carry_labels on a hand-made case: tight new boxes inside loose old ones, a crossing, a track
outside every labelled segment."""
import numpy as np

from vidreid.tracking.carry_labels import carry_labels


def rows(frames, box):
    f = np.asarray(frames)
    return f, np.tile(np.asarray(box, np.float64), (len(f), 1))


def test_labels_follow_the_box_overlap_and_ambiguous_cases_are_listed():
    # old (loose, 64 x 128) boxes: person 1 at x=0 on frames 1-10, person 2 at x=200 on frames 1-10, an excluded
    # segment (label 0) at x=400 on frames 1-10
    f1, b1 = rows(range(1, 11), [0, 0, 64, 128])
    f2, b2 = rows(range(1, 11), [200, 0, 64, 128])
    f3, b3 = rows(range(1, 11), [400, 0, 64, 128])
    old_f, old_b = np.concatenate([f1, f2, f3]), np.concatenate([b1, b2, b3])
    old_l = np.repeat([1, 2, 0], 10)
    # new tight (32 x 90) boxes: track 5 inside person 1 (IoU 2880 / 8192 = 0.35), track 6 inside person 2 on
    # frames 1-4 then a box in nobody's place on frames 5-10 (covered 40 %), track 7 inside the excluded segment,
    # track 8 far from everyone, track 9 half on person 1 (frames 1-5) and half on person 2 (frames 6-10)
    parts = [rows(range(1, 11), [16, 20, 32, 90]) + (5,),
             rows(range(1, 5), [216, 20, 32, 90]) + (6,), rows(range(5, 11), [600, 20, 32, 90]) + (6,),
             rows(range(1, 11), [416, 20, 32, 90]) + (7,),
             rows(range(1, 11), [700, 300, 32, 90]) + (8,),
             rows(range(1, 6), [16, 20, 32, 90]) + (9,), rows(range(6, 11), [216, 20, 32, 90]) + (9,)]
    new_f = np.concatenate([p[0] for p in parts])
    new_b = np.concatenate([p[1] for p in parts])
    new_t = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    got = carry_labels(old_f, old_b, old_l, new_f, new_b, new_t)
    assert got[5].label == 1 and got[5].reason == "" and got[5].cover == 1.0
    np.testing.assert_allclose(got[5].score, 10 * 2880 / 8192)
    assert got[6].label == 0 and "40 %" in got[6].reason
    assert got[7].label == 0 and "excluded" in got[7].reason
    assert got[8].label == 0 and got[8].reason == "overlaps no labelled segment"
    assert got[9].label == 0 and "alike" in got[9].reason
    # with the crossing allowed (rival above 1) and half a track enough, track 9 goes to the first best: a tie
    loose = carry_labels(old_f, old_b, old_l, new_f, new_b, new_t, min_cover=0.5, rival=1.01)
    assert loose[9].label in (1, 2) and loose[9].cover == 0.5
