"""The sample clock: perf_counter seconds to output frames, fixed once, moved only on drift or
when a new audio process starts."""

import numpy as np

from gesam_engine.runtime.callback import CallbackLog
from gesam_engine.runtime.sample_clock import SampleClock

SR = 48000


def _log(n: int, start_block: int = 0, t0: float = 100.0, frame0: int = 0, jitter: float = 0.0,
         rate: float = 1.0) -> CallbackLog:
    rng = np.random.default_rng(0)
    block = np.arange(start_block, start_block + n)
    frames = frame0 + np.arange(n) * 256
    late = np.abs(rng.normal(0, jitter, n)) if jitter else np.zeros(n)
    late[::4] = 0.0  # some callbacks start on time
    return CallbackLog(block, t0 + frames / (SR * rate) + late, frames, np.zeros(n))


def test_frames_follow_the_stream_and_jitter_does_not_move_them() -> None:
    clock = SampleClock(SR, resync_frames=256)
    assert clock.frame_at(100.0) is None  # nothing played yet
    clock.update(_log(8), epoch=1, first_block=0)
    assert clock.frame_at(100.0) is None  # too few callbacks to trust
    clock.update(_log(64, jitter=0.002), epoch=1, first_block=0)
    assert abs(clock.frame_at(100.5) - 24000) <= 2  # type: ignore[operator]
    fixed = clock.frame_at(101.0)
    clock.update(_log(200, jitter=0.004), epoch=1, first_block=0)  # more jitter: the offset holds
    assert clock.frame_at(101.0) == fixed and clock.resyncs == 0
    assert clock.frame_at(101.01) - fixed == 480  # type: ignore[operator]  # 10 ms is 480 samples, exactly


def test_drift_and_a_new_audio_process_move_the_clock() -> None:
    clock = SampleClock(SR, resync_frames=256)
    clock.update(_log(64), epoch=1, first_block=0)
    clock.update(_log(64, t0=100.02), epoch=1, first_block=0)  # the stream is 20 ms behind perf_counter now
    assert clock.resyncs == 1 and abs(clock.frame_at(100.02) - 0) <= 1  # type: ignore[operator]
    # a new audio process: its log starts at block 64 and frame 16384, at t = 200
    log = _log(64, t0=200.0)
    both = CallbackLog(np.concatenate([np.arange(64), 64 + log.block]), np.concatenate([_log(64).time, log.time]),
                       np.concatenate([np.arange(64) * 256, 16384 + log.stream_frame]), np.zeros(128))
    clock.update(both, epoch=2, first_block=64)
    assert abs(clock.frame_at(200.0) - 16384) <= 1  # type: ignore[operator]
