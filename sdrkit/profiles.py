"""Radio settings and firmware profiles: the data every radio backend is built on.

This module is the layer below the radios: :class:`RadioConfig` (the settings of one radio,
under pyadi-iio's names) and :class:`Profile` (what a radio and its firmware can do) are
plain data and import nothing from :mod:`sdrkit.radio`; the radio backends import them.
``sdrkit.radio`` re-exports ``RadioConfig`` and ``GAIN_MODES``.

A profile lives in ``firmware_profiles/<name>.yaml`` and holds, per setting, an inclusive
range with its unit and where the numbers come from::

    name: pluto-ad9363
    radio: ADALM-Pluto
    ranges:
      rx_lo:           {min: 325e6, max: 3.8e9, unit: Hz}
      sample_rate:     {min: 520833, max: 61.44e6, unit: samples/s}
      rx_rf_bandwidth: {min: 200e3, max: 20e6, unit: Hz}
      rx_hardwaregain: {min: -3, max: 71, unit: dB}
      ...
    sample_format: {datatype: ci16_le, bits: 12, full_scale: 2048}
    host_streaming_rate: {value: 6e6, unit: samples/s, note: ...}
    defaults: {rx_lo: 2.4e9, sample_rate: 1e6, ...}
    rx_buffering: {buffers: 4, note: ..., source: ...}
    sources: [...]

``rx_buffering`` (:class:`RxBuffering`) is how much the radio and its driver hold for a reader
that falls behind before they overflow, given as exactly one of ``seconds`` (a time),
``samples`` (a fixed count per channel, e.g. UHD's receive frames) or ``buffers`` (a count of
``rx_buffer_size`` blocks, e.g. libiio's kernel buffers); :meth:`RxBuffering.seconds_at` turns
any of them into a time at given settings. The simulated radio models its overflows with it.

:meth:`Profile.check` validates a :class:`RadioConfig`; a value out of range raises
:class:`~sdrkit.errors.SettingOutOfRange` naming the setting, the range and the profile file.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

from sdrkit.errors import ConfigError, SettingOutOfRange

GAIN_MODES = ("manual", "slow_attack", "fast_attack", "hybrid")


@dataclass(frozen=True)
class RadioConfig:
    """Settings of one radio, validated against its firmware profile when applied.

    Attributes:
        rx_lo: RX center frequency, Hz.
        sample_rate: sample rate, samples/s (RX and TX share it, as on an AD936x).
        rx_rf_bandwidth: RX analog filter bandwidth, Hz; None = same as sample_rate.
        gain_control_mode: "manual" or an AGC mode ("slow_attack", "fast_attack", "hybrid").
        rx_hardwaregain: RX gain in dB, applied in "manual" mode. In an AGC mode the AGC
            sets the gain (read-only, as on an AD936x) and this keeps the last manual value;
            a radio refuses to change it until gain_control_mode is "manual" again.
        rx_enabled_channels: RX channel indices, distinct, each >= 0. One channel gives
            blocks of shape (n,); several give (channels, n) in this order.
        rx_buffer_size: samples per rx() block, per channel.
        tx_lo: TX center frequency, Hz; None = same as rx_lo.
        tx_hardwaregain: TX gain (attenuation is negative), dB.
    """

    rx_lo: float = 2.4e9
    sample_rate: float = 1e6
    rx_rf_bandwidth: float | None = None
    gain_control_mode: str = "manual"
    rx_hardwaregain: float = 30.0
    rx_enabled_channels: tuple[int, ...] = (0,)
    rx_buffer_size: int = 16384
    tx_lo: float | None = None
    tx_hardwaregain: float = -10.0

    def __post_init__(self):
        if self.gain_control_mode not in GAIN_MODES:
            raise ConfigError(f"gain_control_mode={self.gain_control_mode!r} is not one of {GAIN_MODES}")
        if not self.sample_rate > 0:
            raise ConfigError(f"sample_rate={self.sample_rate} must be > 0 samples/s")
        if int(self.rx_buffer_size) != self.rx_buffer_size or self.rx_buffer_size < 1:
            raise ConfigError(f"rx_buffer_size={self.rx_buffer_size} must be a positive integer number of samples")
        if not self.rx_enabled_channels:
            raise ConfigError("rx_enabled_channels is empty; enable at least one channel, e.g. (0,)")
        chans = tuple(int(c) for c in self.rx_enabled_channels)
        if min(chans) < 0 or len(set(chans)) != len(chans):
            raise ConfigError(f"rx_enabled_channels={list(chans)} must be distinct channel indices >= 0, "
                              f"e.g. (0,) or (0, 1)")
        object.__setattr__(self, "rx_enabled_channels", chans)
        object.__setattr__(self, "rx_buffer_size", int(self.rx_buffer_size))

    @property
    def bandwidth(self) -> float:
        """Effective RX RF bandwidth, Hz."""
        return float(self.rx_rf_bandwidth if self.rx_rf_bandwidth is not None else self.sample_rate)

    @property
    def effective_tx_lo(self) -> float:
        """TX center frequency, Hz."""
        return float(self.tx_lo if self.tx_lo is not None else self.rx_lo)

    @property
    def num_channels(self) -> int:
        """Number of enabled RX channels."""
        return len(self.rx_enabled_channels)

    def replace(self, **changes) -> "RadioConfig":
        """A copy with ``changes`` applied (names as in this class)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown radio setting(s) {sorted(unknown)}; known: "
                              f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict (JSON/YAML friendly)."""
        d = dataclasses.asdict(self)
        d["rx_enabled_channels"] = list(self.rx_enabled_channels)
        return d


# RadioConfig field -> profile range key (the same names, one place to change them)
_CHECKED = {
    "rx_lo": "rx_lo",
    "tx_lo": "tx_lo",
    "sample_rate": "sample_rate",
    "rx_rf_bandwidth": "rx_rf_bandwidth",
    "rx_hardwaregain": "rx_hardwaregain",
    "tx_hardwaregain": "tx_hardwaregain",
    "rx_buffer_size": "rx_buffer_size",
}


@dataclass(frozen=True)
class Range:
    """Inclusive range of one setting."""

    min: float
    max: float
    unit: str = ""

    def __contains__(self, v) -> bool:
        return self.min <= v <= self.max


@dataclass(frozen=True)
class RxBuffering:
    """How much a radio and its driver hold for a reader that falls behind, before they overflow.

    Exactly one amount is given; the others are None:

    Attributes:
        seconds: a fixed time, s.
        samples: a fixed number of samples per channel (e.g. UHD: num_recv_frames x samples
            per receive frame).
        buffers: a number of ``rx_buffer_size``-sample blocks (e.g. libiio's kernel buffers), so
            the time grows with ``rx_buffer_size`` and shrinks with ``sample_rate``.
        note: how the figure was derived, and how far it is an approximation.
        source: where the numbers come from.

    Raises:
        ConfigError: not exactly one amount, or an amount that is not a positive finite number
            (``samples`` and ``buffers`` whole numbers).
    """

    seconds: float | None = None
    samples: int | None = None
    buffers: int | None = None
    note: str = ""
    source: str = ""

    def __post_init__(self):
        given = {k: v for k, v in (("seconds", self.seconds), ("samples", self.samples),
                                   ("buffers", self.buffers)) if v is not None}
        if len(given) != 1:
            raise ConfigError(f"rx_buffering needs exactly one of seconds, samples or buffers; got "
                              f"{sorted(given) or 'none'} (e.g. {{buffers: 4}} for libiio's 4 kernel buffers)")
        (key, v), = given.items()
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"rx_buffering {key}={v!r} is not a number") from None
        if not math.isfinite(f) or f <= 0 or (key != "seconds" and f != int(f)):
            what = "a time > 0 s" if key == "seconds" else "a whole number > 0"
            raise ConfigError(f"rx_buffering {key}={v!r} must be {what}")
        object.__setattr__(self, key, f if key == "seconds" else int(f))

    def samples_at(self, sample_rate: float, rx_buffer_size: int) -> int:
        """Samples per channel held at ``sample_rate`` (samples/s) with ``rx_buffer_size``-sample blocks."""
        if self.seconds is not None:
            return int(self.seconds * sample_rate)
        if self.samples is not None:
            return self.samples
        return self.buffers * int(rx_buffer_size)

    def seconds_at(self, sample_rate: float, rx_buffer_size: int) -> float:
        """The same as a time, s: how long a reader may stall without losing samples."""
        if self.seconds is not None:
            return self.seconds
        return self.samples_at(sample_rate, rx_buffer_size) / sample_rate

    def describe(self) -> str:
        """``0.1 s`` / ``32640 samples`` / ``4 x rx_buffer_size``."""
        if self.seconds is not None:
            return f"{self.seconds:g} s"
        return f"{self.samples} samples" if self.samples is not None else f"{self.buffers} x rx_buffer_size"


@dataclass(frozen=True)
class Profile:
    """One radio + firmware variant's capabilities (see module docstring)."""

    name: str
    radio: str
    path: str
    ranges: dict[str, Range]
    rx_channels: int = 1
    gain_modes: tuple[str, ...] = ("manual",)
    sample_format: dict = field(default_factory=dict)
    host_streaming_rate: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    rx_buffering: RxBuffering | None = None
    sources: tuple = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def check(self, config: RadioConfig) -> None:
        """Raise SettingOutOfRange for the first setting of ``config`` outside this profile."""
        for attr, key in _CHECKED.items():
            rng = self.ranges.get(key)
            if rng is None:
                continue
            value = getattr(config, attr)
            if attr == "rx_rf_bandwidth":
                value = config.bandwidth
            if attr == "tx_lo":
                value = config.effective_tx_lo
            if attr == "rx_hardwaregain" and config.gain_control_mode != "manual":
                continue
            if value not in rng:
                raise SettingOutOfRange(attr, value, (rng.min, rng.max), self.path, unit=rng.unit)
        if config.gain_control_mode not in self.gain_modes:
            raise ConfigError(f"gain_control_mode={config.gain_control_mode!r} is not supported by profile "
                              f"{self.path}; supported: {list(self.gain_modes)}")
        bad = [c for c in config.rx_enabled_channels if not 0 <= c < self.rx_channels]
        if bad:
            raise SettingOutOfRange("rx_enabled_channels", bad[0], (0, self.rx_channels - 1), self.path)

    def default_config(self) -> RadioConfig:
        """A RadioConfig from this profile's defaults."""
        d = dict(self.defaults)
        unknown = set(d) - {f.name for f in dataclasses.fields(RadioConfig)}
        if unknown:
            raise ConfigError(f"{self.path}: defaults name unknown setting(s) {sorted(unknown)}; known: "
                              f"{[f.name for f in dataclasses.fields(RadioConfig)]}")
        if "rx_enabled_channels" in d:
            d["rx_enabled_channels"] = tuple(d["rx_enabled_channels"])
        return RadioConfig(**d)


def _num(v, where: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {v!r} is not a number") from None


def parse_profile(data: dict, path: str) -> Profile:
    """Build a Profile from a YAML mapping, validating every field.

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a firmware profile must be a YAML mapping")
    for key in ("name", "radio", "ranges"):
        if key not in data:
            raise ConfigError(f"{path}: missing required key {key!r}")
    ranges = {}
    if not isinstance(data["ranges"], dict):
        raise ConfigError(f"{path}: 'ranges' must be a mapping of setting -> {{min, max, unit}}")
    for k, r in data["ranges"].items():
        if not isinstance(r, dict) or "min" not in r or "max" not in r:
            raise ConfigError(f"{path}: ranges.{k} needs 'min' and 'max'")
        lo, hi = _num(r["min"], f"{path}: ranges.{k}.min"), _num(r["max"], f"{path}: ranges.{k}.max")
        if lo > hi:
            raise ConfigError(f"{path}: ranges.{k} has min {lo:g} > max {hi:g}")
        ranges[k] = Range(lo, hi, str(r.get("unit", "")))
    defaults = dict(data.get("defaults") or {})
    for k in ("rx_lo", "sample_rate", "rx_rf_bandwidth", "rx_hardwaregain", "tx_lo", "tx_hardwaregain"):
        if defaults.get(k) is not None:
            defaults[k] = _num(defaults[k], f"{path}: defaults.{k}")
    buffering = data.get("rx_buffering")
    if buffering is not None:
        amounts = ("seconds", "samples", "buffers")
        if not isinstance(buffering, dict) or set(buffering) - {*amounts, "note", "source"}:
            raise ConfigError(f"{path}: rx_buffering must be a mapping with one of {list(amounts)} and "
                              f"optional note, source; e.g. {{buffers: 4, source: libiio docs}}")
        try:
            buffering = RxBuffering(**{k: buffering.get(k) for k in amounts},
                                    note=str(buffering.get("note", "")), source=str(buffering.get("source", "")))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    prof = Profile(
        name=str(data["name"]), radio=str(data["radio"]), path=path, ranges=ranges,
        rx_channels=int(data.get("rx_channels", 1)),
        gain_modes=tuple(data.get("gain_modes", ["manual"])),
        sample_format=dict(data.get("sample_format") or {}),
        host_streaming_rate=dict(data.get("host_streaming_rate") or {}),
        defaults=defaults, rx_buffering=buffering, sources=tuple(data.get("sources") or ()), raw=data,
    )
    if defaults:
        prof.check(prof.default_config())
    return prof


@functools.lru_cache(maxsize=None)
def _load(path: str) -> Profile:
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read firmware profile {p}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"firmware profile {p} is not valid YAML: {exc}") from exc
    return parse_profile(data, str(p))


def profile_names() -> list[str]:
    """Names of the bundled profiles (file stems in firmware_profiles/, found by sdrkit.resources)."""
    from sdrkit.resources import names

    return names("profiles")


def load_profile(name_or_path: str) -> Profile:
    """Load a bundled profile by name (``pluto-ad9363``) or any profile file by path.

    A path relative to the working directory comes first; otherwise the bundled
    ``firmware_profiles/`` (of the source tree or of an installed wheel, see
    :mod:`sdrkit.resources`) is searched, so names work from any directory.

    Raises:
        ConfigError: unknown name, unreadable file or invalid contents.
    """
    from sdrkit.resources import resolve

    p = resolve("profiles", str(name_or_path), must_exist=False)
    if p.exists() or p.suffix in (".yaml", ".yml"):
        return _load(str(p.resolve()))
    raise ConfigError(f"unknown firmware profile {name_or_path!r}; bundled: {', '.join(profile_names())} "
                      f"(or pass a path to a .yaml file)")
