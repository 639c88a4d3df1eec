"""``zmq:`` radios: a subscription to an sdrkit stream behaves like any other radio.

``open_radio("zmq:tcp://127.0.0.1:5555?stream=iq&pattern=sub")`` returns a :class:`ZmqSource`
whose ``rx()`` yields the published blocks with their absolute start indices, and reports
every message lost on the way (sequence gaps, publisher restarts) and every drop the capture
radio reported as a gap, exactly like a radio overflow.

Options: ``stream`` (name, default iq), ``pattern`` (sub|pull), ``raw=1`` with ``rate``/``freq``
for bare complex64 streams (GNU Radio; a subscriber that receives only such messages times out
saying so, with the option to add), ``timeout`` (s, default 5, at most 86400), ``curve_keys`` (folder), ``hwm`` (receive high-water mark in messages,
default 256: with 16384-sample blocks at 20 MS/s that is 0.2 s of slack before a PUB/SUB subscriber
starts losing whole messages).
"""

from __future__ import annotations

import math
import time
import urllib.parse

import numpy as np

from sdrkit.errors import ConfigError, RadioTimeout
from sdrkit.radio.base import Radio, RadioConfig


def _option(opts: dict, name: str, default, kind, above, unit: str, at_most=None):
    """One numeric ``zmq:`` option: finite, > ``above`` (None: no lower bound) and <= ``at_most``."""
    text = opts.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or (above is not None and value <= above) or \
            (at_most is not None and value > at_most):
        want = "a finite number" + (f" > {above}" if above is not None else "") + \
            (f" and <= {at_most}" if at_most is not None else "")
        raise ConfigError(f"zmq: option {name}={text!r} must be {want} ({unit}, {kind.__name__}); "
                          f"e.g. zmq:tcp://127.0.0.1:5555?{name}={default}")
    return value


class ZmqSource(Radio):
    """A subscription as a radio. Settings mirror the stream's; changing them is refused."""

    scheme = "zmq"

    def __init__(self, endpoint: str, stream: str = "iq", pattern: str = "sub", raw: bool = False,
                 rate: float = 1e6, freq: float = 0.0, timeout: float = 5.0, curve_keys: str | None = None,
                 hwm: int = 256):
        from sdrkit.stream.endpoints import Subscriber, describe_rejected

        self.sub = Subscriber(endpoint, stream=stream, pattern=pattern, raw=raw, raw_rate=rate, raw_freq=freq,
                              curve_keys=curve_keys, hwm=hwm)
        self.timeout_ms = int(timeout * 1000)
        self.hw_description = f"sdrkit stream {stream!r} from {endpoint}"
        first = self.sub.recv(self.timeout_ms)       # learn the stream's rate and frequency
        if first is None:
            seen = describe_rejected(self.sub.stats, endpoint)
            self.sub.close()
            if seen:
                raise RadioTimeout(f"no sdrkit message for stream {stream!r} on {endpoint} within {timeout:g} s: "
                                   f"{seen}")
            raise RadioTimeout(f"no message on {endpoint} (stream {stream!r}) within {timeout:g} s; is "
                               f"'sdrkit stream --publish {endpoint}' running?")
        self._pending = first
        h = first.header
        super().__init__(RadioConfig(rx_lo=h.freq, sample_rate=h.rate, rx_buffer_size=max(h.n, 1)), None)

    @classmethod
    def from_uri(cls, rest: str, config: RadioConfig | None = None, **options) -> "ZmqSource":
        endpoint, _, query = rest.partition("?")
        opts = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        opts.update({k: str(v) for k, v in options.items()})
        known = {"stream", "pattern", "raw", "rate", "freq", "timeout", "curve_keys", "hwm"}
        if set(opts) - known:
            raise ConfigError(f"unknown zmq: option(s) {sorted(set(opts) - known)}; known: {sorted(known)}")
        return cls(endpoint, stream=opts.get("stream", "iq"), pattern=opts.get("pattern", "sub"),
                   raw=opts.get("raw", "0") in ("1", "true"),
                   rate=_option(opts, "rate", 1e6, float, 0, "samples/s"),
                   freq=_option(opts, "freq", 0.0, float, None, "Hz"),
                   timeout=_option(opts, "timeout", 5.0, float, 0, "s", at_most=86400),
                   curve_keys=opts.get("curve_keys"), hwm=_option(opts, "hwm", 256, int, 0, "messages", at_most=1 << 20))

    def _apply(self, config: RadioConfig) -> None:
        import dataclasses

        c = self._config
        changed = [f"{f.name} {getattr(c, f.name)!r} -> {getattr(config, f.name)!r}" for f in dataclasses.fields(config)
                   if getattr(config, f.name) != getattr(c, f.name)]
        if changed:
            raise ConfigError(f"a zmq: stream's settings ({'; '.join(changed)}) are the publisher's: this end cannot "
                              f"change them; set them on the capture process ('sdrkit stream --radio URI ...') "
                              f"that publishes it")

    def rx(self):
        """Next block, with the stream's own start index and loss count."""
        from sdrkit.radio.base import RxBlock

        self._ensure_open()
        from sdrkit.stream.endpoints import describe_rejected

        m, self._pending = self._pending, None
        if m is None:
            st = self.sub.stats
            rejected, raw_like = dict(st.rejected), st.raw_like       # what a timeout's message compares with
            m = self.sub.recv(self.timeout_ms)
            if m is None:
                before = st.snapshot()
                before.rejected, before.raw_like = rejected, raw_like
                seen = describe_rejected(self.sub.stats, self.sub.endpoint, since=before)
                raise RadioTimeout(f"no message on {self.sub.endpoint} within {self.timeout_ms / 1000:g} s"
                                   + (f": {seen}" if seen else ""))
        h = m.header
        if h.lost:
            self._overflows += 1
            self._samples_lost += h.lost
        self._samples_received += h.n
        self._next_index = h.first + h.n
        tags = dict(m.tags)
        # when the block left the capture radio, on this host's monotonic clock (seconds)
        now = time.monotonic_ns()
        sent = now - ((((now >> 10) - h.t_ns) & 0xFFFFFFFF) << 10)
        tags["t_radio"] = sent / 1e9
        return RxBlock(np.array(m.samples), h.first, overflow=bool(h.lost), lost=h.lost, tags=tags)

    @property
    def stats(self):
        return self.sub.stats

    def _close(self) -> None:
        self.sub.close()
