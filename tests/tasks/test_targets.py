"""Evaluation targets as data: :class:`Target` verdicts, the report every ``sdrkit evaluate
<task>`` writes, and the confusion matrix both evaluations plot."""

import hashlib
import io
import json
import math

import numpy as np
import pytest

from sdrkit.tasks.targets import Target, format_table, write_report

TARGET_KEYS = {"name", "measured", "op", "limit", "unit", "pass", "note"}


# ---- Target ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op, below, equal, above", [
    (">=", False, True, True),
    (">", False, False, True),
    ("<=", True, True, False),
    ("<", True, False, False),
])
def test_target_verdict_per_op(op, below, equal, above):
    assert Target("x", 0.9, op, 1.0).passed is below
    assert Target("x", 1.0, op, 1.0).passed is equal
    assert Target("x", 1.1, op, 1.0).passed is above


@pytest.mark.parametrize("op", [">=", ">", "<=", "<"])
@pytest.mark.parametrize("measured", [float("nan"), float("inf"), -float("inf")])
def test_a_value_that_could_not_be_measured_fails(op, measured):
    t = Target("latency", measured, op, 1.0, unit="ms")
    assert t.passed is False
    assert t.to_dict()["measured"] is None and t.to_dict()["pass"] is False


def test_unknown_op_is_refused():
    with pytest.raises(ValueError, match="op '==' must be one of"):
        Target("x", 1.0, "==", 1.0)


def test_numpy_values_give_plain_json_types():
    d = Target("acc", np.float32(0.97), ">=", np.float64(0.95)).to_dict()
    assert set(d) == TARGET_KEYS
    assert type(d["measured"]) is float and type(d["limit"]) is float and d["pass"] is True
    json.dumps(d)


# ---- write_report ----------------------------------------------------------------------------

def _targets():
    return [Target("backbone accuracy", 0.97, ">=", 0.95, note="1000 frames"),
            Target("calibration session", 1.5, "<", 1.0, unit="s"),
            Target("throughput", float("nan"), ">=", 5000, unit="frames/s")]


def test_write_report_round_trips_targets_and_results(tmp_path):
    path = write_report(tmp_path / "sub" / "eval.json", "demo", _targets(),
                        {"accuracy": np.array([0.5, 0.75]), "frames": np.int64(3), "model": tmp_path},
                        stream=io.StringIO(), quick=True)
    assert path == tmp_path / "sub" / "eval.json"
    doc = json.loads(path.read_text())
    assert doc["task"] == "demo" and doc["quick"] is True and doc["all_pass"] is False
    assert [t["pass"] for t in doc["targets"]] == [True, False, False]
    assert all(set(t) == TARGET_KEYS for t in doc["targets"])
    assert doc["targets"][0] == {"name": "backbone accuracy", "measured": 0.97, "op": ">=", "limit": 0.95,
                                 "unit": "", "pass": True, "note": "1000 frames"}
    assert doc["targets"][2]["measured"] is None
    assert doc["results"] == {"accuracy": [0.5, 0.75], "frames": 3, "model": str(tmp_path)}
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_write_report_prints_one_table_with_a_verdict_per_target(tmp_path):
    out = io.StringIO()
    write_report(tmp_path / "eval.json", "demo", _targets(), {}, stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "demo targets:"
    assert lines[1].split() == ["target", "measured", "limit", "result", "note"]
    assert set(lines[2]) <= {"-", " "}
    rows = {r.split("  ")[0]: r for r in lines[3:6]}
    assert "0.97" in rows["backbone accuracy"] and "PASS" in rows["backbone accuracy"]
    assert "1000 frames" in rows["backbone accuracy"]
    assert "1.5 s" in rows["calibration session"] and "< 1 s" in rows["calibration session"]
    assert "MISS" in rows["calibration session"]
    assert "n/a" in rows["throughput"] and "MISS (not measured)" in rows["throughput"]
    assert lines[6] == f"wrote {tmp_path / 'eval.json'}"


def test_note_column_only_when_a_target_has_a_note():
    assert format_table([Target("a", 1, ">=", 0)]).splitlines()[0].split() == ["target", "measured", "limit",
                                                                               "result"]
    assert format_table([]).splitlines()[0].split() == ["target", "measured", "limit", "result"]


def test_quick_report_header(tmp_path):
    out = io.StringIO()
    write_report(tmp_path / "e.json", "demo", [Target("a", 1, ">=", 0)], stream=out, quick=True)
    assert out.getvalue().startswith("demo targets (quick run: smoke figures, not results):\n")


# ---- every task's evaluate --quick writes its targets as data -------------------------------

def _bundled_hashes():
    from sdrkit.resources import bundled_dir

    root = bundled_dir("models")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _amc_args(tmp_path, card):
    from sdrkit.cli import main

    data = tmp_path / "data"
    assert main(["dataset", "amc", "--out", str(data), "--train-per-cell", "0", "--val-per-cell", "0",
                 "--test-per-cell", "2", "--workers", "1", "--seed", "2"]) == 0
    return ["--model", str(card), "--data", str(data), "--out", str(tmp_path / "eval")], "evaluation.json"


def _beam_args(tmp_path, card):
    return ["--model", str(card), "--front-ends", "fe-a,fe-b", "--out", str(tmp_path / "eval")], "beam_eval.json"


@pytest.mark.slow
@pytest.mark.parametrize("task, args", [("amc", _amc_args), ("beam", _beam_args)])
def test_evaluate_quick_writes_targets_as_data_and_leaves_bundled_models_alone(task, args, tmp_path, monkeypatch,
                                                                               capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from sdrkit.cli import main
    from sdrkit.resources import resolve

    card = resolve("models", f"{task}/card.json")
    before = _bundled_hashes()
    monkeypatch.chdir(tmp_path)                     # the bundled model is found by path, not by cwd
    argv, name = args(tmp_path, card)
    capsys.readouterr()
    assert main(["evaluate", task, *argv, "--quick"]) == 0
    printed = capsys.readouterr().out
    doc = json.loads((tmp_path / "eval" / name).read_text())
    assert doc["task"] == task and doc["quick"] is True and doc["results"]
    assert len(doc["targets"]) >= 1
    for t in doc["targets"]:
        assert set(t) == TARGET_KEYS, t
        assert isinstance(t["name"], str) and t["op"] in (">=", ">", "<=", "<") and isinstance(t["pass"], bool)
        assert t["measured"] is None or math.isfinite(t["measured"])
        assert t["name"] in printed
    assert f"{task} targets (quick run" in printed
    assert _bundled_hashes() == before              # a quick evaluate never rewrites a bundled card


# ---- the confusion matrix both evaluations plot ------------------------------------------------

def test_confusion_matrix_counts_rows_true_columns_predicted():
    from sdrkit.dsp.plot import confusion_matrix

    cm = confusion_matrix(["a", "a", "b", "c"], ["a", "b", "b", "a"], ["a", "b", "c"])
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 0]])
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(confusion_matrix(np.array([2, 0]), np.array([2, 2]), range(3)),
                                  [[0, 0, 1], [0, 0, 0], [0, 0, 1]])
    assert confusion_matrix([], [], ["a"]).tolist() == [[0]]


def test_confusion_matrix_refuses_labels_it_was_not_given():
    from sdrkit.dsp.plot import confusion_matrix
    from sdrkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"labels \['noise'\] are not among"):
        confusion_matrix(["a", "noise"], ["a", "a"], ["a", "b"])
    with pytest.raises(ConfigError, match="2 true labels but 1 predictions"):
        confusion_matrix(["a", "b"], ["a"], ["a", "b"])


def test_save_confusion_png(tmp_path):
    from sdrkit.dsp.plot import save_confusion_png
    from sdrkit.errors import ConfigError

    cm = np.array([[3, 1], [0, 4]])
    p = save_confusion_png(cm, ["bpsk", "qpsk"], tmp_path / "x" / "cm.png", "title")
    assert p == tmp_path / "x" / "cm.png" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match=r"shape \(2, 2\) does not match 3 labels"):
        save_confusion_png(cm, ["a", "b", "c"], tmp_path / "bad.png", "t")
