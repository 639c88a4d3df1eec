"""Radios: one contract (:class:`Radio`), opened from a URI with :func:`open_radio`.

URI schemes::

    sim:<recording>.sigmf-meta[?options]   replay a SigMF recording (sdrkit.radio.sim)
    pluto:<libiio uri>                     ADALM-Pluto via pyadi-iio, e.g. pluto:ip:192.168.2.1
    usrp:<uhd device args>                 Ettus USRP via UHD, e.g. usrp:type=b200

Backends import their driver only when opened, so ``import sdrkit`` needs no radio library.
"""

from __future__ import annotations

from sdrkit.errors import ConfigError
from sdrkit.radio.base import GAIN_MODES, Radio, RadioConfig, RxBlock
from sdrkit.registry import Registry

RADIOS = Registry("radio scheme")
RADIOS.register_lazy("sim", "sdrkit.radio.sim:SimRadio")
RADIOS.register_lazy("pluto", "sdrkit.radio.pluto:PlutoRadio")
RADIOS.register_lazy("usrp", "sdrkit.radio.usrp:UsrpRadio")
RADIOS.register_lazy("zmq", "sdrkit.stream.source:ZmqSource")


def open_radio(uri: str, config: RadioConfig | None = None, **options) -> Radio:
    """Open a radio from a URI.

    Args:
        uri: ``scheme:rest``; see the module docstring.
        config: initial settings; None = the backend's defaults (for ``sim:``, the recording's).
        **options: backend options (same meaning as the URI's query options).

    Raises:
        ConfigError: malformed URI or unknown scheme.
        DriverMissing: the backend's driver is not installed (message says how to install).
        DeviceNotFound: nothing answers at the URI.
    """
    scheme, sep, rest = uri.partition(":")
    if not sep or not scheme:
        raise ConfigError(f"radio URI {uri!r} has no scheme; use one of "
                          f"{', '.join(s + ':...' for s in RADIOS.names())}")
    cls = RADIOS.get(scheme)
    return cls.from_uri(rest, config=config, **options)


__all__ = ["GAIN_MODES", "RADIOS", "Radio", "RadioConfig", "RxBlock", "open_radio"]
