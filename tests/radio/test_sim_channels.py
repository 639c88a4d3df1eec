"""The simulated radio with several channels: replay, per-channel stages, array phase relations."""

import numpy as np
import pytest

from sdrkit.capture import open_recording, write_recording
from sdrkit.errors import ConfigError, RadioTimeout
from sdrkit.radio import open_radio
from sdrkit.radio.sim import Channel, SimRadio

from tests.radio.conftest import FC, FS, plane_wave


def _element_phase_steps(x: np.ndarray) -> np.ndarray:
    """Phase of element k+1 relative to element k, radians, from the (elements, n) samples."""
    return np.angle(np.sum(x[1:] * np.conj(x[:-1]), axis=-1))


@pytest.fixture(scope="module")
def elements(array_recording, tmp_path_factory):
    """Each element of the array recording as a one-channel recording of its own."""
    x = open_recording(array_recording).read()
    d = tmp_path_factory.mktemp("elements")
    return [write_recording(d / f"e{k}", x[k], sample_rate=FS, center_frequency=FC) for k in range(len(x))]


def test_default_replays_every_channel_of_the_recording(array_recording):
    rec = open_recording(array_recording).read()
    with open_radio(f"sim:{array_recording}?loop=0&rx_buffer_size=30000") as r:
        assert r.rx_enabled_channels == [0, 1, 2, 3] and "channels [0, 1, 2, 3]" in r.hw_description
        blocks = list(r.stream())
    assert all(b.samples.shape == (4, len(b)) for b in blocks) and [len(b) for b in blocks][-1] == 20000
    assert np.array_equal(np.concatenate([b.samples for b in blocks], axis=-1), rec)


def test_plane_wave_phase_across_4_elements_survives_an_ideal_front_end(array_recording):
    _, step = plane_wave(1)
    with open_radio(f"sim:{array_recording}?front_end=ideal&rx_buffer_size=8192") as r:
        x = np.concatenate([b.samples for b in r.stream(max_blocks=4)], axis=-1)
    assert x.shape == (4, 32768)
    assert np.allclose(_element_phase_steps(x), step, atol=1e-4)       # 30 deg, half wavelength: pi/2
    assert step == pytest.approx(np.pi / 2)


@pytest.mark.parametrize("fe", ["fe-a", "fe-d", "random:5"])
def test_a_front_end_shares_its_lo_across_channels(array_recording, fe):
    # CFO and phase noise are common to the channels (one LO), so once each channel's own DC
    # offset is removed the inter-element phases come through (IQ imbalance is per channel
    # too, and unbiased for this geometry)
    _, step = plane_wave(1)
    with open_radio(f"sim:{array_recording}?front_end={fe}&seed=3&rx_buffer_size=16384") as r:
        x = np.concatenate([b.samples for b in r.stream(max_blocks=2)], axis=-1)
    x = x - x.mean(axis=-1, keepdims=True)
    assert np.allclose(_element_phase_steps(x), step, atol=2e-3)


def test_every_stage_is_per_channel_the_single_channel_one(array_recording, elements):
    # retune + resample + front end + gain: channel k of the 4-channel replay is exactly what
    # replaying element k alone gives (same stream, same seed)
    opts = "front_end=fe-b&seed=9&rx_lo=100.05e6&sample_rate=500e3&rx_buffer_size=6000"
    with open_radio(f"sim:{array_recording}?{opts}") as r:
        r.rx_hardwaregain_chan0 = r.rx_hardwaregain_chan0 - 3
        multi = np.concatenate([b.samples for b in r.stream(max_blocks=3)], axis=-1)
    for k, e in enumerate(elements):
        with open_radio(f"sim:{e}?{opts}") as r:
            r.rx_hardwaregain_chan0 = r.rx_hardwaregain_chan0 - 3
            one = np.concatenate([b.samples for b in r.stream(max_blocks=3)])
        assert np.allclose(multi[k], one, atol=1e-6), f"channel {k}"


@pytest.mark.parametrize("precompute", [True, False], ids=["whole-array", "streaming"])
def test_retune_and_resample_keep_the_array_phases(array_recording, monkeypatch, precompute):
    import sdrkit.radio.sim as sim

    if not precompute:
        monkeypatch.setattr(sim, "_PRECOMPUTE_MAX", 0)
    _, step = plane_wave(1)
    with open_radio(f"sim:{array_recording}?rx_lo=100.05e6&sample_rate=400e3&rx_buffer_size=5000") as r:
        assert (r._resampler is None) == precompute
        x = np.concatenate([b.samples for b in r.stream(max_blocks=6)], axis=-1)[:, 1000:]
    assert x.shape[0] == 4
    assert np.allclose(_element_phase_steps(x), step, atol=1e-3)
    peaks = np.fft.fftfreq(x.shape[-1], 1 / 400e3)[np.argmax(np.abs(np.fft.fft(x, axis=-1)), axis=-1)]
    assert np.allclose(peaks, 50e3, atol=100)          # the 100 kHz tone, tuned 50 kHz up, on every channel


def test_channel_subset_in_the_given_order(array_recording):
    rec = open_recording(array_recording).read()
    with open_radio(f"sim:{array_recording}?rx_enabled_channels=2,0&loop=0&rx_buffer_size=1000") as r:
        assert r.rx_enabled_channels == [2, 0]
        assert np.array_equal(r.rx().samples, rec[[2, 0], :1000])
        r.rx_enabled_channels = [3]                     # one channel: (n,), as for a one-channel radio
        b = r.rx()
        assert b.samples.shape == (1000,) and b.start == 1000
        assert np.array_equal(b.samples, rec[3, 1000:2000])
        with pytest.raises(ConfigError, match=r"channel 4 is not in array4.sigmf-meta, which has 4 channel\(s\)"):
            r.rx_enabled_channels = [0, 4]
        assert r.rx_enabled_channels == [3]


def test_faults_drop_the_same_samples_on_every_channel(array_recording):
    rec = open_recording(array_recording).read()
    with open_radio(f"sim:{array_recording}?faults=overflow@1:2,timeout@3&rx_buffer_size=1000") as r:
        blocks = [r.rx(), r.rx(), r.rx()]
        with pytest.raises(RadioTimeout, match="block 3"):
            r.rx()
        blocks.append(r.rx())
    assert [(b.start, b.lost) for b in blocks] == [(0, 0), (3000, 2000), (4000, 0), (5000, 0)]
    for b in blocks:
        assert np.array_equal(b.samples, rec[:, b.start:b.start + 1000])


def test_tx_loops_back_into_every_channel_with_independent_noise():
    w = np.exp(2j * np.pi * np.random.default_rng(0).uniform(0, 1, 1024)).astype(np.complex64)
    with SimRadio(None, loopback=Channel(snr_db=20, delay=7)) as r:
        r.configure(rx_enabled_channels=(0, 1, 2), rx_buffer_size=4096)
        floor = r.rx().samples
        r.tx(w, cyclic=True)
        y = r.rx().samples
    assert floor.shape == y.shape == (3, 4096)
    assert np.allclose(np.mean(np.abs(floor) ** 2, axis=-1), 2e-6, rtol=0.2)        # the -60 dBFS floor, per channel
    assert abs(np.corrcoef(floor[0].real, floor[1].real)[0, 1]) < 0.1
    for row in y:
        corr = np.abs(np.correlate(row[:2048], w, mode="valid")) / len(w)
        assert np.argmax(corr) % len(w) == 7 and corr.max() > 0.95
    noise = y - y.mean(axis=0)                         # the common signal cancels, the noise does not
    assert 0.005 < np.mean(np.abs(noise) ** 2) < 0.02


def test_agc_runs_per_channel(tmp_path):
    levels = np.array([0.05, 0.2, 0.8])
    x, _ = plane_wave(100_000, elements=3, amplitude=1.0)
    rec = write_recording(tmp_path / "levels", x * levels[:, None].astype(np.float32), sample_rate=FS,
                          center_frequency=FC)
    with open_radio(f"sim:{rec}?gain_control_mode=fast_attack&rx_buffer_size=4096") as r:
        blocks = list(r.stream(max_blocks=12))
        assert r.agc_gain_db is not None
    rms = np.sqrt(np.mean(np.abs(blocks[-1].samples) ** 2, axis=-1))
    assert np.allclose(rms, 0.25, rtol=0.02)           # every receiver driven to -12 dBFS on its own


def test_single_channel_blocks_keep_their_1d_shape(qpsk_recording):
    with open_radio(f"sim:{qpsk_recording}") as r:
        assert r.rx_enabled_channels == [0] and r.rx().samples.ndim == 1
    with open_radio("sim:loopback") as r:
        assert r.rx().samples.shape == (r.rx_buffer_size,)
