"""Channel and receiver impairments: the one library every sdrkit simulator uses.

The simulated radio's front ends (:mod:`sdrkit.radio.frontends`), the AMC data generator
(:mod:`sdrkit.tasks.amc.data`) and the beam simulator (:mod:`sdrkit.tasks.beam.sim`) all
impair samples through these functions, so an impairment parameter means the same thing
everywhere. Pure numpy functions (TorchSig ``functional`` style), thin callable classes
around them, and :class:`Compose` to chain those::

    rx = Compose([CFO(0.001), IQImbalance(1.0, 5.0), DCOffset(0.01), AWGN(20.0)])
    y = rx(x, rng)                     # == awgn(dc_offset(iq_imbalance(cfo(x, ...)...)...), rng)

Shapes and types
    ``x`` is complex, 1-D ``(n,)`` or 2-D ``(frames, n)``; every function returns complex64
    of the same shape and never writes into ``x``. Per-frame parameters are scalars or
    arrays of shape ``(frames,)`` (``(frames, 1)`` is accepted too). Randomness comes only
    from the explicit ``rng: np.random.Generator`` argument: the same generator state gives
    the same samples.

SNR (:func:`awgn`; used everywhere in sdrkit)
    ``SNR = Ps / Pn``: ``Ps`` is the mean power of the signal over the frame,
    ``mean(|x|^2)``, and ``Pn`` the power of circularly symmetric complex Gaussian noise
    (``Pn / 2`` per I and Q component), both over the full sample rate (no bandwidth
    correction). ``snr_db = 10 log10(Ps / Pn)``.

Carrier frequency offset (:func:`cfo`)
    In cycles/sample (Hz divided by the sample rate). Sample ``k`` of ``x`` is rotated by
    ``exp(j (2 pi cfo (start + k) + phase0))``: positive ``cfo`` moves the spectrum up.
    ``start`` is the absolute stream index of ``x[..., 0]``, so a stream impaired block by
    block (each block with its own ``start``) is phase-continuous, across gaps too.

Phase noise (:func:`phase_noise`)
    A Wiener process (random walk): ``theta[k] = phase0 + sum_{i<=k} std * w_i`` with
    ``w_i`` i.i.d. standard normal, ``std`` in radians per sample step.

IQ imbalance (:func:`iq_imbalance`): the one convention in sdrkit
    The I branch is the reference and passes unchanged; the Q branch has the gain error
    ``g = 10^(amp_db / 20)`` and the quadrature error ``phi = phase_deg * pi / 180``::

        I' = I
        Q' = g (Q cos(phi) - I sin(phi))

    In complex form ``y = mu x + nu conj(x)`` with::

        mu = (1 + g exp(-j phi)) / 2
        nu = (1 - g exp(+j phi)) / 2

    (the receiver form used in the IQ-imbalance literature, e.g. Tarighat, Bagheri and
    Sayed, IEEE Trans. Signal Process. 2005). Physically: for the RF signal
    ``r(t) = Re{x(t) e^{j w t}} = I cos(w t) - Q sin(w t)``, the I mixer's LO is
    ``2 cos(w t)`` and the Q mixer's LO is ``-2 g sin(w t + phi)`` instead of
    ``-2 sin(w t)``. Positive ``amp_db``: the Q branch has more gain than the I branch.
    Positive ``phase_deg``: the Q branch's LO leads its ideal phase by ``phi``, so the Q
    branch measures the signal along an axis ``90 + phase_deg`` degrees from the I axis
    (``Q' = g Re{x exp(-j (pi/2 + phi))}``), more than 90 degrees apart.
    A tone ``A e^{j 2 pi f k}`` comes out as ``mu A e^{j 2 pi f k} + nu conj(A) e^{-j 2 pi f k}``:
    an image at ``-f`` with complex amplitude ``nu conj(A)``. The image-rejection ratio is::

        IRR = |mu|^2 / |nu|^2 = (1 + 2 g cos(phi) + g^2) / (1 - 2 g cos(phi) + g^2)

    (:func:`image_rejection_db`; about 22.8 dB for 1 dB and 5 degrees). The IRR does not
    depend on the sign of ``phi``; the image's phase ``arg(nu)`` does.

Gain, DC offset
    ``gain_db`` is an amplitude gain, ``10^(gain_db / 20)``; ``dc`` a complex offset in
    full-scale units, added after every other receiver impairment in sdrkit's chains.

Building blocks for a fused rotation
    :func:`cfo_phase` and :func:`wiener_phase` return phases (radians) and :func:`phasor`
    turns a phase into ``exp(j phase)``; summing the phases first and rotating once
    (:func:`rotate`) costs one ``cos``/``sin`` per sample for CFO and phase noise together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ConfigError

__all__ = [
    "AWGN", "CFO", "Compose", "DCOffset", "Delay", "Gain", "IQImbalance", "Multipath", "PhaseNoise",
    "SampleRateOffset", "awgn", "cfo", "cfo_phase", "cfo_phasor", "dc_offset", "delay", "gain",
    "image_rejection_db", "iq_coefficients", "iq_imbalance", "multipath", "noise_pool", "noise_power",
    "phase_noise", "phasor", "rotate", "sample_rate_offset", "wiener_phase",
]


def _c64(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.complex64)
    if x.ndim not in (1, 2):
        raise ConfigError(f"samples of shape {x.shape}: impairments take (n,) or (frames, n)")
    return x


def _per_frame(v, x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Parameter ``v`` as a scalar, or shaped (frames, 1) to broadcast over 2-D ``x``."""
    v = np.asarray(v, dtype=dtype)
    if v.ndim == 0:
        return v
    frames = 1 if x.ndim == 1 else x.shape[0]
    if v.size not in (1, frames):
        raise ConfigError(f"per-frame parameter of shape {v.shape} for samples of shape {x.shape}: "
                          f"give a scalar or one value per frame ({frames},)")
    return v.reshape(()) if x.ndim == 1 else v.reshape(-1, 1)


def _frames(v, dtype) -> np.ndarray:
    """Parameter ``v`` as a scalar, or shaped (frames, 1) (no samples to check against)."""
    v = np.asarray(v, dtype=dtype)
    return v if v.ndim == 0 else v.reshape(-1, 1)


# --------------------------------------------------------------------------- noise


def noise_power(x, snr_db) -> np.ndarray:
    """Noise power ``Pn = mean(|x|^2) / 10^(snr_db / 10)`` per frame (module docstring's SNR).

    Args:
        x: complex samples, (n,) or (frames, n).
        snr_db: SNR, dB; scalar or (frames,).

    Returns:
        float64, a scalar for 1-D ``x``, else (frames, 1).
    """
    x = _c64(x)
    ps = np.mean(x.real ** 2 + x.imag ** 2, axis=-1, keepdims=x.ndim > 1)
    return ps / 10.0 ** (_per_frame(snr_db, x) / 10.0)


def noise_pool(rng: np.random.Generator, n: int = 1 << 21) -> np.ndarray:
    """A pool of unit-power complex Gaussian noise for :func:`awgn` (``pool=``).

    Drawing fresh Gaussians costs more than the rest of a synthetic frame; a 2M-sample pool
    with a random window per frame gives noise that is Gaussian and, across frames,
    practically independent (two frames share samples with probability ~ n_frame / n).

    Args:
        rng: random generator.
        n: pool length, samples.

    Returns:
        complex64 (n,), ``E|z|^2 = 1`` (variance 1/2 per component).
    """
    return rng.standard_normal((n, 2), dtype=np.float32).view(np.complex64)[:, 0] * np.float32(np.sqrt(0.5))


def awgn(x, snr_db, rng: np.random.Generator, pool: np.ndarray | None = None) -> np.ndarray:
    """Add circularly symmetric complex white Gaussian noise at ``snr_db`` per frame.

    Args:
        x: complex samples, (n,) or (frames, n).
        snr_db: SNR (module docstring: frame power over noise power, full band), dB;
            scalar or (frames,). ``inf`` adds nothing.
        rng: random generator.
        pool: optional unit-power noise from :func:`noise_pool`; each frame then takes a
            random window of it (one ``rng.integers`` draw per frame) instead of fresh
            Gaussians (several times faster; the same statistics).

    Returns:
        complex64, the shape of ``x``.

    Raises:
        ConfigError: a pool not longer than a frame.
    """
    x = _c64(x)
    pn = noise_power(x, snr_db)
    if pool is None:
        noise = rng.standard_normal((*x.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
        noise *= np.sqrt(pn / 2).astype(np.float32)
        return x + noise
    pool = np.asarray(pool, np.complex64)
    n = x.shape[-1]
    if pool.ndim != 1 or len(pool) <= n:
        raise ConfigError(f"noise pool of shape {pool.shape} for frames of {n} samples: "
                          f"make one longer than a frame with noise_pool(rng)")
    off = rng.integers(0, len(pool) - n, x.shape[:-1])
    noise = np.lib.stride_tricks.sliding_window_view(pool, n)[off]    # fancy indexing copies
    noise *= np.sqrt(pn).astype(np.float32)
    noise += x
    return noise


# --------------------------------------------------------------------------- carrier phase


def cfo_phase(n: int, cfo, start: int = 0, phase0=0.0, dtype=np.float64) -> np.ndarray:
    """Carrier phase ``2 pi cfo (start + k) + phase0`` for ``k = 0 .. n-1``, radians.

    ``2 pi cfo start`` is reduced modulo ``2 pi`` in float64 first, so any ``start`` is exact
    to float64 rounding.

    Args:
        n: samples.
        cfo: carrier frequency offset, cycles/sample; scalar or (frames,).
        start: absolute stream index of sample 0.
        phase0: phase at index 0 of the stream, rad; scalar or (frames,).
        dtype: float64, or float32 (half the memory; only for phases of a few hundred rad at
            most, i.e. frames, since float32 keeps ~7 digits).

    Returns:
        ``dtype``, (n,) for scalar parameters, else (frames, n).
    """
    w = (2 * np.pi) * _frames(cfo, dtype)
    off = np.remainder(w.astype(np.float64) * start, 2 * np.pi) + _frames(phase0, np.float64)
    return w * np.arange(n, dtype=dtype) + off.astype(dtype)


def cfo_phasor(n: int, cfo, start: int = 0, phase0=0.0) -> np.ndarray:
    """``exp(j cfo_phase(n, cfo, start, phase0))`` computed in float64, as complex64.

    Args: as :func:`cfo_phase`.

    Returns:
        complex64, (n,) for scalar parameters, else (frames, n).
    """
    return np.exp(1j * cfo_phase(n, cfo, start, phase0)).astype(np.complex64)


def wiener_phase(shape, std, rng: np.random.Generator, phase0=0.0, hold: int = 1, dtype=np.float64) -> np.ndarray:
    """A Wiener phase-noise walk, radians: ``phase0 + cumsum(std * w)`` along the last axis.

    Args:
        shape: ``n`` or ``(frames, n)``.
        std: step standard deviation, rad per sample; scalar or (frames,).
        rng: random generator (``ceil(n / hold)`` normals per frame, of ``dtype``).
        phase0: phase before the first step, rad; scalar or (frames,) (continue a stream
            with the previous block's last phase).
        hold: draw a step of ``std * sqrt(hold)`` every ``hold`` samples and hold it: the
            same walk statistics at the draw points for ``1/hold`` of the draws (small
            steps, so holding is indistinguishable from interpolating).
        dtype: float64 or float32 of the draws and the walk.

    Returns:
        ``dtype``, ``shape``.

    Raises:
        ConfigError: ``hold`` < 1.
    """
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if hold < 1:
        raise ConfigError(f"hold={hold}: phase-noise steps are held for at least 1 sample")
    n = shape[-1]
    dtype = np.dtype(dtype).type
    steps = rng.standard_normal((*shape[:-1], -(-n // hold)), dtype=dtype)
    walk = np.cumsum(steps * (_frames(std, dtype) * dtype(np.sqrt(hold))), axis=-1)
    if hold > 1:
        walk = np.repeat(walk, hold, axis=-1)[..., :n]
    p0 = _frames(phase0, np.float64)
    if np.any(p0):
        walk += p0.astype(dtype)
    return walk


def phasor(phase) -> np.ndarray:
    """``exp(j phase)`` as complex64, from float32 ``cos`` and ``sin`` (phases of a few
    thousand rad at most: the phase is rounded to float32 first)."""
    ph = np.asarray(phase, np.float32)
    out = np.empty(ph.shape, np.complex64)
    np.cos(ph, out=out.real)     # numpy's float32 cos/sin give the same bits at any output stride
    np.sin(ph, out=out.imag)
    return out


def rotate(x, phase) -> np.ndarray:
    """``x * exp(j phase)``; ``phase`` in rad broadcasts against ``x`` (see :func:`phasor`)."""
    x = _c64(x)
    p = phasor(phase)
    # x first, written into p: numpy's complex multiply (FMA) is not bit-commutative, and
    # ``x * p`` on a large temporary p would be evaluated as ``p *= x``
    return np.multiply(x, p, out=p) if p.shape == x.shape else np.multiply(x, p)


def cfo(x, cfo, start: int = 0, phase0=0.0) -> np.ndarray:
    """Rotate by a carrier frequency offset (module docstring's convention).

    Args:
        x: complex samples, (n,) or (frames, n).
        cfo: offset, cycles/sample (Hz / sample rate); scalar or (frames,).
        start: absolute stream index of ``x[..., 0]`` (phase-continuous block streams).
        phase0: carrier phase at stream index 0, rad; scalar or (frames,).

    Returns:
        complex64, the shape of ``x``.
    """
    x = _c64(x)
    return x * cfo_phasor(x.shape[-1], _per_frame(cfo, x), start, _per_frame(phase0, x))


def phase_noise(x, std_rad, rng: np.random.Generator, phase0=0.0, hold: int = 1) -> np.ndarray:
    """Wiener phase noise of ``std_rad`` radians per sample step (see :func:`wiener_phase`).

    Args:
        x: complex samples, (n,) or (frames, n).
        std_rad: step standard deviation, rad per sample; scalar or (frames,).
        rng: random generator.
        phase0: walk start, rad; scalar or (frames,).
        hold: samples per drawn step (see :func:`wiener_phase`).

    Returns:
        complex64, the shape of ``x``.
    """
    x = _c64(x)
    return rotate(x, wiener_phase(x.shape, _per_frame(std_rad, x), rng, _per_frame(phase0, x), hold))


# --------------------------------------------------------------------------- receiver


def iq_coefficients(amp_db, phase_deg) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, nu)`` of ``y = mu x + nu conj(x)`` (module docstring's convention), complex128."""
    g = 10.0 ** (np.asarray(amp_db, np.float64) / 20.0)
    ph = np.deg2rad(np.asarray(phase_deg, np.float64))
    return (1 + g * np.exp(-1j * ph)) / 2, (1 - g * np.exp(1j * ph)) / 2


def image_rejection_db(amp_db, phase_deg) -> np.ndarray:
    """Image-rejection ratio ``10 log10(|mu|^2 / |nu|^2)`` of an IQ imbalance, dB (inf if none).

    ``|mu|^2 / |nu|^2 = (1 + 2 g cos(phi) + g^2) / (1 - 2 g cos(phi) + g^2)``.
    """
    g = 10.0 ** (np.asarray(amp_db, np.float64) / 20.0)
    c = 2 * g * np.cos(np.deg2rad(np.asarray(phase_deg, np.float64)))
    with np.errstate(divide="ignore"):
        return 10 * np.log10((1 + c + g ** 2) / np.maximum(1 - c + g ** 2, 0.0))


def iq_imbalance(x, amp_db, phase_deg) -> np.ndarray:
    """Receiver IQ imbalance: ``I' = I``, ``Q' = g (Q cos(phi) - I sin(phi))``.

    ``g = 10^(amp_db / 20)``, ``phi = phase_deg`` in radians; equivalently
    ``y = mu x + nu conj(x)``, ``mu = (1 + g e^{-j phi}) / 2``, ``nu = (1 - g e^{j phi}) / 2``
    (module docstring: what the signs mean, the image-rejection ratio).

    Args:
        x: complex samples, (n,) or (frames, n).
        amp_db: Q-branch gain relative to the I branch, dB; scalar or (frames,).
        phase_deg: Q-branch quadrature error, degrees (positive: the Q axis sits at more
            than 90 degrees from the I axis); scalar or (frames,).

    Returns:
        complex64, the shape of ``x`` (I exactly unchanged).
    """
    x = _c64(x)
    g = (10.0 ** (_per_frame(amp_db, x) / 20.0)).astype(np.float32)
    phi = np.deg2rad(_per_frame(phase_deg, x)).astype(np.float32)
    y = x.copy()
    q = y.imag
    q *= g * np.cos(phi)
    q -= y.real * (g * np.sin(phi))
    return y


def gain(x, gain_db) -> np.ndarray:
    """Amplitude gain ``10^(gain_db / 20)``; ``gain_db`` scalar or (frames,)."""
    x = _c64(x)
    return x * (10.0 ** (_per_frame(gain_db, x) / 20.0)).astype(np.float32)


def dc_offset(x, dc) -> np.ndarray:
    """Add a complex DC offset, full-scale units; ``dc`` scalar or (frames,)."""
    x = _c64(x)
    return x + _per_frame(dc, x, np.complex64)


# --------------------------------------------------------------------------- channel


def multipath(x, rng: np.random.Generator, n_taps: int = 4, decay: float = 1.0, rician_k: float | None = None,
              taps: np.ndarray | None = None) -> np.ndarray:
    """Random multipath fading, one channel per frame.

    Taps at delays 0 .. n_taps-1 samples with an exponential power-delay profile
    ``exp(-k / decay)``, Rayleigh, or Rician with K-factor ``rician_k`` on tap 0 (a
    line-of-sight path of random phase), normalized to unit total power per frame. The
    output keeps the input's length (the channel's tail is cut).

    Args:
        x: complex samples, (n,) or (frames, n).
        rng: random generator (unused when ``taps`` is given).
        n_taps: taps, >= 1.
        decay: power-delay-profile decay constant, samples.
        rician_k: K-factor (linear) of tap 0, or None for Rayleigh.
        taps: fixed taps, (n_taps,) or (frames, n_taps), instead of the random draw.

    Returns:
        complex64, the shape of ``x``.
    """
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


def delay(x, n_samples: int) -> np.ndarray:
    """Delay by an integer number of samples (zeros shifted in, length kept)."""
    x = _c64(x)
    y = np.zeros_like(x)
    if n_samples < x.shape[-1]:
        y[..., n_samples:] = x[..., : x.shape[-1] - n_samples]
    return y


def sample_rate_offset(x, ppm) -> np.ndarray:
    """Resample by ``1 + ppm * 1e-6`` with linear interpolation (a clock mismatch).

    Output sample ``k`` is the input at ``k (1 + ppm 1e-6)`` (held at the last sample past
    the end); ``ppm`` scalar or (frames,).
    """
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


# --------------------------------------------------------------------------- callables


def _need(rng, what: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"{what} is random: call it as t(x, rng) with rng=np.random.default_rng(seed)")
    return rng


@dataclass(frozen=True, eq=False)
class AWGN:
    """:func:`awgn` at ``snr_db`` (scalar or per frame), optionally from a noise ``pool``."""

    snr_db: object
    pool: np.ndarray | None = None

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return awgn(x, self.snr_db, _need(rng, "AWGN"), self.pool)


@dataclass(frozen=True, eq=False)
class CFO:
    """:func:`cfo`: offset in cycles/sample, ``start`` index, ``phase0`` rad."""

    cfo: object
    start: int = 0
    phase0: object = 0.0

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return cfo(x, self.cfo, self.start, self.phase0)


@dataclass(frozen=True, eq=False)
class PhaseNoise:
    """:func:`phase_noise`: Wiener steps of ``std_rad`` rad per sample."""

    std_rad: object
    hold: int = 1

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return phase_noise(x, self.std_rad, _need(rng, "PhaseNoise"), hold=self.hold)


@dataclass(frozen=True, eq=False)
class IQImbalance:
    """:func:`iq_imbalance`: Q-branch gain ``amp_db`` dB and quadrature error ``phase_deg`` degrees."""

    amp_db: object
    phase_deg: object

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return iq_imbalance(x, self.amp_db, self.phase_deg)


@dataclass(frozen=True, eq=False)
class Gain:
    """:func:`gain`: amplitude gain ``gain_db`` dB."""

    gain_db: object

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return gain(x, self.gain_db)


@dataclass(frozen=True, eq=False)
class DCOffset:
    """:func:`dc_offset`: complex ``dc``, full-scale units."""

    dc: object

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return dc_offset(x, self.dc)


@dataclass(frozen=True, eq=False)
class Multipath:
    """:func:`multipath` with these settings (random taps per frame unless ``taps``)."""

    n_taps: int = 4
    decay: float = 1.0
    rician_k: float | None = None
    taps: np.ndarray | None = None

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        r = rng if self.taps is not None else _need(rng, "Multipath")
        return multipath(x, r, self.n_taps, self.decay, self.rician_k, self.taps)


@dataclass(frozen=True, eq=False)
class Delay:
    """:func:`delay` by ``n_samples``."""

    n_samples: int

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return delay(x, self.n_samples)


@dataclass(frozen=True, eq=False)
class SampleRateOffset:
    """:func:`sample_rate_offset` by ``ppm``."""

    ppm: object

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        return sample_rate_offset(x, self.ppm)


class Compose:
    """Chain impairments: ``Compose([a, b, c])(x, rng) == c(b(a(x, rng), rng), rng)``.

    Every step draws from the same ``rng`` in order, so a chain is reproducible from the
    generator's state. Steps are any callables ``t(x, rng) -> complex64``.
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng: np.random.Generator | None = None) -> np.ndarray:
        y = _c64(x)
        for t in self.transforms:
            y = t(y, rng)
        return y

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


# --------------------------------------------------------------------------- wider channel and receiver
#
# Used by the AMC "wide" and "shifted" families (sdrkit.tasks.amc.variants); parameters per
# frame as everywhere in this module.


def fading(x, rng: np.random.Generator, delays, pdp, rician_k=None, doppler=0.0, n_sines: int = 8) -> np.ndarray:
    """Frequency-selective, time-varying fading: a tapped delay line, one channel per frame.

    Tap ``i`` sits at integer delay ``delays[i]`` samples with mean power ``pdp[i]`` (taps
    normalized to unit total mean power). Each tap's gain is a sum of ``n_sines`` sinusoids
    of random arrival angle and phase (Jakes / Clarke model; evaluated every 32 samples and
    interpolated linearly) at maximum Doppler ``doppler``
    (cycles/sample, scalar or per frame; 0 = block fading, constant over the frame): Rayleigh
    taps, and tap 0 Rician with K-factor ``rician_k`` (linear, scalar or per frame; None or 0
    = Rayleigh) whose line-of-sight component turns at ``doppler * cos(angle)``.

    RMS delay spread of the profile: ``sqrt(sum p d^2 / sum p - (sum p d / sum p)^2)``
    (:func:`rms_delay_spread`). The output keeps the input's length.

    Args:
        x: complex samples, (frames, n) or (n,).
        rng: random generator.
        delays: tap delays, samples, non-negative integers (n_taps,).
        pdp: tap mean powers (n_taps,) or (frames, n_taps).

    Returns:
        complex64, the shape of ``x``.
    """
    x = _c64(x)
    x2 = x.reshape(-1, x.shape[-1])
    m, n = x2.shape
    d = np.asarray(delays, np.int64)
    p = np.broadcast_to(np.asarray(pdp, np.float64), (m, len(d))).copy()
    if np.any(d < 0) or len(d) != p.shape[1]:
        raise ConfigError(f"fading delays {d.tolist()} must be non-negative integers, one per pdp entry")
    p /= np.maximum(p.sum(axis=1, keepdims=True), 1e-30)
    # tap gains on a grid of every ``hold`` samples, linearly interpolated (a Doppler of
    # 1e-3 cycles/sample turns a tap by 0.2 rad between grid points)
    hold = 32
    tc = np.arange(0, n + hold, hold, dtype=np.float64)
    fd = np.broadcast_to(_frames(doppler, np.float64), (m, 1)).reshape(m, 1, 1, 1)
    ang = rng.uniform(0, 2 * np.pi, (m, len(d), n_sines, 1))
    ph = rng.uniform(0, 2 * np.pi, (m, len(d), n_sines, 1))
    g = np.exp(1j * (2 * np.pi * fd * np.cos(ang) * tc[None, None, None, :] + ph)).sum(axis=2) / np.sqrt(n_sines)
    k = np.zeros((m, 1)) if rician_k is None else np.broadcast_to(_frames(rician_k, np.float64), (m, 1))
    if np.any(k > 0):
        los_ang = rng.uniform(0, 2 * np.pi, (m, 1))
        los = np.exp(1j * (2 * np.pi * fd[:, 0, 0] * np.cos(los_ang) * tc[None, :] + rng.uniform(0, 2 * np.pi, (m, 1))))
        g[:, 0] = np.sqrt(k / (k + 1)) * los + g[:, 0] / np.sqrt(k + 1)
    pos = np.arange(n) / hold
    i0 = pos.astype(np.int64)
    w = (pos - i0).astype(np.float32)
    g = g.astype(np.complex64)
    g = g[:, :, i0] * (1 - w) + g[:, :, i0 + 1] * w
    g *= np.sqrt(p)[:, :, None]
    g = g.astype(np.complex64)
    y = np.zeros_like(x2)
    for i, di in enumerate(d):
        if di < n:
            y[:, di:] += x2[:, :n - di] * g[:, i, di:]
    return y.reshape(x.shape)


def rms_delay_spread(delays, pdp) -> np.ndarray:
    """RMS delay spread of a power-delay profile, samples (per frame for a 2-D ``pdp``)."""
    d = np.asarray(delays, np.float64)
    p = np.asarray(pdp, np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    mean = (p * d).sum(axis=-1)
    return np.sqrt(np.maximum((p * d ** 2).sum(axis=-1) - mean ** 2, 0))


def cfo_drift_phase(n: int, drift) -> np.ndarray:
    """Phase of a linearly drifting carrier, ``pi drift k^2`` rad for ``k = 0 .. n-1``: the
    instantaneous offset grows by ``drift`` cycles/sample per sample (a warming oscillator);
    ``drift`` scalar or (frames,). Add to a :func:`cfo_phase` and :func:`rotate` once."""
    k = np.arange(n, dtype=np.float64)
    return (np.pi * _frames(drift, np.float64) * k ** 2).astype(np.float32)


def agc(x, rng: np.random.Generator, step_db=0.0, tau=64.0, at=None) -> np.ndarray:
    """A receiver AGC settling within the frame: the gain jumps by ``step_db`` dB at sample
    ``at`` (random in the frame when None) and settles back to 0 dB exponentially with time
    constant ``tau`` samples (a loop reacting to a level change). Scalars or per frame."""
    x = _c64(x)
    x2 = x.reshape(-1, x.shape[-1])
    m, n = x2.shape
    at = rng.uniform(0, n, (m, 1)) if at is None else np.broadcast_to(_frames(at, np.float64), (m, 1))
    k = np.arange(n)[None, :]
    s = np.broadcast_to(_frames(step_db, np.float64), (m, 1))
    tau = np.broadcast_to(_frames(tau, np.float64), (m, 1))
    g_db = np.where(k >= at, s * np.exp(-(k - at) / np.maximum(tau, 1e-6)), 0.0)
    return (x2 * (10 ** (g_db / 20)).astype(np.float32)).reshape(x.shape)


def quantize(x, bits, headroom_db=6.0) -> np.ndarray:
    """An ADC: ``bits`` per I and Q (scalar or per frame), full scale ``headroom_db`` above
    the frame's RMS (per I/Q component); clips beyond full scale, rounds to the nearest code.
    Returns the samples in the input's scale (so a frame keeps its level)."""
    x = _c64(x)
    x2 = x.reshape(-1, x.shape[-1])
    rms = np.sqrt(np.mean(x2.real ** 2 + x2.imag ** 2, axis=-1, keepdims=True) / 2)
    fs = rms * 10 ** (np.broadcast_to(_frames(headroom_db, np.float64), (x2.shape[0], 1)) / 20)
    levels = 2.0 ** (np.broadcast_to(_frames(bits, np.float64), (x2.shape[0], 1)) - 1)
    step = (fs / levels).astype(np.float32)
    step = np.maximum(step, np.float32(1e-30))
    lim = (levels - 1).astype(np.float32)
    i = np.clip(np.round(x2.real / step), -lim - 1, lim) * step
    q = np.clip(np.round(x2.imag / step), -lim - 1, lim) * step
    return (i + 1j * q).astype(np.complex64).reshape(x.shape)


__all__ += ["agc", "cfo_drift_phase", "fading", "quantize", "rms_delay_spread"]
