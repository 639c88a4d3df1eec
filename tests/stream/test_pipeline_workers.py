"""The live pipeline with several inference threads: every frame analyzed once, batches reach the
sinks in stream order whichever thread finished first, the queue's drop-oldest and age limits
account for every skipped frame."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.errors import ConfigError
from sdrkit.radio import open_radio
from sdrkit.runtime.predict import Prediction
from sdrkit.sinks.base import Sink
from sdrkit.stream.pipeline import Pipeline

N = 256


class Card:
    name, path, classes = "count", "(test)", ()

    class output:
        kind, shape = "embedding", None


class Slow:
    """Sleeps a varying time per batch (so threads finish out of order); records its thread."""

    card = Card

    def __init__(self, seed, delay=0.004):
        self.rng, self.delay = np.random.default_rng(seed), delay
        self.threads, self.resets = set(), 0

    def reset(self):
        self.resets += 1

    def predict(self, frames):
        self.threads.add(threading.get_ident())
        time.sleep(self.delay * self.rng.random())
        return Prediction(n=len(frames), outputs={"first": np.real(frames[:, 0, 0]).copy()},
                          stats={"seen": len(frames)})


class Order(Sink):
    def __init__(self):
        self.starts, self.values, self.calls = [], [], 0

    def on_batch(self, batch):
        self.calls += 1
        self.starts.extend(batch.starts.tolist())
        self.values.extend(batch.prediction.outputs["first"].tolist())


@pytest.fixture()
def rec(tmp_path):
    # sample i holds i: a frame's first sample says where it starts
    x = np.arange(200 * N, dtype=np.float32).astype(np.complex64)
    return write_recording(tmp_path / "src", x, sample_rate=1e6, center_frequency=1e9)


def test_three_threads_analyze_every_frame_once_and_deliver_in_stream_order(rec):
    preds = [Slow(i) for i in range(3)]
    sink = Order()
    with open_radio(f"sim:{rec}?loop=0&rx_buffer_size={3 * N}") as radio:
        pipe = Pipeline(radio, preds, N, batch=5, max_queue=10 ** 6, sinks=[sink])
        st = pipe.run()
    assert st.frames_in == st.frames_analyzed == 200 and st.frames_skipped == 0 and st.workers == 3
    assert sink.starts == [i * N for i in range(200)]                  # stream order, no repeats
    assert sink.values == [float(i * N) for i in range(200)]           # each frame's own prediction
    assert st.counters == {"seen": 200} and len(st.latencies) == 200 and st.batches == sink.calls
    assert all(p.resets == 1 for p in preds) and sum(bool(p.threads) for p in preds) >= 2
    assert set(pipe.cpu_seconds) == {"sdrkit-source"} | {f"sdrkit-inference-{i}" for i in range(3)}
    assert "3 inference threads" in st.summary()


def test_the_same_predictor_twice_is_refused(rec):
    p = Slow(0)
    with open_radio(f"sim:{rec}") as radio, pytest.raises(ConfigError, match="each inference thread needs its own"):
        Pipeline(radio, [p, p], N)


@pytest.mark.parametrize("max_age", [0, -1, float("nan"), "1"])
def test_a_bad_age_limit_is_refused(rec, max_age):
    with open_radio(f"sim:{rec}") as radio, pytest.raises(ConfigError, match="max_age"):
        Pipeline(radio, Slow(0), N, max_age=max_age)


def test_drop_oldest_cuts_inside_a_block_and_counts_every_frame(rec):
    sink = Order()
    with open_radio(f"sim:{rec}?loop=0&rx_buffer_size={7 * N}") as radio:
        st = Pipeline(radio, Slow(0, delay=0.05), N, batch=4, max_queue=10, sinks=[sink]).run()
    assert st.frames_skipped > 0 and st.frames_analyzed + st.frames_skipped == st.frames_in == 200
    assert sink.starts == sorted(sink.starts) and len(set(sink.starts)) == len(sink.starts)
    assert sink.values == [float(s) for s in sink.starts]


class Paced:
    """A radio that delivers a 4-frame block every 2 ms (faster than the slow model takes them)."""

    def __init__(self, blocks=50):
        self.i, self.blocks = 0, blocks

    def rx(self):
        from sdrkit.radio.base import RxBlock

        if self.i == self.blocks:
            raise EOFError
        time.sleep(0.002)
        x = np.arange(self.i * 4 * N, (self.i + 1) * 4 * N, dtype=np.float32).astype(np.complex64)
        self.i += 1
        return RxBlock(x, (self.i - 1) * 4 * N, tags={"t_radio": time.monotonic()})


def test_frames_older_than_the_age_limit_are_skipped_and_latency_stays_bounded():
    st = Pipeline(Paced(), Slow(0, delay=0.02), N, batch=2, max_queue=10 ** 6, max_age=0.005).run()
    assert st.frames_in == 200 and st.frames_stale > 0 and st.frames_analyzed > 0
    assert st.frames_analyzed + st.frames_skipped == st.frames_in and st.frames_skipped == st.frames_stale
    # taken when <= 5 ms old, then at most one 20 ms model call (plus scheduling on a loaded box)
    assert max(st.latencies) < 0.005 + 0.02 + 0.2
