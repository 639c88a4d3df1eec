"""The live web view: a local page with the spectrum, a waterfall and the predictions, fed by the
running pipeline over server-sent events (stdlib ``http.server``; no other dependency).

::

    sdrkit classify --radio URI --model CARD --view web      # then open http://127.0.0.1:8050/

Routes: ``/`` the page (one HTML file, inline script, canvas drawing), ``/events`` the event
stream (``text/event-stream``, one JSON object per update), ``/state`` the latest update as
JSON (for scripts and tests). The server binds 127.0.0.1 unless told otherwise.

Each update carries: the spectrum of the newest block (dB, ``bins`` points across the band),
the prediction of the newest frames and a rolling tally per class, stream health (rate, lost
samples, queue, latency, each predictor counter as a fraction, e.g. the early-exit fraction),
when the stream is labelled the rolling accuracy and its per-SNR breakdown, and, when the
task outputs a ``mask``, the newest frame's mask reduced to one value per spectrum bin (drawn
over the spectrum and the waterfall). The spectrum is computed at most ``rate`` times a second
in the source thread (one FFT of ``nfft`` samples), so the view costs the stream little at any
sample rate.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import numpy as np

from sdrkit.sinks.base import PredictionBatch, Sink

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WebView(Sink):
    """Serve the live view of a run on ``http://host:port/``.

    Args:
        stats: the pipeline's live :class:`~sdrkit.stream.pipeline.PipelineStats`.
        radio: the radio (sample rate and frequency for the axis; nominal rate).
        score: an optional :class:`~sdrkit.sinks.ScoreSink` (rolling accuracy, per SNR).
        queue: a callable returning the frames queued now (the pipeline's ``queued``).
        host, port: where to listen (port 0: any free port; see :attr:`url`).
        allow_remote: allow a host other than the loopback interface.
        rate: updates per second sent to the page.
        nfft, bins: FFT size of the spectrum and the points sent per update.
        title: the page title (e.g. the model's name).

    Raises:
        ConfigError: a non-loopback host without ``allow_remote``, or the port cannot be bound.
    """

    def __init__(self, stats, radio, score=None, queue=None, host: str = "127.0.0.1", port: int = 8050,
                 allow_remote: bool = False, rate: float = 10.0, nfft: int = 1024, bins: int = 512,
                 title: str = "sdrkit", window: int = 200):
        from sdrkit.errors import ConfigError

        if host not in LOOPBACK and not allow_remote:
            raise ConfigError(f"--view-host {host} would show the live view to the network; use 127.0.0.1, or "
                              f"pass --allow-remote to mean it")
        if not (0 < rate <= 100):
            raise ConfigError(f"view update rate {rate} must be in (0, 100] updates/s")
        self.stats, self.radio, self.score, self.queue = stats, radio, score, queue
        self.rate, self.nfft, self.bins, self.title = float(rate), int(nfft), int(bins), title
        self.recent = collections.deque(maxlen=window)
        self.total: collections.Counter = collections.Counter()
        self.last_frames: collections.deque = collections.deque(maxlen=12)
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._spectrum = None
        self._mask = None
        self._t_spec = 0.0
        self._latency_ms = float("nan")
        self._event: dict | None = None
        self.seq = 0
        self.t0 = time.perf_counter()
        self._closed = threading.Event()
        self.window = np.hanning(self.nfft).astype(np.float32)
        self.window /= np.sqrt(np.mean(self.window ** 2))
        view = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):          # no access log on the terminal
                pass

            def do_GET(self):
                path = self.path.partition("?")[0]
                if path == "/":
                    from sdrkit.sinks.web_page import PAGE

                    self._send(200, "text/html; charset=utf-8", PAGE.encode())
                elif path == "/state":
                    self._send(200, "application/json", json.dumps(view._event or {}).encode())
                elif path == "/events":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    view._serve_events(self.wfile)
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self.server = ThreadingHTTPServer((host, int(port)), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve the live view on {host}:{port}: {exc.strerror}; pick another "
                              f"--view-port (0: any free port)") from exc
        self.server.daemon_threads = True
        h, p = self.server.server_address[:2]
        self.url = f"http://{h if ':' not in h else '[' + h + ']'}:{p}/"
        self._threads = [threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                          name="sdrkit-web", daemon=True),
                         threading.Thread(target=self._publish, name="sdrkit-web-events", daemon=True)]
        for t in self._threads:
            t.start()

    # ---- pipeline hooks ------------------------------------------------------------------------
    def on_block(self, block) -> None:
        now = time.perf_counter()
        if now - self._t_spec < 1.0 / self.rate:
            return
        self._t_spec = now
        x = block.samples if block.samples.ndim == 1 else block.samples[0]
        if len(x) < self.nfft:
            return
        X = np.fft.fftshift(np.fft.fft(x[-self.nfft:] * self.window))
        p = np.abs(X) ** 2 / self.nfft ** 2
        k = max(1, self.nfft // self.bins)
        p = p[: (len(p) // k) * k].reshape(-1, k).mean(1)
        spec = np.round(10 * np.log10(p + 1e-20), 1)
        with self._lock:
            self._spectrum = spec

    def on_batch(self, batch: PredictionBatch) -> None:
        p = batch.prediction
        names = p.label_names()
        conf = p.confidence()
        mask = p.outputs.get("mask") if isinstance(getattr(p, "outputs", None), dict) else None
        with self._lock:
            self.recent.extend(names)
            self.total.update(names)
            for i in range(max(0, len(batch.starts) - self.last_frames.maxlen), len(batch.starts)):
                self.last_frames.append({"start": int(batch.starts[i]),
                                         "pred": names[i] if names else None,
                                         "p": round(float(conf[i]), 3) if conf is not None else None})
            if len(batch.latencies):
                self._latency_ms = float(np.median(batch.latencies) * 1e3)
            if mask is not None and len(mask):
                self._mask = self._reduce_mask(np.asarray(mask[-1]))

    def _reduce_mask(self, m: np.ndarray) -> list:
        """One value in [0, 1] per spectrum bin: the mask's last axis taken as frequency, the rest averaged."""
        m = np.abs(m.astype(np.float64)) if np.iscomplexobj(m) else m.astype(np.float64)
        if m.ndim == 0:
            return []
        line = m.reshape(-1, m.shape[-1]).mean(0)
        top = np.max(line) if line.size else 0.0
        if top > 1:
            line = line / top
        idx = np.linspace(0, len(line) - 1, self.bins).round().astype(int)
        return np.round(np.clip(line[idx], 0, 1), 3).tolist()

    # ---- events ----------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The update the page gets now."""
        st = self.stats
        el = max(time.perf_counter() - self.t0, 1e-9)
        with self._lock:
            spec = None if self._spectrum is None else self._spectrum.tolist()
            tally = collections.Counter(self.recent)
            now = tally.most_common(1)[0][0] if tally else None
            frames = list(self.last_frames)
            mask = self._mask
            lat = self._latency_ms
        fs = float(getattr(self.radio, "sample_rate", 0.0) or 0.0)
        fc = float(getattr(self.radio, "rx_lo", 0.0) or 0.0)
        health = {"seconds": round(el, 2), "rate_msps": round(st.samples_in / el / 1e6, 3),
                  "nominal_msps": round(fs / 1e6, 3), "samples_in": st.samples_in, "samples_lost": st.samples_lost,
                  "frames_in": st.frames_in, "frames_analyzed": st.frames_analyzed,
                  "frames_skipped": st.frames_skipped, "analyzed_fraction": round(st.analyzed_fraction, 4),
                  "queue": int(self.queue()) if self.queue else None, "queue_peak": st.queue_peak,
                  "latency_ms": None if lat != lat else round(lat, 2), "timeouts": st.timeouts,
                  "counters": {k: round(st.fraction(k), 4) for k in st.counters}}
        ev = {"seq": self.seq, "title": self.title, "health": health, "now": now,
              "tally": dict(tally.most_common()), "total": dict(self.total.most_common()), "frames": frames,
              "spectrum": None if spec is None else {"f0": fc - fs / 2, "f1": fc + fs / 2, "db": spec}}
        if mask is not None:
            ev["mask"] = mask
        if self.score is not None and self.score.scored:
            ev["score"] = self.score.rolling()
        return ev

    def _publish(self) -> None:
        while not self._closed.is_set():
            t = time.perf_counter()
            ev = self.snapshot()
            with self._cv:
                self.seq += 1
                ev["seq"] = self.seq
                self._event = ev
                self._cv.notify_all()
            self._closed.wait(max(0.0, 1.0 / self.rate - (time.perf_counter() - t)))

    def _serve_events(self, wfile) -> None:
        seen = 0
        try:
            while not self._closed.is_set():
                with self._cv:
                    self._cv.wait_for(lambda: self.seq > seen or self._closed.is_set(), timeout=1.0)
                    ev, seen = self._event, self.seq
                if ev is None:
                    continue
                wfile.write(b"data: " + json.dumps(ev, separators=(",", ":")).encode() + b"\n\n")
                wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return

    def close(self, stats) -> list[str]:
        ev = self.snapshot()
        with self._cv:
            self.seq += 1
            ev["seq"], ev["ended"] = self.seq, True
            self._event = ev
            self._cv.notify_all()
        sent = self.seq
        el = max(time.perf_counter() - self.t0, 1e-9)
        return [f"live view {self.url}: {sent} updates in {el:.1f} s ({sent / el:.1f}/s)"]

    def shutdown(self) -> None:
        """Stop serving (after :meth:`close`; the page keeps the last update)."""
        self._closed.set()
        with self._cv:
            self._cv.notify_all()
        self.server.shutdown()
        self.server.server_close()
