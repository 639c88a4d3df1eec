"""Firmware profile loading and validation."""

import pytest

from sdrkit.errors import ConfigError, SettingOutOfRange
from sdrkit.profiles import load_profile, parse_profile, profile_names
from sdrkit.radio import RadioConfig


@pytest.mark.parametrize("name", profile_names())
def test_bundled_profile_loads_and_defaults_are_valid(name):
    prof = load_profile(name)
    prof.check(prof.default_config())
    assert prof.sources, f"{name} must say where its numbers come from"


def test_out_of_range_names_setting_range_and_file():
    prof = load_profile("pluto-ad9363")
    with pytest.raises(SettingOutOfRange, match=r"rx_lo=6e\+09 Hz .*\[3.25e\+08, 3.8e\+09\].*pluto-ad9363.yaml"):
        prof.check(RadioConfig(rx_lo=6e9))


def test_unknown_profile_lists_bundled():
    with pytest.raises(ConfigError, match="pluto-ad9363"):
        load_profile("no-such-radio")


def test_invalid_profile_names_field():
    with pytest.raises(ConfigError, match="ranges.rx_lo has min"):
        parse_profile({"name": "x", "radio": "x", "ranges": {"rx_lo": {"min": 2, "max": 1}}}, "x.yaml")
