"""The burst modem (sdrkit.dsp.burst): bit-exact through the simulated loopback radio at high SNR,
BER near theory at 0 dB, header and format checks."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp.burst import BurstFormat, awgn_symbols, burst_length, demodulate, modulate
from sdrkit.errors import ConfigError, StreamError
from sdrkit.radio import open_radio


def _loopback(burst, snr_db, cfo=700.0, delay=537, seed=3):
    uri = (f"sim:loopback?sample_rate=1e6&loopback_snr={snr_db}&loopback_cfo={cfo}&loopback_delay={delay}"
           f"&rx_buffer_size=4096&seed={seed}")
    with open_radio(uri) as r:
        r.tx(burst)
        n = len(burst) + delay + 2000
        return np.concatenate([r.rx().samples for _ in range(n // 4096 + 1)])


@pytest.mark.parametrize("fmt", [BurstFormat(), BurstFormat(modulation="bpsk", sps=2, header=True)],
                         ids=["qpsk", "bpsk-sps2-header"])
def test_bits_survive_the_loopback_radio_bit_exactly(fmt):
    bits = np.random.default_rng(0).integers(0, 2, 2048).astype(np.uint8)
    b = modulate(bits, fmt)
    assert len(b) == burst_length(len(bits), fmt) and np.abs(b).max() <= 1
    out = demodulate(_loopback(b, 30), fmt, n_bits=None if fmt.header else len(bits), sample_rate=1e6)
    assert out.crc_ok and np.array_equal(out.bits, bits)
    assert out.start == 537 and abs(out.cfo_hz - 700) < 20 and abs(out.snr_db - 30) < 2


def test_ber_at_0_db_is_near_theory_and_matches_the_awgn_reference():
    fmt = BurstFormat()
    bits = np.random.default_rng(1).integers(0, 2, 8000).astype(np.uint8)
    out = demodulate(_loopback(modulate(bits, fmt), 0), fmt, n_bits=len(bits))
    ber = np.mean(out.bits != bits)
    ref = np.mean(awgn_symbols(bits, 0.0, fmt, np.random.default_rng(2)) != bits)
    assert not out.crc_ok and abs(ber - 0.1587) < 0.02 and abs(ref - 0.1587) < 0.02   # Q(1)


def test_no_burst_and_bad_formats_are_typed_errors():
    fmt = BurstFormat()
    noise = (np.random.default_rng(0).standard_normal(4000) * 0.01).astype(np.complex64)
    with pytest.raises(StreamError, match="no burst preamble"):
        demodulate(noise, fmt, n_bits=100)
    with pytest.raises(ConfigError, match="n_bits"):
        demodulate(noise, fmt)
    with pytest.raises(ConfigError, match="modulation"):
        BurstFormat(modulation="16qam")
    with pytest.raises(ConfigError, match="0 or 1"):
        modulate(np.array([0, 2, 1]))
