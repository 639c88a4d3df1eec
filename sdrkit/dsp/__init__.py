"""Signal processing: synthesis, impairments, resampling, spectrograms.

All functions take and return complex64 and take randomness only from an explicit
``rng: np.random.Generator``. Channel and receiver impairments (AWGN, CFO, phase noise,
IQ imbalance, DC, gain, multipath, ...) and their conventions live in one module,
:mod:`sdrkit.dsp.impair`; ``sdrkit.dsp.channel`` keeps the old names.
"""

from sdrkit.dsp.synth import CONSTELLATIONS, LINEAR, MODULATIONS, message, modulate, ofdm_burst, rrc_taps, tone

__all__ = ["CONSTELLATIONS", "LINEAR", "MODULATIONS", "message", "modulate", "ofdm_burst", "rrc_taps", "tone"]
