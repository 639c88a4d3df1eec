"""CSI data sets from 3GPP TR 38.901 channels (sionna-no-rt 2.2, PyTorch on CPU).

Two scenarios in the spirit of CsiNet's COST2100 sets (which cannot be had here):

* ``indoor``: InH (open office), 5.3 GHz, BS on the ceiling (3 m), UEs 1 m high, 3..35 m away
  in a 120-degree sector, walking at 0.9 m/s (the seed's QuaDRiGa setting);
* ``outdoor``: UMa at 700 MHz (a low band), single sector drop (sionna's
  ``gen_single_sector_topology``, all UEs outdoor), 30 km/h.

Both: a 32-element half-wavelength BS ULA (38.901 element pattern), one omni UE antenna,
1024 subcarriers at 15 kHz, downlink; path loss and shadowing off (CSI is normalized per
sample anyway). Each UE drop is an independent topology (new large-scale parameters).

Per sample: the 2-D DFT of ``H`` (32 x 1024) from sionna's paths, first 32 delay taps, computed
in the delay domain directly (:func:`sdrkit.dsp.csi.angular_delay_from_paths`, equal to
``angular_delay(ofdm_response(...))`` to float rounding and ~50x cheaper; sionna's own
``cir_to_ofdm_channel`` took 50 s per 256 x 3 snapshots here),
CsiNet normalization (:mod:`sdrkit.dsp.csi`). Stored per scenario under ``DIR/<scenario>/``:

* ``train.npz``, ``val.npz``, ``test.npz``: ``x`` float16 ``(N, 2, 32, 32)`` in [0, 1], ``scale``
  float32 ``(N,)``; each split from its own seed stream, so test channels are never seen in training;
* ``mobility.npz``: ``h`` complex angular-delay snapshots ``(N, T, 32, 32)`` (float16 pairs) at the
  lags ``lags_ms`` of the same moving UE (sionna's Doppler evolution of the rays);
* ``pilots.sigmf-meta/-data``: a capture of the downlink pilot sweep (32 OFDM symbols, one per BS
  antenna, CP 64) as the UE's receiver hears it at 30 dB, for test channels: the live predictor's
  input (:func:`sdrkit.dsp.csi.estimate_from_pilots`);
* ``card.json``: the generator spec, command, seed, sizes, energy kept by the truncation and the
  SHA-256 of every file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sdrkit.dsp import csi as dcsi
from sdrkit.errors import DatasetError

N_ANT, N_SC, TAPS, SPACING, CP = 32, 1024, 32, 15e3, 64
SAMPLE_RATE = N_SC * SPACING
FRAME_LEN = N_ANT * (N_SC + CP)
LAG_STEP_MS = 2.5
LAGS = (0, 1, 2, 4, 8, 16)        # in LAG_STEP_MS steps: 0, 2.5, 5, 10, 20, 40 ms


@dataclass(frozen=True)
class Scenario:
    name: str
    model: str            # "inh" or "uma"
    carrier_hz: float
    speed_mps: float
    bs_height: float = 3.0
    min_dist: float = 3.0
    max_dist: float = 35.0


SCENARIOS = {
    "indoor": Scenario("indoor", "inh", 5.3e9, 0.9),
    "outdoor": Scenario("outdoor", "uma", 0.7e9, 30 / 3.6, bs_height=25.0, min_dist=35.0, max_dist=500.0),
}


def _topology(sc: Scenario, batch: int, rng: np.random.Generator):
    import torch

    r = rng.uniform(sc.min_dist, sc.max_dist, batch)
    phi = rng.uniform(-np.pi / 3, np.pi / 3, batch)
    ut_loc = np.stack([r * np.cos(phi), r * np.sin(phi), np.full(batch, 1.0 if sc.model == "inh" else 1.5)], -1)
    bs_loc = np.tile([[0.0, 0.0, sc.bs_height]], (batch, 1))
    ut_ori = np.stack([rng.uniform(-np.pi, np.pi, batch), np.zeros(batch), np.zeros(batch)], -1)
    th = rng.uniform(-np.pi, np.pi, batch)
    vel = np.stack([sc.speed_mps * np.cos(th), sc.speed_mps * np.sin(th), np.zeros(batch)], -1)
    t = lambda a: torch.tensor(a[:, None], dtype=torch.float32)   # noqa: E731  (batch, 1 UE/BS, 3)
    in_state = torch.full((batch, 1), sc.model == "inh", dtype=torch.bool)
    return t(ut_loc), t(bs_loc), t(ut_ori), torch.zeros(batch, 1, 3), t(vel), in_state


class Generator:
    """Draws CSI batches of one scenario from sionna's 38.901 model (seeded)."""

    def __init__(self, scenario: Scenario, seed: int):
        import torch
        from sionna.phy import config
        from sionna.phy.channel.tr38901 import InH, PanelArray, UMa

        config.seed = int(seed)
        torch.manual_seed(int(seed))
        self.sc = scenario
        self.rng = np.random.default_rng([seed, 7])
        fc = scenario.carrier_hz
        bs = PanelArray(num_rows_per_panel=1, num_cols_per_panel=N_ANT, polarization="single",
                        polarization_type="V", antenna_pattern="38.901", carrier_frequency=fc)
        ut = PanelArray(num_rows_per_panel=1, num_cols_per_panel=1, polarization="single",
                        polarization_type="V", antenna_pattern="omni", carrier_frequency=fc)
        kw = dict(carrier_frequency=fc, ut_array=ut, bs_array=bs, direction="downlink",
                  enable_pathloss=False, enable_shadow_fading=False)
        self.model = InH(**kw) if scenario.model == "inh" else UMa(o2i_model="low", **kw)

    def paths(self, batch: int, n_time: int = 1):
        """Path gains ``(batch, Nt, P, T)`` and delays ``(batch, P)`` of ``batch`` new UE drops."""
        if getattr(self, "_batch", None) not in (None, batch):
            self.model.reset_topology()
        self._batch = batch
        self.model.set_topology(*_topology(self.sc, batch, self.rng))
        a, tau = self.model(num_time_samples=n_time, sampling_frequency=1000.0 / LAG_STEP_MS)
        # a: [batch, rx=1, rx_ant=1, tx=1, tx_ant=Nt, paths, time]; tau: [batch, 1, 1, paths]
        return a[:, 0, 0, 0].numpy(), tau[:, 0, 0].numpy()

    def angular_delay(self, batch: int, n_time: int = 1, full: bool = False):
        """``(H_ad (batch, T, Nt, taps), energy kept (batch,), H (batch, Nt, Nc) at time 0 or None)``.

        ``full``: also form the 1024-subcarrier response ``H`` (for pilots; 30x the cost).
        """
        a, tau = self.paths(batch, n_time)
        out, ek = [], None
        for t in range(n_time):
            had, kept = dcsi.angular_delay_from_paths(a[..., t], tau, N_SC, SPACING, TAPS)
            out.append(had)
            ek = kept if ek is None else ek
        H = dcsi.ofdm_response(a[..., 0], tau, N_SC, SPACING) if full else None
        return np.stack(out, 1), ek, H


def _chunks(n: int, size: int):
    for i in range(0, n, size):
        yield min(size, n - i)


def make_scenario(out: Path, sc: Scenario, sizes: dict, mobility: int, pilots: int, seed: int,
                  command: str = "", progress: bool = True) -> dict:
    """Generate and write one scenario's splits; returns its card (also written as ``card.json``)."""
    from tqdm import tqdm

    from sdrkit.runtime.card import sha256_file

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    info = {"splits": {}, "energy_kept_mean": {}}
    for i, split in enumerate(("train", "val", "test")):
        n = int(sizes[split])
        gen = Generator(sc, seed * 1000 + i)
        xs, ss, ek = [], [], []
        bar = tqdm(total=n, desc=f"{sc.name} {split}", unit="CSI", disable=None if progress else True, leave=False)
        for b in _chunks(n, 250):
            had, e, _ = gen.angular_delay(b)
            x, s = dcsi.to_real(had[:, 0])
            xs.append(x.astype(np.float16))
            ss.append(s)
            ek.append(e)
            bar.update(b)
        bar.close()
        x, s = np.concatenate(xs), np.concatenate(ss)
        np.savez_compressed(out / f"{split}.npz", x=x, scale=s)
        info["splits"][split] = {"n": n, "seed": [seed, i], "file": f"{split}.npz"}
        info["energy_kept_mean"][split] = float(np.mean(np.concatenate(ek)))
    if mobility:
        gen = Generator(sc, seed * 1000 + 3)
        hs = []
        for b in _chunks(mobility, 100):
            had, _, _ = gen.angular_delay(b, n_time=max(LAGS) + 1)
            hs.append(had[:, list(LAGS)])
        h = np.concatenate(hs)
        np.savez_compressed(out / "mobility.npz", re=h.real.astype(np.float16), im=h.imag.astype(np.float16),
                            lags_ms=np.asarray(LAGS, np.float32) * LAG_STEP_MS)
        info["splits"]["mobility"] = {"n": int(mobility), "seed": [seed, 3], "file": "mobility.npz",
                                      "lags_ms": [float(v) * LAG_STEP_MS for v in LAGS]}
    if pilots:
        write_pilots(out / "pilots", sc, pilots, seed)
        info["splits"]["pilots"] = {"n": int(pilots), "seed": [seed, 4], "file": "pilots.sigmf-data",
                                    "snr_db": 30.0}
    import sionna

    card = {"task": "csi", "scenario": asdict(sc), "command": command, "seed": seed,
            "generator": f"sionna-no-rt {sionna.__version__} tr38901 {sc.model.upper()} (PyTorch, CPU)",
            "array": f"BS ULA {N_ANT} elements, 0.5 lambda, 38.901 pattern; UE 1 omni antenna; downlink",
            "ofdm": {"subcarriers": N_SC, "spacing_hz": SPACING, "taps_kept": TAPS, "cp": CP},
            "normalization": "2-D unitary DFT (angle x delay), first 32 taps, per-sample max |Re|,|Im| scale, "
                             "x = 0.5 + H / (2 scale) in [0, 1] (CsiNet)",
            "pathloss": False, "shadow_fading": False, "seconds": round(time.time() - t0, 1), **info}
    card["sha256"] = {f.name: sha256_file(f) for f in sorted(out.iterdir()) if f.suffix in (".npz", ".sigmf-data")}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def write_pilots(base: Path, sc: Scenario, n: int, seed: int) -> Path:
    """A recording of ``n`` downlink pilot sweeps (one frame each) over new test-like channels."""
    from sdrkit.capture import write_recording

    gen = Generator(sc, seed * 1000 + 4)
    _, _, H = gen.angular_delay(n, full=True)
    rng = np.random.default_rng([seed, 4])
    y = dcsi.pilot_frame(H, CP, rng, snr_db=30.0)
    return write_recording(base, y.ravel(), sample_rate=SAMPLE_RATE, center_frequency=sc.carrier_hz,
                           overwrite=True,
                           extra_global={"sdrkit:csi_pilots": {"antennas": N_ANT, "subcarriers": N_SC, "cp": CP,
                                                               "pilot_seed": 0, "scenario": sc.name,
                                                               "frames": int(n)}})


@dataclass
class CsiData:
    """One scenario read back (float32)."""

    path: Path
    card: dict

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x (N, 2, 32, 32) float32, scale (N,))`` of ``train``/``val``/``test``."""
        f = self.path / f"{name}.npz"
        if not f.exists():
            raise DatasetError(f"{f} is missing; make the data set with 'sdrkit dataset csi --out {self.path.parent}'")
        with np.load(f) as z:
            return z["x"].astype(np.float32), z["scale"].astype(np.float32)

    def mobility(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(h (N, T, 32, 32) complex64, lags_ms (T,))`` or None."""
        f = self.path / "mobility.npz"
        if not f.exists():
            return None
        with np.load(f) as z:
            return (z["re"].astype(np.float32) + 1j * z["im"].astype(np.float32)).astype(np.complex64), z["lags_ms"]


def open_scenario(root, scenario: str) -> CsiData:
    """The data of ``scenario`` under ``root`` (``data/csi``).

    Raises:
        DatasetError: no card there (the message says how to make it).
    """
    p = Path(root) / scenario
    if not (p / "card.json").exists():
        raise DatasetError(f"no CSI data set at {p} (card.json missing); make it with "
                           f"'sdrkit dataset csi --out {root} --scenarios {scenario}'")
    return CsiData(p, json.loads((p / "card.json").read_text()))
