"""``sdrkit evaluate aoa``: the seed's pruning table and every target of the AoA task, one run.

The ``measure_*`` functions each measure one thing and return ``(results, targets)``:

- :func:`measure_table`: every network card in the folder (original, pruned 90/96/98%, int8)
  on the same test frames: ONNX size, parameters, MACs (ONNX shape inference + counter),
  onnxruntime latency at batch 1 and 128 (1 thread), azimuth/elevation MAE at SNR >= 10 dB.
  Targets: original MAE <= 1.5 / 1.2 deg; 96% pruned >= 3.5x faster at batch 128 with MAE
  <= 1.3x the original's; pruned + int8 ONNX <= 0.1 MB; int8 MAE within 0.2 deg of its float
  model (the int8 budget).
- :func:`measure_vs_classical`: the 96% pruned model against MUSIC (with and without array
  calibration) and unitary ESPRIT on the same frames: per-frame latency (batch 1), MAE at
  SNR <= 0 dB, MAE under the front end's uncalibrated 10-20 deg per-channel phase errors.
- :func:`measure_drift`: train cold, test hot (30..40 degC), then a calibration session of
  ``shots`` known-direction frames: hot MAE before/after, its time.
- :func:`measure_bundle`: bundle size, training + compression minutes.

Writes ``<out>/aoa_eval.json``, ``table.md`` (the seed's table form), ``quiver.png``,
``error_vs_snr.png``, ``drift.png``, ``tradeoff.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sdrkit.tasks.targets import Target, write_report

NETWORK_ORDER = ("original", "original_int8", "p90", "p90_int8", "p96", "p96_int8", "p98", "p98_int8")
INT8_BUDGET_DEG = 0.2


def _mae(p, az, el, mask=None):
    if mask is not None:
        p, az, el = p[mask], az[mask], el[mask]
    if len(az) == 0:
        return float("nan"), float("nan")
    return float(np.mean(np.abs(p[:, 0] - az))), float(np.mean(np.abs(p[:, 1] - el)))


def load_cards(folder) -> dict:
    """variant name -> card, for every aoa card in ``folder`` (``card.json`` excluded)."""
    from sdrkit.runtime.card import load_card

    out = {}
    for p in sorted(Path(folder).glob("*.json")):
        if p.name in ("card.json", "compression.json"):
            continue
        try:
            c = load_card(p)
        except Exception:      # noqa: BLE001 - other JSON files in the folder are not cards
            continue
        if c.task == "aoa":
            out[c.extra.get("variant", p.stem)] = c
    return out


def predict_card(card, frames, calibration=None, threads: int = 2, batch: int = 512) -> np.ndarray:
    from sdrkit.tasks.aoa.predict import AnglePredictor

    pr = AnglePredictor(card, calibration, threads=threads)
    return np.concatenate([pr.angles(frames[i:i + batch]) for i in range(0, len(frames), batch)])


def measure_table(cards: dict, test, quick: bool, out: Path) -> tuple[dict, list[Target]]:
    from sdrkit.tasks.aoa import compress as C

    hi = test.snr_db >= 10
    E, N = test.x.shape[1], test.x.shape[2]
    rows = {}
    for name in [n for n in NETWORK_ORDER if n in cards] + sorted(set(cards) - set(NETWORK_ORDER) - {"music", "esprit"}):
        card = cards[name]
        if "full" not in card.files:
            continue
        path = card.file("full")
        p = predict_card(card, test.x)
        ma, me = _mae(p, test.az, test.el, hi)
        shape = (2 * E, N)
        reps1, reps128 = (5, 1) if quick else (100, 8)
        params = card.metrics.get("measured", {}).get("params") or card.training.get("parameters") \
            or C.onnx_params(path)
        rows[name] = {"onnx_mb": path.stat().st_size / 1e6, "params": int(params), "macs": C.onnx_macs(path),
                      "latency_b1_ms": C.ort_latency_ms(path, 1, shape, repeats=reps1)["median_ms"],
                      "latency_b128_ms": C.ort_latency_ms(path, 128, shape, repeats=reps128)["median_ms"],
                      "mae_az": ma, "mae_el": me, "pred": p}
        print(f"{name:14s} {rows[name]['onnx_mb']:.3f} MB  {rows[name]['params']:7d} params  {rows[name]['macs']:9d} MACs"
              f"  b1 {rows[name]['latency_b1_ms']:.3f} ms  b128 {rows[name]['latency_b128_ms']:.1f} ms  "
              f"MAE (SNR>=10) az {ma:.2f} el {me:.2f}")
    lines = ["| model | ONNX size (MB) | MACs | params | CPU time, batch 128 (ms, ORT 1 thread) | "
             "batch 1 (ms) | azimuth / elevation MAE, SNR >= 10 dB (deg) |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['onnx_mb']:.3f} | {r['macs']:,} | {r['params']:,} | {r['latency_b128_ms']:.1f} | "
                     f"{r['latency_b1_ms']:.3f} | {r['mae_az']:.2f} / {r['mae_el']:.2f} |")
    lines += ["", "seed (PyTorch eager, batch 128, 8 x 4096, its CPU): original 2.197 MB, 23,439,648 MACs, 548,482 "
                  "params, 176.9 ms, 1.55 / 1.16 deg; 96% pruned 0.167 MB, 4,221,640 MACs, 20,011 params, 49.5 ms, "
                  "2.2 / 2.1 deg"]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    nan = float("nan")
    o = rows.get("original", {})
    t = [Target("original: azimuth MAE, SNR >= 10 dB, continuous angles", o.get("mae_az", nan), "<=", 1.5, unit="deg",
                note=f"{int(hi.sum())} test frames"),
         Target("original: elevation MAE, SNR >= 10 dB", o.get("mae_el", nan), "<=", 1.2, unit="deg")]
    p96 = rows.get("p96", {})
    if o and p96:
        t += [Target("96% pruned: speed-up vs original, batch 128", o["latency_b128_ms"] / p96["latency_b128_ms"], ">=",
                     3.5, unit="x", note="onnxruntime, 1 thread, median"),
              Target("96% pruned: azimuth MAE / original's", p96["mae_az"] / o["mae_az"], "<=", 1.3, unit="x",
                     note=f"{p96['mae_az']:.2f} vs {o['mae_az']:.2f} deg"),
              Target("96% pruned: elevation MAE / original's", p96["mae_el"] / o["mae_el"], "<=", 1.3, unit="x",
                     note=f"{p96['mae_el']:.2f} vs {o['mae_el']:.2f} deg")]
    else:
        t += [Target("96% pruned model present (sdrkit compress aoa)", 0.0, ">=", 1.0)] if not quick else []
    q = rows.get("p96_int8")
    if q:
        t.append(Target("pruned 96% + int8: ONNX file size", q["onnx_mb"], "<=", 0.1, unit="MB"))
    for name, r in rows.items():
        if name.endswith("_int8") and name[:-5] in rows:
            f = rows[name[:-5]]
            worst = max(r["mae_az"] - f["mae_az"], r["mae_el"] - f["mae_el"])
            t.append(Target(f"{name}: MAE increase over its float model (int8 budget)", worst, "<=", INT8_BUDGET_DEG,
                            unit="deg", note="worse of azimuth / elevation"))
    res = {k: {kk: vv for kk, vv in v.items() if kk != "pred"} for k, v in rows.items()}
    return {"table": res, "_pred": {k: v["pred"] for k, v in rows.items()}}, t


def measure_vs_classical(cards: dict, test, preds: dict, cal_cold, quick: bool, shots: int) -> tuple[dict, list[Target]]:
    """The pruned model (96%, else the smallest pruned, else the original) against MUSIC and ESPRIT."""
    from sdrkit.tasks.aoa import compress as C
    from sdrkit.tasks.aoa.calibration import calibrate_frames
    from sdrkit.tasks.aoa.predict import classical_estimator

    name = next((n for n in ("p96", "p98", "p90", "original") if n in preds), None)
    if name is None or "music" not in cards:
        return {}, []
    p_net = preds[name]
    res, t = {"model": name}, []
    low, hi = test.snr_db <= 0, test.snr_db >= 10
    for cname in ("music", "esprit"):
        if cname not in cards:
            continue
        card = cards[cname]
        cal = calibrate_frames(card, cal_cold.x, cal_cold.az, cal_cold.el, shots=min(shots, len(cal_cold.az)),
                               front_end="cold")
        p_u = predict_card(card, test.x)
        p_c = predict_card(card, test.x, calibration=cal)
        est = classical_estimator(card)
        lat1 = C.classical_latency_ms(est, test.x, 1, repeats=3 if quick else 50)
        lat128 = C.classical_latency_ms(est, test.x, 128, repeats=1 if quick else 5)
        res[cname] = {"uncalibrated": {"snr_le_0": _mae(p_u, test.az, test.el, low), "snr_ge_10": _mae(p_u, test.az, test.el, hi),
                                       "all": _mae(p_u, test.az, test.el)},
                      "calibrated": {"snr_le_0": _mae(p_c, test.az, test.el, low), "snr_ge_10": _mae(p_c, test.az, test.el, hi),
                                     "all": _mae(p_c, test.az, test.el)},
                      "calibration_shots": cal.shots, "latency_b1_ms": lat1["median_ms"],
                      "latency_per_frame_b128_ms": lat128["median_ms"] / 128}
        print(f"{cname}: uncal SNR>=10 {res[cname]['uncalibrated']['snr_ge_10']}, cal {res[cname]['calibrated']['snr_ge_10']}; "
              f"SNR<=0 uncal {res[cname]['uncalibrated']['snr_le_0']} cal {res[cname]['calibrated']['snr_le_0']}; "
              f"{lat1['median_ms']:.2f} ms/frame")
        res[cname]["_pred"] = (p_u, p_c)
    net = {"snr_le_0": _mae(p_net, test.az, test.el, low), "snr_ge_10": _mae(p_net, test.az, test.el, hi),
           "all": _mae(p_net, test.az, test.el)}
    res["network"] = net
    shape = (2 * test.x.shape[1], test.x.shape[2])
    net_lat = C.ort_latency_ms(cards[name].file("full"), 1, shape, repeats=5 if quick else 100)["median_ms"]
    res["network_latency_b1_ms"] = net_lat
    # per frame at batch 128 too (both sides batched; shown beside the batch-1 target, not judged)
    net128 = C.ort_latency_ms(cards[name].file("full"), 128, shape, repeats=3 if quick else 15)["median_ms"] / 128
    res["network_latency_per_frame_b128_ms"] = net128
    m = res["music"]
    mean = lambda ab: (ab[0] + ab[1]) / 2  # noqa: E731
    t += [Target(f"{name} vs MUSIC: per-frame speed-up, batch 1", m["latency_b1_ms"] / net_lat, ">=", 10.0, unit="x",
                 note=f"MUSIC {m['latency_b1_ms']:.2f} ms (2 deg grid + 3 refinements) vs {net_lat:.3f} ms; per frame "
                      f"at batch 128 (not judged): {m['latency_per_frame_b128_ms']:.3f} vs {net128:.4f} ms, "
                      f"{m['latency_per_frame_b128_ms'] / net128:.1f}x"),
          Target(f"{name} vs calibrated MUSIC: mean az/el MAE at SNR <= 0 dB, model - MUSIC",
                 mean(net["snr_le_0"]) - mean(m["calibrated"]["snr_le_0"]), "<=", 0.0, unit="deg",
                 note=f"model {mean(net['snr_le_0']):.2f}, MUSIC cal {mean(m['calibrated']['snr_le_0']):.2f}, "
                      f"uncal {mean(m['uncalibrated']['snr_le_0']):.2f}; {int(low.sum())} frames"),
          Target(f"{name} vs uncalibrated MUSIC under 10-20 deg channel phase errors: MAE difference, SNR >= 10",
                 mean(net["snr_ge_10"]) - mean(m["uncalibrated"]["snr_ge_10"]), "<=", 0.0, unit="deg",
                 note=f"model {mean(net['snr_ge_10']):.2f}, MUSIC uncal {mean(m['uncalibrated']['snr_ge_10']):.2f}, "
                      f"cal {mean(m['calibrated']['snr_ge_10']):.2f}")]
    return res, t


def measure_drift(cards: dict, test, hot, cal_hot_path, shots: int, out: Path, quick: bool) -> tuple[dict, list[Target]]:
    """Cold test vs hot test for the original network, before and after a calibration session."""
    from sdrkit.tasks.aoa.calibration import calibrate_capture

    res, t = {}, []
    for name in ("original",) if quick else ("original", "p96"):
        if name not in cards:
            continue
        card = cards[name]
        times = []
        for _ in range(1 if quick else 5):
            cal, dt = calibrate_capture(card.path, cal_hot_path, shots=shots, out=out / f"calibration_{name}.json")
            times.append(dt)
        hic, hih = test.snr_db >= 10, hot.snr_db >= 10
        cold = _mae(predict_card(card, test.x), test.az, test.el, hic)
        before = _mae(predict_card(card, hot.x), hot.az, hot.el, hih)
        after = _mae(predict_card(card, hot.x, calibration=cal), hot.az, hot.el, hih)
        res[name] = {"cold": cold, "hot_before": before, "hot_after": after, "shots": cal.shots,
                     "calibration_seconds_median": float(np.median(times)),
                     "estimated_phase_deg": np.angle(cal.gains, deg=True).round(2).tolist()}
        print(f"drift {name}: cold {cold}, hot before {before}, after {after} ({cal.shots} shots, "
              f"{np.median(times) * 1e3:.0f} ms)")
    if "original" in res:
        r = res["original"]
        c, b, a = (np.mean(r[k]) for k in ("cold", "hot_before", "hot_after"))
        t += [Target("drift: hot / cold mean MAE before calibration (the drop is shown)", b / c, ">", 1.2, unit="x",
                     note=f"cold {c:.2f}, hot {b:.2f} deg; original network, SNR >= 10 dB"),
              Target(f"drift: hot MAE after a {r['shots']}-shot calibration / cold MAE", a / c, "<=", 1.2, unit="x",
                     note=f"after {a:.2f} deg"),
              Target("calibration session (card, capture, estimate, file)", r["calibration_seconds_median"], "<", 1.0,
                     unit="s", note="median")]
    if "music" in cards:
        from sdrkit.tasks.aoa.calibration import calibrate_frames
        from sdrkit.tasks.aoa.data import read_split

        ch = read_split(cal_hot_path)
        cal = calibrate_frames(cards["music"], ch.x, ch.az, ch.el, shots=shots)
        hih = hot.snr_db >= 10
        res["music_hot"] = {"uncalibrated": _mae(predict_card(cards["music"], hot.x), hot.az, hot.el, hih),
                            "calibrated": _mae(predict_card(cards["music"], hot.x, calibration=cal), hot.az, hot.el, hih)}
    return res, t


def measure_bundle(folder, cards: dict) -> tuple[dict, list[Target]]:
    """Bundle size; training + compression time as CPU time (all threads) of the recorded runs,
    in minutes of this 2-core machine (CPU seconds / 2 / 60): on a shared machine wall time
    measures the other jobs too, so both are recorded."""
    files = [p for p in Path(folder).iterdir() if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    tr = [c.metrics.get("training", {}) for c in cards.values()]
    get = lambda k: max([t.get(k) or 0.0 for t in tr], default=0.0)  # noqa: E731
    train_cpu, comp_cpu = get("train_cpu_seconds"), get("compress_cpu_seconds")
    train_s, comp_s = get("train_seconds"), get("compress_seconds")
    two_core_min = (train_cpu + comp_cpu) / 2 / 60 if train_cpu else float("nan")
    return {"bundle_bytes": size, "files": len(files), "train_seconds": train_s, "compress_seconds": comp_s,
            "train_cpu_seconds": train_cpu, "compress_cpu_seconds": comp_cpu}, [
        Target("bundle size (models/aoa, all files)", size / 1e6, "<=", 5.0, unit="MB"),
        Target("training + compression, minutes of the 2-core CPU", two_core_min, "<=", 20.0, unit="min",
               note=f"CPU {train_cpu / 60:.1f} + {comp_cpu / 60:.1f} core-min; wall {train_s / 60:.0f} + "
                    f"{comp_s / 60:.0f} min on the shared machine")]


def quiver_png(path, az, el, preds: dict, title: str, n: int = 150) -> Path:
    """True (arrow tail) -> estimated (arrow head) directions, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(preds)
    fig, axes = plt.subplots(1, k, figsize=(4.6 * k, 4.4), squeeze=False)
    for ax, (name, p) in zip(axes[0], preds.items()):
        m = min(n, len(az))
        ax.quiver(az[:m], el[:m], p[:m, 0] - az[:m], p[:m, 1] - el[:m], angles="xy", scale_units="xy", scale=1,
                  width=0.004, color="tab:red")
        ax.scatter(az[:m], el[:m], s=6, c="k")
        ax.set_xlim(-70, 70)
        ax.set_ylim(-70, 70)
        ax.set_xlabel("azimuth, deg")
        ax.set_ylabel("elevation, deg")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def error_vs_snr_png(path, test, curves: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.arange(-10, 31, 5)
    mid = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, p in curves.items():
        e = (np.abs(p[:, 0] - test.az) + np.abs(p[:, 1] - test.el)) / 2
        y = [np.mean(e[(test.snr_db >= a) & (test.snr_db < b)]) if np.any((test.snr_db >= a) & (test.snr_db < b))
             else np.nan for a, b in zip(edges[:-1], edges[1:])]
        ax.plot(mid, y, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("SNR per element, dB")
    ax.set_ylabel("mean of az/el MAE, deg")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def drift_png(path, drift: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in drift if isinstance(drift[n], dict) and "cold" in drift[n]]
    fig, ax = plt.subplots(figsize=(6, 4))
    w = 0.25
    for i, key in enumerate(("cold", "hot_before", "hot_after")):
        ax.bar(np.arange(len(names)) + (i - 1) * w, [np.mean(drift[n][key]) for n in names], w, label=key)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("mean of az/el MAE, deg (SNR >= 10 dB)")
    ax.set_title("cold train, hot test (30-40 degC), and after calibration", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def run_evaluation(cfg) -> int:
    from sdrkit.errors import ConfigError
    from sdrkit.tasks.aoa import compress as C
    from sdrkit.tasks.aoa.data import read_split, split_path

    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cards = load_cards(cfg.models)
    if not any("full" in c.files for c in cards.values()):
        raise ConfigError(f"no aoa network card in {cfg.models}; make one with 'sdrkit train aoa --out {cfg.models}'")
    test = read_split(split_path(cfg.data, "test"))
    hot = read_split(split_path(cfg.data, "hot"))
    cc = read_split(split_path(cfg.data, "calib_cold"))
    cap = 64 if cfg.quick else cfg.max_frames
    if cap:
        test = test.__class__(**{**test.__dict__, **{k: getattr(test, k)[:cap] for k in ("x", "az", "el", "snr_db",
                                                                                         "temp_c")}})
        hot = hot.__class__(**{**hot.__dict__, **{k: getattr(hot, k)[:cap] for k in ("x", "az", "el", "snr_db",
                                                                                     "temp_c")}})
    shots = min(cfg.shots, len(cc.az))
    results, targets = {"frames": {"test": len(test.az), "hot": len(hot.az)}}, []
    r, t = measure_table(cards, test, cfg.quick, out)
    preds = r.pop("_pred")
    results.update(r)
    targets += t
    r, t = measure_vs_classical(cards, test, preds, cc, cfg.quick, shots)
    cl_preds = {}
    for k in ("music", "esprit"):
        if k in r:
            pu, pc = r[k].pop("_pred")
            cl_preds[f"{k.upper()} uncal."] = pu
            cl_preds[f"{k.upper()} cal."] = pc
    results["vs_classical"] = r
    targets += t
    r, t = measure_drift(cards, test, hot, split_path(cfg.data, "calib_hot"), shots, out, cfg.quick)
    results["drift"] = r
    targets += t
    r, t = measure_bundle(cfg.models, cards)
    results["bundle"] = r
    targets += t
    plots = []
    hi = test.snr_db >= 10
    qp = {n: preds[n][hi] for n in ("original", "p96", "p96_int8") if n in preds}
    if "MUSIC uncal." in cl_preds:
        qp["MUSIC uncal."] = cl_preds["MUSIC uncal."][hi]
    plots.append(quiver_png(out / "quiver.png", test.az[hi], test.el[hi], qp,
                            "true (dot) -> estimated (arrow head), test frames at SNR >= 10 dB"))
    plots.append(error_vs_snr_png(out / "error_vs_snr.png", test, {**{n: preds[n] for n in preds if not n.endswith("int8")
                                                                      or n == "p96_int8"}, **cl_preds}))
    if results["drift"]:
        plots.append(drift_png(out / "drift.png", results["drift"]))
    rows = []
    for n, row in results["table"].items():
        rows.append({"name": n, "latency_ms": row["latency_b1_ms"], "onnx_bytes": row["onnx_mb"] * 1e6,
                     "mae_mean": (row["mae_az"] + row["mae_el"]) / 2})
    vc = results["vs_classical"]
    for k in ("music", "esprit"):
        if k in vc:
            for how in ("uncalibrated", "calibrated"):
                rows.append({"name": f"{k.upper()} {how[:5]}.", "latency_ms": vc[k]["latency_b1_ms"], "classical": True,
                             "mae_mean": float(np.mean(vc[k][how]["snr_ge_10"]))})
    plots.append(C.tradeoff_png(out / "tradeoff.png", rows, "AoA: error vs latency vs size (test, SNR >= 10 dB)"))
    results["plots"] = [str(p) for p in plots]
    results["seconds"] = time.perf_counter() - t0
    write_report(out / "aoa_eval.json", task="aoa", targets=targets, results=results, quick=cfg.quick)
    if cfg.update_card and not cfg.quick:
        from sdrkit.runtime.card import load_card

        card = load_card(Path(cfg.models) / "card.json")
        card.replace(metrics={**card.metrics, "evaluation": {"targets": [x.to_dict() for x in targets],
                                                             "table": results["table"]}}).save(card.path)
        print(f"updated {card.path}")
    return 0
