"""Sinks over a real pipeline run: JSONL lines, a SigMF recording with prediction annotations,
predictions over a real ZeroMQ socket, the terminal view."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from sdrkit.capture import open_recording, write_recording
from sdrkit.errors import ConfigError
from sdrkit.radio import open_radio
from sdrkit.runtime.predict import Prediction
from sdrkit.sinks import JsonlSink, SigMFSink, TerminalView, ZmqSink
from sdrkit.stream.pipeline import Pipeline

N = 256


class Card:
    name, path, classes = "power", "(test)", ("low", "high")

    class output:
        kind, shape = "classes", None


class PowerPredictor:
    """'high' when the frame's power is above 0.1, and the power as a named output."""

    card = Card

    def predict(self, frames):
        p = np.mean(np.abs(frames[:, 0]) ** 2, axis=1)
        labels = (p > 0.1).astype(int)
        probs = np.stack([1 - labels, labels], 1).astype(float)
        return Prediction(n=len(frames), classes=Card.classes, labels=labels, probs=probs,
                          outputs={"power": p}, stats={"high": int(labels.sum())})


@pytest.fixture()
def rec(tmp_path):
    x = np.concatenate([np.full(8 * N, 0.01, np.complex64), np.ones(8 * N, np.complex64)])
    return write_recording(tmp_path / "src", x, sample_rate=1e6, center_frequency=1e9)


def test_jsonl_sigmf_and_terminal_sinks(rec, tmp_path):
    out = io.StringIO()
    with open_radio(f"sim:{rec}?loop=0&rx_buffer_size=1000") as radio:
        pipe = Pipeline(radio, PowerPredictor(), N, batch=4)
        pipe.sinks = [TerminalView(pipe.stats, stream=out), JsonlSink(tmp_path / "p.jsonl"),
                      SigMFSink(tmp_path / "copy", radio, "power")]
        st = pipe.run()
    assert st.frames_analyzed == 16 and st.counters == {"high": 8} and st.fraction("high") == 0.5
    assert st.samples_unframed == 16 * N - 16 * N and st.samples_in == 16 * N
    lines = [json.loads(l) for l in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [l["pred"] for l in lines] == ["low"] * 8 + ["high"] * 8
    assert lines[0]["start"] == 0 and lines[-1]["start"] == 15 * N and lines[-1]["power"] == pytest.approx(1.0)
    r = open_recording(tmp_path / "copy")
    assert r.num_samples == 16 * N                                       # every sample recorded
    ann = [a for a in r.labels() if a[2] in ("low", "high")]
    assert len(ann) == 16 and ann[8][:3] == (8 * N, N, "high")
    assert "high" in out.getvalue() and "frames/s" in out.getvalue()
    assert any("16 prediction annotations" in s for s in pipe.summary)


def test_zmq_sink_publishes_predictions_over_a_real_socket(rec):
    import zmq

    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 5000)
    sink = ZmqSink("tcp://127.0.0.1:0", "power")
    endpoint = sink.sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    sub.connect(endpoint)
    import time

    time.sleep(0.3)                                            # let the subscription reach the publisher
    with open_radio(f"sim:{rec}?loop=0") as radio:
        Pipeline(radio, PowerPredictor(), N, batch=16, sinks=[sink]).run()
    msg = json.loads(sub.recv())
    sub.close()
    assert msg["model"] == "power" and len(msg["frames"]) == 16 and msg["frames"][15]["pred"] == "high"


def test_zmq_sink_refuses_a_wildcard_bind_unless_allowed():
    with pytest.raises(ConfigError, match="every interface.*allow_remote"):
        ZmqSink("tcp://*:5599", "m")


def test_first_prediction_is_checked_against_the_card(rec):
    from sdrkit.errors import ModelError

    class Wrong(PowerPredictor):
        def predict(self, frames):
            p = super().predict(frames)
            p.probs = p.probs[:, :1]
            return p

    with open_radio(f"sim:{rec}?loop=0") as radio, pytest.raises(ModelError, match="probs"):
        Pipeline(radio, Wrong(), N).run()
