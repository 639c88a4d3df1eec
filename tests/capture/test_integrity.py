"""SigMF integrity (issue 20): core:sha512 written when a recording is finalized, checked on read;
``sdrkit info`` shows a foreign file's provenance and whether its checksum verifies."""

import json

import numpy as np
import pytest

from sdrkit.capture import RecordingWriter, open_recording, write_recording
from sdrkit.cli import main
from sdrkit.errors import CaptureError


def _flip(path, at=100):
    d = bytearray(path.read_bytes())
    d[at] ^= 0x01
    path.write_bytes(bytes(d))


@pytest.fixture()
def rec(tmp_path):
    return write_recording(tmp_path / "r", (np.arange(4000) * 1e-3).astype(np.complex64), sample_rate=1e6,
                           center_frequency=915e6)


def test_a_finalized_recording_carries_its_sha512_and_sigmf_validates_it(rec):
    import hashlib

    import sigmf

    meta = json.loads(rec.read_text())
    data = rec.with_suffix(".sigmf-data")
    assert meta["global"]["core:sha512"] == hashlib.sha512(data.read_bytes()).hexdigest()
    assert open_recording(rec).checksum_ok is True
    sigmf.sigmffile.fromfile(str(rec))                      # sigmf's own check passes


def test_a_flipped_data_byte_fails_on_read_and_in_sigmf_validation(rec):
    import sigmf

    _flip(rec.with_suffix(".sigmf-data"))
    with pytest.raises(CaptureError, match="checksum mismatch"):
        open_recording(rec)
    with pytest.raises(Exception, match="(?i)hash|checksum"):
        sigmf.sigmffile.fromfile(str(rec))
    assert open_recording(rec, verify=False).verify() is False


def test_an_interrupted_recording_has_no_checksum_and_still_reads(tmp_path):
    w = RecordingWriter(tmp_path / "cut", sample_rate=1e6, center_frequency=0.0)
    w.write(np.ones(100, np.complex64))
    w.flush()                                                # killed here: never closed
    r = open_recording(tmp_path / "cut")
    assert r.interrupted and r.sha512 is None and r.verify() is None


def test_info_shows_a_foreign_files_provenance_and_checksum(tmp_path, capsys):
    import hashlib

    x = (np.arange(512) * 1e-3).astype(np.complex64).view(np.float32)
    data = tmp_path / "gqrx.sigmf-data"
    data.write_bytes(x.tobytes())
    meta = {"global": {"core:datatype": "cf32_le", "core:version": "1.0.0", "core:sample_rate": 2e6,
                       "core:recorder": "GNU Radio 3.10", "core:description": "FM broadcast, car antenna",
                       "core:license": "https://creativecommons.org/licenses/by-sa/4.0/",
                       "core:author": "someone <a@example.org>",
                       "core:sha512": hashlib.sha512(data.read_bytes()).hexdigest()},
            "captures": [{"core:sample_start": 0, "core:frequency": 98.5e6}], "annotations": []}
    (tmp_path / "gqrx.sigmf-meta").write_text(json.dumps(meta))
    assert main(["info", str(tmp_path / "gqrx.sigmf-meta")]) == 0
    out = capsys.readouterr().out
    assert "recorder      GNU Radio 3.10" in out and "description   FM broadcast, car antenna" in out
    assert "licence       https://creativecommons.org/licenses/by-sa/4.0/" in out
    assert "core:sha512 verified" in out
    _flip(data, 40)
    assert main(["info", str(tmp_path / "gqrx.sigmf-meta")]) == 1
    cap = capsys.readouterr()
    assert "checksum      MISMATCH" in cap.out and "checksum mismatch" in cap.err
    assert main(["info", str(tmp_path / "gqrx.sigmf-meta"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["checksum"] == "MISMATCH"
