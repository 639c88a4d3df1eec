"""Interoperability with GNU Radio's gr-zeromq blocks (raw complex64 streams, itemsize 8, no tags).

Runs real GNU Radio flowgraphs under the system interpreter. Skips when GNU Radio is absent
(install it with: apt-get install --no-install-recommends gnuradio).
"""

import json
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from sdrkit.radio import open_radio
from sdrkit.stream import Publisher

SYS_PY = "/usr/bin/python3"


def _have_gnuradio() -> bool:
    if not shutil.which(SYS_PY):
        return False
    r = subprocess.run([SYS_PY, "-c", "from gnuradio import gr, zeromq, blocks"], capture_output=True, timeout=60)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _have_gnuradio(), reason="GNU Radio (with gr-zeromq) is not installed for "
                                "/usr/bin/python3: apt-get install --no-install-recommends gnuradio")

GR_SINK = r"""
import json, sys
from gnuradio import gr, zeromq, blocks
ep, n = sys.argv[1], int(sys.argv[2])
tb = gr.top_block()
src = zeromq.sub_source(8, 1, ep, 100, False, -1)
head = blocks.head(8, n)
sink = blocks.vector_sink_c()
tb.connect(src, head, sink)
tb.run()
d = sink.data()
print(json.dumps({"n": len(d), "re": [x.real for x in d[:5]], "im": [x.imag for x in d[:5]],
                  "sum": [sum(x.real for x in d), sum(x.imag for x in d)]}))
"""

GR_SOURCE = r"""
import sys, time
from gnuradio import gr, zeromq, blocks
ep, n = sys.argv[1], int(sys.argv[2])
tb = gr.top_block()
data = [complex(i, -i) for i in range(n)]
src = blocks.vector_source_c(data, True)
thr = blocks.throttle(8, 1e6)
sink = zeromq.pub_sink(8, 1, ep, 100, False, -1, "")
tb.connect(src, thr, sink)
tb.start()
time.sleep(float(sys.argv[3]))
tb.stop(); tb.wait()
"""


def _free_ep():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return f"tcp://127.0.0.1:{p}"


def test_sdrkit_raw_publisher_to_gnuradio_sub_source():
    n = 20000
    x = (np.arange(n) + 1j * np.arange(n) * -0.5).astype(np.complex64)
    with Publisher("tcp://127.0.0.1:*", raw=True) as pub:
        gr = subprocess.Popen([SYS_PY, "-c", GR_SINK, pub.endpoint, str(n)], stdout=subprocess.PIPE, text=True)
        stop = threading.Event()

        def feed():
            time.sleep(1.0)           # let GNU Radio connect
            while not stop.is_set():
                for i in range(0, n, 5000):
                    pub.send(x[i:i + 5000], i, 1e6, 0.0)
                time.sleep(0.05)

        t = threading.Thread(target=feed, daemon=True)
        t.start()
        out, _ = gr.communicate(timeout=60)
        stop.set()
    got = json.loads(out)
    assert got["n"] == n
    # GNU Radio joins mid-stream at a message boundary: the samples it got are ours, in order
    first = got["re"][0]
    assert first % 5000 == 0
    assert got["re"][:5] == [first + k for k in range(5)] and got["im"][:5] == [-(first + k) * 0.5 for k in range(5)]


def test_gnuradio_pub_sink_to_sdrkit_raw_subscriber():
    ep = _free_ep()
    gr = subprocess.Popen([SYS_PY, "-c", GR_SOURCE, ep, "4096", "6"])
    try:
        with open_radio(f"zmq:{ep}?raw=1&rate=1e6&timeout=20") as r:
            blocks = [r.rx() for _ in range(5)]
        x = np.concatenate([b.samples for b in blocks])
        k = int(round(x[0].real))
        expect = (np.arange(k, k + len(x)) % 4096).astype(np.float32)
        assert np.array_equal(x.real, expect) and np.array_equal(x.imag, -expect)
        assert [b.start for b in blocks] == list(np.cumsum([0] + [len(b) for b in blocks[:-1]]))
    finally:
        gr.terminate()
        gr.wait(10)


def test_gnuradio_pub_sink_without_raw_times_out_saying_how_to_accept_it():
    """GNU Radio's bare complex64 messages, subscribed as an sdrkit stream: not a silent hang, but a
    timeout naming what arrived and the URI that accepts it (issue 20)."""
    from sdrkit.errors import RadioTimeout

    ep = _free_ep()
    gr = subprocess.Popen([SYS_PY, "-c", GR_SOURCE, ep, "4096", "8"])
    try:
        t0 = time.monotonic()
        with pytest.raises(RadioTimeout) as err:
            open_radio(f"zmq:{ep}?timeout=3")
        assert time.monotonic() - t0 < 20           # it timed out although messages kept arriving
        msg = str(err.value)
        assert "looked like bare complex64" in msg and "GNU Radio zeromq.pub_sink" in msg, msg
        assert f"zmq:{ep}?raw=1&rate=RATE&freq=HZ" in msg
        # what the message says to do works
        with open_radio(f"zmq:{ep}?raw=1&rate=1e6&freq=100e6&timeout=10") as r:
            b = r.rx()
            assert r.sample_rate == 1e6 and r.rx_lo == 100e6 and len(b.samples) > 0
    finally:
        gr.terminate()
        gr.wait(10)


def test_sdrkit_capture_records_a_gnuradio_pub_sink_with_raw_and_rate(tmp_path):
    from sdrkit.capture import open_recording

    ep = _free_ep()
    gr = subprocess.Popen([SYS_PY, "-c", GR_SOURCE, ep, "4096", "8"])
    try:
        out = tmp_path / "gr"
        r = subprocess.run([sys.executable, "-m", "sdrkit", "capture", "--subscribe", f"{ep}?raw=1&rate=1e6&freq=100e6&timeout=10",
                            "--duration", "0.05", "--out", str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        rec = open_recording(out)
        assert rec.num_samples == 50_000 and rec.sample_rate == 1e6 and rec.center_frequency == 100e6
        x = rec.read()
        k = int(round(x[0].real))
        expect = (np.arange(k, k + len(x)) % 4096).astype(np.float32)
        assert np.array_equal(x.real, expect) and np.array_equal(x.imag, -expect)
    finally:
        gr.terminate()
        gr.wait(10)
