"""The simulated radio: replays SigMF recordings through the :class:`~sdrkit.radio.Radio` contract.

``SimRadio`` plays the role httpx's ``MockTransport`` plays for HTTP: a test double
shipped in the library, behaving like the real backends (same settings, same flags, same
typed errors), so everything runs without hardware.

What it does, in the order samples flow through ``rx()``::

    recording (memmap / RAM) -> shift (rx_lo != recorded frequency) -> resample (sample_rate
    != recorded rate) -> gain (rx_hardwaregain relative to the recording's) or AGC
    -> + TX loopback through a channel -> front-end impairments -> block

URI: ``sim:<recording>.sigmf-meta?option=value&...`` or ``sim:`` (no recording: RX is the
noise floor plus whatever TX loops back). Options:

=================  =================================================================
loop               1 (default) replay forever; 0 one-shot (rx raises EOFError at the end)
realtime           1 pace at the sample rate (default 0: as fast as possible)
front_end          a name from :data:`~sdrkit.radio.frontends.FRONT_ENDS` or ``random:<seed>``
seed               seed for the front end's phase noise and the loopback channel noise
faults             comma list: ``overflow@K[:M]`` (drop M blocks before block K),
                   ``timeout@K`` (block K raises RadioTimeout once), ``disconnect@K``
                   (block K and every later call raise RadioDisconnected)
loopback_snr       TX->RX channel SNR, dB (default 30)
loopback_cfo       TX->RX carrier offset, Hz (default 0)
loopback_delay     TX->RX delay, samples (default 0)
loopback_taps      multipath taps ``a+bj;c+dj;...`` (default: a single unit tap)
profile            firmware profile to validate settings against (e.g. pluto-ad9363)
rx_lo, sample_rate, rx_rf_bandwidth, rx_hardwaregain, gain_control_mode, rx_buffer_size
                   initial settings (default: the recording's)
=================  =================================================================
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ConfigError, RadioDisconnected, RadioTimeout
from sdrkit.radio.base import Radio, RadioConfig

_IN_RAM_BYTES = 512 * 2 ** 20   # recordings up to this size (as complex64) are held in memory


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: ``kind`` in overflow/timeout/disconnect at rx() call ``block``."""

    kind: str
    block: int
    count: int = 1

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        """``overflow@10:3`` / ``timeout@20`` / ``disconnect@30``."""
        try:
            kind, _, rest = spec.strip().partition("@")
            block, _, count = rest.partition(":")
            f = cls(kind, int(block), int(count) if count else 1)
        except ValueError:
            raise ConfigError(f"fault {spec!r} is not KIND@BLOCK[:COUNT], e.g. overflow@10:3, timeout@20") from None
        if f.kind not in ("overflow", "timeout", "disconnect") or f.block < 0 or f.count < 1:
            raise ConfigError(f"fault {spec!r}: kind must be overflow, timeout or disconnect, block >= 0, count >= 1")
        return f


@dataclass(frozen=True)
class LoopbackChannel:
    """TX -> RX channel: AWGN at ``snr_db`` (relative to the TX signal's mean power),
    carrier offset ``cfo_hz``, integer ``delay`` in samples, multipath ``taps``."""

    snr_db: float = 30.0
    cfo_hz: float = 0.0
    delay: int = 0
    taps: tuple[complex, ...] = (1 + 0j,)


class _Loopback:
    """Runs a TX waveform through a LoopbackChannel, block by block, with state."""

    def __init__(self, wave: np.ndarray, cyclic: bool, chan: LoopbackChannel, fs: float, rng):
        from sdrkit.dsp.resample import FrequencyShifter

        self.wave, self.cyclic, self.chan, self.rng = wave, cyclic, chan, rng
        self.pos = 0
        self.power = float(np.mean(np.abs(wave) ** 2)) or 1.0
        self.taps = np.asarray(chan.taps, np.complex64)
        self.zi = np.zeros(max(len(self.taps) - 1, 0), np.complex64)
        self.delay_line = np.zeros(chan.delay, np.complex64)
        self.shift = FrequencyShifter(chan.cfo_hz, fs)

    def next(self, n: int) -> np.ndarray:
        from scipy.signal import lfilter

        if self.cyclic:
            idx = (self.pos + np.arange(n)) % len(self.wave)
            s = self.wave[idx]
        else:
            s = np.zeros(n, np.complex64)
            avail = max(0, min(n, len(self.wave) - self.pos))
            s[:avail] = self.wave[self.pos:self.pos + avail]
        self.pos += n
        if len(self.delay_line):
            buf = np.concatenate([self.delay_line, s])
            s, self.delay_line = buf[:n], buf[n:]
        if len(self.taps) > 1:
            s, self.zi = lfilter(self.taps, [1.0], s, zi=self.zi)
        elif self.taps[0] != 1:
            s = s * self.taps[0]
        s = self.shift.process(s.astype(np.complex64))
        pn = self.power / 10 ** (self.chan.snr_db / 10)
        noise = self.rng.standard_normal((n, 2), dtype=np.float32).view(np.complex64)[:, 0]
        return s + noise * np.float32(np.sqrt(pn / 2))


class SimRadio(Radio):
    """A radio that replays a SigMF recording (see the module docstring).

    Args:
        recording: path of a ``.sigmf-meta`` (or a Recording), or None for no recording.
        config: initial settings; None = the recording's rate and frequency.
        loop: replay forever (True) or once (False).
        realtime: pace blocks at the sample rate.
        front_end: a FrontEnd, its name, or None.
        seed: seed for front-end phase noise and loopback noise.
        faults: Fault objects or specs (``"overflow@10:3"``).
        loopback: the TX -> RX LoopbackChannel.
        profile: a firmware Profile (or name) to validate settings against.
        max_lag_blocks: in realtime mode, a caller more than this many blocks behind loses
            samples (reported as an overflow), as on a real radio.
    """

    scheme = "sim"

    def __init__(self, recording=None, config: RadioConfig | None = None, *, loop: bool = True,
                 realtime: bool = False, front_end=None, seed: int = 0, faults=(),
                 loopback: LoopbackChannel | None = None, profile=None, max_lag_blocks: int = 8):
        from sdrkit.capture import open_recording
        from sdrkit.profiles import Profile, load_profile
        from sdrkit.radio.frontends import FrontEnd, get_front_end

        self.recording = None
        self._data = None
        if recording is not None:
            self.recording = recording if hasattr(recording, "read") else open_recording(recording)
            rec = self.recording
            if rec.num_samples == 0:
                raise ConfigError(f"{rec.meta_path}: the recording has no samples to replay")
            if rec.num_samples * 8 <= _IN_RAM_BYTES:
                self._data = rec.read()
            self.rec_fs, self.rec_fc = rec.sample_rate, rec.center_frequency
            rc = rec.global_info.get("sdrkit:radio_config") or {}
            self.rec_gain = float(rc.get("rx_hardwaregain", RadioConfig.rx_hardwaregain))
        else:
            self.rec_fs, self.rec_fc, self.rec_gain = None, None, RadioConfig.rx_hardwaregain
        if config is None:
            config = RadioConfig(rx_lo=self.rec_fc if self.rec_fc is not None else RadioConfig.rx_lo,
                                 sample_rate=self.rec_fs or RadioConfig.sample_rate, rx_hardwaregain=self.rec_gain)
        if isinstance(profile, str):
            profile = load_profile(profile)
        if isinstance(front_end, str):
            front_end = get_front_end(front_end)
        self.front_end: FrontEnd | None = front_end
        self.loop, self.realtime, self.seed = bool(loop), bool(realtime), int(seed)
        self.faults = sorted((f if isinstance(f, Fault) else Fault.parse(f) for f in faults), key=lambda f: f.block)
        self.loopback_channel = loopback or LoopbackChannel()
        self.max_lag_blocks = int(max_lag_blocks)
        self._rng = np.random.default_rng([self.seed, 1])
        self._pos = 0                 # next recording sample to read
        self._block = 0               # rx() calls so far
        self._disconnected = False
        self._txl: _Loopback | None = None
        self._agc_gain = 1.0
        self._t0: float | None = None
        self._produced = 0            # output samples produced (incl. dropped), for pacing
        self._pending = np.zeros(0, np.complex64)
        self._eof = False
        super().__init__(config, profile if isinstance(profile, Profile) else None)
        self._apply(self._config)

    # ---- construction from a URI -----------------------------------------------------------
    @classmethod
    def from_uri(cls, rest: str, config: RadioConfig | None = None, **options) -> "SimRadio":
        """Build from the part of a ``sim:`` URI after the scheme (see module docstring)."""
        path, _, query = rest.partition("?")
        opts = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        opts.update({k: str(v) for k, v in options.items()})
        known = {"loop", "realtime", "front_end", "seed", "faults", "loopback_snr", "loopback_cfo", "loopback_delay",
                 "loopback_taps", "profile", "rx_lo", "sample_rate", "rx_rf_bandwidth", "rx_hardwaregain",
                 "gain_control_mode", "rx_buffer_size", "max_lag_blocks"}
        unknown = set(opts) - known
        if unknown:
            raise ConfigError(f"unknown sim: option(s) {sorted(unknown)}; known: {sorted(known)}")

        def flag(name, default):
            v = opts.get(name)
            if v is None:
                return default
            if v.lower() in ("1", "true", "yes", "on", ""):
                return True
            if v.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"sim: option {name}={v!r} must be 0 or 1")

        def num(name, typ=float):
            try:
                return typ(float(opts[name])) if typ is int else typ(opts[name])
            except ValueError:
                raise ConfigError(f"sim: option {name}={opts[name]!r} is not a number") from None

        taps = (1 + 0j,)
        if opts.get("loopback_taps"):
            try:
                taps = tuple(complex(t.replace(" ", "")) for t in opts["loopback_taps"].split(";"))
            except ValueError:
                raise ConfigError(f"sim: loopback_taps={opts['loopback_taps']!r} must be complex numbers "
                                  f"separated by ';', e.g. 1;0.3+0.2j") from None
        chan = LoopbackChannel(
            snr_db=num("loopback_snr") if "loopback_snr" in opts else 30.0,
            cfo_hz=num("loopback_cfo") if "loopback_cfo" in opts else 0.0,
            delay=num("loopback_delay", int) if "loopback_delay" in opts else 0, taps=taps)
        faults = [f for f in opts.get("faults", "").split(",") if f.strip()]
        radio = cls(path or None, config, loop=flag("loop", True), realtime=flag("realtime", False),
                    front_end=opts.get("front_end") or None, seed=num("seed", int) if "seed" in opts else 0,
                    faults=faults, loopback=chan, profile=opts.get("profile"),
                    max_lag_blocks=num("max_lag_blocks", int) if "max_lag_blocks" in opts else 8)
        changes = {}
        for k in ("rx_lo", "sample_rate", "rx_rf_bandwidth", "rx_hardwaregain"):
            if k in opts:
                changes[k] = num(k)
        if "rx_buffer_size" in opts:
            changes["rx_buffer_size"] = num("rx_buffer_size", int)
        if "gain_control_mode" in opts:
            changes["gain_control_mode"] = opts["gain_control_mode"]
        if changes:
            radio.configure(**changes)
        return radio

    # ---- settings -------------------------------------------------------------------------
    def _apply(self, config: RadioConfig) -> None:
        from sdrkit.dsp.resample import FrequencyShifter, StreamResampler

        if self.recording is not None:
            lo, hi = config.rx_lo - config.bandwidth / 2, config.rx_lo + config.bandwidth / 2
            rlo, rhi = self.rec_fc - self.rec_fs / 2, self.rec_fc + self.rec_fs / 2
            tol = 1e-9 * max(abs(rhi), 1.0)
            if lo < rlo - tol or hi > rhi + tol:
                raise ConfigError(
                    f"requested band {lo / 1e6:.6g}..{hi / 1e6:.6g} MHz (rx_lo={config.rx_lo:g} Hz, "
                    f"rx_rf_bandwidth={config.bandwidth:g} Hz) is outside the recorded band "
                    f"{rlo / 1e6:.6g}..{rhi / 1e6:.6g} MHz of {self.recording.meta_path.name}; tune inside it or "
                    f"lower sample_rate / rx_rf_bandwidth")
            offset = self.rec_fc - config.rx_lo
            self._shift = FrequencyShifter(offset, self.rec_fs) if offset else None
            self._resampler = StreamResampler(self.rec_fs, config.sample_rate) \
                if config.sample_rate != self.rec_fs else None
        else:
            self._shift = self._resampler = None
        # stale samples from the old settings are discarded, like a real radio after a retune
        self._pending = np.zeros(0, np.complex64)
        self._gain = np.float32(10 ** ((config.rx_hardwaregain - self.rec_gain) / 20))
        self._fe_state = self.front_end.state(config.sample_rate, self.seed) if self.front_end else None
        if self._txl is not None:
            self._txl = _Loopback(self._txl.wave, self._txl.cyclic, self.loopback_channel, config.sample_rate, self._rng)

    # ---- samples --------------------------------------------------------------------------
    def _source(self, n: int) -> np.ndarray:
        """Next ``n`` samples of the recording at its own rate (loops, or stops at the end)."""
        rec_n = self.recording.num_samples
        parts, need = [], n
        while need > 0:
            if self._pos >= rec_n:
                if not self.loop:
                    self._eof = True
                    break
                self._pos = 0
            k = min(need, rec_n - self._pos)
            if self._data is not None:
                parts.append(self._data[self._pos:self._pos + k])
            else:
                parts.append(self.recording.read(self._pos, k))
            self._pos += k
            need -= k
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, np.complex64)

    def _produce(self, n: int) -> np.ndarray:
        """``n`` output samples (fewer only at the end of a one-shot replay)."""
        if self.recording is None:
            return np.zeros(n, np.complex64)
        if self._shift is None and self._resampler is None:
            return self._source(n).copy()   # the one copy of the fast path
        out = [self._pending] if len(self._pending) else []
        have = len(self._pending)
        ratio = self._config.sample_rate / self.rec_fs
        while have < n and not self._eof:
            chunk = self._source(max(int((n - have) / ratio) + 64, 1024))
            if self._shift is not None:
                chunk = self._shift.process(chunk)
            if self._resampler is not None:
                chunk = self._resampler.process(chunk)
            out.append(chunk)
            have += len(chunk)
        buf = np.concatenate(out) if out else np.zeros(0, np.complex64)
        self._pending = buf[n:]
        return buf[:n].copy()

    def _rx(self) -> tuple[np.ndarray, int]:
        if self._disconnected:
            raise RadioDisconnected(f"simulated radio disconnected (injected fault); open the radio again")
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
            for _ in range(f.count):       # overflow: the radio drops whole blocks
                lost += len(self._produce(n))
        if self.realtime:
            lost += self._pace(n)
        if self._eof and not len(self._pending):
            raise EOFError("end of recording (one-shot replay)")
        x = self._produce(n)
        if len(x) == 0:
            raise EOFError("end of recording (one-shot replay)")
        if self._gain != 1:
            x *= self._gain
        if self._config.gain_control_mode != "manual":
            x = self._agc(x)
        if self._txl is not None:
            x = x + self._txl.next(len(x))
        elif self.recording is None:
            x = x + self._noise_floor(len(x))
        if self._fe_state is not None:
            x = self._fe_state.apply(x)
        self._block += 1
        self._produced += len(x)
        return x, lost

    def _noise_floor(self, n: int) -> np.ndarray:
        return self._rng.standard_normal((n, 2), dtype=np.float32).view(np.complex64)[:, 0] * np.float32(1e-3)

    def _agc(self, x: np.ndarray) -> np.ndarray:
        rms = float(np.sqrt(np.mean(np.abs(x) ** 2))) or 1e-9
        target = 0.25      # -12 dBFS
        alpha = {"slow_attack": 0.1, "fast_attack": 0.7, "hybrid": 0.3}[self._config.gain_control_mode]
        self._agc_gain = (1 - alpha) * self._agc_gain + alpha * target / rms
        return x * np.float32(self._agc_gain)

    def _pace(self, n: int) -> int:
        """Sleep until the next block is due; drop samples if the caller fell behind."""
        fs = self._config.sample_rate
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + (self._produced + n) / fs
        if due > now:
            time.sleep(due - now)
            return 0
        behind = int((now - self._t0) * fs) - self._produced
        if behind > self.max_lag_blocks * n:
            drop = (behind // n) * n
            dropped = 0
            while dropped < drop and not self._eof:
                dropped += len(self._produce(min(n, drop - dropped)))
            self._produced += dropped
            return dropped
        return 0

    def _tx(self, samples: np.ndarray, cyclic: bool) -> None:
        self._txl = _Loopback(samples.copy(), cyclic, self.loopback_channel, self._config.sample_rate, self._rng)

    def tx_destroy_buffer(self) -> None:
        """Stop transmitting (pyadi-iio's name)."""
        self._txl = None

    def _close(self) -> None:
        if self.recording is not None:
            self.recording.close()
        self._data = None

    @property
    def position(self) -> int:
        """Next sample index in the recording (at the recording's rate)."""
        return self._pos

    def __repr__(self) -> str:
        src = self.recording.meta_path.name if self.recording is not None else "no recording"
        return f"SimRadio({src}, rx_lo={self.rx_lo:g} Hz, sample_rate={self.sample_rate:g} S/s)"
