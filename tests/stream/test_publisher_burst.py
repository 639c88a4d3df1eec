"""A capture process that stalls and catches up sends a burst: the publisher's queue must hold it.

A radio holds samples for a capture process that stalls (the simulated one 0.1 s: 122 blocks of
16384 at 20 MS/s) and delivers them at once; with the old 64-message queue a ~60 ms stall lost
whole messages in ZeroMQ (131,072 samples in stream_e2e). Here a subscriber that is not reading
for a moment receives a 600-message burst whole.
"""

import time

import numpy as np

from sdrkit.stream import Publisher
from sdrkit.stream.endpoints import PUB_HWM, Subscriber


def _burst(hwm=None):
    kw = {} if hwm is None else {"hwm": hwm}
    with Publisher("tcp://127.0.0.1:*", stream="burst", **kw) as pub:
        sub = Subscriber(pub.endpoint, stream="burst", hwm=256)
        try:
            x = np.zeros(8192, np.complex64)     # 600 x 64 KB: more than TCP buffers hold
            t0 = time.monotonic()
            while sub.recv(20) is None:                # connected: the first message arrived
                pub.send(x, 0, 1e6, 1e9)
                assert time.monotonic() - t0 < 10, "subscriber never connected"
            base = pub.seq
            for i in range(600):                       # the burst, while the subscriber does not read
                pub.send(x, (base + i) * 8192, 1e6, 1e9)
            got = 0
            while sub.recv(500) is not None:
                got += 1
            return got, sub.stats.lost_messages
        finally:
            sub.close()


def test_a_600_message_burst_arrives_whole_with_the_default_queue():
    assert PUB_HWM >= 600
    got, lost = _burst()
    assert lost == 0 and got >= 600


def test_the_old_64_message_queue_loses_part_of_the_burst():
    got, lost = _burst(hwm=64)
    assert lost > 0
