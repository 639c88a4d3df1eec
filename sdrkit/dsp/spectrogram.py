"""Spectrograms: windowed STFT of complex64 I/Q to power in dB (float32).

Layout: ``S[t, f]`` with shape ``(n_frames, nfft)``; row ``t`` is the frame starting at
sample ``t * hop``; column ``f`` is frequency, fftshifted: column ``nfft // 2`` is DC,
column 0 is ``-fs/2``. Power is ``10 * log10(|X[f]|^2 / (sum(w))^2)`` dB, so a complex tone of
amplitude A at a bin center reads ``20 * log10(A)`` dB; values are floored at -300 dB.

Speed (see ``sdrkit bench spectrogram``): frames are taken without copies when
``hop == nfft``; the window is pre-multiplied by ``(-1)^n`` so the FFT output comes out
already shifted (``fftshift`` for free); the FFT runs in place on a cache-sized chunk;
``|X|^2`` is formed on the float32 view; dB uses ``log2`` (cheaper than ``log10`` in
numpy) times ``10 log10(2)``. Chunks run on ``workers`` threads (numpy and scipy.fft
release the GIL).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sdrkit.errors import ConfigError

_DB_PER_LOG2 = np.float32(10.0 * np.log10(2.0))
_FLOOR = np.float32(1e-30)
CHUNK_FRAMES = 128


@functools.lru_cache(maxsize=16)
def _window(name: str, nfft: int) -> tuple[np.ndarray, np.float32]:
    from scipy.signal import get_window

    w = get_window(name, nfft).astype(np.float64)
    offset = np.float32(-10.0 * np.log10(np.sum(w) ** 2))
    shifted = (w * (-1.0) ** np.arange(nfft)).astype(np.float32)
    return np.repeat(shifted, 2), offset  # interleaved (re, im) multiply


def _frames(x: np.ndarray, nfft: int, hop: int) -> np.ndarray:
    n = (x.shape[-1] - nfft) // hop + 1 if x.shape[-1] >= nfft else 0
    if hop == nfft:
        return x[: n * nfft].reshape(n, nfft)
    return np.lib.stride_tricks.as_strided(x, shape=(n, nfft), strides=(hop * x.strides[0], x.strides[0]),
                                           writeable=False)


def _compute(frames: np.ndarray, out: np.ndarray, w2: np.ndarray, offset: np.float32) -> None:
    import scipy.fft as sfft

    m, nfft = frames.shape
    buf = np.empty((min(CHUNK_FRAMES, m), nfft), np.complex64)
    for i in range(0, m, CHUNK_FRAMES):
        c = min(CHUNK_FRAMES, m - i)
        b = buf[:c]
        f = b.view(np.float32)
        src = np.ascontiguousarray(frames[i:i + c]).view(np.float32)
        np.multiply(src, w2, out=f)
        X = sfft.fft(b, axis=-1, overwrite_x=True, workers=1)
        if X is not b:
            b[...] = X
        np.multiply(f, f, out=f)
        f2 = f.reshape(c, nfft, 2)
        o = out[i:i + c]
        np.add(f2[..., 0], f2[..., 1], out=o)
        np.maximum(o, _FLOOR, out=o)
        np.log2(o, out=o)
        o *= _DB_PER_LOG2
        o += offset


def spectrogram(x, nfft: int = 1024, hop: int | None = None, window: str = "hann", workers: int = 1) -> np.ndarray:
    """Power spectrogram in dB of complex I/Q.

    Args:
        x: 1-D complex samples (converted to complex64).
        nfft: FFT length (even), samples.
        hop: samples between frame starts; default ``nfft`` (no overlap).
        window: scipy.signal window name.
        workers: threads to spread frames over.

    Returns:
        float32 array ``(n_frames, nfft)``, see the module docstring for the layout.

    Raises:
        ConfigError: bad nfft/hop/workers or input shape.
    """
    if nfft < 2 or nfft % 2:
        raise ConfigError(f"nfft={nfft} must be an even number >= 2")
    hop = nfft if hop is None else int(hop)
    if hop < 1:
        raise ConfigError(f"hop={hop} must be >= 1 sample")
    if workers < 1:
        raise ConfigError(f"workers={workers} must be >= 1")
    x = np.ascontiguousarray(x, dtype=np.complex64)
    if x.ndim != 1:
        raise ConfigError(f"spectrogram() takes 1-D I/Q, got shape {x.shape}")
    frames = _frames(x, nfft, hop)
    w2, offset = _window(window, nfft)
    out = np.empty((frames.shape[0], nfft), np.float32)
    if workers == 1 or frames.shape[0] < 2 * CHUNK_FRAMES:
        _compute(frames, out, w2, offset)
        return out
    bounds = np.linspace(0, frames.shape[0], workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda k: _compute(frames[bounds[k]:bounds[k + 1]], out[bounds[k]:bounds[k + 1]], w2, offset),
                      range(workers)))
    return out


def spectrogram_reference(x, nfft: int = 1024, hop: int | None = None, window: str = "hann") -> np.ndarray:
    """Straightforward numpy STFT with the same layout (for tests and as a benchmark baseline)."""
    from scipy.signal import get_window

    hop = nfft if hop is None else hop
    w = get_window(window, nfft)
    fr = _frames(np.asarray(x, np.complex64), nfft, hop)
    X = np.fft.fftshift(np.fft.fft(fr * w, axis=-1), axes=-1)
    return (10 * np.log10(np.maximum(np.abs(X) ** 2 / np.sum(w) ** 2, 1e-30))).astype(np.float32)
