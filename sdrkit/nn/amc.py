"""Early-exit 1-D CNNs for automatic modulation classification.

The backbone follows the shape of the early-exit AMC paper's network (a stack of 1-D
convolution blocks with pooling, then fully connected layers FC-FC-classes), scaled for
1024-sample frames on a CPU. An exit branch can hang after conv block 1, 2, 3 or 5 (the
paper's four placements, named V0..V3 here as ``exit_after`` = 1, 2, 3, 5).

The model splits in two at the exit, for the entropy-gated runtime:

* ``stem``: input -> features at the exit point, and the exit head's logits;
* ``rest``: those features -> the backbone's logits.

Input: float32 ``(batch, 2, frame_len)`` (I and Q rows), normalized to unit RMS per frame
by :func:`normalize` (the model card records this).
"""

from __future__ import annotations

import torch
from torch import nn

EXIT_PLACEMENTS = {"V0": 1, "V1": 2, "V2": 3, "V3": 5}

# (in, out, kernel, pool) per conv block; the first takes the 7 feature rows of :func:`features`
BLOCKS = [(7, 16, 7, 2), (16, 32, 5, 2), (32, 48, 5, 2), (48, 64, 3, 1), (64, 64, 3, 2), (64, 64, 3, 1)]


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Scale each frame to unit RMS (over I and Q)."""
    rms = torch.sqrt(torch.mean(x * x, dim=(1, 2), keepdim=True) * 2 + 1e-12)
    return x / rms


def features(x: torch.Tensor) -> torch.Tensor:
    """(B, 2, N) unit-RMS I/Q -> (B, 7, N): I, Q, |x|, Re/Im of x^2 and of x^4 / 2.

    The squared and fourth-power rows turn BPSK, QPSK and QAM constellations into tones and
    8PSK into noise, whatever the carrier phase: the statistics that separate PSK orders and
    QAM sizes, handed to the first layer instead of learned from scratch. Plain multiplies,
    so the ONNX graph computes them too.
    """
    i, q = x[:, 0:1], x[:, 1:2]
    i2, q2, iq = i * i, q * q, i * q
    re2, im2 = i2 - q2, 2 * iq
    re4, im4 = re2 * re2 - im2 * im2, 2 * re2 * im2
    amp = torch.sqrt(i2 + q2 + 1e-12)
    return torch.cat([i, q, amp, re2, im2, 0.5 * re4, 0.5 * im4], dim=1)


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, pool: int):
        layers = [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
        if pool > 1:
            layers.append(nn.MaxPool1d(pool))
        super().__init__(*layers)


class GlobalPool(nn.Module):
    """Concatenated global average and max pooling over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)


class ExitHead(nn.Sequential):
    """Cheap classifier on intermediate features: conv (stride 4) -> global pool -> linear.

    Its cost is what every non-exiting frame pays on top of the backbone, so it stays small
    (about 4% of the backbone after block 1).
    """

    def __init__(self, cin: int, n_classes: int, width: int = 32):
        super().__init__(nn.Conv1d(cin, width, 5, stride=4, padding=2), nn.ReLU(inplace=True), GlobalPool(),
                         nn.Linear(2 * width, n_classes))


class Backbone(nn.Module):
    """Conv blocks -> global pool -> FC128 -> FC64 -> classes."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.blocks = nn.ModuleList(ConvBlock(*b) for b in BLOCKS)
        c = BLOCKS[-1][1]
        self.head = nn.Sequential(GlobalPool(), nn.Linear(2 * c, 128), nn.ReLU(inplace=True), nn.Linear(128, 64),
                                  nn.ReLU(inplace=True), nn.Linear(64, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.head(x)


class EarlyExitNet(nn.Module):
    """Backbone plus exit heads after the given conv blocks (any of 1, 2, 3, 5).

    Training all four placements on one backbone lets one run measure every variant;
    :class:`Stem` / :class:`Rest` export one chosen placement.
    """

    def __init__(self, n_classes: int, exits=(1, 2, 3, 5), normalize_input: bool = True):
        super().__init__()
        bad = [e for e in exits if e not in EXIT_PLACEMENTS.values()]
        if bad:
            raise ValueError(f"exit placements {bad} not in {sorted(EXIT_PLACEMENTS.values())}")
        self.backbone = Backbone(n_classes)
        self.exits = nn.ModuleDict({str(e): ExitHead(BLOCKS[e - 1][1], n_classes) for e in exits})
        self.normalize_input = normalize_input
        self.input_bn = nn.BatchNorm1d(BLOCKS[0][0])

    def forward(self, x: torch.Tensor) -> dict:
        """``{"backbone": logits, "1": exit-1 logits, ...}``."""
        if self.normalize_input:
            x = normalize(x)
        x = self.input_bn(features(x))
        out = {}
        for i, b in enumerate(self.backbone.blocks, start=1):
            x = b(x)
            if str(i) in self.exits:
                out[str(i)] = self.exits[str(i)](x)
        out["backbone"] = self.backbone.head(x)
        return out

    def stem_features(self, x: torch.Tensor, exit_after: int) -> torch.Tensor:
        if self.normalize_input:
            x = normalize(x)
        x = self.input_bn(features(x))
        for b in self.backbone.blocks[:exit_after]:
            x = b(x)
        return x

    def rest(self, f: torch.Tensor, exit_after: int) -> torch.Tensor:
        for b in self.backbone.blocks[exit_after:]:
            f = b(f)
        return self.backbone.head(f)


class Stem(nn.Module):
    """Exportable first graph: input -> (exit logits, features at the exit)."""

    def __init__(self, net: EarlyExitNet, exit_after: int):
        super().__init__()
        self.net, self.k = net, exit_after

    def forward(self, x):
        f = self.net.stem_features(x, self.k)
        return self.net.exits[str(self.k)](f), f


class Rest(nn.Module):
    """Exportable second graph: features at the exit -> backbone logits."""

    def __init__(self, net: EarlyExitNet, exit_after: int):
        super().__init__()
        self.net, self.k = net, exit_after

    def forward(self, f):
        return self.net.rest(f, self.k)


class Full(nn.Module):
    """Exportable backbone-only graph: input -> backbone logits (the latency reference)."""

    def __init__(self, net: EarlyExitNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.rest(self.net.stem_features(x, 0), 0)
