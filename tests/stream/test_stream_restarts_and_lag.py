"""Subscriber restarts and a genuinely lagging PUB/SUB subscriber, over real tcp loopback."""

import time

import numpy as np

from sdrkit.stream import Publisher, Subscriber

X = (np.arange(1000) * (1 - 1j)).astype(np.complex64)


def test_subscriber_restart_resumes_at_the_streams_index_and_publisher_is_unaffected():
    with Publisher("tcp://127.0.0.1:*", stream="sr") as pub:
        first = 0

        def send(k):
            nonlocal first
            for _ in range(k):
                pub.send(X, first, 1e6, 0.0)
                first += len(X)
                time.sleep(0.005)

        sub = Subscriber(pub.endpoint, stream="sr")
        time.sleep(0.3)
        send(5)
        a = [sub.recv(2000) for _ in range(5)]
        assert [m.header.first for m in a] == [0, 1000, 2000, 3000, 4000]
        sub.close()                      # subscriber "crashes"
        send(5)                          # the publisher keeps going with nobody listening
        sub2 = Subscriber(pub.endpoint, stream="sr")
        time.sleep(0.3)
        send(3)
        b = [sub2.recv(2000) for _ in range(3)]
        assert all(m is not None for m in b)
        # absolute indices continue from the stream, not from 0; joining late is not a loss
        assert [m.header.first for m in b] == [10000, 11000, 12000]
        assert sub2.stats.lost_samples == 0 and sub2.stats.lost_messages == 0
        assert pub.seq == 13
        sub2.close()


def test_lagging_subscriber_loses_whole_messages_and_every_loss_is_counted():
    n = 1 << 14
    x = np.zeros(n, np.complex64)
    with Publisher("tcp://127.0.0.1:*", stream="lag", hwm=4) as pub:
        sub = Subscriber(pub.endpoint, stream="lag", hwm=4)
        time.sleep(0.3)
        total = 400
        for i in range(total):           # the subscriber reads nothing meanwhile: it lags
            pub.send(x, i * n, 1e6, 0.0)
        got = []
        while (m := sub.recv(500)) is not None:
            got.append(m)
        assert 0 < len(got) < total                      # some were dropped at the high-water marks
        last = got[-1].header
        # the subscriber can only count losses up to the last message it saw
        assert sub.stats.lost_messages == last.seq + 1 - len(got)
        assert sub.stats.lost_samples == last.first + last.n - len(got) * n - got[0].header.first
        for prev, cur in zip(got, got[1:]):
            assert cur.header.first == prev.header.first + n + cur.header.lost
        sub.close()
