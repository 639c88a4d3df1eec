"""The virtual Pluto against hostile or broken clients, over real TCP sockets (issue 11).

No pyadi-iio here: raw IIOD lines, so each test says exactly what a client sent.
"""

import re
import socket

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
    with PlutoEmulator(rec, port=0) as e:
        yield e


class Client:
    """A raw IIOD connection: send lines, read integer and buffer replies."""

    def __init__(self, emu, timeout: float = 10):
        self.s = socket.create_connection((emu.host, emu.port), timeout=timeout)
        self.f = self.s.makefile("rb")

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
