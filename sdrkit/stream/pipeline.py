"""The live pipeline: radio -> framer -> batched predictor -> sinks, in threads with a bounded queue.

::

    source thread:      radio.rx() -> sinks' on_block (recordings: every sample) -> framer -> frame queue
    inference threads:  frame queue -> batches of up to ``batch`` frames -> predictor -> sinks' on_batch

One inference thread per predictor: pass a list of predictors (one per thread, each with its own
onnxruntime sessions and state) to analyze on several cores. onnxruntime releases the GIL while
a graph runs, so the threads run in parallel; the Python work per batch is small. Batches reach
the sinks in stream order whatever thread finished first (a reorder buffer; one thread at a time
calls ``on_batch``). The queue holds the framer's output as chunks (one per radio block), so a
batch is a slice of them, not a Python object per frame.

The pipeline knows nothing about tasks: any :class:`~sdrkit.runtime.predict.Predictor` (amc's
gated classifier, beam's nearest prototypes, a spectrum model's segmentation) runs the same
way. The first prediction of a run is checked against the model card's output spec.

The source never waits for the model: when the frame queue is full the *oldest* frames are
dropped and counted as skipped, so the analysis stays close to real time and reports the
fraction of the stream it analyzed. With ``max_age`` (seconds) an inference thread also skips
the frames that have waited longer than that when it takes them (counted as skipped, and in
``frames_stale``): a bound on latency that does not depend on the model's speed. Sinks that want
every sample get every block regardless.
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
    frames_stale: int = 0
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
    workers: int = 1
    batches: int = 0

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
                + (f" ({self.frames_stale} older than the age limit)" if self.frames_stale else "")
                + (f", {self.workers} inference threads" if self.workers > 1 else "")
                + (f", {self.timeouts} radio timeouts" if self.timeouts else ""))


def _join(parts: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, frames, t_radio per frame) of queue slices; one slice is passed on without a copy."""
    t = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    if len(parts) == 1:
        return parts[0][0], parts[0][1], t
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), t


class Pipeline:
    """Run ``predictor`` on a radio's stream.

    Args:
        radio: any sdrkit Radio.
        predictor: a :class:`~sdrkit.runtime.predict.Predictor` (``predict``, ``card``; ``reset`` and
            ``classes`` when it has them), or a list of them: one inference thread each (give each
            thread its own predictor, built with the same card and options; they must not share state).
        framer: a :class:`sdrkit.dsp.framing.Framer` (frame length, channels), or an int frame
            length (one channel: channel 0).
        batch: max frames per model call.
        max_queue: frames the queue holds before the oldest are skipped.
        sinks: :class:`sdrkit.sinks.Sink` objects (``on_block``, ``on_batch``, ``close``).
        check_output: check the first prediction of each predictor against its ``card``.
        max_age: seconds a frame may wait in the queue (from its block leaving the radio); older
            frames are skipped when an inference thread takes them. None: no age limit.

    Raises:
        ConfigError: bad sizes, or a predictor without a ``card`` to check against.
    """

    def __init__(self, radio, predictor, framer, batch: int = 64, max_queue: int = 2048, sinks=(),
                 check_output: bool = True, max_age: float | None = None):
        import math

        from sdrkit.dsp.framing import Framer
        from sdrkit.errors import ConfigError

        if int(batch) != batch or batch < 1 or int(max_queue) != max_queue or max_queue < 1:
            raise ConfigError(f"batch {batch!r} and max_queue {max_queue!r} must be integers >= 1 (frames)")
        if max_age is not None and not (isinstance(max_age, (int, float)) and math.isfinite(max_age) and max_age > 0):
            raise ConfigError(f"max_age {max_age!r} must be a finite number of seconds > 0 (or None: no limit)")
        predictors = list(predictor) if isinstance(predictor, (list, tuple)) else [predictor]
        if not predictors:
            raise ConfigError("no predictor given: pass a predictor, or a list of one per inference thread")
        if len({id(p) for p in predictors}) != len(predictors):
            raise ConfigError(f"the same predictor object is listed more than once in {len(predictors)} predictors: "
                              f"each inference thread needs its own (build one per thread with the same card "
                              f"and options)")
        self.radio, self.predictor, self.predictors = radio, predictors[0], predictors
        self.framer = framer if isinstance(framer, Framer) else Framer(int(framer), channels=(0,))
        self.batch, self.max_queue, self.max_age = int(batch), int(max_queue), max_age
        self.sinks = list(sinks)
        if check_output:
            for p in predictors:
                if getattr(p, "card", None) is None:
                    raise ConfigError(f"predictor {type(p).__name__} has no 'card': its output cannot be checked; "
                                      f"give it the model card it runs (or pass check_output=False)")
        self.check_output = check_output
        self.stats = PipelineStats(workers=len(predictors))
        # frame queue: chunks [starts (k,) int64, frames (k, C, N), t_radio], oldest first; _qn frames in all
        self._q: collections.deque = collections.deque()
        self._qn = 0
        self._cv = threading.Condition()
        self._out = threading.Lock()             # stats of finished batches, sinks' on_batch
        self._done: dict = {}                    # batch number -> finished batch waiting for its turn
        self._taken = 0                          # batches taken from the queue
        self._delivered = 0                      # batches handed to the sinks
        self._stop = threading.Event()
        self._source_done = threading.Event()
        self.error: BaseException | None = None
        self.cpu_seconds: dict = {}              # thread name -> CPU seconds it used in the last run

    @property
    def queued(self) -> int:
        return self._qn

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
                    self._q.append([starts, frames, t])
                    self._qn += k
                    st.frames_in += k
                    over = self._qn - self.max_queue
                    if over > 0:
                        self._drop_oldest(over)
                        st.frames_skipped += over
                    st.queue_peak = max(st.queue_peak, self._qn)
                    self._cv.notify()
        except BaseException as exc:  # surfaced by run()
            self.error = self.error or exc
            self._stop.set()
        finally:
            st.samples_unframed = fr.buffered
            self._source_done.set()
            with self._cv:
                self._cv.notify_all()
            self.cpu_seconds[threading.current_thread().name] = time.thread_time()

    def _drop_oldest(self, n: int) -> None:
        """Remove the ``n`` oldest queued frames (caller holds ``_cv``)."""
        q = self._q
        while n > 0:
            c = q[0]
            k = len(c[0])
            if k <= n:
                q.popleft()
                n -= k
                self._qn -= k
            else:
                c[0], c[1] = c[0][n:], c[1][n:]
                self._qn -= n
                n = 0

    def _take(self) -> list | None:
        """Up to ``batch`` of the oldest frames (caller holds ``_cv``), as a list of (starts, frames,
        t_radio) slices of the queue's chunks (joined by :func:`_join` outside the lock)."""
        q, want = self._q, self.batch
        if self.max_age is not None:
            old = time.monotonic() - self.max_age
            stale = 0
            while q and q[0][2] < old:
                stale += len(q[0][0])
                self._qn -= len(q[0][0])
                q.popleft()
            if stale:
                self.stats.frames_stale += stale
                self.stats.frames_skipped += stale
        if not q:
            return None
        parts = []
        while q and want > 0:
            c = q[0]
            k = len(c[0])
            if k <= want:
                q.popleft()
                parts.append((c[0], c[1], c[2]))
                want -= k
                self._qn -= k
            else:
                parts.append((c[0][:want], c[1][:want], c[2]))
                c[0], c[1] = c[0][want:], c[1][want:]
                self._qn -= want
                want = 0
        return parts

    # ---- inference ------------------------------------------------------------------------------
    def _inference(self, predictor) -> None:
        from sdrkit.sinks.base import PredictionBatch

        st = self.stats
        first = True
        try:
            while not self._stop.is_set():
                with self._cv:
                    got = None
                    while got is None:
                        got = self._take()
                        if got is None:
                            if self._source_done.is_set() or self._stop.is_set():
                                return
                            self._cv.wait(0.1)
                    number = self._taken
                    self._taken += 1
                starts, frames, t_radio = _join(got)
                t0 = time.perf_counter()
                pred = predictor.predict(frames)
                dt = time.perf_counter() - t0
                if first and self.check_output:
                    check_prediction(predictor.card, pred, len(starts), getattr(predictor, "classes", None))
                first = False
                lat = time.monotonic() - t_radio
                with self._out:
                    st.model_seconds += dt
                    self._done[number] = PredictionBatch(starts, pred, lat, self.framer.frame_len)
                    while self._delivered in self._done:       # stream order, whoever finished first
                        batch = self._done.pop(self._delivered)
                        self._delivered += 1
                        p = batch.prediction
                        st.batches += 1
                        st.frames_analyzed += p.n
                        for key, v in p.stats.items():
                            st.counters[key] = st.counters.get(key, 0) + v
                        st.latencies.extend(batch.latencies.tolist())
                        for s in self.sinks:
                            s.on_batch(batch)
        except BaseException as exc:
            self.error = self.error or exc
            self._stop.set()
            with self._cv:
                self._cv.notify_all()
        finally:
            self.cpu_seconds[threading.current_thread().name] = time.thread_time()

    def run(self, seconds: float | None = None, frames: int | None = None) -> PipelineStats:
        """Run until ``seconds`` pass, ``frames`` frames arrived, or the source ends; then close the sinks.

        Returns:
            the run's :class:`PipelineStats`; ``self.summary`` holds the sinks' summary lines and
            ``self.cpu_seconds`` the CPU seconds of each thread.
        """
        for p in self.predictors:
            if hasattr(p, "reset"):
                p.reset()                        # a new stream: forget state from the last one
        t0 = time.perf_counter()
        t_end = None if seconds is None else t0 + seconds

        def until(st):
            return (t_end is not None and time.perf_counter() >= t_end) or (frames is not None and st.frames_in >= frames)

        src = threading.Thread(target=self._source, args=(until,), name="sdrkit-source", daemon=True)
        n = len(self.predictors)
        infs = [threading.Thread(target=self._inference, args=(p,), daemon=True,
                                 name="sdrkit-inference" if n == 1 else f"sdrkit-inference-{i}")
                for i, p in enumerate(self.predictors)]
        src.start()
        for t in infs:
            t.start()
        try:
            src.join()
            for t in infs:
                t.join()
        except KeyboardInterrupt:
            self._stop.set()
            with self._cv:
                self._cv.notify_all()
            src.join()
            for t in infs:
                t.join()
        finally:
            self.stats.seconds = time.perf_counter() - t0
            self.summary = []
            for s in self.sinks:
                self.summary.extend(s.close(self.stats))
        if self.error is not None:
            raise self.error
        return self.stats
