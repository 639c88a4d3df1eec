"""Measure the live web view's update rate under a 20 MS/s stream (issue 20's closing note).

    .venv/bin/python -m tests.sinks.measure_web_view [--rate 20e6] [--seconds 10] [--view-rate 10]

A 20 MS/s recording is replayed in real time (``sim:...?realtime=1&loop=1``) through the live
pipeline with a trivial predictor (power above/below the median: the view, not a model, is what
is measured) and the :class:`~sdrkit.sinks.web.WebView`; a server-sent-events client counts the
updates it receives. Prints updates/s received, the stream's delivered rate and samples lost.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request

import numpy as np


class _Power:
    classes = ("low", "high")
    card = None

    def predict(self, frames):
        from sdrkit.runtime.predict import Prediction

        p = np.mean(np.abs(frames[:, 0]) ** 2, axis=-1)
        lab = (p > np.median(p)).astype(int)
        probs = np.stack([1 - lab, lab], 1).astype(np.float32)
        return Prediction(n=len(frames), classes=self.classes, labels=lab, probs=probs)


def measure(sample_rate: float = 20e6, seconds: float = 10.0, view_rate: float = 10.0, view: bool = True) -> dict:
    from sdrkit.capture import write_recording
    from sdrkit.radio import open_radio
    from sdrkit.sinks.web import WebView
    from sdrkit.stream.pipeline import Pipeline

    tmp = tempfile.mkdtemp(prefix="sdrkit-webrate-")
    n = int(sample_rate * 0.5)
    rng = np.random.default_rng(0)
    x = (0.05 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)
    x += (0.5 * np.exp(2j * np.pi * 0.1 * np.arange(n))).astype(np.complex64) * (np.arange(n) % 200_000 < 100_000)
    rec = write_recording(f"{tmp}/r", x, sample_rate=sample_rate, center_frequency=2.4e9)
    got = []
    with open_radio(f"sim:{rec}?realtime=1&loop=1&rx_buffer_size=262144") as radio:
        pipe = Pipeline(radio, _Power(), 1024, batch=256, check_output=False)
        if not view:                                   # the same stream without the view: what the view costs
            st = pipe.run(seconds=seconds)
            return {"sample_rate": sample_rate, "seconds": st.seconds, "view": False,
                    "delivered_msps": st.samples_in / st.seconds / 1e6, "samples_lost": st.samples_lost,
                    "frames_analyzed_fraction": st.analyzed_fraction}
        view = WebView(pipe.stats, radio, queue=lambda: pipe.queued, port=0, rate=view_rate, title="rate test")

        def client():
            with urllib.request.urlopen(view.url + "events", timeout=seconds + 10) as r:
                t_end = time.monotonic() + seconds + 5
                while time.monotonic() < t_end:
                    line = r.readline()
                    if not line:
                        return
                    if line.startswith(b"data: "):
                        ev = json.loads(line[6:])
                        got.append((time.monotonic(), ev["seq"]))
                        if ev.get("ended"):
                            return

        c = threading.Thread(target=client, daemon=True)
        c.start()
        pipe.sinks = [view]
        st = pipe.run(seconds=seconds)
        c.join(10)
        view.shutdown()
    ts = [t for t, _ in got]
    span = ts[-1] - ts[0] if len(ts) > 1 else float("nan")
    return {"sample_rate": sample_rate, "seconds": st.seconds, "updates_received": len(got),
            "updates_per_s": (len(got) - 1) / span if len(ts) > 1 else 0.0, "view_rate_asked": view_rate,
            "delivered_msps": st.samples_in / st.seconds / 1e6, "samples_lost": st.samples_lost,
            "frames_analyzed_fraction": st.analyzed_fraction}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=20e6)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--view-rate", type=float, default=10.0)
    ap.add_argument("--no-view", action="store_true", help="the same stream without the view (baseline)")
    a = ap.parse_args()
    r = measure(a.rate, a.seconds, a.view_rate, view=not a.no_view)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
