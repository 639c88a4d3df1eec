"""Rig files: validation, and `sdrkit rig check` on the rigs that run without hardware."""

import os
from pathlib import Path

import pytest

from sdrkit.cli import main
from sdrkit.errors import ConfigError
from sdrkit.rigs import load_rig

RIGS = sorted((Path(__file__).resolve().parents[2] / "rigs").glob("*.yaml"))


@pytest.mark.parametrize("path", RIGS, ids=lambda p: p.stem)
def test_bundled_rig_is_valid(path):
    rig = load_rig(path)
    assert rig.radios and rig.description


@pytest.mark.parametrize("name", ["sim-loopback", "virtual-pluto-loopback", "beam-multi-fe"])
def test_rig_check_passes_without_hardware(name, capsys):
    if name == "virtual-pluto-loopback":
        from tests._drivers import require_adi

        require_adi()
    rig = Path(__file__).resolve().parents[2] / "rigs" / f"{name}.yaml"
    assert main(["rig", "check", str(rig)]) == 0
    out = capsys.readouterr().out
    assert f"rig {name}: OK" in out


@pytest.mark.hardware
@pytest.mark.parametrize("name", ["pluto-cable", "b210"])
def test_hardware_rig(name):
    if not os.environ.get("SDRKIT_HARDWARE"):
        pytest.skip(f"needs the real radios of rigs/{name}.yaml on the bench: connect them and run "
                    f"SDRKIT_HARDWARE=1 pytest -m hardware tests/rigs")
    rig = Path(__file__).resolve().parents[2] / "rigs" / f"{name}.yaml"
    assert main(["rig", "check", str(rig)]) == 0


def test_rig_with_failing_loopback_exits_nonzero(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\ndescription: expects more SNR than the channel gives\n"
                 "radios:\n  s: {uri: 'sim:?loopback_snr=5', profile: simulated}\n"
                 "loopback: {tx: s, rx: s, expect_snr_db: [20, 40]}\n")
    assert main(["rig", "check", str(p)]) == 1
    assert "loopback snr_db" in capsys.readouterr().out


@pytest.mark.parametrize("body, match", [
    ("radios: {}\n", "needs a 'radios' mapping"),
    ("radios:\n  s: {uri: 'hackrf:0', profile: simulated}\n", "URI scheme 'hackrf'"),
    ("radios:\n  s: {uri: 'sim:', profile: nope}\n", "unknown firmware profile 'nope'"),
    ("radios:\n  s: {uri: 'sim:', profile: simulated, settings: {freq: 1}}\n", r"unknown settings \['freq'\]"),
    ("radios:\n  s: {uri: 'sim:', profile: simulated}\nlinks:\n  - {from: s, to: s, kind: cable}\n",
     "needs attenuation_db"),
    ("radios:\n  s: {uri: 'sim:', profile: simulated, front_end: fe-q}\n", "unknown front end 'fe-q'"),
])
def test_invalid_rigs_are_refused_with_the_reason(tmp_path, body, match):
    p = tmp_path / "r.yaml"
    p.write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_rig(p)
