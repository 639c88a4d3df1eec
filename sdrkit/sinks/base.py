"""The sink contract and the batch of predictions sinks receive."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PredictionBatch:
    """Predictions for ``len(starts)`` frames.

    Attributes:
        starts: absolute stream index of each frame's first sample, (k,) int.
        prediction: the :class:`sdrkit.runtime.predict.Prediction` for those frames.
        latencies: seconds from the frame's block leaving the radio to its prediction, (k,).
        frame_len: samples per frame.
    """

    starts: np.ndarray
    prediction: object
    latencies: np.ndarray
    frame_len: int


class Sink:
    """Base sink: every hook does nothing; a sink overrides the ones it needs."""

    def on_block(self, block) -> None:
        """Every radio block (source thread)."""

    def on_batch(self, batch: PredictionBatch) -> None:
        """Every batch of predictions (inference thread)."""

    def on_timeout(self, error) -> None:
        """The radio delivered nothing in time (source thread); the run goes on."""

    def close(self, stats) -> list[str]:
        """End of the run; returns summary lines."""
        return []


def frame_records(batch: PredictionBatch, max_values: int = 16):
    """One dict per frame: start, label and probability (with classes), small named outputs.

    Named outputs with more than ``max_values`` values per frame (masks, forecasts) are
    summarized by their shape, not written out; complex values are written as ``[re, im]``.
    """
    p = batch.prediction
    names = p.label_names()
    conf = p.confidence()
    for i, start in enumerate(batch.starts):
        rec = {"start": int(start), "latency_ms": round(float(batch.latencies[i]) * 1e3, 3)}
        if names:
            rec["pred"] = names[i]
            rec["p"] = round(float(conf[i]), 6)
        for key, v in p.outputs.items():
            vi = np.asarray(v[i])
            if vi.size > max_values:
                rec[f"{key}_shape"] = list(vi.shape)
            elif np.iscomplexobj(vi):
                rec[key] = np.stack([vi.real, vi.imag], axis=-1).tolist()     # complex as [re, im]
            else:
                rec[key] = vi.tolist()
        yield rec
