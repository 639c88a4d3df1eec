"""Backwards-compatible names for :mod:`sdrkit.dsp.impair` (the one impairment library).

New code imports :mod:`sdrkit.dsp.impair`; this module only keeps old imports working.
Every name here is the impair function itself, except :func:`apply_cfo`, the old
signature of :func:`sdrkit.dsp.impair.cfo` (phase as the third positional argument).
"""

from __future__ import annotations

from sdrkit.dsp.impair import awgn, cfo, dc_offset, delay, iq_imbalance, multipath, phase_noise, sample_rate_offset

__all__ = ["apply_cfo", "awgn", "dc_offset", "delay", "iq_imbalance", "multipath", "phase_noise",
           "sample_rate_offset"]


def apply_cfo(x, cfo_norm, phase0=0.0):
    """:func:`sdrkit.dsp.impair.cfo` from stream index 0: ``cfo_norm`` cycles/sample, ``phase0`` rad."""
    return cfo(x, cfo_norm, phase0=phase0)
