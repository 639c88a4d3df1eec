"""Fixtures for radio tests: recordings made by the project's own generators, and one rig per
registered radio scheme, so the contract tests in test_interface.py run against every scheme in
``sdrkit.radio.RADIOS``.

A rig opens one radio of its scheme at a known frequency and rate. Rigs that need hardware or a
driver that is not installed skip with the command that runs them. A scheme registered in
``RADIOS`` without a rig here fails ``test_every_registered_scheme_has_a_rig``: add one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.dsp import modulate, tone

FS = 1e6
FC = 100e6
TONE_HZ = 100e3


@pytest.fixture(scope="session")
def tone_recording(tmp_path_factory):
    """A 100 kHz tone (amplitude 0.5) at 1 MS/s around 100 MHz, 200k samples, ci16."""
    d = tmp_path_factory.mktemp("rec")
    x = tone(200_000, TONE_HZ / FS, amplitude=0.5)
    return write_recording(d / "tone", x, sample_rate=FS, center_frequency=FC, datatype="ci16_le",
                           annotations=[dict(start=0, count=200_000, label="tone")])


@pytest.fixture(scope="session")
def qpsk_recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    x = 0.3 * modulate("qpsk", 100_000, rng=np.random.default_rng(0), sps=4)
    return write_recording(d / "qpsk", x, sample_rate=FS, center_frequency=FC,
                           annotations=[dict(start=0, count=100_000, label="qpsk", snr_db=30)])


def plane_wave(n: int, elements: int = 4, spacing: float = 0.5, angle_deg: float = 30.0,
               freq: float = TONE_HZ / FS, amplitude: float = 0.4) -> tuple[np.ndarray, float]:
    """A narrowband plane wave on a uniform linear array: ``(elements, n)`` complex64 and the
    phase step between neighbouring elements, radians (``2 pi d sin(theta)``, d in wavelengths)."""
    step = 2 * np.pi * spacing * np.sin(np.deg2rad(angle_deg))
    x = tone(n, freq, amplitude=amplitude)
    return (np.exp(1j * step * np.arange(elements))[:, None] * x[None, :]).astype(np.complex64), step


@pytest.fixture(scope="session")
def array_recording(tmp_path_factory):
    """A 4-element plane wave (30 degrees, half-wavelength spacing), 4-channel cf32, 200k samples."""
    x, _ = plane_wave(200_000)
    return write_recording(tmp_path_factory.mktemp("rec") / "array4", x, sample_rate=FS, center_frequency=FC)


@dataclass
class Rig:
    """How the contract tests get one radio of a scheme.

    Attributes:
        name: test id. scheme: the ``RADIOS`` name it exercises.
        open: () -> an open Radio at ``rx_lo`` / ``sample_rate``.
        rx_lo, sample_rate: what the radio is tuned to when opened, Hz and samples/s.
        channels: enabled RX channels when opened.
        known_signal: the radio receives the tone recording (level checks are meaningful).
    """

    name: str
    scheme: str
    open: Callable
    rx_lo: float = FC
    sample_rate: float = FS
    channels: int = 1
    known_signal: bool = True


def _hardware(what: str, env: str, example: str) -> str:
    if not os.environ.get("SDRKIT_HARDWARE") or not os.environ.get(env):
        pytest.skip(f"needs {what}: attach it and run SDRKIT_HARDWARE=1 {env}={example} "
                    f"pytest -m hardware tests/radio/test_interface.py")
    return os.environ[env]


def _sim(request, rec):
    from sdrkit.radio import open_radio

    return lambda: open_radio(f"sim:{rec}?loop=1")


def _virtual_pluto(request, rec):
    """A virtual Pluto (the IIOD server of ``sdrkit emulate pluto``) replaying ``rec``, reached
    through pyadi-iio and libiio."""
    from tests._drivers import require_adi

    require_adi()
    from sdrkit.radio import open_radio
    from sdrkit.radio.emulator import PlutoEmulator

    emu = PlutoEmulator(rec, port=0, profile="pluto-ad9364").start()
    request.addfinalizer(emu.stop)
    return lambda: open_radio(f"pluto:{emu.uri}?profile=pluto-ad9364")


def _pluto_hardware(request, rec):
    from tests._drivers import require_adi

    uri = _hardware("an ADALM-Pluto", "SDRKIT_PLUTO_URI", "ip:192.168.2.1")
    require_adi()
    from sdrkit.radio import RadioConfig, open_radio

    return lambda: open_radio(f"pluto:{uri}", RadioConfig(rx_lo=915e6, sample_rate=FS, rx_rf_bandwidth=FS))


def _usrp_hardware(request, rec):
    args = _hardware("a USRP (e.g. B210 on USB 3)", "SDRKIT_USRP_ARGS", "type=b200")
    from sdrkit.radio import RadioConfig, open_radio

    return lambda: open_radio(f"usrp:{args}", RadioConfig(rx_lo=915e6, sample_rate=FS, rx_rf_bandwidth=FS))


def _zmq(request, rec):
    """A subscription to a publisher started here, which streams the recording through a
    realtime SimRadio in 4096-sample blocks."""
    from sdrkit.radio import open_radio
    from sdrkit.stream import Publisher

    pub = Publisher("tcp://127.0.0.1:*", stream="iq")
    src = open_radio(f"sim:{rec}?loop=1&realtime=1&rx_buffer_size=4096")
    stop = threading.Event()

    def run():
        while not stop.is_set():
            b = src.rx()
            pub.send(b.samples, b.start, src.sample_rate, src.rx_lo, lost=b.lost)

    t = threading.Thread(target=run, name="zmq-rig-publisher", daemon=True)
    t.start()

    def finish():
        stop.set()
        t.join(5)
        src.close()
        pub.close()

    request.addfinalizer(finish)
    return lambda: open_radio(f"zmq:{pub.endpoint}?stream=iq&timeout=5")


def _sim_array(request, rec):
    from sdrkit.radio import open_radio

    array = request.getfixturevalue("array_recording")
    return lambda: open_radio(f"sim:{array}?loop=1")


# rig name -> (scheme, factory(request, tone recording) -> opener, extra Rig fields)
RIGS = {
    "sim": ("sim", _sim, {}),
    "sim-4ch": ("sim", _sim_array, {"channels": 4}),
    "pluto-virtual": ("pluto", _virtual_pluto, {}),
    "pluto-hardware": ("pluto", _pluto_hardware, {"rx_lo": 915e6, "known_signal": False}),
    "usrp-hardware": ("usrp", _usrp_hardware, {"rx_lo": 915e6, "known_signal": False}),
    "zmq": ("zmq", _zmq, {}),
}


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.hardware) if n.endswith("-hardware") else n
                        for n in sorted(RIGS)])
def rig(request, tone_recording) -> Rig:
    """One rig per entry of RIGS (every registered radio scheme has at least one)."""
    scheme, factory, extra = RIGS[request.param]
    return Rig(request.param, scheme, factory(request, tone_recording), **extra)
