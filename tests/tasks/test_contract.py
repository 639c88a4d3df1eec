"""The task contract, checked for every registered task (``TASKS``): verbs as data, and a
tiny data set -> train -> evaluate --quick -> live predictor on a ``sim:`` stream, with the
prediction's shapes checked against the card the task wrote."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sdrkit.cli import main
from sdrkit.tasks import TASKS, get_task
from sdrkit.tasks.base import Task, Verb, config_fields


def _argv(settings: dict, tmp) -> list[str]:
    argv = []
    for k, v in settings.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            argv.append(flag)
        elif v is not False and v is not None:
            argv += [flag, str(v).replace("{tmp}", str(tmp))]
    return argv


@pytest.mark.parametrize("name", TASKS.names())
def test_task_declares_its_verbs_as_data(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name and task.summary
    names = [v.name for v in task.verbs]
    assert len(set(names)) == len(names), f"{name}: duplicate verbs {names}"
    assert {"dataset", "train", "evaluate"} <= set(names)
    for v in task.verbs:
        assert isinstance(v, Verb) and v.help and callable(v.function())
        assert dataclasses.is_dataclass(v.config) and v.config.__dataclass_params__.frozen
        for f, _typ in config_fields(v.config):
            if f.metadata.get("cli", True):
                assert f.metadata.get("help"), f"{name} {v.name}: --{f.name} has no help"
    assert task.smoke is not None, f"task {name} declares no smoke run for these tests"
    assert [s[0] for s in task.smoke.steps if s[0] in ("dataset", "train", "evaluate")] == \
        ["dataset", "train", "evaluate"]


@pytest.mark.parametrize("name", TASKS.names())
def test_every_verb_parses_from_the_generated_cli(name):
    from sdrkit.cli import build_parser

    parser = build_parser()
    for v in get_task(name).verbs:
        required = [f for f, _ in config_fields(v.config) if f.default is dataclasses.MISSING]
        argv = [v.name, name] + [x for f in required for x in ("--" + f.name.replace("_", "-"), "x")]
        args = parser.parse_args(argv)
        assert callable(args.func)


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS.names())
def test_tiny_run_through_every_verb_then_live(name, tmp_path, monkeypatch):
    from sdrkit.dsp.framing import Framer
    from sdrkit.radio import open_radio
    from sdrkit.runtime import check_stream, load_card
    from sdrkit.runtime.predict import PredictorOptions, check_prediction
    from sdrkit.stream.pipeline import Pipeline

    monkeypatch.chdir(tmp_path)
    task = get_task(name)
    smoke = task.smoke
    for verb, settings in smoke.steps:
        assert main([verb, name] + _argv(settings, tmp_path)) == 0, f"sdrkit {verb} {name} failed"
    card = load_card(smoke.card.replace("{tmp}", str(tmp_path)))
    assert card.task == name
    # evaluate wrote its targets as data
    reports = [json.loads(p.read_text()) for p in (tmp_path / "eval").rglob("*.json")]
    reports = [r for r in reports if isinstance(r, dict) and "targets" in r]
    assert reports, f"sdrkit evaluate {name} wrote no targets JSON under eval/"
    for t in reports[0]["targets"]:
        assert {"name", "measured", "op", "limit", "unit", "pass"} <= set(t)
    # the live predictor on a stream, through the one pipeline
    cal = smoke.calibration.replace("{tmp}", str(tmp_path)) if smoke.calibration else None
    predictor = task.predictor(card, PredictorOptions(calibration=cal))
    n, c = card.input.frame_len, card.input.channels
    rng = np.random.default_rng(0)
    frames = (rng.standard_normal((5, c, n)) + 1j * rng.standard_normal((5, c, n))).astype(np.complex64)
    check_prediction(card, predictor.predict(frames), 5)
    with open_radio(smoke.stream.replace("{tmp}", str(tmp_path))) as radio:
        chans = check_stream(card, radio.sample_rate, n, channels=len(radio.rx_enabled_channels or [0]))
        st = Pipeline(radio, predictor, Framer(n, channels=chans), batch=16).run(frames=64)
    assert st.frames_analyzed > 0 and st.frames_analyzed + st.frames_skipped == st.frames_in
