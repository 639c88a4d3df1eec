"""AMC live: the entropy-gated classifier behind the generic predictor contract."""

from __future__ import annotations

import numpy as np

from sdrkit.errors import ModelInputMismatch
from sdrkit.runtime.predict import Prediction


class AmcPredictor:
    """``predict(frames (B, 1, N) or (B, N) complex64) -> Prediction`` with ``outputs["exited"]``.

    ``stats["exited"]`` counts the frames that left at the early exit, so the pipeline reports
    the early-exit fraction. The gating policy is ``adaptive`` when the card has the single
    backbone graph, else ``always`` (stated in :attr:`note`).
    """

    def __init__(self, card, threshold: float | None = None, threads: int = 1):
        from sdrkit.tasks.amc.gated import GatedClassifier

        policy = "adaptive" if "full" in card.files else "always"
        self.note = "" if policy == "adaptive" else \
            f"card {card.path} has no 'full' graph: every batch is gated (policy 'always')"
        self.clf = GatedClassifier(card, threshold=threshold, threads=threads, policy=policy)
        self.card = self.clf.card
        self.classes = self.clf.classes

    def reset(self) -> None:
        self.clf.reset()

    def predict(self, frames: np.ndarray) -> Prediction:
        f = np.asarray(frames)
        if f.ndim == 3:
            if f.shape[1] != 1:
                raise ModelInputMismatch(f"frames with {f.shape[1]} channels do not match model {self.card.name!r} "
                                         f"(1 channel, card {self.card.path})")
            f = f[:, 0]
        r = self.clf.predict(f)
        return Prediction(n=len(f), classes=self.clf.classes, labels=r.pred, probs=r.prob,
                          outputs={"exited": r.exited}, stats={"exited": int(np.sum(r.exited))}, seconds=r.seconds)
