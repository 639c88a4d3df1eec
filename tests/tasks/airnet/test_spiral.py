"""The Shannon-Kotelnikov double spiral: exact without noise, smooth with it, better than pairs above
its threshold."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp import spiral
from sdrkit.errors import ConfigError


@pytest.mark.parametrize("turns", [0.25, 0.5, 1.0, 2.0, 3.5])
def test_round_trip_is_exact_without_noise(turns):
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.standard_normal(5000), rng.uniform(-6, 6, 1000), [0.0, 1e-6, -1e-6, 5.9, -5.9]])
    s = spiral.encode(w, turns)
    assert s.dtype == np.complex64 and s.shape == w.shape
    np.testing.assert_allclose(np.abs(s), np.abs(w), rtol=1e-6, atol=1e-7)   # radius = |w|: unit power for unit RMS
    np.testing.assert_allclose(spiral.decode(s, turns), w, atol=2e-6)


def test_sign_selects_the_arm():
    s_pos, s_neg = spiral.encode([0.7], 1.0), spiral.encode([-0.7], 1.0)
    np.testing.assert_allclose(s_neg, -s_pos, atol=1e-7)     # Eq. (3): the positive arm rotated by pi


def test_degrades_smoothly_with_noise():
    rng = np.random.default_rng(1)
    w = rng.standard_normal(8000)
    turns = 1.0
    s = spiral.encode(w, turns)
    mse = []
    snrs = [40, 35, 30, 25, 20, 15]
    for snr in snrs:
        z = (rng.standard_normal(w.size) + 1j * rng.standard_normal(w.size)) * np.sqrt(0.5 / 10 ** (snr / 10))
        mse.append(float(np.mean((spiral.decode(s + z, turns) - w) ** 2)))
    mse = np.asarray(mse)
    assert np.all(np.diff(mse) > 0)                     # monotone in the noise
    # above the threshold the error follows the noise power (no cliff): 5 dB steps scale it by ~3.16
    ratios = mse[1:] / mse[:-1]
    assert np.all((ratios > 2.0) & (ratios < 5.0)), ratios
    # and it beats two weights per symbol (error = the noise power 1/snr) by the spiral's stretch
    assert mse[snrs.index(20)] < 0.5 * 10 ** (-20 / 10)


def test_turns_for_snr_keeps_clear_of_the_threshold():
    rng = np.random.default_rng(2)
    w = rng.standard_normal(8000)
    for snr in (10, 20, 30):
        t = spiral.turns_for_snr(snr)
        z = (rng.standard_normal(w.size) + 1j * rng.standard_normal(w.size)) * np.sqrt(0.5 / 10 ** (snr / 10))
        mse = float(np.mean((spiral.decode(spiral.encode(w, t) + z, t) - w) ** 2))
        assert mse < 10 ** (-snr / 10), (snr, t, mse)    # better than plain pairing at the design SNR


def test_bad_turns_are_refused():
    with pytest.raises(ConfigError, match="turns"):
        spiral.encode([1.0], 0.0)
