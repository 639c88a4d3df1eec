"""bench stream_e2e: run settings (20 s on every core by default; SDRKIT_E2E_* overrides, bad ones refused)."""

import os

import pytest

from sdrkit.bench import BenchContext
from sdrkit.bench.stream import _e2e_settings
from sdrkit.errors import ConfigError


def test_defaults_are_a_20_s_run_on_every_core(monkeypatch):
    for k in list(os.environ):
        if k.startswith("SDRKIT_E2E_"):
            monkeypatch.delenv(k)
    cfg = _e2e_settings(BenchContext())
    assert cfg["seconds"] == 20 and cfg["workers"] == (os.cpu_count() or 1) and cfg["block"] == 16384
    assert cfg["max_queue"] == 4 * cfg["batch"] * cfg["workers"] and cfg["front_end"] is None
    # the live default: the int8 copy of the bundled AMC card (sdrkit compress amc), bundled
    assert cfg["model"] == "amc-int8"
    from sdrkit.resources import resolve
    from sdrkit.runtime import load_card

    assert load_card(resolve("models", cfg["model"])).extra["precision"] == "int8"
    assert _e2e_settings(BenchContext(seconds=5))["seconds"] == 5 and _e2e_settings(BenchContext(quick=True))["seconds"] == 3


def test_environment_overrides_and_refusals(monkeypatch):
    monkeypatch.setenv("SDRKIT_E2E_WORKERS", "1")
    monkeypatch.setenv("SDRKIT_E2E_BATCH", "64")
    cfg = _e2e_settings(BenchContext())
    assert (cfg["workers"], cfg["batch"], cfg["max_queue"]) == (1, 64, 256)
    monkeypatch.setenv("SDRKIT_E2E_WORKERS", "0")
    with pytest.raises(ConfigError, match="SDRKIT_E2E_WORKERS"):
        _e2e_settings(BenchContext())
    monkeypatch.setenv("SDRKIT_E2E_WORKERS", "two")
    with pytest.raises(ConfigError, match=r"SDRKIT_E2E_WORKERS='two' is not a number \(int\)"):
        _e2e_settings(BenchContext())

