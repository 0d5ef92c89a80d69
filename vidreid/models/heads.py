"""Classification heads shared by the models."""
from __future__ import annotations

import torch
from torch import nn


class ClassifierHead(nn.Module):
    """feature -> logits, optionally through a BNNeck (Luo et al., 2019).

    With bnneck the metric loss sees the raw feature f, cross-entropy sees classifier(BN(f)) and the test
    feature is BN(f); the BN bias is frozen at 0 and the classifier has no bias, as in the BNNeck paper.
    """

    def __init__(self, dim: int, num_classes: int, bnneck: bool = False):
        super().__init__()
        self.bnneck = nn.BatchNorm1d(dim) if bnneck else None
        if self.bnneck is not None:
            self.bnneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=not bnneck)
        nn.init.normal_(self.classifier.weight, std=0.001)
        if self.classifier.bias is not None:
            nn.init.zeros_(self.classifier.bias)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) -> (logits (B, classes), test feature (B, D))."""
        f_test = self.bnneck(f) if self.bnneck is not None else f
        return self.classifier(f_test), f_test
