"""AirNet student: a compact, BatchNorm-free AMC classifier built to be sent over the air.

The network's learned parameters are exactly what :mod:`sdrkit.dsp.weights_link` transmits,
so it is designed for that:

* **no BatchNorm** (nothing to fold, no running statistics to send): four Conv1d+ReLU blocks,
  each with a bias, then global average+max pooling, FC64, FC to the classes;
* the fixed front end is architecture, not weights: unit-RMS normalization, the I/Q power
  features of :func:`sdrkit.nn.amc.features` and the amplitude histograms of
  :class:`sdrkit.nn.amc.AmpHistogram` (buffers, identical at both ends, never sent);
* the conv widths are constructor arguments, so a pruned network is a smaller instance of the
  same architecture (``widths`` in the model card rebuilds it); :func:`prune_filters` removes
  whole filters (structured pruning: no mask to send).

Input: float32 ``(batch, 2, frame_len)`` I and Q rows, any level.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sdrkit.nn import register_model
from sdrkit.nn.amc import AmpHistogram, GlobalPool, features, normalize

#: (kernel, stride, pool) of the four conv blocks; input rows are the 7 feature rows
CONV_SPECS = ((7, 4, 1), (5, 2, 2), (5, 1, 2), (3, 1, 1))
DEFAULT_WIDTHS = (16, 32, 32, 48)
HIST_GAIN = 4.0      # histograms sum to ~1 over 12 bins: x4 puts them near the conv features' scale


@register_model("airnet_student", example=lambda: ({"n_classes": 11, "widths": [4, 6, 6, 8]}, (2, 2, 1024)))
class AirStudent(nn.Module):
    """The compact AMC classifier (~23k parameters at the default widths).

    Args:
        n_classes: output classes.
        widths: output channels of the four conv blocks.
        hidden: width of the hidden fully connected layer.
    """

    def __init__(self, n_classes: int = 11, widths=DEFAULT_WIDTHS, hidden: int = 64):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != len(CONV_SPECS) or min(widths) < 1:
            raise ValueError(f"widths {widths} must be {len(CONV_SPECS)} positive integers")
        self.widths, self.n_classes, self.hidden = widths, int(n_classes), int(hidden)
        self.hist = AmpHistogram()
        cin = 7
        self.convs = nn.ModuleList()
        for w, (k, s, _) in zip(widths, CONV_SPECS):
            self.convs.append(nn.Conv1d(cin, w, k, stride=s, padding=k // 2))
            cin = w
        self.pool = GlobalPool()
        self.fc1 = nn.Linear(2 * widths[-1] + self.hist.dim, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def front(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed front end (no learned weights): ``(feature rows, scaled histograms)``."""
        x = normalize(x)
        return features(x), self.hist(x) * HIST_GAIN

    def forward(self, x: torch.Tensor, hist: torch.Tensor | None = None) -> torch.Tensor:
        """Logits. ``x``: raw ``(B, 2, N)`` frames, or with ``hist`` given, the front end's output
        ``(features, hist)`` computed once (evaluation over many received weight sets)."""
        z, h = self.front(x) if hist is None else (x, hist)
        for conv, (_, _, pool) in zip(self.convs, CONV_SPECS):
            z = torch.relu(conv(z))
            if pool > 1:
                z = nn.functional.max_pool1d(z, pool)
        z = torch.cat([self.pool(z), h], dim=1)
        return self.fc2(torch.relu(self.fc1(z)))


def weight_names(net: nn.Module) -> list[str]:
    """The learned parameters, in transmission order (``named_parameters`` order)."""
    return [n for n, _ in net.named_parameters()]


def filter_l1(net: AirStudent) -> list[np.ndarray]:
    """L1 norm of every conv filter (over its input channels and taps), per conv layer."""
    return [c.weight.detach().abs().sum(dim=(1, 2)).numpy() for c in net.convs]


def prune_plan(net: AirStudent, fraction: float = 0.1) -> list[np.ndarray]:
    """Filters to remove per conv layer: the ``fraction`` (rounded, at least one while more than
    two remain) with the smallest L1 norm (Li et al.'s criterion, applied per layer).

    Returns:
        sorted filter indices per conv layer.
    """
    plan = []
    for norms in filter_l1(net):
        n = len(norms)
        k = int(round(fraction * n))
        k = max(k, 1 if n > 2 else 0)
        plan.append(np.sort(np.argsort(norms, kind="stable")[:k]))
    return plan


def prune_filters(net: AirStudent, remove: list) -> AirStudent:
    """A new, smaller :class:`AirStudent` without the given conv filters.

    Removing filter ``j`` of conv ``i`` deletes row ``j`` of its weight and bias and input
    channel ``j`` of conv ``i+1`` (for the last conv: columns ``j`` and ``C + j`` of fc1, the
    average- and max-pooled copies). The result computes exactly what ``net`` computes with those
    filters' weights and biases set to zero.

    Args:
        remove: per conv layer, the filter indices to delete.
    """
    keep = [np.setdiff1d(np.arange(c.out_channels), np.asarray(r, int)) for c, r in zip(net.convs, remove)]
    if any(len(k) == 0 for k in keep):
        raise ValueError(f"pruning {[len(r) for r in remove]} filters would empty a layer of {net.widths}")
    new = AirStudent(net.n_classes, [len(k) for k in keep], net.hidden)
    with torch.no_grad():
        prev = torch.arange(7)
        for i, (old, neu) in enumerate(zip(net.convs, new.convs)):
            k = torch.as_tensor(keep[i])
            neu.weight.copy_(old.weight[k][:, prev])
            neu.bias.copy_(old.bias[k])
            prev = k
        c = net.widths[-1]
        cols = torch.cat([prev, prev + c, torch.arange(2 * c, net.fc1.in_features)])
        new.fc1.weight.copy_(net.fc1.weight[:, cols])
        new.fc1.bias.copy_(net.fc1.bias)
        new.fc2.load_state_dict(net.fc2.state_dict())
    return new


def count_weights(net: nn.Module) -> int:
    """Learned parameters (what is transmitted)."""
    return int(sum(p.numel() for p in net.parameters()))
