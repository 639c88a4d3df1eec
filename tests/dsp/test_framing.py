"""The framing stage: frames, channels, gaps, hop; the one converter to model input."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp.framing import Framer, model_input, spectrogram_tiles, to_model_input
from sdrkit.errors import ConfigError, ModelInputMismatch


def _ramp(n, start=0, channels=1):
    x = (np.arange(start, start + n) + 1j * -np.arange(start, start + n)).astype(np.complex64)
    return np.stack([x * (c + 1) for c in range(channels)]) if channels > 1 else x


def test_frames_are_consecutive_across_blocks_and_the_tail_waits():
    fr = Framer(100)
    s1, f1 = fr.push(_ramp(250), 0)
    s2, f2 = fr.push(_ramp(160, 250), 250)
    assert s1.tolist() == [0, 100] and s2.tolist() == [200, 300]
    assert f1.shape == (2, 1, 100) and f2.shape == (2, 1, 100) and f1.dtype == np.complex64
    assert f2[0, 0, 0].real == 200 and f2[1, 0, -1].real == 399
    assert fr.buffered == 10 and fr.samples_discarded == 0


def test_a_gap_resets_the_partial_frame_and_is_counted():
    fr = Framer(100)
    fr.push(_ramp(150), 0)                                # 50 samples wait for a frame
    starts, frames = fr.push(_ramp(100, 160), 160, lost=10)
    assert starts.tolist() == [160] and frames[0, 0, 0].real == 160    # never spans the gap
    assert fr.gaps == 1 and fr.samples_discarded == 50


def test_multichannel_frames_keep_channel_order_and_selection():
    x = _ramp(200, channels=3)
    _, frames = Framer(100).push(x, 0)
    assert frames.shape == (2, 3, 100) and np.array_equal(frames[1, 2], x[2, 100:200])
    _, sel = Framer(100, channels=(2, 0)).push(x, 0)
    assert np.array_equal(sel[0, 0], x[2, :100]) and np.array_equal(sel[0, 1], x[0, :100])
    with pytest.raises(ModelInputMismatch, match="block has 3 channel.*keeps channels \\[4\\]"):
        Framer(100, channels=(4,)).push(x, 0)


def test_hop_overlaps_frames():
    starts, frames = Framer(100, hop=50).push(_ramp(300), 0)
    assert starts.tolist() == [0, 50, 100, 150, 200]
    assert frames[1, 0, 0].real == 50
    with pytest.raises(ConfigError, match="must be >= 1"):
        Framer(0)


def test_to_model_input_rows_are_i_q_per_channel():
    f = _ramp(8, channels=2)[None]                        # (1, 2, 8)
    x = to_model_input(f)
    assert x.shape == (1, 4, 8) and x.dtype == np.float32
    assert np.array_equal(x[0, 0], f[0, 0].real) and np.array_equal(x[0, 1], f[0, 0].imag)
    assert np.array_equal(x[0, 2], f[0, 1].real) and np.array_equal(x[0, 3], f[0, 1].imag)
    assert np.array_equal(to_model_input(f[:, 0]), x[:, :2])          # (B, N) is one channel


def test_spectrogram_tiles_match_the_spectrogram_of_each_frame():
    from sdrkit.dsp.spectrogram import spectrogram

    rng = np.random.default_rng(0)
    f = (rng.standard_normal((2, 1, 256)) + 1j * rng.standard_normal((2, 1, 256))).astype(np.complex64)
    t = spectrogram_tiles(f, nfft=64, hop=32)
    assert t.shape == (2, 1, 7, 64)
    assert np.allclose(t[1, 0], spectrogram(f[1, 0], nfft=64, hop=32))

    class Card:
        class input:
            representation = "spectrogram"
            spectrogram = {"nfft": 64, "hop": 64}

    assert model_input(Card, f).shape == (2, 1, 4, 64)


def test_an_unreported_jump_is_a_counted_gap_and_hops_stay_within_the_frame():
    fr = Framer(100)
    fr.push(_ramp(150), 0)
    starts, _ = fr.push(_ramp(100, 170), 170)              # 20 samples missing, lost=0
    assert starts.tolist() == [170] and fr.gaps == 1
    assert fr.samples_unreported == 20 and fr.samples_discarded == 50
    with pytest.raises(ConfigError, match="hop 150 within 1..frame_len"):
        Framer(100, hop=150)
