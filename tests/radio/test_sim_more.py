"""The simulated radio, continued: no-recording loopback, gaps, retunes mid-stream, gain."""

import numpy as np
import pytest

from sdrkit.errors import ConfigError
from sdrkit.radio import open_radio
from sdrkit.radio.frontends import FrontEnd, get_front_end
from sdrkit.radio.sim import Channel, SimRadio


def _peak_hz(x, fs):
    return np.fft.fftfreq(len(x), 1 / fs)[np.argmax(np.abs(np.fft.fft(x)))]


def _chirp(n=1024, seed=0):
    return np.exp(2j * np.pi * np.random.default_rng(seed).uniform(0, 1, n)).astype(np.complex64)


def test_sim_loopback_uri_has_no_recording_and_takes_short_options():
    w = _chirp()
    with open_radio("sim:loopback?snr=40&delay=5&sample_rate=2e6&rx_buffer_size=4096") as r:
        assert r.recording is None and r.sample_rate == 2e6
        assert r.loopback_channel == Channel(snr_db=40, delay=5)
        noise = r.rx().samples
        assert 0.5e-6 < np.mean(np.abs(noise) ** 2) < 2e-6          # -60 dBFS floor before TX
        r.tx(w, cyclic=True)
        y = r.rx().samples
    corr = np.abs(np.correlate(y[:2048], w, mode="valid")) / len(w)
    assert np.argmax(corr) % len(w) == 5 and corr.max() > 0.99


def test_loopback_channel_object_and_multipath_taps():
    w = _chirp(2048, seed=1)
    taps = (1.0, 0.0, 0.5j)
    with open_radio("sim:", loopback=Channel(snr_db=60, taps=taps), rx_buffer_size=4096) as r:
        r.tx(w, cyclic=True)
        y = r.rx().samples
    # cyclic: received = circular convolution of the buffer with the taps
    expect = sum(t * np.roll(w, k) for k, t in enumerate(taps))
    assert np.allclose(y[2048:4096], expect, atol=5e-3)


def test_one_shot_tx_plays_once_then_noise():
    w = _chirp(3000)
    with open_radio("sim:loopback?snr=30&rx_buffer_size=2000") as r:
        r.tx(w, cyclic=False)
        y = np.concatenate([r.rx().samples for _ in range(3)])
        assert r.transmitting
    p = np.abs(y) ** 2
    assert p[:3000].mean() > 0.9 and p[3000:].mean() < 0.01       # 30 dB below after the burst
    assert np.allclose(y[:3000], w, atol=0.2)


def test_loopback_stays_aligned_across_an_overflow_gap():
    w = _chirp(1000)
    with open_radio("sim:loopback?snr=60&rx_buffer_size=1000&faults=overflow@2:3") as r:
        r.tx(w, cyclic=True)
        blocks = list(r.stream(max_blocks=4))
    assert blocks[2].lost == 3000 and blocks[2].start == 5000
    # block boundaries coincide with the 1000-sample TX period, before and after the gap
    for b in blocks:
        assert np.allclose(b.samples, w, atol=5e-3)


def test_tx_lo_offset_moves_the_loopback_and_out_of_band_tx_is_not_heard():
    with open_radio("sim:loopback?snr=50&rx_buffer_size=8192&rx_lo=1e9&sample_rate=1e6") as r:
        r.tx_lo = 1e9 + 100e3
        r.tx(np.ones(1000, np.complex64), cyclic=True)
        assert abs(_peak_hz(r.rx().samples, 1e6) - 100e3) < 200
        r.tx_lo = 1e9 + 3e6
        assert np.mean(np.abs(r.rx().samples) ** 2) < 1e-4


def test_tx_gain_change_scales_the_loopback():
    with open_radio("sim:loopback?snr=60&rx_buffer_size=4096") as r:
        r.tx(np.ones(512, np.complex64), cyclic=True)
        a = np.abs(r.rx().samples).mean()
        r.tx_hardwaregain_chan0 = r.tx_hardwaregain_chan0 - 20
        b = np.abs(r.rx().samples).mean()
    assert b / a == pytest.approx(0.1, rel=0.01)


def test_rx_gain_is_relative_to_the_recording(qpsk_recording):
    with open_radio(f"sim:{qpsk_recording}?rx_buffer_size=4096&loop=0") as r:
        a = r.rx().samples
        r.rx_hardwaregain_chan0 = r.rx_hardwaregain_chan0 + 6
        b = r.rx().samples
    with open_radio(f"sim:{qpsk_recording}?rx_buffer_size=4096&loop=0") as r:
        r.rx()
        ref = r.rx().samples
    assert np.allclose(b, ref * 10 ** (6 / 20), atol=1e-6) and not np.allclose(a, b)


def test_front_end_cfo_uses_the_absolute_index_across_gaps(qpsk_recording):
    fe = FrontEnd("cfo-only", cfo_hz=1234.5, iq_amp_db=0.5)
    with open_radio(f"sim:{qpsk_recording}?rx_buffer_size=1000", front_end=fe) as r:
        clean = {b.start: b.samples for b in r.stream(max_blocks=8)}
    with open_radio(f"sim:{qpsk_recording}?rx_buffer_size=1000&faults=overflow@2:3", front_end=fe) as r:
        gappy = {b.start: b.samples for b in r.stream(max_blocks=5)}
    assert sorted(gappy) == [0, 1000, 5000, 6000, 7000]
    for s, x in gappy.items():
        assert np.allclose(x, clean[s], atol=1e-6)


def test_changing_buffer_size_keeps_the_stream_seamless(qpsk_recording):
    uri = f"sim:{qpsk_recording}?front_end=fe-c&seed=4&rx_lo=100.1e6&rx_rf_bandwidth=600e3&rx_buffer_size=3000"
    with open_radio(uri) as r:
        ref = np.concatenate([b.samples for b in r.stream(max_blocks=5)])
    with open_radio(uri) as r:
        parts = [r.rx().samples]
        r.rx_buffer_size = 4500
        parts += [r.rx().samples, r.rx().samples]
        r.rx_buffer_size = 1500
        parts.append(r.rx().samples)
    got = np.concatenate(parts)                  # 3000 + 2 * 4500 + 1500 samples
    assert len(got) == 13500 and np.allclose(got, ref[:13500], atol=1e-5)


def test_front_end_block_apply_matches_stream_state():
    fe = get_front_end("fe-b")
    x = _chirp(5000)
    st = fe.state(1e6, 3)
    a = np.concatenate([st.apply(x[:2000], 0), st.apply(x[2000:], 2000)])
    assert np.allclose(a, fe.apply(x, 0, 1e6, seed=3), atol=1e-5)
    assert fe.description and get_front_end("random:3").description


def test_one_shot_resampled_replay_ends(tone_recording):
    with open_radio(f"sim:{tone_recording}?loop=0&sample_rate=250e3&rx_buffer_size=10000") as r:
        total = sum(len(b) for b in r.stream())
        with pytest.raises(EOFError):
            r.rx()
    assert abs(total - 50_000) < 100       # 200k samples at 1 MS/s -> 50k at 250 kS/s


def test_one_shot_last_block_is_partial(tone_recording):
    with open_radio(f"sim:{tone_recording}?loop=0&rx_buffer_size=30000") as r:
        sizes = [len(b) for b in r.stream()]
    assert sizes == [30000] * 6 + [20000]


def test_looping_does_not_reset_the_counter(tone_recording):
    with open_radio(f"sim:{tone_recording}?rx_buffer_size=70000") as r:
        blocks = list(r.stream(max_blocks=4))    # 280k samples from a 200k recording
    assert [b.start for b in blocks] == [0, 70000, 140000, 210000]
    assert np.array_equal(blocks[3].samples[:10], blocks[0].samples[10000:10010])


@pytest.mark.parametrize("uri, err, match", [
    ("sim:?rx_enabled_channel=0", ConfigError, r"unknown sim: option"),
    ("sim:?rx_enabled_channels=0,x", ConfigError, r"rx_enabled_channels='0,x' must be channel indices"),
    ("sim:?rx_enabled_channels=1,1", ConfigError, r"rx_enabled_channels=\[1, 1\] must be distinct"),
    ("sim:?seed=1.5", ConfigError, r"seed='1.5' is not an integer"),
    ("sim:?loop=maybe", ConfigError, r"loop='maybe' must be 0 or 1"),
    ("sim:?taps=1;x", ConfigError, r"loopback_taps='1;x' must be complex numbers"),
    ("sim:?delay=-1", ConfigError, r"delay=-1 must be an integer number of samples >= 0"),
    ("sim:?front_end=fe-z", ConfigError, r"unknown front end 'fe-z'"),
])
def test_bad_options_are_refused(uri, err, match):
    with pytest.raises(err, match=match):
        open_radio(uri)


def test_channel_not_in_the_recording_refused(qpsk_recording):
    with SimRadio(qpsk_recording) as r:
        assert r.rx_enabled_channels == [0]
        with pytest.raises(ConfigError, match=r"channel 1 is not in qpsk.sigmf-meta, which has 1 channel\(s\)"):
            r.configure(rx_enabled_channels=(0, 1))
        assert r.rx_enabled_channels == [0] and r.rx().samples.ndim == 1


def test_realtime_overflow_on_loopback_keeps_counting():
    import time

    with open_radio("sim:loopback?realtime=1&rx_buffer_size=1000&max_lag_blocks=2&sample_rate=1e6") as r:
        r.rx()
        time.sleep(0.05)            # 50 blocks late; the radio keeps 2
        b = r.rx()
        assert b.lost >= 40_000 and b.lost % 1000 == 0
        assert b.start == 1000 + b.lost and r.samples_lost == b.lost


@pytest.mark.parametrize("precompute", [True, False], ids=["whole-array", "streaming"])
def test_resample_paths_agree_on_frequency_and_are_seamless(tone_recording, monkeypatch, precompute):
    import sdrkit.radio.sim as sim

    if not precompute:
        monkeypatch.setattr(sim, "_PRECOMPUTE_MAX", 0)     # force block-by-block conversion
    uri = f"sim:{tone_recording}?sample_rate=400e3&rx_lo=100.05e6&rx_buffer_size=5000"
    with open_radio(uri) as r:
        assert (r._resampler is None) == precompute
        a = np.concatenate([b.samples for b in r.stream(max_blocks=6)])
    with open_radio(uri) as r:
        r.rx_buffer_size = 3000
        b = np.concatenate([b.samples for b in r.stream(max_blocks=10)])
    assert np.allclose(a, b, atol=1e-6)              # block size does not change the stream
    assert abs(_peak_hz(a[4096:28672], 400e3) - 50e3) < 50     # 100 kHz tone, tuned 50 kHz up


def test_retune_keeps_the_place_in_the_recording(tone_recording):
    with open_radio(f"sim:{tone_recording}?rx_buffer_size=10000") as r:
        for _ in range(5):
            r.rx()
        assert r.position == 50_000
        r.sample_rate = 500e3
        assert r.position == 50_000
        r.rx()
        assert r.position == 70_000       # 10k samples at 500 kS/s = 20k recording samples
        r.sample_rate = 1e6
        assert r.position == 70_000 and r.rx().start == 60_000   # the stream index counts output samples


def test_rx_gain_in_agc_mode_is_refused_not_ignored(qpsk_recording):
    with open_radio(f"sim:{qpsk_recording}?gain_control_mode=slow_attack") as r:
        gain = r.rx_hardwaregain_chan0
        with pytest.raises(ConfigError, match=rf"rx_hardwaregain={gain + 6:g} dB is not applied while "
                                              rf"gain_control_mode='slow_attack'.*set gain_control_mode='manual' "
                                              rf"first \(the gain stays at {gain:g} dB"):
            r.rx_hardwaregain_chan0 = gain + 6
        assert r.rx_hardwaregain_chan0 == gain and r.agc_gain_db is not None
        r.configure(gain_control_mode="fast_attack", rx_hardwaregain=gain)   # the gain unchanged: fine
        r.configure(gain_control_mode="manual", rx_hardwaregain=gain + 6)    # manual first, in one step
        assert r.rx_hardwaregain_chan0 == gain + 6 and r.agc_gain_db is None
    with pytest.raises(ConfigError, match="set gain_control_mode='manual' first"):
        open_radio(f"sim:{qpsk_recording}?gain_control_mode=hybrid&rx_hardwaregain=10")
