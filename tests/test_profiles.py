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


@pytest.mark.parametrize("name", profile_names())
def test_bundled_profile_says_how_much_the_radio_buffers_and_where_that_comes_from(name):
    b = load_profile(name).rx_buffering
    assert b is not None, f"{name} needs rx_buffering (how much the radio holds for a reader that falls behind)"
    assert b.source and b.note, f"{name}: rx_buffering needs a source and a note on how it was derived"
    assert 0 < b.seconds_at(20e6, 16384) < 10


def test_rx_buffering_in_time_at_the_settings():
    assert load_profile("pluto-ad9363").rx_buffering.seconds_at(1e6, 16384) == pytest.approx(0.065536)
    assert load_profile("pluto-ad9363").rx_buffering.seconds_at(20e6, 16384) == pytest.approx(0.0032768)
    assert load_profile("usrp-b210").rx_buffering.samples_at(20e6, 16384) == 32640
    assert load_profile("simulated").rx_buffering.samples_at(20e6, 16384) == 2_000_000


@pytest.mark.parametrize("buffering, match", [
    ({"buffers": 4, "seconds": 0.1}, r"needs exactly one of seconds, samples or buffers; got \['buffers', 'seconds'\]"),
    ({"note": "x"}, r"needs exactly one of seconds, samples or buffers; got none"),
    ({"buffers": 2.5}, r"buffers=2.5 must be a whole number > 0"),
    ({"samples": -1}, r"samples=-1 must be a whole number > 0"),
    ({"seconds": "soon"}, r"seconds='soon' is not a number"),
    ({"kernel_buffers": 4}, r"must be a mapping with one of"),
    (4, r"must be a mapping with one of"),
])
def test_invalid_rx_buffering_names_the_file_and_field(buffering, match):
    with pytest.raises(ConfigError, match=r"x\.yaml: rx_buffering " + match):
        parse_profile({"name": "x", "radio": "x", "ranges": {}, "rx_buffering": buffering}, "x.yaml")
