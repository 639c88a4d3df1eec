"""Seeded, vectorized signal generators.

``modulate(name, n_samples, rng=..., n_frames=...)`` returns complex64 baseband at DC with
unit mean power per frame. Digital classes are root-raised-cosine shaped symbol streams
with a random symbol timing offset; analog classes carry a random band-limited "audio"
message (filtered noise plus tones). Everything is generated for all frames at once.

Classes (labels used across sdrkit): ``bpsk qpsk 8psk qam16 qam64 pam4`` (linear,
RRC shaped), ``gfsk cpfsk`` (binary continuous-phase FSK; gaussian-filtered for gfsk),
``wbfm am-dsb am-ssb`` (analog). ``sps`` (samples per symbol) may be fractional: symbols
are shaped at the next integer rate and resampled.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from sdrkit.errors import ConfigError

MODULATIONS = ("bpsk", "qpsk", "8psk", "qam16", "qam64", "pam4", "gfsk", "cpfsk", "wbfm", "am-dsb", "am-ssb")
LINEAR = ("bpsk", "qpsk", "8psk", "qam16", "qam64", "pam4")


def _qam(m: int) -> np.ndarray:
    k = int(math.isqrt(m))
    lv = np.arange(-(k - 1), k, 2, dtype=np.float64)
    c = (lv[:, None] + 1j * lv[None, :]).ravel()
    return c / np.sqrt(np.mean(np.abs(c) ** 2))


CONSTELLATIONS: dict[str, np.ndarray] = {
    "bpsk": np.array([1, -1], np.complex128),
    "qpsk": np.exp(1j * (np.pi / 4 + np.pi / 2 * np.arange(4))),
    "8psk": np.exp(1j * np.pi / 4 * np.arange(8)),
    "qam16": _qam(16),
    "qam64": _qam(64),
    "pam4": np.array([-3, -1, 1, 3], np.complex128) / np.sqrt(5),
}


@functools.lru_cache(maxsize=256)
def rrc_taps(sps: int, rolloff: float, span: int = 8) -> np.ndarray:
    """Root-raised-cosine taps, ``span`` symbols long at ``sps`` samples/symbol, unit energy."""
    n = np.arange(-span * sps // 2, span * sps // 2 + 1, dtype=np.float64)
    t = n / sps
    b = rolloff
    h = np.empty_like(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        num = np.sin(np.pi * t * (1 - b)) + 4 * b * t * np.cos(np.pi * t * (1 + b))
        den = np.pi * t * (1 - (4 * b * t) ** 2)
        h = num / den
    h[t == 0] = 1 - b + 4 * b / np.pi
    if b > 0:
        sing = np.isclose(np.abs(t), 1 / (4 * b))
        h[sing] = b / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * b)) + (1 - 2 / np.pi) * np.cos(np.pi / (4 * b)))
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)


def _normalize(x: np.ndarray) -> np.ndarray:
    p = np.mean(x.real ** 2 + x.imag ** 2, axis=-1, keepdims=True)
    x *= (1.0 / np.sqrt(np.maximum(p, 1e-20))).astype(np.float32)
    return x


def _fft_filter(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Filter rows of x with h (same length output, delay compensated)."""
    from scipy.signal import oaconvolve

    y = oaconvolve(x, h[None, :], mode="full", axes=-1)
    d = (len(h) - 1) // 2
    return y[:, d:d + x.shape[-1]]


def _linear(name: str, n: int, m: int, rng, sps: float, rolloff: float) -> np.ndarray:
    isps = int(math.ceil(sps))
    n_gen = int(math.ceil((n + 2 * isps) * isps / sps)) + isps
    n_sym = n_gen // isps + 1
    const = CONSTELLATIONS[name].astype(np.complex64)
    sym = const[rng.integers(0, len(const), size=(m, n_sym))]
    up = np.zeros((m, n_sym * isps), np.complex64)
    up[:, ::isps] = sym
    y = _fft_filter(up, rrc_taps(isps, float(rolloff)))
    if not math.isclose(sps, isps):
        y = _resample_rows(y, isps / sps)
    off = rng.integers(0, isps, size=m)  # random symbol timing
    idx = off[:, None] + np.arange(n)[None, :]
    return np.take_along_axis(y, idx, axis=1).astype(np.complex64)


def _resample_rows(y: np.ndarray, factor: float) -> np.ndarray:
    """Linear-phase fractional resampling of rows by ``factor`` (output rate / input rate)."""
    from scipy.signal import resample_poly
    from fractions import Fraction

    fr = Fraction(factor).limit_denominator(64)
    return resample_poly(y, fr.numerator, fr.denominator, axis=-1).astype(np.complex64)


def _fsk(name: str, n: int, m: int, rng, sps: float, h_index=None) -> np.ndarray:
    isps = max(2, int(round(sps)))
    n_sym = n // isps + 3
    bits = rng.integers(0, 2, size=(m, n_sym)).astype(np.float32) * 2 - 1
    freq = np.repeat(bits, isps, axis=1)
    if name == "gfsk":
        bt = rng.uniform(0.3, 0.5, size=1)[0]
        tt = np.arange(-2 * isps, 2 * isps + 1) / isps
        sigma = np.sqrt(np.log(2)) / (2 * np.pi * bt)
        g = np.exp(-tt ** 2 / (2 * sigma ** 2)).astype(np.float32)
        g /= g.sum()
        from scipy.signal import oaconvolve

        freq = oaconvolve(freq, g[None, :], mode="same", axes=-1).astype(np.float32)
    if h_index is None:
        h_index = rng.uniform(0.3, 0.7, size=(m, 1)) if name == "cpfsk" else rng.uniform(0.4, 0.6, size=(m, 1))
    phase = np.cumsum(freq * (np.pi * h_index / isps).astype(np.float32), axis=1)
    phase += rng.uniform(0, 2 * np.pi, size=(m, 1)).astype(np.float32)
    off = rng.integers(0, isps, size=m)
    idx = off[:, None] + np.arange(n)[None, :]
    ph = np.take_along_axis(phase, idx, axis=1)
    return np.exp(1j * ph).astype(np.complex64)


def message(n: int, m: int, rng) -> np.ndarray:
    """Random band-limited real "audio" messages, shape (m, n), peak about 1.

    Low-pass filtered noise (random cutoff 0.5-5% of fs) plus 1-3 random tones.
    """
    spec = np.fft.rfft(rng.standard_normal((m, n)).astype(np.float32), axis=-1)
    f = np.fft.rfftfreq(n)[None, :]
    cutoff = rng.uniform(0.005, 0.05, size=(m, 1))
    spec *= 1.0 / (1.0 + (f / cutoff) ** 8)
    x = np.fft.irfft(spec, n=n, axis=-1).astype(np.float32)
    x /= np.maximum(np.std(x, axis=-1, keepdims=True), 1e-9)
    t = np.arange(n, dtype=np.float32)[None, :]
    for _ in range(2):
        amp = rng.uniform(0, 1.0, size=(m, 1)).astype(np.float32)
        fr = rng.uniform(0.001, 0.04, size=(m, 1)).astype(np.float32)
        x += amp * np.sin(2 * np.pi * fr * t + rng.uniform(0, 2 * np.pi, size=(m, 1)).astype(np.float32))
    x /= np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), 1e-9)
    return x


def _analog(name: str, n: int, m: int, rng) -> np.ndarray:
    msg = message(n, m, rng)
    if name == "am-dsb":
        mu = rng.uniform(0.3, 0.9, size=(m, 1)).astype(np.float32)
        y = (1 + mu * msg).astype(np.complex64)
    elif name == "am-ssb":
        spec = np.fft.fft(msg, axis=-1)
        spec[:, n // 2 + 1:] = 0  # upper sideband, suppressed carrier
        spec[:, 1:(n + 1) // 2] *= 2
        y = np.fft.ifft(spec, axis=-1).astype(np.complex64)
    else:  # wbfm
        dev = rng.uniform(0.05, 0.25, size=(m, 1)).astype(np.float32)  # peak deviation / fs
        y = np.exp(1j * 2 * np.pi * np.cumsum(dev * msg, axis=-1)).astype(np.complex64)
    y *= np.exp(1j * rng.uniform(0, 2 * np.pi, size=(m, 1))).astype(np.complex64)
    return y


def modulate(name: str, n_samples: int, *, rng: np.random.Generator, sps: float = 8, rolloff: float = 0.35,
             n_frames: int | None = None) -> np.ndarray:
    """Generate baseband frames of one modulation.

    Args:
        name: one of :data:`MODULATIONS`.
        n_samples: samples per frame.
        rng: the random generator (all randomness comes from it).
        sps: samples per symbol (digital classes); fractional allowed, >= 2.
        rolloff: RRC roll-off, 0 < rolloff <= 1 (linear classes).
        n_frames: None for one 1-D frame, else the number of frames (rows).

    Returns:
        complex64, shape ``(n_samples,)`` or ``(n_frames, n_samples)``, unit mean power per frame.

    Raises:
        ConfigError: unknown name or out-of-range parameter.
    """
    if name not in MODULATIONS:
        raise ConfigError(f"unknown modulation {name!r}; known: {', '.join(MODULATIONS)}")
    if n_samples < 1:
        raise ConfigError(f"n_samples={n_samples} must be >= 1")
    if not 2 <= sps <= 64:
        raise ConfigError(f"sps={sps} samples/symbol must be in [2, 64]")
    if not 0 < rolloff <= 1:
        raise ConfigError(f"rolloff={rolloff} must be in (0, 1]")
    m = 1 if n_frames is None else int(n_frames)
    if name in LINEAR:
        y = _linear(name, n_samples, m, rng, float(sps), float(rolloff))
        y *= np.exp(1j * rng.uniform(0, 2 * np.pi, size=(m, 1))).astype(np.complex64)
    elif name in ("gfsk", "cpfsk"):
        y = _fsk(name, n_samples, m, rng, sps)
    else:
        y = _analog(name, n_samples, m, rng)
    y = _normalize(np.ascontiguousarray(y, dtype=np.complex64))
    return y[0] if n_frames is None else y


def ofdm_burst(n_samples: int, *, rng: np.random.Generator, nfft: int = 64, cp: int = 16, used: int = 52,
               mod: str = "qpsk") -> np.ndarray:
    """An OFDM burst: ``nfft``-point symbols with ``cp`` cyclic prefix, ``used`` active carriers
    around DC (DC null), carrying ``mod`` symbols; complex64, unit mean power, length ``n_samples``."""
    if mod not in CONSTELLATIONS:
        raise ConfigError(f"OFDM subcarrier modulation {mod!r} must be one of {', '.join(CONSTELLATIONS)}")
    if not 0 < used < nfft or cp < 0:
        raise ConfigError(f"OFDM needs 0 < used ({used}) < nfft ({nfft}) and cp >= 0 ({cp})")
    n_sym = -(-n_samples // (nfft + cp))
    const = CONSTELLATIONS[mod]
    grid = np.zeros((n_sym, nfft), np.complex128)
    half = used // 2
    carriers = np.r_[1:half + 1, nfft - (used - half):nfft]
    grid[:, carriers] = const[rng.integers(0, len(const), size=(n_sym, len(carriers)))]
    t = np.fft.ifft(grid, axis=-1)
    t = np.concatenate([t[:, nfft - cp:], t], axis=-1).ravel()[:n_samples]
    return _normalize(t.astype(np.complex64)[None, :])[0]


def tone(n_samples: int, freq_norm: float, amplitude: float = 1.0, phase: float = 0.0) -> np.ndarray:
    """A complex tone at ``freq_norm`` cycles/sample."""
    return (amplitude * np.exp(1j * (2 * np.pi * freq_norm * np.arange(n_samples) + phase))).astype(np.complex64)
