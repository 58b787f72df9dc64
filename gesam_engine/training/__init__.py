"""Training both GESAM stages from sample folders."""

from gesam_engine.training.pipeline import train_model
from gesam_engine.training.resume import StopRequest, TrainingStopped, partial_dir
from gesam_engine.training.settings import TrainConfig, TrainSettings, load_settings, settings_from_dict

__all__ = [
    "StopRequest", "TrainConfig", "TrainSettings", "TrainingStopped", "load_settings", "partial_dir",
    "settings_from_dict", "train_model",
]
