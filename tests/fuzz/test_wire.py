"""Fuzz harness of the stream wire decoder and the subscriber (:mod:`tests.fuzz._wire`): CI runs,
and the defects of issue 11 item 1."""

import json
import struct

import numpy as np
import pytest

from tests.fuzz._core import prepare, pack, run_one
from tests.fuzz._hyp import check, mutated, property_test
from tests.fuzz._wire import WireTarget



@pytest.fixture(scope="module")
def target():
    t = WireTarget()
    prepare(t)
    yield t
    t.close()


@pytest.fixture(scope="module")
def decoder():
    t = WireTarget(socket_pair=False)
    prepare(t)
    return t


def test_every_seed_is_received(target):
    for s in target.seeds():
        res = run_one(target, s)
        assert res.kind == "ok", res.signature
    assert target.sub.stats.messages >= 10 and sum(target.sub.stats.rejected.values()) == 0


@property_test(max_examples=150)
def test_mutated_messages_are_decoded_or_rejected(decoder, data):
    check(decoder, mutated(decoder, data), KNOWN)


@property_test(max_examples=100)
def test_subscriber_accounts_for_every_mutated_message(target, data):
    check(target, mutated(target, data), KNOWN)


def _message(tags: bytes | None = None, rate: float = 1e6, session: int = 7, seq: int = 0, t_ns: int = 0,
             first: int | None = None):
    from sdrkit.stream import wire

    h = wire.Header(wire.stream_id("iq"), session, seq, 16 * seq if first is None else first, 4, rate, 915e6, 0, 0,
                    t_ns)
    frames = [h.pack(), np.zeros(4, np.complex64).tobytes()]
    return pack(frames + ([tags] if tags is not None else []))


CASES = [
    ("tags-huge-integer", [_message(b'{"a": ' + b"9" * 4400 + b"}")]),
    ("tags-deep-list", [_message(b"[" * 100_000 + b"]" * 100_000)]),
    ("tags-deep-object", [_message(b'{"a":' * 5000 + b"1" + b"}" * 5000)]),
    ("tags-nan", [_message(b'{"a": NaN}')]),
    ("tags-not-utf8", [_message(b'{"a": "\xff"}')]),
    ("tags-not-object", [_message(json.dumps([1, 2]).encode())]),
    ("restart-huge-rate", [_message(session=7, seq=0, t_ns=0), _message(rate=1e308, session=8, t_ns=2 ** 31)]),
    ("rate-nan", [_message(rate=float("nan"))]),
    ("rate-inf", [_message(rate=float("inf"))]),
    ("rate-negative", [_message(rate=-1.0)]),
    ("seq-backwards", [_message(seq=5), _message(seq=2)]),
    # a restart announcing a huge first index, then the same session going back: the subscriber
    # must never hand out a negative (or backwards) absolute sample index
    ("index-negative-after-restart", [_message(session=7), _message(session=8, first=2 ** 63, t_ns=1000),
                                      _message(session=8, seq=1, first=0, t_ns=2000)]),
    ("header-short", [pack([b"SDRK" + b"\x01" * 10, b""])]),
    ("four-frames", [pack([b"a", b"b", b"c", b"d"])]),
    ("one-frame", [pack([struct.pack("<4sB", b"SDRK", 1)])]),
]
OPEN: dict[str, str] = {}      # case id -> signature; who fixes it, while the fix is not on main

# the property tests tolerate the open defects' signatures (type and file): each has a strict
# xfail case above, so the fix turns it into an XPASS, to be removed from OPEN with its fix
KNOWN = {sig.split(":")[0].split(" (")[0] for sig in OPEN.values() if not sig.startswith("Hang")}


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0], marks=[pytest.mark.xfail(
    strict=True, reason=OPEN[c[0]])] if c[0] in OPEN else []) for c in CASES])
def test_hostile_message_is_rejected_and_counted(case):
    name, msgs = case
    fresh = WireTarget()            # a subscriber that has seen only this case
    fresh.start()
    try:
        res = run_one(fresh, pack(msgs))
    finally:
        fresh.close()
    assert res.kind == "ok", f"{res.kind}: {res.signature}"


def test_recv_times_out_under_a_flood_of_rejected_messages():
    import threading
    import time

    from sdrkit.stream.endpoints import Publisher, Subscriber

    x = np.zeros(4, np.complex64)
    with Publisher("tcp://127.0.0.1:*", stream="someone-else") as pub, Subscriber(pub.endpoint, stream="iq") as sub:
        for _ in range(200):                     # until the subscription has reached the publisher
            pub.send(x, first=0, rate=1e6, freq=0.0)
            sub.recv(timeout_ms=10)
            if sub.stats.rejected["foreign"]:
                break
        stop = threading.Event()

        def flood():                             # one foreign message every 20 ms, for at most 3 s
            t_end = time.monotonic() + 3.0
            while not stop.is_set() and time.monotonic() < t_end:
                pub.send(x, first=0, rate=1e6, freq=0.0)
                time.sleep(0.02)

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        t0 = time.monotonic()
        got = sub.recv(timeout_ms=200)
        waited = time.monotonic() - t0
        stop.set()
        sender.join()
    assert got is None and waited < 1.0, f"recv(timeout_ms=200) returned {got!r} after {waited:.2f} s"
