"""Training of the early-exit AMC network, export of every exit placement, threshold calibration.

Two training methods (``--method``):

* ``joint``: one update per batch on ``L_backbone + w * sum_k L_exit_k`` (weighted loss);
* ``per-branch``: the paper's Algorithm 1: for each branch in turn (exits, then the
  backbone), a forward pass, that branch's loss, and an optimizer step.

All four exit placements (after conv blocks 1, 2, 3, 5) train on one backbone, so one run
measures every variant; :func:`export_all` writes each placement's stem/rest graphs and
:func:`select_variant` picks the one to deploy by measured latency under the accuracy budget.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sdrkit.tasks.amc.dataset import AmcSplit, to_input

EXITS = (1, 2, 3, 5)
VARIANT_NAMES = {1: "V0", 2: "V1", 3: "V2", 5: "V3"}


def _batches(n: int, batch: int, rng):
    idx = rng.permutation(n)
    for i in range(0, n - batch + 1, batch):
        yield np.sort(idx[i:i + batch])


#: the raw receiver offset the corrected-frame augmentation draws from, as a fraction of fs
#: (+/-60 kHz at 1 MS/s: a Pluto's +/-25 ppm TCXO at 2.4 GHz)
CORRECTED_CFO_RANGE = 0.06


def _augment(x: np.ndarray, rng, corrected_share: float = 0.0) -> np.ndarray:
    """Random carrier phase rotation (what any receiver sees), complex64 frames.

    ``corrected_share``: that fraction of the frames also gets a raw offset uniform in
    +/-:data:`CORRECTED_CFO_RANGE` of fs and then the live corrector (:func:`sdrkit.dsp.frontend.correct_cfo`),
    so the model learns the residual the corrector leaves (``classify --corrector cfo``)."""
    ph = rng.uniform(0, 2 * np.pi, (x.shape[0], 1))
    out = (x * np.exp(1j * ph)).astype(np.complex64)
    if corrected_share > 0:
        from sdrkit.dsp.frontend import correct_cfo

        sel = np.flatnonzero(rng.uniform(0, 1, len(out)) < corrected_share)
        if len(sel):
            f = rng.uniform(-CORRECTED_CFO_RANGE, CORRECTED_CFO_RANGE, (len(sel), 1))
            shifted = out[sel] * np.exp(2j * np.pi * f * np.arange(out.shape[1])[None, :])
            out[sel] = correct_cfo(shifted.astype(np.complex64))
    return out


def evaluate_torch(net, split: AmcSplit, max_frames: int = 20000, batch: int = 512, seed: int = 0) -> dict:
    """Accuracy of the backbone and each exit on (a subset of) a split."""
    import torch

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(split))[:max_frames])
    correct: dict[str, int] = {}
    high = split.snrs[idx] >= 10
    net.eval()
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            b = idx[i:i + batch]
            out = net(torch.from_numpy(to_input(split.frames(b))))
            y = split.labels[b]
            hb = high[i:i + batch]
            for k, v in out.items():
                ok = v.argmax(1).numpy() == y
                correct[k] = correct.get(k, 0) + int(ok.sum())
                correct[k + "@snr>=10"] = correct.get(k + "@snr>=10", 0) + int(ok[hb].sum())
    net.train()
    return {k: v / (max(int(high.sum()), 1) if k.endswith("@snr>=10") else len(idx)) for k, v in correct.items()}


class MixedSplit:
    """Training frames from two data sets' train splits (same classes and frame length): all of
    ``a`` and ``n_b`` random frames of ``b`` (seeded), indexed as one split."""

    def __init__(self, a, b, n_b: int, seed: int = 0):
        from sdrkit.errors import DatasetError

        if tuple(a.classes) != tuple(b.classes) or a.frame_len != b.frame_len:
            raise DatasetError(f"--extra-data split {b.rec.meta_path} has classes {b.classes} / frame_len "
                               f"{b.frame_len}, the training data {a.classes} / {a.frame_len}: they must match")
        self.a, self.b = a, b
        self.b_idx = np.sort(np.random.default_rng([seed, 77]).permutation(len(b))[:n_b])
        self.classes, self.frame_len = a.classes, a.frame_len
        self.labels = np.concatenate([a.labels, b.labels[self.b_idx]])
        self.snrs = np.concatenate([a.snrs, b.snrs[self.b_idx]])

    def __len__(self) -> int:
        return len(self.labels)

    def frames(self, idx) -> np.ndarray:
        idx = np.asarray(idx)
        out = np.empty((len(idx), self.frame_len), np.complex64)
        ia = idx < len(self.a)
        if ia.any():
            out[ia] = self.a.frames(idx[ia])
        if (~ia).any():
            out[~ia] = self.b.frames(self.b_idx[idx[~ia] - len(self.a)])
        return out


def train(data_dir, out_dir, *, epochs: int = 6, batch: int = 256, lr: float = 2e-3, method: str = "joint",
          exit_weight: float = 1.0, seed: int = 0, max_frames: int | None = None, time_budget_s: float | None = None,
          threads: int = 2, log=print, progress: bool = True, init: str | None = None,
          extra_data: str | None = None, extra_frames: int = 0, corrected_share: float = 0.0):
    """Train and return ``(net, history)``; writes ``out_dir/train_log.jsonl``.

    ``init``: start from these weights (a ``model.pt`` of the same architecture) instead of a
    random initialization (fine-tuning on a new data set). ``extra_data``/``extra_frames``: also
    train on that many random frames of another data set's train split (:class:`MixedSplit`).
    ``corrected_share``: see :func:`_augment`."""
    import torch
    from tqdm import tqdm

    from sdrkit.nn.amc import EarlyExitNet
    from sdrkit.tasks.amc.dataset import load_split

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    tr = load_split(data_dir, "train")
    if extra_data and extra_frames:
        tr = MixedSplit(tr, load_split(extra_data, "train"), extra_frames, seed)
    va = load_split(data_dir, "val")
    n = len(tr) if max_frames is None else min(len(tr), max_frames)
    net = EarlyExitNet(len(tr.classes), exits=EXITS)
    if init:
        net.load_state_dict(torch.load(init, weights_only=True))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (n // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
    ce = torch.nn.functional.cross_entropy
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    logf = open(out_dir / "train_log.jsonl", "w")
    history = []
    t0 = time.perf_counter()
    sub = rng.permutation(len(tr))[:n] if n < len(tr) else np.arange(len(tr))
    stopped = False
    for ep in range(epochs):
        bar = tqdm(list(_batches(n, batch, rng)), desc=f"epoch {ep + 1}/{epochs}", unit="batch",
                   disable=not progress or None)
        run_loss = 0.0
        for j, b in enumerate(bar):
            ids = np.sort(sub[b])
            x = torch.from_numpy(to_input(_augment(tr.frames(ids), rng, corrected_share)))
            y = torch.from_numpy(tr.labels[ids])
            if method == "joint":
                out = net(x)
                loss = ce(out["backbone"], y) + exit_weight * sum(ce(out[str(k)], y) for k in EXITS)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lv = float(loss.detach())
            elif method == "per-branch":
                lv = 0.0
                for branch in [str(k) for k in EXITS] + ["backbone"]:
                    out = net(x)
                    loss = ce(out[branch], y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    lv += float(loss.detach())
            else:
                raise ValueError(f"method {method!r} must be 'joint' or 'per-branch'")
            sched.step()
            run_loss = 0.98 * run_loss + 0.02 * lv if j else lv
            if j % 20 == 0:
                bar.set_postfix(loss=f"{run_loss:.3f}")
            if time_budget_s and time.perf_counter() - t0 > time_budget_s:
                stopped = True
                break
        acc = evaluate_torch(net, va, max_frames=8000, seed=ep)
        rec = {"epoch": ep + 1, "loss": run_loss, "val_acc": acc, "elapsed_s": time.perf_counter() - t0}
        history.append(rec)
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        log(f"epoch {ep + 1}: loss {run_loss:.3f}  val backbone {acc['backbone']:.3f} "
            f"(SNR>=10: {acc['backbone@snr>=10']:.3f})  "
            + "  ".join(f"exit{k} {acc[str(k)]:.3f} ({acc[f'{k}@snr>=10']:.3f})" for k in EXITS)
            + f"  ({rec['elapsed_s']:.0f} s)")
        if stopped:
            log(f"time budget of {time_budget_s:.0f} s reached; stopping")
            break
    logf.close()
    net.eval()
    return net, history


def export_all(net, out_dir, frame_len: int) -> dict:
    """Write full.onnx and stem_eK/rest_eK.onnx for every exit; returns the file map."""
    import torch

    from sdrkit.nn.amc import Full, Rest, Stem
    from sdrkit.runtime.export import export_onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out_dir / "model.pt")     # first: a failed export keeps the weights
    x = torch.randn(4, 2, frame_len)
    files = {"full": "full.onnx", "torch": "model.pt"}
    # 1e-3: the histogram bins are second differences of ramps, standardized by a batch norm,
    # so float32 rounding reaches ~2e-4 in the logits (argmax agreement is what matters)
    atol = 1e-3
    export_onnx(Full(net), x, out_dir / "full.onnx", ("x",), ("logits",), atol=atol)
    for k in EXITS:
        with torch.no_grad():
            f = net.stem_features(x, k)
        export_onnx(Stem(net, k), x, out_dir / f"stem_e{k}.onnx", ("x",), ("exit_logits", "features"), atol=atol)
        export_onnx(Rest(net, k), f, out_dir / f"rest_e{k}.onnx", ("f",), ("logits",), atol=atol)
        files[f"stem_e{k}"] = f"stem_e{k}.onnx"
        files[f"rest_e{k}"] = f"rest_e{k}.onnx"
    return files


def calibrate(exit_logits: np.ndarray, bb_logits: np.ndarray, labels: np.ndarray, snrs: np.ndarray,
              budget: float = 0.01, margin: float = 0.005, min_snr: float = 0.0) -> dict:
    """Largest entropy threshold T whose gated accuracy stays within ``budget - margin`` of the
    backbone's at every SNR >= ``min_snr`` on this (validation) data.

    Returns ``{"threshold", "exit_fraction", "worst_gap", ...}``.
    """
    from sdrkit.tasks.amc.gated import entropy, softmax

    pe, pb = softmax(exit_logits), softmax(bb_logits)
    h = entropy(pe)
    ye, yb = pe.argmax(1) == labels, pb.argmax(1) == labels
    bins = sorted(s for s in np.unique(snrs) if s >= min_snr)
    cands = np.unique(np.quantile(h, np.linspace(0, 1, 201)))
    best = {"threshold": 0.0, "exit_fraction": float((h <= 0).mean()), "worst_gap": 0.0}
    for t in cands:
        ex = h <= t
        correct = np.where(ex, ye, yb)
        gaps = [yb[snrs == s].mean() - correct[snrs == s].mean() for s in bins]
        worst = max(gaps) if gaps else 0.0
        if worst <= budget - margin:
            if ex.mean() >= best["exit_fraction"]:
                best = {"threshold": float(t), "exit_fraction": float(ex.mean()), "worst_gap": float(worst)}
    best.update(budget=budget, margin=margin, min_snr=min_snr)
    return best
