"""The terminal view is a small panel (issue 20): the prediction, a rolling tally per class, stream health."""

import io

import numpy as np

from sdrkit.runtime.predict import Prediction
from sdrkit.sinks import TerminalView
from sdrkit.sinks.base import PredictionBatch
from sdrkit.stream.pipeline import PipelineStats


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _batch(labels, classes=("qpsk", "bpsk", "fm")):
    labels = np.asarray(labels)
    return PredictionBatch(np.arange(len(labels)) * 1024,
                           Prediction(n=len(labels), classes=classes, labels=labels, probs=np.eye(3)[labels],
                                      stats={"exited": 2}),
                           np.full(len(labels), 0.012), 1024)


def test_panel_shows_tally_and_health_and_redraws_in_place():
    st = PipelineStats(samples_in=1_000_000, samples_lost=4096, frames_in=8, frames_analyzed=8,
                       counters={"exited": 6})
    out = _Tty()
    v = TerminalView(st, stream=out, queue=lambda: 3, nominal=1e6)
    v.panel.interval = 0
    v.on_batch(_batch([0, 0, 0, 1]))
    v.on_batch(_batch([0, 0, 2, 0]))
    lines = v.render(_batch([0]))
    assert "now: qpsk" in lines[0] and "p=1.00" in lines[0]
    assert lines[1].strip().startswith("tally") and "qpsk" in lines[1] and "75%" in lines[1] and "bpsk" in lines[1]
    assert "MS/s (nominal 1)" in lines[2] and "lost 4096" in lines[2] and "queue 3" in lines[2]
    assert "latency 12.0 ms" in lines[2] and "exited 75.0%" in lines[2]
    text = out.getvalue()
    assert "\x1b[3F" in text                 # the second draw moved up over the first: a panel, not a scroll


def test_panel_off_a_terminal_writes_one_line_per_update():
    out = io.StringIO()
    v = TerminalView(PipelineStats(), stream=out)
    v.on_batch(_batch([1, 1]))
    v.close(None)
    assert "\x1b[" not in out.getvalue() and "tally" in out.getvalue()
