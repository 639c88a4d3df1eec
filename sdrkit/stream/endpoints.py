"""ZeroMQ publishers and subscribers for I/Q streams (wire format: :mod:`sdrkit.stream.wire`).

Patterns:

* ``pub``/``sub``: fan-out to any number of subscribers. A subscriber that falls behind loses
  whole messages at the publisher's high-water mark (the capture never waits for it); the
  subscriber detects every loss from the sequence numbers and reports it.
* ``push``/``pull``: lossless delivery with back-pressure (the sender blocks when the receiver
  is full), and load sharing when several workers pull.

Endpoints: ``tcp://127.0.0.1:5555`` style, port 0..65535. Every server binds through :func:`bind_socket`,
which serves loopback only unless ``allow_remote`` is set: ``tcp://*``, ``tcp://0:P``, ``tcp://[::]:P``,
an interface name or a host address are all refused by the address they resolve to.
Queue sizes: ZeroMQ bounds its queues in messages (high-water marks), fixed for a subscriber's pipe
when it connects, from the options the publisher had when it *bound* (a later change does not
reach the pipes). A publisher's default, :data:`PUB_HWM` (1024 messages), is sized against the
radio's own buffering: a radio holds samples for a capture process that stalls and then delivers
them in one burst (the simulated radio 0.1 s: 122 blocks of 16384 at 20 MS/s; libiio's kernel
buffers; UHD's frames), so a publisher queue shorter than that burst turns a stall the radio
survived into whole messages lost in transport (64 messages, the old default, lost 8 messages =
131,072 samples per ~60 ms stall of the capture process at 20 MS/s). The queue holds memory only
while a subscriber lags (at most ``hwm`` blocks, zero-copy).
CURVE: ``sdrkit stream --make-keys DIR`` writes a server and a client key pair (zmq.auth certificates,
secrets 0600). A publisher given ``curve_keys`` encrypts and lets in only the clients whose public
keys are in ``DIR/authorized_clients`` (a ZAP handler, pyzmq's ThreadAuthenticator); anyone else,
even knowing the server's public key, receives nothing.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import time
from dataclasses import dataclass, field

import numpy as np

from sdrkit.errors import ConfigError, StreamError
from sdrkit.stream import wire

PATTERNS = {"pub": "PUB", "push": "PUSH", "sub": "SUB", "pull": "PULL"}

PUB_HWM = 1024               # default send high-water mark of a publisher, messages (see the module docstring)


def _split_tcp(endpoint: str, addr: str, binding: bool) -> tuple[str, str]:
    """``(host, port)`` of a tcp address, the port checked: libzmq keeps only its low 16 bits."""
    addr = addr.rsplit(";", 1)[-1]                  # connect may name a source: "src:port;host:port"
    host, sep, port = addr.rpartition(":")
    if not sep:
        raise ConfigError(f"endpoint {endpoint!r} has no port; write tcp://127.0.0.1:5555")
    if port == "*" and binding:
        return host, port
    low = 0 if binding else 1
    if not (port.isdigit() and low <= int(port) <= 65535):
        wraps = f" (libzmq would silently use port {int(port) % 65536})" if port.isdigit() else ""
        free = "; 0 or * picks a free port" if binding else ""
        raise ConfigError(f"endpoint {endpoint!r}: port {port!r} is not in {low}..65535{wraps}{free}")
    return host, port


def _host_addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address] | None:
    """The addresses a numeric bind host means, as libzmq reads it; None for a name (interface, localhost)."""
    if host in ("*", ""):
        return [ipaddress.ip_address("0.0.0.0")]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:                                            # inet_aton rules, as libzmq: "0", "0.0", "00.0.0.0", "127.1"
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST | socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return [_unmapped(info[4][0]) for info in infos]


def _unmapped(text: str):
    """An address, an IPv4-mapped IPv6 one (``::ffff:0.0.0.0``) read as the IPv4 address it carries."""
    a = ipaddress.ip_address(text.split("%")[0])
    return a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a


def check_endpoint(endpoint: str, binding: bool, allow_remote: bool = False) -> str:
    """Validate an endpoint's syntax and port; a bind to a numeric non-loopback address needs ``allow_remote``.

    Names (``localhost``, an interface such as ``eth0``) are decided after binding, by :func:`bind_socket`.

    Raises:
        ConfigError: not tcp/ipc/inproc, a port outside 0..65535, or a non-loopback bind without ``allow_remote``.
    """
    if not isinstance(endpoint, str) or "://" not in endpoint:
        raise ConfigError(f"endpoint {endpoint!r} must look like tcp://127.0.0.1:5555 or ipc:///tmp/x")
    proto, addr = endpoint.split("://", 1)
    if proto not in ("tcp", "ipc", "inproc"):
        raise ConfigError(f"endpoint {endpoint!r}: transport {proto!r} is not tcp, ipc or inproc")
    if proto == "tcp":
        host, _ = _split_tcp(endpoint, addr, binding)
        if binding and not allow_remote:
            addresses = _host_addresses(host)
            if addresses is not None:
                _refuse_remote(endpoint, [a for a in addresses if not a.is_loopback])
    return endpoint


def _refuse_remote(endpoint: str, remote: list) -> None:
    if remote:
        where = "every interface" if any(a.is_unspecified for a in remote) else ", ".join(map(str, remote))
        raise ConfigError(f"refusing to bind {endpoint}: it listens on {where}, not only loopback; use "
                          f"tcp://127.0.0.1:PORT, or pass --allow-remote (allow_remote=True, with --curve-keys) "
                          f"to serve other hosts")


def bind_socket(sock, endpoint: str, allow_remote: bool = False) -> str:
    """Bind ``sock`` to ``endpoint`` and return the endpoint it resolved to; every sdrkit server binds here.

    Only loopback is served without ``allow_remote``: the address is checked before binding when it is
    numeric, and the address libzmq actually bound (``LAST_ENDPOINT``) is checked after, so a name such
    as an interface cannot slip through (the socket is closed before anything is sent).

    Raises:
        ConfigError: a bad endpoint, a non-loopback address without ``allow_remote``, or a bind that fails
            (port in use, no such interface).
    """
    import zmq

    try:
        check_endpoint(endpoint, True, allow_remote)
    except ConfigError:
        sock.close()
        raise
    if endpoint.startswith("tcp://["):
        sock.setsockopt(zmq.IPV6, 1)                # libzmq binds IPv6 only when asked
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {endpoint}: {exc.strerror}; is the port in use, or the address not "
                          f"one of this host's?") from exc
    bound = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    if bound.startswith("tcp://") and not allow_remote:
        address = _unmapped(bound[len("tcp://"):].rpartition(":")[0].strip("[]"))
        if not address.is_loopback:
            sock.close(linger=0)
            _refuse_remote(endpoint, [address])
    return bound


CLIENTS_DIR = "authorized_clients"     # in a keys folder: the public keys (*.key) a CURVE server lets in


def make_keys(folder: str) -> list[str]:
    """Write a CURVE server and client key pair to ``folder`` and authorize the client.

    Files: ``server.key``, ``server.key_secret``, ``client.key``, ``client.key_secret`` and
    ``authorized_clients/client.key``. Secret keys are mode 0600 from the moment they exist: they are
    written in a private (0700) folder and moved into place.

    Returns:
        The paths written.

    Raises:
        ConfigError: a key file is already there (keys are never overwritten).
    """
    import shutil
    import tempfile

    import zmq.auth

    names = ["server.key", "server.key_secret", "client.key", "client.key_secret"]
    os.makedirs(os.path.join(folder, CLIENTS_DIR), exist_ok=True)
    taken = [n for n in names + [os.path.join(CLIENTS_DIR, "client.key")] if os.path.exists(os.path.join(folder, n))]
    if taken:
        raise ConfigError(f"{folder} already holds CURVE keys ({', '.join(taken)}); keys are never overwritten: "
                          f"choose an empty folder, or delete the old keys first")
    private = tempfile.mkdtemp(prefix=".keys-", dir=folder)    # 0700
    try:
        for who in ("server", "client"):
            _, secret = zmq.auth.create_certificates(private, who)
            os.chmod(secret, 0o600)
        shutil.copyfile(os.path.join(private, "client.key"), os.path.join(folder, CLIENTS_DIR, "client.key"))
        for n in names:
            os.replace(os.path.join(private, n), os.path.join(folder, n))
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return [os.path.join(folder, n) for n in names] + [os.path.join(folder, CLIENTS_DIR, "client.key")]


def _load_secret(path: str):
    import zmq.auth

    fix = f"make keys with 'sdrkit stream --make-keys {os.path.dirname(path) or '.'}'"
    try:
        mode = os.stat(path).st_mode & 0o777
        if os.name == "posix" and mode & 0o077:
            raise ConfigError(f"CURVE secret key {path} has mode {mode:04o}: other users can read it; "
                              f"run 'chmod 600 {path}'")
        pub, sec = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load CURVE key {path} ({exc}); {fix}") from exc
    if not sec:
        raise ConfigError(f"{path} holds no secret key; {fix}")
    return pub, sec


def _authorized_keys(folder: str) -> set[bytes]:
    """The client public keys in ``folder`` (every ``*.key``): a CURVE server's allow-list."""
    import zmq.auth

    try:
        keys = set(zmq.auth.load_certificates(folder))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the authorized CURVE client keys in {folder} ({exc}); put each "
                          f"subscriber's client.key there ('sdrkit stream --make-keys DIR' makes one)") from exc
    if not keys:
        raise ConfigError(f"no authorized CURVE client keys (*.key) in {folder}: every subscriber would be "
                          f"refused; copy each subscriber's client.key there")
    return keys


def _apply_curve(sock, keys_dir: str | None, server: bool, server_public: str | None = None) -> None:
    if not keys_dir:
        return
    import zmq.auth

    name = "server" if server else "client"
    pub, sec = _load_secret(os.path.join(keys_dir, f"{name}.key_secret"))
    sock.curve_secretkey, sock.curve_publickey = sec, pub
    if server:
        sock.curve_server = True
    else:
        path = server_public or os.path.join(keys_dir, "server.key")
        try:
            spub, _ = zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the CURVE server's public key {path} ({exc}); copy server.key from "
                              f"the publisher's keys folder") from exc
        sock.curve_serverkey = spub


def _start_authenticator(ctx, clients_dir: str):
    """A ZAP handler on ``ctx`` that lets in only the CURVE clients whose public keys are in ``clients_dir``."""
    import logging

    from zmq.auth.thread import ThreadAuthenticator

    _authorized_keys(clients_dir)                  # refuse a missing or empty allow-list up front
    auth = ThreadAuthenticator(ctx, log=logging.getLogger("sdrkit.stream.auth"))
    auth.start()
    auth.configure_curve(domain="*", location=clients_dir)
    return auth


class Publisher:
    """Send blocks of one stream.

    Args:
        endpoint: where to bind (``tcp://127.0.0.1:5555``; port ``*`` picks a free one, see ``.endpoint``).
        stream: stream name (its CRC-32 goes in every header).
        pattern: "pub" (fan-out, lossy for slow subscribers) or "push" (lossless, back-pressure).
        raw: send bare complex64 payloads (GNU Radio gr-zeromq interop) instead of sdrkit messages.
        hwm: high-water mark in messages (default :data:`PUB_HWM`: more than a radio's burst after
            a stall; see the module docstring).
        curve_keys: folder with ``server.key_secret``: encrypt, and authenticate subscribers by their keys.
        curve_clients: folder of the client public keys (``*.key``) let in; default
            ``<curve_keys>/authorized_clients``. A subscriber whose key is not there receives nothing.
    """

    def __init__(self, endpoint: str, stream: str = "iq", pattern: str = "pub", raw: bool = False, hwm: int = PUB_HWM,
                 curve_keys: str | None = None, allow_remote: bool = False, connect: bool = False,
                 curve_clients: str | None = None):
        import zmq

        if pattern not in ("pub", "push"):
            raise ConfigError(f"publisher pattern {pattern!r} must be 'pub' or 'push'")
        self._auth = None
        if curve_keys:
            # ZAP handlers are per context: a private one, so each CURVE publisher has its own allow-list
            self.ctx = zmq.Context()
            try:
                self._auth = _start_authenticator(self.ctx, curve_clients or os.path.join(curve_keys, CLIENTS_DIR))
            except BaseException:
                self.ctx.term()
                raise
        else:
            self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(getattr(zmq, PATTERNS[pattern]))
        try:
            self.sock.setsockopt(zmq.SNDHWM, hwm)
            self.sock.setsockopt(zmq.LINGER, 1000)
            _apply_curve(self.sock, curve_keys, server=True)
            if connect:
                self.sock.connect(check_endpoint(endpoint, False))
                self.endpoint = endpoint
            else:
                self.endpoint = bind_socket(self.sock, endpoint, allow_remote)
        except BaseException:
            self.close()
            raise
        self.raw, self.pattern = raw, pattern
        self.stream_id = wire.stream_id(stream)
        self.session = random.getrandbits(32)
        self.seq = 0
        self.sent_samples = 0

    def send(self, samples: np.ndarray, first: int, rate: float, freq: float, lost: int = 0,
             overflow: bool = False, tags: dict | None = None) -> None:
        """Send one block (complex64, one channel) whose first sample has absolute index ``first``.

        Raises:
            StreamError: a multi-channel block (the wire format carries one channel per stream).
        """
        x = np.ascontiguousarray(samples, np.complex64)
        if x.ndim != 1:
            raise StreamError(f"block of shape {x.shape}: a stream carries one channel; publish each channel as "
                              f"its own stream, or open the radio with one channel (rx_enabled_channels=0)")
        if self.raw:
            self.sock.send(memoryview(x).cast("B"), copy=False)
        else:
            flags = (wire.FLAG_GAP if lost else 0) | (wire.FLAG_OVERFLOW if overflow else 0) | \
                    (wire.FLAG_RESTART if self.seq == 0 else 0)
            h = wire.Header(self.stream_id, self.session, self.seq, int(first), len(x), float(rate), float(freq),
                            int(lost), flags, time.monotonic_ns() >> 10)
            self.sock.send_multipart(wire.encode(h, x, tags), copy=False)
        self.seq += 1
        self.sent_samples += len(x)

    def close(self) -> None:
        self.sock.close()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
            self.ctx.term()                        # waits out the socket's linger, then ends the private context

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class StreamStats:
    """What a subscriber counted."""

    messages: int = 0
    samples: int = 0
    lost_messages: int = 0
    lost_samples: int = 0
    restarts: int = 0
    resyncs: int = 0          # index jumps or loss counts beyond ``max_gap_s``: re-anchored, not believed
    rejected: dict = field(default_factory=lambda: {"malformed": 0, "oversize": 0, "foreign": 0})
    # lost_samples by where they were lost: the publisher's radio (the loss its headers report),
    # ZeroMQ transport (messages missing from the sequence), publisher restarts (the gap while it
    # was down, from its clock), resyncs (a confirmed index jump, from its clock), and index jumps
    # the publisher did not report with no message missing ("unreported")
    lost_by: dict = field(default_factory=lambda: {"radio": 0, "transport": 0, "restart": 0, "resync": 0,
                                                   "unreported": 0})
    raw_like: int = 0         # rejected single-frame messages that look like bare complex64 (GNU Radio)
    last_reject: str = ""     # why the latest message was rejected
    last_resync: str = ""     # why the latest resync happened

    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def snapshot(self) -> "StreamStats":
        import dataclasses

        return dataclasses.replace(self, rejected=dict(self.rejected), lost_by=dict(self.lost_by))


MAX_GAP_S = 30.0   # a loss the headers claim beyond this many seconds of samples is not believed


def looks_raw_complex64(frames) -> bool:
    """A single-frame message of whole, finite complex64 samples: what GNU Radio's ``zeromq.pub_sink``
    (itemsize 8, no tags) and ``sdrkit stream --raw`` send."""
    if len(frames) != 1:
        return False
    buf = frames[0].buffer if hasattr(frames[0], "buffer") else memoryview(frames[0])
    if not len(buf) or len(buf) % 8 or (len(buf) >= 4 and bytes(buf[:4]) == wire.MAGIC):
        return False
    head = np.frombuffer(buf, np.float32, count=min(len(buf) // 4, 2048))
    return bool(np.isfinite(head).all())


def describe_rejected(stats: "StreamStats", endpoint: str, since: "StreamStats | None" = None) -> str:
    """What a subscriber saw that it rejected (since ``since``) and how to accept it; "" when nothing."""
    base = since.rejected if since is not None else {}
    counts = {k: v - base.get(k, 0) for k, v in stats.rejected.items()}
    total = sum(counts.values())
    if not total:
        return ""
    raw_like = stats.raw_like - (since.raw_like if since is not None else 0)
    seen = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    text = f"{total} message(s) arrived but none was an sdrkit stream message ({seen}; last: {stats.last_reject})"
    if raw_like:
        ep = endpoint.split("?", 1)[0]
        text += (f"; {raw_like} looked like bare complex64 samples (GNU Radio zeromq.pub_sink, itemsize 8, or "
                 f"'sdrkit stream --raw'): accept them with zmq:{ep}?raw=1&rate=RATE&freq=HZ (e.g. "
                 f"--subscribe '{ep}?raw=1&rate=1e6'), giving the flowgraph's sample rate and center frequency")
    elif counts.get("foreign"):
        text += "; another sdrkit stream is published there: pass its name with ?stream=NAME"
    return text


class Subscriber:
    """Receive blocks of one stream, rejecting and counting bad messages, detecting losses.

    Args:
        endpoint: where to connect (or bind, with ``bind=True``).
        stream: the stream name to accept.
        pattern: "sub" or "pull".
        raw: expect bare complex64 payloads (then ``raw_rate``/``raw_freq`` describe them).
        max_samples: refuse messages larger than this.
    """

    def __init__(self, endpoint: str, stream: str = "iq", pattern: str = "sub", raw: bool = False,
                 raw_rate: float = 1e6, raw_freq: float = 0.0, hwm: int = 64, max_samples: int = wire.MAX_SAMPLES,
                 curve_keys: str | None = None, server_key: str | None = None, bind: bool = False,
                 allow_remote: bool = False, max_gap_s: float = MAX_GAP_S):
        import zmq

        if pattern not in ("sub", "pull"):
            raise ConfigError(f"subscriber pattern {pattern!r} must be 'sub' or 'pull'")
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(getattr(zmq, PATTERNS[pattern]))
        self.sock.setsockopt(zmq.RCVHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, 8 * max_samples + wire.HEADER_SIZE + wire.MAX_TAGS + 1024)
        _apply_curve(self.sock, curve_keys, server=False, server_public=server_key)
        if pattern == "sub":
            self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        if bind:
            bind_socket(self.sock, endpoint, allow_remote)
        else:
            self.sock.connect(check_endpoint(endpoint, False))
        self.endpoint = endpoint
        self.raw, self.raw_rate, self.raw_freq = raw, raw_rate, raw_freq
        self.expect = wire.stream_id(stream)
        self.max_samples = max_samples
        self.max_gap_s = max_gap_s
        self.stats = StreamStats()
        self._session = None
        self._next_seq = 0
        self._next_index = 0
        self._last_t = None
        self._last_n = 0
        self._offset = 0
        self._jump = None             # (session, seq, first) a message must have to confirm a jump
        self._poller = None

    def recv(self, timeout_ms: int | None = None) -> wire.Message | None:
        """Next valid message, or None when none arrived within ``timeout_ms`` (one deadline for the
        whole call: rejected messages do not restart it). Bad messages are counted and skipped."""
        import time as _time

        import zmq

        deadline = None if timeout_ms is None else _time.monotonic() + timeout_ms / 1000
        first = True
        while True:
            if deadline is not None and not first and deadline - _time.monotonic() <= 0:
                return None
            # a message already queued is taken at once (a stream at full rate mostly has one):
            # no poll, which costs a Poller and a system call per message
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                if deadline is not None:
                    if self._poller is None:
                        self._poller = zmq.Poller()
                        self._poller.register(self.sock, zmq.POLLIN)
                    if not self._poller.poll(max(0, int((deadline - _time.monotonic()) * 1000))):
                        return None
                frames = self.sock.recv_multipart(copy=False)
            first = False
            if self.raw:
                buf = frames[0].buffer
                if len(buf) >= 4 and bytes(buf[:4]) == wire.MAGIC:
                    self.stats.rejected["malformed"] += 1           # for a raw=1 subscriber
                    self.stats.last_reject = ("an sdrkit stream message (it starts with sdrkit's magic), not bare "
                                              "complex64: this publisher is 'sdrkit stream' without --raw, so drop "
                                              "raw=1 (and rate/freq: its headers carry them)")
                    continue
                if len(frames) != 1 or len(buf) % 8:
                    self.stats.rejected["malformed"] += 1
                    self.stats.last_reject = (f"{len(frames)} frames of {[len(f.buffer) for f in frames]} bytes, "
                                              f"not one frame of whole complex64 samples")
                    continue
                x = np.frombuffer(buf, np.complex64)
                # bare samples carry no send time: stamp their arrival (latency then counts from here)
                h = wire.Header(self.expect, 0, self._next_seq, self._next_index, len(x), self.raw_rate, self.raw_freq,
                                t_ns=(_time.monotonic_ns() >> 10) & 0xFFFFFFFF)
                self._next_seq += 1
                self._next_index += len(x)
                self.stats.messages += 1
                self.stats.samples += len(x)
                return wire.Message(h, x)
            try:
                m = wire.decode(frames, self.expect, self.max_samples)
            except StreamError as exc:
                self.stats.rejected[getattr(exc, "reason", "malformed")] += 1
                self.stats.last_reject = str(exc)
                if looks_raw_complex64(frames):
                    self.stats.raw_like += 1
                continue
            h = m.header
            limit = int(self.max_gap_s * h.rate)            # rate <= wire.MAX_RATE: finite
            if h.lost > limit:                              # a loss count no radio reports: not believed
                self._resync(m, f"lost {h.lost}")
                h.lost = 0
            by = self.stats.lost_by
            if self._session is None:                       # first message: adopt the stream's indices
                self._session, self._offset = h.session, 0
                lost_here = h.lost
                by["radio"] += h.lost
            elif h.session != self._session:                # the publisher restarted
                self.stats.restarts += 1
                m.tags["restart"] = True
                gap = self._clock_gap(h)                    # estimated from its clock
                if h.lost + gap > limit:
                    self._resync(m, f"restart gap {h.lost + gap}")
                    gap = limit - h.lost
                lost_here = h.lost + gap
                by["radio"] += h.lost
                by["restart"] += gap
                self._session = h.session
                self._offset = self._next_index + lost_here - h.first
            else:
                if h.seq < self._next_seq or h.first + self._offset < self._next_index:
                    # one session never goes back (neither PUB/SUB nor PUSH/PULL reorders): a replayed or
                    # forged message, which would hand out a backwards or negative absolute index
                    self.stats.rejected["malformed"] += 1
                    self.stats.last_reject = (f"message seq {h.seq}, first {h.first} goes back in its session "
                                              f"(expected seq >= {self._next_seq}): replayed or forged")
                    continue
                lost_here = h.first + self._offset - self._next_index      # includes radio drops
                seq_gap = h.seq - self._next_seq
                if lost_here > limit or seq_gap > limit // max(h.n, 1) + 1:
                    # more than max_gap_s of samples (or of messages) skipped within one session: no radio
                    # drops that much without a restart. Refused as foreign, unless the next message
                    # carries on from it (a real jump): then re-anchored, its gap taken from the clock
                    if self._jump != (h.session, h.seq, h.first):
                        self._jump = (h.session, h.seq + 1, h.first + h.n)
                        self.stats.rejected["foreign"] += 1
                        self.stats.last_reject = (f"message seq {h.seq} skips {seq_gap} messages and {lost_here} "
                                                  f"samples (more than {self.max_gap_s:g} s at {h.rate:g} "
                                                  f"samples/s) within its session: not believed")
                        continue
                    self._resync(m, f"index jump {lost_here}")
                    lost_here, seq_gap = min(self._clock_gap(h), limit), 0
                    self._offset = self._next_index + lost_here - h.first
                    by["resync"] += lost_here
                else:
                    radio = min(h.lost, lost_here)          # what this block's header says its radio dropped
                    by["radio"] += radio
                    by["transport" if seq_gap else "unreported"] += lost_here - radio
                self._jump = None
                if seq_gap:
                    self.stats.lost_messages += seq_gap
            h.first += self._offset
            h.lost = lost_here
            if lost_here:
                h.flags |= wire.FLAG_GAP
            self.stats.lost_samples += lost_here
            self._next_seq = h.seq + 1
            self._next_index = h.first + h.n
            self._last_t, self._last_n = h.t_ns, h.n
            self.stats.messages += 1
            self.stats.samples += h.n
            return m

    def _clock_gap(self, h: wire.Header) -> int:
        """Samples the publisher's clock says went by between the last block's end and this one."""
        if self._last_t is None:
            return 0
        dt = ((h.t_ns - self._last_t) & 0xFFFFFFFF) * 1024e-9      # < 4400 s: finite at any bounded rate
        return max(0, int(dt * h.rate) - self._last_n)

    def _resync(self, m: wire.Message, what: str) -> None:
        self.stats.resyncs += 1
        m.tags["resync"] = True
        self.stats.last_resync = (f"{what} samples exceeds {self.max_gap_s:g} s at {m.header.rate:g} samples/s: "
                                  f"re-anchored, counted as a resync, its gap taken from the publisher's clock")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
