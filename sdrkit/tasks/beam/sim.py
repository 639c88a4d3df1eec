"""Beam simulator: a TX phased array with a beam codebook, multipath to one RX, and seeded
RF front ends (hardware non-idealities).

Signal model (one frame)::

    s(t)      known periodic preamble (pulse-shaped QPSK, period ``period`` samples)
    c_n(b)    = g_n exp(j(phi_n + k_n * dT)) w_n(b)          per-element gain/phase error, drift, codebook
    y(t)      = sum_p alpha_p [ A_p s(t - tau_p) - B_p s3(t - tau_p) ]
    A_p       = sum_n c_n(b) a_n(theta_p)      array response toward path p (a_n: ULA steering)
    B_p       = sum_n c_n(b) beta_n a_n(theta_p)   per-element PA nonlinearity (s3 = |s|^2 s)

then a random start time and the RX impairments (:func:`receiver`, built from
:mod:`sdrkit.dsp.impair` with its conventions): random gain (distance), CFO, random start
phase, phase noise, IQ imbalance, AWGN. Paths: line of sight toward the RX (random angle in
a sector around the rig's nominal angle) plus fixed environment reflectors with jitter. The
beam identity lives in the relative amplitudes/phases of the preamble's echoes, which
per-element errors distort differently on each front end.

The IQ imbalance is impair's (``Q' = g (Q cos(phi) - I sin(phi))``). Before the library
was shared this simulator used the opposite sign of ``phi`` (``Q' = g (Q cos(phi) +
I sin(phi))``); the bundled beam encoder (``models/beam``) was trained on that data.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from sdrkit.dsp import impair
from sdrkit.errors import ConfigError


@dataclass(frozen=True)
class ArraySpec:
    """TX array and scene. Angles in degrees, delays in samples."""

    elements: int = 16
    beams: int = 24
    beam_span_deg: float = 60.0          # codebook steers uniformly over [-span, +span]
    frame_len: int = 1024
    period: int = 64                     # preamble period (samples)
    sps: int = 2
    rx_angle_deg: float = 0.0            # nominal RX direction
    rx_angle_jitter_deg: float = 4.0     # uniform +/- around it
    reflectors: tuple = ((-35.0, 5.0, 0.6), (25.0, 11.0, 0.5), (50.0, 19.0, 0.35))  # (angle, delay, gain)
    snr_db: tuple = (10.0, 25.0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reflectors"] = [list(r) for r in self.reflectors]
        return d


@dataclass(frozen=True)
class BeamFrontEnd:
    """A seeded set of TX-array and RX hardware non-idealities."""

    name: str
    gain_err_db: tuple                 # per element
    phase_err_deg: tuple               # per element
    pa_beta: tuple                     # per element AM/AM-AM/PM coefficient (complex as (re, im) pairs)
    drift_deg_per_c: tuple             # per element phase drift with temperature
    temp_range_c: tuple = (-5.0, 5.0)  # temperature offset around calibration
    iq_amp_db: float = 0.0             # Q-branch gain relative to I, dB (sdrkit.dsp.impair)
    iq_phase_deg: float = 0.0          # Q-branch quadrature error, degrees (sdrkit.dsp.impair)
    cfo_max: float = 0.0               # max |CFO| as a fraction of the sample rate
    phase_noise_std: float = 0.0       # rad per sample (random walk)
    phase_jitter_deg: float = 0.0      # per-frame, per-element phase jitter (std, degrees)

    def to_dict(self) -> dict:
        return asdict(self)


def make_front_end(name: str, elements: int = 16, seed: int | None = None, severity: float = 1.0,
                   jitter_deg: float = 0.0, cfo_max: float | None = None,
                   phase_noise_std: float | None = None) -> BeamFrontEnd:
    """A front end drawn from a seed (by default the SHA-256 of ``name``).

    ``severity`` scales the per-element gain/phase errors, the PA compression coefficients, the
    drift and the IQ imbalance; ``jitter_deg`` is the per-frame phase jitter; ``cfo_max`` and
    ``phase_noise_std`` replace the drawn values when given.
    """
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    s = severity
    beta = rng.normal(0.0, 0.08 * s, elements) + 1j * rng.normal(0.0, 0.04 * s, elements)
    return BeamFrontEnd(
        name=name,
        gain_err_db=tuple(np.round(rng.normal(0.0, 2.0 * s, elements), 4).tolist()),
        phase_err_deg=tuple(np.round(rng.normal(0.0, 45.0 * s, elements), 3).tolist()),
        pa_beta=tuple((float(b.real), float(b.imag)) for b in beta),
        drift_deg_per_c=tuple(np.round(rng.normal(0.0, 0.6 * s, elements), 4).tolist()),
        iq_amp_db=float(rng.uniform(-1.0, 1.0) * s),
        iq_phase_deg=float(rng.uniform(-5.0, 5.0) * s),
        cfo_max=float(rng.uniform(1e-4, 1e-3)),
        phase_noise_std=float(rng.uniform(0.002, 0.01)) if phase_noise_std is None else float(phase_noise_std),
        phase_jitter_deg=float(jitter_deg),
    ) if cfo_max is None else replace(make_front_end(name, elements, seed, severity, jitter_deg, None,
                                                     phase_noise_std), cfo_max=float(cfo_max))


#: harsher front ends of the held-back validation shift (never trained on): (severity, jitter deg,
#: max CFO, phase noise rad/sample); seeds from their names
HELD_BACK_FRONT_ENDS = {"hb-mild": (0.7, 2.0, 5e-4, 0.004), "hb-mid": (1.5, 6.0, 1.5e-3, 0.012),
                        "hb-harsh": (2.3, 12.0, 2.5e-3, 0.025)}


def harsh_front_end(name: str, elements: int, seed: int) -> BeamFrontEnd:
    """A training front end of the harsh pool (``hrand-<seed>``): severity 0.5..2.2, per-frame
    jitter 0..10 deg, CFO up to 2e-3, phase noise up to 0.02 rad/sample."""
    r = np.random.default_rng([seed, 4242])
    return make_front_end(name, elements, seed=seed + 104729, severity=float(r.uniform(0.5, 2.2)),
                          jitter_deg=float(r.uniform(0.0, 10.0)), cfo_max=float(r.uniform(1e-4, 2e-3)),
                          phase_noise_std=float(r.uniform(0.002, 0.02)))


IDEAL = BeamFrontEnd("ideal", (0.0,) * 16, (0.0,) * 16, ((0.0, 0.0),) * 16, (0.0,) * 16, (0.0, 0.0))
NAMED_FRONT_ENDS = ("fe-a", "fe-b", "fe-c", "fe-d", "fe-e", "fe-f")


def get_front_end(name: str, elements: int = 16) -> BeamFrontEnd:
    """A named front end: ``ideal``, ``fe-a``..``fe-f``, ``rand-<seed>`` (the training pool),
    ``hrand-<seed>`` (the harsh training pool) or one of :data:`HELD_BACK_FRONT_ENDS`.

    Raises:
        ConfigError: unknown name.
    """
    if name == "ideal":
        return IDEAL if elements == 16 else BeamFrontEnd("ideal", (0.0,) * elements, (0.0,) * elements,
                                                        ((0.0, 0.0),) * elements, (0.0,) * elements)
    if name in NAMED_FRONT_ENDS:
        return make_front_end(name, elements)
    if name.startswith("rand-") and name[5:].isdigit():
        return make_front_end(name, elements, seed=int(name[5:]) + 7919)
    if name.startswith("hrand-") and name[6:].isdigit():
        return harsh_front_end(name, elements, int(name[6:]))
    if name in HELD_BACK_FRONT_ENDS:
        sev, jit, cfo, pn = HELD_BACK_FRONT_ENDS[name]
        return make_front_end(name, elements, severity=sev, jitter_deg=jit, cfo_max=cfo, phase_noise_std=pn)
    raise ConfigError(f"unknown beam front end {name!r}; use ideal, {', '.join(NAMED_FRONT_ENDS)}, rand-<seed>, "
                      f"hrand-<seed> or {', '.join(HELD_BACK_FRONT_ENDS)}")


def spec_from_card(card) -> ArraySpec:
    """The :class:`~sdrkit.tasks.beam.sim.ArraySpec` a card was trained for (its ``extra.array``)."""
    arr = dict(card.extra.get("array") or {})
    if "reflectors" in arr:
        arr["reflectors"] = tuple(tuple(r) for r in arr["reflectors"])
    if "snr_db" in arr:
        arr["snr_db"] = tuple(arr["snr_db"])
    return ArraySpec(**arr)


def codebook(spec: ArraySpec) -> np.ndarray:
    """(beams, elements) complex weights: DFT-style steering over +/- beam_span_deg, unit norm."""
    ang = np.deg2rad(np.linspace(-spec.beam_span_deg, spec.beam_span_deg, spec.beams))
    n = np.arange(spec.elements)
    w = np.exp(-1j * np.pi * n[None, :] * np.sin(ang)[:, None])
    return w / np.sqrt(spec.elements)


def preamble(spec: ArraySpec) -> np.ndarray:
    """One period of the known preamble (complex64, unit mean power); fixed, not random."""
    rng = np.random.default_rng(20260124)
    nsym = spec.period // spec.sps
    sym = np.exp(1j * (np.pi / 4 + np.pi / 2 * rng.integers(0, 4, nsym)))
    up = np.zeros(spec.period, complex)
    up[:: spec.sps] = sym
    # circular raised-cosine-ish pulse shaping in frequency (periodic signal)
    f = np.fft.fftfreq(spec.period)
    H = np.clip(1.5 - 2.0 * np.abs(f) * spec.sps, 0.0, 1.0)
    x = np.fft.ifft(np.fft.fft(up) * H)
    return (x / np.sqrt(np.mean(np.abs(x) ** 2))).astype(np.complex64)


def generate(spec: ArraySpec, front_end: BeamFrontEnd, beams, rng: np.random.Generator, scene=None,
             times=None, info: dict | None = None) -> np.ndarray:
    """Received frames for the given beam indices.

    Args:
        spec: array and scene.
        front_end: hardware non-idealities.
        beams: int array (n,), beam index per frame (may exceed the training codebook's classes
            only if ``spec.beams`` is larger).
        rng: random generator.
        scene: a :class:`~sdrkit.tasks.beam.channels.Scene` (clustered 3GPP channel), or None for
            the simulator's own scene (LOS + fixed reflectors).
        times: seconds of each frame (scene: Doppler and drift); default frame i at
            ``i * FRAME_PERIOD_S``.
        info: when a dict, receives ``snr_db`` (per frame, dB).

    Returns:
        complex64 (n, frame_len).
    """
    beams = np.asarray(beams, dtype=np.int64)
    n_fr = beams.size
    N, P, L = spec.elements, spec.period, spec.frame_len
    if len(front_end.gain_err_db) != N:
        raise ConfigError(f"front end {front_end.name!r} has {len(front_end.gain_err_db)} elements, array has {N}")
    if beams.size and (beams.min() < 0 or beams.max() >= spec.beams):
        raise ConfigError(f"beam index out of range 0..{spec.beams - 1}")
    W = codebook(spec)[beams]                                              # (n, N)
    g = 10 ** (np.asarray(front_end.gain_err_db) / 20)
    temp = rng.uniform(*front_end.temp_range_c, n_fr)
    ph = np.deg2rad(np.asarray(front_end.phase_err_deg)[None, :] + np.asarray(front_end.drift_deg_per_c)[None, :] * temp[:, None])
    C = W * g[None, :] * np.exp(1j * ph)                                   # (n, N)
    if front_end.phase_jitter_deg:
        C = C * np.exp(1j * np.deg2rad(rng.normal(0.0, front_end.phase_jitter_deg, (n_fr, N))))
    beta = np.array([complex(a, b) for a, b in front_end.pa_beta])
    if scene is None:
        theta, tau, amp = _own_scene_paths(spec, n_fr, rng)
    else:
        from sdrkit.tasks.beam.channels import FRAME_PERIOD_S, scene_paths

        times = np.arange(n_fr) * FRAME_PERIOD_S if times is None else np.asarray(times, float)
        theta, tau, amp = scene_paths(scene, times, spec.beam_span_deg)
    s = preamble(spec).astype(complex)
    s3 = np.abs(s) ** 2 * s
    S, S3 = np.fft.fft(s), np.fft.fft(s3)
    k = np.fft.fftfreq(P) * P
    t0 = rng.uniform(0, P, n_fr)                                           # random timing
    Y = np.empty((n_fr, P), complex)
    step = max(1, 2 ** 20 // max(theta.shape[1] * max(N, P), 1))          # frames per chunk (memory)
    for a in range(0, n_fr, step):
        b = slice(a, a + step)
        steer = np.exp(1j * np.pi * np.arange(N)[None, None, :] * np.sin(np.deg2rad(theta[b]))[:, :, None])
        A = np.einsum("fn,fpn->fp", C[b], steer)                          # array response toward each path
        B = np.einsum("fn,fpn->fp", C[b] * beta[None, :], steer)          # ... through the PA nonlinearity
        ramp = np.exp(-2j * np.pi * k[None, None, :] * (tau[b] + t0[b, None])[:, :, None] / P)  # (f, p, P)
        Y[b] = np.einsum("fp,fpk->fk", amp[b] * A, ramp) * S[None, :] - \
            np.einsum("fp,fpk->fk", amp[b] * B, ramp) * S3[None, :]
    y1 = np.fft.ifft(Y, axis=1)                                            # (n, P), one period
    reps = -(-L // P)
    y = np.tile(y1, (1, reps))[:, :L]
    # RX: gain (distance), carrier (CFO, start phase, phase noise), IQ imbalance, AWGN
    cfo = rng.uniform(-1, 1, n_fr) * front_end.cfo_max
    phase0 = rng.uniform(0, 2 * np.pi, n_fr)
    if scene is None:
        gain_db = rng.uniform(-20, 0, n_fr)                                 # distance, drawn per frame
        snr_db = rng.uniform(*spec.snr_db, n_fr)
    else:
        # one path loss and noise floor per recording (+1 dB of AGC/shadowing jitter per frame): a beam
        # that points away from the clusters arrives weaker and noisier
        p_f = 10 * np.log10(np.maximum(np.mean(np.abs(y1) ** 2, axis=1), 1e-12))
        gain_db = rng.uniform(-20, 0) + rng.normal(0.0, 1.0, n_fr)
        snr_db = np.clip(rng.uniform(*spec.snr_db) + p_f, -5.0, 40.0)
    if info is not None:
        info["snr_db"] = np.asarray(snr_db, float)
    return receiver(front_end, gain_db, cfo, phase0, snr_db)(y.astype(np.complex64), rng)


def _own_scene_paths(spec: ArraySpec, n_fr: int, rng: np.random.Generator):
    """sdrkit's own scene: LOS toward the RX (angle jittered) + the spec's reflectors with jitter."""
    rel = np.array(spec.reflectors, float).reshape(-1, 3)
    n_p = 1 + len(rel)
    theta = np.empty((n_fr, n_p))
    theta[:, 0] = spec.rx_angle_deg + rng.uniform(-1, 1, n_fr) * spec.rx_angle_jitter_deg
    theta[:, 1:] = rel[None, :, 0] + rng.normal(0, 1.0, (n_fr, len(rel)))
    tau = np.empty((n_fr, n_p))
    tau[:, 0] = 0.0
    tau[:, 1:] = rel[None, :, 1] + rng.normal(0, 0.15, (n_fr, len(rel)))
    amp = np.ones((n_fr, n_p), complex)
    amp[:, 1:] = rel[None, :, 2] * (1 + rng.normal(0, 0.08, (n_fr, len(rel)))) * \
        np.exp(1j * (np.deg2rad(rel[None, :, 0] * 7.0) + rng.normal(0, 0.2, (n_fr, len(rel)))))
    return theta, tau, amp


def receiver(front_end: BeamFrontEnd, gain_db=0.0, cfo=0.0, phase0=0.0, snr_db=None) -> impair.Compose:
    """The RX chain of a batch of frames, from :mod:`sdrkit.dsp.impair` (its conventions).

    Gain, CFO from ``phase0``, the front end's phase noise, its IQ imbalance, then AWGN.

    Args:
        front_end: supplies the phase noise and IQ imbalance.
        gain_db: amplitude gain, dB; scalar or (frames,).
        cfo: carrier frequency offset, cycles/sample; scalar or (frames,).
        phase0: carrier phase at sample 0, rad; scalar or (frames,).
        snr_db: SNR per frame, dB, or None for no noise.

    Returns:
        a :class:`~sdrkit.dsp.impair.Compose`, called as ``chain(x, rng)``.
    """
    steps = [impair.Gain(gain_db), impair.CFO(cfo, phase0=phase0)]
    if front_end.phase_noise_std:
        steps.append(impair.PhaseNoise(front_end.phase_noise_std))
    steps.append(impair.IQImbalance(front_end.iq_amp_db, front_end.iq_phase_deg))
    if snr_db is not None:
        steps.append(impair.AWGN(snr_db))
    return impair.Compose(steps)


def make_split(spec: ArraySpec, front_end: BeamFrontEnd, per_beam: int, rng: np.random.Generator,
               beams=None, scene=None) -> tuple[np.ndarray, np.ndarray]:
    """``per_beam`` frames of each beam (shuffled; with a scene, frame i at time i x the frame
    period): (x complex64 (n, L), y int64 (n,))."""
    beams = np.arange(spec.beams) if beams is None else np.asarray(beams)
    y = np.repeat(beams, per_beam)
    rng.shuffle(y)
    return generate(spec, front_end, y, rng, scene=scene), y
