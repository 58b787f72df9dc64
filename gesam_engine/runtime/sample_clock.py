"""From ``time.perf_counter()`` seconds to the output stream's sample clock, for timed triggers.

The callback log says when (perf_counter, the same monotonic clock in every process on Linux)
each block started and which frame it began with. From it we fix one offset: frame(t) =
round(t * rate + offset). It is fixed on purpose: two triggers 10 ms apart land exactly 480
samples apart at 48 kHz, whatever the callbacks' jitter. It is set again only when the stream
drifts more than ``resync_frames`` from it (a device clock is not perf_counter) or a new
audio process starts; ``resyncs`` counts those moments.
"""

from __future__ import annotations

import numpy as np

from gesam_engine.runtime.callback import CallbackLog

MIN_BLOCKS = 16  # callbacks seen before the clock is trusted (a stream's first ones are irregular)
WINDOW = 256  # callbacks the estimate looks at


class SampleClock:
    """perf_counter seconds -> absolute output frame. ``update`` on one thread, ``frame_at`` on any."""

    def __init__(self, sample_rate: int, resync_frames: int) -> None:
        self.sample_rate = sample_rate
        self.resync_frames = resync_frames
        self.offset: float | None = None  # frame = t * rate + offset; None until the stream has run
        self.epoch = -1
        self.resyncs = 0

    def update(self, log: CallbackLog, epoch: int, first_block: int) -> None:
        """Fix or check the offset from the newest callbacks of stream ``epoch`` (streams started so
        far), whose first callback was block ``first_block``."""
        if epoch != self.epoch:
            self.offset, self.epoch = None, epoch
        ours = log.block >= first_block
        if int(np.count_nonzero(ours)) < MIN_BLOCKS:
            return
        t, f = log.time[ours][-WINDOW:], log.stream_frame[ours][-WINDOW:].astype(np.float64)
        # a callback can only start late, never early: the least delayed ones say where the clock is
        estimate = float(np.percentile(f - t * self.sample_rate, 90))
        if self.offset is None:
            self.offset = estimate
        elif abs(estimate - self.offset) > self.resync_frames:
            self.offset = estimate
            self.resyncs += 1

    def frame_at(self, t: float) -> int | None:
        """The output frame the stream plays at perf_counter time ``t``; None before it has run."""
        offset = self.offset
        if offset is None:
            return None
        return int(round(t * self.sample_rate + offset))
