"""RX throughput from the virtual Pluto through libiio, beside raw TCP loopback of the same bytes."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark, best_rate


def _tcp_ceiling(nbytes: int, seconds: float) -> float:
    """Bytes/s of a plain TCP loopback stream in ``nbytes`` messages (sender thread, recv_into)."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    payload = memoryview(bytes(nbytes))
    stop = threading.Event()

    def sender():
        c, _ = srv.accept()
        with c:
            while not stop.is_set():
                try:
                    c.sendall(payload)
                except OSError:
                    return

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    rx = socket.create_connection(("127.0.0.1", port))
    buf = bytearray(nbytes)
    mv = memoryview(buf)

    def recv_one():
        got = 0
        while got < nbytes:
            got += rx.recv_into(mv[got:], nbytes - got)
        return nbytes

    rate = best_rate(recv_one, seconds)
    stop.set()
    rx.close()
    srv.close()
    return rate


@benchmark("pluto_rx")
def pluto_rx(ctx: BenchContext) -> list[Result]:
    """Virtual Pluto RX MS/s via libiio (iio.Buffer refill+read) and via pyadi-iio rx()."""
    import iio

    import adi

    from sdrkit.capture import write_recording
    from sdrkit.radio.emulator import PlutoEmulator

    n = 2 ** 16 if ctx.quick else 2 ** 18
    rng = np.random.default_rng(0)
    x = (0.2 * (rng.standard_normal(2 ** 20) + 1j * rng.standard_normal(2 ** 20))).astype(np.complex64)
    with tempfile.TemporaryDirectory() as d:
        meta = write_recording(Path(d) / "r", x, sample_rate=20e6, center_frequency=2.4e9)
        with PlutoEmulator(meta, port=0) as emu:
            c = iio.Context(emu.uri)
            dev = c.find_device("cf-ad9361-lpc")
            for ch in dev.channels:
                ch.enabled = True
            buf = iio.Buffer(dev, n)

            def refill():
                buf.refill()
                buf.read()
                return n

            rate = best_rate(refill, ctx.seconds)
            del buf
            sdr = adi.Pluto(emu.uri)
            sdr.rx_buffer_size = n
            rate_adi = best_rate(lambda: len(sdr.rx()), ctx.seconds)
            sdr.rx_destroy_buffer()
    ceiling = _tcp_ceiling(n * 4, ctx.seconds) / 4
    return [
        Result("virtual Pluto RX via libiio", rate / 1e6, "MS/s", ceiling / 1e6, "raw TCP loopback, same bytes",
               target=20.0, notes=f"{n}-sample buffers, ci16 I+Q (4 B/sample); Pluto USB 2.0 sustains ~6 MS/s"),
        Result("virtual Pluto RX via pyadi-iio rx()", rate_adi / 1e6, "MS/s", ceiling / 1e6,
               "raw TCP loopback, same bytes", notes="includes pyadi-iio's int16 -> complex128 conversion"),
    ]
