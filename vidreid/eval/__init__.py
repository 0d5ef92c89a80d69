"""Evaluation: distance matrices, k-reciprocal re-ranking and the `mars` / `gao` metrics (CMC, mAP, mINP)."""
from .distance import distance
from .metrics import evaluate
from .rerank import rerank

__all__ = ["distance", "evaluate", "rerank"]
