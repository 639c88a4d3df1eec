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
