"""Training: ProtoBeam (episodic, Algorithm 1 of the paper) and the DeepBeam baseline.

Episodes are drawn from a bank of recordings, each one training front end seen through one
scene: the front ends are seeded (``rand-0`` .. ``rand-<M-1>``, and with ``harsh_fraction`` the
harsh pool ``hrand-*``); the scenes are sdrkit's own, or (``scene_fraction``) a clustered 3GPP
channel of :data:`~sdrkit.tasks.beam.channels.TRAIN_FAMILIES` (delay spread 100-1000 ns,
Doppler and drift). The named front ends ``fe-a``.., the held-back front ends ``hb-*`` and the
held-back channel family are never used in training.
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


def augment(x, gen, per_frame_scale: bool = True):
    """Random scaling (x0.3..x3; one for the whole batch unless ``per_frame_scale``) and phase
    rotation of each frame (torch, (B, 2, L))."""
    import torch

    B = x.shape[0]
    scale = torch.exp(torch.empty(B if per_frame_scale else 1, 1, 1).uniform_(np.log(0.3), np.log(3.0),
                                                                              generator=gen))
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
    template: bool = False       # the channel-estimate encoder (nn.beam, template=True)
    scene_fraction: float = 0.0  # share of bank recordings through a clustered 3GPP channel
    harsh_fraction: float = 0.0  # share of bank front ends from the harsh pool (hrand-*)
    doppler_max_hz: float = 1.5
    drift_max_deg_s: float = 1.0
    ordinal_weight: float = 0.0  # + weight x expected beam-error cost under the softmax (see ordinal_cap)
    ordinal_cap: int = 4         # cost of an error of d beams: min(d, cap) / cap
    temporal_split: bool = False  # scene recordings: support from the earlier half of each beam's frames, queries
    #                               from the later half, the frames spread over bank_span_s (the channel drifts)
    bank_span_s: float = 1.5     # temporal_split: seconds one bank recording spans


def proto_logits(emb_q, protos, proto_norm: bool, scale: float):
    """Negative squared Euclidean distance logits (torch)."""
    import torch

    d = torch.cdist(emb_q, protos) ** 2
    return -d * (scale if proto_norm else 1.0)


def feature_bank(enc, spec: ArraySpec, front_ends, per_beam: int, rng, aug: bool, gen=None, chunk: int = 2048,
                 scenes=None, span_s: float | None = None):
    """Fixed front-end features of ``per_beam`` frames per beam for each front end (and its scene).

    Returns (feats float32 (F, beams, per_beam, nf)). The encoder's front end (matched filter,
    lag correlations, channel estimate) has no trainable weights, so features are computed once.
    A recording through a scene keeps one level for all its frames (augmentation scales it as a
    whole); sdrkit's own scene draws a level per frame. The frames of a sweep are at shuffled
    times, back to back (one frame period each); with ``span_s`` they are spread evenly over that
    many seconds and each beam's frames are in time order along the per-beam axis.
    """
    import torch

    from sdrkit.tasks.beam.channels import FRAME_PERIOD_S

    out = []
    scenes = scenes if scenes is not None else [None] * len(front_ends)
    with torch.no_grad():
        for fe, sc in zip(front_ends, scenes):
            y = np.repeat(np.arange(spec.beams), per_beam)
            order = rng.permutation(len(y))                 # frames of a sweep at shuffled times
            dt = FRAME_PERIOD_S if not span_s else span_s / len(y)
            x = np.empty((len(y), spec.frame_len), np.complex64)
            x[order] = generate(spec, fe, y[order], rng, scene=sc, times=np.arange(len(y)) * dt)
            if span_s:              # x[order[t]] is at time t: each beam's frames in time order (y is grouped by beam)
                t_of = np.empty(len(y), np.int64)
                t_of[order] = np.arange(len(y))
                x = x[np.lexsort((t_of, y))]
            x = to_tensor(x)
            if aug:
                x = augment(x, gen, per_frame_scale=sc is None)
            out.append(enc.features(x).numpy().reshape(spec.beams, per_beam, -1))
    return np.stack(out)


def training_recordings(spec: ArraySpec, cfg: "ProtoConfig", rng):
    """The bank's (front ends, scenes): front end i is ``rand-i`` or ``hrand-i``; a share
    ``scene_fraction`` of them is seen through a random scene of a training family."""
    from sdrkit.tasks.beam.channels import TRAIN_FAMILIES, random_scene

    fes, scenes = [], []
    fam = [f for f in TRAIN_FAMILIES if f != "sdrkit"]
    for i in range(cfg.train_front_ends):
        harsh = rng.random() < cfg.harsh_fraction
        fes.append(get_front_end(f"{'hrand' if harsh else 'rand'}-{i}", spec.elements))
        scenes.append(random_scene(fam[rng.integers(len(fam))], rng, doppler_max_hz=cfg.doppler_max_hz,
                                   drift_max=cfg.drift_max_deg_s) if rng.random() < cfg.scene_fraction else None)
    return fes, scenes


def train_protobeam(spec: ArraySpec, cfg: ProtoConfig, per_beam: int = 16, log=print):
    """Episodic training (Algorithm 1) on a bank of training front ends; returns (encoder, history)."""
    import torch
    import torch.nn.functional as F

    from sdrkit.nn.beam import build_encoder

    from sdrkit.errors import ConfigError

    if per_beam < cfg.k_shot + cfg.n_query or cfg.n_way > spec.beams:
        raise ConfigError(f"--per-beam {per_beam} must be >= k_shot + n_query = {cfg.k_shot + cfg.n_query} and "
                          f"n_way {cfg.n_way} <= beams {spec.beams}")
    if cfg.temporal_split and (per_beam // 2 < cfg.k_shot or per_beam - per_beam // 2 < cfg.n_query):
        raise ConfigError(f"--per-beam {per_beam} with the temporal split needs k_shot {cfg.k_shot} frames in the "
                          f"earlier half and n_query {cfg.n_query} in the later: use --per-beam >= "
                          f"{2 * max(cfg.k_shot, cfg.n_query)}")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    enc = build_encoder(preamble(spec), spec.frame_len, emb_dim=cfg.emb_dim, normalize_input=cfg.data_norm,
                        template=cfg.template)
    t0, c0 = time.perf_counter(), time.process_time()
    if cfg.scene_fraction or cfg.harsh_fraction:
        fes, scenes = training_recordings(spec, cfg, rng)
    else:
        fes, scenes = [get_front_end(f"rand-{i}", spec.elements) for i in range(cfg.train_front_ends)], None
    bank = torch.from_numpy(feature_bank(enc, spec, fes, per_beam, rng, cfg.augment, gen, scenes=scenes,
                                         span_s=cfg.bank_span_s if cfg.temporal_split else None))
    log(f"feature bank {tuple(bank.shape)} in {time.perf_counter() - t0:.0f}s")
    params = list(enc.bn.parameters()) + list(enc.mlp.parameters())
    if cfg.template:
        params.append(enc.tmpl_weight)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    hist = []
    K, Q, Nw, E = cfg.k_shot, cfg.n_query, cfg.n_way, cfg.episodes_per_step
    tgt = torch.arange(Nw).repeat_interleave(Q)
    enc.train()
    for step in range(cfg.steps):
        fi = torch.from_numpy(rng.integers(cfg.train_front_ends, size=E))
        cls = torch.from_numpy(np.stack([rng.choice(spec.beams, Nw, replace=False) for _ in range(E)]))
        if cfg.temporal_split:      # support from the earlier half of each beam's frames, queries from the later
            h = per_beam // 2
            sh = torch.from_numpy(np.stack([[np.concatenate([rng.permutation(h)[:K], h + rng.permutation(per_beam - h)[:Q]])
                                             for _ in range(Nw)] for _ in range(E)]))
        else:
            sh = torch.from_numpy(np.stack([[rng.permutation(per_beam)[:K + Q] for _ in range(Nw)]
                                            for _ in range(E)]))
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
        if cfg.ordinal_weight:
            cap = cfg.ordinal_cap
            dist = (cls[:, :, None] - cls[:, None, :]).abs().clamp(max=cap).float() / cap   # (E, Nw, Nw)
            cost = dist[:, tgt]                                                      # (E, NwQ, Nw)
            loss = loss + cfg.ordinal_weight * (lg.softmax(-1) * cost).sum(-1).mean()
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
                 "train_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                 "threads": torch.get_num_threads(), "bank_shape": list(bank.shape)}


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
