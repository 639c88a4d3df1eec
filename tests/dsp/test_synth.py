"""Signal generators: shapes, power, reproducibility, decodability."""

import numpy as np
import pytest

from sdrkit.dsp import CONSTELLATIONS, MODULATIONS, modulate, ofdm_burst, rrc_taps
from sdrkit.errors import ConfigError


@pytest.mark.parametrize("mod", MODULATIONS)
def test_every_modulation_shape_power_seeded(mod):
    a = modulate(mod, 1024, rng=np.random.default_rng(3), n_frames=8, sps=4)
    b = modulate(mod, 1024, rng=np.random.default_rng(3), n_frames=8, sps=4)
    c = modulate(mod, 1024, rng=np.random.default_rng(4), n_frames=8, sps=4)
    assert a.shape == (8, 1024) and a.dtype == np.complex64
    assert np.allclose(np.mean(np.abs(a) ** 2, axis=1), 1.0, atol=1e-3)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    one = modulate(mod, 500, rng=np.random.default_rng(0))
    assert one.shape == (500,)


def test_fractional_sps():
    x = modulate("qpsk", 2048, rng=np.random.default_rng(0), sps=3.5, n_frames=2)
    assert x.shape == (2, 2048) and np.isfinite(x).all()


@pytest.mark.parametrize("mod", ["qpsk", "qam16"])
def test_linear_modulation_decodes_after_matched_filter(mod):
    from scipy.signal import fftconvolve

    sps = 8
    rng = np.random.default_rng(1)
    x = modulate(mod, 8192, rng=rng, sps=sps, rolloff=0.35)
    y = fftconvolve(x, rrc_taps(sps, 0.35), mode="same")
    const = CONSTELLATIONS[mod]
    # find symbol timing and phase: best of sps offsets, derotate by the 4th-power phase
    best = None
    for off in range(sps):
        s = y[off + 8 * sps: -8 * sps: sps]
        s = s / np.sqrt(np.mean(np.abs(s) ** 2))
        ph = np.angle(np.mean(s ** 4)) / 4 - np.angle(np.mean(const ** 4)) / 4
        for k in range(4):
            r = s * np.exp(-1j * (ph + k * np.pi / 2))
            err = np.mean(np.min(np.abs(r[:, None] - const[None, :]), axis=1))
            best = err if best is None else min(best, err)
    assert best < 0.12, f"mean distance to nearest {mod} point {best:.3f}"


def test_ofdm_burst_has_flat_occupied_band():
    x = ofdm_burst(64 * 80 * 10, rng=np.random.default_rng(0))
    assert x.dtype == np.complex64 and np.isclose(np.mean(np.abs(x) ** 2), 1.0, atol=1e-3)
    spec = np.abs(np.fft.fft(x[: 80 * 64].reshape(-1, 80)[:, 16:], axis=1)) ** 2
    p = spec.mean(axis=0)
    assert p[0] < 1e-6 * p[1:27].mean()       # DC null
    assert p[30] < 1e-6 * p[1:27].mean()      # guard band


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="unknown modulation 'qam256'"):
        modulate("qam256", 10, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"sps=1 samples/symbol must be in \[2, 64\]"):
        modulate("qpsk", 10, rng=np.random.default_rng(0), sps=1)
