"""The live terminal view: one status line, refreshed a few times a second."""

from __future__ import annotations

import collections
import sys
import time

import numpy as np

from sdrkit.sinks.base import PredictionBatch, Sink


class StatusLine:
    """A one-line live status on a terminal (or a line every few seconds when not a tty)."""

    def __init__(self, stream=None, interval: float = 0.25):
        self.stream, self.interval = stream or sys.stderr, interval
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        if not self.tty:
            self.interval = max(interval, 2.0)

    def update(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, text: str | None = None) -> None:
        if text is not None:
            self.update(text, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class TerminalView(Sink):
    """Rolling prediction, frames/s, analyzed share, per-task counters, latency, losses.

    Args:
        stats: the pipeline's live :class:`~sdrkit.stream.pipeline.PipelineStats`.
        score: an optional :class:`~sdrkit.sinks.ScoreSink` whose running accuracy is shown.
        extra: a callable returning extra text for the line (e.g. the front end in use).
    """

    def __init__(self, stats, score=None, extra=None, stream=None):
        self.stats, self.score, self.extra = stats, score, extra
        self.line = StatusLine(stream)
        self.recent = collections.deque(maxlen=16)
        self.t0 = time.perf_counter()

    def on_batch(self, batch: PredictionBatch) -> None:
        st = self.stats
        self.recent.extend(batch.prediction.label_names())
        el = max(time.perf_counter() - self.t0, 1e-9)
        parts = [f"{el:5.1f}s"]
        if self.recent:
            parts.append(f"now: {collections.Counter(self.recent).most_common(1)[0][0]:8s} |")
        parts.append(f"{st.frames_analyzed / el:6.0f} frames/s  analyzed {st.analyzed_fraction:5.1%}")
        for key, v in st.counters.items():
            parts.append(f"{key} {v / max(st.frames_analyzed, 1):5.1%}")
        parts.append(f"latency (last batch) {np.median(batch.latencies) * 1e3:5.1f} ms  lost {st.samples_lost}")
        if st.timeouts:
            parts.append(f"timeouts {st.timeouts}")
        if self.score is not None and self.score.scored:
            parts.append(f"acc {self.score.accuracy:.1%}")
        if self.extra is not None:
            parts.append(str(self.extra()))
        self.last = "  ".join(parts)
        self.line.update(self.last)

    last = ""

    def close(self, stats) -> list[str]:
        self.line.close(self.last or None)
        return []
