"""The radio contract, run against every backend that can run here."""

import numpy as np
import pytest

from sdrkit.errors import DeviceError, SettingOutOfRange
from sdrkit.radio import RadioConfig, RxBlock, open_radio


def test_settings_use_pyadi_names(radio_uri):
    with open_radio(radio_uri) as r:
        assert r.rx_lo == 100e6 and r.sample_rate == 1e6
        r.rx_buffer_size = 4096
        assert r.rx_buffer_size == 4096 and len(r.rx()) == 4096
        r.rx_hardwaregain_chan0 = r.rx_hardwaregain_chan0 - 6
        assert isinstance(r.config, RadioConfig) and r.gain_control_mode_chan0 == "manual"


def test_rx_blocks_are_complex64_with_continuous_indices(radio_uri):
    with open_radio(radio_uri) as r:
        r.rx_buffer_size = 10_000
        blocks = list(r.stream(max_blocks=25))   # 250k samples: wraps the 200k recording
        assert all(isinstance(b, RxBlock) and b.samples.dtype == np.complex64 for b in blocks)
        assert [b.start for b in blocks] == [i * 10_000 for i in range(25)]
        assert r.samples_received == 250_000 and r.samples_lost == 0


def test_returned_blocks_are_owned_by_the_caller(radio_uri):
    with open_radio(radio_uri) as r:
        a = r.rx()
        keep = a.samples.copy()
        r.rx()
        assert np.array_equal(a.samples, keep)


def test_closed_radio_refuses(radio_uri):
    r = open_radio(radio_uri)
    with r:
        r.rx()
    with pytest.raises(DeviceError, match="is closed"):
        r.rx()
    r.close()  # twice is fine


def test_out_of_profile_setting_refused(tone_recording):
    with open_radio(f"sim:{tone_recording}?profile=pluto-ad9364") as r:
        with pytest.raises(SettingOutOfRange, match=r"rx_hardwaregain=80 dB .*pluto-ad9364.yaml"):
            r.rx_hardwaregain_chan0 = 80
        assert r.rx_hardwaregain_chan0 != 80


def test_iterating_a_radio_streams_blocks(radio_uri):
    with open_radio(radio_uri) as r:
        r.rx_buffer_size = 2048
        got = []
        for b in r:
            got.append(b)
            if len(got) == 3:
                break
    assert [b.start for b in got] == [0, 2048, 4096] and all(len(b) == 2048 for b in got)


def test_tx_takes_complex_1d_and_rejects_other_shapes(radio_uri):
    with open_radio(radio_uri) as r:
        r.tx(np.ones(256, np.complex64), cyclic=True)
        assert r.rx().samples.shape == (r.rx_buffer_size,)
        with pytest.raises(DeviceError, match=r"non-empty 1-D complex array, got shape \(2, 4\)"):
            r.tx(np.ones((2, 4), np.complex64))


def test_retune_within_band_reads_back(radio_uri):
    with open_radio(radio_uri) as r:
        r.rx_rf_bandwidth = 400e3
        r.rx_lo = 100.1e6
        assert r.rx_lo == 100.1e6 and r.rx_rf_bandwidth == 400e3
        assert r.rx().samples.dtype == np.complex64
