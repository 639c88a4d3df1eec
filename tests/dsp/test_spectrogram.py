"""Spectrogram layout and accuracy."""

import numpy as np
import pytest

from sdrkit.dsp import tone
from sdrkit.dsp.spectrogram import spectrogram, spectrogram_reference
from sdrkit.errors import ConfigError


def test_tone_peak_in_right_bin_and_level():
    nfft = 1024
    x = tone(nfft * 20, 100 / nfft, amplitude=0.5)
    S = spectrogram(x, nfft)
    assert S.shape == (20, nfft) and S.dtype == np.float32
    assert np.all(np.argmax(S, axis=1) == nfft // 2 + 100)   # fftshifted: DC at nfft//2
    assert np.allclose(S[:, nfft // 2 + 100], 20 * np.log10(0.5), atol=0.01)


@pytest.mark.parametrize("hop, workers", [(None, 1), (512, 1), (None, 2), (300, 2)])
def test_matches_reference_stft(hop, workers):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(300_000) + 1j * rng.standard_normal(300_000)).astype(np.complex64)
    a = spectrogram(x, 1024, hop=hop, workers=workers)
    b = spectrogram_reference(x, 1024, hop=hop)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) < 0.05


def test_bad_parameters():
    with pytest.raises(ConfigError, match="nfft=1023 must be an even number"):
        spectrogram(np.zeros(4096, np.complex64), 1023)
    with pytest.raises(ConfigError, match="1-D I/Q"):
        spectrogram(np.zeros((2, 4096), np.complex64))
