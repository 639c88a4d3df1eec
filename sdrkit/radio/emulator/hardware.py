"""The parts of an ADALM-Pluto that a client can observe besides its attributes, modelled for the
virtual Pluto (:mod:`sdrkit.radio.emulator.server`):

* :func:`dds_wave`: the FPGA's DDS tone generator (``cf-ad9361-dds-core-lpc`` ``altvoltage``
  channels ``TX1_I_F1`` ... ``TX1_Q_F2``: ``frequency``, ``scale``, ``phase`` in millidegrees,
  ``raw`` = enable), with the AXI DDS's 16-bit phase accumulator, so one period of 2**16
  samples repeats exactly;
* :class:`SynthBand`: what RX serves when tuned outside the recording: a noise floor plus
  carriers at fixed absolute frequencies (a 200 kHz raster seeded by the emulator's seed), so a
  retune moves visible signals instead of showing a dead radio;
* :class:`Agc`: the AD9361's gain control: manual gain, or an AGC that updates its gain once
  per ``adi,agc-gain-update-interval-us`` of stream time (1 ms on the Pluto), bounded to the
  profile's ``rx_hardwaregain`` range, with inner/outer thresholds and an overload step
  (``slow_attack``; ``fast_attack`` updates every 0.1 ms; ``hybrid`` as slow_attack);
* RSSI measured from what was received (:meth:`Agc.rssi_db`), not a constant;
* :class:`RxStream` / :class:`TxStream`: the DMA streams' clocks: RX produced at the sample rate
  whether or not the client reads, held in the kernel's buffers (the profile's ``rx_buffering``,
  4 buffers on the Pluto) plus 1 MiB in flight on the network link, and delivered no faster than the host link (the profile's
  ``host_streaming_rate``, ~6 MS/s over USB 2.0); a client that falls behind loses whole
  buffers (an overflow); TX consumed at the sample rate, a push blocks while the kernel's
  buffers are full, and a non-cyclic stream that runs dry is an underflow;
* :class:`AxiStatus`: the AXI cores' DMA status register at 0x80000088 (read with
  ``reg_read(0x80000088)`` through ``direct_reg_access``): RX bit 2 = overflow, TX bit 0 =
  underflow, write 1 to clear.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

DDS_PERIOD = 1 << 16              # AXI DDS phase accumulator: 16 bits
STATUS_REG = 0x80000088           # AXI ADC/DAC DMA status (byte address as pyadi-iio's tests read it)
VERSION_REG = 0x80000000          # AXI core version
AXI_VERSION = 0x00090162          # what the Pluto's cores report (snapshot in pluto.xml)
RX_OVERFLOW = 0x4
TX_UNDERFLOW = 0x1
LINK_BUFFER_BYTES = 1 << 20       # in flight on the USB network link (the TCP socket buffers of iiod and the host)
RASTER_HZ = 200e3                 # synthesized band: one possible carrier per 200 kHz of absolute frequency


def dds_wave(channels: dict[str, dict[str, str]], fs: float) -> np.ndarray | None:
    """One period (2**16 samples) of the DDS output, complex64 at DAC full scale 1.0, or None
    when the DDS is off (``raw`` 0) or every ``scale`` is 0.

    ``channels`` maps ``TX1_I_F1`` ... to that channel's ``frequency``/``scale``/``phase``/``raw``.
    Each tone is ``scale * sin(2 pi k inc / 2**16 + phase)`` with ``inc = round(f * 2**16 / fs)``;
    I is the sum of the ``_I_`` tones, Q of the ``_Q_`` tones, clipped to full scale as a DAC does.
    """
    if not channels or not any(_float(c.get("raw", "0")) for c in channels.values()):
        return None
    k = np.arange(DDS_PERIOD, dtype=np.float64)
    out = {"I": np.zeros(DDS_PERIOD), "Q": np.zeros(DDS_PERIOD)}
    active = False
    for name, c in channels.items():
        scale = _float(c.get("scale", "0"))
        if scale <= 0:
            continue
        inc = round(_float(c.get("frequency", "0")) * DDS_PERIOD / fs) % DDS_PERIOD
        phase = _float(c.get("phase", "0")) / 1000 * math.pi / 180
        out["Q" if "_Q_" in name else "I"] += scale * np.sin(2 * np.pi * ((k * inc) % DDS_PERIOD) / DDS_PERIOD + phase)
        active = True
    if not active:
        return None
    x = np.clip(out["I"], -1, 1) + 1j * np.clip(out["Q"], -1, 1)
    return x.astype(np.complex64)


def _float(text: str) -> float:
    try:
        return float(str(text).split()[0])
    except (ValueError, IndexError):
        return 0.0


class SynthBand:
    """Carriers at fixed absolute frequencies, served where the recording has nothing.

    Each 200 kHz slot of absolute frequency holds a carrier with probability 0.35, at a random
    offset within the slot and a level of -60..-40 dBFS at the reference gain (all drawn from
    ``seed`` and the slot number, so the same frequency always shows the same carrier). The
    wave is one period of :data:`DDS_PERIOD` samples with every carrier on an FFT bin, so it
    repeats seamlessly; :meth:`next` serves it continuously.
    """

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self._key = None
        self._wave = np.zeros(0, np.complex64)
        self._pos = 0
        self.carriers: list[tuple[float, float]] = []   # (absolute Hz, dBFS at the reference gain)

    def _build(self, rx_lo: float, fs: float) -> None:
        L = DDS_PERIOD
        spec = np.zeros(L, np.complex128)
        self.carriers = []
        lo, hi = rx_lo - 0.45 * fs, rx_lo + 0.45 * fs
        for slot in range(math.floor(lo / RASTER_HZ), math.ceil(hi / RASTER_HZ) + 1):
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, slot & 0xFFFFFFFFFFFF])
            present, offset, level, phase = rng.random(), rng.uniform(-0.4, 0.4), rng.uniform(-60, -40), \
                rng.uniform(0, 2 * np.pi)
            f = (slot + offset) * RASTER_HZ
            if present >= 0.35 or not lo <= f <= hi:
                continue
            b = int(round((f - rx_lo) / fs * L)) % L
            spec[b] += 10 ** (level / 20) * L * np.exp(1j * phase)
            self.carriers.append((f, level))
        self._wave = np.fft.ifft(spec).astype(np.complex64)
        self._key = (rx_lo, fs)

    def next(self, n: int, rx_lo: float, fs: float) -> np.ndarray:
        """The next ``n`` samples of the band at ``rx_lo`` / ``fs`` (rebuilt when they change)."""
        if self._key != (rx_lo, fs):
            self._build(rx_lo, fs)
        idx = (self._pos + np.arange(n)) % DDS_PERIOD
        self._pos = (self._pos + n) % DDS_PERIOD
        return self._wave[idx]

    def describe(self) -> str:
        if not self.carriers:
            return "noise floor only"
        return f"{len(self.carriers)} carriers, strongest {max(l for _, l in self.carriers):.0f} dBFS at the reference gain"


class Agc:
    """RX gain: manual, or the AD9361's AGC driven by stream time and bounded in gain.

    Works on samples at the reference gain ``ref_db`` (the level a recording was made at): the
    output is ``x * 10**((gain - ref_db) / 20)``. In an AGC mode the gain is held for one update
    interval (1 ms; 0.1 ms in ``fast_attack``) and then moved by the power measured over that
    interval (also while nobody reads: the intervals that passed since the last block are caught
    up with the level of the next one): above -5 dBFS (outer high) -2 dB, above -10 dBFS (inner high) -1 dB, below -18 dBFS
    (outer low) +2 dB, below -12 dBFS (inner low) +1 dB, and -3 dB when the ADC clipped, always
    within ``[gain_min, gain_max]`` (the profile's rx_hardwaregain range). The thresholds are the
    Pluto's ``adi,agc-*`` defaults (pluto.xml). A strong tone after silence therefore clips for a
    few milliseconds, as on the chip, and then settles near -11 dBFS.
    """

    def __init__(self, ref_db: float, gain_min: float, gain_max: float):
        self.ref_db, self.gain_min, self.gain_max = float(ref_db), float(gain_min), float(gain_max)
        self.mode = "manual"
        self.gain_db = float(ref_db)
        self._phase = 0                  # samples into the current update interval
        self._last_t: float | None = None  # when the last block was processed (monotonic)
        self.last_power_db: float | None = None   # mean power of the last block, dBFS at the reference gain

    def set_mode(self, mode: str, manual_gain: float) -> None:
        if mode != self.mode:
            self.gain_db = float(manual_gain)      # an AGC starts from the gain the radio has
            self._phase = 0
        self.mode = mode

    def interval(self, fs: float) -> int:
        return max(1, int(round(fs * (1e-4 if self.mode == "fast_attack" else 1e-3))))

    def measure(self, x: np.ndarray) -> None:
        """Record the mean power of ``x`` (reference level) for :meth:`rssi_db`."""
        if x.size:
            p = float(np.mean(x.real.astype(np.float64) ** 2 + x.imag.astype(np.float64) ** 2))
            self.last_power_db = 10 * math.log10(max(p, 1e-20))

    def process(self, x: np.ndarray, fs: float, manual_gain: float) -> np.ndarray:
        """Apply the gain to ``x`` (complex64, reference level) in place and return it."""
        self.measure(x)
        if self.mode == "manual":
            self.gain_db = float(manual_gain)
            g = np.float32(10 ** ((self.gain_db - self.ref_db) / 20))
            if g != 1:
                x *= g
            return x
        m = self.interval(fs)
        n = x.size
        if self._phase >= m:              # the rate (so the interval) changed: start a new interval
            self._phase = 0
        now = time.monotonic()
        idle = now - self._last_t - n / fs if self._last_t is not None else 0.0
        self._last_t = now
        if idle >= m / fs and n:
            # the chip's AGC runs while nobody reads (between buffers, while samples are dropped):
            # catch up on the intervals that passed, with the signal as it is in this block
            pw_ref = float(np.mean(x.real.astype(np.float64) ** 2 + x.imag.astype(np.float64) ** 2))
            pk_ref = float(max(np.max(np.abs(x.real)), np.max(np.abs(x.imag))))
            for _ in range(min(int(idle * fs / m), 1000)):
                gl = 10 ** ((self.gain_db - self.ref_db) / 20)
                self.gain_db = self._step(pw_ref * gl * gl, pk_ref * gl)
        # interval boundaries in this block (the first one may be a remainder of the previous block)
        first = min(n, m - self._phase)
        edges = [0] + list(range(first, n, m)) + [n]
        edges = sorted(set(edges))
        gains = np.empty(len(edges) - 1, np.float32)
        for i in range(len(edges) - 1):
            a, b = edges[i], edges[i + 1]
            gains[i] = 10 ** ((self.gain_db - self.ref_db) / 20)
            seg = x[a:b]
            end_of_interval = (self._phase + (b - a)) >= m
            self._phase = 0 if end_of_interval else self._phase + (b - a)
            if not end_of_interval or seg.size == 0:
                continue
            gl = float(gains[i])
            pw = float(np.mean(seg.real.astype(np.float64) ** 2 + seg.imag.astype(np.float64) ** 2)) * gl * gl
            peak = float(max(np.max(np.abs(seg.real)), np.max(np.abs(seg.imag)))) * gl
            self.gain_db = self._step(pw, peak)
        x *= np.repeat(gains, np.diff(edges))
        return x

    def _step(self, power: float, peak: float) -> float:
        """The gain after one update interval that measured ``power`` (mean, full scale 1) and ``peak``."""
        pdb = 10 * math.log10(max(power, 1e-20))
        step = -3 if peak >= 0.999 else -2 if pdb > -5 else -1 if pdb > -10 else \
            2 if pdb < -18 else 1 if pdb < -12 else 0
        return min(max(self.gain_db + step, self.gain_min), self.gain_max)

    def rssi_db(self) -> float:
        """The AD9361's RSSI reading, dB (0.25 dB steps, larger = weaker): the received power
        referred to the RX input (so independent of the RX gain), ``RSSI_OFFSET - P``, with P the
        mean power of the last block at 0 dB gain, dBFS. ``RSSI_OFFSET`` puts a DDS tone of scale 0.25 (-12 dBFS) sent at 0 dB TX attenuation into 0 dB RX gain (-10 dBFS with the cable) at
        19.5 dB, the middle of pyadi-iio's window for a real AD9364 cabled TX -> RX at 0 dB gains.
        """
        if self.last_power_db is None:
            return 115.0                  # nothing received yet: the chip's reading with no signal
        p0 = self.last_power_db - self.ref_db
        return round(min(max(RSSI_OFFSET - p0, 0.0), 127.75) * 4) / 4


RSSI_OFFSET = 9.5


class RxStream:
    """The clock of one open RX buffer (see the module docstring).

    Samples are produced from ``t0`` at the sample rate; the kernel holds ``buffers`` blocks of
    the buffer size; a block is handed over no earlier than it is complete and no faster than
    ``host_rate`` (samples/s; None = no limit). ``pace=False`` delivers as fast as possible and
    never overflows.
    """

    def __init__(self, block: int, buffers: int, host_rate: float | None, pace: bool):
        self.block, self.buffers, self.host_rate, self.pace = int(block), int(buffers), host_rate, pace
        self.t0 = time.monotonic()
        self.fs: float | None = None
        self.pos = 0                   # samples delivered or dropped since t0
        self.link_free = self.t0
        self.dropped = 0

    def _anchor(self, fs: float) -> None:
        if fs != self.fs:
            now = time.monotonic()
            self.t0 = now - self.pos / fs if self.fs is not None else self.t0
            self.link_free = max(self.link_free, now) if self.fs is not None else self.link_free
            self.fs = fs

    def backlog(self, fs: float, now: float | None = None) -> int:
        """Samples produced and not yet read."""
        if not self.pace:
            return 0
        self._anchor(fs)
        now = time.monotonic() if now is None else now
        return max(0, int((now - self.t0) * fs) - self.pos)

    @property
    def hold(self) -> int:
        """Samples the device side holds for a late reader: the kernel buffers plus what the
        network link has in flight (:data:`LINK_BUFFER_BYTES` of 4-byte samples)."""
        return self.buffers * self.block + LINK_BUFFER_BYTES // 4

    def overflowing(self, fs: float) -> bool:
        """True when more is waiting than the device holds (the next read drops)."""
        return self.backlog(fs) > self.hold + self.block

    def admit(self, n: int, fs: float) -> int:
        """Before reading ``n`` samples: the samples to drop (whole blocks the device could not hold)."""
        excess = self.backlog(fs) - self.block - self.hold
        if excess <= 0:
            return 0
        lost = -(-excess // self.block) * self.block
        self.pos += lost
        self.dropped += lost
        return lost

    def pause(self, dt: float) -> None:
        """Stop the device clock for ``dt`` s (the time the emulator spent making samples: a real
        radio makes them for free, so that time must not count as the client falling behind)."""
        self.t0 += dt
        self.link_free += dt

    def deliver(self, n: int, fs: float, stop: threading.Event | None = None) -> None:
        """Wait until ``n`` more samples are complete and the link has carried them."""
        if not self.pace:
            self.pos += n
            return
        self._anchor(fs)
        due = self.t0 + (self.pos + n) / fs
        start = max(due, self.link_free) if self.host_rate else due
        finish = start + (n / self.host_rate if self.host_rate else 0.0)
        _sleep_until(finish, stop)
        self.link_free = finish
        self.pos += n


class TxStream:
    """The clock of one open TX buffer: pushes are consumed at the sample rate."""

    def __init__(self, block: int, cyclic: bool, buffers: int, pace: bool):
        self.block, self.cyclic, self.buffers, self.pace = int(block), cyclic, int(buffers), pace
        self.queue_end: float | None = None   # when the DAC has played everything pushed

    def ran_dry(self, now: float | None = None) -> bool:
        if self.cyclic or self.queue_end is None or not self.pace:
            return False
        return (time.monotonic() if now is None else now) > self.queue_end

    def push(self, n: int, fs: float, stop: threading.Event | None = None) -> bool:
        """Queue ``n`` samples (blocking while the kernel's buffers are full); True if the DAC had
        run dry before this push (an underflow)."""
        if self.cyclic or not self.pace:
            return False
        now = time.monotonic()
        underflow = self.queue_end is not None and now > self.queue_end
        if self.queue_end is not None:
            _sleep_until(self.queue_end - self.buffers * n / fs, stop)
            now = time.monotonic()
        self.queue_end = max(self.queue_end or now, now) + n / fs
        return underflow


def _sleep_until(t: float, stop: threading.Event | None) -> None:
    while True:
        dt = t - time.monotonic()
        if dt <= 0:
            return
        if stop is not None:
            if stop.wait(min(dt, 0.25)):
                return
        else:
            time.sleep(min(dt, 0.25))


class AxiStatus:
    """``direct_reg_access`` of one device: the selected address and a small register file.

    Writing ``"ADDR"`` selects a register, ``"ADDR VALUE"`` writes it (at :data:`STATUS_REG` the
    bits written as 1 are cleared); a read returns ``0x%X`` of the selected register. Registers
    never written read as 0, except the AXI version register.
    """

    def __init__(self, axi: bool):
        self.axi = axi
        self.addr = 0
        self.regs: dict[int, int] = {}
        self.status = 0

    def write(self, text: str) -> None:
        parts = text.split()
        if not 1 <= len(parts) <= 2:
            raise ValueError(text)
        addr = int(parts[0], 0)
        if not 0 <= addr < 1 << 32:
            raise ValueError(text)
        self.addr = addr
        if len(parts) == 2:
            val = int(parts[1], 0)
            if not 0 <= val < 1 << 32:
                raise ValueError(text)
            if self.axi and addr == STATUS_REG:
                self.status &= ~val
            else:
                self.regs[addr] = val

    def read(self) -> int:
        if self.axi and self.addr == STATUS_REG:
            return self.status
        if self.axi and self.addr == VERSION_REG:
            return self.regs.get(VERSION_REG, AXI_VERSION)
        return self.regs.get(self.addr, 0)
