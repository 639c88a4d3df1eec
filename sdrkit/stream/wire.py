"""The sdrkit stream wire format (version 1).

A message is multipart: ``[header, payload]`` or ``[header, payload, tags]``.

Header: 64 bytes, little-endian (``struct`` format :data:`HEADER_FMT`)::

    magic      4s   b"SDRK"
    version    B    1
    flags      B    bit 0 GAP (samples lost before this block), bit 1 OVERFLOW, bit 2 RESTART
    dtype      B    0 = complex64 (cf32_le)
    _pad       B
    stream_id  I    CRC-32 of the stream name (subscribers reject other streams)
    session    I    random per publisher run (a change means the publisher restarted)
    seq        Q    message sequence number within the session, from 0
    first      Q    absolute index of the first sample (counts lost samples)
    lost       Q    samples the radio lost just before this block
    rate       d    sample rate, samples/s
    freq       d    center frequency, Hz
    n          I    samples in the payload
    t_ns       I    low 32 bits of the publisher's monotonic clock, ns/1024 (latency probes)

Payload: ``n`` complex64 samples, sent without copies (``copy=False``). Tags: optional UTF-8
JSON object of key/values. *Raw mode* sends only the payload (interleaved float32 I/Q): that is
what GNU Radio's gr-zeromq stream blocks with itemsize 8 and no tags exchange.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from sdrkit.errors import StreamError

MAGIC = b"SDRK"
VERSION = 1
HEADER_FMT = "<4sBBBBIIQQQddII"
HEADER_SIZE = struct.calcsize(HEADER_FMT)
FLAG_GAP, FLAG_OVERFLOW, FLAG_RESTART = 1, 2, 4
DTYPES = {0: np.complex64}
MAX_SAMPLES = 1 << 24          # 128 MB of complex64: anything larger is refused
MAX_TAGS = 1 << 16


def stream_id(name: str) -> int:
    """The 32-bit id of a stream name."""
    return zlib.crc32(name.encode()) & 0xFFFFFFFF


@dataclass
class Header:
    stream_id: int
    session: int
    seq: int
    first: int
    n: int
    rate: float
    freq: float
    lost: int = 0
    flags: int = 0
    t_ns: int = 0
    dtype: int = 0

    def pack(self) -> bytes:
        return struct.pack(HEADER_FMT, MAGIC, VERSION, self.flags, self.dtype, 0, self.stream_id, self.session,
                           self.seq, self.first, self.lost, self.rate, self.freq, self.n, self.t_ns & 0xFFFFFFFF)


@dataclass
class Message:
    """A decoded message: header, samples (a zero-copy view of the frame) and tags."""

    header: Header
    samples: np.ndarray
    tags: dict = field(default_factory=dict)


def encode(header: Header, samples: np.ndarray, tags: dict | None = None) -> list:
    """Frames to send with ``send_multipart(..., copy=False)``."""
    frames = [header.pack(), memoryview(np.ascontiguousarray(samples, np.complex64)).cast("B")]
    if tags:
        frames.append(json.dumps(tags).encode())
    return frames


def decode(frames, expect_stream: int | None = None, max_samples: int = MAX_SAMPLES) -> Message:
    """Parse and validate a received message.

    Raises:
        StreamError: malformed, oversize, or from another stream (``.reason`` says which).
    """
    if not 2 <= len(frames) <= 3:
        raise _bad("malformed", f"message has {len(frames)} frames; expected header + payload [+ tags]")
    head = bytes(frames[0].buffer if hasattr(frames[0], "buffer") else frames[0])
    if len(head) != HEADER_SIZE:
        raise _bad("malformed", f"header is {len(head)} bytes, expected {HEADER_SIZE}")
    magic, ver, flags, dtype, _, sid, session, seq, first, lost, rate, freq, n, t_ns = struct.unpack(HEADER_FMT, head)
    if magic != MAGIC or ver != VERSION:
        raise _bad("malformed", f"bad magic/version {magic!r}/{ver}; not an sdrkit v{VERSION} stream")
    if dtype not in DTYPES:
        raise _bad("malformed", f"unknown dtype code {dtype}")
    if expect_stream is not None and sid != expect_stream:
        raise _bad("foreign", f"stream id {sid:#010x} is not the subscribed stream {expect_stream:#010x}")
    if n > max_samples:
        raise _bad("oversize", f"{n} samples exceeds the limit of {max_samples}")
    payload = frames[1].buffer if hasattr(frames[1], "buffer") else memoryview(frames[1])
    if len(payload) != 8 * n:
        raise _bad("malformed", f"payload is {len(payload)} bytes, header says {n} samples ({8 * n} bytes)")
    if not (rate > 0 and np.isfinite(rate) and np.isfinite(freq)):
        raise _bad("malformed", f"sample rate {rate} / frequency {freq} invalid")
    tags = {}
    if len(frames) == 3:
        raw = bytes(frames[2].buffer if hasattr(frames[2], "buffer") else frames[2])
        if len(raw) > MAX_TAGS:
            raise _bad("oversize", f"tags frame of {len(raw)} bytes exceeds {MAX_TAGS}")
        try:
            tags = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _bad("malformed", "tags frame is not JSON") from None
        if not isinstance(tags, dict):
            raise _bad("malformed", "tags frame must be a JSON object")
    samples = np.frombuffer(payload, np.complex64)
    return Message(Header(sid, session, seq, first, n, rate, freq, lost, flags, t_ns, dtype), samples, tags)


def _bad(reason: str, msg: str) -> StreamError:
    e = StreamError(msg)
    e.reason = reason
    return e
