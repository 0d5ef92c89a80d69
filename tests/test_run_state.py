"""RunState and the RNG states in a training state file: weights-only round trips, and the state files of earlier
vidreid versions (lists, dicts and RNG words as JSON strings) that must still resume, bit-exactly."""
import json
import os
import random
import shutil

import numpy as np
import pytest
import torch

from conftest import tiny_train_overrides
from vidreid.config import load_config
from vidreid.store.checkpoint import read_checkpoint
from vidreid.engine.resume import rng_states, set_rng_states
from vidreid.engine.run_state import RunState
from vidreid.engine.train import train
from vidreid.errors import CheckpointError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "configs", "demo.yaml")


def _busy_state() -> RunState:
    """A mid-run state with what evaluation and the loop put there (numpy scalars from the metrics, None speeds)."""
    return RunState(step=7, epoch=2, best=np.float64(0.4375),
                    history=[{"epoch": 1, "ce": 2.25, "loss": 3.5, "lr": 1e-3, "clips_per_s": None,
                              "data_wait_fraction": 0.125, "elapsed_s": 4.0}],
                    evals=[{"epoch": 1, "mAP": np.float64(0.4375), "R1": 0.5}],
                    step_losses=[3.75, 3.5, 3.25, 0.1 + 0.2, 1 / 3], epoch_sums={"ce": 1.5, "loss": 2.125},
                    epoch_seen=16)


def _weights_only_round_trip(obj, tmp_path):
    path = str(tmp_path / "state.pt")
    torch.save(obj, path)
    return torch.load(path, map_location="cpu", weights_only=True)


def test_run_state_round_trip_through_a_weights_only_file(tmp_path):
    state = _busy_state()
    loaded = _weights_only_round_trip(state.state_dict(), tmp_path)
    assert type(loaded["best"]) is float and type(loaded["evals"][0]["mAP"]) is float   # no numpy scalar pickled
    back = RunState()
    back.load_state_dict(loaded)
    assert back == state                                       # every field, floats bit for bit
    assert back.step_losses[3] == 0.1 + 0.2 and back.step_losses[4] == 1 / 3
    back.step_losses.append(9.0)                               # a copy, not the saved object
    assert len(state.step_losses) == 5


def test_run_state_reads_the_json_string_fields_of_earlier_state_files():
    """The dict the earlier train loop saved: history, evals, step_losses and epoch_sums as json.dumps strings, next
    to the optimizer, scheduler, scaler and RNG entries (which RunState ignores)."""
    old = {"step": 7, "epoch": 2, "best": 0.4375, "optimizer": {"state": {}}, "scheduler": {}, "scaler": {},
           "rng": {}, "history": json.dumps([{"epoch": 1, "loss": 3.5, "clips_per_s": None}]),
           "evals": json.dumps([{"epoch": 1, "mAP": 0.4375, "R1": 0.5}]),
           "step_losses": json.dumps([3.75, 0.1 + 0.2, 1 / 3]), "epoch_sums": json.dumps({"ce": 1.5, "loss": 2.125}),
           "epoch_seen": 16}
    state = RunState()
    state.load_state_dict(old)
    assert state == RunState(step=7, epoch=2, best=0.4375, history=[{"epoch": 1, "loss": 3.5, "clips_per_s": None}],
                             evals=[{"epoch": 1, "mAP": 0.4375, "R1": 0.5}], step_losses=[3.75, 0.1 + 0.2, 1 / 3],
                             epoch_sums={"ce": 1.5, "loss": 2.125}, epoch_seen=16)


def test_run_state_missing_field_names_it():
    incomplete = {k: v for k, v in RunState().state_dict().items() if k != "epoch_sums"}
    with pytest.raises(CheckpointError, match=r"^run/step_3\.state\.pt lacks epoch_sums \(not a training state"):
        RunState().load_state_dict(incomplete, "run/step_3.state.pt")


def _draws() -> tuple:
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), np.random.normal(size=1).tolist(),
            [random.random() for _ in range(3)])


def _old_rng(states: dict) -> dict:
    """rng_states() as earlier versions saved it: numpy and Python state words as JSON strings, no Gaussian cache."""
    return {"torch": states["torch"], "numpy": json.dumps(states["numpy"].tolist()), "numpy_pos": states["numpy_pos"],
            "python": json.dumps(states["python"].tolist())}


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.normal(size=1)                    # an odd number of normals leaves numpy's cached second Gaussian set
    saved = _weights_only_round_trip(rng_states(), tmp_path)
    expected = _draws()
    _draws(), _draws()                          # move every generator on
    set_rng_states(saved)
    assert _draws() == expected


def test_rng_states_of_earlier_state_files_restore(tmp_path):
    torch.manual_seed(4), np.random.seed(5), random.seed(6)
    old = _weights_only_round_trip(_old_rng(rng_states()), tmp_path)
    expected = _draws()
    _draws()
    set_rng_states(old)
    assert _draws() == expected


def _as_earlier_version(state_path: str) -> None:
    """Rewrite a state file in the earlier format (JSON-string fields and RNG words)."""
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    for key in ("history", "evals", "step_losses", "epoch_sums"):
        state[key] = json.dumps(state[key])
    state["rng"] = _old_rng(state["rng"])
    torch.save(state, state_path)


def test_a_state_file_of_an_earlier_version_resumes_bit_exactly(tiny_synthped, tmp_path):
    """A 2-epoch run of 2 steps with a checkpoint every step; a copy cut back to step 3 (mid-epoch 2), its state
    rewritten in the earlier format, resumes to the same weights and losses as the uninterrupted run."""
    ref = str(tmp_path / "ref")
    common = {"train.epochs": 2, "train.iters_per_epoch": 2, "train.checkpoint_every": 1, "train.keep_last": 10,
              "train.eval_every": 0}
    train(load_config(DEMO, tiny_train_overrides(tiny_synthped, ref, **common)), progress=False)
    cut = str(tmp_path / "cut")
    shutil.copytree(ref, cut)
    ck = os.path.join(cut, "checkpoints")
    for name in ("step_0000004.safetensors", "step_0000004.state.pt", "last.safetensors"):
        os.unlink(os.path.join(ck, name))
    os.unlink(os.path.join(cut, "metrics.json"))
    _as_earlier_version(os.path.join(ck, "step_0000003.state.pt"))
    assert isinstance(torch.load(os.path.join(ck, "step_0000003.state.pt"), weights_only=True)["epoch_sums"], str)
    res = train(load_config(DEMO, tiny_train_overrides(tiny_synthped, cut, **common, **{"train.resume": "auto"})),
                progress=False)
    assert "resumed from" in open(os.path.join(cut, "train.log")).read()
    a, _ = read_checkpoint(os.path.join(ref, "checkpoints", "last.safetensors"))
    b, _ = read_checkpoint(os.path.join(ck, "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ref_doc, cut_doc = (json.load(open(os.path.join(d, "metrics.json"))) for d in (ref, cut))
    assert res["step_losses"] == ref_doc["step_losses"] == cut_doc["step_losses"] and len(res["step_losses"]) == 4
    assert [h["loss"] for h in cut_doc["history"]] == [h["loss"] for h in ref_doc["history"]]   # epoch_sums carried
