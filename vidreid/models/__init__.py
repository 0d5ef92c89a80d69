from .registry import ModelOutput, build_model, list_models, register_model
from . import tp  # noqa: F401  (registers the models)
from . import sta, temporal, drsta  # noqa: F401
from . import nvan, rru  # noqa: F401
from . import classical, fused  # noqa: F401  (colour_hist, lomo: no network; fused: a network + one of them)

__all__ = ["ModelOutput", "build_model", "list_models", "register_model"]
