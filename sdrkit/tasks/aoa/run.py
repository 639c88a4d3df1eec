"""``sdrkit train aoa`` and ``sdrkit compress aoa``: the bundled models and their cards.

``train`` writes, beside each other in the model folder: ``original.onnx`` + ``original.json``
(the unpruned network), ``original.pt`` (its weights, float16, for ``compress``),
``music.json`` and ``esprit.json`` (classical cards: no graph, the same predictor contract)
and ``card.json`` (a copy of ``original.json`` until ``compress`` picks the deployed model).

``compress`` writes ``pNN.onnx``/``pNN.json`` (pruned, fine-tuned) and ``pNN_int8.onnx``/
``pNN_int8.json`` for each target, ``original_int8``, ``compression.json`` (every variant's
size, parameters, MACs, latency and validation error), ``tradeoff.png``, and ``card.json``:
the variant with the least validation error among those whose batch-1 latency per frame meets
``--budget-ms``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

ARCH = "aoa_mobilenetv3_small_1d"


def _load_xy(data_dir, split: str, max_frames: int | None = None):
    from sdrkit.tasks.aoa.data import data_hash, read_split, split_path
    from sdrkit.tasks.aoa.train import targets, to_tensor

    p = split_path(data_dir, split)
    s = read_split(p)
    if max_frames:
        s = s.__class__(**{**s.__dict__, "x": s.x[:max_frames], "az": s.az[:max_frames], "el": s.el[:max_frames],
                           "snr_db": s.snr_db[:max_frames], "temp_c": s.temp_c[:max_frames]})
    return to_tensor(s.x), targets(s.az, s.el), s, {"path": str(p), "sha256_16": data_hash(p), "frames": len(s.az)}


def _geometry(split):
    from sdrkit.capture import open_recording
    from sdrkit.dsp.array import ArrayGeometry

    with open_recording(split.path) as rec:
        g = rec.global_info.get("sdrkit:array", {"rows": 2, "cols": 2, "spacing": 0.5})
        fe = rec.global_info.get("sdrkit:front_end", "")
    return ArrayGeometry(**g), fe


def classical_cards(out: Path, geometry, frame_len: int, data_info: dict, command: str) -> None:
    """``music.json`` and ``esprit.json``: classical estimators behind the same predictor contract."""
    from sdrkit.tasks.aoa.train import make_card

    for name, arch, kw in (("music", "music_2d", {"grid_deg": 2.0, "refine": 3, "span_deg": 60.0}),
                           ("esprit", "esprit_2d", {})):
        card = make_card(f"aoa-{name}-{geometry.rows}x{geometry.cols}", "", {"name": arch, "kwargs": kw},
                         geometry.elements, frame_len, metrics={}, training={"command": command, "data": data_info},
                         extra={"array": geometry.to_dict(), "variant": name, "classical": True})
        card.save(out / f"{name}.json")


def train(cfg) -> int:
    import torch

    from sdrkit.nn import create_model
    from sdrkit.dsp.array import estimate_channel_gains
    from sdrkit.tasks.aoa.train import export, fit, make_card, mae, predict_torch

    torch.set_num_threads(cfg.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    X, Y, tr, tr_info = _load_xy(cfg.data, "train", cfg.max_frames)
    Xv, Yv, va, va_info = _load_xy(cfg.data, "val")
    geo, fe = _geometry(tr)
    E, N = tr.x.shape[1], tr.x.shape[2]
    arch = {"name": ARCH, "kwargs": {"in_channels": 2 * E, "front": cfg.front}}
    torch.manual_seed(cfg.seed)
    model = create_model(arch)
    n_params = int(sum(p.numel() for p in model.parameters()))
    print(f"{ARCH}: {n_params} parameters, input {2 * E} x {N}, {len(X)} training frames")
    hist = fit(model, X, Y, Xv, Yv, epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr, seed=cfg.seed,
               time_budget_s=cfg.time_budget * 60 if cfg.time_budget else None)
    p = predict_torch(model, Xv)
    hi = va.snr_db >= 10
    val = {"mae_az": mae(p, va.az, va.el)[0], "mae_el": mae(p, va.az, va.el)[1],
           "mae_az_snr_ge_10": mae(p[hi], va.az[hi], va.el[hi])[0], "mae_el_snr_ge_10": mae(p[hi], va.az[hi], va.el[hi])[1]}
    export(model, out / "original.onnx", E, N)
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()},
               out / "original.pt")
    # the response of the front end the network was trained on, measured as a calibration would
    from sdrkit.tasks.aoa.data import read_split, split_path

    cc = read_split(split_path(cfg.data, "calib_cold"))
    k = min(16, len(cc.az))
    ref = estimate_channel_gains(cc.x[:k], geo, cc.az[:k], cc.el[:k])
    # and its full response (coupling included) from all cold shots: a hot session's gains are
    # measured against it (sdrkit.tasks.aoa.calibration.gains_against)
    from sdrkit.tasks.aoa.calibration import estimate_response

    resp = estimate_response(cc.x, geo, cc.az, cc.el)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    training = {"command": cfg.command_line, "seed": cfg.seed, "data": {"train": tr_info, "val": va_info},
                "parameters": n_params, "epochs": cfg.epochs, "batch": cfg.batch, "lr": cfg.lr,
                "optimizer": "AdamW wd 0.01, cosine per step (over the planned steps or the CPU budget), L1 on angles/60",
                "time_budget_min": cfg.time_budget, "frame_len_note": f"{N} samples per frame (the seed: 4096)"}
    extra = {"array": geo.to_dict(), "front_end": fe, "variant": "original",
             "reference_gains": [[float(z.real), float(z.imag)] for z in ref],
             "reference_response": [[[float(z.real), float(z.imag)] for z in row] for row in resp],
             "reference_note": f"per-channel response of the training front end, cold, from {k} calib_cold shots; "
                               f"reference_response: its full {E}x{E} response matrix (M[0, 0] = 1, coupling "
                               f"included) fitted to all {len(cc.az)} calib_cold shots"}
    card = make_card(f"aoa-mnv3s1d-{geo.rows}x{geo.cols}-original", "original.onnx", arch, E, N,
                     metrics={"training": {**hist, "train_seconds": train_s, "train_cpu_seconds": train_cpu}, "val": val}, training=training,
                     extra=extra)
    card.save(out / "original.json")
    card.save(out / "card.json")
    classical_cards(out, geo, N, {"train": tr_info}, cfg.command_line)
    print(f"val MAE az {val['mae_az']:.2f} el {val['mae_el']:.2f} deg (SNR >= 10 dB: {val['mae_az_snr_ge_10']:.2f} / "
          f"{val['mae_el_snr_ge_10']:.2f}); {train_s / 60:.1f} min wall, {train_cpu / 60:.1f} min CPU -> {out / 'original.json'}")
    return 0


def _variant_card(base, name: str, onnx_name: str, arch_kwargs: dict, metrics: dict, training: dict, extra: dict):
    from sdrkit.tasks.aoa.train import make_card

    return make_card(f"{base.name.rsplit('-', 1)[0]}-{name}", onnx_name, {"name": ARCH, "kwargs": arch_kwargs},
                     base.input.channels, base.input.frame_len, metrics=metrics,
                     training={**base.training, **training}, extra={**base.extra, **extra, "variant": name})


def compress(cfg) -> int:
    import torch

    from sdrkit.errors import ConfigError
    from sdrkit.nn import create_model
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.aoa import compress as C
    from sdrkit.tasks.aoa.predict import classical_estimator
    from sdrkit.tasks.aoa.train import export, fit, mae

    torch.set_num_threads(cfg.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    base = load_card(cfg.model)
    out = Path(cfg.out) if cfg.out else base.directory
    out.mkdir(parents=True, exist_ok=True)
    try:
        tlist = [float(t) for t in cfg.targets.split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"--targets {cfg.targets!r} must be fractions separated by ',' (e.g. 0.90,0.96)") from exc
    if not tlist or not all(0 < t < 1 for t in tlist):
        raise ConfigError(f"--targets {cfg.targets!r}: each fraction of parameters to remove must be in (0, 1)")
    if not cfg.budget_ms > 0:
        raise ConfigError(f"--budget-ms {cfg.budget_ms} must be > 0 (per-frame latency, ms)")
    pt = base.directory / "original.pt"
    if not pt.exists():
        raise ConfigError(f"{pt} not found beside {base.path}; make it with 'sdrkit train aoa'")
    model = create_model(base.architecture)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in torch.load(pt, weights_only=True).items()})
    model.eval()
    X, Y, tr, tr_info = _load_xy(cfg.data, "train", cfg.max_frames)
    Xv, Yv, va, va_info = _load_xy(cfg.data, "val")
    E, N = base.input.channels, base.input.frame_len
    Xc, Yc = Xv[:128], Yv[:128]
    hi = va.snr_db >= 10
    Xv_np = Xv.numpy()
    report = {"command": cfg.command_line, "budget_ms": cfg.budget_ms, "variants": {}, "data": {"train": tr_info,
                                                                                              "val": va_info}}
    if cfg.quick:
        sens = None
        base_r = {n: 0.5 for n, _ in C.units(model)}
    else:
        sens = C.sensitivity(model, Xc, Yc, Xv[128:384], Yv[128:384])
        base_r = C.base_ratios(sens)
    report["sensitivity"] = sens
    report["base_ratios"] = base_r

    def record(name, onnx_path, params_torch=None):
        m = C.measure_graph(onnx_path, E, N)
        p = C.ort_angles(onnx_path, Xv_np)
        ma, me = mae(p[hi], va.az[hi], va.el[hi])
        m.update(val_mae_az=ma, val_mae_el=me, params=params_torch if params_torch is not None else m["params_onnx"])
        report["variants"][name] = m
        print(f"{name:12s}: {m['onnx_bytes'] / 1e6:.3f} MB  {m['params']} params  {m['macs']} MACs  "
              f"b1 {m['latency_b1']['median_ms']:.3f} ms  b128 {m['latency_b128']['median_ms']:.1f} ms  "
              f"val MAE (SNR>=10) az {ma:.2f} el {me:.2f}")
        return m

    n0 = C.count_params(model)
    record("original", base.file("full"), n0)
    C.quantize_int8(base.file("full"), out / "original_int8.onnx", Xv_np[-256:])
    record("original_int8", out / "original_int8.onnx", n0)
    pruned_meta = {}
    teacher_out = None
    if not cfg.no_kd:
        with torch.no_grad():
            teacher_out = torch.cat([model.forward_scaled(X[i:i + 512]) for i in range(0, len(X), 512)])
    for t in tlist:
        tag = f"p{int(round(t * 100))}"
        ratios, pm = C.ratios_for_target(model, base_r, t, Xc, Yc)
        ft = fit(pm, X, Y, Xv, Yv, epochs=cfg.epochs, batch=cfg.ft_batch, lr=cfg.ft_lr, seed=cfg.seed,
                 time_budget_s=cfg.finetune * 60, teacher_out=teacher_out, tag=f"fine-tune {tag}")
        export(pm, out / f"{tag}.onnx", E, N)
        pruned_meta[tag] = {"ratios": ratios, "params": C.count_params(pm), "removed": 1 - C.count_params(pm) / n0,
                            "finetune": ft}
        record(tag, out / f"{tag}.onnx", C.count_params(pm))
        C.quantize_int8(out / f"{tag}.onnx", out / f"{tag}_int8.onnx", Xv_np[-256:])
        record(f"{tag}_int8", out / f"{tag}_int8.onnx", C.count_params(pm))
    report["pruned"] = pruned_meta
    # MUSIC on the same validation frames, for the trade-off plot
    music = load_card(base.directory / "music.json") if (base.directory / "music.json").exists() else None
    rows = []
    if music is not None:
        est = classical_estimator(music)
        az, el = est(va.x[hi][:256])
        lat = C.classical_latency_ms(est, va.x, 1, repeats=20)
        rows.append({"name": "MUSIC (uncal.)", "latency_ms": lat["median_ms"], "classical": True,
                     "mae_mean": float((np.mean(np.abs(az[:, 0] - va.az[hi][:256])) +
                                        np.mean(np.abs(el[:, 0] - va.el[hi][:256]))) / 2)})
        report["music_val"] = {"latency_b1": lat, "mae_mean": rows[-1]["mae_mean"]}
    for name, m in report["variants"].items():
        rows.append({"name": name, "latency_ms": m["latency_b1"]["median_ms"], "onnx_bytes": m["onnx_bytes"],
                     "mae_mean": (m["val_mae_az"] + m["val_mae_el"]) / 2})
    ok = [(m["val_mae_az"] + m["val_mae_el"], name) for name, m in report["variants"].items()
          if m["latency_b1"]["median_ms"] <= cfg.budget_ms]
    if not ok:
        fastest = min(report["variants"].items(), key=lambda kv: kv[1]["latency_b1"]["median_ms"])
        raise ConfigError(f"no variant meets --budget-ms {cfg.budget_ms}: the fastest, {fastest[0]}, takes "
                          f"{fastest[1]['latency_b1']['median_ms']:.3f} ms per frame here; raise the budget")
    chosen = min(ok)[1]
    report["chosen"] = chosen
    compress_s, compress_cpu = time.perf_counter() - t0, time.process_time() - c0
    report["compress_seconds"] = compress_s
    report["compress_cpu_seconds"] = compress_cpu
    C.tradeoff_png(out / "tradeoff.png", rows, f"AoA variants (validation, SNR >= 10 dB); budget {cfg.budget_ms} ms "
                                               f"per frame -> {chosen}")
    # cards
    train_s = base.metrics.get("training", {}).get("train_seconds", 0.0)
    train_cpu = base.metrics.get("training", {}).get("train_cpu_seconds", 0.0)
    for name, m in report["variants"].items():
        if name == "original":
            continue
        tag = name.split("_")[0]
        kw = dict(base.architecture.get("kwargs") or {})
        metrics = {"measured": m, "pruning": pruned_meta.get(tag, {}) if tag != "original" else {},
                   "training": {"train_seconds": train_s, "compress_seconds": compress_s,
                                "train_cpu_seconds": train_cpu, "compress_cpu_seconds": compress_cpu}}
        extra = {"precision": "int8 QDQ per-channel (onnxruntime static, percentile 99.99 on 256 held-out frames)"
                 if name.endswith("int8") else "float32",
                 "torch_rebuild": "the pruned graph is the ONNX file; a pruned network has no constructor "
                                  "arguments" if tag != "original" else ""}
        _variant_card(base, name, f"{name}.onnx", kw, metrics, {"compress_command": cfg.command_line},
                      extra).save(out / f"{name}.json")
    chosen_card = load_card(out / ("original.json" if chosen == "original" else f"{chosen}.json"))
    chosen_card.replace(metrics={**chosen_card.metrics, "budget": {"budget_ms": cfg.budget_ms, "chosen": chosen,
                                                                   "tradeoff_png": "tradeoff.png"}}
                        ).save(out / "card.json")
    (out / "compression.json").write_text(json.dumps(report, indent=1, default=_js) + "\n")
    print(f"budget {cfg.budget_ms} ms per frame: chose {chosen}; compression {compress_s / 60:.1f} min wall, "
          f"{compress_cpu / 60:.1f} min CPU -> "
          f"{out / 'card.json'}, {out / 'tradeoff.png'}")
    return 0


def _js(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
