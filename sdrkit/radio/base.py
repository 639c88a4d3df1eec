"""The radio contract every backend implements.

A radio is mostly data: a frozen :class:`RadioConfig` holds its settings under
pyadi-iio's names (it is defined with the firmware profiles in :mod:`sdrkit.profiles`, the
data layer below the radios, and re-exported here), and samples move through plain :meth:`Radio.rx` / :meth:`Radio.tx`.
Backends implement four methods (``_apply``, ``_rx``, ``_tx``, ``_close``); everything
else (validation against the firmware profile, the running sample counter, drop
accounting, the streaming iterator, the context manager) lives here once.

Sample format at this boundary: complex64, full scale = 1.0. Each backend converts its
native format (ci16 from a Pluto, sc16 from UHD, the file's datatype for the simulated
radio) to complex64 in exactly one place.

Channels: a block holds the enabled channels (``rx_enabled_channels``, pyadi-iio's name) as
shape ``(n,)`` for one channel and ``(channels, n)`` for several, rows in the order of
``rx_enabled_channels``, the same sample index down each column (one clock for all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from sdrkit.errors import ConfigError, DeviceError
from sdrkit.profiles import GAIN_MODES, Profile, RadioConfig  # settings are data below the radios


@dataclass
class RxBlock:
    """One block of received samples.

    Attributes:
        samples: complex64, shape (n,) for one channel or (channels, n) for several (rows in
            ``rx_enabled_channels`` order).
        start: absolute index of the first sample since the stream began, counting
            lost samples (so ``start`` of the next block = ``start + n`` unless samples
            were lost in between).
        overflow: the radio dropped samples before this block.
        lost: number of samples lost immediately before this block (0 if none).
        timeout: reserved for backends that return partial blocks on timeout.
    """

    samples: np.ndarray
    start: int
    overflow: bool = False
    lost: int = 0
    tags: dict = field(default_factory=dict)

    @property
    def gap(self) -> bool:
        """True when samples are missing before this block."""
        return self.lost > 0

    def __len__(self) -> int:
        return int(self.samples.shape[-1])


class Radio:
    """Base class of every radio backend.

    Subclasses implement ``_apply(config)``, ``_rx() -> (samples, lost)``,
    ``_tx(samples, cyclic)`` and ``_close()``. ``_rx`` returns complex64 samples and the
    number of samples lost just before them.
    """

    scheme: str = ""

    def __init__(self, config: RadioConfig | None = None, profile: Profile | None = None):
        self._profile = profile
        self._config = config or RadioConfig()
        self._next_index = 0
        self._samples_received = 0
        self._samples_lost = 0
        self._overflows = 0
        self._closed = False
        if profile is not None:
            profile.check(self._config)

    # ---- settings, pyadi-iio names ---------------------------------------------------
    @property
    def config(self) -> RadioConfig:
        """Current settings."""
        return self._config

    @property
    def profile(self) -> Profile | None:
        """Firmware profile that bounds the settings."""
        return self._profile

    def configure(self, config: RadioConfig | None = None, **changes) -> RadioConfig:
        """Validate and apply new settings; returns the applied config.

        Raises:
            SettingOutOfRange: a value is outside the firmware profile.
            ConfigError: an unknown setting name, or a change of ``rx_hardwaregain`` while the
                gain mode is an AGC mode (the AGC owns the gain; it would never be applied).
        """
        new = (config or self._config).replace(**changes) if changes else (config or self._config)
        if new.gain_control_mode != "manual" and new.rx_hardwaregain != self._config.rx_hardwaregain:
            # an AD936x ignores a gain written in AGC mode (pyadi-iio does not even send it):
            # refuse rather than read back a gain that is not the one in effect
            raise ConfigError(
                f"rx_hardwaregain={new.rx_hardwaregain:g} dB is not applied while gain_control_mode="
                f"{new.gain_control_mode!r}: the AGC sets the RX gain and it is read-only in that mode; "
                f"set gain_control_mode='manual' first (the gain stays at "
                f"{self._config.rx_hardwaregain:g} dB until then)")
        if self._profile is not None:
            self._profile.check(new)
        self._ensure_open()
        self._apply(new)
        self._config = new
        return new

    rx_lo = property(lambda self: self._config.rx_lo,
                     lambda self, v: self.configure(rx_lo=float(v)), doc="RX LO frequency, Hz.")
    tx_lo = property(lambda self: self._config.effective_tx_lo,
                     lambda self, v: self.configure(tx_lo=float(v)), doc="TX LO frequency, Hz.")
    sample_rate = property(lambda self: self._config.sample_rate,
                           lambda self, v: self.configure(sample_rate=float(v)), doc="Sample rate, samples/s.")
    rx_rf_bandwidth = property(lambda self: self._config.bandwidth,
                               lambda self, v: self.configure(rx_rf_bandwidth=float(v)), doc="RX RF bandwidth, Hz.")
    rx_buffer_size = property(lambda self: self._config.rx_buffer_size,
                              lambda self, v: self.configure(rx_buffer_size=int(v)), doc="Samples per rx() block.")
    gain_control_mode_chan0 = property(lambda self: self._config.gain_control_mode,
                                       lambda self, v: self.configure(gain_control_mode=str(v)),
                                       doc="RX gain mode: manual, slow_attack, fast_attack, hybrid.")
    rx_hardwaregain_chan0 = property(lambda self: self._config.rx_hardwaregain,
                                     lambda self, v: self.configure(rx_hardwaregain=float(v)),
                                     doc="RX gain, dB (manual gain mode only; setting it in an AGC mode raises).")
    tx_hardwaregain_chan0 = property(lambda self: self._config.tx_hardwaregain,
                                     lambda self, v: self.configure(tx_hardwaregain=float(v)), doc="TX gain, dB.")
    rx_enabled_channels = property(lambda self: list(self._config.rx_enabled_channels),
                                   lambda self, v: self.configure(rx_enabled_channels=tuple(v)),
                                   doc="Enabled RX channel indices.")

    # ---- counters ----------------------------------------------------------------------
    @property
    def samples_received(self) -> int:
        """Samples delivered by rx() since open."""
        return self._samples_received

    @property
    def samples_lost(self) -> int:
        """Samples the radio reported as dropped since open."""
        return self._samples_lost

    @property
    def overflows(self) -> int:
        """Number of overflow events since open."""
        return self._overflows

    # ---- data --------------------------------------------------------------------------
    def rx(self) -> RxBlock:
        """Receive one block of ``rx_buffer_size`` samples.

        Raises:
            RadioTimeout: no samples within the timeout.
            RadioDisconnected: the radio went away.
            StopIteration-like: a one-shot replay at its end raises EOFError.
        """
        self._ensure_open()
        samples, lost = self._rx()
        lost = int(lost)
        if lost:
            self._overflows += 1
            self._samples_lost += lost
            self._next_index += lost
        block = RxBlock(samples=samples, start=self._next_index, overflow=lost > 0, lost=lost)
        n = samples.shape[-1]
        self._next_index += n
        self._samples_received += n
        return block

    def stream(self, max_blocks: int | None = None) -> Iterator[RxBlock]:
        """Iterate over received blocks; ends at the end of a one-shot replay."""
        count = 0
        while max_blocks is None or count < max_blocks:
            try:
                yield self.rx()
            except EOFError:
                return
            count += 1

    def __iter__(self) -> Iterator[RxBlock]:
        return self.stream()

    @property
    def can_transmit(self) -> bool:
        """True when this radio has a TX path (its backend implements ``_tx``); receive-only
        radios (a ``zmq:`` subscription) raise DeviceError from tx()."""
        return type(self)._tx is not Radio._tx

    def tx(self, samples, cyclic: bool = False) -> None:
        """Transmit complex64 samples (|x| <= 1); ``cyclic`` repeats them until the next tx().

        Raises:
            DeviceError: not a non-empty 1-D array, or the radio is receive-only.
        """
        self._ensure_open()
        x = np.ascontiguousarray(samples, dtype=np.complex64)
        if x.ndim != 1 or x.size == 0:
            raise DeviceError(f"tx() needs a non-empty 1-D complex array, got shape {x.shape}")
        self._tx(x, bool(cyclic))

    def close(self) -> None:
        """Release the radio; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ensure_open(self):
        if self._closed:
            raise DeviceError(f"{type(self).__name__} is closed; open a new one with open_radio()")

    # ---- backend hooks -------------------------------------------------------------------
    def _apply(self, config: RadioConfig) -> None:
        raise NotImplementedError

    def _rx(self) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _tx(self, samples: np.ndarray, cyclic: bool) -> None:
        scheme = f" ({self.scheme}:)" if self.scheme else ""
        raise DeviceError(f"{type(self).__name__}{scheme} is receive-only and cannot transmit; send through a "
                          f"radio with a TX path (sim:, pluto:, usrp:); can_transmit tells which can")

    def _close(self) -> None:
        pass


__all__ = ["GAIN_MODES", "Radio", "RadioConfig", "RxBlock"]
