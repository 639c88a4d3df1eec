"""``sdrkit classify --corrector``: the AMC blind CFO corrector as a first-class live option.

The bundled AMC model on frames with a known +60 kHz offset (60x the card's envelope), through
the CLI on the replay path (``--radio sim:``) and the live path (``--subscribe``): the option
reaches the predictor, helps, and is recorded in score.json and the SigMF recording. Unknown
names and tasks without correctors are refused with a clean error and exit code 1.
"""

import json
import threading

import numpy as np
import pytest

from sdrkit.cli import main
from sdrkit.errors import ConfigError
from sdrkit.runtime.predict import PredictorOptions

CARD = "models/amc/card.json"
CFO_HZ = 60e3
MODS = ("bpsk", "pam4", "wbfm")      # bundled model at +60 kHz: 8/24 right raw (wbfm only), 24/24 corrected
PER_MOD = 8
N = 1024


def _signal():
    from sdrkit.dsp import modulate

    rng = np.random.default_rng(0)
    parts = []
    for m in MODS:
        x = modulate(m, PER_MOD * N, rng=np.random.default_rng(1), sps=4).astype(np.complex64)
        x /= np.sqrt(np.mean(np.abs(x) ** 2))
        x += ((rng.standard_normal(len(x)) + 1j * rng.standard_normal(len(x))) * np.sqrt(0.5e-2)).astype(np.complex64)
        parts.append(x)                                                              # 20 dB SNR
    x = np.concatenate(parts)
    return (x * np.exp(2j * np.pi * CFO_HZ / 1e6 * np.arange(len(x)))).astype(np.complex64)


@pytest.fixture(scope="module")
def offset_recording(tmp_path_factory):
    from sdrkit.capture import write_recording

    ann = [{"start": i * PER_MOD * N, "count": PER_MOD * N, "label": m, "snr_db": 20.0, "cfo_hz": CFO_HZ}
           for i, m in enumerate(MODS)]
    return write_recording(tmp_path_factory.mktemp("amc_fe") / "cfo60k", _signal(), sample_rate=1e6,
                           center_frequency=2.4e9, annotations=ann)


@pytest.fixture()
def spy(monkeypatch):
    """The front end each AmcPredictor was built with (the option reached the predictor)."""
    import sdrkit.tasks.amc.live as live

    seen = []

    class Spy(live.AmcPredictor):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen.append(self)

    monkeypatch.setattr(live, "AmcPredictor", Spy)
    return seen


def _classify(rec, out, *extra):
    return main(["classify", "--radio", f"sim:{rec}", "--fast", "--model", CARD, "--view", "none",
                 "--out", str(out), *extra])


def test_replay_with_cfo_front_end_classifies_the_offset_frames_and_records_it(offset_recording, tmp_path, spy,
                                                                              capsys):
    from sdrkit.capture import open_recording

    assert _classify(offset_recording, tmp_path / "cfo", "--corrector", "cfo", "--record", str(tmp_path / "rec")) == 0
    out = capsys.readouterr().out
    assert [p.front_end for p in spy] == ["cfo"] and spy[0].front_end_seconds > 0
    assert "corrector cfo: blind CFO correction" in out and "us CPU/frame" in out
    score = json.loads((tmp_path / "cfo" / "score.json").read_text())
    assert score["corrector"] == "cfo" and score["frames"] == len(MODS) * PER_MOD
    assert score["accuracy"] >= 0.9, score
    rec = open_recording(tmp_path / "rec")
    assert rec.global_info["sdrkit:corrector"] == "cfo"
    assert "sdrkit:front_end" not in rec.global_info        # that key names a receiver (calibrate reads it)

    assert _classify(offset_recording, tmp_path / "none") == 0          # default: the raw frames
    assert spy[1].front_end is None
    raw = json.loads((tmp_path / "none" / "score.json").read_text())
    assert raw["corrector"] == "none" and raw["accuracy"] <= 0.5, raw
    assert _classify(offset_recording, tmp_path / "none2", "--corrector", "none") == 0
    assert spy[2].front_end is None


def test_subscribe_path_runs_the_front_end_too(offset_recording, tmp_path, spy):
    import zmq

    from sdrkit.capture import open_recording
    from sdrkit.stream import Publisher

    x = _signal()
    stop = threading.Event()
    with Publisher("tcp://127.0.0.1:*", stream="s") as pub:
        def publish():
            first = 0
            while not stop.is_set():
                try:
                    pub.send(x[first % len(x):][:8192], first, 1e6, 2.4e9)
                except zmq.ZMQError:
                    return
                first += 8192
                stop.wait(0.004)

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        try:
            assert main(["classify", "--subscribe", f"{pub.endpoint}?stream=s", "--model", CARD, "--view", "none",
                         "--frames", "16", "--corrector", "cfo-refine", "--record", str(tmp_path / "live"),
                         "--out", str(tmp_path / "o")]) == 0
        finally:
            stop.set()
            t.join(2)
    assert [p.front_end for p in spy] == ["cfo-refine"] and spy[0].front_end_seconds > 0
    assert open_recording(tmp_path / "live").global_info["sdrkit:corrector"] == "cfo-refine"


def test_an_unknown_front_end_is_a_clean_error(capsys):
    assert main(["classify", "--radio", "sim:nowhere.sigmf-meta", "--model", CARD, "--corrector", "agc"]) == 1
    err = capsys.readouterr().err
    assert "ConfigError: corrector 'agc' is not one of task 'amc''s: none, cfo, cfo-refine" in err
    assert "pass --corrector" in err and "Traceback" not in err


def test_tasks_without_front_ends_refuse_it(capsys):
    from sdrkit.resources import resolve
    from sdrkit.runtime import load_card
    from sdrkit.tasks import TASKS, get_task
    from sdrkit.tasks.amc.live import FRONT_ENDS

    assert tuple(get_task("amc").correctors) == tuple(FRONT_ENDS)
    assert main(["classify", "--radio", "sim:nowhere.sigmf-meta", "--model", "models/kpi/card.json",
                 "--corrector", "cfo"]) == 1
    err = capsys.readouterr().err
    assert "corrector 'cfo': task 'kpi' has no correctors" in err and "drop --corrector" in err
    assert "Traceback" not in err
    checked = 0
    for name in TASKS.names():             # the predictor refuses it too (API users, not only the CLI)
        task = get_task(name)
        if not task.live or getattr(task, "correctors", ()):
            continue
        try:
            card = load_card(resolve("models", name))
        except Exception:                  # noqa: BLE001 - no bundled card for this task: nothing to build
            continue
        with pytest.raises(ConfigError, match="corrector"):
            task.predictor(card, PredictorOptions(corrector="cfo"))
        checked += 1
    assert checked >= 3


def test_options_validate_the_front_end():
    assert PredictorOptions(corrector="none").corrector is None
    assert PredictorOptions(corrector="cfo").corrector == "cfo"
    with pytest.raises(ConfigError, match="corrector 3 must be a name"):
        PredictorOptions(corrector=3)
    from sdrkit.tasks import get_task

    with pytest.raises(ConfigError, match="nearest-prototype"):
        get_task("amc").predictor(None, PredictorOptions(corrector="cfo", calibration="x.json"))
