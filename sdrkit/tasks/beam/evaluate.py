"""``sdrkit evaluate beam``: every target of the beam task, measured in one run.

The evaluation is a few ``measure_*`` functions, each measuring one thing and returning its
figures and the :class:`~sdrkit.tasks.targets.Target` rows it is responsible for:

- :func:`measure_protobeam`: ProtoBeam few-shot accuracy, Table I form (TTSA on training-pool
  front ends, TOTA on held-out ones). Target: TOTA / TTSA at 8 shots >= 0.93.
- :func:`measure_deepbeam`: the DeepBeam baseline trained on each held-out front end, tested
  on all. Target: ProtoBeam TOTA / DeepBeam TOTA at 8 shots >= 3.
- :func:`measure_confusion`: 8-shot confusion on one held-out front end, how many errors land
  on adjacent beams (PNG, with a PCA plot of the embeddings).
- :func:`measure_new_beams`: 8-shot accuracy on a 32-beam codebook never seen in training.
- :func:`measure_baseline_own`: the classical baseline (nearest preamble-template centroid) beside
  the learned encoder on the same support draws; where the 8-shot errors land. Target: >= 50% of
  the errors on adjacent beams.
- :func:`measure_shift`: the held-back channel family and front ends vs the in-distribution
  reference, and learned vs baseline on every held-back front end and channel family. Targets:
  8-shot >= 0.9 x in-distribution; never below the baseline at 2, 8, 32 shots.
- :func:`measure_calibration`: a calibration session, 24 beams x 8 shots, capture -> file.
  Target: median < 1 s.
- :func:`measure_throughput`: embedding frames/s (onnxruntime, batch 512). Target: >= 5000
  frames/s on 2 threads.
- :func:`measure_bundle`: bundle size and training time from the card. Targets: <= 5 MB,
  <= 20 min.
- :func:`measure_amc_prototype_head`: the same prototype head on the AMC model's embedding
  (full runs, when the bundled AMC model is there).
- :func:`measure_ablations` (``--ablations``): short DN / Aug / PN ablation runs.

Writes ``<out>/beam_eval.json`` (``targets`` and ``results``, see
:func:`sdrkit.tasks.targets.write_report`), ``table1.md``, ``pca.png``, ``confusion.png``, and,
with ``--update-card`` (not ``--quick``), the figures into the model card's ``metrics["evaluation"]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sdrkit.tasks.targets import Target, write_report

SHOTS = (2, 4, 8, 16, 32)
#: training-pool front ends the TTSA column is measured on (the encoder trained on rand-*)
TRAIN_FRONT_ENDS = ("rand-0", "rand-1")


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


def make_sets(spec, front_ends, per_beam: int, seed: int) -> dict:
    """``per_beam`` frames per beam through each front end: name -> (frames, beam labels);
    front end number k draws from the stream ``(seed, k)``."""
    from sdrkit.tasks.beam.sim import get_front_end, make_split

    return {n: make_split(spec, get_front_end(n, spec.elements), per_beam, np.random.default_rng([seed, k]))
            for k, n in enumerate(front_ends)}


def measure_protobeam(embs: dict, sets: dict, held, shots, trials: int, rng, pn: bool) -> tuple[dict, list[Target]]:
    """ProtoBeam few-shot accuracy per front end at each number of shots: TTSA is the mean over
    :data:`TRAIN_FRONT_ENDS`, TOTA the mean over the held-out front ends ``held``."""
    proto = {"ttsa": {}, "tota": {}, "per_front_end": {}}
    for k in shots:
        per = {n: fewshot_accuracy(embs[n], sets[n][1], k, trials, rng, pn) for n in sets}
        proto["per_front_end"][k] = per
        proto["ttsa"][k] = float(np.mean([per[n] for n in TRAIN_FRONT_ENDS]))
        proto["tota"][k] = float(np.mean([per[n] for n in held]))
        print(f"ProtoBeam {k:2d}-shot: TTSA {proto['ttsa'][k]:.3f}  TOTA {proto['tota'][k]:.3f}  "
              + " ".join(f"{n}={per[n]:.3f}" for n in held))
    k8 = _k8(proto)
    return {"protobeam": proto}, [
        Target(f"ProtoBeam TOTA / TTSA, {k8}-shot", proto["tota"][k8] / proto["ttsa"][k8], ">=", 0.93,
               note=f"{trials} support draws, held out: {','.join(held)}")]


def measure_deepbeam(spec, sets: dict, per_beam: int, seed: int, protobeam: dict) -> tuple[dict, list[Target]]:
    """The DeepBeam baseline over all pairs of the front ends in ``sets`` (see
    :func:`deepbeam_matrix`), and ProtoBeam's TOTA over DeepBeam's."""
    db = deepbeam_matrix(spec, sets, per_beam, seed)
    print(f"DeepBeam: TTSA {db['ttsa']:.3f}  TOTA {db['tota']:.3f}")
    k8 = _k8(protobeam)
    return {"deepbeam": db}, [
        Target(f"ProtoBeam TOTA / DeepBeam TOTA, {k8}-shot", protobeam["tota"][k8] / max(db["tota"], 1e-9),
               ">=", 3.0, unit="x", note=f"DeepBeam trained on {per_beam} frames per beam")]


def measure_confusion(embs: dict, sets: dict, front_end: str, shots: int, rng, pn: bool, beams: int,
                      out: Path) -> tuple[dict, list[Target]]:
    """One ``shots``-shot draw on ``front_end``: accuracy, how far off the errors are (in beams),
    and ``confusion.png`` + ``pca.png``."""
    from sdrkit.dsp.plot import confusion_matrix, save_confusion_png

    acc, yq, pq = fewshot_accuracy(embs[front_end], sets[front_end][1], shots, 1, rng, pn, return_pred=True)
    err = yq != pq
    dist = np.abs(yq[err].astype(int) - pq[err].astype(int))
    cm = confusion_matrix(yq.astype(int), pq.astype(int), range(beams))
    save_confusion_png(cm, range(beams), out / "confusion.png", f"{shots}-shot confusion on {front_end}",
                       xlabel="predicted beam", ylabel="true beam")
    _pca_png(out / "pca.png", embs[front_end], sets[front_end][1], front_end)
    return {"confusion": {"front_end": front_end, "shots": shots, "accuracy": acc, "errors": int(err.sum()),
                          "errors_on_adjacent_beams": float(np.mean(dist == 1)) if err.any() else None,
                          "errors_within_2_beams": float(np.mean(dist <= 2)) if err.any() else None},
            "plots": [str(out / "pca.png"), str(out / "confusion.png")]}, []


def measure_new_beams(embed, front_end: str, per_beam: int, shots: int, trials: int, rng, pn: bool,
                      seed: int) -> tuple[dict, list[Target]]:
    """Few-shot accuracy on a 32-beam codebook over 50 degrees that the encoder never saw."""
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end, make_split

    spec32 = ArraySpec(beams=32, beam_span_deg=50.0)
    x32, y32 = make_split(spec32, get_front_end(front_end, spec32.elements), per_beam,
                          np.random.default_rng(seed + 7))
    acc = fewshot_accuracy(embed(x32), y32, shots, trials, rng, pn)
    r = {"front_end": front_end, "span_deg": 50.0, "acc_8shot": acc}
    print(f"new 32-beam codebook on {front_end}, 8-shot: {r['acc_8shot']:.3f}")
    return {"new_beams_32": r}, []


def measure_calibration(card, spec, front_end: str, out: Path, seed: int,
                        repeats: int = 5) -> tuple[dict, list[Target]]:
    """Wall time of a calibration session (24 beams x 8 shots) from a recorded sweep: load the
    card, read the SigMF capture, embed 192 frames, make prototypes, write the JSON."""
    from sdrkit.runtime.calibration import calibrate_capture
    from sdrkit.tasks.beam.rig import record_beam_sweep
    from sdrkit.tasks.beam.sim import get_front_end

    cap = record_beam_sweep(out / "calib_capture", spec, get_front_end(front_end, spec.elements), 8,
                            np.random.default_rng(seed + 11))
    times = [calibrate_capture(card.path, cap, shots=8, out=out / "calibration_test.json")[1] for _ in range(repeats)]
    r = {"median": float(np.median(times)), "max": float(np.max(times)),
         "what": "load card + read SigMF capture + embed 192 frames + prototypes + write JSON"}
    print(f"calibration 24x8: median {r['median'] * 1e3:.0f} ms")
    targets = [Target("calibration session, 24 beams x 8 shots", r["median"], "<", 1.0, unit="s",
                      note=f"median of {repeats}, on {front_end}")]
    from sdrkit.runtime.card import learned_dims

    if learned_dims(card):
        from sdrkit.runtime.calibration import ShotSelection
        from sdrkit.tasks.beam.fusion import calibrate_capture_fused

        tf = [calibrate_capture_fused(card.path, cap, shots=8, selection=ShotSelection(),
                                      out=out / "calibration_test_fused.json")[1] for _ in range(repeats)]
        r["fused_median"] = float(np.median(tf))
        print(f"calibration 24x8, --head fuse: median {r['fused_median'] * 1e3:.0f} ms")
        targets.append(Target("calibration session, 24 beams x 8 shots, --head fuse", r["fused_median"], "<", 1.0,
                              unit="s", note=f"median of {repeats}, on {front_end}"))
    return {"calibration_seconds": r}, targets


def measure_throughput(card, frames: np.ndarray, repeats: int = 5) -> tuple[dict, list[Target]]:
    """Embedding frames/s of the onnxruntime encoder on one batch of ``frames``, 1 and 2 threads
    (median of ``repeats`` after one warm-up)."""
    from sdrkit.runtime.calibration import Embedder

    thr = {}
    for th in (1, 2):
        e = Embedder(card, threads=th)
        e(frames)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            e(frames)
            ts.append(time.perf_counter() - t)
        thr[f"threads_{th}"] = len(frames) / float(np.median(ts))
    print(f"embedding throughput: {thr}")
    return {"embedding_frames_per_s": thr}, [
        Target("embedding throughput, 2 threads", thr["threads_2"], ">=", 5000.0, unit="frames/s",
               note=f"onnxruntime, batch {len(frames)}, median of {repeats}")]


def measure_bundle(card) -> tuple[dict, list[Target]]:
    """Size of the bundled files (card included) and the training time the card records."""
    files = [card.directory / f for f in card.files.values()] + [Path(card.path)]
    size = int(sum(f.stat().st_size for f in files))
    tr = card.metrics.get("training", {})
    cpu = tr.get("cpu_seconds")
    train_s = cpu if cpu is not None else tr.get("train_seconds")
    return {"bundle_bytes": size, "training_seconds": train_s, "training_wall_seconds": tr.get("train_seconds"),
            "parameters": card.training.get("parameters")}, [
        Target("training time", train_s / 60 if train_s is not None else float("nan"), "<=", 20.0, unit="min",
               note=("CPU time" if cpu is not None else "wall time") + " from the card's metrics.training"
                    + (f" ({tr.get('threads')} thread(s); wall {tr.get('train_seconds', 0) / 60:.1f} min on the "
                       f"shared machine)" if cpu is not None else "")),
        Target("bundle size", size / 1e6, "<=", 5.0, unit="MB", note=f"{len(files)} files incl. card.json")]


def measure_amc_prototype_head(out: Path, seed: int) -> tuple[dict, list[Target]]:
    """The generic prototype head on the bundled AMC model's embedding (``tasks/amc/proto.py``).

    Skipped (and the reason recorded) when no AMC model is bundled; an sdrkit error of the AMC
    side is recorded rather than raised, since that model belongs to another task.
    """
    from sdrkit.errors import ConfigError, SdrkitError
    from sdrkit.resources import resolve

    try:
        amc_card = resolve("models", "amc/card.json")
    except ConfigError as exc:
        print(f"AMC prototype head skipped: {exc}")
        return {"amc_proto_skipped": str(exc)}, []
    from sdrkit.tasks.amc.proto import prototype_head_report

    try:
        r = prototype_head_report(amc_card, out / "amc_embedding", fewshot_accuracy, ("fe-c", "fe-d"), seed=seed)
    except SdrkitError as exc:
        print(f"AMC prototype head failed: {exc!r}")
        return {"amc_proto_error": repr(exc)}, []
    print(f"AMC prototype head: {r}")
    return {"amc_proto": r}, []


# ---- issue 19: the classical baseline, the held-back shift, error geometry --------------------------------------
#: front ends of the in-distribution reference on 3GPP scenes (training pool: plain and harsh)
ID_FRONT_ENDS = ("rand-0", "hrand-1")
#: delay spreads of the scene cells: 38.901 "long" and "very long"
SCENE_DS_NS = (300.0, 1000.0)
SCENE_DOPPLER_HZ = 0.5
SCENE_DRIFT_DEG_S = 0.5
SHIFT_SHOTS = (2, 8, 32)


def scene_cell(family: str, ds: float, k: int):
    """The scene of one evaluation cell (fixed seeds, none shared with training's random draws)."""
    from sdrkit.tasks.beam.channels import Scene

    if family == "sdrkit":
        return None
    return Scene(family, ds, SCENE_DOPPLER_HZ, SCENE_DRIFT_DEG_S, seed=900_000 + 1000 * k + int(ds))


def paired_fewshot(feats: dict, y, shots, trials: int, rng, norms: dict, transductive=(),
                   blocks: dict | None = None, fuse: dict | None = None) -> tuple[dict, dict]:
    """Few-shot accuracy of several feature maps on the same support draws (paired comparison).

    Support: ``k`` frames per class from the first half of each class's frames; queries: the
    second half. Names in ``transductive`` are also scored with the prototypes refined on the
    queries, unlabeled (``<name>+T``); names in ``blocks`` also with the one-parameter head
    fitted on the shots (:func:`sdrkit.nn.proto.select_block_weight` on that block: ``<name>+H``,
    and ``<name>+H+T`` when transductive too); names in ``fuse`` (name -> learned dims) also with
    the fused head (:func:`sdrkit.tasks.beam.fusion.fit_fusion`, fitted on the shots: ``<name>+F``,
    and ``<name>+F+T`` when transductive too).

    Returns:
        ({name: {k: accuracy}}, {name: error distances in beams at the largest k <= 8 (all trials)}).
    """
    from sdrkit.nn.proto import PrototypeHead, refine_prototypes, select_block_weight
    from sdrkit.tasks.beam.fusion import fit_fusion

    classes = np.unique(y)
    idx = {c: np.flatnonzero(y == c) for c in classes}
    pool = {c: v[: len(v) // 2] for c, v in idx.items()}
    q = np.concatenate([v[len(v) // 2:] for v in idx.values()])
    blocks = blocks or {}
    fuse = fuse or {}
    names = list(feats) + [f"{n}+T" for n in transductive] + [f"{n}+H" for n in blocks] + \
        [f"{n}+H+T" for n in blocks if n in transductive] + [f"{n}+F" for n in fuse] + \
        [f"{n}+F+T" for n in fuse if n in transductive]
    acc = {n: {} for n in names}
    k_err = max([k for k in shots if k <= 8] or [min(shots)])
    errs = {n: [] for n in names}
    for k in shots:
        per = {n: [] for n in names}
        for _ in range(trials):
            sup = np.concatenate([rng.choice(pool[c], k, replace=False) for c in classes])
            for n, f in feats.items():
                h = PrototypeHead.fit(f[sup], y[sup], classes=classes, normalize=norms[n])
                runs = [(n, h)]
                if n in transductive:
                    p = refine_prototypes(h.prototypes, f[sup], y[sup], h.classes, f[q], normalize=norms[n])
                    runs.append((f"{n}+T", PrototypeHead(p, h.classes, norms[n])))
                # weighted heads: +H (block weight on the shots), +F (fused head, needs >= 2 shots per beam)
                for tag, table, fit, min_k in (("H", blocks, select_block_weight, 1), ("F", fuse, fit_fusion, 2)):
                    if n not in table or k < min_k:
                        continue
                    w, _ = fit(f[sup], y[sup], h.classes, table[n])
                    runs.append((f"{n}+{tag}", PrototypeHead(h.prototypes, h.classes, norms[n], weights=w)))
                    if n in transductive:
                        p = refine_prototypes(h.prototypes, f[sup], y[sup], h.classes, f[q], normalize=norms[n],
                                              weights=w)
                        runs.append((f"{n}+{tag}+T", PrototypeHead(p, h.classes, norms[n], weights=w)))
                for name, head in runs:
                    pred = np.asarray(head.classes)[head.predict(f[q])]
                    per[name].append(float(np.mean(pred == y[q])))
                    if k == k_err:
                        bad = pred != y[q]
                        errs[name].extend(np.abs(pred[bad].astype(int) - y[q][bad].astype(int)).tolist())
        for n in names:
            acc[n][k] = float(np.mean(per[n]))
    return acc, errs


def _cell_feats(embed, pre, x) -> dict:
    from sdrkit.tasks.beam.baseline import template_features

    return {"learned": embed(x), "baseline": template_features(x, pre)}


def measure_baseline_own(embed, pre, sets: dict, held, trials: int, rng, pn: bool) -> tuple[dict, list[Target]]:
    """sdrkit's own scene and front ends: learned vs the classical baseline (same support draws),
    and where the learned encoder's 8-shot errors land (adjacent beams)."""
    out, errs = {}, []
    per_beam = min(int(np.sum(sets[n][1] == 0)) for n in sets)
    shots = [k for k in SHIFT_SHOTS if k <= per_beam // 2]
    for n in list(held) + list(TRAIN_FRONT_ENDS):
        acc, e = paired_fewshot(_cell_feats(embed, pre, sets[n][0]), sets[n][1], shots, trials, rng,
                                {"learned": pn, "baseline": False})
        out[n] = acc
        if n in held:
            errs.extend(e["learned"])
    d = np.asarray(errs)
    adj = float(np.mean(d == 1)) if len(d) else float("nan")
    r = {"own_front_ends": out, "own_errors": {"errors": int(len(d)), "on_adjacent_beams": adj,
                                               "within_2_beams": float(np.mean(d <= 2)) if len(d) else None,
                                               "front_ends": list(held), "shots": 8, "trials": trials}}
    k8 = 8 if 8 in shots else shots[-1]
    base8 = float(np.mean([out[n]["baseline"][k8] for n in held]))
    print(f"own front ends, 8-shot: baseline TOTA {base8:.3f}; learned errors on adjacent beams {adj:.1%} "
          f"of {len(d)}")
    return {"baseline_own": r}, [
        Target("own front ends: 8-shot errors on adjacent beams (+-1)", adj, ">=", 0.5,
               note=f"{len(d)} errors over {trials} support draws on {', '.join(held)}")]


def measure_shift(embed, spec, pn: bool, per_beam: int, trials: int, rng, quick: bool = False,
                  transductive_ok: bool = True, learned_dims: int | None = None) -> tuple[dict, list[Target]]:
    """The held-back validation shift: channel family :data:`~sdrkit.tasks.beam.channels.HELD_BACK_FAMILY`
    and the front ends :data:`~sdrkit.tasks.beam.sim.HELD_BACK_FRONT_ENDS` (never trained on),
    against the in-distribution reference (trained 3GPP families x training-pool front ends,
    same delay spreads, Doppler and drift), and the learned encoder vs the classical baseline
    on every held-back front end and every channel family, at 2, 8 and 32 shots.

    The calibration rule (plain prototypes or transductive refinement on the unlabeled test
    stream) is chosen on the in-distribution cells only, then applied to the shift.
    """
    from sdrkit.tasks.beam.channels import FAMILIES, HELD_BACK_FAMILY, TRAIN_FAMILIES
    from sdrkit.tasks.beam.sim import HELD_BACK_FRONT_ENDS, get_front_end, make_split, preamble

    pre = preamble(spec)
    shots = [k for k in SHIFT_SHOTS if k <= per_beam // 2]
    norms = {"learned": pn, "baseline": False}
    fams3 = [f for f in TRAIN_FAMILIES if f != "sdrkit"]
    if quick:
        fams3 = fams3[:1]
    cells = {"in_distribution": [], "shift": [], "families": []}
    ds_set = SCENE_DS_NS[-1:] if quick else SCENE_DS_NS
    for i, fam in enumerate(fams3):
        for ds in ds_set:
            cells["in_distribution"].append((fam, ds, ID_FRONT_ENDS[i % len(ID_FRONT_ENDS)]))
    hb = list(HELD_BACK_FRONT_ENDS)[: (1 if quick else None)]
    for ds in ds_set:
        for fe in hb:
            cells["shift"].append((HELD_BACK_FAMILY, ds, fe))
    if not quick:
        for fam in FAMILIES:
            if fam != HELD_BACK_FAMILY:
                cells["families"].append((fam, SCENE_DS_NS[-1], "hb-mid"))
        cells["families"] += [("sdrkit", 0.0, "hb-mild"), ("sdrkit", 0.0, "hb-harsh")]
    res = {}
    t0 = time.perf_counter()
    for group, lst in cells.items():
        for j, (fam, ds, fe) in enumerate(lst):
            x, y = make_split(spec, get_front_end(fe, spec.elements), per_beam,
                              np.random.default_rng([77, j, len(group)]), scene=scene_cell(fam, ds, j))
            acc, _ = paired_fewshot(_cell_feats(embed, pre, x), y, shots, trials, rng, norms,
                                    transductive=("learned",) if transductive_ok else (),
                                    blocks={"learned": slice(0, learned_dims)} if learned_dims else None,
                                    fuse={"learned": learned_dims} if learned_dims else None)
            res.setdefault(group, []).append({"family": fam, "delay_spread_ns": ds, "front_end": fe, "acc": acc})
    k8 = 8 if 8 in shots else shots[-1]

    def mean(group, name, k):
        return float(np.mean([c["acc"][name][k] for c in res.get(group, [])]))

    rules = [r for r in res["in_distribution"][0]["acc"] if r.startswith("learned")]
    choice = {r: mean("in_distribution", r, k8) for r in rules}
    rule = max(rules, key=lambda r: (choice[r], -len(r)))
    id8, sh8 = mean("in_distribution", rule, k8), mean("shift", rule, k8)
    worst = {}
    for k in shots:
        diffs = [(c["acc"][rule][k] - c["acc"]["baseline"][k], f"{c['family']}/{c['front_end']}/{c['delay_spread_ns']:g}ns")
                 for g in ("shift", "families") for c in res.get(g, [])]
        worst[k] = min(diffs)
    summary = {"rule": rule, "rule_choice_in_distribution_8shot": choice,
               "rules": {"learned": "plain prototype means", "+T": "refined on the unlabeled test stream",
                         "+H": "block weight fitted leave-one-out on the k shots",
                         "+F": "fused with the baseline: learned and level weights fitted leave-one-out on the k shots"},
               "in_distribution_8shot": id8, "shift_8shot": sh8,
               "baseline_in_distribution_8shot": mean("in_distribution", "baseline", k8),
               "baseline_shift_8shot": mean("shift", "baseline", k8),
               "worst_margin_over_baseline": {k: {"margin": v[0], "cell": v[1]} for k, v in worst.items()},
               "scene": {"doppler_hz": SCENE_DOPPLER_HZ, "drift_deg_per_s": SCENE_DRIFT_DEG_S,
                         "delay_spreads_ns": list(ds_set), "per_beam": per_beam, "trials": trials},
               "seconds": time.perf_counter() - t0}
    print(f"shift: rule {rule}; 8-shot in-distribution {id8:.3f}, held-back {sh8:.3f} "
          f"(baseline {summary['baseline_in_distribution_8shot']:.3f} / {summary['baseline_shift_8shot']:.3f}); "
          + "; ".join(f"{k}-shot worst margin {v[0]:+.3f} ({v[1]})" for k, v in worst.items()))
    targets = [Target(f"held-back family + front ends: {k8}-shot accuracy / in-distribution", sh8 / max(id8, 1e-9),
                      ">=", 0.9, unit="x",
                      note=f"{HELD_BACK_FAMILY} x {','.join(hb)} vs {len(cells['in_distribution'])} trained cells; "
                           f"calibration: {rule}")]
    for k, (m, cell) in worst.items():
        targets.append(Target(f"learned - classical baseline, worst held-back front end / family, {k}-shot", m, ">=",
                              0.0, note=f"worst cell {cell}; {len(res.get('shift', [])) + len(res.get('families', []))} cells"))
    return {"shift": {"summary": summary, "cells": res}}, targets


def run_evaluation(cfg) -> int:
    """Measure everything, write ``beam_eval.json``, ``table1.md`` and the PNGs, print the
    targets table, and (with ``cfg.update_card``, not ``cfg.quick``) record the figures in the model card.

    Args:
        cfg: ``model``, ``out``, ``front_ends`` (comma-separated, held out), ``per_beam``,
            ``trials``, ``ablations``, ``quick``, ``update_card``, ``seed``, ``command_line`` (see
            ``BeamTask.add_evaluate_arguments``).
    """
    import torch

    from sdrkit.runtime.card import learned_dims, load_card
    from sdrkit.runtime.calibration import Embedder
    from sdrkit.tasks.beam.sim import ArraySpec

    torch.set_num_threads(2)
    t_all = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(cfg.model)
    spec = ArraySpec()
    embed = Embedder(card, threads=2)
    pn = bool(card.extra.get("proto_norm", True))
    per_beam = 16 if cfg.quick else cfg.per_beam
    trials = 3 if cfg.quick else cfg.trials
    rng = np.random.default_rng(cfg.seed)       # one stream for every support draw, in this order
    held = cfg.front_ends.split(",")
    fe_c = held[1] if len(held) > 1 else held[0]
    shots8 = min(8, per_beam // 2)        # shots of the confusion and new-codebook draws
    sets = make_sets(spec, held + list(TRAIN_FRONT_ENDS), per_beam, cfg.seed)
    embs = {n: embed(x) for n, (x, _) in sets.items()}
    res = {"model": str(card.path), "encoder": card.name, "per_beam": per_beam, "trials": trials,
           "command": cfg.command_line}
    targets = []

    def add(measured):
        res.update(measured[0])
        targets.extend(measured[1])

    add(measure_protobeam(embs, sets, held, [k for k in SHOTS if k <= per_beam // 2], trials, rng, pn))
    add(measure_deepbeam(spec, {n: sets[n] for n in held}, 40 if cfg.quick else 200, cfg.seed, res["protobeam"]))
    add(measure_confusion(embs, sets, fe_c, shots8, rng, pn, spec.beams, out))
    add(measure_new_beams(embed, fe_c, per_beam, shots8, trials, rng, pn, cfg.seed))
    from sdrkit.tasks.beam.sim import preamble

    add(measure_baseline_own(embed, preamble(spec), sets, held, trials, rng, pn))
    add(measure_shift(embed, spec, pn, 16 if cfg.quick else 64, 2 if cfg.quick else max(4, trials // 4), rng,
                      quick=cfg.quick, learned_dims=learned_dims(card)))
    add(measure_calibration(card, spec, fe_c, out, cfg.seed))
    add(measure_throughput(card, sets[held[0]][0][:512]))
    add(measure_bundle(card))
    if not cfg.quick:
        add(measure_amc_prototype_head(out, cfg.seed))
        if cfg.ablations:
            add(measure_ablations(spec, held, cfg.seed, trials, rng))
    res["seconds"] = time.perf_counter() - t_all
    (out / "table1.md").write_text(_table(res))
    print(_table(res))
    write_report(out / "beam_eval.json", "beam", targets, res, quick=cfg.quick)
    if cfg.update_card and not cfg.quick:
        evaluation = {k: res[k] for k in ("protobeam", "deepbeam", "confusion", "new_beams_32",
                                          "calibration_seconds", "embedding_frames_per_s", "baseline_own")}
        evaluation["shift"] = res["shift"]["summary"]
        evaluation["targets"] = [t.to_dict() for t in targets]
        card.replace(metrics={**card.metrics, "evaluation": evaluation, "evaluation_command": res["command"]}
                     ).save(card.path)
        print(f"wrote the figures into {card.path}")
    return 0


def _k8(protobeam: dict) -> int:
    """The shot count the 8-shot targets use: 8, or the largest measured when 8 was not."""
    return 8 if 8 in protobeam["tota"] else list(protobeam["tota"])[-1]


def measure_ablations(spec, held, seed: int, trials: int, rng) -> tuple[dict, list[Target]]:
    """Short ProtoBeam runs with DN / Aug / PN switched off one at a time (torch, no export)."""
    from sdrkit.tasks.beam.sim import get_front_end, make_split
    from sdrkit.tasks.beam.train import ProtoConfig, train_protobeam

    out = {}
    sets = {n: make_split(spec, get_front_end(n, spec.elements), 32, np.random.default_rng([seed, 50, k]))
            for k, n in enumerate(held + list(TRAIN_FRONT_ENDS))}
    for name, kw in (("full", {}), ("no_DN", {"data_norm": False}), ("no_Aug", {"augment": False}),
                     ("no_PN", {"proto_norm": False})):
        cfg = ProtoConfig(steps=1500, train_front_ends=128, seed=seed, **kw)
        enc, _ = train_protobeam(spec, cfg, per_beam=12, log=lambda *_: None)
        embs = {n: _embed_torch(enc, x) for n, (x, _) in sets.items()}
        row = {}
        for k in (2, 8, 16):
            row[k] = {"ttsa": float(np.mean([fewshot_accuracy(embs[n], sets[n][1], k, trials, rng, cfg.proto_norm)
                                             for n in TRAIN_FRONT_ENDS])),
                      "tota": float(np.mean([fewshot_accuracy(embs[n], sets[n][1], k, trials, rng, cfg.proto_norm)
                                             for n in held]))}
        out[name] = row
        print(f"ablation {name}: {row}")
    return {"ablations": out}, []


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
    own = (res.get("baseline_own") or {}).get("own_front_ends")
    if own:
        ks = list(next(iter(own.values()))["learned"])
        lines += ["Learned encoder vs the classical baseline (nearest preamble-template centroid), same support draws:\n",
                  "| front end / scene | " + " | ".join(f"{k}-shot learned | {k}-shot baseline" for k in ks) + " |",
                  "|---|" + "---|" * (2 * len(ks))]
        for n, a in own.items():
            lines.append(f"| {n} / sdrkit | " + " | ".join(f"{a['learned'][k] * 100:.1f}% | {a['baseline'][k] * 100:.1f}%"
                                                       for k in ks) + " |")
        sh = res.get("shift") or {}
        rule = sh.get("summary", {}).get("rule", "learned")
        for group in ("in_distribution", "shift", "families"):
            for c in sh.get("cells", {}).get(group, []):
                a = c["acc"]
                lines.append(f"| {c['front_end']} / {c['family']} {c['delay_spread_ns']:g} ns ({group}) | " + " | ".join(
                    f"{a[rule][k] * 100:.1f}% | {a['baseline'][k] * 100:.1f}%" if k in a[rule] else "- | -"
                    for k in ks) + " |")
        if sh:
            lines.append(f"\nlearned = {rule} (+T: prototypes refined on the unlabeled test stream; +H: the weight of the "
                         f"learned block fitted leave-one-out on the k shots; chosen on the in-distribution cells)\n")
    return "\n".join(lines) + "\n"


def _pca_png(path: Path, emb, y, fe: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sdrkit.nn.proto import l2n

    e = l2n(emb)
    e = e - e.mean(0)
    _, sv, vt = np.linalg.svd(e, full_matrices=False)
    pc = e @ vt[:2].T
    var = sv ** 2 / max(float(np.sum(sv ** 2)), 1e-30)          # explained variance ratio per component
    fig, ax = plt.subplots(figsize=(6.5, 5))
    sc = ax.scatter(pc[:, 0], pc[:, 1], c=y, cmap="turbo", s=6)
    fig.colorbar(sc, label="beam index")
    ax.set_xlabel(f"PC1 ({var[0]:.1%} of the variance)")
    ax.set_ylabel(f"PC2 ({var[1]:.1%} of the variance)" if len(var) > 1 else "PC2")
    ax.set_title(f"ProtoBeam embeddings (L2-normalized), PCA: {fe}, never seen in training\n"
                 f"PC1 + PC2 explain {var[:2].sum():.1%} of the variance", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
