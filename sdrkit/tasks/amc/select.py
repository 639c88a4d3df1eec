"""Pick the exit placement and entropy threshold by measurement on the validation split."""

from __future__ import annotations

import time

import numpy as np

from sdrkit.runtime import load_card
from sdrkit.runtime.session import card_session
from sdrkit.tasks.amc.dataset import load_split, to_input
from sdrkit.tasks.amc.train import EXITS, VARIANT_NAMES, calibrate


def _latency(sess_stem, sess_rest, sess_full, x: np.ndarray, exit_mask: np.ndarray, reps: int = 3):
    """Per-frame seconds (gated, backbone) for batch ``x`` with a given exit mask."""
    from sdrkit.tasks.amc.gated import entropy  # noqa: F401  (same code path as the runtime)

    best_g = best_b = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        logits, f = sess_stem.run(None, {"x": x})
        keep = ~exit_mask
        if keep.any():
            sess_rest.run(None, {"f": f[keep]})
        best_g = min(best_g, time.perf_counter() - t0)
        t0 = time.perf_counter()
        sess_full.run(None, {"x": x})
        best_b = min(best_b, time.perf_counter() - t0)
    return best_g / len(x), best_b / len(x)


def _best(fn, reps: int = 5) -> float:
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


#: SNR key offset of the shifted family's pooled bins in the calibration (see calibrate_and_select)
SHIFTED_BINS = {"shifted, 0 <= SNR < 10 dB": 1000.0, "shifted, SNR >= 10 dB": 1010.0}


def _calibration_frames(data_dir, max_frames):
    """Validation frames for the exit rule: the val split (per-SNR bins) and, where the data set
    has it, the held-back family's shifted_val split (SNR >= 0 dB frames pooled into two bins,
    keyed 1000 and 1010 so they count as their own bins). Returns (x, labels, snr keys, note)."""
    from pathlib import Path

    va = load_split(data_dir, "val")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.permutation(len(va))[:max_frames])
    x, labels, snrs = to_input(va.frames(idx)), va.labels[idx], va.snrs[idx].astype(np.float64)
    note = "val split, SNR >= 0 dB bins"
    if (Path(data_dir) / "shifted_val.sigmf-meta").exists():
        sv = load_split(data_dir, "shifted_val")
        keep = np.flatnonzero(sv.snrs >= 0)
        keep = np.sort(rng.permutation(keep)[:max_frames])
        key = np.where(sv.snrs[keep] >= 10, SHIFTED_BINS["shifted, SNR >= 10 dB"],
                       SHIFTED_BINS["shifted, 0 <= SNR < 10 dB"])
        x = np.concatenate([x, to_input(sv.frames(keep))])
        labels = np.concatenate([labels, sv.labels[keep]])
        snrs = np.concatenate([snrs, key])
        note = ("val split, SNR >= 0 dB bins, and the held-back shifted family's shifted_val split "
                "(SNR 0-10 and >= 10 dB pooled)")
    return x, labels, snrs, note


def calibrate_and_select(card_path, data_dir, budget: float = 0.01, variant: str = "auto",
                         max_frames: int | None = None):
    """Calibrate T for each exit placement; deploy ``variant`` or the one with the lowest
    measured mean latency at SNR >= 10 dB (batch 64, 1 thread). Writes the card; returns it.

    T is the largest threshold keeping the gated accuracy within ``budget`` (less a margin)
    of the backbone at every SNR >= 0 dB of the val split **and** on the held-back shifted
    family's ``shifted_val`` split where the data set has one (:func:`_calibration_frames`),
    so the exit is not over-confident on data unlike training. The in-domain-only threshold is
    kept in the card too (``thresholds.entropy_in_domain_only``) for comparison."""
    card = load_card(card_path)
    x, labels, snrs, cal_note = _calibration_frames(data_dir, max_frames)
    in_domain = snrs < 500
    full = card_session(card, "full")
    results = {}
    hi = np.flatnonzero((snrs >= 10) & in_domain)[:512]
    from tqdm import tqdm

    for k in tqdm(EXITS, desc="calibrate-threshold", unit="placement", disable=None, leave=False):
        stem = card_session(card, f"stem_e{k}")
        rest = card_session(card, f"rest_e{k}")
        el, bl = [], []
        for i in range(0, len(x), 512):
            e, f = stem.run(None, {"x": x[i:i + 512]})
            el.append(e)
            bl.append(rest.run(None, {"f": f})[0])
        el, bl = np.concatenate(el), np.concatenate(bl)
        cal = calibrate(el, bl, labels, snrs, budget=budget)
        cal["in_domain_only"] = calibrate(el[in_domain], bl[in_domain], labels[in_domain], snrs[in_domain],
                                          budget=budget)["threshold"]
        from sdrkit.tasks.amc.gated import entropy, softmax

        ex = entropy(softmax(el)) <= cal["threshold"]
        lat_g, lat_b = [], []
        for i in range(0, len(hi) - 63, 64):
            b = hi[i:i + 64]
            g, bb = _latency(stem, rest, full, x[b], ex[b])
            lat_g.append(g)
            lat_b.append(bb)
        # break-even exit fraction: gating pays when stem + (1 - e) rest < full
        xb = x[hi[:64]]
        t_stem = _best(lambda: stem.run(None, {"x": xb}))
        f64 = stem.run(None, {"x": xb})[1]
        t_rest = _best(lambda: rest.run(None, {"f": f64}))
        t_full = _best(lambda: full.run(None, {"x": xb}))
        cal["break_even_exit_fraction"] = float(np.clip(1 - (t_full - t_stem) / t_rest, 0, 1))
        cal["val_latency_hi_snr_ms"] = float(np.mean(lat_g) * 1e3)
        cal["val_backbone_latency_hi_snr_ms"] = float(np.mean(lat_b) * 1e3)
        cal["val_saving_hi_snr"] = 1 - cal["val_latency_hi_snr_ms"] / cal["val_backbone_latency_hi_snr_ms"]
        results[VARIANT_NAMES[k]] = cal
    if variant == "auto":
        variant = max(results, key=lambda v: results[v]["val_saving_hi_snr"])
    k = {v: kk for kk, v in VARIANT_NAMES.items()}[variant]
    chosen = results[variant]
    files = dict(card.files)
    files["stem"], files["rest"] = f"stem_e{k}.onnx", f"rest_e{k}.onnx"
    extra = dict(card.extra)
    extra["deployed_variant"] = variant
    extra["selection"] = results
    for v, r in results.items():
        extra["variants"][v]["threshold"] = r["threshold"]
    card = card.replace(files=files, extra=extra, thresholds={
        "entropy": chosen["threshold"], "budget": budget, "val_exit_fraction": chosen["exit_fraction"],
        "val_worst_gap": chosen["worst_gap"], "calibrated_on": cal_note,
        "entropy_in_domain_only": chosen["in_domain_only"],
        "break_even_exit_fraction": chosen["break_even_exit_fraction"]})
    card.save(card.path)
    return load_card(card.path)
