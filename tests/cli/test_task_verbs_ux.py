"""Issue 20: task verbs leave bundled cards alone unless asked, and show progress on long work."""

import dataclasses
import io
import shutil
import sys
from pathlib import Path

import pytest

from sdrkit.cli import main

ROOT = Path(__file__).resolve().parents[2]


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A copy of the bundled AMC model and a tiny data set (1 frame per class and SNR in val/test)."""
    d = tmp_path_factory.mktemp("ux")
    shutil.copytree(ROOT / "models" / "amc", d / "amc", ignore=shutil.ignore_patterns("train_log.jsonl"))
    assert main(["dataset", "amc", "--out", str(d / "data"), "--train-per-cell", "0", "--val-per-cell", "1",
                 "--test-per-cell", "1", "--workers", "1"]) == 0
    return d


def test_no_task_rewrites_its_card_on_evaluate_by_default():
    from sdrkit.tasks import TASKS, get_task

    seen = 0
    for name in TASKS.names():
        for v in get_task(name).verbs:
            fields = {f.name: f for f in dataclasses.fields(v.config)}
            if v.name == "evaluate" and "update_card" in fields:
                assert fields["update_card"].default is False, name
                seen += 1
    assert seen >= 2          # amc and beam at least


def test_amc_evaluate_writes_the_card_only_with_update_card(tiny, monkeypatch, capsys):
    from types import SimpleNamespace

    import sdrkit.tasks.amc.evaluate as ev

    monkeypatch.setattr(ev, "load_test_frames", lambda card, data, n: SimpleNamespace(labels=[0], bins=[0], sha256="x"))
    monkeypatch.setattr(ev, "score", lambda card, tf: None)
    import sdrkit.tasks.amc.robust as robust

    figs = {"accuracy": {}, "exit_fraction": {}, "latency_ms_per_frame": {}, "ort_vs_torch_b1": {},
            "shifted": None, "crossgen": None, "frontend": None, "base_family": None}
    for name in ("measure_accuracy", "measure_threshold_sweep", "measure_confusion", "measure_ort_vs_torch",
                 "measure_latency"):
        monkeypatch.setattr(ev, name, lambda *a, **k: (figs, []))
    for name in ("measure_base", "measure_shifted", "measure_crossgen", "measure_frontend"):
        monkeypatch.setattr(robust, name, lambda *a, **k: (figs, []))
    monkeypatch.setattr(ev, "_plots", lambda res, out: None)
    card = tiny / "amc" / "card.json"
    before = card.read_bytes()
    assert main(["evaluate", "amc", "--model", str(card), "--data", str(tiny / "data"),
                 "--out", str(tiny / "eval")]) == 0
    assert card.read_bytes() == before and (tiny / "eval" / "evaluation.json").exists()
    assert main(["evaluate", "amc", "--model", str(card), "--data", str(tiny / "data"),
                 "--out", str(tiny / "eval"), "--update-card"]) == 0
    assert card.read_bytes() != before and "wrote the figures into" in capsys.readouterr().out


def test_dataset_shows_a_progress_bar_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    argv = ["dataset", "amc", "--out", str(tmp_path / "d"), "--train-per-cell", "0", "--val-per-cell", "0",
            "--test-per-cell", "1", "--workers", "1"]
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(argv) == 0
    assert "dataset test" in tty.getvalue() and "frame" in tty.getvalue()
    monkeypatch.undo()
    assert main(argv) == 0
    assert "dataset test" not in capsys.readouterr().err        # not a terminal: no bar


class _Stop(Exception):
    pass


@pytest.mark.parametrize("verb, desc", [("calibrate-threshold", "calibrate-threshold"), ("evaluate", "evaluate amc")])
def test_long_amc_verbs_open_a_progress_bar_before_the_long_work(verb, desc, tiny, monkeypatch):
    import tqdm

    made = []

    def fake(*a, **k):
        made.append(k)
        raise _Stop

    monkeypatch.setattr(tqdm, "tqdm", fake)
    argv = [verb, "amc", "--model", str(tiny / "amc" / "card.json"), "--data", str(tiny / "data")]
    if verb == "evaluate":
        argv += ["--out", str(tiny / "eval2"), "--quick"]
    with pytest.raises(_Stop):
        main(argv)
    assert made[0]["desc"] == desc and made[0]["disable"] is None   # disable=None: off when not a TTY


def test_amc_tools_open_their_graphs_through_card_session():
    # card_session checks a graph's shapes against the card when it is opened
    for name in ("select", "evaluate", "proto"):
        src = (ROOT / "sdrkit" / "tasks" / "amc" / f"{name}.py").read_text()
        assert "onnx_session(" not in src and "card_session(" in src, name
