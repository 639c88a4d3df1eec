"""USRP backend: everything short of a device (UHD runs under the system interpreter)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from sdrkit.errors import DeviceNotFound, DriverMissing
from sdrkit.radio import open_radio
from sdrkit.radio.usrp import WORKER, complex64_to_sc16, sc16_to_complex64, system_python


def _uhd_available() -> bool:
    try:
        r = subprocess.run([system_python(), "-c", "import uhd, zmq"], capture_output=True, timeout=60)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_uhd = pytest.mark.skipif(not _uhd_available(),
                               reason="UHD's Python API is not installed for the system Python: "
                                      "apt-get install python3-uhd uhd-host python3-zmq (./setup.sh does as root)")


def test_sc16_conversion_round_trip():
    x = np.array([0.5 + 0.25j, -1 + 0j, 0.999 - 0.999j], np.complex64)
    raw = complex64_to_sc16(x)
    assert np.frombuffer(raw, "<i2").tolist()[:2] == [16384, 8192]
    assert np.allclose(sc16_to_complex64(raw), x, atol=1 / 16384)


@needs_uhd
def test_worker_runs_uhd_api_under_the_system_interpreter():
    out = subprocess.run([system_python(), str(WORKER), "--selftest"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import json

    info = json.loads(out.stdout)
    assert info["cpu_format"] == "sc16" and info["tune_target"] == 2.4e9 and info["numpy"].startswith("1.")


@needs_uhd
def test_no_usrp_found_is_a_clear_error():
    with pytest.raises(DeviceNotFound, match="no USRP found for device args 'type=b200'.*uhd_find_devices"):
        open_radio("usrp:type=b200")


def test_missing_uhd_is_driver_missing(monkeypatch):
    monkeypatch.setenv("SDRKIT_UHD_PYTHON", "/nonexistent/python3")
    with pytest.raises(DriverMissing, match="SDRKIT_UHD_PYTHON"):
        open_radio("usrp:type=b200")


@pytest.mark.hardware
def test_usrp_streams_on_the_bench():
    if not os.environ.get("SDRKIT_HARDWARE"):
        pytest.skip("needs a USRP (e.g. B210) on USB 3: connect it and run SDRKIT_HARDWARE=1 pytest -m hardware")
    with open_radio("usrp:type=b200") as r:
        b = r.rx()
        assert b.samples.dtype == np.complex64 and len(b) == r.rx_buffer_size


def test_worker_rows_become_channel_rows():
    from sdrkit.radio.usrp import rows_to_block

    x = np.arange(8, dtype=np.float32).view(np.complex64)       # 4 samples: 2 of channel 0, then 2 of channel 1
    assert rows_to_block(x, 1) is x
    assert rows_to_block(x, 2).tolist() == [[0 + 1j, 2 + 3j], [4 + 5j, 6 + 7j]]
