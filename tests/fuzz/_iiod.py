"""Fuzz target: the virtual Pluto's IIOD server, over TCP.

The server (:class:`~sdrkit.radio.emulator.PlutoEmulator`, replaying a small recording) runs
in this process on ``127.0.0.1`` port 0 and lives across inputs, as ``sdrkit emulate pluto``
does: settings, TX waves and buffers that one input leaves behind meet the next.

An input is a :func:`~tests.fuzz._core.pack` of chunks (command lines and binary payloads)
that one client connection sends in order before it half-closes; the harness reads every
reply until the server hangs up. Then a second, long-lived probe connection must still get
``VERSION`` right and a 64-sample RX buffer (so one client cannot deny RX to the others).

A crash is: an exception escaping a connection's handler or logged by the server as an
internal error, a probe that gets no valid answer, a server thread that died, or more than
2 s for input plus probe. Seeds are the exchanges libiio has with a Pluto (context, attribute
reads and writes, an RX and a cyclic TX buffer); mutations swap tokens for hostile ones
(huge or negative counts, bad masks, other devices, rates up to 61.44 MS/s, oversize lines),
insert or drop commands, cut payloads short (a client vanishing mid-buffer) and damage bytes.
"""

from __future__ import annotations

import logging
import random
import socket
import tempfile
import threading
from pathlib import Path

import numpy as np

from tests.fuzz._core import HANG_WALL_S, ServerDown, mutate_bytes, pack, unpack

RX, TX, PHY = "iio:device3", "iio:device2", "iio:device0"
NUMBERS = ["0", "1", "-1", "4", "64", "1023", "1024", "4096", "4097", "65536", "1048576", "268435456",
           "268435457", "2147483648", "18446744073709551616", "9" * 40, "9" * 5000, "1e9", "0x10", "", "+5",
           "61440000", "520000", "70000000", "6000000000", "325000000", "nan", "inf"]
DEVICES = [PHY, "iio:device1", TX, RX, "iio:device4", "ad9361-phy", "cf-ad9361-lpc", "xadc", "", "iio:",
           "../iio:device0", "iio:device3\x00", "IIO:DEVICE3"]
MASKS = ["00000003", "00000001", "00000002", "00000000", "ffffffff", "0000000f", "00000004", "0000003",
         "000000003", "0000000g", "-0000001"]
ATTRS = [("INPUT", "voltage0", "hardwaregain"), ("INPUT", "voltage0", "gain_control_mode"),
         ("INPUT", "voltage0", "sampling_frequency"), ("INPUT", "voltage0", "rf_bandwidth"),
         ("OUTPUT", "altvoltage0", "frequency"), ("OUTPUT", "altvoltage1", "frequency"),
         ("OUTPUT", "voltage0", "hardwaregain"), ("INPUT", "voltage0", "rssi"), ("DEBUG", None, "loopback"),
         ("BUFFER", None, "data_available"), (None, None, "filter_fir_config"), (None, None, "calib_mode"),
         ("INPUT", "voltage9", "raw"), ("OUTPUT", "RX_LO", "frequency")]
VALUES = ["915000000", "2400000000", "6000000000", "70000000", "61440000", "520000", "1000000", "30", "80",
          "-90", "manual", "slow_attack", "fast_attack", "hybrid", "bogus", "", "nan", "1e400", "-0",
          "9" * 5000, "A" * 1023, "A" * 1024, "\xff\xfe", "1\x00junk"]


def _attr_tokens(rnd: random.Random) -> str:
    kind, ch, name = rnd.choice(ATTRS)
    dev = PHY if rnd.random() < 0.8 else rnd.choice(DEVICES)
    return " ".join(t for t in (dev, kind, ch, name) if t)


def _write(tokens: str, value: bytes, claimed: int | None = None) -> list[bytes]:
    n = len(value) if claimed is None else claimed
    return [f"WRITE {tokens} {n}\r\n".encode(), value]


def random_command(rnd: random.Random) -> list[bytes]:
    """One command (and its payload) from the IIOD grammar, with hostile tokens."""
    op = rnd.randrange(13)
    num, dev, mask = rnd.choice(NUMBERS), rnd.choice(DEVICES), rnd.choice(MASKS)
    if op == 0:
        return [rnd.choice([b"VERSION\n", b"PRINT\n", b"ZPRINT\n", b"BINARY\n", b"HELP\n", b"EXIT\n", b"\n",
                            b"\r\n", b"   \n", b"NOPE\n", b"version\n"])]
    if op == 1:
        return [f"TIMEOUT {num}\n".encode()]
    if op == 2:
        return [f"READ {_attr_tokens(rnd)}\n".encode()]
    if op == 3:
        v = rnd.choice(VALUES).encode("utf-8", "surrogateescape") + rnd.choice([b"\0", b""])
        claimed = None if rnd.random() < 0.7 else int(rnd.choice(["0", "1", "5", "4096", "4097", "1048577"]))
        return _write(_attr_tokens(rnd), v, claimed)
    if op == 4:
        return [f"OPEN {rnd.choice([RX, TX, dev])} {num} {mask}{rnd.choice(['', ' CYCLIC', ' cyclic', ' X'])}\n"
                .encode()]
    if op == 5:
        return [f"CLOSE {rnd.choice([RX, TX, dev])}\n".encode()]
    if op == 6:
        return [f"READBUF {rnd.choice([RX, RX, dev])} {rnd.choice(NUMBERS[:14])}\n".encode()]
    if op == 7:
        n = int(rnd.choice(["0", "4", "8", "1024", "4096", "6", "65536"]))
        data = np.random.default_rng(rnd.randrange(1 << 30)).integers(-2048, 2048, n // 2, dtype=np.int16)
        payload = (data.astype("<i2").tobytes() + b"\x01" * (n % 2))[: rnd.choice([n, n, n, n // 2, 0])]
        return [f"WRITEBUF {rnd.choice([TX, TX, dev])} {rnd.choice([str(n), str(n), num])}\n".encode(), payload]
    if op == 8:
        return [f"GETTRIG {dev}\n".encode()]
    if op == 9:
        return [f"SETTRIG {dev} {rnd.choice(['', 'trigger0', dev])}\n".encode()]
    if op == 10:
        return [f"SET {dev} {rnd.choice(['BUFFERS_COUNT', 'buffers_count', 'X'])} {num}\n".encode()]
    if op == 11:
        return [b"READ " + b"A" * rnd.choice([4095, 4096, 5000, 1 << 20]) + b"\n"]
    return [bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 40))) + b"\n"]


class IiodTarget:
    name = "iiod"

    def __init__(self):
        self.emu = None
        self.errors: list[BaseException | str] = []
        self._probe = None

    # ---- inputs ----------------------------------------------------------------------------
    def seeds(self) -> list[bytes]:
        w = np.exp(2j * np.pi * 0.01 * np.arange(512)) * 1000
        tx = np.stack([w.real, w.imag]).T.astype("<i2").tobytes()     # interleaved I, Q int16
        ctrl = [b"VERSION\r\n", b"TIMEOUT 5000\r\n", b"PRINT\r\n"]
        attrs = [b"READ iio:device0 INPUT voltage0 hardwaregain\r\n",
                 *_write("iio:device0 INPUT voltage0 gain_control_mode", b"manual\0"),
                 *_write("iio:device0 INPUT voltage0 hardwaregain", b"42\0"),
                 *_write("iio:device0 OUTPUT altvoltage0 frequency", b"2400000000\0"),
                 *_write("iio:device0 INPUT voltage0 sampling_frequency", b"3000000\0"),
                 b"READ iio:device0 OUTPUT altvoltage0 frequency\r\n"]
        rx = [b"SET iio:device3 BUFFERS_COUNT 4\r\n", b"OPEN iio:device3 1024 00000003\r\n",
              b"READBUF iio:device3 4096\r\n", b"READBUF iio:device3 4096\r\n", b"CLOSE iio:device3\r\n"]
        txs = [b"OPEN iio:device2 512 00000003 CYCLIC\r\n", f"WRITEBUF iio:device2 {len(tx)}\r\n".encode(), tx,
               b"OPEN iio:device3 256 00000001\r\n", b"READBUF iio:device3 512\r\n", b"CLOSE iio:device2\r\n"]
        return [pack(ctrl), pack(attrs), pack(rx), pack(txs), pack(ctrl + rx + [b"EXIT\r\n"])]

    def mutate(self, data: bytes, rnd: random.Random) -> bytes:
        chunks = unpack(data) or [b"VERSION\n"]
        for _ in range(rnd.choice([1, 1, 2, 3])):
            i = rnd.randrange(len(chunks))
            op = rnd.random()
            if op < 0.35:                                        # a token swapped for a hostile one
                toks = chunks[i].rstrip(b"\r\n").split(b" ")
                if len(toks) > 1 and not b"\0" in chunks[i][-1:]:
                    k = rnd.randrange(1, len(toks))
                    pool = rnd.choice([NUMBERS, DEVICES, MASKS, VALUES])
                    toks[k] = rnd.choice(pool).encode("utf-8", "surrogateescape")
                    chunks[i] = b" ".join(toks) + rnd.choice([b"\n", b"\r\n", b""])
                else:
                    chunks[i] = mutate_bytes(chunks[i], rnd)
            elif op < 0.6:                                       # a command inserted
                chunks[i:i] = random_command(rnd)
            elif op < 0.7 and len(chunks) > 1:                   # a chunk dropped
                del chunks[i]
            elif op < 0.8:                                       # cut short: the client vanishes
                chunks = chunks[:i] + [chunks[i][: rnd.randrange(len(chunks[i]) + 1)]]
            elif op < 0.9 and len(chunks) < 64:                   # repeated
                chunks[i:i] = [chunks[i]] * rnd.randint(1, 4)
            else:
                chunks[i] = mutate_bytes(chunks[i], rnd)
        return pack(chunks[:64])

    # ---- running ---------------------------------------------------------------------------
    def start(self) -> None:
        from sdrkit.capture import write_recording
        from sdrkit.radio.emulator import PlutoEmulator

        self._tmp = tempfile.TemporaryDirectory(prefix="sdrkit-fuzz-iiod-")
        x = (0.5 * np.exp(2j * np.pi * 0.05 * np.arange(20_000))).astype(np.complex64)
        rec = write_recording(Path(self._tmp.name) / "tone", x, sample_rate=2e6, center_frequency=915e6)
        self.emu = PlutoEmulator(rec, port=0).start()
        errors = self.errors

        def handle_error(request, client_address):          # an exception escaped a handler
            import sys

            errors.append(sys.exc_info()[1])

        self.emu.server.handle_error = handle_error

        class Internal(logging.Handler):                      # the server logged an internal error
            def emit(self, record):
                if record.levelno >= logging.ERROR:
                    errors.append(record.exc_info[1] if record.exc_info else record.getMessage())

        self._log_handler = Internal()
        logging.getLogger("sdrkit.emulator").addHandler(self._log_handler)
        self._open_probe()

    def _open_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
        self._probe = socket.create_connection((self.emu.host, self.emu.port), timeout=HANG_WALL_S)
        self._probe_file = self._probe.makefile("rb")
        self._probe.sendall(b"OPEN iio:device3 64 00000003\r\n")
        if self._probe_file.readline() != b"0\n":
            raise ServerDown("the probe connection could not open the RX buffer")

    def execute(self, data: bytes) -> None:
        if self.emu is None:
            self.start()
        chunks = unpack(data)
        with socket.create_connection((self.emu.host, self.emu.port), timeout=HANG_WALL_S) as s:
            try:
                for c in chunks:
                    if c:
                        s.sendall(c)
                s.shutdown(socket.SHUT_WR)
                while s.recv(1 << 20):
                    pass
            except OSError:
                pass                                       # the server hung up first: allowed
        self.check_server()

    def check_server(self) -> None:
        """The probe still gets valid answers and no handler broke; else a crash."""
        from sdrkit.radio.emulator.server import VERSION_LINE

        if self.errors:
            err = self.errors[:]
            self.errors.clear()
            if isinstance(err[0], BaseException):
                raise err[0]
            raise ServerDown(f"the server logged an internal error: {err[0]}")
        if not self.emu._thread.is_alive():
            raise ServerDown("the server thread died")
        try:
            self._probe.sendall(b"VERSION\r\nREADBUF iio:device3 256\r\n")
            f = self._probe_file
            if f.readline() != VERSION_LINE:
                raise ServerDown("VERSION got a wrong answer")
            head = f.readline()
            if head != b"256\n":
                raise ServerDown(f"READBUF of 256 bytes on another connection got {head!r}")
            if f.readline() != b"00000003\n" or len(f.read(256)) != 256:
                raise ServerDown("READBUF answered a wrong mask or a short buffer")
        except OSError as exc:
            self._open_probe()
            raise ServerDown(f"the probe connection failed: {exc}") from exc

    def recover(self) -> None:
        """After a hang: a fresh probe (its stream may be out of step)."""
        if self.emu is None:
            return
        try:
            self._open_probe()
        except (OSError, ServerDown):
            pass

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
        if self.emu is not None:
            logging.getLogger("sdrkit.emulator").removeHandler(self._log_handler)
            self.emu.stop()
            self.emu = None
