"""PNG plots (matplotlib, Agg backend): spectrograms with annotation labels, confusion matrices.

matplotlib is imported inside each plotting function, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_spectrogram_png(x, fs: float, fc: float, out, *, nfft: int = 1024, title: str = "",
                         annotations=(), t0: float = 0.0, max_rows: int = 1200) -> Path:
    """Write a spectrogram PNG: frequency (MHz, absolute) across, time (s) down.

    Args:
        x: complex samples. fs: samples/s. fc: center frequency, Hz.
        annotations: ``(start_sample, count, label[, snr_db])`` tuples: segment boundaries drawn as
            lines, runs of one label merged, labels (with the SNR) thinned so they never pile up.
        t0: time of x[0], s. max_rows: rows are averaged down to at most this many.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdrkit.dsp.spectrogram import spectrogram

    S = spectrogram(x, nfft=nfft)
    if S.shape[0] == 0:
        from sdrkit.errors import ConfigError

        raise ConfigError(f"need at least nfft={nfft} samples for a spectrogram, got {len(x)}")
    k = max(1, -(-S.shape[0] // max_rows))
    if k > 1:
        m = (S.shape[0] // k) * k
        S = 10 * np.log10(np.mean(10 ** (S[:m].reshape(-1, k, nfft) / 10), axis=1))
    dur = len(x) / fs
    lo, hi = np.percentile(S, [5, 99.8])
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    im = ax.imshow(S, aspect="auto", origin="upper", cmap="viridis", vmin=lo, vmax=hi,
                   extent=[(fc - fs / 2) / 1e6, (fc + fs / 2) / 1e6, t0 + dur, t0])
    ax.set_xlabel("frequency (MHz)")
    ax.set_ylabel("time (s)")
    ax.set_title(title or f"spectrogram, {nfft}-point Hann, fs = {fs / 1e6:g} MS/s")
    fig.colorbar(im, ax=ax, label="power (dB full scale)")
    xr = (fc + fs / 2) / 1e6
    segs = label_runs(annotations, t0, dur, fs)
    lines = len(segs) <= 120                      # segment boundaries, where they stay apart
    for ta, _, _ in segs[1:] if lines else ():
        ax.axhline(ta, color="white", lw=0.5, alpha=0.35)
    shown = thin_by_position([(ta + tb) / 2 for ta, tb, _ in segs], dur, min_frac=0.035)
    for i in shown:
        ta, tb, text = segs[i]
        ax.annotate(text, xy=(xr, (ta + tb) / 2), xytext=(-4, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=7, color="white",
                    bbox=dict(boxstyle="round,pad=0.15", fc="black", alpha=0.5, lw=0))
    if len(shown) < len(segs):
        ax.text(0.01, 0.01, f"{len(segs)} labelled segments, {len(shown)} labels shown (thinned)"
                + ("; lines: segment boundaries" if lines else ""),
                transform=ax.transAxes, fontsize=7, color="white", va="bottom",
                bbox=dict(boxstyle="round,pad=0.2", fc="black", alpha=0.5, lw=0))
    return save_figure(fig, out)


def label_runs(annotations, t0: float, dur: float, fs: float) -> list[tuple[float, float, str]]:
    """``(t_start, t_end, text)`` of the labelled segments inside ``[t0, t0 + dur]``: consecutive
    annotations with the same label and SNR merged into one run; text ``label`` or ``label, 20 dB``.

    Args:
        annotations: ``(start_sample, count, label)`` or ``(start_sample, count, label, snr_db)``.
    """
    runs: list[list] = []
    for a in sorted(annotations, key=lambda a: a[0]):
        start, count, label = a[:3]
        snr = a[3] if len(a) > 3 else None
        ta, tb = t0 + start / fs, t0 + (start + count) / fs
        if tb < t0 or ta > t0 + dur or not label:
            continue
        text = str(label) if snr is None else f"{label}, {float(snr):g} dB"
        if runs and runs[-1][2] == text and ta - runs[-1][1] <= 1.5 / fs:
            runs[-1][1] = max(runs[-1][1], tb)
        else:
            runs.append([ta, tb, text])
    return [tuple(r) for r in runs]


def thin_by_position(ys, span: float, min_frac: float = 0.025) -> list[int]:
    """Indices of positions ``ys`` (ascending) to label so that labels are at least ``min_frac * span``
    apart; the others are left unlabelled."""
    kept: list[int] = []
    for i, y in enumerate(ys):
        if not kept or y - ys[kept[-1]] >= min_frac * span:
            kept.append(i)
    return kept


def confusion_matrix(y_true, y_pred, labels) -> np.ndarray:
    """Count matrix of a classification: row = true label, column = predicted label.

    Args:
        y_true: true labels, any hashable values (class indices or names).
        y_pred: predicted labels, same length and kind as ``y_true``.
        labels: the label of each row/column, in order; every value in ``y_true`` and ``y_pred``
            must be one of them (add extra labels, e.g. a recording's unknown classes, here).

    Returns:
        int64 array (len(labels), len(labels)): ``cm[i, j]`` frames of ``labels[i]`` predicted
        as ``labels[j]``.

    Raises:
        ConfigError: lengths differ, or a value is not in ``labels``.
    """
    from sdrkit.errors import ConfigError

    labels = list(labels)
    ix = {lab: i for i, lab in enumerate(labels)}
    t, p = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    if len(t) != len(p):
        raise ConfigError(f"confusion matrix: {len(t)} true labels but {len(p)} predictions")
    unknown = sorted({str(v) for v in t + p if v not in ix})
    if unknown:
        raise ConfigError(f"confusion matrix: labels {unknown} are not among {labels}; pass them in labels")
    cm = np.zeros((len(labels), len(labels)), np.int64)
    if t:
        np.add.at(cm, ([ix[v] for v in t], [ix[v] for v in p]), 1)
    return cm


def save_confusion_png(cm, labels, path, title: str, xlabel: str = "predicted", ylabel: str = "true", *,
                       annotate: bool | None = None) -> Path:
    """Write a confusion matrix PNG, each row normalized to the fraction of its true label.

    Args:
        cm: counts (C, C), row = true, column = predicted (see :func:`confusion_matrix`).
        labels: C tick labels.
        path: PNG file to write (folders are made).
        title, xlabel, ylabel: axis texts.
        annotate: write the fraction into each non-empty cell (default: when C <= 20, where the
            text still fits).

    Returns:
        the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    labels = [str(lab) for lab in labels]
    n = len(labels)
    if cm.shape != (n, n):
        from sdrkit.errors import ConfigError

        raise ConfigError(f"confusion matrix of shape {cm.shape} does not match {n} labels")
    cmn = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    side = min(max(6.0, 0.3 * n + 2.5), 14.0)
    fig, ax = plt.subplots(figsize=(side + 1, side), dpi=110)
    im = ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="fraction of the true label", fraction=0.046, pad=0.04)
    rot = 60 if max((len(lab) for lab in labels), default=0) > 3 else 0
    ax.set_xticks(range(n), labels, rotation=rot, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    if annotate if annotate is not None else n <= 20:
        for i, j in zip(*np.nonzero(cm)):
            ax.text(j, i, f"{cmn[i, j]:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if cmn[i, j] > 0.5 else "black")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return save_figure(fig, path)


def save_score_png(per_snr: dict, per_class: dict, path, title: str = "") -> Path:
    """Accuracy per SNR and per class, as bars with the frame count on each.

    Args:
        per_snr: ``{snr_db: (correct, frames)}`` (may be empty: the recording carries no SNR).
        per_class: ``{class: (correct, frames)}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, v) for k, v in (("SNR (dB)", per_snr), ("class", per_class)) if v]
    fig, axs = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), dpi=110, squeeze=False)
    for ax, (xlabel, table) in zip(axs[0], panels):
        keys = list(table)
        acc = [c / max(n, 1) for c, n in table.values()]
        xs = np.arange(len(keys))
        ax.bar(xs, acc, color="tab:blue")
        for x, a, (_, n) in zip(xs, acc, table.values()):
            ax.text(x, min(a + 0.02, 0.97), f"{a:.0%}\nn={n}", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(xs, [f"{k:g}" if isinstance(k, float) else str(k) for k in keys],
                      rotation=45 if len(keys) > 8 else 0, fontsize=7)
        ax.set(xlabel=xlabel, ylabel="accuracy", ylim=(0, 1.1), title=f"accuracy per {xlabel.split()[0]}")
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def save_figure(fig, path, **savefig_kwargs) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig_kwargs)
    plt.close(fig)
    return path
