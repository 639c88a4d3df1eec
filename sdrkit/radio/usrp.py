"""Ettus USRP backend over UHD, with the driver in a worker process.

Why a worker: PyPI has no Linux wheel of UHD's Python API, and Debian's ``python3-uhd`` (4.3)
is built for the system interpreter and numpy 1.x; imported beside numpy 2 its array calls are
unreliable. So :class:`UsrpRadio` starts :mod:`sdrkit.radio.uhd_worker` under
``/usr/bin/python3`` (override with ``SDRKIT_UHD_PYTHON``) and exchanges settings and sc16
samples with it over a ZeroMQ PAIR socket on 127.0.0.1. A crash inside the driver ends only
the worker: the next call here raises :class:`~sdrkit.errors.RadioDisconnected`.

Sample conversion, in one place (:func:`sc16_to_complex64`): UHD's sc16 host format is
interleaved int16 I/Q with full scale 32768, so complex64 = int16 / 32768.

Channels: every enabled RX channel is streamed (one UHD rx_streamer over all of them); the
worker sends channel 0's samples, then channel 1's, and blocks come out as ``(channels, n)``.
TX uses channel 0.

Metadata mapping: an RX overflow becomes a gap whose size comes from the timestamps
(``time_spec * sample_rate`` of the next packet minus the expected index); an RX timeout
raises :class:`~sdrkit.errors.RadioTimeout`.

Install: ``apt-get install python3-uhd uhd-host python3-zmq`` (./setup.sh does it as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError, DeviceNotFound, DriverMissing, RadioDisconnected, RadioTimeout
from sdrkit.radio.base import Radio, RadioConfig

FULL_SCALE = 32768.0
WORKER = Path(__file__).with_name("uhd_worker.py")


def sc16_to_complex64(raw: bytes) -> np.ndarray:
    """UHD sc16 bytes (interleaved int16 I/Q) -> complex64 with full scale 1.0."""
    return (np.frombuffer(raw, "<i2").astype(np.float32) * np.float32(1 / FULL_SCALE)).view(np.complex64)


def rows_to_block(x: np.ndarray, channels: int) -> np.ndarray:
    """The worker's samples (channel 0's, then channel 1's, ...) as an RxBlock array: ``(n,)``
    for one channel, ``(channels, n)`` for several."""
    return x if channels == 1 else x.reshape(channels, -1)


def complex64_to_sc16(x: np.ndarray) -> bytes:
    """complex64 (|x| <= 1) -> sc16 bytes."""
    f = np.clip(np.asarray(x, np.complex64).view(np.float32), -1.0, 1.0) * np.float32(FULL_SCALE - 1)
    return np.rint(f).astype("<i2").tobytes()


def system_python() -> str:
    """The interpreter that has Debian's python3-uhd."""
    return os.environ.get("SDRKIT_UHD_PYTHON", "/usr/bin/python3")


def _check_driver() -> None:
    py = system_python()
    if not Path(py).exists():
        raise DriverMissing(f"{py} not found; the USRP backend runs UHD under the system Python "
                            f"(set SDRKIT_UHD_PYTHON to another interpreter with python3-uhd)")
    probe = subprocess.run([py, "-c", "import uhd, zmq, numpy"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise DriverMissing(f"UHD's Python API is not importable under {py} ({probe.stderr.strip().splitlines()[-1:]}); "
                            f"install it with 'apt-get install python3-uhd uhd-host python3-zmq' (./setup.sh does as root)")


def find_devices(args: str = "", timeout: float = 30.0) -> list[str]:
    """Device descriptions reported by ``uhd_find_devices`` (empty when none)."""
    exe = shutil.which("uhd_find_devices")
    if exe is None:
        raise DriverMissing("uhd_find_devices not found; install UHD with 'apt-get install uhd-host python3-uhd'")
    cmd = [exe] + ([f"--args={args}"] if args else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    return [blk.strip() for blk in text.split("--------------------------------------------------") if "serial:" in blk]


class UsrpRadio(Radio):
    """An Ettus USRP through UHD in a worker process.

    Args:
        device_args: UHD device arguments (``type=b200``, ``serial=31A2B4C``, ``addr=192.168.10.2``).
        config: initial settings; None = the profile's defaults.
        profile: firmware profile (default ``usrp-b210``).
        timeout: seconds to wait for the worker.

    Raises:
        DriverMissing: UHD's Python API is not installed for the system interpreter.
        DeviceNotFound: no USRP answers to ``device_args``.
    """

    scheme = "usrp"

    def __init__(self, device_args: str = "", config: RadioConfig | None = None, profile="usrp-b210",
                 timeout: float = 30.0):
        import zmq

        from sdrkit.profiles import load_profile

        _check_driver()
        prof = load_profile(profile) if isinstance(profile, str) else profile
        self.device_args = device_args
        self._timeout_ms = int(timeout * 1000)
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.PAIR)
        self._sock.setsockopt(zmq.LINGER, 0)
        port = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self._proc = subprocess.Popen([system_python(), str(WORKER), "--connect", f"tcp://127.0.0.1:{port}",
                                       "--args", device_args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        hello = self._recv_json("open")
        if "error" in hello:
            self._shutdown()
            detail = " ".join(hello["message"].split())
            raise DeviceNotFound(f"no USRP found for device args {device_args!r} ({detail}); "
                                 f"check the USB 3 / Ethernet connection and run 'uhd_find_devices'")
        self.hw_description = hello.get("device", "USRP")
        super().__init__(config or prof.default_config(), prof)
        self._apply(self._config)

    @classmethod
    def from_uri(cls, rest: str, config: RadioConfig | None = None, **options) -> "UsrpRadio":
        """``usrp:<uhd device args>[?profile=NAME]``, e.g. ``usrp:type=b200``."""
        args, _, query = rest.partition("?")
        opts = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        opts.update(options)
        unknown = set(opts) - {"profile"}
        if unknown:
            raise ConfigError(f"unknown usrp: option(s) {sorted(unknown)}; known: ['profile']")
        return cls(args, config, profile=opts.get("profile", "usrp-b210"))

    # ---- worker messages ---------------------------------------------------------------------
    def _recv(self, what: str):
        if not self._sock.poll(self._timeout_ms):
            rc = self._proc.poll()
            err = self._proc.stderr.read().decode(errors="replace")[-500:] if rc is not None else ""
            if rc is not None:
                raise RadioDisconnected(f"the UHD worker exited (code {rc}) during {what}: {err.strip()}")
            raise RadioTimeout(f"the UHD worker did not answer {what} within {self._timeout_ms / 1000:g} s")
        return self._sock.recv_multipart()

    def _recv_json(self, what: str) -> dict:
        return json.loads(self._recv(what)[0])

    def _apply(self, config: RadioConfig) -> None:
        self._sock.send_json({"cmd": "configure", "config": config.to_dict()})
        r = self._recv_json("configure")
        if "error" in r:
            raise ConfigError(f"the USRP refused the settings: {r['message']}")

    def _rx(self):
        self._sock.send_json({"cmd": "rx", "n": self._config.rx_buffer_size})
        head, data = self._recv("rx")
        h = json.loads(head)
        if h["error"] == "timeout":
            raise RadioTimeout("USRP RX timed out (RXMetadata timeout); is the device streaming?")
        return rows_to_block(sc16_to_complex64(data), int(h.get("channels", 1))), int(h.get("lost", 0))

    def _tx(self, samples: np.ndarray, cyclic: bool) -> None:
        self._sock.send_multipart([json.dumps({"cmd": "tx", "cyclic": cyclic}).encode(), complex64_to_sc16(samples)])
        self._recv_json("tx")

    def _shutdown(self) -> None:
        try:
            self._proc.terminate()
            self._proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
        self._sock.close()

    def _close(self) -> None:
        try:
            self._sock.send_json({"cmd": "close"})
            self._sock.poll(2000)
        finally:
            self._shutdown()
