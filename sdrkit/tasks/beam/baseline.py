"""The classical baseline: nearest centroid on the channel estimated from the known preamble.

For each ``period``-sample window of a frame the receiver correlates with the known preamble
(circular matched filter, the channel impulse response seen through the TX beam) and takes
the power of its DFT, ``|H_w(f)|^2`` on the preamble's occupied bins; the windows are summed
(non-coherently, so CFO and phase noise between windows do not cancel it); the feature is the
log of the unit-norm profile (the start phase drops out, a circular timing shift does not
change a power spectrum) and 3 x the frame's log10 level (a beam pointing away from the
clusters arrives weaker). The template of a beam is the mean feature of its k labelled shots;
a frame goes to the nearest template (Euclidean).

:class:`TemplatePredictor` serves it behind the same predictor contract as the learned
encoder (a calibration whose ``encoder.kind`` is ``preamble-template``).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

TEMPLATE_KIND = "preamble-template"


def occupied_bins(pre: np.ndarray, rel: float = 0.05) -> np.ndarray:
    """Indices of the DFT bins where the preamble has more than ``rel`` of its peak power."""
    S = np.abs(np.fft.fft(pre)) ** 2
    return np.flatnonzero(S > rel * S.max())


def template_features(frames: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """complex (n, L) frames -> float32 (n, bins + 1): log of the unit-norm channel power profile
    per occupied bin, and 3 x the frame's log10 level (the same numbers as the channel-estimate
    encoder's ``channel_estimate``)."""
    x = np.asarray(frames)
    if x.ndim == 3:
        x = x[:, 0]
    P = len(pre)
    n, L = x.shape
    R = (L // P)
    w = x[:, : R * P].reshape(n, R, P)
    Sp = np.fft.fft(pre)
    bins = occupied_bins(pre)
    Hw = np.fft.fft(w, axis=2)[:, :, bins] * np.conj(Sp[bins])[None, None, :]   # matched filter, per window
    prof = (np.abs(Hw) ** 2).sum(1)
    prof = prof / np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-30)
    level = np.log10(np.mean(np.abs(x) ** 2, axis=1) + 1e-12)
    return np.concatenate([np.log(prof + 1e-4), 3.0 * level[:, None]], axis=1).astype(np.float32)


def preamble_sha256(pre: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(pre, np.complex64).tobytes()).hexdigest()


class TemplatePredictor:
    """Live nearest-template classification from a ``preamble-template`` calibration."""

    def __init__(self, card, calibration):
        from sdrkit.errors import ModelError
        from sdrkit.runtime.calibration import excluded_ranges
        from sdrkit.tasks.beam.sim import preamble, spec_from_card

        self.cal = calibration
        spec = spec_from_card(card)
        self.exclude_ranges = excluded_ranges(calibration)
        self.pre = preamble(spec)
        if preamble_sha256(self.pre) != calibration.encoder.get("sha256"):
            raise ModelError(f"calibration {calibration.path} was made with another preamble (sha256 "
                             f"{str(calibration.encoder.get('sha256'))[:12]}...); re-run 'sdrkit calibrate beam "
                             f"--method template' for this model's waveform")
        self.card = card
        self.head = calibration.head()
        self.note = (f"classical baseline: nearest preamble template of {len(self.head.classes)} classes, calibration "
                     f"{calibration.path or '(unsaved)'} (front end {calibration.front_end!r}, {calibration.shots} shots)")

    @property
    def classes(self) -> tuple:
        return self.head.classes

    def reset(self) -> None:
        pass

    def predict(self, frames):
        from sdrkit.runtime.predict import Prediction, softmax

        t0 = time.perf_counter()
        logits = self.head.logits(template_features(np.asarray(frames), self.pre))
        return Prediction(n=len(logits), classes=self.head.classes, labels=np.argmax(logits, axis=1),
                          probs=softmax(logits * 50.0), seconds=time.perf_counter() - t0)
