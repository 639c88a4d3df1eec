"""Stream benchmarks: throughput over tcp loopback (sdrkit messages vs raw pyzmq frames of the same
size), and the end-to-end run (capture process -> ZeroMQ -> live pipeline) with every lost sample
attributed to where it was lost: the publisher's radio, ZeroMQ, or the pipeline."""

from __future__ import annotations

import multiprocessing as mp
import re
import time
from dataclasses import dataclass

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark


def _pace(i: int, n: int, rate: float | None, t0: float) -> None:
    if rate:
        due = t0 + i * n / rate
        d = due - time.perf_counter()
        if d > 0:
            time.sleep(d)


def _sender(endpoint: str, pattern: str, raw_zmq: bool, n_msgs: int, n: int, ready, rate=None) -> None:
    import zmq

    from sdrkit.stream import Publisher

    x = (np.random.default_rng(0).standard_normal(2 * n).astype(np.float32)).view(np.complex64)
    if raw_zmq:
        sock = zmq.Context.instance().socket(zmq.PUB if pattern == "pub" else zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, 64)
        sock.bind(endpoint)
        ready.set()
        time.sleep(0.5)
        payload = memoryview(x).cast("B")
        t0 = time.perf_counter()
        for i in range(n_msgs):
            _pace(i, n, rate, t0)
            sock.send(payload, copy=False)
        sock.close(linger=10000)
        zmq.Context.instance().term()      # flush before the process exits
    else:
        pub = Publisher(endpoint, pattern=pattern, hwm=64)
        ready.set()
        time.sleep(0.5)
        t0 = time.perf_counter()
        for i in range(n_msgs):
            _pace(i, n, rate, t0)
            pub.send(x, i * n, 61.44e6, 2.4e9)
        pub.sock.close(linger=10000)
        zmq.Context.instance().term()


def _run(pattern: str, raw_zmq: bool, n_msgs: int, n: int, rate=None) -> tuple[float, int, int]:
    """(samples/s at the receiver, messages received, messages lost)."""
    import socket

    import zmq

    from sdrkit.stream import Subscriber

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ep = f"tcp://127.0.0.1:{port}"
    ready = mp.Event()
    proc = mp.get_context("fork").Process(target=_sender, args=(ep, pattern, raw_zmq, n_msgs, n, ready, rate))
    proc.start()
    ready.wait(10)
    got = lost = 0
    t0 = None
    if raw_zmq:
        sock = zmq.Context.instance().socket(zmq.SUB if pattern == "pub" else zmq.PULL)
        sock.setsockopt(zmq.RCVHWM, 64)
        if pattern == "pub":
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(ep)
        while got < n_msgs and sock.poll(3000):
            f = sock.recv(copy=False)
            if t0 is None:
                t0 = time.perf_counter()
            got += 1
        sock.close()
        lost = n_msgs - got
    else:
        sub = Subscriber(ep, pattern="sub" if pattern == "pub" else "pull", hwm=64)
        last = -1
        while got < n_msgs:
            m = sub.recv(3000)
            if m is None:
                break
            if t0 is None:
                t0 = time.perf_counter()
            got += 1
            last = m.header.seq
            if last == n_msgs - 1:
                break
        lost = n_msgs - got           # sequence gaps plus anything missing at the end
        sub.close()
    dt = time.perf_counter() - t0 if t0 else float("inf")
    proc.join(20)
    return (max(got - 1, 0) * n) / dt, got, lost


@benchmark("stream")
def stream_bench(ctx: BenchContext) -> list[Result]:
    """PUSH/PULL and PUB/SUB loopback MS/s (zero loss) vs raw pyzmq of the same message size."""
    n = 2 ** 16 if ctx.quick else 2 ** 18
    n_msgs = 60 if ctx.quick else max(300, int(ctx.seconds * 300e6 / n))   # ~1 s per run at 300 MS/s
    out = []
    # PUSH/PULL: unpaced, back-pressure keeps it lossless
    # alternate sdrkit and raw runs (3 rounds, best of each) so that load from other processes on
    # the shared box hits both alike; a round with any loss does not count
    runs = {False: [], True: []}
    for _ in range(1 if ctx.quick else 3):
        for raw in (False, True):
            runs[raw].append(_run("push", raw, n_msgs, n))
    rate, got, lost = max(runs[False], key=lambda r: (r[2] == 0, r[0]))
    ceil, cgot, clost = max(runs[True], key=lambda r: (r[2] == 0, r[0]))
    out.append(Result("PUSH/PULL sdrkit stream", rate / 1e6, "MS/s", ceil / 1e6, "raw pyzmq same size",
                      target=61.44, notes=f"best of {len(runs[False])} alternating runs, {n}-sample messages, {got}/{n_msgs} received, {lost} lost "
                                          f"(raw: {cgot} received, {clost} lost); target also >= 0.8 x ceiling"))
    # PUB/SUB drops what a subscriber cannot take: the sustained figure is the highest paced rate
    # with zero loss, searched from high to low for both sdrkit and raw pyzmq
    # with the same ladder; the two ladders are interleaved step by step so both see the same load
    ladder = (500e6, 400e6, 320e6, 250e6, 200e6, 160e6, 125e6, 100e6, 80e6, 61.44e6, 40e6, 20e6)
    found = {False: (0.0, 0.0), True: (0.0, 0.0)}
    for r in ladder:
        for raw in (False, True):
            if found[raw][1]:
                continue
            got_r, rcv, lst = _run("pub", raw, n_msgs // 2, n, rate=r)
            if lst == 0:
                found[raw] = (got_r, r)
        if found[False][1] and found[True][1]:
            break
    rate, paced = found[False]
    ceil, cpaced = found[True]
    out.append(Result("PUB/SUB sdrkit stream", rate / 1e6, "MS/s", ceil / 1e6, "raw pyzmq same size",
                      target=61.44, notes=f"{n}-sample messages, highest zero-loss paced rate: {paced / 1e6:g} MS/s "
                                          f"(raw {cpaced / 1e6:g}); target also >= 0.8 x ceiling"))
    return out


_PUBLISHED = re.compile(r"published (\d+) blocks, (\d+) samples in [\d.]+ s; radio lost (\d+)")


@dataclass(frozen=True)
class LossReport:
    """Where the samples of one end-to-end run were lost, from the counters each stage keeps.

    Attributes:
        block: samples per published message (the capture radio's rx_buffer_size).
        radio: samples the publisher's radio dropped (overflows) while the subscriber listened:
            the subscriber's gap total minus the samples of the messages it never got.
        transport_messages: messages ZeroMQ lost (sequence gaps the subscriber saw).
        transport: samples in those messages (``transport_messages * block``; every message of
            this run carries ``block`` samples).
        publisher_radio: the capture process's own count of its radio's losses over its whole
            run (also before the subscriber connected and after it left), None if it did not say.
        frames_skipped: frames the pipeline's drop-oldest queue skipped (model too slow).
        samples_discarded: samples the pipeline's framer discarded at gaps (partial frames).
        other: samples lost elsewhere (publisher restarts, resyncs, index jumps no header
            reported), as the subscriber attributed them; 0 in a run without restarts.
        unattributed: lost samples no source accounts for (must be 0).
    """

    block: int
    radio: int
    transport_messages: int
    transport: int
    publisher_radio: int | None
    frames_skipped: int
    samples_discarded: int
    other: int = 0
    unattributed: int = 0

    @classmethod
    def measure(cls, block: int, lost_at_subscriber: int, lost_messages: int, publisher_stdout: str,
                frames_skipped: int, samples_discarded: int, lost_by: dict | None = None) -> "LossReport":
        """Attribute ``lost_at_subscriber`` (every gap the subscriber reported) to where it was lost:
        from the subscriber's per-block attribution (``StreamStats.lost_by``) when given, else
        transport = missing messages x block and radio = the rest."""
        m = _PUBLISHED.search(publisher_stdout or "")
        pub = int(m.group(3)) if m else None
        if lost_by is None:
            transport = lost_messages * block
            return cls(block, lost_at_subscriber - transport, lost_messages, transport, pub, frames_skipped,
                       samples_discarded)
        other = lost_by.get("restart", 0) + lost_by.get("resync", 0) + lost_by.get("unreported", 0)
        return cls(block, lost_by["radio"], lost_messages, lost_by["transport"], pub, frames_skipped,
                   samples_discarded, other, lost_at_subscriber - sum(lost_by.values()))

    @property
    def lost(self) -> int:
        """Samples that never reached the model's input: radio + transport + other + unattributed +
        discarded at gaps."""
        return self.radio + self.transport + self.other + self.unattributed + self.samples_discarded

    def notes(self) -> str:
        pub = "did not report" if self.publisher_radio is None else f"{self.publisher_radio} over its whole run"
        return (f"lost at the publisher's radio (overflow) {self.radio} samples (capture process: {pub}); "
                f"in ZeroMQ transport {self.transport} samples ({self.transport_messages} messages of "
                f"{self.block}); restarts/resyncs/unreported jumps {self.other}; unattributed {self.unattributed}; "
                f"in the pipeline {self.frames_skipped} frames skipped by the drop-oldest queue, "
                f"{self.samples_discarded} samples discarded at gaps")


@benchmark("stream_e2e")
def stream_e2e(ctx: BenchContext) -> list[Result]:
    """Capture process at 20 MS/s -> ZeroMQ -> pipeline with the bundled demo model: latency, analyzed
    share, and every lost sample attributed to where it was lost (publisher radio, ZeroMQ, pipeline)."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from sdrkit.capture import write_recording
    from sdrkit.dsp import modulate
    from sdrkit.radio import open_radio
    from sdrkit.resources import DEMO, resolve
    from sdrkit.runtime import load_card
    from sdrkit.runtime.predict import PredictorOptions
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks import get_task

    card = load_card(resolve("models", DEMO["model"]))
    fs = 20e6
    block = 16384
    batch = int(os.environ.get("SDRKIT_E2E_BATCH", 32))
    seconds = 3.0 if ctx.quick else 8.0
    rng = np.random.default_rng(0)
    x = 0.3 * modulate("qam16", 2 ** 21, rng=rng, sps=4)
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ep = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    with tempfile.TemporaryDirectory() as d:
        rec = write_recording(Path(d) / "r", x, sample_rate=fs, center_frequency=2.4e9)
        proc = subprocess.Popen([sys.executable, "-m", "sdrkit", "stream", "--radio", f"sim:{rec}?realtime=1",
                                 "--buffer-size", str(block), "--publish", ep, "--seconds", str(seconds + 4)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out = ""
        try:
            proc.stdout.readline()
            predictor = get_task(card.task).predictor(card, PredictorOptions(threads=1))
            with open_radio(f"zmq:{ep}") as radio:
                # the model is trained at 1 MS/s: this run loads it with a 20 MS/s stream on purpose,
                # to measure the pipeline, so the card's rate check is not applied here
                # batches of 32 frames (~8 ms of model time on one core) and a 64-frame queue bound the
                # latency (batch 64 / queue 128 measured p99 65 ms on the loaded box, 32 / 64: 15 ms)
                st = Pipeline(radio, predictor, card.input.frame_len, batch=batch, max_queue=64).run(seconds=seconds)
                lost_sub, lost_msgs = radio.samples_lost, radio.stats.lost_messages
                lost_by = dict(radio.stats.lost_by)
            # SIGINT ends the capture process the way Ctrl-C does: it prints its radio's loss count
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    loss = LossReport.measure(block, lost_sub, lost_msgs, out, st.frames_skipped, st.samples_discarded, lost_by)
    rate = st.frames_analyzed / seconds
    notes = (f"{st.frames_in} frames in, {st.frames_analyzed} analyzed ({st.analyzed_fraction:.1%}); "
             f"{loss.notes()}; 1 inference thread, batch {batch}")
    where = {"radio": loss.radio, "transport": loss.transport, "transport_messages": loss.transport_messages,
             "publisher_radio": loss.publisher_radio, "frames_skipped": loss.frames_skipped,
             "samples_discarded": loss.samples_discarded, "other": loss.other, "unattributed": loss.unattributed}
    return [Result("e2e latency p50", st.latency_ms(50), "ms", notes=notes, higher_is_better=False),
            Result("e2e latency p99", st.latency_ms(99), "ms", target=50.0, higher_is_better=False, notes=notes),
            Result("frames classified per s (1 core)", rate, "frames/s", fs / card.input.frame_len,
                   "frames/s arriving at 20 MS/s", notes=f"fraction of the stream analyzed {st.analyzed_fraction:.1%}"),
            Result("e2e samples lost before the model", loss.lost, "samples", target=0, higher_is_better=False,
                   notes=loss.notes(), extra=where)]
