"""The live pipeline: radio -> framer -> batched predictor -> sinks, in two threads with a bounded queue.

::

    source thread:    radio.rx() -> sinks' on_block (recordings: every sample) -> framer -> frame queue
    inference thread: frame queue -> batches of up to ``batch`` frames -> predictor -> sinks' on_batch

The pipeline knows nothing about tasks: any :class:`~sdrkit.runtime.predict.Predictor` (amc's
gated classifier, beam's nearest prototypes, a spectrum model's segmentation) runs the same
way. The first prediction of a run is checked against the model card's output spec.

The source never waits for the model: when the frame queue is full the *oldest* frames are
dropped and counted as skipped, so the analysis stays close to real time and reports the
fraction of the stream it analyzed. Sinks that want every sample get every block regardless.
Every sample is accounted for: delivered by the radio (``samples_in``) or lost before it
(``samples_lost``); of those delivered, framed, discarded at a gap by the framer
(``samples_discarded``), or left over in a partial frame at the end (``samples_unframed``);
samples missing between blocks that the radio did not report are counted too
(``samples_unreported``).
A radio timeout (no samples in time: a stalled device, a publisher that is down) does not end
the run: it is counted (``timeouts``), the sinks are told (a recording marks it), and the source
keeps reading; whatever the radio lost meanwhile arrives as the next block's ``lost``.

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

from sdrkit.runtime.predict import check_prediction


@dataclass
class PipelineStats:
    """Counters of one run (see the module docstring for the sample accounting)."""

    frames_in: int = 0
    frames_analyzed: int = 0
    frames_skipped: int = 0
    samples_in: int = 0
    samples_lost: int = 0
    samples_discarded: int = 0
    samples_unframed: int = 0
    samples_unreported: int = 0
    gaps: int = 0
    timeouts: int = 0
    model_seconds: float = 0.0
    latencies: list = field(default_factory=list)
    queue_peak: int = 0
    counters: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def analyzed_fraction(self) -> float:
        return self.frames_analyzed / max(self.frames_in, 1)

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.latencies else float("nan")

    def fraction(self, counter: str) -> float:
        """A predictor counter (e.g. ``exited``) as a fraction of the frames analyzed."""
        return self.counters.get(counter, 0) / max(self.frames_analyzed, 1)

    def summary(self) -> str:
        extra = "".join(f", {self.fraction(k):.1%} {k}" for k in self.counters)
        return (f"{self.frames_in} frames in {self.seconds:.1f} s; analyzed {self.frames_analyzed} "
                f"({self.analyzed_fraction:.1%}){extra}, model "
                f"{self.model_seconds / max(self.frames_analyzed, 1) * 1e3:.3f} ms/frame, latency p50 "
                f"{self.latency_ms(50):.1f} ms p99 {self.latency_ms(99):.1f} ms, {self.samples_lost} samples lost "
                f"before the host, {self.samples_discarded} discarded at gaps"
                + (f", {self.samples_unreported} missing unreported" if self.samples_unreported else "")
                + f", {self.frames_skipped} frames skipped"
                + (f", {self.timeouts} radio timeouts" if self.timeouts else ""))


class Pipeline:
    """Run ``predictor`` on a radio's stream.

    Args:
        radio: any sdrkit Radio.
        predictor: a :class:`~sdrkit.runtime.predict.Predictor` (``predict``, ``card``; ``reset`` and
            ``classes`` when it has them).
        framer: a :class:`sdrkit.dsp.framing.Framer` (frame length, channels), or an int frame
            length (one channel: channel 0).
        batch: max frames per model call.
        max_queue: frames the queue holds before the oldest are skipped.
        sinks: :class:`sdrkit.sinks.Sink` objects (``on_block``, ``on_batch``, ``close``).
        check_output: check the first prediction against ``predictor.card``.

    Raises:
        ConfigError: bad sizes, or a predictor without a ``card`` to check against.
    """

    def __init__(self, radio, predictor, framer, batch: int = 64, max_queue: int = 2048, sinks=(),
                 check_output: bool = True):
        from sdrkit.dsp.framing import Framer
        from sdrkit.errors import ConfigError

        if int(batch) != batch or batch < 1 or int(max_queue) != max_queue or max_queue < 1:
            raise ConfigError(f"batch {batch!r} and max_queue {max_queue!r} must be integers >= 1 (frames)")
        self.radio, self.predictor = radio, predictor
        self.framer = framer if isinstance(framer, Framer) else Framer(int(framer), channels=(0,))
        self.batch, self.max_queue = batch, max_queue
        self.sinks = list(sinks)
        if check_output and getattr(predictor, "card", None) is None:
            raise ConfigError(f"predictor {type(predictor).__name__} has no 'card': its output cannot be checked; "
                              f"give it the model card it runs (or pass check_output=False)")
        self.check_output = check_output
        self.stats = PipelineStats()
        self._q: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._source_done = threading.Event()
        self.error: BaseException | None = None

    @property
    def queued(self) -> int:
        return len(self._q)

    # ---- source ---------------------------------------------------------------------------
    def _source(self, until) -> None:
        from sdrkit.errors import RadioTimeout

        st, fr = self.stats, self.framer
        try:
            while not self._stop.is_set() and not until(st):
                try:
                    b = self.radio.rx()
                except EOFError:
                    break
                except RadioTimeout as exc:
                    st.timeouts += 1
                    for s in self.sinks:
                        s.on_timeout(exc)
                    continue
                t = b.tags.get("t_radio", time.monotonic()) if b.tags else time.monotonic()
                st.samples_in += b.samples.shape[-1]
                st.samples_lost += b.lost
                for s in self.sinks:
                    s.on_block(b)
                starts, frames = fr.push(b.samples, b.start, b.lost)
                st.gaps, st.samples_discarded, st.samples_unreported = \
                    fr.gaps, fr.samples_discarded, fr.samples_unreported
                k = len(starts)
                if not k:
                    continue
                with self._cv:
                    for i in range(k):
                        self._q.append((int(starts[i]), frames[i], t))
                    st.frames_in += k
                    over = len(self._q) - self.max_queue
                    for _ in range(max(over, 0)):
                        self._q.popleft()
                    if over > 0:
                        st.frames_skipped += over
                    st.queue_peak = max(st.queue_peak, len(self._q))
                    self._cv.notify()
        except BaseException as exc:  # surfaced by run()
            self.error = self.error or exc
            self._stop.set()
        finally:
            st.samples_unframed = fr.buffered
            self._source_done.set()
            with self._cv:
                self._cv.notify()

    # ---- inference ------------------------------------------------------------------------------
    def _inference(self) -> None:
        from sdrkit.sinks.base import PredictionBatch

        st = self.stats
        first = True
        try:
            while True:
                with self._cv:
                    while not self._q and not self._source_done.is_set():
                        self._cv.wait(0.1)
                    if not self._q and self._source_done.is_set():
                        return
                    items = [self._q.popleft() for _ in range(min(self.batch, len(self._q)))]
                starts = np.array([i[0] for i in items], np.int64)
                frames = np.stack([i[1] for i in items])
                t0 = time.perf_counter()
                pred = self.predictor.predict(frames)
                st.model_seconds += time.perf_counter() - t0
                if first and self.check_output:
                    check_prediction(self.predictor.card, pred, len(items), getattr(self.predictor, "classes", None))
                first = False
                done = time.monotonic()
                lat = np.array([done - i[2] for i in items])
                st.frames_analyzed += len(items)
                for key, v in pred.stats.items():
                    st.counters[key] = st.counters.get(key, 0) + v
                st.latencies.extend(lat.tolist())
                batch = PredictionBatch(starts, pred, lat, self.framer.frame_len)
                for s in self.sinks:
                    s.on_batch(batch)
        except BaseException as exc:
            self.error = self.error or exc
            self._stop.set()

    def run(self, seconds: float | None = None, frames: int | None = None) -> PipelineStats:
        """Run until ``seconds`` pass, ``frames`` frames arrived, or the source ends; then close the sinks.

        Returns:
            the run's :class:`PipelineStats`; ``self.summary`` holds the sinks' summary lines.
        """
        if hasattr(self.predictor, "reset"):
            self.predictor.reset()              # a new stream: forget state from the last one
        t0 = time.perf_counter()
        t_end = None if seconds is None else t0 + seconds

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
        finally:
            self.stats.seconds = time.perf_counter() - t0
            self.summary = []
            for s in self.sinks:
                self.summary.extend(s.close(self.stats))
        if self.error is not None:
            raise self.error
        return self.stats
