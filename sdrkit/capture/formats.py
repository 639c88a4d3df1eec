"""Sample datatypes on disk and their conversion to complex64, in one place.

Scaling (full scale -> 1.0):

==========  ======================  =============================================
datatype    on disk                 complex64 value
==========  ======================  =============================================
cf32_le     float32 I, Q            as stored
ci16_le     int16 I, Q              x / full_scale; full_scale = 32768 unless the
                                    recording's ``sdrkit:full_scale`` says otherwise
                                    (2048 for a Pluto's 12-bit samples)
ci8         int8 I, Q               x / 128
cu8         uint8 I, Q              (x - 127.5) / 127.5  (RTL-SDR convention)
==========  ======================  =============================================

Writing converts the other way, rounding and clipping to the integer range.

This module is the only place in sdrkit that scales SigMF samples: the reader
(:meth:`~sdrkit.capture.Recording.read`, :meth:`~sdrkit.capture.Recording.read_frames`) and
the writer both call :func:`to_complex64` / :func:`from_complex64` with the recording's
``sdrkit:full_scale``. (Radio wire formats have their own single place each: the Pluto's
ci16 in :mod:`sdrkit.radio.pluto`, UHD's sc16 in :mod:`sdrkit.radio.usrp`.)

Multi-channel files (``core:num_channels`` = C) interleave the channels per sample:
``I0 Q0 I1 Q1 ... I(C-1) Q(C-1)`` for sample 0, then sample 1, and so on (SigMF's layout).
"""

from __future__ import annotations

import numpy as np

from sdrkit.errors import CaptureError

# datatype -> (numpy component dtype, default full scale, offset)
DATATYPES: dict[str, tuple[np.dtype, float, float]] = {
    "cf32_le": (np.dtype("<f4"), 1.0, 0.0),
    "ci16_le": (np.dtype("<i2"), 32768.0, 0.0),
    "ci8": (np.dtype("i1"), 128.0, 0.0),
    "cu8": (np.dtype("u1"), 127.5, 127.5),
}


# sdrkit:full_scale bounds: below 1 an LSB would exceed full scale (and 1/full_scale overflows
# float32 near 1e-38); 2**31 is beyond every integer datatype's range
MAX_FULL_SCALE = 2 ** 31


def component_dtype(datatype: str, where: str = "") -> np.dtype:
    """numpy dtype of one I or Q component of ``datatype``.

    Raises:
        CaptureError: the datatype is not one sdrkit reads (or not a string).
    """
    try:
        return DATATYPES[datatype][0]
    except (KeyError, TypeError):       # TypeError: an unhashable value (a list, an object)
        raise CaptureError(f"{where}unsupported core:datatype {datatype!r}; sdrkit reads "
                           f"{', '.join(DATATYPES)} (convert the recording, e.g. with sigmf's tools)") from None


def sample_bytes(datatype: str) -> int:
    """Bytes per complex sample."""
    return 2 * component_dtype(datatype).itemsize


def check_full_scale(full_scale, datatype: str, where: str = "") -> float | None:
    """Validate ``sdrkit:full_scale`` for ``datatype``; returns it as a float (None = the default).

    Raises:
        CaptureError: not a number in ``[1, MAX_FULL_SCALE]``, or other than 1 for ``cf32_le`` (floats are stored
            at full scale 1.0 and are never rescaled).
    """
    if full_scale is None:
        return None
    if isinstance(full_scale, bool) or not isinstance(full_scale, (int, float, np.integer, np.floating)) \
            or not 1 <= full_scale <= MAX_FULL_SCALE:         # NaN fails the comparison too
        shown = repr(full_scale) if len(repr(full_scale)) <= 60 else repr(full_scale)[:60] + "..."
        raise CaptureError(f"{where}sdrkit:full_scale={shown} must be a positive number in [1, {MAX_FULL_SCALE}] "
                           f"(the integer value that maps to 1.0, e.g. 2048 for a Pluto's 12-bit samples); "
                           f"correct the field or drop it for the datatype's default")
    if datatype == "cf32_le" and full_scale != 1:
        raise CaptureError(f"{where}sdrkit:full_scale={full_scale!r} applies to integer datatypes only; cf32_le "
                           f"samples are stored at full scale 1.0 (drop full_scale or write ci16_le)")
    return float(full_scale)


def _scale(datatype: str, full_scale: float | None) -> float:
    default_fs = DATATYPES[datatype][1]
    return default_fs if full_scale is None else float(full_scale)


def to_complex64(raw: np.ndarray, datatype: str, full_scale: float | None = None) -> np.ndarray:
    """Interleaved components of ``datatype`` -> complex64, scaled to full scale 1.0.

    Args:
        raw: interleaved I/Q components, last axis (other axes are kept: ``(..., 2n)`` -> ``(..., n)``).
        datatype: a key of :data:`DATATYPES`.
        full_scale: the integer value that maps to 1.0 (``sdrkit:full_scale``); None = the
            datatype's default (32768 for ci16_le, 128 for ci8, 127.5 for cu8).
    """
    dt, default_fs, offset = DATATYPES[datatype]
    if datatype == "cf32_le":
        return np.ascontiguousarray(raw, dtype="<f4").view(np.complex64)  # a view, no copy
    scale = np.float32(1.0 / _scale(datatype, full_scale))
    f = raw.astype(np.float32)
    if offset:
        f -= np.float32(offset)
    f *= scale
    return f.view(np.complex64)


def from_complex64(x: np.ndarray, datatype: str, full_scale: float | None = None) -> np.ndarray:
    """complex64 -> interleaved components of ``datatype`` (rounded, clipped); ``full_scale`` as in
    :func:`to_complex64`."""
    dt, default_fs, offset = DATATYPES[datatype]
    f = np.ascontiguousarray(x, dtype=np.complex64).view(np.float32)
    if datatype == "cf32_le":
        return f
    g = f * np.float32(_scale(datatype, full_scale))
    if offset:
        g += np.float32(offset)
    info = np.iinfo(dt)
    np.rint(g, out=g)
    np.clip(g, info.min, info.max, out=g)
    return g.astype(dt)
