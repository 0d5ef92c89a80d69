"""The training loss the engine applies to any model's output, and the message a non-finite loss stops a run with.

The engine never looks inside a model: it applies cross-entropy to `out.logits`, batch-hard triplet to every
entry of `out.features`, and adds every `out.regularizers` term with its configured weight.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from ..errors import ConfigError
from .loss_terms import batch_hard_triplet, cross_entropy, grouped_cross_entropy
from ..models import ModelOutput
from ..utils import distributed as D


def compute_loss(out: ModelOutput, pids: torch.Tensor, cfg: Config, model: nn.Module,
                 class_group: torch.Tensor | None = None,
                 known_negatives: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Total loss and its named terms (floats, for logging).

    Pseudo-labels (`vidreid adapt`, engine/adapt.py): class_group (C,) makes the cross-entropy's softmax run within
    the target's group (its camera: TAUDL's per-camera tracklet discrimination); known_negatives (C, C) bool lets
    the triplet mine as negatives only the class pairs known to be different people.

    Under DDP the triplet loss mines over the features gathered from every rank, so W processes with batch B/W
    each optimise exactly the single-process loss of batch B (BatchNorm statistics aside, unless sync_bn)."""
    l = cfg.loss
    terms: dict[str, torch.Tensor] = {}
    logits = out.logits if isinstance(out.logits, (list, tuple)) else [out.logits]
    if l.ce_weight:
        if class_group is None:
            ce = [cross_entropy(z.float(), pids, l.label_smoothing) for z in logits]
        else:
            ce = [grouped_cross_entropy(z.float(), pids, class_group, l.label_smoothing) for z in logits]
        terms["ce"] = l.ce_weight * sum(ce) / len(logits)
    unknown = set(l.triplet_weights) - set(out.features)
    if unknown:
        raise ConfigError(f"loss.triplet_weights names {', '.join(sorted(unknown))}, which the model does not return; "
                          f"its features are: {', '.join(out.features) or 'none'}")
    if l.triplet_weight:
        all_pids = D.gather_no_grad(pids)
        negatives = None if known_negatives is None else known_negatives[all_pids][:, all_pids]   # (B, B)
        for name, f in out.features.items():
            w = l.triplet_weight * float(l.triplet_weights.get(name, 1.0))
            if w:
                terms[f"tri_{name}"] = w * batch_hard_triplet(D.gather_with_grad(f.float()), all_pids,
                                                              l.triplet_margin, l.triplet_distance,
                                                              l.triplet_soft_margin, negatives)
    defaults = getattr(getattr(model, "module", model), "default_reg_weights", {})
    for name, value in out.regularizers.items():
        w = l.reg_weights.get(name, defaults.get(name, 1.0))
        if w:
            terms[name] = w * value
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def non_finite_message(mine: tuple | None, step: int, epoch: int, last_checkpoint: str | None, world: int) -> str:
    """The one message every rank raises when any rank's loss is non-finite. `mine` is this rank's
    (rank, loss, terms, pids) if its loss is non-finite, else None; under DDP they are gathered from all ranks."""
    reports = [r for r in D.all_gather_objects(mine) if r is not None]
    parts = []
    for r, loss, terms, pids in reports:
        where = f" on rank {r}" if world > 1 else ""
        parts.append(f"non-finite loss {loss} (terms {terms}){where} at step {step} (epoch {epoch}); batch pids {pids}")
    return " | ".join(parts) + f"; last good checkpoint: {last_checkpoint or 'none yet'}"


def weights_finite(params: list[torch.Tensor]) -> bool:
    """Are all `params` finite (validate.finite_squares: NaN, infinity or magnitudes past ~1e19 are not)? One
    host sync for all of them."""
    from ..validate import finite_squares
    return not params or bool(finite_squares(params).all())


def non_finite_weights_message(step: int, epoch: int, loss: float, lr: float, last_checkpoint: str | None) -> str:
    """A step whose loss was finite but whose update left NaN/inf in the weights: the step size is the usual cause."""
    return (f"the weights diverged (NaN, infinity or values past 1e19) at step {step} (epoch {epoch}), after a step with a "
            f"finite loss {loss:.4g} at lr {lr:.3g}: the update was too large (lower optim.lr, or add a warm-up: "
            f"optim.warmup_epochs); nothing of this step was saved; last good checkpoint: "
            f"{last_checkpoint or 'none yet'}")
