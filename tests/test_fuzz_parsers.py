"""Hypothesis fuzz of the two parsers a user feeds by hand: the manifest (JSON Lines / CSV) and the config (YAML file
and key=value overrides). Whatever the input, the result is a dataset / config or a one-line VidReIDError --
never another exception (a traceback) or a crash."""
import csv
import io
import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from vidreid.cli import user_message
from vidreid.config import Config, load_config
from vidreid.data.datasets import manifest
from vidreid.errors import VidReIDError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10 ** 40, max_value=10 ** 40),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=8)
entries = st.one_of(
    values,
    st.fixed_dictionaries({"pid": scalars, "camid": scalars,
                           "split": st.one_of(st.sampled_from(["train", "query", "gallery", " train "]), scalars)},
                          optional={"frames": st.one_of(st.lists(st.text(max_size=8), max_size=3), scalars),
                                    "dir": st.one_of(st.text(max_size=8), scalars)}))


def _one_line(e: VidReIDError) -> None:
    line = user_message(e)
    assert line and "\n" not in line


@FUZZ
@given(rows=st.lists(st.one_of(entries, st.text(max_size=20)), max_size=8), protocol=st.sampled_from(["gao", "mars"]))
def test_manifest_jsonl_parser_never_raises_anything_but_a_user_error(tmp_path, rows, protocol):
    path = tmp_path / "m.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r, allow_nan=True) for r in rows]
    path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n")
    try:
        ds = manifest.build(str(path), protocol)
    except VidReIDError as e:
        _one_line(e)
        return
    for t in ds.train + ds.query + ds.gallery:
        assert t.frames and abs(t.pid) < 2 ** 62 and t.camid >= 0
    for split in (ds.train, ds.query):                               # no tracklet twice within a split
        assert len({tuple(t.frames) for t in split}) == len(split)


@FUZZ
@given(rows=st.lists(st.lists(st.text(max_size=8), min_size=4, max_size=4), max_size=6),
       header=st.sampled_from([["dir", "pid", "camid", "split"], ["frames", "pid", "camid", "split"],
                               ["pid", "camid", "split"], ["x"]]))
def test_manifest_csv_parser_never_raises_anything_but_a_user_error(tmp_path, rows, header):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(r[:len(header)] for r in rows)
    path = tmp_path / "m.csv"
    path.write_text(buf.getvalue())
    try:
        manifest.build(str(path))
    except VidReIDError as e:
        _one_line(e)


keys = st.sampled_from(["data.mean", "data.std", "optim.lr", "data.test_sampling", "data.seq_len", "train.epochs",
                        "data.workers", "model.kwargs", "data.synth", "loss.triplet_margin", "eval.sampling",
                        "train.resume", "resume", "data", "nosuch.key", "data.height", "model.backbone"])


@FUZZ
@given(overrides=st.lists(st.tuples(keys, st.text(max_size=10)), max_size=4))
def test_config_overrides_never_raise_anything_but_a_config_error(overrides):
    try:
        cfg = load_config(None, [f"{k}={v}" for k, v in overrides])
    except VidReIDError as e:
        _one_line(e)
        return
    assert isinstance(cfg, Config)
    assert len(cfg.data.mean) == 3 and 0 < cfg.optim.lr <= 10 and math.isfinite(cfg.optim.lr)


@FUZZ
@given(doc=st.one_of(values, st.dictionaries(st.sampled_from(["data", "model", "optim", "train", "loss", "eval", "x"]),
                                             st.dictionaries(st.text(max_size=12) | st.sampled_from(
                                                 ["mean", "lr", "epochs", "seq_len", "test_sampling", "kwargs"]),
                                                 values, max_size=3), max_size=3)))
def test_config_file_never_raises_anything_but_a_config_error(tmp_path, doc):
    path = tmp_path / "c.yaml"
    try:
        path.write_text(yaml.safe_dump(doc))
    except yaml.YAMLError:
        return                                                    # not representable in YAML
    try:
        load_config(str(path))
    except VidReIDError as e:
        _one_line(e)


def test_found_by_fuzzing_a_superscript_digit_is_not_an_integer(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("dir,pid,camid,split\n0,,\u00b2,\n")
    try:
        manifest.build(str(path))
    except VidReIDError as e:
        assert "pid and camid must be integer(s)" in user_message(e)
    else:
        raise AssertionError("accepted")
    assert manifest._as_int(" 12 ") == 12 and manifest._as_int("-3") == -3 and manifest._as_int("\u00b2") is None


def test_a_nul_in_a_path_is_a_manifest_error_naming_the_line(tmp_path):
    """Found by the fuzz test above: os.listdir raised ValueError ("embedded null byte") for such a 'dir'."""
    for row in ({"dir": "a\x00b", "pid": 0, "camid": 0, "split": "train"},
                {"frames": ["f.jpg", "\x00"], "pid": 0, "camid": 0, "split": "train"}):
        path = tmp_path / "m.jsonl"
        path.write_text(json.dumps(row) + "\n")
        with pytest.raises(VidReIDError, match=r"m\.jsonl:1: (dir|frames) holds a NUL character"):
            manifest.build(str(path))
