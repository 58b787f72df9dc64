"""The audio process: ``python -m gesam_engine.runtime.audio_child NAME LAYOUT SPEC DEVICE``.

It attaches to the engine's shared segment, builds the mixer (voices, effects, limiter) and
opens a sounddevice stream whose callback renders each block. It never imports torch (it is a
fresh interpreter, not a fork of the engine), so the audio clock shares its interpreter lock with
nothing busy. Its main thread only watches: the stream, the engine (it exits when the engine is
gone), and its own CPU time for the engine's metrics. When the device dies it exits without
closing the stream (closing a stream whose JACK server died aborts the process); the engine
starts a new one.
"""

from __future__ import annotations

import gc
import os
import sys
import time

from gesam_engine.runtime.callback import OUTPUT_LATENCY_S
from gesam_engine.runtime.mixer import MixerSpec, build_mixer
from gesam_engine.runtime.shared_audio import (
    CPU_NS, EPOCH, EPOCH_BLOCK, FAILED, HEARTBEAT, LOST, PID, RUNNING, STATE, STOP, STOPPED, WALL_NS, AudioLayout,
    SharedAudio,
)

WATCH_S = 0.02
REALTIME_PRIORITY = 70  # SCHED_FIFO for the callback's thread where the system allows it (Linux rtprio)


def main(argv: list[str]) -> int:
    """Run until told to stop, the stream dies or the engine is gone; the exit code says which."""
    name, layout_json, spec_json, device = argv
    parent = os.getppid()
    layout = AudioLayout.from_json(layout_json)
    shared = SharedAudio(layout, name=name)
    control = shared.control
    control[PID] = os.getpid()
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        shared.set_message(f"sounddevice cannot load PortAudio ({exc}); install libportaudio2")
        control[STATE] = FAILED
        os._exit(2)
    from gesam_engine.runtime.audio_devices import device_label, open_failure

    try:
        callback = build_mixer(shared, MixerSpec.from_json(spec_json), realtime_priority=REALTIME_PRIORITY)
    except Exception as exc:  # an effect that cannot be built here (it was built by the engine already)
        shared.set_message(f"the audio process could not build the mixer: {exc}")
        control[STATE] = FAILED
        os._exit(2)
    try:
        dev: int | str | None = int(device) if device.isdigit() else (device or None)
        control[EPOCH_BLOCK] = shared.arrays.counters[2]  # BLOCKS: where this stream's log begins
        control[EPOCH] += 1
        stream = sd.OutputStream(device=dev, samplerate=layout.sample_rate, blocksize=layout.blocksize,
                                 channels=layout.channels, dtype="float32", callback=callback, latency="low")
        stream.start()
    except Exception as exc:
        shared.set_message(open_failure(sd, device, exc))
        control[STATE] = FAILED
        os._exit(2)
    gc.freeze()  # the mixer's start-up objects leave the collector's view: shorter pauses in the callback
    shared.values[OUTPUT_LATENCY_S] = float(stream.latency)
    shared.set_message(f"playing on {device_label(sd, stream.device)} at {int(stream.samplerate)} Hz, "
                       f"block {layout.blocksize}, output latency {stream.latency * 1000:.1f} ms")
    control[STATE] = RUNNING
    while not control[STOP]:
        control[HEARTBEAT] += 1
        control[CPU_NS] = time.process_time_ns()
        control[WALL_NS] = time.perf_counter_ns()
        if not stream.active:
            shared.set_message("the audio device went away (stream no longer active)")
            control[STATE] = LOST
            os._exit(3)  # never close(): closing a stream whose JACK server died aborts the process
        if os.getppid() != parent:  # the engine died without stopping us (SIGKILL): stop playing
            break
        time.sleep(WATCH_S)
    stream.stop()
    stream.close()
    control[STATE] = STOPPED
    # Close PortAudio (its JACK client) while the server is alive: os._exit skips sounddevice's
    # atexit, and a JACK client left registered makes jackd wait a client timeout when it stops.
    sd._terminate()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
