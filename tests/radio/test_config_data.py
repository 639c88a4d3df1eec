"""RadioConfig and firmware-profile data: channel indices, profile defaults."""

import pytest

from sdrkit.errors import ConfigError, SettingOutOfRange
from sdrkit.profiles import parse_profile
from sdrkit.radio import RadioConfig


@pytest.mark.parametrize("chans", [(0, 0), (-1,), (1, 0, 1)])
def test_channels_must_be_distinct_and_non_negative(chans):
    with pytest.raises(ConfigError, match=r"rx_enabled_channels=\[.*\] must be distinct channel indices >= 0"):
        RadioConfig(rx_enabled_channels=chans)


def test_channel_order_is_kept_and_counted():
    cfg = RadioConfig(rx_enabled_channels=[3, 1])
    assert cfg.rx_enabled_channels == (3, 1) and cfg.num_channels == 2
    assert cfg.to_dict()["rx_enabled_channels"] == [3, 1]


def _profile(**defaults):
    return {"name": "x", "radio": "x", "rx_channels": 2, "ranges": {"rx_lo": {"min": 1, "max": 1e10}},
            "defaults": defaults}


def test_profile_defaults_with_an_unknown_setting_name_the_file():
    with pytest.raises(ConfigError, match=r"x.yaml: defaults name unknown setting\(s\) \['rx_freq'\]"):
        parse_profile(_profile(rx_freq=1e9), "x.yaml")


def test_profile_defaults_are_checked_against_the_profile():
    assert parse_profile(_profile(rx_enabled_channels=[0, 1]), "x.yaml").default_config().num_channels == 2
    with pytest.raises(SettingOutOfRange, match="rx_enabled_channels=2"):
        parse_profile(_profile(rx_enabled_channels=[0, 2]), "x.yaml")
