"""Beam task, issue 19: clustered 3GPP scenes, harsher front ends, the held-back split, the classical
baseline, the channel-estimate encoder, transductive prototypes, and the calibrate/classify interface."""

import json
from pathlib import Path

import numpy as np
import pytest

from sdrkit.errors import ConfigError, ModelError
from sdrkit.tasks.beam.sim import ArraySpec, get_front_end, make_split, preamble

ROOT = Path(__file__).resolve().parents[3]


def test_scenes_are_seeded_finite_and_held_back_is_never_trained():
    from sdrkit.tasks.beam.channels import (DELAY_SPREADS_NS, FAMILIES, HELD_BACK_FAMILY, TRAIN_FAMILIES, Scene,
                                            parse_scene)
    from sdrkit.tasks.beam.train import ProtoConfig, training_recordings

    spec = ArraySpec()
    assert DELAY_SPREADS_NS["very-long"] == 1000.0 and HELD_BACK_FAMILY not in TRAIN_FAMILIES
    assert {"CDL-A", "CDL-E", "TDL-A", "TDL-E"} <= set(FAMILIES)
    for fam in ("CDL-B", "CDL-E", "TDL-C"):
        sc = Scene(fam, 1000.0, 5.0, 1.0, seed=3)
        x1, _ = make_split(spec, get_front_end("hb-harsh"), 1, np.random.default_rng(0), scene=sc)
        x2, _ = make_split(spec, get_front_end("hb-harsh"), 1, np.random.default_rng(0), scene=sc)
        assert x1.shape == (24, 1024) and np.isfinite(x1).all()
        np.testing.assert_array_equal(x1, x2)
    assert parse_scene("sdrkit") is None and parse_scene("CDL-B:very-long:2:0.5:7") == Scene("CDL-B", 1000.0, 2.0, 0.5, 7)
    with pytest.raises(ConfigError, match="unknown channel family"):
        Scene("CDL-Z")
    fes, scenes = training_recordings(spec, ProtoConfig(train_front_ends=40, scene_fraction=0.7, harsh_fraction=0.5),
                                      np.random.default_rng(0))
    assert not any(s is not None and s.family == HELD_BACK_FAMILY for s in scenes)
    assert all(f.name.startswith(("rand-", "hrand-")) for f in fes) and any(f.name.startswith("hrand-") for f in fes)
    assert sum(s is not None for s in scenes) > 10
    hb = get_front_end("hb-harsh")
    assert hb.phase_jitter_deg > 10 and get_front_end("fe-a").phase_jitter_deg == 0.0


def test_template_features_ignore_phase_timing_and_match_the_encoder():
    import torch

    from sdrkit.nn.beam import build_encoder
    from sdrkit.tasks.beam.baseline import template_features
    from sdrkit.tasks.beam.train import to_tensor

    spec = ArraySpec()
    pre = preamble(spec)
    x, _ = make_split(spec, get_front_end("ideal"), 1, np.random.default_rng(2))
    f = template_features(x, pre)
    np.testing.assert_allclose(template_features(x * np.exp(1j * 0.7), pre), f, atol=1e-4)
    np.testing.assert_allclose(np.exp(template_features(np.roll(x, 5, axis=1), pre)[:, :-1]), np.exp(f[:, :-1]),
                               atol=2e-3)         # a circular timing shift leaves the power profile
    enc = build_encoder(pre, spec.frame_len, template=True).eval()
    with torch.no_grad():
        ce = enc.channel_estimate(to_tensor(x)).numpy()
        assert enc(to_tensor(x)).shape == (24, enc.out_dim)
    np.testing.assert_allclose(ce, f, atol=1e-3)


def test_transductive_refinement_follows_a_shifted_stream():
    from sdrkit.nn.proto import PrototypeHead, refine_prototypes

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 8)) * 3
    y_s = np.repeat(np.arange(6), 2)
    shift = rng.normal(size=8) * 1.2                      # the test stream drifted away from the shots
    sup = centers[y_s] + rng.normal(size=(12, 8)) * 0.8
    y_q = np.repeat(np.arange(6), 40)
    q = centers[y_q] + shift + rng.normal(size=(240, 8)) * 0.8
    h = PrototypeHead.fit(sup, y_s, normalize=False)
    p = refine_prototypes(h.prototypes, sup, y_s, h.classes, q, normalize=False)
    plain = np.mean(h.predict(q) == y_q)
    refined = np.mean(PrototypeHead(p, h.classes, False).predict(q) == y_q)
    assert refined >= plain and refined > 0.9


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import torch

    from sdrkit.nn.beam import build_encoder
    from sdrkit.tasks.beam.export import export_encoder
    from sdrkit.tasks.beam.train import ProtoConfig

    torch.manual_seed(0)
    spec = ArraySpec()
    enc = build_encoder(preamble(spec), spec.frame_len, template=True).eval()
    return export_encoder(enc, spec, ProtoConfig(steps=0, template=True, proto_norm=False), {},
                          tmp_path_factory.mktemp("beam19_model"), command="test")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    from sdrkit.tasks.beam.channels import Scene
    from sdrkit.tasks.beam.rig import record_beam_sweep

    d = tmp_path_factory.mktemp("beam19_cap")
    return record_beam_sweep(d / "sweep", ArraySpec(), get_front_end("hb-mid"), 6, np.random.default_rng(0),
                             scene=Scene("CDL-D", 1000.0, 0.5, 0.5, seed=1))


def test_shot_selection_offset_time_range_split(model, capture):
    from sdrkit.runtime.calibration import ShotSelection, calibrate_capture, parse_time_range

    L = 1024
    cal, _ = calibrate_capture(model.path, capture, shots=2, selection=ShotSelection(offset=1))
    assert cal.source["used"][0] == [1 * L, 2 * L]           # beam00's frames 1 and 2 (the sweep dwells 6 per beam)
    cal, _ = calibrate_capture(model.path, capture, shots=2, selection=ShotSelection(split=0.5, transductive=True))
    assert cal.source["used"][0] == [0, 3 * L] and cal.source["test"][0] == [3 * L, 3 * L]
    assert cal.source["select"]["transductive"] is True and cal.proto_norm is False
    cal, _ = calibrate_capture(model.path, capture, shots=3, selection=ShotSelection(head="loo"))
    assert cal.weights.shape == (model.extra["embedding_dim"],) and cal.source["head"]["weight"] in (0, 0.25, 0.5, 1, 2)
    assert np.all(cal.weights[64:] == 1.0)                  # the channel-estimate block keeps its weight
    assert parse_time_range("0.01:0.02") == (0.01, 0.02)
    cal, _ = calibrate_capture(model.path, capture, shots=2,
                               selection=ShotSelection(time_range=parse_time_range("0:0.0123")), classes=["beam00", "beam01"])
    assert cal.source["used"] == [[0, 2 * L], [6 * L, 2 * L]]
    with pytest.raises(ConfigError, match="only 3 labelled frames, fewer than --shots 4"):
        calibrate_capture(model.path, capture, shots=4, selection=ShotSelection(split=0.5))
    with pytest.raises(ConfigError, match="--time-range"):
        parse_time_range("2")
    with pytest.raises(ConfigError, match="--split"):
        ShotSelection(split=1.5)


def test_cli_split_classify_json_from_another_folder_and_template(model, capture, tmp_path, monkeypatch, capsys):
    from sdrkit.cli import main

    cal = tmp_path / "cal.json"
    assert main(["calibrate", "beam", "--model", str(model.path), "--capture", str(capture), "--shots", "2",
                 "--split", "0.5", "--transductive", "--out", str(cal)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    d = json.loads(cal.read_text())
    assert Path(d["encoder"]["card"]).is_absolute() and d["encoder"]["sha256"]
    # no --model: the calibration's encoder, found by hash; the shots (first half of each beam) are not scored
    assert main(["classify", "--calibration", str(cal), "--radio", f"sim:{capture}?loop=0", "--fast",
                 "--view", "none", "--out", "sc"]) == 0
    score = json.loads((elsewhere / "sc" / "score.json").read_text())
    assert score["frames"] == 72 and len(score["per_class"]) == 24 and score["per_snr"]
    assert all(v["frames"] == 3 for v in score["per_class"].values())
    assert 0.0 <= score["accuracy"] <= 1.0
    # the classical baseline behind the same predictor contract
    calt = tmp_path / "calt.json"
    assert main(["calibrate", "beam", "--model", str(model.path), "--capture", str(capture), "--shots", "2",
                 "--offset", "1", "--method", "template", "--out", str(calt)]) == 0
    assert json.loads(calt.read_text())["encoder"]["kind"] == "preamble-template"
    capsys.readouterr()
    assert main(["classify", "--model", str(model.path), "--calibration", str(calt), "--radio",
                 f"sim:{capture}?loop=0", "--fast", "--view", "none", "--out", "sct"]) == 0
    assert "classical baseline" in capsys.readouterr().out
    assert json.loads((elsewhere / "sct" / "score.json").read_text())["frames"] == 144 - 48


def test_old_relative_card_reference_and_a_missing_encoder(model, tmp_path, monkeypatch):
    from sdrkit.runtime.calibration import Calibration, calibration_card, load_calibration
    from sdrkit.runtime.card import load_card, sha256_file

    bundled = load_card(ROOT / "models" / "beam" / "card.json")
    old = Calibration(task="beam", front_end="fe-b", classes=("a", "b"), prototypes=np.eye(2, 3, dtype=np.float32),
                      shots=8, date="2026-11-24T00:00:00Z",
                      encoder={"card": "models/beam/card.json", "sha256": sha256_file(bundled.file("encoder"))})
    old.save(tmp_path / "old.json")
    monkeypatch.chdir(tmp_path)
    assert Path(calibration_card(load_calibration(tmp_path / "old.json")).path).resolve() == \
        Path(bundled.path).resolve()
    gone = Calibration(**{**old.__dict__, "encoder": {"card": "nowhere/card.json", "sha256": "0" * 64}})
    gone.save(tmp_path / "gone.json")
    with pytest.raises(ModelError, match="no model card with encoder sha256 000000000000"):
        calibration_card(load_calibration(tmp_path / "gone.json"))
