"""KPI data sets on disk: simulated (``sdrkit dataset kpi --sim ce``) or read from a table of metrics.

A data set is ``<folder>/<name>.npz`` (``x``: ``(n, F)`` float32 rows, categorical columns hold the
category index) plus ``<folder>/<name>.json`` (features, segment boundaries, how it was made: command,
seed, simulator settings, sha256 of the rows, label counts). Tables come from CSV, JSONL (one object
per line, nested numeric fields flattened as ``a.b``: what ``sdrkit classify --jsonl`` writes, e.g.
``latency_ms``) or Parquet (when pyarrow is installed); their segments are quantiles of the data at
the Table I proportions of ``--proportions``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from sdrkit.dsp.kpi_sim import Feature, Segmenter, get_sim
from sdrkit.errors import DatasetError

#: data set name -> simulator and default size (Table I's 10M for CE; 10M SINR & delay: 100 rows in
#: the 0.001 % segment; 2.5M IT & PL as in the seed's real data)
DEFAULT_N = {"ce": 10_000_000, "sinr_delay": 10_000_000, "it_pl": 2_500_000}


def write_dataset(out, name: str, x: np.ndarray, seg: Segmenter, info: dict) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x = np.ascontiguousarray(x, np.float32)
    np.savez(out / f"{name}.npz", x=x)
    lab = seg.labels(x.astype(np.float64))
    fs = seg.feature_segments(x.astype(np.float64))
    meta = {"name": name, "rows": int(len(x)), "segmenter": seg.describe(),
            "label_counts": [int(c) for c in lab.sum(axis=0)],
            "feature_segment_fractions": {f.name: [float(np.mean(fs[:, j] == s)) for s in range(seg.n_segments)]
                                          for j, f in enumerate(seg.features) if j in seg.edges},
            "x_sha256": hashlib.sha256(x.tobytes()).hexdigest(), **info}
    path = out / f"{name}.json"
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def simulate_dataset(out, sim_name: str, n: int | None, seed: int, command: str = "", **sim_kwargs) -> Path:
    """Simulate ``n`` rows of ``sim_name`` and write them (see the module docstring)."""
    sim = get_sim(sim_name, **sim_kwargs)
    n = int(n or DEFAULT_N[sim_name])
    t0 = time.perf_counter()
    x = sim.draw(n, np.random.default_rng([seed, 18]))
    dt = time.perf_counter() - t0
    return write_dataset(out, sim_name, x, sim, {"simulator": sim_name, "simulator_kwargs": sim_kwargs,
                                                 "seed": seed, "command": command, "simulate_seconds": round(dt, 3),
                                                 "rows_per_second": round(n / dt)})


def load_dataset(folder, name: str) -> tuple[np.ndarray, Segmenter, dict]:
    """``(rows float64, segmenter, meta)`` of data set ``name`` in ``folder``.

    Raises:
        DatasetError: missing files (the message says how to make them).
    """
    folder = Path(folder)
    npz, js = folder / f"{name}.npz", folder / f"{name}.json"
    if not npz.exists() or not js.exists():
        have = sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
        raise DatasetError(f"KPI data set {name!r} not found in {folder} (has: {', '.join(have) or 'nothing'}); "
                           f"make it with 'sdrkit dataset kpi --sim {name} --out {folder}'")
    meta = json.loads(js.read_text())
    x = np.load(npz)["x"].astype(np.float64)
    return x, Segmenter.from_description(meta["segmenter"]), meta


def read_table(path, columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Numeric columns of a CSV / JSONL / Parquet file as ``(rows (n, F) float64, names)``; rows with a
    missing or non-numeric value in a chosen column are dropped.

    Raises:
        DatasetError: unknown format, no such column, pyarrow missing for Parquet, or no rows left.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"metrics file {path} not found")
    suffix = path.suffix.lower()
    records: list[dict] = []
    if suffix == ".csv":
        with open(path, newline="") as fh:
            records = list(csv.DictReader(fh))
    elif suffix in (".jsonl", ".ndjson"):
        with open(path) as fh:
            for i, line in enumerate(fh):
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DatasetError(f"{path}:{i + 1}: not JSON ({exc.msg})") from None
                    if isinstance(obj, dict):
                        records.append(_flatten(obj))
    elif suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DatasetError(f"{path}: reading Parquet needs pyarrow ('pip install pyarrow'), or convert it "
                               f"to CSV") from None
        records = pq.read_table(path).to_pylist()
    else:
        raise DatasetError(f"{path}: unknown metrics format {suffix!r}; give .csv, .jsonl or .parquet")
    if not records:
        raise DatasetError(f"{path} holds no rows")
    names = columns or [k for k, v in records[0].items() if _num(v) is not None]
    missing = [c for c in names if c not in records[0]]
    if missing:
        raise DatasetError(f"{path}: no column(s) {missing}; it has {sorted(records[0])}")
    rows = [[_num(r.get(c)) for c in names] for r in records]
    x = np.array([r for r in rows if all(v is not None for v in r)], np.float64).reshape(-1, len(names))
    if len(x) < 10:
        raise DatasetError(f"{path}: only {len(x)} complete numeric rows in columns {names}; need >= 10")
    return x, names


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _num(v):
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def import_dataset(out, path, name: str, columns: list[str] | None, proportions: list[float],
                   tail: str = "high", log_columns: tuple = (), command: str = "") -> Path:
    """Segment a user's table of metrics (quantile boundaries at ``proportions``) and write it."""
    x, names = read_table(path, columns)
    p = np.asarray(proportions, np.float64) / 100
    p[0] = 1 - p[1:].sum()
    if np.any(p <= 0):
        raise DatasetError(f"--proportions {proportions}: every segment needs a share > 0 and the rare ones "
                           f"must sum to < 100")
    S = len(p)
    feats, edges, tails, probs = [], {}, {}, {}
    for j, c in enumerate(names):
        f = Feature(c, "continuous", "", "log10" if c in log_columns else "linear")
        if f.transform == "log10" and np.any(x[:, j] <= 0):
            raise DatasetError(f"column {c!r} has values <= 0; it cannot be log-scaled (drop it from --log)")
        feats.append(f)
        t = f.to_domain(x[:, j])
        low = tail == "low"
        cum = np.cumsum(p[::-1] if low else p)[:-1]
        inner = np.quantile(t, cum)
        edges[j] = np.concatenate([[t.min() - 1e-9], inner, [t.max() + 1e-9]])
        tails[j], probs[j] = low, p
    seg = Segmenter(feats, S, edges, tails, probs)
    return write_dataset(out, name, x, seg, {"simulator": None, "source": str(path), "columns": names,
                                             "command": command, "seed": None})


def label_ranges(x: np.ndarray, seg: Segmenter, margin: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Per label and feature, the domain range the generator's sigmoid spans: the label's data
    min..max, widened to the segment's inner boundaries for the feature that segments it, plus
    ``margin`` of the span each side (seed Sec. IV-B normalizes each segment on its own)."""
    S, F = seg.n_segments, len(seg.features)
    lo, hi = np.zeros((S, F)), np.ones((S, F))
    lab = seg.labels(x)
    fs = seg.feature_segments(x)
    for s in range(S):
        xs = x[lab[:, s]]
        for j, f in enumerate(seg.features):
            if f.kind == "categorical":
                continue
            t = f.to_domain(xs[:, j]) if len(xs) else np.zeros(1)
            a, b = float(t.min()), float(t.max())
            if j in seg.edges and (fs[lab[:, s], j] == s).any():
                e = seg.edges[j]
                k = (S - 1 - s) if seg.tail_low[j] else s
                if k > 0:
                    a = min(a, e[k])
                if k < S - 1:
                    b = max(b, e[k + 1])
            span = max(b - a, 1e-12)
            lo[s, j], hi[s, j] = a - margin * span, b + margin * span
            if f.transform == "linear" and a >= 0 and lo[s, j] < 0:
                lo[s, j] = 0.0          # a nonnegative KPI stays nonnegative
    return lo, hi
