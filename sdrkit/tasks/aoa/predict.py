"""Live AoA predictors: the network (onnxruntime) and the classical estimators (MUSIC 2-D,
unitary ESPRIT 2-D) behind the same contract.

``predict(frames)`` takes complex ``(B, E, N)`` frames and returns a Prediction whose
``outputs["angles"]`` is ``(B, 2)`` degrees (azimuth, elevation). So that the live terminal
view and the replay scoring can show something readable, each frame also gets the coarse
direction cell of its estimate as a label (``az+20_el-40``: 20-degree cells, see
:func:`sdrkit.tasks.aoa.cell_names`); its probability is 1 (a regression has no class
posterior). A calibration file (:mod:`sdrkit.tasks.aoa.calibration`) multiplies each channel by
its correction before the model.
"""

from __future__ import annotations

import time

import numpy as np

from sdrkit.errors import ModelError, ModelInputMismatch
from sdrkit.runtime.predict import Prediction
from sdrkit.tasks.aoa import cell_index, cell_names

CLASSICAL = ("music_2d", "esprit_2d")


def classical_estimator(card):
    """The MUSIC / ESPRIT object a classical card describes."""
    from sdrkit.dsp.array import ArrayGeometry
    from sdrkit.dsp.doa import Music2D, UnitaryEsprit2D

    kw = dict(card.architecture.get("kwargs") or {})
    geo = ArrayGeometry(**card.extra.get("array", {"rows": 2, "cols": 2, "spacing": 0.5}))
    if card.architecture.get("name") == "music_2d":
        return Music2D(geo, sources=1, span_deg=float(kw.get("span_deg", 60.0)),
                       grid_deg=float(kw.get("grid_deg", 2.0)), refine=int(kw.get("refine", 3)))
    return UnitaryEsprit2D(geo, sources=1)


class AnglePredictor:
    """Angles from a card: its ``full`` ONNX graph, or MUSIC/ESPRIT for a classical card.

    Args:
        card: an ``aoa`` card (output kind ``angles``).
        calibration: an :class:`~sdrkit.tasks.aoa.calibration.ArrayCalibration`, a path to one, or None.
        threads: onnxruntime intra-op threads.

    Raises:
        ModelError: a card of another task or output kind, or a calibration for other channels.
    """

    def __init__(self, card, calibration=None, threads: int = 1):
        from sdrkit.tasks.aoa.calibration import ArrayCalibration, load_array_calibration

        if card.task != "aoa" or card.output.kind != "angles":
            raise ModelError(f"model card {card.path}: task {card.task!r} output {card.output.kind!r}; the aoa "
                             f"predictor runs aoa cards with output kind 'angles'")
        self.card = card
        self.channels = card.input.channels
        self.cal = None
        if calibration is not None:
            self.cal = calibration if isinstance(calibration, ArrayCalibration) else \
                load_array_calibration(calibration, channels=self.channels)
        self.classical = card.architecture.get("name") in CLASSICAL
        if self.classical:
            self.est = classical_estimator(card)
        else:
            from sdrkit.runtime.session import card_session

            self.sess = card_session(card, "full", threads=threads)
        self.classes = cell_names()
        how = card.architecture.get("name", "?")
        self.note = f"{card.name} ({how})" + (f", calibration {self.cal.path} ({self.cal.front_end}, "
                                               f"{self.cal.shots} shots, {self.cal.date})" if self.cal else "")

    def reset(self) -> None:
        pass

    def angles(self, frames: np.ndarray) -> np.ndarray:
        """(B, 2) degrees for complex (B, E, N) frames (calibration applied)."""
        f = np.asarray(frames)
        if f.ndim != 3 or f.shape[1] != self.channels:
            raise ModelInputMismatch(f"frames of shape {f.shape} do not match model {self.card.name!r}, which takes "
                                     f"{self.channels} channels of {self.card.input.frame_len} samples "
                                     f"(card {self.card.path})")
        if self.cal is not None:
            f = self.cal.apply(f)
        if self.classical:
            az, el = self.est(f)
            return np.stack([az[:, 0], el[:, 0]], axis=1).astype(np.float32)
        from sdrkit.dsp.framing import to_model_input

        return self.sess.run(None, {"x": to_model_input(f)})[0].astype(np.float32)

    def predict(self, frames: np.ndarray) -> Prediction:
        t0 = time.perf_counter()
        a = self.angles(frames)
        n = len(a)
        labels = cell_index(a[:, 0], a[:, 1])
        probs = np.zeros((n, len(self.classes)), np.float32)
        probs[np.arange(n), labels] = 1.0
        return Prediction(n=n, classes=self.classes, labels=labels, probs=probs, outputs={"angles": a},
                          seconds=time.perf_counter() - t0)
