"""A virtual ADALM-Pluto: an IIOD (libiio network protocol, v0.2x ASCII) server.

``sdrkit emulate pluto --replay REC`` serves the Pluto IIO context on 127.0.0.1:30431, so the
real ``adi.Pluto("ip:127.0.0.1")`` (pyadi-iio over libiio) talks to it exactly as to a device:

* one thread per TCP connection (the control connection plus one per buffer);
* attribute state (LOs, sample rate, bandwidths, gain mode and gains, loopback) kept per
  sysfs file and validated against a firmware profile: an out-of-range write gets
  ``-22`` (EINVAL), as from the AD9363 driver;
* RX gain in an AGC mode (``slow_attack``, ``fast_attack``, ``hybrid``) behaves like the
  ad9361 driver's ``ad9361_set_rx_gain``: a ``hardwaregain`` write is accepted (the byte count
  comes back) and ignored, and reading ``hardwaregain`` gives the gain the AGC chose, not the
  value written. (pyadi-iio's ``rx_hardwaregain_chan0`` setter does not even send the write
  outside manual mode; sdrkit's ``pluto:`` backend refuses it with a ConfigError.)
* one RX channel, as on the 1R1T Pluto: a multi-channel recording is refused (replay it
  with ``sim:``);
* RX buffers (``iio:device3``, 12-bit samples sign-extended in int16) come from a
  :class:`~sdrkit.radio.sim.SimRadio` replaying the recording, retuned and resampled to the
  current settings, then the RX gain (manual, or the time-driven AGC of
  :mod:`~sdrkit.radio.emulator.hardware`, bounded to the gain table); tuned outside the
  recording, RX is a synthesized band (carriers over a noise floor), and tuned back inside it
  the replay resumes (logged both ways);
* TX buffers (``iio:device2``, int16 with 12 MSBs used), or the FPGA DDS tone when no TX buffer
  is open, go through the TX attenuation and a cable (:data:`CABLE_GAIN_DB`) into RX with the
  simulated channel, cyclic or once; with ``loopback=1`` (digital) RX is the DAC's words
  bit-exact (``word >> 4``), zeros when TX is off;
* streams are paced (default): RX produced at the sample rate into the profile's kernel
  buffers and delivered no faster than its host rate; a client that falls behind loses whole
  buffers (``stats["rx_dropped"]``, the RX overflow bit of the AXI status register at
  0x80000088, logged); a TX push blocks while the kernel buffers are full and a non-cyclic TX
  that runs dry sets the underflow bit; ``pace=False`` is as fast as possible;
* ``direct_reg_access`` is a small register file per device (select, write, W1C status), not
  the address read back; ``in_voltage0_rssi`` is measured from what was received;
* unknown or malformed commands get ``-22`` and the connection goes on; a client that
  vanishes mid-buffer only ends its own thread;
* one client cannot break the device for the others: a malformed request is refused before
  it changes any shared state (an empty ``WRITEBUF`` gets ``-22`` and stores no TX wave), and
  an error inside a command answers that client alone with ``-errno`` and is counted in
  ``stats["errors"]`` (an sdrkit error: its errno, the connection goes on; anything else:
  ``-5`` EIO, logged with its traceback, and that connection is closed because its state is
  unknown);
* every request has a bounded cost: a buffer is at most the profile's ``rx_buffer_size`` max
  (a bigger OPEN gets ``-12`` ENOMEM, as from the kernel), a READBUF or WRITEBUF at most the
  opened buffer (``-22``); RX is made and sent in chunks of :data:`CHUNK_SAMPLES`, so memory
  stays at one chunk; an attribute write is at most one sysfs page (:data:`MAX_WRITE`) and a
  value the client could read back (:data:`MAX_VALUE`), checked against the context's
  ``*_available`` lists; at most :data:`MAX_CONNECTIONS` connections are served, one more is
  answered ``-16`` (EBUSY) and closed;
* the attribute lock is never held while samples are made or a retune resamples, so one
  client's big buffer does not stall another's settings (RX buffers of two clients take turns
  by chunk, since they share one simulated receiver).

Protocol reference: shared/reference/iiod-protocol.md (libiio 0.24).
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import socketserver
import threading

import numpy as np

from sdrkit.errors import ConfigError, RadioDisconnected, RadioTimeout, SdrkitError
from sdrkit.radio.emulator.context import IioContext
from sdrkit.radio.emulator.hardware import (RX_OVERFLOW, STATUS_REG, TX_UNDERFLOW, Agc, AxiStatus, RxStream,
                                            SynthBand, TxStream, dds_wave)
from sdrkit.radio.pluto import complex64_to_rx_ci16, tx_ci16_to_complex64

log = logging.getLogger("sdrkit.emulator")

VERSION_LINE = b"0.24.sdrkit0\n"   # major.minor.<7-character tag>: libiio needs >= 7 after the 2nd dot
PHY, TXDEV, RXDEV = "iio:device0", "iio:device2", "iio:device3"
MAX_LINE = 4096
MAX_WRITE = 4096               # one attribute write: a sysfs store takes one page (filter_fir_config ~1.5 kB)
MAX_DRAIN = 1 << 20            # a longer refused payload is skipped to stay in step; past this: hang up
MAX_VALUE = 1023               # a stored value: libiio reads at most 1023 bytes (a longer one is EIO to all)
CHUNK_SAMPLES = 1 << 18        # RX is made and sent in chunks of this many samples (1 MiB at I+Q)
MAX_CONNECTIONS = 16           # control + RX + TX per client: 5 clients; more are refused (-EBUSY)
_TOKEN = re.compile(r"^(iio:)?[A-Za-z0-9._,-]+$")
_NUMBER = re.compile(r"-?\d+(\.\d+)?( dB)?")
_FIR_HEAD = re.compile(r"(RX|TX) (\d+) GAIN (-?\d+) (DEC|INT) (\d+)")
CABLE_GAIN_DB = 2.0            # TX port -> RX port (loopback 0 or 2): a full-scale tone at 0 dB TX attenuation
#                                arrives at +2 dBFS at 0 dB RX gain (pyadi-iio's AD9364 loopback windows need >= +1)
LOOPBACK_MODES = ("0", "1", "2")   # ad9361 debug attr loopback: 0 off, 1 digital (TX data -> RX data), 2 RF


class _Error(Exception):
    def __init__(self, code: int):
        self.code = code


def _errno_of(exc: SdrkitError) -> int:
    """The errno a Linux iiod would answer for what went wrong (as the driver would fail)."""
    if isinstance(exc, ConfigError):
        return errno.EINVAL
    if isinstance(exc, RadioTimeout):
        return errno.ETIMEDOUT
    if isinstance(exc, RadioDisconnected):
        return errno.EPIPE
    return errno.EIO


def _num(text: str) -> float:
    m = re.search(r"-?\d+(\.\d+)?", text)
    if not m:
        raise _Error(errno.EINVAL)
    return float(m.group(0))


def _fir_summary(text: str) -> str:
    """What the ad9361 driver reads back from ``filter_fir_config`` after a write of ``text``
    (``RX 3 GAIN -6 DEC 4`` / ``TX 3 GAIN 0 INT 4`` headers, then one ``tap[,tap]`` line per
    tap, int16, at most 128 taps); a file it would not parse is EINVAL."""
    heads, taps = {"RX": 1, "TX": 1}, 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "BWRX", "BWTX", "RTX", "RRX")):
            continue
        head = _FIR_HEAD.fullmatch(line)
        if head:
            heads[head.group(1)] = int(head.group(5))
            continue
        cols = line.split(",")
        if len(cols) > 2 or not all(re.fullmatch(r"-?\d{1,6}", c.strip()) for c in cols) \
                or not all(-32768 <= int(c) <= 32767 for c in cols):
            raise _Error(errno.EINVAL)
        taps += 1
    if not 1 <= taps <= 128:
        raise _Error(errno.EINVAL)
    return f"FIR Rx: {taps},{heads['RX']} Tx: {taps},{heads['TX']}"


def _written_num(text: str) -> float:
    """A number written to a numeric attribute, parsed as the kernel's sysfs stores do: the
    whole value (one trailing newline allowed) is a decimal, so ``3e1`` or ``30 junk`` is
    EINVAL rather than silently 3 or 30."""
    t = text.strip()
    if not re.fullmatch(r"[+-]?\d{1,20}(\.\d{1,20})?", t):
        raise _Error(errno.EINVAL)
    return float(t)


class VirtualPluto:
    """State of one emulated Pluto shared by all connections (thread-safe)."""

    def __init__(self, recording=None, profile: str = "pluto-ad9363", seed: int = 0, front_end=None,
                 loopback=None, pace: bool = True, host_rate: float | None = None):
        """``pace``: RX and TX streams run at the sample rate, RX delivered no faster than
        ``host_rate`` (samples/s; default: the profile's ``host_streaming_rate``, ~6 MS/s over
        USB 2.0), and a client that falls behind loses whole buffers (counted in
        ``stats["rx_dropped"]``, flagged in the RX status register); ``pace=False`` serves as
        fast as possible and never drops."""
        import scipy.signal  # noqa: F401 - the resampler needs it: import it now, not in a client's first READBUF
        from sdrkit.profiles import load_profile
        from sdrkit.radio.sim import LoopbackChannel

        self.ctx = IioContext()
        self.profile = load_profile(profile)
        self.recording = recording
        self.seed = seed
        self.front_end = front_end
        self.loopback = loopback or LoopbackChannel(snr_db=30.0)
        # Two locks: ``lock`` guards the attribute store, the TX wave and the stats, and is held
        # only for dictionary-sized work; ``rx_lock`` guards the SimRadio behind RX and is held
        # while samples are made (one chunk at a time) and while a retune resamples, so a big
        # buffer on one connection never stalls another client's attribute traffic.
        self.lock = threading.RLock()
        self.rx_lock = threading.Lock()
        self.tx_wave: tuple[np.ndarray, bool] | None = None
        self._radio = None
        self._settings_gen = 0         # bumped by every attribute write
        self._tx_gen = 0               # bumped by every TX wave change
        self._radio_gens = (-1, -1)    # (settings, tx) generations the SimRadio was last given
        self.max_buffer_samples = int(self.profile.ranges["rx_buffer_size"].max) \
            if "rx_buffer_size" in self.profile.ranges else 1 << 24
        self.stats = {"connections": 0, "refused_connections": 0, "errors": 0, "rx_samples": 0,
                      "tx_samples": 0, "rx_dropped": 0, "overflows": 0, "underflows": 0, "retunes": 0,
                      "refused_settings": 0}
        self.pace = bool(pace)
        host = host_rate if host_rate is not None else self.profile.host_streaming_rate.get("value")
        self.host_rate = float(host) if host else None
        buf = self.profile.rx_buffering
        self.kernel_buffers = int(buf.buffers) if buf is not None and buf.buffers else 4
        self.regs = {PHY: AxiStatus(axi=False), TXDEV: AxiStatus(axi=True), RXDEV: AxiStatus(axi=True)}
        self.rx_streams: set = set()
        self.tx_streams: set = set()
        self.tx_raw: tuple[np.ndarray, bool] | None = None   # the last TX DMA buffer as sent (digital loopback)
        self._dl_pos = 0
        self._dl_gen = -1
        self._replaying = False
        self._last_overflow_log = 0.0
        self._rssi_at = None          # ((settings, tx) generations, time) of the last RSSI measurement
        self.synth = SynthBand(seed)
        self.rec_band: tuple[float, float] | None = None     # (center, rate) of the recording
        self.ref_gain = 30.0          # the RX gain a recording's levels are at (its sdrkit:radio_config)
        txd = self.ctx.device(TXDEV)
        self._dds_keys = {c.name: c.attrs for c in txd.channels if c.name and c.name.startswith("TX")}
        self.stall_rx = threading.Event()      # fault injection: RX buffers stop coming (tests)
        self.sockets: set = set()
        # start from a sane state (the snapshot in pluto.xml has 71 dB gain, slow_attack)
        v = self.ctx.values
        self.power_on_rate = _num(v[f"{PHY}/in_voltage_sampling_frequency"])   # 30.72 MS/s in pluto.xml
        self.host_rate_warned: set[float] = set()   # rates above the host link already warned about
        v[f"{PHY}/in_voltage0_gain_control_mode"] = "manual"
        v[f"{PHY}/in_voltage0_hardwaregain"] = "30.000000 dB"
        if recording is not None:
            from sdrkit.capture import open_recording

            rec = open_recording(recording)
            fc, fs, nch = rec.center_frequency, rec.sample_rate, rec.num_channels
            rc = rec.global_info.get("sdrkit:radio_config") or {}
            self.ref_gain = float(rc.get("rx_hardwaregain", self.ref_gain))
            rec.close()
            if nch != 1:
                raise ConfigError(f"{rec.meta_path}: the recording has {nch} channels and the virtual Pluto "
                                  f"one RX channel (1R1T); replay it with sim:{rec.meta_path} "
                                  f"(all channels), or write the channel to serve to a recording of its own")
            lo = self.profile.ranges["rx_lo"]
            if lo.min <= fc <= lo.max:
                v[f"{PHY}/out_altvoltage0_RX_LO_frequency"] = str(int(fc))
                v[f"{PHY}/out_altvoltage1_TX_LO_frequency"] = str(int(fc))
            sr = self.profile.ranges["sample_rate"]
            if sr.min <= fs <= sr.max:
                self._set_rate(int(fs))
                v[f"{PHY}/in_voltage_rf_bandwidth"] = str(int(min(fs, self.profile.ranges["rx_rf_bandwidth"].max)))
            self.rec_band = (float(fc), float(fs))
        g = self.profile.ranges["rx_hardwaregain"]
        self.agc = Agc(self.ref_gain, g.min, g.max)

    def describe(self) -> str:
        """One line: what RX serves, where (the recording's band), and the pacing."""
        if self.rec_band is not None:
            fc, fs = self.rec_band
            what = (f"replaying {self.recording} : band {(fc - fs / 2) / 1e6:.6g}..{(fc + fs / 2) / 1e6:.6g} MHz "
                    f"({fs / 1e6:.6g} MS/s at {fc / 1e6:.9g} MHz); tuned outside it RX serves a synthesized band")
        else:
            what = "no recording: RX serves a synthesized band (noise floor and carriers) plus TX loopback"
        if self.pace:
            host = f", host link {self.host_rate / 1e6:.3g} MS/s" if self.host_rate else ""
            pace = f"paced at the sample rate{host}, {self.kernel_buffers} kernel buffers"
        else:
            pace = "as fast as possible (not paced)"
        return f"{what}; {pace}"

    # ---- settings ------------------------------------------------------------------------
    def _warn_host_rate(self, fs: float, streaming: bool = False) -> None:
        """Warn that ``fs`` is above the host link, once per rate for this server (every later
        stream at that rate still counts its drops in ``stats`` and logs its overflows)."""
        if fs in self.host_rate_warned:
            return
        self.host_rate_warned.add(fs)
        how = ""
        if streaming:
            how = " (RX streams at the power-on default: set sample_rate)" if fs == self.power_on_rate \
                else " (RX streams at it)"
        log.warning("sample_rate=%.6g MS/s%s is above the %s profile's sustainable host rate of %.3g MS/s "
                    "(USB 2.0): a continuous stream drops samples%s", fs / 1e6, how, self.profile.name,
                    self.host_rate / 1e6, " (counted)" if self.pace else " on a real Pluto (this emulator is not paced)")

    def stream_started(self) -> None:
        """An RX buffer was opened: warn (once per rate) when it streams above the host link."""
        fs = self.rx_rate()
        if self.host_rate and fs > self.host_rate:
            self._warn_host_rate(fs, streaming=True)

    def _set_rate(self, fs: int) -> None:
        v = self.ctx.values
        for key in (f"{PHY}/in_voltage_sampling_frequency", f"{PHY}/out_voltage_sampling_frequency",
                    f"{RXDEV}/in_voltage_sampling_frequency", f"{TXDEV}/out_voltage_sampling_frequency"):
            v[key] = str(fs)
        v[f"{PHY}/attrs/rx_path_rates"] = (f"BBPLL:983040002 ADC:{fs * 8} R2:{fs * 4} R1:{fs * 2} "
                                           f"RF:{fs} RXSAMP:{fs}")
        v[f"{PHY}/attrs/tx_path_rates"] = (f"BBPLL:983040002 DAC:{fs * 4} T2:{fs * 4} T1:{fs * 2} "
                                           f"TF:{fs} TXSAMP:{fs}")

    def _check(self, setting: str, value: float) -> None:
        rng = self.profile.ranges.get(setting)
        if rng is not None and value not in rng:
            self.stats["refused_settings"] += 1
            log.warning("refused %s=%g: outside the %s profile's %g..%g (-EINVAL, as the driver answers)",
                        setting, value, self.profile.name, rng.min, rng.max)
            raise _Error(errno.EINVAL)

    def _dds_channels(self) -> dict[str, dict[str, str]]:
        v = self.ctx.values
        return {name: {a: v.get(k, "") for a, k in attrs.items()} for name, attrs in self._dds_keys.items()}

    def _write_dds(self, key: str, text: str) -> bool:
        """A DDS channel attribute (``TX1_I_F1_frequency`` ...); False if ``key`` is not one."""
        for name, attrs in self._dds_keys.items():
            attr = next((a for a, k in attrs.items() if k == key), None)
            if attr is None:
                continue
            if attr not in ("frequency", "scale", "phase", "raw"):
                return False
            f = _written_num(text)
            fs = _num(self.ctx.values[f"{TXDEV}/out_voltage_sampling_frequency"])
            ok = {"frequency": -fs / 2 <= f <= fs / 2 or 0 <= f <= fs, "scale": 0 <= f <= 1,
                  "phase": 0 <= f < 360000, "raw": f in (0, 1)}[attr]
            if not ok:
                raise _Error(errno.EINVAL)
            if attr == "raw":
                # cf-axi-dds: one enable for the whole core (raw of any tone turns every tone on/off)
                for a in self._dds_keys.values():
                    self.ctx.values[a["raw"]] = str(int(f))
            elif attr == "scale":
                self.ctx.values[key] = f"{f:.6f}"
            else:
                self.ctx.values[key] = str(int(f))
            self._tx_gen += 1         # the analog TX path plays the new tone
            return True
        return False

    def write_attr(self, key: str, text: str) -> None:
        """Validate and store one attribute write (``key`` = device/sysfs file)."""
        with self.lock:
            v = self.ctx.values
            if key.startswith(PHY + "/") and key.endswith("_LO_frequency"):
                f = _written_num(text)
                self._check("rx_lo" if "RX_LO" in key else "tx_lo", f)
                if v[key] != str(int(f)):
                    self.stats["retunes"] += 1
                    log.info("retune %s=%.9g MHz", "rx_lo" if "RX_LO" in key else "tx_lo", f / 1e6)
                v[key] = str(int(f))
            elif key == f"{PHY}/in_voltage_sampling_frequency" or key == f"{PHY}/out_voltage_sampling_frequency":
                f = _written_num(text)
                self._check("sample_rate", f)
                if v[f"{PHY}/in_voltage_sampling_frequency"] != str(int(f)):
                    # a client rewriting the rate it read (the pluto: backend does, on open) says nothing:
                    # a rate above the host link is reported when a client sets it, or streams at it
                    if self.host_rate and f > self.host_rate:
                        self._warn_host_rate(f)
                    log.info("sample_rate=%.6g MS/s", f / 1e6)
                self._set_rate(int(f))
                self._tx_gen += 1          # a DDS tone is defined in samples: rebuild it at the new rate
            elif key == f"{PHY}/in_voltage_rf_bandwidth":
                f = _written_num(text)
                self._check("rx_rf_bandwidth", f)
                v[key] = str(int(f))
            elif key == f"{PHY}/debug/loopback":
                if text.strip() not in LOOPBACK_MODES:
                    raise _Error(errno.EINVAL)
                if v[key] != text.strip():
                    log.info("loopback=%s (%s)", text.strip(),
                             {"0": "off", "1": "digital: TX data -> RX data", "2": "RF"}[text.strip()])
                v[key] = text.strip()
                self._tx_gen += 1
            elif key.endswith("/debug/direct_reg_access") and key.split("/")[0] in self.regs:
                try:
                    self.regs[key.split("/")[0]].write(text.strip())
                except ValueError:
                    raise _Error(errno.EINVAL) from None
                return
            elif key.startswith(TXDEV + "/") and self._write_dds(key, text):
                pass
            elif key == f"{PHY}/in_voltage0_hardwaregain":
                f = _written_num(text)
                if v[f"{PHY}/in_voltage0_gain_control_mode"] != "manual":
                    # ad9361_set_rx_gain: "Rx gain can be set in MGC mode only", returns 0
                    log.info("ignored hardwaregain=%s in gain_control_mode %s (the AGC owns the gain)",
                             text, v[f"{PHY}/in_voltage0_gain_control_mode"])
                    return
                self._check("rx_hardwaregain", f)
                v[key] = f"{f:.6f} dB"
            elif key == f"{PHY}/out_voltage0_hardwaregain":
                f = _written_num(text)
                self._check("tx_hardwaregain", f)
                v[key] = f"{f:.6f} dB"
            elif key == f"{PHY}/in_voltage0_gain_control_mode":
                modes = v.get(f"{PHY}/in_voltage_gain_control_mode_available", "").split()
                if text.strip() not in modes:
                    raise _Error(errno.EINVAL)
                gain_key = f"{PHY}/in_voltage0_hardwaregain"
                if v[key] != "manual" and text.strip() == "manual":
                    v[gain_key] = self.read_attr(gain_key)   # manual gain starts where the AGC left it
                v[key] = text.strip()
            else:
                v[key] = self._plain_value(key, text)
            self._settings_gen += 1     # the next RX buffer applies the new settings

    def _plain_value(self, key: str, text: str) -> str:
        """Check a write to an attribute the emulator does not model, as far as the served
        context says (refused: EINVAL): the value fits a read (<= MAX_VALUE bytes, one line),
        a numeric attribute stays numeric, and a phy attribute with an ``*_available`` list
        takes one of its words or a number in its ``[min step max]``. ``filter_fir_config``
        reads back as the driver's summary."""
        v = self.ctx.values
        if key == f"{PHY}/attrs/filter_fir_config":
            return _fir_summary(text)
        t = text.strip()                  # as sysfs: a trailing newline is not part of the value
        if len(t.encode()) > MAX_VALUE or not t.isprintable():
            raise _Error(errno.EINVAL)
        if _NUMBER.fullmatch(v.get(key, "").strip()):
            _written_num(t)
        avail = v.get(key + "_available", "").strip() if key.startswith(PHY + "/") else ""
        if avail.startswith("["):
            lo, _, hi = (float(a) for a in avail.strip("[]").split())
            if not lo <= _written_num(t) <= hi:
                raise _Error(errno.EINVAL)
        elif avail and t not in avail.split():
            raise _Error(errno.EINVAL)
        return t

    def read_attr(self, key: str) -> str:
        """The value a READ of ``key`` returns (RX gain in an AGC mode: the gain the AGC chose)."""
        if key == f"{PHY}/in_voltage0_rssi":
            self._measure_rssi()
        with self.lock:
            v = self.ctx.values
            if key == f"{PHY}/in_voltage0_hardwaregain" and v[f"{PHY}/in_voltage0_gain_control_mode"] != "manual":
                if self.agc.mode != "manual":
                    rng = self.profile.ranges["rx_hardwaregain"]
                    return f"{min(max(round(self.agc.gain_db), rng.min), rng.max):.6f} dB"   # 1 dB steps
            if key == f"{PHY}/in_voltage0_rssi":
                return f"{self.agc.rssi_db():.2f} dB"
            if key.endswith("/debug/direct_reg_access") and key.split("/")[0] in self.regs:
                dev = key.split("/")[0]
                regs = self.regs[dev]
                if regs.axi and regs.addr == STATUS_REG:
                    self._update_status(dev)
                return f"0x{regs.read():X}"
            return v.get(key, "")

    def _measure_rssi(self) -> None:
        """The chip measures RSSI continuously: when the last RX block is stale (settings or TX
        changed since, or older than 0.1 s), measure 1 ms of what the antenna port receives now
        (the replay or synthesized band plus the TX loopback; it moves the replay on by that much,
        as time passing would). Takes ``rx_lock`` then ``lock``, so call it with neither held."""
        import time

        with self.rx_lock:
            with self.lock:
                cfg = self.config()
                gens = (self._settings_gen, self._tx_gen)
                if self._rssi_at is not None and self._rssi_at[0] == gens and time.monotonic() - self._rssi_at[1] < 0.1:
                    return
                if self.ctx.values[f"{PHY}/debug/loopback"].strip() == "1":
                    return
                wave = self._analog_tx()
            n = max(1024, int(cfg.sample_rate * 1e-3))
            ref = cfg.replace(gain_control_mode="manual", rx_hardwaregain=self.ref_gain, rx_buffer_size=n)
            x = self._source(ref, gens, wave).rx().samples
            if not self._replaying:
                x = x + self.synth.next(n, cfg.rx_lo, cfg.sample_rate)
            self.agc.measure(x)
            with self.lock:
                self._rssi_at = (gens, time.monotonic())

    def _update_status(self, dev: str) -> None:
        """Raise the DMA status flags the streams have earned by now (``lock`` held)."""
        if dev == RXDEV:
            fs = _num(self.ctx.values[f"{PHY}/in_voltage_sampling_frequency"])
            if any(s.overflowing(fs) for s in list(self.rx_streams)):
                self.regs[RXDEV].status |= RX_OVERFLOW
        elif dev == TXDEV:
            if any(s.ran_dry() for s in list(self.tx_streams)):
                self.regs[TXDEV].status |= TX_UNDERFLOW

    def config(self):
        """The RadioConfig the current attribute state describes."""
        from sdrkit.radio.base import RadioConfig

        v = self.ctx.values
        mode = v[f"{PHY}/in_voltage0_gain_control_mode"]
        return RadioConfig(
            rx_lo=_num(v[f"{PHY}/out_altvoltage0_RX_LO_frequency"]),
            tx_lo=_num(v[f"{PHY}/out_altvoltage1_TX_LO_frequency"]),
            sample_rate=_num(v[f"{PHY}/in_voltage_sampling_frequency"]),
            rx_rf_bandwidth=_num(v[f"{PHY}/in_voltage_rf_bandwidth"]),
            gain_control_mode=mode if mode in ("manual", "slow_attack", "fast_attack", "hybrid") else "manual",
            rx_hardwaregain=_num(v[f"{PHY}/in_voltage0_hardwaregain"]),
            tx_hardwaregain=_num(v[f"{PHY}/out_voltage0_hardwaregain"]))

    # ---- samples -----------------------------------------------------------------------------
    def in_recording(self, cfg) -> bool:
        """True when ``cfg``'s band (rx_lo +- rx_rf_bandwidth / 2) lies inside the recording's."""
        if self.rec_band is None:
            return False
        fc, fs = self.rec_band
        lo, hi = cfg.rx_lo - cfg.bandwidth / 2, cfg.rx_lo + cfg.bandwidth / 2
        tol = 1e-9 * max(abs(fc + fs / 2), 1.0)
        return lo >= fc - fs / 2 - tol and hi <= fc + fs / 2 + tol

    def _source(self, cfg, gens: tuple[int, int], wave):
        """The SimRadio behind RX, configured like the attributes said when ``gens`` were read:
        the replay while the band is inside the recording, else a radio without a recording (its
        noise floor, under the synthesized band). Kept across changes, so the replay position and
        phase continue; rebuilt whenever the band moves into or out of the recording (in either
        direction: tuning back into the recording replays it again). ``cfg`` is at the reference
        gain (the emulator applies the RX gain itself). Called with ``rx_lock`` held and ``lock``
        free: a retune may resample the whole recording."""
        from sdrkit.radio.sim import SimRadio

        radio = self._radio
        if radio is not None and self._radio_gens == gens and radio.rx_buffer_size == cfg.rx_buffer_size:
            return radio
        want_replay = self.in_recording(cfg)
        if radio is not None and want_replay == self._replaying:
            try:
                radio.configure(cfg)
            except ConfigError as exc:
                log.warning("RX cannot replay there (%s); serving the synthesized band", exc)
                radio = None
                want_replay = False
        elif radio is not None:
            radio.close()
            radio = None
        if radio is None:
            replaying = False
            if want_replay:
                try:
                    radio = SimRadio(self.recording, cfg, loop=True, seed=self.seed, front_end=self.front_end,
                                     loopback=self.loopback)
                    replaying = True
                except ConfigError as exc:
                    log.warning("RX cannot replay there (%s); serving the synthesized band", exc)
                    radio = None
            if radio is None:
                radio = SimRadio(None, cfg, seed=self.seed, front_end=self.front_end, loopback=self.loopback)
            if replaying != self._replaying or self._radio is None:
                band = f"{(cfg.rx_lo - cfg.bandwidth / 2) / 1e6:.6g}..{(cfg.rx_lo + cfg.bandwidth / 2) / 1e6:.6g} MHz"
                if replaying:
                    log.info("RX %s: inside the recording, replaying it", band)
                elif self.rec_band is not None:
                    fc, fs = self.rec_band
                    log.warning("RX %s is outside the recording's band %.6g..%.6g MHz: serving a synthesized "
                                "band (noise floor and carriers) until tuned back inside it", band,
                                (fc - fs / 2) / 1e6, (fc + fs / 2) / 1e6)
            self._replaying = replaying
            if wave is not None:
                radio.tx(*wave)
        elif gens[1] != self._radio_gens[1]:
            if wave is not None:
                radio.tx(*wave)
            elif radio.transmitting:
                radio.tx_destroy_buffer()
        self._radio, self._radio_gens = radio, gens
        return radio

    def _analog_tx(self):
        """What the TX port sends into the RX port (``lock`` held): the DMA wave, else the DDS
        tone, scaled by the TX attenuation and the cable; None when TX is silent."""
        v = self.ctx.values
        g = 10 ** ((_num(v[f"{PHY}/out_voltage0_hardwaregain"]) + CABLE_GAIN_DB + self.ref_gain) / 20)
        if self.tx_raw is not None:
            raw, cyclic = self.tx_raw
            return tx_ci16_to_complex64(raw) * np.float32(g), cyclic
        dds = dds_wave(self._dds_channels(), _num(v[f"{TXDEV}/out_voltage_sampling_frequency"]))
        return None if dds is None else (dds * np.float32(g), True)

    def _digital_source(self):
        """The DAC's digital data (``lock`` held) as interleaved int16: the DMA buffer, else the DDS,
        else None (zeros)."""
        if self.tx_raw is not None:
            return self.tx_raw
        dds = dds_wave(self._dds_channels(), _num(self.ctx.values[f"{TXDEV}/out_voltage_sampling_frequency"]))
        if dds is None:
            return None
        f = dds.view(np.float32) * np.float32(32767)
        return np.rint(f).astype("<i2"), True

    def _digital_samples(self, n: int, src) -> np.ndarray:
        """Digital loopback (``loopback=1``): the DAC's words back as RX codes, bit-exact
        (the 12 MSBs of each int16 word: ``word >> 4``)."""
        out = np.zeros(2 * n, "<i2")
        if src is not None:
            raw, cyclic = src
            iq = np.asarray(raw, "<i2").reshape(-1, 2)
            L = len(iq)
            if cyclic:
                idx = (self._dl_pos + np.arange(n)) % L
                out.reshape(-1, 2)[:] = iq[idx] >> 4
            elif self._dl_pos < L:
                k = min(n, L - self._dl_pos)
                out.reshape(-1, 2)[:k] = iq[self._dl_pos:self._dl_pos + k] >> 4
        self._dl_pos += n
        return out

    def read_samples(self, n: int) -> np.ndarray:
        """``n`` RX samples as interleaved int16 (12-bit, sign-extended).

        Callers keep ``n`` to a chunk (:data:`CHUNK_SAMPLES`): ``rx_lock`` is held meanwhile.
        """
        with self.rx_lock:
            with self.lock:
                cfg = self.config().replace(rx_buffer_size=n)
                gens = (self._settings_gen, self._tx_gen)
                digital = self.ctx.values[f"{PHY}/debug/loopback"].strip() == "1"
                src = self._digital_source() if digital else None
                wave = None if digital else self._analog_tx()
                if self._tx_gen != self._dl_gen:      # a new TX wave plays from its start
                    self._dl_pos, self._dl_gen = 0, self._tx_gen
            if digital:
                raw = self._digital_samples(n, src)
            else:
                ref = cfg.replace(gain_control_mode="manual", rx_hardwaregain=self.ref_gain)
                x = self._source(ref, gens, wave).rx().samples
                if not self._replaying:
                    x = x + self.synth.next(n, cfg.rx_lo, cfg.sample_rate)
                self.agc.set_mode(cfg.gain_control_mode, cfg.rx_hardwaregain)
                x = self.agc.process(x, cfg.sample_rate, cfg.rx_hardwaregain)
                raw = complex64_to_rx_ci16(x)
                import time

                self._rssi_at = (gens, time.monotonic())
        with self.lock:
            self.stats["rx_samples"] += n
        return raw

    def drop(self, count: int) -> None:
        """``count`` RX samples the client was too late for: the source skips them (the replay
        keeps time), counted, flagged in the RX status register and logged (at most once a second)."""
        import time

        with self.rx_lock:
            radio = self._radio
            if radio is not None and hasattr(radio, "_drop"):
                radio._drop(count)
            self.synth._pos = (self.synth._pos + count) % (1 << 16)
            self._dl_pos += count
        with self.lock:
            self.stats["rx_dropped"] += count
            self.stats["overflows"] += 1
            self.regs[RXDEV].status |= RX_OVERFLOW
            now = time.monotonic()
            if now - self._last_overflow_log >= 1.0:
                self._last_overflow_log = now
                fs = _num(self.ctx.values[f"{PHY}/in_voltage_sampling_frequency"])
                log.warning("RX overflow: the client fell behind and %d samples were dropped (%d in all, %d "
                            "overflows) at %.6g MS/s%s", count, self.stats["rx_dropped"], self.stats["overflows"],
                            fs / 1e6, f" (host link {self.host_rate / 1e6:.3g} MS/s)"
                            if self.host_rate and fs > self.host_rate else "")

    def underflow(self) -> None:
        with self.lock:
            self.stats["underflows"] += 1
            self.regs[TXDEV].status |= TX_UNDERFLOW
        log.info("TX underflow: the DAC ran out of samples before the next push")

    def rx_rate(self) -> float:
        with self.lock:
            return _num(self.ctx.values[f"{PHY}/in_voltage_sampling_frequency"])

    def write_samples(self, raw: bytes, cyclic: bool) -> None:
        """TX samples (interleaved int16) -> the DAC: looped back to RX from the next RX buffer on
        (through the cable, or bit-exact with ``loopback=1``).

        Raises:
            _Error: EINVAL for no samples (nothing is stored: an empty wave would break every
                later RX buffer of every client).
        """
        if len(raw) < 4:
            raise _Error(errno.EINVAL)
        data = np.frombuffer(raw, "<i2").copy()
        with self.lock:
            self.tx_raw = (data, cyclic)
            self.tx_wave = self.tx_raw
            self._tx_gen += 1
            self.stats["tx_samples"] += len(data) // 2

    def stop_tx(self) -> None:
        with self.lock:
            self.tx_wave = self.tx_raw = None
            self._tx_gen += 1


class _Handler(socketserver.StreamRequestHandler):
    """One connection: control or buffer."""

    rbufsize = 1 << 16

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pluto: VirtualPluto = self.server.pluto
        self.opened: dict[str, tuple[int, int, bool]] = {}   # dev -> (samples, mask, cyclic)
        self.rx_stream: RxStream | None = None
        self.tx_stream: TxStream | None = None
        with self.pluto.lock:
            self.pluto.stats["connections"] += 1
            self.pluto.sockets.add(self.connection)

    def _reply_int(self, v: int) -> None:
        self.wfile.write(b"%d\n" % v)

    def _reply_value(self, text: str) -> None:
        data = text.encode() + b"\0"
        self.wfile.write(b"%d\n" % len(data) + data + b"\n")

    def handle(self):
        try:
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line:
                    break                          # EOF: implicit close of this connection's buffers
                if len(line) > MAX_LINE:
                    self._reply_int(-errno.EINVAL)
                    self.rfile.readline(1 << 20)  # skip the rest of the oversized line
                    continue
                toks = line.decode("ascii", "replace").split()
                if not toks:
                    continue                       # empty line: no-op, no reply
                cmd = toks[0].upper()
                if cmd in ("EXIT", "QUIT"):
                    break
                try:
                    self._dispatch(cmd, toks[1:])
                except _Error as e:
                    self._refuse(e.code)
                except SdrkitError as exc:
                    # a refused setting or a failed buffer: this client's answer, not the server's end
                    log.info("%s %s failed: %s: %s", cmd, " ".join(toks[1:3]), type(exc).__name__, exc)
                    self._refuse(_errno_of(exc))
                except (ConnectionError, OSError):
                    raise
                except Exception:
                    # a bug in this server: answer EIO, keep the traceback, and drop only this
                    # connection (its buffers' state is unknown); the server and the others go on
                    log.exception("internal error in %s from %s; closing that connection", cmd,
                                  self.client_address)
                    self._refuse(errno.EIO)
                    self.wfile.flush()
                    break
                self.wfile.flush()
        except (ConnectionError, OSError) as exc:
            log.info("connection ended: %s", exc)
        finally:
            with self.pluto.lock:
                self.pluto.sockets.discard(self.connection)
            if RXDEV in self.opened or TXDEV in self.opened:
                self._close_buffers()

    def _skip_payload(self, n: int) -> None:
        """Read and drop the ``n`` payload bytes of a refused WRITE, in small pieces."""
        if n > MAX_DRAIN:
            self._refuse(errno.EINVAL)
            self.wfile.flush()
            raise ConnectionError(f"WRITE of {n} bytes: too long to skip; hanging up")
        while n > 0:
            got = self.rfile.read(min(n, 1 << 16))
            if not got:
                raise ConnectionError("client vanished mid-WRITE")
            n -= len(got)

    def _refuse(self, code: int) -> None:
        with self.pluto.lock:
            self.pluto.stats["errors"] += 1
        self._reply_int(-code)

    def _close_buffers(self):
        if self.opened.pop(TXDEV, None) is not None:
            self.pluto.stop_tx()
        self.opened.pop(RXDEV, None)
        self._end_streams()

    def _end_streams(self, dev: str | None = None) -> None:
        p = self.pluto
        with p.lock:
            if dev in (None, RXDEV) and self.rx_stream is not None:
                p.rx_streams.discard(self.rx_stream)
                self.rx_stream = None
            if dev in (None, TXDEV) and self.tx_stream is not None:
                p.tx_streams.discard(self.tx_stream)
                self.tx_stream = None

    def _dev(self, token: str):
        if not _TOKEN.match(token):
            raise _Error(errno.EINVAL)
        d = self.pluto.ctx.device(token)
        if d is None:
            raise _Error(errno.ENODEV)
        return d

    def _attr_key(self, args: list[str]) -> tuple[str, list[str]]:
        """Resolve ``dev [DEBUG|BUFFER|INPUT|OUTPUT chn] attr [rest]`` to a store key."""
        if len(args) < 2:
            raise _Error(errno.EINVAL)
        d = self._dev(args[0])
        kind = args[1].upper()
        if kind in ("DEBUG", "BUFFER"):
            if len(args) < 3:
                raise _Error(errno.EINVAL)
            table = d.debug if kind == "DEBUG" else d.buffer
            name, rest = args[2], args[3:]
        elif kind in ("INPUT", "OUTPUT"):
            if len(args) < 4:
                raise _Error(errno.EINVAL)
            ch = d.channel(kind == "OUTPUT", args[2])
            if ch is None:
                raise _Error(errno.ENOENT)
            table, name, rest = ch.attrs, args[3], args[4:]
        else:
            table, name, rest = d.attrs, args[1], args[2:]
        if name not in table:
            raise _Error(errno.ENOENT)
        return table[name], rest

    def _dispatch(self, cmd: str, args: list[str]) -> None:
        p = self.pluto
        if cmd == "VERSION":
            self.wfile.write(VERSION_LINE)
        elif cmd == "PRINT":
            self.wfile.write(b"%d\n" % len(p.ctx.xml_bytes) + p.ctx.xml_bytes + b"\n")
        elif cmd == "ZPRINT" or cmd == "BINARY" or cmd == "HELP":
            raise _Error(errno.EINVAL)
        elif cmd == "TIMEOUT":
            if len(args) != 1 or not args[0].isdigit():
                raise _Error(errno.EINVAL)
            self._reply_int(0)
        elif cmd == "READ":
            key, rest = self._attr_key(args)
            if rest:
                raise _Error(errno.EINVAL)
            val = p.read_attr(key)
            if val == "ERROR":
                raise _Error(errno.EIO)
            self._reply_value(val)
        elif cmd == "WRITE":
            if not args or not args[-1].isdigit() or len(args[-1]) > 9:
                raise _Error(errno.EINVAL)
            n = int(args[-1])
            if n > MAX_WRITE:
                self._skip_payload(n)
                raise _Error(errno.EINVAL)
            try:
                key, rest = self._attr_key(args)
            except _Error:
                self._skip_payload(n)      # the client sends the value anyway: stay in step
                raise
            if len(rest) != 1:
                self._skip_payload(n)
                raise _Error(errno.EINVAL)
            data = self.rfile.read(n)
            if len(data) != n:
                raise ConnectionError("client vanished mid-WRITE")
            text = data[:-1].decode("utf-8", "replace") if data.endswith(b"\0") else data.decode("utf-8", "replace")
            p.write_attr(key, text)
            self._reply_int(n)
        elif cmd == "OPEN":
            if len(args) not in (3, 4) or (len(args) == 4 and args[3].upper() != "CYCLIC"):
                raise _Error(errno.EINVAL)
            d = self._dev(args[0])
            if d.id not in (RXDEV, TXDEV):
                raise _Error(errno.ENODEV)
            if not args[1].isdigit() or len(args[1]) > 12 or int(args[1]) < 1 \
                    or not re.fullmatch(r"[0-9a-f]{8}", args[2]):
                raise _Error(errno.EINVAL)
            if int(args[1]) > p.max_buffer_samples:
                # the kernel cannot allocate the DMA buffer (profile rx_buffer_size max)
                log.info("refused OPEN %s %s: more than %d samples", args[0], args[1], p.max_buffer_samples)
                raise _Error(errno.ENOMEM)
            mask = int(args[2], 16)
            if mask & 0b11 == 0 or mask >> len(d.scan_channels):
                raise _Error(errno.EINVAL)
            self.opened[d.id] = (int(args[1]), mask & 0b11, len(args) == 4)
            self._end_streams(d.id)
            with p.lock:
                if d.id == RXDEV:
                    self.rx_stream = RxStream(int(args[1]), p.kernel_buffers, p.host_rate, p.pace)
                    p.rx_streams.add(self.rx_stream)
                    p.stream_started()
                else:
                    self.tx_stream = TxStream(int(args[1]), len(args) == 4, p.kernel_buffers, p.pace)
                    p.tx_streams.add(self.tx_stream)
            self._reply_int(0)
        elif cmd == "CLOSE":
            d = self._dev(args[0]) if len(args) == 1 else None
            if d is None:
                raise _Error(errno.EINVAL)
            if d.id not in self.opened:
                raise _Error(errno.ENXIO)
            if d.id == TXDEV:
                p.stop_tx()
            self.opened.pop(d.id)
            self._end_streams(d.id)
            self._reply_int(0)
        elif cmd == "READBUF":
            self._readbuf(args)
        elif cmd == "WRITEBUF":
            self._writebuf(args)
        elif cmd == "GETTRIG":
            self._dev(args[0]) if len(args) == 1 else None
            raise _Error(errno.ENOENT)
        elif cmd == "SETTRIG":
            if not args:
                raise _Error(errno.EINVAL)
            self._dev(args[0])
            self._reply_int(0)
        elif cmd == "SET":
            if len(args) != 3 or args[1].upper() != "BUFFERS_COUNT" or not args[2].isdigit() or int(args[2]) < 1:
                raise _Error(errno.EINVAL)
            self._dev(args[0])
            self._reply_int(0)
        else:
            raise _Error(errno.EINVAL)

    def _readbuf(self, args):
        """RX: at most one opened buffer per READBUF, made and sent in chunks (the protocol's
        chunked reply), so memory stays at one chunk and ``rx_lock`` is free between chunks."""
        if len(args) != 2 or not args[1].isdigit() or len(args[1]) > 12:
            raise _Error(errno.EINVAL)
        d = self._dev(args[0])
        if d.id not in self.opened or d.id != RXDEV:
            raise _Error(errno.EBADF)
        samples, mask, _ = self.opened[d.id]
        nch = bin(mask).count("1")
        nbytes = int(args[1])
        if nbytes > samples * 2 * nch:
            raise _Error(errno.EINVAL)     # libiio asks for one buffer; more is not a Pluto request
        n = nbytes // (2 * nch)
        while self.pluto.stall_rx.is_set():       # a stalled device: no data, the client times out
            if self.server.stopping.wait(0.05):
                return
        if n == 0:
            self._reply_int(0)
            return
        stream = self.rx_stream
        if stream is not None:
            fs = self.pluto.rx_rate()
            lost = stream.admit(n, fs)
            if lost:
                self.pluto.drop(lost)
            stream.deliver(n, fs, self.server.stopping)
        header = b"%08x\n" % mask
        import time

        while n > 0:
            k = min(n, CHUNK_SAMPLES)
            t_make = time.monotonic()
            iq = self.pluto.read_samples(k).reshape(k, 2)
            if stream is not None:
                stream.pause(time.monotonic() - t_make)   # the emulator's own work is not the client's lag
            if nch == 1:
                iq = iq[:, 0] if mask == 1 else iq[:, 1]
            payload = np.ascontiguousarray(iq).tobytes()
            self.wfile.write(b"%d\n" % len(payload) + header)
            self.wfile.write(payload)
            header, n = b"", n - k

    def _writebuf(self, args):
        if len(args) != 2 or not args[1].isdigit() or len(args[1]) > 12:
            raise _Error(errno.EINVAL)
        d = self._dev(args[0])
        if d.id not in self.opened or d.id != TXDEV:
            raise _Error(errno.EBADF)
        samples, _, cyclic = self.opened[d.id]
        nbytes = int(args[1])
        if nbytes == 0 or nbytes > samples * 4 or nbytes % 4:
            raise _Error(errno.EINVAL)     # before the go-ahead: the client then sends no data
        self._reply_int(0)
        self.wfile.flush()
        data = self.rfile.read(nbytes)
        if len(data) != nbytes:
            raise ConnectionError("client vanished mid-WRITEBUF")
        if self.tx_stream is not None and self.tx_stream.push(nbytes // 4, self.pluto.rx_rate(), self.server.stopping):
            self.pluto.underflow()
        self.pluto.write_samples(data, cyclic)
        self._reply_int(nbytes)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, *a, max_connections: int = MAX_CONNECTIONS, **k):
        super().__init__(*a, **k)
        self.stopping = threading.Event()
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            # refused cleanly: the client reads -EBUSY as the answer to its first request
            self.pluto.stats["refused_connections"] += 1
            log.warning("refused a connection from %s: %d already open", client_address, self.max_connections)
            try:
                request.sendall(b"%d\n" % -errno.EBUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def handle_error(self, request, client_address):
        # outside any command (a connection reset during setup): that connection ends, counted
        self.pluto.stats["errors"] += 1
        log.warning("connection from %s ended by an error outside a command", client_address, exc_info=True)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class PlutoEmulator:
    """Run a :class:`VirtualPluto` on ``host:port`` (``port=0`` picks a free one).

    Use as a context manager in tests: ``with PlutoEmulator(rec) as emu: adi.Pluto(emu.uri)``.
    """

    def __init__(self, recording=None, host: str = "127.0.0.1", port: int = 30431,
                 max_connections: int = MAX_CONNECTIONS, **kw):
        """Bind ``host:port`` and load the state; :meth:`start` or :meth:`serve_forever` serves.

        ``max_connections`` bounds the open TCP connections (a libiio client uses one, plus
        one per buffer); one more is answered ``-16`` (EBUSY) and closed.

        Raises:
            ConfigError: ``port`` outside 0..65535, ``max_connections`` < 1, or ``host:port`` cannot be bound (in use,
                a privileged port, an address not on this machine), with the fix.
        """
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigError(f"max_connections={max_connections!r} must be an integer >= 1 (a libiio client "
                              f"uses 1 to 3 connections)")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"port={port!r} is not a TCP port: choose one in 0..65535 (--port 30431 is "
                              f"libiio's default, --port 0 picks a free one)")
        self.pluto = VirtualPluto(recording, **kw)
        try:
            self.server = _Server((host, port), _Handler, max_connections=max_connections)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fix = (f"another program (an iiod, or another sdrkit emulate) is listening there; stop it, or "
                       f"choose another --port (--port 0 picks a free one)")
            elif exc.errno == errno.EACCES:
                fix = "ports below 1024 need privileges; choose a --port of 1024 or more"
            else:
                fix = "check --host (an address of this machine, default 127.0.0.1) and --port"
            raise ConfigError(f"cannot serve the virtual Pluto on {host}:{port}: {exc.strerror or exc}; "
                              f"{fix}") from exc
        self.server.pluto = self.pluto
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        """libiio URI of this emulator."""
        return f"ip:{self.host}:{self.port}"

    def start(self) -> "PlutoEmulator":
        self._thread = threading.Thread(target=self.server.serve_forever, name="virtual-pluto", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def unplug(self) -> None:
        """Fault injection: drop every client connection, as if the USB cable were pulled."""
        for s in list(self.pluto.sockets):
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
