"""One hostile stream message never kills a subscriber: it is rejected and counted (issue 11, item 1)."""

import time

import numpy as np
import pytest
import zmq

from sdrkit.cli import main
from sdrkit.errors import StreamError
from sdrkit.stream import Subscriber, wire

X = (np.arange(256) * (1 + 1j)).astype(np.complex64)
SID = wire.stream_id("h")

HOSTILE_TAGS = {
    "a 5000-digit integer": b'{"n": ' + b"9" * 5000 + b"}",
    "100k-deep nesting": b"[" * 30000 + b"]" * 30000,
    "20-deep nesting": b'{"a": ' + b"[" * 20 + b"]" * 20 + b"}",
    "NaN": b'{"x": NaN}',
    "a float that overflows": b'{"x": 1e999}',
    "not UTF-8": b'{"x": "\xff"}',
    "not an object": b"[1, 2]",
}


def _frames(header, tags_raw=None):
    frames = wire.encode(header, X)
    return frames + [tags_raw] if tags_raw is not None else frames


@pytest.mark.parametrize("raw", HOSTILE_TAGS.values(), ids=HOSTILE_TAGS.keys())
def test_hostile_tags_are_a_malformed_stream_error(raw):
    h = wire.Header(SID, 1, 0, 0, len(X), 1e6, 0.0)
    with pytest.raises(StreamError) as err:
        wire.decode(_frames(h, raw), SID)
    assert err.value.reason == "malformed"


def test_brackets_inside_tag_strings_do_not_count_as_nesting():
    h = wire.Header(SID, 1, 0, 0, len(X), 1e6, 0.0)
    m = wire.decode(_frames(h, b'{"s": "[[[[[[[[[[[[{{{{{{\\"", "n": [1, {"k": 2.5}]}'), SID)
    assert m.tags == {"s": '[[[[[[[[[[[[{{{{{{"', "n": [1, {"k": 2.5}]}


@pytest.mark.parametrize("rate, freq, match", [
    (1e300, 0.0, "sample rate 1e\\+300 samples/s is outside"),
    (float("inf"), 0.0, "sample rate inf"),
    (0.0, 0.0, "sample rate 0.0"),
    (1e6, 1e300, "center frequency 1e\\+300 Hz is outside"),
    (1e6, float("nan"), "center frequency nan"),
])
def test_header_rates_and_frequencies_are_bounded(rate, freq, match):
    h = wire.Header(SID, 1, 0, 0, len(X), rate, freq)
    with pytest.raises(StreamError, match=match):
        wire.decode(_frames(h), SID)


def test_random_corruptions_only_ever_raise_stream_error():
    rng = np.random.default_rng(11)
    good = [bytes(f) for f in _frames(wire.Header(SID, 7, 3, 1000, len(X), 1e6, 915e6), b'{"a": [1, 2]}')]
    for _ in range(3000):
        frames = [bytearray(f) for f in good[: rng.integers(1, 4) + 1]]
        for _ in range(rng.integers(1, 6)):
            f = frames[rng.integers(len(frames))]
            if len(f):
                f[rng.integers(len(f))] = rng.integers(256)
        try:
            wire.decode([bytes(f) for f in frames], SID)
        except StreamError as exc:
            assert exc.reason in ("malformed", "oversize", "foreign")


@pytest.fixture
def raw_pub():
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = Subscriber(f"tcp://127.0.0.1:{port}", stream="h")
    time.sleep(0.3)
    yield pub, sub
    sub.close()
    pub.close()


def test_hostile_tags_over_a_socket_are_counted_and_the_stream_goes_on(raw_pub):
    pub, sub = raw_pub
    for seq, raw in enumerate(HOSTILE_TAGS.values()):
        pub.send_multipart(_frames(wire.Header(SID, 1, seq, seq * len(X), len(X), 1e6, 0.0), raw))
    n = len(HOSTILE_TAGS)
    pub.send_multipart(_frames(wire.Header(SID, 1, n, n * len(X), len(X), 1e6, 0.0), b'{"ok": 1}'))
    m = sub.recv(2000)
    assert m is not None and m.tags == {"ok": 1} and np.array_equal(m.samples, X)
    assert sub.stats.rejected == {"malformed": n, "oversize": 0, "foreign": 0}


def test_a_restart_with_a_huge_sample_rate_is_rejected_not_an_overflow(raw_pub):
    pub, sub = raw_pub
    pub.send_multipart(_frames(wire.Header(SID, 1, 0, 0, len(X), 1e6, 0.0, t_ns=0)))
    assert sub.recv(2000).header.first == 0
    # a "restarted publisher" 4000 s later on its clock, claiming 1e300 samples/s
    pub.send_multipart(_frames(wire.Header(SID, 2, 0, 0, len(X), 1e300, 0.0, t_ns=0xFFFFFFF0)))
    pub.send_multipart(_frames(wire.Header(SID, 2, 0, 0, len(X), 1e6, 0.0, t_ns=1000)))
    m = sub.recv(2000)
    assert m is not None and m.header.rate == 1e6 and sub.stats.restarts == 1
    assert sub.stats.rejected["malformed"] == 1


@pytest.mark.parametrize("duration, match", [
    ("nan", "--duration nan must be a finite number of seconds > 0"),
    ("inf", "--duration inf must be a finite"),
    ("-1", "--duration -1.0 must be"),
    ("1e300", "--duration 1e\\+300 s at 1e\\+06 samples/s is 1e\\+306 samples, more than the 281474976710656"),
])
def test_capture_refuses_durations_it_cannot_record(tmp_path, capsys, duration, match):
    from sdrkit.capture import write_recording

    rec = write_recording(tmp_path / "src", X, sample_rate=1e6, center_frequency=0.0)
    assert main(["capture", "--radio", f"sim:{rec}?loop=0", "--duration", duration, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]            # after any notice (e.g. the replay mode)
    assert last.startswith("ConfigError: ") and __import__("re").search(match, err), err


@pytest.mark.parametrize("query, match", [
    ("timeout=inf", r"timeout='inf' must be a finite number > 0 and <= 86400 \(s, float\)"),
    ("timeout=nan", r"timeout='nan' must be a finite number > 0"),
    ("timeout=1e300", r"timeout='1e300' must be"),
    ("hwm=0", r"hwm='0' must be a finite number > 0 and <= 1048576 \(messages, int\)"),
    ("hwm=99999999999999999999", r"hwm='99999999999999999999' must be"),
    ("raw=1&rate=-1", r"rate='-1' must be a finite number > 0 \(samples/s, float\)"),
    ("raw=1&freq=nan", r"freq='nan' must be a finite number \(Hz, float\)"),
])
def test_zmq_radio_options_are_checked_at_the_uri(query, match):
    from sdrkit.errors import ConfigError
    from sdrkit.radio import open_radio

    with pytest.raises(ConfigError, match=match):
        open_radio(f"zmq:tcp://127.0.0.1:1?{query}")


def test_a_session_going_backwards_is_rejected_never_a_negative_index(raw_pub):
    pub, sub = raw_pub
    pub.send_multipart(_frames(wire.Header(SID, 7, 0, 0, len(X), 1e6, 0.0, t_ns=0)))
    pub.send_multipart(_frames(wire.Header(SID, 8, 0, 2 ** 63, len(X), 1e6, 0.0, t_ns=1000)))   # a restart
    pub.send_multipart(_frames(wire.Header(SID, 8, 1, 0, len(X), 1e6, 0.0, t_ns=2000)))        # back to 0
    pub.send_multipart(_frames(wire.Header(SID, 8, 0, 2 ** 63 + len(X), len(X), 1e6, 0.0)))    # seq replayed
    pub.send_multipart(_frames(wire.Header(SID, 8, 1, 2 ** 63 + len(X), len(X), 1e6, 0.0)))    # the real next
    got = [sub.recv(2000) for _ in range(3)]
    # the restart's gap is estimated from the publisher clock: 1000 * 1024 ns at 1 MS/s = 1024 samples
    assert [m.header.first for m in got] == [0, 1024, 1024 + len(X)]
    assert sub.recv(300) is None
    assert sub.stats.rejected["malformed"] == 2 and sub.stats.restarts == 1
