"""Fixtures for radio tests: recordings made by the project's own generators, and one
opener per backend that can run here (the same interface tests run against each)."""

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.dsp import modulate, tone

FS = 1e6
FC = 100e6


@pytest.fixture(scope="session")
def tone_recording(tmp_path_factory):
    """A 100 kHz tone (amplitude 0.5) at 1 MS/s around 100 MHz, 200k samples, ci16."""
    d = tmp_path_factory.mktemp("rec")
    x = tone(200_000, 100e3 / FS, amplitude=0.5)
    return write_recording(d / "tone", x, sample_rate=FS, center_frequency=FC, datatype="ci16_le",
                           annotations=[dict(start=0, count=200_000, label="tone")])


@pytest.fixture(scope="session")
def qpsk_recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    x = 0.3 * modulate("qpsk", 100_000, rng=np.random.default_rng(0), sps=4)
    return write_recording(d / "qpsk", x, sample_rate=FS, center_frequency=FC,
                           annotations=[dict(start=0, count=100_000, label="qpsk", snr_db=30)])


def _sim(rec):
    return f"sim:{rec}?loop=1"


# backend name -> function(recording path) -> URI of that backend replaying the recording.
# A virtual Pluto (pyadi-iio against an emulated IIO device fed by a SimRadio) adds itself here,
# and every test in test_interface.py then runs against it too.
def _virtual_pluto(rec):
    """A virtual Pluto (IIOD server) replaying ``rec``, reached through pyadi-iio/libiio."""
    from tests._drivers import require_adi

    require_adi()
    from sdrkit.radio.emulator import PlutoEmulator

    emu = PlutoEmulator(rec, port=0, profile="pluto-ad9364").start()
    return f"pluto:{emu.uri}?profile=pluto-ad9364", emu.stop


BACKENDS = {"sim": lambda rec: (_sim(rec), None), "pluto-virtual": _virtual_pluto}


@pytest.fixture(params=sorted(BACKENDS))
def radio_uri(request, tone_recording):
    """URI of a radio replaying the tone recording, for every backend that runs here."""
    uri, stop = BACKENDS[request.param](tone_recording)
    yield uri
    if stop is not None:
        stop()
