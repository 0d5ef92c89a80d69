"""Learning curves of benchmarks/synthped_models.py (--curve): one run evaluated at several step counts under a
schedule that does not depend on the total, paired statistics against TP at the same step, the plot.
(The curve's training path itself runs in the script's --smoke mode: tests/test_benchmarks_smoke.py.)"""
import math
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import synthped_models as S  # noqa: E402

from vidreid.builders import lr_factor  # noqa: E402


def test_paired_differences_of_ap_and_rank1_by_hand():
    a = {"ap": [1.0, 0.5, 0.0], "r1": [1, 1, 0]}
    b = {"ap": [0.5, 0.5, 0.5], "r1": [0, 1, 0]}
    mean, err = S.paired(a, b)                         # differences 0.5, 0, -0.5: sd 0.5
    assert mean == pytest.approx(0.0) and err == pytest.approx(0.5 / math.sqrt(3))
    mean, err = S.paired(a, b, key="r1")               # differences 1, 0, 0: mean 1/3, sd sqrt(1/3)
    assert mean == pytest.approx(1 / 3) and err == pytest.approx(math.sqrt(1 / 3) / math.sqrt(3))
    assert S.paired(a, b, rows=[0, 1]) == pytest.approx((0.25, 0.25))


def point(step, ap, r1):
    return {"step": step, "mAP": float(np.mean(ap)), "R1": float(np.mean(r1)), "ap": ap, "r1": r1,
            "heavy_mAP": float(np.mean(ap))}


def test_curve_rows_pair_each_point_with_tp_at_the_same_step():
    results = {"tp": {"curve": [point(10, [0.2, 0.4], [0, 1]), point(20, [0.5, 0.5], [1, 1])]},
               "sta": {"curve": [point(10, [0.4, 0.4], [1, 1]), point(30, [0.9, 0.9], [1, 1])]},
               "ta": {"error": "boom"}}
    rows = S.curve_rows(results)
    assert [(k, p["step"]) for k, p, _ in rows] == [("tp", 10), ("sta", 10), ("tp", 20), ("sta", 30)]
    assert rows[1][2] is results["tp"]["curve"][0] and rows[0][2] is None and rows[3][2] is None
    table = S.curve_table(results)
    assert "| 10 | sta | 40.0 ± 0.0 | 100.0 ± 0.0 | +10.0 ± 10.0 (within noise) | +50.0 ± 50.0 (within noise) |" in table
    assert "| 30 | sta |" in table and "| 30 | sta | 90.0 ± 0.0 | 100.0 ± 0.0 | — | — |" in table


def curve_args(*extra):
    return S.parse_args(["--out", "/nonexistent/curves", *extra])


def test_curve_schedule_does_not_depend_on_the_total():
    short = S.run_config({"key": "tp", "model": "tp"}, curve_args("--curve", "40,20", "--warmup-steps", "20"))
    long = S.run_config({"key": "tp", "model": "tp"}, curve_args("--curve", "20,40,400", "--warmup-steps", "20"))
    assert (short.train.epochs, short.train.iters_per_epoch, long.train.epochs) == (4, 10, 40)
    assert short.optim.scheduler == long.optim.scheduler == "none" and short.optim.warmup_epochs == 2
    assert short.train.eval_every == 1                  # every epoch end offered; the trainer keeps the points
    factors = [lr_factor(e, short) for e in range(4)]
    assert factors == [lr_factor(e, long) for e in range(4)] == pytest.approx([0.1, 0.55, 1.0, 1.0])
    assert S.warmup_factors(short) == pytest.approx([0.1, 0.55])
    assert "warm-up of 20 steps (lr x 0.10, 0.55, each for 10 steps), then constant" in S.schedule_text(short)
    # without --curve: the script's fixed-budget schedule, as before (the configs' cosine over 10 epochs)
    plain = S.run_config({"key": "tp", "model": "tp"}, curve_args("--iters", "80"))
    assert (plain.train.epochs, plain.train.iters_per_epoch, plain.optim.scheduler) == (10, 8, "cosine")


def test_curve_arguments_are_checked():
    args = curve_args("--curve", "100,50,100")
    assert args.curve == [50, 100] and args.iters == 100
    for bad in (["--curve", "15"], ["--curve", "10", "--warmup-steps", "5"], ["--curve", "0,10"],
                ["--curve", "a,b"]):
        with pytest.raises(SystemExit):
            curve_args(*bad)


def test_curve_plot_is_a_png_with_a_line_per_run(tmp_path):
    results = {"tp": {"curve": [point(10, [0.2, 0.4], [0, 1]), point(20, [0.5, 0.7], [1, 1])]},
               "sta": {"curve": [point(10, [0.1, 0.3], [0, 0]), point(20, [0.6, 0.6], [1, 1])]}}
    path = S.plot_curves(results, str(tmp_path / "curve.png"), "test")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert S.plot_curves({"tp": {"error": "x"}}, str(tmp_path / "none.png"), "t") is None
    # points also evaluated on real footage: a second panel (same height, twice the width)
    real = {"strict_cross_pass": {"mAP": 0.5, "ap": [0.2, 0.8, 0.5], "people": [1, 2, 2]}}
    both = {k: {"curve": [dict(p, real=real) for p in r["curve"]]} for k, r in results.items()}
    from PIL import Image
    with Image.open(path) as one, Image.open(S.plot_curves(both, str(tmp_path / "two.png"), "test")) as two:
        assert two.size[1] == one.size[1] and two.size[0] == 2 * one.size[0]
    # the real-footage band is the SE over people: drawing 2 of the 2 people gives 0.2 (1/4), 0.65 (1/4) or
    # (0.2 + 0.8 + 0.5) / 3 = 0.5 (1/2): standard deviation 0.163
    assert S.person_se(real["strict_cross_pass"]) == pytest.approx(0.1635, abs=0.01)


def test_ablation_points_are_paired_with_sta_and_real_footage_cells_with_their_base():
    real_tp = {"strict_cross_pass": {"mAP": 0.5, "ap": [0.5, 0.5, 0.5, 0.5], "people": [1, 1, 2, 2]}}
    real_sta = {"strict_cross_pass": {"mAP": 0.75, "ap": [0.75, 0.75, 0.75, 0.75], "people": [1, 1, 2, 2]}}
    results = {"tp": {"curve": [dict(point(10, [0.2, 0.4], [0, 1]), real=real_tp)]},
               "sta": {"curve": [dict(point(10, [0.4, 0.4], [1, 1]), real=real_sta)]},
               "sta_fusion_max": {"curve": [point(10, [0.3, 0.3], [1, 1])]}}
    rows = {k: base for k, _, base in S.curve_rows(results)}
    assert rows["sta_fusion_max"] is results["sta"]["curve"][0] and rows["sta"] is results["tp"]["curve"][0]
    table = S.curve_table(results)
    # every AP difference is +0.25 for each person: the bootstrap interval is the single value, which excludes 0
    assert "| 10 | sta | 40.0 ± 0.0 | 100.0 ± 0.0 | +10.0 ± 10.0 (within noise)" in table
    assert " 75.0 [75.0, 75.0] | +25.0 [+25.0, +25.0]* | — | — |" in table
    assert "| 10 | sta_fusion_max | 30.0 ± 0.0 | 100.0 ± 0.0 | -10.0 ± 0.0" in table      # paired with STA
    assert S.real_cells(None, None) == " — | — |"
    assert S.real_cells(real_tp["strict_cross_pass"], None) == " 50.0 [50.0, 50.0] | — |"


def test_curve_stop_cuts_a_run_to_its_first_steps_of_the_same_schedule():
    args = curve_args("--curve", "100,200,300,400", "--curve-stop", "ta=200,sta_K8=300", "--warmup-steps", "20")
    assert S.run_curve({"key": "ta"}, args) == [100, 200] and S.run_curve({"key": "tp"}, args) == [100, 200, 300, 400]
    short, full = S.run_config({"key": "ta", "model": "ta"}, args), S.run_config({"key": "tp", "model": "tp"}, args)
    assert (short.train.epochs, full.train.epochs) == (20, 40)
    assert [lr_factor(e, short) for e in range(20)] == [lr_factor(e, full) for e in range(20)]   # same schedule
    for bad in ("ta=150", "ta", "ta=x"):
        with pytest.raises(SystemExit):
            curve_args("--curve", "100,200", "--curve-stop", bad)
