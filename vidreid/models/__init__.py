from .registry import ModelOutput, build_model, list_models, register_model
from . import tp  # noqa: F401  (registers the models)

__all__ = ["ModelOutput", "build_model", "list_models", "register_model"]
