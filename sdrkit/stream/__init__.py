"""I/Q over ZeroMQ: wire format, publishers/subscribers, and the ``zmq:`` radio."""

from sdrkit.stream.endpoints import Publisher, StreamStats, Subscriber
from sdrkit.stream.wire import Header, Message, decode, encode, stream_id

__all__ = ["Header", "Message", "Publisher", "StreamStats", "Subscriber", "decode", "encode", "stream_id"]
