from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.data import audio_io
from gesam_engine.data.audio_io import read_audio, resample
from gesam_engine.errors import AudioFileError


def _tone(n: int, rate: int, hz: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)


def test_reads_mono_float32_and_rate(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, _tone(4800, 48000), 48000, subtype="PCM_16")
    wave, rate = read_audio(path, max_seconds=5)
    assert rate == 48000
    assert wave.dtype == np.float32 and wave.shape == (4800,)
    assert abs(float(np.max(np.abs(wave))) - 0.5) < 1e-3


@pytest.mark.parametrize("ext, fmt", [(".flac", "FLAC"), (".aiff", "AIFF"), (".ogg", "OGG")])
def test_reads_other_formats(tmp_path: Path, ext: str, fmt: str) -> None:
    path = tmp_path / f"a{ext}"
    sf.write(path, _tone(4410, 44100), 44100, format=fmt)
    wave, rate = read_audio(path, max_seconds=5)
    assert rate == 44100 and wave.ndim == 1 and abs(wave.size - 4410) < 1100


def test_stereo_is_mixed_down_by_mean(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    left = np.full(1000, 0.5, dtype=np.float32)
    right = np.full(1000, -0.25, dtype=np.float32)
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    wave, _ = read_audio(path, max_seconds=5)
    assert wave.shape == (1000,)
    np.testing.assert_allclose(wave, 0.125, atol=1e-6)


def test_too_long_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(8000 * 3, dtype=np.float32) + 0.1, 8000)

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a file that is too long")

    monkeypatch.setattr(audio_io.sf.SoundFile, "read", no_read)
    with pytest.raises(AudioFileError, match=r"longer than 2 s \(3\.0 s\)"):
        read_audio(path, max_seconds=2)


def test_empty_garbage_and_missing_files_raise_readable_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty file"):
        read_audio(empty, 10)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(AudioFileError, match="cannot decode"):
        read_audio(garbage, 10)
    with pytest.raises(AudioFileError, match="cannot open"):
        read_audio(tmp_path / "nope.wav", 10)
    with pytest.raises(AudioFileError, match="cannot open"):
        read_audio(tmp_path, 10)


def test_header_only_wav_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 44100)
    with pytest.raises(AudioFileError, match="empty file"):
        read_audio(path, 10)


def test_truncated_flac_is_refused(synth_kit: Path) -> None:
    with pytest.raises(AudioFileError, match="cannot decode|truncated"):
        read_audio(synth_kit / "broken" / "truncated.flac", 10)


def test_librosa_fallback_when_soundfile_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, _tone(4410, 44100), 44100)
    calls: list[Path] = []

    def refuse(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
        calls.append(path)
        raise RuntimeError("format not supported by this libsndfile")

    monkeypatch.setattr(audio_io, "_read_soundfile", refuse)
    wave, rate = read_audio(path, 5)
    assert calls and rate == 44100 and wave.shape == (4410,) and wave.dtype == np.float32
    with pytest.raises(AudioFileError, match="longer than 0.05 s"):
        read_audio(path, 0.05)


def test_resample_length_and_pitch() -> None:
    wave = _tone(48000, 48000, hz=1000.0)
    out = resample(wave, 48000, 44100)
    assert out.dtype == np.float32 and abs(out.size - 44100) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 44100 / out.size - 1000.0) < 2.0
    same = resample(wave, 48000, 48000)
    assert same is not wave and np.array_equal(same, wave)
    with pytest.raises(AudioFileError):
        resample(wave, 0, 44100)
