"""Planar antenna arrays: URA geometry and steering, a multi-source scene simulator with
per-element RF front-end non-idealities, and a temperature drift model.

Conventions (used by :mod:`sdrkit.dsp.doa`, the ``aoa`` task and its calibration files)

Geometry
    A uniform rectangular array (URA) of ``rows x cols`` elements, spacing ``spacing``
    wavelengths (0.5 = lambda/2). Element ``e = r * cols + c`` (column index fastest) sits at
    ``x = c * spacing``, ``y = r * spacing`` (wavelengths), in the array plane.

Direction
    Azimuth ``az`` and elevation ``el`` in degrees; broadside is ``(0, 0)``. The direction
    cosines along the array axes are ``u = sin(az) cos(el)`` (x, columns) and ``v = sin(el)``
    (y, rows). A plane wave from ``(az, el)`` reaches element ``e`` with the phase
    ``exp(j 2 pi (x_e u + y_e v))`` (:func:`steering`). With ``|az|, |el| <= 60`` deg and
    lambda/2 spacing there is no grating lobe.

Signal model of one frame (:func:`simulate`), per element ``e`` (frequency domain, so that
fractional delays are exact for the frame's circular extension)::

    X_e(f) = D_e(f) g_e(T) sum_k C_ek sum_p alpha_p a_k(dir_p) S(f) exp(-j 2 pi f tau_p)

``p`` runs over the line-of-sight path of each source and its reflectors (``alpha``,
``tau``: complex gain and delay in samples, LOS: 1 and 0); ``C`` is the mutual coupling
matrix; ``g_e(T)`` the per-channel complex gain at temperature offset ``T`` (:class:`FrontEnd`);
``D_e(f) = exp(-j 2 pi f d_e)`` the fixed inter-channel delay ``d_e`` (samples). Then, in
the time domain and with :mod:`sdrkit.dsp.impair` (its conventions): per-channel IQ
imbalance, one common CFO and carrier phase (one LO), and independent AWGN per channel at
the frame's SNR (signal power per element over noise power per element, full band).

Temperature drift (:meth:`FrontEnd.gains`)
    ``g_e(T) = 10^((gain_db_e + T * drift_db_per_c_e) / 20) * exp(j deg2rad(phase_deg_e + T * drift_deg_per_c_e))``
    with ``T`` the temperature offset from the calibration temperature, degC. "The SDR got
    hot" is ``T`` of 30..40 degC instead of 0..5 (:data:`COLD_C`, :data:`HOT_C`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np

from sdrkit.dsp import impair
from sdrkit.errors import ConfigError

#: temperature offsets (degC from the calibration temperature) of the "cold" and "hot" splits
COLD_C = (0.0, 5.0)
HOT_C = (30.0, 40.0)
WAVEFORMS = ("tone", "modulation", "ofdm")


@dataclass(frozen=True)
class ArrayGeometry:
    """A URA: ``rows x cols`` elements, ``spacing`` wavelengths apart (module docstring)."""

    rows: int = 2
    cols: int = 2
    spacing: float = 0.5

    def __post_init__(self):
        if self.rows < 1 or self.cols < 1 or self.rows * self.cols < 2:
            raise ConfigError(f"array {self.rows}x{self.cols}: needs at least 2 elements")
        if not 0 < self.spacing <= 0.5:
            raise ConfigError(f"element spacing {self.spacing} wavelengths must be in (0, 0.5] "
                              f"(wider spacing has grating lobes)")

    @property
    def elements(self) -> int:
        return self.rows * self.cols

    @property
    def positions(self) -> np.ndarray:
        """(elements, 2) float: x, y of each element, wavelengths."""
        r, c = np.divmod(np.arange(self.elements), self.cols)
        return np.stack([c * self.spacing, r * self.spacing], axis=1).astype(np.float64)

    def to_dict(self) -> dict:
        return asdict(self)


def direction_cosines(az_deg, el_deg) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v) = (sin(az) cos(el), sin(el))`` for angles in degrees (any matching shapes)."""
    az, el = np.deg2rad(np.asarray(az_deg, np.float64)), np.deg2rad(np.asarray(el_deg, np.float64))
    return np.sin(az) * np.cos(el), np.sin(el)


def angles_from_cosines(u, v) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`direction_cosines` (degrees), clipped to the visible region."""
    v = np.clip(np.asarray(v, np.float64), -1.0, 1.0)
    el = np.arcsin(v)
    ce = np.maximum(np.cos(el), 1e-9)
    az = np.arcsin(np.clip(np.asarray(u, np.float64) / ce, -1.0, 1.0))
    return np.rad2deg(az), np.rad2deg(el)


def steering(geometry: ArrayGeometry, az_deg, el_deg) -> np.ndarray:
    """Steering vectors ``exp(j 2 pi (x_e u + y_e v))``: complex128 ``(*shape, elements)``."""
    u, v = direction_cosines(az_deg, el_deg)
    p = geometry.positions
    return np.exp(2j * np.pi * (u[..., None] * p[:, 0] + v[..., None] * p[:, 1]))


@dataclass(frozen=True)
class FrontEnd:
    """Per-element receiver non-idealities of an array front end (module docstring).

    Attributes:
        name: a name (recorded in recordings and calibrations).
        gain_db: per-element gain mismatch at the calibration temperature, dB.
        phase_deg: per-element phase mismatch at the calibration temperature, degrees.
        delay_samples: fixed per-element delay, samples (fractional).
        coupling: mutual coupling between adjacent elements (complex as ``(re, im)``); an element
            at distance ``k`` spacings couples ``|c|^k`` with phase ``k arg(c)``.
        iq_amp_db, iq_phase_deg: per-element IQ imbalance (:func:`sdrkit.dsp.impair.iq_imbalance`).
        cfo_max: max |CFO| of the common LO, cycles/sample (each frame draws one in +-cfo_max).
        drift_deg_per_c: per-element phase drift rate, degrees per degC.
        drift_db_per_c: per-element gain drift rate, dB per degC.
    """

    name: str
    gain_db: tuple
    phase_deg: tuple
    delay_samples: tuple
    coupling: tuple = (0.0, 0.0)
    iq_amp_db: tuple = ()
    iq_phase_deg: tuple = ()
    cfo_max: float = 0.0
    drift_deg_per_c: tuple = ()
    drift_db_per_c: tuple = ()

    @property
    def elements(self) -> int:
        return len(self.gain_db)

    def gains(self, temp_c=0.0) -> np.ndarray:
        """Per-channel complex gains at temperature offset(s) ``temp_c`` degC: ``(*shape, elements)``."""
        t = np.asarray(temp_c, np.float64)[..., None]
        zeros = np.zeros(self.elements)
        ddb = np.asarray(self.drift_db_per_c or zeros, np.float64)
        ddeg = np.asarray(self.drift_deg_per_c or zeros, np.float64)
        db = np.asarray(self.gain_db, np.float64) + t * ddb
        deg = np.asarray(self.phase_deg, np.float64) + t * ddeg
        return 10 ** (db / 20) * np.exp(1j * np.deg2rad(deg))

    def coupling_matrix(self, geometry: ArrayGeometry) -> np.ndarray:
        """(elements, elements) complex: identity plus distance-decaying coupling."""
        c = complex(*self.coupling)
        if c == 0:
            return np.eye(geometry.elements, dtype=complex)
        p = geometry.positions / geometry.spacing
        dist = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
        m = np.abs(c) ** dist * np.exp(1j * np.angle(c) * dist)
        np.fill_diagonal(m, 1.0)
        return m

    def to_dict(self) -> dict:
        return asdict(self)


def ideal_front_end(elements: int) -> FrontEnd:
    """No mismatch, coupling, IQ imbalance, CFO or drift."""
    z = (0.0,) * elements
    return FrontEnd("ideal", z, z, z, (0.0, 0.0), z, z, 0.0, z, z)


def make_front_end(name: str, elements: int, seed: int | None = None, phase_err_deg=(10.0, 20.0),
                   drift_deg_per_c: float = 0.4, drift_db_per_c: float = 0.02) -> FrontEnd:
    """A front end drawn from a seed (default: SHA-256 of ``name``).

    Element 0 is the phase reference (no phase error, no drift); every other element has a
    static phase error of magnitude ``phase_err_deg`` (uniform in the range, random sign),
    gain error N(0, 1 dB), delay U(0, 0.05) samples, IQ imbalance U(+-0.5 dB, +-3 deg), coupling
    0.08..0.15 at a random phase, CFO up to 1e-3, and drift rates N(0, ``drift_deg_per_c``)
    deg/degC and N(0, ``drift_db_per_c``) dB/degC.
    """
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    E = int(elements)
    ph = rng.uniform(*phase_err_deg, E) * rng.choice([-1.0, 1.0], E)
    ph[0] = 0.0
    gain = rng.normal(0.0, 1.0, E)
    gain[0] = 0.0
    dr = rng.normal(0.0, drift_deg_per_c, E)
    dr[0] = 0.0
    dg = rng.normal(0.0, drift_db_per_c, E)
    dg[0] = 0.0
    c = rng.uniform(0.08, 0.15) * np.exp(1j * rng.uniform(-np.pi, np.pi))
    r = lambda a: tuple(np.round(a, 5).tolist())  # noqa: E731
    return FrontEnd(name=name, gain_db=r(gain), phase_deg=r(ph), delay_samples=r(rng.uniform(0, 0.05, E)),
                    coupling=(round(float(c.real), 5), round(float(c.imag), 5)),
                    iq_amp_db=r(rng.uniform(-0.5, 0.5, E)), iq_phase_deg=r(rng.uniform(-3, 3, E)),
                    cfo_max=float(round(rng.uniform(2e-4, 1e-3), 6)), drift_deg_per_c=r(dr), drift_db_per_c=r(dg))


def get_front_end(name: str, elements: int) -> FrontEnd:
    """``ideal``, ``bench-a`` .. ``bench-d`` (named boards) or ``rand-<seed>``.

    Raises:
        ConfigError: an unknown name.
    """
    if name == "ideal":
        return ideal_front_end(elements)
    if name in ("bench-a", "bench-b", "bench-c", "bench-d"):
        return make_front_end(name, elements)
    if name.startswith("rand-") and name[5:].isdigit():
        return make_front_end(name, elements, seed=int(name[5:]) + 104729)
    raise ConfigError(f"unknown array front end {name!r}; use ideal, bench-a..bench-d or rand-<seed>")


@dataclass(frozen=True)
class Scene:
    """What :func:`simulate` draws per frame (ranges are uniform).

    Attributes:
        geometry: the receiving array.
        frame_len: samples per frame.
        sources: sources per frame.
        angle_max_deg: azimuth and elevation are drawn in +-angle_max_deg (continuous).
        snr_db: SNR range, dB (per element: signal power / noise power).
        temp_c: temperature offset range, degC (:data:`COLD_C`, :data:`HOT_C`).
        waveforms: drawn from :data:`WAVEFORMS` (tones, the synthesizer's modulations, OFDM).
        reflectors: (min, max) reflectors per source (multipath; specular, other directions).
        reflector_db: reflector power relative to the LOS path, dB.
        reflector_delay: reflector excess delay, samples.
    """

    geometry: ArrayGeometry = field(default_factory=ArrayGeometry)
    frame_len: int = 512
    sources: int = 1
    angle_max_deg: float = 60.0
    snr_db: tuple = (-10.0, 30.0)
    temp_c: tuple = COLD_C
    waveforms: tuple = WAVEFORMS
    reflectors: tuple = (0, 2)
    reflector_db: tuple = (-30.0, -15.0)
    reflector_delay: tuple = (0.5, 8.0)

    def replace(self, **kw) -> "Scene":
        import dataclasses

        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


def waveforms(n: int, frame_len: int, kinds, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """``n`` unit-power source waveforms: tones at a random frequency, the synthesizer's
    modulations (random class, 4..16 samples/symbol, random frequency offset) or OFDM bursts.

    Returns:
        (complex64 (n, frame_len), list of waveform names).
    """
    from sdrkit.dsp import synth

    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in WAVEFORMS]
    if bad:
        raise ConfigError(f"waveform {bad[0]!r} is not one of {WAVEFORMS}")
    pick = rng.integers(0, len(kinds), n)
    out = np.empty((n, frame_len), np.complex64)
    names = [""] * n
    t = np.arange(frame_len)
    for i in range(n):
        k = kinds[pick[i]]
        f0 = rng.uniform(-0.2, 0.2)
        if k == "tone":
            s = np.exp(1j * (2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi)))
            names[i] = "tone"
        elif k == "modulation":
            m = synth.MODULATIONS[rng.integers(0, len(synth.MODULATIONS))]
            s = synth.modulate(m, frame_len, rng=rng, sps=float(rng.uniform(4, 16))) * np.exp(2j * np.pi * f0 * t)
            names[i] = m
        else:
            s = synth.ofdm_burst(frame_len, rng=rng)
            names[i] = "ofdm"
        out[i] = s
    return out, names


def draw_angles(n: int, sources: int, angle_max_deg: float, rng: np.random.Generator,
                min_sep_deg: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    """``(az, el)`` degrees, each ``(n, sources)``, uniform in +-angle_max_deg; several sources of a
    frame are redrawn until they are at least ``min_sep_deg`` apart in azimuth or elevation."""
    az = rng.uniform(-angle_max_deg, angle_max_deg, (n, sources))
    el = rng.uniform(-angle_max_deg, angle_max_deg, (n, sources))
    for _ in range(100):
        if sources < 2:
            break
        close = np.zeros(n, bool)
        for a in range(sources):
            for b in range(a + 1, sources):
                close |= np.maximum(abs(az[:, a] - az[:, b]), abs(el[:, a] - el[:, b])) < min_sep_deg
        if not close.any():
            break
        k = int(close.sum())
        az[close] = rng.uniform(-angle_max_deg, angle_max_deg, (k, sources))
        el[close] = rng.uniform(-angle_max_deg, angle_max_deg, (k, sources))
    return az, el


def simulate(scene: Scene, front_end: FrontEnd, n: int, rng: np.random.Generator, *, az=None, el=None,
             snr_db=None, temp_c=None, noise: bool = True) -> tuple[np.ndarray, dict]:
    """``n`` frames received by the array (module docstring's signal model).

    Args:
        scene: what to draw.
        front_end: the array's non-idealities (its element count must match the geometry).
        n: frames.
        rng: every random draw comes from it.
        az, el: source angles, degrees, ``(n,)`` or ``(n, sources)`` (default: drawn).
        snr_db: SNR per frame, dB (default: drawn in ``scene.snr_db``).
        temp_c: temperature offset per frame, degC (default: drawn in ``scene.temp_c``).
        noise: False: no AWGN (noiseless tests).

    Returns:
        (complex64 ``(n, elements, frame_len)``, dict of per-frame truth: ``az``, ``el``
        ``(n, sources)`` degrees, ``snr_db``, ``temp_c``, ``waveform``, ``reflectors``).

    Raises:
        ConfigError: the front end's element count differs from the geometry's.
    """
    g = scene.geometry
    E, N, S = g.elements, int(scene.frame_len), int(scene.sources)
    if front_end.elements != E:
        raise ConfigError(f"front end {front_end.name!r} has {front_end.elements} elements, the "
                          f"{g.rows}x{g.cols} array {E}; make the front end for this array")
    if az is None or el is None:
        az, el = draw_angles(n, S, scene.angle_max_deg, rng)
    az = np.asarray(az, np.float64).reshape(n, -1)
    el = np.asarray(el, np.float64).reshape(n, -1)
    S = az.shape[1]
    snr = rng.uniform(*scene.snr_db, n) if snr_db is None else np.broadcast_to(np.asarray(snr_db, float), (n,))
    temp = rng.uniform(*scene.temp_c, n) if temp_c is None else np.broadcast_to(np.asarray(temp_c, float), (n,))
    f = np.fft.fftfreq(N)
    X = np.zeros((n, E, N), np.complex128)
    wf_names = []
    n_ref = np.zeros((n, S), np.int64)
    for s in range(S):
        wf, names = waveforms(n, N, scene.waveforms, rng)
        wf_names.append(names)
        Sf = np.fft.fft(wf, axis=1)                                           # (n, N)
        X += steering(g, az[:, s], el[:, s])[:, :, None] * Sf[:, None, :]    # LOS
        lo, hi = scene.reflectors
        k = rng.integers(lo, hi + 1, n) if hi > 0 else np.zeros(n, np.int64)
        n_ref[:, s] = k
        for r in range(int(k.max()) if len(k) else 0):
            on = k > r
            raz = rng.uniform(-80, 80, n)
            rel = rng.uniform(-80, 80, n)
            amp = 10 ** (rng.uniform(*scene.reflector_db, n) / 20) * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
            tau = rng.uniform(*scene.reflector_delay, n)
            ramp = np.exp(-2j * np.pi * f[None, :] * tau[:, None])          # (n, N)
            X += (on * amp)[:, None, None] * steering(g, raz, rel)[:, :, None] * (Sf * ramp)[:, None, :]
    C = front_end.coupling_matrix(g)
    X = np.einsum("ek,bkn->ben", C, X)
    X *= front_end.gains(temp)[:, :, None]
    d = np.asarray(front_end.delay_samples, np.float64)
    X *= np.exp(-2j * np.pi * d[:, None] * f[None, :])[None]
    x = np.fft.ifft(X, axis=2).astype(np.complex64).reshape(n * E, N)
    if front_end.iq_amp_db:
        x = impair.iq_imbalance(x, np.tile(front_end.iq_amp_db, n), np.tile(front_end.iq_phase_deg, n))
    cfo = rng.uniform(-1, 1, n) * front_end.cfo_max
    x = impair.cfo(x, np.repeat(cfo, E), phase0=np.repeat(rng.uniform(0, 2 * np.pi, n), E))
    if noise:
        # per-element SNR against the power a unit-gain element receives (S unit-power sources)
        pn = S / 10 ** (np.repeat(snr, E) / 10)
        z = rng.standard_normal((n * E, N, 2), dtype=np.float32).view(np.complex64)[..., 0]
        x = x + z * np.sqrt(pn / 2).astype(np.float32)[:, None]
    truth = {"az": az, "el": el, "snr_db": np.asarray(snr, float), "temp_c": np.asarray(temp, float),
             "waveform": wf_names[0], "reflectors": n_ref, "cfo": cfo}
    return x.reshape(n, E, N).astype(np.complex64), truth


def estimate_channel_gains(frames: np.ndarray, geometry: ArrayGeometry, az_deg, el_deg) -> np.ndarray:
    """Per-channel complex gains from known-direction shots (one source each), relative to element 0.

    For each shot the principal eigenvector ``v`` of the sample covariance is ``~ g * a(az, el)``
    up to a complex scale; ``v / a`` is scaled to element 0 = 1 and the shots are averaged.

    Args:
        frames: complex ``(k, elements, n)``.
        az_deg, el_deg: the known directions, ``(k,)`` degrees.

    Returns:
        complex128 ``(elements,)``, element 0 = 1 (multiply ideal steering vectors by it to get
        the array's response).
    """
    x = np.asarray(frames, np.complex128)
    R = np.einsum("ken,kfn->kef", x, x.conj()) / x.shape[-1]
    _, vec = np.linalg.eigh(R)
    v = vec[..., -1]                                                       # (k, E)
    g = v / steering(geometry, np.asarray(az_deg, float), np.asarray(el_deg, float))
    g = g / g[:, :1]
    # average: phases by the circular mean, magnitudes in dB
    mag = 10 ** (np.mean(20 * np.log10(np.abs(g)), axis=0) / 20)
    ph = np.angle(np.mean(g / np.abs(g), axis=0))
    return mag * np.exp(1j * ph)
