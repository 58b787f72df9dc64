"""Training both GESAM stages from sample folders."""

from gesam_engine.training.pipeline import default_cache_dir, train_model
from gesam_engine.training.settings import TrainConfig, TrainSettings, load_settings, settings_from_dict

__all__ = ["TrainConfig", "TrainSettings", "default_cache_dir", "load_settings", "settings_from_dict", "train_model"]
