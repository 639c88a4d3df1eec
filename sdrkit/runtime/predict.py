"""What every live model returns: the generic :class:`Prediction`, the :class:`Predictor`
contract the pipeline drives, and the probability helpers tasks share.

A predictor is built by its task (``TASKS.get(card.task).predictor(card, options)``) and
called on batches of frames from :class:`sdrkit.dsp.framing.Framer`::

    pred = predictor.predict(frames)      # frames: complex64 (B, C, N) I/Q
    pred.labels, pred.probs               # tasks with classes: (B,) int, (B, n_classes) float
    pred.outputs["angles"]                # named outputs, leading dimension B
    pred.stats                            # per-batch counts the pipeline sums (amc: {"exited": 51})

:func:`check_prediction` checks a prediction against what the model card promises; the
pipeline applies it to the first batch of every run and the task contract tests to every task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sdrkit.errors import ModelError


@dataclass
class Prediction:
    """The result of one ``predict`` call on ``n`` frames.

    Attributes:
        n: frames in the batch.
        classes: class names (tasks with classes), else None.
        labels: (n,) int indices into ``classes``, else None.
        probs: (n, len(classes)) float probabilities, else None.
        outputs: named per-frame outputs (``mask``, ``forecast``, ``reconstruction``,
            ``angles``, ``bits``, ``samples``, or task-specific ones such as ``exited``),
            each an array with leading dimension ``n``.
        stats: per-batch counts and sums (e.g. ``{"exited": 51}``); the pipeline adds them up
            over the run and reports each as a total and as a fraction of the frames analyzed.
        seconds: model time of the call.
    """

    n: int
    classes: tuple | None = None
    labels: np.ndarray | None = None
    probs: np.ndarray | None = None
    outputs: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0

    def label_names(self) -> list[str]:
        """The class name of each frame (empty when the task has no classes)."""
        if self.labels is None or self.classes is None:
            return []
        return [self.classes[i] for i in self.labels]

    def confidence(self) -> np.ndarray | None:
        """Probability of the predicted class per frame (None without classes)."""
        if self.labels is None or self.probs is None:
            return None
        return self.probs[np.arange(self.n), self.labels]


@dataclass(frozen=True)
class PredictorOptions:
    """Settings a live run passes to a task's predictor; a task refuses the ones it has no use for.

    Attributes:
        threshold: a task-defined decision threshold (amc: the early-exit entropy, nats).
        calibration: a calibration file (``sdrkit calibrate``): classify by nearest prototype.
        threads: onnxruntime intra-op threads.
        corrector: a task-defined signal-processing step run on each frame before the model
            (amc: ``"cfo"`` or ``"cfo-refine"``, blind carrier-offset correction); None or ``"none"``:
            the raw frames. The names a task offers are its ``correctors``
            (:meth:`check_corrector`); a task without any refuses the option. Not the receiver
            identity that calibrations and recordings call ``front_end`` (``sdrkit:front_end``).
    """

    threshold: float | None = None
    calibration: str | None = None
    threads: int = 1
    corrector: str | None = None

    def __post_init__(self):
        import math

        from sdrkit.errors import ConfigError

        if self.threshold is not None and not (isinstance(self.threshold, (int, float))
                                               and math.isfinite(self.threshold)):
            raise ConfigError(f"threshold {self.threshold!r} must be a finite number")
        if int(self.threads) != self.threads or self.threads < 1:
            raise ConfigError(f"threads {self.threads!r} must be an integer >= 1")
        if self.corrector is not None and not isinstance(self.corrector, str):
            raise ConfigError(f"corrector {self.corrector!r} must be a name (a string) or None")
        if self.corrector is not None and self.corrector.strip().lower() in ("", "none"):
            object.__setattr__(self, "corrector", None)        # 'none' (the CLI's spelling) = no corrector

    def check_corrector(self, task: str, correctors=()) -> None:
        """Refuse a corrector that ``task`` (offering ``correctors``) does not have.

        Raises:
            ConfigError: naming the value, the task's choices and the fix.
        """
        from sdrkit.errors import ConfigError

        if self.corrector is None or self.corrector in tuple(correctors or ()):
            return
        if not correctors:
            raise ConfigError(f"corrector {self.corrector!r}: task {task!r} has no correctors (its model runs on "
                              f"the raw frames); drop --corrector (or pass --corrector none)")
        choices = ", ".join(("none", *correctors))
        raise ConfigError(f"corrector {self.corrector!r} is not one of task {task!r}'s: {choices}; "
                          f"pass --corrector with one of them (none: the raw frames; a receiver's name, as in "
                          f"synth/calibrate --front-end, belongs in the recording or the calibration, not here)")


class Predictor(Protocol):
    """The live contract: ``predict(frames) -> Prediction``; ``reset()`` before each stream.

    Attributes:
        card: the model card it runs.
        classes: the classes it predicts (the card's, or a calibration's), or None without classes.
        note: one line on how it runs, shown before a live run ("" when there is nothing to say).
    """

    card: object
    classes: tuple | None
    note: str

    def predict(self, frames: np.ndarray) -> Prediction: ...

    def reset(self) -> None: ...


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (B, C), numerically stable."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each row of probabilities."""
    return -np.sum(p * np.log(np.maximum(p, 1e-12)), axis=1)


def check_prediction(card, pred: Prediction, n: int, classes=None) -> None:
    """Check ``pred`` (for ``n`` frames) against the card's output spec.

    Args:
        classes: the classes the predictor says it predicts (a calibration's); default the card's.

    Raises:
        ModelError: naming the output, the shape the card promises and the one produced.
    """
    where = f"model {card.name!r} (card {card.path})"
    if pred.n != n:
        raise ModelError(f"{where}: predictor returned {pred.n} results for {n} frames")
    out = card.output
    want = tuple(classes) if classes else tuple(card.classes)
    if out.kind == "classes" or pred.labels is not None:
        if pred.labels is None or pred.probs is None or pred.classes is None:
            raise ModelError(f"{where}: a classes output needs labels, probabilities and class names")
        k = len(pred.classes)
        labels = np.asarray(pred.labels)
        if labels.shape != (n,) or np.shape(pred.probs) != (n, k):
            raise ModelError(f"{where}: labels {labels.shape} / probs {np.shape(pred.probs)}, "
                             f"expected ({n},) / ({n}, {k})")
        if not np.issubdtype(labels.dtype, np.integer) or (n and (labels.min() < 0 or labels.max() >= k)):
            raise ModelError(f"{where}: labels must be integer indices into the {k} classes "
                             f"(got {labels.dtype}, range {labels.min() if n else '-'}..{labels.max() if n else '-'})")
        if want and tuple(pred.classes) != want:
            raise ModelError(f"{where}: predicted classes {pred.classes} differ from the expected {want}")
    if out.kind not in ("classes", "embedding"):
        if out.kind not in pred.outputs:
            raise ModelError(f"{where}: output kind {out.kind!r} but the prediction has outputs "
                             f"{sorted(pred.outputs)}")
        got = tuple(np.shape(pred.outputs[out.kind]))
        shape = (n, *out.shape) if out.shape is not None else None
        if shape is not None and got != shape:
            raise ModelError(f"{where}: output {out.kind!r} has shape {got}, the card promises {shape}")
    for name, v in pred.outputs.items():
        if np.shape(v)[:1] != (n,):
            raise ModelError(f"{where}: output {name!r} has shape {np.shape(v)}; its first dimension must be "
                             f"the batch ({n})")
