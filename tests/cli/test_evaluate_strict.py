"""``sdrkit evaluate TASK --strict``: exit status 3 when a measured target misses, after the report is
written; not-measured targets are listed but do not fail it. The task's evaluation is stubbed (it writes
a report with chosen targets), so no real evaluation runs."""

import io
import json
import math

import pytest

from sdrkit.cli import build_parser, main
from sdrkit.cli import _tasks
from sdrkit.cli._tasks import EXIT_TARGET_MISSED, collect_reports, strict_exit_code, task_verbs
from sdrkit.tasks import targets
from sdrkit.tasks.targets import Target, write_report


def _stub(targets, rc=0):
    def run_evaluation(cfg) -> int:
        from pathlib import Path

        write_report(Path(cfg.out) / "evaluation.json", task="airnet", targets=targets, results={"x": 1})
        return rc

    return run_evaluation


@pytest.fixture
def stub(monkeypatch):
    import sdrkit.tasks.airnet.evaluate as ev

    return lambda targets, rc=0: monkeypatch.setattr(ev, "run_evaluation", _stub(targets, rc))


MISS = [Target("accuracy", 0.5, ">=", 0.9), Target("latency", 2.0, "<=", 5.0, unit="ms")]


def test_default_exit_is_unchanged_when_a_target_misses(stub, tmp_path, capsys):
    stub(MISS)
    assert main(["evaluate", "airnet", "--out", str(tmp_path)]) == 0
    assert "--strict" not in capsys.readouterr().err


def test_strict_exits_3_after_writing_the_whole_report(stub, tmp_path, capsys):
    stub(MISS)
    assert main(["evaluate", "airnet", "--out", str(tmp_path), "--strict"]) == EXIT_TARGET_MISSED == 3
    doc = json.loads((tmp_path / "evaluation.json").read_text())
    assert [t["pass"] for t in doc["targets"]] == [False, True] and doc["results"] == {"x": 1}
    cap = capsys.readouterr()
    assert "MISS" in cap.out                      # the table was printed in full
    lines = [ln for ln in cap.err.splitlines() if "missed" in ln]
    assert len(lines) == 1 and "accuracy" in lines[0] and "latency" not in lines[0]


def test_strict_passes_with_not_measured_targets_listed(stub, tmp_path, capsys):
    stub([Target("accuracy", 0.95, ">=", 0.9), Target("cross-generator", math.nan, ">=", 0.9, note="not measured")])
    assert main(["evaluate", "airnet", "--out", str(tmp_path), "--strict"]) == 0
    err = capsys.readouterr().err
    assert "not measured" in err and "cross-generator" in err and "missed" not in err


def test_strict_keeps_the_runs_own_failure_code():
    assert strict_exit_code(1, [{"targets": [{"name": "a", "measured": 0.1, "pass": False}]}]) == 1
    assert strict_exit_code(0, []) == 0


def test_every_evaluate_verb_takes_strict_and_the_collector_is_scoped(tmp_path):
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices and "evaluate" in a.choices)
    tasks = next(a for a in sub.choices["evaluate"]._actions if hasattr(a, "choices") and a.choices)
    assert set(tasks.choices) == {t.name for t, _ in task_verbs()["evaluate"]}
    for name, p in tasks.choices.items():
        assert "--strict" in p._option_string_actions, name
    assert (_tasks.REPORT_LOGGER, _tasks.REPORT_RECORD_ATTR) == (targets.REPORT_LOGGER, targets.REPORT_RECORD_ATTR)
    with collect_reports() as seen:
        write_report(tmp_path / "a.json", task="t", targets=MISS, stream=io.StringIO())
    write_report(tmp_path / "b.json", task="t", targets=MISS, stream=io.StringIO())
    assert [r["path"] for r in seen] == [str(tmp_path / "a.json")]
