"""The live spectrum predictor: I/Q frames -> sentences -> ONNX -> a mask, a forecast or a reconstruction.

For a ``mask`` card each frame's output is ``(rows, bins)`` uint8 class indices (the card's
``extra.mask_classes``); the prediction also carries ``regions``: per frame, the labelled
rectangles of the mask (:func:`sdrkit.dsp.masks.boxes_from_mask`, sample offsets within the
frame, Hz from the centre), which ``--record`` writes as SigMF annotations with
``core:freq_lower_edge``/``core:freq_upper_edge``. ``stats`` hold per-label occupancy (the
fraction of the frame's time-frequency pixels of each label, summed over the batch), so the
live view and the summary show each label's mean occupancy of the band. A mask prediction also
carries ``power_db``, the sentences' power in dB before normalization (what the waterfall of
:mod:`sdrkit.tasks.spectrum.waterfall` draws; the model's input is ``normalize(power_db)``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from sdrkit.dsp.masks import Grid, boxes_from_mask
from sdrkit.runtime.predict import Prediction


@dataclass
class SpectrumPrediction(Prediction):
    """A :class:`Prediction` with ``regions``: per frame, a list of :class:`sdrkit.dsp.masks.Box`;
    and ``power_db``: the frames' sentences in dB, ``(n, rows, nfft)`` float32 (not an output: sinks
    that write outputs do not see it)."""

    regions: list = field(default_factory=list)
    power_db: np.ndarray | None = None


def frames_to_power(frames: np.ndarray, grid: Grid, rows: int) -> np.ndarray:
    """Complex ``(B, C, N)`` (channel 0 used) -> sentence power ``(B, rows, nfft)`` in dB, float32."""
    from sdrkit.dsp.spectrogram import spectrogram

    x = np.ascontiguousarray(frames[:, 0, : rows * grid.row_samples]).reshape(-1)
    s = spectrogram(x, grid.nfft, grid.nfft)
    lin = np.power(np.float32(10.0), s * np.float32(0.1)).reshape(len(frames), rows, grid.average, grid.nfft)
    return np.float32(10.0) * np.log10(np.maximum(lin.mean(axis=2), np.float32(1e-30)))


def frames_to_sentences(frames: np.ndarray, grid: Grid, rows: int) -> np.ndarray:
    """Complex ``(B, C, N)`` (channel 0 used) -> normalized sentences ``(B, 1, rows, nfft)`` float32."""
    from sdrkit.tasks.spectrum.data import normalize

    return normalize(frames_to_power(frames, grid, rows))[:, None]


class SpectrumPredictor:
    """Runs a spectrum card (segment, forecast or backbone reconstruction) on frames."""

    def __init__(self, card, threads: int = 1):
        from sdrkit.runtime.session import onnx_session

        self.card = card
        self.classes = None
        self.note = ""
        geo = card.extra.get("geometry", {})
        self.rows = int(geo.get("rows", 64))
        self.grid = Grid(int(geo.get("nfft", 64)), int(geo.get("average", 32)), card.input.sample_rate)
        self.kind = card.output.kind
        self.mask_classes = tuple(card.extra.get("mask_classes", ()))
        self.session = onnx_session(card.file("model"), threads)
        self.input_name = self.session.get_inputs()[0].name

    def reset(self) -> None:
        pass

    def waterfall_options(self, path, every=None, forecast=None):
        """``classify --waterfall PATH --waterfall-every S --forecast CARD``, checked against this card
        (:func:`sdrkit.tasks.spectrum.waterfall.waterfall_options`; raises ConfigError)."""
        from sdrkit.tasks.spectrum.waterfall import waterfall_options

        return waterfall_options(self.card, path, every, forecast)

    def waterfall_sink(self, options, center_hz: float, sample_rate: float, stats=None, title: str = ""):
        """The :class:`~sdrkit.tasks.spectrum.waterfall.WaterfallSink` drawing this predictor's masks."""
        from sdrkit.tasks.spectrum.waterfall import WaterfallSink

        return WaterfallSink(options, self.card, center_hz, sample_rate, stats, title=title)

    def predict(self, frames: np.ndarray) -> Prediction:
        from sdrkit.tasks.spectrum.data import normalize

        t0 = time.perf_counter()
        p = frames_to_power(frames, self.grid, self.rows)
        x = normalize(p)[:, None]
        y = self.session.run(None, {self.input_name: x})[0]
        n = len(frames)
        if self.kind == "mask":
            mask = np.argmax(y, axis=1).astype(np.uint8)
            regions = [boxes_from_mask(m, self.grid, 0, self.mask_classes) for m in mask]
            px = mask[0].size
            stats = {f"{c}": float(np.sum(mask == i)) / px for i, c in enumerate(self.mask_classes) if i}
            return SpectrumPrediction(n=n, outputs={"mask": mask}, stats=stats, regions=regions,
                                      power_db=p, seconds=time.perf_counter() - t0)
        out = y[:, 0]
        key = "forecast" if self.kind == "forecast" else "reconstruction"
        occ = float(np.mean(out > 0.6)) * n                 # 6 dB above the noise-floor estimate
        return Prediction(n=n, outputs={key: out}, stats={"occupied (>6 dB)": occ}, seconds=time.perf_counter() - t0)
