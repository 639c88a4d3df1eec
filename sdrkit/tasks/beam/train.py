"""Training: ProtoBeam (episodic, Algorithm 1 of the paper) and the DeepBeam baseline.

Episodes are generated on the fly from a finite pool of seeded training front ends
(``rand-0`` .. ``rand-<M-1>``); the named front ends ``fe-a``.. are never used in training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from sdrkit.tasks.beam.sim import ArraySpec, generate, get_front_end, make_split, preamble


def to_tensor(x: np.ndarray):
    """complex (n, L) -> torch float32 (n, 2, L)."""
    import torch

    from sdrkit.dsp.framing import to_model_input

    return torch.from_numpy(to_model_input(x))


def augment(x, gen):
    """Random scaling (x0.3..x3) and phase rotation of each frame (torch, (B, 2, L))."""
    import torch

    B = x.shape[0]
    scale = torch.exp(torch.empty(B, 1, 1).uniform_(np.log(0.3), np.log(3.0), generator=gen))
    ph = torch.empty(B, 1, 1).uniform_(0, 2 * np.pi, generator=gen)
    c, s = torch.cos(ph), torch.sin(ph)
    i, q = x[:, :1], x[:, 1:]
    return scale * torch.cat([i * c - q * s, i * s + q * c], dim=1)


@dataclass(frozen=True)
class ProtoConfig:
    steps: int = 3000
    n_way: int = 8
    k_shot: int = 4
    n_query: int = 8
    episodes_per_step: int = 4
    train_front_ends: int = 512
    lr: float = 2e-3
    data_norm: bool = True
    augment: bool = True
    proto_norm: bool = True
    emb_dim: int = 64
    scale: float = 16.0          # logit temperature when embeddings are L2-normalized
    seed: int = 0
    time_budget_s: float | None = None


def proto_logits(emb_q, protos, proto_norm: bool, scale: float):
    """Negative squared Euclidean distance logits (torch)."""
    import torch

    d = torch.cdist(emb_q, protos) ** 2
    return -d * (scale if proto_norm else 1.0)


def feature_bank(enc, spec: ArraySpec, front_ends, per_beam: int, rng, aug: bool, gen=None, chunk: int = 2048):
    """Fixed front-end features of ``per_beam`` frames per beam for each front end.

    Returns (feats float32 (F, beams, per_beam, nf)). The encoder's front end (matched filter,
    lag correlations) has no trainable weights, so features are computed once.
    """
    import torch

    out = []
    with torch.no_grad():
        for fe in front_ends:
            y = np.repeat(np.arange(spec.beams), per_beam)
            x = to_tensor(generate(spec, fe, y, rng))
            if aug:
                x = augment(x, gen)
            out.append(enc.features(x).numpy().reshape(spec.beams, per_beam, -1))
    return np.stack(out)


def train_protobeam(spec: ArraySpec, cfg: ProtoConfig, per_beam: int = 16, log=print):
    """Episodic training (Algorithm 1) on a bank of training front ends; returns (encoder, history)."""
    import torch
    import torch.nn.functional as F

    from sdrkit.nn.beam import build_encoder

    from sdrkit.errors import ConfigError

    if per_beam < cfg.k_shot + cfg.n_query or cfg.n_way > spec.beams:
        raise ConfigError(f"--per-beam {per_beam} must be >= k_shot + n_query = {cfg.k_shot + cfg.n_query} and "
                          f"n_way {cfg.n_way} <= beams {spec.beams}")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    enc = build_encoder(preamble(spec), spec.frame_len, emb_dim=cfg.emb_dim, normalize_input=cfg.data_norm)
    t0 = time.perf_counter()
    fes = [get_front_end(f"rand-{i}", spec.elements) for i in range(cfg.train_front_ends)]
    bank = torch.from_numpy(feature_bank(enc, spec, fes, per_beam, rng, cfg.augment, gen))
    log(f"feature bank {tuple(bank.shape)} in {time.perf_counter() - t0:.0f}s")
    params = list(enc.bn.parameters()) + list(enc.mlp.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    hist = []
    K, Q, Nw, E = cfg.k_shot, cfg.n_query, cfg.n_way, cfg.episodes_per_step
    tgt = torch.arange(Nw).repeat_interleave(Q)
    enc.train()
    for step in range(cfg.steps):
        fi = torch.from_numpy(rng.integers(cfg.train_front_ends, size=E))
        cls = torch.from_numpy(np.stack([rng.choice(spec.beams, Nw, replace=False) for _ in range(E)]))
        sh = torch.from_numpy(np.stack([[rng.permutation(per_beam)[:K + Q] for _ in range(Nw)] for _ in range(E)]))
        f = bank[fi[:, None, None], cls[:, :, None], sh]                   # (E, Nw, K+Q, nf)
        e = enc.head(f.reshape(E * Nw * (K + Q), -1))
        if cfg.proto_norm:
            e = F.normalize(e, dim=1)
        e = e.reshape(E, Nw, K + Q, -1)
        protos = e[:, :, :K].mean(2)
        if cfg.proto_norm:
            protos = F.normalize(protos, dim=-1)
        qry = e[:, :, K:].reshape(E, Nw * Q, -1)
        lg = -torch.cdist(qry, protos) ** 2 * (cfg.scale if cfg.proto_norm else 1.0)   # (E, NwQ, Nw)
        loss = F.cross_entropy(lg.reshape(E * Nw * Q, Nw), tgt.repeat(E))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        hist.append((float(loss.detach()), float((lg.argmax(2) == tgt[None]).float().mean())))
        if step % 500 == 0 or step == cfg.steps - 1:
            h = np.mean(hist[-200:], axis=0)
            log(f"step {step:5d}  loss {h[0]:.3f}  episode acc {h[1]:.3f}  {time.perf_counter() - t0:.0f}s")
        if cfg.time_budget_s and time.perf_counter() - t0 > cfg.time_budget_s:
            log(f"time budget reached at step {step}")
            break
    enc.eval()
    return enc, {"steps_run": len(hist), "final_loss": float(np.mean([h[0] for h in hist[-200:]])),
                 "final_episode_acc": float(np.mean([h[1] for h in hist[-200:]])),
                 "train_seconds": time.perf_counter() - t0, "bank_shape": list(bank.shape)}


def train_deepbeam(spec: ArraySpec, front_end: str, per_beam: int = 300, epochs: int = 15, seed: int = 0,
                   data_norm: bool = True, log=print):
    """DeepBeam-style supervised classifier on ONE front end; returns the classifier module."""
    import torch
    import torch.nn.functional as F

    from sdrkit.nn.beam import build_classifier, build_encoder

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = make_split(spec, get_front_end(front_end, spec.elements), per_beam, rng)
    X, Y = to_tensor(x), torch.from_numpy(y)
    net = build_classifier(build_encoder(preamble(spec), spec.frame_len, normalize_input=data_norm), spec.beams)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    n = len(Y)
    for ep in range(epochs):
        perm = torch.randperm(n)
        net.train()
        tot = 0.0
        for i in range(0, n, 128):
            b = perm[i:i + 128]
            loss = F.cross_entropy(net(X[b]), Y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss) * len(b)
        if ep % 5 == 0 or ep == epochs - 1:
            log(f"deepbeam[{front_end}] epoch {ep} loss {tot / n:.3f}")
    net.eval()
    return net
