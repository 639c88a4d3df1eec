"""Beam task: simulator, ProtoBeam encoder export, calibration sessions, live classification."""

import json

import numpy as np
import pytest

from sdrkit.errors import ConfigError, DatasetError, ModelError
from sdrkit.tasks.beam.sim import ArraySpec, generate, get_front_end, make_split


def test_simulator_shapes_and_seeds():
    spec = ArraySpec()
    fe = get_front_end("fe-a")
    x1, y1 = make_split(spec, fe, 2, np.random.default_rng(3))
    x2, _ = make_split(spec, fe, 2, np.random.default_rng(3))
    assert x1.shape == (48, 1024) and x1.dtype == np.complex64 and sorted(set(y1)) == list(range(24))
    np.testing.assert_array_equal(x1, x2)
    assert get_front_end("fe-a") != get_front_end("fe-b")
    with pytest.raises(ConfigError, match="unknown beam front end"):
        get_front_end("fe-zz")
    with pytest.raises(ConfigError, match="beam index out of range"):
        generate(spec, fe, [24], np.random.default_rng(0))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import torch

    from sdrkit.nn.beam import build_encoder
    from sdrkit.tasks.beam.export import export_encoder
    from sdrkit.tasks.beam.sim import preamble
    from sdrkit.tasks.beam.train import ProtoConfig

    torch.manual_seed(0)
    spec = ArraySpec()
    enc = build_encoder(preamble(spec), spec.frame_len).eval()
    d = tmp_path_factory.mktemp("beam_model")
    return export_encoder(enc, spec, ProtoConfig(steps=0), {}, d, command="test")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    from sdrkit.tasks.beam.rig import record_beam_sweep

    d = tmp_path_factory.mktemp("beam_cap")
    return record_beam_sweep(d / "sweep", ArraySpec(), get_front_end("fe-b"), 3, np.random.default_rng(0))


def test_calibrate_capture_writes_valid_file(model, capture, tmp_path):
    from sdrkit.runtime.calibration import load_calibration
    from sdrkit.runtime.card import sha256_file
    from sdrkit.runtime.calibration import calibrate_capture

    cal, _ = calibrate_capture(model.path, capture, shots=3, out=tmp_path / "c.json")
    c = load_calibration(tmp_path / "c.json")
    assert c.front_end == "fe-b" and c.shots == 3 and len(c.classes) == 24 and c.prototypes.shape[0] == 24
    assert c.encoder["sha256"] == sha256_file(model.file("encoder"))
    c.check_encoder(model)


def test_too_few_shots_and_unlabelled_capture(model, capture, tmp_path):
    from sdrkit.capture import write_recording
    from sdrkit.runtime.calibration import calibrate_capture

    with pytest.raises(ConfigError, match="only 3 labelled frames, fewer than --shots 4"):
        calibrate_capture(model.path, capture, shots=4)
    with pytest.raises(ConfigError, match="too few"):
        calibrate_capture(model.path, capture, shots=1)
    raw = write_recording(tmp_path / "raw", np.zeros(4096, np.complex64), sample_rate=1e6, center_frequency=28e9)
    with pytest.raises(DatasetError, match="no labelled annotations"):
        calibrate_capture(model.path, raw, shots=2)


def test_mismatched_encoder_is_refused(model, capture, tmp_path):
    from sdrkit.runtime.calibration import load_calibration
    from sdrkit.runtime.calibration import calibrate_capture

    calibrate_capture(model.path, capture, shots=2, out=tmp_path / "c.json")
    d = json.loads((tmp_path / "c.json").read_text())
    d["encoder"]["sha256"] = "0" * 64
    (tmp_path / "c.json").write_text(json.dumps(d))
    with pytest.raises(ModelError, match="re-run 'sdrkit calibrate"):
        load_calibration(tmp_path / "c.json").check_encoder(model)


def test_cli_calibrate_rig_and_classify(model, tmp_path, monkeypatch, capsys):
    from sdrkit.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cal.json"
    rig = __import__("pathlib").Path(__file__).resolve().parents[2] / "rigs" / "beam-multi-fe.yaml"
    assert main(["calibrate", "--task", "beam", "--model", str(model.path), "--rig", str(rig),
                 "--front-end", "fe-c", "--shots", "2", "--out", str(out)]) == 0
    cal = json.loads(out.read_text())
    assert cal["front_end"] == "fe-c" and cal["radio"]["uri"].startswith("sim:") and cal["shots"] == 2
    assert cal["radio"]["seed"] == 0          # the sweep's seed is a setting, recorded (not the clock)
    cap = next((tmp_path / "out" / "calibrate").glob("*.sigmf-meta"))
    assert main(["classify", "--task", "beam", "--calibration", str(out), "--model", str(model.path),
                 "--radio", f"sim:{cap}?loop=0", "--frames", "48"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["calibrate", "beam", "--model", str(model.path), "--rig", str(rig), "--front-end", "fe-q",
                 "--out", str(out)]) != 0
    assert "no receiver with front_end 'fe-q'" in capsys.readouterr().err


def test_protobeam_training_learns_and_fewshot_scoring():
    import torch

    from sdrkit.tasks.beam.evaluate import _embed_torch, fewshot_accuracy
    from sdrkit.tasks.beam.train import ProtoConfig, train_protobeam

    torch.set_num_threads(1)
    spec = ArraySpec()
    enc, hist = train_protobeam(spec, ProtoConfig(steps=150, train_front_ends=4, episodes_per_step=2),
                                per_beam=12, log=lambda *_: None)
    assert hist["steps_run"] == 150 and hist["final_episode_acc"] > 0.5      # chance is 1/8
    x, y = make_split(spec, get_front_end("fe-b"), 6, np.random.default_rng(1))
    acc = fewshot_accuracy(_embed_torch(enc, x), y, 2, 2, np.random.default_rng(0))
    assert acc > 3 / 24                                                        # well above chance (1/24)
    with pytest.raises(ConfigError, match="must be >= k_shot"):
        train_protobeam(spec, ProtoConfig(steps=1), per_beam=6)


def test_a_calibration_with_new_beams_runs_live(model, tmp_path, capsys, monkeypatch):
    """New beams need only prototypes: a 32-beam calibration of the 24-beam encoder classifies live."""
    from sdrkit.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cal32.json"
    rig = __import__("pathlib").Path(__file__).resolve().parents[2] / "rigs" / "beam-multi-fe.yaml"
    assert main(["calibrate", "beam", "--model", str(model.path), "--rig", str(rig), "--front-end", "fe-c",
                 "--beams", "32", "--shots", "2", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["classes"]) == 32
    cap = next(p for p in (__import__("pathlib").Path("out") / "calibrate").glob("*32beams*.sigmf-meta"))
    assert main(["classify", "--model", str(model.path), "--calibration", str(out), "--radio", f"sim:{cap}?loop=0",
                 "--frames", "64", "--out", str(tmp_path / "cls")]) == 0
    assert "accuracy" in capsys.readouterr().out
