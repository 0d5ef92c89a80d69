"""The pictures' layout fixes (issue 27), checked on the figures themselves, not by eye: legends beside or below the
curves, not over them; a single evaluation labelled with its value; camera-pair numbers large enough to read; the
ranked list with a distance under every gallery picture. Each figure is caught where it is closed after saving."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt   # noqa: E402
import numpy as np                # noqa: E402
import pytest                     # noqa: E402

from vidreid.viz import plots     # noqa: E402


@pytest.fixture
def figures(monkeypatch):
    """Every figure closed while the test runs, kept open (drawn) for inspection."""
    caught, close = [], plt.close

    def keep(fig=None):
        caught.append(fig)
    monkeypatch.setattr(plt, "close", keep)
    yield caught
    for fig in caught:
        close(fig)


def _extent(artist, fig):
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def test_cmc_legend_sits_below_the_axes_not_over_the_chance_curve(figures, tmp_path):
    ranks = np.linspace(0.2, 1.0, 20)
    plots.plot_cmc({"model": ranks, "chance (random ranking)": np.linspace(0.05, 1.0, 20)}, str(tmp_path / "c.png"))
    fig = figures[-1]
    ax = fig.axes[0]
    legend, box = _extent(ax.get_legend(), fig), _extent(ax, fig)
    assert legend.y1 <= box.y0 + 1, (legend, box)          # entirely under the plotting area


def test_training_picture_with_one_evaluation_writes_its_values(figures, tmp_path):
    doc = {"history": [{"epoch": 1, "loss": 2.0, "ce": 1.5, "lr": 1e-3}],
           "evals": [{"epoch": 1, "R1": 0.625, "mAP": 0.4321}]}
    plots.plot_training(doc, str(tmp_path / "t.png"))
    ax_eval = figures[-1].axes[2]
    texts = {t.get_text() for t in ax_eval.texts}
    assert {"R1 62.5", "mAP 43.2"} <= texts, texts


def test_camera_pair_numbers_are_large_enough_to_read(figures, tmp_path):
    pairs = {"query_cameras": np.array([0, 1]), "gallery_cameras": np.array([0, 1]),
             "r1": np.array([[np.nan, 0.5], [1.0, np.nan]]), "mAP": np.array([[np.nan, 0.4], [0.9, np.nan]]),
             "queries": np.array([[0, 3], [2, 0]])}
    plots.plot_camera_pairs(pairs, str(tmp_path / "p.png"))
    cells = [t for ax in figures[-1].axes[:2] for t in ax.texts]
    assert len(cells) == 8 and min(t.get_fontsize() for t in cells) >= 10
    assert {"50\n(3)", "n/a"} <= {t.get_text() for t in cells}


def test_explain_legend_stands_beside_the_curves(figures, tmp_path):
    import torch

    from vidreid.viz.attention import attention_figure
    frames = np.random.default_rng(0).integers(0, 255, (4, 32, 16, 3), dtype=np.uint8)
    S = torch.tensor([[0.1, 0.7], [0.2, 0.1], [0.3, 0.1], [0.4, 0.1]])      # (T, K) STA block scores
    for attention in ({"g": torch.rand(4, 8, 4), "S": S}, {"temporal": torch.tensor([0.1, 0.2, 0.3, 0.4])}):
        attention_figure(frames, attention, str(tmp_path / "a.png"), "explain")
        fig = figures[-1]
        with_legend = [ax for ax in fig.axes if ax.get_legend() is not None]
        assert with_legend, f"no legend drawn for {sorted(attention)}"
        for ax in with_legend:
            assert _extent(ax.get_legend(), fig).x0 >= _extent(ax, fig).x1 - 1     # right of the axes


def test_ranked_list_writes_a_distance_under_every_gallery_picture(tmp_path, monkeypatch):
    from PIL import Image, ImageDraw

    from vidreid.data.types import Tracklet
    frame = tmp_path / "f.png"
    Image.new("RGB", (16, 32), (90, 120, 150)).save(frame)
    query = [Tracklet(frames=[str(frame)] * 3, pid=0, camid=0)]
    gallery = [Tracklet(frames=[str(frame)], pid=p, camid=1) for p in (0, 1, 2)]
    distmat = np.array([[0.25, 1.5, 0.75]])
    drawn = []
    text = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, s, *a, **k: (drawn.append(s),
                                                                                   text(self, xy, s, *a, **k)))
    plots.ranked_list_image(query, gallery, distmat, [0], str(tmp_path / "r.png"), top=3, query_frames=2,
                            frame_size=(32, 16))
    assert [s for s in drawn if s in ("0.25", "0.75", "1.5")] == ["0.25", "0.75", "1.5"]   # in rank order
