"""The AMC generator families beyond the base one: ``wide`` (trained on) and ``shifted`` (held back).

``AmcDataSpec(family="wide")`` frames span what real transmitters and receivers do; every
range below is recorded in the data set's manifest and the model card (:func:`family_ranges`).
``family="shifted"`` is a deliberately different variant family, **never trained on**: its
validation split calibrates the early-exit rule and its test split measures it out of domain.

All primitives live in the shared impairment library (:mod:`sdrkit.dsp.synth`,
:mod:`sdrkit.dsp.impair`, :mod:`sdrkit.dsp.frontend`); this module only draws their
parameters, per frame, from one seeded generator.
"""

from __future__ import annotations

import math

import numpy as np

from sdrkit.dsp import impair, synth
from sdrkit.errors import ConfigError

FAMILIES = ("base", "wide", "shifted")

#: every range of the two families (the card's ``training.data.spec.ranges``); frequencies in
#: cycles/sample (x 1 MHz = Hz at the bundled model's 1 MS/s), delays in samples (= us at 1 MS/s)
RANGES = {
    "wide": {
        "linear_pulses": {"rrc": 0.7, "rect": 0.3},
        "rolloff": [0.1, 0.5],
        "sps": [2.0, 16.0, "log-uniform, fractional (integer shaping then linear-interpolation stretch)"],
        "fsk_index_h": [0.1, 1.0],
        "fsk_msk_share": 0.15, "gfsk_bt": [0.3, 0.5], "gmsk": "h = 0.5, BT = 0.3 in 15% of gfsk",
        "am_dsb_carrier": {"full": 0.5, "reduced": 0.2, "suppressed": 0.3},
        "am_dsb_full_index": [0.3, 1.0], "am_overmodulated_share_of_full": 0.2, "am_overmod_index": [1.0, 1.5],
        "am_overmod_kinds": ["reverse", "clip"], "am_reduced_carrier": [0.05, 0.5],
        "am_ssb": {"usb": 0.5, "lsb": 0.5, "tuned_on_carrier": 0.5, "centred_on_band": 0.5,
                   "residual_carrier_share": 0.2, "residual_carrier": [0.0, 0.3]},
        "audio": {"speech": 0.45, "music": 0.3, "wide_noise_tones (base generator)": 0.25,
                  "speech_band": [[0.0001, 0.0005], [0.003, 0.02]], "music_band": [[0.00003, 0.0002], [0.005, 0.02]],
                  "silence_prob": 0.2, "silence": "a 20-80% stretch of the frame 30 dB down"},
        "wbfm": {"base generator share": 0.5, "deviation": [0.02, 0.25], "audio": "music band"},
        "channel": {"none": 0.2, "flat": 0.2, "frequency_selective": 0.6, "taps": [2, 6],
                    "max_delay_samples": 8, "pdp_decay_samples": [0.5, 3.0],
                    "max_rms_delay_spread_samples": 3.2, "rayleigh_share": 0.5, "rician_k": [1.0, 10.0],
                    "doppler_share": 0.5, "max_doppler": [1e-6, 3e-4, "log-uniform (1-300 Hz at 1 MS/s)"],
                    "sro_ppm": [-50, 50], "sro_share": 0.5},
        "receiver": {"cfo": [-0.005, 0.005], "cfo_drift_per_sample": [-1e-7, 1e-7],
                     "corrected_share": 0.3,
                     "corrected": "CFO uniform +/-0.06, then sdrkit.dsp.frontend.correct_cfo (refine off)",
                     "phase_noise_rad_per_sample": [0.0, 0.003], "iq_amp_db": [-1.5, 1.5], "iq_phase_deg": [-8, 8],
                     "dc": [0.0, 0.08], "agc_share": 0.3, "agc_step_db": [-6, 6], "agc_tau_samples": [16, 256],
                     "adc_share": 0.5, "adc_bits": [6, 12], "adc_headroom_db": [3, 12]},
    },
    "shifted": {
        "linear_pulses": {"rc (no matched filter)": 0.4, "halfsine": 0.3, "rect + 3-tap transmit smoothing": 0.3},
        "rolloff": [0.1, 0.5], "sps": [2.0, 16.0, "log-uniform"],
        "fsk_index_h": [0.1, 1.0], "gfsk_bt": [0.2, 0.3],
        "am_dsb_carrier": {"full": 0.4, "reduced": 0.3, "suppressed": 0.3}, "am_overmodulated_share_of_full": 0.4,
        "audio": {"music": 0.7, "speech": 0.3, "high_edge": [0.008, 0.02], "silence_prob": 0.3},
        "am_ssb": {"residual_carrier_share": 0.3, "residual_carrier": [0.1, 0.3]},
        "wbfm": {"deviation": [0.03, 0.1], "audio": "music"},
        "channel": {"uniform_pdp_share": 0.6, "taps": [2, 4], "max_delay_samples": 12, "rician_k": [0.0, 3.0],
                    "max_doppler": [1e-4, 5e-4], "sro_ppm": [-100, 100]},
        "receiver": {"cfo": [-0.008, 0.008], "cfo_drift_per_sample": [-3e-7, 3e-7],
                     "phase_noise_rad_per_sample": [0.002, 0.005],
                     "iq_amp_db": [1.5, 3.0, "either sign"], "iq_phase_deg": [8, 12, "either sign"],
                     "dc": [0.05, 0.15], "agc_share": 0.4, "agc_step_db": [-10, 10], "adc_share": 0.6,
                     "adc_bits": [4, 6], "corrected_share": 0.0},
    },
}


def family_ranges(family: str) -> dict:
    """The documented ranges of ``family`` (empty for ``base``: see :mod:`sdrkit.tasks.amc.data`)."""
    if family not in FAMILIES:
        raise ConfigError(f"AMC generator family {family!r} must be one of {', '.join(FAMILIES)}")
    return RANGES.get(family, {})


def _logu(rng, lo, hi, m):
    return np.exp(rng.uniform(math.log(lo), math.log(hi), m))


def _stretch(x: np.ndarray, factor: np.ndarray, n: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)[None, :] * factor[:, None]
    i = np.minimum(t.astype(np.int64), x.shape[1] - 2)
    f = (t - i).astype(np.float32)
    rows = np.arange(x.shape[0])[:, None]
    a, b = x[rows, i], x[rows, i + 1]
    return a + (b - a) * f


def _linear(name, idx, n, rng, shifted, out):
    m = len(idx)
    sps = _logu(rng, 2.0, 16.0, m)
    isps = np.clip(np.floor(sps), 2, 16).astype(np.int64)
    factor = isps / sps                                    # <= 1: read slower, sps grows to the drawn value
    roll = rng.uniform(0.1, 0.5, m)
    u = rng.uniform(0, 1, m)
    if shifted:
        pulse = np.where(u < 0.4, "rc", np.where(u < 0.7, "halfsine", "rect"))
    else:
        pulse = np.where(u < 0.7, "rrc", "rect")
    for p in np.unique(pulse):
        for s in np.unique(isps[pulse == p]):
            sel = np.flatnonzero((pulse == p) & (isps == s))
            y = synth.linear(name, n + 4, len(sel), rng, float(s), pulse=str(p), rolloff=float(np.median(roll[sel])))
            if shifted and p == "rect":
                y = y.copy()
                y[:, 1:-1] = 0.25 * y[:, :-2] + 0.5 * y[:, 1:-1] + 0.25 * y[:, 2:]
            out[idx[sel]] = _stretch(y, factor[sel], n)


def _fsk(name, idx, n, rng, shifted, out):
    m = len(idx)
    sps = np.round(_logu(rng, 2.0, 16.0, m) * 2) / 2
    h = rng.uniform(0.1, 1.0, m)
    msk = rng.uniform(0, 1, m) < 0.15
    h[msk] = 0.5
    if name == "gfsk":
        bt = np.round(rng.uniform(0.2, 0.3, m) if shifted else rng.uniform(0.3, 0.5, m), 2)
        if not shifted:
            bt[msk] = 0.3                                   # GMSK
        bt = np.round(bt * 20) / 20
        out[idx] = synth.fsk(n, m, rng, sps, h, bt=bt)
    else:
        out[idx] = synth.fsk(n, m, rng, sps, h)


def _audio(n, m, rng, shifted):
    u = rng.uniform(0, 1, m)
    msg = np.empty((m, n), np.float32)
    if shifted:
        kinds = np.where(u < 0.7, "music", "speech")
    else:
        kinds = np.where(u < 0.45, "speech", np.where(u < 0.75, "music", "base"))
    lo = np.where(kinds == "music", _logu(rng, 0.00003, 0.0002, m), _logu(rng, 0.0001, 0.0005, m))
    hi = rng.uniform(0.008, 0.02, m) if shifted else np.where(kinds == "music", _logu(rng, 0.005, 0.02, m),
                                                               _logu(rng, 0.003, 0.02, m))
    for k in np.unique(kinds):
        sel = np.flatnonzero(kinds == k)
        if k == "base":
            msg[sel] = synth.message(n, len(sel), rng)
            lo[sel], hi[sel] = 0.0005, 0.05
        else:
            msg[sel] = synth.audio(n, len(sel), rng, lo[sel], hi[sel], silence_prob=0.3 if shifted else 0.2, kind=str(k))
    return msg, lo, hi


def _analog(name, idx, n, rng, shifted, out):
    m = len(idx)
    if name == "wbfm":
        if shifted:
            msg, _, _ = _audio(n, m, rng, True)
            dev = rng.uniform(0.03, 0.1, (m, 1))
            out[idx] = np.exp(1j * (2 * np.pi * np.cumsum(dev * msg, axis=1) + rng.uniform(0, 6.3, (m, 1))))
            return
        base = rng.uniform(0, 1, m) < 0.5
        if base.any():
            out[idx[base]] = synth.modulate("wbfm", n, rng=rng, n_frames=int(base.sum()))
        k = int((~base).sum())
        if k:
            msg, _, _ = _audio(n, k, rng, False)
            dev = rng.uniform(0.02, 0.25, (k, 1))
            out[idx[~base]] = np.exp(1j * (2 * np.pi * np.cumsum(dev * msg, axis=1) + rng.uniform(0, 6.3, (k, 1))))
        return
    msg, lo, hi = _audio(n, m, rng, shifted)
    if name == "am-dsb":
        u = rng.uniform(0, 1, m)
        full_p, red_p = (0.4, 0.7) if shifted else (0.5, 0.7)
        kind = np.where(u < full_p, "full", np.where(u < red_p, "reduced", "suppressed"))
        over = rng.uniform(0, 1, m) < (0.4 if shifted else 0.2)
        index = np.where(kind == "full", np.where(over, rng.uniform(1.0, 1.5, m), rng.uniform(0.3, 1.0, m)),
                         rng.uniform(0.05, 0.5, m))
        clip = rng.uniform(0, 1, m) < 0.5
        for kk in np.unique(kind):
            for c in (False, True):
                sel = np.flatnonzero((kind == kk) & (clip == c))
                if len(sel):
                    out[idx[sel]] = synth.am_dsb(msg[sel], rng, str(kk), index[sel], "clip" if c else "reverse")
    else:
        lsb = rng.uniform(0, 1, m) < 0.5
        centred = rng.uniform(0, 1, m) < 0.5
        share, (c0, c1) = (0.3, (0.1, 0.3)) if shifted else (0.2, (0.0, 0.3))
        carrier = np.where(rng.uniform(0, 1, m) < share, rng.uniform(c0, c1, m), 0.0)
        for sb in (False, True):
            sel = np.flatnonzero(lsb == sb)
            if len(sel):
                out[idx[sel]] = synth.am_ssb(msg[sel], rng, "lsb" if sb else "usb", centred[sel],
                                             (lo[sel], hi[sel]), carrier[sel])


def _channel(x, rng, shifted):
    m, n = x.shape
    u = rng.uniform(0, 1, m)
    if shifted:
        sel_fs = np.flatnonzero(u < 0.8)
        sel_flat = np.flatnonzero(u >= 0.8)
    else:
        sel_fs = np.flatnonzero(u >= 0.4)
        sel_flat = np.flatnonzero((u >= 0.2) & (u < 0.4))
    if len(sel_flat):
        k = np.where(rng.uniform(0, 1, len(sel_flat)) < 0.5, 0.0, rng.uniform(1, 10, len(sel_flat)))
        fd = np.where(rng.uniform(0, 1, len(sel_flat)) < 0.5, 0.0, _logu(rng, 1e-6, 3e-4, len(sel_flat)))
        x[sel_flat] = impair.fading(x[sel_flat], rng, [0], [1.0], rician_k=k, doppler=fd)
    if len(sel_fs):
        ntaps = rng.integers(2, 5 if shifted else 7, len(sel_fs))
        for t in np.unique(ntaps):
            sel = sel_fs[ntaps == t]
            ms = len(sel)
            maxd = 12 if shifted else 8
            delays = np.r_[0, np.sort(rng.choice(np.arange(1, maxd + 1), int(t) - 1, replace=False))]
            if shifted:
                uni = rng.uniform(0, 1, ms) < 0.6
                pdp = np.where(uni[:, None], 1.0, np.exp(-delays[None, :] / rng.uniform(0.5, 3.0, (ms, 1))))
                k = rng.uniform(0, 3, ms)
                fd = rng.uniform(1e-4, 5e-4, ms)
            else:
                pdp = np.exp(-delays[None, :] / rng.uniform(0.5, 3.0, (ms, 1)))
                k = np.where(rng.uniform(0, 1, ms) < 0.5, 0.0, rng.uniform(1, 10, ms))
                fd = np.where(rng.uniform(0, 1, ms) < 0.5, 0.0, _logu(rng, 1e-6, 3e-4, ms))
            x[sel] = impair.fading(x[sel], rng, delays, pdp, rician_k=k, doppler=fd)
    sro = rng.uniform(0, 1, m) < (1.0 if shifted else 0.5)
    if sro.any():
        lim = 100 if shifted else 50
        x[sro] = impair.sample_rate_offset(x[sro], rng.uniform(-lim, lim, int(sro.sum())))
    return x


def _receiver(x, snrs, rng, shifted, pool):
    m, n = x.shape
    if shifted:
        cfo = rng.uniform(-0.008, 0.008, m)
        drift = rng.uniform(-3e-7, 3e-7, m)
        pn = rng.uniform(0.002, 0.005, m)
        amp = rng.uniform(1.5, 3.0, m) * rng.choice([-1, 1], m)
        phd = rng.uniform(8, 12, m) * rng.choice([-1, 1], m)
        dcm = rng.uniform(0.05, 0.15, m)
        corrected = np.zeros(m, bool)
    else:
        corrected = rng.uniform(0, 1, m) < 0.3
        cfo = np.where(corrected, rng.uniform(-0.06, 0.06, m), rng.uniform(-0.005, 0.005, m))
        drift = rng.uniform(-1e-7, 1e-7, m)
        pn = rng.uniform(0, 0.003, m)
        amp = rng.uniform(-1.5, 1.5, m)
        phd = rng.uniform(-8, 8, m)
        dcm = rng.uniform(0, 0.08, m)
    ph = impair.cfo_phase(n, cfo, phase0=rng.uniform(0, 2 * np.pi, m), dtype=np.float32)
    ph += impair.cfo_drift_phase(n, drift)
    ph += impair.wiener_phase((m, n), pn, rng, hold=8, dtype=np.float32)
    y = impair.rotate(x, ph)
    y = impair.iq_imbalance(y, amp, phd)
    # DC relative to the signal's RMS, as in the base family
    y = impair.dc_offset(y, (dcm * np.exp(2j * np.pi * rng.uniform(0, 1, m))).astype(np.complex64))
    if snrs is not None:
        y = impair.awgn(y, np.asarray(snrs, np.float64), rng, pool=pool)
    agc = rng.uniform(0, 1, m) < (0.4 if shifted else 0.3)
    if agc.any():
        lim = 10 if shifted else 6
        y[agc] = impair.agc(y[agc], rng, rng.uniform(-lim, lim, int(agc.sum())), rng.uniform(16, 256, int(agc.sum())))
    adc = rng.uniform(0, 1, m) < (0.6 if shifted else 0.5)
    if adc.any():
        k = int(adc.sum())
        bits = rng.integers(4, 7, k) if shifted else rng.integers(6, 13, k)
        y[adc] = impair.quantize(y[adc], bits, rng.uniform(3, 12, k))
    if corrected.any():
        from sdrkit.dsp.frontend import correct_cfo

        y[corrected] = correct_cfo(y[corrected], 1.0, refine=False)
    return y


def generate(labels: np.ndarray, snrs, rng: np.random.Generator, classes, frame_len: int, family: str,
             pool: np.ndarray | None = None) -> np.ndarray:
    """Frames of ``family`` (``wide`` or ``shifted``) for class indices ``labels`` and SNRs (dB);
    complex64 (len(labels), frame_len). ``snrs`` None: no noise."""
    if family not in ("wide", "shifted"):
        raise ConfigError(f"family {family!r}: variants.generate makes 'wide' or 'shifted' frames")
    shifted = family == "shifted"
    n, m = frame_len, len(labels)
    out = np.empty((m, n), np.complex64)
    for c in np.unique(labels):
        name = classes[c]
        idx = np.flatnonzero(labels == c)
        if name in synth.LINEAR:
            _linear(name, idx, n, rng, shifted, out)
        elif name in ("gfsk", "cpfsk"):
            _fsk(name, idx, n, rng, shifted, out)
        elif name in ("wbfm", "am-dsb", "am-ssb"):
            _analog(name, idx, n, rng, shifted, out)
        else:
            raise ConfigError(f"class {name!r} has no generator")
    p = np.mean(out.real ** 2 + out.imag ** 2, axis=1, keepdims=True)
    out *= (1 / np.sqrt(np.maximum(p, 1e-20))).astype(np.float32)
    out = _channel(out, rng, shifted)
    if pool is None and snrs is not None:
        pool = impair.noise_pool(rng)
    return _receiver(out, snrs, rng, shifted, pool)
