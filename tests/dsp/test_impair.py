"""The impairment library (sdrkit.dsp.impair) and the three simulators that use it."""

import numpy as np
import pytest

from sdrkit.dsp import channel, impair, tone
from sdrkit.errors import ConfigError

N = 4096


def _bins(y: np.ndarray, k: int) -> tuple[complex, complex]:
    """Complex amplitudes at FFT bins +k and -k of a length-N block (a tone on bin k has amplitude 1)."""
    spec = np.fft.fft(y.astype(np.complex128)) / len(y)
    return complex(spec[k]), complex(spec[-k])


# --------------------------------------------------------------------------- noise


@pytest.mark.parametrize("use_pool", [False, True])
def test_awgn_gives_the_stated_snr_per_frame(use_pool):
    rng = np.random.default_rng(0)
    x = np.ones((3, 100_000), np.complex64) * np.array([[1], [2], [0.5]], np.float32)
    snr = np.array([0.0, 10.0, 20.0])
    pool = impair.noise_pool(rng, 1 << 20) if use_pool else None
    noise = impair.awgn(x, snr, rng, pool=pool) - x
    measured = 10 * np.log10(np.mean(np.abs(x) ** 2, axis=1) / np.mean(np.abs(noise) ** 2, axis=1))
    assert np.allclose(measured, snr, atol=0.1)
    assert np.allclose(np.var(noise.real, axis=1), np.var(noise.imag, axis=1), rtol=0.05)     # circular
    assert abs(np.mean(noise[0].real * noise[0].imag)) < 0.01                                # I, Q independent


def test_awgn_at_infinite_snr_adds_nothing_and_a_short_pool_is_refused():
    x = tone(256, 0.1)
    assert np.array_equal(impair.awgn(x, np.inf, np.random.default_rng(0)), x)
    with pytest.raises(ConfigError, match="noise pool of shape .* longer than a frame"):
        impair.awgn(x, 10.0, np.random.default_rng(0), pool=impair.noise_pool(np.random.default_rng(0), 100))


def test_noise_pool_has_unit_power():
    z = impair.noise_pool(np.random.default_rng(1), 1 << 18)
    assert z.dtype == np.complex64 and abs(np.mean(np.abs(z) ** 2) - 1) < 0.01


# --------------------------------------------------------------------------- carrier


def test_cfo_moves_a_tone_up_by_cfo_cycles_per_sample():
    y = impair.cfo(np.ones(N, np.complex64), 100 / N)
    assert np.argmax(np.abs(np.fft.fft(y))) == 100
    y = impair.cfo(np.ones(N, np.complex64), -100 / N, phase0=0.5)
    assert np.argmax(np.abs(np.fft.fft(y))) == N - 100 and np.isclose(np.angle(y[0]), 0.5, atol=1e-6)


@pytest.mark.parametrize("offset", [0, 10 ** 9 + 7])
def test_cfo_blocks_with_start_indices_equal_one_block(offset):
    x = tone(10_000, 0.01, phase=0.3)
    f = 0.0123456
    whole = impair.cfo(x, f, start=offset, phase0=1.0)
    parts = np.concatenate([impair.cfo(x[i:i + 3001], f, start=offset + i, phase0=1.0)
                            for i in range(0, len(x), 3001)])
    assert np.allclose(parts, whole, atol=2e-6)
    # and the phase is the stated function of the absolute index
    k = offset + np.arange(len(x))
    ref = x * np.exp(1j * (2 * np.pi * ((f * k) % 1.0) + 1.0))
    assert np.allclose(whole, ref, atol=2e-5)


def test_cfo_per_frame_and_float32_phase_agree_with_float64():
    x = np.ones((3, 1024), np.complex64)
    f = np.array([0.001, -0.0005, 0.0])
    p0 = np.array([0.0, 1.0, 2.0])
    y = impair.cfo(x, f, phase0=p0)
    assert y.shape == (3, 1024)
    assert np.allclose(np.angle(y[:, 0]), p0, atol=1e-6)
    ph32 = impair.cfo_phase(1024, f, phase0=p0, dtype=np.float32)
    assert ph32.dtype == np.float32 and np.allclose(ph32, impair.cfo_phase(1024, f, phase0=p0), atol=1e-5)
    assert np.allclose(impair.rotate(x, ph32), y, atol=1e-5)


def test_phase_noise_is_a_wiener_walk_with_the_stated_step():
    rng = np.random.default_rng(0)
    y = impair.phase_noise(np.ones((4, 50_000), np.complex64), 0.01, rng)
    assert np.allclose(np.abs(y), 1, atol=1e-5)
    steps = np.angle(y[:, 1:] * np.conj(y[:, :-1]))
    assert np.isclose(np.std(steps), 0.01, rtol=0.02) and abs(np.mean(steps)) < 1e-3
    # held steps: the walk changes only every `hold` samples, by std * sqrt(hold)
    w = impair.wiener_phase((2, 80_000), 0.01, np.random.default_rng(1), hold=8)
    d = np.diff(w, axis=1)
    assert np.all(d[:, np.arange(d.shape[1]) % 8 != 7] == 0)
    assert np.isclose(np.std(d[:, 7::8]), 0.01 * np.sqrt(8), rtol=0.03)


def test_phase_noise_continues_from_phase0():
    a = impair.wiener_phase(1000, 0.02, np.random.default_rng(5))
    b = impair.wiener_phase(1000, 0.02, np.random.default_rng(5), phase0=3.0)
    assert np.allclose(b - a, 3.0)
    with pytest.raises(ConfigError, match="hold=0"):
        impair.wiener_phase(10, 0.1, np.random.default_rng(0), hold=0)


# --------------------------------------------------------------------------- IQ imbalance


@pytest.mark.parametrize("amp_db, phase_deg", [(1.0, 5.0), (-0.6, -3.0), (0.0, 8.0), (2.0, 0.0)])
def test_iq_imbalance_matches_its_formulas_and_image_rejection_ratio(amp_db, phase_deg):
    x = tone(N, 200 / N, phase=0.4)
    y = impair.iq_imbalance(x, amp_db, phase_deg)
    g, phi = 10 ** (amp_db / 20), np.deg2rad(phase_deg)
    assert np.array_equal(y.real, x.real)                                         # I is the reference
    assert np.allclose(y.imag, g * (x.imag * np.cos(phi) - x.real * np.sin(phi)), atol=1e-6)
    mu, nu = impair.iq_coefficients(amp_db, phase_deg)
    assert np.allclose(y, mu * x + nu * np.conj(x), atol=1e-6)
    assert np.isclose(mu, (1 + g * np.exp(-1j * phi)) / 2) and np.isclose(nu, (1 - g * np.exp(1j * phi)) / 2)
    direct, image = _bins(y, 200)
    assert np.isclose(direct, mu * np.exp(0.4j), atol=1e-5)
    assert np.isclose(image, nu * np.exp(-0.4j), atol=1e-5)                       # image = nu conj(A)
    irr = 10 * np.log10(abs(direct) ** 2 / abs(image) ** 2)
    formula = 10 * np.log10((1 + 2 * g * np.cos(phi) + g ** 2) / (1 - 2 * g * np.cos(phi) + g ** 2))
    assert np.isclose(irr, formula, atol=0.01) and np.isclose(impair.image_rejection_db(amp_db, phase_deg), formula)


def test_iq_imbalance_known_values_and_what_a_positive_phase_means():
    assert np.isclose(impair.image_rejection_db(1.0, 5.0), 22.8, atol=0.05)
    assert impair.image_rejection_db(0.0, 0.0) == np.inf
    phi = np.deg2rad(5.0)
    # the Q branch measures along the axis at 90 + phase_deg degrees from I: a unit signal
    # there reads Q' = g, one on the I axis leaks Q' = -g sin(phi)
    axis = np.array([np.exp(1j * (np.pi / 2 + phi)), 1.0, 1j], np.complex64)
    y = impair.iq_imbalance(axis, 1.0, 5.0)
    g = 10 ** (1 / 20)
    assert np.allclose(y.imag, [g, -g * np.sin(phi), g * np.cos(phi)], atol=1e-6)


def test_iq_imbalance_per_frame_parameters():
    x = np.tile(tone(1024, 0.05), (3, 1))
    y = impair.iq_imbalance(x, [0.0, 1.0, -1.0], [0.0, 3.0, -3.0])
    assert np.array_equal(y[0], x[0])
    assert np.allclose(y[1], impair.iq_imbalance(x[1], 1.0, 3.0))
    assert np.allclose(y[2], impair.iq_imbalance(x[2], -1.0, -3.0))
    with pytest.raises(ConfigError, match=r"per-frame parameter of shape \(2,\) for samples of shape \(3, 1024\)"):
        impair.iq_imbalance(x, [1.0, 2.0], 0.0)


# --------------------------------------------------------------------------- the rest


def test_gain_and_dc_offset():
    x = tone(1000, 0.01)
    assert np.allclose(impair.gain(x, 6.0), x * 10 ** (6 / 20), atol=1e-6)
    assert np.allclose(impair.dc_offset(x, 0.1 + 0.2j) - x, 0.1 + 0.2j)
    x2 = np.zeros((2, 8), np.complex64)
    assert np.allclose(impair.dc_offset(x2, [1, 2j]), [[1] * 8, [2j] * 8])
    assert np.allclose(impair.gain(x2 + 1, [0.0, 20.0]), [[1] * 8, [10] * 8])


def test_multipath_unit_power_fixed_taps_and_rician():
    rng = np.random.default_rng(0)
    x = np.zeros((4, 64), np.complex64)
    x[:, 0] = 1
    y = impair.multipath(x, rng, n_taps=3)
    assert np.allclose(np.sum(np.abs(y) ** 2, axis=1), 1.0, atol=1e-5) and np.all(np.abs(y[:, 3:]) < 1e-7)
    assert np.allclose(impair.multipath(x, None, taps=[1, 0.5j])[:, :3], [[1, 0.5j, 0]] * 4)
    h0 = impair.multipath(np.ones((2000, 4), np.complex64) * [1, 0, 0, 0], rng, n_taps=2, rician_k=50.0)[:, 0]
    assert np.std(np.abs(h0)) < 0.1          # a strong line of sight: tap 0 barely fades


def test_delay_and_sample_rate_offset():
    x = tone(1000, 0.01)
    y = impair.delay(x, 10)
    assert np.array_equal(y[:10], np.zeros(10)) and np.array_equal(y[10:], x[:-10])
    x2 = np.tile(np.arange(1000, dtype=np.complex64), (2, 1))
    y2 = impair.sample_rate_offset(x2, [1000, -1000])              # sample k taken at k (1 +- 1e-3)
    assert np.allclose(y2[:, 500], [500.5, 499.5], atol=1e-3)


def test_every_function_returns_complex64_and_never_writes_its_input():
    rng = np.random.default_rng(0)
    x = np.tile(tone(512, 0.03), (2, 1))
    keep = x.copy()
    for y in (impair.awgn(x, 10, rng), impair.cfo(x, 0.01), impair.phase_noise(x, 0.01, rng),
              impair.iq_imbalance(x, 1, 5), impair.gain(x, 3), impair.dc_offset(x, 0.1), impair.multipath(x, rng),
              impair.delay(x, 3), impair.sample_rate_offset(x, 50), impair.rotate(x, 0.3)):
        assert y.dtype == np.complex64 and y.shape == x.shape
    assert np.array_equal(x, keep)
    with pytest.raises(ConfigError, match=r"shape \(2, 2, 2\)"):
        impair.cfo(np.zeros((2, 2, 2), np.complex64), 0.1)


# --------------------------------------------------------------------------- callables


def _chain():
    return impair.Compose([impair.Gain(2.0), impair.CFO(0.01, phase0=0.2), impair.PhaseNoise(0.01),
                           impair.IQImbalance(1.0, 5.0), impair.DCOffset(0.05 - 0.01j), impair.Multipath(3),
                           impair.AWGN(15.0)])


def test_compose_equals_manual_chaining():
    x = np.tile(tone(2048, 0.02), (3, 1))
    y = _chain()(x, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    z = impair.gain(x, 2.0)
    z = impair.cfo(z, 0.01, phase0=0.2)
    z = impair.phase_noise(z, 0.01, rng)
    z = impair.iq_imbalance(z, 1.0, 5.0)
    z = impair.dc_offset(z, 0.05 - 0.01j)
    z = impair.multipath(z, rng, 3)
    z = impair.awgn(z, 15.0, rng)
    assert np.array_equal(y, z)
    assert "IQImbalance(amp_db=1.0, phase_deg=5.0)" in repr(_chain())


def test_the_rng_makes_it_reproducible():
    x = np.tile(tone(2048, 0.02), (2, 1))
    a = _chain()(x, np.random.default_rng(3))
    assert np.array_equal(a, _chain()(x, np.random.default_rng(3)))
    assert not np.allclose(a, _chain()(x, np.random.default_rng(4)))
    with pytest.raises(ConfigError, match=r"AWGN is random: call it as t\(x, rng\)"):
        impair.AWGN(10.0)(x)


def test_channel_module_keeps_the_old_names():
    x = tone(1000, 0.01)
    assert channel.awgn is impair.awgn and channel.iq_imbalance is impair.iq_imbalance
    assert np.array_equal(channel.apply_cfo(x, 0.01, 0.5), impair.cfo(x, 0.01, phase0=0.5))


# --------------------------------------------------------------------------- the three users

USERS = ("front end", "amc generator", "beam simulator")


def _through_user(user: str, x: np.ndarray, amp_db: float, phase_deg: float) -> np.ndarray:
    """``x`` (n,) through one simulator's receiver with only its IQ imbalance on."""
    if user == "front end":
        from sdrkit.radio.frontends import FrontEnd

        return FrontEnd("iq-only", iq_amp_db=amp_db, iq_phase_deg=phase_deg).apply(x, fs=1e6)
    if user == "amc generator":
        from sdrkit.tasks.amc.data import ReceiverDraw, apply_receiver

        z = np.zeros((1, 1), np.float32)
        r = ReceiverDraw(cfo=z, phase0=z, phase_noise=0.0, iq_amp_db=np.array([[amp_db]]),
                         iq_phase_deg=np.array([[phase_deg]]), dc=np.zeros(1, np.complex64))
        return apply_receiver(x[None, :], r, None, np.random.default_rng(0))[0]
    from sdrkit.tasks.beam.sim import BeamFrontEnd, receiver

    fe = BeamFrontEnd("iq-only", (0.0,) * 16, (0.0,) * 16, ((0.0, 0.0),) * 16, (0.0,) * 16,
                      iq_amp_db=amp_db, iq_phase_deg=phase_deg)
    return receiver(fe)(x[None, :], np.random.default_rng(0))[0]


@pytest.mark.parametrize("amp_db, phase_deg", [(1.2, 5.0), (-0.6, -3.0), (0.0, 8.0), (-1.8, 0.0)])
@pytest.mark.parametrize("user", USERS)
def test_the_three_simulators_apply_the_same_iq_imbalance(user, amp_db, phase_deg):
    # the image's amplitude alone cannot tell the sign conventions apart (the IRR is even
    # in phi): compare the complex image, amplitude and phase
    k = 37
    x = tone(1024, k / 1024, phase=0.7)
    y = _through_user(user, x, amp_db, phase_deg)
    direct, image = _bins(y, k)
    ref_direct, ref_image = _bins(impair.iq_imbalance(x, amp_db, phase_deg), k)
    mu, nu = impair.iq_coefficients(amp_db, phase_deg)
    assert np.isclose(image, ref_image, atol=1e-6) and np.isclose(direct, ref_direct, atol=1e-6)
    assert np.isclose(abs(image), abs(nu), atol=1e-6)
    if abs(nu) > 1e-3:
        assert np.isclose(np.angle(image * np.exp(0.7j) / nu), 0.0, atol=1e-4)


def test_each_simulator_reaches_the_shared_iq_imbalance(monkeypatch):
    """Their real generation paths call impair.iq_imbalance (no private copy)."""
    from sdrkit.radio.frontends import get_front_end
    from sdrkit.tasks.amc.data import generate_frames
    from sdrkit.tasks.beam import sim as beam

    calls = []
    real = impair.iq_imbalance

    def spy(x, amp_db, phase_deg):
        calls.append(np.shape(x))
        return real(x, amp_db, phase_deg)

    monkeypatch.setattr(impair, "iq_imbalance", spy)
    get_front_end("fe-c").state(1e6, 0).apply(tone(512, 0.01))
    generate_frames(np.arange(4), np.full(4, 10.0), np.random.default_rng(0))
    beam.generate(beam.ArraySpec(), beam.get_front_end("fe-a"), [0, 1], np.random.default_rng(0))
    assert calls == [(512,), (4, 1024), (2, 1024)]


def test_amc_receiver_keeps_the_arithmetic_its_model_was_trained_on():
    """apply_receiver is bit-identical to the generator's original inline float32 code
    (the bundled AMC model's data hashes depend on it)."""
    from sdrkit.tasks.amc.data import AmcDataSpec, apply_receiver, draw_receiver, noise_pool

    spec = AmcDataSpec()
    m, n = 64, spec.frame_len
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((m, n)) + 1j * rng.standard_normal((m, n))).astype(np.complex64)
    snrs = rng.uniform(-20, 30, m)
    pool = noise_pool(rng, 1 << 16)
    r9 = np.random.default_rng(9)
    got = apply_receiver(x, draw_receiver(m, r9, spec), snrs, r9, pool)

    r = np.random.default_rng(9)             # the original code, verbatim
    out = x.copy()
    t = np.arange(n, dtype=np.float32)[None, :]
    cfo = r.uniform(-spec.max_cfo, spec.max_cfo, (m, 1)).astype(np.float32)
    ph = (2 * np.pi) * cfo * t + r.uniform(0, 2 * np.pi, (m, 1)).astype(np.float32)
    pn = r.uniform(0, spec.max_phase_noise, (m, 1)).astype(np.float32) * np.float32(np.sqrt(8))
    walk = np.cumsum(r.standard_normal((m, n // 8), dtype=np.float32) * pn, axis=1)
    ph += np.repeat(walk, 8, axis=1)[:, :n]
    rot = np.empty((m, n), np.complex64)
    rot.real = np.cos(ph)
    rot.imag = np.sin(ph)
    out *= rot
    g = (10 ** (r.uniform(-spec.iq_amp_db, spec.iq_amp_db, (m, 1)) / 20)).astype(np.float32)
    phi = np.deg2rad(r.uniform(-spec.iq_phase_deg, spec.iq_phase_deg, (m, 1))).astype(np.float32)
    re, im = out.real.copy(), out.imag
    im *= g * np.cos(phi)
    im -= re * (g * np.sin(phi))
    dc = (r.uniform(0, spec.max_dc, m) * np.exp(2j * np.pi * r.uniform(0, 1, m))).astype(np.complex64)
    out += dc[:, None]
    ps = np.mean(out.real ** 2 + out.imag ** 2, axis=1, keepdims=True)
    sigma = np.sqrt(ps / 10.0 ** (snrs[:, None] / 10)).astype(np.float32)
    noise = np.lib.stride_tricks.sliding_window_view(pool, n)[r.integers(0, len(pool) - n, m)]
    noise *= sigma
    out += noise
    assert np.array_equal(got.view(np.uint64), out.view(np.uint64))
