"""The radio contract, run against every scheme registered in ``sdrkit.radio.RADIOS``.

Each test takes a ``rig`` (tests/radio/conftest.py): one radio of a registered scheme, opened
at a known frequency and rate. Settings a radio cannot change must be refused with a
ConfigError and left as they were; a setting that is accepted must take effect. Checks that
a scheme does not meet yet are marked ``xfail(strict=True)`` with the reason, so fixing the
backend turns them into failures that ask for the marker to go.
"""

import numpy as np
import pytest

from sdrkit.errors import ConfigError, DeviceError, SettingOutOfRange
from sdrkit.radio import GAIN_MODES, RADIOS, RadioConfig, RxBlock, open_radio

from tests.radio.conftest import RIGS, TONE_HZ


def _set_or_refused(r, name: str, value) -> bool:
    """Set a pyadi-iio property: True when it took (reads back), False when refused with a
    ConfigError (and left unchanged)."""
    before = getattr(r, name)
    try:
        setattr(r, name, value)
    except ConfigError:
        assert getattr(r, name) == before, f"{name} changed although the radio refused {value!r}"
        return False
    assert getattr(r, name) == value, f"{name} accepted {value!r} but reads back {getattr(r, name)!r}"
    return True


def _shape(rig_or_radio, n: int) -> tuple:
    c = len(rig_or_radio.rx_enabled_channels)
    return (n,) if c == 1 else (c, n)


def _first_channel(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x[0]


def _peak_hz(x, fs):
    x = _first_channel(x)
    return np.fft.fftfreq(len(x), 1 / fs)[np.argmax(np.abs(np.fft.fft(x)))]


def test_every_registered_scheme_has_a_rig():
    covered = {scheme for scheme, _, _ in RIGS.values()}
    missing = sorted(set(RADIOS.names()) - covered)
    assert not missing, (f"radio scheme(s) {missing} are registered in RADIOS but tests/radio/conftest.py has no "
                         f"rig for them: add one (a rig that needs hardware skips saying how to run it)")


def test_opens_with_pyadi_names_and_a_validated_config(rig):
    with rig.open() as r:
        assert r.rx_lo == rig.rx_lo and r.sample_rate == rig.sample_rate
        assert isinstance(r.config, RadioConfig) and r.gain_control_mode_chan0 in GAIN_MODES
        assert len(r.rx_enabled_channels) == rig.channels
        assert r.rx_buffer_size == r.config.rx_buffer_size >= 1
        if r.profile is not None:
            r.profile.check(r.config)


def test_rx_blocks_are_complex64_shaped_by_channel_with_continuous_indices(rig):
    with rig.open() as r:
        _set_or_refused(r, "rx_buffer_size", 10_000)
        blocks = list(r.stream(max_blocks=25))      # 250k samples: wraps a 200k replay
        assert len(blocks) == 25
        assert all(isinstance(b, RxBlock) and b.samples.dtype == np.complex64 for b in blocks)
        assert all(b.samples.shape == _shape(r, len(b)) for b in blocks)
        for a, b in zip(blocks, blocks[1:]):
            assert b.start == a.start + len(a) + b.lost
        assert r.samples_lost == sum(b.lost for b in blocks)
        assert r.samples_received == sum(len(b) for b in blocks)


def test_returned_blocks_are_owned_by_the_caller(rig):
    with rig.open() as r:
        a = r.rx()
        keep = a.samples.copy()
        r.rx()
        assert np.array_equal(a.samples, keep)


def test_closed_radio_refuses(rig):
    r = rig.open()
    with r:
        r.rx()
    with pytest.raises(DeviceError, match="is closed"):
        r.rx()
    with pytest.raises(DeviceError, match="is closed"):
        r.rx_lo = rig.rx_lo
    r.close()  # twice is fine


def test_iterating_a_radio_streams_blocks(rig):
    with rig.open() as r:
        got = []
        for b in r:
            got.append(b)
            if len(got) == 3:
                break
    assert len(got) == 3 and all(len(b) > 0 for b in got)
    assert all(b.start == a.start + len(a) + b.lost for a, b in zip(got, got[1:]))


def test_buffer_size_applies_or_is_refused(rig):
    with rig.open() as r:
        for n in (4096, 2048):
            if _set_or_refused(r, "rx_buffer_size", n):
                assert [len(r.rx()) for _ in range(2)] == [n, n]


def test_retune_within_band_applies_or_is_refused(rig):
    with rig.open() as r:
        applied = _set_or_refused(r, "rx_rf_bandwidth", 400e3)
        applied &= _set_or_refused(r, "rx_lo", rig.rx_lo + TONE_HZ)
        if applied:
            assert r.rx_lo == rig.rx_lo + TONE_HZ and r.rx_rf_bandwidth == 400e3
            r.rx()
            x = r.rx().samples
            assert x.dtype == np.complex64
            if rig.known_signal:                # the 100 kHz tone is now at the center
                assert abs(_peak_hz(x, r.sample_rate)) < 2e3


def test_manual_gain_applies_or_is_refused(rig):
    with rig.open() as r:
        _set_or_refused(r, "gain_control_mode_chan0", "manual")
        r.rx()
        before = np.mean(np.abs(_first_channel(r.rx().samples)) ** 2)
        if _set_or_refused(r, "rx_hardwaregain_chan0", r.rx_hardwaregain_chan0 - 6):
            r.rx()
            after = np.mean(np.abs(_first_channel(r.rx().samples)) ** 2)
            if rig.known_signal:
                assert 10 * np.log10(after / before) == pytest.approx(-6, abs=0.3)


def test_gain_is_read_only_in_agc_mode(rig):
    with rig.open() as r:
        gain = r.rx_hardwaregain_chan0
        if not _set_or_refused(r, "gain_control_mode_chan0", "slow_attack"):
            pytest.skip(f"{rig.name} has no slow_attack AGC")
        with pytest.raises(ConfigError, match=r"rx_hardwaregain=.* dB is not applied while gain_control_mode="
                                              r"'slow_attack'.*set gain_control_mode='manual' first"):
            r.rx_hardwaregain_chan0 = gain - 10
        assert r.rx_hardwaregain_chan0 == gain and r.gain_control_mode_chan0 == "slow_attack"
        assert r.rx().samples.dtype == np.complex64
        r.gain_control_mode_chan0 = "manual"
        assert _set_or_refused(r, "rx_hardwaregain_chan0", gain - 10)


def test_enabling_a_channel_the_radio_lacks_is_refused(rig):
    with rig.open() as r:
        before = r.rx_enabled_channels
        with pytest.raises(ConfigError, match="64"):
            r.rx_enabled_channels = [0, 64]
        assert r.rx_enabled_channels == before and r.rx().samples.shape[:-1] == _shape(r, 0)[:-1]


def test_out_of_profile_gain_names_the_profile(rig):
    with rig.open() as r:
        if r.profile is None or "rx_hardwaregain" not in r.profile.ranges:
            pytest.skip(f"{rig.name} has no firmware profile with an RX gain range")
        _set_or_refused(r, "gain_control_mode_chan0", "manual")
        top = r.profile.ranges["rx_hardwaregain"].max
        with pytest.raises(SettingOutOfRange, match=rf"rx_hardwaregain={top + 10:g} dB .*{r.profile.name}"):
            r.rx_hardwaregain_chan0 = top + 10
        assert r.rx_hardwaregain_chan0 <= top


def test_tx_takes_complex_1d_or_is_receive_only(rig):
    with rig.open() as r:
        if not r.can_transmit:
            with pytest.raises(DeviceError, match="receive-only"):
                r.tx(np.ones(256, np.complex64))
            return
        r.tx(np.ones(256, np.complex64), cyclic=True)
        assert r.rx().samples.shape == _shape(r, r.rx_buffer_size)
        # (T, n) is one row per TX channel on radios with a MIMO loopback; 3-D is never a TX buffer
        with pytest.raises(DeviceError, match=r"non-empty 1-D complex array, got shape \(2, 2, 4\)"):
            r.tx(np.ones((2, 2, 4), np.complex64))


def test_out_of_profile_setting_refused_on_sim(tone_recording):
    with open_radio(f"sim:{tone_recording}?profile=pluto-ad9364") as r:
        with pytest.raises(SettingOutOfRange, match=r"rx_hardwaregain=80 dB .*pluto-ad9364.yaml"):
            r.rx_hardwaregain_chan0 = 80
        assert r.rx_hardwaregain_chan0 != 80
