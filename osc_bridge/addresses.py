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
    "/gesam/learn": ("s", "MIDI learn: the next controller moved drives x, y, a pad's shape or variation "
                          "(pad/N/shape/decay, pad/N/variation) or a kit action (kit/randomize, kit/undo)"),
    "/gesam/kit": ("i", "load saved kit number n (as a MIDI program change)"),
    "/gesam/locate": ("s", "query by example: an audio file's map point becomes the cursor"),
    "/gesam/pad/<n>/variation": ("fi?s?", "round robin: radius 0..0.5 (0 = off), variants 1..16, cycle or random"),
    "/gesam/pad/<n>/layers": ("ffi?", "velocity layers: where a soft hit moves the point (dx, dy), layers 1..8"),
    "/gesam/pad/<n>/shape/<param>": ("f", "pad envelope and tone: attack, hold, decay, length (ms), tilt (-1..1)"),
    "/gesam/pad/<n>/lock": ("i", "1 keeps the pad's point when the kit is randomised, 0 frees it"),
    "/gesam/kit/randomize": ("", "a new point for every unlocked pad, inside its name's class region"),
    "/gesam/kit/undo": ("", "restore the pads as they were before the last kit change"),
    "/gesam/model": ("s", "load a model (a directory, or a name under the models folder) and switch to it"),
    "/gesam/sounds": ("", "answered by /gesam/state/sound for the cursor and every pad"),
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
    "/gesam/state/kit": "i program, s name: a kit was loaded (program -1: randomised or undone)",
    "/gesam/state/pad/<n>/lock": "i locked: a pad's lock after it was set",
    "/gesam/state/pad/<n>/variation": "f radius, i variants, s mode: a pad's variation after it was set",
    "/gesam/state/pad/<n>/layers": "f dx, f dy, i layers: a pad's velocity layers after they were set",
    "/gesam/state/pad/<n>/shape/<param>": "f value: a pad's shape parameter after it was set",
    "/gesam/state/locate": "f x, f y, s class: where a located file landed (class '' without maps)",
    "/gesam/state/model": "s name: the model now playing (after /gesam/model, and on /gesam/sounds)",
    "/gesam/state/sound": "s slot, s path: a WAV of the current sound of slot 'cursor' or 'pad<n>', written "
                          "whenever it changes (for the DAW sampler devices)",
    "/gesam/error": "s reason: why a message was refused",
}
