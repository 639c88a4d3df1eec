"""CSI in the angular-delay domain, as the CsiNet line of work uses it; pure numpy.

The downlink channel of a BS with ``Nt`` antennas to a single-antenna UE over ``Nc`` OFDM
subcarriers is ``H`` (``Nt x Nc``, complex). CsiNet (Wen et al. 2018) feeds back its 2-D DFT::

    H_ad = F_a @ H @ F_d^H        (F_a: Nt-point DFT over antennas -> angle,
                                   F_d: Nc-point DFT over subcarriers -> delay)

keeping the first ``taps`` delay columns (the channel's delay spread is short, the rest is
near zero). Both DFTs here are unitary (``norm="ortho"``), so the energy of ``H`` equals that
of the full ``H_ad`` and :func:`frequency_response` inverts :func:`angular_delay` exactly when
no energy lies beyond ``taps``.

Normalization (:func:`to_real`): real and imaginary parts stacked as ``(2, Nt, taps)``, scaled
per sample by the largest real/imaginary magnitude and offset by 0.5 into ``[0, 1]`` (the
CsiNet data's convention, which its sigmoid output layer matches). NMSE (:func:`nmse_db`) is
computed on that matrix after subtracting the 0.5 offset, per sample, then averaged (linear)
and given in dB.

Pilots (:func:`pilot_frame`, :func:`estimate_from_pilots`): the hardware-in-the-loop path. The
BS sends a known OFDM symbol (``Nc`` subcarriers, cyclic prefix ``cp``) from each antenna in
turn; the UE's one receiver sees ``Nt`` consecutive symbols; least squares per subcarrier gives
``H`` back, then :func:`angular_delay` as above.
"""

from __future__ import annotations

import numpy as np

from sdrkit.errors import ConfigError

OFFSET = 0.5


def ofdm_response(a: np.ndarray, tau: np.ndarray, n_subcarriers: int, spacing_hz: float) -> np.ndarray:
    """Frequency response of a multipath channel on subcarriers ``k * spacing_hz``, k = 0..Nc-1.

    Args:
        a: path gains, ``(..., Nt, P)`` complex (per antenna, per path).
        tau: path delays, ``(..., P)`` seconds.
        n_subcarriers: Nc.
        spacing_hz: subcarrier spacing, Hz.

    Returns:
        ``H``, ``(..., Nt, Nc)`` complex64: ``H[n, k] = sum_p a[n, p] exp(-2j pi k spacing tau[p])``.
    """
    k = np.arange(n_subcarriers, dtype=np.float64)
    cyc = np.mod(spacing_hz * np.asarray(tau, np.float64)[..., :, None] * k, 1.0).astype(np.float32)
    ph = np.exp(np.complex64(-2j * np.pi) * cyc)                                  # (..., P, Nc)
    return np.matmul(np.asarray(a, np.complex64), ph)


def angular_delay_from_paths(a: np.ndarray, tau: np.ndarray, n_subcarriers: int, spacing_hz: float,
                             taps: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``angular_delay(ofdm_response(a, tau, Nc, spacing), taps)`` without forming the ``Nc`` subcarriers.

    Each path contributes to delay tap m the Dirichlet kernel of its (fractional) delay
    ``x = tau * spacing * Nc`` in tap units:
    ``sum_k exp(-2j pi k (x - m) / Nc) / sqrt(Nc) = exp(-j pi (x - m)(Nc - 1) / Nc) sin(pi (x - m)) /
    (sqrt(Nc) sin(pi (x - m) / Nc))``, so the cost is ``taps`` per path instead of ``Nc``
    (the same numbers up to float rounding; the tests compare both).

    Returns:
        ``(H_ad (..., Nt, taps) complex64, energy kept (...,))``: the fraction of the channel's energy
        (over all ``Nc`` subcarriers) inside the first ``taps`` taps.
    """
    a = np.asarray(a, np.complex128)
    x = np.asarray(tau, np.float64) * spacing_hz * n_subcarriers            # (..., P)
    d = x[..., :, None] - np.arange(taps)                                   # (..., P, taps)
    N = n_subcarriers
    s = np.sin(np.pi * d / N)
    small = np.abs(s) < 1e-12
    g = np.where(small, N * np.cos(np.pi * d) / np.where(small, np.cos(np.pi * d / N), 1.0),
                 np.sin(np.pi * d) / np.where(small, 1.0, s))
    g = g * np.exp(-1j * np.pi * d * (N - 1) / N) / np.sqrt(N)
    D = np.matmul(a, g)                                                     # (..., Nt, taps)
    H_ad = np.fft.fft(D, axis=-2, norm="ortho")
    # total energy over the Nc subcarriers (= that of the full unitary H_ad):
    # sum_k |sum_p a_p e^{-2j pi k x_p / Nc}|^2 = sum_pq a_p conj(a_q) sum_k e^{-2j pi k (x_p - x_q) / Nc}
    dx = x[..., :, None] - x[..., None, :]
    s2 = np.sin(np.pi * dx / N)
    small2 = np.abs(s2) < 1e-12
    kern = np.where(small2, N, np.sin(np.pi * dx) / np.where(small2, 1.0, s2)) * np.exp(-1j * np.pi * dx * (N - 1) / N)
    total = np.real(np.einsum("...np,...pq,...nq->...", a, kern, np.conj(a)))
    kept = np.sum(np.abs(H_ad) ** 2, axis=(-2, -1)) / np.maximum(total, 1e-30)
    return H_ad.astype(np.complex64), kept


def angular_delay(H: np.ndarray, taps: int = 32) -> np.ndarray:
    """2-D unitary DFT of ``H`` (``(..., Nt, Nc)``): angle over antennas, delay over subcarriers;
    the first ``taps`` delay columns, ``(..., Nt, taps)`` complex64."""
    H = np.asarray(H)
    if taps < 1 or taps > H.shape[-1]:
        raise ConfigError(f"taps={taps} must be in [1, {H.shape[-1]}] (the number of subcarriers)")
    A = np.fft.fft(H, axis=-2, norm="ortho")
    D = np.fft.ifft(A, axis=-1, norm="ortho")
    return D[..., :taps].astype(np.complex64)


def frequency_response(H_ad: np.ndarray, n_subcarriers: int) -> np.ndarray:
    """Inverse of :func:`angular_delay`: the truncated taps zero-padded to ``n_subcarriers``,
    back to antennas x subcarriers, ``(..., Nt, Nc)`` complex64."""
    H_ad = np.asarray(H_ad)
    taps = H_ad.shape[-1]
    if taps > n_subcarriers:
        raise ConfigError(f"{taps} delay taps do not fit in n_subcarriers={n_subcarriers}")
    D = np.zeros(H_ad.shape[:-1] + (n_subcarriers,), np.complex64)
    D[..., :taps] = H_ad
    A = np.fft.fft(D, axis=-1, norm="ortho")
    return np.fft.ifft(A, axis=-2, norm="ortho").astype(np.complex64)


def energy_kept(H: np.ndarray, taps: int = 32) -> np.ndarray:
    """Per sample, the fraction of the channel's energy inside the first ``taps`` delay taps."""
    full = angular_delay(H, H.shape[-1])
    e = np.sum(np.abs(full) ** 2, axis=(-2, -1))
    return np.sum(np.abs(full[..., :taps]) ** 2, axis=(-2, -1)) / np.maximum(e, 1e-30)


def to_real(H_ad: np.ndarray, scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Complex ``(B, Nt, taps)`` -> float32 ``(B, 2, Nt, taps)`` in [0, 1] and the per-sample scale.

    Args:
        scale: per-sample scale ``(B,)``; default the largest |Re|/|Im| of each sample (so the
            result spans [0, 1] exactly).
    """
    H_ad = np.asarray(H_ad)
    if scale is None:
        scale = np.maximum(np.abs(H_ad.real), np.abs(H_ad.imag)).reshape(len(H_ad), -1).max(axis=1)
        scale = np.maximum(scale, 1e-30)
    s = np.asarray(scale, np.float64).reshape(-1, 1, 1)
    x = np.stack([H_ad.real / s, H_ad.imag / s], axis=1) * 0.5 + OFFSET
    return x.astype(np.float32), np.asarray(scale, np.float32)


def from_real(x: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`to_real`: ``(B, 2, Nt, taps)`` -> complex ``(B, Nt, taps)`` (times ``scale``)."""
    x = np.asarray(x, np.float32)
    h = ((x[:, 0] - OFFSET) + 1j * (x[:, 1] - OFFSET)) * 2.0
    if scale is not None:
        h = h * np.asarray(scale, np.float32).reshape(-1, 1, 1)
    return h.astype(np.complex64)


def nmse(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Per-sample NMSE (linear) of a reconstruction, on the 0.5-offset real matrices ``(B, 2, ...)``."""
    x = np.asarray(x, np.float64).reshape(len(x), -1) - OFFSET
    e = np.asarray(x_hat, np.float64).reshape(len(x), -1) - OFFSET - x
    return np.sum(e ** 2, axis=1) / np.maximum(np.sum(x ** 2, axis=1), 1e-30)


def nmse_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean NMSE over samples, dB (``10 log10(mean(||x - x_hat||^2 / ||x||^2))``, offsets removed)."""
    return float(10 * np.log10(np.mean(nmse(x, x_hat))))


def nmse_complex_db(h: np.ndarray, h_hat: np.ndarray) -> float:
    """Mean NMSE of complex channels ``(B, ...)``, dB."""
    h = np.asarray(h).reshape(len(h), -1)
    e = np.asarray(h_hat).reshape(len(h), -1) - h
    return float(10 * np.log10(np.mean(np.sum(np.abs(e) ** 2, 1) / np.maximum(np.sum(np.abs(h) ** 2, 1), 1e-30))))


def pilot_symbol(n_subcarriers: int, seed: int = 0) -> np.ndarray:
    """The known frequency-domain pilot: unit-modulus QPSK on every subcarrier, from ``seed``."""
    rng = np.random.default_rng([seed, 15])
    return np.exp(1j * (np.pi / 4 + np.pi / 2 * rng.integers(0, 4, n_subcarriers))).astype(np.complex64)


def pilot_frame(H: np.ndarray, cp: int, rng: np.random.Generator, snr_db: float = 30.0,
                seed: int = 0, amplitude: float = 0.25) -> np.ndarray:
    """What the UE receives while each of the ``Nt`` BS antennas sends the pilot symbol in turn.

    Args:
        H: ``(B, Nt, Nc)`` channels (frequency domain).
        cp: cyclic prefix, samples (>= the channel's delay spread in samples).
        rng: noise generator.
        snr_db: SNR per sample at the UE, dB (received power over complex noise power).
        seed: pilot seed (:func:`pilot_symbol`).
        amplitude: RMS of the transmitted time samples.

    Returns:
        ``(B, Nt * (Nc + cp))`` complex64: ``Nt`` OFDM symbols back to back, antenna 0 first.
    """
    H = np.asarray(H)
    B, Nt, Nc = H.shape
    P = pilot_symbol(Nc, seed)
    y = np.fft.ifft(H * P, axis=-1, norm="ortho") * amplitude
    y = np.concatenate([y[..., Nc - cp:], y], axis=-1) if cp else y
    p = np.mean(np.abs(y) ** 2, axis=(1, 2), keepdims=True)
    n = (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape)) * np.sqrt(p / 10 ** (snr_db / 10) / 2)
    return (y + n).reshape(B, Nt * (Nc + cp)).astype(np.complex64)


def estimate_from_pilots(frames: np.ndarray, n_antennas: int, n_subcarriers: int, cp: int,
                         seed: int = 0, amplitude: float = 0.25) -> np.ndarray:
    """Least-squares ``H`` ``(B, Nt, Nc)`` from :func:`pilot_frame` frames ``(B, Nt * (Nc + cp))``
    (or ``(B, 1, ...)``, as the framer delivers one channel).

    Raises:
        ConfigError: frames of the wrong length.
    """
    x = np.asarray(frames)
    x = x.reshape(len(x), -1)
    sym = n_subcarriers + cp
    if x.shape[1] != n_antennas * sym:
        raise ConfigError(f"pilot frames have {x.shape[1]} samples; {n_antennas} antennas x ({n_subcarriers} "
                          f"subcarriers + {cp} CP) = {n_antennas * sym} expected")
    y = x.reshape(len(x), n_antennas, sym)[..., cp:]
    Y = np.fft.fft(y, axis=-1, norm="ortho") / amplitude
    return (Y / pilot_symbol(n_subcarriers, seed)).astype(np.complex64)
