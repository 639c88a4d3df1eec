"""ci16 (and the other integer datatypes) scale in one place and honour ``sdrkit:full_scale``."""

import json

import numpy as np
import pytest

from sdrkit.capture import RecordingWriter, from_complex64, open_recording, to_complex64, write_recording
from sdrkit.errors import CaptureError

X = np.array([0.5 + 0.25j, -0.125 + 0.75j, 0.0 - 1.0j, 0.375 + 0j] * 4, np.complex64)   # 4 frames of 4


@pytest.mark.parametrize("full_scale, raw0", [(None, 16384), (4096, 2048), (2048, 1024)])
def test_every_read_path_honours_the_files_full_scale(tmp_path, full_scale, raw0):
    meta = write_recording(tmp_path / "s", X, sample_rate=1e6, center_frequency=0, datatype="ci16_le",
                           full_scale=full_scale)
    assert np.fromfile(tmp_path / "s.sigmf-data", "<i2")[0] == raw0
    with open_recording(meta) as rec:
        assert rec.full_scale == full_scale
        assert np.array_equal(rec.read(), X)
        assert np.array_equal(np.concatenate([b for _, b in rec.blocks(3)]), X)
        frames = rec.read_frames([3, 1], 4)
        assert frames.shape == (2, 4) and frames.dtype == np.complex64
        assert np.array_equal(frames, X.reshape(4, 4)[[3, 1]])


def test_same_integers_read_differently_under_different_full_scales(tmp_path):
    a = write_recording(tmp_path / "a", X, sample_rate=1e6, center_frequency=0, datatype="ci16_le", full_scale=4096)
    b = tmp_path / "b.sigmf-meta"
    m = json.loads(a.read_text())
    m["global"]["sdrkit:full_scale"] = 2048.0
    b.write_text(json.dumps(m))
    (tmp_path / "b.sigmf-data").write_bytes((tmp_path / "a.sigmf-data").read_bytes())
    assert np.array_equal(open_recording(b).read_frames([0], 4)[0], 2 * X[:4])
    assert np.array_equal(open_recording(b).read(), 2 * X)


def test_conversion_functions_are_inverse_with_the_written_scaling():
    raw = from_complex64(X, "ci16_le", 2048)
    assert raw.dtype == np.int16 and raw[:4].tolist() == [1024, 512, -256, 1536]
    assert np.array_equal(to_complex64(raw, "ci16_le", 2048), X)
    assert to_complex64(raw.reshape(2, -1), "ci16_le", 2048).shape == (2, 8)     # leading axes are kept
    assert from_complex64(np.array([2 + 0j], np.complex64), "ci16_le", 2048).tolist() == [4096, 0]
    assert from_complex64(np.array([20 + 0j], np.complex64), "ci16_le").tolist() == [32767, 0]   # clipped


@pytest.mark.parametrize("value, match", [
    (0, "sdrkit:full_scale=0 must be a positive number"),
    (-2048, "sdrkit:full_scale=-2048 must be a positive number"),
    ("2048", "sdrkit:full_scale='2048' must be a positive number"),
])
def test_bad_full_scale_in_a_file_is_refused(tmp_path, value, match):
    meta = write_recording(tmp_path / "f", X, sample_rate=1e6, center_frequency=0, datatype="ci16_le", full_scale=2048)
    m = json.loads(meta.read_text())
    m["global"]["sdrkit:full_scale"] = value
    meta.write_text(json.dumps(m))
    with pytest.raises(CaptureError, match=match):
        open_recording(meta)


def test_writer_refuses_a_full_scale_it_would_ignore(tmp_path):
    with pytest.raises(CaptureError, match="must be a positive number"):
        RecordingWriter(tmp_path / "z", sample_rate=1e6, center_frequency=0, datatype="ci16_le", full_scale=0)
    with pytest.raises(CaptureError, match="applies to integer datatypes only; cf32_le"):
        RecordingWriter(tmp_path / "c", sample_rate=1e6, center_frequency=0, full_scale=2048)


def test_read_frames_refuses_frames_outside_the_recording(tmp_path):
    rec = open_recording(write_recording(tmp_path / "o", X, sample_rate=1e6, center_frequency=0, datatype="ci16_le"))
    with pytest.raises(CaptureError, match=r"frame 4 is outside the recording's 4 frames of 4 samples"):
        rec.read_frames([0, 4], 4)
    with pytest.raises(CaptureError, match="frame -1 is outside"):
        rec.read_frames([-1], 4)
    with pytest.raises(CaptureError, match="frame_len=0 must be a positive integer"):
        rec.read_frames([0], 0)
    assert rec.read_frames([], 4).shape == (0, 4)
