"""Entropy-gated early-exit inference with onnxruntime (Algorithm 2, batched).

Per batch: run the stem graph once (features + exit logits), compute each frame's softmax
entropy at the exit, and send only the frames whose entropy exceeds ``T`` through the rest
graph, which takes the saved features. A frame never runs the stem twice, so a batch where no
frame exits costs the backbone plus only the small exit head.

Batch policy (``policy="adaptive"``, the default): even that small head is wasted when no frame
exits, as at low SNR. The runtime keeps a moving average of the fraction of frames exiting; when
it is below the break-even fraction measured at calibration (where gating stops paying for the
head and the split into two graphs), batches go straight through the single backbone graph,
with one gated probe batch every ``probe_every`` to notice when the SNR rises again. A stream's
SNR changes slowly compared with a batch, so low-SNR traffic costs the backbone (plus a probe
share) and high-SNR traffic gets the early exits. ``policy="always"`` gates every batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sdrkit.dsp.framing import to_model_input as to_input
from sdrkit.errors import ModelError
from sdrkit.runtime import load_card
from sdrkit.runtime.session import card_session
from sdrkit.runtime.predict import entropy, softmax

__all__ = ["GatedClassifier", "GatedResult", "entropy", "softmax"]


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

    def __init__(self, card, threshold: float | None = None, threads: int = 1, policy: str = "adaptive",
                 probe_every: int = 32, ema: float = 0.5):
        self.card = load_card(card) if not hasattr(card, "files") else card
        for key in ("stem", "rest"):
            self.card.file(key)
        self.stem = card_session(self.card, "stem", threads)      # shapes checked against the card
        self.rest = card_session(self.card, "rest", threads)
        self.full = card_session(self.card, "full", threads) if "full" in self.card.files else None
        t = self.card.thresholds.get("entropy") if threshold is None else threshold
        if t is None:
            raise ModelError(f"{self.card.path}: no entropy threshold; run 'sdrkit calibrate-threshold amc'")
        self.threshold = float(t)
        self.classes = self.card.classes
        if policy not in ("adaptive", "always"):
            raise ModelError(f"gating policy {policy!r} must be 'adaptive' or 'always'")
        if policy == "adaptive" and self.full is None:
            raise ModelError(f"{self.card.path}: the adaptive batch policy needs the card's 'full' (backbone) graph, "
                             f"which it does not list; re-export the model or pass policy='always'")
        self.policy, self.probe_every, self.ema = policy, int(probe_every), float(ema)
        self.break_even = float(self.card.thresholds.get("break_even_exit_fraction", 0.0))
        self.reset()

    def reset(self) -> None:
        """Forget the batch policy's state (as for a new stream)."""
        self.exit_rate = 1.0          # optimistic start: the first batch is gated
        self._batches = 0

    def predict(self, frames: np.ndarray) -> GatedResult:
        """Classify complex64 frames ``(B, frame_len)``.

        Raises:
            ModelInputMismatch: the frames are not ``frame_len`` samples long.
        """
        if frames.ndim != 2 or frames.shape[-1] != self.card.input.frame_len:
            from sdrkit.errors import ModelInputMismatch

            raise ModelInputMismatch(f"frames of shape {frames.shape} do not match model {self.card.name!r} "
                                     f"(frame_len {self.card.input.frame_len}, card {self.card.path}); frame the "
                                     f"stream in {self.card.input.frame_len}-sample frames")
        t0 = time.perf_counter()
        r = self.predict_input(to_input(frames))
        r.seconds = time.perf_counter() - t0
        return r

    def predict_input(self, x: np.ndarray) -> GatedResult:
        """Classify model input ``(B, 2, frame_len)`` float32 (see :func:`to_input`)."""
        t0 = time.perf_counter()
        self._batches += 1
        probe = self._batches % self.probe_every == 1 or self.probe_every == 1
        if self.policy == "adaptive" and self.exit_rate < self.break_even and not probe:
            prob = softmax(self.full.run(None, {"x": x})[0])
            return GatedResult(prob.argmax(axis=1), prob, np.zeros(len(x), bool), time.perf_counter() - t0)
        logits, feats = self.stem.run(None, {"x": x})
        prob = softmax(logits)
        keep = entropy(prob) > self.threshold
        if keep.any():
            rest_logits = self.rest.run(None, {"f": feats[keep]})[0]
            prob[keep] = softmax(rest_logits)
        self.exit_rate = (1 - self.ema) * self.exit_rate + self.ema * float((~keep).mean())
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
