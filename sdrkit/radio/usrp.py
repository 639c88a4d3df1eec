"""Ettus USRP backend over UHD (registered as ``usrp:``).

UHD's Python bindings are not on PyPI for Linux; Debian's ``python3-uhd`` is built for the
system interpreter and numpy 1.x. This module checks for a usable ``uhd`` module and, when
there is none, raises :class:`~sdrkit.errors.DriverMissing` with the install instructions.
"""

from __future__ import annotations

import shutil
import subprocess

from sdrkit.errors import DeviceNotFound, DriverMissing
from sdrkit.radio.base import Radio, RadioConfig


def find_devices(args: str = "", timeout: float = 10.0) -> list[str]:
    """Device address strings reported by ``uhd_find_devices`` (empty when none)."""
    exe = shutil.which("uhd_find_devices")
    if exe is None:
        raise DriverMissing("uhd_find_devices not found; install UHD with 'apt-get install uhd-host python3-uhd'")
    cmd = [exe] + ([f"--args={args}"] if args else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    return [blk.strip() for blk in text.split("--------------------------------------------------")
            if "serial:" in blk]


class UsrpRadio(Radio):
    """An Ettus USRP through UHD."""

    scheme = "usrp"

    @classmethod
    def from_uri(cls, rest: str, config: RadioConfig | None = None, **options) -> "UsrpRadio":
        """``usrp:<uhd device args>``, e.g. ``usrp:type=b200`` or ``usrp:serial=31A2B4C``."""
        devices = find_devices(rest.partition("?")[0])
        if not devices:
            raise DeviceNotFound(f"no USRP found for device args {rest!r} (uhd_find_devices found none); "
                                 f"check the USB 3 / Ethernet connection and run 'uhd_find_devices'")
        raise DriverMissing("a USRP was found but sdrkit's UHD streaming backend is not built yet")
