"""The blind CFO front end (sdrkit.dsp.frontend)."""

import numpy as np
import pytest

from sdrkit.dsp import impair, modulate
from sdrkit.dsp.frontend import correct_cfo, derotate, estimate_cfo
from sdrkit.errors import ConfigError


@pytest.mark.parametrize("name,tol_hz", [("bpsk", 4000), ("qpsk", 8000), ("qam16", 8000), ("gfsk", 10000),
                                         ("am-dsb", 2000), ("wbfm", 30000)])
def test_60khz_offsets_leave_a_small_residual(name, tol_hz):
    rng = np.random.default_rng(0)
    x = modulate(name, 1024, rng=rng, sps=4, n_frames=64)
    f0 = rng.choice([-0.06, 0.06], 64)
    y = impair.awgn(impair.cfo(x, f0), 15.0, rng)
    e = estimate_cfo(y, 1e6)
    assert np.percentile(np.abs(e - f0 * 1e6), 90) < tol_hz


def test_refinement_locks_psk_to_tens_of_hz():
    rng = np.random.default_rng(1)
    x = modulate("qpsk", 1024, rng=rng, sps=4, n_frames=32)
    f0 = rng.uniform(-0.06, 0.06, 32)
    y = impair.awgn(impair.cfo(x, f0), 10.0, rng)
    assert np.median(np.abs(estimate_cfo(y, 1e6, refine=True) - f0 * 1e6)) < 300


def test_correct_cfo_rotates_out_the_estimate_and_keeps_shape():
    rng = np.random.default_rng(2)
    x = modulate("bpsk", 1024, rng=rng, sps=8, n_frames=4)
    y = impair.cfo(x, 0.05)
    c, e = correct_cfo(y, 1e6, return_estimate=True)
    assert c.shape == y.shape and c.dtype == np.complex64
    assert np.allclose(c, derotate(y, e / 1e6), atol=1e-5)
    assert np.allclose(derotate(y, np.full(4, 0.05)), x, atol=1e-3)
    one = correct_cfo(y[0], 1e6)
    assert one.shape == (1024,) and np.allclose(one, c[0], atol=1e-5)
    with pytest.raises(ConfigError, match="frames of shape"):
        correct_cfo(np.zeros((2, 2, 8)), 1e6)
    with pytest.raises(ConfigError, match="sample rate"):
        estimate_cfo(y, 0)
