"""Sinks: where predictions (and, for recordings, samples) go after the model.

Every sink has the same three methods (:class:`Sink`), called by
:class:`sdrkit.stream.pipeline.Pipeline`:

* ``on_block(block)``: every radio block, in the source thread (recordings need every sample);
* ``on_timeout(error)``: the radio delivered nothing in time (the run goes on);
* ``on_batch(batch)``: every batch of predictions (:class:`PredictionBatch`), in the inference thread;
* ``close(stats) -> list[str]``: at the end; returns summary lines for the terminal.

Bundled sinks: :class:`TerminalView` (live status line), :class:`JsonlSink` (one JSON line
per frame), :class:`SigMFSink` (the stream recorded to SigMF, predictions as annotations),
:class:`ZmqSink` (predictions as JSON messages on a ZeroMQ PUB socket), :class:`ScoreSink`
(accuracy and a confusion-matrix PNG against the labels of a replayed recording).
"""

from sdrkit.sinks.base import PredictionBatch, Sink
from sdrkit.sinks.files import JsonlSink, SigMFSink
from sdrkit.sinks.score import ScoreSink
from sdrkit.sinks.terminal import StatusLine, TerminalView
from sdrkit.sinks.zmq import ZmqSink

__all__ = ["JsonlSink", "PredictionBatch", "ScoreSink", "SigMFSink", "Sink", "StatusLine", "TerminalView", "ZmqSink"]
