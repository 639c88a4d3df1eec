"""A subscriber that receives only messages it must reject (GNU Radio's bare complex64, another
sdrkit stream) times out saying what it saw and how to accept it (issue 20, streams from GNU Radio)."""

import threading
import time

import numpy as np
import pytest
import zmq

from sdrkit.errors import RadioTimeout
from sdrkit.radio import open_radio
from sdrkit.stream import Publisher


@pytest.fixture
def raw_pub():
    """A bare ZeroMQ PUB socket sending 4096-sample complex64 messages every 10 ms, as GNU Radio's
    zeromq.pub_sink(itemsize 8) does."""
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()
    x = (0.5 * np.exp(2j * np.pi * 0.01 * np.arange(4096))).astype(np.complex64)

    def run():
        while not stop.is_set():
            pub.send(x.tobytes())
            time.sleep(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield f"tcp://127.0.0.1:{port}", x
    stop.set()
    t.join(2)
    pub.close()


def test_only_bare_complex64_times_out_naming_raw_mode(raw_pub):
    ep, _ = raw_pub
    t0 = time.monotonic()
    with pytest.raises(RadioTimeout) as err:
        open_radio(f"zmq:{ep}?timeout=1")
    assert time.monotonic() - t0 < 10                    # messages kept arriving: it still timed out
    msg = str(err.value)
    assert "malformed" in msg and "looked like bare complex64" in msg and "GNU Radio" in msg
    assert f"zmq:{ep}?raw=1&rate=RATE&freq=HZ" in msg


def test_the_suggested_raw_uri_accepts_the_stream(raw_pub):
    ep, x = raw_pub
    with open_radio(f"zmq:{ep}?raw=1&rate=1e6&freq=915e6&timeout=2") as r:
        b = r.rx()
        assert r.sample_rate == 1e6 and r.rx_lo == 915e6
    assert np.array_equal(b.samples, x) and b.start == 0


def test_another_streams_messages_time_out_naming_the_stream_option():
    with Publisher("tcp://127.0.0.1:*", stream="other") as pub:
        stop = threading.Event()

        def run():
            i = 0
            while not stop.is_set():
                pub.send(np.zeros(256, np.complex64), i, 1e6, 0.0)
                i += 256
                time.sleep(0.01)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        try:
            with pytest.raises(RadioTimeout, match=r"foreign.*pass its name with \?stream=NAME"):
                open_radio(f"zmq:{pub.endpoint}?stream=iq&timeout=1")
        finally:
            stop.set()
            t.join(2)


def test_a_stream_that_turns_foreign_midway_says_so_at_the_timeout():
    from sdrkit.stream import wire

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    bare, stop = threading.Event(), threading.Event()
    x = np.zeros(512, np.complex64)

    def run():
        seq = 0
        while not stop.is_set():
            if bare.is_set():                            # then only bare complex64 arrives
                sock.send(x.tobytes())
            else:
                h = wire.Header(wire.stream_id("iq"), 1, seq, seq * len(x), len(x), 1e6, 0.0)
                sock.send_multipart(wire.encode(h, x))
                seq += 1
            time.sleep(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        with open_radio(f"zmq:tcp://127.0.0.1:{port}?timeout=1") as r:
            r.rx()
            bare.set()
            with pytest.raises(RadioTimeout, match=r"within 1 s: \d+ message\(s\) arrived but none.*bare complex64"):
                for _ in range(1000):
                    r.rx()
    finally:
        stop.set()
        t.join(2)
        sock.close()
