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
    """Nearest-prototype classifier over a fixed class set.

    ``weights`` (optional, (d,)): per-dimension weights applied to embeddings and prototypes
    before the distance (see :func:`select_block_weight`).
    """

    def __init__(self, prototypes: np.ndarray, classes, normalize: bool = True, weights=None):
        self.prototypes = np.asarray(prototypes, np.float32)
        self.classes = tuple(classes)
        self.normalize = normalize
        self.weights = None if weights is None else np.asarray(weights, np.float32)
        if self.prototypes.ndim != 2 or len(self.prototypes) != len(self.classes):
            raise ConfigError(f"{len(self.classes)} classes but prototypes of shape {self.prototypes.shape}")
        if self.weights is not None and self.weights.shape != (self.prototypes.shape[1],):
            raise ConfigError(f"weights of shape {self.weights.shape} for prototypes of dimension "
                              f"{self.prototypes.shape[1]}")

    @classmethod
    def fit(cls, emb, labels, classes=None, normalize: bool = True, min_shots: int = 1) -> "PrototypeHead":
        p, c = make_prototypes(emb, labels, classes, normalize, min_shots)
        return cls(p, c, normalize)

    def logits(self, emb) -> np.ndarray:
        if self.weights is None:
            return proto_logits(emb, self.prototypes, self.normalize)
        e = l2n(np.asarray(emb, np.float32)) if self.normalize else np.asarray(emb, np.float32)
        return proto_logits(e * self.weights, self.prototypes * self.weights, False)

    def predict(self, emb) -> np.ndarray:
        """Index into :attr:`classes` of the nearest prototype, per row."""
        return np.argmax(self.logits(emb), axis=1)


def refine_prototypes(prototypes: np.ndarray, support_emb: np.ndarray, support_labels, classes,
                      unlabeled: np.ndarray, normalize: bool = True, iters: int = 3,
                      weight: float = 1.0, weights=None) -> np.ndarray:
    """Transductive refinement: soft k-means of the prototypes over unlabeled embeddings.

    Each iteration assigns every unlabeled row to the prototypes with the softmax of the
    negative squared distances (temperature: the mean squared distance of the support to its own
    prototype, so it needs no tuning), then moves each prototype to the weighted mean of its
    support (weight 1 each) and its unlabeled rows (``weight`` x soft assignment).

    Args:
        prototypes: (C, d) from :func:`make_prototypes`.
        support_emb, support_labels: the labelled shots the prototypes came from.
        classes: class order of ``prototypes``.
        unlabeled: (m, d) embeddings of unlabeled frames of the same front end (the test stream).
        normalize: the prototypes' normalization (as in :func:`make_prototypes`).
        weights: per-dimension weights of the distance (as in :class:`PrototypeHead`).

    Returns:
        refined prototypes (C, d) float32.
    """
    p = np.asarray(prototypes, np.float32)
    u = np.asarray(unlabeled, np.float32)
    if len(u) == 0 or iters < 1:
        return p
    s = l2n(np.asarray(support_emb, np.float32)) if normalize else np.asarray(support_emb, np.float32)
    u = l2n(u) if normalize else u
    lab = np.asarray(support_labels)
    onehot = np.stack([(lab == c).astype(np.float32) for c in classes], axis=1)          # (n, C)
    own = onehot.argmax(1)
    w2 = np.ones(p.shape[1], np.float32) if weights is None else np.asarray(weights, np.float32)
    tau = max(float(np.mean(np.sum(((s - p[own]) * w2) ** 2, axis=1))), 1e-6)
    for _ in range(iters):
        lg = proto_logits(u * w2, p * w2, False) / tau
        lg = lg - lg.max(1, keepdims=True)
        w = np.exp(lg)
        w = weight * w / w.sum(1, keepdims=True)                                      # (m, C)
        p = (onehot.T @ s + w.T @ u) / (onehot.sum(0)[:, None] + w.sum(0)[:, None])
        p = (l2n(p) if normalize else p).astype(np.float32)
    return p


def select_block_weight(emb: np.ndarray, labels, classes, block: slice, candidates=(0.0, 0.25, 0.5, 1.0, 2.0),
                        prefer: float = 1.0) -> tuple[np.ndarray, dict]:
    """A one-parameter head fitted on the k shots: the weight of one block of the embedding.

    For each candidate ``lam`` the dimensions in ``block`` are scaled by ``lam`` (the rest by 1)
    and the shots are classified leave-one-out by nearest prototype (plain means; a class with
    one shot keeps it); the candidate with the best leave-one-out accuracy wins, ties going to
    the one closest to ``prefer``. ``lam = 0`` is the nearest centroid on the other block alone.

    Returns:
        (weights (d,) float32, {"weight": lam, "loo": {lam: accuracy}}).
    """
    e = np.asarray(emb, np.float32)
    lab = np.asarray(labels)
    cls = list(classes)
    onehot = np.stack([(lab == c) for c in cls], axis=1).astype(np.float32)       # (n, C)
    cnt = onehot.sum(0)
    y = onehot.argmax(1)
    scores = {}
    for lam in candidates:
        w = np.ones(e.shape[1], np.float32)
        w[block] = lam
        x = e * w
        sums = onehot.T @ x                                                       # (C, d)
        d = (x * x).sum(1)[:, None] - 2 * x @ (sums / cnt[:, None]).T + ((sums / cnt[:, None]) ** 2).sum(1)[None]
        # leave-one-out distance to the own class: its prototype without the shot itself
        loo = np.where(cnt[y] > 1, cnt[y] - 1, 1)[:, None]
        own = (sums[y] - np.where(cnt[y][:, None] > 1, x, 0)) / loo
        d[np.arange(len(x)), y] = ((x - own) ** 2).sum(1)
        scores[float(lam)] = float(np.mean(d.argmin(1) == y))
    best = max(scores.values())
    lam = min((v for v, a in scores.items() if a == best), key=lambda v: abs(v - prefer))
    w = np.ones(e.shape[1], np.float32)
    w[block] = lam
    return w, {"weight": lam, "loo": scores}
