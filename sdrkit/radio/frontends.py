"""Named, seeded RF front ends: receiver impairments applied on the fly.

A :class:`FrontEnd` is data (IQ imbalance, DC offset, CFO, phase noise, gain); a
:class:`FrontEndState` applies it to a stream block by block, phase-continuous across
blocks (CFO and phase noise continue where the last block ended) and reproducible: the
same front end and seed give the same impairment sample for sample.

Bundled front ends (``FRONT_ENDS``): ``ideal``, ``fe-a`` .. ``fe-d`` (four distinct
receivers, from a well-behaved one to a cheap one; each has a one-line ``description``),
and ``random:<seed>`` draws one from realistic ranges. Use them for domain-shift
experiments without hardware: ``sim:captures/x.sigmf-meta?front_end=fe-c``.

Two ways to apply one::

    fe = get_front_end("fe-b")
    st = fe.state(fs=1e6, seed=3)            # a stream: call once per block, in order
    y0 = st.apply(x0, start_index=0)
    y1 = st.apply(x1, start_index=len(x0))   # CFO and phase noise continue
    y = fe.apply(x, start_index=0, fs=1e6)   # one block on its own (phase noise from 0)

The CFO phase is a function of the absolute sample index (``start_index``), so it stays
right across gaps (lost samples); the phase-noise walk simply continues.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sdrkit.dsp import impair
from sdrkit.errors import ConfigError
from sdrkit.registry import Registry

FRONT_ENDS = Registry("front end")


@dataclass(frozen=True)
class FrontEnd:
    """Receiver impairments.

    Attributes:
        name: identifier written into recordings (``sdrkit:front_end``).
        iq_amp_db: Q-branch gain relative to I, dB (:func:`sdrkit.dsp.impair.iq_imbalance`).
        iq_phase_deg: Q-branch quadrature error, degrees (positive: the Q axis sits more
            than 90 degrees from I; :mod:`sdrkit.dsp.impair` states the convention).
        dc: DC offset, full-scale units (complex).
        cfo_hz: residual carrier frequency offset, Hz (positive moves the spectrum up).
        phase_noise_rad: Wiener phase-noise step, radians per sample at 1 MS/s
            (scaled by sqrt(1e6 / fs) so the noise is a property of the oscillator, not the rate).
        gain_db: gain error, dB.
        description: one line: what kind of receiver this is (not part of equality).
    """

    name: str
    iq_amp_db: float = 0.0
    iq_phase_deg: float = 0.0
    dc: complex = 0j
    cfo_hz: float = 0.0
    phase_noise_rad: float = 0.0
    gain_db: float = 0.0
    description: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dc"] = [self.dc.real, self.dc.imag]
        return d

    def state(self, fs: float, seed: int = 0) -> "FrontEndState":
        """A block-by-block applier at sample rate ``fs`` with the phase-noise seed ``seed``."""
        return FrontEndState(self, fs, seed)

    def apply(self, x: np.ndarray, start_index: int = 0, fs: float = 1e6, seed: int = 0) -> np.ndarray:
        """Impair one block on its own (a fresh phase-noise walk); use :meth:`state` for streams.

        Args:
            x: complex64 samples, shape (n,).
            start_index: absolute index of ``x[0]`` (sets the CFO phase).
            fs: sample rate, samples/s.
            seed: phase-noise seed.

        Returns:
            complex64, shape (n,).
        """
        return self.state(fs, seed).apply(x, start_index)


class FrontEndState:
    """Applies a :class:`FrontEnd` to consecutive blocks of one stream."""

    def __init__(self, fe: FrontEnd, fs: float, seed: int = 0):
        self.fe = fe
        self.fs = float(fs)
        self._rng = np.random.default_rng(seed)
        self._n = 0
        self._pn_phase = 0.0
        self._cfo = fe.cfo_hz / self.fs                          # cycles/sample
        self._pn_step = fe.phase_noise_rad * np.sqrt(1e6 / self.fs)
        self._cfo_table = np.zeros(0, np.complex64)

    def apply(self, x: np.ndarray, start_index: int | None = None) -> np.ndarray:
        """Impair one block (complex64 in, complex64 out; ``x`` is never written).

        The chain, all from :mod:`sdrkit.dsp.impair` (its conventions): one rotation for
        CFO and phase noise, then IQ imbalance, gain and DC offset.

        Args:
            x: complex64 samples, shape (n,).
            start_index: absolute stream index of ``x[0]`` (counting lost samples), so the
                CFO phase is right after a gap; None = right after the previous block.
        """
        fe = self.fe
        y = np.asarray(x, np.complex64)
        n = y.shape[-1]
        if start_index is not None:
            self._n = int(start_index)
        if fe.cfo_hz or self._pn_step:
            rot = None
            if fe.cfo_hz:
                # exp(j w (start + k)) = exp(j w start) * table[k]: the table is cached per block
                # length, the start phase reduced mod 2 pi in float64, so long streams stay exact
                if len(self._cfo_table) != n:
                    self._cfo_table = impair.cfo_phasor(n, self._cfo)
                rot = self._cfo_table * impair.cfo_phasor(1, self._cfo, start=self._n)[0]
            if self._pn_step:
                walk = impair.wiener_phase(n, self._pn_step, self._rng, phase0=self._pn_phase)
                self._pn_phase = float(walk[-1]) % (2 * np.pi)
                pn = impair.phasor(walk)       # a random walk of small steps: float32 is plenty
                if rot is None:
                    rot = pn
                else:
                    rot *= pn
            rot *= y                           # rot is a fresh array, never the cached table
            y = rot
        if fe.iq_amp_db or fe.iq_phase_deg:
            y = impair.iq_imbalance(y, fe.iq_amp_db, fe.iq_phase_deg)
        if fe.gain_db:
            y = impair.gain(y, fe.gain_db)
        if fe.dc:
            y = impair.dc_offset(y, fe.dc)
        self._n += n
        return y


for _fe in (
    FrontEnd("ideal", description="no impairments: samples pass unchanged"),
    FrontEnd("fe-a", iq_amp_db=0.2, iq_phase_deg=1.0, dc=0.002 + 0.001j, cfo_hz=150.0, phase_noise_rad=0.0005,
             gain_db=0.5, description="well-calibrated AD936x-class SDR (Pluto-like, TCXO)"),
    FrontEnd("fe-b", iq_amp_db=-0.6, iq_phase_deg=-3.0, dc=-0.01 + 0.005j, cfo_hz=-900.0, phase_noise_rad=0.002,
             gain_db=-1.5, description="uncalibrated SDR: visible IQ image, kHz-scale LO error"),
    FrontEnd("fe-c", iq_amp_db=1.2, iq_phase_deg=5.0, dc=0.03 - 0.02j, cfo_hz=2500.0, phase_noise_rad=0.005,
             gain_db=2.0, description="cheap dongle: strong DC spike and image, noisy crystal"),
    FrontEnd("fe-d", iq_amp_db=-1.8, iq_phase_deg=-8.0, dc=-0.05 + 0.04j, cfo_hz=-6000.0, phase_noise_rad=0.01,
             gain_db=-3.0, description="worst case: free-running LO, large imbalance and DC"),
):
    FRONT_ENDS.register(_fe.name, _fe)


def random_front_end(seed: int) -> FrontEnd:
    """A front end drawn from realistic ranges (seeded)."""
    rng = np.random.default_rng(seed)
    return FrontEnd(
        name=f"random:{seed}",
        iq_amp_db=float(rng.uniform(-2, 2)), iq_phase_deg=float(rng.uniform(-8, 8)),
        dc=complex(*rng.uniform(-0.05, 0.05, 2)), cfo_hz=float(rng.uniform(-8000, 8000)),
        phase_noise_rad=float(rng.uniform(0, 0.01)), gain_db=float(rng.uniform(-3, 3)),
        description=f"drawn from realistic ranges with seed {seed}",
    )


def get_front_end(name: str) -> FrontEnd:
    """A bundled front end by name, or ``random:<seed>``.

    Raises:
        ConfigError: unknown name.
    """
    if name.startswith("random:"):
        try:
            return random_front_end(int(name.split(":", 1)[1]))
        except ValueError:
            raise ConfigError(f"front end {name!r}: 'random:' must be followed by an integer seed") from None
    return FRONT_ENDS.get(name)
