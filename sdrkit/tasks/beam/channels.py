"""Clustered 3GPP channels for the beam simulator (TR 38.901 CDL-A..E and TDL-A..E).

A :class:`Scene` is one propagation environment of one recording: a channel family, a delay
spread, a maximum Doppler and a slow angular drift, drawn from a seed. :func:`scene_paths`
turns it into per-frame rays (AoD seen from the TX array, delay in samples, complex gain) for
:func:`sdrkit.tasks.beam.sim.generate`.

Model (numpy, no sionna import; the tables are in :mod:`~sdrkit.tasks.beam.tables_38901`):

- CDL: each cluster of Table 7.7.1-x is split into ``rays`` rays at the cluster AoD plus
  ``cASD x`` offsets of Table 7.5-3 (a symmetric subset), equal power; the LOS entry of CDL-D/E
  is one ray. TDL: each tap is a cluster of ``rays`` rays around an AoD drawn uniformly in
  +/-70 deg (TDL has no angles; 38.901 leaves them to the user), spread 5 deg.
- The whole model is translated in angle (38.901 7.7.5.1) by a random offset so that the
  strongest cluster falls inside the codebook's span; delays are ``normalized x DS``.
- The TX panel's element pattern (Table 7.3-1, horizontal cut: -min(12 (phi/65)^2, 30) dB)
  weights each ray; rays behind the array are attenuated by 30 dB.
- Each ray has a random phase and a Doppler ``fd cos(alpha)`` (alpha uniform): frames at
  different times see the rays add up differently (small-scale fading); the cluster AoDs
  drift by ``drift_deg_per_s`` (one rate per cluster, drawn in +/- that value).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from sdrkit.errors import ConfigError
from sdrkit.tasks.beam.tables_38901 import CDL, RAY_OFFSETS, TDL

#: 38.901 Table 7.7.3-1 delay-spread scaling values (ns), "very long" = 1000 ns
DELAY_SPREADS_NS = {"very-short": 10.0, "short": 30.0, "nominal": 100.0, "long": 300.0, "very-long": 1000.0}
#: ``sdrkit`` is the simulator's own geometric scene (LOS + three fixed reflectors)
FAMILIES = ("sdrkit",) + tuple(CDL) + tuple(TDL)
LOS_FAMILIES = ("sdrkit", "CDL-D", "CDL-E", "TDL-D", "TDL-E")
#: the channel family held back from training (the validation shift); never trained on
HELD_BACK_FAMILY = "CDL-B"
TRAIN_FAMILIES = tuple(f for f in FAMILIES if f != HELD_BACK_FAMILY)
#: seconds between consecutive frames of a recording (one 1024-sample frame at 1 MS/s)
FRAME_PERIOD_S = 1.024e-3


@dataclass(frozen=True)
class Scene:
    """One propagation environment (see the module docstring)."""

    family: str
    delay_spread_ns: float = 300.0
    doppler_hz: float = 10.0
    drift_deg_per_s: float = 1.0
    seed: int = 0
    rays: int = 4

    def __post_init__(self):
        if self.family not in FAMILIES or self.family == "sdrkit":
            raise ConfigError(f"unknown channel family {self.family!r}; use one of {', '.join(FAMILIES[1:])} "
                              f"(or no scene for sdrkit's own)")
        if not 0 < self.delay_spread_ns <= 4000:
            raise ConfigError(f"delay spread {self.delay_spread_ns} ns must be in (0, 4000]")

    def to_dict(self) -> dict:
        return asdict(self)


def parse_scene(text: str) -> Scene | None:
    """``CDL-B`` / ``CDL-B:300`` / ``CDL-B:very-long:20:1:7`` (family[:DS ns or name[:Doppler Hz[:drift
    deg/s[:seed]]]]) -> Scene; ``sdrkit`` -> None (the simulator's own scene)."""
    parts = str(text).split(":")
    if parts[0] == "sdrkit":
        return None
    try:
        ds = DELAY_SPREADS_NS.get(parts[1], None) if len(parts) > 1 else 300.0
        ds = float(parts[1]) if ds is None else ds
        fd = float(parts[2]) if len(parts) > 2 else 10.0
        dr = float(parts[3]) if len(parts) > 3 else 1.0
        seed = int(parts[4]) if len(parts) > 4 else int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    except ValueError:
        raise ConfigError(f"channel {text!r}: use FAMILY[:DS_ns|{'|'.join(DELAY_SPREADS_NS)}[:DOPPLER_HZ"
                          f"[:DRIFT_DEG_S[:SEED]]]]") from None
    return Scene(parts[0], ds, fd, dr, seed)


def random_scene(family: str, rng: np.random.Generator, ds_range_ns=(100.0, 1000.0), doppler_max_hz: float = 30.0,
                 drift_max: float = 2.0) -> Scene | None:
    """A scene of ``family`` with a log-uniform delay spread, uniform Doppler and drift."""
    if family == "sdrkit":
        return None
    ds = float(np.exp(rng.uniform(np.log(ds_range_ns[0]), np.log(ds_range_ns[1]))))
    return Scene(family, round(ds, 1), round(float(rng.uniform(0, doppler_max_hz)), 2),
                 round(float(rng.uniform(0, drift_max)), 3), int(rng.integers(2 ** 31)))


def element_gain_db(theta_deg: np.ndarray) -> np.ndarray:
    """38.901 Table 7.3-1 horizontal element pattern (dB, relative), angle wrapped to +/-180."""
    t = (np.asarray(theta_deg) + 180.0) % 360.0 - 180.0
    return -np.minimum(12.0 * (t / 65.0) ** 2, 30.0)


def _cluster_table(scene: Scene, rng: np.random.Generator):
    """(aod deg (C,), delay normalized (C,), power linear (C,), ray spread deg (C,), is_single_ray (C,))."""
    if scene.family in CDL:
        t = CDL[scene.family]
        aod = np.asarray(t["aod"], float)
        spread = np.full(len(aod), float(t["cASD"]))
    else:
        t = TDL[scene.family]
        aod = rng.uniform(-70.0, 70.0, len(t["delays"]))
        if t["los"]:
            aod[1] = aod[0]                     # the LOS ray and the first Rayleigh tap share a direction
        spread = np.full(len(aod), 5.0)
    single = np.zeros(len(aod), bool)
    if t["los"]:
        single[0] = True
    return aod, np.asarray(t["delays"], float), 10 ** (np.asarray(t["powers"], float) / 10), spread, single


def scene_paths(scene: Scene, times: np.ndarray, span_deg: float = 60.0, sample_rate: float = 1e6):
    """Per-frame rays of ``scene`` at ``times`` (seconds).

    Returns:
        theta (n, R) AoD in degrees, tau (n, R) delay in samples, amp (n, R) complex gain.
    """
    rng = np.random.default_rng(scene.seed)
    aod, dly, pw, spread, single = _cluster_table(scene, rng)
    # translate so the strongest cluster lands inside the codebook span
    offset = rng.uniform(-0.8 * span_deg, 0.8 * span_deg) - aod[int(np.argmax(pw))]
    offs = np.asarray(RAY_OFFSETS, float)
    pick = np.linspace(0, len(offs) - 1, max(scene.rays // 2, 1)).round().astype(int)
    basis = np.concatenate([offs[pick], -offs[pick]])[: max(scene.rays, 1)]
    th, tu, pp = [], [], []
    for c in range(len(aod)):
        if single[c]:
            th.append([aod[c]]), tu.append([dly[c]]), pp.append([pw[c]])
        else:
            th.append(aod[c] + spread[c] * basis), tu.append(np.full(len(basis), dly[c]))
            pp.append(np.full(len(basis), pw[c] / len(basis)))
    cl = np.concatenate([np.full(len(a), i) for i, a in enumerate(th)])
    th0 = np.concatenate(th) + offset
    tau0 = np.concatenate(tu) * scene.delay_spread_ns * 1e-9 * sample_rate
    p = np.concatenate(pp)
    p = p / p.sum()
    phase = rng.uniform(0, 2 * np.pi, len(p))
    fd = scene.doppler_hz * np.cos(rng.uniform(0, 2 * np.pi, len(p)))
    fd[single[cl]] = 0.0                  # the LOS ray keeps its phase (a fixed link)
    drift = rng.uniform(-1, 1, len(aod))[cl] * scene.drift_deg_per_s
    t = np.asarray(times, float)[:, None]
    theta = th0[None, :] + drift[None, :] * t
    amp = np.sqrt(p)[None, :] * 10 ** (element_gain_db(theta) / 20) * np.exp(1j * (phase[None, :] + 2 * np.pi * fd[None, :] * t))
    tau = np.broadcast_to(tau0[None, :], theta.shape)
    return theta, tau, amp
