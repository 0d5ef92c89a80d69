"""Foreground masks: the temporal-median background on a clip with a known moving figure, `vidreid tracklets --masks`
(IoU of the written masks with the truth), background suppression in the loader and its fallback without masks."""
import json
import os

import numpy as np
import pytest

from helpers_video import BG, block_video, write_det
from vidreid.cli import main
from vidreid.data.masks import fill_colour, mask_path, suppress_background
from vidreid.data.background import crop_mask, foreground_mask, mask_iou, median_background
from vidreid.tracking.cut import pad_to_aspect


def moving_block(frames=20, size=(60, 80), box=(4, 10, 12, 30), dx=3):
    """Frames of a striped background with one block walking right, and each frame's true mask."""
    H, W = size
    bg = np.full((H, W, 3), BG, np.uint8)
    bg[:, ::6] = BG + 25
    clip, truth = [], []
    x0, y, w, h = box
    for f in range(frames):                                     # loop over a handful of test frames
        img, m = bg.copy(), np.zeros((H, W), bool)
        x = x0 + dx * f
        img[y:y + h, x:x + w] = (30, 60, 200)
        m[y:y + h, x:x + w] = True
        clip.append(img)
        truth.append(m)
    return np.stack(clip), np.stack(truth), bg


def test_median_background_is_the_empty_scene_and_masks_match_the_figure():
    clip, truth, bg = moving_block()
    # every pixel is covered by the block in at most 4 of 20 frames: the median is the empty scene exactly
    np.testing.assert_array_equal(median_background(clip), bg)
    for f in (0, 7, 19):
        assert mask_iou(foreground_mask(clip[f], bg), truth[f]) == 1.0
    # a figure that differs by less than the threshold is not foreground; by more, it is
    faint = bg.copy()
    faint[10:40, 20:32] += 20
    assert not foreground_mask(faint, bg, threshold=30).any()
    assert mask_iou(foreground_mask(faint, bg, threshold=10), np.pad(np.ones((30, 12), bool),
                                                                     ((10, 20), (20, 48)))) == 1.0


def test_crop_mask_cuts_like_the_crop():
    mask = np.zeros((50, 40), bool)
    mask[10:30, 10:20] = True                                   # a 10 x 20 figure
    out = crop_mask(mask, (10, 10, 10, 20), (20, 10))           # its own box, no resize
    assert out.dtype == np.uint8 and (out == 255).all()
    out = crop_mask(mask, (5, 10, 20, 20), (20, 20))            # a wider box: figure in the middle half
    assert (out[:, 5:15] == 255).all() and (out[:, :5] == 0).all() and (out[:, 15:] == 0).all()
    out = crop_mask(mask, (-10, 10, 20, 20), (20, 20))          # half outside the frame: background there
    assert (out == 0).all()


def test_tracklets_writes_masks_that_match_the_moving_figure(tmp_path):
    import cv2
    people = [((0, 0, 230), 10, 30, 16, 40, 4)]
    boxes = block_video(tmp_path / "cam.avi", frames=24, people=people)
    det = write_det(tmp_path / "det.txt", boxes)
    out = tmp_path / "out"
    assert main(["tracklets", str(tmp_path / "cam.avi"), "--detections", det, "--out", str(out), "--masks",
                 "--min-len", "5", "--min-height", "20", "--crop-size", "64x32", "--preview", "none",
                 "--no-progress"]) == 0
    side = json.load(open(out / "tracklets.json"))
    assert side["masks"] == "temporal-median background" and len(side["tracklets"]) == 1
    t = side["tracklets"][0]
    folder = out / "tracklets" / t["name"]
    padded = pad_to_aspect(np.array(t["boxes"]), 32 / 64)
    ious = []
    for f, box in zip(t["frames"], padded):                     # loop over the tracklet's frames
        x, y, w, h = boxes[0][f - 1].astype(int)
        truth = np.zeros((120, 160), bool)
        truth[y:y + h, max(x, 0):x + w] = True
        written = cv2.imread(mask_path(str(folder / f"f{f:06d}.jpg")), cv2.IMREAD_GRAYSCALE)
        ious.append(mask_iou(written > 127, crop_mask(truth, box, (64, 32)) > 127))
    assert len(ious) == 24 and min(ious) > 0.9, ious            # MJPG noise and the resize blur only the edges
    # the masks are not frames: the tracklets folder still reads as 24 frames of one tracklet
    from vidreid.data.datasets.names import image_names
    names = image_names(sorted(os.listdir(folder)))              # how a manifest's "dir" lists its frames
    assert len(names) == 24 and all(str(n).endswith(".jpg") for n in names)


def _write_frames(folder, n=3, size=(16, 8), colour=(200, 30, 40)):
    import cv2
    os.makedirs(folder / "masks", exist_ok=True)
    paths = []
    for i in range(n):
        img = np.full((*size, 3), colour, np.uint8)
        p = folder / f"f{i + 1:06d}.png"                        # lossless, so pixels compare exactly
        cv2.imwrite(str(p), img[..., ::-1])
        paths.append(str(p))
    return paths


def test_suppress_background_fills_the_background_and_falls_back_without_masks(tmp_path):
    import cv2
    paths = _write_frames(tmp_path)
    clip = np.stack([np.full((16, 8, 3), (200, 30, 40), np.uint8)] * 3)
    assert suppress_background(clip, paths, (0.485, 0.456, 0.406)) is clip         # no mask at all: untouched
    m = np.zeros((16, 8), np.uint8)
    m[4:12, 2:6] = 255
    cv2.imwrite(mask_path(paths[0]), m)                           # frame 1 masked, frames 2 and 3 not
    out = suppress_background(clip, paths, (0.485, 0.456, 0.406))
    fill = fill_colour((0.485, 0.456, 0.406))
    np.testing.assert_array_equal(fill, [124, 116, 104])
    assert (out[0][m == 0] == fill).all() and (out[0][m == 255] == (200, 30, 40)).all()
    np.testing.assert_array_equal(out[1:], clip[1:])              # fallback: a frame without a mask is kept


def test_footage_without_masks_reads_silently(tmp_path, capfd):
    """No mask files (footage cut without --masks): nothing is printed per frame (OpenCV's imread would log one
    warning line for every missing file)."""
    from vidreid.data.masks import read_masks
    paths = _write_frames(tmp_path)
    assert read_masks(paths, (16, 8)) is None
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("background", ["keep", "suppress"])
def test_loader_suppresses_only_when_asked(tmp_path, background):
    import cv2

    from vidreid.config import load_config
    from vidreid.data.loader import build_test_loader
    from vidreid.data.types import Tracklet
    paths = _write_frames(tmp_path)
    m = np.zeros((16, 8), np.uint8)
    m[:, :4] = 255                                               # left half is the person
    for p in paths:
        cv2.imwrite(mask_path(p), m)
    cfg = load_config(None, ["data.height=16", "data.width=8", "data.workers=0", "data.test_sampling=all",
                             f"data.background={background}"])
    clips, _ = next(iter(build_test_loader([Tracklet(tuple(paths), 1, 0)], cfg.data)))   # (1, T, 3, H, W)
    right, left = clips[0, :, :, :, 4:], clips[0, :, :, :, :4]
    if background == "suppress":
        assert right.abs().max() < 0.01                          # the mean colour: ~0 after normalisation
    else:
        assert right.abs().min() > 0.3
    assert left.abs().min() > 0.3                                # the person is never touched


def test_background_option_is_checked():
    from vidreid.config import load_config
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match="data.background"):
        load_config(None, ["data.background=blur"])


def test_histograms_skip_the_background_fill():
    from vidreid.models.classical import colour
    from vidreid.models.registry import build_model
    fill = fill_colour((0.485, 0.456, 0.406))
    frames = np.zeros((1, 4, 2, 3), np.uint8)
    frames[:] = fill
    frames[0, :, 0] = (255, 0, 0)                                # left column red, right column the fill
    h = colour.stripe_histograms(frames, ("rgb",), 1, 2, weights=(frames != fill).any(-1).astype(float))
    # only the red pixels count: R in the top bin, G and B in the bottom one, each channel's block sums to 1 / 3
    np.testing.assert_allclose(h[0], np.array([0, 1, 1, 0, 1, 0]) / 3)
    np.testing.assert_allclose(colour.stripe_histograms(frames, ("rgb",), 1, 2, weights=np.zeros((1, 4, 2))),
                               np.zeros((1, 6)))                 # nothing counted: zeros, not NaN
    model = build_model("colour_hist", 0, input_size=(4, 2), spaces=["rgb"], stripes=1, bins=2, hellinger=False,
                        skip_colour=fill.tolist())
    red = frames.copy()
    red[0, :, 1] = (255, 0, 0)                                   # all red: same histogram as the masked frame
    np.testing.assert_allclose(model.frame_features(frames), model.frame_features(red))


def test_foreground_mask_and_crop_mask_equal_their_plain_formulas():
    """The fast forms (cv2.absdiff + elementwise channel maxima; the one-channel crop) against the formulas they
    replace: any channel's |frame - background| > threshold, and the crop of the mask repeated to 3 channels."""
    import cv2
    from vidreid.data.video import crop
    rng = np.random.default_rng(0)
    frame, bg = rng.integers(0, 256, (2, 48, 40, 3), dtype=np.uint8)
    plain = np.abs(frame.astype(np.int16) - bg.astype(np.int16)).max(-1) > 30
    opened = cv2.morphologyEx(plain.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)).astype(bool)
    assert np.array_equal(foreground_mask(frame, bg), closed)
    mask = rng.random((48, 40)) > 0.5
    for box, size in [((3.5, 2.2, 17, 30), (20, 10)), ((-8, -5, 20, 30), (64, 32)), ((60, 60, 5, 5), (8, 4))]:
        three = crop(np.repeat(mask.astype(np.uint8)[..., None] * 255, 3, -1), box, size)[..., 0]
        assert np.array_equal(crop_mask(mask, box, size), np.where(three >= 128, 255, 0).astype(np.uint8)), box
