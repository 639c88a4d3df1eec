"""Forged sample-index, sequence and loss jumps in the wire header cannot inflate the loss counts
(issue 11): a jump of more than ``max_gap_s`` of samples within one session is refused as foreign
unless the next message carries on from it (then it is a resync, its gap taken from the clock,
and bounded); a loss count or a restart gap beyond the bound is not believed."""

import itertools
import time

import numpy as np
import pytest
import zmq

from sdrkit.stream import Subscriber, wire
from sdrkit.stream.endpoints import MAX_GAP_S

N = 256
X = np.zeros(N, np.complex64)
SID = wire.stream_id("j")
RATE = 1e6
LIMIT = int(MAX_GAP_S * RATE)
_ports = itertools.count()


@pytest.fixture
def link():
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    ep = f"inproc://sdrkit-jumps-{next(_ports)}"
    pub.bind(ep)
    sub = Subscriber(ep, stream="j", pattern="sub")
    time.sleep(0.05)                                    # the subscription reaches the publisher

    def send(session, seq, first, lost=0, t_ns=0):
        pub.send_multipart(wire.encode(wire.Header(SID, session, seq, first, N, RATE, 0.0, lost, 0, t_ns), X))

    yield send, sub
    sub.close()
    pub.close()


def _recv_all(sub, n):
    got = [sub.recv(1000) for _ in range(n)]
    assert all(m is not None for m in got)
    assert sub.recv(50) is None
    return got


def test_a_forged_index_jump_is_refused_and_the_stream_goes_on(link):
    send, sub = link
    send(1, 0, 0)
    send(1, 1, N + 2 ** 40)                             # forged: 2^40 samples "lost" (12.7 days at 1 MS/s)
    send(1, 1, N)                                       # the real next message
    send(1, 2, 2 * N)
    got = _recv_all(sub, 3)
    assert [m.header.first for m in got] == [0, N, 2 * N]
    assert sub.stats.lost_samples == 0 and sub.stats.lost_messages == 0 and sub.stats.resyncs == 0
    assert sub.stats.rejected["foreign"] == 1 and "not believed" in sub.stats.last_reject


def test_a_forged_sequence_jump_is_refused(link):
    send, sub = link
    send(1, 0, 0)
    send(1, 2 ** 60, N)
    send(1, 1, N)
    _recv_all(sub, 2)
    assert sub.stats.lost_messages == 0 and sub.stats.rejected["foreign"] == 1


def test_a_jump_the_next_message_confirms_is_a_resync_sized_by_the_clock(link):
    send, sub = link
    send(1, 0, 0, t_ns=0)
    # the publisher's index really jumps (2^40), and its clock says 0.1 s went by: 100000 samples
    t = int(0.1e9) >> 10
    send(1, 1, N + 2 ** 40, t_ns=t)
    t2 = t + (N * 1000 >> 10)
    send(1, 2, 2 * N + 2 ** 40, t_ns=t2)
    send(1, 3, 3 * N + 2 ** 40, t_ns=t2 + (N * 1000 >> 10))
    got = _recv_all(sub, 3)
    # the first jumped message was refused; the one that carried on from it re-anchors the stream:
    # its gap is what the clock says went by since the last accepted block (the refused one included)
    gap = int(t2 * 1024e-9 * RATE) - N
    assert 90_000 < gap < 110_000
    assert got[1].header.first == N + gap and got[1].header.lost == gap and got[1].tags.get("resync")
    assert got[2].header.first == 2 * N + gap and got[2].header.lost == 0
    assert sub.stats.resyncs == 1 and sub.stats.lost_samples == gap and sub.stats.rejected["foreign"] == 1


def test_a_huge_loss_count_is_not_believed(link):
    send, sub = link
    send(1, 0, 0, lost=2 ** 63)                         # first message: the radio "lost" 2^63 samples
    send(1, 1, N)
    got = _recv_all(sub, 2)
    assert got[0].header.lost == 0 and got[0].tags.get("resync")
    assert sub.stats.lost_samples == 0 and sub.stats.resyncs == 1


def test_a_restart_gap_is_bounded(link):
    send, sub = link
    send(1, 0, 0, t_ns=0)
    send(2, 0, 0, t_ns=0xFFFFFFF0)                      # a restart 4398 s later on the publisher's clock
    got = _recv_all(sub, 2)
    assert got[1].header.lost == LIMIT and got[1].tags.get("restart") and got[1].tags.get("resync")
    assert sub.stats.lost_samples == LIMIT and sub.stats.restarts == 1 and sub.stats.resyncs == 1


def test_an_ordinary_radio_drop_is_still_counted_exactly(link):
    send, sub = link
    send(1, 0, 0)
    send(1, 1, N + 12345, lost=12345)                   # the capture radio dropped 12345 samples
    send(1, 3, 3 * N + 12345)                           # one message lost in transport
    got = _recv_all(sub, 3)
    assert [m.header.lost for m in got] == [0, 12345, N]
    assert sub.stats.lost_samples == 12345 + N and sub.stats.lost_messages == 1 and sub.stats.resyncs == 0
    assert sum(sub.stats.rejected.values()) == 0


def test_every_lost_sample_is_attributed_to_where_it_was_lost(link):
    send, sub = link
    send(1, 0, 0, lost=100, t_ns=0)                     # radio: 100 before the first block
    send(1, 1, N + 500, lost=500)                       # radio: 500
    send(1, 3, 3 * N + 500)                             # transport: one message (N)
    send(1, 4, 4 * N + 500 + 7)                         # unreported: 7
    send(2, 0, 0, lost=3, t_ns=int(0.01e9) >> 10)       # restart: 3 radio + the clock's gap
    got = _recv_all(sub, 5)
    by = sub.stats.lost_by
    assert by["radio"] == 100 + 500 + 3 and by["transport"] == N and by["unreported"] == 7
    assert by["restart"] == got[-1].header.lost - 3 > 0 and by["resync"] == 0
    assert sum(by.values()) == sub.stats.lost_samples == sum(m.header.lost for m in got)
