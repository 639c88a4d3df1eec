"""Wideband busy-band scenes: I/Q of several transmitters at once, with time-frequency labels for free.

``make_scene(SceneConfig(...), rng)`` returns complex64 baseband at ``sample_rate`` and a list of
:class:`Emission` rectangles (time span in samples, frequency edges in Hz relative to the
centre, label, in-band SNR). :func:`to_annotations` turns them into SigMF annotation dicts with
``core:freq_lower_edge`` / ``core:freq_upper_edge`` (absolute Hz), so a scene written with
:func:`sdrkit.capture.write_recording` is a labelled recording like any other (masks are then
derived from the annotations by :mod:`sdrkit.dsp.masks`, the one place that does it).

What a scene holds (every parameter drawn from ``rng``):

* ``lte``: LTE-like OFDM carriers, 15 kHz subcarrier spacing, 1.4-20 MHz (6-100 resource blocks
  of 12 subcarriers), normal cyclic prefix (~7 %), 14 symbols per 1 ms subframe. Every subframe
  lights the control region (first 1-3 symbols, all RBs), cell reference symbols (every 6th
  subcarrier on symbols 0, 4, 7, 11) and a random set of contiguous RB allocations. One label
  per carrier for the whole scene (the carrier is never dark: reference symbols).
* ``nr``: NR-like OFDM, 30 or 60 kHz spacing, 5-40 MHz; per slot (14 symbols) a bandwidth part
  and an allocation inside it, or nothing; SSB-like bursts (240 subcarriers, at most 7.2 MHz, x 4 symbols, 4 of
  them per burst) every 5, 10 or 20 ms. One label per active slot and per SSB.
* ``wifi``: Wi-Fi-like 20 MHz OFDM (312.5 kHz spacing, 52 used subcarriers) packets of
  0.1-1.5 ms separated by CSMA gaps (34 us DIFS + 0-15 slots of 9 us, sometimes idle longer).
* ``bt``: Bluetooth-like 1 MHz GFSK hoppers, a new 1 MHz channel every 625 us slot, 366 us bursts.
* ``narrowband``: signals from :func:`sdrkit.dsp.synth.modulate` (PSK/QAM/FSK/AM/FM), 25-500 kHz.
* the noise floor: unit-power complex Gaussian noise with a tilt (dB across the band) and spurs
  (tones a few dB above the floor per bin; not labelled: they are part of the floor).

Signal power: an emission of occupied bandwidth ``B`` and in-band SNR ``s`` dB has power
``10^(s/10) * B / fs`` against a noise floor of power 1 over the full rate (so ``s`` is the SNR
measured in its own band). Receiver impairments (:mod:`sdrkit.dsp.impair`): multipath fading
per emission, then CFO, phase noise, IQ imbalance and DC offset on the sum; which of them and how
strong is the scene's impairment set (``impairments``: "default", "harsh" or "none").

OFDM is generated directly at ``fs``: an IFFT of ``N = round(fs / scs)`` points, so the
spacing is ``fs / N`` (within 0.3 % of nominal) and the carrier's offset is a subcarrier shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdrkit.errors import ConfigError

LABELS = ("lte", "nr", "wifi", "bt", "narrowband")
LTE_BW_RB = {1.4e6: 6, 3e6: 15, 5e6: 25, 10e6: 50, 15e6: 75, 20e6: 100}
MIN_RATE, MAX_RATE = 10e6, 61.44e6


@dataclass(frozen=True)
class Emission:
    """One labelled time-frequency rectangle.

    Attributes:
        start, count: samples. f_lo, f_hi: Hz relative to the centre frequency.
        label: one of :data:`LABELS`. snr_db: in-band SNR. part: what it is ("carrier", "slot", "ssb", ...).
    """

    start: int
    count: int
    f_lo: float
    f_hi: float
    label: str
    snr_db: float
    part: str = ""


@dataclass(frozen=True)
class SceneConfig:
    """What to put in a scene.

    Attributes:
        sample_rate: samples/s, 10-61.44 MS/s.
        duration: seconds.
        labels: which kinds of emitters may appear (subset of :data:`LABELS`).
        snr_db: (low, high) in-band SNR range, dB.
        impairments: "default", "harsh" (stronger IQ imbalance, CFO, phase noise, more fading
            taps, steeper tilt, more spurs) or "none".
        max_wideband: at most this many LTE/NR/Wi-Fi channels.
    """

    sample_rate: float = 20e6
    duration: float = 0.02
    labels: tuple = LABELS
    snr_db: tuple = (0.0, 25.0)
    impairments: str = "default"
    max_wideband: int = 3
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not MIN_RATE <= self.sample_rate <= MAX_RATE:
            raise ConfigError(f"scene sample_rate {self.sample_rate:g} S/s must be in [{MIN_RATE:g}, {MAX_RATE:g}]")
        if not 0 < self.duration <= 2.0:
            raise ConfigError(f"scene duration {self.duration:g} s must be in (0, 2] s")
        bad = set(self.labels) - set(LABELS)
        if bad or not self.labels:
            raise ConfigError(f"scene labels {sorted(bad) or '(none)'} must be a non-empty subset of {LABELS}")
        if self.impairments not in ("default", "harsh", "none"):
            raise ConfigError(f"impairments {self.impairments!r} must be 'default', 'harsh' or 'none'")


class _Plan:
    """Free frequency intervals (Hz, relative) for placing non-overlapping channels."""

    def __init__(self, fs: float):
        self.lo, self.hi = -0.5 * fs, 0.5 * fs
        self.used: list[tuple[float, float]] = []

    def place(self, bw: float, rng, allow_edge: float = 0.0, tries: int = 30):
        for _ in range(tries):
            c = rng.uniform(self.lo + bw / 2 * (1 - allow_edge), self.hi - bw / 2 * (1 - allow_edge))
            a, b = c - bw / 2, c + bw / 2
            if all(b + 0.2e6 <= u or a - 0.2e6 >= v for u, v in self.used):
                self.used.append((a, b))
                return c
        return None


def _ofdm(grid: np.ndarray, nfft: int, k0: int, cp: int) -> np.ndarray:
    """Time signal of ``grid`` (symbols, subcarriers) placed from subcarrier index ``k0`` (may be negative)."""
    n_sym, n_sc = grid.shape
    full = np.zeros((n_sym, nfft), np.complex64)
    idx = (k0 + np.arange(n_sc)) % nfft
    full[:, idx] = grid
    t = np.fft.ifft(full, axis=1).astype(np.complex64) * np.sqrt(nfft)
    return np.concatenate([t[:, nfft - cp:], t], axis=1).ravel()


def _qpsk(rng, shape) -> np.ndarray:
    return ((rng.integers(0, 2, shape) * 2 - 1) + 1j * (rng.integers(0, 2, shape) * 2 - 1)).astype(np.complex64) \
        / np.float32(np.sqrt(2))


def _scale(x: np.ndarray, snr_db: float, bw: float, fs: float, active: np.ndarray | None = None) -> np.ndarray:
    """Scale so that, where it transmits, power = 10^(snr/10) * bw / fs (noise floor power 1 over fs)."""
    on = np.abs(x) > 0 if active is None else active
    p = float(np.mean(np.abs(x[on]) ** 2)) if on.any() else 1.0
    return x * np.float32(np.sqrt(10 ** (snr_db / 10) * bw / fs / max(p, 1e-20)))


def _lte(n: int, fs: float, centre: float, n_rb: int, snr: float, rng) -> tuple[np.ndarray, list[Emission]]:
    nfft = int(round(fs / 15e3))
    scs = fs / nfft
    cp = int(round(nfft * 0.0703))
    sym = nfft + cp
    n_sym = -(-n // sym)
    n_sc = 12 * n_rb
    grid = np.zeros((n_sym, n_sc), np.complex64)
    data = _qpsk(rng, grid.shape)
    for s0 in range(0, n_sym, 14):
        s1 = min(s0 + 14, n_sym)
        ctrl = int(rng.integers(1, 4))
        grid[s0:min(s0 + ctrl, s1)] = data[s0:min(s0 + ctrl, s1)]
        for _ in range(int(rng.integers(0, 4))):                # contiguous RB allocations this subframe
            a = int(rng.integers(0, n_rb))
            b = min(n_rb, a + int(rng.integers(1, max(2, n_rb // 2 + 1))))
            grid[s0 + ctrl:s1, 12 * a:12 * b] = data[s0 + ctrl:s1, 12 * a:12 * b]
        for r in (0, 4, 7, 11):                                  # reference symbols
            if s0 + r < s1:
                grid[s0 + r, ::6] = data[s0 + r, ::6] * np.float32(1.4)
    k0 = int(round(centre / scs)) - n_sc // 2
    x = _ofdm(grid, nfft, k0, cp)[:n]
    bw = n_sc * scs
    x = _scale(x, snr, bw, fs)
    f_lo, f_hi = k0 * scs, (k0 + n_sc) * scs
    return x, [Emission(0, n, f_lo, f_hi, "lte", snr, f"carrier {n_rb} RB")]


def _nr(n: int, fs: float, centre: float, bw: float, scs_nom: float, snr: float, rng):
    nfft = int(round(fs / scs_nom))
    scs = fs / nfft
    cp = int(round(nfft * 0.0703))
    sym = nfft + cp
    n_sym = -(-n // sym)
    n_rb = max(11, int(bw * 0.95 / (12 * scs)))
    n_sc = 12 * n_rb
    grid = np.zeros((n_sym, n_sc), np.complex64)
    data = _qpsk(rng, grid.shape)
    k0 = int(round(centre / scs)) - n_sc // 2
    em = []
    load = rng.uniform(0.3, 0.9)
    for s0 in range(0, n_sym, 14):
        s1 = min(s0 + 14, n_sym)
        if rng.random() > load:
            continue
        a = int(rng.integers(0, n_rb // 2))
        b = int(rng.integers(a + max(1, n_rb // 4), n_rb + 1))
        grid[s0:s1, 12 * a:12 * b] = data[s0:s1, 12 * a:12 * b]
        em.append(Emission(s0 * sym, (s1 - s0) * sym, (k0 + 12 * a) * scs, (k0 + 12 * b) * scs, "nr", snr, "slot"))
    period_sym = int(round(rng.choice([5e-3, 10e-3, 20e-3]) * fs / sym))
    n_ssb = min(240, int(7.2e6 / scs), n_sc // 2)              # 20 RB at 30 kHz; narrower on small carriers
    ssb_at = int(rng.integers(0, max(1, n_sc - n_ssb)))
    first = int(rng.integers(0, max(1, period_sym)))
    for p0 in range(first, n_sym, period_sym):
        for j in range(4):                                       # 4 SSBs of 4 symbols, 2 symbols apart
            s = p0 + j * 6 + 2
            if s + 4 <= n_sym:
                grid[s:s + 4, ssb_at:ssb_at + n_ssb] = data[s:s + 4, ssb_at:ssb_at + n_ssb] * np.float32(1.2)
                em.append(Emission(s * sym, 4 * sym, (k0 + ssb_at) * scs, (k0 + ssb_at + n_ssb) * scs, "nr", snr,
                                   "ssb"))
    x = _ofdm(grid, nfft, k0, cp)[:n]
    x = _scale(x, snr, n_sc * scs, fs, active=np.abs(x) > 0)
    em = [e for e in em if e.start < n]
    em = [Emission(e.start, min(e.count, n - e.start), e.f_lo, e.f_hi, e.label, e.snr_db, e.part) for e in em]
    return x, em


def _wifi(n: int, fs: float, centre: float, snr: float, rng):
    nfft = int(round(fs / 312.5e3))
    scs = fs / nfft
    cp = nfft // 4
    sym = nfft + cp
    x = np.zeros(n, np.complex64)
    em = []
    t = int(rng.integers(0, int(1e-3 * fs)))
    busy = rng.uniform(0.3, 0.8)
    while t < n:
        dur = int(rng.uniform(0.1e-3, 1.5e-3) * fs)
        n_sym = max(1, dur // sym)
        grid = np.zeros((n_sym, 53), np.complex64)
        grid[:, :26] = _qpsk(rng, (n_sym, 26))
        grid[:, 27:] = _qpsk(rng, (n_sym, 26))
        k0 = int(round(centre / scs)) - 26
        b = _ofdm(grid, nfft, k0, cp)
        m = min(len(b), n - t)
        x[t:t + m] = b[:m]
        em.append(Emission(t, m, (k0) * scs, (k0 + 53) * scs, "wifi", snr, "packet"))
        gap = 34e-6 + 9e-6 * int(rng.integers(0, 16))
        if rng.random() > busy:
            gap += rng.exponential(1.5e-3)
        t += m + int(gap * fs)
    return _scale(x, snr, 52 * scs, fs, active=np.abs(x) > 0), em


def _bt(n: int, fs: float, snr: float, rng, plan_lo: float, plan_hi: float):
    from sdrkit.dsp.synth import modulate

    slot = int(625e-6 * fs)
    burst = int(366e-6 * fs)
    x = np.zeros(n, np.complex64)
    em = []
    sps = fs / 1e6
    chans = np.arange(np.ceil(plan_lo / 1e6 + 0.5), np.floor(plan_hi / 1e6 - 0.5) + 1) * 1e6
    duty = rng.uniform(0.3, 1.0)
    k = np.arange(burst)
    for t in range(int(rng.integers(0, slot)), n, slot):
        if rng.random() > duty or not len(chans):
            continue
        fc = float(rng.choice(chans))
        m = min(burst, n - t)
        s = modulate("gfsk", m, rng=rng, sps=min(sps, 64))
        x[t:t + m] += s * np.exp(2j * np.pi * fc / fs * k[:m]).astype(np.complex64)
        em.append(Emission(t, m, fc - 0.5e6, fc + 0.5e6, "bt", snr, "hop"))
    return _scale(x, snr, 1e6, fs, active=np.abs(x) > 0), em


def _narrowband(n: int, fs: float, centre: float, bw: float, snr: float, rng):
    from sdrkit.dsp.synth import MODULATIONS, modulate

    name = str(rng.choice([m for m in MODULATIONS if m not in ("wbfm",)]))
    sps = fs / bw
    decim = 1
    while sps > 32:
        decim *= 2
        sps /= 2
    m = -(-n // decim)
    s = modulate(name, m, rng=rng, sps=max(sps, 2.0))
    if decim > 1:
        from scipy.signal import resample_poly

        s = resample_poly(s, decim, 1)[:n].astype(np.complex64)
    s = s[:n] * np.exp(2j * np.pi * centre / fs * np.arange(n)).astype(np.complex64)
    occupied = bw * (1.35 if name not in ("am-dsb", "am-ssb") else 1.0)
    return _scale(s, snr, occupied, fs), [Emission(0, n, centre - occupied / 2, centre + occupied / 2,
                                                  "narrowband", snr, name)]


IMPAIRMENT_SETS = {
    "none": dict(taps=1, cfo=0.0, pn=0.0, iq=(0.0, 0.0), dc=0.0, tilt=0.0, spurs=0),
    "default": dict(taps=3, cfo=2e-5, pn=1e-3, iq=(0.5, 3.0), dc=0.02, tilt=3.0, spurs=2),
    "harsh": dict(taps=6, cfo=1e-4, pn=5e-3, iq=(1.5, 8.0), dc=0.06, tilt=8.0, spurs=5),
}


def _floor(n: int, fs: float, imp: dict, rng) -> np.ndarray:
    """Unit-power noise with a spectral tilt (dB across the band) and spurs."""
    from sdrkit.dsp.impair import noise_pool

    w = noise_pool(rng, n) if n <= (1 << 22) else \
        ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)
    w = np.array(w[:n], np.complex64)
    tilt = rng.uniform(-1, 1) * imp["tilt"]
    if tilt:
        blk = 1 << 14
        f = np.fft.fftfreq(blk)
        h = 10 ** (tilt * f / 20)                    # tilt dB from -fs/2 to +fs/2 (amplitude)
        h /= np.sqrt(np.mean(h ** 2))
        m = n // blk * blk
        y = np.fft.ifft(np.fft.fft(w[:m].reshape(-1, blk), axis=1) * h, axis=1)
        w[:m] = y.ravel().astype(np.complex64)
    k = np.arange(n)
    for _ in range(int(rng.integers(0, imp["spurs"] + 1))):
        f0 = rng.uniform(-0.48, 0.48)
        w += np.float32(10 ** (rng.uniform(-14, -8) / 20)) * np.exp(2j * np.pi * f0 * k).astype(np.complex64)
    return w


def make_scene(cfg: SceneConfig, rng: np.random.Generator) -> tuple[np.ndarray, list[Emission], dict]:
    """One scene: ``(samples complex64 (n,), emissions, description)``.

    Raises:
        ConfigError: bad settings (see :class:`SceneConfig`).
    """
    from sdrkit.dsp import impair

    fs = float(cfg.sample_rate)
    n = int(round(cfg.duration * fs))
    imp = IMPAIRMENT_SETS[cfg.impairments]
    lo_snr, hi_snr = cfg.snr_db
    plan = _Plan(fs)
    parts: list[tuple[np.ndarray, list[Emission]]] = []
    wide = [l for l in ("lte", "nr", "wifi") if l in cfg.labels]
    for _ in range(int(rng.integers(1, cfg.max_wideband + 1)) if wide else 0):
        kind = str(rng.choice(wide))
        snr = float(rng.uniform(lo_snr, hi_snr))
        if kind == "lte":
            opts = [b for b in LTE_BW_RB if b <= 0.8 * fs]
            bw = float(rng.choice(opts))
            c = plan.place(LTE_BW_RB[bw] * 180e3, rng)
            if c is not None:
                parts.append(_lte(n, fs, c, LTE_BW_RB[bw], snr, rng))
        elif kind == "nr":
            opts = [b for b in (5e6, 10e6, 15e6, 20e6, 40e6) if b <= 0.8 * fs]
            bw = float(rng.choice(opts))
            scs = float(rng.choice([30e3, 60e3])) if bw >= 10e6 else 30e3
            c = plan.place(bw * 0.95, rng)
            if c is not None:
                parts.append(_nr(n, fs, c, bw, scs, snr, rng))
        elif fs >= 20e6:
            c = plan.place(16.6e6, rng, allow_edge=0.6)
            if c is not None:
                parts.append(_wifi(n, fs, c, snr, rng))
    if "narrowband" in cfg.labels:
        for _ in range(int(rng.integers(0, 4))):
            bw = float(np.exp(rng.uniform(np.log(25e3), np.log(500e3))))
            c = plan.place(bw * 1.4, rng)
            if c is not None:
                parts.append(_narrowband(n, fs, c, bw, float(rng.uniform(lo_snr, hi_snr)), rng))
    if "bt" in cfg.labels and rng.random() < 0.6:
        parts.append(_bt(n, fs, float(rng.uniform(lo_snr, hi_snr)), rng, -0.5 * fs, 0.5 * fs))
    x = _floor(n, fs, imp, rng)
    emissions: list[Emission] = []
    for sig, em in parts:
        if imp["taps"] > 1:
            sig = impair.multipath(sig, rng, n_taps=imp["taps"], decay=1.5, rician_k=float(rng.uniform(0, 4)))
        x += sig
        emissions += em
    if imp["cfo"] or imp["pn"]:
        ph = impair.cfo_phase(n, float(rng.uniform(-1, 1) * imp["cfo"]))
        if imp["pn"]:
            ph = ph + impair.wiener_phase(n, imp["pn"], rng, hold=64)
        x = impair.rotate(x, ph)
    if imp["iq"][0] or imp["iq"][1]:
        x = impair.iq_imbalance(x, float(rng.uniform(-1, 1) * imp["iq"][0]), float(rng.uniform(-1, 1) * imp["iq"][1]))
    if imp["dc"]:
        x = impair.dc_offset(x, complex(rng.normal(0, imp["dc"]), rng.normal(0, imp["dc"])))
    emissions = [e for e in emissions if e.count > 0 and e.f_hi > -0.5 * fs and e.f_lo < 0.5 * fs]
    emissions.sort(key=lambda e: (e.start, e.f_lo))
    desc = {"sample_rate": fs, "duration": cfg.duration, "impairments": cfg.impairments,
            "labels": list(cfg.labels), "snr_db": list(cfg.snr_db), "emitters": len(parts)}
    return x.astype(np.complex64), emissions, desc


def to_annotations(emissions, center_frequency: float) -> list[dict]:
    """SigMF annotation dicts (for :func:`sdrkit.capture.write_recording`) with absolute frequency edges."""
    return [{"start": e.start, "count": e.count, "label": e.label,
             "core:freq_lower_edge": float(center_frequency + e.f_lo),
             "core:freq_upper_edge": float(center_frequency + e.f_hi),
             "snr_db": round(float(e.snr_db), 2), "part": e.part} for e in emissions]
