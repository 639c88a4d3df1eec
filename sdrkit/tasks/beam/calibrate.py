"""Moved: calibration sessions are generic and live in :mod:`sdrkit.runtime.calibration`."""

from sdrkit.runtime.calibration import Embedder, calibrate, calibrate_capture, frames_from_capture  # noqa: F401
