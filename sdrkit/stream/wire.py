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
import math
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
MAX_TAGS = 1 << 16             # bytes of tags JSON
MAX_TAG_DEPTH = 8              # nesting of objects/arrays in the tags
MAX_TAG_DIGITS = 40            # digits of one JSON number in the tags (a 128-bit integer has 39)
MAX_RATE = 1e11                # samples/s: 100 GS/s, above any radio sdrkit drives
MAX_FREQ = 1e12                # |Hz|: 1 THz


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
    # bounded so that everything computed from them later (restart gaps: clock delta x rate) stays finite
    if not 0 < rate <= MAX_RATE:
        raise _bad("malformed", f"sample rate {rate!r} samples/s is outside (0, {MAX_RATE:g}]")
    if not -MAX_FREQ <= freq <= MAX_FREQ:
        raise _bad("malformed", f"center frequency {freq!r} Hz is outside [-{MAX_FREQ:g}, {MAX_FREQ:g}]")
    tags = {}
    if len(frames) == 3:
        raw = bytes(frames[2].buffer if hasattr(frames[2], "buffer") else frames[2])
        if len(raw) > MAX_TAGS:
            raise _bad("oversize", f"tags frame of {len(raw)} bytes exceeds {MAX_TAGS}")
        tags = _decode_tags(raw)
    samples = np.frombuffer(payload, np.complex64)
    return Message(Header(sid, session, seq, first, n, rate, freq, lost, flags, t_ns, dtype), samples, tags)


def _number(kind):
    def parse(text: str):
        if len(text) > MAX_TAG_DIGITS:
            raise ValueError(f"a number of {len(text)} characters in the tags exceeds {MAX_TAG_DIGITS}")
        value = kind(text)
        if not math.isfinite(value):
            raise ValueError(f"{text} overflows a float (tags must be finite)")
        return value
    return parse


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value (tags must be finite)")


def _decode_tags(raw: bytes) -> dict:
    """The tags object, or StreamError: not UTF-8 JSON, a number too long, NaN/Infinity, nested too deep."""
    # the depth is checked on the bytes first, so no recursive parser ever sees a deep document
    depth = deepest = 0
    in_string = escaped = False
    for c in raw:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:                                  # backslash
                escaped = True
            elif c == 0x22:                                  # closing quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x7B, 0x5B):                              # { [
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_TAG_DEPTH:
                raise _bad("malformed", f"tags nest deeper than {MAX_TAG_DEPTH} levels; send flat key/values")
        elif c in (0x7D, 0x5D):                              # } ]
            depth -= 1
    try:
        tags = json.loads(raw.decode("utf-8"), parse_int=_number(int), parse_float=_number(float),
                          parse_constant=_no_constant)
    except ValueError as exc:                                # covers UnicodeDecodeError and JSONDecodeError
        raise _bad("malformed", f"tags frame is not valid JSON: {exc}") from None
    if not isinstance(tags, dict):
        raise _bad("malformed", f"tags frame must be a JSON object, not {type(tags).__name__}")
    return tags


def _bad(reason: str, msg: str) -> StreamError:
    e = StreamError(msg)
    e.reason = reason
    return e
