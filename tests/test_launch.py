"""vidreid/engine/launch.py's report of a failed `vidreid train --nproc` job, on hand-made failures (the launcher
itself runs end to end in tests/test_train.py), and what the launcher refuses before it starts any rank."""
import os

import pytest

from vidreid.engine.launch import _report


def report(tmp_path, capsys, messages: dict, codes: dict) -> tuple[int, list[str]]:
    for rank, line in messages.items():
        (tmp_path / f"rank{rank}.txt").write_text(line + "\n")
    code = _report(str(tmp_path), codes, 2)
    return code, capsys.readouterr().err.strip().splitlines()


def test_rank0s_line_wins_and_the_code_of_a_rank_that_exited_by_itself(tmp_path, capsys):
    # rank 1 met the error first; the launcher then stopped rank 0 (SIGTERM) after it had written the same line
    assert report(tmp_path, capsys, {0: "vidreid train: error: A", 1: "vidreid train: error: A"},
                  {0: -15, 1: 2}) == (2, ["vidreid train: error: A"])


def test_without_rank0s_line_the_lowest_rank_speaks(tmp_path, capsys):
    assert report(tmp_path, capsys, {3: "vidreid train: error: C", 1: "vidreid train: error: B"},
                  {1: 2, 3: 2}) == (2, ["vidreid train: error: B"])


@pytest.mark.parametrize("codes, line, code", [
    ({0: -9}, "vidreid train: error: rank 0 of 2 was killed by SIGKILL (out of memory?)", 137),
    ({1: -11, 0: -15}, "vidreid train: error: rank 1 of 2 was killed by SIGSEGV", 139),   # 0: stopped after 1
    ({0: -15, 1: -15}, "vidreid train: error: rank 0 of 2 was killed by SIGTERM", 143),
    ({1: 3}, "vidreid train: error: rank 1 of 2 exited with code 3 (its output is above)", 3),
])
def test_a_rank_that_could_not_say_why(tmp_path, capsys, codes, line, code):
    assert report(tmp_path, capsys, {}, codes) == (code, [line])


@pytest.mark.parametrize("words, message", [
    (["data.root={root}"], "vidreid train: error: mars root {root}: no such folder"),
    (["data.root={root}", "model.backbone=resnet9"], "vidreid train: error: "),
    (["data.root={root}", "optim.lr=-1"], "vidreid train: error: "),
])
def test_the_launcher_refuses_a_bad_run_before_it_starts_a_rank(tmp_path, capsys, monkeypatch, words, message):
    import vidreid.engine.launch as L
    from vidreid.cli import main

    def no_ranks(*a, **k):
        raise AssertionError("ranks were started")
    monkeypatch.setattr(L, "launch_ranks", no_ranks)
    root = tmp_path / "MARS"
    config = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "nvan_mars.yaml")
    code = main(["train", "--nproc", "2", "--config", config, *[w.format(root=root) for w in words]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(message.format(root=root)), err
    assert words[-1].split("=")[1] in err[0] or "no such folder" in err[0], err     # it names what is wrong
    assert not os.path.exists(root)
