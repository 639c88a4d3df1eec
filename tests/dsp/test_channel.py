"""Channel effects and resampling."""

import numpy as np
import pytest

from sdrkit.dsp import channel, tone
from sdrkit.dsp.resample import FrequencyShifter, StreamResampler, resample


def test_awgn_hits_requested_snr_per_frame():
    rng = np.random.default_rng(0)
    x = np.ones((3, 200_000), np.complex64) * np.array([[1], [2], [0.5]], np.float32)
    snr = np.array([0.0, 10.0, 20.0])
    y = channel.awgn(x, snr, rng)
    noise = y - x
    measured = 10 * np.log10(np.mean(np.abs(x) ** 2, axis=1) / np.mean(np.abs(noise) ** 2, axis=1))
    assert np.allclose(measured, snr, atol=0.3)
    assert np.allclose(np.var(noise.real, axis=1), np.var(noise.imag, axis=1), rtol=0.05)


def test_cfo_moves_the_peak_to_the_right_bin():
    x = np.ones(4096, np.complex64)
    y = channel.apply_cfo(x, 100 / 4096)
    assert np.argmax(np.abs(np.fft.fft(y))) == 100


def test_multipath_unit_power_and_taps():
    rng = np.random.default_rng(0)
    x = np.zeros((4, 64), np.complex64)
    x[:, 0] = 1
    y = channel.multipath(x, rng, n_taps=3)
    assert np.allclose(np.sum(np.abs(y) ** 2, axis=1), 1.0, atol=1e-5)
    assert np.all(np.abs(y[:, 3:]) < 1e-7)


def test_iq_imbalance_creates_image_and_dc_offset_adds():
    x = tone(4096, 200 / 4096)
    y = channel.iq_imbalance(x, 1.0, 5.0)
    spec = np.abs(np.fft.fft(y))
    assert spec[4096 - 200] > 0.01 * spec[200]
    assert np.allclose(channel.dc_offset(x, 0.1 + 0.2j) - x, 0.1 + 0.2j)


def test_sample_rate_offset_and_phase_noise_keep_shape():
    rng = np.random.default_rng(0)
    x = tone(1000, 0.01)[None, :].repeat(2, 0)
    assert channel.sample_rate_offset(x, [100, -100]).shape == x.shape
    y = channel.phase_noise(x, 0.01, rng)
    assert np.allclose(np.abs(y), 1, atol=1e-5)


@pytest.mark.parametrize("fs_in, fs_out", [(1e6, 0.5e6), (1e6, 0.75e6), (2e6, 3e6)])
def test_resample_keeps_tone_frequency_and_stream_equals_one_shot(fs_in, fs_out):
    f = 50e3
    x = tone(60_000, f / fs_in)
    y = resample(x, fs_in, fs_out)
    assert abs(len(y) - len(x) * fs_out / fs_in) <= 1
    spec = np.abs(np.fft.fft(y[1000:-1000]))
    freqs = np.fft.fftfreq(len(y) - 2000, 1 / fs_out)
    assert abs(freqs[np.argmax(spec)] - f) < 2 * fs_out / len(spec)
    from scipy.signal import upfirdn

    r = StreamResampler(fs_in, fs_out)
    blocks = np.concatenate([r.process(x[i:i + 4999]) for i in range(0, len(x), 4999)])
    ref = upfirdn(r.h, x, r.up, 1)[:: r.down][: len(blocks)]
    assert np.allclose(blocks, ref, atol=1e-5)


def test_frequency_shifter_block_by_block_equals_one_shot():
    x = tone(100_000, 0.01)
    a = np.concatenate([FrequencyShifter(1234.5, 1e6).process(x)])
    s = FrequencyShifter(1234.5, 1e6)
    b = np.concatenate([s.process(x[i:i + 777]) for i in range(0, len(x), 777)])
    assert np.allclose(a, b, atol=1e-4)
