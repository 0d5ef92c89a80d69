"""vidreid.tracking.refine: the window around a box and the choice of the detection replacing it."""
import numpy as np

from vidreid.tracking.refine import pick_inside, refine_frame, window_of


def test_window_grows_the_box_and_stays_in_the_frame():
    assert window_of(np.array([100, 50, 40, 80]), 0.25, 768, 576) == (90, 30, 150, 150)
    assert window_of(np.array([5, 5, 40, 80]), 0.25, 40, 70) == (0, 0, 40, 70)


def test_the_highest_scored_detection_inside_the_box_replaces_it():
    box = np.array([100, 100, 60, 120])
    dets = np.array([[115, 110, 30, 100, 0.7],      # inside, tall enough
                     [112, 112, 32, 96, 0.9],       # inside, higher score: chosen
                     [150, 100, 60, 120, 0.99],     # a neighbour: only 1/6 inside
                     [120, 120, 20, 40, 0.95]])     # inside but a third of the box's height (a part of someone)
    np.testing.assert_array_equal(pick_inside(box, dets), [112, 112, 32, 96])
    assert pick_inside(box, dets[2:]) is None
    assert pick_inside(box, np.zeros((0, 5))) is None


class FixedDetector:
    """Returns one detection at fixed window coordinates, and records the windows it saw."""
    def __init__(self, det):
        self.det, self.seen = np.array([det], np.float32), []

    def detect(self, frame, frame_number):
        self.seen.append(frame.shape)
        return self.det


def test_refine_frame_maps_window_coordinates_back_to_the_frame():
    frame = np.zeros((576, 768, 3), np.uint8)
    boxes = np.array([[100, 100, 60, 120], [400, 300, 60, 120]], np.float64)
    det = FixedDetector([27, 42, 30, 100, 0.9])     # window of box 0 starts at (85, 70): -> (112, 112, 30, 100)
    out, replaced = refine_frame(frame, boxes, det)
    assert det.seen[0] == (180, 90, 3)
    np.testing.assert_allclose(out[0], [112, 112, 30, 100])
    np.testing.assert_allclose(out[1], [412, 312, 30, 100])
    assert replaced.all()
