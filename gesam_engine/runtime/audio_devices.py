"""The audio outputs PortAudio sees, by name and host API, and what to say when there are none.

Used by ``gesam devices`` and by the audio child process (runtime/audio_process.py) to name
the device it plays on. ``sd`` is the imported ``sounddevice`` module, passed in so importing
this module never scans devices.
"""

from __future__ import annotations

import dataclasses
from typing import Any

NO_OUTPUT_ADVICE = ("start JACK with its dummy backend (`jackd --no-realtime -d dummy &`) or plug in a sound card, "
                    "choose an output with --device (`gesam devices` lists them), or bounce into a file with "
                    "--output take.wav")


@dataclasses.dataclass(frozen=True)
class OutputDevice:
    """One output device: PortAudio's index, its name, host API, channels and default rate."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int
    is_default: bool

    def label(self) -> str:
        """How a person recognises it: '"system" (JACK Audio Connection Kit)'."""
        return f"{self.name!r} ({self.hostapi})"


def output_devices(sd: Any) -> list[OutputDevice]:
    """Every device with output channels, in PortAudio's order."""
    apis = sd.query_hostapis()
    default_out = sd.default.device[1]
    found = []
    for i, d in enumerate(sd.query_devices()):
        if d["max_output_channels"] > 0:
            found.append(OutputDevice(i, str(d["name"]), str(apis[d["hostapi"]]["name"]), int(d["max_output_channels"]),
                                      int(d["default_samplerate"]), i == default_out))
    return found


def device_label(sd: Any, index: int) -> str:
    """The name and host API of device ``index`` (the index itself if PortAudio cannot say)."""
    try:
        d = sd.query_devices(index)
        return f"{d['name']!r} ({sd.query_hostapis(d['hostapi'])['name']})"
    except Exception:  # noqa: BLE001  (only a label: never worth failing a stream that plays)
        return f"device {index}"


def open_failure(sd: Any, device: str, exc: BaseException) -> str:
    """Why an output could not be opened, and what to do about it."""
    outputs = output_devices(sd)
    if not outputs:
        return f"no audio output found (PortAudio sees no sound card and no JACK server); {NO_OUTPUT_ADVICE}"
    names = ", ".join(d.label() for d in outputs)
    which = repr(device) if device else "the default output"
    return (f"cannot open {which}: {exc}; outputs available: {names}. Choose one with --device NAME, "
            "or bounce into a file with --output take.wav")
