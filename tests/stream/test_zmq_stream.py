"""ZeroMQ streaming over real tcp loopback sockets: delivery, loss accounting, bad input, restarts."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq

from sdrkit.capture import open_recording
from sdrkit.cli import main
from sdrkit.errors import ConfigError, RadioTimeout
from sdrkit.radio import open_radio
from sdrkit.stream import Publisher, Subscriber, wire

X = (np.arange(1000) * (1 + 1j)).astype(np.complex64)


def _publish_later(pub, n, delay=0.3, gap_at=None, every=0.005):
    def run():
        time.sleep(delay)
        first = 0
        for i in range(n):
            if gap_at is not None and i == gap_at:
                pub.seq += 2            # two messages "lost" on the way
                first += 2000
            try:
                pub.send(X, first, 1e6, 915e6)
            except zmq.ZMQError:        # the test closed the publisher: stop quietly
                return
            first += len(X)
            time.sleep(every)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_pub_sub_delivers_blocks_with_indices_and_counts_sequence_gaps():
    with Publisher("tcp://127.0.0.1:*", stream="s") as pub:
        _publish_later(pub, 10, gap_at=4)
        with open_radio(f"zmq:{pub.endpoint}?stream=s") as r:
            blocks = [r.rx() for _ in range(8)]
            assert r.sample_rate == 1e6 and r.rx_lo == 915e6
            assert [b.start for b in blocks] == [0, 1000, 2000, 3000, 6000, 7000, 8000, 9000]
            assert blocks[4].lost == 2000 and blocks[4].gap
            assert np.array_equal(blocks[0].samples, X)
            assert r.stats.lost_messages == 2 and r.samples_lost == 2000


def test_push_pull_is_lossless():
    with Subscriber("tcp://127.0.0.1:0", pattern="pull", bind=True) as sub:
        ep = sub.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        with Publisher(ep, pattern="push", connect=True) as pub:
            for i in range(200):
                pub.send(X, i * 1000, 1e6, 0.0)
            got = [sub.recv(2000) for _ in range(200)]
    assert all(m is not None for m in got) and sub.stats.lost_messages == 0 and sub.stats.samples == 200_000


def test_malformed_oversize_and_foreign_messages_are_rejected_and_counted():
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = Subscriber(f"tcp://127.0.0.1:{port}", stream="mine", max_samples=4096)
    time.sleep(0.3)
    good = wire.Header(wire.stream_id("mine"), 1, 0, 0, len(X), 1e6, 0.0)
    foreign = wire.Header(wire.stream_id("other"), 1, 0, 0, len(X), 1e6, 0.0)
    big = wire.Header(wire.stream_id("mine"), 1, 0, 0, 5000, 1e6, 0.0)
    pub.send_multipart([b"garbage", b"x"])
    pub.send_multipart([good.pack()[:-1] + b"\x07", X.tobytes()[:-8]])
    pub.send_multipart(wire.encode(foreign, X))
    pub.send_multipart(wire.encode(big, np.zeros(5000, np.complex64)))
    pub.send_multipart(wire.encode(good, X))
    m = sub.recv(2000)
    assert m is not None and np.array_equal(m.samples, X)
    assert sub.stats.rejected == {"malformed": 2, "oversize": 1, "foreign": 1}
    sub.close()
    pub.close()


def test_publisher_restart_is_reported_as_a_gap():
    pub = Publisher("tcp://127.0.0.1:*", stream="r")
    ep = pub.endpoint
    _publish_later(pub, 3).join()
    sub = Subscriber(ep, stream="r")
    _publish_later(pub, 3, delay=0.3).join()
    got = [sub.recv(2000) for _ in range(3)]
    pub.close()
    time.sleep(0.2)
    pub2 = Publisher(ep, stream="r")        # same endpoint, new session, indices from 0 again
    _publish_later(pub2, 5, delay=0.5)
    m = sub.recv(5000)
    assert m is not None and m.tags.get("restart") and sub.stats.restarts == 1
    assert m.header.first > got[-1].header.first       # indices keep increasing across the restart
    pub2.close()
    sub.close()


def test_raw_mode_round_trip():
    with Publisher("tcp://127.0.0.1:*", raw=True) as pub:
        _publish_later(pub, 5)
        with open_radio(f"zmq:{pub.endpoint}?raw=1&rate=2e6&freq=1e9") as r:
            b = r.rx()
            assert np.array_equal(b.samples, X) and r.sample_rate == 2e6 and r.rx().start == 1000


def test_curve_authenticated_stream(tmp_path):
    assert main(["stream", "--make-keys", str(tmp_path)]) == 0
    with Publisher("tcp://127.0.0.1:*", curve_keys=str(tmp_path)) as pub:
        _publish_later(pub, 30, every=0.02)
        with open_radio(f"zmq:{pub.endpoint}?curve_keys={tmp_path}") as r:
            assert np.array_equal(r.rx().samples, X)
        with pytest.raises(RadioTimeout):
            open_radio(f"zmq:{pub.endpoint}?timeout=0.5")    # no keys: nothing gets through


def test_binding_all_interfaces_needs_allow_remote():
    with pytest.raises(ConfigError, match="refusing to bind tcp://\\*:5599: it listens on every interface"):
        Publisher("tcp://*:5599")


def test_no_publisher_is_a_timeout():
    with pytest.raises(RadioTimeout, match="is 'sdrkit stream --publish"):
        open_radio("zmq:tcp://127.0.0.1:1?timeout=0.3")


def _free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_stream_and_capture_commands_end_to_end_and_killed_recorder(tmp_path):
    from sdrkit.capture import write_recording

    rec = write_recording(tmp_path / "src", np.exp(2j * np.pi * 0.01 * np.arange(200_000)).astype(np.complex64),
                          sample_rate=1e6, center_frequency=915e6)
    ep = f"tcp://127.0.0.1:{_free_port()}"
    streamer = subprocess.Popen([sys.executable, "-m", "sdrkit", "stream", "--radio",
                                 f"sim:{rec}?realtime=1&faults=overflow@30:2", "--buffer-size", "10000",
                                 "--publish", ep, "--seconds", "8"], stdout=subprocess.PIPE, text=True)
    try:
        assert "publishing" in streamer.stdout.readline()
        assert main(["capture", "--subscribe", ep, "--duration", "0.5", "--out", str(tmp_path / "cap")]) == 0
        r = open_recording(tmp_path / "cap")
        assert r.num_samples == 500_000 and not r.interrupted
        assert [l[3]["lost_samples"] for l in r.labels() if l[2] == "gap"] == [20000]
        # a recorder killed mid-stream leaves a readable recording
        cap = subprocess.Popen([sys.executable, "-m", "sdrkit", "capture", "--subscribe", ep, "--duration", "30",
                                "--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        cap.send_signal(signal.SIGKILL)
        cap.wait()
        k = open_recording(tmp_path / "killed")
        assert k.interrupted and k.num_samples > 0 and np.isfinite(k.read()).all()
    finally:
        streamer.terminate()
        streamer.wait(10)


def test_a_multichannel_block_is_refused_not_flattened():
    import numpy as np
    import pytest

    from sdrkit.errors import StreamError
    from sdrkit.stream.endpoints import Publisher

    with Publisher("tcp://127.0.0.1:0") as pub:
        with pytest.raises(StreamError, match=r"shape \(2, 8\).*one channel"):
            pub.send(np.zeros((2, 8), np.complex64), 0, 1e6, 0.0)


def test_a_raw_subscriber_fed_sdrkit_messages_says_to_drop_raw_and_raw_blocks_get_an_arrival_time():
    """``zmq:...?raw=1`` on a normal ``sdrkit stream``: the rejection names the fix (drop raw=1); bare
    complex64 blocks carry no send time, so they are stamped on arrival (latency is then sane)."""
    import time

    import numpy as np

    from sdrkit.stream.endpoints import Publisher, Subscriber, describe_rejected

    pub = Publisher("tcp://127.0.0.1:0")
    try:
        sub = Subscriber(pub.endpoint, raw=True, raw_rate=1e6)
        try:
            time.sleep(0.3)
            for _ in range(5):
                pub.send(np.ones(64, np.complex64), first=0, rate=1e6, freq=0.0)
                time.sleep(0.02)
            assert sub.recv(500) is None
            text = describe_rejected(sub.stats, pub.endpoint)
            assert "drop raw=1" in text
        finally:
            sub.close()
    finally:
        pub.close()
    rawpub = Publisher("tcp://127.0.0.1:0", raw=True)
    try:
        sub = Subscriber(rawpub.endpoint, raw=True, raw_rate=1e6)
        try:
            time.sleep(0.3)
            m = None
            for _ in range(20):
                rawpub.send(np.ones(64, np.complex64), first=0, rate=1e6, freq=0.0)
                m = sub.recv(100)
                if m is not None:
                    break
            assert m is not None
            now = (time.monotonic_ns() >> 10) & 0xFFFFFFFF
            assert ((now - m.header.t_ns) & 0xFFFFFFFF) << 10 < 5e9       # stamped within the last 5 s
        finally:
            sub.close()
    finally:
        rawpub.close()
