"""Channel scenarios: a schedule of per-block SNR, fading depth, delay and faults for the sim radio.

A scenario file is JSON (``sdrkit generate kpi ... --scenario FILE`` writes one from generated
KPI samples)::

    {"sdrkit_scenario": 1,
     "snr_db":  [12.0, -3.5, ...],     # SNR of each rx() block as received, dB (after the fade)
     "fade_db": [0.0, -18.2, ...],     # channel power gain applied to the block, dB (|h|^2)
     "delay":   [0, 37, ...],          # samples the block's signal arrives late (zeros before it)
     "faults":  ["overflow@12:1"],     # the sim radio's fault specs, merged with its own
     "loop": true,                     # repeat the steps (false: blocks after the last pass unchanged)
     "source": {...}}                  # provenance (model card, segment, seed, command)

Every list is optional; present lists must have the same length (one step per rx() call).
Step ``k`` acts on rx() call ``k`` (modulo the length when ``loop``), in this order: the block is
scaled by ``10**(fade_db/20)``, delayed by ``delay`` samples inside the block, and complex AWGN
is added at ``snr_db`` **relative to the block's mean power after the fade** (measured before the
delay), so ``snr_db`` is the SNR of the block exactly as written, whatever the recording holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError

SCENARIO_VERSION = 1
MAX_SCENARIO_BYTES = 64 << 20
MAX_STEPS = 10_000_000
MAX_DELAY = 1 << 20


@dataclass(frozen=True)
class Scenario:
    """A per-block channel schedule (see the module docstring).

    Attributes:
        snr_db: (steps,) float or None: SNR of each block as received, dB.
        fade_db: (steps,) float or None: power gain of each block, dB.
        delay: (steps,) int or None: in-block delay, samples (>= 0).
        faults: fault specs for the sim radio (``overflow@K[:M]``, ``timeout@K``, ``disconnect@K``).
        loop: repeat the steps.
        source: provenance.
    """

    snr_db: np.ndarray | None = None
    fade_db: np.ndarray | None = None
    delay: np.ndarray | None = None
    faults: tuple = ()
    loop: bool = True
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        lens = {k: len(v) for k, v in (("snr_db", self.snr_db), ("fade_db", self.fade_db), ("delay", self.delay))
                if v is not None}
        if len(set(lens.values())) > 1:
            raise ConfigError(f"scenario lists have different lengths {lens}; give one value per block in each")
        n = next(iter(lens.values()), 0)
        if n > MAX_STEPS:
            raise ConfigError(f"scenario has {n} steps; at most {MAX_STEPS}")
        for k in ("snr_db", "fade_db"):
            v = getattr(self, k)
            if v is not None:
                v = np.asarray(v, np.float64)
                if not np.all(np.isfinite(v)) or np.any(np.abs(v) > 300):
                    raise ConfigError(f"scenario {k} must be finite numbers within +-300 dB")
                object.__setattr__(self, k, v)
        if self.delay is not None:
            d = np.asarray(self.delay, np.float64)
            if not np.all(np.isfinite(d)) or np.any(d != np.round(d)) or np.any(d < 0) or np.any(d > MAX_DELAY):
                raise ConfigError(f"scenario delay must be whole samples in [0, {MAX_DELAY}]")
            object.__setattr__(self, "delay", d.astype(np.int64))
        object.__setattr__(self, "faults", tuple(str(f) for f in self.faults))

    @property
    def steps(self) -> int:
        """Blocks one pass of the schedule covers (0: faults only)."""
        for v in (self.snr_db, self.fade_db, self.delay):
            if v is not None:
                return len(v)
        return 0

    def step(self, block: int) -> int | None:
        """The step that acts on rx() call ``block`` (None: none)."""
        n = self.steps
        if n == 0:
            return None
        if self.loop:
            return block % n
        return block if block < n else None

    def apply(self, x: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
        """Apply the step of rx() call ``block`` to ``x`` (channels, n) complex64, in place when possible.

        Returns:
            the block after fading, delay and noise.
        """
        k = self.step(block)
        if k is None:
            return x
        if self.fade_db is not None and self.fade_db[k] != 0:
            x *= np.float32(10 ** (self.fade_db[k] / 20))
        p = float(np.mean(np.abs(x) ** 2)) if x.size else 0.0
        if self.delay is not None and self.delay[k] > 0:
            d = int(min(self.delay[k], x.shape[-1]))
            x[:, d:] = x[:, :x.shape[-1] - d].copy()
            x[:, :d] = 0
        if self.snr_db is not None:
            std = np.float32(np.sqrt((p or 1e-12) / 10 ** (self.snr_db[k] / 10) / 2))
            noise = rng.standard_normal((x.shape[0], x.shape[-1], 2), dtype=np.float32).view(np.complex64)[..., 0]
            noise *= std
            x += noise
        return x

    def to_dict(self) -> dict:
        d: dict = {"sdrkit_scenario": SCENARIO_VERSION}
        for k in ("snr_db", "fade_db"):
            v = getattr(self, k)
            if v is not None:
                d[k] = [round(float(a), 4) for a in v]
        if self.delay is not None:
            d["delay"] = [int(a) for a in self.delay]
        d["faults"] = list(self.faults)
        d["loop"] = bool(self.loop)
        d["source"] = self.source
        return d

    def save(self, path) -> Path:
        """Write the scenario as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()) + "\n")
        return path


def load_scenario(path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ConfigError: unreadable, not a version-1 scenario, or a field out of range (the message says which).
    """
    from sdrkit.capture.safejson import load_json

    where = f"scenario file {path}"
    d = load_json(path, error=ConfigError, where=where, max_bytes=MAX_SCENARIO_BYTES,
                  fix="write it with 'sdrkit generate kpi ... --scenario FILE'")
    if not isinstance(d, dict) or d.get("sdrkit_scenario") != SCENARIO_VERSION:
        raise ConfigError(f"{where}: not a scenario (needs \"sdrkit_scenario\": {SCENARIO_VERSION}); "
                          f"write it with 'sdrkit generate kpi ... --scenario FILE'")
    known = {"sdrkit_scenario", "snr_db", "fade_db", "delay", "faults", "loop", "source"}
    unknown = set(d) - known
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    for k in ("snr_db", "fade_db", "delay", "faults"):
        if k in d and not isinstance(d[k], list):
            raise ConfigError(f"{where}: {k} must be a list")
    for k in ("snr_db", "fade_db", "delay"):
        if k in d and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d[k]):
            raise ConfigError(f"{where}: {k} must be a list of numbers")
    try:
        return Scenario(snr_db=d.get("snr_db"), fade_db=d.get("fade_db"), delay=d.get("delay"),
                        faults=tuple(d.get("faults") or ()), loop=bool(d.get("loop", True)),
                        source=d.get("source") if isinstance(d.get("source"), dict) else {})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
