"""``sdrkit stream`` and ``sdrkit capture`` refuse run limits they cannot honour, without a traceback."""

import pytest

from sdrkit.cli import main

SIM = "sim:captures/demo_mixed.sigmf-meta?loop=0"


@pytest.mark.parametrize("argv, match", [
    (["--seconds", "nan"], "ConfigError: --seconds nan must be a finite number of seconds > 0"),
    (["--seconds", "inf"], "ConfigError: --seconds inf must be a finite"),
    (["--seconds", "0"], "ConfigError: --seconds 0.0 must be"),
    (["--blocks", "0"], "ConfigError: --blocks 0 must be >= 1"),
])
def test_stream_refuses_run_limits_it_cannot_honour(argv, match, capsys):
    assert main(["stream", "--radio", SIM, "--publish", "tcp://127.0.0.1:0"] + argv) == 1
    assert match in capsys.readouterr().err
