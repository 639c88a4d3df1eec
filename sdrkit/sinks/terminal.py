"""The live terminal views: :class:`StatusLine` (one line, for stream verbs) and :class:`TerminalView`
(a small panel for live classification: class tally, stream health), refreshed a few times a second."""

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


class Panel:
    """A few live lines on a terminal, redrawn in place (cursor up, clear); when not a tty,
    the lines are written as one line every few seconds."""

    def __init__(self, stream=None, interval: float = 0.25):
        self.stream, self.interval = stream or sys.stderr, interval
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if not self.tty:
            self.interval = max(interval, 2.0)
        self._last = 0.0
        self._drawn = 0

    def update(self, lines: list[str], force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "".join("\x1b[2K" + line + "\n" for line in lines))
            self._drawn = len(lines)
        else:
            self.stream.write("  |  ".join(line.strip() for line in lines) + "\n")
        self.stream.flush()


def _bar(frac: float, width: int = 12) -> str:
    full = int(round(max(0.0, min(1.0, frac)) * width))
    return "#" * full + "." * (width - full)


class TerminalView(Sink):
    """The live terminal panel: the prediction now, a rolling tally per class, stream health.

    ::

        sdrkit live  12.3 s   now: qpsk     (newest frame p=0.97)   acc 91.2% (500 frames)
          tally   qpsk      ##########..  82%   am-dsb    ##..........  12%   fm  #...  6%
          stream  1.00 MS/s (nominal 1)  lost 0  queue 3  latency 12.1 ms  analyzed 100.0%  exited 71.9%

    Args:
        stats: the pipeline's live :class:`~sdrkit.stream.pipeline.PipelineStats`.
        score: an optional :class:`~sdrkit.sinks.ScoreSink` whose rolling accuracy is shown.
        extra: a callable returning extra text (e.g. the front end in use).
        queue: a callable returning the frames queued now.
        nominal: the radio's sample rate, samples/s (shown beside the measured one).
        window: frames in the rolling tally.
    """

    def __init__(self, stats, score=None, extra=None, stream=None, queue=None, nominal: float | None = None,
                 window: int = 200):
        self.stats, self.score, self.extra, self.queue, self.nominal = stats, score, extra, queue, nominal
        self.panel = Panel(stream)
        self.recent = collections.deque(maxlen=window)
        self.t0 = time.perf_counter()
        self.lines: list[str] = []

    def render(self, batch: PredictionBatch | None = None) -> list[str]:
        """The panel's lines now."""
        st = self.stats
        el = max(time.perf_counter() - self.t0, 1e-9)
        head = f"sdrkit live {el:6.1f} s"
        tally = collections.Counter(self.recent)
        if tally:
            head += f"   now: {tally.most_common(1)[0][0]:10s}"
        if batch is not None:
            conf = batch.prediction.confidence()
            names = batch.prediction.label_names()
            if names and conf is not None:
                head += f"(newest frame p={float(conf[-1]):.2f})"
        if self.score is not None and self.score.scored:
            r = self.score.rolling()
            head += f"   acc {r['accuracy']:.1%} (last {r['frames']} frames)"
        if self.extra is not None:
            head += f"   {self.extra()}"
        lines = [head]
        if tally:
            tot = sum(tally.values())
            lines.append("  tally   " + "   ".join(f"{k:9s} {_bar(v / tot)} {v / tot:4.0%}"
                                                   for k, v in tally.most_common(4))
                         + (f"   (+{len(tally) - 4} more)" if len(tally) > 4 else ""))
        health = f"  stream  {st.samples_in / el / 1e6:.2f} MS/s"
        if self.nominal:
            health += f" (nominal {self.nominal / 1e6:g})"
        health += f"  lost {st.samples_lost}"
        if self.queue is not None:
            health += f"  queue {self.queue()}"
        if batch is not None and len(batch.latencies):
            health += f"  latency {np.median(batch.latencies) * 1e3:.1f} ms"
        health += f"  {st.frames_analyzed / el:.0f} frames/s  analyzed {st.analyzed_fraction:.1%}"
        for key in st.counters:
            health += f"  {key} {st.fraction(key):.1%}"
        if st.timeouts:
            health += f"  timeouts {st.timeouts}"
        lines.append(health)
        return lines

    def on_batch(self, batch: PredictionBatch) -> None:
        self.recent.extend(batch.prediction.label_names())
        self.lines = self.render(batch)
        self.last = "  ".join(line.strip() for line in self.lines)
        self.panel.update(self.lines)

    last = ""

    def close(self, stats) -> list[str]:
        if self.lines:
            self.panel.update(self.lines, force=True)
        return []
