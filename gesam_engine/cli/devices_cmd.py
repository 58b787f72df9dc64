"""``gesam devices``: the audio outputs sounddevice (PortAudio) can see."""

from __future__ import annotations

import argparse


def add_devices_parser(p: argparse.ArgumentParser) -> None:
    """``gesam devices`` takes no arguments."""


def run_devices(args: argparse.Namespace) -> int:
    """List output devices with index, host API, channels and default rate."""
    from gesam_engine.errors import GesamError

    try:
        import sounddevice as sd
    except OSError as exc:
        raise GesamError(f"sounddevice cannot load PortAudio ({exc}); install libportaudio2") from None
    apis = sd.query_hostapis()
    default_out = sd.default.device[1]
    found = False
    for i, d in enumerate(sd.query_devices()):
        if d["max_output_channels"] > 0:
            found = True
            mark = "*" if i == default_out else " "
            print(f"{mark}{i:3d}  {d['name']}  ({apis[d['hostapi']]['name']}, {d['max_output_channels']} out, "
                  f"{int(d['default_samplerate'])} Hz)")
    if not found:
        print("no audio output devices found")
    return 0
