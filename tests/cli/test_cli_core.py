"""The CLI frame: help, errors as `Type: message` with exit 1, profiles, bench listing."""

from sdrkit.cli import main


def test_help_lists_verbs(capsys):
    assert main([]) == 2
    assert "profiles" in capsys.readouterr().out


def test_profiles_list_and_show(capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert "pluto-ad9363" in out
    assert main(["profiles", "pluto-ad9363"]) == 0
    out = capsys.readouterr().out
    assert "rx_lo" in out and "source:" in out


def test_error_prints_type_and_message_exit_1(capsys):
    assert main(["profiles", "no-such-radio"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ConfigError: unknown firmware profile 'no-such-radio'")


def test_bench_unknown_name_is_an_error(capsys):
    assert main(["bench", "no-such-bench", "--json", ""]) == 1
    assert "ConfigError: unknown benchmark" in capsys.readouterr().err


def test_a_verb_module_that_fails_to_import_is_an_error_not_skipped(monkeypatch):
    import pytest

    from sdrkit import cli

    monkeypatch.setattr(cli, "VERB_MODULES", cli.VERB_MODULES + ["nosuchverb"])
    with pytest.raises(ModuleNotFoundError, match="sdrkit.cli.nosuchverb"):
        cli.build_parser()


def test_classify_refuses_a_task_that_is_not_the_cards(capsys):
    assert main(["classify", "--task", "beam", "--model", "amc",
                 "--radio", "sim:captures/demo_mixed.sigmf-meta?loop=0"]) == 1
    assert "--task beam but the card" in capsys.readouterr().err


def test_classify_refuses_options_the_task_has_no_use_for(capsys):
    assert main(["classify", "--model", "beam", "--threshold", "0.3", "--calibration", "x.json",
                 "--radio", "sim:captures/demo_mixed.sigmf-meta?loop=0"]) == 1
    assert "has no use for --threshold" in capsys.readouterr().err
    assert main(["classify", "--model", "beam", "--radio", "sim:captures/demo_mixed.sigmf-meta?loop=0"]) == 1
    assert "make a calibration" in capsys.readouterr().err


def test_task_verbs_accept_the_older_task_flag():
    from sdrkit.cli import _task_flag_to_positional

    assert _task_flag_to_positional(["calibrate", "--shots", "4", "--task", "beam", "--out", "c.json"],
                                    {"calibrate": []}) == ["calibrate", "beam", "--shots", "4", "--out", "c.json"]


def test_a_benchmark_module_that_fails_to_import_is_an_error_not_skipped(monkeypatch):
    import pytest

    from sdrkit import bench

    monkeypatch.setattr(bench, "BENCH_MODULES", bench.BENCH_MODULES + ["sdrkit.bench.nosuch"])
    with pytest.raises(ModuleNotFoundError, match="sdrkit.bench.nosuch"):
        bench.load_all()
