"""Predictions out over ZeroMQ: one JSON message per batch on a PUB socket.

Message: ``{"model", "frame_len", "frames": [{"start", "pred", "p", ...}, ...]}`` (UTF-8
JSON). Binds through :func:`sdrkit.stream.endpoints.bind_socket`, as I/Q streams do: any address that is
not loopback (``*``, ``0``, ``[::]``, an interface, a host address) needs ``allow_remote=True``.
"""

from __future__ import annotations

import json

from sdrkit.sinks.base import PredictionBatch, Sink, frame_records


class ZmqSink(Sink):
    """Publish each batch of predictions as JSON on ``endpoint`` (``tcp://127.0.0.1:5560``)."""

    def __init__(self, endpoint: str, model: str, allow_remote: bool = False):
        import zmq

        from sdrkit.stream.endpoints import bind_socket

        self.model = model
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = bind_socket(self.sock, endpoint, allow_remote)    # the one loopback-unless-allowed check
        self.messages = 0

    def on_batch(self, batch: PredictionBatch) -> None:
        msg = {"model": self.model, "frame_len": batch.frame_len, "frames": list(frame_records(batch))}
        self.sock.send(json.dumps(msg).encode())
        self.messages += 1

    def close(self, stats) -> list[str]:
        self.sock.close()
        return [f"published {self.messages} prediction messages on {self.endpoint}"]
