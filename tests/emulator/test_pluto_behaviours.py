"""Issue 20: the virtual Pluto behaves like a real one for pyadi-iio (retune in and out of the
recording, pacing and drops, DDS, digital loopback, AXI status registers, AGC, RSSI, FIR)."""

import logging
import time

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.dsp import tone

from tests._drivers import require_adi  # noqa: E402

adi = require_adi()

from sdrkit.radio import open_radio  # noqa: E402
from sdrkit.radio.emulator import PlutoEmulator  # noqa: E402

FS, FC = 2e6, 915e6


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    x = tone(200_000, 100e3 / FS, amplitude=0.5)
    return write_recording(tmp_path_factory.mktemp("vp20") / "tone", x, sample_rate=FS, center_frequency=FC)


@pytest.fixture
def emu(rec):
    with PlutoEmulator(rec, port=0) as e:
        yield e


@pytest.fixture
def pluto(emu):
    """adi.Pluto clients whose buffers are destroyed while the emulator still runs (pylibiio
    crashes destroying a buffer whose server is gone, e.g. when a failed test's frame is collected)."""
    made = []

    def make(uri=None):
        made.append(adi.Pluto(uri or emu.uri))
        return made[-1]

    yield make
    for s in made:
        for fn in ("tx_destroy_buffer", "rx_destroy_buffer"):
            try:
                getattr(s, fn)()
            except Exception:  # noqa: BLE001
                pass


def _peak_db_over_median(d):
    p = np.abs(np.fft.fft(d)) ** 2
    return 10 * np.log10(p.max() / np.median(p))


def _is_the_recording(d):
    return abs(np.mean(np.abs(d)) - 1024) < 30 and abs(_tone_freq(d, FS) - 100e3) < 2e3


def _tone_freq(d, fs):
    f = np.fft.fftfreq(len(d), 1 / fs)
    return f[np.argmax(np.abs(np.fft.fft(d)))]


def test_tuning_out_of_the_recording_and_back_replays_it_again_for_every_client(emu, pluto, caplog):
    caplog.set_level(logging.INFO, "sdrkit.emulator")
    sdr = pluto()
    sdr.rx_buffer_size = 4096
    assert _is_the_recording(sdr.rx())
    # pyadi-iio's example settings: 2 GHz LO, 4 MHz bandwidth -> outside the recording
    sdr.rx_lo, sdr.rx_rf_bandwidth = 2_000_000_000, 4_000_000
    d = sdr.rx()
    assert not _is_the_recording(d)
    assert _peak_db_over_median(d) > 20          # a synthesized band with carriers, not a dead radio
    assert "outside the recording's band 914..916 MHz" in caplog.text and "retune rx_lo=2000 MHz" in caplog.text
    sdr.rx_lo, sdr.rx_rf_bandwidth = int(FC), int(FS)
    assert _is_the_recording(sdr.rx())
    sdr.rx_lo = int(FC) + 200_000               # a 200 kHz retune leaves the recorded band too ...
    assert not _is_the_recording(sdr.rx())
    sdr.rx_lo = int(FC)                          # ... and tuning back replays it, for this client and a new one
    assert _is_the_recording(sdr.rx())
    other = pluto()
    other.rx_buffer_size = 4096
    assert _is_the_recording(other.rx())
    assert "inside the recording, replaying it" in caplog.text


def test_rx_is_paced_at_the_sample_rate_unless_as_fast_as_possible(rec):
    # at 600 kS/s, 1 M samples take 1.67 s paced; unpaced they come at the emulator's own speed
    # (a few MS/s even on a loaded CI machine), so the two bounds are far apart
    for pace, check in ((True, lambda dt: dt >= 1.5), (False, lambda dt: dt < 1.0)):
        with PlutoEmulator(rec, port=0, pace=pace) as e:
            sdr = adi.Pluto(e.uri)
            sdr.sample_rate = 600_000
            sdr.rx_buffer_size = 100_000
            sdr.rx()
            t = time.monotonic()
            for _ in range(10):                  # 1 M samples = 1.67 s at 600 kS/s
                sdr.rx()
            dt = time.monotonic() - t
            sdr.rx_destroy_buffer()
            del sdr
            assert check(dt), (pace, dt)


def test_above_the_host_link_samples_are_dropped_counted_and_reported(rec, caplog):
    caplog.set_level(logging.WARNING)
    with PlutoEmulator(rec, port=0, profile="pluto-ad9364") as e:
        with open_radio(f"pluto:{e.uri}?profile=pluto-ad9364") as r:
            r.configure(sample_rate=20e6, rx_rf_bandwidth=2e6, rx_lo=2.4e9, rx_buffer_size=1 << 16)
            t, got, lost = time.monotonic(), 0, 0
            while time.monotonic() - t < 1.0:
                b = r.rx()
                got, lost = got + len(b), lost + b.lost
            rate = got / (time.monotonic() - t)
        assert rate < 6.5e6                                    # at most the USB 2.0 host rate
        assert e.pluto.stats["rx_dropped"] > 5e6 and e.pluto.stats["overflows"] > 0
        assert lost > 0.5 * e.pluto.stats["rx_dropped"]         # the pluto: backend reports them as lost
    assert "above the pluto-ad9364 profile's sustainable host rate of 6 MS/s" in caplog.text


def test_filter_reads_back_and_rssi_follows_the_received_power(emu, pluto, tmp_path):
    sdr = pluto()
    assert sdr.filter == [0, 0, 0, 0] or isinstance(sdr.filter, list)
    ftr = tmp_path / "f.ftr"
    ftr.write_text("TX 3 GAIN 0 INT 4\nRX 3 GAIN -6 DEC 4\nRTX 1 2 3 4 5 6\nRRX 1 2 3 4 5 6\nBWTX 1\nBWRX 1\n"
                   + "".join(f"{k},{k}\n" for k in range(-32, 32)))
    sdr.filter = str(ftr)
    assert sdr.filter == [64, 4, 64, 4]
    sdr.rx_lo = sdr.tx_lo = 1_000_000_000
    sdr.sample_rate = 4_000_000
    sdr.rx_hardwaregain_chan0, sdr.tx_hardwaregain_chan0 = 0, 0
    rssi = []
    for scale in (0.25, 0.06):
        sdr.dds_single_tone(500_000, scale)
        for _ in range(3):
            sdr.rx()
        rssi.append(float(sdr._get_iio_attr_str("voltage0", "rssi", False).split()[0]))
    assert rssi[1] - rssi[0] == pytest.approx(20 * np.log10(0.25 / 0.06), abs=1.0)   # not a constant
    assert 18 <= rssi[0] <= 21


def test_dds_produces_its_tone(emu, pluto):
    sdr = pluto()
    sdr.rx_lo = sdr.tx_lo = 1_000_000_000
    sdr.sample_rate = 4_000_000
    sdr.rx_hardwaregain_chan0, sdr.tx_hardwaregain_chan0 = 0, -10
    sdr.rx_buffer_size = 1 << 14
    sdr.dds_single_tone(1_000_000, 0.5)
    d = sdr.rx()
    assert abs(_tone_freq(d, 4e6) - 1e6) < 1e3 and _peak_db_over_median(d) > 40
    sdr.dds_single_tone(-300_000, 0.5)           # a negative tone: Q leads I
    assert abs(_tone_freq(sdr.rx(), 4e6) + 300e3) < 1e3


def test_digital_loopback_is_bit_exact_and_tx_of_zeros_is_zero(emu, pluto):
    sdr = pluto()
    sdr.loopback = 1
    sdr.tx_cyclic_buffer = True
    ramp = (np.arange(2048, dtype=np.int16) << 4).astype(np.int16)
    sdr.tx_enabled_channels = [0]
    sdr.rx_buffer_size = 4096
    sdr.tx(ramp + 1j * (-ramp - 1))
    d = sdr.rx()
    i0 = int(np.flatnonzero(d.real == 0)[0])
    seg = d[i0:i0 + 2048]
    assert np.array_equal(seg.real, np.arange(2048)) and np.array_equal(seg.imag, -np.arange(2048) - 1)
    sdr.tx_destroy_buffer()
    sdr.tx_enabled_channels = None
    sdr.tx()                                     # pyadi-iio's TX of zeros: DDS off, no DMA
    for _ in range(3):
        d = sdr.rx()
    assert np.sum(np.abs(d)) == 0
    sdr.loopback = 0
    assert sdr.loopback == 0


def test_axi_status_register_flags_overflow_and_underflow(emu, pluto):
    sdr = pluto()
    assert sdr._rxadc.reg_read(0x80000000) == 0x00090162      # not the address read back
    assert sdr._rxadc.reg_read(0x80000088) == 0
    sdr.sample_rate = 1_000_000
    sdr.rx_buffer_size = 1 << 16                 # 4 kernel buffers + 1 MiB on the link hold 0.52 s
    sdr.rx()
    assert sdr._rxadc.reg_read(0x80000088) & 4 == 0
    time.sleep(1.0)
    assert sdr._rxadc.reg_read(0x80000088) & 4
    sdr._rxadc.reg_write(0x80000088, 0x6)                      # write 1 to clear
    sdr.rx()                                     # the lost blocks are dropped; the stream goes on
    sdr._rxadc.reg_write(0x80000088, 0x6)
    assert sdr._rxadc.reg_read(0x80000088) & 4 == 0
    assert emu.pluto.stats["rx_dropped"] > 0
    sdr.tx_cyclic_buffer = False
    sdr.tx_enabled_channels = [0]
    sdr.tx(np.ones(1 << 14) * 1000)              # 16 ms of TX
    assert sdr._txdac.reg_read(0x80000088) & 1 == 0
    time.sleep(0.1)
    assert sdr._txdac.reg_read(0x80000088) & 1                # ran dry: underflow
    sdr.tx_destroy_buffer()
    sdr.rx_destroy_buffer()


def test_slow_attack_agc_is_time_driven_and_bounded(emu, pluto):
    sdr = pluto()
    sdr.rx_lo = sdr.tx_lo = 1_000_000_000       # outside the recording: a weak band only
    sdr.sample_rate = 4_000_000
    sdr.rx_buffer_size = 1 << 12                 # 1 ms per buffer
    sdr.tx_hardwaregain_chan0 = -30              # the tone arrives at -29 dBFS at 0 dB gain
    sdr.dds_single_tone(500_000, 0)
    sdr.rx_hardwaregain_chan0 = 30
    sdr.gain_control_mode_chan0 = "slow_attack"
    sdr.rx()
    g0 = sdr.rx_hardwaregain_chan0
    time.sleep(0.1)                              # nobody reads for 100 ms: the AGC runs on time, not buffers
    sdr.rx()
    climbed = sdr.rx_hardwaregain_chan0
    assert climbed >= g0 + 20 and climbed <= 71  # +1..+2 dB per 1 ms interval, never beyond the gain table
    for _ in range(100):                         # 100 ms more: pinned at the table's top at most
        sdr.rx()
    assert sdr.rx_hardwaregain_chan0 <= 71
    sdr.dds_single_tone(500_000, 0.9)            # a strong tone after near-silence ...
    time.sleep(0.1)
    for _ in range(3):
        d = sdr.rx()
    g = sdr.rx_hardwaregain_chan0
    assert 10 <= g <= 25                         # ... the AGC has come down (about 18 dB)
    p = 10 * np.log10(np.mean(np.abs(d / 2048) ** 2))
    assert -13 <= p <= -9 and np.max(np.abs(d.real)) < 2047   # settled between its inner thresholds, no clipping


def test_pluto_uri_without_ip_scheme_says_what_to_write():
    from sdrkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"did you mean pluto:ip:192\.168\.2\.1\?"):
        open_radio("pluto:192.168.2.1")
