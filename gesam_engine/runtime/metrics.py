"""Latency figures from what the mixer and the callback recorded (metrics thread; never audio).

A trigger's latency is the time from its arrival (``PlaySound.arrival``, ``time.perf_counter``)
to the start of the audio callback that rendered the sound's first sample into ``outdata``.
The mixer records the output frame the sound starts on (``TriggerRecord.frame``); the callback
log says which callback began at which frame, and when. The design budget is one block plus
1 ms. Timed triggers (time tags, MIDI timestamps) are left out: their latency is chosen. The
figures are summarised by ``gesam_engine.latency_stats.LatencyStats``, as OSC's and MIDI's are.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from gesam_engine.runtime.callback import CallbackLog
from gesam_engine.runtime.trigger_log import TriggerRecord


class TriggerLatency(NamedTuple):
    """One trigger's latency: to the callback that rendered its first sample."""

    trigger_id: int
    ms: float  # arrival -> start of that callback
    blocks: float  # the same in blocks of block_size
    offset_ms: float  # where the first sample sits inside that callback's buffer, in ms


def trigger_latencies(records: Sequence[TriggerRecord], log: CallbackLog, block_size: int,
                      sample_rate: int) -> list[TriggerLatency]:
    """Latency of every untimed trigger whose first sample the callback log shows as played.

    records: from the trigger log; log: from ``CallbackReader.log()``. Triggers not yet played,
    timed ones, or ones older than the log are left out.
    """
    starts = log.stream_frame
    block_ms = 1000.0 * block_size / sample_rate
    out: list[TriggerLatency] = []
    for rec in records:
        if rec.timed:
            continue
        j = int(np.searchsorted(starts, rec.frame, side="right")) - 1
        if j < 0 or j + 1 >= starts.shape[0] and rec.frame >= starts[j] + block_size:
            continue
        ms = 1000.0 * (float(log.time[j]) - rec.arrival)
        offset_ms = 1000.0 * float(rec.frame - starts[j]) / sample_rate
        out.append(TriggerLatency(rec.trigger_id, ms, ms / block_ms, offset_ms))
    return out
