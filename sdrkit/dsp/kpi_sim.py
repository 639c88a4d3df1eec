"""A vectorized link simulator of per-packet KPIs whose tails are known, for rare-event generation.

Three data sets, as in the IL-GAN seed (Baldvinsson et al.), each a table of per-packet KPIs:

* ``ce``: channel estimate ``|h|^2`` of Rician fading with factor ``K`` (``K = 0``: Rayleigh,
  ``|h|^2 ~ Exp(1)``), mean power 1. CDF closed form (non-central chi-square).
* ``sinr_delay``: SINR (dB) of a link with lognormal shadowing (``sigma`` dB) and Rayleigh fading
  on the desired signal over three Rayleigh interferers plus noise (closed-form CCDF given the
  shadowing, integrated by Gauss-Hermite quadrature), jointly with the **delay** of a slotted
  HARQ link: 0.5 ms slots, a transmission waits one slot, each transmission takes one slot,
  BLER(SINR) logistic in dB, incremental redundancy (SINRs add and each retransmission's code
  gains ``ir_gain_db`` more), at most 3 transmissions inside the
  2.5 ms bound; the delay is categorical: 1.0 / 1.5 / 2.0 ms, or "late" (logged as one large
  value, 10 ms, as the seed does). Retransmissions see the same shadowing and fresh fading.
* ``it_pl``: on-off traffic: inter-arrival time (s) is Exp(0.5 ms) inside a burst, truncated
  Pareto (alpha 1.2, 10 ms .. 100 s) across an OFF period; packet length (bytes, integer) is a
  truncated discrete Pareto (alpha 1.5) inside each of five byte ranges. IT and PL independent.

Segments (the seed gives only Table I's percentages, not the boundaries, and its rows do not sum to
100 %): the rare segments take Table I's percentages exactly and **segment 1 takes the remainder**
(CE 54.6998 / 23 / 22 / 0.3 / 0.0002 %, SINR 49 / 38 / 12.999 / 0.001 %, IT 90.87 / 8 / 1 / 0.1 /
0.03 %, PL 99.14 / 0.4 / 0.1 / 0.16 / 0.2 %). Boundaries are the exact quantiles of the closed-form
CDFs; the tail is the failure side: deep fades (low ``|h|^2``), low SINR, long IT, long packets.
Delay's segments are its categories, so its proportions come out of the HARQ model (measured, close
to Table I's 52 / 36 / 11 / 1.3 %). Joint data sets put a sample in the segment of each feature
(seed, Sec. IV-B): label ``s`` holds every sample with any feature in segment ``s``.

Truth: :meth:`KpiSim.reference` draws weighted samples (importance sampling: stratified inverse-CDF
sampling of every segment for ``ce`` and ``it_pl``, a mixture of tilted shadowing/fading proposals
for ``sinr_delay``, balance-heuristic weights), so every segment, the 1e-5 one included, has tens of
thousands of reference samples and per-segment JS against the truth is exact up to that run's noise.
The same draws are the importance-sampling anchor (:func:`is_sample`).

Everything is numpy, seeded through an explicit ``rng``; 10M samples take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrkit.errors import DatasetError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Feature:
    """One KPI column.

    Attributes:
        name: column name.
        kind: ``continuous`` (sigmoid output), ``integer`` (sigmoid output, rounded) or ``categorical``
            (Gumbel-softmax output; the column holds the category index).
        unit: unit of the natural values.
        transform: the domain models and histograms work in: ``linear``, ``log10`` (natural
            value > 0) or ``db`` (the column already holds dB).
        categories: natural values of the categories (categorical only).
    """

    name: str
    kind: str
    unit: str = ""
    transform: str = "linear"
    categories: tuple = ()

    def to_domain(self, v):
        v = np.asarray(v, np.float64)
        if self.transform == "log10":
            return np.log10(np.maximum(v, 1e-300))
        return v

    def from_domain(self, t):
        t = np.asarray(t, np.float64)
        if self.transform == "log10":
            return 10 ** t
        return t


def _table(props) -> np.ndarray:
    """Table I row -> segment probabilities: the rare ones as written, segment 1 the remainder."""
    p = np.array([0.0] + [float(x) for x in props[1:]]) / 100
    p[0] = 1 - p[1:].sum()
    return p


TABLE_I = {
    "ce": _table([54, 23, 22, 0.3, 0.0002]),
    "sinr": _table([49, 38, 12, 0.001]),
    "delay": np.array([0.52, 0.36, 0.11, 0.013]),       # seed's row, for comparison only (sums to 1.003)
    "it": _table([91, 8, 1, 0.1, 0.03]),
    "pl": _table([99, 0.4, 0.1, 0.16, 0.2]),
}


class _GridCDF:
    """Inverse CDF by interpolation on a fine grid of the feature's domain (monotone CDF)."""

    def __init__(self, grid: np.ndarray, cdf: np.ndarray):
        keep = np.concatenate([[True], np.diff(cdf) > 0])
        self.grid, self.cdf = grid[keep], cdf[keep]

    def ppf(self, u):
        return np.interp(u, self.cdf, self.grid)


class Segmenter:
    """Segment assignment of KPI rows (seed Sec. IV-B): per feature by value range, joint by label.

    Attributes:
        features: the KPI columns.
        n_segments: segments (labels).
        edges: ``{feature index: (n_segments + 1,) ascending boundaries in the feature's domain}``;
            segment 1 (index 0) is the head; for categorical features the segment is the category.
        tail_low: ``{feature index: True when the tail (last segment) is at low values}``.
        probs: ``{feature index: segment probabilities}`` (None when measured, not set).
    """

    n_segments = 0
    features: tuple = ()

    def __init__(self, features=(), n_segments: int = 0, edges=None, tail_low=None, probs=None):
        if features:
            self.features = tuple(features)
        if n_segments:
            self.n_segments = int(n_segments)
        self.edges: dict = dict(edges or {})
        self.tail_low: dict = dict(tail_low or {})
        self.probs: dict = dict(probs or {})

    # ---- segments ------------------------------------------------------------------------
    def feature_segments(self, x: np.ndarray) -> np.ndarray:
        """Segment index (0-based) of each segmenting feature, ``(n, F)``; -1 for features that
        do not segment."""
        segs = np.full(x.shape, -1, np.int64)
        for j, f in enumerate(self.features):
            if j not in self.edges:
                continue
            if f.kind == "categorical":
                segs[:, j] = x[:, j].astype(np.int64)
                continue
            t = f.to_domain(x[:, j])
            e = self.edges[j]
            # ascending domain; segment 1 is the head: at the top when the tail is low
            k = np.clip(np.searchsorted(e, t, side="right") - 1, 0, self.n_segments - 1)
            segs[:, j] = (self.n_segments - 1 - k) if self.tail_low[j] else k
        return segs

    def labels(self, x: np.ndarray) -> np.ndarray:
        """``(n, n_segments)`` bool: sample in label ``s`` when any feature is in segment ``s``."""
        segs = self.feature_segments(x)
        return np.stack([(segs == s).any(axis=1) for s in range(self.n_segments)], axis=1)

    def describe(self) -> dict:
        """Segment boundaries and probabilities, for the data set's JSON."""
        d = {"name": getattr(self, "name", ""), "n_segments": self.n_segments,
             "features": [{"name": f.name, "kind": f.kind, "unit": f.unit, "transform": f.transform,
                           "categories": list(f.categories)} for f in self.features], "segments": {}}
        for j, e in self.edges.items():
            f = self.features[j]
            d["segments"][f.name] = {"edges_domain": [float(v) for v in e], "tail": "low" if self.tail_low[j]
                                     else "high", "probabilities": None if self.probs.get(j) is None
                                     else [float(p) for p in self.probs[j]]}
        return d

    @classmethod
    def from_description(cls, d: dict) -> "Segmenter":
        """The inverse of :meth:`describe`."""
        feats = tuple(Feature(f["name"], f["kind"], f.get("unit", ""), f.get("transform", "linear"),
                              tuple(f.get("categories") or ())) for f in d["features"])
        names = [f.name for f in feats]
        edges, tail, probs = {}, {}, {}
        for name, sd in d["segments"].items():
            j = names.index(name)
            edges[j] = np.asarray(sd["edges_domain"], np.float64)
            tail[j] = sd["tail"] == "low"
            probs[j] = None if sd.get("probabilities") is None else np.asarray(sd["probabilities"])
        return cls(feats, d["n_segments"], edges, tail, probs)


class KpiSim(Segmenter):
    """Base of the three simulators: natural draws and weighted reference draws."""

    name = ""

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` per-packet KPI rows ``(n, F)`` float64 (categorical columns hold the index)."""
        out = [self._draw(min(CHUNK, n - i), rng) for i in range(0, n, CHUNK)]
        return np.concatenate(out) if out else np.zeros((0, len(self.features)))

    def _draw(self, n, rng):
        raise NotImplementedError

    def reference(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, weights)``: importance-sampled draws whose weighted law is the natural one
        (weights sum to ~1), with every segment well populated."""
        raise NotImplementedError


def _seg_edges_from_cdf(cdf_grid: _GridCDF, probs: np.ndarray, tail_low: bool, lo: float, hi: float):
    """Ascending domain boundaries so that segment s has probability probs[s]."""
    cum = np.cumsum(probs[::-1] if tail_low else probs)[:-1]
    inner = cdf_grid.ppf(cum)
    return np.concatenate([[lo], inner, [hi]])


class CeSim(KpiSim):
    """``|h|^2`` of Rician fading (K = 0: Rayleigh), mean power 1; the tail is the deep fade."""

    name = "ce"
    n_segments = 5

    def __init__(self, rician_k: float = 0.0):
        super().__init__()
        self.k = float(rician_k)
        self.features = (Feature("ce", "continuous", "|h|^2 (linear, mean 1)", "linear"),)
        grid = np.linspace(-14, np.log10(60.0), 40001)
        self.cdf = _GridCDF(grid, self.cdf_at(10 ** grid))      # in log10 |h|^2, for precision
        e = _seg_edges_from_cdf(self.cdf, TABLE_I["ce"], True, grid[0], grid[-1])
        self.edges[0] = np.concatenate([[0.0], 10 ** e[1:]])
        self.tail_low[0] = True
        self.probs[0] = TABLE_I["ce"]

    def cdf_at(self, x):
        """P(|h|^2 <= x), closed form."""
        x = np.asarray(x, np.float64)
        if self.k == 0:
            return -np.expm1(-x)
        from scipy.stats import ncx2

        return ncx2.cdf(2 * (self.k + 1) * x, 2, 2 * self.k)

    def _draw(self, n, rng):
        los = np.sqrt(self.k / (self.k + 1))
        s = np.sqrt(1 / (2 * (self.k + 1)))
        h = los + s * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        return (np.abs(h) ** 2)[:, None]

    def reference(self, n, rng):
        return _stratified(self, [0], n, rng)


def _stratified(sim: KpiSim, cols, n, rng):
    """Stratified inverse-CDF draws: each listed feature independently picks a segment uniformly,
    then a value inside it; weight = prod_j S * p_j(segment)."""
    S = sim.n_segments
    x = np.zeros((n, len(sim.features)))
    w = np.ones(n) / n
    for j in cols:
        seg = rng.integers(0, S, n)
        p = sim.probs[j]
        if sim.tail_low.get(j):
            # segment s lies at cumulative [sum_{k>s} p_k, sum_{k>=s} p_k]
            upper = np.cumsum(p[::-1])[::-1]
            lo_c, hi_c = upper - p, upper
        else:
            c = np.cumsum(p)
            lo_c, hi_c = c - p, c
        u = lo_c[seg] + rng.random(n) * (hi_c[seg] - lo_c[seg])
        x[:, j] = sim.ppf(j, u)
        w = w * S * p[seg]
    return x, w


def _ce_ppf(self, j, u):
    return 10 ** self.cdf.ppf(u)


CeSim.ppf = _ce_ppf


class SinrDelaySim(KpiSim):
    """SINR (dB) with lognormal shadowing over Rayleigh interferers, and HARQ delay (categorical)."""

    name = "sinr_delay"
    n_segments = 4
    DELAYS_MS = (1.0, 1.5, 2.0, 10.0)

    def __init__(self, sigma_db: float = 6.0, snr_db: float = 25.0, interferers_db=(-13.0, -15.0, -17.0),
                 bler_mid_db: float = 8.0, bler_width_db: float = 1.0, ir_gain_db: float = 5.0):
        super().__init__()
        self.sigma = float(sigma_db)
        self.noise = 10 ** (-snr_db / 10)
        self.pi = 10 ** (np.asarray(interferers_db, np.float64) / 10)
        self.mid, self.width, self.ir = float(bler_mid_db), float(bler_width_db), float(ir_gain_db)
        self.features = (Feature("sinr", "continuous", "dB", "db"),
                         Feature("delay", "categorical", "ms", "linear", self.DELAYS_MS))
        grid = np.linspace(-80, 60, 28001)
        self.cdf = _GridCDF(grid, self.cdf_at(grid))
        self.edges[0] = _seg_edges_from_cdf(self.cdf, TABLE_I["sinr"], True, grid[0], grid[-1])
        self.tail_low[0] = True
        self.probs[0] = TABLE_I["sinr"]
        self.edges[1] = np.arange(5, dtype=np.float64)
        self.tail_low[1] = False
        self.probs[1] = None   # set by measure: the HARQ model decides

    def cdf_at(self, t_db):
        """P(SINR <= t), closed form given the shadowing, Gauss-Hermite over the shadowing."""
        t = 10 ** (np.asarray(t_db, np.float64)[..., None] / 10)
        z, wq = np.polynomial.hermite_e.hermegauss(96)
        wq = wq / wq.sum()
        sbar = 10 ** (self.sigma * z / 10)
        ccdf = np.exp(-t * self.noise / sbar)
        for p in self.pi:
            ccdf = ccdf / (1 + t * p / sbar)
        return 1 - (ccdf * wq).sum(axis=-1)

    def ppf(self, j, u):
        return self.cdf.ppf(u)

    def _sinr(self, shadow_db, g0, rng):
        n = len(g0)
        interf = sum(p * rng.exponential(1.0, n) for p in self.pi)
        return 10 ** (shadow_db / 10) * g0 / (interf + self.noise)

    def bler(self, sinr_db):
        return 1 / (1 + np.exp((sinr_db - self.mid) / self.width))

    def _harq(self, shadow_db, sinr1, rng):
        n = len(sinr1)
        acc = sinr1.copy()
        delay = np.full(n, 3, np.int64)
        done = np.zeros(n, bool)
        for k in range(3):
            if k:
                acc = acc + self._sinr(shadow_db, rng.exponential(1.0, n), rng)
            ok = ~done & (rng.random(n) >= self.bler(10 * np.log10(acc) + k * self.ir))
            delay[ok] = k
            done |= ok
        return delay

    def _latent(self, n, rng, mu, mean_g):
        shadow = mu + self.sigma * rng.standard_normal(n)
        g0 = rng.exponential(mean_g, n)
        s1 = self._sinr(shadow, g0, rng)
        return shadow, g0, s1

    def _draw(self, n, rng):
        shadow, g0, s1 = self._latent(n, rng, 0.0, 1.0)
        d = self._harq(shadow, s1, rng)
        return np.stack([10 * np.log10(s1), d.astype(np.float64)], axis=1)

    # proposals (shadowing mean dB, desired-fading mean): natural, then deeper and deeper
    PROPOSALS = ((0.0, 1.0), (-4.0, 0.2), (-3.0, 0.02), (-3.0, 2e-3), (-3.0, 2e-4))

    def reference(self, n, rng):
        k = len(self.PROPOSALS)
        per = -(-n // k)
        xs, shs, gs = [], [], []
        for mu, mg in self.PROPOSALS:
            for i in range(0, per, CHUNK):
                m = min(CHUNK, per - i)
                sh, g0, s1 = self._latent(m, rng, mu, mg)
                d = self._harq(sh, s1, rng)
                xs.append(np.stack([10 * np.log10(s1), d.astype(np.float64)], axis=1))
                shs.append(sh)
                gs.append(g0)
        x, sh, g0 = np.concatenate(xs), np.concatenate(shs), np.concatenate(gs)
        # balance heuristic: w = p(z) / mean_k q_k(z) (the Gaussian constant cancels)
        logp = -0.5 * (sh / self.sigma) ** 2 - g0
        logq = np.stack([-0.5 * ((sh - mu) / self.sigma) ** 2 - np.log(mg) - g0 / mg for mu, mg in self.PROPOSALS])
        mx = logq.max(axis=0)
        logmix = mx + np.log(np.exp(logq - mx).mean(axis=0))
        w = np.exp(logp - logmix)
        return x, w / len(w)


class ItPlSim(KpiSim):
    """On-off heavy-tailed traffic: inter-arrival time (s) and packet length (bytes), independent."""

    name = "it_pl"
    n_segments = 5
    PL_RANGES = ((40, 300), (301, 600), (601, 1000), (1001, 1400), (1401, 1500))

    def __init__(self, burst_mean_s: float = 5e-4, off_prob: float = 0.03, alpha: float = 1.2,
                 off_min_s: float = 0.01, off_max_s: float = 100.0, pl_alpha: float = 1.5):
        super().__init__()
        self.mu, self.q, self.a, self.xm, self.H = burst_mean_s, off_prob, alpha, off_min_s, off_max_s
        self.features = (Feature("it", "continuous", "s", "log10"), Feature("pl", "integer", "bytes", "linear"))
        grid = np.linspace(-9, np.log10(off_max_s), 40001)
        self.cdf = _GridCDF(grid, self.cdf_at(10 ** grid))
        self.edges[0] = _seg_edges_from_cdf(self.cdf, TABLE_I["it"], False, grid[0], grid[-1])
        self.tail_low[0] = False
        self.probs[0] = TABLE_I["it"]
        # packet length: segment s = byte range s, with Table I's probability
        self.probs[1] = TABLE_I["pl"]
        self.tail_low[1] = False
        self.edges[1] = np.array([self.PL_RANGES[0][0] - 0.5] + [r[1] + 0.5 for r in self.PL_RANGES])
        vals, pmf = [], []
        for (lo, hi), p in zip(self.PL_RANGES, self.probs[1]):
            v = np.arange(lo, hi + 1, dtype=np.float64)
            m = v ** -(pl_alpha + 1)
            vals.append(v)
            pmf.append(p * m / m.sum())
        self.pl_values, self.pl_pmf = np.concatenate(vals), np.concatenate(pmf)
        self.pl_cdf = np.cumsum(self.pl_pmf)

    def cdf_at(self, x):
        x = np.asarray(x, np.float64)
        on = -np.expm1(-x / self.mu)
        par = np.where(x < self.xm, 0.0, (1 - (self.xm / np.maximum(x, self.xm)) ** self.a)
                       / (1 - (self.xm / self.H) ** self.a))
        return (1 - self.q) * on + self.q * np.minimum(par, 1.0)

    def ppf(self, j, u):
        if j == 0:
            return 10 ** self.cdf.ppf(u)
        i = np.minimum(np.searchsorted(self.pl_cdf, u, side="left"), len(self.pl_values) - 1)
        return self.pl_values[i]

    def _draw(self, n, rng):
        off = rng.random(n) < self.q
        it = rng.exponential(self.mu, n)
        u = rng.random(int(off.sum()))
        c = 1 - (self.xm / self.H) ** self.a
        it[off] = self.xm / (1 - u * c) ** (1 / self.a)
        pl = self.ppf(1, rng.random(n))
        return np.stack([it, pl], axis=1)

    def reference(self, n, rng):
        return _stratified(self, [0, 1], n, rng)


SIMULATORS = {"ce": CeSim, "sinr_delay": SinrDelaySim, "it_pl": ItPlSim}


def get_sim(name: str, **kwargs) -> KpiSim:
    """The simulator called ``name`` (``ce``, ``sinr_delay``, ``it_pl``).

    Raises:
        DatasetError: unknown name (the message lists the known ones).
    """
    if name not in SIMULATORS:
        raise DatasetError(f"unknown KPI data set {name!r}; known: {', '.join(SIMULATORS)}")
    return SIMULATORS[name](**kwargs)


def is_sample(sim: KpiSim, label: int, n: int, rng: np.random.Generator, draws: int = 400_000):
    """Importance-sampling anchor: ``n`` rows of label ``label`` resampled (by weight) from the
    simulator's tilted draws.

    Returns:
        (rows, simulated draws used, effective sample size of the label).
    """
    x, w = sim.reference(draws, rng)
    m = sim.labels(x)[:, label]
    if not m.any():
        raise DatasetError(f"importance sampling found no sample of label {label + 1} in {draws} draws")
    xs, ws = x[m], w[m]
    ess = float(ws.sum() ** 2 / (ws ** 2).sum())
    idx = rng.choice(len(xs), n, p=ws / ws.sum())
    return xs[idx], draws, ess


def weighted_spearman(a: np.ndarray, b: np.ndarray, w: np.ndarray | None = None) -> float:
    """Spearman rank correlation of ``a`` and ``b`` (weighted ranks when ``w`` is given)."""
    def ranks(v):
        order = np.argsort(v, kind="stable")
        ww = np.ones(len(v)) if w is None else w
        cw = np.cumsum(ww[order])
        r = np.empty(len(v))
        r[order] = cw - ww[order] / 2
        # ties share the mean rank
        vs = v[order]
        _, start, cnt = np.unique(vs, return_index=True, return_counts=True)
        for s0, c in zip(start[cnt > 1], cnt[cnt > 1]):
            if c > 1:
                r[order[s0:s0 + c]] = r[order[s0:s0 + c]].mean() if w is None else \
                    np.average(r[order[s0:s0 + c]], weights=ww[order[s0:s0 + c]])
        return r
    if len(a) < 3:
        return float("nan")
    ww = np.ones(len(a)) if w is None else w
    ra, rb = ranks(a), ranks(b)
    ma, mb = np.average(ra, weights=ww), np.average(rb, weights=ww)
    cov = np.average((ra - ma) * (rb - mb), weights=ww)
    sa, sb = np.sqrt(np.average((ra - ma) ** 2, weights=ww)), np.sqrt(np.average((rb - mb) ** 2, weights=ww))
    return float(cov / (sa * sb)) if sa > 0 and sb > 0 else float("nan")


def js_divergence(p, q) -> float:
    """Jensen-Shannon divergence of two histograms (counts or probabilities), **log base 2**, in
    [0, 1] (seed eq. 3; with natural logs it would lie in [0, ln 2])."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))
    return float(min(max((kl(p) + kl(q)) / 2, 0.0), 1.0))


def histogram(values: np.ndarray, edges: np.ndarray, weights=None) -> np.ndarray:
    """Counts of ``values`` in bins ``edges`` (values outside go to the end bins)."""
    v = np.clip(np.asarray(values, np.float64), edges[0], edges[-1])
    return np.histogram(v, bins=edges, weights=weights)[0].astype(np.float64)
