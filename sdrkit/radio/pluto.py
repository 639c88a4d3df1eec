"""ADALM-Pluto backend over pyadi-iio (``adi.Pluto``) and libiio.

Stack: Debian's ``libiio0`` 0.24 + the ``pylibiio==0.25`` bindings + ``pyadi-iio``
(pylibiio 1.0 needs libiio 1.x, which Debian bookworm does not ship).

Sample conversion, in one place for both ends of the wire:

=========  ==========================  ===================================  ==========================
direction  on the wire                 host side (this backend)             device side (the emulator)
=========  ==========================  ===================================  ==========================
RX         12-bit ADC codes sign-      :func:`ci16_to_complex64`:           :func:`complex64_to_rx_ci16`:
           extended into int16         complex64 = int16 / 2048             round(x * 2048), clipped
           (``le:S12/16>>0``)                                               to -2048..2047
TX         int16, the DAC takes the    :func:`complex64_to_ci16`:           :func:`tx_ci16_to_complex64`:
           12 MSBs (``le:S16/16>>0``)  int16 = round(clip(x, +-1) * 32767)  complex64 = int16 / 32767
=========  ==========================  ===================================  ==========================

Gain: in an AGC mode the AD936x owns the RX gain; sdrkit refuses ``rx_hardwaregain`` changes
there (see :meth:`sdrkit.radio.Radio.configure`), pyadi-iio skips the write, and the driver
itself accepts and ignores one written directly.

Open with ``open_radio("pluto:ip:192.168.2.1")``, ``pluto:usb:1.2.5`` or
``pluto:ip:127.0.0.1:30431?profile=pluto-ad9364`` (the virtual Pluto, ``sdrkit emulate pluto``).
"""

from __future__ import annotations

import errno
import logging
import time
import urllib.parse

import numpy as np

from sdrkit.errors import ConfigError, DeviceError, DeviceNotFound, DriverMissing, RadioDisconnected, RadioTimeout
from sdrkit.radio.base import Radio, RadioConfig

log = logging.getLogger("sdrkit.radio.pluto")

RX_FULL_SCALE = 2048.0     # 12-bit ADC, sign-extended in int16
TX_FULL_SCALE = 32767.0    # 16-bit DAC words (12 MSBs used)

STATUS_REG = 0x80000088     # AXI ADC DMA status register
RX_OVERFLOW_BIT = 0x4
_LIBIIO_SCHEMES = ("ip", "usb", "local", "serial", "xml")   # libiio 0.2x context URIs
_TIMEOUT_ERRNOS = {errno.ETIMEDOUT, errno.EAGAIN}
_GONE_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ENODEV, errno.ENOTCONN, errno.ECONNREFUSED, errno.EIO,
                errno.ESHUTDOWN, errno.EBADF}


def complex64_to_rx_ci16(x: np.ndarray) -> np.ndarray:
    """complex64 (full scale 1.0) -> interleaved int16 12-bit ADC codes, as the RX DMA delivers them."""
    f = np.asarray(x, np.complex64).view(np.float32) * np.float32(RX_FULL_SCALE)
    np.rint(f, out=f)
    np.clip(f, -RX_FULL_SCALE, RX_FULL_SCALE - 1, out=f)
    return f.astype("<i2")


def tx_ci16_to_complex64(raw) -> np.ndarray:
    """Interleaved int16 TX DMA words (bytes or array) -> complex64 full scale 1.0, as the DAC sees them."""
    iq = np.frombuffer(raw, "<i2") if isinstance(raw, (bytes, bytearray, memoryview)) else np.asarray(raw, "<i2")
    return (iq.astype(np.float32) * np.float32(1 / TX_FULL_SCALE)).view(np.complex64)


def ci16_to_complex64(x: np.ndarray) -> np.ndarray:
    """Pluto RX samples (complex of raw int16 values, or interleaved int16) -> complex64 full scale 1.0."""
    x = np.asarray(x)
    if x.dtype == np.int16:
        return (x.astype(np.float32) * np.float32(1 / RX_FULL_SCALE)).view(np.complex64)
    return (x * (1 / RX_FULL_SCALE)).astype(np.complex64)


def complex64_to_ci16(x: np.ndarray) -> np.ndarray:
    """complex64 (|x| <= 1) -> complex values in DAC units as pyadi-iio's tx() expects."""
    f = np.clip(np.asarray(x, np.complex64).view(np.float32), -1.0, 1.0) * np.float32(TX_FULL_SCALE)
    return np.rint(f).view(np.complex64)


def _driver():
    try:
        import adi  # noqa: F401
        import iio  # noqa: F401
    except (ImportError, OSError) as exc:
        raise DriverMissing(
            f"the Pluto backend needs libiio and pyadi-iio ({exc}); install them with "
            f"'apt-get install libiio0' and 'pip install pylibiio==0.25 pyadi-iio' (./setup.sh does both)") from exc
    return adi


def _map_error(exc: BaseException, what: str):
    code = getattr(exc, "errno", None)
    if isinstance(exc, TimeoutError) or code in _TIMEOUT_ERRNOS:
        return RadioTimeout(f"Pluto {what}: no samples within the timeout ({exc}); check the sample rate and "
                            f"that nothing else holds the device")
    if isinstance(exc, (ConnectionError, BrokenPipeError)) or code in _GONE_ERRNOS:
        return RadioDisconnected(f"Pluto {what}: device went away ({exc}); reconnect it and open the radio again")
    return None


class PlutoRadio(Radio):
    """An ADALM-Pluto through pyadi-iio.

    Args:
        uri: libiio URI (``ip:192.168.2.1``, ``usb:1.2.5``, ``ip:127.0.0.1:30431``).
        config: initial settings; None = the settings the device has now (opening does not retune).
        profile: firmware profile name or Profile (default ``pluto-ad9363``, stock firmware).
        timeout_ms: libiio I/O timeout, ms (0 = wait forever); an rx() that waits longer raises
            RadioTimeout.

    Raises:
        ConfigError: ``timeout_ms`` is not an integer in 0..2**31-1.
        DriverMissing: libiio / pyadi-iio are not installed (or pylibiio lacks set_timeout).
        DeviceError: the device refused the timeout (RadioDisconnected: it went away).
        DeviceNotFound: no Pluto answers at ``uri``.
    """

    scheme = "pluto"

    def __init__(self, uri: str, config: RadioConfig | None = None, profile="pluto-ad9363", timeout_ms: int = 5000):
        from sdrkit.profiles import load_profile

        if isinstance(timeout_ms, bool) or int(timeout_ms) != timeout_ms or not 0 <= timeout_ms < 2 ** 31:
            raise ConfigError(f"timeout_ms={timeout_ms!r} must be an integer number of ms in 0..{2 ** 31 - 1} "
                              f"(0 = wait forever, the default is 5000)")
        adi = _driver()
        prof = load_profile(profile) if isinstance(profile, str) else profile
        self.uri = uri
        try:
            self._dev = adi.Pluto(uri)
        except Exception as exc:  # libiio raises OSError / ConnectionError / a bare Exception
            raise DeviceNotFound(f"no ADALM-Pluto at {uri!r} ({exc}); check the cable or IP address "
                                 f"('sdrkit devices' lists reachable radios; the default is ip:192.168.2.1)") from exc
        self._timeout_ms = int(timeout_ms)
        try:
            self._dev.ctx.set_timeout(self._timeout_ms)
        except AttributeError as exc:
            self._dev = None
            raise DriverMissing(f"the installed pylibiio has no Context.set_timeout ({exc}), so the stream "
                                f"timeout of {self._timeout_ms} ms cannot be set; install "
                                f"'pylibiio==0.25' (./setup.sh does)") from exc
        except OSError as exc:
            self._dev = None
            mapped = _map_error(exc, f"set_timeout({self._timeout_ms} ms)")
            if isinstance(mapped, RadioDisconnected):
                raise mapped from exc
            raise DeviceError(f"the Pluto at {uri!r} refused the stream timeout timeout_ms={self._timeout_ms} "
                              f"({exc}); libiio takes 0 (wait forever) or a positive number of ms: pass another "
                              f"?timeout_ms= or check that the device answers") from exc
        ctx_attrs = getattr(self._dev.ctx, "attrs", {}) or {}
        self.serial = ctx_attrs.get("hw_serial")
        self.hw_description = f"ADALM-Pluto {ctx_attrs.get('hw_model', '')} fw {ctx_attrs.get('fw_version', '?')}".strip()
        self._applied: RadioConfig | None = None
        self._tx_active = False
        self._status_reg_ok = True
        self._last_rx_t: float | None = None
        self._opening = config is None
        if config is None:
            config = self._read_config()     # opening a radio does not retune it
            # ... but the buffer is the host's, not a tuning: pyadi-iio's 1024-sample default overflows
            # the kernel buffers at 1 MS/s on a loaded host, so take the profile's (16384)
            buf = int((prof.defaults or {}).get("rx_buffer_size", 0)) if prof is not None else 0
            if buf and config.rx_buffer_size < buf:
                import dataclasses

                config = dataclasses.replace(config, rx_buffer_size=buf)
        super().__init__(config, prof)
        try:
            self._apply(self._config)
        except BaseException:
            self._close()
            raise

    def _read_config(self) -> RadioConfig:
        """The settings the device has now."""
        d = self._dev
        try:
            mode = d.gain_control_mode_chan0
            return RadioConfig(rx_lo=float(d.rx_lo), tx_lo=float(d.tx_lo), sample_rate=float(d.sample_rate),
                               rx_rf_bandwidth=float(d.rx_rf_bandwidth), gain_control_mode=mode,
                               rx_hardwaregain=float(d.rx_hardwaregain_chan0),
                               tx_hardwaregain=float(d.tx_hardwaregain_chan0),
                               rx_buffer_size=int(d.rx_buffer_size))
        except Exception as exc:
            mapped = _map_error(exc, "read settings")
            if mapped:
                raise mapped from exc
            raise

    @classmethod
    def from_uri(cls, rest: str, config: RadioConfig | None = None, **options) -> "PlutoRadio":
        """``pluto:<libiio uri>[?profile=NAME]``."""
        uri, _, query = rest.partition("?")
        opts = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        opts.update(options)
        unknown = set(opts) - {"profile", "timeout_ms"}
        if unknown:
            raise ConfigError(f"unknown pluto: option(s) {sorted(unknown)}; known: ['profile', 'timeout_ms']")
        if not uri:
            uri = "ip:192.168.2.1"
        scheme = uri.split(":", 1)[0]
        if scheme not in _LIBIIO_SCHEMES:
            # "pluto:192.168.2.1" or "pluto:pluto.local": libiio needs its own scheme after "pluto:"
            raise ConfigError(f"pluto:{rest!r}: {uri!r} is not a libiio URI (no 'ip:', 'usb:', 'local:' or "
                              f"'serial:' scheme); did you mean pluto:ip:{uri}? (pluto:usb:1.2.5 for USB, "
                              f"pluto: alone for the default ip:192.168.2.1)")
        timeout = opts.get("timeout_ms", 5000)
        try:
            timeout = int(timeout)
        except (TypeError, ValueError):
            raise ConfigError(f"pluto: option timeout_ms={timeout!r} is not an integer number of ms") from None
        return cls(uri, config, profile=opts.get("profile", "pluto-ad9363"), timeout_ms=timeout)

    # ---- settings ---------------------------------------------------------------------------
    def _apply(self, c: RadioConfig) -> None:
        d, old = self._dev, self._applied
        try:
            d.rx_enabled_channels = list(c.rx_enabled_channels)
            d.sample_rate = int(c.sample_rate)
            d.rx_rf_bandwidth = int(c.bandwidth)
            d.rx_lo = int(c.rx_lo)
            d.tx_lo = int(c.effective_tx_lo)
            d.gain_control_mode_chan0 = c.gain_control_mode
            if c.gain_control_mode == "manual":
                d.rx_hardwaregain_chan0 = float(c.rx_hardwaregain)
            d.tx_hardwaregain_chan0 = float(c.tx_hardwaregain)
            retuned = old is None or (old.rx_lo, old.sample_rate, old.rx_buffer_size, old.rx_enabled_channels) != \
                (c.rx_lo, c.sample_rate, c.rx_buffer_size, c.rx_enabled_channels)
            if retuned:
                # samples already in the kernel buffers were taken with the old settings: drop them
                d.rx_destroy_buffer()
                try:
                    d._rxadc.reg_write(STATUS_REG, RX_OVERFLOW_BIT)   # a new stream: clear a stale overflow
                except Exception:  # noqa: BLE001
                    pass
            host = (self.profile.host_streaming_rate or {}).get("value") if self.profile is not None else None
            # at open the rate is whatever the device was left at, which the verb usually changes next:
            # warn about the rate a command applies, not about the last one's
            opening, self._opening = getattr(self, "_opening", False), False
            if host and c.sample_rate > float(host) and not opening and (old is None or old.sample_rate != c.sample_rate):
                log.warning("sample_rate=%.6g MS/s is above the %s profile's sustainable host rate of %.3g MS/s "
                            "(USB 2.0): a continuous stream will lose samples (reported as lost)",
                            c.sample_rate / 1e6, self.profile.name, float(host) / 1e6)
            d.rx_buffer_size = int(c.rx_buffer_size)
        except Exception as exc:
            mapped = _map_error(exc, "configure")
            if mapped:
                raise mapped from exc
            raise ConfigError(f"the Pluto at {self.uri} refused the settings {c.to_dict()}: {exc}") from exc
        self._applied = c

    # ---- samples ------------------------------------------------------------------------------
    def _rx(self) -> tuple[np.ndarray, int]:
        import time

        t0 = time.monotonic()
        try:
            data = self._dev.rx()
        except Exception as exc:
            # libiio cancels a timed-out transfer by shutting its socket down, so a stall can
            # surface as EPIPE too: a failure that took the whole timeout is a stall, a fast one
            # is a device that went away.
            if isinstance(exc, OSError) and time.monotonic() - t0 >= 0.9 * self._timeout_ms / 1000:
                self._gone = True     # libiio cancelled the transfer: its buffer socket is shut down
                raise RadioTimeout(f"Pluto rx: no samples within the timeout of {self._timeout_ms} ms ({exc}); "
                                   f"check the sample rate and that nothing else holds the device") from exc
            mapped = _map_error(exc, "rx")
            if mapped:
                self._gone = True
                raise mapped from exc
            raise
        if isinstance(data, list):
            data = np.stack(data)
        prev, self._last_rx_t = self._last_rx_t, time.monotonic()
        return ci16_to_complex64(data), self._overflow_lost(len(data[0]) if data.ndim == 2 else len(data), prev)

    def _overflow_lost(self, n: int, prev: float | None) -> int:
        """Samples lost before this buffer, from the RX DMA's overflow flag (AXI status register
        0x80000088, bit 2, write 1 to clear; what pyadi-iio's own tests read). libiio 0.2x has no
        overflow counter, so a flagged overflow is estimated from the time since the previous
        buffer (samples the radio made meanwhile, less this buffer, in whole buffers; at least one
        buffer). 0 when the register cannot be read (the check is then given up)."""
        if not self._status_reg_ok:
            return 0
        try:
            v = self._dev._rxadc.reg_read(STATUS_REG)
            if v & RX_OVERFLOW_BIT:
                self._dev._rxadc.reg_write(STATUS_REG, RX_OVERFLOW_BIT)
                made = int((self._last_rx_t - prev) * self._config.sample_rate) if prev is not None else 0
                return max(n, (made - n) // n * n)
        except Exception:  # noqa: BLE001 - an iiod without debug attributes: no overflow information
            self._status_reg_ok = False
        return 0

    def _tx(self, samples: np.ndarray, cyclic: bool) -> None:
        try:
            if self._tx_active:
                self._dev.tx_destroy_buffer()
            self._dev.tx_cyclic_buffer = bool(cyclic)
            self._dev.tx(complex64_to_ci16(samples))
            self._tx_active = True
        except Exception as exc:
            mapped = _map_error(exc, "tx")
            if mapped:
                raise mapped from exc
            raise

    def tx_destroy_buffer(self) -> None:
        """Stop a cyclic transmission."""
        if self._tx_active:
            self._dev.tx_destroy_buffer()
            self._tx_active = False

    def _close(self) -> None:
        dev = getattr(self, "_dev", None)
        if dev is None:
            return
        if getattr(self, "_gone", False):
            # libiio 0.24 crashes destroying a network buffer whose connection is dead or was
            # cancelled: after a disconnect or timeout the C buffers are left to the OS (a small
            # leak) instead of destroyed.
            for attr in ("_rxbuf", "_txbuf"):
                buf = getattr(dev, attr, None)
                if buf is not None:
                    buf._buffer = None
                    setattr(dev, attr, None)
            self._dev = None
            return
        for fn in ("tx_destroy_buffer", "rx_destroy_buffer"):
            try:
                getattr(dev, fn)()
            except Exception:  # noqa: BLE001 - best effort on a device that may be gone
                pass
        self._dev = None
