"""Training: masked spectrogram pretraining (one process or torchrun/DDP) and the downstream heads.

Pretraining (:func:`pretrain`) reconstructs masked sentences; the loss is the MSE over the
masked pixels only. Masking schemes (:func:`mask_batch`):

* ``random``: the paper's: 20 % of the tokens (whole time strips) replaced by white noise with
  the sentence's own mean and standard deviation;
* ``block``: contiguous time-frequency blocks of 8 rows x 16 bins (0.8 ms x 5 MHz at 20 MS/s),
  60 % of them, replaced the same way.

Under ``torchrun --nproc-per-node N`` (``WORLD_SIZE`` set) the same function runs
DistributedDataParallel (gloo on CPU, nccl on GPU): every rank starts from the same seed (same
initial weights), takes its shard ``sentences[rank::N]`` (the same number of batches on each
rank), draws its own masks (seed ``(seed, rank)``), and a time budget is decided by rank 0
and broadcast, so every rank stops after the same step.

Heads (:func:`train_segmenter`, :func:`train_forecaster`): ``frozen`` loads the pretrained
backbone, freezes it and trains the head on cached backbone features (the cache is part of the
measured fine-tuning time); ``scratch`` trains backbone + head from random weights. Both log
``(seconds, validation loss)`` so the time to a common validation loss can be compared.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from sdrkit.tasks.spectrum.data import TOKEN_ROWS


def _torch(threads: int):
    import torch

    torch.set_num_threads(max(1, int(threads)))
    return torch


def mask_batch(x, scheme: str, gen, ratio: float | None = None):
    """``(masked x, bool mask)`` for a batch ``(B, 1, rows, bins)``; see the module docstring."""
    import torch

    b, _, r, f = x.shape
    if scheme == "random":
        ratio = 0.2 if ratio is None else ratio
        t = r // TOKEN_ROWS
        k = max(1, int(round(ratio * t)))
        order = torch.rand(b, t, generator=gen).argsort(dim=1)[:, :k]
        tok = torch.zeros(b, t, dtype=torch.bool)
        tok.scatter_(1, order, True)
        m = tok.repeat_interleave(TOKEN_ROWS, dim=1)[:, None, :, None].expand(b, 1, r, f)
    elif scheme == "block":
        ratio = 0.6 if ratio is None else ratio
        cells = torch.rand(b, 1, r // 8, f // 16, generator=gen) < ratio
        m = cells.repeat_interleave(8, dim=2).repeat_interleave(16, dim=3)
    else:
        from sdrkit.errors import ConfigError

        raise ConfigError(f"masking scheme {scheme!r} must be 'random' or 'block'")
    mu = x.mean(dim=(1, 2, 3), keepdim=True)
    sd = x.std(dim=(1, 2, 3), keepdim=True)
    noise = mu + sd * torch.randn(x.shape, generator=gen)
    return torch.where(m, noise, x), m


def masked_mse(y, x, m):
    m = m.to(y.dtype)
    return ((y - x) ** 2 * m).sum() / m.sum().clamp_min(1.0)


def _dist():
    """(rank, world, initialized) from the torchrun environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size(), True


def pretrain(X, Xv, arch: dict, scheme: str = "random", ratio: float | None = None, steps: int | None = None,
             budget_s: float | None = None, batch: int = 16, lr: float = 2e-3, seed: int = 0, threads: int = 1,
             init_state: dict | None = None, progress: bool = True, log_every: int = 10):
    """Masked-spectrogram pretraining of :class:`SpectrumMSM`; returns ``(model, history)``.

    ``history``: ``steps``, ``seconds``, ``sentences_per_s`` (all ranks together), ``loss``
    curve, ``val_loss`` (masked MSE on ``Xv`` with fixed masks), ``world_size``.
    """
    torch = _torch(threads)
    from tqdm import tqdm

    from sdrkit.nn.spectrum import SpectrumMSM

    rank, world, is_dist = _dist()
    torch.manual_seed(seed)
    model = SpectrumMSM(**arch)
    if init_state is not None:
        model.load_state_dict(init_state)
    net = model
    if is_dist:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    shard = torch.from_numpy(X[rank::world])
    per_rank = len(X) // world
    shard = shard[:per_rank]
    n_batches = max(1, per_rank // batch)
    gen = torch.Generator().manual_seed(seed * 1000 + rank)
    hist = {"loss": [], "scheme": scheme, "ratio": ratio, "world_size": world, "batch_per_rank": batch}
    t0 = time.perf_counter()
    step = 0
    bar = tqdm(total=steps, desc=f"pretrain ({scheme})", disable=not progress or rank != 0 or not sys.stderr.isatty(), leave=False)
    done = False
    while not done:
        perm = torch.randperm(len(shard), generator=gen)
        for k in range(n_batches):
            xb = shard[perm[k * batch:(k + 1) * batch]]
            xm, m = mask_batch(xb, scheme, gen, ratio)
            loss = masked_mse(net(xm), xb, m)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            bar.update(1)
            if step % log_every == 0 or step == 1:
                hist["loss"].append((step, round(time.perf_counter() - t0, 2), float(loss.detach())))
            stop = (steps is not None and step >= steps) or \
                   (budget_s is not None and time.perf_counter() - t0 >= budget_s)
            if is_dist:
                import torch.distributed as dist

                flag = torch.tensor([1.0 if stop else 0.0])
                dist.broadcast(flag, 0)
                stop = bool(flag.item())
            if stop:
                done = True
                break
    bar.close()
    dt = time.perf_counter() - t0
    hist.update(steps=step, seconds=round(dt, 2), sentences_per_s=step * batch * world / dt)
    if Xv is not None and rank == 0:
        hist["val_loss"] = msm_val_loss(model, Xv, scheme, ratio)
    return model, hist


def msm_val_loss(model, Xv, scheme, ratio=None, batch: int = 64) -> float:
    import torch

    gen = torch.Generator().manual_seed(12345)
    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(Xv), batch):
            xb = torch.from_numpy(Xv[i:i + batch])
            xm, m = mask_batch(xb, scheme, gen, ratio)
            tot += float(masked_mse(model(xm), xb, m)) * len(xb)
            n += len(xb)
    model.train()
    return tot / max(n, 1)


def backbone_features(backbone, X, batch: int = 64):
    """Backbone features of every sentence (no grad), as one tensor."""
    import torch

    backbone.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out.append(backbone(torch.from_numpy(X[i:i + batch])))
    return torch.cat(out)


def class_weights(M, n_classes: int) -> np.ndarray:
    """Inverse square-root class frequencies (mean 1), ignoring unknown pixels."""
    cnt = np.bincount(M[M < n_classes].ravel(), minlength=n_classes).astype(np.float64) + 1.0
    w = 1.0 / np.sqrt(cnt / cnt.sum())
    return (w / w.mean()).astype(np.float32)


def _fit(model, step_fn, val_fn, n: int, batch: int, budget_s: float, max_epochs: int, lr: float, seed: int,
         desc: str, progress: bool, params=None, eval_every_s: float = 10.0):
    """A generic loop: ``step_fn(idx) -> loss``; ``val_fn() -> val loss``; logs (seconds, val loss)."""
    import torch
    from tqdm import tqdm

    opt = torch.optim.Adam(params if params is not None else [p for p in model.parameters() if p.requires_grad],
                           lr=lr)
    gen = torch.Generator().manual_seed(seed)
    curve = [(0.0, val_fn())]
    t0 = time.perf_counter()
    last_eval = 0.0
    steps = 0
    bar = tqdm(desc=desc, disable=not progress or not sys.stderr.isatty(), leave=False)
    eval_time = 0.0
    for ep in range(max_epochs):
        perm = torch.randperm(n, generator=gen)
        for k in range(0, n - batch + 1, batch):
            loss = step_fn(perm[k:k + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            bar.update(1)
            el = time.perf_counter() - t0 - eval_time
            if el - last_eval >= eval_every_s:
                te = time.perf_counter()
                curve.append((round(el, 2), val_fn()))
                eval_time += time.perf_counter() - te
                last_eval = el
            if el >= budget_s:
                break
        if time.perf_counter() - t0 - eval_time >= budget_s:
            break
    bar.close()
    el = time.perf_counter() - t0 - eval_time
    curve.append((round(el, 2), val_fn()))
    return {"curve": curve, "seconds": round(el, 2), "steps": steps, "epochs_started": ep + 1}


def train_segmenter(X, M, Xv, Mv, arch: dict, n_classes: int, backbone_state: dict | None, budget_s: float,
                    batch: int = 16, lr: float = 2e-3, seed: int = 0, threads: int = 1, progress: bool = True):
    """Segmentation head: frozen (``backbone_state`` given) or scratch; returns ``(model, history)``.

    The validation loss and timing exclude nothing the method needs: the frozen head's
    feature cache (train and validation) is timed and added to its curve.
    """
    torch = _torch(threads)
    import torch.nn.functional as F

    from sdrkit.nn.spectrum import SpectrumSegmenter

    torch.manual_seed(seed)
    model = SpectrumSegmenter(n_classes=n_classes, **arch)
    w = torch.from_numpy(class_weights(M, n_classes))
    Xt, Mt = torch.from_numpy(X), torch.from_numpy(M.astype(np.int64))
    Mt[Mt >= n_classes] = -100
    Xvt, Mvt = torch.from_numpy(Xv), torch.from_numpy(Mv.astype(np.int64))
    Mvt[Mvt >= n_classes] = -100
    t_cache = 0.0
    if backbone_state is not None:
        model.backbone.load_state_dict(backbone_state)
        model.freeze_backbone()
        t = time.perf_counter()
        Z, Zv = backbone_features(model.backbone, X), backbone_features(model.backbone, Xv)
        t_cache = time.perf_counter() - t

        def step(idx):
            return F.cross_entropy(model.from_features(Z[idx], Xt[idx]), Mt[idx], weight=w, ignore_index=-100)

        def val():
            with torch.no_grad():
                return float(F.cross_entropy(model.from_features(Zv, Xvt), Mvt, weight=w, ignore_index=-100))
        params = list(model.head.parameters())
    else:
        def step(idx):
            return F.cross_entropy(model(Xt[idx]), Mt[idx], weight=w, ignore_index=-100)

        def val():
            model.eval()
            with torch.no_grad():
                logits = torch.cat([model(Xvt[i:i + 64]) for i in range(0, len(Xvt), 64)])
            model.train()
            return float(F.cross_entropy(logits, Mvt, weight=w, ignore_index=-100))
        params = None
    mode = "frozen" if backbone_state is not None else "scratch"
    hist = _fit(model, step, val, len(X), batch, budget_s, 1000, lr, seed, f"segment ({mode})", progress, params)
    hist["curve"] = [(round(t + t_cache, 2), v) for t, v in hist["curve"]]
    hist.update(mode=mode, feature_cache_s=round(t_cache, 2), seconds=round(hist["seconds"] + t_cache, 2),
                class_weights=w.tolist())
    return model, hist


def train_forecaster(X, Xv, arch: dict, backbone_state: dict | None, budget_s: float, horizon: int, past_rows: int,
                     batch: int = 16, lr: float = 2e-3, seed: int = 0, threads: int = 1, progress: bool = True):
    """Forecasting head on sentences of ``past_rows + horizon * TOKEN_ROWS`` rows; frozen or scratch."""
    torch = _torch(threads)

    from sdrkit.nn.spectrum import SpectrumForecaster

    torch.manual_seed(seed)
    model = SpectrumForecaster(horizon=horizon, **arch)
    Xt, Xvt = torch.from_numpy(X), torch.from_numpy(Xv)
    P, Y = Xt[:, :, :past_rows], Xt[:, :, past_rows:]
    Pv, Yv = Xvt[:, :, :past_rows], Xvt[:, :, past_rows:]
    t_cache = 0.0
    if backbone_state is not None:
        model.backbone.load_state_dict(backbone_state)
        model.freeze_backbone()
        t = time.perf_counter()
        Z, Zv = backbone_features(model.backbone, P.numpy()), backbone_features(model.backbone, Pv.numpy())
        t_cache = time.perf_counter() - t

        def step(idx):
            return ((model.from_features(Z[idx], P[idx]) - Y[idx]) ** 2).mean()

        def val():
            with torch.no_grad():
                return float(((model.from_features(Zv, Pv) - Yv) ** 2).mean())
        params = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    else:
        def step(idx):
            return ((model(P[idx]) - Y[idx]) ** 2).mean()

        def val():
            model.eval()
            with torch.no_grad():
                y = torch.cat([model(Pv[i:i + 64]) for i in range(0, len(Pv), 64)])
            model.train()
            return float(((y - Yv) ** 2).mean())
        params = None
    mode = "frozen" if backbone_state is not None else "scratch"
    hist = _fit(model, step, val, len(X), batch, budget_s, 1000, lr, seed, f"forecast ({mode})", progress, params)
    hist["curve"] = [(round(t + t_cache, 2), v) for t, v in hist["curve"]]
    hist.update(mode=mode, feature_cache_s=round(t_cache, 2), seconds=round(hist["seconds"] + t_cache, 2))
    return model, hist


def time_to_loss(curve, loss: float) -> float:
    """Seconds until a ``(seconds, val loss)`` curve first reaches ``loss`` (inf if never)."""
    for t, v in curve:
        if v <= loss:
            return float(t)
    return math.inf
