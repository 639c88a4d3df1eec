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


def component_dtype(datatype: str, where: str = "") -> np.dtype:
    """numpy dtype of one I or Q component of ``datatype``.

    Raises:
        CaptureError: the datatype is not one sdrkit reads.
    """
    try:
        return DATATYPES[datatype][0]
    except KeyError:
        raise CaptureError(f"{where}unsupported core:datatype {datatype!r}; sdrkit reads "
                           f"{', '.join(DATATYPES)} (convert the recording, e.g. with sigmf's tools)") from None


def sample_bytes(datatype: str) -> int:
    """Bytes per complex sample."""
    return 2 * component_dtype(datatype).itemsize


def to_complex64(raw: np.ndarray, datatype: str, full_scale: float | None = None) -> np.ndarray:
    """Interleaved components of ``datatype`` -> complex64, scaled to full scale 1.0."""
    dt, default_fs, offset = DATATYPES[datatype]
    if datatype == "cf32_le":
        return np.ascontiguousarray(raw, dtype="<f4").view(np.complex64)  # a view, no copy
    scale = np.float32(1.0 / (full_scale or default_fs))
    f = raw.astype(np.float32)
    if offset:
        f -= np.float32(offset)
    f *= scale
    return f.view(np.complex64)


def from_complex64(x: np.ndarray, datatype: str, full_scale: float | None = None) -> np.ndarray:
    """complex64 -> interleaved components of ``datatype`` (rounded, clipped)."""
    dt, default_fs, offset = DATATYPES[datatype]
    f = np.ascontiguousarray(x, dtype=np.complex64).view(np.float32)
    if datatype == "cf32_le":
        return f
    g = f * np.float32(full_scale or default_fs)
    if offset:
        g += np.float32(offset)
    info = np.iinfo(dt)
    np.rint(g, out=g)
    np.clip(g, info.min, info.max, out=g)
    return g.astype(dt)
