"""Bundled profiles, rigs, models and captures are found from any working directory, and from a
non-editable install (a wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sdrkit.errors import ConfigError
from sdrkit.resources import names, resolve

ROOT = Path(__file__).resolve().parents[1]


def test_short_names_and_paths_resolve_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("models", "amc") == ROOT / "models" / "amc" / "card.json"
    assert resolve("models", "models/amc/card.json") == ROOT / "models" / "amc" / "card.json"
    assert resolve("rigs", "sim-loopback").name == "sim-loopback.yaml"
    assert resolve("captures", "demo_mixed").name == "demo_mixed.sigmf-meta"
    assert resolve("profiles", "pluto-ad9363").parent.name == "firmware_profiles"
    assert "amc" in names("models") and "sim-loopback" in names("rigs")
    (tmp_path / "mine.yaml").write_text("x")
    assert resolve("rigs", "mine.yaml") == Path("mine.yaml")              # local files come first
    with pytest.raises(ConfigError, match="rig 'nope' not found.*bundled: .*sim-loopback"):
        resolve("rigs", "nope")


def test_cli_finds_bundled_files_from_any_directory(tmp_path, monkeypatch):
    from sdrkit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["rig", "check", "sim-loopback"]) == 0
    assert main(["classify", "--model", "models/amc/card.json", "--frames", "16",
                 "--radio", "sim:captures/demo_mixed.sigmf-meta?loop=0"]) == 0


@pytest.mark.slow
def test_a_wheel_install_carries_the_bundled_files(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "out", "data", "*.egg-info",
                                                             "build", "__pycache__", "calibrations"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(src)], capture_output=True, text=True)
    if build.returncode and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel offline here: {build.stderr.strip()[-200:]}")
    assert build.returncode == 0, build.stderr
    whl = next(wheels.glob("sdrkit-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(whl)],
                   check=True, capture_output=True)
    code = ("import sdrkit.resources as r, sdrkit.profiles as p; "
            "print(r.__file__); print(r.resolve('models', 'amc')); print(r.resolve('rigs', 'sim-loopback')); "
            "print(p.load_profile('pluto-ad9363').name); print(r.resolve('captures', 'demo_mixed'))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(str(target))
    assert all(str(target / "sdrkit" / "_bundled") in line for line in (lines[1], lines[2], lines[4]))
