"""``sdrkit bench soak``: a long live run under scheduled faults, ending in an exact sample account.

A capture process publishes a 20 MS/s ``sim:`` stream over ZeroMQ with injected radio
overflows and timeouts; it is restarted every ``restart_s`` seconds (a publisher restart,
seen by the subscriber as a gap sized from the publisher's clock, and as radio timeouts while
it is down). The subscriber runs the bundled demo model through the live pipeline. At the end:

    samples in (delivered + reported lost) = classified + skipped + discarded at gaps + unframed
                                             + lost before the host

and every lost sample is attributed, as the subscriber counted it block by block
(:attr:`~sdrkit.stream.endpoints.StreamStats.lost_by`): the publisher's radio (the overflows its
headers report), ZeroMQ transport (missing messages), publisher restarts (the gap while it was
down, from its clock), resyncs and unreported index jumps; "unattributed" must be 0. Not part of ``sdrkit
bench`` without a name (it takes 10 minutes): run ``sdrkit bench soak`` (``--seconds S`` sets
the duration, ``--quick`` runs 20 s).
"""

from __future__ import annotations

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark


@benchmark("soak", opt_in=True)
def soak(ctx: BenchContext) -> list[Result]:
    """10-minute live run at 20 MS/s with publisher restarts, overflows and timeouts; exact sample account."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import threading
    import time
    from pathlib import Path

    from sdrkit.bench.stream import _PUBLISHED
    from sdrkit.capture import write_recording
    from sdrkit.dsp import modulate
    from sdrkit.radio import open_radio
    from sdrkit.resources import DEMO, resolve
    from sdrkit.runtime import load_card
    from sdrkit.runtime.predict import PredictorOptions
    from sdrkit.sinks import Sink
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks import get_task

    seconds = 20.0 if ctx.quick else (ctx.seconds if ctx.seconds > 1 else 600.0)
    restart_s = max(seconds / 10, 5.0)
    fs, block = 20e6, 16384
    card = load_card(resolve("models", DEMO["model"]))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ep = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    published, stop, up = [], threading.Event(), threading.Event()

    class Restarts(Sink):
        """The losses the pipeline saw on blocks tagged as a publisher restart (cross-check)."""
        lost = 0

        def on_block(self, b):
            if b.tags and b.tags.get("restart"):
                Restarts.lost += b.lost

    with tempfile.TemporaryDirectory() as d:
        x = 0.3 * modulate("qam16", 2 ** 21, rng=np.random.default_rng(0), sps=4)
        rec = write_recording(Path(d) / "r", x, sample_rate=fs, center_frequency=2.4e9)
        faults = "overflow@300:2,timeout@700,overflow@900:1"
        cmd = [sys.executable, "-m", "sdrkit", "stream", "--radio", f"sim:{rec}?realtime=1&faults={faults}",
               "--buffer-size", str(block), "--publish", ep]

        def publisher():
            while not stop.is_set():
                p = subprocess.Popen(cmd + ["--seconds", str(restart_s)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
                first = p.stdout.readline()          # "publishing ..." once it is sending
                up.set()
                while p.poll() is None and not stop.is_set():
                    time.sleep(0.05)
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
                out, _ = p.communicate(timeout=20)
                m = _PUBLISHED.search(first + (out or ""))
                published.append(int(m.group(3)) if m else None)

        th = threading.Thread(target=publisher, daemon=True)
        th.start()
        up.wait(60)
        try:
            predictor = get_task(card.task).predictor(card, PredictorOptions(threads=1))
            with open_radio(f"zmq:{ep}?timeout=1") as radio:
                pipe = Pipeline(radio, predictor, card.input.frame_len, batch=32, max_queue=64, sinks=[Restarts()])
                st = pipe.run(seconds=seconds)
                by = dict(radio.stats.lost_by)
                restarts, resyncs = radio.stats.restarts, radio.stats.resyncs
                lost_messages, subscriber_lost = radio.stats.lost_messages, radio.stats.lost_samples
        finally:
            stop.set()
            th.join(30)
    n = card.input.frame_len
    lost = st.samples_lost
    accounted = (st.frames_analyzed + st.frames_skipped) * n + st.samples_discarded + st.samples_unframed + lost
    samples_in = st.samples_in + lost
    # every lost sample by where it was lost, counted by the subscriber as each block arrived
    unattributed = lost - sum(by.values())
    notes = (f"{seconds:.0f} s, {restarts} publisher restarts, {resyncs} resyncs, {st.timeouts} radio timeouts; "
             f"in {samples_in} = classified {st.frames_analyzed * n} + skipped {st.frames_skipped * n} + discarded "
             f"at gaps {st.samples_discarded} + unframed {st.samples_unframed} + lost {lost} (publisher radio "
             f"{by['radio']}, transport {by['transport']} in {lost_messages} messages, restart gaps {by['restart']}, "
             f"resyncs {by['resync']}, unreported index jumps {by['unreported']}, unattributed {unattributed}); "
             f"restart-tagged blocks carried {Restarts.lost}; publisher runs reported radio losses {published} "
             f"(over their whole runs, also while no subscriber listened)")
    return [Result("soak account residual", abs(samples_in - accounted), "samples", target=0,
                   higher_is_better=False, notes=notes),
            Result("soak lost samples unattributed", abs(unattributed) + abs(lost - subscriber_lost), "samples",
                   target=0, higher_is_better=False, notes="lost - (radio + transport + restart + resync + "
                   "unreported), plus any difference between the pipeline's and the subscriber's loss counts"),
            Result("soak samples classified", st.frames_analyzed * n / max(samples_in, 1), "fraction",
                   notes=f"{st.frames_analyzed} frames, {st.frames_skipped} skipped by the queue"),
            Result("soak samples lost before the host", lost, "samples", notes=notes,
                   extra={**{f"lost_{k}": v for k, v in by.items()}, "unattributed": unattributed,
                          "restart_tagged": Restarts.lost, "timeouts": st.timeouts, "restarts": restarts,
                          "resyncs": resyncs, "lost_messages": lost_messages, "publisher_reports": published})]
