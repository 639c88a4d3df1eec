"""Predictions out over ZeroMQ: one JSON message per batch on a PUB socket.

Message: ``{"model", "frame_len", "frames": [{"start", "pred", "p", ...}, ...]}`` (UTF-8
JSON). Binds 127.0.0.1 unless an address is given explicitly; a wildcard bind needs
``allow_remote=True``, as for I/Q streams.
"""

from __future__ import annotations

import json

from sdrkit.errors import ConfigError
from sdrkit.sinks.base import PredictionBatch, Sink, frame_records


class ZmqSink(Sink):
    """Publish each batch of predictions as JSON on ``endpoint`` (``tcp://127.0.0.1:5560``)."""

    def __init__(self, endpoint: str, model: str, allow_remote: bool = False):
        import zmq

        if ("*" in endpoint or "0.0.0.0" in endpoint) and not allow_remote:
            raise ConfigError(f"endpoint {endpoint!r} listens on every interface; bind tcp://127.0.0.1:PORT or "
                              f"pass allow_remote=True (--allow-remote) to publish predictions off this host")
        self.endpoint, self.model = endpoint, model
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        try:
            self.sock.bind(endpoint)
        except zmq.ZMQError as exc:
            self.sock.close()
            raise ConfigError(f"cannot bind {endpoint!r} for predictions: {exc}") from exc
        self.messages = 0

    def on_batch(self, batch: PredictionBatch) -> None:
        msg = {"model": self.model, "frame_len": batch.frame_len, "frames": list(frame_records(batch))}
        self.sock.send(json.dumps(msg).encode())
        self.messages += 1

    def close(self, stats) -> list[str]:
        self.sock.close()
        return [f"published {self.messages} prediction messages on {self.endpoint}"]
