"""``sdrkit evaluate amc``: every figure of the AMC task, measured in one run on the test split.

The evaluation is a few ``measure_*`` functions, each measuring one thing and returning its
figures and the :class:`~sdrkit.tasks.targets.Target` rows it is responsible for:

- :func:`measure_accuracy`: accuracy vs SNR (backbone, each exit head, each gated variant) and
  the fraction exiting early. Targets: backbone accuracy at SNR >= 10 dB >= 0.96; the deployed
  gated model at most 1 point below the backbone at any SNR >= 0 dB.
- :func:`measure_latency`: ms per frame vs SNR, deployed gated runtime vs backbone, batch 1 and
  64. Targets: >= 50% less time at SNR >= 10 dB, batch 64; at most 5% more at any SNR.
- :func:`measure_threshold_sweep`: accuracy vs mean latency over entropy thresholds.
- :func:`measure_confusion`: confusion matrix at SNR >= 10 dB (gated, deployed).
- :func:`measure_ort_vs_torch`: onnxruntime vs torch eager at batch 1. Target: >= 2x faster.
- :mod:`sdrkit.tasks.amc.robust`: the held-back shifted split (gated within 1 point of the
  backbone), the GNU Radio cross-generator check (>= 90% deployed at SNR >= 10 dB; "not
  measured" where GNU Radio is absent) and the CFO front end (+/-60 kHz corrected within 2
  points of zero-CFO accuracy; cost <= 20% of the gated model's per-frame time).

Outputs (``--out``, default ``out/amc_eval``): ``evaluation.json`` (``targets`` and
``results``, see :func:`sdrkit.tasks.targets.write_report`) and PNGs: accuracy vs SNR,
fraction exiting early vs SNR, latency vs SNR, the threshold sweep, the confusion matrix.
With ``--update-card`` (and not ``--quick``) the figures also go into the card's
``metrics["test"]``; without it the card is never written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrkit.tasks.targets import Target, write_report

#: frames of one onnxruntime call when scoring the whole test split
SCORE_BATCH = 512


@dataclass(frozen=True)
class EvalFrames:
    """The test frames an evaluation runs on (a per-SNR sample of the test split).

    Attributes:
        x: model input, float32 (n, 2, frame_len). labels: class indices (n,).
        snrs: SNR of each frame, dB (n,). bins: the distinct SNRs, ascending, dB.
        sha256: SHA-256 of the test split's data file.
    """

    x: np.ndarray
    labels: np.ndarray
    snrs: np.ndarray
    bins: list
    sha256: str

    def per_snr(self, values: np.ndarray) -> list[float]:
        """Mean of per-frame ``values`` at each SNR of :attr:`bins`."""
        return [float(values[self.snrs == s].mean()) for s in self.bins]


@dataclass(frozen=True)
class Scores:
    """Model outputs on :class:`EvalFrames`, computed once and shared by the measurements.

    Attributes:
        backbone_logits: (n, C) of ``full.onnx``.
        exit_probs: exit placement k -> (n, C) softmax of the exit head ``stem_e{k}``.
        exit_thresholds: exit placement k -> that variant's entropy threshold, nats.
    """

    backbone_logits: np.ndarray
    exit_probs: dict
    exit_thresholds: dict


def load_test_frames(card, data, per_snr: int | None, seed: int = 123) -> EvalFrames:
    """At most ``per_snr`` random test frames per SNR (all when None), in file order.

    Raises:
        DatasetError: the test split's classes differ from the model's.
    """
    from sdrkit.errors import DatasetError
    from sdrkit.runtime.card import sha256_file
    from sdrkit.tasks.amc.dataset import load_split, to_input

    te = load_split(data, "test")
    if tuple(te.classes) != tuple(card.classes):
        raise DatasetError(f"test split classes {te.classes} differ from the model's {card.classes}")
    rng = np.random.default_rng(seed)
    bins = sorted(np.unique(te.snrs).tolist())
    idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(te.snrs == s))[:per_snr] for s in bins]))
    return EvalFrames(x=to_input(te.frames(idx)), labels=te.labels[idx], snrs=te.snrs[idx], bins=bins,
                      sha256=sha256_file(te.rec.data_path))


def score(card, tf: EvalFrames) -> Scores:
    """Backbone logits and every exit head's probabilities on the test frames (onnxruntime)."""
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.gated import softmax
    from sdrkit.tasks.amc.train import EXITS, VARIANT_NAMES

    def run(sess):
        return np.concatenate([sess.run(None, {"x": tf.x[i:i + SCORE_BATCH]})[0]
                               for i in range(0, len(tf.x), SCORE_BATCH)])

    T = card.thresholds["entropy"]
    return Scores(backbone_logits=run(card_session(card, "full")),
                  exit_probs={k: softmax(run(card_session(card, f"stem_e{k}"))) for k in EXITS},
                  exit_thresholds={k: card.extra["variants"][VARIANT_NAMES[k]].get("threshold", T) for k in EXITS})


def measure_accuracy(card, tf: EvalFrames, sc: Scores) -> tuple[dict, list[Target]]:
    """Accuracy vs SNR of the backbone, each exit head and each gated variant (at that
    variant's own threshold), and the fraction of frames exiting early.

    Returns:
        ``{"accuracy": {name: [per SNR]}, "exit_fraction": {variant: [per SNR]}}`` and the
        targets on backbone accuracy and the deployed variant's worst gap to the backbone.
    """
    from sdrkit.tasks.amc.gated import entropy
    from sdrkit.tasks.amc.train import EXITS, VARIANT_NAMES

    bb_ok = sc.backbone_logits.argmax(1) == tf.labels
    acc = {"backbone": tf.per_snr(bb_ok)}
    exit_fraction = {}
    for k in EXITS:
        v, pe = VARIANT_NAMES[k], sc.exit_probs[k]
        ex = entropy(pe) <= sc.exit_thresholds[k]
        acc[f"exit_head_{v}"] = tf.per_snr(pe.argmax(1) == tf.labels)
        acc[f"gated_{v}"] = tf.per_snr(np.where(ex, pe.argmax(1) == tf.labels, bb_ok))
        exit_fraction[v] = tf.per_snr(ex)
    sn, bb = np.array(tf.bins), np.array(acc["backbone"])
    gd = np.array(acc[f"gated_{card.extra['deployed_variant']}"])
    n = f"{len(tf.labels)} test frames"
    targets = [
        Target("backbone accuracy, mean over SNR >= 10 dB", float(bb[sn >= 10].mean()), ">=", 0.96, note=n),
        Target("worst gap gated vs backbone, any SNR >= 0 dB", float(np.max(bb[sn >= 0] - gd[sn >= 0]) * 100),
               "<=", 1.0, unit="points", note=f"{n}, deployed {card.extra['deployed_variant']}"),
    ]
    return {"accuracy": acc, "exit_fraction": exit_fraction}, targets


def measure_latency(card, tf: EvalFrames, frames_b1: int, frames_b64: int, reps: int) -> tuple[dict, list[Target]]:
    """Per-frame latency vs SNR of the deployed gated runtime and the backbone, batch 1 and 64.

    One runtime (one onnxruntime thread), its state reset per SNR (a fresh stream at that SNR),
    timed interleaved with the backbone on the runtime's own full-graph session: two sessions of
    one graph can differ by a few percent from where their buffers landed, which would show up
    as gating overhead. Best of ``reps``.

    Returns:
        ``{"latency_ms_per_frame": {gated_b1, backbone_b1, gated_b64, backbone_b64: [ms per SNR]},
        "latency_note"}`` and the targets on the cut at high SNR and the worst increase.
    """
    from sdrkit.tasks.amc.gated import GatedClassifier

    runtime = GatedClassifier(card, threads=1)

    def gated(xb):
        return runtime.predict_input(xb)

    def backbone(xb):
        runtime.full.run(None, {"x": xb})

    lat = {"gated_b1": [], "backbone_b1": [], "gated_b64": [], "backbone_b64": []}
    for s in tf.bins:
        xs = tf.x[tf.snrs == s]
        for batch, n in ((64, frames_b64), (1, frames_b1)):
            runtime.reset()
            tg, tb = _time_pair(gated, backbone, xs[:n], batch, reps)
            lat[f"gated_b{batch}"].append(tg * 1e3)
            lat[f"backbone_b{batch}"].append(tb * 1e3)
    res = {"latency_ms_per_frame": lat,
           "latency_note": ("gated = the deployed runtime (adaptive batch policy, probe every 32 batches), "
                            "one runtime reset per SNR and fed that SNR's frames, interleaved with the backbone on "
                            "the runtime's own full-graph session; best of the repeats")}
    g64, b64, hi = np.array(lat["gated_b64"]), np.array(lat["backbone_b64"]), np.array(tf.bins) >= 10
    note = f"{card.extra['deployed_variant']}, 1 thread, best of {reps}"
    targets = [
        Target("latency cut vs backbone, SNR >= 10 dB, batch 64", float(1 - g64[hi].mean() / b64[hi].mean()),
               ">=", 0.5, note=note),
        Target("worst latency increase vs backbone, any SNR, batch 64", float(np.max(g64 / b64 - 1)),
               "<=", 0.05, note=note),
    ]
    return res, targets


def measure_threshold_sweep(card, tf: EvalFrames, sc: Scores, max_frames: int = 1024) -> tuple[dict, list[Target]]:
    """Accuracy and mean latency (batch 64, deployed placement) over entropy thresholds at nine
    quantiles (0 to 100%) of the exit entropy, on frames at SNR >= 0 dB.

    Latency is timed on the first ``max_frames`` of them, sending only the frames that do not
    exit through ``rest``.
    """
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.gated import entropy

    k = _deployed_exit(card)
    stem, rest = card_session(card, f"stem_e{k}"), card_session(card, f"rest_e{k}")
    pe = sc.exit_probs[k]
    h = entropy(pe)
    bb_ok = sc.backbone_logits.argmax(1) == tf.labels
    pos = tf.snrs >= 0
    xs = tf.x[pos][:max_frames]
    timed = max((len(xs) // 64) * 64, 1)
    sweep = []
    T = float(card.thresholds["entropy"])
    grid = np.quantile(h, [0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0]).tolist()
    for t in sorted(set(grid + [T])):                      # the deployed threshold is one of the points
        ex = h <= t
        ex_x = ex[pos][:max_frames]
        t0 = time.perf_counter()
        for i in range(0, len(xs) - 63, 64):
            _, f = stem.run(None, {"x": xs[i:i + 64]})
            keep = ~ex_x[i:i + 64]
            if keep.any():
                rest.run(None, {"f": f[keep]})
        sweep.append({"threshold": float(t), "deployed": bool(t == T),
                      "accuracy": float(np.where(ex, pe.argmax(1) == tf.labels, bb_ok)[pos].mean()),
                      "exit_fraction": float(ex[pos].mean()),
                      "latency_ms": (time.perf_counter() - t0) / timed * 1e3})
    return {"threshold_sweep": sweep}, []


def measure_confusion(card, tf: EvalFrames, sc: Scores, out: Path) -> tuple[dict, list[Target]]:
    """Confusion matrix of the gated deployed model at SNR >= 10 dB (JSON and PNG)."""
    from sdrkit.dsp.plot import confusion_matrix, save_confusion_png
    from sdrkit.tasks.amc.gated import entropy

    k = _deployed_exit(card)
    pe = sc.exit_probs[k]
    pred = np.where(entropy(pe) <= sc.exit_thresholds[k], pe.argmax(1), sc.backbone_logits.argmax(1))
    hi = tf.snrs >= 10
    cm = confusion_matrix(tf.labels[hi], pred[hi], range(len(card.classes)))
    save_confusion_png(cm, card.classes, out / "confusion_high_snr.png",
                       "confusion matrix, SNR >= 10 dB (gated)")
    return {"confusion_high_snr": cm.tolist()}, []


def measure_ort_vs_torch(card, tf: EvalFrames, reps: int, frames: int = 64) -> tuple[dict, list[Target]]:
    """Backbone time per frame at batch 1, one thread: onnxruntime vs torch eager, and the
    largest logit difference between the two on the same frames."""
    import torch

    from sdrkit.nn.amc import EarlyExitNet, Full
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.train import EXITS

    if "torch" not in card.files:         # an int8 card (sdrkit compress amc) carries no torch weights
        return {"ort_vs_torch_b1": None}, [
            Target("onnxruntime speedup vs torch eager, batch 1", float("nan"), ">=", 2.0, unit="x",
                   note=f"not measured: {card.name} lists no torch weights (an int8 card); measure its source card")]
    full = card_session(card, "full", threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = EarlyExitNet(len(card.classes), exits=EXITS)
        net.load_state_dict(torch.load(card.file("torch"), weights_only=True))
        fm = Full(net.eval()).eval()
        xb = tf.x[:frames]
        with torch.no_grad():
            tt = _time_pair(lambda a: fm(torch.from_numpy(a)), None, xb, 1, reps)[0]
            err = float(np.max(np.abs(fm(torch.from_numpy(xb)).numpy() - full.run(None, {"x": xb})[0])))
        to = _time_pair(lambda a: full.run(None, {"x": a}), None, xb, 1, reps)[0]
    finally:
        torch.set_num_threads(threads)
    res = {"torch_ms": tt * 1e3, "onnxruntime_ms": to * 1e3, "speedup": tt / to, "max_abs_logit_diff": err}
    return {"ort_vs_torch_b1": res}, [
        Target("onnxruntime speedup vs torch eager, batch 1", tt / to, ">=", 2.0, unit="x",
               note=f"backbone, 1 thread, {len(xb)} frames, best of {reps}")]


def run_evaluation(cfg) -> int:
    """Measure everything, write ``evaluation.json`` and the PNGs, print the targets table, and
    (with ``cfg.update_card``, not ``cfg.quick``) record the figures in the model card.

    Args:
        cfg: ``model``, ``data``, ``out``, ``max_per_snr`` (0: all), ``quick``,
            ``update_card``, ``command_line`` (see ``AmcTask.add_evaluate_arguments``).
    """
    from sdrkit.runtime import load_card

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(cfg.model)
    reps = 1 if cfg.quick else 9
    tf = load_test_frames(card, cfg.data, 60 if cfg.quick else (cfg.max_per_snr or None))
    deployed, T = card.extra["deployed_variant"], card.thresholds["entropy"]
    print(f"AMC evaluation ({len(tf.labels)} test frames, deployed {deployed}, T={T:.3f}) -> {out}")
    from tqdm import tqdm

    from sdrkit.tasks.amc import robust

    steps = (("score", None),
             ("accuracy", lambda: measure_accuracy(card, tf, sc)),
             ("latency", lambda: measure_latency(card, tf, 16 if cfg.quick else 48, 128 if cfg.quick else 512, reps)),
             ("threshold sweep", lambda: measure_threshold_sweep(card, tf, sc)),
             ("confusion", lambda: measure_confusion(card, tf, sc, out)),
             ("onnxruntime vs torch", lambda: measure_ort_vs_torch(card, tf, reps)),
             ("base-family split", lambda: robust.measure_base(card, cfg.base_data, 30 if cfg.quick else None)),
             ("shifted split", lambda: robust.measure_shifted(card, cfg.data, 30 if cfg.quick else None)),
             ("cross-generator", lambda: _crossgen(card, cfg)),
             ("front end", lambda: robust.measure_frontend(card, tf, _gated_hi_ms(res), reps=1 if cfg.quick else 5,
                                                           max_frames=256 if cfg.quick else None)))
    res = {"model": card.path, "deployed_variant": deployed, "threshold": T, "snrs": tf.bins,
           "frames": int(len(tf.labels)), "test_sha256": tf.sha256, "command": cfg.command_line}
    targets = []
    with tqdm(total=len(steps), desc="evaluate amc", unit="step", disable=None, leave=False) as bar:
        for name, fn in steps:
            bar.set_postfix_str(name)
            if fn is None:
                sc = score(card, tf)
            else:
                figures, rows = fn()
                res.update(figures)
                targets += rows
            bar.update(1)
    write_report(out / "evaluation.json", "amc", targets, res, quick=cfg.quick)
    if cfg.update_card and not cfg.quick:
        metrics = dict(card.metrics)
        metrics["test"] = {"command": res["command"], "test_sha256": res["test_sha256"], "frames": res["frames"],
                           "targets": [t.to_dict() for t in targets], "snrs": tf.bins,
                           **{k: res[k] for k in ("accuracy", "exit_fraction", "latency_ms_per_frame",
                                                  "ort_vs_torch_b1", "shifted", "crossgen", "frontend",
                                                  "base_family")}}
        card.replace(metrics=metrics).save(card.path)
        print(f"wrote the figures into {card.path}")
    _plots(res, out)
    return 0


def _gated_hi_ms(res: dict) -> float | None:
    """The deployed gated model's mean ms per frame at SNR >= 10 dB, batch 64, from this run."""
    g = np.array(res.get("latency_ms_per_frame", {}).get("gated_b64", []), float)
    if len(g) != len(res["snrs"]):
        return None
    hi = np.array(res["snrs"]) >= 10
    v = float(np.nanmean(g[hi])) if hi.any() and np.isfinite(g[hi]).any() else float("nan")
    return v if np.isfinite(v) else None


def _crossgen(card, cfg):
    from sdrkit.tasks.amc import robust

    if cfg.quick:
        return {"crossgen": None}, [Target("cross-generator (GNU Radio) deployed accuracy, SNR >= 10 dB",
                                           float("nan"), ">=", 0.90, note="not measured: --quick")]
    return robust.measure_crossgen(card, cfg.crossgen_data or cfg.data, per_cell=cfg.crossgen_per_cell)


def _deployed_exit(card) -> int:
    from sdrkit.tasks.amc.train import VARIANT_NAMES

    return {v: k for k, v in VARIANT_NAMES.items()}[card.extra["deployed_variant"]]


def _time_pair(fn_a, fn_b, x: np.ndarray, batch: int, reps: int) -> tuple[float, float]:
    """Best-of-``reps`` mean seconds per frame of ``fn_a`` and ``fn_b`` (None: not timed) over
    ``x`` in batches, the repeats interleaved (a, b, a, b, ...) so both see the same machine
    state. NaN when ``x`` holds fewer frames than one batch."""
    n = (len(x) // batch) * batch
    if n == 0:
        return float("nan"), float("nan")
    best = [np.inf, np.inf]
    for _ in range(reps):
        for j, fn in enumerate((fn_a, fn_b)):
            if fn is None:
                continue
            t0 = time.perf_counter()
            for i in range(0, n, batch):
                fn(x[i:i + batch])
            best[j] = min(best[j], (time.perf_counter() - t0) / n)
    return best[0], best[1]


def _plots(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = res["snrs"]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for k, v in res["accuracy"].items():
        if k.startswith("exit_head"):
            ax.plot(s, v, ":", label=k)
        else:
            ax.plot(s, v, "-o" if k == "backbone" else "-", ms=3, label=k)
    ax.set(xlabel="SNR (dB)", ylabel="accuracy", title="AMC accuracy vs SNR (test split)", ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_snr.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    for v, f in res["exit_fraction"].items():
        ax.plot(s, f, label=v)
    ax.set(xlabel="SNR (dB)", ylabel="fraction exiting early", ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "exit_fraction_vs_snr.png")
    plt.close(fig)

    fig, axs = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    lat = res["latency_ms_per_frame"]
    for ax, b in zip(axs, ("b1", "b64")):
        ax.plot(s, lat[f"backbone_{b}"], "-o", ms=3, label="backbone")
        ax.plot(s, lat[f"gated_{b}"], "-o", ms=3, label=f"gated ({res['deployed_variant']})")
        ax.set(xlabel="SNR (dB)", ylabel="ms per frame", title=f"latency, batch {b[1:]}, 1 thread")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency_vs_snr.png")
    plt.close(fig)

    save_threshold_sweep_png(res["threshold_sweep"], res["threshold"], res["deployed_variant"],
                             out / "threshold_sweep.png")


def thin_labels(xs, ys, min_frac: float = 0.08) -> list[int]:
    """Indices of the points to label so that no two labels sit closer than ``min_frac`` of the
    axes' span (in x or y, whichever is larger), keeping the first point of each crowd."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    xr = max(np.ptp(xs), 1e-12) if len(xs) else 1.0
    yr = max(np.ptp(ys), 1e-12) if len(ys) else 1.0
    kept: list[int] = []
    for i in range(len(xs)):
        if all(max(abs(xs[i] - xs[j]) / xr, abs(ys[i] - ys[j]) / yr) >= min_frac for j in kept):
            kept.append(i)
    return kept


def save_threshold_sweep_png(sweep: list[dict], deployed_T: float, variant: str, path) -> Path:
    """Accuracy vs mean latency over entropy thresholds: the line in latency order, labels thinned so
    they do not overlap, the deployed threshold marked, the exit placement named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted(sweep, key=lambda p: (p["latency_ms"], p["threshold"]))
    xs = [p["latency_ms"] for p in pts]
    ys = [p["accuracy"] for p in pts]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(xs, ys, "-o", ms=4, color="tab:blue", label="threshold sweep (sorted by latency)")
    dep = [p for p in pts if p.get("deployed")] or \
        [min(pts, key=lambda p: abs(p["threshold"] - deployed_T))] if pts else []
    for p in dep:
        ax.plot(p["latency_ms"], p["accuracy"], "*", ms=14, color="tab:red", zorder=5,
                label=f"deployed T = {deployed_T:.3f} nats ({p['exit_fraction']:.0%} exit early)")
    for n, i in enumerate(thin_labels(xs, ys)):
        p = pts[i]
        ax.annotate(f"T={p['threshold']:.2f}", (xs[i], ys[i]), xytext=(6, 8 if n % 2 == 0 else -12),
                    textcoords="offset points", fontsize=7)
    ax.set(xlabel="mean latency, ms/frame (batch 64, 1 thread)", ylabel="accuracy, SNR >= 0 dB",
           title=f"threshold sweep, exit placement {variant}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    from sdrkit.dsp.plot import save_figure

    return save_figure(fig, path)
