"""Signal processing: synthesis, channel effects, resampling, spectrograms.

All functions take and return complex64 and take randomness only from an explicit
``rng: np.random.Generator``.
"""

from sdrkit.dsp.synth import CONSTELLATIONS, LINEAR, MODULATIONS, message, modulate, ofdm_burst, rrc_taps, tone

__all__ = ["CONSTELLATIONS", "LINEAR", "MODULATIONS", "message", "modulate", "ofdm_burst", "rrc_taps", "tone"]
