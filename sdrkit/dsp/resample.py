"""Rate conversion and frequency shifting for complex64 streams."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from sdrkit.errors import ConfigError


def rational(fs_in: float, fs_out: float, max_den: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``fs_in * up / down`` ~= ``fs_out``.

    Raises:
        ConfigError: the ratio cannot be approximated within 1 ppm with small integers.
    """
    fr = Fraction(fs_out / fs_in).limit_denominator(max_den)
    if fr.numerator == 0 or abs(float(fr) * fs_in - fs_out) > 1e-6 * fs_out:
        raise ConfigError(f"cannot resample {fs_in:g} -> {fs_out:g} samples/s with a rational ratio of "
                          f"denominator <= {max_den}; pick a sample rate closer to a simple ratio of the recording's")
    return fr.numerator, fr.denominator


def resample(x, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample complex samples from ``fs_in`` to ``fs_out`` (polyphase, scipy.signal.resample_poly)."""
    from scipy.signal import resample_poly

    up, down = rational(fs_in, fs_out)
    if up == down:
        return np.asarray(x, np.complex64)
    return resample_poly(np.asarray(x, np.complex64), up, down, axis=-1).astype(np.complex64)


class StreamResampler:
    """Block-by-block polyphase resampling with state carried across blocks.

    Feeding blocks one at a time gives exactly the samples of resampling the concatenation
    (same filter), so a stream has no seams at block edges. The output is delayed by the
    filter's group delay (``delay`` output samples... at the upsampled rate: ``(len(h)-1)/2``).
    """

    def __init__(self, fs_in: float, fs_out: float, half_len: int = 10):
        from scipy.signal import firwin

        self.up, self.down = rational(fs_in, fs_out)
        n_half = half_len * max(self.up, self.down)
        self.h = (firwin(2 * n_half + 1, 1.0 / max(self.up, self.down)) * self.up).astype(np.float32)
        self._buf = np.zeros(0, np.complex64)
        self._base = 0      # absolute input index of _buf[0]
        self._next = 0      # absolute upsampled index of the next output sample

    def process(self, x) -> np.ndarray:
        """Resample one block; returns the output samples it completes."""
        from scipy.signal import upfirdn

        x = np.asarray(x, np.complex64)
        if self.up == self.down:
            return x
        buf = np.concatenate([self._buf, x])
        base_up = self._base * self.up
        last = (self._base + len(buf)) * self.up - 1      # last upsampled index with no future input
        if self._next > last:
            self._buf = buf
            return np.zeros(0, np.complex64)
        # upfirdn(..., down) yields upsampled positions 0, down, 2 down, ... of its input; pad the
        # front with z zeros (z up positions each) so that our next position lands on that grid.
        # The padding lies more than len(h) positions back, so it never reaches an output.
        offset = self._next - base_up
        z = (-offset * pow(self.up, -1, self.down)) % self.down if self.down > 1 else 0
        if z:
            buf2 = np.concatenate([np.zeros(z, np.complex64), buf])
        else:
            buf2 = buf
        first = (offset + z * self.up) // self.down
        count = (last - self._next) // self.down + 1
        y = upfirdn(self.h, buf2, self.up, self.down)
        out = y[first:first + count]
        self._next += count * self.down
        keep_from = max((self._next - len(self.h) + 1) // self.up, self._base)
        self._buf = buf[keep_from - self._base:]
        self._base = keep_from
        return out.astype(np.complex64)


class FrequencyShifter:
    """Shift a stream by ``offset_hz`` at ``fs``, phase-continuous across blocks.

    ``y[n] = x[n] * exp(j 2 pi offset_hz / fs * n)`` with ``n`` counting from the first
    sample ever processed, so block-by-block equals one-shot.
    """

    def __init__(self, offset_hz: float, fs: float):
        self.step = 2 * np.pi * offset_hz / fs
        self._n = 0
        self._cache_len = 0
        self._base = np.zeros(0, np.complex64)

    def process(self, x) -> np.ndarray:
        """Shift one block."""
        x = np.asarray(x, np.complex64)
        if self.step == 0:
            return x
        n = x.shape[-1]
        if n != self._cache_len:
            self._base = np.exp(1j * self.step * np.arange(n)).astype(np.complex64)
            self._cache_len = n
        start = np.complex64(np.exp(1j * ((self.step * self._n) % (2 * np.pi))))
        self._n += n
        return x * (self._base * start)
