"""Scoring a live run against the labels of the recording a ``sim:`` radio replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdrkit.sinks.base import PredictionBatch, Sink


MAX_SNR_BINS = 16


def snr_bin(snrs) -> float:
    """0 when the labels hold at most :data:`MAX_SNR_BINS` distinct SNRs (each its own row), else the
    smallest of 1 / 2 / 5 / 10 dB that bins them into at most that many (AoA's continuous SNRs)."""
    v = np.asarray(snrs, float)
    if len(set(v.tolist())) <= MAX_SNR_BINS:
        return 0.0
    for step in (1.0, 2.0, 5.0, 10.0):
        if len(set(np.round(v / step).tolist())) <= MAX_SNR_BINS:
            return step
    return 10.0


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
        lab = [(s, s + c, l, f.get("snr_db")) for s, c, l, f in rec.labels()
               if l and l not in ("gap", "timeout") and c > 0 and not str(f.get("source", "")).startswith("prediction")]
        if not lab:
            return
        self.starts = np.array([a for a, *_ in lab])
        self.ends = np.array([b for _, b, *_ in lab])
        self.labels = [l for _, _, l, _ in lab]
        self.snrs = [None if snr is None else float(snr) for *_, snr in lab]
        self.n = rec.num_samples
        self.loop = radio.loop
        self.ok = True

    def _index(self, start: int, length: int):
        if not self.ok:
            return None
        s = start % self.n if self.loop else start
        e = s + length
        i = np.searchsorted(self.starts, s, side="right") - 1
        if i < 0 or e > self.ends[i]:
            return None
        return int(i)

    def label(self, start: int, length: int):
        """The label under ``[start, start + length)``, or None when the frame spans a boundary."""
        i = self._index(start, length)
        return None if i is None else self.labels[i]

    def lookup(self, start: int, length: int):
        """``(label, snr_db or None, position in the recording)`` under the frame, or None.

        The position is the frame's first sample within the recording (a looping replay
        delivers the same frame again at the same position).
        """
        i = self._index(start, length)
        if i is None:
            return None
        return self.labels[i], self.snrs[i], (start % self.n if self.loop else start)


class ScoreSink(Sink):
    """Accuracy of the predicted class against the recording's labels: overall, per SNR and per
    class (a table and ``score.png``), and a row-normalized confusion matrix (``confusion.png``).

    A looping replay shows the model the same frames again: the summary counts the distinct
    frames (by position in the recording) beside the frames scored.
    """

    def __init__(self, truth: Truth, classes, out_dir, window: int = 500):
        import collections

        self.truth, self.classes, self.out_dir = truth, list(classes), Path(out_dir)
        self.y_true: list[str] = []
        self.y_pred: list[str] = []
        self.snrs: list = []
        self.positions: set[int] = set()
        self.recent = collections.deque(maxlen=window)     # (correct, snr) of the last frames: rolling figures

    @property
    def scored(self) -> int:
        return len(self.y_true)

    @property
    def distinct(self) -> int:
        """Distinct frames of the recording scored (fewer than ``scored`` when the replay loops)."""
        return len(self.positions)

    @property
    def accuracy(self) -> float:
        return float(np.mean(np.array(self.y_true) == np.array(self.y_pred))) if self.y_true else float("nan")

    def rolling(self) -> dict:
        """Accuracy over the last ``window`` scored frames, overall and per SNR (for live views)."""
        items = list(self.recent)
        per: dict = {}
        for ok, snr in items:
            c = per.setdefault("n/a" if snr is None else f"{snr:g}", [0, 0])
            c[0] += ok
            c[1] += 1
        acc = float(np.mean([ok for ok, _ in items])) if items else None
        order = sorted(per, key=lambda k: (k == "n/a", float(k) if k != "n/a" else 0.0))
        return {"accuracy": acc, "frames": len(items), "scored": self.scored, "distinct": self.distinct,
                "per_snr": {k: {"accuracy": per[k][0] / per[k][1], "frames": per[k][1]} for k in order}}

    def on_batch(self, batch: PredictionBatch) -> None:
        for start, name in zip(batch.starts, batch.prediction.label_names()):
            t = self.truth.lookup(int(start), batch.frame_len)
            if t is not None:
                label, snr, pos = t
                self.y_true.append(label)
                self.y_pred.append(name)
                self.snrs.append(snr)
                self.positions.add(int(pos))
                self.recent.append((label == name, snr))

    def tables(self) -> tuple[dict, dict]:
        """({snr: (correct, frames)}, {class: (correct, frames)}) over every frame scored."""
        t, p = np.array(self.y_true), np.array(self.y_pred)
        ok = t == p
        per_snr, per_class = {}, {}
        snrs = np.array([np.nan if x is None else x for x in self.snrs], float)
        self.snr_bin_db = snr_bin(snrs[~np.isnan(snrs)])
        if self.snr_bin_db:                    # continuous SNR labels: nearest multiple of the bin
            snrs = np.round(snrs / self.snr_bin_db) * self.snr_bin_db
        for s in sorted(set(snrs[~np.isnan(snrs)].tolist())):
            m = snrs == s
            per_snr[s] = (int(ok[m].sum()), int(m.sum()))
        seen = set(self.y_true)
        for c in [c for c in self.classes if c in seen] + sorted(seen - set(self.classes)):
            m = t == c
            per_class[c] = (int(ok[m].sum()), int(m.sum()))
        return per_snr, per_class

    def close(self, stats) -> list[str]:
        if not self.y_true:
            return []
        if not set(self.y_true) & set(self.classes):
            return [f"not scored: the recording's labels {sorted(set(self.y_true))[:6]} are none of the model's "
                    f"classes"]
        from sdrkit.dsp.plot import confusion_matrix, save_confusion_png, save_score_png

        labels = self.classes + sorted(set(self.y_true) - set(self.classes))
        cm = confusion_matrix(self.y_true, self.y_pred, labels)
        frames = f"{self.scored} frames" + (f" ({self.distinct} distinct: the replay looped)"
                                            if self.distinct < self.scored else "")
        png = save_confusion_png(cm, labels, self.out_dir / "confusion.png",
                                 title=f"live classification, accuracy {self.accuracy:.1%} over {frames}\n"
                                       f"(rows normalized to the true label)",
                                 ylabel="true (annotation)")
        per_snr, per_class = self.tables()
        spng = save_score_png(per_snr, per_class, self.out_dir / "score.png",
                              title=f"live accuracy {self.accuracy:.1%} over {frames}")
        lines = [f"accuracy against the recording's labels: {self.accuracy:.1%} over {frames}; wrote {png}, {spng}"]
        if per_snr:
            binned = f" ({self.snr_bin_db:g} dB bins)" if getattr(self, "snr_bin_db", 0) else ""
            lines.append(f"  per SNR{binned}:   " + "  ".join(f"{s:g} dB {c / n:.0%} ({n})" for s, (c, n) in per_snr.items()))
        lines.append("  per class: " + "  ".join(f"{k} {c / n:.0%} ({n})" for k, (c, n) in per_class.items()))
        return lines
