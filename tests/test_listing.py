"""`vidreid models` / `vidreid datasets` and the one progress display behind every `--no-progress`."""
import io
import json

import pytest

from vidreid.cli import build_parser, main


# ------------------------------------------------------------------------------------------------ listings
def test_models_lists_paper_backbones_params_and_gflops(tmp_path, monkeypatch, capsys):
    from vidreid.models.backbones import list_backbones
    from vidreid.models.flops import count_model
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["models", "tp", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "tp" and "Gao & Nevatia" in row["paper"] and "BMVC 2018" in row["paper"]
    assert row["backbones"] == list_backbones() and row["refused"] == {}
    ref = count_model("tp", 8, (256, 128), 1, 625)
    assert row["params"] == ref["params"] and row["gflops"] == pytest.approx(ref["gflops"], abs=1e-3)
    assert row["params"] == 24788657                                  # docs/models.md: 24.79 M
    assert list((tmp_path / "vidreid").glob("models-*.json"))          # cached for the next call
    assert main(["models", "tp"]) == 0
    table = capsys.readouterr().out
    assert "tp" in table and "24.79" in table and "resnet50" in table
    assert main(["models", "no_such_model"]) == 2


def test_models_backbones_are_decided_by_building(tmp_path, monkeypatch):
    """A model that refuses a backbone (ConfigError when built with it) is listed without it, with the reason."""
    from vidreid.errors import ConfigError
    from vidreid.listing import model_rows
    from vidreid.models import registry
    from vidreid.models.backbones import list_backbones

    def picky(num_classes, backbone="resnet50", **kw):
        if backbone != "resnet18":
            raise ConfigError(f"picky runs on resnet18 only, got {backbone}")
        from vidreid.models.tp import TemporalPooling
        return TemporalPooling(num_classes, backbone=backbone, **kw)
    picky.takes_input_size = False
    monkeypatch.setitem(registry._MODELS, "picky", picky)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (row,) = model_rows(["picky"], use_cache=False)
    assert row["backbones"] == ["resnet18"]
    assert set(row["refused"]) == set(list_backbones()) - {"resnet18"}
    assert "resnet18 only" in next(iter(row["refused"].values()))


def test_datasets_lists_layouts_and_protocols(capsys):
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"mars", "dukev", "ilidsvid", "prid2011", "lsvid", "manifest", "synthped"} <= set(rows)
    assert rows["mars"]["protocols"] == ["mars", "gao"] and rows["mars"]["default_protocol"] == "mars"
    assert rows["dukev"]["protocols"] == ["gao"] and rows["ilidsvid"]["protocols"] == ["gao"]
    assert rows["manifest"]["protocols"] == ["mars", "gao"]
    assert "bbox_train" in rows["mars"]["layout"] and "query_IDX.mat" in rows["mars"]["layout_short"]
    assert "min_frames" in rows["prid2011"]["options"]
    assert main(["datasets", "mars", "--layout"]) == 0
    assert "tracks_test_info.mat" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ progress
def test_every_command_with_progress_has_no_progress():
    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices
    for name in ("train", "eval", "extract", "demo", "synth"):
        assert "--no-progress" in subs[name]._option_string_actions, name
    data_sub = subs["data"]._subparsers._group_actions[0].choices["check"]
    index_subs = subs["index"]._subparsers._group_actions[0].choices
    for p in (data_sub, index_subs["build"], index_subs["add"]):
        assert "--no-progress" in p._option_string_actions


def test_progress_is_a_bar_on_a_terminal_a_log_line_elsewhere_and_nothing_when_off(monkeypatch):
    from vidreid.progress import LogProgress, progress_bar, progress_mode

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("VIDREID_PROGRESS", raising=False)
    assert progress_mode(True, Tty()) == "bar" and progress_mode(True, io.StringIO()) == "log"
    assert progress_mode(False, Tty()) == "off"
    monkeypatch.setenv("VIDREID_PROGRESS", "log")
    assert progress_mode(True, Tty()) == "log"
    # a log line per interval and one at the end, with counts, rate and ETA
    out = io.StringIO()
    bar = LogProgress(total=10, desc="extract query", unit="frame", interval=0, stream=out)
    bar.update(4)
    bar.set_postfix(loss="0.5")
    bar.update(6)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("extract query: 4/10 frame (40%)") and "ETA" in lines[0]
    assert lines[1].startswith("extract query: 10/10 frame (100%)") and lines[1].endswith("loss=0.5")
    out = io.StringIO()
    with LogProgress(total=5, desc="x", interval=3600, stream=out) as bar:
        bar.update(2)                                                  # within the interval: silent ...
        assert out.getvalue() == ""
    assert out.getvalue().startswith("x: 2/5")                           # ... but closed with a line
    off = progress_bar(total=3, enabled=False)
    off.update(3)
    off.close()                                                        # counts, prints nothing
    assert off.n == 3


def test_progress_log_lines_replace_bars_in_captured_stderr(tiny_synthped, tmp_path, capsys, monkeypatch):
    """With stderr not a terminal (pytest captures it), extraction logs plain lines; --no-progress silences them."""
    import numpy as np

    from vidreid.config import Config
    from vidreid.data import load_dataset
    from vidreid.inference.extract import extract_features
    from vidreid.models import build_model
    monkeypatch.delenv("VIDREID_PROGRESS", raising=False)
    monkeypatch.setenv("VIDREID_PROGRESS_INTERVAL", "0")
    cfg = Config()
    cfg.data.height, cfg.data.width, cfg.data.workers, cfg.data.test_seq_len = 32, 16, 0, 4
    tracklets = load_dataset("synthped", tiny_synthped).query[:4]
    model = build_model("tp", 4, backbone="resnet18").eval()
    capsys.readouterr()
    f = extract_features(model, tracklets, cfg, "rrs", "cpu", "query", progress=True)
    err = capsys.readouterr().err
    assert f.shape[0] == 4 and np.isfinite(f).all()
    assert "query: 16/16 frame (100%)" in err and "\r" not in err
    extract_features(model, tracklets, cfg, "rrs", "cpu", "query", progress=False)
    assert capsys.readouterr().err == ""
