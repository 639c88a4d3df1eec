"""AMC live: the entropy-gated classifier behind the generic predictor contract."""

from __future__ import annotations

import time

import numpy as np

from sdrkit.errors import ConfigError, ModelInputMismatch
from sdrkit.runtime.predict import Prediction

#: front ends the live path can run before the classifier (:mod:`sdrkit.dsp.frontend`)
FRONT_ENDS = {"cfo": False, "cfo-refine": True}      # name -> correct_cfo(refine=...)


class AmcPredictor:
    """``predict(frames (B, 1, N) or (B, N) complex64) -> Prediction`` with ``outputs["exited"]``.

    ``stats["exited"]`` counts the frames that left at the early exit, so the pipeline reports
    the early-exit fraction. The gating policy is ``adaptive`` when the card has the single
    backbone graph, else ``always`` (stated in :attr:`note`).

    Args:
        front_end: None (default), ``"cfo"`` or ``"cfo-refine"``: remove each frame's blind carrier
            offset estimate (:func:`sdrkit.dsp.frontend.correct_cfo`) before the classifier, for a
            receiver whose raw offset exceeds the card's envelope. Its time is kept apart from the
            model's (:attr:`front_end_seconds`; its CPU time: :attr:`front_end_cpu_seconds`).
    """

    def __init__(self, card, threshold: float | None = None, threads: int = 1, front_end: str | None = None):
        from sdrkit.tasks.amc.gated import GatedClassifier

        policy = "adaptive" if "full" in card.files else "always"
        self.note = "" if policy == "adaptive" else \
            f"card {card.path} has no 'full' graph: every batch is gated (policy 'always')"
        self.clf = GatedClassifier(card, threshold=threshold, threads=threads, policy=policy)
        self.card = self.clf.card
        self.classes = self.clf.classes
        self.front_end = None
        self.front_end_seconds = 0.0             # wall time in the front end
        self.front_end_cpu_seconds = 0.0         # its CPU time (this thread's), what a loaded box does not change
        self.set_front_end(front_end)

    def set_front_end(self, front_end: str | None) -> None:
        """Choose the front end run before the classifier (see the class docstring).

        Raises:
            ConfigError: an unknown name.
        """
        if front_end in ("none", ""):
            front_end = None
        if front_end is not None and front_end not in FRONT_ENDS:
            raise ConfigError(f"AMC front end {front_end!r} is not one of {', '.join(['none', *FRONT_ENDS])}; "
                              f"pass one of them (none / None: the raw frames)")
        if front_end and FRONT_ENDS[front_end]:
            import scipy.fft  # noqa: F401  (refine imports it on its first call: keep that out of the frame time)
        self.front_end = front_end
        self.note = "; ".join(p for p in self.note.split("; ") if p and not p.startswith("corrector "))
        if front_end:
            self.note = "; ".join(filter(None, [self.note, f"corrector {front_end}: blind CFO correction before "
                                                            f"the classifier"]))

    def reset(self) -> None:
        self.clf.reset()

    def predict(self, frames: np.ndarray) -> Prediction:
        f = np.asarray(frames)
        if f.ndim == 3:
            if f.shape[1] != 1:
                raise ModelInputMismatch(f"frames with {f.shape[1]} channels do not match model {self.card.name!r} "
                                         f"(1 channel, card {self.card.path})")
            f = f[:, 0]
        if self.front_end and len(f):
            from sdrkit.dsp.frontend import correct_cfo

            t0, c0 = time.perf_counter(), time.thread_time()
            f = correct_cfo(f, fs=self.card.input.sample_rate, refine=FRONT_ENDS[self.front_end])
            self.front_end_seconds += time.perf_counter() - t0
            self.front_end_cpu_seconds += time.thread_time() - c0
        r = self.clf.predict(f)
        return Prediction(n=len(f), classes=self.clf.classes, labels=r.pred, probs=r.prob,
                          outputs={"exited": r.exited}, stats={"exited": int(np.sum(r.exited))}, seconds=r.seconds)
