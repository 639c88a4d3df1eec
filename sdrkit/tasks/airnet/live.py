"""AirNet live: the (received) student behind the generic predictor contract."""

from __future__ import annotations

import time

import numpy as np

from sdrkit.errors import ModelInputMismatch
from sdrkit.runtime.predict import Prediction, softmax


class StudentPredictor:
    """``predict(frames (B, 1, N) or (B, N) complex64) -> Prediction`` from the card's ``full`` graph."""

    note = ""

    def __init__(self, card, threads: int = 1):
        from sdrkit.runtime.session import card_session

        self.card = card
        self.classes = tuple(card.classes)
        self.session = card_session(card, "full", threads=threads)
        self.input = self.session.get_inputs()[0].name

    def reset(self) -> None:
        pass

    def predict(self, frames: np.ndarray) -> Prediction:
        from sdrkit.dsp.framing import to_model_input

        f = np.asarray(frames)
        if f.ndim == 3 and f.shape[1] != 1:
            raise ModelInputMismatch(f"frames with {f.shape[1]} channels do not match model {self.card.name!r} "
                                     f"(1 channel, card {self.card.path})")
        t0 = time.perf_counter()
        logits = self.session.run(None, {self.input: to_model_input(f)})[0]
        p = softmax(logits)
        return Prediction(n=len(f), classes=self.classes, labels=p.argmax(1), probs=p,
                          seconds=time.perf_counter() - t0)
