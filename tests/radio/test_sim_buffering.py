"""The simulated radio's buffering in realtime mode: how much it holds comes from the firmware
profile (or the ``rx_buffering`` / ``max_lag_blocks`` option), a caller lagging less loses
nothing, a caller lagging more loses exactly the excess, counted as an overflow."""

import time

import numpy as np
import pytest

import sdrkit.radio.sim as sim
from sdrkit.capture import write_recording
from sdrkit.errors import ConfigError
from sdrkit.profiles import RxBuffering, load_profile, profile_names
from sdrkit.radio import open_radio
from sdrkit.radio.sim import SimRadio

FS = 1e6
N = 1000          # samples per block: 1 ms at 1 MS/s


class FakeClock:
    """Stands in for the ``time`` module inside sim.py: sleeping advances it exactly."""

    def __init__(self):
        self.t = 500.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(sim, "time", c)
    return c


@pytest.fixture(scope="module")
def ramp_recording(tmp_path_factory):
    """Sample k of the recording is the complex number k (exact in complex64): a block's
    samples tell which stream indices it holds."""
    x = np.arange(50_000, dtype=np.float32).astype(np.complex64)
    return write_recording(tmp_path_factory.mktemp("rec") / "ramp", x, sample_rate=FS, center_frequency=100e6)


def _read(r, blocks):
    return [r.rx() for _ in range(blocks)]


def test_default_buffering_is_the_simulated_profiles():
    with open_radio(f"sim:?realtime=1&sample_rate={int(FS)}&rx_buffer_size={N}") as r:
        assert r.rx_buffering == load_profile("simulated").rx_buffering
        assert r.rx_buffering.seconds == pytest.approx(0.1)
        assert r.rx_buffer_blocks == 100 and r.rx_buffer_seconds == pytest.approx(0.1)


@pytest.mark.parametrize("name", [n for n in profile_names() if load_profile(n).rx_buffering is not None])
def test_buffering_is_taken_from_the_profile(name):
    prof = load_profile(name)
    with SimRadio(None, realtime=True, profile=prof) as r:
        c = r.config
        assert r.rx_buffering == prof.rx_buffering
        held = prof.rx_buffering.samples_at(c.sample_rate, c.rx_buffer_size)
        assert r.rx_buffer_blocks == max(1, held // c.rx_buffer_size)


def test_pluto_profile_holds_its_four_kernel_buffers_whatever_the_block_size():
    with open_radio("sim:?realtime=1&profile=pluto-ad9363&sample_rate=20e6&rx_buffer_size=16384") as r:
        assert r.rx_buffering.buffers == 4 and r.rx_buffer_blocks == 4
        assert r.rx_buffer_seconds == pytest.approx(4 * 16384 / 20e6)      # 3.3 ms
        r.rx_buffer_size = 4096
        assert r.rx_buffer_blocks == 4 and r.rx_buffer_seconds == pytest.approx(4 * 4096 / 20e6)


def test_uri_option_overrides_the_profile():
    with open_radio("sim:?realtime=1&profile=pluto-ad9363&rx_buffering=0.25&sample_rate=1e6&rx_buffer_size=1000") as r:
        assert r.rx_buffering.seconds == 0.25 and r.rx_buffer_blocks == 250
    with open_radio("sim:?realtime=1&max_lag_blocks=3") as r:
        assert r.rx_buffering.buffers == 3 and r.rx_buffer_blocks == 3
    with open_radio("sim:?realtime=1", rx_buffering=RxBuffering(samples=2500), rx_buffer_size=1000) as r:
        assert r.rx_buffer_blocks == 2          # whole blocks only


def test_a_buffer_shorter_than_one_block_still_holds_one():
    with open_radio(f"sim:?realtime=1&rx_buffering=1e-6&sample_rate={int(FS)}&rx_buffer_size={N}") as r:
        assert r.rx_buffer_blocks == 1


@pytest.mark.parametrize("query, match", [
    ("rx_buffering=0", r"rx_buffering seconds=0.0 must be a time > 0 s"),
    ("rx_buffering=-1", r"must be a time > 0 s"),
    ("rx_buffering=nan", r"must be a time > 0 s"),
    ("rx_buffering=inf", r"must be a time > 0 s"),
    ("rx_buffering=soon", r"rx_buffering='soon' is not a number"),
    ("max_lag_blocks=0", r"max_lag_blocks=0 must be a whole number of blocks >= 1"),
    ("max_lag_blocks=2.5", r"max_lag_blocks='2.5' is not an integer"),
    ("rx_buffering=0.1&max_lag_blocks=4", r"both say how much the radio holds; give one"),
])
def test_bad_buffering_options_are_refused(query, match):
    with pytest.raises(ConfigError, match=match):
        open_radio(f"sim:?realtime=1&{query}")


def test_a_reader_lagging_less_than_the_buffer_loses_nothing(clock, ramp_recording):
    with open_radio(f"sim:{ramp_recording}?realtime=1&rx_buffer_size={N}&max_lag_blocks=8") as r:
        first = _read(r, 3)
        clock.t += 7.5 * N / FS             # the caller stalls: 7 more blocks complete, the radio holds 8
        rest = _read(r, 20)
        blocks = first + rest
        assert all(b.lost == 0 and not b.overflow for b in blocks)
        assert r.samples_lost == 0 and r.overflows == 0
        assert [b.start for b in blocks] == [i * N for i in range(23)]
        x = np.concatenate([b.samples for b in blocks])
        assert np.array_equal(x.real, np.arange(23 * N, dtype=np.float32))     # every sample, in order


def test_a_reader_lagging_just_the_whole_buffer_loses_nothing(clock):
    with open_radio(f"sim:?realtime=1&sample_rate={int(FS)}&rx_buffer_size={N}&rx_buffering=0.008") as r:
        r.rx()
        clock.t += 8 * N / FS               # exactly 8 completed blocks waiting, 8 held
        assert r.rx().lost == 0 and r.samples_lost == 0


def test_a_reader_lagging_more_overflows_and_the_loss_is_counted_exactly(clock, ramp_recording):
    with open_radio(f"sim:{ramp_recording}?realtime=1&rx_buffer_size={N}&rx_buffering=0.008") as r:
        assert r.rx_buffer_blocks == 8
        _read(r, 2)                          # blocks 0, 1; block 2 completes at t0 + 3 ms
        t0 = clock.t - 2 * N / FS
        clock.t = t0 + 30.5e-3               # 30 blocks complete (0..29), 28 of them unread
        b = r.rx()
        # the radio holds 8 of the 28: the oldest 20 were lost; the next block is the oldest held
        assert b.overflow and b.lost == 20 * N
        assert b.start == 22 * N and np.array_equal(b.samples.real, np.arange(22 * N, 23 * N, dtype=np.float32))
        assert r.samples_lost == 20 * N and r.overflows == 1
        held = _read(r, 7)                    # the other 7 held blocks come at once, no loss, no wait
        assert clock.t == t0 + 30.5e-3
        assert [h.start for h in held] == [i * N for i in range(23, 30)] and not any(h.lost for h in held)
        nxt = r.rx()                          # then the radio paces again
        assert nxt.start == 30 * N and nxt.lost == 0 and clock.t == pytest.approx(t0 + 31e-3)
        assert r.samples_lost == 20 * N and r.overflows == 1
        # delivered + lost = the stream index: nothing unaccounted
        assert r.samples_received + r.samples_lost == 31 * N


def test_overflow_in_a_pluto_profile_follows_its_kernel_buffers(clock):
    with open_radio("sim:?realtime=1&profile=pluto-ad9363&sample_rate=1e6&rx_buffer_size=1000") as r:
        r.rx()
        clock.t += 10.2e-3                  # 10 unread blocks completed; a Pluto holds 4
        assert r.rx().lost == 6 * 1000 and r.samples_lost == 6000


def test_injected_overflow_still_drops_its_blocks_in_realtime(clock):
    with open_radio(f"sim:?realtime=1&sample_rate={int(FS)}&rx_buffer_size={N}&faults=overflow@2:3") as r:
        blocks = _read(r, 4)
        assert [b.lost for b in blocks] == [0, 0, 3 * N, 0]
        assert [b.start for b in blocks] == [0, N, 5 * N, 6 * N]


def test_multichannel_overflow_drops_the_same_blocks_on_every_channel(clock, tmp_path):
    x = np.stack([np.arange(20_000), -np.arange(20_000)]).astype(np.float32).astype(np.complex64)
    rec = write_recording(tmp_path / "two", x, sample_rate=FS, center_frequency=100e6)
    with open_radio(f"sim:{rec}?realtime=1&rx_buffer_size={N}&max_lag_blocks=2") as r:
        r.rx()
        clock.t += 5.5e-3                   # 5 completed blocks unread, 2 held
        b = r.rx()
        assert b.lost == 3 * N and b.start == 4 * N
        assert np.array_equal(b.samples[0].real, np.arange(4 * N, 5 * N)) and \
            np.array_equal(b.samples[1].real, -np.arange(4 * N, 5 * N))


def test_on_the_real_clock_a_short_stall_costs_nothing():
    # 0.1 s of buffering (the simulated profile's); a 20 ms stall is well inside it
    with open_radio(f"sim:?realtime=1&sample_rate={int(FS)}&rx_buffer_size=10000") as r:
        _read(r, 3)
        time.sleep(0.02)
        _read(r, 5)
        assert r.samples_lost == 0 and r.overflows == 0


def test_a_one_shot_replay_that_ends_while_the_reader_lags_reports_the_loss(clock, ramp_recording):
    """The end of a one-shot recording reached while the caller was behind: the samples dropped
    on the way are reported (an empty block carrying them), then the end of the recording."""
    with open_radio(f"sim:{ramp_recording}?loop=0&realtime=1&rx_buffer_size={N}&rx_buffering=0.008") as r:
        _read(r, 2)
        clock.t += 80e-3                      # 80 more blocks would have completed: past the 50-block recording
        got = []
        with pytest.raises(EOFError):
            while True:
                got.append(r.rx())
        assert sum(len(b.samples) for b in got) + sum(b.lost for b in got) == 48 * N
        assert got[-1].lost > 0 and r.samples_lost == sum(b.lost for b in got) > 0
        assert r.samples_received + r.samples_lost == 50 * N          # nothing unaccounted
