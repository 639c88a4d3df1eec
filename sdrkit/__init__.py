"""sdrkit: a hardware-in-the-loop SDR toolkit.

Radios (simulated, ADALM-Pluto, USRP) -> complex64 I/Q -> frames / spectrograms ->
models (onnxruntime) -> predictions -> sinks. ``import sdrkit`` is light: radio drivers,
torch and onnxruntime are imported only by the parts that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from sdrkit.errors import (
    CaptureError,
    ConfigError,
    DatasetError,
    DeviceError,
    DeviceNotFound,
    DriverMissing,
    ModelError,
    ModelInputMismatch,
    RadioDisconnected,
    RadioTimeout,
    SdrkitError,
    SettingOutOfRange,
    StreamError,
)
from sdrkit.profiles import load_profile
from sdrkit.radio import Radio, RadioConfig, RxBlock, open_radio

__all__ = [
    "CaptureError",
    "ConfigError",
    "DatasetError",
    "DeviceError",
    "DeviceNotFound",
    "DriverMissing",
    "ModelError",
    "ModelInputMismatch",
    "Radio",
    "RadioConfig",
    "RadioDisconnected",
    "RadioTimeout",
    "RxBlock",
    "SdrkitError",
    "SettingOutOfRange",
    "StreamError",
    "__version__",
    "load_profile",
    "open_radio",
]
