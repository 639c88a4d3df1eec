"""Conditional WGAN-GP networks for per-packet KPIs (cWGAN-GP baseline and IL-GAN), and node freezing.

* :class:`KpiGenerator`: ``(z, label one-hot) -> KPI row``. Hidden layers Linear -> LeakyReLU(0.2)
  -> Dropout; heads: a sigmoid per continuous/integer feature (the value normalized to the label's
  range, seed Sec. V-B) and a Gumbel-softmax group per categorical feature (straight-through in
  training, hard one-hot). :class:`KpiSampler` is the exported graph.
* :class:`KpiCritic`: ``(row representation, label one-hot) -> score``, no batch norm: it would
  couple the samples of a batch and break the per-sample gradient penalty.
* :class:`NodeFreezer`: IL-GAN's incremental vertical freezing: after segment ``k`` the first
  ``frac`` of hidden layer ``k``'s output nodes (a seeded random choice) keep their incoming weights
  and biases fixed; the weights from the label inputs are never frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from sdrkit.nn import register_model


def _mlp(n_in: int, hidden: int, layers: int, dropout: float) -> nn.Sequential:
    mods = []
    d = n_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        d = hidden
    return nn.Sequential(*mods)


def _gen_example():
    return ({"n_labels": 4, "kinds": ["continuous", "categorical"], "n_categories": [0, 4], "latent": 8,
             "hidden": 16, "layers": 2}, (3, 12))


@register_model("kpi_generator", example=_gen_example)
class KpiGenerator(nn.Module):
    """Generator of KPI rows conditioned on a segment label.

    Args:
        n_labels: segments (labels).
        kinds: per feature ``continuous``, ``integer`` or ``categorical``.
        n_categories: per feature, categories (0 for non-categorical).
        latent: latent size (seed Table II: 100).
        hidden, layers: hidden width and depth (seed: 200 x 5).
        dropout: dropout after every hidden layer (seed: 0.33).
        tau: Gumbel-softmax temperature.

    ``forward(z)`` with ``z`` ``(B, latent + n_labels)`` (the example input) returns the training
    representation: per continuous feature one value in [0, 1], per categorical feature a one-hot
    group.
    """

    def __init__(self, n_labels: int, kinds, n_categories, latent: int = 100, hidden: int = 200, layers: int = 5,
                 dropout: float = 0.33, tau: float = 0.5, **_):
        super().__init__()
        self.n_labels, self.latent, self.tau = int(n_labels), int(latent), float(tau)
        self.kinds, self.n_categories = list(kinds), [int(c) for c in n_categories]
        self.body = _mlp(latent + n_labels, hidden, layers, dropout)
        self.widths = [c if k == "categorical" else 1 for k, c in zip(self.kinds, self.n_categories)]
        self.head = nn.Linear(hidden, sum(self.widths))

    @property
    def repr_width(self) -> int:
        return sum(self.widths)

    def linears(self) -> list[nn.Linear]:
        """The Linear layers, input first (the head last)."""
        return [m for m in self.body if isinstance(m, nn.Linear)] + [self.head]

    def forward(self, zl: torch.Tensor, hard: bool = True) -> torch.Tensor:
        raw = self.head(self.body(zl))
        out, i = [], 0
        for k, w in zip(self.kinds, self.widths):
            r = raw[:, i:i + w]
            i += w
            if k == "categorical":
                u = torch.rand_like(r).clamp(1e-9, 1 - 1e-9)
                y = torch.softmax((r - torch.log(-torch.log(u))) / self.tau, dim=1)
                if hard:
                    y = (nn.functional.one_hot(y.argmax(1), w).to(y.dtype) - y).detach() + y
                out.append(y)
            else:
                out.append(torch.sigmoid(r))
        return torch.cat(out, dim=1)


def _critic_example():
    return ({"n_in": 5, "n_labels": 4, "hidden": 16, "layers": 2}, (3, 9))


@register_model("kpi_critic", example=_critic_example)
class KpiCritic(nn.Module):
    """WGAN critic: ``(B, n_in + n_labels)`` (representation, label one-hot) -> ``(B, 1)``; no batch norm."""

    def __init__(self, n_in: int, n_labels: int, hidden: int = 200, layers: int = 5, dropout: float = 0.33, **_):
        super().__init__()
        self.body = _mlp(n_in + n_labels, hidden, layers, dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class KpiSampler(nn.Module):
    """The exported graph: ``(z (B, latent), label (B,) int64, gumbel (B, G)) -> rows (B, F)``: per continuous
    or integer feature the normalized value in [0, 1] (the sigmoid output), per categorical feature the
    category index; ``G`` = total categories (>= 1). The inverse normalization (a table per label and
    feature) is applied outside the graph (:class:`sdrkit.tasks.kpi.train.Encoding`)."""

    def __init__(self, gen: KpiGenerator):
        super().__init__()
        self.gen = gen

    def forward(self, z: torch.Tensor, label: torch.Tensor, gumbel: torch.Tensor) -> torch.Tensor:
        g = self.gen
        onehot = nn.functional.one_hot(label, g.n_labels).to(z.dtype)
        raw = g.head(g.body(torch.cat([z, onehot], dim=1)))
        cols, i, gi = [], 0, 0
        for k, w in zip(g.kinds, g.widths):
            r = raw[:, i:i + w]
            i += w
            if k == "categorical":
                cols.append(torch.argmax(r + gumbel[:, gi:gi + w], dim=1, keepdim=True).to(z.dtype))
                gi += w
            else:
                cols.append(torch.sigmoid(r))
        return torch.cat(cols, dim=1)


class NodeFreezer:
    """Incremental vertical freezing of a generator's hidden layers (IL-GAN, seed Sec. III-B).

    ``freeze(k)`` fixes ``frac`` of the output nodes of Linear layer ``k`` (0 = the input layer):
    their weight rows and biases keep their current values through every later optimizer step
    (:meth:`restore` after each step; Adam's moments would move them otherwise). In layer 0 the
    columns fed by the label one-hot (the last ``n_labels`` inputs) stay trainable.
    """

    def __init__(self, gen: KpiGenerator, frac: float = 0.75, seed: int = 0):
        self.gen, self.frac = gen, float(frac)
        self.gen_rng = torch.Generator().manual_seed(seed)
        self.frozen: list[tuple[nn.Linear, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.layers_frozen: list[int] = []

    def freeze(self, k: int) -> int:
        """Freeze ``frac`` of Linear layer ``k``'s nodes; returns how many nodes (0 past the hidden layers)."""
        lins = self.gen.linears()[:-1]          # the head (output layer) is never frozen
        if k >= len(lins) or k in self.layers_frozen:
            return 0
        lin = lins[k]
        n_out = lin.out_features
        rows = torch.randperm(n_out, generator=self.gen_rng)[: int(round(self.frac * n_out))]
        wmask = torch.zeros_like(lin.weight, dtype=torch.bool)
        wmask[rows] = True
        if k == 0:
            wmask[:, lin.in_features - self.gen.n_labels:] = False    # label weights never frozen
        bmask = torch.zeros_like(lin.bias, dtype=torch.bool)
        bmask[rows] = True
        self.frozen.append((lin, wmask, lin.weight.detach().clone(), bmask, lin.bias.detach().clone()))
        self.layers_frozen.append(k)
        return len(rows)

    def zero_grads(self) -> None:
        for lin, wm, _, bm, _ in self.frozen:
            if lin.weight.grad is not None:
                lin.weight.grad[wm] = 0
            if lin.bias.grad is not None:
                lin.bias.grad[bm] = 0

    @torch.no_grad()
    def restore(self) -> None:
        for lin, wm, wv, bm, bv in self.frozen:
            lin.weight[wm] = wv[wm]
            lin.bias[bm] = bv[bm]
