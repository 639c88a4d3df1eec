"""Scoring a live run against the labels of the recording a ``sim:`` radio replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdrkit.sinks.base import PredictionBatch, Sink


class Truth:
    """Label of a frame from the replayed recording's annotations (``sim:`` radios only).

    ``ok`` is False when there is nothing to score against: not a replay, replayed at another
    rate or frequency than recorded, or no labelled annotations. Annotations that are a
    model's own predictions (``sdrkit:source`` "prediction by ...", as ``--record`` writes
    them) and markers (gaps, timeouts) are not truth.
    """

    def __init__(self, radio):
        self.ok = False
        rec = getattr(radio, "recording", None)
        if rec is None or radio.sample_rate != rec.sample_rate or radio.rx_lo != rec.center_frequency:
            return
        lab = [(s, s + c, l) for s, c, l, f in rec.labels()
               if l and l not in ("gap", "timeout") and c > 0 and not str(f.get("source", "")).startswith("prediction")]
        if not lab:
            return
        self.starts = np.array([a for a, _, _ in lab])
        self.ends = np.array([b for _, b, _ in lab])
        self.labels = [l for _, _, l in lab]
        self.n = rec.num_samples
        self.loop = radio.loop
        self.ok = True

    def label(self, start: int, length: int):
        """The label under ``[start, start + length)``, or None when the frame spans a boundary."""
        if not self.ok:
            return None
        s = start % self.n if self.loop else start
        e = s + length
        i = np.searchsorted(self.starts, s, side="right") - 1
        if i < 0 or e > self.ends[i]:
            return None
        return self.labels[i]


class ScoreSink(Sink):
    """Accuracy of the predicted class against the recording's labels, and a confusion PNG."""

    def __init__(self, truth: Truth, classes, out_dir):
        self.truth, self.classes, self.out_dir = truth, list(classes), Path(out_dir)
        self.y_true: list[str] = []
        self.y_pred: list[str] = []

    @property
    def scored(self) -> int:
        return len(self.y_true)

    @property
    def accuracy(self) -> float:
        return float(np.mean(np.array(self.y_true) == np.array(self.y_pred))) if self.y_true else float("nan")

    def on_batch(self, batch: PredictionBatch) -> None:
        for start, name in zip(batch.starts, batch.prediction.label_names()):
            t = self.truth.label(int(start), batch.frame_len)
            if t is not None:
                self.y_true.append(t)
                self.y_pred.append(name)

    def close(self, stats) -> list[str]:
        if not self.y_true:
            return []
        if not set(self.y_true) & set(self.classes):
            return [f"not scored: the recording's labels {sorted(set(self.y_true))[:6]} are none of the model's "
                    f"classes"]
        from sdrkit.dsp.plot import confusion_matrix, save_confusion_png

        labels = self.classes + sorted(set(self.y_true) - set(self.classes))
        cm = confusion_matrix(self.y_true, self.y_pred, labels)
        png = save_confusion_png(cm, labels, self.out_dir / "confusion.png",
                                 title=f"live classification, accuracy {self.accuracy:.1%}",
                                 ylabel="true (annotation)")
        return [f"accuracy against the recording's labels: {self.accuracy:.1%} over {self.scored} frames; "
                f"wrote {png}"]
