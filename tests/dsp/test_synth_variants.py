"""The wider generator: synth variants, impairments and the AMC families (sdrkit.tasks.amc.variants)."""

import numpy as np
import pytest

from sdrkit.dsp import impair, synth
from sdrkit.errors import ConfigError


def _power(x):
    return np.mean(np.abs(x) ** 2, axis=-1)


def _spectrum_side(y):
    p = np.abs(np.fft.fft(y, axis=-1)) ** 2
    f = np.fft.fftfreq(y.shape[-1])
    return p[:, f > 0].sum() / p.sum(), p[:, f < 0].sum() / p.sum()


def test_audio_is_band_limited_peak_one_and_seeded():
    a = synth.audio(1024, 16, np.random.default_rng(0), 0.0003, 0.0034, silence_prob=0.5)
    b = synth.audio(1024, 16, np.random.default_rng(0), 0.0003, 0.0034, silence_prob=0.5)
    assert np.array_equal(a, b) and np.allclose(np.abs(a).max(axis=1), 1)
    p = np.abs(np.fft.rfft(a, axis=1)) ** 2
    f = np.fft.rfftfreq(1024)
    assert p[:, f > 0.01].sum() / p.sum() < 0.02        # speech band: nothing above 10 kHz at 1 MS/s
    m = synth.audio(1024, 8, np.random.default_rng(1), 0.0001, 0.02, kind="music")
    assert m.shape == (8, 1024)
    with pytest.raises(ConfigError, match="audio band"):
        synth.audio(1024, 2, np.random.default_rng(0), 0.01, 0.005)


def test_ssb_sidebands_and_band_centring():
    rng = np.random.default_rng(2)
    msg = synth.audio(1024, 32, rng, 0.002, 0.02)
    up, lo = _spectrum_side(synth.am_ssb(msg, rng, "usb"))
    assert up > 0.95
    up, lo = _spectrum_side(synth.am_ssb(msg, rng, "lsb"))
    assert lo > 0.95
    c = synth.am_ssb(msg, rng, "usb", centred=True, band=(0.002, 0.02))
    r1 = np.sum(c[:, 1:] * np.conj(c[:, :-1]), axis=1)
    assert abs(np.median(np.angle(r1) / (2 * np.pi))) < 0.004   # centred near DC
    assert np.allclose(_power(c), 1, atol=1e-3)


def test_am_carriers_and_overmodulation():
    rng = np.random.default_rng(3)
    msg = synth.audio(1024, 16, rng, 0.001, 0.01)
    full = synth.am_dsb(msg, rng, "full", 0.5)
    sc = synth.am_dsb(msg, rng, "suppressed")
    # carrier share: |mean|^2 / power
    assert np.all(np.abs(full.mean(1)) ** 2 > 0.5) and np.all(np.abs(sc.mean(1)) ** 2 < 0.2)
    clip = synth.am_dsb(msg, rng, "full", 1.5, "clip")
    ph = np.angle(clip * np.conj(clip[:, :1] / np.abs(clip[:, :1])))
    assert np.all(np.abs(ph[np.abs(clip) > 1e-6]) < 1e-3)     # clipped: the phase never flips
    with pytest.raises(ConfigError, match="carrier"):
        synth.am_dsb(msg, rng, "vestigial")


@pytest.mark.parametrize("h", [0.1, 0.5, 1.0])
def test_fsk_index_sets_the_frequency_deviation(h):
    rng = np.random.default_rng(4)
    y = synth.fsk(1024, 4, rng, 8.0, h)
    f = np.angle(y[:, 1:] * np.conj(y[:, :-1])) / (2 * np.pi)
    assert np.allclose(np.abs(f), h / 16, atol=1e-4)            # +/- h / (2 sps)
    g = synth.fsk(1024, 4, rng, 5.5, 0.5, bt=0.3)               # GMSK at fractional sps
    assert np.allclose(np.abs(g), 1, atol=1e-5)


@pytest.mark.parametrize("pulse", synth.PULSES)
def test_linear_pulses_at_fractional_sps(pulse):
    y = synth.linear("qam16", 1024, 8, np.random.default_rng(5), 5.3, pulse=pulse, rolloff=0.2)
    assert y.shape == (8, 1024) and np.allclose(_power(y), 1, atol=1e-4)
    if pulse == "rect":                                          # piecewise constant
        assert np.mean(np.abs(np.diff(y, axis=1)) < 1e-6) > 0.7


def test_fading_delay_spread_unit_power_and_doppler():
    rng = np.random.default_rng(6)
    x = np.ones((2000, 64), np.complex64)
    y = impair.fading(x, rng, [0, 2, 5], [1.0, 0.5, 0.25])
    assert abs(_power(y[:, 8:]).mean() - 1) < 0.1
    assert impair.rms_delay_spread([0, 2, 5], [1.0, 0.5, 0.25]) == pytest.approx(1.7496, abs=1e-3)
    z = impair.fading(np.ones((4, 4096), np.complex64), rng, [0], [1.0], doppler=1e-3)
    assert np.std(np.abs(z), axis=1).min() > 0.05                 # time-varying within the frame
    s = impair.fading(np.ones((4, 4096), np.complex64), rng, [0], [1.0], rician_k=1e6)
    assert np.allclose(np.abs(s), 1, atol=0.02)                   # pure line of sight


def test_quantize_agc_and_drift():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((4, 1024)) + 1j * rng.standard_normal((4, 1024))).astype(np.complex64)
    q = impair.quantize(x, 4, 6.0)
    assert len(np.unique(q.real[0])) <= 16
    assert 0.8 < _power(q).mean() / _power(x).mean() < 1.2
    a = impair.agc(x, rng, 6.0, 10.0, at=100)
    assert np.allclose(a[:, :100], x[:, :100]) and np.allclose(np.abs(a[:, 100]), np.abs(x[:, 100]) * 10 ** (6 / 20), rtol=1e-3)
    ph = impair.cfo_drift_phase(1000, 1e-6)
    assert ph[-1] == pytest.approx(np.pi * 1e-6 * 999 ** 2, rel=1e-5)


@pytest.mark.parametrize("family", ["wide", "shifted"])
def test_families_are_seeded_finite_and_cover_every_class(family):
    from sdrkit.tasks.amc.data import CLASSES, AmcDataSpec, draw_labels, generate_frames
    from sdrkit.tasks.amc.variants import family_ranges

    spec = AmcDataSpec(family=family)
    out = []
    for _ in range(2):
        rng = np.random.default_rng(8)
        labels, snrs = draw_labels(len(CLASSES) * 12, rng, spec)
        out.append(generate_frames(labels, snrs, rng, spec, impair.noise_pool(rng, 1 << 14)))
    assert np.array_equal(out[0], out[1]) and np.isfinite(out[0]).all()
    assert out[0].shape == (len(CLASSES) * 12, 1024)
    assert family_ranges(family)["receiver"]["cfo"]
    assert AmcDataSpec().family == "base"                       # the default generator is unchanged
