"""Hardware-in-the-loop rigs: which radios, which front ends, which links, loaded from YAML.

A rig file (``rigs/*.yaml``)::

    name: sim-loopback
    description: ...
    hardware: false                 # true: needs real radios on the bench
    emulator: {kind: pluto, ...}    # optional: start a virtual Pluto, its URI is ${EMULATOR_URI}
    radios:
      sdr: {uri: "sim:?...", profile: simulated, front_end: ideal, settings: {rx_lo: 915e6, ...}}
    links:
      - {from: sdr, to: sdr, kind: simulated | cable | air, attenuation_db: 30, distance_m: 3}
    loopback: {tx: sdr, rx: sdr, expect_snr_db: [15, 40], expect_cfo_hz: [-500, 500]}

:func:`check_rig` validates the file, opens every radio, applies and checks its settings
against its firmware profile, and measures a TX -> RX loopback where the rig has one
(received power, SNR and CFO from a known waveform).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError, SdrkitError

LINK_KINDS = ("simulated", "cable", "air")
SETTINGS = ("rx_lo", "tx_lo", "sample_rate", "rx_rf_bandwidth", "rx_hardwaregain", "tx_hardwaregain",
            "gain_control_mode", "rx_buffer_size")


@dataclass(frozen=True)
class RigRadio:
    name: str
    uri: str
    profile: str
    front_end: str = ""
    settings: dict = field(default_factory=dict)
    role: str = "txrx"
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    src: str
    dst: str
    kind: str
    attenuation_db: float | None = None
    distance_m: float | None = None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rig:
    name: str
    path: str
    description: str
    radios: dict
    links: tuple
    loopback: dict | None = None
    hardware: bool = False
    emulator: dict | None = None


def load_rig(path) -> Rig:
    """Read and validate a rig file.

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    import yaml

    from sdrkit.profiles import load_profile
    from sdrkit.radio import RADIOS
    from sdrkit.radio.frontends import get_front_end

    from sdrkit.resources import resolve

    p = resolve("rigs", path)
    try:
        d = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read rig {p}: {exc.strerror}; rigs live in rigs/*.yaml") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"rig {p} is not valid YAML: {exc}") from exc
    where = f"rig {p}"
    if not isinstance(d, dict) or not isinstance(d.get("radios"), dict) or not d["radios"]:
        raise ConfigError(f"{where}: needs a 'radios' mapping with at least one radio")
    radios = {}
    for name, r in d["radios"].items():
        if not isinstance(r, dict) or not isinstance(r.get("uri"), str) or not isinstance(r.get("profile"), str):
            raise ConfigError(f"{where}: radio {name!r} needs 'uri' and 'profile' strings")
        scheme = r["uri"].partition(":")[0]
        if scheme not in RADIOS:
            raise ConfigError(f"{where}: radio {name!r} has URI scheme {scheme!r}; known: {RADIOS.names()}")
        load_profile(r["profile"])
        settings = dict(r.get("settings") or {})
        bad = set(settings) - set(SETTINGS)
        if bad:
            raise ConfigError(f"{where}: radio {name!r} has unknown settings {sorted(bad)}; known: {list(SETTINGS)}")
        fe = str(r.get("front_end", ""))
        if scheme == "sim" and fe:
            get_front_end(fe)
        extra = {k: v for k, v in r.items() if k not in ("uri", "profile", "front_end", "settings", "role")}
        radios[name] = RigRadio(name, r["uri"], r["profile"], fe, settings, str(r.get("role", "txrx")), extra)
    links = []
    for i, l in enumerate(d.get("links") or []):
        if not isinstance(l, dict) or l.get("from") not in radios or l.get("to") not in radios:
            raise ConfigError(f"{where}: link {i} must name radios of this rig in 'from' and 'to'")
        if l.get("kind") not in LINK_KINDS:
            raise ConfigError(f"{where}: link {i} kind {l.get('kind')!r} must be one of {LINK_KINDS}")
        if l["kind"] == "cable" and l.get("attenuation_db") is None:
            raise ConfigError(f"{where}: link {i} is a cable and needs attenuation_db (never cable TX to RX "
                              f"without an attenuator)")
        if l["kind"] == "air" and l.get("distance_m") is None:
            raise ConfigError(f"{where}: link {i} is over the air and needs distance_m")
        links.append(Link(l["from"], l["to"], l["kind"], l.get("attenuation_db"), l.get("distance_m"),
                          {k: v for k, v in l.items() if k not in ("from", "to", "kind")}))
    lb = d.get("loopback")
    if lb is not None:
        if not isinstance(lb, dict) or lb.get("tx") not in radios or lb.get("rx") not in radios:
            raise ConfigError(f"{where}: loopback needs 'tx' and 'rx' naming radios of this rig")
    return Rig(str(d.get("name", p.stem)), str(p), str(d.get("description", "")), radios, tuple(links), lb,
               bool(d.get("hardware", False)), d.get("emulator"))


def measure_loopback(tx, rx, n: int = 4096, seed: int = 0) -> dict:
    """Transmit a known QPSK sequence (cyclic) and estimate what comes back.

    Returns received power (dBFS), SNR (dB, from the residual after removing the best
    delayed, scaled, frequency-corrected copy of the waveform), CFO (Hz) and delay (samples).
    """
    rng = np.random.default_rng(seed)
    w = (np.exp(1j * np.pi / 2 * rng.integers(0, 4, n) + 1j * np.pi / 4) * 0.5).astype(np.complex64)
    tx.tx(w, cyclic=True)
    try:
        old = rx.rx_buffer_size
        rx.rx_buffer_size = 4 * n
        for _ in range(2):
            rx.rx()                      # let buffers fill with the new transmission
        r = rx.rx().samples
        rx.rx_buffer_size = old
    finally:
        stop = getattr(tx, "tx_destroy_buffer", None)
        if stop:
            stop()
    fs = rx.sample_rate
    # non-coherent sum of 256-sample chunk correlations: robust to a CFO of many cycles per waveform
    R = np.fft.fft(r[: 2 * n])
    score = np.zeros(2 * n)
    for k in range(0, n, 256):
        wk = np.zeros(2 * n, np.complex64)
        wk[k:k + 256] = w[k:k + 256]
        score += np.abs(np.fft.ifft(R * np.conj(np.fft.fft(wk))))
    delay = int(np.argmax(score[:n]))
    seg = r[delay: delay + n]
    z = seg * np.conj(w)
    cfo = float(np.angle(np.sum(z[1:] * np.conj(z[:-1]))) * fs / (2 * np.pi))
    derot = seg * np.exp(-2j * np.pi * cfo / fs * np.arange(n))
    g = np.vdot(w, derot) / np.vdot(w, w)
    resid = derot - g * w
    ps, pn = float(np.abs(g) ** 2 * np.mean(np.abs(w) ** 2)), float(np.mean(np.abs(resid) ** 2))
    return {"rx_power_dbfs": float(10 * np.log10(np.mean(np.abs(r) ** 2) + 1e-20)),
            "snr_db": float(10 * np.log10(ps / max(pn, 1e-20))), "cfo_hz": cfo, "delay_samples": delay}


def check_rig(rig: Rig, log=print) -> list[str]:
    """Open every radio, apply settings, measure the loopback; returns the list of failures."""
    from sdrkit.radio import open_radio

    failures: list[str] = []
    emu = None
    uri_env = {}
    if rig.emulator:
        if rig.emulator.get("kind") != "pluto":
            return [f"emulator kind {rig.emulator.get('kind')!r} is not supported (only pluto)"]
        from sdrkit.radio.emulator import PlutoEmulator
        from sdrkit.radio.sim import LoopbackChannel

        emu = PlutoEmulator(None, port=0, profile=rig.emulator.get("profile", "pluto-ad9363"),
                            loopback=LoopbackChannel(snr_db=float(rig.emulator.get("loopback_snr_db", 30)))).start()
        uri_env["EMULATOR_URI"] = emu.uri
        log(f"started a virtual Pluto on {emu.uri}")
    opened = {}
    try:
        for name, r in rig.radios.items():
            uri = r.uri
            for k, v in uri_env.items():
                uri = uri.replace("${" + k + "}", v)
            try:
                radio = open_radio(uri)
                if r.settings:
                    radio.configure(**{k: (float(v) if k not in ("gain_control_mode", "rx_buffer_size") else v)
                                       for k, v in r.settings.items()})
                from sdrkit.profiles import load_profile

                load_profile(r.profile).check(radio.config)
                opened[name] = radio
                log(f"  {name:10s} OK    {uri}  rx_lo {radio.rx_lo / 1e6:.3f} MHz, {radio.sample_rate / 1e6:g} MS/s, "
                    f"profile {r.profile}, front end {r.front_end or '-'}")
            except SdrkitError as exc:
                failures.append(f"radio {name} ({uri}): {type(exc).__name__}: {exc}")
                log(f"  {name:10s} FAIL  {type(exc).__name__}: {exc}")
        lb = rig.loopback
        if lb and lb["tx"] in opened and lb["rx"] in opened:
            m = measure_loopback(opened[lb["tx"]], opened[lb["rx"]])
            log(f"  loopback {lb['tx']} -> {lb['rx']}: rx power {m['rx_power_dbfs']:.1f} dBFS, SNR {m['snr_db']:.1f} dB, "
                f"CFO {m['cfo_hz']:.0f} Hz, delay {m['delay_samples']} samples")
            for key, unit in (("snr_db", "dB"), ("cfo_hz", "Hz")):
                rng = lb.get(f"expect_{key}")
                if rng and not rng[0] <= m[key] <= rng[1]:
                    failures.append(f"loopback {key} = {m[key]:.1f} {unit} outside the expected {rng} {unit}")
    finally:
        for radio in opened.values():
            radio.close()
        if emu is not None:
            emu.stop()
    return failures
