"""Acceptance: pyadi-iio v0.0.21's own Pluto hardware tests, unmodified, against the virtual Pluto.

The suite lives beside the project in ``../shared/third_party/pyadi-iio-v0.0.21`` (its README
says how to run it; CI lays ``shared/`` beside the clone); set ``SDRKIT_SHARED`` to point
elsewhere. It is skipped, saying why, when that folder is absent.

Its conftest needs pytest < 9 and the pytest-libiio plugin, so it runs in a side virtual
environment, ``out/pyadi-venv`` (made on first use from PyPI with the versions below; set
``SDRKIT_PYADI_SUITE_PYTHON`` to use another interpreter). Two emulators serve it at once to
fit CI's time: the attribute tests (upstream sleeps 0.3 s per write, 400 writes) run on four
pytest-xdist workers against one, the streaming tests in order against the other (they share
one device's state, as on hardware). Each emulator is paced, as ``sdrkit emulate pluto`` is by
default.

Every test of ``test/test_pluto_p.py`` must pass. (Three of them, ``test_pluto_attr[loopback-*]``
with ``repeats=0``, check nothing upstream; they pass vacuously.)
"""

import hashlib
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests._drivers import require_adi

require_adi()

from sdrkit.radio.emulator import PlutoEmulator  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SUITE = "pyadi-iio-v0.0.21"
REQUIREMENTS = ["pytest==8.4.2", "pytest-libiio==0.2.0", "pytest-timeout==2.4.0", "pytest-html==4.2.0",
                "pytest-xdist==3.8.0", "plotly-express==0.4.1", "pyadi-iio==0.0.21", "pylibiio==0.25",
                "numpy", "scipy"]
RECORDING = ROOT / "captures" / "demo_mixed.sigmf-meta"

pytestmark = pytest.mark.slow


def _suite_dir() -> Path:
    shared = Path(os.environ.get("SDRKIT_SHARED", ROOT.parent / "shared"))
    d = shared / "third_party" / SUITE
    if not (d / "test" / "test_pluto_p.py").is_file():
        pytest.skip(f"pyadi-iio's test suite is not at {d} (shared/ is laid beside the clone by CI and on "
                    f"developer machines; set SDRKIT_SHARED to its folder)")
    return d


def _suite_python() -> str:
    given = os.environ.get("SDRKIT_PYADI_SUITE_PYTHON")
    if given:
        return given
    venv = ROOT / "out" / "pyadi-venv"
    py = venv / "bin" / "python"
    stamp = venv / ".sdrkit-stamp"
    want = hashlib.sha256(" ".join(REQUIREMENTS).encode()).hexdigest()[:16]
    if py.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return str(py)
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True, capture_output=True,
                       text=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        tail = (getattr(exc, "stderr", "") or "")[-600:]
        pytest.skip(f"could not make the side environment {venv} for pyadi-iio's suite "
                    f"(pip install {' '.join(REQUIREMENTS)}): {exc} {tail}")
    stamp.write_text(want)
    return str(py)


def _results(xml: Path) -> dict[str, str]:
    out = {}
    for tc in ET.parse(xml).getroot().iter("testcase"):
        status = "passed"
        for child in tc:
            if child.tag in ("failure", "error"):
                status = f"{child.tag}: {(child.get('message') or '')[:300]}"
            elif child.tag == "skipped":
                status = f"skipped: {(child.get('message') or '')[:200]}"
        out[tc.get("name")] = status
    return out


def test_pyadi_iio_pluto_tests_pass_against_the_virtual_pluto(tmp_path):
    suite, py = _suite_dir(), _suite_python()
    outdir = ROOT / "out" / "acceptance"
    outdir.mkdir(parents=True, exist_ok=True)
    common = ["--skip-scan", "--timeout=120", "-p", "no:cacheprovider", "-q", "-rfE"]
    with PlutoEmulator(RECORDING, port=0) as attrs_emu, PlutoEmulator(RECORDING, port=0) as stream_emu:
        runs = [
            (outdir / "pluto_p-attr.xml",
             [py, "-m", "pytest", "test/test_pluto_p.py", "-k", "test_pluto_attr", "-n", "4",
              "--uri", attrs_emu.uri, *common]),
            (outdir / "pluto_p-streams.xml",
             [py, "-m", "pytest", "test/test_pluto_p.py", "-k", "not test_pluto_attr",
              "--uri", stream_emu.uri, *common]),
        ]
        procs = [subprocess.Popen([*cmd, f"--junitxml={xml}"], cwd=suite, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for xml, cmd in runs]
        logs = [p.communicate(timeout=900)[0] for p in procs]
    (outdir / "pluto_p.log").write_text("\n".join(logs))
    results = {}
    for (xml, _), log in zip(runs, logs):
        assert xml.exists(), f"pyadi-iio's suite wrote no report ({xml}); its output:\n{log[-3000:]}"
        results.update(_results(xml))
    bad = {k: v for k, v in results.items() if v != "passed"}
    assert len(results) == 20, f"expected pyadi-iio's 20 Pluto tests, ran {len(results)}: {sorted(results)}"
    assert not bad, "pyadi-iio tests that failed against the virtual Pluto:\n" + \
        "\n".join(f"  {k}: {v}" for k, v in bad.items()) + f"\n(log: {outdir / 'pluto_p.log'})"
