"""The generic prototype head: embedding -> class prototypes -> nearest prototype.

Works on any task's embeddings (numpy, float32 (n, d)): ``beam`` (ProtoBeam encoder) and
``amc`` (the AMC model's penultimate features). Prototypes are the mean of the (optionally
L2-normalized) support embeddings of each class, optionally L2-normalized again; logits are
negative squared Euclidean distances. New classes need only new prototypes, no retraining.
"""

from __future__ import annotations

import numpy as np

from sdrkit.errors import ConfigError


def l2n(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def make_prototypes(emb: np.ndarray, labels, classes=None, normalize: bool = True,
                    min_shots: int = 1) -> tuple[np.ndarray, tuple]:
    """Class prototypes from labelled support embeddings.

    Args:
        emb: float (n, d) embeddings.
        labels: n labels (any hashable; str or int).
        classes: class order (default: sorted unique labels).
        normalize: L2-normalize embeddings and prototypes (prototype normalization).
        min_shots: every class needs at least this many support examples.

    Returns:
        (prototypes float32 (C, d), classes tuple).

    Raises:
        ConfigError: too few shots for a class, or no support at all.
    """
    emb = np.asarray(emb, dtype=np.float32)
    labels = np.asarray(labels)
    if emb.ndim != 2 or len(emb) != len(labels) or len(emb) == 0:
        raise ConfigError(f"need (n, d) embeddings with n labels (got {emb.shape} and {labels.shape})")
    classes = tuple(sorted(set(labels.tolist()))) if classes is None else tuple(classes)
    e = l2n(emb) if normalize else emb
    protos = []
    for c in classes:
        m = labels == c
        k = int(m.sum())
        if k < min_shots:
            raise ConfigError(f"class {c!r} has {k} labelled shots, fewer than the {min_shots} required; "
                              f"record more shots (--shots) or lower the minimum")
        protos.append(e[m].mean(0))
    p = np.stack(protos).astype(np.float32)
    return (l2n(p) if normalize else p), classes


def proto_logits(emb: np.ndarray, prototypes: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Negative squared Euclidean distances (n, C)."""
    e = l2n(np.asarray(emb, np.float32)) if normalize else np.asarray(emb, np.float32)
    d = (e * e).sum(1)[:, None] - 2 * e @ prototypes.T + (prototypes * prototypes).sum(1)[None, :]
    return -d


class PrototypeHead:
    """Nearest-prototype classifier over a fixed class set."""

    def __init__(self, prototypes: np.ndarray, classes, normalize: bool = True):
        self.prototypes = np.asarray(prototypes, np.float32)
        self.classes = tuple(classes)
        self.normalize = normalize
        if self.prototypes.ndim != 2 or len(self.prototypes) != len(self.classes):
            raise ConfigError(f"{len(self.classes)} classes but prototypes of shape {self.prototypes.shape}")

    @classmethod
    def fit(cls, emb, labels, classes=None, normalize: bool = True, min_shots: int = 1) -> "PrototypeHead":
        p, c = make_prototypes(emb, labels, classes, normalize, min_shots)
        return cls(p, c, normalize)

    def logits(self, emb) -> np.ndarray:
        return proto_logits(emb, self.prototypes, self.normalize)

    def predict(self, emb) -> np.ndarray:
        """Index into :attr:`classes` of the nearest prototype, per row."""
        return np.argmax(self.logits(emb), axis=1)
