"""A capture stopped early says why in its meta (issue 11, item 9): SIGINT and a disconnect are
recorded as ``sdrkit:stopped_by`` with the requested and lost sample counts; a full one says so too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sdrkit.capture import write_recording
from sdrkit.dsp.synth import tone


def _meta(out) -> dict:
    return json.loads(Path(f"{out}.sigmf-meta").read_text())["global"]


def test_a_capture_stopped_by_sigint_records_why_and_how_much_was_asked(tmp_path):
    rec = write_recording(tmp_path / "tone", tone(200_000, 0.01, amplitude=0.5), sample_rate=1e6,
                          center_frequency=100e6)
    out = tmp_path / "cap"
    # real-time, looping replay: the capture would take 30 s; SIGINT stops it after about 2 s.
    # The child gets SIGINT's default disposition: under a shell's background job (`cmd &` without job
    # control, as CI runners may start us) SIGINT is inherited as ignored, and Python then installs no
    # KeyboardInterrupt handler, as it should for a user's `nohup sdrkit capture ... &`.
    p = subprocess.Popen([sys.executable, "-m", "sdrkit", "capture", "--radio", f"sim:{rec}?loop=1&realtime=1",
                          "--duration", "30", "--out", str(out)], stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not Path(f"{out}.sigmf-meta").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "Traceback" not in err
    g = _meta(out)
    assert g["sdrkit:stopped_by"] == "KeyboardInterrupt"
    assert g["sdrkit:requested_samples"] == 30_000_000 and g["sdrkit:sample_count"] < 30_000_000
    assert "sdrkit:lost_samples" in g


def test_a_full_capture_says_the_duration_was_reached(tmp_path):
    rec = write_recording(tmp_path / "tone", tone(50_000, 0.01, amplitude=0.5), sample_rate=1e6,
                          center_frequency=100e6)
    out = tmp_path / "cap"
    from sdrkit.cli import main

    assert main(["capture", "--radio", f"sim:{rec}?loop=1", "--duration", "0.02", "--out", str(out)]) == 0
    g = _meta(out)
    assert g["sdrkit:stopped_by"] == "duration reached" and g["sdrkit:sample_count"] == 20_000


def test_a_radio_that_stops_delivering_ends_the_capture_with_the_reason(capsys):
    """rx() timing out again and again (a stream above the link's rate, a stalled device) stops the
    capture after MAX_TIMEOUTS_IN_A_ROW with the rate and the fix, instead of retrying forever."""
    from sdrkit.cli import capture
    from sdrkit.errors import RadioTimeout

    class Stalled:                       # the driver's side of a stream that has stopped
        sample_rate = 20e6
        calls = 0

        def rx(self):
            self.calls += 1
            raise RadioTimeout("rx() got no samples within 5000 ms")

    class Bar:
        def update(self, n):
            pass

    radio = Stalled()
    got, gaps, timeouts, stop = capture._record(radio, None, Bar(), None, 1000, [0], 1)
    assert got == 0 and timeouts == radio.calls == capture.MAX_TIMEOUTS_IN_A_ROW
    assert stop.startswith("stopped:") and "20 MS/s" in stop and "--sample-rate" in stop
    assert "retrying" in capsys.readouterr().err
