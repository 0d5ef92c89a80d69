"""Classical (hand-made) appearance features with optional metric learning: colour histograms over stripes, LOMO,
XQDA and KISSME (see model.py for how they run as vidreid models, metric.py for the metric learning)."""
from . import model  # noqa: F401  (registers colour_hist and lomo)
from .model import ClassicalFeatureModel, is_classical  # noqa: F401
