"""Classical features (vidreid.models.classical): colour histograms, LOMO, XQDA, KISSME, on hand-checkable cases."""
import itertools

import numpy as np
import pytest
import torch

from vidreid.models import build_model, list_models
from vidreid.models.classical import colour, lomo as L, metric


def solid(rgb, h=12, w=6, n=1):
    return np.broadcast_to(np.array(rgb, np.uint8), (n, h, w, 3)).copy()


# ------------------------------------------------------------------ colour histograms
@pytest.mark.parametrize("space, rgb, bins", [
    ("rgb", (255, 0, 0), (7, 0, 0)),
    ("rgb", (100, 200, 30), (3, 6, 0)),          # 100 / 255 * 8 = 3.1, 200 -> 6.3, 30 -> 0.9
    ("hsv", (255, 0, 0), (0, 7, 7)),             # hue 0, saturation 1, value 1
    ("hsv", (0, 0, 255), (5, 7, 7)),             # blue: hue 240 / 360 = 0.667 -> bin 5
    ("hsv", (128, 128, 128), (0, 0, 4)),         # grey: no hue, no saturation, value 0.502 -> bin 4
    ("ycbcr", (255, 255, 255), (7, 4, 4)),       # white: Y 255, Cb = Cr = 128 -> 128/255*8 = 4.02
    ("lab", (255, 255, 255), (7, 4, 4)),         # white: L* 100, a* = b* = 0 -> (0 + 128) / 255 * 8 = 4.02
])
def test_single_colour_puts_all_mass_in_its_bin(space, rgb, bins):
    h = colour.stripe_histograms(solid(rgb), spaces=(space,), stripes=1, bins=8)   # (1, 3 * 8)
    expected = np.zeros((3, 8))
    expected[[0, 1, 2], bins] = 1 / 3                                      # the stripe's block sums to 1
    np.testing.assert_allclose(h.reshape(3, 8), expected, atol=1e-7)


def test_stripes_split_rows_top_first():
    img = solid((255, 0, 0), h=6)
    img[:, 2:4] = (0, 255, 0)
    img[:, 4:] = (0, 0, 255)                                                 # red / green / blue bands of 2 rows
    h = colour.stripe_histograms(img, spaces=("rgb",), stripes=3, bins=2).reshape(3, 3, 2)   # stripe, channel, bin
    for stripe, on in enumerate(((1, 0, 0), (0, 1, 0), (0, 0, 1))):
        np.testing.assert_allclose(h[stripe, :, 1], np.array(on) / 3)
        np.testing.assert_allclose(h[stripe, :, 0], (1 - np.array(on)) / 3)
    # uneven: 7 rows in 2 stripes -> rows 0-3 and 4-6, each normalised on its own
    np.testing.assert_array_equal(colour.stripe_rows(7, 2), [0, 0, 0, 0, 1, 1, 1])


def red_centre_green_border(h=20, w=10, n=1):
    """Green frames whose rows 3..16 and columns 4..5 (the centre: x 40-60 %, y 15-85 %) are red."""
    img = solid((0, 255, 0), h, w, n)
    img[:, 3:17, 4:6] = (255, 0, 0)
    return img


def test_region_crop_keeps_the_centre_strip():
    assert colour.region_bounds(64, (0.385, 0.615)) == (25, 39)            # 24.64 -> 25, 39.36 -> 39
    assert colour.region_bounds(5, (0.0, 0.01)) == (0, 1)                  # at least one pixel
    img = red_centre_green_border()
    np.testing.assert_array_equal(colour.crop_region(img, (0.4, 0.6), (0.15, 0.85)),
                                  solid((255, 0, 0), 14, 2))
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match="fractions"):
        colour.region_bounds(64, (0.6, 0.4))


def test_joint_bins_count_channel_combinations():
    img = solid((255, 0, 0), h=4, w=2)
    img[:, :, 1] = (0, 0, 255)                                                # half red, half blue
    h = colour.stripe_histograms(img, spaces=("hsv",), stripes=1, bins=2, joint=True)   # (1, 8)
    expected = np.zeros(8)
    expected[(0 * 2 + 1) * 2 + 1] = 0.5      # red: hue bin 0, saturation 1, value 1
    expected[(1 * 2 + 1) * 2 + 1] = 0.5      # blue: hue 0.667 -> bin 1
    np.testing.assert_allclose(h[0], expected)


@pytest.mark.parametrize("joint", [False, True])
def test_body_region_histogram_of_a_red_centre_is_pure_red(joint):
    """The model with the centre region sees only the red body, the whole-box one mostly the green border."""
    frames = red_centre_green_border(n=2)
    x = normalised(frames).view(1, 2, 3, 20, 10)
    body = build_model("colour_hist", 0, input_size=(20, 10), spaces=["hsv"], stripes=2, bins=4, joint=joint,
                       hellinger=False, region_x=[0.4, 0.6], region_y=[0.15, 0.85])
    whole = build_model("colour_hist", 0, input_size=(20, 10), spaces=["hsv"], stripes=2, bins=4, joint=joint,
                        hellinger=False)
    red = colour.stripe_histograms(solid((255, 0, 0), 14, 2), ("hsv",), 2, 4, joint)[0]
    expected = np.zeros((2, 64 if joint else 12))                              # (stripe, bins of a block)
    if joint:
        expected[:, (0 * 4 + 3) * 4 + 3] = 1                                    # hue 0, saturation 3, value 3
    else:
        expected[:, [0, 4 + 3, 8 + 3]] = 1 / 3                                  # the same bins, channel by channel
    np.testing.assert_allclose(red, expected.ravel(), atol=1e-7)
    torch.testing.assert_close(body(x).embedding[0], torch.from_numpy(red))
    assert body.feat_dim == whole.feat_dim == len(red)
    assert not torch.allclose(whole(x).embedding[0], torch.from_numpy(red))


def test_lomo_region_is_lomo_of_the_cropped_frames():
    frames = np.random.default_rng(2).integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)
    m = build_model("lomo", 0, input_size=(40, 30), region_x=[0.2, 0.8], region_y=[0.0, 0.5])
    assert m.feat_dim == L.lomo_dim(20, 18) == 3 * 674                        # 20 x 18: rows of windows 3, 1 scale
    got = m(normalised(frames)[None]).embedding[0].numpy()
    np.testing.assert_allclose(got, L.lomo(frames[:, 0:20, 6:24]).mean(0), rtol=1e-5, atol=1e-6)
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match="at least 10 x 10"):
        build_model("lomo", 0, input_size=(40, 30), region_x=[0.4, 0.6])


def test_hsv_matches_colorsys():
    import colorsys
    rgb = np.random.default_rng(0).integers(0, 256, (200, 3), dtype=np.uint8)
    ours = colour.rgb_to_hsv(rgb)
    ref = np.array([colorsys.rgb_to_hsv(*(c / 255.0)) for c in rgb])
    np.testing.assert_allclose(ours, ref, atol=1e-12)


# ------------------------------------------------------------------ LOMO
def test_siltp_code_of_a_hand_made_patch():
    # centre 100; with tau = 0.3 the band is [70, 130]: right 140 > 130 -> 2, up 60 < 70 -> 1, left 100 -> 0,
    # down 200 -> 2: code = 2 * 1 + 1 * 3 + 0 * 9 + 2 * 27 = 59
    patch = np.array([[0, 60, 0], [100, 100, 140], [0, 200, 0]], np.float64)[None] / 255
    assert L.siltp(patch, tau=0.3, radius=1)[0, 1, 1] == 59
    # a flat image is 0 everywhere (borders replicated), a bright centre pixel has every neighbour below: 1+3+9+27
    flat = np.full((1, 5, 5), 0.5)
    assert (L.siltp(flat, 0.3, 2) == 0).all()
    flat[0, 2, 2] = 1.0
    assert L.siltp(flat, 0.3, 2)[0, 2, 2] == 40


def test_max_occurrence_keeps_the_fullest_window_per_row():
    codes = np.zeros((1, 10, 20), np.int64)       # one row of windows (h = 10), at columns 0, 5, 10
    codes[0, :, 15:20] = 7                        # only in the window at column 10: 50 pixels
    codes[0, :, 0:2] = 7                          # only in the window at column 0: 20 pixels
    h = L.max_occurrence(codes, 8, block=10, step=5)                         # (1, 1, 8)
    assert h.shape == (1, 1, 8)
    assert h[0, 0, 7] == 50                       # the max over windows, not their sum (70) or mean
    assert h[0, 0, 0] == 100                      # the window at column 5 holds no 7
    # two rows of windows are kept apart
    codes = np.zeros((1, 15, 10), np.int64)
    codes[0, 10:] = 3
    h = L.max_occurrence(codes, 4, block=10, step=5)
    np.testing.assert_array_equal(h[0], [[100, 0, 0, 0], [50, 0, 0, 50]])


def test_lomo_dimension_is_the_papers():
    assert L.lomo_dim(128, 48) == 26960 == (512 + 2 * 81) * (24 + 11 + 5)
    frames = np.random.default_rng(0).integers(0, 256, (2, 128, 48, 3), dtype=np.uint8)
    f = L.lomo(frames)
    assert f.shape == (2, 26960) and np.isfinite(f).all()
    hsv_len, siltp_len = 512 * 40, 81 * 40
    for a, b in ((0, hsv_len), (hsv_len, hsv_len + siltp_len), (hsv_len + siltp_len, 26960)):
        np.testing.assert_allclose(np.linalg.norm(f[:, a:b], axis=1), 1, rtol=1e-5)   # each part L2-normalised
    assert build_model("lomo", 0, input_size=(128, 48)).feat_dim == 26960


def test_lomo_colour_part_of_a_solid_image():
    # a solid colour without Retinex: every window holds 100 pixels of one HSV bin at every scale
    f = L.lomo(solid((255, 0, 0), h=128, w=48), use_retinex=False)
    hsv = f[0, :512 * 40].reshape(40, 512)
    code = (7 * 8 + 7) * 8 + 0                                                # V = 7, S = 7, H = 0
    assert (hsv[:, code] > 0).all() and (np.delete(hsv, code, 1) == 0).all()
    np.testing.assert_allclose(hsv[:, code], 1 / np.sqrt(40), rtol=1e-6)      # log(101) in 40 rows, normalised


def test_pool2_averages_and_drops_odd_edges():
    x = np.arange(15, dtype=float).reshape(1, 3, 5)
    np.testing.assert_allclose(L.pool2(x)[0], [[3, 5]])                       # (0+1+5+6)/4, (2+3+7+8)/4


# ------------------------------------------------------------------ metric learning
def test_pair_covariances_match_enumerating_the_pairs():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 3)), np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    same, diff = [], []
    for i, j in itertools.permutations(range(9), 2):                          # ordered pairs, i != j
        d = np.outer(x[i] - x[j], x[i] - x[j])
        (same if y[i] == y[j] else diff).append(d)
    s, d = metric.pair_covariances(x, y)
    np.testing.assert_allclose(s, np.mean(same, 0), atol=1e-12)
    np.testing.assert_allclose(d, np.mean(diff, 0), atol=1e-12)


def gaussian_classes(seed=0, k=6, n=20):
    """2-D: identities differ along y (means 0, 0.5, 1 ...), the same identity varies widely along x."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n)
    x = np.stack([rng.normal(0, 10, k * n), 0.5 * y + rng.normal(0, 0.03, k * n)], 1)
    return x, y


def nn_accuracy(x, y):
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return (y[d.argmin(1)] == y).mean()


@pytest.mark.parametrize("fit", ["xqda", "kissme"])
def test_metric_separates_classes_that_euclidean_mixes(fit):
    x, y = gaussian_classes()
    mean, proj, _ = metric.fit_xqda(x, y) if fit == "xqda" else metric.fit_kissme(x, y, pca_dim=2)
    assert nn_accuracy(x, y) < 0.5
    assert nn_accuracy((x - mean) @ proj, y) > 0.95


def test_xqda_equals_the_papers_formula():
    x, y = gaussian_classes(k=5, n=15)
    x = np.concatenate([x, np.random.default_rng(3).normal(0, 1, (len(x), 2))], 1)   # 4-D, two noise axes
    mean, proj, vals = metric.fit_xqda(x, y)
    # direct: W = generalised eigenvectors with eigenvalue > 1, in any scaling; M = (W'SiW)^-1 - (W'SeW)^-1
    si, se = metric.pair_covariances(x - x.mean(0), y)
    si = si + 1e-3 * np.eye(4)
    ev, vec = np.linalg.eig(np.linalg.solve(si, se))
    keep = ev.real > 1
    w = vec[:, keep].real
    w = w / np.linalg.norm(w, axis=0) * np.arange(1, keep.sum() + 1)         # an arbitrary scaling per column
    m = np.linalg.inv(w.T @ si @ w) - np.linalg.inv(w.T @ se @ w)
    np.testing.assert_allclose(proj @ proj.T, w @ m @ w.T, rtol=1e-6, atol=1e-9)
    assert len(vals) == keep.sum() and (vals > 1).all()


def test_xqda_with_more_dimensions_than_samples_works_in_their_span():
    x, y = gaussian_classes(k=4, n=5)                                         # 20 samples
    rng = np.random.default_rng(0)
    lift = np.linalg.qr(rng.normal(size=(50, 2)))[0]                          # 2-D data embedded in 50-D
    mean, proj, _ = metric.fit_xqda(x @ lift.T, y)
    assert proj.shape[0] == 50
    assert nn_accuracy((x @ lift.T - mean) @ proj, y) > 0.95


def test_kissme_equals_its_formula():
    x, y = gaussian_classes(k=5, n=15)
    mean, proj, vals = metric.fit_kissme(x, y, pca_dim=2, ridge=0.0)
    s, d = metric.pair_covariances(x - x.mean(0), y)
    m = np.linalg.inv(s) - np.linalg.inv(d)
    ev, vec = np.linalg.eigh(m)
    psd = (vec * np.clip(ev, 0, None)) @ vec.T                                # clipped to the PSD cone
    np.testing.assert_allclose(proj @ proj.T, psd, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ the models
def normalised(frames):
    from vidreid.data.transforms import normalize_clip
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    return normalize_clip(x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_classical_models_are_registered_apart_from_networks():
    assert {"colour_hist", "lomo"} <= set(list_models(classical=True))
    assert not {"colour_hist", "lomo"} & set(list_models())                  # `vidreid train` trains networks


def test_model_recovers_pixels_and_hellinger_is_euclidean_on_sqrt():
    frames = np.random.default_rng(0).integers(0, 256, (6, 16, 8, 3), dtype=np.uint8)
    m = build_model("colour_hist", 0, input_size=(16, 8), spaces=["rgb", "hsv"], stripes=2, bins=4)
    np.testing.assert_array_equal(m.pixels(normalised(frames)), frames)
    clips = normalised(frames).view(2, 3, 3, 16, 8)                           # two tracklets of 3 frames
    emb = m(clips).embedding.numpy()
    p = colour.stripe_histograms(frames, ("rgb", "hsv"), 2, 4).reshape(2, 3, -1).mean(1)
    np.testing.assert_allclose(emb, np.sqrt(p), atol=1e-6)
    hellinger = np.sqrt(((np.sqrt(p[0]) - np.sqrt(p[1])) ** 2).sum())
    np.testing.assert_allclose(np.linalg.norm(emb[0] - emb[1]), hellinger, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_streaming_equals_the_one_shot_forward(pooling):
    from vidreid.models.streaming import stream_clip
    frames = np.random.default_rng(1).integers(0, 256, (7, 16, 8, 3), dtype=np.uint8)
    m = build_model("colour_hist", 0, input_size=(16, 8), pooling=pooling, hellinger=False).eval()
    x = normalised(frames)[None]                                              # (1, 7, 3, H, W)
    with torch.inference_mode():
        one = m(x).embedding
        streamed = stream_clip(m, x, chunk=3)
    torch.testing.assert_close(streamed, one)
    per_frame = colour.stripe_histograms(frames, ("hsv",), 6, 16)
    torch.testing.assert_close(one[0], torch.from_numpy(per_frame.mean(0) if pooling == "mean" else per_frame.max(0)))


def test_unknown_options_are_config_errors():
    from vidreid.errors import ConfigError
    with pytest.raises(ConfigError, match="colour space"):
        build_model("colour_hist", 0, spaces=["cmyk"])
    with pytest.raises(ConfigError, match="metric"):
        build_model("lomo", 0, metric="lmnn")
    with pytest.raises(ConfigError, match="does not take backbone"):
        build_model("lomo", 0, backbone="resnet18")


def test_commands_refuse_what_a_classical_model_cannot_do(tmp_path, capsys):
    from vidreid.cli import main
    assert main(["train", "--config", "configs/lomo_synthped.yaml", f"train.output_dir={tmp_path}"]) != 0
    assert "nothing to train" in capsys.readouterr().err
    assert main(["flops", "colour_hist"]) != 0
    assert "not a network" in capsys.readouterr().err


def test_eval_runs_the_body_colour_config_on_a_manifest_with_no_train_split(tmp_path, capsys):
    """configs/body_colour.yaml from the command line on a labelled manifest with only query and gallery rows:
    nothing is fitted, so no train split is asked for. Two people, red and blue bodies in the same green boxes."""
    import cv2

    from vidreid.cli import main
    rows = []
    for i, (pid, camid, body) in enumerate([(0, 0, (255, 0, 0)), (1, 0, (0, 0, 255)),
                                             (0, 1, (250, 10, 5)), (1, 1, (5, 10, 250))]):
        folder = tmp_path / f"t{i}"
        folder.mkdir()
        img = solid((0, 160, 0), 128, 64)[0]
        img[24:104, 26:38] = body                                            # the body inside the centre strip
        for f in range(3):
            cv2.imwrite(str(folder / f"f{f:06d}.png"), np.ascontiguousarray(img[..., ::-1]))
        split = "query" if camid == 0 else "gallery"
        rows.append(f'{{"dir": "t{i}", "pid": {pid}, "camid": {camid}, "split": "{split}"}}')
    (tmp_path / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    rc = main(["eval", "--config", "configs/body_colour.yaml", "data.dataset=manifest",
               f"data.root={tmp_path / 'manifest.jsonl'}", "data.workers=0", f"train.output_dir={tmp_path / 'out'}"])
    out = capsys.readouterr().out
    assert rc == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("gao "))
    assert line.split()[4:6] == ["100.00", "100.00"] and line.split()[-1] == "2"   # R1, R5; 2 queries
