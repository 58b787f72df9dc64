"""``gesam devices``: the audio outputs sounddevice (PortAudio) can see, by name and host API."""

from __future__ import annotations

import argparse


def add_devices_parser(p: argparse.ArgumentParser) -> None:
    """``gesam devices`` takes no arguments."""


def run_devices(args: argparse.Namespace) -> int:
    """List output devices (name, host API, channels, default rate; * marks the default), or say
    what to do when there are none."""
    from gesam_engine.errors import GesamError
    from gesam_engine.runtime.audio_devices import NO_OUTPUT_ADVICE, output_devices

    try:
        import sounddevice as sd
    except OSError as exc:
        raise GesamError(f"sounddevice cannot load PortAudio ({exc}); install libportaudio2") from None
    found = output_devices(sd)
    if not found:
        apis = ", ".join(a["name"] for a in sd.query_hostapis()) or "none"
        print(f"no audio output devices found (host APIs PortAudio tried: {apis}); {NO_OUTPUT_ADVICE}")
        return 0
    for d in found:
        print(f"{'*' if d.is_default else ' '}{d.index:3d}  {d.name}  ({d.hostapi}, {d.channels} out, {d.default_rate} Hz)")
    print("use one with `gesam serve --device NAME` (a name or an index; * is the default)")
    return 0
