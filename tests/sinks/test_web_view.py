"""The live web view (issue 20): served on 127.0.0.1, fed by the running pipeline over server-sent
events, rendered in a real headless browser (Debian's chromium; skipped when it is absent)."""

import argparse
import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from sdrkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "out" / "tests"          # screenshots kept for the closing note (out/ is git-ignored)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _synth(out, mods="qpsk", frames=64):
    from sdrkit.cli import synth

    p = argparse.ArgumentParser()
    synth.register(p.add_subparsers())
    a = p.parse_args(["synth", "--out", str(out), "--mods", mods, "--snr", "20", "--frames-per-segment", str(frames)])
    a.command_line = "sdrkit synth (test)"
    assert a.func(a) == 0
    return Path(str(out) + ".sigmf-meta")


def _wait_state(url, timeout=30.0) -> dict:
    t_end = time.monotonic() + timeout
    while True:
        try:
            st = json.load(urllib.request.urlopen(url + "state", timeout=2))
            if st.get("seq"):
                return st
        except OSError:
            pass
        if time.monotonic() > t_end:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """classify a one-class (QPSK, 20 dB) replay live with the bundled AMC model and --view web."""
    from sdrkit.cli.classify import live

    tmp_path = tmp_path_factory.mktemp("web")
    rec = _synth(tmp_path / "qpsk")
    port = _free_port()
    res = {}

    def run():
        try:
            res["rc"] = live(f"sim:{rec}?loop=1&realtime=1", "amc", seconds=9, out_dir=tmp_path / "cl", view="web",
                             view_options={"port": port, "rate": 10})
        except BaseException as exc:  # surfaced by the test
            res["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{port}/"
    yield url, res
    t.join(30)
    assert "error" not in res, res.get("error")


def test_events_carry_spectrum_predictions_health_and_score(live_run):
    url, _ = live_run
    st = _wait_state(url)
    with urllib.request.urlopen(url + "events", timeout=10) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        evs = []
        while len(evs) < 5:
            line = r.readline().decode()
            if line.startswith("data: "):
                evs.append(json.loads(line[6:]))
    assert [e["seq"] for e in evs] == sorted({e["seq"] for e in evs})        # each update once, in order
    ev = evs[-1]
    assert len(ev["spectrum"]["db"]) == 512 and ev["spectrum"]["f1"] - ev["spectrum"]["f0"] == pytest.approx(1e6)
    assert ev["now"] == "qpsk" and max(ev["tally"], key=ev["tally"].get) == "qpsk"
    h = ev["health"]
    assert {"rate_msps", "samples_lost", "queue", "latency_ms", "counters"} <= set(h) and "exited" in h["counters"]
    assert ev["score"]["accuracy"] > 0.9 and "20" in ev["score"]["per_snr"]
    assert st["title"] == "amc-earlyexit"


def test_page_renders_and_updates_in_headless_chromium(live_run):
    from tests.sinks._cdp import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the browser test needs a real browser")
    url, _ = live_run
    _wait_state(url)
    with Browser() as b:
        b.open(url)
        assert b.wait_for("+document.getElementById('updates').textContent >= 5", timeout=30)
        n1 = int(b.eval("document.getElementById('updates').textContent"))
        time.sleep(1.0)
        n2 = int(b.eval("document.getElementById('updates').textContent"))
        assert n2 > n1                                                      # it keeps updating
        assert b.eval("document.getElementById('now').textContent") == "qpsk"
        assert b.eval("document.querySelector('#tally .bar').dataset['class']") == "qpsk"
        assert b.eval("document.getElementById('accv').textContent").endswith("%")
        health = b.eval("document.getElementById('health').innerText")
        assert "samples lost" in health and "MS/s" in health and "exited fraction" in health
        # the spectrum and the waterfall have been drawn (not a black canvas)
        lit = b.eval("(() => { const c = document.getElementById('wf'); const d = c.getContext('2d')"
                     ".getImageData(0, 0, c.width, 20).data; let s = 0; for (let i = 0; i < d.length; i += 4)"
                     " s += d[i] + d[i + 1] + d[i + 2]; return s; })()")
        assert lit > 0
        shot = b.screenshot(ARTIFACTS / "web_view.png")
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_the_view_binds_loopback_unless_told(tmp_path):
    from sdrkit.sinks.web import WebView
    from sdrkit.stream.pipeline import PipelineStats

    with pytest.raises(ConfigError, match="--allow-remote"):
        WebView(PipelineStats(), None, host="0.0.0.0", port=0)
    v = WebView(PipelineStats(), None, port=0)
    try:
        assert v.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(v.url, timeout=5).read().decode()
        assert "EventSource" in page and 'id="wf"' in page
        with pytest.raises(ConfigError, match="--view-port"):
            WebView(PipelineStats(), None, port=int(v.url.rsplit(":", 1)[1].strip("/")))
    finally:
        v.shutdown()


def test_a_task_mask_is_sent_one_value_per_spectrum_bin():
    from sdrkit.runtime.predict import Prediction
    from sdrkit.sinks.base import PredictionBatch
    from sdrkit.sinks.web import WebView
    from sdrkit.stream.pipeline import PipelineStats

    v = WebView(PipelineStats(), None, port=0, bins=64)
    try:
        mask = np.zeros((2, 8, 128))
        mask[:, :, 32:64] = 1                                   # (frames, time, frequency): a band in bins 16..31
        pred = Prediction(n=2, outputs={"mask": mask})
        v.on_batch(PredictionBatch(np.array([0, 1024]), pred, np.array([0.01, 0.01]), 1024))
        m = np.array(v.snapshot()["mask"])
        assert m.shape == (64,) and m[16:32].min() == 1 and m[:15].max() == 0 and m[33:].max() == 0
    finally:
        v.shutdown()
