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


class PowerGains:
    """Learnable per-tensor power gains (unequal error protection) under the delivery's power constraint.

    ``g_t = exp(theta_t) * N / sum_u n_u exp(theta_u)`` with ``n_t`` the tensor's analog symbols and
    ``N = sum n_t``: the average symbol power stays 1 whatever ``theta`` is, so the gains are trained
    jointly with the weights by the same noisy loss (the later paper's per-layer protection, learned
    instead of derived from a sensitivity measurement).
    """

    def __init__(self, specs, expand=None, init_db: dict | None = None):
        import torch

        self.names = [s.name for s in specs]
        self.counts = torch.as_tensor(wl.symbols_per_tensor(specs, expand), dtype=torch.float32)
        t0 = [float((init_db or {}).get(n, 0.0)) * np.log(10) / 10 for n in self.names]
        self.theta = torch.tensor(t0, dtype=torch.float32, requires_grad=True)

    def linear(self):
        import torch

        e = torch.exp(self.theta.clamp(-4.0, 4.0))
        return e * self.counts.sum() / torch.sum(self.counts * e)

    def db(self) -> dict:
        """``{tensor: gain dB}`` as a card's ``extra.delivery.power_db`` (``weights_link`` quantizes it)."""
        g = self.linear().detach().numpy()
        return {n: float(np.round(10 * np.log10(x) * 8) / 8) for n, x in zip(self.names, g)}


def received(params: dict, snr_db: float, gen, rng, expand=None, gains=None) -> dict:
    """The weights as one delivery receives them, differentiable in the weights and the gains.

    Plain-paired tensors: the mathematical channel's decoded weight is exactly
    ``w + rms(w) * n / sqrt(snr * g_t)``, ``n ~ N(0, 1)`` i.i.d. (two weights per complex symbol,
    each tensor at unit RMS; :func:`sdrkit.dsp.weights_link.deliver_math`), so this is the channel
    itself, with ``rms`` and ``g_t`` inside the gradient (the noise a tensor gets depends on how its
    magnitude is spread, which the training can then shape). Tensors on the SK spiral go through
    :func:`~sdrkit.dsp.weights_link.deliver_math` with a straight-through gradient.

    Args:
        gains: ``None`` (uniform power), a :class:`PowerGains`, or ``{tensor: gain dB}``.
    """
    import torch

    expand = expand or {}
    if gains is None:
        g = {n: 1.0 for n in params}
    elif isinstance(gains, PowerGains):
        lin = gains.linear()
        g = {n: lin[i] for i, n in enumerate(gains.names)}
    else:
        specs = wl.specs_of({k: v.detach().numpy() for k, v in params.items()})
        counts = wl.symbols_per_tensor(specs, expand).astype(np.float64)
        lin = 10 ** (np.array([float(gains.get(s.name, 0.0)) for s in specs]) / 10)
        lin = lin * counts.sum() / np.sum(counts * lin)
        g = {s.name: float(x) for s, x in zip(specs, lin)}
    snr = 10 ** (snr_db / 10)
    out = {}
    for name, w in params.items():
        if name in expand:
            gt = g[name]
            gl = float(gt.detach()) if torch.is_tensor(gt) else float(gt)
            rx = wl.deliver_math({name: w.detach().numpy()}, snr_db + 10 * np.log10(gl), rng, {name: expand[name]})
            err = (torch.from_numpy(rx[name]) - w).detach()
            if torch.is_tensor(gt) and gt.requires_grad:
                # the spiral's error as received, its power's gradient as for a paired tensor (error
                # amplitude ~ 1 / sqrt(g)): without it the SK tensors' gains would be free power donors
                err = err * torch.sqrt(gt.detach() / gt)
            out[name] = w + err
        else:
            rms = torch.sqrt(torch.mean(w * w) + 1e-20)
            n = torch.randn(w.shape, generator=gen)
            out[name] = w + rms * n / torch.sqrt(snr * torch.as_tensor(g[name]))
    return out


def fit(net, data: Data, steps: int, noise: bool, kd: bool, snr_range=(5.0, 20.0), expand=None, lr: float = 3e-3,
        batch: int = 128, seed: int = 0, log=None, label: str = "", crop: int | None = None,
        channel: str = "numpy", gains=None):
    """Train ``net`` in place for ``steps`` Adam steps; returns the loss history (every 50 steps).

    ``crop``: train on a random window of this many samples per batch (the network pools globally,
    so it runs on any length; the teacher's logits are of the whole frame). Halves the CPU cost at
    512 of 1024 samples.

    ``channel``: ``"numpy"``, noise injection through :func:`noisy_forward` (the delivery's own
    encode/decode, straight-through gradient); ``"torch"``, through :func:`received` (the same
    channel, differentiable in the tensors' RMS and in ``gains``). ``gains``: ``None``, ``{tensor: dB}``
    (fixed unequal protection) or a :class:`PowerGains` (learned with the weights; torch channel only).
    """
    import torch
    from torch.func import functional_call

    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    extra = [gains.theta] if isinstance(gains, PowerGains) else []
    opt = torch.optim.Adam([{"params": list(net.parameters())}] +
                           ([{"params": extra, "lr": 0.03}] if extra else []), lr=lr)
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
        if noise and channel == "torch":
            rx = received(dict(net.named_parameters()), float(rng.uniform(*snr_range)), g, rng, expand, gains)
            out = functional_call(net, rx, (x,))
        elif noise:
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


def state(net, power_db: dict | None = None) -> dict:
    """What a ladder entry stores: the architecture (widths, hidden), the weights and, when the
    power gains were learned with them, ``power_db`` (the delivery's unequal protection)."""
    e = {"widths": list(net.widths), "hidden": int(net.hidden),
         "state": {k: v.clone() for k, v in net.state_dict().items()}}
    if power_db is not None:
        e["power_db"] = dict(power_db)
    return e


def build(entry: dict, n_classes: int = 11):
    from sdrkit.nn.airnet import AirStudent

    net = AirStudent(n_classes, entry["widths"], int(entry.get("hidden", 64)))
    net.load_state_dict(entry["state"])
    return net.eval()


@dataclass(frozen=True)
class Schedule:
    """Steps of each stage and the noise injection (see the module docstring).

    ``channel``/``learn_gains``: :func:`fit`'s noise path and whether the per-tensor power gains
    are learned with the weights (:class:`PowerGains`); ``prune_lr``: the fine-tunes' Adam rate.
    """

    base_steps: int = 1500
    prune_steps: int = 300
    prune_iters: int = 4
    sk_extra_iters: int = 2
    snr_range: tuple = (5.0, 20.0)
    batch: int = 128
    crop: int | None = 512
    widths: tuple = (16, 32, 32, 48)
    hidden: int = 64
    channel: str = "numpy"
    learn_gains: bool = False
    lr: float = 3e-3
    prune_lr: float = 3e-3


def prune_once(net, frac: float = 0.1):
    from sdrkit.nn.airnet import prune_filters, prune_plan

    plan = prune_plan(net, frac)
    return prune_filters(net, plan), [p.tolist() for p in plan]


def _gains(net, sch: Schedule, expand=None, init_db=None):
    return PowerGains(wl.specs_of(params_np(net)), expand, init_db) if sch.learn_gains else None


def sweep_main(data: Data, xval, yval, sch: Schedule, seed: int = 0, log=print) -> dict:
    """The bundled chain: noise + KD base, joint pruning with noise + KD, then the SK arm.

    Returns ``{"ladder": [entry per pruning iteration], "plans", "sk": {...}, "history", "val"}``;
    ``ladder[prune_iters]`` is the bundled student. With ``sch.learn_gains`` every entry carries the
    power gains learned with it (each pruning iteration starts from the previous one's).
    """
    from sdrkit.nn.airnet import AirStudent

    import torch

    torch.manual_seed(seed)
    net = AirStudent(11, sch.widths, sch.hidden)
    kw = dict(batch=sch.batch, crop=sch.crop, channel=sch.channel)
    gains = _gains(net, sch)
    hist = {"base": fit(net, data, sch.base_steps, True, True, sch.snr_range, lr=sch.lr, seed=seed, log=log,
                        label="main base", gains=gains, **kw)}
    pdb = gains.db() if gains else None
    ladder, plans, val = [state(net, pdb)], [], [accuracy(net, xval, yval)]
    for i in range(1, sch.prune_iters + sch.sk_extra_iters + 1):
        net, plan = prune_once(net)
        plans.append(plan)
        gains = _gains(net, sch, init_db=pdb)
        hist[f"prune{i}"] = fit(net, data, sch.prune_steps, True, True, sch.snr_range, lr=sch.prune_lr,
                                seed=seed + i, log=log, label=f"main prune {i}", gains=gains, **kw)
        pdb = gains.db() if gains else None
        ladder.append(state(net, pdb))
        val.append(accuracy(net, xval, yval))
    sk, hist["sk"] = sk_stage(ladder, data, xval, sch, seed, log)
    return {"ladder": ladder, "plans": plans, "val": val, "history": hist, "bundled_index": sch.prune_iters,
            "sk": sk, "schedule": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(sch).items()}}


def sk_stage(ladder: list, data: Data, xval, sch: Schedule, seed: int = 0, log=print) -> tuple[dict, list]:
    """The SK arm from the most pruned ladder entry: the seed's Algorithm 1 picks the tensors for the
    spiral within the bundled student's plain channel-symbol budget, then one fine-tune with SK in
    the channel (and the power gains learned with it). Deterministic given the ladder and the seed,
    so ``--part sk`` on a saved ladder gives what ``--part main`` gives.

    Returns:
        ``(sk dict, loss history)``.
    """
    final = build(ladder[sch.prune_iters])
    net = build(ladder[-1])
    for p in net.parameters():
        p.requires_grad_(True)
    budget = wl.analog_symbols(wl.specs_of(params_np(final)))
    expand, errs = select_expansion(net, xval[:256], budget, snr_db=10.0, seed=seed)
    gains = _gains(net, sch, expand, ladder[-1].get("power_db"))
    hist = fit(net, data, sch.prune_steps, True, True, sch.snr_range, expand=expand, lr=sch.prune_lr,
               seed=seed + 100, log=log, label="main sk", gains=gains, batch=sch.batch, crop=sch.crop,
               channel=sch.channel)
    sk = {"entry": state(net, gains.db() if gains else None), "expand": expand, "sensitivity": errs,
          "budget_symbols": budget}
    if gains:
        sk["power_db"] = gains.db()
    return sk, hist


def sweep_ablation(data: Data, sch: Schedule, seed: int = 0, log=print) -> dict:
    """The Fig. 4a arms other than the bundled one, at the same bandwidth (same pruning iterations,
    same architecture and noise path as the bundled chain; uniform power: the learned gains are part
    of the bundled arm).

    * plain: clean training, pruning with clean fine-tunes;
    * noise-injected: noisy base training, pruning with clean fine-tunes;
    * separate: the plain arm, then one fine-tune with noise (pruned first, noise after);
    * joint: noisy base, every pruning fine-tune with noise (no distillation).
    """
    from sdrkit.nn.airnet import AirStudent

    import torch

    out, hist = {}, {}
    kw = dict(batch=sch.batch, crop=sch.crop, channel=sch.channel)

    def chain(net, noise: bool, tag: str, s0: int):
        for i in range(1, sch.prune_iters + 1):
            net, _ = prune_once(net)
            hist[f"{tag}{i}"] = fit(net, data, sch.prune_steps, noise, False, sch.snr_range, lr=sch.prune_lr,
                                    seed=s0 + i, log=log, label=f"{tag} prune {i}", **kw)
        return net

    torch.manual_seed(seed)
    clean = AirStudent(11, sch.widths, sch.hidden)
    hist["clean_base"] = fit(clean, data, sch.base_steps, False, False, lr=sch.lr, seed=seed, log=log,
                             label="clean base", **kw)
    torch.manual_seed(seed)
    noisy = AirStudent(11, sch.widths, sch.hidden)
    hist["noisy_base"] = fit(noisy, data, sch.base_steps, True, False, sch.snr_range, lr=sch.lr, seed=seed,
                             log=log, label="noisy base", **kw)
    plain = chain(build(state(clean)), False, "plain", seed + 10)
    out["plain"] = state(plain)
    out["noise-injected"] = state(chain(build(state(noisy)), False, "noise-injected", seed + 20))
    sep = build(state(plain))
    hist["separate"] = fit(sep, data, sch.prune_steps, True, False, sch.snr_range, lr=sch.prune_lr, seed=seed + 30,
                           log=log, label="separate", **kw)
    out["separate pruning"] = state(sep)
    out["joint pruning"] = state(chain(build(state(noisy)), True, "joint", seed + 40))
    return {"arms": out, "history": hist}
