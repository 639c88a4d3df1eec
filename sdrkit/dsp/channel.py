"""Channel and receiver impairments, vectorized over frames.

Every function takes ``x`` as 1-D ``(n,)`` or 2-D ``(n_frames, n)`` complex samples and
returns complex64 of the same shape. Per-frame parameters may be scalars or arrays of
shape ``(n_frames,)``. Randomness comes only from the ``rng`` argument.

SNR definition (used everywhere in sdrkit): ``SNR = Ps / Pn`` where ``Ps`` is the mean
power of the signal over the frame, ``mean(|x|^2)``, and ``Pn`` the power of circularly
symmetric complex Gaussian noise (``Pn / 2`` per I and Q component), both measured over
the full sample rate (no bandwidth correction). ``snr_db = 10 log10(Ps / Pn)``.
"""

from __future__ import annotations

import numpy as np


def _per_frame(v, x: np.ndarray) -> np.ndarray:
    """Parameter ``v`` broadcast to shape (n_frames, 1) or scalar for 1-D x."""
    v = np.asarray(v, dtype=np.float64)
    if x.ndim == 1:
        return v.reshape(())
    return v.reshape(-1, 1) if v.ndim else v


def _c64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.complex64)


def awgn(x, snr_db, rng: np.random.Generator) -> np.ndarray:
    """Add complex white Gaussian noise at ``snr_db`` (see module docstring)."""
    x = _c64(x)
    ps = np.mean(x.real ** 2 + x.imag ** 2, axis=-1, keepdims=x.ndim > 1)
    pn = ps / 10.0 ** (_per_frame(snr_db, x) / 10.0)
    noise = rng.standard_normal((*x.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
    noise *= np.sqrt(pn / 2).astype(np.float32)
    return x + noise


def apply_cfo(x, cfo_norm, phase0=0.0) -> np.ndarray:
    """Rotate by a carrier frequency offset ``cfo_norm`` (cycles/sample = Hz / fs) from ``phase0`` rad."""
    x = _c64(x)
    n = np.arange(x.shape[-1], dtype=np.float64)
    ph = 2 * np.pi * _per_frame(cfo_norm, x) * n + _per_frame(phase0, x)
    return x * np.exp(1j * ph).astype(np.complex64)


def multipath(x, rng: np.random.Generator, n_taps: int = 4, decay: float = 1.0, rician_k: float | None = None,
              taps: np.ndarray | None = None) -> np.ndarray:
    """Random multipath fading: taps at 0..n_taps-1 samples with an exponential power-delay
    profile ``exp(-k / decay)``, Rayleigh (or Rician with K-factor ``rician_k`` on tap 0),
    normalized to unit total power per frame. ``taps`` (shape (n_taps,) or (n_frames, n_taps))
    overrides the random draw."""
    x = _c64(x)
    x2 = x.reshape(-1, x.shape[-1])
    m = x2.shape[0]
    if taps is None:
        pdp = np.exp(-np.arange(n_taps) / max(decay, 1e-6))
        pdp /= pdp.sum()
        h = (rng.standard_normal((m, n_taps)) + 1j * rng.standard_normal((m, n_taps))) * np.sqrt(pdp / 2)
        if rician_k is not None:
            los = np.sqrt(rician_k / (rician_k + 1)) * np.exp(1j * rng.uniform(0, 2 * np.pi, m))
            h[:, 0] = los + h[:, 0] / np.sqrt(rician_k + 1)
        h /= np.sqrt(np.sum(np.abs(h) ** 2, axis=1, keepdims=True))
    else:
        h = np.broadcast_to(np.asarray(taps, np.complex128).reshape(-1, np.shape(taps)[-1]), (m, np.shape(taps)[-1]))
    h = h.astype(np.complex64)
    y = x2 * h[:, :1]
    for k in range(1, h.shape[1]):
        y[:, k:] += x2[:, :-k] * h[:, k:k + 1]
    return y.reshape(x.shape)


def sample_rate_offset(x, ppm) -> np.ndarray:
    """Resample by ``(1 + ppm * 1e-6)`` with linear interpolation (clock mismatch)."""
    x = _c64(x)
    x2 = x.reshape(-1, x.shape[-1])
    n = x2.shape[1]
    r = 1.0 + np.asarray(ppm, np.float64).reshape(-1, 1) * 1e-6
    t = np.arange(n)[None, :] * r
    t = np.minimum(t, n - 1.000001)
    i = t.astype(np.int64)
    f = (t - i).astype(np.float32)
    rows = np.arange(x2.shape[0])[:, None] if x2.shape[0] > 1 else 0
    a = x2[rows, i]
    b = x2[rows, np.minimum(i + 1, n - 1)]
    return (a + (b - a) * f).reshape(x.shape)


def phase_noise(x, std_rad, rng: np.random.Generator) -> np.ndarray:
    """Wiener phase noise: a random walk with ``std_rad`` radians per sample step."""
    x = _c64(x)
    steps = rng.standard_normal(x.shape).astype(np.float32) * np.asarray(_per_frame(std_rad, x), np.float32)
    return x * np.exp(1j * np.cumsum(steps, axis=-1)).astype(np.complex64)


def iq_imbalance(x, amp_db, phase_deg) -> np.ndarray:
    """Receiver IQ imbalance: Q branch gain ``amp_db`` and quadrature error ``phase_deg``.

    ``y = mu * x + nu * conj(x)`` with ``mu = (1 + g e^{-j phi}) / 2``, ``nu = (1 - g e^{j phi}) / 2``.
    """
    x = _c64(x)
    g = 10.0 ** (_per_frame(amp_db, x) / 20.0)
    ph = np.deg2rad(_per_frame(phase_deg, x))
    mu = ((1 + g * np.exp(-1j * ph)) / 2).astype(np.complex64)
    nu = ((1 - g * np.exp(1j * ph)) / 2).astype(np.complex64)
    return mu * x + nu * np.conj(x)


def dc_offset(x, dc) -> np.ndarray:
    """Add a complex DC offset (full-scale units)."""
    x = _c64(x)
    d = np.asarray(dc, np.complex64)
    return x + (d.reshape(-1, 1) if x.ndim > 1 and d.ndim else d)


def delay(x, n_samples: int) -> np.ndarray:
    """Delay by an integer number of samples (zeros shifted in)."""
    x = _c64(x)
    y = np.zeros_like(x)
    if n_samples < x.shape[-1]:
        y[..., n_samples:] = x[..., : x.shape[-1] - n_samples]
    return y
