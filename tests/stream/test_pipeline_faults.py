"""The live pipeline under faults: a radio timeout is counted and survived (and marked in a
recording); bad run settings are refused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sdrkit.capture import open_recording, write_recording
from sdrkit.cli import main
from sdrkit.errors import ConfigError
from sdrkit.radio import open_radio
from sdrkit.runtime.predict import Prediction, PredictorOptions
from sdrkit.sinks import SigMFSink
from sdrkit.stream.pipeline import Pipeline

N = 256


class Count:
    class card:
        name, path, classes = "count", "(test)", ()

        class output:
            kind, shape = "embedding", None

    def predict(self, frames):
        return Prediction(n=len(frames))


@pytest.fixture()
def rec(tmp_path):
    return write_recording(tmp_path / "src", np.ones(32 * N, np.complex64), sample_rate=1e6, center_frequency=1e9)


def test_a_radio_timeout_is_counted_survived_and_marked_in_the_recording(rec, tmp_path):
    with open_radio(f"sim:{rec}?loop=0&rx_buffer_size={4 * N}&faults=timeout@2,timeout@5") as radio:
        sink = SigMFSink(tmp_path / "copy", radio, "count")
        st = Pipeline(radio, Count(), N, sinks=[sink]).run()
    assert st.timeouts == 2
    assert st.frames_in == 32 and st.frames_analyzed == 32          # every sample still arrived
    marks = [a for a in open_recording(tmp_path / "copy").labels() if a[2] == "timeout"]
    assert len(marks) == 2 and marks[0][0] == 2 * 4 * N and "injected fault" in marks[0][3]["comment"]


@pytest.mark.parametrize("kw, match", [({"batch": 0}, "batch 0"), ({"batch": -1}, "batch -1"),
                                       ({"max_queue": 0}, "max_queue 0")])
def test_pipeline_refuses_bad_sizes(rec, kw, match):
    with open_radio(f"sim:{rec}") as radio, pytest.raises(ConfigError, match=match):
        Pipeline(radio, Count(), N, **kw)


@pytest.mark.parametrize("argv, match", [
    (["--batch", "0"], "--batch 0 must be >= 1"),
    (["--batch", "-1"], "--batch -1 must be >= 1"),
    (["--threshold", "nan"], "threshold nan must be a finite number"),
    (["--seconds", "inf"], "--seconds inf must be a finite number"),
])
def test_classify_refuses_bad_run_settings_without_a_traceback(argv, match, capsys):
    assert main(["classify", "--model", "amc", "--radio", "sim:captures/demo_mixed.sigmf-meta?loop=0"] + argv) == 1
    err = capsys.readouterr().err
    assert "ConfigError" in err and "Traceback" not in err
    import re

    assert re.search(match, err)


def test_predictor_options_validate_at_the_edge():
    with pytest.raises(ConfigError, match="threshold inf"):
        PredictorOptions(threshold=float("inf"))
    with pytest.raises(ConfigError, match="threads 0"):
        PredictorOptions(threads=0)


BIG_OUTPUT = """
import sys
import sdrkit.cli as cli
import sdrkit.cli.profiles as prof

def big(args):
    for _ in range(200000):
        print("x" * 50)
    return 0

orig = prof.register
def register(sub):
    orig(sub)
    sub.choices["profiles"].set_defaults(func=big)
prof.register = register
sys.exit(cli.main(["profiles"]))
"""


def test_a_closed_pipe_ends_quietly(tmp_path):
    script = tmp_path / "big.py"
    script.write_text(BIG_OUTPUT)
    r = subprocess.run(f"{sys.executable} {script} | head -c 10", shell=True, capture_output=True, text=True)
    assert r.stdout == "x" * 10
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
