"""Where a training run stands, as one dataclass that a checkpoint's state file saves and a resume restores.

`RunState` holds the loop's own counters and records (step, best mAP, history ...); the optimizer, scheduler,
gradient scaler and RNG states sit beside it in the same state file (engine/train.py, engine/resume.py).
`state_dict()` is plain Python containers of int/float/str/None, so the file loads with
`torch.load(weights_only=True)`; `load_state_dict()` also reads the state files of vidreid versions that stored
the lists and dicts as JSON strings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

from ..errors import CheckpointError
from ..utils.arrays import jsonable


@dataclass
class RunState:
    step: int = 0                                           # optimizer steps taken (counted over all epochs)
    epoch: int = 0                                          # epoch being trained; its number + 1 once it is done
    best: float = -1.0                                      # best evaluation mAP so far (-1: no evaluation yet)
    history: list = field(default_factory=list)             # one dict per finished epoch: mean loss terms, lr, speed
    evals: list = field(default_factory=list)               # one {"epoch", "mAP", "R1"} per evaluation
    step_losses: list = field(default_factory=list)         # the total loss of every step (the global batch's)
    epoch_sums: dict = field(default_factory=dict)          # this epoch's sums of each loss term, so far
    epoch_seen: int = 0                                     # clips this epoch has seen so far (all ranks)

    # fields that earlier vidreid versions stored as JSON strings (json.dumps); load_state_dict reads both
    _JSON_STRING_FIELDS = ("history", "evals", "step_losses", "epoch_sums")

    def state_dict(self) -> dict:
        """A copy of every field as plain Python values (numpy scalars become Python numbers, tuples lists)."""
        d = {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}
        d["step"], d["epoch"], d["epoch_seen"], d["best"] = int(d["step"]), int(d["epoch"]), int(d["epoch_seen"]), \
            float(d["best"])
        return d

    def load_state_dict(self, state: dict, source: str = "training state") -> None:
        """Set every field from `state` (a training state file's dict: other keys, e.g. "optimizer", are ignored).
        A missing field is a CheckpointError naming `source`."""
        missing = [f.name for f in fields(self) if f.name not in state]
        if missing:
            raise CheckpointError(f"{source} lacks {', '.join(missing)} (not a training state written by vidreid "
                                  f"train)")
        values = {}
        for f in fields(self):
            value = state[f.name]
            if f.name in self._JSON_STRING_FIELDS and isinstance(value, str):
                value = json.loads(value)
            values[f.name] = value
        self.step, self.epoch, self.epoch_seen = int(values["step"]), int(values["epoch"]), int(values["epoch_seen"])
        self.best = float(values["best"])
        self.history, self.evals = list(values["history"]), list(values["evals"])
        self.step_losses, self.epoch_sums = list(values["step_losses"]), dict(values["epoch_sums"])

    def start_epoch(self) -> None:
        """An epoch starts from its first batch: its loss sums and clip count start from zero."""
        self.epoch_sums, self.epoch_seen = {}, 0
