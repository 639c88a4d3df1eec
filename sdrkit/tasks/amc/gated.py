"""Entropy-gated early-exit inference with onnxruntime (Algorithm 2, batched).

Per batch: run the stem graph once (features + exit logits), compute each frame's softmax
entropy at the exit, and send only the frames whose entropy exceeds ``T`` through the rest
graph, which takes the saved features. A frame never runs the stem twice, so a batch where no
frame exits costs the backbone plus only the small exit head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ModelError
from sdrkit.runtime import load_card, onnx_session
from sdrkit.tasks.amc.dataset import to_input


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each row of probabilities."""
    return -np.sum(p * np.log(np.maximum(p, 1e-12)), axis=1)


@dataclass
class GatedResult:
    """Predictions for one batch: class indices, probabilities, which frames exited early."""

    pred: np.ndarray
    prob: np.ndarray
    exited: np.ndarray
    seconds: float


class GatedClassifier:
    """Runs a model card's stem/rest graphs with an entropy threshold.

    Args:
        card: a ModelCard or its path.
        threshold: entropy threshold T in nats (default: the card's ``thresholds.entropy``).
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, card, threshold: float | None = None, threads: int = 1):
        self.card = load_card(card) if not hasattr(card, "files") else card
        for key in ("stem", "rest"):
            self.card.file(key)
        self.stem = onnx_session(self.card.file("stem"), threads)
        self.rest = onnx_session(self.card.file("rest"), threads)
        self.full = onnx_session(self.card.file("full"), threads) if "full" in self.card.files else None
        t = self.card.thresholds.get("entropy") if threshold is None else threshold
        if t is None:
            raise ModelError(f"{self.card.path}: no entropy threshold; run 'sdrkit calibrate-threshold amc'")
        self.threshold = float(t)
        self.classes = self.card.classes

    def predict(self, frames: np.ndarray) -> GatedResult:
        """Classify complex64 frames ``(B, frame_len)``."""
        t0 = time.perf_counter()
        x = to_input(frames)
        logits, feats = self.stem.run(None, {"x": x})
        prob = softmax(logits)
        keep = entropy(prob) > self.threshold
        if keep.any():
            rest_logits = self.rest.run(None, {"f": feats[keep]})[0]
            prob[keep] = softmax(rest_logits)
        return GatedResult(prob.argmax(axis=1), prob, ~keep, time.perf_counter() - t0)

    def predict_backbone(self, frames: np.ndarray) -> np.ndarray:
        """Backbone-only probabilities through the single full graph."""
        if self.full is None:
            raise ModelError(f"{self.card.path}: the card has no 'full' graph")
        return softmax(self.full.run(None, {"x": to_input(frames)})[0])

    def exit_and_backbone_logits(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both heads for every frame (for calibration and evaluation)."""
        x = to_input(frames)
        logits, feats = self.stem.run(None, {"x": x})
        return logits, self.rest.run(None, {"f": feats})[0]
