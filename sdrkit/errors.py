"""Every error sdrkit raises, in one place.

The tree::

    SdrkitError                     root: the CLI prints ``Type: message`` and exits 1
    ├── ConfigError                 a setting or file from outside is invalid
    │   └── SettingOutOfRange       a value is outside a firmware profile's range
    ├── DeviceError                 something about a radio
    │   ├── DriverMissing           the backend's driver library is not installed
    │   ├── DeviceNotFound          no radio answers at the URI
    │   ├── RadioTimeout            a stream stalled past its timeout
    │   └── RadioDisconnected       the radio vanished mid-stream
    ├── CaptureError                a SigMF recording is missing, malformed or truncated
    ├── ModelError                  a model card or ONNX file is unusable
    │   └── ModelInputMismatch      a stream does not match what the model expects
    ├── StreamError                 a ZeroMQ stream message or endpoint problem
    └── DatasetError                a data set is missing or inconsistent

Messages name the value, the allowed range or the file, and how to fix it.
Driver errors are wrapped with ``raise ... from exc`` so their cause is kept.
"""

from __future__ import annotations


class SdrkitError(Exception):
    """Root of every error sdrkit raises on purpose."""


class ConfigError(SdrkitError, ValueError):
    """A setting, option or configuration file is invalid."""


class SettingOutOfRange(ConfigError):
    """A radio setting is outside the range its firmware profile allows.

    Attributes:
        setting: pyadi-iio style name of the setting (``rx_lo``, ``sample_rate``, ...).
        value: the requested value.
        allowed: ``(low, high)`` inclusive range, in the setting's unit.
        profile: path or name of the firmware profile that sets the range.
    """

    def __init__(self, setting: str, value, allowed, profile: str, unit: str = "", fix: str = ""):
        self.setting, self.value, self.allowed, self.profile = setting, value, allowed, profile
        lo, hi = allowed
        u = f" {unit}" if unit else ""
        msg = (f"{setting}={value:g}{u} is outside the allowed range "
               f"[{lo:g}, {hi:g}]{u} of profile {profile}")
        msg += f"; {fix}" if fix else f"; choose a value in range or use a profile that allows it"
        super().__init__(msg)


class DeviceError(SdrkitError):
    """A radio could not be opened, configured or streamed."""


class DriverMissing(DeviceError):
    """The driver library a radio backend needs is not importable."""


class DeviceNotFound(DeviceError):
    """No radio answered at the given URI."""


class RadioTimeout(DeviceError, TimeoutError):
    """No samples arrived within the stream timeout."""


class RadioDisconnected(DeviceError, ConnectionError):
    """The radio vanished while it was in use."""


class CaptureError(SdrkitError):
    """A SigMF recording is missing, malformed, truncated or of an unknown datatype."""


class ModelError(SdrkitError):
    """A model card or model file is missing, malformed or inconsistent."""


class ModelInputMismatch(ModelError):
    """A stream's sample rate or frame shape does not match the model card."""


class StreamError(SdrkitError):
    """A stream endpoint or message is invalid."""


class DatasetError(SdrkitError):
    """A data set is missing, malformed or inconsistent with what was asked."""
