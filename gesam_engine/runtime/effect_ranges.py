"""The sane range of every numeric parameter of pedalboard's built-in effects.

pedalboard accepts some values that wreck the output for good (a Gain of 1e9 dB makes infinity,
and a Reverb or LadderFilter after it holds NaN from then on; a Delay's feedback of 1.0 rings
forever). So every value from a config file, OSC, MIDI, the console or the web map is checked
here first. The bounds follow pedalboard's documented limits and its JUCE classes' asserted ones
(Chorus and Phaser rates below 100 Hz, centre delay 1..100 ms, depths and mixes 0..1, ratios
>= 1, LadderFilter drive >= 1, Delay up to 30 s); where pedalboard states none (gains, levels,
times) a musical range is used. Feedback must stay below 1 in size; filter frequencies run from
1 Hz to the Nyquist frequency of the output.
"""

from __future__ import annotations

import dataclasses
import math

NYQUIST = math.inf  # as an upper bound: sample_rate / 2


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values ``low..high``; ``open_low``/``open_high`` exclude that end."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False
    unit: str = ""

    def bounds(self, sample_rate: float) -> tuple[float, float]:
        """(low, high) with NYQUIST resolved for ``sample_rate``."""
        return self.low, (sample_rate / 2.0 if self.high == NYQUIST else self.high)

    def contains(self, value: float, sample_rate: float) -> bool:
        """Whether ``value`` (finite) is allowed at ``sample_rate``."""
        low, high = self.bounds(sample_rate)
        above = value > low if self.open_low else value >= low
        below = value < high if self.open_high else value <= high
        return above and below

    def describe(self, sample_rate: float) -> str:
        """The range as people write it: ``0..1 (1 excluded)``, ``1..24000 Hz``."""
        low, high = self.bounds(sample_rate)
        text = f"{low:g}..{high:g}" + (f" {self.unit}" if self.unit else "")
        excluded = [f"{v:g}" for v, is_open in ((low, self.open_low), (high, self.open_high)) if is_open]
        return text + (f" ({' and '.join(excluded)} excluded)" if excluded else "")


_UNIT = Range(0.0, 1.0)
_FEEDBACK = Range(-1.0, 1.0, open_low=True, open_high=True)  # |feedback| >= 1 never dies away
_FREQ = Range(1.0, NYQUIST, unit="Hz")
_Q = Range(0.01, 100.0)
_EQ_GAIN = Range(-48.0, 48.0, unit="dB")
_THRESHOLD = Range(-100.0, 0.0, unit="dB")
_RATIO = Range(1.0, 100.0)
_ATTACK = Range(0.0, 1000.0, unit="ms")
_RELEASE = Range(0.0, 5000.0, unit="ms")
_RATE = Range(0.0, 100.0, open_high=True, unit="Hz")

RANGES: dict[str, dict[str, Range]] = {
    "Bitcrush": {"bit_depth": Range(0.0, 32.0, unit="bits")},
    "Chorus": {"rate_hz": _RATE, "depth": _UNIT, "centre_delay_ms": Range(1.0, 100.0, unit="ms"),
               "feedback": _FEEDBACK, "mix": _UNIT},
    "Clipping": {"threshold_db": _THRESHOLD},
    "Compressor": {"threshold_db": _THRESHOLD, "ratio": _RATIO, "attack_ms": _ATTACK, "release_ms": _RELEASE},
    "Delay": {"delay_seconds": Range(0.0, 30.0, unit="s"), "feedback": Range(0.0, 1.0, open_high=True),
              "mix": _UNIT},
    "Distortion": {"drive_db": Range(-60.0, 60.0, unit="dB")},
    "Gain": {"gain_db": Range(-100.0, 24.0, unit="dB")},
    "HighShelfFilter": {"cutoff_frequency_hz": _FREQ, "gain_db": _EQ_GAIN, "q": _Q},
    "HighpassFilter": {"cutoff_frequency_hz": _FREQ},
    "Invert": {},
    "LadderFilter": {"cutoff_hz": _FREQ, "resonance": _UNIT, "drive": Range(1.0, 100.0)},
    "Limiter": {"threshold_db": _THRESHOLD, "release_ms": _RELEASE},
    "LowShelfFilter": {"cutoff_frequency_hz": _FREQ, "gain_db": _EQ_GAIN, "q": _Q},
    "LowpassFilter": {"cutoff_frequency_hz": _FREQ},
    "NoiseGate": {"threshold_db": _THRESHOLD, "ratio": _RATIO, "attack_ms": _ATTACK, "release_ms": _RELEASE},
    "PeakFilter": {"cutoff_frequency_hz": _FREQ, "gain_db": _EQ_GAIN, "q": _Q},
    "Phaser": {"rate_hz": _RATE, "depth": _UNIT, "centre_frequency_hz": _FREQ, "feedback": _FEEDBACK,
               "mix": _UNIT},
    "Reverb": {"room_size": _UNIT, "damping": _UNIT, "wet_level": _UNIT, "dry_level": _UNIT, "width": _UNIT,
               "freeze_mode": _UNIT},
}
