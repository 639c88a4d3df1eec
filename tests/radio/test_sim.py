"""The simulated radio: replay, retune/resample, front ends, loopback, faults, pacing."""

import time

import numpy as np
import pytest

from sdrkit.capture import open_recording
from sdrkit.errors import ConfigError, RadioDisconnected, RadioTimeout, SdrkitError
from sdrkit.radio import open_radio
from sdrkit.radio.frontends import FRONT_ENDS, get_front_end
from sdrkit.radio.sim import SimRadio


def _peak_hz(x, fs):
    spec = np.abs(np.fft.fft(x))
    return np.fft.fftfreq(len(x), 1 / fs)[np.argmax(spec)]


def test_replay_returns_the_recording(qpsk_recording):
    rec = open_recording(qpsk_recording).read()
    with open_radio(f"sim:{qpsk_recording}?loop=0&rx_buffer_size=30000") as r:
        got = np.concatenate([b.samples for b in r.stream()])
    assert np.array_equal(got, rec)          # one-shot: ends with a partial block


def test_looping_keeps_counting(qpsk_recording):
    with open_radio(f"sim:{qpsk_recording}?rx_buffer_size=30000") as r:
        starts = [b.start for b in r.stream(max_blocks=5)]
    assert starts == [0, 30000, 60000, 90000, 120000]


def test_retune_shifts_and_resample_changes_rate(tone_recording):
    with open_radio(f"sim:{tone_recording}?rx_lo=100.05e6&rx_rf_bandwidth=500e3&rx_buffer_size=16384") as r:
        r.rx()
        assert abs(_peak_hz(r.rx().samples, 1e6) - 50e3) < 100
    with open_radio(f"sim:{tone_recording}?sample_rate=500e3&rx_buffer_size=16384") as r:
        r.rx()
        x = r.rx().samples
        assert len(x) == 16384 and abs(_peak_hz(x, 500e3) - 100e3) < 100
    with open_radio(f"sim:{tone_recording}?sample_rate=250e3&rx_lo=100.1e6&rx_buffer_size=8192") as r:
        r.rx()
        assert abs(_peak_hz(r.rx().samples, 250e3)) < 100


def test_out_of_band_retune_refused(tone_recording):
    with open_radio(f"sim:{tone_recording}") as r:
        with pytest.raises(ConfigError, match=r"outside the recorded band 99.5..100.5 MHz"):
            r.rx_lo = 101e6
        assert r.rx_lo == 100e6
        with pytest.raises(ConfigError, match="outside the recorded band"):
            r.sample_rate = 2e6


def test_front_ends_deterministic_and_distinct(qpsk_recording):
    def grab(fe, seed):
        with open_radio(f"sim:{qpsk_recording}?front_end={fe}&seed={seed}&rx_buffer_size=4096") as r:
            return r.rx().samples
    assert np.array_equal(grab("fe-b", 1), grab("fe-b", 1))
    assert not np.allclose(grab("fe-b", 1), grab("fe-c", 1))
    assert not np.allclose(grab("fe-b", 1), grab("ideal", 1))
    assert len([n for n in FRONT_ENDS.names() if n != "ideal"]) >= 4
    assert get_front_end("random:7") == get_front_end("random:7")
    with pytest.raises(ConfigError, match="unknown front end 'fe-z'"):
        get_front_end("fe-z")


def test_front_end_cfo_is_phase_continuous_across_blocks():
    fe = get_front_end("fe-c")
    x = np.ones(30000, np.complex64)
    whole = fe.state(1e6, 0).apply(x)
    st = fe.state(1e6, 0)
    parts = np.concatenate([st.apply(x[i:i + 7000]) for i in range(0, 30000, 7000)])
    assert np.allclose(whole, parts, atol=1e-4)


def test_tx_loops_back_through_channel():
    with open_radio("sim:?sample_rate=1e6&loopback_snr=25&loopback_delay=17&rx_buffer_size=8192") as r:
        w = np.exp(2j * np.pi * np.random.default_rng(0).uniform(0, 1, 1024)).astype(np.complex64)
        r.tx(w, cyclic=True)
        y = r.rx().samples
        corr = np.abs(np.correlate(y[:4096], w, mode="valid"))
        assert np.argmax(corr) % 1024 == 17
        assert corr.max() / 1024 > 0.95
        r.tx_destroy_buffer()
        assert np.mean(np.abs(r.rx().samples) ** 2) < 1e-4


def test_loopback_cfo():
    with open_radio("sim:?sample_rate=1e6&loopback_snr=40&loopback_cfo=20000&rx_buffer_size=8192") as r:
        r.tx(np.ones(1000, np.complex64), cyclic=True)
        assert abs(_peak_hz(r.rx().samples, 1e6) - 20e3) < 200


def test_overflow_fault_reports_exact_loss(tone_recording):
    with open_radio(f"sim:{tone_recording}?faults=overflow@2:3&rx_buffer_size=1000") as r:
        blocks = list(r.stream(max_blocks=4))
    assert [b.lost for b in blocks] == [0, 0, 3000, 0]
    assert [b.start for b in blocks] == [0, 1000, 5000, 6000]
    assert blocks[2].overflow and blocks[2].gap


def test_timeout_fault_then_stream_continues(tone_recording):
    with open_radio(f"sim:{tone_recording}?faults=timeout@1&rx_buffer_size=1000") as r:
        r.rx()
        with pytest.raises(RadioTimeout, match="block 1"):
            r.rx()
        assert r.rx().start == 1000


def test_disconnect_fault_is_permanent(tone_recording):
    with open_radio(f"sim:{tone_recording}?faults=disconnect@1&rx_buffer_size=1000") as r:
        r.rx()
        for _ in range(2):
            with pytest.raises(RadioDisconnected):
                r.rx()


def test_bad_fault_spec():
    with pytest.raises(ConfigError, match="KIND@BLOCK"):
        SimRadio(None, faults=["overflow"])


def test_realtime_pacing_and_late_reader_loses_samples(tone_recording):
    with open_radio(f"sim:{tone_recording}?realtime=1&rx_buffer_size=10000") as r:
        t0 = time.monotonic()
        for _ in range(20):       # 0.2 s of signal
            r.rx()
        assert time.monotonic() - t0 >= 0.15
        time.sleep(0.25)           # fall 25 blocks behind: a real radio overflows
        b = r.rx()
        assert b.lost > 0 and b.lost % 10000 == 0


def test_unknown_option_and_missing_drivers_are_clear(tone_recording):
    with pytest.raises(ConfigError, match=r"unknown sim: option\(s\) \['lop'\]"):
        open_radio(f"sim:{tone_recording}?lop=1")
    for uri in ("pluto:ip:127.0.0.1:1", "usrp:type=b200,serial=none"):
        with pytest.raises(SdrkitError):
            open_radio(uri)
