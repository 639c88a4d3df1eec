"""PNG plots of I/Q: spectrograms with annotation labels (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_spectrogram_png(x, fs: float, fc: float, out, *, nfft: int = 1024, title: str = "",
                         annotations=(), t0: float = 0.0, max_rows: int = 1200) -> Path:
    """Write a spectrogram PNG: frequency (MHz, absolute) across, time (s) down.

    Args:
        x: complex samples. fs: samples/s. fc: center frequency, Hz.
        annotations: ``(start_sample, count, label)`` tuples drawn as labelled brackets.
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
    for start, count, label in annotations:
        ta, tb = t0 + start / fs, t0 + (start + count) / fs
        if tb < t0 or ta > t0 + dur or not label:
            continue
        ax.annotate(label, xy=(xr, (ta + tb) / 2), xytext=(-4, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=7, color="white",
                    bbox=dict(boxstyle="round,pad=0.15", fc="black", alpha=0.5, lw=0))
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
