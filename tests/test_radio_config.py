"""RadioConfig validation and open_radio URI parsing (backend-independent parts)."""

import pytest

from sdrkit.errors import ConfigError
from sdrkit.radio import RADIOS, RadioConfig, open_radio


def test_config_is_frozen_and_replace_validates():
    cfg = RadioConfig(rx_lo=915e6, sample_rate=2e6)
    with pytest.raises(AttributeError):
        cfg.rx_lo = 1.0
    assert cfg.replace(rx_lo=433e6).rx_lo == 433e6
    assert cfg.bandwidth == 2e6
    with pytest.raises(ConfigError, match=r"unknown radio setting\(s\) \['rx_freq'\]"):
        cfg.replace(rx_freq=1e9)


@pytest.mark.parametrize("bad, match", [
    (dict(gain_control_mode="auto"), "gain_control_mode='auto' is not one of"),
    (dict(sample_rate=0), "sample_rate=0 must be > 0"),
    (dict(rx_buffer_size=0), "rx_buffer_size=0 must be a positive integer"),
    (dict(rx_enabled_channels=()), "rx_enabled_channels is empty"),
])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ConfigError, match=match):
        RadioConfig(**bad)


def test_uri_without_scheme_names_known_schemes():
    with pytest.raises(ConfigError, match="has no scheme; use one of .*pluto:"):
        open_radio("captures/x.sigmf-meta")


def test_unknown_scheme():
    with pytest.raises(ConfigError, match="unknown radio scheme 'hackrf'"):
        open_radio("hackrf:0")


def test_schemes_registered():
    assert {"sim", "pluto", "usrp"} <= set(RADIOS.names())
