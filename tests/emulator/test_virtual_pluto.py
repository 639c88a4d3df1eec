"""The virtual Pluto, driven by the real pyadi-iio / libiio stack and by sdrkit's pluto: backend."""

import socket

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.dsp import tone
from sdrkit.errors import SettingOutOfRange

from tests._drivers import require_adi  # noqa: E402

adi = require_adi()

from sdrkit.radio import open_radio  # noqa: E402
from sdrkit.radio.emulator import PlutoEmulator  # noqa: E402

FS, FC = 2e6, 915e6


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    x = tone(200_000, 100e3 / FS, amplitude=0.5)
    return write_recording(tmp_path_factory.mktemp("vp") / "tone", x, sample_rate=FS, center_frequency=FC)


@pytest.fixture
def emu(rec):
    with PlutoEmulator(rec, port=0) as e:
        yield e


def test_attributes_round_trip(emu):
    sdr = adi.Pluto(emu.uri)
    assert sdr.sample_rate == FS and sdr.rx_lo == FC
    sdr.rx_lo = 2_400_000_000
    sdr.tx_lo = 2_410_000_000
    sdr.rx_rf_bandwidth = 1_500_000
    sdr.gain_control_mode_chan0 = "manual"
    sdr.rx_hardwaregain_chan0 = 42
    sdr.tx_hardwaregain_chan0 = -20
    sdr.sample_rate = 3_000_000
    assert (sdr.rx_lo, sdr.tx_lo, sdr.rx_rf_bandwidth) == (2_400_000_000, 2_410_000_000, 1_500_000)
    assert sdr.rx_hardwaregain_chan0 == 42 and sdr.tx_hardwaregain_chan0 == -20 and sdr.sample_rate == 3_000_000
    assert sdr.gain_control_mode_chan0 == "manual"


def test_out_of_range_settings_refused_like_a_pluto(emu):
    sdr = adi.Pluto(emu.uri)
    for name, value in (("rx_lo", 6_000_000_000), ("sample_rate", 70_000_000), ("rx_hardwaregain_chan0", 80)):
        with pytest.raises(OSError) as ei:
            setattr(sdr, name, value)
        assert ei.value.errno == 22
    assert sdr.rx_lo == FC


def test_rx_returns_the_recording_scaled_to_12_bits(emu):
    sdr = adi.Pluto(emu.uri)
    sdr.rx_buffer_size = 4000
    d = sdr.rx()
    expect = np.round(0.5 * 2048 * np.exp(2j * np.pi * 0.05 * np.arange(4000)))
    assert len(d) == 4000 and np.max(np.abs(d - expect)) <= 1.0
    d2 = sdr.rx()
    assert np.max(np.abs(d2 - np.round(0.5 * 2048 * np.exp(2j * np.pi * 0.05 * np.arange(4000, 8000))))) <= 1.0


def test_gain_scales_rx(emu):
    sdr = adi.Pluto(emu.uri)
    sdr.rx_hardwaregain_chan0 = 24          # 6 dB below the recording's reference gain of 30 dB
    d = sdr.rx()
    assert abs(np.mean(np.abs(d)) - 1024 / 2) < 20


def test_tx_loops_back_to_rx(emu):
    sdr = adi.Pluto(emu.uri)
    sdr.rx_lo = sdr.tx_lo = 2_000_000_000  # outside the recording: a weak synthesized band until we transmit
    sdr.tx_hardwaregain_chan0 = 0
    sdr.rx_hardwaregain_chan0 = 0          # cabled TX -> RX: full scale at 0 dB TX attenuation is +2 dBFS at 0 dB
    quiet = np.mean(np.abs(sdr.rx()))
    w = np.exp(2j * np.pi * np.random.default_rng(0).uniform(0, 1, 256))
    sdr.tx_cyclic_buffer = True
    sdr.tx(w * 2 ** 14)
    sdr.rx_buffer_size = 2048
    d = sdr.rx()
    corr = np.abs(np.correlate(d[:1024], w, mode="valid")).max() / 256
    assert quiet < 10 and corr > 0.4 * 2048 * 0.5
    sdr.tx_destroy_buffer()


def test_sdrkit_pluto_backend_through_libiio(emu):
    with open_radio(f"pluto:{emu.uri}") as r:
        assert r.rx_lo == FC and r.sample_rate == FS
        r.rx_buffer_size = 8192
        b = r.rx()
        assert b.samples.dtype == np.complex64 and len(b) == 8192 and b.start == 0
        assert abs(np.mean(np.abs(b.samples)) - 0.5) < 0.01
        assert r.rx().start == 8192
        with pytest.raises(SettingOutOfRange, match="rx_lo=5e\\+09"):
            r.rx_lo = 5e9
        r.tx(0.5 * np.exp(2j * np.pi * 0.01 * np.arange(1000)).astype(np.complex64), cyclic=True)
        r.tx_destroy_buffer()


def _raw(emu, line: bytes) -> bytes:
    with socket.create_connection((emu.host, emu.port), timeout=5) as s:
        s.sendall(line)
        return s.recv(100)


def test_malformed_and_unknown_commands_get_einval_and_server_stays_up(emu):
    assert _raw(emu, b"FLY ME TO THE MOON\r\n") == b"-22\n"
    assert _raw(emu, b"READ iio:device0\r\n") == b"-22\n"
    assert _raw(emu, b"READ iio:device9 foo\r\n") == b"-19\n"
    assert _raw(emu, b"READBUF iio:device3 4096\r\n") == b"-9\n"
    assert _raw(emu, b"OPEN iio:device3 1024 zz\r\n") == b"-22\n"
    assert _raw(emu, b"X" * 10000 + b"\r\n").startswith(b"-22\n")
    assert adi.Pluto(emu.uri).rx_lo == FC


def test_client_vanishing_mid_buffer_leaves_server_healthy(emu):
    s = socket.create_connection((emu.host, emu.port), timeout=5)
    s.sendall(b"OPEN iio:device2 1024 00000003\r\nWRITEBUF iio:device2 4096\r\n")
    s.recv(10)
    s.sendall(b"\x00" * 100)      # then vanish before the 4096 bytes arrive
    s.close()
    s = socket.create_connection((emu.host, emu.port), timeout=5)
    s.sendall(b"OPEN iio:device3 1000000 00000003\r\nREADBUF iio:device3 4000000\r\n")
    s.recv(10)
    s.close()                     # vanish mid-READBUF
    sdr = adi.Pluto(emu.uri)
    assert len(sdr.rx()) == sdr.rx_buffer_size


def test_stalled_stream_is_a_radio_timeout(rec):
    from sdrkit.errors import RadioTimeout

    with PlutoEmulator(rec, port=0) as emu, open_radio(f"pluto:{emu.uri}?timeout_ms=1500") as r:
        r.rx()
        emu.pluto.stall_rx.set()
        with pytest.raises(RadioTimeout, match="no samples within the timeout"):
            r.rx()


def test_vanished_device_is_a_radio_disconnect(rec):
    from sdrkit.errors import RadioDisconnected, RadioTimeout

    emu = PlutoEmulator(rec, port=0).start()
    with open_radio(f"pluto:{emu.uri}?timeout_ms=1000") as r:
        # unplugged before the first buffer: libiio 0.24 itself crashes when it later frees a
        # network buffer whose connection died, so this test does not leave one behind
        emu.unplug()
        with pytest.raises((RadioDisconnected, RadioTimeout)) as ei:
            r.rx()
        assert isinstance(ei.value, RadioDisconnected), f"got {ei.value!r}"


# ---- gain in AGC mode: the virtual Pluto behaves like the ad9361 driver, sdrkit refuses ----------

def _phy_rx0(uri):
    import iio

    ctx = iio.Context(uri)
    return ctx, ctx.find_device("ad9361-phy").find_channel("voltage0", False)


def test_agc_gain_write_is_accepted_and_ignored_like_the_ad9361_driver(emu):
    ctx, ch = _phy_rx0(emu.uri)
    ch.attrs["gain_control_mode"].value = "fast_attack"
    ch.attrs["hardwaregain"].value = "10"           # the driver returns success and changes nothing
    sdr = adi.Pluto(emu.uri)
    sdr.rx_hardwaregain_chan0 = 12                   # pyadi-iio does not even send it outside manual mode
    for _ in range(8):
        sdr.rx()
    # the tone is at -6 dBFS at the reference gain of 30 dB; the AGC keeps it between its inner
    # thresholds, -12..-10 dBFS: 24..26 dB
    g = sdr.rx_hardwaregain_chan0
    assert 24 <= g <= 26
    assert float(ch.attrs["hardwaregain"].value.split()[0]) == g
    sdr.gain_control_mode_chan0 = "manual"           # manual gain starts where the AGC left it
    assert sdr.rx_hardwaregain_chan0 == g
    sdr.rx_hardwaregain_chan0 = 10
    assert sdr.rx_hardwaregain_chan0 == 10


def test_out_of_range_gain_in_agc_mode_is_ignored_too(emu):
    _, ch = _phy_rx0(emu.uri)
    ch.attrs["gain_control_mode"].value = "slow_attack"
    ch.attrs["hardwaregain"].value = "90"            # ad9361_set_rx_gain returns before its range check
    assert float(ch.attrs["hardwaregain"].value.split()[0]) == 30


def test_sdrkit_pluto_backend_refuses_gain_in_agc_mode(emu):
    from sdrkit.errors import ConfigError

    with open_radio(f"pluto:{emu.uri}") as r:
        r.gain_control_mode_chan0 = "slow_attack"
        with pytest.raises(ConfigError, match=r"rx_hardwaregain=40 dB is not applied while gain_control_mode="
                                              r"'slow_attack'.*set gain_control_mode='manual' first"):
            r.rx_hardwaregain_chan0 = 40
        with pytest.raises(ConfigError, match="set gain_control_mode='manual' first"):
            r.configure(gain_control_mode="hybrid", rx_hardwaregain=40)
        assert r.rx_hardwaregain_chan0 == 30 and adi.Pluto(emu.uri).gain_control_mode_chan0 == "slow_attack"
        r.configure(gain_control_mode="manual", rx_hardwaregain=40)
        assert adi.Pluto(emu.uri).rx_hardwaregain_chan0 == 40


def test_multichannel_recording_is_refused_by_the_one_channel_virtual_pluto(tmp_path):
    from sdrkit.errors import ConfigError

    rec = write_recording(tmp_path / "two", np.zeros((2, 100), np.complex64), sample_rate=FS, center_frequency=FC)
    with pytest.raises(ConfigError, match=r"has 2 channels and the virtual Pluto one RX channel.*replay it with sim:"):
        PlutoEmulator(rec, port=0)


# ---- the stream timeout ----------------------------------------------------------------------

@pytest.mark.parametrize("exc, err, match", [
    (OSError(22, "Invalid argument"), "DeviceError",
     r"refused the stream timeout timeout_ms=5000 .*pass another \?timeout_ms="),
    (OSError(104, "Connection reset by peer"), "RadioDisconnected", r"set_timeout\(5000 ms\): device went away"),
    (AttributeError("'Context' object has no attribute 'set_timeout'"), "DriverMissing",
     r"timeout of 5000 ms cannot be set; install 'pylibiio==0.25'"),
])
def test_failed_set_timeout_raises(emu, monkeypatch, exc, err, match):
    import iio

    import sdrkit.errors as errors

    def refuse(self, ms):
        raise exc

    monkeypatch.setattr(iio.Context, "set_timeout", refuse)
    with pytest.raises(getattr(errors, err), match=match) as ei:
        open_radio(f"pluto:{emu.uri}")
    assert ei.value.__cause__ is exc


@pytest.mark.parametrize("opt, match", [("abc", "timeout_ms='abc' is not an integer"),
                                        ("-1", r"timeout_ms=-1 must be an integer number of ms in 0\.\.")])
def test_bad_timeout_option(emu, opt, match):
    from sdrkit.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        open_radio(f"pluto:{emu.uri}?timeout_ms={opt}")


# ---- the sdrkit emulate verb and the conversions on both ends of the wire ---------------------

def test_sdrkit_emulate_verb_serves_the_pluto_backend(rec):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "sdrkit", "emulate", "pluto", "--replay", str(rec), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        uri = line.split("virtual Pluto on ", 1)[1].split(" ", 1)[0]
        assert uri.startswith("ip:127.0.0.1:")
        with open_radio(f"pluto:{uri}") as r:
            assert r.rx_lo == FC and r.sample_rate == FS
            assert abs(np.mean(np.abs(r.rx().samples)) - 0.5) < 0.01
    finally:
        proc.terminate()
        proc.wait(10)


def test_pluto_sample_conversions_in_one_place():
    from sdrkit.radio.pluto import complex64_to_ci16, complex64_to_rx_ci16, ci16_to_complex64, tx_ci16_to_complex64

    x = np.array([0.5 + 0.25j, -1 + 0j, 1 - 1j], np.complex64)
    raw = complex64_to_rx_ci16(x)
    assert raw.dtype == np.int16 and raw.tolist() == [1024, 512, -2048, 0, 2047, -2048]   # 12-bit codes, clipped
    assert np.allclose(ci16_to_complex64(raw), x, atol=1 / 2048)
    assert np.allclose(ci16_to_complex64(raw.astype(np.float64).view(np.complex128)), x, atol=1 / 2048)
    dac = complex64_to_ci16(x).view(np.float32).astype("<i2")
    assert dac.tolist()[:2] == [16384, 8192]
    assert np.allclose(tx_ci16_to_complex64(dac.tobytes()), x, atol=1 / 32767)


def test_opening_takes_the_profiles_buffer_and_warns_only_about_a_rate_it_applies(emu, caplog):
    """The device's settings survive an open (no retune), but the host-side buffer is the profile's
    16384 samples, not pyadi-iio's 1024 (which overflows at 1 MS/s on a loaded host); a rate left
    above the USB ceiling by an earlier session is not warned about until a command applies one."""
    import logging

    with open_radio(f"pluto:{emu.uri}") as r:
        r.sample_rate = 20e6                       # an earlier session leaves the device at 20 MS/s
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        with open_radio(f"pluto:{emu.uri}") as r:
            assert r.rx_buffer_size == 16384 and r.sample_rate == 20e6
            assert not [m for m in caplog.messages if "sustainable host rate" in m]
            r.sample_rate = 1e6
            assert not [m for m in caplog.messages if "sustainable host rate" in m]
            r.sample_rate = 10e6
    assert [m for m in caplog.messages if "sustainable host rate" in m and "10 MS/s" in m]
