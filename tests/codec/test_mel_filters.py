"""The numpy mel filterbank is librosa's, bit for bit: models decode and classify as before without librosa."""

import librosa
import numpy as np
import pytest

from gesam_engine.codec.mel_filters import mel_filters
from gesam_engine.models import ClassifierConfig
from gesam_engine.models.classifier import band_pool_matrix


@pytest.mark.parametrize(
    ("rate", "n_fft", "n_mels", "extra"),
    [
        (44100, 1024, 128, {}),  # the mel codec's defaults
        (44100, 1024, 16, {}),  # the tests' tiny codec
        (44100, 1024, 128, {"norm": None}),  # the shipped classifier's band pooling
        (48000, 2048, 80, {"fmin": 30.0, "fmax": 12000.0}),
        (22050, 512, 40, {"fmax": 8000}),
        (16000, 256, 8, {"fmin": 1200.0}),  # both ends in the log part of the scale
    ],
)
def test_mel_filters_equal_librosa(rate: int, n_fft: int, n_mels: int, extra: dict) -> None:
    ours = mel_filters(rate, n_fft, n_mels, **extra)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, **extra)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


def test_band_pooling_matrix_is_librosas_filters_scaled_to_sum_one() -> None:
    cfg = ClassifierConfig(n_frames=37, n_features=513, n_classes=3, band_pool=128)
    fb = librosa.filters.mel(sr=44100, n_fft=1024, n_mels=128, norm=None)
    expected = (fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)
    np.testing.assert_array_equal(band_pool_matrix(cfg).numpy(), expected)


def test_an_unknown_norm_is_refused() -> None:
    with pytest.raises(ValueError, match="norm"):
        mel_filters(44100, 1024, 16, norm="l2")
