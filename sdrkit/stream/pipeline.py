"""The inference pipeline: source -> framer -> batched model -> sinks, in threads with bounded queues.

::

    source thread:    radio.rx() -> (recorder: every sample, gaps annotated) -> framer -> frame queue
    inference thread: frame queue -> batches of up to ``batch`` frames -> classifier -> sinks

The source never waits for the model: when the frame queue is full the *oldest* frames are
dropped and counted as skipped, so the analysis stays close to real time and reports the
fraction of the stream it analyzed. The recording (if any) gets every sample regardless.
Frames never span lost samples.

Latency of a prediction = the time it is made minus the time the frame's block came out of
the radio: ``radio.rx()`` here, or, for a ``zmq:`` stream, the capture process's ``rx()`` (from the
message header; both on the host's monotonic clock).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PipelineStats:
    frames_in: int = 0
    frames_analyzed: int = 0
    frames_skipped: int = 0
    frames_exited: int = 0
    samples_in: int = 0
    samples_lost: int = 0
    model_seconds: float = 0.0
    latencies: list = field(default_factory=list)
    queue_peak: int = 0

    @property
    def analyzed_fraction(self) -> float:
        return self.frames_analyzed / max(self.frames_in, 1)

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.latencies else float("nan")


class Pipeline:
    """Run ``classifier`` (an object with ``predict(frames) -> result with pred/prob/exited``) on a radio.

    Args:
        radio: any sdrkit Radio.
        classifier: e.g. :class:`sdrkit.tasks.amc.gated.GatedClassifier`.
        frame_len: samples per frame.
        batch: max frames per model call.
        max_queue: frames the queue holds before the oldest are skipped.
        on_result: called in the inference thread as ``on_result(starts, result, latencies)``.
        recorder: a :class:`~sdrkit.capture.RecordingWriter` that receives every sample.
    """

    def __init__(self, radio, classifier, frame_len: int, batch: int = 64, max_queue: int = 2048,
                 on_result=None, recorder=None):
        self.radio, self.clf, self.n = radio, classifier, frame_len
        self.batch, self.max_queue = batch, max_queue
        self.on_result, self.recorder = on_result, recorder
        self.stats = PipelineStats()
        self._q: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._source_done = threading.Event()
        self.error: BaseException | None = None
        self.block_map: list[tuple[int, int]] = []   # (stream index, recording index) per recorded block

    # ---- source ---------------------------------------------------------------------------
    def _source(self, until) -> None:
        n = self.n
        buf = np.zeros(0, np.complex64)
        buf_start = None
        written = 0
        try:
            while not self._stop.is_set() and not until(self.stats):
                try:
                    b = self.radio.rx()
                except EOFError:
                    break
                t = b.tags.get("t_radio", time.monotonic()) if b.tags else time.monotonic()
                x = b.samples if b.samples.ndim == 1 else b.samples[0]
                self.stats.samples_in += len(x)
                if b.lost:
                    self.stats.samples_lost += b.lost
                if self.recorder is not None:
                    self.block_map.append((b.start, written))
                    if b.lost:
                        self.recorder.add_gap(written, b.lost)
                    self.recorder.write(x)
                    written += len(x)
                if b.lost or buf_start is None:
                    buf, buf_start = x, b.start
                else:
                    buf = np.concatenate([buf, x])
                k = len(buf) // n
                if not k:
                    continue
                frames = buf[: k * n].reshape(k, n)
                starts = buf_start + n * np.arange(k)
                buf, buf_start = buf[k * n:].copy(), buf_start + k * n
                with self._cv:
                    for i in range(k):
                        self._q.append((int(starts[i]), frames[i], t))
                    self.stats.frames_in += k
                    over = len(self._q) - self.max_queue
                    for _ in range(max(over, 0)):
                        self._q.popleft()
                    if over > 0:
                        self.stats.frames_skipped += over
                    self.stats.queue_peak = max(self.stats.queue_peak, len(self._q))
                    self._cv.notify()
        except BaseException as exc:  # surfaced by run()
            self.error = exc
        finally:
            self._source_done.set()
            with self._cv:
                self._cv.notify()

    # ---- inference ------------------------------------------------------------------------------
    def _inference(self) -> None:
        try:
            while True:
                with self._cv:
                    while not self._q and not self._source_done.is_set():
                        self._cv.wait(0.1)
                    if not self._q and self._source_done.is_set():
                        return
                    items = [self._q.popleft() for _ in range(min(self.batch, len(self._q)))]
                starts = [i[0] for i in items]
                frames = np.stack([i[1] for i in items])
                t0 = time.perf_counter()
                r = self.clf.predict(frames)
                self.stats.model_seconds += time.perf_counter() - t0
                done = time.monotonic()
                lat = [done - i[2] for i in items]
                self.stats.frames_analyzed += len(items)
                self.stats.frames_exited += int(np.sum(r.exited))
                self.stats.latencies.extend(lat)
                if self.on_result is not None:
                    self.on_result(starts, r, lat)
        except BaseException as exc:
            self.error = exc
            self._stop.set()

    def run(self, seconds: float | None = None, frames: int | None = None) -> PipelineStats:
        """Run until ``seconds`` pass, ``frames`` frames arrived, or the source ends."""
        t_end = None if seconds is None else time.perf_counter() + seconds

        def until(st):
            return (t_end is not None and time.perf_counter() >= t_end) or (frames is not None and st.frames_in >= frames)

        src = threading.Thread(target=self._source, args=(until,), name="sdrkit-source", daemon=True)
        inf = threading.Thread(target=self._inference, name="sdrkit-inference", daemon=True)
        src.start()
        inf.start()
        try:
            src.join()
            inf.join()
        except KeyboardInterrupt:
            self._stop.set()
            src.join()
            inf.join()
        if self.error is not None:
            raise self.error
        return self.stats

    def recording_index(self, stream_index: int) -> int:
        """Where sample ``stream_index`` of the stream sits in the recording (lost samples are not recorded)."""
        import bisect

        i = bisect.bisect_right(self.block_map, (stream_index, float("inf"))) - 1
        if i < 0:
            return stream_index
        s0, w0 = self.block_map[i]
        return w0 + (stream_index - s0)
