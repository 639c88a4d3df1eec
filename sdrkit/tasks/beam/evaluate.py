"""``sdrkit evaluate beam``: every target of the beam task measured in one run.

Writes ``<out>/beam_eval.json`` (+ ``table1.md``, ``pca.png``, ``confusion.png``) and the
metrics into the model card (unless ``--quick``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

SHOTS = (2, 4, 8, 16, 32)


def fewshot_accuracy(emb, y, k: int, trials: int, rng, pn: bool = True, return_pred: bool = False):
    """Mean accuracy of nearest-prototype classification with ``k`` support shots per class.

    Support is drawn from the first half of each class's frames, queries are the second half.
    """
    from sdrkit.nn.proto import PrototypeHead

    classes = np.unique(y)
    half = {c: np.flatnonzero(y == c) for c in classes}
    sup_pool = {c: v[: len(v) // 2] for c, v in half.items()}
    q = np.concatenate([v[len(v) // 2:] for v in half.values()])
    accs, preds = [], []
    for _ in range(trials):
        sup = np.concatenate([rng.choice(sup_pool[c], k, replace=False) for c in classes])
        h = PrototypeHead.fit(emb[sup], y[sup], classes=classes, normalize=pn)
        p = np.asarray(h.classes)[h.predict(emb[q])]
        accs.append(float(np.mean(p == y[q])))
        preds.append(p)
    if return_pred:
        return float(np.mean(accs)), y[q], preds[0]
    return float(np.mean(accs))


def _features_torch(enc, frames):
    import torch

    from sdrkit.tasks.beam.train import to_tensor

    with torch.no_grad():
        return torch.cat([enc.features(to_tensor(frames[i:i + 1024])) for i in range(0, len(frames), 1024)])


def deepbeam_matrix(spec, sets: dict, per_beam: int, seed: int, log=print) -> dict:
    """DeepBeam baseline: train on each front end, test on every front end (TTSA diagonal, TOTA off)."""
    import torch
    import torch.nn.functional as F

    from sdrkit.nn.beam import build_classifier, build_encoder
    from sdrkit.tasks.beam.sim import get_front_end, make_split, preamble

    names = list(sets)
    enc0 = build_encoder(preamble(spec), spec.frame_len)
    test_f = {n: (_features_torch(enc0, sets[n][0]), torch.from_numpy(sets[n][1])) for n in names}
    acc = np.zeros((len(names), len(names)))
    t0 = time.perf_counter()
    for i, tr in enumerate(names):
        rng = np.random.default_rng([seed, 99, i])
        torch.manual_seed(seed + i)
        x, y = make_split(spec, get_front_end(tr, spec.elements), per_beam, rng)
        net = build_classifier(build_encoder(preamble(spec), spec.frame_len), spec.beams)
        Fx, Y = _features_torch(net.encoder, x), torch.from_numpy(y)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        net.train()
        for ep in range(40):
            perm = torch.randperm(len(Y))
            for j in range(0, len(Y), 128):
                b = perm[j:j + 128]
                loss = F.cross_entropy(net.head(net.encoder.head(Fx[b])), Y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            for j, te in enumerate(names):
                f, yt = test_f[te]
                acc[i, j] = float((net.head(net.encoder.head(f)).argmax(1) == yt).float().mean())
        log(f"deepbeam trained on {tr}: " + " ".join(f"{n}={a:.3f}" for n, a in zip(names, acc[i])))
    off = ~np.eye(len(names), dtype=bool)
    return {"front_ends": names, "matrix": acc.tolist(), "ttsa": float(np.mean(np.diag(acc))),
            "tota": float(np.mean(acc[off])), "train_per_beam": per_beam, "seconds": time.perf_counter() - t0}


def run_evaluation(args) -> int:
    import torch

    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.beam.calibrate import Embedder, calibrate_capture
    from sdrkit.tasks.beam.rig import record_beam_sweep
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end, make_split

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(args.model)
    spec = ArraySpec()
    emb_fn = Embedder(card, threads=2)
    pn = bool(card.extra.get("proto_norm", True))
    per_beam = 16 if args.quick else args.per_beam
    trials = 3 if args.quick else args.trials
    rng = np.random.default_rng(args.seed)
    res = {"model": str(card.path), "encoder": card.name, "per_beam": per_beam, "trials": trials,
           "command": getattr(args, "command_line", "")}
    t_all = time.perf_counter()

    # ---- data: held-out (never trained on) and training-pool front ends ----
    held = args.front_ends.split(",")
    train_fes = ["rand-0", "rand-1"]
    sets = {n: make_split(spec, get_front_end(n, spec.elements), per_beam, np.random.default_rng([args.seed, k]))
            for k, n in enumerate(held + train_fes)}
    embs = {n: emb_fn(x) for n, (x, _) in sets.items()}

    # ---- ProtoBeam few-shot, Table I form ----
    shots = [k for k in SHOTS if k <= per_beam // 2]
    proto = {"ttsa": {}, "tota": {}, "per_front_end": {}}
    for k in shots:
        per = {n: fewshot_accuracy(embs[n], sets[n][1], k, trials, rng, pn) for n in sets}
        proto["per_front_end"][k] = per
        proto["ttsa"][k] = float(np.mean([per[n] for n in train_fes]))
        proto["tota"][k] = float(np.mean([per[n] for n in held]))
        print(f"ProtoBeam {k:2d}-shot: TTSA {proto['ttsa'][k]:.3f}  TOTA {proto['tota'][k]:.3f}  "
              + " ".join(f"{n}={per[n]:.3f}" for n in held))
    res["protobeam"] = proto

    # ---- DeepBeam baseline over all pairs of held-out front ends ----
    db = deepbeam_matrix(spec, {n: sets[n] for n in held}, 40 if args.quick else 200, args.seed)
    res["deepbeam"] = db
    print(f"DeepBeam: TTSA {db['ttsa']:.3f}  TOTA {db['tota']:.3f}")

    # ---- confusion matrix + adjacency of errors, PCA plot ----
    fe_c = held[1] if len(held) > 1 else held[0]
    a8, yq, pq = fewshot_accuracy(embs[fe_c], sets[fe_c][1], min(8, per_beam // 2), 1, rng, pn, return_pred=True)
    err = yq != pq
    dist = np.abs(yq[err].astype(int) - pq[err].astype(int))
    res["confusion"] = {"front_end": fe_c, "shots": 8, "accuracy": a8, "errors": int(err.sum()),
                        "errors_on_adjacent_beams": float(np.mean(dist == 1)) if err.any() else None,
                        "errors_within_2_beams": float(np.mean(dist <= 2)) if err.any() else None}
    try:
        _plots(out, embs[fe_c], sets[fe_c][1], yq, pq, spec.beams, fe_c)
        res["plots"] = [str(out / "pca.png"), str(out / "confusion.png")]
    except Exception as exc:  # plotting must not sink the evaluation
        res["plots_error"] = repr(exc)

    # ---- new class set: a 32-beam codebook never seen in training ----
    spec32 = ArraySpec(beams=32, beam_span_deg=50.0)
    x32, y32 = make_split(spec32, get_front_end(fe_c, spec32.elements), per_beam, np.random.default_rng(args.seed + 7))
    res["new_beams_32"] = {"front_end": fe_c, "span_deg": 50.0,
                           "acc_8shot": fewshot_accuracy(emb_fn(x32), y32, min(8, per_beam // 2), trials, rng, pn)}
    print(f"new 32-beam codebook on {fe_c}, 8-shot: {res['new_beams_32']['acc_8shot']:.3f}")

    # ---- calibration session timing: 24 beams x 8 shots, capture -> calibration file ----
    cap = record_beam_sweep(out / "calib_capture", spec, get_front_end(fe_c, spec.elements), 8,
                            np.random.default_rng(args.seed + 11))
    times = []
    for _ in range(5):
        cal, dt = calibrate_capture(card.path, cap, shots=8, out=out / "calibration_test.json")
        times.append(dt)
    res["calibration_seconds"] = {"median": float(np.median(times)), "max": float(np.max(times)),
                                  "what": "load card + read SigMF capture + embed 192 frames + prototypes + write JSON"}
    print(f"calibration 24x8: median {np.median(times) * 1e3:.0f} ms")

    # ---- embedding throughput (onnxruntime, batch 512) ----
    xb = sets[held[0]][0][:512]
    thr = {}
    for th in (1, 2):
        e = Embedder(card, threads=th)
        e(xb)
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            e(xb)
            ts.append(time.perf_counter() - t)
        thr[f"threads_{th}"] = 512 / float(np.median(ts))
    res["embedding_frames_per_s"] = thr
    print(f"embedding throughput: {thr}")

    # ---- bundle ----
    files = [card.directory / f for f in card.files.values()] + [Path(card.path)]
    res["bundle_bytes"] = int(sum(f.stat().st_size for f in files))
    res["training_seconds"] = card.metrics.get("training", {}).get("train_seconds")
    res["parameters"] = card.training.get("parameters")

    # ---- the same prototype head on the AMC model's embedding (section 5) ----
    if not args.quick and Path("models/amc/card.json").exists():
        try:
            from sdrkit.tasks.beam.amc_proto import evaluate_amc_proto, export_amc_embedding

            amc_card = export_amc_embedding("models/amc/card.json", out / "amc_embedding")
            res["amc_proto"] = [evaluate_amc_proto(amc_card, fe, seed=args.seed) for fe in ("fe-c", "fe-d")]
            print(f"AMC prototype head: {res['amc_proto']}")
        except Exception as exc:  # the AMC model belongs to another task; report, do not fail
            res["amc_proto_error"] = repr(exc)
            print(f"AMC prototype head failed: {exc!r}")

    k8 = 8 if 8 in proto["tota"] else shots[-1]
    res["targets"] = {
        "tota_over_ttsa_8shot": {"value": proto["tota"][k8] / proto["ttsa"][k8], "target": ">= 0.9"},
        "proto_tota_over_deepbeam_tota": {"value": proto["tota"][k8] / max(db["tota"], 1e-9), "target": ">= 3"},
        "calibration_24x8_s": {"value": res["calibration_seconds"]["median"], "target": "< 1"},
        "embedding_frames_per_s": {"value": thr["threads_2"], "target": ">= 5000"},
        "training_minutes": {"value": (res["training_seconds"] or 0) / 60, "target": "<= ~20"},
        "bundle_mb": {"value": res["bundle_bytes"] / 1e6, "target": "<= 5"},
    }
    if getattr(args, "ablations", False) and not args.quick:
        res["ablations"] = _ablations(spec, held, train_fes, args.seed, trials, rng)
    res["seconds"] = time.perf_counter() - t_all
    (out / "beam_eval.json").write_text(json.dumps(res, indent=2, default=str))
    (out / "table1.md").write_text(_table(res))
    print(_table(res))
    for k, v in res["targets"].items():
        print(f"  {k}: {v['value']:.3f} (target {v['target']})")
    if not args.quick:
        c = card.replace(metrics={**card.metrics, "evaluation": {k: res[k] for k in (
            "protobeam", "deepbeam", "confusion", "new_beams_32", "calibration_seconds",
            "embedding_frames_per_s", "targets")}, "evaluation_command": res["command"]})
        c.save(card.path)
    print(f"wrote {out / 'beam_eval.json'}")
    return 0


def _ablations(spec, held, train_fes, seed, trials, rng) -> dict:
    """Short ProtoBeam runs with DN / Aug / PN switched off one at a time (torch, no export)."""
    from sdrkit.tasks.beam.sim import get_front_end, make_split
    from sdrkit.tasks.beam.train import ProtoConfig, train_protobeam

    out = {}
    sets = {n: make_split(spec, get_front_end(n, spec.elements), 32, np.random.default_rng([seed, 50, k]))
            for k, n in enumerate(held + train_fes)}
    for name, kw in (("full", {}), ("no_DN", {"data_norm": False}), ("no_Aug", {"augment": False}),
                     ("no_PN", {"proto_norm": False})):
        cfg = ProtoConfig(steps=1500, train_front_ends=128, seed=seed, **kw)
        enc, _ = train_protobeam(spec, cfg, per_beam=12, log=lambda *_: None)
        embs = {n: _embed_torch(enc, x) for n, (x, _) in sets.items()}
        row = {}
        for k in (2, 8, 16):
            row[k] = {"ttsa": float(np.mean([fewshot_accuracy(embs[n], sets[n][1], k, trials, rng, cfg.proto_norm)
                                             for n in train_fes])),
                      "tota": float(np.mean([fewshot_accuracy(embs[n], sets[n][1], k, trials, rng, cfg.proto_norm)
                                             for n in held]))}
        out[name] = row
        print(f"ablation {name}: {row}")
    return out


def _embed_torch(enc, x):
    import torch

    from sdrkit.tasks.beam.train import to_tensor

    with torch.no_grad():
        return enc(to_tensor(x)).numpy()


def _table(res) -> str:
    p, d = res["protobeam"], res["deepbeam"]
    ks = list(p["ttsa"])
    lines = ["| Model | " + " | ".join(f"{k}-shot TTSA | {k}-shot TOTA" for k in ks) + " |",
             "|---|" + "---|" * (2 * len(ks))]
    lines.append("| ProtoBeam (DN+Aug+PN) | " + " | ".join(f"{p['ttsa'][k] * 100:.2f}% | {p['tota'][k] * 100:.2f}%"
                                                        for k in ks) + " |")
    for name, row in (res.get("ablations") or {}).items():
        lines.append(f"| ProtoBeam {name} (short run) | " + " | ".join(
            f"{row[k]['ttsa'] * 100:.2f}% | {row[k]['tota'] * 100:.2f}%" if k in row else "- | -" for k in ks) + " |")
    lines.append(f"\nDeepBeam baseline (all pairs of {', '.join(d['front_ends'])}): TTSA {d['ttsa'] * 100:.2f}%, "
                 f"TOTA {d['tota'] * 100:.2f}%\n")
    return "\n".join(lines) + "\n"


def _plots(out: Path, emb, y, yq, pq, n_cls: int, fe: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdrkit.nn.proto import l2n

    e = l2n(emb)
    e = e - e.mean(0)
    _, _, vt = np.linalg.svd(e, full_matrices=False)
    pc = e @ vt[:2].T
    fig, ax = plt.subplots(figsize=(6, 5))
    sc = ax.scatter(pc[:, 0], pc[:, 1], c=y, cmap="turbo", s=6)
    fig.colorbar(sc, label="beam index")
    ax.set_title(f"ProtoBeam embeddings, PCA ({fe}, never seen in training)")
    fig.tight_layout()
    fig.savefig(out / "pca.png", dpi=110)
    plt.close(fig)
    cm = np.zeros((n_cls, n_cls))
    np.add.at(cm, (yq.astype(int), pq.astype(int)), 1)
    cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im)
    ax.set_xlabel("predicted beam")
    ax.set_ylabel("true beam")
    ax.set_title(f"8-shot confusion on {fe}")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=110)
    plt.close(fig)
