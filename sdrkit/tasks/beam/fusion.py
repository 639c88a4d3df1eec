"""Calibration-time fusion of the learned encoder with the classical baseline, fitted on the k shots.

The channel-estimate encoder's embedding is ``[learned block, a x channel estimate]``
(:mod:`sdrkit.nn.beam`, ``template=True``): its last ``bins + 1`` values are the classical
baseline's features (:func:`sdrkit.tasks.beam.baseline.template_features`: the log power
profile on the preamble's occupied bins, then 3 x log10 of the frame level), scaled by one
learned weight. A nearest-prototype distance with per-block weights is therefore a weighted sum
of three distances::

    D = w_learned * |e_L - p_L|^2 + |e_profile - p_profile|^2 + w_level * |e_level - p_level|^2

``w_learned = 0, w_level = 1`` is the baseline's nearest template exactly (the common factor
``a^2`` does not change the nearest prototype); ``w_learned = 1, w_level = 1`` is the plain
encoder. :func:`fit_fusion` picks ``(w_learned, w_level)`` from a small grid by leave-one-out on
the calibration shots only (each shot scored against the prototypes of the other shots), with
the leave-one-out log-likelihood of the softmax over ``-D / tau`` (``tau`` maximized over a few
multiples of the mean own-class distance) as the criterion: it separates candidates with far
fewer shots than the 0/1 accuracy does. The result is a per-dimension weight vector
(``weights = sqrt(w)`` per block) that :class:`sdrkit.nn.proto.PrototypeHead` and the
calibration file already carry, so the live path needs nothing new.

Why a level weight: on the clustered 3GPP scenes one path loss holds for a whole recording and
a beam that points away from the clusters arrives weaker, so the level is the most stable cue
when the fading changes between the calibration shots and the test stream; on sdrkit's own
scene the level is drawn per frame and carries nothing. Only the shots can tell which holds.

The baseline is one of the candidates, so the fused head falls back to it when the shots say so;
this is a choice on the shots, not a guarantee on the test stream (see ``docs/beam.md``).
"""

from __future__ import annotations

import itertools

import numpy as np

from sdrkit.errors import ConfigError

#: squared-distance weights of the learned block (0 = the baseline's distance)
LEARNED_WEIGHTS = (0.0, 0.0625, 0.25, 1.0, 4.0)
#: squared-distance weights of the level (the profile block has weight 1; 1 = the baseline's)
LEVEL_WEIGHTS = (0.0, 0.25, 1.0, 4.0, 16.0)
#: multiples of the mean own-class distance tried as the softmax temperature of the criterion
TEMPERATURES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


def block_weights(dim: int, learned_dims: int, w_learned: float, w_level: float) -> np.ndarray:
    """Per-dimension weights (multiplying embedding and prototypes) of the squared-distance block
    weights ``w_learned`` (dims ``[0, learned_dims)``) and ``w_level`` (the last dim); 1 elsewhere."""
    if not 0 < learned_dims < dim - 1:
        raise ConfigError(f"learned block of {learned_dims} dims in a {dim}-dim embedding: the fusion needs the "
                          f"channel-estimate encoder (template=True: learned block, profile, level)")
    w = np.ones(dim, np.float32)
    w[:learned_dims] = np.sqrt(w_learned)
    w[-1] = np.sqrt(w_level)
    return w


def _loo_block_distances(emb: np.ndarray, y: np.ndarray, n_classes: int, blocks) -> list[np.ndarray]:
    """Per block, (n, C) squared distances of each shot to every class prototype, its own class's
    prototype made without the shot itself (a class with one shot: the shot itself, distance 0)."""
    onehot = np.zeros((len(y), n_classes))
    onehot[np.arange(len(y)), y] = 1.0
    cnt = onehot.sum(0)
    out = []
    for b in blocks:
        x = emb[:, b].astype(np.float64)
        sums = onehot.T @ x
        p = sums / np.maximum(cnt, 1)[:, None]
        d = (x * x).sum(1)[:, None] - 2 * x @ p.T + (p * p).sum(1)[None]
        own = (sums[y] - np.where(cnt[y][:, None] > 1, x, 0.0)) / np.maximum(cnt[y] - 1, 1)[:, None]
        d[np.arange(len(x)), y] = ((x - own) ** 2).sum(1)
        out.append(np.maximum(d, 0.0))
    return out


def _log_likelihood(d: np.ndarray, y: np.ndarray) -> float:
    """Best mean log-softmax of the true class over the temperatures (multiples of the mean own distance)."""
    rows = np.arange(len(y))
    base = max(float(np.mean(d[rows, y])), 1e-12)
    best = -np.inf
    for m in TEMPERATURES:
        lg = -d / (base * m)
        lg = lg - lg.max(1, keepdims=True)
        best = max(best, float(np.mean(lg[rows, y] - np.log(np.exp(lg).sum(1)))))
    return best


def fit_fusion(emb, labels, classes, learned_dims: int) -> tuple[np.ndarray, dict]:
    """The fused head's per-dimension weights, chosen on the calibration shots only.

    Args:
        emb: (n, d) embeddings of the shots (channel-estimate encoder: learned block, profile, level).
        labels: n labels; every class in ``classes`` needs at least 2 shots.
        classes: the class order of the prototypes.
        learned_dims: width of the learned block (``sdrkit.runtime.card.learned_dims``).

    Returns:
        (weights (d,) float32, info): ``info`` holds the chosen ``w_learned`` / ``w_level``
        (squared-distance weights), the criterion of every candidate, its leave-one-out
        accuracy, and the baseline's and the plain encoder's.

    Raises:
        ConfigError: a class with fewer than 2 shots (leave-one-out needs 2), or an embedding
            without the channel-estimate blocks.
    """
    e = np.asarray(emb, np.float32)
    lab = np.asarray(labels)
    cls = list(classes)
    index = {c: i for i, c in enumerate(cls)}
    if e.ndim != 2 or len(e) != len(lab):
        raise ConfigError(f"need (n, d) shot embeddings with n labels (got {e.shape} and {lab.shape})")
    y = np.array([index[v] for v in lab.tolist()], int)
    counts = np.bincount(y, minlength=len(cls))
    if counts.min() < 2:
        c = cls[int(np.argmin(counts))]
        raise ConfigError(f"class {c!r} has {int(counts.min())} shot(s): the fused head picks its weights "
                          f"leave-one-out and needs >= 2 shots per class (--shots 2 or more), or use --head plain")
    d = e.shape[1]
    block_weights(d, learned_dims, 1.0, 1.0)            # checks the layout
    dl, dp, dv = _loo_block_distances(e, y, len(cls), (slice(0, learned_dims), slice(learned_dims, d - 1),
                                                       slice(d - 1, d)))
    scores, accs = {}, {}
    for wl, wv in itertools.product(LEARNED_WEIGHTS, LEVEL_WEIGHTS):
        dist = wl * dl + dp + wv * dv
        scores[(wl, wv)] = _log_likelihood(dist, y)
        accs[(wl, wv)] = float(np.mean(dist.argmin(1) == y))
    best = max(scores.values())
    # ties (equal criterion) go to the candidate nearest the plain encoder (1, 1), in log weight
    wl, wv = min((w for w, s in scores.items() if s >= best - 1e-12),
                 key=lambda w: (abs(np.log((w[0] + 0.01) / 1.01)), abs(np.log((w[1] + 0.01) / 1.01))))
    info = {"rule": "fuse", "w_learned": wl, "w_level": wv,
            "criterion": "leave-one-out log-likelihood on the shots",
            "loo_accuracy": accs[(wl, wv)], "loo_accuracy_baseline": accs[(0.0, 1.0)],
            "loo_accuracy_encoder": accs[(1.0, 1.0)],
            "candidates": {f"{a:g},{b:g}": round(s, 5) for (a, b), s in scores.items()}}
    return block_weights(d, learned_dims, wl, wv), info


def calibrate_capture_fused(card_path, capture, *, shots: int, front_end: str | None = None, out=None,
                            radio: dict | None = None, selection=None):
    """``sdrkit calibrate beam --head fuse``: a calibration from a labelled capture whose head is the
    fused one (:func:`fit_fusion` on the shots), stored as the file's ``weights``; with
    ``selection.transductive`` the prototypes are then refined with those weights on the
    calibration part's other frames, unlabeled. Returns (Calibration, seconds).

    The shots, the file's fields and ``source`` ranges are those of
    :func:`sdrkit.runtime.calibration.calibrate_capture` (same selection); only the prototypes
    (when transductive), ``weights`` and ``source.head`` differ.

    Raises:
        ConfigError: the card has no learned block (the fusion needs the channel-estimate encoder),
            or a class with fewer than 2 shots.
    """
    import time
    from dataclasses import replace

    from sdrkit.nn.proto import make_prototypes, refine_prototypes
    from sdrkit.runtime.calibration import Embedder, calibrate_capture, frames_from_capture
    from sdrkit.runtime.card import learned_dims, load_card

    t0 = time.perf_counter()
    card = load_card(card_path)
    dims = learned_dims(card)
    if not dims:
        raise ConfigError(f"model card {card.path} declares no learned block (architecture.kwargs.emb_dim within "
                          f"output.shape): --head fuse needs the channel-estimate encoder (models/beam/card.json); "
                          f"use --head plain with this card")
    embed = Embedder(card)              # one session for both passes
    cal, _ = calibrate_capture(card_path, capture, shots=shots, front_end=front_end, radio=radio,
                               selection=selection, embedder=embed)
    sel = cal.source.get("select", {})
    frames, labels, info, starts = frames_from_capture(capture, card.input.frame_len, with_starts=True)
    labels = np.asarray(labels)
    pick, part, _ = selection.apply(labels, starts, cal.classes, shots, info.get("core:sample_rate"))
    emb = embed(frames[pick])
    weights, head = fit_fusion(emb, labels[pick], cal.classes, dims)
    protos, _ = make_prototypes(emb, labels[pick], cal.classes, normalize=cal.proto_norm)
    if sel.get("transductive"):
        rest = np.setdiff1d(part, pick)
        if len(rest):
            protos = refine_prototypes(protos, emb, labels[pick], cal.classes, embed(frames[rest]),
                                       normalize=cal.proto_norm, weights=weights)
    src = {**cal.source, "select": {**sel, "head": "fuse"}, "head": head}
    cal = replace(cal, prototypes=protos, weights=weights, source=src)
    if out:
        cal.save(out)
        cal = replace(cal, path=str(out))
    return cal, time.perf_counter() - t0
