"""Multi-channel SigMF (core:num_channels): round trips, the interleaved layout, channel selection."""

import json

import numpy as np
import pytest

from sdrkit.capture import DATATYPES, RecordingWriter, open_recording, write_recording
from sdrkit.errors import CaptureError

TOL = {"cf32_le": 0.0, "ci16_le": 1 / 32768, "ci8": 1 / 128, "cu8": 1 / 127.5}


@pytest.fixture
def array4():
    """(4, 3000) complex64 within full scale: four channels with distinct content."""
    rng = np.random.default_rng(3)
    x = 0.2 * (rng.standard_normal((4, 3000)) + 1j * rng.standard_normal((4, 3000)))
    return np.clip(x.real, -0.99, 0.99).astype(np.float32) + 1j * np.clip(x.imag, -0.99, 0.99).astype(np.float32)


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_multichannel_round_trip_every_datatype(tmp_path, array4, datatype):
    meta = write_recording(tmp_path / "a", array4, sample_rate=1e6, center_frequency=2.4e9, datatype=datatype,
                           annotations=[dict(start=100, count=50, label="burst")])
    assert json.loads(meta.read_text())["global"]["core:num_channels"] == 4
    with open_recording(meta) as rec:
        assert rec.num_channels == 4 and rec.num_samples == 3000
        y = rec.read()
        assert y.shape == (4, 3000) and y.dtype == np.complex64 and y.flags.c_contiguous
        assert np.max(np.abs((y - array4).view(np.float32))) <= TOL[datatype] * 0.5 + 1e-6
        assert rec.labels() == [(100, 50, "burst", {})]


def test_layout_is_sigmf_interleaving_and_sigmf_python_agrees(tmp_path):
    x = np.array([[0.5 + 0.25j, -0.5 + 0j], [0.125 - 0.125j, 0.75 + 0.5j]], np.complex64)   # (2 channels, 2 samples)
    meta = write_recording(tmp_path / "l", x, sample_rate=1e6, center_frequency=0, datatype="ci16_le", full_scale=2048)
    raw = np.fromfile(tmp_path / "l.sigmf-data", "<i2").tolist()
    # sample 0: ch0 I Q, ch1 I Q; then sample 1
    assert raw == [1024, 512, 256, -256, -1024, 0, 1536, 1024]
    from sigmf import sigmffile

    theirs = sigmffile.fromfile(str(meta)).read_samples()    # sigmf-python: (samples, channels), int16 / 32768
    assert theirs.shape == (2, 2) and np.allclose(np.asarray(theirs).T * (32768 / 2048), x)
    assert np.array_equal(open_recording(meta).read(), x)


def test_read_selects_channels_in_order_and_one_channel_is_1d(tmp_path, array4):
    rec = open_recording(write_recording(tmp_path / "s", array4, sample_rate=1e6, center_frequency=0))
    assert np.array_equal(rec.read(10, 20, channels=[2, 0]), array4[[2, 0], 10:30])
    one = rec.read(10, 20, channels=[3])
    assert one.shape == (20,) and np.array_equal(one, array4[3, 10:30])
    assert np.array_equal(np.concatenate([b for _, b in rec.blocks(700)], axis=-1), array4)
    for bad in ([4], [1, 1], []):
        with pytest.raises(CaptureError, match=r"channels=.* must be distinct indices in 0..3 .*4 channel"):
            rec.read(0, 10, channels=bad)


def test_streamed_multichannel_writes_equal_one_write(tmp_path, array4):
    with RecordingWriter(tmp_path / "w", sample_rate=1e6, center_frequency=0, num_channels=4) as w:
        for i in range(0, 3000, 1000):
            assert w.write(array4[:, i:i + 1000]) == 1000
        assert w.num_samples == 3000
    rec = open_recording(tmp_path / "w")
    assert rec.global_info["sdrkit:sample_count"] == 3000 and np.array_equal(rec.read(), array4)


def test_writer_refuses_shapes_that_do_not_match_the_channels(tmp_path, array4):
    with RecordingWriter(tmp_path / "r", sample_rate=1e6, center_frequency=0, num_channels=4) as w:
        with pytest.raises(CaptureError, match=r"takes a \(4, n\) array, one row per channel .* got shape \(3000,\)"):
            w.write(array4[0])
        with pytest.raises(CaptureError, match=r"got shape \(2, 3000\)"):
            w.write(array4[:2])
    with RecordingWriter(tmp_path / "one", sample_rate=1e6, center_frequency=0) as w:
        with pytest.raises(CaptureError, match=r"takes a 1-D array \(n,\) .* 1-channel recording, got shape \(4, 3000\)"):
            w.write(array4)
        assert w.write(array4[:1]) == 3000          # (1, n) is one channel too
    for bad in (0, 1.5, True):
        with pytest.raises(CaptureError, match="num_channels=.* must be an integer >= 1"):
            RecordingWriter(tmp_path / f"bad{bad}", sample_rate=1e6, center_frequency=0, num_channels=bad)


def test_truncated_multichannel_sample_is_detected(tmp_path, array4):
    meta = write_recording(tmp_path / "t", array4, sample_rate=1e6, center_frequency=0, datatype="ci16_le")
    with open(tmp_path / "t.sigmf-data", "r+b") as fh:
        fh.truncate(16 * 2999 + 4)          # one channel of the last sample only
    with pytest.raises(CaptureError, match="not a whole number of 16-byte ci16_le samples of 4 channels"):
        open_recording(meta)


def test_bad_num_channels_in_metadata(tmp_path, array4):
    meta = write_recording(tmp_path / "n", array4, sample_rate=1e6, center_frequency=0)
    m = json.loads(meta.read_text())
    m["global"]["core:num_channels"] = 0
    meta.write_text(json.dumps(m))
    with pytest.raises(CaptureError, match="invalid SigMF metadata: 0 is less than the minimum of 1"):
        open_recording(meta)


def test_read_frames_multichannel_is_batch_channel_time(tmp_path, array4):
    rec = open_recording(write_recording(tmp_path / "f", array4, sample_rate=1e6, center_frequency=0))
    f = rec.read_frames([2, 0, 2], 1000)
    assert f.shape == (3, 4, 1000)
    assert np.array_equal(f[0], array4[:, 2000:3000]) and np.array_equal(f[1], array4[:, :1000])
    assert np.array_equal(rec.read_frames([1], 1000, channels=[3])[0], array4[3, 1000:2000])
