"""Issue 20, the first hour: verbs that behave as people expect, errors that say what to do."""

import re
import time
import tomllib
from pathlib import Path

import pytest

from sdrkit.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DEMO = "sim:captures/demo_mixed.sigmf-meta"
RADIO_VERBS = ("classify", "capture", "replay", "stream")


def _sub(verb):
    p = build_parser()
    sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[verb]


def _settings_group(verb):
    g = next(g for g in _sub(verb)._action_groups if g.title.startswith("radio settings"))
    return sorted(tuple(a.option_strings) for a in g._group_actions)


def test_every_verb_that_opens_a_radio_has_the_same_radio_settings_group():
    groups = {v: _settings_group(v) for v in RADIO_VERBS}
    assert all(g == groups["classify"] for g in groups.values())
    flags = {f for opts in groups["classify"] for f in opts}
    assert {"--rx-lo", "--sample-rate", "--gain", "--bandwidth", "--rx-rf-bandwidth", "--gain-mode",
            "--buffer-size"} <= flags


def test_the_rate_mismatch_hint_names_a_flag_classify_has(capsys):
    assert main(["classify", "--radio", DEMO + "?loop=0", "--model", "amc", "--sample-rate", "500e3",
                 "--bandwidth", "400e3"]) == 1
    err = capsys.readouterr().err
    assert "ModelInputMismatch: stream sample rate 500000 S/s" in err
    flag = re.search(r"\(e\.g\. (--[a-z-]+) ", err).group(1)
    assert flag in _sub("classify")._option_string_actions
    # and the flag it names fixes it
    assert main(["classify", "--radio", DEMO + "?loop=0", "--model", "amc", "--frames", "8", flag, "1e6"]) == 0


def test_radio_settings_in_a_pluto_uri_are_taken_out_and_applied():
    from sdrkit.cli._common import split_settings

    assert split_settings("pluto:ip:192.168.2.1?sample_rate=2e6&rx_lo=2.4e9&timeout_ms=900") == \
        ("pluto:ip:192.168.2.1?timeout_ms=900", {"sample_rate": 2e6, "rx_lo": 2.4e9})
    assert split_settings("usrp:type=b200?rx_buffer_size=4096") == ("usrp:type=b200", {"rx_buffer_size": 4096})
    assert split_settings(DEMO + "?sample_rate=5e5") == (DEMO + "?sample_rate=5e5", {})   # sim reads its own


def test_replay_of_a_bare_recording_is_one_shot_real_time_and_says_so(tmp_path, capsys):
    import numpy as np

    from sdrkit.capture import write_recording

    rec = write_recording(tmp_path / "r", np.ones(100_000, np.complex64), sample_rate=1e6, center_frequency=1e8)
    t0 = time.monotonic()
    assert main(["replay", "--radio", f"sim:{rec}", "--buffer-size", "10000"]) == 0   # used to run forever
    assert time.monotonic() - t0 >= 0.08                                               # paced: 0.1 s of signal
    cap = capsys.readouterr()
    assert "one-shot, real time" in cap.err
    m = re.search(r"(\d+) samples in .* (\d+) samples lost", cap.out)         # a busy host may overflow, as a radio
    assert int(m.group(1)) + int(m.group(2)) == 100_000                        # ... but the recording ends: one-shot
    assert main(["replay", "--radio", f"sim:{rec}", "--fast", "--blocks", "3", "--buffer-size", "1000"]) == 0
    assert "one-shot, as fast as possible" in capsys.readouterr().err


def test_replay_defaults_keep_what_the_uri_says():
    from sdrkit.cli._common import replay_defaults

    assert replay_defaults("sim:a.sigmf-meta", announce=False) == "sim:a.sigmf-meta?loop=0&realtime=1"
    assert replay_defaults("sim:a?loop=1", announce=False) == "sim:a?loop=1"
    assert replay_defaults("sim:a?loop=0", fast=True, announce=False) == "sim:a?loop=0&realtime=0"
    assert replay_defaults("pluto:ip:h", announce=False) == "pluto:ip:h"


@pytest.mark.parametrize("argv, hint", [
    (["clasify"], "did you mean 'classify'?"),
    (["evaluate", "ammc"], "did you mean 'amc'?"),
    (["evaluate", "amc", "--udpate-card"], "did you mean '--update-card'"),
    (["replay", "--radio", DEMO, "--buffer-sise", "9"], "did you mean '--buffer-size'"),
])
def test_typos_in_verbs_and_options_get_a_did_you_mean(argv, hint, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert hint in capsys.readouterr().err


def test_typos_in_file_rig_and_model_names_get_a_did_you_mean(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["info", "captures/demo_mix.sigmf-meta"]) == 1
    assert "did you mean 'captures/demo_mixed.sigmf-meta'?" in capsys.readouterr().err
    assert main(["rig", "check", "sim-loopbak"]) == 1
    assert "did you mean 'sim-loopback'?" in capsys.readouterr().err
    assert main(["classify", "--radio", DEMO, "--model", "amcc"]) == 1
    assert "did you mean 'amc'?" in capsys.readouterr().err


def test_a_beam_card_given_to_classify_says_which_verb_makes_it_run(capsys):
    assert main(["classify", "--radio", DEMO + "?loop=0", "--model", "models/beam/card.json"]) == 1
    err = capsys.readouterr().err
    assert "sdrkit calibrate beam" in err and "--calibration FILE" in err and "stem" not in err


def test_pyproject_license_is_an_spdx_expression():
    # a TOML table (license = {text = ...}) makes setuptools >= 77 warn three times during setup
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert proj["project"]["license"] == "BSD-3-Clause"
    req = proj["build-system"]["requires"][0]
    assert int(re.search(r">=(\d+)", req).group(1)) >= 77


def test_demo_can_show_the_web_view(tmp_path, capsys):
    assert main(["demo", "--seconds", "1", "--view", "web", "--view-port", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "live view: http://127.0.0.1:" in out and (tmp_path / "score.png").exists()


def test_every_task_verbs_help_renders(capsys):
    # task help texts reach argparse, which %-formats them: a bare "90%" used to crash --help
    from sdrkit.cli._tasks import _escape, task_verbs

    assert _escape("90% x %(default)s 20%% y") == "90%% x %(default)s 20%% y"
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    for verb, entries in task_verbs().items():
        for task, _ in entries:
            with pytest.raises(SystemExit) as e:
                main([verb, task.name, "--help"])
            assert e.value.code == 0, (verb, task.name)


def test_a_typo_in_a_sim_uri_option_gets_a_did_you_mean(capsys):
    assert main(["replay", "--radio", DEMO + "?realtim=1"]) == 1
    assert "unknown sim: option 'realtim'; did you mean 'realtime'?" in capsys.readouterr().err
    assert main(["classify", "--model", "amc", "--radio", DEMO + "?loop=0&front_ed=fe-a"]) == 1
    assert "did you mean 'front_end'?" in capsys.readouterr().err
