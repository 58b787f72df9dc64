"""The OSC address space (docs/design.md): every address the engine accepts and every one it sends.

Patterns use ``<n>`` for a pad number and ``<effect>``/``<param>`` for names. Argument specs
use OSC type letters; a trailing ``?`` marks an optional argument.
"""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000

# address pattern -> (argument spec, what it does)
INCOMING: dict[str, tuple[str, str]] = {
    "/gesam/xy": ("ff", "move the cursor; generation of that exact point starts"),
    "/gesam/trigger": ("f?", "play the cursor's sound now (velocity 0..1)"),
    "/gesam/play": ("fff?", "move and play in one message"),
    "/gesam/pad/<n>/xy": ("ff", "store a map point on pad n"),
    "/gesam/pad/<n>/trigger": ("f?", "play pad n"),
    "/gesam/note": ("ii", "a MIDI note-on: note, velocity"),
    "/gesam/bend": ("f", "pitch bend for cursor play, semitones"),
    "/gesam/fx/<effect>/<param>": ("f", "set an effect parameter"),
    "/gesam/gain": ("f", "output gain, linear 0..4"),
    "/gesam/panic": ("", "stop every voice"),
    "/gesam/render": ("ffs", "write that point's sound to a WAV file in the render folder"),
    "/gesam/ping": ("", "answered by /gesam/pong"),
    "/gesam/latency": ("", "answered by /gesam/state/latency"),
    "/gesam/learn": ("s", "MIDI learn: the next controller moved becomes x or y"),
    "/gesam/kit": ("i", "load saved kit number n (as a MIDI program change)"),
}

OUTGOING: dict[str, str] = {
    "/gesam/pong": "answer to /gesam/ping",
    "/gesam/state/xy": "f x, f y: the cursor after a move (clamped)",
    "/gesam/state/ready": "f x, f y: the exact point's sound is ready",
    "/gesam/state/class": "s name, s colour: the class at the cursor, after each move (when the model has maps)",
    "/gesam/state/features": "f rms, f centroid Hz, f bandwidth Hz, f flatness, f rolloff Hz, f zcr: the cursor's "
                             "cell, after each move (when the model has maps)",
    "/gesam/state/pad/<n>/xy": "f x, f y: a pad's point after it was set",
    "/gesam/state/render": "s path: a render was written",
    "/gesam/state/learn": "s target: MIDI learn is waiting for a controller",
    "/gesam/state/latency": "f trigger ms, f timed trigger ms, f output ms, f block ms, f limiter ms, f timed ms: "
                            "trigger to device for untimed and timed triggers, and their parts (on /gesam/latency, "
                            "and whenever the output opens)",
    "/gesam/state/audio": "i underruns, i xruns, f render median ms, f render p99 ms, f render max ms, f cpu share: "
                          "the audio process's health, once a second when it changes",
    "/gesam/error": "s reason: why a message was refused",
}
