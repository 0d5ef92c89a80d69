import math

import pytest
import torch

from vidreid.engine.loss_terms import batch_hard_triplet, cross_entropy, pairwise_distance


def test_label_smoothing_hand_value():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    # uniform logits: CE = log 4 whatever the smoothing
    assert cross_entropy(logits, torch.tensor([2]), 0.1).item() == pytest.approx(math.log(4))
    logits = torch.tensor([[10.0, 0.0]])
    eps = 0.2
    logp = torch.log_softmax(logits, 1)[0]
    expected = -((1 - eps + eps / 2) * logp[0] + (eps / 2) * logp[1])
    assert cross_entropy(logits, torch.tensor([0]), eps).item() == pytest.approx(expected.item(), rel=1e-6)


def test_batch_hard_triplet_hand_case():
    # 1-D features: ids 0 at {0, 1}, id 1 at {3, 7}
    f = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    pids = torch.tensor([0, 0, 1, 1])
    # anchors: 0: ap=1 an=3 ; 1: ap=1 an=2 ; 3: ap=4 an=2 ; 7: ap=4 an=6
    hard = [max(0, 0.3 + 1 - 3), max(0, 0.3 + 1 - 2), max(0, 0.3 + 4 - 2), max(0, 0.3 + 4 - 6)]
    assert batch_hard_triplet(f, pids, 0.3).item() == pytest.approx(sum(hard) / 4, rel=1e-5)
    soft = [math.log1p(math.exp(a - n)) for a, n in [(1, 3), (1, 2), (4, 2), (4, 6)]]
    assert batch_hard_triplet(f, pids, soft_margin=True).item() == pytest.approx(sum(soft) / 4, rel=1e-5)


def test_triplet_margin_zero_is_a_hard_hinge_not_the_soft_margin():
    # same batch as above: d_ap - d_an = -2, -1, +2, -2 -> hinge at 0 keeps only anchor 3's 2 -> 2 / 4 = 0.5
    f = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    pids = torch.tensor([0, 0, 1, 1])
    assert batch_hard_triplet(f, pids, 0.0).item() == pytest.approx(0.5, rel=1e-6)
    soft = (2 * math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)) + math.log1p(math.exp(2))) / 4  # 0.6735
    assert batch_hard_triplet(f, pids, 0.0, soft_margin=True).item() == pytest.approx(soft, rel=1e-6)
    assert batch_hard_triplet(f, pids, 0.7, soft_margin=True).item() == pytest.approx(soft, rel=1e-6)  # margin unused


def test_triplet_ignores_anchors_without_positive_and_has_grad():
    f = torch.randn(5, 8, requires_grad=True)
    pids = torch.tensor([0, 0, 1, 2, 2])
    loss = batch_hard_triplet(f, pids, 0.3)
    loss.backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()
    assert batch_hard_triplet(f, torch.tensor([0, 1, 2, 3, 4]), 0.3).item() == 0.0


def test_pairwise_distance_matches_cdist():
    x = torch.randn(6, 5)
    d, ref = pairwise_distance(x), torch.cdist(x, x)
    off = ~torch.eye(6, dtype=torch.bool)
    assert torch.allclose(d[off], ref[off], atol=1e-4)
    assert (d.diagonal() < 1e-2).all()  # sqrt of a float32 round-off, not exactly 0
    c = pairwise_distance(x, "cosine")
    assert torch.allclose(c.diagonal(), torch.zeros(6), atol=1e-6)


def test_triplet_weights_per_feature_and_unknown_name():
    """loss.triplet_weights scales the triplet of one feature (e.g. RRU+STIM's parts) and names a missing one."""
    from vidreid.config import load_config
    from vidreid.engine.loss import compute_loss
    from vidreid.errors import ConfigError
    from vidreid.models import ModelOutput
    torch.manual_seed(0)
    pids = torch.tensor([0, 0, 1, 1])
    out = ModelOutput(logits=torch.randn(4, 2), features={"feat": torch.randn(4, 3), "parts": torch.randn(4, 5)})
    model = torch.nn.Linear(1, 1)
    cfg = load_config(None, [])
    _, base = compute_loss(out, pids, cfg, model)
    cfg = load_config(None, ["loss.triplet_weights={parts: 2.5, feat: 0}"])
    _, scaled = compute_loss(out, pids, cfg, model)
    assert "tri_feat" not in scaled and scaled["ce"] == base["ce"]
    assert scaled["tri_parts"] == pytest.approx(2.5 * base["tri_parts"])
    with pytest.raises(ConfigError, match="does not return.*feat, parts"):
        compute_loss(out, pids, load_config(None, ["loss.triplet_weights={part: 1}"]), model)


def test_engine_reads_triplet_soft_margin_and_rejects_negative_margins():
    """loss.triplet_soft_margin (not the margin's sign) picks the soft margin; the hand case above, through the
    engine's loss."""
    from vidreid.config import load_config
    from vidreid.engine.loss import compute_loss
    from vidreid.errors import ConfigError
    from vidreid.models import ModelOutput
    out = ModelOutput(logits=torch.zeros(4, 2), features={"feat": torch.tensor([[0.0], [1.0], [3.0], [7.0]])})
    pids, model = torch.tensor([0, 0, 1, 1]), torch.nn.Linear(1, 1)
    _, hard = compute_loss(out, pids, load_config(None, ["loss.triplet_margin=0"]), model)
    _, soft = compute_loss(out, pids, load_config(None, ["loss.triplet_margin=0", "loss.triplet_soft_margin=true"]),
                           model)
    assert hard["tri_feat"] == pytest.approx(0.5, rel=1e-6)
    assert soft["tri_feat"] == pytest.approx((2 * math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))
                                              + math.log1p(math.exp(2))) / 4, rel=1e-6)
    with pytest.raises(ConfigError, match="loss.triplet_margin must be >= 0"):
        load_config(None, ["loss.triplet_margin=-0.1"])


def test_triplet_per_part_mines_each_part_on_its_own():
    """(B, P, D) features: each part's own batch-hard triplet, averaged; not the triplet of the concatenation."""
    pids = torch.tensor([0, 0, 1, 1])
    part_a = [0.0, 1.0, 3.0, 7.0]      # anchors' (d_ap, d_an): (1, 3) (1, 2) (4, 2) (4, 6) -> hinges 0, 0, 2.3, 0
    part_b = [0.0, 4.0, 1.0, 2.0]      # (4, 1) (4, 2) (1, 1) (1, 2) -> hinges 3.3, 2.3, 0.3, 0
    f = torch.tensor([part_a, part_b]).t()[:, :, None]            # (B=4, P=2, D=1)
    per_part = ((2.3 / 4) + (3.3 + 2.3 + 0.3) / 4) / 2            # 1.025
    assert batch_hard_triplet(f, pids, 0.3).item() == pytest.approx(per_part, rel=1e-5)
    # the concatenation (points (0,0), (1,4), (3,1), (7,2)): every positive pair is sqrt(17) apart, the nearest
    # negatives are sqrt(10), sqrt(13), sqrt(10), sqrt(40) -> a different loss
    s17 = math.sqrt(17)
    concat = sum(max(0.0, 0.3 + s17 - math.sqrt(n)) for n in (10, 13, 10, 40)) / 4   # 0.8348
    assert batch_hard_triplet(f.flatten(1), pids, 0.3).item() == pytest.approx(concat, rel=1e-5)
    assert abs(per_part - concat) > 0.1
    # the soft margin takes the same per-part path
    soft = batch_hard_triplet(f, pids, soft_margin=True).item()
    assert soft == pytest.approx((batch_hard_triplet(f[:, 0], pids, soft_margin=True)
                                  + batch_hard_triplet(f[:, 1], pids, soft_margin=True)).item() / 2, rel=1e-6)
