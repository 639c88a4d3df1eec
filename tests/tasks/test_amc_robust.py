"""AMC out of domain: the shifted family's calibration and test splits, the cross-generator check's
graceful absence, and the CFO front end inside ``sdrkit evaluate amc``. A tiny model: only the
pipeline's consistency is tested here, not accuracy."""

import json

import numpy as np
import pytest

from sdrkit.cli import main

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("amc_robust")
    data, model = d / "data", d / "model"
    assert main(["dataset", "amc", "--out", str(data), "--train-per-cell", "2", "--val-per-cell", "2",
                 "--test-per-cell", "2", "--shifted-per-cell", "2", "--workers", "1", "--seed", "3"]) == 0
    assert main(["train", "amc", "--data", str(data), "--out", str(model), "--epochs", "1", "--batch", "64",
                 "--max-frames", "256", "--seed", "1"]) == 0
    return data, model


def test_dataset_writes_the_held_back_family_and_documents_its_ranges(tiny):
    data, _ = tiny
    m = json.loads((data / "splits.json").read_text())
    assert set(m["splits"]) == {"train", "val", "test", "shifted_val", "shifted_test"}
    assert m["spec"]["family"] == "wide" and m["shifted"]["spec"]["family"] == "shifted"
    assert m["ranges"]["channel"]["max_delay_samples"] == 8 and m["shifted"]["ranges"]["receiver"]["adc_bits"]
    assert m["splits"]["shifted_val"]["family"] == "shifted"


def test_threshold_is_calibrated_on_the_shifted_family_too(tiny):
    from sdrkit.runtime import load_card

    card = load_card(tiny[1] / "card.json")
    t = card.thresholds
    assert "shifted_val" in t["calibrated_on"]
    # the joint rule can only be as permissive as the in-domain one, never more
    assert t["entropy"] <= t["entropy_in_domain_only"] + 1e-12
    assert card.training["data"]["shifted_test_sha256"] and card.training["data"]["ranges"]


def test_crossgen_without_gnuradio_is_a_clear_not_measured_target(tiny, monkeypatch, tmp_path):
    from sdrkit.runtime import load_card
    from sdrkit.tasks.amc import crossgen, robust

    monkeypatch.setattr(crossgen, "SYS_PY", str(tmp_path / "no-python"))
    _, rows = robust.measure_crossgen(load_card(tiny[1] / "card.json"), tmp_path)
    assert len(rows) == 1 and not rows[0].passed and np.isnan(rows[0].measured)
    assert rows[0].note.startswith("not measured: install GNU Radio")


def test_evaluate_reports_shifted_crossgen_and_front_end_targets(tiny, tmp_path):
    data, model = tiny
    out = tmp_path / "eval"
    assert main(["evaluate", "amc", "--model", str(model / "card.json"), "--data", str(data), "--out", str(out),
                 "--quick"]) == 0
    rep = json.loads((out / "evaluation.json").read_text())
    names = [t["name"] for t in rep["targets"]]
    for want in ("shifted split", "cross-generator", "CFO +/-60 kHz corrected", "CFO corrector cost"):
        assert any(n.startswith(want) for n in names), (want, names)
    fe = rep["results"]["frontend"]
    assert fe["cost_ms_per_frame_b64"]["default"] > 0 and len(fe["estimator_error"]["default"]["snr_db"]) == 5
    assert rep["results"]["shifted"]["frames"] > 0
