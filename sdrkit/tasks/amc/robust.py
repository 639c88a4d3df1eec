"""``sdrkit evaluate amc``, the out-of-domain part: the shifted split, the cross-generator check
and the CFO front end, each a ``measure_*`` returning (figures, targets) as in
:mod:`sdrkit.tasks.amc.evaluate`.

- :func:`measure_shifted`: the held-back variant family's ``shifted_test`` split (never trained
  on; its ``shifted_val`` split calibrated the exit rule). Target: deployed gated within 1 point
  of the backbone, SNR >= 0 dB. Also the in-domain-only threshold, for comparison.
- :func:`measure_crossgen`: GNU Radio frames (:mod:`sdrkit.tasks.amc.crossgen`), zero-shot.
  Target: deployed >= 90% at SNR >= 10 dB; "not measured" (NaN, fails) naming what to install
  where GNU Radio is absent.
- :func:`measure_frontend`: :func:`sdrkit.dsp.frontend.correct_cfo` before the model on test
  frames given an extra +/-60 kHz offset at 1 MS/s, its accuracy vs SNR on frames of known
  offset, and its cost per frame beside the gated model's (batch 64, one thread).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sdrkit.tasks.targets import Target

BATCH = 512


def _deployed_k(card) -> int:
    from sdrkit.tasks.amc.train import VARIANT_NAMES

    return {v: k for k, v in VARIANT_NAMES.items()}[card.extra["deployed_variant"]]


def score_input(card, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(backbone logits, deployed exit head's softmax) for model input ``x`` (n, 2, N)."""
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.gated import softmax

    k = _deployed_k(card)
    full, stem = card_session(card, "full"), card_session(card, f"stem_e{k}")
    bl = np.concatenate([full.run(None, {"x": x[i:i + BATCH]})[0] for i in range(0, len(x), BATCH)])
    pe = np.concatenate([softmax(stem.run(None, {"x": x[i:i + BATCH]})[0]) for i in range(0, len(x), BATCH)])
    return bl, pe


def gated_correct(bl, pe, labels, threshold) -> np.ndarray:
    """Per-frame correctness of the gated model: the exit's answer where its entropy <= T."""
    from sdrkit.tasks.amc.gated import entropy

    return np.where(entropy(pe) <= threshold, pe.argmax(1) == labels, bl.argmax(1) == labels)


def _per_snr(ok, snrs, bins):
    return [float(ok[snrs == s].mean()) for s in bins]


def _split_input(data, split, per_snr=None, seed=7):
    from sdrkit.tasks.amc.dataset import load_split, to_input

    sp = load_split(data, split)
    bins = sorted(np.unique(sp.snrs).tolist())
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(sp.snrs == s))[:per_snr] for s in bins]))
    return sp, to_input(sp.frames(idx)), sp.labels[idx], sp.snrs[idx], bins


def measure_shifted(card, data, per_snr: int | None = None) -> tuple[dict, list[Target]]:
    """Gated vs backbone on the held-back shifted family's test split."""
    from sdrkit.runtime.card import sha256_file

    p = Path(data) / "shifted_test.sigmf-meta"
    name = "shifted split: gap gated vs backbone, SNR >= 0 dB"
    if not p.exists():
        return {"shifted": None}, [Target(name, float("nan"), "<=", 1.0, unit="points",
                                          note=f"not measured: no {p}; make it with 'sdrkit dataset amc'")]
    sp, x, y, s, bins = _split_input(data, "shifted_test", per_snr)
    bl, pe = score_input(card, x)
    T = float(card.thresholds["entropy"])
    bb = bl.argmax(1) == y
    gd = gated_correct(bl, pe, y, T)
    res = {"frames": int(len(y)), "snrs": bins, "sha256": sha256_file(sp.rec.data_path),
           "backbone": _per_snr(bb, s, bins), "gated": _per_snr(gd, s, bins)}
    pos, hi = s >= 0, s >= 10
    res["backbone_snr_ge_0"], res["gated_snr_ge_0"] = float(bb[pos].mean()), float(gd[pos].mean())
    res["backbone_snr_ge_10"], res["gated_snr_ge_10"] = float(bb[hi].mean()), float(gd[hi].mean())
    res["worst_gap_any_snr_ge_0_points"] = float(max(res["backbone"][i] - res["gated"][i]
                                                     for i, b in enumerate(bins) if b >= 0) * 100)
    from sdrkit.tasks.amc.gated import entropy

    res["exit_fraction_snr_ge_0"] = float((entropy(pe[pos]) <= T).mean())
    t_in = card.thresholds.get("entropy_in_domain_only")
    if t_in is not None:
        gi = gated_correct(bl, pe, y, float(t_in))
        res["in_domain_only_threshold"] = {
            "threshold": float(t_in), "gated_snr_ge_0": float(gi[pos].mean()),
            "gap_snr_ge_0_points": float((bb[pos].mean() - gi[pos].mean()) * 100),
            "exit_fraction_snr_ge_0": float((entropy(pe[pos]) <= float(t_in)).mean())}
    gap = (res["backbone_snr_ge_0"] - res["gated_snr_ge_0"]) * 100
    return {"shifted": res}, [Target(name, gap, "<=", 1.0, unit="points",
                                     note=f"{len(y)} shifted_test frames (held-back family), deployed "
                                          f"{card.extra['deployed_variant']}, T={T:.3f}")]


def measure_crossgen(card, data, per_cell: int = 64) -> tuple[dict, list[Target]]:
    """Zero-shot accuracy on GNU Radio frames (validation only)."""
    from sdrkit.errors import SdrkitError
    from sdrkit.tasks.amc.crossgen import INSTALL, NotAvailable, make_crossgen

    name = "cross-generator (GNU Radio) deployed accuracy, SNR >= 10 dB"
    try:
        meta = make_crossgen(Path(data), card.classes, per_cell=per_cell)
    except NotAvailable:
        return {"crossgen": None}, [Target(name, float("nan"), ">=", 0.90, note=f"not measured: {INSTALL}")]
    except SdrkitError as exc:
        return {"crossgen": None}, [Target(name, float("nan"), ">=", 0.90, note=f"not measured: {exc}"[:300])]
    from sdrkit.dsp.plot import confusion_matrix
    from sdrkit.runtime.card import sha256_file
    from sdrkit.tasks.amc.dataset import AmcSplit, to_input

    sp = AmcSplit(meta)
    x, y, s = to_input(sp.frames(np.arange(len(sp)))), sp.labels, sp.snrs
    bins = sorted(np.unique(s).tolist())
    bl, pe = score_input(card, x)
    T = float(card.thresholds["entropy"])
    bb, gd = bl.argmax(1) == y, gated_correct(bl, pe, y, T)
    hi = s >= 10
    from sdrkit.tasks.amc.gated import entropy

    pred = np.where(entropy(pe) <= T, pe.argmax(1), bl.argmax(1))
    res = {"generator": sp.rec.global_info.get("sdrkit:generator"), "frames": int(len(y)), "snrs": bins,
           "sha256": sha256_file(sp.rec.data_path), "recording": str(meta),
           "backbone": _per_snr(bb, s, bins), "gated": _per_snr(gd, s, bins),
           "backbone_snr_ge_10": float(bb[hi].mean()), "gated_snr_ge_10": float(gd[hi].mean()),
           "per_class_gated_snr_ge_10": {c: float(gd[hi & (y == i)].mean()) for i, c in enumerate(card.classes)},
           "confusion_snr_ge_10": confusion_matrix(y[hi], pred[hi], range(len(card.classes))).tolist()}
    t_in = card.thresholds.get("entropy_in_domain_only")
    if t_in is not None:
        res["gated_snr_ge_10_in_domain_only_threshold"] = float(gated_correct(bl, pe, y, float(t_in))[hi].mean())
    return {"crossgen": res}, [Target(name, res["gated_snr_ge_10"], ">=", 0.90,
                                      note=f"{int(hi.sum())} frames of {res['generator']}, zero-shot, "
                                           f"validation only")]


def _known_offset_frames(n_per: int, snrs, rng, frame_len: int = 1024):
    """Clean base-generator frames (no receiver CFO), classes x SNRs, with a known offset
    uniform in +/-0.06 cycles/sample added: (frames, labels, snrs, true offset)."""
    from sdrkit.dsp import impair, modulate
    from sdrkit.dsp.synth import MODULATIONS

    xs, ys, ss, fs = [], [], [], []
    for c, name in enumerate(MODULATIONS):
        for snr in snrs:
            x = modulate(name, frame_len, rng=rng, sps=float(rng.uniform(2, 12)), rolloff=0.35, n_frames=n_per)
            f0 = rng.uniform(-0.06, 0.06, n_per)
            xs.append(impair.awgn(impair.cfo(x, f0), float(snr), rng))
            ys.append(np.full(n_per, c))
            ss.append(np.full(n_per, float(snr)))
            fs.append(f0)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ss), np.concatenate(fs)


def measure_frontend(card, tf, gated_ms_hi: float | None, reps: int = 5,
                     max_frames: int | None = None) -> tuple[dict, list[Target]]:
    """The CFO front end: accuracy with a +/-60 kHz offset corrected vs none added, estimator
    error vs SNR, and cost per frame (batch 64, one thread) beside the gated model's.

    ``gated_ms_hi``: the deployed gated model's mean ms per frame at SNR >= 10 dB, batch 64,
    measured in the same run (:func:`sdrkit.tasks.amc.evaluate.measure_latency`).
    """
    from sdrkit.dsp.frontend import correct_cfo, estimate_cfo
    from sdrkit.dsp.synth import MODULATIONS
    from sdrkit.tasks.amc.dataset import to_input

    fs = float(card.input.sample_rate)
    T = float(card.thresholds["entropy"])
    hi = np.flatnonzero(tf.snrs >= 10)[:max_frames]
    xc = (tf.x[hi, 0] + 1j * tf.x[hi, 1]).astype(np.complex64)
    y = tf.labels[hi]
    rng = np.random.default_rng(60)
    n = xc.shape[1]
    sign = np.where(rng.uniform(0, 1, len(hi)) < 0.5, -1.0, 1.0)
    off = 60e3 / fs * sign                                   # exactly +/-60 kHz, half each way
    ph = (2 * np.pi * off[:, None] * np.arange(n)[None, :]).astype(np.float64)
    shifted = (xc * np.exp(1j * ph)).astype(np.complex64)
    res = {}
    acc, per_class = {}, {}

    def record(key, frames_in):
        bl, pe = score_input(card, frames_in)
        ok = gated_correct(bl, pe, y, T)
        acc[key] = float(ok.mean())
        per_class[key] = {c: float(ok[y == i].mean()) for i, c in enumerate(card.classes) if np.any(y == i)}

    record("zero_cfo_no_corrector", tf.x[hi])
    record("60khz_no_corrector", to_input(shifted))
    for refine in (False, True):
        c = np.concatenate([correct_cfo(shifted[i:i + 4096], fs, refine=refine) for i in range(0, len(hi), 4096)])
        record(f"60khz_corrected{'_refine' if refine else ''}", to_input(c))
    c = np.concatenate([correct_cfo(xc[i:i + 4096], fs) for i in range(0, len(hi), 4096)])
    record("zero_cfo_corrected", to_input(c))
    res["accuracy_snr_ge_10_gated"] = acc
    # where the corrector loses: per class (a class losing at zero CFO too is hurt by the correction itself)
    res["accuracy_snr_ge_10_gated_per_class"] = per_class
    res["note"] = (f"{len(hi)} test frames at SNR >= 10 dB; offset exactly +60 or -60 kHz at {fs / 1e6:g} MS/s "
                   f"added to the frames' own residual; deployed gated model")
    # estimator error vs SNR on frames with a known offset (SSB: its band centre, not its carrier)
    snrs = (-10, 0, 10, 20, 30)
    xk, yk, sk, fk = _known_offset_frames(32, snrs, np.random.default_rng(61), n)
    err = {}
    for refine in (False, True):
        e = np.abs(estimate_cfo(xk, fs, refine=refine) / fs - fk) * fs
        ssb = yk == MODULATIONS.index("am-ssb")
        err["refine" if refine else "default"] = {
            "snr_db": list(snrs),
            "median_abs_error_hz": [float(np.median(e[(sk == s) & ~ssb])) for s in snrs],
            "p95_abs_error_hz": [float(np.percentile(e[(sk == s) & ~ssb], 95)) for s in snrs],
            "per_class_median_hz_snr_ge_10": {m: float(np.median(e[(sk >= 10) & (yk == i)]))
                                               for i, m in enumerate(MODULATIONS)}}
    res["estimator_error"] = err
    res["estimator_note"] = ("clean base-generator frames, offset uniform in +/-60 kHz, AWGN; am-ssb excluded "
                             "from the pooled figures: the estimator centres SSB on its occupied band")
    # cost, batch 64, one thread (numpy), best of reps
    xb = shifted[:64] if len(shifted) >= 64 else np.resize(shifted, (64, n))
    cost = {}
    for refine in (False, True):
        best = np.inf
        correct_cfo(xb, fs, refine=refine)
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(8):
                correct_cfo(xb, fs, refine=refine)
            best = min(best, (time.perf_counter() - t0) / (8 * len(xb)))
        cost["refine" if refine else "default"] = best * 1e3
    res["cost_ms_per_frame_b64"] = cost
    res["gated_ms_per_frame_hi_snr_b64"] = gated_ms_hi
    ratio = cost["default"] / gated_ms_hi if gated_ms_hi else float("nan")
    res["cost_ratio_default"] = ratio
    res["cost_ratio_refine"] = cost["refine"] / gated_ms_hi if gated_ms_hi else float("nan")
    drop = (acc["zero_cfo_no_corrector"] - acc["60khz_corrected"]) * 100
    return {"frontend": res}, [
        Target("CFO +/-60 kHz corrected: drop vs zero-CFO accuracy, SNR >= 10 dB", drop, "<=", 2.0, unit="points",
               note=f"correct_cfo (default, refine off) then the deployed gated model; {len(hi)} frames; "
                    f"no corrector: {acc['60khz_no_corrector']:.3f} vs {acc['zero_cfo_no_corrector']:.3f}"),
        Target("CFO corrector cost / gated model per-frame time", ratio, "<=", 0.20,
               note=f"batch 64, one thread; corrector {cost['default'] * 1e3:.1f} us/frame, gated model at "
                    f"SNR >= 10 dB {gated_ms_hi * 1e3 if gated_ms_hi else float('nan'):.1f} us/frame"),
    ]


def measure_base(card, base_data, per_snr: int | None = None) -> tuple[dict, list[Target]]:
    """No-regression check on the first (``base``) generator's test split, the split the previous
    bundled model was measured on: backbone accuracy at SNR >= 10 dB and the gated gap."""
    from sdrkit.runtime.card import sha256_file

    name = "base-family test split (previous model's): backbone accuracy, SNR >= 10 dB"
    p = Path(base_data) / "test.sigmf-meta" if base_data else None
    if p is None or not p.exists():
        return {"base_family": None}, [Target(name, float("nan"), ">=", 0.96,
                                              note=f"not measured: no {p}; make it with 'sdrkit dataset amc "
                                                   f"--family base --out {base_data or 'data/amc'}'")]
    sp, x, y, s, bins = _split_input(base_data, "test", per_snr)
    bl, pe = score_input(card, x)
    T = float(card.thresholds["entropy"])
    bb, gd = bl.argmax(1) == y, gated_correct(bl, pe, y, T)
    hi = s >= 10
    res = {"frames": int(len(y)), "sha256": sha256_file(sp.rec.data_path), "snrs": bins,
           "backbone": _per_snr(bb, s, bins), "gated": _per_snr(gd, s, bins),
           "backbone_snr_ge_10": float(bb[hi].mean()), "gated_snr_ge_10": float(gd[hi].mean())}
    return {"base_family": res}, [Target(name, res["backbone_snr_ge_10"], ">=", 0.96,
                                         note=f"{len(y)} frames of {base_data}/test (base generator)")]
