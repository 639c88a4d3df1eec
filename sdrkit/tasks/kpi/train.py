"""Training of the KPI generators: cWGAN-GP (all data at once) and IL-GAN (segment by segment with
balanced replay, incremental vertical freezing and JS early stopping), plus the KDE/GPD anchor fit.

Choices the seed leaves open (recorded in every card):

* Adam betas (0.5, 0.9) (Gulrajani et al., the seed's ref. [20]); LeakyReLU 0.2.
* Gradient penalty one-sided, ``max(0, |grad| - 1)^2`` (Petzka et al.'s Lipschitz penalty), lambda 10: with
  one-dimensional features the two-sided penalty pins the critic's slope at +-1, so it cannot change
  sign once the generator has passed the data and the generator runs off to a sigmoid end (measured
  here: every sample at 1.0 after 200 steps on a uniform target; one-sided: the quartiles are right).
* Dropout (seed: 0.33) in the critic only: in the generator it makes the trained (dropout on) and the
  exported (dropout off) distributions differ.
* Quantile normalization (default; ``minmax`` = the seed's per-segment min-max): each label's feature is
  mapped through its empirical CDF (257 knots, every row when fewer), so the sigmoid targets a uniform
  law; this is what makes a GAN trainable in a few hundred steps on the shared CPU.
* Balanced replay: every batch takes an equal share from each label trained so far (current included).
* Freezing: after segment ``k`` (1-based) 75 % of the nodes of generator hidden layer ``k`` (random,
  seeded) are fixed; the critic is never frozen; the output layer is never frozen.
* Early stop: every ``eval_every`` generator steps, base-2 JS (30 bins per continuous feature in the
  label's normalized range, categories as they are) between 4000 generated rows and the *training*
  rows of the label; a segment stops after ``n_p`` evaluations without improvement (Table II's n_p)
  or at its step cap; the generator of the best evaluation is kept. cWGAN-GP uses the mean JS over
  all labels with its single Table II n_p.
* Training pools are capped at ``pool_cap`` rows per label (uniform subsample); the cWGAN-GP baseline
  draws labels with the full data's (natural) label frequencies.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from sdrkit.dsp.kpi_sim import Segmenter, js_divergence

#: seed Table II patience per data set (IL-GAN per segment, cWGAN one value)
PATIENCE = {"ce": ([1, 3, 5, 15, 2000], 5), "sinr_delay": ([1, 1, 1, 10], 5), "it_pl": ([3, 5, 10, 25, 500], 10)}


@dataclass
class GanConfig:
    method: str = "ilgan"                # ilgan | cwgan
    latent: int = 100
    hidden: int = 200
    layers: int = 5
    dropout: float = 0.33
    n_critic: int = 5
    gp_lambda: float = 10.0
    lr: float = 2e-4
    batch: int = 256
    steps: int = 4000                    # generator steps: cwgan total, ilgan total over segments
    eval_every: int = 100
    patience: list = field(default_factory=lambda: [5])
    replay: bool = True
    freeze: bool = True
    freeze_frac: float = 0.75
    pool_cap: int = 1_000_000
    norm: str = "quantile"               # quantile | minmax (see build_tables)
    one_sided_gp: bool = True            # penalize only gradient norms above 1 (see the module docstring)
    generator_dropout: bool = False      # dropout in the generator too (train/eval mismatch: off)
    min_steps_frac: float = 0.5          # a segment trains at least this share of its step cap
    seed: int = 0
    threads: int = 1


def build_tables(x: np.ndarray, seg: Segmenter, lo: np.ndarray, hi: np.ndarray, mode: str = "quantile",
                 knots: int = 257) -> dict:
    """Per label and continuous feature the normalization table ``(t knots, u knots)`` (domain value
    -> [0, 1], piecewise linear). ``minmax``: the seed's per-segment min-max (two knots, ``lo``/``hi``
    of :func:`~sdrkit.tasks.kpi.data.label_ranges`). ``quantile``: the label's empirical CDF (``knots``
    quantiles; every row when fewer), with the same ``lo``/``hi`` as end points."""
    tables = {}
    lab = seg.labels(x)
    for s in range(seg.n_segments):
        xs = x[lab[:, s]]
        for j, f in enumerate(seg.features):
            if f.kind == "categorical":
                continue
            a, b = float(lo[s, j]), float(hi[s, j])
            if mode == "minmax" or len(xs) == 0:
                kt, ku = np.array([a, b]), np.array([0.0, 1.0])
            else:
                t = np.sort(f.to_domain(xs[:, j]))
                if len(t) >= knots:
                    iu = np.linspace(0, 1, knots)[1:-1]
                    it = np.quantile(t, iu)
                else:
                    iu = (np.arange(len(t)) + 0.5) / len(t)
                    it = t
                kt = np.concatenate([[a], np.clip(it, a, b), [b]])
                ku = np.concatenate([[0.0], iu, [1.0]])
                kt = kt + np.arange(len(kt)) * 1e-12 * max(b - a, 1e-12)     # strictly increasing
            tables[s, j] = (kt, ku)
    return tables


def save_tables(tables: dict, path) -> None:
    np.savez_compressed(path, **{f"t_{s}_{j}": v[0] for (s, j), v in tables.items()},
                        **{f"u_{s}_{j}": v[1] for (s, j), v in tables.items()})


def load_tables(path) -> dict:
    z = np.load(path)
    out = {}
    for k in z.files:
        if k.startswith("t_"):
            _, s, j = k.split("_")
            out[int(s), int(j)] = (z[k], z[f"u_{s}_{j}"])
    return out


class Encoding:
    """Rows <-> the generator's training representation (per label and feature normalized to [0, 1]
    through the tables of :func:`build_tables`; one-hot categories)."""

    def __init__(self, seg: Segmenter, tables: dict):
        self.seg, self.tables = seg, tables
        self.kinds = [f.kind for f in seg.features]
        self.ncat = [len(f.categories) if f.kind == "categorical" else 0 for f in seg.features]
        self.width = sum(c if k == "categorical" else 1 for k, c in zip(self.kinds, self.ncat))

    def encode(self, x: np.ndarray, label: int) -> np.ndarray:
        cols = []
        for j, f in enumerate(self.seg.features):
            if f.kind == "categorical":
                cols.append(np.eye(self.ncat[j], dtype=np.float32)[x[:, j].astype(np.int64)])
            else:
                kt, ku = self.tables[label, j]
                cols.append(np.interp(f.to_domain(x[:, j]), kt, ku)[:, None].astype(np.float32))
        return np.concatenate(cols, axis=1)

    def decode_rows(self, rows: np.ndarray, label: int) -> np.ndarray:
        """The exported graph's rows (u per continuous feature, category index) -> natural units."""
        out = rows.astype(np.float64).copy()
        for j, f in enumerate(self.seg.features):
            if f.kind == "categorical":
                continue
            kt, ku = self.tables[label, j]
            v = f.from_domain(np.interp(rows[:, j], ku, kt))
            out[:, j] = np.round(v) if f.kind == "integer" else v
        return out

    def decode(self, rep: np.ndarray, label: int) -> np.ndarray:
        """A training representation (one-hot groups) -> natural units."""
        cols, i = [], 0
        for j, k in enumerate(self.kinds):
            w = self.ncat[j] if k == "categorical" else 1
            cols.append(rep[:, i:i + w].argmax(1).astype(np.float64) if k == "categorical" else rep[:, i])
            i += w
        return self.decode_rows(np.stack(cols, axis=1), label)

    def hist(self, rep: np.ndarray, bins: int = 30) -> list[np.ndarray]:
        """Per feature histogram of a representation (for the early-stop JS)."""
        hs, i = [], 0
        for j, k in enumerate(self.kinds):
            if k == "categorical":
                w = self.ncat[j]
                hs.append(np.bincount(rep[:, i:i + w].argmax(1), minlength=w).astype(np.float64))
                i += w
            else:
                hs.append(np.histogram(np.clip(rep[:, i], 0, 1), bins=bins, range=(0, 1))[0].astype(np.float64))
                i += 1
        return hs


def build_pools(x: np.ndarray, seg: Segmenter, enc: Encoding, cap: int, rng) -> tuple[list, np.ndarray]:
    """Per label the encoded training rows (at most ``cap``, uniform subsample) and the natural
    label frequencies (rows per label in the full data)."""
    lab = seg.labels(x)
    counts = lab.sum(axis=0).astype(np.float64)
    pools = []
    for s in range(seg.n_segments):
        idx = np.flatnonzero(lab[:, s])
        if len(idx) > cap:
            idx = rng.choice(idx, cap, replace=False)
        pools.append(enc.encode(x[idx], s))
    return pools, counts / counts.sum()


def train_gan(x: np.ndarray, seg: Segmenter, tables: dict, cfg: GanConfig, log=print,
              time_budget_s: float | None = None):
    """Train one generator; returns ``(generator (eval mode), history dict)``."""
    import torch

    from sdrkit.nn.kpi import KpiCritic, KpiGenerator, NodeFreezer

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 5])
    enc = Encoding(seg, tables)
    S = seg.n_segments
    pools, natural = build_pools(x, seg, enc, cfg.pool_cap, rng)
    pool_t = [torch.from_numpy(p) for p in pools]
    ref_hist = [enc.hist(p[rng.choice(len(p), min(len(p), 200_000), replace=False)]) if len(p) else None
                for p in pools]
    filled = np.array([len(p) > 0 for p in pools])
    G = KpiGenerator(S, enc.kinds, enc.ncat, latent=cfg.latent, hidden=cfg.hidden, layers=cfg.layers,
                     dropout=cfg.dropout if cfg.generator_dropout else 0.0)
    D = KpiCritic(enc.width, S, hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    freezer = NodeFreezer(G, cfg.freeze_frac, seed=cfg.seed)
    eye = torch.eye(S)
    B = cfg.batch

    def batch(active, probs):
        labs = rng.choice(active, B, p=probs)
        rows = []
        for s in np.unique(labs):
            k = int((labs == s).sum())
            rows.append((pool_t[s][torch.from_numpy(rng.integers(0, len(pools[s]), k))], s, k))
        real = torch.cat([r for r, _, _ in rows])
        lab = torch.cat([torch.full((k,), int(s)) for _, s, k in rows])
        return real, eye[lab]

    def step(active, probs):
        for _ in range(cfg.n_critic):
            real, oh = batch(active, probs)
            with torch.no_grad():
                fake = G(torch.cat([torch.randn(B, cfg.latent), oh], 1))
            a = torch.rand(B, 1)
            mix = (a * real + (1 - a) * fake).requires_grad_(True)
            d_mix = D(torch.cat([mix, oh], 1))
            grad = torch.autograd.grad(d_mix.sum(), mix, create_graph=True)[0]
            gn = grad.norm(dim=1) - 1
            gp = ((torch.clamp(gn, min=0) if cfg.one_sided_gp else gn) ** 2).mean()
            loss_d = D(torch.cat([fake, oh], 1)).mean() - D(torch.cat([real, oh], 1)).mean() + cfg.gp_lambda * gp
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        _, oh = batch(active, probs)
        fake = G(torch.cat([torch.randn(B, cfg.latent), oh], 1))
        loss_g = -D(torch.cat([fake, oh], 1)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        freezer.zero_grads()
        opt_g.step()
        freezer.restore()
        return float(loss_d.detach()), float(loss_g.detach())

    @torch.no_grad()
    def js_of(label, n=4000):
        G.eval()
        oh = eye[torch.full((n,), label)]
        rep = G(torch.cat([torch.randn(n, cfg.latent), oh], 1)).numpy()
        G.train()
        return float(np.mean([js_divergence(h, r) for h, r in zip(enc.hist(rep), ref_hist[label])]))

    t0 = time.perf_counter()
    hist = {"config": asdict(cfg), "segments": [], "natural_label_freq": natural.tolist(),
            "pool_rows": [len(p) for p in pools]}
    G.train()
    D.train()
    if cfg.method == "cwgan":
        active, probs = np.arange(S), natural
        best, bad, best_state, steps, evals = np.inf, 0, copy.deepcopy(G.state_dict()), 0, []
        patience = int(cfg.patience[0])
        while steps < cfg.steps:
            ld, lg = step(active, probs)
            steps += 1
            if steps % cfg.eval_every == 0:
                js = float(np.mean([js_of(s, 2000) for s in range(S) if filled[s]]))
                evals.append([steps, js, ld, lg])
                if js < best - 1e-4:
                    best, bad, best_state = js, 0, copy.deepcopy(G.state_dict())
                else:
                    bad += 1
                if (bad >= patience and steps >= cfg.min_steps_frac * cfg.steps) or \
                        (time_budget_s and time.perf_counter() - t0 > time_budget_s):
                    break
        G.load_state_dict(best_state)
        hist["segments"].append({"labels": "all", "steps": steps, "best_js_train": best, "evals": evals})
    else:
        used = 0
        for s in range(S):
            # the step budget left is shared by the segments left (early-stopped segments leave theirs)
            cap = max(cfg.eval_every, (cfg.steps - used) // (S - s))
            if not filled[s]:
                hist["segments"].append({"label": s + 1, "steps": 0, "note": "no training rows in this segment"})
                log(f"  segment {s + 1}/{S}: no training rows, skipped")
                continue
            active = np.arange(s + 1) if cfg.replay else np.array([s])
            active = active[filled[active]]
            probs = np.full(len(active), 1 / len(active))
            patience = int(cfg.patience[min(s, len(cfg.patience) - 1)])
            best, bad, best_state, steps, evals = np.inf, 0, copy.deepcopy(G.state_dict()), 0, []
            while steps < cap:
                ld, lg = step(active, probs)
                steps += 1
                if steps % cfg.eval_every == 0:
                    js = js_of(s)
                    evals.append([steps, js, ld, lg])
                    if js < best - 1e-4:
                        best, bad, best_state = js, 0, copy.deepcopy(G.state_dict())
                    else:
                        bad += 1
                    if bad >= patience and steps >= cfg.min_steps_frac * cap:
                        break
                    if time_budget_s and time.perf_counter() - t0 > time_budget_s * (s + 1) / S:
                        break
            used += steps
            G.load_state_dict(best_state)
            frozen = freezer.freeze(s) if (cfg.freeze and s < S - 1) else 0
            hist["segments"].append({"label": s + 1, "steps": steps, "best_js_train": best, "evals": evals,
                                     "nodes_frozen": frozen, "patience": patience, "step_cap": cap})
            log(f"  segment {s + 1}/{S}: {steps} steps, train JS {best:.4f}, froze {frozen} nodes "
                f"({time.perf_counter() - t0:.0f} s)")
    hist["seconds"] = round(time.perf_counter() - t0, 1)
    G.eval()
    return G, hist


def export_sampler(G, path) -> None:
    """Write the generator as ONNX: ``(z, label, gumbel) -> rows``."""
    import torch

    from sdrkit.nn.kpi import KpiSampler

    m = KpiSampler(G).eval()
    G_cat = max(1, sum(c for k, c in zip(G.kinds, G.n_categories) if k == "categorical"))
    z = torch.randn(4, G.latent)
    lab = torch.zeros(4, dtype=torch.int64)
    g = torch.zeros(4, G_cat)
    torch.onnx.export(m, (z, lab, g), str(path), input_names=["z", "label", "gumbel"], output_names=["rows"],
                      dynamic_axes={"z": {0: "batch"}, "label": {0: "batch"}, "gumbel": {0: "batch"},
                                    "rows": {0: "batch"}}, opset_version=17, dynamo=False)


def n_gumbel(kinds, ncat) -> int:
    return max(1, sum(c for k, c in zip(kinds, ncat) if k == "categorical"))


# ---- the KDE / generalized-Pareto anchor ---------------------------------------------------------
def fit_kde_gpd(x: np.ndarray, seg: Segmenter, lo, hi, rng, keep: int = 4000) -> dict:
    """Per label: up to ``keep`` training rows (smoothed bootstrap = Gaussian KDE in the normalized
    representation, Scott's bandwidth); for the segmenting continuous features, a generalized Pareto
    fit (scipy ``genpareto``, location 0) of the exceedances beyond the boundary into the
    second-to-last segment, used for the in-segment values of the two last segments."""
    from scipy.stats import genpareto

    S = seg.n_segments
    lab = seg.labels(x)
    fs = seg.feature_segments(x)
    rows = []
    for s in range(S):
        idx = np.flatnonzero(lab[:, s])
        if len(idx) > keep:
            idx = rng.choice(idx, keep, replace=False)
        rows.append(x[idx])
    gpd = {}
    for j, f in enumerate(seg.features):
        if j not in seg.edges or f.kind == "categorical":
            continue
        e = seg.edges[j]
        low = seg.tail_low[j]
        u = e[2] if low else e[S - 2]            # boundary into segment S-1 (1-based)
        t = f.to_domain(x[:, j])
        y = (u - t) if low else (t - u)
        y = y[y > 0]
        if len(y) > 5000:
            y = rng.choice(y, 5000, replace=False)
        if len(y) >= 20:
            c, _, scale = genpareto.fit(y, floc=0)
            gpd[j] = {"u": float(u), "low": bool(low), "c": float(c), "scale": float(scale), "n": int(len(y))}
    return {"rows": rows, "gpd": gpd, "lo": lo, "hi": hi}


def sample_kde_gpd(fit: dict, seg: Segmenter, label: int, n: int, rng) -> np.ndarray:
    """``n`` rows of ``label`` from the KDE / GPD anchor."""
    from scipy.stats import genpareto

    S = seg.n_segments
    base = fit["rows"][label]
    if len(base) == 0:
        return np.full((n, len(seg.features)), np.nan)
    pick = base[rng.integers(0, len(base), n)].copy()
    lo, hi = fit["lo"], fit["hi"]
    fs = seg.feature_segments(pick)
    for j, f in enumerate(seg.features):
        if f.kind == "categorical":
            continue
        t = f.to_domain(base[:, j])
        span = hi[label, j] - lo[label, j]
        sd = np.std((t - lo[label, j]) / span) if len(t) > 1 else 0.1
        h = 1.06 * max(sd, 1e-3) * len(t) ** -0.2
        tp = f.to_domain(pick[:, j]) + h * span * rng.standard_normal(n)
        tp = np.clip(tp, lo[label, j], hi[label, j])
        g = fit["gpd"].get(j)
        if g is not None and label >= S - 2:
            m = fs[:, j] == label
            e = seg.edges[j]
            k = (S - 1 - label) if g["low"] else label
            a, b = e[k], e[k + 1]
            ya, yb = ((g["u"] - b, g["u"] - a) if g["low"] else (a - g["u"], b - g["u"]))
            ya, yb = max(ya, 0.0), max(yb, 0.0)
            dist = genpareto(g["c"], loc=0, scale=g["scale"])
            ca, cb = dist.cdf(ya), dist.cdf(yb)
            y = dist.ppf(ca + rng.random(int(m.sum())) * max(cb - ca, 1e-300))
            tp[m] = (g["u"] - y) if g["low"] else (g["u"] + y)
        v = f.from_domain(tp)
        pick[:, j] = np.round(v) if f.kind == "integer" else v
    return pick


# ---- the train verb: every (data set, method) job, ONNX export, the card --------------------------
def job_list(datasets, ablation: bool, ablation_dataset: str = "ce") -> list[tuple[str, str, dict]]:
    """``(data set, model key suffix, GanConfig overrides)`` for each generator to train."""
    jobs = []
    for ds in datasets:
        jobs.append((ds, "cwgan", {"method": "cwgan"}))
        jobs.append((ds, "ilgan", {"method": "ilgan"}))
    if ablation and ablation_dataset in datasets:
        jobs.append((ablation_dataset, "ilgan_noreplay", {"method": "ilgan", "replay": False}))
        jobs.append((ablation_dataset, "ilgan_nofreeze", {"method": "ilgan", "freeze": False}))
        jobs.append((ablation_dataset, "ilgan_neither", {"method": "ilgan", "replay": False, "freeze": False}))
    return jobs


def run_job(args) -> dict:
    """Train one generator and export it (a process-pool worker: one thread each)."""
    data, out, ds, key, base, overrides, budget_s = args
    from pathlib import Path

    from sdrkit.tasks.kpi.data import label_ranges, load_dataset

    x, seg, meta = load_dataset(data, ds)
    lo, hi = label_ranges(x, seg)
    pat_il, pat_cw = PATIENCE.get(ds, ([5] * seg.n_segments, 5))
    cfg = GanConfig(**{**base, **overrides})
    tables = build_tables(x, seg, lo, hi, cfg.norm)
    if key == "cwgan":
        save_tables(tables, Path(out) / f"{ds}_norm.npz")
    cfg.patience = list(pat_il) if cfg.method == "ilgan" else [pat_cw]
    print(f"training {ds}/{key} ({cfg.method}, replay={cfg.replay}, freeze={cfg.freeze}) ...", flush=True)
    G, hist = train_gan(x, seg, tables, cfg, log=lambda m: print(f"[{ds}/{key}] {m}", flush=True),
                        time_budget_s=budget_s)
    name = f"{ds}_{key}"
    export_sampler(G, Path(out) / f"{name}.onnx")
    fit = fit_kde_gpd(x, seg, lo, hi, np.random.default_rng([cfg.seed, 9])) if key == "cwgan" else None
    if fit is not None:
        np.savez_compressed(Path(out) / f"{ds}_kde.npz", lo=lo, hi=hi,
                            **{f"rows{s}": r.astype(np.float32) for s, r in enumerate(fit["rows"])})
        hist["gpd"] = {seg.features[j].name: g for j, g in fit["gpd"].items()}
    print(f"  {name}: {hist['seconds']} s", flush=True)
    return {"name": name, "dataset": ds, "key": key, "method": cfg.method, "replay": cfg.replay,
            "freeze": cfg.freeze, "file": f"{name}.onnx", "kinds": G.kinds, "n_categories": G.n_categories,
            "latent": G.latent, "n_labels": G.n_labels, "n_gumbel": n_gumbel(G.kinds, G.n_categories),
            "segmenter": seg.describe(), "lo": lo.tolist(), "hi": hi.tolist(), "history": hist,
            "data_sha256": meta.get("x_sha256"), "data_rows": meta.get("rows"),
            "parameters": int(sum(p.numel() for p in G.parameters()))}
