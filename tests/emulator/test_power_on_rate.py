"""The virtual Pluto's 30.72 MS/s power-on rate (above the USB 2.0 host link) is warned about once per
server, and only when a client streams at it, not at every connection that rewrites it on open."""

import logging

from tests._drivers import require_adi

require_adi()

from sdrkit.radio import open_radio  # noqa: E402
from sdrkit.radio.emulator import PlutoEmulator  # noqa: E402

HOST = "sustainable host rate"


def _emu_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "sdrkit.emulator" and HOST in r.getMessage()]


def test_connections_that_set_their_own_rate_hear_nothing_about_the_power_on_rate(caplog):
    caplog.set_level(logging.INFO, "sdrkit.emulator")
    with PlutoEmulator(port=0) as e:
        assert e.pluto.power_on_rate == 30.72e6
        for _ in range(2):
            with open_radio(f"pluto:{e.uri}") as r:
                r.configure(sample_rate=1e6, rx_buffer_size=4096)
                r.rx()
    assert _emu_warnings(caplog) == []


def test_streaming_at_the_power_on_rate_warns_once_per_server(caplog):
    caplog.set_level(logging.INFO, "sdrkit.emulator")
    with PlutoEmulator(port=0) as e:
        for _ in range(2):
            with open_radio(f"pluto:{e.uri}") as r:
                r.rx_buffer_size = 4096
                r.rx()
        assert e.pluto.host_rate_warned == {30.72e6}
    (msg,) = _emu_warnings(caplog)
    assert "30.72 MS/s (RX streams at the power-on default: set sample_rate)" in msg and "6 MS/s" in msg
