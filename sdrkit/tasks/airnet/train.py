"""AirNet training: noise injection through the real channel, L1 filter pruning, distillation, SK.

Every stage is one call of :func:`fit` with switches, so the seed's ablation (Fig. 4a) is a set
of runs of the same code:

* **noise injection** (``noise=True``): each step the weights cross the mathematical channel
  exactly as a delivery does (:func:`sdrkit.dsp.weights_link.deliver_math`: per-tensor scaling,
  pairing or SK spiral, AWGN at an SNR drawn uniformly from ``snr_range`` dB, the spread of the
  paper's later version, so the model does not depend on knowing the SNR), and the forward pass
  uses the received weights with a straight-through gradient (``w + (w_rx - w).detach()``);
* **pruning**: :func:`sdrkit.nn.airnet.prune_plan` (10% of each conv layer's remaining filters,
  smallest L1 norm) then a fine-tune, with or without noise ("joint" vs "separate");
* **distillation** (``kd=True``): Hinton's loss with the seed's temperature t = 2 against the
  bundled AMC backbone (teacher logits computed once through its card's ONNX graph);
* **SK**: tensors picked by the seed's Algorithm 1 (:func:`select_expansion`) go on the spiral.

Deviations from the seed, for the 2-core CPU: Adam (lr 3e-3, x0.1 for the last third) instead
of SGD 0.01/0.001 for 60 epochs; a few hundred steps per stage instead of 60 epochs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sdrkit.dsp import weights_link as wl

KD_T = 2.0


@dataclass
class Data:
    """Training frames (float32 model input), labels, SNRs and the teacher's logits."""

    x: np.ndarray
    y: np.ndarray
    snr: np.ndarray
    teacher: np.ndarray | None


def load_frames(data_dir, split: str, n: int, min_snr: float, seed: int):
    """``n`` random frames of an AMC split with SNR >= ``min_snr`` -> (x float32 (n,2,N), labels, snrs)."""
    from sdrkit.dsp.framing import to_model_input
    from sdrkit.tasks.amc.dataset import load_split

    sp = load_split(data_dir, split)
    idx = np.flatnonzero(sp.snrs >= min_snr)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(idx, size=min(n, len(idx)), replace=False))
    x = to_model_input(sp.frames(idx))
    return x, sp.labels[idx], sp.snrs[idx]


def teacher_logits(card_path, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The teacher's logits on ``x``, through its card's backbone-only graph (``full``)."""
    from sdrkit.runtime import load_card
    from sdrkit.runtime.session import onnx_session

    card = load_card(card_path)
    key = "full" if "full" in card.files else next(iter(card.files))
    sess = onnx_session(card.file(key), threads=1)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def params_np(net) -> dict:
    return {n: p.detach().cpu().numpy() for n, p in net.named_parameters()}


def noisy_forward(net, x, snr_db: float, rng, expand=None, gain: complex = 1.0):
    """Forward pass with the weights as received through the channel (straight-through gradient)."""
    import torch
    from torch.func import functional_call

    params = dict(net.named_parameters())
    rx = wl.deliver_math({k: v.detach().numpy() for k, v in params.items()}, snr_db, rng, expand, gain)
    noisy = {k: p + (torch.from_numpy(rx[k]) - p).detach() for k, p in params.items()}
    return functional_call(net, noisy, (x,))


def fit(net, data: Data, steps: int, noise: bool, kd: bool, snr_range=(5.0, 20.0), expand=None, lr: float = 3e-3,
        batch: int = 128, seed: int = 0, log=None, label: str = "", crop: int | None = None):
    """Train ``net`` in place for ``steps`` Adam steps; returns the loss history (every 50 steps).

    ``crop``: train on a random window of this many samples per batch (the network pools globally,
    so it runs on any length; the teacher's logits are of the whole frame). Halves the CPU cost at
    512 of 1024 samples.
    """
    import torch

    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(steps * 2 / 3)], 0.1)
    n = len(data.y)
    hist, run, t0 = [], 0.0, time.perf_counter()
    net.train()
    for step in range(steps):
        idx = torch.randint(0, n, (batch,), generator=g).numpy()
        xb = data.x[idx]
        if crop and crop < xb.shape[-1]:
            o = int(rng.integers(0, xb.shape[-1] - crop + 1))
            xb = xb[..., o:o + crop]
        x = torch.from_numpy(np.ascontiguousarray(xb))
        y = torch.from_numpy(data.y[idx])
        if noise:
            out = noisy_forward(net, x, float(rng.uniform(*snr_range)), rng, expand)
        else:
            out = net(x)
        loss = torch.nn.functional.cross_entropy(out, y)
        if kd and data.teacher is not None:
            t = torch.from_numpy(data.teacher[idx])
            soft = torch.nn.functional.log_softmax(out / KD_T, dim=1)
            loss = loss + KD_T ** 2 * torch.nn.functional.kl_div(soft, torch.softmax(t / KD_T, dim=1),
                                                                 reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run += loss.item()
        if (step + 1) % 50 == 0:
            hist.append({"step": step + 1, "loss": run / 50, "s": time.perf_counter() - t0})
            if log:
                log(f"{label} step {step + 1}/{steps} loss {run / 50:.3f} ({time.perf_counter() - t0:.0f} s)")
            run = 0.0
    net.eval()
    return hist


def accuracy(net, x: np.ndarray, y: np.ndarray, params: dict | None = None, batch: int = 1024) -> float:
    """Top-1 accuracy of ``net`` (optionally with other weights ``params``) on float32 input ``x``."""
    import torch
    from torch.func import functional_call

    net.eval()
    p = None if params is None else {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in params.items()}
    hits = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            xb = torch.from_numpy(x[i:i + batch])
            out = net(xb) if p is None else functional_call(net, p, (xb,))
            hits += int((out.argmax(1).numpy() == y[i:i + batch]).sum())
    return hits / max(len(y), 1)


def select_expansion(net, x: np.ndarray, budget_symbols: int, snr_db: float = 10.0, turns: float | None = None,
                     seed: int = 0) -> tuple[dict, list]:
    """The seed's Algorithm 1: perturb one tensor at a time with the channel's noise, measure the MSE
    of the softmax outputs against the noiseless ones, and put the most sensitive tensors on the SK
    spiral while the delivery stays within ``budget_symbols``.

    Returns:
        ``({tensor: turns}, [(tensor, err), ...] sorted by err)``.
    """
    import torch
    from torch.func import functional_call

    from sdrkit.dsp import spiral

    turns = spiral.turns_for_snr(snr_db) if turns is None else turns
    rng = np.random.default_rng(seed)
    base = params_np(net)
    xb = torch.from_numpy(x)
    with torch.no_grad():
        ref = torch.softmax(net(xb), 1)
        errs = []
        for name in base:
            rx = wl.deliver_math({name: base[name]}, snr_db, rng)
            p = {k: torch.from_numpy(v) for k, v in {**base, **rx}.items()}
            errs.append((name, float(((torch.softmax(functional_call(net, p, (xb,)), 1) - ref) ** 2).sum())))
    errs.sort(key=lambda e: -e[1])
    specs = wl.specs_of(base)
    chosen: dict = {}
    for name, _ in errs:
        trial = {**chosen, name: turns}
        if wl.analog_symbols(specs, trial) <= budget_symbols:
            chosen = trial
    return chosen, errs


def state(net) -> dict:
    """What a ladder entry stores: the widths and the weights."""
    return {"widths": list(net.widths), "state": {k: v.clone() for k, v in net.state_dict().items()}}


def build(entry: dict, n_classes: int = 11):
    from sdrkit.nn.airnet import AirStudent

    net = AirStudent(n_classes, entry["widths"])
    net.load_state_dict(entry["state"])
    return net.eval()


@dataclass(frozen=True)
class Schedule:
    """Steps of each stage (see the module docstring)."""

    base_steps: int = 1500
    prune_steps: int = 300
    prune_iters: int = 4
    sk_extra_iters: int = 2
    snr_range: tuple = (5.0, 20.0)
    batch: int = 128
    crop: int | None = 512


def prune_once(net, frac: float = 0.1):
    from sdrkit.nn.airnet import prune_filters, prune_plan

    plan = prune_plan(net, frac)
    return prune_filters(net, plan), [p.tolist() for p in plan]


def sweep_main(data: Data, xval, yval, sch: Schedule, seed: int = 0, log=print) -> dict:
    """The bundled chain: noise + KD base, joint pruning with noise + KD, then the SK arm.

    Returns ``{"ladder": [entry per pruning iteration], "plans", "sk": {...}, "history", "val"}``;
    ``ladder[prune_iters]`` is the bundled student.
    """
    from sdrkit.nn.airnet import AirStudent

    import torch

    torch.manual_seed(seed)
    net = AirStudent(11)
    hist = {"base": fit(net, data, sch.base_steps, True, True, sch.snr_range, batch=sch.batch, crop=sch.crop,
                        seed=seed, log=log, label="main base")}
    ladder, plans, val = [state(net)], [], [accuracy(net, xval, yval)]
    for i in range(1, sch.prune_iters + sch.sk_extra_iters + 1):
        net, plan = prune_once(net)
        plans.append(plan)
        hist[f"prune{i}"] = fit(net, data, sch.prune_steps, True, True, sch.snr_range, batch=sch.batch, crop=sch.crop,
                                seed=seed + i, log=log, label=f"main prune {i}")
        ladder.append(state(net))
        val.append(accuracy(net, xval, yval))
    final = build(ladder[sch.prune_iters])
    budget = wl.analog_symbols(wl.specs_of(params_np(final)))
    expand, errs = select_expansion(net, xval[:256], budget, snr_db=10.0, seed=seed)
    hist["sk"] = fit(net, data, sch.prune_steps, True, True, sch.snr_range, expand=expand, batch=sch.batch,
                     crop=sch.crop, seed=seed + 100, log=log, label="main sk")
    return {"ladder": ladder, "plans": plans, "val": val, "history": hist, "bundled_index": sch.prune_iters,
            "sk": {"entry": state(net), "expand": expand, "sensitivity": errs, "budget_symbols": budget}}


def sweep_ablation(data: Data, sch: Schedule, seed: int = 0, log=print) -> dict:
    """The Fig. 4a arms other than the bundled one, at the same bandwidth (same pruning iterations).

    * plain: clean training, pruning with clean fine-tunes;
    * noise-injected: noisy base training, pruning with clean fine-tunes;
    * separate: the plain arm, then one fine-tune with noise (pruned first, noise after);
    * joint: noisy base, every pruning fine-tune with noise (no distillation).
    """
    from sdrkit.nn.airnet import AirStudent

    import torch

    out, hist = {}, {}

    def chain(net, noise: bool, tag: str, s0: int):
        for i in range(1, sch.prune_iters + 1):
            net, _ = prune_once(net)
            hist[f"{tag}{i}"] = fit(net, data, sch.prune_steps, noise, False, sch.snr_range, batch=sch.batch,
                                    crop=sch.crop, seed=s0 + i, log=log, label=f"{tag} prune {i}")
        return net

    torch.manual_seed(seed)
    clean = AirStudent(11)
    hist["clean_base"] = fit(clean, data, sch.base_steps, False, False, batch=sch.batch, crop=sch.crop, seed=seed,
                             log=log, label="clean base")
    torch.manual_seed(seed)
    noisy = AirStudent(11)
    hist["noisy_base"] = fit(noisy, data, sch.base_steps, True, False, sch.snr_range, batch=sch.batch,
                             crop=sch.crop, seed=seed, log=log, label="noisy base")
    plain = chain(build(state(clean)), False, "plain", seed + 10)
    out["plain"] = state(plain)
    out["noise-injected"] = state(chain(build(state(noisy)), False, "noise-injected", seed + 20))
    sep = build(state(plain))
    hist["separate"] = fit(sep, data, sch.prune_steps, True, False, sch.snr_range, batch=sch.batch,
                           crop=sch.crop, seed=seed + 30, log=log, label="separate")
    out["separate pruning"] = state(sep)
    out["joint pruning"] = state(chain(build(state(noisy)), True, "joint", seed + 40))
    return {"arms": out, "history": hist}
