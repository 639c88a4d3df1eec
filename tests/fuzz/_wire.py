"""Fuzz target: the stream wire decoder and the subscriber's state machine.

An input is a sequence of messages: a :func:`~tests.fuzz._core.pack` of messages, each itself
a ``pack`` of its frames. Every message goes through :func:`sdrkit.stream.wire.decode`, then
the whole sequence is sent by a real :class:`~sdrkit.stream.endpoints.Publisher` socket over
``tcp://127.0.0.1`` to a real :class:`~sdrkit.stream.endpoints.Subscriber`, which must account
for each one (returned or counted as rejected) and keep consistent books: the subscriber lives
across inputs, as a long-running ``capture --subscribe`` does, so sessions, sequence numbers,
indices and restart clocks carry over from one input to the next.

Seeds are sequences a publisher really sends (with tags, a gap, a restart). Mutations work on
the decoded fields: hostile header values (huge/NaN/inf rates, sequence and index jumps
backwards and forwards, new sessions, foreign streams, wrapped clocks), a payload that does
not match ``n``, missing or extra frames, hostile tags JSON, byte damage, and reordered,
duplicated or dropped messages.
"""

from __future__ import annotations

import collections
import random
import struct
import time
import zlib

import numpy as np

from tests.fuzz._core import HANG_WALL_S, NOT_JSON, dumps, loads_or_none, mutate_bytes, mutate_json, nasty_values, pack, unpack

MAX_MESSAGES = 16            # per input: far below the sockets' high-water mark, so nothing drops
FIELDS = ["magic", "version", "flags", "dtype", "pad", "stream_id", "session", "seq", "first", "lost",
          "rate", "freq", "n", "t_ns"]
_UINT = {"B": 0xFF, "I": 0xFFFFFFFF, "Q": 0xFFFFFFFFFFFFFFFF}


class _MemorySocket:
    """What ``Subscriber.recv`` uses of a ZeroMQ socket (``poll``, ``recv_multipart``), fed from
    a queue: the same state machine at a hundred times the rate of a TCP round trip."""

    def __init__(self):
        self.queue: collections.deque = collections.deque()

    def poll(self, timeout=None):
        return 1 if self.queue else 0

    def recv_multipart(self, copy=False):
        return [_Frame(f) for f in self.queue.popleft()]


class _Frame:
    __slots__ = ("buffer",)

    def __init__(self, b: bytes):
        self.buffer = memoryview(b)


class WireTarget:
    """Args:
        socket_pair: also drive the subscriber (False: ``wire.decode`` only).
        transport: "tcp" (every input over the real socket pair), or "mixed" (one input in 16,
            chosen by its CRC, over TCP; the others reach the same subscriber through an
            in-memory socket, for long runs).
    """

    name = "wire"

    def __init__(self, socket_pair: bool = True, transport: str = "tcp"):
        self.socket_pair, self.transport = socket_pair, transport
        self.pub = self.sub = None
        self._mem = _MemorySocket()

    # ---- inputs ----------------------------------------------------------------------------
    def seeds(self) -> list[bytes]:
        from sdrkit.stream import wire

        sid = wire.stream_id("iq")
        rng = np.random.default_rng(0)
        x = (rng.standard_normal(32) + 1j * rng.standard_normal(32)).astype(np.complex64)

        def msg(session, seq, first, lost=0, flags=0, tags=None, t=0, n=16, rate=1e6):
            h = wire.Header(sid, session, seq, first, n, rate, 915e6, lost, flags, t)
            return pack([bytes(f) for f in wire.encode(h, x[:n], tags)])

        steady = [msg(7, i, 16 * i, t=i * 16_000, flags=wire.FLAG_RESTART if i == 0 else 0,
                      tags={"snr_db": 10.5, "label": "bpsk"} if i == 1 else None) for i in range(4)]
        gap = [msg(7, 4, 64, t=64_000), msg(7, 6, 100, lost=4, flags=wire.FLAG_GAP, t=100_000)]
        restart = [msg(7, 7, 116, t=116_000), msg(99, 0, 0, flags=wire.FLAG_RESTART, t=300_000),
                   msg(99, 1, 16, t=316_000)]
        big = [msg(8, 0, 0, n=32, rate=6.144e7, tags={"a": [1, {"b": None}], "k": "v" * 40})]
        return [pack(steady), pack(gap), pack(restart), pack(big)]

    def mutate(self, data: bytes, rnd: random.Random) -> bytes:
        msgs = [unpack(m) for m in unpack(data)] or [[b""]]
        for _ in range(rnd.choice([1, 1, 2, 3])):
            i = rnd.randrange(len(msgs))
            op = rnd.random()
            if op < 0.45:
                msgs[i] = _mutate_header(msgs[i], rnd)
            elif op < 0.6:
                msgs[i] = _mutate_tags(msgs[i], rnd)
            elif op < 0.7:
                f = msgs[i]
                if f:
                    k = rnd.randrange(len(f))
                    f[k] = mutate_bytes(f[k], rnd)
            elif op < 0.78:                                      # frames missing or extra
                f = msgs[i]
                if rnd.random() < 0.5 and f:
                    del f[rnd.randrange(len(f))]
                else:
                    f.insert(rnd.randrange(len(f) + 1), rnd.choice([b"", b"{}", b"\x00" * 64, b"x" * 9]))
            elif op < 0.86 and len(msgs) < MAX_MESSAGES:          # duplicate
                msgs.insert(rnd.randrange(len(msgs) + 1), list(msgs[i]))
            elif op < 0.93 and len(msgs) > 1:                     # drop
                del msgs[i]
            else:                                                # reorder
                rnd.shuffle(msgs)
        return pack([pack(f) for f in msgs[:MAX_MESSAGES]])

    # ---- running ---------------------------------------------------------------------------
    def execute(self, data: bytes) -> None:
        from sdrkit.errors import StreamError
        from sdrkit.stream import wire

        msgs = [unpack(m, max_parts=8) for m in unpack(data)][:MAX_MESSAGES]
        expect = wire.stream_id("iq")
        for frames in msgs:
            try:
                m = wire.decode(frames, expect)
            except StreamError as exc:
                assert getattr(exc, "reason", None) in ("malformed", "oversize", "foreign"), exc
                continue
            assert len(m.samples) == m.header.n and isinstance(m.tags, dict)
        if self.socket_pair:
            self._through_sockets([f for f in msgs if f])

    def _through_sockets(self, msgs: list[list[bytes]]) -> None:
        if self.sub is None:
            self._connect()
        st = self.sub.stats

        def accounted():
            return st.messages + sum(st.rejected.values())

        before = accounted()
        over_tcp = self.transport == "tcp" or zlib.crc32(pack([pack(f) for f in msgs])) % 16 == 0
        if over_tcp:
            for frames in msgs:
                self.pub.sock.send_multipart(frames)
        else:
            real, self.sub.sock = self.sub.sock, self._mem
            self._mem.queue.extend(msgs)
        try:
            self._drain(msgs, before, accounted)
        finally:
            if not over_tcp:
                self.sub.sock = real
                self._mem.queue.clear()
        assert st.lost_samples >= 0 and st.lost_messages >= 0

    def _drain(self, msgs, before, accounted) -> None:
        deadline = time.monotonic() + HANG_WALL_S
        while accounted() - before < len(msgs):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"subscriber accounted for {accounted() - before} of {len(msgs)} messages "
                                     f"in {HANG_WALL_S} s")
            # short polls: recv() goes on waiting a full timeout after each rejected message
            m = self.sub.recv(timeout_ms=1)
            if m is not None:
                h = m.header
                assert h.lost >= 0 and h.first >= 0 and len(m.samples) == h.n, h

    def _connect(self) -> None:
        from sdrkit.stream.endpoints import Publisher, Subscriber

        self.close()
        self.pub = Publisher("tcp://127.0.0.1:*", stream="iq")
        self.sub = Subscriber(self.pub.endpoint, stream="iq")
        x = np.zeros(4, np.complex64)
        for _ in range(400):                       # until the subscription has reached the publisher
            self.pub.send(x, first=4 * self.pub.seq, rate=1e6, freq=0.0)
            if self.sub.recv(timeout_ms=10) is not None:
                break
        else:
            raise RuntimeError("the subscriber never received from its publisher on 127.0.0.1")
        while self.sub.recv(timeout_ms=20) is not None:
            pass

    def start(self) -> None:
        if self.socket_pair and self.sub is None:
            self._connect()

    def recover(self) -> None:
        """After a hang: a fresh socket pair (what was queued would be misattributed)."""
        if self.socket_pair:
            self._connect()

    def close(self) -> None:
        for s in (self.sub, self.pub):
            if s is not None:
                s.close()
        self.pub = self.sub = None


def _mutate_header(frames: list[bytes], rnd: random.Random) -> list[bytes]:
    from sdrkit.stream import wire

    if not frames or len(frames[0]) != wire.HEADER_SIZE:
        return frames
    vals = list(struct.unpack(wire.HEADER_FMT, frames[0]))
    fmt = wire.HEADER_FMT[1:]
    codes = ["4s"] + list(fmt[2:])
    for _ in range(rnd.choice([1, 1, 2])):
        k = rnd.randrange(len(vals))
        code = codes[k]
        if code == "4s":
            vals[k] = rnd.choice([b"SDRK", b"SDRJ", b"\x00" * 4, b"KRDS"])
        elif code == "d":
            vals[k] = rnd.choice([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 5e-324, -1.0, 1e308,
                                  -1e308, 1e11, 1e11 * (1 + 1e-15), 1e11 + 1, 1e12, -1e12,
                                  1e12 * (1 + 1e-15), 1.0, 6.144e7, vals[k] * rnd.choice([0.5, 2, -1])])
        else:
            top = _UINT[code]
            v = vals[k]
            vals[k] = rnd.choice([0, 1, top, top - 1, top // 2, top // 2 + 1, v + 1, max(v - 1, 0), v + 1000,
                                  max(v - 1000, 0), v + rnd.randrange(top + 1), rnd.randrange(top + 1)]) & top
            if FIELDS[k] == "n" and len(frames) > 1 and rnd.random() < 0.5:
                frames[1] = frames[1][:8 * min(vals[k], 64)]
    frames[0] = struct.pack(wire.HEADER_FMT, *vals)
    return frames


def _mutate_tags(frames: list[bytes], rnd: random.Random) -> list[bytes]:
    if len(frames) < 3:
        frames = frames + [dumps({"k": nasty_values(rnd)})] if len(frames) == 2 else frames
        return frames
    obj = loads_or_none(frames[2])
    frames[2] = mutate_bytes(frames[2], rnd) if obj is NOT_JSON else \
        dumps(mutate_json(obj, rnd, ["snr_db", "label", "restart"]))
    return frames
