"""``sdrkit generate kpi``: rows of one segment, and a scenario file for the sim radio built from them."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from sdrkit.dsp.scenario import Scenario

LATE_CATEGORY = 3        # sinr_delay: the "late" delay category (beyond the 2.5 ms bound)


def scenario_from_rows(dataset: str, rows: np.ndarray, mean_snr_db: float = 20.0, samples_per_ms: int = 1000,
                       source: dict | None = None) -> Scenario:
    """One scenario step per generated row (one rx() block each):

    * ``ce``: fade_db = 10 log10 |h|^2, snr_db = mean_snr_db + fade_db (the block's SNR after the fade);
    * ``sinr_delay``: snr_db = SINR, in-block delay = delay (ms) x samples_per_ms; a late packet
      (beyond the delay bound) is an ``overflow`` fault of that block (a lost block);
    * ``it_pl`` (or an imported table): no channel change; an inter-arrival time >= 1 s is a
      ``timeout`` fault of that block (a stalled stream).
    """
    n = len(rows)
    src = dict(source or {})
    src.update(dataset=dataset, rows=n)
    if dataset == "ce":
        fade = 10 * np.log10(np.maximum(rows[:, 0], 1e-30))
        return Scenario(snr_db=np.clip(mean_snr_db + fade, -299, 299), fade_db=np.clip(fade, -299, 0),
                        source=src)
    if dataset == "sinr_delay":
        from sdrkit.dsp.kpi_sim import SinrDelaySim

        cat = rows[:, 1].astype(int)
        delay_ms = np.asarray(SinrDelaySim.DELAYS_MS)[np.clip(cat, 0, 3)]
        delay = np.where(cat == LATE_CATEGORY, 0, np.round(delay_ms * samples_per_ms)).astype(int)
        faults = tuple(f"overflow@{k}:1" for k in np.flatnonzero(cat == LATE_CATEGORY))
        return Scenario(snr_db=np.clip(rows[:, 0], -299, 299), delay=delay, faults=faults, source=src)
    faults = tuple(f"timeout@{k}" for k in np.flatnonzero(rows[:, 0] >= 1.0))
    return Scenario(snr_db=None, faults=faults, source=src)


def run_generate(cfg) -> int:
    from sdrkit.dsp.kpi_sim import Segmenter
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.kpi.live import KpiGenerators

    card = load_card(cfg.model)
    gens = KpiGenerators(card)
    ds = cfg.dataset or card.extra.get("live_dataset", "ce")
    name = f"{ds}_{cfg.method}"
    m = gens.info(name)
    rng = np.random.default_rng([cfg.seed, 18, cfg.segment])
    t0 = time.perf_counter()
    rows = gens.sample(name, cfg.segment, cfg.n, rng)
    dt = time.perf_counter() - t0
    seg = Segmenter.from_description(m["segmenter"])
    in_seg = float(seg.labels(rows)[:, cfg.segment - 1].mean()) if len(rows) else float("nan")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f.name + (f" ({f.unit})" if f.unit else "") for f in seg.features])
        for r in rows:
            w.writerow([(f.categories[int(v)] if f.kind == "categorical" else
                         (int(v) if f.kind == "integer" else f"{v:.6g}")) for f, v in zip(seg.features, r)])
    print(f"{name}: {len(rows)} rows of segment {cfg.segment} in {dt:.2f} s ({len(rows) / max(dt, 1e-9):.3g} rows/s), "
          f"{100 * in_seg:.1f}% inside the segment's range -> {out}")
    if cfg.scenario:
        sc = scenario_from_rows(ds, rows, cfg.mean_snr, cfg.samples_per_ms,
                                source={"card": str(card.path), "model": name, "segment": cfg.segment,
                                        "seed": cfg.seed, "command": cfg.command_line})
        p = sc.save(cfg.scenario)
        print(f"scenario: {sc.steps} blocks, {len(sc.faults)} faults -> {p} (use sim:REC?scenario={p})")
    return 0
