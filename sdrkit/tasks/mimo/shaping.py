"""How much any learned link could gain on a fixed channel: a directly optimized constellation.

The benchmarking literature (Song et al.) finds that learned MIMO links gain mostly through
geometric shaping. On a fixed, known channel ``H`` the best an end-to-end link can do at a given
Es/N0 is (close to) the best ``2^(k N_T)``-point codebook with ML detection: no receiver beats ML
on its own constellation. :func:`optimized_codebook` searches for that codebook directly: the
points ``x_m`` (``N_T`` complex values each) and, implicitly, their labels move to minimize the
union bound on the bit error rate of ML detection through ``H``,

    BER <= 1/(M n) sum_m sum_{m' != m} d_H(m, m') Q( ||H (x_m - x_m')|| / sqrt(2 N0) ),

with ``N0 = P / (Es/N0)`` and ``P`` the codebook's measured power (the sdrkit convention,
:mod:`sdrkit.dsp.mimo`), so scaling the points cannot lower it. Starts: the Gray QAM product
codebook and perturbed copies of it (random starts end in worse local minima). The result is a
reference point for the learned models' curves, not a proof of optimality.
"""

from __future__ import annotations

import math

import numpy as np


def union_bound_ber(x, h, labels, es_n0_db: float):
    """The ML union bound on BER of codebook ``x`` (torch, ``(M, N_T)`` complex) through ``h``."""
    import torch

    m, nbits = labels.shape
    power = (x.abs() ** 2).sum(1).mean() / x.shape[1]
    n0 = power / 10 ** (es_n0_db / 10)
    r = x @ h.T
    d = (r[:, None, :] - r[None, :, :]).abs().pow(2).sum(-1).clamp_min(1e-30).sqrt()
    q = 0.5 * torch.erfc(d / torch.sqrt(2 * n0) / math.sqrt(2)) * (1 - torch.eye(m, dtype=d.dtype))
    ham = (labels[:, None, :] != labels[None, :, :]).sum(-1).to(d.dtype)
    return (q * ham).sum() / (m * nbits)


def optimized_codebook(h: np.ndarray, k: int, es_n0_db: float, starts: int = 8, steps: int = 3000,
                       seed: int = 0) -> dict:
    """The best codebook found for ``h`` (``(N_R, N_T)``) and ``k`` bits per antenna at ``es_n0_db``.

    Returns:
        ``{"codebook": (M, N_T) complex, "labels": (M, k N_T) uint8, "power": float,
        "union_bound": float, "qam_union_bound": float, "start": int}``; start 0 is the Gray
        product codebook itself, start ``i`` > 0 that codebook plus noise of scale ``0.05 + 0.02 i``.
    """
    import torch

    from sdrkit.dsp.mimo import QAM, product_codebook

    n_t = h.shape[1]
    cb0, lab = product_codebook(QAM(k), n_t)
    ht = torch.tensor(h, dtype=torch.complex128)
    labels = torch.tensor(lab, dtype=torch.int64)
    base = torch.tensor(cb0, dtype=torch.complex128)
    gen = torch.Generator().manual_seed(seed)
    best = None
    for i in range(starts):
        x0 = base.clone()
        if i:
            noise = torch.randn(base.shape + (2,), generator=gen, dtype=torch.float64)
            x0 = x0 + (0.05 + 0.02 * i) * torch.complex(noise[..., 0], noise[..., 1])
        p = x0.requires_grad_(True)
        opt = torch.optim.Adam([p], lr=0.01)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            opt.zero_grad()
            loss = union_bound_ber(p, ht, labels, es_n0_db)
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            v = float(union_bound_ber(p, ht, labels, es_n0_db))
        if best is None or v < best[0]:
            best = (v, p.detach().numpy().copy(), i)
    cb = best[1]
    return {"codebook": cb, "labels": lab, "power": float((np.abs(cb) ** 2).sum(1).mean() / n_t),
            "union_bound": best[0], "start": best[2],
            "qam_union_bound": float(union_bound_ber(base, ht, labels, es_n0_db))}
