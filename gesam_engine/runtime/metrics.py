"""Latency figures from what the renderer and the callback recorded (metrics thread; never audio).

A trigger's latency is the time from its arrival (``PlaySound.arrival``, ``time.perf_counter``)
to the start of the audio callback that copied the sound's first sample into ``outdata``.
The renderer says which block the first sample is in (``TriggerRecord.block_index``); the
block's ring frame follows from ``Renderer.ring_origin``; the callback log says which
callback took that ring frame and when it ran. The design budget is one block plus 1 ms.
The figures are summarised by ``gesam_engine.latency_stats.LatencyStats``, as OSC's and MIDI's are.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from gesam_engine.runtime.callback import CallbackLog
from gesam_engine.runtime.renderer import TriggerRecord


class TriggerLatency(NamedTuple):
    """One trigger's latency: to the callback that delivered its first sample."""

    trigger_id: int
    ms: float  # arrival -> start of that callback
    blocks: float  # the same in blocks of block_size
    offset_ms: float  # where the first sample sits inside that callback's buffer, in ms


def trigger_latencies(
    records: Sequence[TriggerRecord],
    log: CallbackLog,
    block_size: int,
    sample_rate: int,
    ring_origin: tuple[int, int] = (0, 0),
) -> list[TriggerLatency]:
    """Latency of every trigger whose first sample the callback log shows as delivered.

    records: from ``Renderer.trigger_records()``; log: from ``AudioCallback.log()``;
    ring_origin: ``Renderer.ring_origin``, i.e. (block index, ring frame) when the live thread
    started, so block b starts at ring frame ``origin_frame + (b - origin_block) * block_size``.
    The lookahead (how long a block waits in the ring) is part of the measured time. Triggers
    not yet delivered, rendered before the origin, or older than the log are left out.
    """
    origin_block, origin_frame = ring_origin
    ring_end = log.ring_frame + log.ring_frames
    block_ms = 1000.0 * block_size / sample_rate
    out: list[TriggerLatency] = []
    for rec in records:
        if rec.block_index < origin_block:
            continue
        frame = origin_frame + (rec.block_index - origin_block) * block_size
        j = int(np.searchsorted(ring_end, frame, side="right"))
        if j >= ring_end.shape[0] or log.ring_frame[j] > frame:
            continue
        ms = 1000.0 * (float(log.time[j]) - rec.arrival)
        offset_ms = 1000.0 * float(frame - log.ring_frame[j]) / sample_rate
        out.append(TriggerLatency(rec.trigger_id, ms, ms / block_ms, offset_ms))
    return out
