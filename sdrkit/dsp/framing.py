"""The framing stage: radio blocks -> model frames, and the one converter to model input.

:class:`Framer` cuts a stream of blocks (``(n,)`` or ``(C, n)`` complex64, each with its
absolute start index and the samples lost before it) into frames ``(k, C, frame_len)``,
consecutive and non-overlapping (or every ``hop`` samples). A gap (lost samples) resets the
frame being filled: a frame never spans lost samples. The partial frame thrown away at a gap
is counted (:attr:`Framer.samples_discarded`), so every sample the radio delivered is either
in a frame, still buffered, or counted as discarded here. A block whose start index jumps
ahead without a reported loss is a gap too, and the jump is counted
(:attr:`Framer.samples_unreported`: samples the radio skipped without saying so).

:func:`to_model_input` is the only complex -> real conversion in sdrkit: complex
``(B, C, N)`` (or ``(B, N)``) -> float32 ``(B, 2C, N)`` with rows ``I0, Q0, I1, Q1, ...``.
Normalization is the model's business (inside its graph; the card says which).

:func:`spectrogram_tiles` turns frames into power-spectrogram tiles for models whose card
has ``input.representation = "spectrogram"``: float32 ``(B, C, T, nfft)`` in dB,
``T = 1 + (N - nfft) // hop``, DC in the middle column (the layout of
:func:`sdrkit.dsp.spectrogram.spectrogram`).
"""

from __future__ import annotations

import numpy as np

from sdrkit.errors import ConfigError, ModelInputMismatch


class Framer:
    """Cut blocks into ``(k, C, frame_len)`` frames, gap-aware.

    Args:
        frame_len: samples per frame.
        channels: channel indices to keep, in order (None: every channel of the stream).
        hop: samples between frame starts, 1..frame_len (default ``frame_len``: no overlap).

    Attributes:
        gaps: gaps seen (blocks that arrived after lost samples, reported or not).
        samples_discarded: samples of partial frames thrown away at gaps.
        samples_unreported: samples missing between blocks that no ``lost`` count reported.
    """

    def __init__(self, frame_len: int, channels: tuple[int, ...] | None = None, hop: int | None = None):
        if frame_len < 1 or (hop is not None and not 1 <= hop <= frame_len):
            raise ConfigError(f"frame_len {frame_len} must be >= 1 and hop {hop} within 1..frame_len "
                              f"(a hop beyond the frame would skip samples between frames)")
        self.frame_len = int(frame_len)
        self.hop = int(hop or frame_len)
        self.channels = None if channels is None else tuple(int(c) for c in channels)
        self.gaps = 0
        self.samples_discarded = 0
        self.samples_unreported = 0
        self._buf: np.ndarray | None = None     # (C, m) samples not yet framed
        self._start = 0                          # stream index of _buf[:, 0]

    @property
    def buffered(self) -> int:
        """Samples waiting for the rest of their frame."""
        return 0 if self._buf is None else self._buf.shape[1]

    def reset(self) -> None:
        """Drop the partial frame (counted as discarded)."""
        self.samples_discarded += self.buffered
        self._buf = None

    def push(self, samples: np.ndarray, start: int, lost: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Add one block; return the frames it completes.

        Args:
            samples: complex64 ``(n,)`` or ``(C, n)``.
            start: absolute stream index of the block's first sample.
            lost: samples lost right before this block (a gap resets the partial frame).

        Returns:
            ``(starts (k,) int64, frames (k, C, frame_len) complex64)``; k may be 0.

        Raises:
            ModelInputMismatch: the block has fewer channels than the framer keeps.
        """
        x = samples[None, :] if samples.ndim == 1 else samples
        if self.channels is not None:
            if max(self.channels) >= x.shape[0]:
                raise ModelInputMismatch(f"block has {x.shape[0]} channel(s) but the framer keeps channels "
                                         f"{list(self.channels)}; open the radio with rx_enabled_channels "
                                         f"{list(self.channels)}")
            if self.channels != tuple(range(x.shape[0])):
                x = x[list(self.channels)]
        expected = None if self._buf is None else self._start + self._buf.shape[1] + int(lost)
        if lost or expected is None or start != expected:
            if expected is not None and start > expected:
                self.samples_unreported += int(start) - expected
            if lost or (expected is not None and start != expected):
                self.gaps += 1
            self.reset()
            self._buf, self._start = x, int(start)
        else:
            self._buf = np.concatenate([self._buf, x], axis=1)
        m = self._buf.shape[1]
        n, hop = self.frame_len, self.hop
        if m < n:
            return np.zeros(0, np.int64), np.zeros((0, x.shape[0], n), np.complex64)
        k = (m - n) // hop + 1
        if hop == n:
            frames = self._buf[:, : k * n].reshape(x.shape[0], k, n).transpose(1, 0, 2)
        else:
            idx = np.arange(k)[:, None] * hop + np.arange(n)[None, :]
            frames = self._buf[:, idx].transpose(1, 0, 2)
        starts = self._start + hop * np.arange(k, dtype=np.int64)
        frames = np.ascontiguousarray(frames, np.complex64)
        used = k * hop
        self._buf = self._buf[:, used:].copy() if used < m else self._buf[:, :0]
        self._start += used
        return starts, frames


def to_model_input(frames: np.ndarray) -> np.ndarray:
    """complex ``(B, C, N)`` or ``(B, N)`` -> float32 ``(B, 2C, N)``: rows I0, Q0, I1, Q1, ..."""
    f = np.asarray(frames)
    if f.ndim == 2:
        f = f[:, None, :]
    if f.ndim != 3:
        raise ModelInputMismatch(f"frames of shape {f.shape}: expected complex (batch, channels, samples)")
    out = np.empty((f.shape[0], f.shape[1], 2, f.shape[2]), np.float32)
    out[:, :, 0] = f.real
    out[:, :, 1] = f.imag
    return out.reshape(f.shape[0], 2 * f.shape[1], f.shape[2])


def spectrogram_tiles(frames: np.ndarray, nfft: int, hop: int | None = None, window: str = "hann") -> np.ndarray:
    """complex ``(B, C, N)`` frames -> float32 ``(B, C, T, nfft)`` power spectrogram tiles in dB."""
    from sdrkit.dsp.spectrogram import spectrogram

    f = np.asarray(frames, np.complex64)
    if f.ndim == 2:
        f = f[:, None, :]
    hop = int(hop or nfft)
    if f.shape[-1] < nfft:
        raise ModelInputMismatch(f"frames of {f.shape[-1]} samples are shorter than nfft {nfft}")
    t = 1 + (f.shape[-1] - nfft) // hop
    out = np.empty((f.shape[0], f.shape[1], t, nfft), np.float32)
    for b in range(f.shape[0]):
        for c in range(f.shape[1]):
            out[b, c] = spectrogram(f[b, c], nfft=nfft, hop=hop, window=window)[:t]
    return out


def model_input(card, frames: np.ndarray) -> np.ndarray:
    """The tensor a card's graph takes, from complex frames: I/Q rows or spectrogram tiles."""
    if card.input.representation == "spectrogram":
        sp = card.input.spectrogram
        return spectrogram_tiles(frames, sp["nfft"], sp.get("hop"), sp.get("window", "hann"))
    return to_model_input(frames)
