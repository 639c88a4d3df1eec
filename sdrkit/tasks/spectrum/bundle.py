"""``sdrkit train spectrum``: pretrain the backbone, train the heads (frozen and scratch), export ONNX + cards.

Stages: ``pretrain`` (writes ``<out>/backbone/``), ``heads`` (reads ``--backbone``, writes
``<out>/segment``, ``<out>/forecast`` and the scratch baselines ``<out>/segment-scratch``,
``<out>/forecast-scratch``), ``all`` (both). ``--mask auto`` pretrains with both masking
schemes for a share of the budget, fits a frozen segmentation head on each, keeps the scheme
with the lower head validation loss and spends the rest of the budget on it (the comparison is
recorded in the backbone card).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from sdrkit.tasks.spectrum import data as D

MASK_CLASSES = D.CLASSES


def _arch(cfg) -> dict:
    return {"layers": cfg.layers, "filters": cfg.filters, "token_rows": D.TOKEN_ROWS, "bins": D.NFFT}


def _card(name, kind, shape, description, arch_name, arch, files, training, metrics, extra, out: Path):
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec

    geo = D.describe_geometry()
    card = ModelCard(task="spectrum", name=name, classes=(),
                     input=InputSpec(sample_rate=D.SAMPLE_RATE, frame_len=D.FRAME_LEN, representation="spectrogram",
                                     layout=geo["layout"], normalization=geo["normalization"],
                                     spectrogram={"nfft": D.NFFT, "hop": D.NFFT, "window": "hann",
                                                  "average": D.AVERAGE}),
                     files=files, output=OutputSpec(kind, shape=shape, description=description),
                     architecture={"name": arch_name, "kwargs": arch}, training=training, metrics=metrics,
                     extra={"geometry": geo, **extra})
    return card.save(out / "card.json")


def _export(model, rows: int, path: Path):
    import torch

    from sdrkit.runtime.export import export_onnx

    return export_onnx(model.eval(), torch.zeros(2, 1, rows, D.NFFT), path, atol=2e-4)


def _training(cfg, seed, hashes, extra=None) -> dict:
    return {"command": cfg.command_line or "sdrkit train spectrum", "seed": seed, "data": cfg.data,
            "data_sha256": hashes, "scale_down": (
                f"ConvLSTM {cfg.layers} layers x {cfg.filters} filters (3x3) after a stride-2 conv stem, on "
                f"{D.ROWS}x{D.NFFT} sentences of {D.ROWS // D.TOKEN_ROWS} tokens; the paper's 5 x 64 on 256x256 "
                f"trains at ~0.1 sentences/s on 2 CPU cores"), **(extra or {})}


def _load(folder, rows, cfg, labelled=True):
    return D.sentences(folder, rows=rows, labelled=labelled, max_sentences=cfg.max_sentences or None)


def run_train(cfg) -> int:
    import torch

    from sdrkit.errors import ConfigError

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    data = Path(cfg.data)
    rank = int(os.environ.get("RANK", "0"))
    backbone_state = None
    if cfg.stage in ("pretrain", "all"):
        X, _, info = _load(data / "train" if (data / "train").is_dir() else data, D.ROWS, cfg, labelled=False)
        Xv = _load(data / "val", D.ROWS, cfg, labelled=False)[0] if (data / "val").is_dir() else X[:32]
        backbone_state, hist = _pretrain(cfg, X, Xv)
        if rank == 0:
            _save_backbone(cfg, backbone_state, hist, info, out / "backbone")
        if cfg.rank_weights:
            Path(cfg.rank_weights).mkdir(parents=True, exist_ok=True)
            torch.save(backbone_state, Path(cfg.rank_weights) / f"rank{rank}.pt")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
            return 0
    if cfg.stage in ("heads", "all"):
        if backbone_state is None:
            from sdrkit.resources import resolve
            from sdrkit.runtime import load_card

            bcard = load_card(resolve("models", cfg.backbone))
            backbone_state = torch.load(bcard.file("torch"), weights_only=True)
        _heads(cfg, backbone_state, data, out)
    elif cfg.stage not in ("pretrain",):
        raise ConfigError(f"--stage {cfg.stage!r} must be pretrain, heads or all")
    return 0


def _pretrain(cfg, X, Xv):
    from sdrkit.tasks.spectrum.train import pretrain

    arch = _arch(cfg)
    budget = cfg.pretrain_minutes * 60 if cfg.pretrain_minutes else None
    if cfg.mask != "auto":
        model, hist = pretrain(X, Xv, arch, cfg.mask, steps=cfg.steps or None, budget_s=budget, batch=cfg.batch,
                               seed=cfg.seed, threads=cfg.threads)
        hist["selection"] = {"chosen": cfg.mask, "by": "--mask"}
        return model.backbone.state_dict(), hist
    # pick the scheme by measurement: a share of the budget each, a quick frozen head on each
    from sdrkit.tasks.spectrum.train import train_segmenter

    share = (budget or 60.0) * 0.25
    Xs, Ms, _ = D.sentences(Path(cfg.data) / "val", rows=D.ROWS, max_sentences=cfg.max_sentences or None)
    half = len(Xs) // 2
    trial = {}
    for scheme in ("random", "block"):
        model, hist = pretrain(X, Xv, arch, scheme, budget_s=share, batch=cfg.batch, seed=cfg.seed,
                               threads=cfg.threads)
        _, hh = train_segmenter(Xs[:half], Ms[:half], Xs[half:], Ms[half:], arch, len(MASK_CLASSES),
                                model.backbone.state_dict(), budget_s=max(10.0, share * 0.25), batch=cfg.batch,
                                seed=cfg.seed, threads=cfg.threads)
        trial[scheme] = {"model": model, "pretrain": hist, "head_val_loss": hh["curve"][-1][1],
                         "head_seconds": hh["seconds"]}
        print(f"masking {scheme}: pretrain {hist['steps']} steps, frozen-head val loss {hh['curve'][-1][1]:.4f}")
    chosen = min(trial, key=lambda s: trial[s]["head_val_loss"])
    rest = max(0.0, (budget or 60.0) - 2 * share * 1.25)
    model, hist = pretrain(X, Xv, arch, chosen, budget_s=rest, batch=cfg.batch, seed=cfg.seed + 1,
                           threads=cfg.threads, init_state=trial[chosen]["model"].state_dict())
    hist["steps"] += trial[chosen]["pretrain"]["steps"]
    hist["seconds"] = round(hist["seconds"] + trial[chosen]["pretrain"]["seconds"], 2)
    hist["selection"] = {"chosen": chosen, "by": "frozen segmentation head validation loss (val split halves)",
                         "trials": {s: {"pretrain_steps": t["pretrain"]["steps"],
                                        "pretrain_val_loss": t["pretrain"].get("val_loss"),
                                        "head_val_loss": t["head_val_loss"]} for s, t in trial.items()}}
    return model.backbone.state_dict(), hist


def _save_backbone(cfg, state, hist, info, folder: Path):
    import torch

    from sdrkit.nn.spectrum import SpectrumMSM

    folder.mkdir(parents=True, exist_ok=True)
    m = SpectrumMSM(**_arch(cfg))
    m.backbone.load_state_dict(state)
    # the reconstruction conv is part of the pretraining model, not of the backbone: keep it too
    torch.save(state, folder / "backbone.pt")
    _export(m, D.ROWS, folder / "msm.onnx")
    path = _card("spectrum-backbone-msm", "reconstruction", (D.ROWS, D.NFFT),
                 "normalized dB sentence reconstructed by the pretraining model (masked spectrogram modelling)",
                 "spectrum_msm", _arch(cfg), {"model": "msm.onnx", "torch": "backbone.pt"},
                 _training(cfg, cfg.seed, {"train_meta": info["meta_sha256"]}, {"pretrain": hist}),
                 {"pretrain_val_masked_mse": hist.get("val_loss"), "sentences_per_s": hist["sentences_per_s"]},
                 {"masking": hist.get("selection")}, folder)
    print(f"wrote {path}")


def _heads(cfg, state, data: Path, out: Path):
    from sdrkit.tasks.spectrum.train import time_to_loss, train_forecaster, train_segmenter

    arch = _arch(cfg)
    X, M, info = D.sentences(data / "train", rows=D.ROWS, max_sentences=cfg.max_sentences or None)
    Xv, Mv, _ = D.sentences(data / "val", rows=D.ROWS, max_sentences=cfg.max_sentences or None)
    hashes = {"train_meta": info["meta_sha256"]}
    frows = D.ROWS + D.HORIZON_TOKENS * D.TOKEN_ROWS
    F_, _, _ = D.sentences(data / "train", rows=frows, labelled=False, max_sentences=cfg.max_sentences or None)
    Fv, _, _ = D.sentences(data / "val", rows=frows, labelled=False, max_sentences=cfg.max_sentences or None)
    hb, sb = cfg.head_minutes * 60, cfg.scratch_minutes * 60
    results = {}
    for mode in ("frozen", "scratch"):
        st = state if mode == "frozen" else None
        seg, hs = train_segmenter(X, M, Xv, Mv, arch, len(MASK_CLASSES), st, hb if st else sb, batch=cfg.batch,
                                  seed=cfg.seed, threads=cfg.threads)
        fc, hf = train_forecaster(F_, Fv, arch, st, hb if st else sb, D.HORIZON_TOKENS, D.ROWS, batch=cfg.batch,
                                  seed=cfg.seed, threads=cfg.threads)
        results[mode] = (seg, hs, fc, hf)
        print(f"{mode}: segment val loss {hs['curve'][-1][1]:.4f} in {hs['seconds']:.0f} s; forecast val MSE "
              f"{hf['curve'][-1][1]:.4f} in {hf['seconds']:.0f} s")
    timing = {}
    for key, idx in (("segment", 1), ("forecast", 3)):
        fr, sc = results["frozen"][idx], results["scratch"][idx]
        common = max(min(v for _, v in fr["curve"]), min(v for _, v in sc["curve"]))
        tf, ts = time_to_loss(fr["curve"], common), time_to_loss(sc["curve"], common)
        timing[key] = {"common_val_loss": common, "frozen_s": tf, "scratch_s": ts,
                       "speedup": ts / tf if tf > 0 else float("inf")}
    for mode in ("frozen", "scratch"):
        seg, hs, fc, hf = results[mode]
        suffix = "" if mode == "frozen" else "-scratch"
        d = out / f"segment{suffix}"
        d.mkdir(parents=True, exist_ok=True)
        _export(seg, D.ROWS, d / "segment.onnx")
        p = _card(f"spectrum-segment{suffix}", "mask", (D.ROWS, D.NFFT),
                  f"per-pixel class index into extra.mask_classes ({', '.join(MASK_CLASSES)}); rows x bins as the input",
                  "spectrum_segment", {**arch, "n_classes": len(MASK_CLASSES)},
                  {"model": "segment.onnx"},
                  _training(cfg, cfg.seed, hashes, {"head": hs, "backbone": "models/spectrum/backbone (frozen)"
                                                    if mode == "frozen" else "random init (scratch)"}),
                  {"val_loss": hs["curve"][-1][1], "fine_tune_timing": timing["segment"]},
                  {"mask_classes": list(MASK_CLASSES), "mode": mode}, d)
        print(f"wrote {p}")
        d = out / f"forecast{suffix}"
        d.mkdir(parents=True, exist_ok=True)
        _export(fc, D.ROWS, d / "forecast.onnx")
        p = _card(f"spectrum-forecast{suffix}", "forecast", (D.HORIZON_TOKENS * D.TOKEN_ROWS, D.NFFT),
                  f"the next {D.HORIZON_TOKENS} tokens ({D.HORIZON_TOKENS * D.TOKEN_ROWS} rows) after the frame, "
                  f"normalized dB (the frame's 5th percentile = 0, 10 dB = 1)",
                  "spectrum_forecast", {**arch, "horizon": D.HORIZON_TOKENS},
                  {"model": "forecast.onnx"},
                  _training(cfg, cfg.seed, hashes, {"head": hf}),
                  {"val_mse": hf["curve"][-1][1], "fine_tune_timing": timing["forecast"]},
                  {"mode": mode}, d)
        print(f"wrote {p}")
    D.save_json(out / "training_timing.json", timing)
