"""The virtual Pluto against hostile or broken clients, over real TCP sockets (issue 11).

No pyadi-iio here: raw IIOD lines, so each test says exactly what a client sent.
"""

import re
import socket
import threading
import time

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.dsp import tone
from sdrkit.errors import DeviceError
from sdrkit.radio.emulator import PlutoEmulator, VirtualPluto

FS, FC = 1e6, 915e6


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    x = tone(100_000, 100e3 / FS, amplitude=0.5)
    return write_recording(tmp_path_factory.mktemp("hostile") / "tone", x, sample_rate=FS, center_frequency=FC)


@pytest.fixture
def emu(rec):
    with PlutoEmulator(rec, port=0, pace=False) as e:   # protocol robustness: as fast as possible
        yield e


_CLIENTS: list = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


class Client:
    """A raw IIOD connection: send lines, read integer and buffer replies (closed after each test)."""

    def __init__(self, emu, timeout: float = 10):
        self.s = socket.create_connection((emu.host, emu.port), timeout=timeout)
        self.f = self.s.makefile("rb")
        _CLIENTS.append(self)

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def int_reply(self) -> int:
        line = self.f.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        return int(line)

    def cmd(self, line: str) -> int:
        self.send(line.encode() + b"\r\n")
        return self.int_reply()

    def read(self, attr_line: str) -> bytes:
        self.send(attr_line.encode() + b"\r\n")
        n = self.int_reply()
        assert n > 0, f"{attr_line!r} -> {n}"
        return self.f.read(n + 1)[:n]

    def readbuf(self, nbytes: int) -> np.ndarray:
        """READBUF on iio:device3 (I+Q opened); the chunks joined into int16 I/Q."""
        self.send(b"READBUF iio:device3 %d\r\n" % nbytes)
        parts, got, first = [], 0, True
        while got < nbytes:
            n = self.int_reply()
            if n <= 0:
                if first:
                    return n
                break
            if first:
                assert self.f.readline() == b"00000003\n"
                first = False
            parts.append(self.f.read(n))
            got += n
        return np.frombuffer(b"".join(parts), "<i2")

    def close(self) -> None:
        self.f.close()
        self.s.close()


def _open_rx(emu, samples: int = 1024) -> Client:
    c = Client(emu)
    assert c.cmd(f"OPEN iio:device3 {samples} 00000003") == 0
    return c


def _rx_works(emu) -> None:
    c = _open_rx(emu)
    d = c.readbuf(4096)
    assert isinstance(d, np.ndarray) and d.size == 2048, f"READBUF -> {d!r}"
    c.close()


# ---- item 2: one client must not deny RX to the others -------------------------------------------

def test_empty_writebuf_is_refused_and_rx_keeps_working_for_others(emu):
    tx = Client(emu)
    assert tx.cmd("OPEN iio:device2 4096 00000003") == 0
    assert tx.cmd("WRITEBUF iio:device2 0") == -22           # refused before the go-ahead
    assert emu.pluto.tx_wave is None
    _rx_works(emu)                                           # another client, while tx stays open
    assert tx.cmd("TIMEOUT 100") == 0                        # and the refused client goes on
    tx.close()
    _rx_works(emu)


def test_error_inside_a_command_answers_that_client_and_is_counted(emu, monkeypatch):
    def broken(self, n):
        raise DeviceError("injected: the RX source failed")

    c = _open_rx(emu)
    errors = emu.pluto.stats["errors"]
    with monkeypatch.context() as m:
        m.setattr(VirtualPluto, "read_samples", broken)
        assert c.readbuf(4096) == -5                          # EIO, to this client only
        assert emu.pluto.stats["errors"] == errors + 1
        assert c.cmd("TIMEOUT 100") == 0                      # its connection goes on
    assert c.readbuf(4096).size == 2048
    c.close()
    _rx_works(emu)


def test_a_bug_in_a_handler_drops_only_that_connection(emu, monkeypatch):
    def buggy(self, n):
        raise ZeroDivisionError("injected bug")

    other = _open_rx(emu)
    c = _open_rx(emu)
    errors = emu.pluto.stats["errors"]
    with monkeypatch.context() as m:
        m.setattr(VirtualPluto, "read_samples", buggy)
        assert c.readbuf(4096) == -5
        with pytest.raises(ConnectionError):
            c.int_reply()                                     # that connection was closed
    assert emu.pluto.stats["errors"] == errors + 1
    assert other.readbuf(4096).size == 2048                   # the other client never noticed
    other.close()
    _rx_works(emu)


# ---- item 9: a port that cannot be served is a ConfigError, not a traceback ------------------------

@pytest.mark.parametrize("port", [65536, 70000, -1])
def test_port_out_of_range_is_a_config_error(rec, port):
    from sdrkit.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"port={port} is not a TCP port: choose one in 0\.\.65535"):
        PlutoEmulator(rec, port=port)


def test_port_in_use_is_a_config_error_naming_it(rec):
    from sdrkit.errors import ConfigError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"cannot serve the virtual Pluto on 127\.0\.0\.1:{port}: .*"
                                              r"stop it, or choose another --port") as ei:
            PlutoEmulator(rec, port=port)
        assert isinstance(ei.value.__cause__, OSError)


@pytest.mark.parametrize("port, match", [("70000", r"port=70000 is not a TCP port"),
                                         (None, r"cannot serve the virtual Pluto on 127\.0\.0\.1:\d+")])
def test_emulate_verb_reports_a_bad_port_without_a_traceback(rec, capsys, port, match):
    from sdrkit.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = port or str(busy.getsockname()[1])
        assert main(["emulate", "pluto", "--replay", str(rec), "--port", port]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("ConfigError: ") and len(err.strip().splitlines()) == 1
    assert re.search(match, err)


# ---- item 8: bounded work per request, per connection count, and no global stall ------------------

def test_oversize_buffers_are_refused_before_any_work(emu):
    c = Client(emu)
    assert c.cmd("OPEN iio:device3 16777217 00000003") == -12      # past the profile's rx_buffer_size max
    assert c.cmd("OPEN iio:device3 1024 00000003") == 0
    assert c.readbuf(256 << 20) == -22                               # more than the opened buffer
    assert c.readbuf(4096 + 4) == -22
    assert c.readbuf(4096).size == 2048
    tx = Client(emu)
    assert tx.cmd("OPEN iio:device2 256 00000003") == 0
    assert tx.cmd("WRITEBUF iio:device2 2048") == -22                # 512 samples into a 256-sample buffer
    assert emu.pluto.tx_wave is None
    c.close()
    tx.close()


def _write(c: Client, attr: str, value: bytes) -> int:
    c.send(f"WRITE iio:device0 {attr} {len(value)}\r\n".encode() + value)
    return c.int_reply()


def test_attribute_writes_are_bounded_and_validated(emu):
    c = Client(emu)
    ensm = "ensm_mode"
    assert _write(c, ensm, b"x" * 5000) == -22                     # past one sysfs page: skipped, in step
    assert _write(c, ensm, b"f" * 2000 + b"\0") == -22             # would not fit a read (1023 bytes)
    assert _write(c, ensm, b"bogus\0") == -22                      # not in ensm_mode_available
    assert _write(c, ensm, b"alert\0") == 6
    assert c.read(f"READ iio:device0 {ensm}") == b"alert\0"
    assert _write(c, "DEBUG loopback", b"two\0") == -22            # a numeric attribute stays numeric
    assert _write(c, "DEBUG loopback", b"1\0") == 2
    assert _write(c, "xo_correction", b"50000000\0") == -22        # outside [39992159 1 40008159]
    for bad in (b"3e1", b"30 junk", b"nan", b"9" * 30, b""):           # the whole value is the number
        assert _write(c, "INPUT voltage0 hardwaregain", bad + b"\0") == -22, bad
    assert _write(c, "INPUT voltage0 hardwaregain", b"31.0\n\0") == 6
    assert c.read("READ iio:device0 INPUT voltage0 hardwaregain") == b"31.000000 dB\0"
    assert _write(c, "INPUT voltage9 hardwaregain", b"1\0") == -2  # refused target: payload skipped
    assert c.cmd("TIMEOUT 100") == 0                               # still in step after every refusal
    c.send(b"WRITE iio:device0 ensm_mode 999999999\r\n")           # a payload too long to skip
    assert c.int_reply() == -22
    with pytest.raises(ConnectionError):
        c.int_reply()
    _rx_works(emu)


def test_fir_config_reads_back_as_the_driver_summary(emu):
    taps = "".join(f"{t},{t}\n" for t in 300 * np.r_[np.arange(-64, 0), np.arange(64, 0, -1)])
    fir = f"RX 3 GAIN -6 DEC 4\nTX 3 GAIN 0 INT 4\n{taps}\n".encode() + b"\0"
    assert len(fir) > 1023
    c = Client(emu)
    assert _write(c, "filter_fir_config", fir) == len(fir)
    assert c.read("READ iio:device0 filter_fir_config") == b"FIR Rx: 128,4 Tx: 128,4\0"
    assert _write(c, "filter_fir_config", b"RX 3 GAIN -6 DEC 4\n1,2,3\n\0") == -22
    assert _write(c, "filter_fir_config", b"RX 3 GAIN -6 DEC 4\n99999,0\n\0") == -22
    c.close()


def test_connections_are_bounded_and_extra_ones_refused_cleanly(rec):
    with PlutoEmulator(rec, port=0, max_connections=3) as emu:
        held = [Client(emu) for _ in range(3)]
        for c in held:
            assert c.cmd("TIMEOUT 100") == 0
        extra = Client(emu)
        assert extra.int_reply() == -16                              # EBUSY, then closed
        with pytest.raises(ConnectionError):
            extra.int_reply()
        assert emu.pluto.stats["refused_connections"] == 1
        held.pop().close()
        for _ in range(50):                                          # its thread ends asynchronously
            c = Client(emu)
            try:
                if c.cmd("TIMEOUT 100") == 0:
                    break
            except ConnectionError:
                pass
            c.close()
            time.sleep(0.05)
        else:
            pytest.fail("a freed connection slot was never reused")
        assert held[0].cmd("TIMEOUT 100") == 0


def test_a_second_client_is_served_while_a_first_reads_a_large_buffer(emu, monkeypatch):
    """The RX source is made slow (2 s per 4 Mi samples); the other client must not wait for it."""
    from sdrkit.radio.sim import SimRadio

    rx, started = SimRadio.rx, threading.Event()

    def slow_rx(self):
        if self.rx_buffer_size > 1024:
            started.set()
            time.sleep(self.rx_buffer_size / 2e6)
        return rx(self)

    monkeypatch.setattr(SimRadio, "rx", slow_rx)
    n = 1 << 22
    big, done = _open_rx(emu, n), {}

    def read_big():
        d = big.readbuf(4 * n)
        done["t"], done["size"] = time.monotonic(), d.size

    t = threading.Thread(target=read_big)
    t.start()
    assert started.wait(10)
    other = _open_rx(emu)
    t0 = time.monotonic()
    assert other.read("READ iio:device0 OUTPUT altvoltage0 frequency") == str(int(FC)).encode() + b"\0"
    t_read = time.monotonic() - t0
    assert other.readbuf(4096).size == 2048
    t_rx = time.monotonic()
    t.join(30)
    assert done["size"] == 2 * n
    assert t_read < 0.5, f"an attribute READ waited {t_read:.2f} s behind another client's buffer"
    assert t_rx < done["t"], "a 1024-sample RX buffer waited for another client's 4 Mi-sample buffer"
    big.close()
    other.close()


def test_a_large_readbuf_is_made_in_bounded_memory(emu):
    import tracemalloc

    n = 1 << 22                                                    # 16 MiB on the wire
    c = _open_rx(emu, n)
    assert c.readbuf(4096).size == 2048                            # warm up: the source is built
    tracemalloc.start()
    try:
        c.send(b"READBUF iio:device3 %d\r\n" % (4 * n))
        got, first = 0, True
        while got < 4 * n:
            k = c.int_reply()
            assert k > 0
            if first:
                c.f.readline()
                first = False
            left = k
            while left:
                left -= len(c.f.read(min(left, 1 << 16)))
            got += k
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == 4 * n
    assert peak < 24 << 20, f"{peak / 2**20:.0f} MiB traced for a 16 MiB buffer"
    c.close()


def test_a_retune_that_resamples_does_not_stall_other_clients_settings(emu, monkeypatch):
    """A rate change makes the next RX buffer retune (resample) the replay, made slow here."""
    from sdrkit.radio.sim import SimRadio

    configure, started = SimRadio.configure, threading.Event()

    def slow_configure(self, *a, **k):
        started.set()
        time.sleep(2.0)
        return configure(self, *a, **k)

    a = _open_rx(emu)
    assert a.readbuf(4096).size == 2048                            # the source exists: the next is a retune
    monkeypatch.setattr(SimRadio, "configure", slow_configure)
    ctl = Client(emu)
    assert _write(ctl, "INPUT voltage0 sampling_frequency", b"4000000\0") == 8
    t = threading.Thread(target=a.readbuf, args=(4096,))
    t.start()
    assert started.wait(10)
    t0 = time.monotonic()
    assert ctl.read("READ iio:device0 INPUT voltage0 sampling_frequency") == b"4000000\0"
    assert _write(ctl, "OUTPUT voltage0 hardwaregain", b"-5\0") == 3
    waited = time.monotonic() - t0
    t.join(30)
    assert waited < 0.5, f"settings waited {waited:.2f} s behind another client's retune"
    a.close()
    ctl.close()
