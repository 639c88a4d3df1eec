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


# --------------------------------------------------------------------------- variants
#
# Parameterized generators for the real-transmitter variants (the AMC "wide" and "shifted"
# families, sdrkit.tasks.amc.variants): AM with full / reduced / suppressed carrier and
# over-modulation, SSB upper/lower sideband tuned on the carrier or centred on the occupied
# band, speech-to-music-band audio with silences, binary CPFSK of any index (MSK, GMSK among
# them), linear modulations with RRC, rectangular, raised-cosine or half-sine pulses at
# fractional samples per symbol. All are vectorized over frames; per-frame parameters are
# scalars or arrays of shape (frames,). Outputs are complex64 (frames, n), unit mean power.

PULSES = ("rrc", "rect", "rc", "halfsine")
AM_CARRIERS = ("full", "reduced", "suppressed")


def _col(v, m: int, dtype=np.float32) -> np.ndarray:
    v = np.asarray(v, dtype)
    return np.broadcast_to(v.reshape(-1, 1) if v.ndim else v.reshape(1, 1), (m, 1)).astype(dtype)


def audio(n: int, m: int, rng: np.random.Generator, low=0.0003, high=0.0034, silence_prob: float = 0.0,
          silence_depth_db: float = 30.0, kind: str = "speech") -> np.ndarray:
    """Real "audio" messages in a band, shape (m, n), zero mean, peak 1.

    ``low``/``high``: band edges in cycles/sample (at 1 MS/s, 0.0003-0.0034 is telephone
    speech, up to 0.015-0.02 music); scalars or per frame. ``kind``: ``"speech"`` (band-
    limited noise with a syllabic envelope and a pitch harmonic series) or ``"music"`` (a
    chord of 2-4 notes with harmonics, plus a little noise). With probability
    ``silence_prob`` a frame holds a pause: a random 20-80% stretch of it is attenuated by
    ``silence_depth_db``.
    """
    if kind not in ("speech", "music"):
        raise ConfigError(f"audio kind {kind!r} must be 'speech' or 'music'")
    lo, hi = _col(low, m, np.float64), _col(high, m, np.float64)
    if np.any(hi <= lo) or np.any(lo < 0) or np.any(hi > 0.5):
        raise ConfigError(f"audio band [{float(lo.min())}, {float(hi.max())}] cycles/sample: need 0 <= low < high <= 0.5")
    f = np.fft.rfftfreq(n)[None, :]
    t = np.arange(n, dtype=np.float32)[None, :]
    if kind == "speech":
        spec = np.fft.rfft(rng.standard_normal((m, n)).astype(np.float32), axis=-1)
        band = 1.0 / (1.0 + (f / hi) ** 8) * (1.0 - 1.0 / (1.0 + (f / np.maximum(lo, 1e-6)) ** 4))
        spec *= band / np.sqrt(1 + f / np.maximum(lo, 1e-6))           # speech tilt: more power low
        x = np.fft.irfft(spec, n=n, axis=-1).astype(np.float32)
        x /= np.maximum(np.std(x, axis=-1, keepdims=True), 1e-9)
        pitch = rng.uniform(1.0, 3.0, (m, 1)) * np.maximum(lo, 0.0001)   # voiced pitch near the band's bottom
        ph = rng.uniform(0, 2 * np.pi, (m, 1))
        voiced = rng.uniform(0, 1.5, (m, 1))
        for h in range(1, 6):
            fr = pitch * h
            x += (voiced / h * (fr < hi) * np.sin(2 * np.pi * fr * t + h * ph)).astype(np.float32)
        env = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0, 2e-5, (m, 1)) * t + rng.uniform(0, 6.3, (m, 1)))
        x *= env.astype(np.float32)
    else:
        x = np.zeros((m, n), np.float32)
        root = np.exp(rng.uniform(np.log(np.maximum(lo, 1e-4)), np.log(hi / 3), (m, 1)))
        for k in range(int(rng.integers(2, 5))):
            fr0 = root * 2 ** (rng.integers(0, 13, (m, 1)) / 12)
            amp = rng.uniform(0.3, 1.0, (m, 1))
            for h in range(1, 5):
                fr = fr0 * h
                x += (amp / h ** 1.5 * (fr < hi) * np.sin(2 * np.pi * fr * t + rng.uniform(0, 6.3, (m, 1)))
                      ).astype(np.float32)
        spec = np.fft.rfft(rng.standard_normal((m, n)).astype(np.float32), axis=-1)
        spec *= 1.0 / (1.0 + (f / hi) ** 8)
        nz = np.fft.irfft(spec, n=n, axis=-1).astype(np.float32)
        x += 0.1 * nz / np.maximum(np.std(nz, axis=-1, keepdims=True), 1e-9) * np.std(x, axis=-1, keepdims=True)
    x -= x.mean(axis=-1, keepdims=True)
    if silence_prob > 0:
        quiet = rng.uniform(0, 1, m) < silence_prob
        length = (rng.uniform(0.2, 0.8, m) * n).astype(np.int64)
        start = (rng.uniform(0, 1, m) * (n - length)).astype(np.int64)
        k = np.arange(n)[None, :]
        mask = quiet[:, None] & (k >= start[:, None]) & (k < (start + length)[:, None])
        x[mask] *= np.float32(10 ** (-silence_depth_db / 20))
    x /= np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), 1e-9)
    return x


def am_dsb(msg: np.ndarray, rng: np.random.Generator, carrier: str = "full", index=0.8,
           overmod: str = "reverse") -> np.ndarray:
    """Double-sideband AM of real messages ``msg`` (m, n), peak 1.

    ``carrier``: ``"full"`` (``1 + index * msg``; index > 1 over-modulates), ``"reduced"``
    (carrier amplitude ``index`` in 0.05..0.5 over the message's peak 1: pilot-carrier AM) or
    ``"suppressed"`` (DSB-SC, ``msg``). ``overmod`` (full carrier, index > 1): ``"reverse"``
    (the envelope crosses zero and the phase flips, a linear modulator) or ``"clip"`` (the
    envelope is clipped at zero, a plate-modulated transmitter). Random carrier phase.
    """
    m, n = msg.shape
    idx = _col(index, m)
    if carrier == "full":
        y = 1 + idx * msg
        if overmod == "clip":
            y = np.maximum(y, 0)
        elif overmod != "reverse":
            raise ConfigError(f"overmod {overmod!r} must be 'reverse' or 'clip'")
    elif carrier == "reduced":
        y = idx + msg
    elif carrier == "suppressed":
        y = msg.copy()
    else:
        raise ConfigError(f"AM carrier {carrier!r} must be one of {', '.join(AM_CARRIERS)}")
    y = y.astype(np.complex64) * np.exp(1j * rng.uniform(0, 2 * np.pi, (m, 1))).astype(np.complex64)
    return _normalize(y)


def am_ssb(msg: np.ndarray, rng: np.random.Generator, sideband: str = "usb", centred: bool | np.ndarray = False,
           band=(0.0003, 0.0034), carrier=0.0) -> np.ndarray:
    """Single-sideband AM of real messages ``msg`` (m, n): ``msg +/- j H{msg}``.

    ``sideband``: ``"usb"`` or ``"lsb"``. ``centred`` (per frame or scalar): False = tuned
    on the (suppressed) carrier, the occupied band sits at ``[low, high]`` (USB) or
    ``[-high, -low]`` (LSB); True = the receiver is tuned to the middle of the occupied band
    (shifted by -/+ (low + high) / 2). ``band``: the message's band edges (low, high),
    cycles/sample, scalars or per frame. ``carrier``: residual carrier amplitude relative to
    the message's RMS (0: fully suppressed). Random carrier phase.
    """
    m, n = msg.shape
    if sideband not in ("usb", "lsb"):
        raise ConfigError(f"SSB sideband {sideband!r} must be 'usb' or 'lsb'")
    spec = np.fft.fft(msg, axis=-1)
    if sideband == "usb":
        spec[:, n // 2 + 1:] = 0
        spec[:, 1:(n + 1) // 2] *= 2
    else:
        spec[:, 1:(n + 1) // 2] = 0
        spec[:, n // 2 + 1:] *= 2
    y = np.fft.ifft(spec, axis=-1).astype(np.complex64)
    c = _col(carrier, m)
    if np.any(c):
        y += c * np.sqrt(np.mean(np.abs(y) ** 2, axis=-1, keepdims=True))
    lo, hi = _col(band[0], m, np.float64), _col(band[1], m, np.float64)
    shift = (lo + hi) / 2 * (-1 if sideband == "usb" else 1) * _col(centred, m, np.float64)
    ph = 2 * np.pi * shift * np.arange(n)[None, :] + rng.uniform(0, 2 * np.pi, (m, 1))
    y *= np.exp(1j * ph).astype(np.complex64)
    return _normalize(y)


def fsk(n: int, m: int, rng: np.random.Generator, sps, h_index, bt=None) -> np.ndarray:
    """Binary continuous-phase FSK, shape (m, n): index ``h_index`` (0.5 = MSK), per frame.

    ``sps``: samples per symbol, fractional allowed (>= 2), scalar or per frame. ``bt``:
    None for rectangular frequency pulses (CPFSK, MSK), else the Gaussian filter's
    bandwidth-time product (GFSK; 0.3 with h = 0.5 is GMSK). Random symbol timing and
    carrier phase.
    """
    sps = _col(sps, m, np.float64)
    if np.any(sps < 2):
        raise ConfigError(f"FSK sps={float(sps.min())} samples/symbol must be >= 2")
    k = np.arange(n + 1, dtype=np.float64)[None, :] + rng.uniform(0, 1, (m, 1)) * sps
    sym_idx = np.floor(k / sps).astype(np.int64)
    n_sym = int(sym_idx.max()) + 2
    bits = (rng.integers(0, 2, (m, n_sym)) * 2 - 1).astype(np.float32)
    freq = np.take_along_axis(bits, sym_idx, axis=1)
    if bt is not None:
        # Gaussian pulse of bandwidth-time bt at this frame's sps (grouped by rounded sps)
        out = np.empty_like(freq)
        bts = _col(bt, m, np.float64)[:, 0]
        key = np.round(sps[:, 0] * 4) / 4 * 100 + np.round(bts * 20)
        for kk in np.unique(key):
            rows = np.flatnonzero(key == kk)
            s, b = float(sps[rows[0], 0]), float(bts[rows[0]])
            tt = np.arange(-int(2 * s) - 1, int(2 * s) + 2) / s
            sigma = np.sqrt(np.log(2)) / (2 * np.pi * b)
            g = np.exp(-tt ** 2 / (2 * sigma ** 2))
            g /= g.sum()
            from scipy.signal import oaconvolve

            out[rows] = oaconvolve(freq[rows], g[None, :].astype(np.float32), mode="same", axes=-1)
        freq = out
    phase = np.cumsum(freq.astype(np.float64) * (np.pi * _col(h_index, m, np.float64) / sps), axis=1)
    phase += rng.uniform(0, 2 * np.pi, (m, 1))
    return np.exp(1j * phase[:, :n]).astype(np.complex64)


@functools.lru_cache(maxsize=128)
def pulse_taps(pulse: str, sps: int, rolloff: float = 0.35, span: int = 8) -> np.ndarray:
    """Transmit pulse taps at integer ``sps``: ``rrc``, ``rc`` (raised cosine, i.e. no matched
    filter at the receiver), ``rect`` (``sps`` ones) or ``halfsine``; unit energy, float32."""
    if pulse == "rrc":
        return rrc_taps(sps, rolloff, span)
    if pulse == "rect":
        h = np.ones(sps)
    elif pulse == "halfsine":
        h = np.sin(np.pi * (np.arange(sps) + 0.5) / sps)
    elif pulse == "rc":
        t = np.arange(-span * sps // 2, span * sps // 2 + 1) / sps
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.sinc(t) * np.cos(np.pi * rolloff * t) / (1 - (2 * rolloff * t) ** 2)
        sing = np.isclose(np.abs(2 * rolloff * t), 1)
        h[sing] = np.pi / 4 * np.sinc(1 / (2 * rolloff))
    else:
        raise ConfigError(f"pulse {pulse!r} must be one of {', '.join(PULSES)}")
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)


def linear(name: str, n: int, m: int, rng: np.random.Generator, sps: float, pulse: str = "rrc",
           rolloff: float = 0.35) -> np.ndarray:
    """A linear modulation (:data:`LINEAR`) with pulse ``pulse`` (:data:`PULSES`) at ``sps``
    samples/symbol (fractional allowed, >= 2; one value for all ``m`` frames): symbols shaped
    at ``ceil(sps)`` and resampled (rectangular pulses are placed exactly at the fractional
    rate instead, keeping their edges). Random symbol timing and carrier phase; (m, n)."""
    if name not in LINEAR:
        raise ConfigError(f"linear modulation {name!r} must be one of {', '.join(LINEAR)}")
    if not 2 <= sps <= 64:
        raise ConfigError(f"sps={sps} samples/symbol must be in [2, 64]")
    const = CONSTELLATIONS[name].astype(np.complex64)
    if pulse == "rect":
        k = np.arange(n, dtype=np.float64)[None, :] + rng.uniform(0, 1, (m, 1)) * sps
        si = np.floor(k / sps).astype(np.int64)
        sym = const[rng.integers(0, len(const), (m, int(si.max()) + 1))]
        y = np.take_along_axis(sym, si, axis=1)
    else:
        isps = int(math.ceil(sps))
        taps = pulse_taps(pulse, isps, float(rolloff))
        n_gen = int(math.ceil((n + 2 * isps) * isps / sps)) + len(taps)
        n_sym = n_gen // isps + 1
        up = np.zeros((m, n_sym * isps), np.complex64)
        up[:, ::isps] = const[rng.integers(0, len(const), size=(m, n_sym))]
        y = _fft_filter(up, taps)[:, len(taps) // 2:]
        if not math.isclose(sps, isps):
            y = _resample_rows(y, isps / sps)
        off = rng.integers(0, isps, size=m)
        y = np.take_along_axis(y, off[:, None] + np.arange(n)[None, :], axis=1)
    y = y.astype(np.complex64) * np.exp(1j * rng.uniform(0, 2 * np.pi, (m, 1))).astype(np.complex64)
    return _normalize(y)
