"""The simulated radio: replays SigMF recordings through the :class:`~sdrkit.radio.Radio` contract.

``SimRadio`` plays the role httpx's ``MockTransport`` plays for HTTP: a test double
shipped in the library, behaving like the real backends (same settings, same flags, same
typed errors), so everything runs without hardware.

What it does, in the order samples flow through ``rx()``::

    recording (RAM / memmap) -> shift (rx_lo != recorded frequency) -> resample (sample_rate
    != recorded rate) -> + TX loopback through a channel -> gain (rx_hardwaregain relative
    to the recording's) or AGC -> front-end impairments -> block

Retuning: a requested band ``rx_lo +- rx_rf_bandwidth/2`` must lie inside the recorded
band ``center_frequency +- sample_rate/2``; otherwise ``configure`` raises ConfigError
naming both bands (a real radio would tune there; a recording has nothing to play).

TX loopback: ``tx(samples, cyclic)`` sends the samples through a :class:`LoopbackChannel`
(multipath taps, delay, CFO, AWGN at ``snr_db`` relative to the received TX power) and the
result is **added** to what RX hears (the recording, or the noise floor without one) — as a
radio whose TX port is cabled to its RX port while its antenna still hears the band. Use
``sim:loopback`` (no recording) for clean TX/RX experiments. A cyclic buffer repeats
forever, phase-continuous; a one-shot buffer plays once and then only the channel noise
remains. ``tx_destroy_buffer()`` stops TX. A ``tx_lo`` different from ``rx_lo`` shifts the
loopback by ``tx_lo - rx_lo`` (outside ``+- sample_rate/2`` it is not received at all);
``tx_hardwaregain`` changes after ``tx()`` scale the signal (not the channel noise).

MIMO loopback: ``tx()`` also takes a ``(T, n)`` array, one row per TX channel (a 2R2T Pluto or a
B210 sends both at once). RX channel ``i`` then hears ``sum_j C[i, j] * chan(u_j)``: every TX row
runs through the same taps, delay and CFO (one cable bundle, one LO), is mixed by the coupling
matrix ``C`` (``loopback_coupling``; default the identity) and gets independent AWGN per RX
channel at ``snr_db`` relative to the mean received TX power per RX channel.

Stream clock: the loopback channel, the front end's CFO and realtime pacing all run on
the absolute stream index (delivered + lost samples), so gaps keep the right phases.

Buffering and overflows (``realtime=1``): like a real radio, the simulated one keeps producing
samples whether or not the caller reads them, and holds what it has produced for a while, the
way libiio's kernel buffers hold a Pluto's samples and UHD's receive frames a B210's. How much it
holds is :class:`~sdrkit.profiles.RxBuffering` data: the ``rx_buffering`` option (seconds) if
given, else ``max_lag_blocks`` (blocks of ``rx_buffer_size``), else the ``rx_buffering`` of the
``profile`` (e.g. 4 kernel buffers for ``pluto-ad9363``), else that of the ``simulated`` profile
(0.1 s). It holds ``max(1, floor(held samples / rx_buffer_size))`` whole blocks. A caller that
comes back with more completed blocks waiting than that loses the oldest excess (whole blocks):
the rx() call reports them as ``lost`` (counted in ``samples_lost`` and ``overflows``) and then
delivers the oldest block still held; a caller lagging less loses nothing. (A real libiio or UHD
buffer keeps its oldest blocks and loses the newest instead, so on hardware the gap shows up up
to one buffer later in the stream; how many samples are lost is the same.)

Channels: a recording with ``core:num_channels`` = C replays as a C-channel radio
(``rx_enabled_channels``, pyadi-iio's name; default: every channel of the recording). Blocks
are ``(len(rx_enabled_channels), n)`` complex64, rows in ``rx_enabled_channels`` order; one
enabled channel gives ``(n,)`` as before. The channels share one clock and one LO, as the
receivers of an AD9361 or an array do, so every stage is applied per channel without
touching the phase relations between them: the retune shift and the resampler are the same
for every channel; faults drop the same samples on every channel; TX loops back into every
channel (one cable split to all RX ports) with independent channel noise per channel; the
noise floor is independent per channel; gain is common and the AGC runs per channel; the
front end's impairments are applied to each channel with the same CFO and the same
phase-noise walk (a shared LO). With ``front_end=ideal`` (or none) and no retune the
inter-channel phases of the recording come out exactly. Without a recording any channel
indices may be enabled (each one a noise floor plus the TX loopback).

URI: ``sim:<recording>.sigmf-meta?option=value&...``, or ``sim:`` / ``sim:loopback`` with no
recording (RX is a -60 dBFS noise floor plus whatever TX loops back). Options (also
accepted as keyword arguments of :func:`~sdrkit.radio.open_radio`):

=================  =================================================================
loop               1 (default) replay forever; 0 one-shot (rx raises EOFError at the end,
                   after a last partial block)
realtime           1 pace at the sample rate (default 0: as fast as possible)
front_end          a name from :data:`~sdrkit.radio.frontends.FRONT_ENDS` or ``random:<seed>``
seed               seed for the front end's phase noise and the loopback channel noise
faults             comma list: ``overflow@K[:M]`` (drop M blocks before rx() call K; that
                   call reports ``lost = M * rx_buffer_size``), ``timeout@K`` (call K raises
                   RadioTimeout once, the stream continues), ``disconnect@K`` (call K and
                   every later call raise RadioDisconnected)
rx_buffering       realtime only: how long the radio holds samples for a caller that falls
                   behind, s (default: the profile's ``rx_buffering``, else the simulated
                   profile's 0.1 s); a caller lagging longer loses the excess (see above)
max_lag_blocks     the same as a number of ``rx_buffer_size`` blocks (libiio's kernel buffer
                   count); give rx_buffering or max_lag_blocks, not both
loopback_snr       TX->RX channel SNR, dB (default 30); alias ``snr``
loopback_cfo       TX->RX carrier offset, Hz (default 0); alias ``cfo``
loopback_delay     TX->RX delay, samples (default 0); alias ``delay``
loopback_taps      multipath taps ``a+bj;c+dj;...`` (default: one unit tap); alias ``taps``
loopback_coupling  multi-channel TX (``tx()`` of a ``(channels, n)`` array): the RX-by-TX coupling
                   matrix, a number ``c`` (1 on the diagonal, ``c`` elsewhere: ``0.3`` is the 2x2
                   interference channel of the MIMO task) or rows ``a,b;c,d`` (complex allowed);
                   default: the identity (TX channel j cabled to RX channel j); alias ``coupling``
loopback           (keyword only) a :class:`LoopbackChannel`
scenario           a scenario file (:mod:`sdrkit.dsp.scenario`): per rx() block SNR (as received),
                   fading depth and in-block delay, applied after the recording and the loopback
                   are summed; its faults join ``faults`` (``sdrkit generate kpi --scenario``)
profile            firmware profile to validate settings against (e.g. pluto-ad9363)
rx_enabled_channels
                   comma list of channel indices, e.g. ``0,2`` (default: all channels of
                   the recording; ``0`` without one)
rx_lo, sample_rate, rx_rf_bandwidth, rx_hardwaregain, gain_control_mode, rx_buffer_size,
tx_lo, tx_hardwaregain
                   initial settings (default: the recording's rate and frequency)
=================  =================================================================
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ConfigError, RadioDisconnected, RadioTimeout
from sdrkit.profiles import RxBuffering
from sdrkit.radio.base import Radio, RadioConfig

_IN_RAM_BYTES = 512 * 2 ** 20   # recordings up to this size (as complex64) are held in memory
_NOISE_FLOOR = np.float32(1e-3)  # std of the no-recording noise floor: -60 dBFS
_NO_RECORDING = ("", "loopback")
# in-RAM recordings are converted whole when a retune needs resampling (polyphase over the whole
# array: ~1000x faster per sample than block by block) if input and output both stay within this
# many samples per channel; an upsampled copy of a long recording would cost memory and seconds
_PRECOMPUTE_MAX = 2 ** 22


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: ``kind`` in overflow/timeout/disconnect at rx() call ``block``."""

    kind: str
    block: int
    count: int = 1

    @classmethod
    def parse(cls, spec: "str | Fault") -> "Fault":
        """``overflow@10:3`` / ``timeout@20`` / ``disconnect@30``.

        Raises:
            ConfigError: malformed spec (the message shows the expected form).
        """
        if isinstance(spec, Fault):
            return spec
        try:
            kind, _, rest = str(spec).strip().partition("@")
            block, _, count = rest.partition(":")
            f = cls(kind, int(block), int(count) if count else 1)
        except ValueError:
            raise ConfigError(f"fault {spec!r} is not KIND@BLOCK[:COUNT], e.g. overflow@10:3, timeout@20") from None
        if f.kind not in ("overflow", "timeout", "disconnect") or f.block < 0 or f.count < 1:
            raise ConfigError(f"fault {spec!r}: kind must be overflow, timeout or disconnect, block >= 0, count >= 1")
        return f


@dataclass(frozen=True)
class LoopbackChannel:
    """TX -> RX channel of the simulated radio.

    Attributes:
        snr_db: SNR at the receiver, dB: received TX power (after the taps) over the
            power of the complex AWGN the channel adds.
        cfo_hz: carrier frequency offset, Hz.
        delay: delay, samples (integer >= 0).
        taps: multipath taps at one-sample spacing, complex gains (first = direct path).
    """

    snr_db: float = 30.0
    cfo_hz: float = 0.0
    delay: int = 0
    taps: tuple[complex, ...] = (1 + 0j,)
    #: multi-channel TX only: RX x TX coupling, a number (1 on the diagonal, it elsewhere), a
    #: matrix as rows, or None (the identity)
    coupling: object = None

    def __post_init__(self):
        if int(self.delay) != self.delay or self.delay < 0:
            raise ConfigError(f"loopback delay={self.delay} must be an integer number of samples >= 0")
        if not len(self.taps):
            raise ConfigError("loopback taps are empty; give at least one tap, e.g. (1,)")
        object.__setattr__(self, "delay", int(self.delay))
        object.__setattr__(self, "taps", tuple(complex(t) for t in self.taps))
        c = self.coupling
        if c is not None and not isinstance(c, (int, float, complex)):
            try:
                rows = tuple(tuple(complex(v) for v in row) for row in c)
            except (TypeError, ValueError):
                raise ConfigError(f"loopback coupling={c!r} must be a number or a matrix (rows of numbers)") from None
            if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
                raise ConfigError(f"loopback coupling={c!r}: the rows must be non-empty and of equal length")
            object.__setattr__(self, "coupling", rows)

    def coupling_matrix(self, n_rx: int, n_tx: int) -> np.ndarray:
        """The ``(n_rx, n_tx)`` coupling of a multi-channel TX.

        Raises:
            ConfigError: a matrix coupling of another size.
        """
        c = self.coupling
        if c is None or isinstance(c, (int, float, complex)):
            m = np.full((n_rx, n_tx), 0 if c is None else complex(c), np.complex64)
            m[np.arange(min(n_rx, n_tx)), np.arange(min(n_rx, n_tx))] = 1
            return m
        m = np.asarray(c, np.complex64)
        if m.shape != (n_rx, n_tx):
            raise ConfigError(f"loopback coupling is {m.shape[0]}x{m.shape[1]} but the radio has {n_rx} RX and "
                              f"{n_tx} TX channel(s); give an {n_rx}x{n_tx} matrix or a number")
        return m


Channel = LoopbackChannel   # short alias: SimRadio(..., loopback=Channel(snr_db=20))


class _Loopback:
    """One TX buffer running through a LoopbackChannel, indexed by samples since tx().

    The output at loopback index ``k`` is ``sum_j taps[j] * u[k - delay - j]`` with ``u`` the
    transmitted stream (the buffer repeated when cyclic, zeros before it starts and after
    a one-shot buffer ends): a pure function of ``k``, so skipping samples (a gap) keeps
    the channel right without running it.
    """

    def __init__(self, wave: np.ndarray, cyclic: bool, chan: LoopbackChannel, rng: np.random.Generator,
                 tx_gain_db: float, n_rx: int | None = None):
        self.wave, self.cyclic, self.chan, self.rng = wave, cyclic, chan, rng
        self.taps = np.asarray(chan.taps, np.complex64)
        self.pos = 0
        self.tx_gain_db = tx_gain_db
        self.mix = None   # (n_rx, n_tx) coupling of a multi-channel TX
        if wave.ndim == 2:
            self.mix = chan.coupling_matrix(int(n_rx or 1), wave.shape[0])
            per_tx = np.mean(np.abs(wave) ** 2, axis=1)                  # (n_tx,)
            per_rx = (np.abs(self.mix) ** 2) @ per_tx                    # independent TX rows
            rx_power = float(np.mean(per_rx)) * float(np.sum(np.abs(self.taps) ** 2))
        else:
            rx_power = float(np.mean(np.abs(wave) ** 2)) * float(np.sum(np.abs(self.taps) ** 2))
        self.noise_std = np.float32(np.sqrt((rx_power or 1.0) / 10 ** (chan.snr_db / 10) / 2))

    def _input(self, a: int, b: int) -> np.ndarray:
        """Transmitted samples ``u[a:b]`` (zeros where nothing is on the air)."""
        L = len(self.wave)
        if self.cyclic:
            u = np.take(self.wave, np.arange(max(a, 0), b), mode="wrap")
            return np.concatenate([np.zeros(max(0, -a), np.complex64), u]) if a < 0 else u
        u = np.zeros(b - a, np.complex64)
        lo, hi = max(a, 0), min(b, L)
        if hi > lo:
            u[lo - a:hi - a] = self.wave[lo:hi]
        return u

    def _input_rows(self, a: int, b: int) -> np.ndarray:
        """``u[:, a:b]`` of a multi-channel TX buffer ``(n_tx, L)``."""
        L = self.wave.shape[1]
        u = np.zeros((self.wave.shape[0], b - a), np.complex64)
        if self.cyclic:
            lo = max(a, 0)
            if b > lo:
                u[:, lo - a:] = np.take(self.wave, np.arange(lo, b), axis=1, mode="wrap")
            return u
        lo, hi = max(a, 0), min(b, L)
        if hi > lo:
            u[:, lo - a:hi - a] = self.wave[:, lo:hi]
        return u

    def _next_rows(self, n: int, fs: float, offset_hz: float, tx_gain_db: float, channels: int) -> np.ndarray:
        """Multi-channel TX: every TX row through the taps/delay/CFO, mixed by the coupling."""
        k = self.pos
        self.pos += n
        m = len(self.taps)
        cfo = self.chan.cfo_hz + offset_hz
        if self.mix.shape[0] != channels:
            raise ConfigError(f"the TX buffer was mixed for {self.mix.shape[0]} RX channel(s) but {channels} are "
                              f"enabled now; call tx() again after changing rx_enabled_channels")
        if abs(cfo) < fs / 2:
            u = self._input_rows(k - self.chan.delay - (m - 1), k + n - self.chan.delay)
            if m == 1 and self.taps[0] == 1:
                s = u
            else:
                s = np.stack([np.convolve(r, self.taps, mode="valid") for r in u]).astype(np.complex64)
            s = (self.mix @ s).astype(np.complex64)
            if cfo:
                ph = (2 * np.pi * cfo / fs * (k + np.arange(n, dtype=np.float64))) % (2 * np.pi)
                s = s * np.exp(1j * ph).astype(np.complex64)
            if tx_gain_db != self.tx_gain_db:
                s = s * np.float32(10 ** ((tx_gain_db - self.tx_gain_db) / 20))
        else:
            s = np.zeros((channels, n), np.complex64)
        noise = _complex_noise(self.rng, channels, n)
        noise *= self.noise_std
        noise += s
        return noise

    def next(self, n: int, fs: float, offset_hz: float, tx_gain_db: float, channels: int = 1) -> np.ndarray:
        """The next ``n`` received samples on each of ``channels`` RX channels, shape ``(channels, n)``:
        the same channel output on every channel plus independent channel noise per channel
        (a multi-channel TX buffer: each RX channel hears its row of the coupling, see the module
        docstring)."""
        if self.mix is not None:
            return self._next_rows(n, fs, offset_hz, tx_gain_db, channels)
        k = self.pos
        self.pos += n
        m = len(self.taps)
        cfo = self.chan.cfo_hz + offset_hz
        if abs(cfo) < fs / 2:
            u = self._input(k - self.chan.delay - (m - 1), k + n - self.chan.delay)
            s = u if (m == 1 and self.taps[0] == 1) else np.convolve(u, self.taps, mode="valid").astype(np.complex64)
            if cfo:
                ph = (2 * np.pi * cfo / fs * (k + np.arange(n, dtype=np.float64))) % (2 * np.pi)
                s = s * np.exp(1j * ph).astype(np.complex64)
            if tx_gain_db != self.tx_gain_db:
                s = s * np.float32(10 ** ((tx_gain_db - self.tx_gain_db) / 20))
        else:
            s = np.zeros(n, np.complex64)   # TX outside the RX passband: nothing arrives
        noise = _complex_noise(self.rng, channels, n)
        noise *= self.noise_std
        noise += s
        return noise

    def skip(self, n: int) -> None:
        """Let ``n`` samples pass unseen (lost samples)."""
        self.pos += n


def _complex_noise(rng: np.random.Generator, channels: int, n: int) -> np.ndarray:
    """``(channels, n)`` complex64 with unit-variance I and Q (one channel draws exactly what a
    1-D ``(n,)`` draw did, so single-channel streams are unchanged)."""
    return rng.standard_normal((channels, n, 2), dtype=np.float32).view(np.complex64)[..., 0]


class _PerChannel:
    """One stateful stream processor (a StreamResampler) per channel, applied row by row."""

    def __init__(self, make, channels: int):
        self.items = [make() for _ in range(channels)]

    def process(self, x: np.ndarray) -> np.ndarray:
        return np.stack([it.process(row) for it, row in zip(self.items, x)])


class SimRadio(Radio):
    """A radio that replays a SigMF recording (see the module docstring).

    Args:
        recording: path of a ``.sigmf-meta`` (or an open Recording), or None for no recording.
        config: initial settings; None = the recording's rate, frequency and channels.
        loop: replay forever (True) or once (False: EOFError after the last, partial block).
        realtime: pace blocks at the sample rate.
        front_end: a FrontEnd, its name (``fe-a``, ``random:7``), or None.
        seed: seed for front-end phase noise and loopback / noise-floor noise.
        faults: Fault objects or specs (``"overflow@10:3"``, ``"timeout@20"``, ``"disconnect@30"``).
        loopback: the TX -> RX :class:`LoopbackChannel` (default: 30 dB SNR, no CFO/delay).
        profile: a firmware Profile (or its name) to validate settings against.
        rx_buffering: in realtime mode, how long the radio holds samples for a caller that
            falls behind, s, or an :class:`~sdrkit.profiles.RxBuffering`; None = the profile's,
            else the ``simulated`` profile's (see the module docstring).
        max_lag_blocks: the same as a number of ``rx_buffer_size`` blocks; give one of the two.

    Raises:
        CaptureError: the recording is missing or malformed.
        ConfigError: empty recording, bad option, or ``config`` outside the recorded band.
        SettingOutOfRange: ``config`` outside ``profile``.
    """

    scheme = "sim"

    def __init__(self, recording=None, config: RadioConfig | None = None, *, loop: bool = True,
                 realtime: bool = False, front_end=None, seed: int = 0, faults=(),
                 loopback: LoopbackChannel | None = None, profile=None, rx_buffering=None,
                 max_lag_blocks: int | None = None, scenario=None):
        from sdrkit.profiles import Profile, load_profile
        from sdrkit.radio.frontends import FrontEnd, get_front_end

        # options first: a bad option must not leave a recording open
        if isinstance(profile, str):
            profile = load_profile(profile)
        if profile is not None and not isinstance(profile, Profile):
            raise ConfigError(f"profile={profile!r} must be a Profile or a profile name, e.g. pluto-ad9363")
        if isinstance(front_end, str):
            front_end = get_front_end(front_end)
        if front_end is not None and not isinstance(front_end, FrontEnd):
            raise ConfigError(f"front_end={front_end!r} must be a FrontEnd or a name from FRONT_ENDS")
        if loopback is not None and not isinstance(loopback, LoopbackChannel):
            raise ConfigError(f"loopback={loopback!r} must be a LoopbackChannel (sdrkit.radio.sim.Channel)")
        if rx_buffering is not None and max_lag_blocks is not None:
            raise ConfigError(f"rx_buffering={rx_buffering!r} and max_lag_blocks={max_lag_blocks!r} both say how "
                              f"much the radio holds; give one (rx_buffering in seconds, max_lag_blocks in blocks)")
        if max_lag_blocks is not None:
            if isinstance(max_lag_blocks, bool) or not isinstance(max_lag_blocks, (int, np.integer)) \
                    or max_lag_blocks < 1:
                raise ConfigError(f"max_lag_blocks={max_lag_blocks!r} must be a whole number of blocks >= 1")
            rx_buffering = RxBuffering(buffers=int(max_lag_blocks), note="max_lag_blocks option")
        elif rx_buffering is not None and not isinstance(rx_buffering, RxBuffering):
            if isinstance(rx_buffering, bool) or not isinstance(rx_buffering, (int, float, np.number)):
                raise ConfigError(f"rx_buffering={rx_buffering!r} must be a time in seconds > 0 (or an RxBuffering)")
            try:
                rx_buffering = RxBuffering(seconds=float(rx_buffering), note="rx_buffering option")
            except ConfigError as exc:
                raise ConfigError(f"sim: {exc}, e.g. rx_buffering=0.1") from None
        if isinstance(faults, str):
            faults = [f for f in faults.split(",") if f.strip()]
        self.scenario = None
        if scenario is not None:
            from sdrkit.dsp.scenario import Scenario, load_scenario

            self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
            faults = list(faults) + list(self.scenario.faults)
        faults = sorted((Fault.parse(f) for f in faults), key=lambda f: f.block)
        self.recording = None
        self._data = None
        if recording is not None:
            if hasattr(recording, "read"):
                self.recording = recording
            else:
                from sdrkit.capture import open_recording

                self.recording = open_recording(recording)
            rec = self.recording
            if rec.num_samples == 0:
                rec.close()
                raise ConfigError(f"{rec.meta_path}: the recording has no samples to replay")
            self.rec_channels = int(rec.num_channels)
            if rec.num_samples * 8 * self.rec_channels <= _IN_RAM_BYTES:
                self._data = rec.read().reshape(self.rec_channels, -1)     # (C, n), C >= 1
            self.rec_fs, self.rec_fc = float(rec.sample_rate), float(rec.center_frequency)
            rc = rec.global_info.get("sdrkit:radio_config") or {}
            self.rec_gain = float(rc.get("rx_hardwaregain", RadioConfig.rx_hardwaregain))
        else:
            self.rec_fs, self.rec_fc, self.rec_gain = None, None, RadioConfig.rx_hardwaregain
            self.rec_channels = None
        if config is None:
            if self.recording is not None:
                config = RadioConfig(rx_lo=self.rec_fc, sample_rate=self.rec_fs, rx_hardwaregain=self.rec_gain,
                                     rx_enabled_channels=tuple(range(self.rec_channels)))
            elif profile is not None and profile.defaults:
                config = profile.default_config()
            else:
                config = RadioConfig()
        if self.recording is None:
            self.rec_gain = config.rx_hardwaregain   # the gain the noise floor is defined at
        self.front_end: FrontEnd | None = front_end
        self.loop, self.realtime, self.seed = bool(loop), bool(realtime), int(seed)
        self.faults = list(faults)
        self.loopback_channel = loopback or LoopbackChannel()
        self._buffering: RxBuffering | None = rx_buffering   # None: the profile's, found when first needed
        self._rng = np.random.default_rng([self.seed, 1])
        self._scenario_rng = np.random.default_rng([self.seed, 7])
        self._src = self._data        # what the fast path replays: the recording or its conversion
        self._src_rate = self.rec_fs  # sample rate of _src, samples/s
        self._pos = 0                 # next sample of _src (or of the recording) to read
        self._block = 0               # rx() calls so far (the fault schedule's clock)
        self._disconnected = False
        self._txl: _Loopback | None = None
        self._agc_gain = [1.0]        # per channel
        self._t0: float | None = None
        self._clock = 0               # stream samples so far (delivered + lost): pacing, loopback
        self._pending = np.zeros((1, 0), np.complex64)   # (channels, k) converted, not yet delivered
        self._rows: list[int] | None = None   # recording channels replayed (None = all, in order)
        self._eof = False
        self._applied: RadioConfig | None = None
        self._shift = self._resampler = None
        self._fe_states: list | None = None   # one FrontEndState per channel (same seed: shared LO)
        try:
            super().__init__(config, profile)
            self._apply(self._config)
        except BaseException:
            self._close()
            raise

    # ---- construction from a URI -----------------------------------------------------------
    _SETTINGS = {"rx_lo": float, "sample_rate": float, "rx_rf_bandwidth": float, "rx_hardwaregain": float,
                 "gain_control_mode": str, "rx_buffer_size": int, "tx_lo": float, "tx_hardwaregain": float,
                 "rx_enabled_channels": tuple}
    _ALIASES = {"snr": "loopback_snr", "cfo": "loopback_cfo", "delay": "loopback_delay", "taps": "loopback_taps",
                "coupling": "loopback_coupling"}
    _OPTIONS = {"loop", "realtime", "front_end", "seed", "faults", "loopback", "loopback_snr", "loopback_cfo",
                "loopback_delay", "loopback_taps", "loopback_coupling", "profile", "rx_buffering", "max_lag_blocks",
                "scenario"}

    @classmethod
    def from_uri(cls, rest: str, config: RadioConfig | None = None, **options) -> "SimRadio":
        """Build from the part of a ``sim:`` URI after the scheme (see the module docstring).

        Args:
            rest: ``path/to/rec.sigmf-meta[?opt=v&...]``, ``""`` or ``loopback[?...]``.
            config: initial settings (URI settings are applied on top).
            **options: the same options as the query, as Python values (``loop=False``,
                ``faults=["timeout@3"]``, ``loopback=Channel(snr_db=20)``); they win over the query.

        Raises:
            ConfigError: unknown option (lists the known ones) or a malformed value.
        """
        path, _, query = rest.partition("?")
        opts: dict = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        opts.update(options)
        opts = {cls._ALIASES.get(k, k): v for k, v in opts.items()}
        known = cls._OPTIONS | set(cls._SETTINGS)
        unknown = set(opts) - known
        if unknown:
            raise ConfigError(f"unknown sim: option(s) {sorted(unknown)}; known: {sorted(known)} "
                              f"(aliases: {', '.join(f'{a}={b}' for a, b in cls._ALIASES.items())})")

        def flag(name, default):
            v = opts.get(name, default)
            if isinstance(v, (bool, int, np.integer)):
                return bool(v)
            if str(v).lower() in ("1", "true", "yes", "on", ""):
                return True
            if str(v).lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"sim: option {name}={v!r} must be 0 or 1")

        def num(name, typ=float, default=None):
            if name not in opts:
                return default
            try:
                v = float(opts[name])
                if typ is int and v != int(v):
                    raise ValueError
                return int(v) if typ is int else v
            except (TypeError, ValueError):
                what = "an integer" if typ is int else "a number"
                raise ConfigError(f"sim: option {name}={opts[name]!r} is not {what}") from None

        chan = opts.get("loopback")
        if any(k in opts for k in ("loopback_snr", "loopback_cfo", "loopback_delay", "loopback_taps",
                                   "loopback_coupling")):
            base = chan or LoopbackChannel()
            taps = opts.get("loopback_taps", base.taps)
            if isinstance(taps, str):
                try:
                    taps = tuple(complex(t.replace(" ", "")) for t in taps.split(";") if t.strip())
                except ValueError:
                    raise ConfigError(f"sim: loopback_taps={taps!r} must be complex numbers separated by ';', "
                                      f"e.g. 1;0.3+0.2j") from None
            coupling = opts.get("loopback_coupling", base.coupling)
            if isinstance(coupling, str):
                try:
                    coupling = complex(coupling.replace(" ", "")) if ";" not in coupling and "," not in coupling \
                        else tuple(tuple(complex(v.replace(" ", "")) for v in row.split(","))
                                   for row in coupling.split(";") if row.strip())
                    if isinstance(coupling, complex) and coupling.imag == 0:
                        coupling = coupling.real
                except ValueError:
                    raise ConfigError(f"sim: loopback_coupling={coupling!r} must be a number (e.g. 0.3) or rows "
                                      f"'a,b;c,d' of complex numbers, e.g. 1,0.3;0.3,1") from None
            chan = LoopbackChannel(snr_db=num("loopback_snr", default=base.snr_db),
                                   cfo_hz=num("loopback_cfo", default=base.cfo_hz),
                                   delay=num("loopback_delay", int, default=base.delay), taps=tuple(taps),
                                   coupling=coupling)
        recording = None if path in _NO_RECORDING else path
        radio = cls(recording, config, loop=flag("loop", True), realtime=flag("realtime", False),
                    front_end=opts.get("front_end") or None, seed=num("seed", int, default=0),
                    faults=opts.get("faults", ()), loopback=chan, profile=opts.get("profile") or None,
                    rx_buffering=opts["rx_buffering"] if isinstance(opts.get("rx_buffering"), RxBuffering)
                    else num("rx_buffering"), max_lag_blocks=num("max_lag_blocks", int),
                    scenario=opts.get("scenario") or None)
        def channels(name):
            v = opts[name]
            if isinstance(v, (list, tuple)):
                return tuple(v)
            try:
                return tuple(int(c) for c in str(v).split(",") if c.strip())
            except ValueError:
                raise ConfigError(f"sim: option {name}={v!r} must be channel indices separated by ',', "
                                  f"e.g. 0,1") from None

        changes = {}
        for k, typ in cls._SETTINGS.items():
            if k in opts:
                changes[k] = opts[k] if typ is str else channels(k) if typ is tuple else num(k, typ)
        if changes:
            try:
                radio.configure(**changes)
            except BaseException:
                radio.close()
                raise
        return radio

    # ---- settings -------------------------------------------------------------------------
    def _apply(self, config: RadioConfig) -> None:
        from sdrkit.dsp.resample import FrequencyShifter, StreamResampler, resample

        # every check first, so a refused setting changes nothing
        chans = config.rx_enabled_channels
        nch = len(chans)
        rows = None
        if self.recording is not None:
            bad = [c for c in chans if c >= self.rec_channels]
            if bad:
                raise ConfigError(
                    f"rx_enabled_channels={list(chans)}: channel {bad[0]} is not in "
                    f"{self.recording.meta_path.name}, which has {self.rec_channels} channel(s) "
                    f"(0..{self.rec_channels - 1}); enable channels of the recording only")
            rows = None if chans == tuple(range(self.rec_channels)) else list(chans)
        old = self._applied
        rechannel = old is None or old.rx_enabled_channels != chans
        retune = rechannel or old.rx_lo != config.rx_lo or old.sample_rate != config.sample_rate
        shift = resampler = None
        if self.recording is not None:
            lo, hi = config.rx_lo - config.bandwidth / 2, config.rx_lo + config.bandwidth / 2
            rlo, rhi = self.rec_fc - self.rec_fs / 2, self.rec_fc + self.rec_fs / 2
            tol = 1e-9 * max(abs(rhi), 1.0)
            if lo < rlo - tol or hi > rhi + tol:
                raise ConfigError(
                    f"requested band {lo / 1e6:.6g}..{hi / 1e6:.6g} MHz (rx_lo={config.rx_lo / 1e6:.9g} MHz, "
                    f"rx_rf_bandwidth={config.bandwidth / 1e6:.9g} MHz) is outside the recorded band "
                    f"{rlo / 1e6:.6g}..{rhi / 1e6:.6g} MHz of {self.recording.meta_path.name}; tune inside it or "
                    f"lower sample_rate / rx_rf_bandwidth")
            if retune:
                offset = self.rec_fc - config.rx_lo
                data = self._data
                if data is not None and rows is not None:
                    data = data[rows]          # the enabled channels, in their order
                src, src_rate = data, self.rec_fs
                # may raise ConfigError for an awkward ratio: still before any state changes
                if config.sample_rate != self.rec_fs and data is not None \
                        and data.shape[-1] * max(1.0, config.sample_rate / self.rec_fs) <= _PRECOMPUTE_MAX:
                    x = FrequencyShifter(offset, self.rec_fs).process(data) if offset else data
                    src, src_rate = resample(x, self.rec_fs, config.sample_rate), config.sample_rate
                else:
                    # one shifter serves all channels (one LO); a resampler keeps state per channel
                    shift = FrequencyShifter(offset, self.rec_fs) if offset else None
                    resampler = _PerChannel(lambda: StreamResampler(self.rec_fs, config.sample_rate), nch) \
                        if config.sample_rate != self.rec_fs else None
        if retune:
            # stale samples from the old settings are discarded, like a real radio after a retune
            self._shift, self._resampler = shift, resampler
            self._pending = np.zeros((nch, 0), np.complex64)
            self._rows = rows
            if self.recording is not None:
                # keep the replay's place in the recording (in seconds) across the change of units
                n_src = src.shape[-1] if src is not None else self.recording.num_samples
                self._pos = min(int(round(self._pos * src_rate / self._src_rate)), n_src)
                self._src, self._src_rate = src, src_rate
        if old is None or old.sample_rate != config.sample_rate or rechannel:
            if old is None or old.sample_rate != config.sample_rate:
                self._t0 = None   # realtime schedule re-anchors at the new rate
            # the same seed on every channel: one LO, so one CFO and one phase-noise walk
            self._fe_states = [self.front_end.state(config.sample_rate, self.seed) for _ in range(nch)] \
                if self.front_end else None
        if rechannel:
            self._agc_gain = [1.0] * nch
        self._gain = np.float32(10 ** ((config.rx_hardwaregain - self.rec_gain) / 20))
        self._applied = config

    # ---- samples --------------------------------------------------------------------------
    @property
    def _fast(self) -> bool:
        """Replaying an array (the recording, or its whole-array conversion): one copy per block."""
        return self._shift is None and self._resampler is None

    def _source(self, n: int) -> tuple[np.ndarray, bool]:
        """Next ``n`` samples of the replay source (fewer only at a one-shot end): the
        converted array when the retune was precomputed, else the recording at its own rate.

        Returns:
            (samples, owned): ``owned`` is False when ``samples`` is a view of the replay
            buffer (the caller must copy before handing it out or writing to it).
        """
        src = self._src
        rec_n = self._src_len()
        parts, need = [], n
        while need > 0:
            if self._pos >= rec_n:
                if not self.loop:
                    self._eof = True
                    break
                self._pos = 0
            k = min(need, rec_n - self._pos)
            if src is not None:
                parts.append(src[:, self._pos:self._pos + k])
            else:
                parts.append(self.recording.read(self._pos, k, self._rows).reshape(-1, k))
            self._pos += k
            need -= k
        if len(parts) == 1:
            return parts[0], src is None
        return (np.concatenate(parts, axis=-1) if parts else
                np.zeros((self._config.num_channels, 0), np.complex64)), True

    def _src_len(self) -> int:
        """Samples per channel in the replay source."""
        return self._src.shape[-1] if self._src is not None else self.recording.num_samples

    def _produce(self, n: int) -> np.ndarray:
        """``(channels, n)`` recording samples at the output rate, owned by the caller (fewer
        only at a one-shot end)."""
        if self._fast:
            x, owned = self._source(n)
            return x if owned else x.copy()   # the one copy of the fast path
        out = [self._pending] if self._pending.shape[-1] else []
        have = self._pending.shape[-1]
        # a fixed source chunk per block size keeps the shifter's phase table cached
        chunk_n = max(4096, 1 << int(np.ceil(np.log2(n * self.rec_fs / self._config.sample_rate))))
        while have < n and not self._eof:
            chunk, _ = self._source(chunk_n)
            if self._shift is not None:
                chunk = self._shift.process(chunk)
            if self._resampler is not None:
                chunk = self._resampler.process(chunk)
            out.append(chunk)
            have += chunk.shape[-1]
        buf = np.concatenate(out, axis=-1) if out else np.zeros((self._config.num_channels, 0), np.complex64)
        self._pending = buf[:, n:]
        return buf[:, :n].copy()

    def _drop(self, count: int) -> int:
        """Skip ``count`` output samples (lost); returns how many were skipped."""
        n = self._config.rx_buffer_size
        if self.recording is None:
            dropped = count
        elif self._fast:
            rec_n = self._src_len()
            if self.loop:
                self._pos = (self._pos + count) % rec_n
                dropped = count
            else:
                dropped = min(count, rec_n - self._pos)
                self._pos += dropped
                self._eof = dropped < count
        else:
            dropped = 0
            while dropped < count and not (self._eof and not self._pending.shape[-1]):
                dropped += self._produce(min(n, count - dropped)).shape[-1]
        if self._txl is not None:
            self._txl.skip(dropped)
        return dropped

    def _rx(self) -> tuple[np.ndarray, int]:
        if self._disconnected:
            raise RadioDisconnected("simulated radio disconnected (injected fault); open the radio again")
        n = self._config.rx_buffer_size
        lost = 0
        while self.faults and self.faults[0].block == self._block:
            f = self.faults.pop(0)
            if f.kind == "timeout":
                self._block += 1
                raise RadioTimeout(f"no samples within the timeout at block {f.block} (injected fault); "
                                   f"the stream can continue")
            if f.kind == "disconnect":
                self._disconnected = True
                raise RadioDisconnected(f"simulated radio disconnected at block {f.block} (injected fault); "
                                        f"open the radio again")
            lost += self._drop(f.count * n)    # overflow: the radio drops whole blocks
        if self.realtime:
            lost += self._pace(n, lost)
        cfg = self._config
        nch = cfg.num_channels
        if self.recording is None:
            x = None
        else:
            x = None if self._eof and not self._pending.shape[-1] else self._produce(n)   # (channels, n), owned
            if x is None or x.shape[-1] == 0:
                if lost:
                    # the end came while the caller was behind: report what was dropped on the way
                    # (an empty block carrying ``lost``); the next call raises the end of recording
                    self._block += 1
                    self._clock += lost
                    return (np.zeros(0, np.complex64) if nch == 1 else np.zeros((nch, 0), np.complex64)), lost
                raise EOFError("end of recording (one-shot replay)")
        if self._txl is not None:
            lb = self._txl.next(n if x is None else x.shape[-1], cfg.sample_rate, cfg.effective_tx_lo - cfg.rx_lo,
                                cfg.tx_hardwaregain, nch)
            if x is None:
                x = lb
            else:
                x += lb
        elif x is None:
            x = _complex_noise(self._rng, nch, n)
            x *= _NOISE_FLOOR
        if self.scenario is not None:
            x = self.scenario.apply(x, self._block, self._scenario_rng)
        if cfg.gain_control_mode == "manual":
            if self._gain != 1:
                x *= self._gain
        else:
            self._agc(x)
        if self._fe_states is not None:
            for row, st in zip(x, self._fe_states):
                row[:] = st.apply(row, self._next_index + lost)
        self._block += 1
        self._clock += lost + x.shape[-1]
        return (x[0] if nch == 1 else x), lost

    def _agc(self, x: np.ndarray) -> None:
        """Scale each channel of ``x`` (channels, n) in place by its own AGC loop (one per receiver)."""
        target = 0.25      # -12 dBFS
        alpha = {"slow_attack": 0.1, "fast_attack": 0.7, "hybrid": 0.3}[self._config.gain_control_mode]
        for i, row in enumerate(x):
            rms = float(np.sqrt(np.mean(np.abs(row) ** 2))) or 1e-9
            self._agc_gain[i] = (1 - alpha) * self._agc_gain[i] + alpha * target / rms
            row *= np.float32(self._agc_gain[i])

    @property
    def rx_buffering(self) -> RxBuffering:
        """How much this radio holds for a caller that falls behind (realtime mode): an
        :class:`~sdrkit.profiles.RxBuffering` from the option, the profile, or the simulated profile."""
        if self._buffering is None:
            from sdrkit.profiles import load_profile

            prof = self.profile if self.profile is not None and self.profile.rx_buffering is not None \
                else load_profile("simulated")
            self._buffering = prof.rx_buffering
        return self._buffering

    @property
    def rx_buffer_blocks(self) -> int:
        """Whole ``rx_buffer_size`` blocks the radio holds at the current settings (at least 1)."""
        c = self._config
        return max(1, self.rx_buffering.samples_at(c.sample_rate, c.rx_buffer_size) // c.rx_buffer_size)

    @property
    def rx_buffer_seconds(self) -> float:
        """How long a caller may stall without losing samples at the current settings, s."""
        return self.rx_buffer_blocks * self._config.rx_buffer_size / self._config.sample_rate

    def _pace(self, n: int, lost: int) -> int:
        """Sleep until the next block is due; if the caller fell behind by more blocks than the
        radio holds, drop the oldest excess (whole blocks, as real radios lose whole buffers).

        The schedule is absolute (``t0 + stream_index / fs`` on the monotonic clock), so
        sleeping never accumulates drift; block ``[i, i + n)`` is complete at ``t0 + (i + n) / fs``.
        Returns the samples dropped here.
        """
        fs = self._config.sample_rate
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - self._clock / fs
        pos = self._clock + lost
        due = self._t0 + (pos + n) / fs
        if due > now:
            time.sleep(due - now)
            return 0
        # completed blocks waiting for the caller; the radio holds rx_buffer_blocks of them
        waiting = (int((now - self._t0) * fs) - pos) // n
        excess = waiting - self.rx_buffer_blocks
        return self._drop(excess * n) if excess > 0 else 0

    def _tx(self, samples: np.ndarray, cyclic: bool) -> None:
        self._txl = _Loopback(samples.copy(), cyclic, self.loopback_channel, self._rng,
                              self._config.tx_hardwaregain, self._config.num_channels)

    def tx(self, samples, cyclic: bool = False) -> None:
        """Transmit complex64 samples (|x| <= 1): ``(n,)`` on one TX channel, or ``(T, n)`` with one
        row per TX channel (MIMO loopback through ``loopback_coupling``; see the module docstring).

        Raises:
            DeviceError: not a non-empty 1-D or 2-D array.
        """
        x = np.asarray(samples)
        if x.ndim != 2:
            return super().tx(samples, cyclic)
        from sdrkit.errors import DeviceError

        self._ensure_open()
        if x.size == 0 or x.shape[0] > 64:
            raise DeviceError(f"tx() of a (channels, n) array needs 1..64 non-empty rows, got shape {x.shape}")
        self._tx(np.ascontiguousarray(x, dtype=np.complex64), bool(cyclic))

    def tx_destroy_buffer(self) -> None:
        """Stop transmitting (pyadi-iio's name)."""
        self._ensure_open()
        self._txl = None

    @property
    def transmitting(self) -> bool:
        """True while a TX buffer is looped back (from tx() until tx_destroy_buffer())."""
        return self._txl is not None

    def _close(self) -> None:
        if self.recording is not None:
            self.recording.close()
        self._data = self._src = None
        self._txl = None

    # ---- description ----------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Next sample index in the recording (at the recording's rate)."""
        return int(round(self._pos * self.rec_fs / self._src_rate)) if self.recording is not None else 0

    @property
    def agc_gain_db(self) -> float | None:
        """RX gain the AGC has settled at on the first enabled channel, dB, on the same scale as
        ``rx_hardwaregain`` (the recording's gain plus the AGC's correction); None in manual mode."""
        if self._config.gain_control_mode == "manual":
            return None
        return float(self.rec_gain + 20 * np.log10(max(self._agc_gain[0], 1e-12)))

    @property
    def hw_description(self) -> str:
        """What produced the samples, for recordings' ``core:hw``."""
        src = f"replaying {self.recording.meta_path.name}" if self.recording is not None else "no recording"
        fe = f", front end {self.front_end.name}" if self.front_end is not None else ""
        ch = f", channels {list(self.rx_enabled_channels)}" if self._config.num_channels > 1 else ""
        return f"sdrkit SimRadio ({src}{fe}{ch})"

    def __repr__(self) -> str:
        src = self.recording.meta_path.name if self.recording is not None else "no recording"
        return f"SimRadio({src}, rx_lo={self.rx_lo:g} Hz, sample_rate={self.sample_rate:g} S/s)"


__all__ = ["Channel", "Fault", "LoopbackChannel", "SimRadio"]
