"""SigMF reading and writing: round trips, corrupt files, crash safety."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sdrkit.capture import DATATYPES, RecordingWriter, open_recording, write_recording
from sdrkit.errors import CaptureError

TOL = {"cf32_le": 0.0, "ci16_le": 1 / 32768, "ci8": 1 / 128, "cu8": 1 / 127.5}


@pytest.fixture
def noise():
    rng = np.random.default_rng(0)
    return (0.2 * (rng.standard_normal(5000) + 1j * rng.standard_normal(5000))).astype(np.complex64)


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_round_trip_every_datatype(tmp_path, noise, datatype):
    meta = write_recording(tmp_path / "r", noise, sample_rate=2e6, center_frequency=915e6, datatype=datatype,
                           hw="test rig", annotations=[dict(start=10, count=100, label="qpsk", snr_db=12.0)])
    with open_recording(meta) as rec:
        assert rec.num_samples == noise.size and rec.sample_rate == 2e6 and rec.center_frequency == 915e6
        y = rec.read()
        assert y.dtype == np.complex64
        d = (y - noise).view(np.float32)
        assert np.max(np.abs(d)) <= TOL[datatype] * 0.5 + 1e-6
        assert rec.labels() == [(10, 100, "qpsk", {"snr_db": 12.0})]
        assert rec.global_info["core:hw"] == "test rig" and not rec.interrupted


def test_pluto_full_scale_honoured(tmp_path):
    x = np.array([0.5 + 0.25j, -1 + 0j], np.complex64)
    meta = write_recording(tmp_path / "p", x, sample_rate=1e6, center_frequency=1e9, datatype="ci16_le",
                           full_scale=2048)
    raw = np.fromfile(tmp_path / "p.sigmf-data", "<i2")
    assert raw.tolist() == [1024, 512, -2048, 0]
    assert np.allclose(open_recording(meta).read(), x)


def test_chunked_read_equals_whole(tmp_path, noise):
    meta = write_recording(tmp_path / "c", noise, sample_rate=1e6, center_frequency=0)
    rec = open_recording(meta)
    parts = [(s, b) for s, b in rec.blocks(777)]
    assert [s for s, _ in parts][:3] == [0, 777, 1554]
    assert np.array_equal(np.concatenate([b for _, b in parts]), rec.read())
    assert np.array_equal(rec.read(100, 50), noise[100:150])
    with pytest.raises(CaptureError, match="outside the recording's 5000 samples"):
        rec.read(4990, 20)


def _good(tmp_path, noise):
    return write_recording(tmp_path / "g", noise, sample_rate=1e6, center_frequency=1e9,
                           annotations=[dict(start=4000, count=1000, label="x")])


def test_missing_meta(tmp_path):
    with pytest.raises(CaptureError, match="metadata file not found"):
        open_recording(tmp_path / "nothing.sigmf-meta")


def test_missing_data(tmp_path, noise):
    meta = _good(tmp_path, noise)
    os.remove(tmp_path / "g.sigmf-data")
    with pytest.raises(CaptureError, match="data file not found"):
        open_recording(meta)


def test_invalid_json(tmp_path, noise):
    meta = _good(tmp_path, noise)
    meta.write_text("{ not json")
    with pytest.raises(CaptureError, match="not valid JSON"):
        open_recording(meta)


def test_invalid_sigmf(tmp_path, noise):
    meta = _good(tmp_path, noise)
    m = json.loads(meta.read_text())
    m["global"]["core:sample_rate"] = "fast"
    meta.write_text(json.dumps(m))
    with pytest.raises(CaptureError, match="invalid SigMF metadata"):
        open_recording(meta)


def test_unknown_datatype(tmp_path, noise):
    meta = _good(tmp_path, noise)
    m = json.loads(meta.read_text())
    m["global"]["core:datatype"] = "cf64_be"
    meta.write_text(json.dumps(m))
    with pytest.raises(CaptureError, match="unsupported core:datatype 'cf64_be'"):
        open_recording(meta)


def test_truncated_partial_sample(tmp_path, noise):
    meta = _good(tmp_path, noise)
    with open(tmp_path / "g.sigmf-data", "r+b") as fh:
        fh.truncate(8 * 4999 + 3)
    with pytest.raises(CaptureError, match="data is truncated"):
        open_recording(meta)


def test_data_shorter_than_meta_claims(tmp_path, noise):
    meta = _good(tmp_path, noise)
    with open(tmp_path / "g.sigmf-data", "r+b") as fh:
        fh.truncate(8 * 4500)
    with pytest.raises(CaptureError, match="shorter than the metadata claims"):
        open_recording(meta)


def test_refuses_to_overwrite(tmp_path, noise):
    _good(tmp_path, noise)
    with pytest.raises(CaptureError, match="already exists. Use overwrite=True"):
        RecordingWriter(tmp_path / "g", sample_rate=1e6, center_frequency=0)


def test_gap_annotation_and_metadata(tmp_path, noise):
    with RecordingWriter(tmp_path / "w", sample_rate=1e6, center_frequency=2.4e9, hw="ADALM-Pluto",
                         extra_global={"radio_config": {"rx_hardwaregain": 30}}) as w:
        w.write(noise[:1000])
        w.add_gap(1000, 4096)
        w.write(noise[1000:])
    rec = open_recording(tmp_path / "w")
    g = rec.global_info
    assert g["sdrkit:complete"] is True and g["sdrkit:sample_count"] == 5000
    assert g["sdrkit:radio_config"] == {"rx_hardwaregain": 30} and "core:datetime" in rec.captures[0]
    gaps = [l for l in rec.labels() if l[2] == "gap"]
    assert gaps == [(1000, 0, "gap", {"lost_samples": 4096, "comment": "4096 samples lost by the radio before this point"})]


WRITER = r"""
import sys, numpy as np
from sdrkit.capture import RecordingWriter
w = RecordingWriter(sys.argv[1], sample_rate=1e6, center_frequency=1e9, datatype="ci16_le", flush_interval=0.0)
rng = np.random.default_rng(1)
i = 0
while True:
    x = (0.1 * np.exp(1j * np.arange(i, i + 4096))).astype(np.complex64)
    w.write(x)
    w.annotate(i, 4096, "tone")
    i += 4096
    if i == 4096 * 20:
        print("ready", flush=True)
"""


def test_writer_killed_mid_write_leaves_readable_recording(tmp_path):
    base = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(base)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rec = open_recording(base)
    assert rec.interrupted and rec.num_samples >= 4096 * 20
    x = rec.read()
    expect = (0.1 * np.exp(1j * np.arange(rec.num_samples))).astype(np.complex64)
    assert np.max(np.abs(x - expect)) < 1e-4
    assert len([l for l in rec.labels() if l[2] == "tone"]) >= 20


def test_bundled_capture_opens_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("captures/demo_mixed.sigmf-meta", "captures/demo_mixed", "demo_mixed"):
        with open_recording(name) as rec:
            assert rec.meta_path.name == "demo_mixed.sigmf-meta" and rec.meta_path.is_absolute()
    with pytest.raises(CaptureError, match="metadata file not found"):
        open_recording("captures/no_such_capture.sigmf-meta")
