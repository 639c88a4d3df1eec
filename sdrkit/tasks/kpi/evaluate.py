"""``sdrkit evaluate kpi``: per-segment JS divergence (base 2, bootstrap CIs) of every generator and both
anchors against the simulator's truth, the seed's Tables III-V, every target of issue 18, PNGs, the
generation throughput beside the MAC-rate ceiling, and the stress run.

Truth: the simulator's importance-sampled reference run (:meth:`sdrkit.dsp.kpi_sim.KpiSim.reference`,
``--n-ref`` draws, never seen in training). Per label and feature the histogram has 40 equal bins in
the feature's domain over the reference's weighted 0.01 %..99.99 % range of that label (values
outside go to the end bins); categorical features use their categories. JS of a method = JS between
its ``--n-gen`` rows generated for the label and the reference histogram; the CI is the 2.5..97.5 %
percentile over ``--bootstrap`` resamples of the generated rows. The "floor" row is JS of ``--n-gen``
rows resampled from the truth itself: the estimator's noise at that sample size.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sdrkit.dsp.kpi_sim import Segmenter, get_sim, is_sample, js_divergence, weighted_spearman

BINS = 40
HEAD_SHARE = 0.01       # a "head" segment holds >= 1 % of the data (Table I: segments 1-3)
GAN_METHODS = ("cwgan", "ilgan")
ANCHORS = ("kde_gpd", "is")
ABLATION = ("ilgan_noreplay", "ilgan_nofreeze", "ilgan_neither")


def _wquantile(v, w, qs):
    o = np.argsort(v)
    c = np.cumsum(w[o])
    c /= c[-1]
    return np.interp(qs, c, v[o])


class Truth:
    """Reference histograms per label and feature (see the module docstring)."""

    def __init__(self, seg: Segmenter, x: np.ndarray, w: np.ndarray):
        self.seg = seg
        self.lab = seg.labels(x)
        self.x, self.w = x, w
        self.edges: dict = {}
        self.hist: dict = {}
        self.ess: dict = {}
        for s in range(seg.n_segments):
            m = self.lab[:, s]
            xs, ws = x[m], w[m]
            self.ess[s] = float(ws.sum() ** 2 / max((ws ** 2).sum(), 1e-300)) if m.any() else 0.0
            for j, f in enumerate(seg.features):
                if not m.any():
                    continue
                if f.kind == "categorical":
                    e = np.arange(len(f.categories) + 1) - 0.5
                    t = xs[:, j]
                else:
                    t = f.to_domain(xs[:, j])
                    a, b = _wquantile(t, ws, [1e-4, 1 - 1e-4])
                    if b <= a:
                        b = a + 1e-9
                    e = np.linspace(a, b, BINS + 1)
                self.edges[s, j] = e
                self.hist[s, j] = np.histogram(np.clip(t, e[0], e[-1]), bins=e, weights=ws)[0]

    def bin_index(self, s: int, j: int, values: np.ndarray) -> np.ndarray:
        f = self.seg.features[j]
        e = self.edges[s, j]
        t = values if f.kind == "categorical" else f.to_domain(values)
        return np.clip(np.searchsorted(e, t, side="right") - 1, 0, len(e) - 2)

    def js(self, s: int, rows: np.ndarray, rng, boots: int = 0) -> dict:
        """Per feature: {"js", "lo", "hi"} of ``rows`` generated for label ``s``."""
        out = {}
        for j, f in enumerate(self.seg.features):
            if (s, j) not in self.hist or len(rows) == 0:
                out[f.name] = {"js": float("nan"), "lo": float("nan"), "hi": float("nan")}
                continue
            idx = self.bin_index(s, j, rows[:, j])
            k = len(self.edges[s, j]) - 1
            ref = self.hist[s, j]
            js = js_divergence(np.bincount(idx, minlength=k), ref)
            bs = [js_divergence(np.bincount(idx[rng.integers(0, len(idx), len(idx))], minlength=k), ref)
                  for _ in range(boots)]
            lo, hi = (np.percentile(bs, [2.5, 97.5]) if bs else (np.nan, np.nan))
            out[f.name] = {"js": js, "lo": float(lo), "hi": float(hi)}
        return out

    def resample(self, s: int, n: int, rng) -> np.ndarray:
        m = self.lab[:, s]
        xs, ws = self.x[m], self.w[m]
        return xs[rng.choice(len(xs), n, p=ws / ws.sum())]


def _kde_fit(card, ds: str) -> dict | None:
    key = f"{ds}_kde"
    if key not in card.files:
        return None
    z = np.load(card.file(key))
    rows = [z[f"rows{s}"].astype(np.float64) for s in range(len([k for k in z.files if k.startswith("rows")]))]
    hist = (card.extra.get("histories") or {}).get(f"{ds}_cwgan", {})
    seg = Segmenter.from_description(card.extra["models"][f"{ds}_cwgan"]["segmenter"])
    names = [f.name for f in seg.features]
    gpd = {names.index(k): v for k, v in (hist.get("gpd") or {}).items()}
    return {"rows": rows, "gpd": gpd, "lo": z["lo"], "hi": z["hi"]}


def evaluate_dataset(card, gens, ds: str, cfg, rng, log=print) -> dict:
    """Every method's per-segment JS on data set ``ds`` (a dict for the report)."""
    from sdrkit.tasks.kpi.train import sample_kde_gpd

    info = gens.info(f"{ds}_ilgan")
    seg = Segmenter.from_description(info["segmenter"])
    S = seg.n_segments
    sim = get_sim(ds)
    t0 = time.perf_counter()
    xr, w = sim.reference(cfg.n_ref, rng)
    truth = Truth(seg, xr, w)
    log(f"{ds}: reference {cfg.n_ref} draws in {time.perf_counter() - t0:.1f} s; label ESS "
        f"{[round(truth.ess[s]) for s in range(S)]}")
    label_p = [float(w[truth.lab[:, s]].sum()) for s in range(S)]
    methods = [m for m in GAN_METHODS + ABLATION if f"{ds}_{m}" in gens.models] + ["kde_gpd", "is", "floor"]
    fit = _kde_fit(card, ds)
    res: dict = {"label_probability": label_p, "reference_ess": [truth.ess[s] for s in range(S)],
                 "features": [f.name for f in seg.features], "js": {}, "in_label": {}, "is_draws": {}}
    samples: dict = {}
    for m in methods:
        res["js"][m], res["in_label"][m] = [], []
        for s in range(S):
            if m in GAN_METHODS + ABLATION:
                rows = gens.sample(f"{ds}_{m}", s + 1, cfg.n_gen, rng)
            elif m == "kde_gpd":
                rows = sample_kde_gpd(fit, seg, s, cfg.n_gen, rng) if fit is not None else np.zeros((0, len(seg.features)))
                if len(rows) and np.isnan(rows).all():
                    rows = np.zeros((0, len(seg.features)))
            elif m == "is":
                rows, draws, ess = is_sample(sim, s, cfg.n_gen, rng, draws=min(cfg.n_ref, max(cfg.n_gen * 10, 100_000)))
                res["is_draws"][s + 1] = {"draws": draws, "ess": ess}
            else:
                rows = truth.resample(s, cfg.n_gen, rng)
            samples[m, s] = rows
            res["js"][m].append(truth.js(s, rows, rng, cfg.bootstrap))
            res["in_label"][m].append(float(seg.labels(rows)[:, s].mean()) if len(rows) else float("nan"))
    if ds == "sinr_delay":
        s = S - 1
        m = truth.lab[:, s]
        res["tail_spearman_truth"] = weighted_spearman(xr[m, 0], xr[m, 1], w[m])
        res["tail_spearman"] = {k: weighted_spearman(samples[k, s][:, 0], samples[k, s][:, 1])
                                if len(samples[k, s]) > 2 else float("nan") for k in methods}
    res["_samples_last"] = {k: samples[k, S - 1] for k in methods}
    res["_truth"] = truth
    return res


def mean_js(entry: dict) -> float:
    """Mean over features of one label's JS entry."""
    v = [e["js"] for e in entry.values()]
    return float(np.nanmean(v)) if v and not np.all(np.isnan(v)) else float("nan")


def measure_throughput(gens, name: str, batch: int = 16384, seconds: float = 2.0, threads: int = 2) -> dict:
    """Rows/s of one ONNX generator (batched, ``threads`` intra-op threads), and the MAC-rate ceiling:
    onnxruntime's MatMul rate on this CPU in the same run over the generator's MACs per row."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from sdrkit.tasks.kpi.live import KpiGenerators

    g = KpiGenerators(gens.card, threads=threads)
    m = g.info(name)
    sess = g.session(name)
    rng = np.random.default_rng(0)
    feeds = g.feeds(m, np.full(batch, m["n_labels"] - 1, np.int64), rng)
    feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
    sess.run(None, feeds)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sess.run(None, feeds)
        n += batch
    rate = n / (time.perf_counter() - t0)
    # MACs per row: the generator's Linear layers
    import onnx.numpy_helper as nh

    model = onnx.load(str(gens.card.file(name)))
    macs = sum(int(np.prod(nh.to_array(t).shape)) for t in model.graph.initializer
               if len(t.dims) == 2 and min(t.dims) > 1 and "lo" not in t.name and "hi" not in t.name)
    # MatMul peak: (k x k) @ (k x k) in onnxruntime, same threads
    k = 512
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [batch // 16, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch // 16, k])
    wt = helper.make_tensor("w", TensorProto.FLOAT, [k, k], rng.standard_normal(k * k).astype(np.float32))
    mm = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["y"])], "mm", [a], [y], [wt]),
                           opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s2 = ort.InferenceSession(mm.SerializeToString(), so, providers=["CPUExecutionProvider"])
    xa = rng.standard_normal((batch // 16, k)).astype(np.float32)
    s2.run(None, {"a": xa})
    n2, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s2.run(None, {"a": xa})
        n2 += 1
    mac_rate = n2 * (batch // 16) * k * k / (time.perf_counter() - t0)
    return {"model": name, "rows_per_s": rate, "batch": batch, "threads": threads, "macs_per_row": macs,
            "matmul_macs_per_s": mac_rate, "ceiling_rows_per_s": mac_rate / max(macs, 1)}


def stress_run(card, gens, out: Path, rng, log=print) -> dict:
    """AMC accuracy and stream loss with the sim radio driven by generated SINR & delay rows: ordinary
    traffic (labels at their natural frequencies) vs the rarest segment."""
    from sdrkit.dsp.framing import Framer
    from sdrkit.radio import open_radio
    from sdrkit.resources import resolve
    from sdrkit.runtime import load_card
    from sdrkit.runtime.predict import PredictorOptions
    from sdrkit.sinks.score import ScoreSink, Truth as ScoreTruth
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks import get_task
    from sdrkit.tasks.kpi.generate import scenario_from_rows

    name = "sinr_delay_ilgan"
    if name not in gens.models:
        return {"skipped": f"no {name} generator in the card"}
    rec = resolve("captures", "amc_fe-b.sigmf-meta")
    amc = load_card("amc")
    m = gens.info(name)
    nat = np.asarray(m["history"]["natural_label_freq"]) if "history" in m else None
    nat = np.asarray(card.extra["histories"][name]["natural_label_freq"]) if nat is None else nat
    blocks = 400
    res = {"recording": str(rec), "amc_card": amc.path, "blocks": blocks}
    for kind in ("ordinary", "tail"):
        if kind == "ordinary":
            labs = rng.choice(len(nat), blocks, p=nat / nat.sum())
            rows = np.concatenate([gens.sample(name, int(s) + 1, int((labs == s).sum()), rng)
                                   for s in np.unique(labs)])
            rows = rows[rng.permutation(len(rows))]
        else:
            rows = gens.sample(name, m["n_labels"], blocks, rng)
        sc = scenario_from_rows("sinr_delay", rows, samples_per_ms=100, source={"model": name, "kind": kind})
        path = sc.save(out / f"scenario_{kind}.json")
        radio = open_radio(f"sim:{rec}?loop=0&scenario={path}&rx_buffer_size=1024")
        try:
            pred = get_task("amc").predictor(amc, PredictorOptions())
            sink = ScoreSink(ScoreTruth(radio), pred.classes, out / f"stress_{kind}")
            st = Pipeline(radio, pred, Framer(amc.input.frame_len), batch=64, sinks=[sink]).run()
        finally:
            radio.close()
        lost = st.samples_lost / max(st.samples_in + st.samples_lost, 1)
        res[kind] = {"accuracy": sink.accuracy, "frames_scored": sink.scored, "loss_fraction": lost,
                     "median_sinr_db": float(np.median(rows[:, 0])), "late_fraction": float(np.mean(rows[:, 1] == 3)),
                     "scenario": str(path)}
        log(f"stress {kind}: AMC accuracy {sink.accuracy:.3f} over {sink.scored} frames, stream loss {lost:.3f}, "
            f"median SINR {res[kind]['median_sinr_db']:.1f} dB")
    return res


def run_evaluation(cfg) -> int:
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.kpi.live import KpiGenerators
    from sdrkit.tasks.targets import Target, write_report

    if cfg.quick:
        import dataclasses

        cfg = dataclasses.replace(cfg, n_gen=min(cfg.n_gen, 1000), n_ref=min(cfg.n_ref, 50_000),
                                  bootstrap=min(cfg.bootstrap, 5), no_stress=True)
    card = load_card(cfg.model)
    gens = KpiGenerators(card)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([cfg.seed, 18])
    datasets = sorted({m["dataset"] for m in gens.models.values()})
    results: dict = {"datasets": {}, "config": {k: getattr(cfg, k) for k in ("n_gen", "n_ref", "bootstrap", "seed")}}
    targets = []
    plots = {}
    for ds in datasets:
        r = evaluate_dataset(card, gens, ds, cfg, rng)
        plots[ds] = (r.pop("_samples_last"), r.pop("_truth"))
        results["datasets"][ds] = r
        S = len(r["label_probability"])
        last = {m: mean_js(r["js"][m][S - 1]) for m in r["js"]}
        ratio = last["ilgan"] / last["cwgan"] if last["cwgan"] > 0 else float("nan")
        targets.append(Target(f"{ds}: IL-GAN last-segment JS / cWGAN-GP's", ratio, "<=", 1 / 3,
                              note=f"IL-GAN {last['ilgan']:.3f}, cWGAN-GP {last['cwgan']:.3f} (mean over features)"))
        head = [s for s in range(S) if r["label_probability"][s] >= HEAD_SHARE]
        gap = max(r["js"]["ilgan"][s][f]["js"] - r["js"]["cwgan"][s][f]["js"] for s in head for f in r["features"])
        targets.append(Target(f"{ds}: head segments {[s + 1 for s in head]}: IL-GAN JS - cWGAN-GP JS (worst)", gap,
                              "<=", 0.01))
        learned = {m: last[m] for m in ("cwgan", "ilgan", "kde_gpd") if np.isfinite(last.get(m, np.nan))}
        best = min(learned, key=learned.get)
        targets.append(Target(f"{ds}: best learned model's last-segment JS", learned[best], "<=", 0.05,
                              note=f"{best}; IS anchor {last['is']:.3f}, truth floor {last['floor']:.3f}"))
        r["best_learned"] = best
        if ds == "sinr_delay":
            rho_t = r["tail_spearman_truth"]
            for m in (best, "ilgan") if best != "ilgan" else ("ilgan",):
                targets.append(Target(f"sinr_delay: tail (segment {S}) Spearman(SINR, delay) |{m} - truth|",
                                      abs(r["tail_spearman"][m] - rho_t), "<=", 0.1,
                                      note=f"{m} {r['tail_spearman'][m]:.3f}, truth {rho_t:.3f}"))
    # data set generation speed (the dataset verb's own measurement)
    from sdrkit.tasks.kpi.data import load_dataset

    for ds in datasets:
        try:
            meta = json.loads((Path(cfg.data) / f"{ds}.json").read_text())
            targets.append(Target(f"{ds}: simulate {meta['rows']:.3g} rows", meta["simulate_seconds"], "<=", 10.0,
                                  "s", note=f"{meta['rows_per_second']:.3g} rows/s, sdrkit dataset kpi"))
        except (OSError, KeyError, ValueError):
            pass
    _ = load_dataset
    # throughput
    tp = measure_throughput(gens, f"{card.extra.get('live_dataset', 'ce')}_ilgan",
                            seconds=0.3 if cfg.quick else 3.0)
    results["throughput"] = tp
    targets.append(Target("generation, ONNX generator batched (16384), 2 threads", tp["rows_per_s"], ">=", 1e5,
                          "rows/s", note=f"MAC-rate ceiling {tp['ceiling_rows_per_s']:.3g} rows/s "
                                         f"({tp['matmul_macs_per_s'] / 1e9:.2f} GMAC/s MatMul, "
                                         f"{tp['macs_per_row']} MACs/row), same run"))
    # ablation
    abl = [m for m in ABLATION if any(m in results["datasets"][d]["js"] for d in datasets)]
    targets.append(Target("ablation variants reported (no replay, no freezing, neither)", len(abl), ">=", 3))
    # training time and bundle size
    wall = float(card.metrics.get("training_seconds_wall", float("nan")))
    targets.append(Target("training of every bundled generator (wall)", wall / 60, "<=", 20.0, "min",
                          note=f"{card.training.get('config', {}).get('jobs', 1)} processes, shared 2-core CPU"))
    size = sum((card.directory / f).stat().st_size for f in card.files.values()) + Path(card.path).stat().st_size
    targets.append(Target("bundle size", size / 2 ** 20, "<=", 5.0, "MB"))
    if not cfg.no_stress:
        try:
            results["stress"] = stress_run(card, gens, out, rng)
        except Exception as exc:   # the stress run needs the AMC bundle; its absence must not hide the tables
            from sdrkit.errors import SdrkitError

            if not isinstance(exc, SdrkitError):
                raise
            results["stress"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    tables = format_tables(results)
    (out / "tables.md").write_text(tables)
    print(tables)
    _plots(results, plots, out)
    write_report(out / "evaluation.json", task="kpi", targets=targets, results=results, quick=cfg.quick)
    if cfg.update_card:
        d = json.loads(Path(card.path).read_text())
        d.setdefault("metrics", {})["evaluation"] = {t.name: t.to_dict() for t in targets}
        Path(card.path).write_text(json.dumps(d, indent=2) + "\n")
    return 0


def format_tables(results: dict) -> str:
    """The seed's Tables III-V: JS per segment and feature, every method, with 95 % bootstrap CIs."""
    lines = []
    titles = {"ce": "Table III: channel estimate", "sinr_delay": "Table IV: SINR & delay",
              "it_pl": "Table V: inter-arrival time & packet length"}
    for ds, r in results["datasets"].items():
        methods = list(r["js"])
        lines.append(f"\n### {titles.get(ds, ds)} (JS base 2, [95% CI])\n")
        head = "| segment | share | " + " | ".join(f"{f} {m}" for f in r["features"] for m in methods) + " |"
        lines.append(head)
        lines.append("|" + "---|" * (2 + len(methods) * len(r["features"])))
        S = len(r["label_probability"])
        for s in range(S):
            cells = [f"{s + 1}", f"{100 * r['label_probability'][s]:.4g}%"]
            for f in r["features"]:
                for m in methods:
                    e = r["js"][m][s][f]
                    cells.append(f"{e['js']:.4f} [{e['lo']:.4f}, {e['hi']:.4f}]" if np.isfinite(e["js"]) else "n/a")
            lines.append("| " + " | ".join(cells) + " |")
        avg = ["avg", ""]
        for f in r["features"]:
            for m in methods:
                avg.append(f"{np.nanmean([r['js'][m][s][f]['js'] for s in range(S)]):.4f}")
        lines.append("| " + " | ".join(avg) + " |")
    return "\n".join(lines) + "\n"


def _plots(results, plots, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dss = list(results["datasets"])
    fig, axes = plt.subplots(1, len(dss), figsize=(5 * len(dss), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], dss):
        r = results["datasets"][ds]
        methods = [m for m in ("cwgan", "ilgan", "kde_gpd", "is", "floor") if m in r["js"]]
        S = len(r["label_probability"])
        wdt = 0.8 / len(methods)
        for i, m in enumerate(methods):
            v = np.array([mean_js(r["js"][m][s]) for s in range(S)])
            ax.bar(np.arange(S) + i * wdt, np.maximum(v, 1e-4), wdt, label=m)
        ax.set_yscale("log")
        ax.set_xticks(np.arange(S) + 0.4, [str(s + 1) for s in range(S)])
        ax.set_xlabel("segment")
        ax.set_ylabel("JS (base 2), mean over features")
        ax.set_title(ds)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "js_per_segment.png", dpi=110)
    plt.close(fig)
    for ds, (samples, truth) in plots.items():
        seg = truth.seg
        S = seg.n_segments
        feats = [j for j, f in enumerate(seg.features) if (S - 1, j) in truth.edges]
        fig, axes = plt.subplots(1, len(feats), figsize=(5 * len(feats), 3.4), squeeze=False)
        for ax, j in zip(axes[0], feats):
            e = truth.edges[S - 1, j]
            ref = truth.hist[S - 1, j]
            c = (e[:-1] + e[1:]) / 2
            ax.step(c, ref / ref.sum(), where="mid", color="k", lw=2, label="truth")
            for m in ("cwgan", "ilgan", "kde_gpd"):
                rows = samples.get(m)
                if rows is None or not len(rows):
                    continue
                h = np.bincount(truth.bin_index(S - 1, j, rows[:, j]), minlength=len(e) - 1)
                ax.step(c, h / max(h.sum(), 1), where="mid", label=m)
            f = seg.features[j]
            ax.set_xlabel(f"{f.name} ({f.transform if f.transform != 'linear' else f.unit})")
            ax.set_title(f"{ds}: segment {S} (the rarest)")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / f"tail_{ds}.png", dpi=110)
        plt.close(fig)
    if any(m in results["datasets"].get("ce", {}).get("js", {}) for m in ABLATION):
        r = results["datasets"]["ce"]
        S = len(r["label_probability"])
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for m in ("ilgan",) + ABLATION + ("cwgan",):
            if m in r["js"]:
                ax.plot(np.arange(1, S + 1), [max(mean_js(r["js"][m][s]), 1e-4) for s in range(S)], "o-", label=m)
        ax.set_yscale("log")
        ax.set_xlabel("segment")
        ax.set_ylabel("JS (base 2)")
        ax.set_title("ce: ablation")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "ablation.png", dpi=110)
        plt.close(fig)
