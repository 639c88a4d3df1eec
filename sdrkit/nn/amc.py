"""Early-exit 1-D CNNs for automatic modulation classification.

The backbone follows the shape of the early-exit AMC paper's network (a stack of 1-D
convolution blocks with pooling, then fully connected layers FC-FC-classes), scaled for
1024-sample frames on a CPU. An exit branch can hang after conv block 1, 2, 3 or 5 (the
paper's four placements, named V0..V3 here as ``exit_after`` = 1, 2, 3, 5).

The model splits in two at the exit, for the entropy-gated runtime:

* ``stem``: input -> features at the exit point, and the exit head's logits;
* ``rest``: those features -> the backbone's logits.

Besides the convolutions, every head sees soft amplitude histograms of the frame at four
bandwidths (:class:`AmpHistogram`): the ring structure that tells QAM16 from QAM64, which
the convolutions did not learn in the CPU training budget (without them QAM16 and QAM64
stayed confused even at 30 dB). The stem computes them once; they travel to the rest graph packed as
extra rows of the feature tensor (:func:`pack`), so the rest graph keeps its single input.

Input: float32 ``(batch, 2, frame_len)`` (I and Q rows), normalized to unit RMS per frame
by :func:`normalize` (the model card records this).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sdrkit.nn import register_model

EXIT_PLACEMENTS = {"V0": 1, "V1": 2, "V2": 3, "V3": 5}

# (in, out, kernel, pool, stride) per conv block; the first takes the 7 feature rows of
# :func:`features` and halves the length by its stride rather than by pooling: at full rate a
# max-pool costs onnxruntime a third of what the conv does, and block 1 is paid by every frame
BLOCKS = [(7, 16, 7, 1, 2), (16, 32, 5, 2, 1), (32, 48, 5, 2, 1), (48, 64, 3, 1, 1), (64, 64, 3, 2, 1),
          (64, 64, 3, 1, 1)]


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
    def __init__(self, cin: int, cout: int, k: int, pool: int, stride: int = 1):
        layers = [nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm1d(cout),
                  nn.ReLU(inplace=True)]
        if pool > 1:
            layers.append(nn.MaxPool1d(pool))
        super().__init__(*layers)


class GlobalPool(nn.Module):
    """Concatenated global average and max pooling over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)


def _lowpass(taps: int, cutoff: float) -> np.ndarray:
    """Hamming-windowed sinc, ``cutoff`` in cycles/sample, unit DC gain."""
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff * n) * np.hamming(taps)
    return h / h.sum()


class AmpHistogram(nn.Module):
    """Soft histograms of the unit-RMS amplitude at several bandwidths.

    Version ``i`` low-pass filters I and Q (cutoff 0.45/stride of the sample rate, so it
    keeps a signal of that many samples per symbol and averages the noise outside it),
    decimates by ``stride`` (version 0: every other raw sample, no filter), renormalizes the
    amplitude to unit RMS and counts it into ``bins`` triangular bins of width ``d`` over
    [0, top]. Constellation rings (QAM16: 3, QAM64: 9) show as peaks whatever the carrier
    phase and frequency offset.

    The bins are computed as second differences of ramps, ``hat_j = r_{j-1} - 2 r_j + r_{j+1}``
    with ``r_j = mean(relu((a - c_j) / d))``: one 1x1 convolution with a fused ReLU and a mean
    per version in onnxruntime, instead of five elementwise passes. Output
    ``(B, len(strides) * bins)``, each histogram summing to ~1.
    """

    def __init__(self, bins: int = 12, strides=(2, 2, 4, 8), taps=(1, 9, 17, 33), top: float = 2.0):
        super().__init__()
        self.strides, self.taps = tuple(strides), tuple(taps)
        self.dim = bins * len(self.strides)
        for i, (s, t) in enumerate(zip(self.strides, taps)):
            h = torch.tensor(_lowpass(t, 0.45 / s), dtype=torch.float32).view(1, 1, -1).repeat(2, 1, 1)
            self.register_buffer(f"h{i}", h)
        d = top / (bins - 1)
        centers = torch.arange(-1, bins + 1, dtype=torch.float32) * d
        self.register_buffer("ramp_w", torch.full((bins + 2, 1, 1), 1 / d))
        self.register_buffer("ramp_b", -centers / d)
        diff = torch.zeros(bins + 2, bins)
        for j in range(bins):
            diff[j, j], diff[j + 1, j], diff[j + 2, j] = 1.0, -2.0, 1.0
        self.register_buffer("diff", diff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for i, (s, t) in enumerate(zip(self.strides, self.taps)):
            if t == 1:
                y = x[..., ::s]
            else:
                y = nn.functional.conv1d(x, getattr(self, f"h{i}"), stride=s, padding=t // 2, groups=2)
            a2 = y[:, 0:1] * y[:, 0:1] + y[:, 1:2] * y[:, 1:2]
            a = torch.sqrt(a2 / (a2.mean(dim=-1, keepdim=True) + 1e-12) + 1e-12)
            ramps = torch.relu(nn.functional.conv1d(a, self.ramp_w, self.ramp_b)).mean(dim=-1)
            out.append(ramps @ self.diff)
        return torch.cat(out, dim=1)


def pack(z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Append vector ``h`` (B, H) to feature map ``z`` (B, C, L) as ceil(H / L) zero-padded rows."""
    length = z.shape[-1]
    rows = (h.shape[1] + length - 1) // length       # ceil; positive operands (ONNX Div truncates)
    h = nn.functional.pad(h, (0, rows * length - h.shape[1]))
    return torch.cat([z, h.reshape(h.shape[0], rows, length)], dim=1)


def unpack(f: torch.Tensor, channels: int, hist_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack`: ``(z, h)``."""
    return f[:, :channels], f[:, channels:].flatten(1)[:, :hist_dim]


class ExitHead(nn.Module):
    """Cheap classifier on intermediate features and the amplitude histograms:
    conv (stride 4) -> global pool, concatenated with the histograms -> FC64 -> classes.

    Its cost is what every non-exiting frame pays on top of the backbone, so it stays small.
    """

    def __init__(self, cin: int, n_classes: int, hist_dim: int, width: int = 32):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(cin, width, 5, stride=4, padding=2), nn.ReLU(inplace=True), GlobalPool())
        self.fc = nn.Sequential(nn.Linear(2 * width + hist_dim, 64), nn.ReLU(inplace=True))
        self.out = nn.Linear(64, n_classes)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(torch.cat([self.conv(z), h], dim=1)))


class Head(nn.Module):
    """Backbone head: global pool, concatenated with the histograms -> FC128 -> FC64 -> classes."""

    def __init__(self, cin: int, n_classes: int, hist_dim: int):
        super().__init__()
        self.pool = GlobalPool()
        self.fc = nn.Sequential(nn.Linear(2 * cin + hist_dim, 128), nn.ReLU(inplace=True), nn.Linear(128, 64),
                                nn.ReLU(inplace=True))
        self.out = nn.Linear(64, n_classes)

    def embed(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The 64-d penultimate features."""
        return self.fc(torch.cat([self.pool(z), h], dim=1))

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(z, h))


class Backbone(nn.Module):
    """Conv blocks -> head (global pool + histograms -> FC128 -> FC64 -> classes)."""

    def __init__(self, n_classes: int, hist_dim: int):
        super().__init__()
        self.blocks = nn.ModuleList(ConvBlock(*b) for b in BLOCKS)
        self.head = Head(BLOCKS[-1][1], n_classes, hist_dim)


@register_model("amc_earlyexit", example=lambda: ({"n_classes": 11}, (2, 2, 1024)))
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
        self.hist = AmpHistogram()
        self.hist_bn = nn.BatchNorm1d(self.hist.dim)
        self.backbone = Backbone(n_classes, self.hist.dim)
        self.exits = nn.ModuleDict({str(e): ExitHead(BLOCKS[e - 1][1], n_classes, self.hist.dim) for e in exits})
        self.normalize_input = normalize_input
        self.input_bn = nn.BatchNorm1d(BLOCKS[0][0])

    def trunk(self, x: torch.Tensor, blocks: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw frames -> (features after the first ``blocks`` conv blocks, standardized histograms)."""
        if self.normalize_input:
            x = normalize(x)
        z, h = self.input_bn(features(x)), self.hist_bn(self.hist(x))
        for b in self.backbone.blocks[:blocks]:
            z = b(z)
        return z, h

    def forward(self, x: torch.Tensor) -> dict:
        """``{"backbone": logits, "1": exit-1 logits, ...}``."""
        z, h = self.trunk(x, 0)
        out = {}
        for i, b in enumerate(self.backbone.blocks, start=1):
            z = b(z)
            if str(i) in self.exits:
                out[str(i)] = self.exits[str(i)](z, h)
        out["backbone"] = self.backbone.head(z, h)
        return out

    def stem_features(self, x: torch.Tensor, exit_after: int) -> torch.Tensor:
        """Packed features at the exit point (see :func:`pack`): what the rest graph takes."""
        return pack(*self.trunk(x, exit_after))

    def rest(self, f: torch.Tensor, exit_after: int) -> torch.Tensor:
        z, h = unpack(f, BLOCKS[exit_after - 1][1], self.hist.dim)
        for b in self.backbone.blocks[exit_after:]:
            z = b(z)
        return self.backbone.head(z, h)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's 64-d penultimate features."""
        return self.backbone.head.embed(*self.trunk(x, len(BLOCKS)))


class Stem(nn.Module):
    """Exportable first graph: input -> (exit logits, packed features at the exit)."""

    def __init__(self, net: EarlyExitNet, exit_after: int):
        super().__init__()
        self.net, self.k = net, exit_after

    def forward(self, x):
        z, h = self.net.trunk(x, self.k)
        return self.net.exits[str(self.k)](z, h), pack(z, h)


class Rest(nn.Module):
    """Exportable second graph: packed features at the exit -> backbone logits."""

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
        return self.net.backbone.head(*self.net.trunk(x, len(BLOCKS)))
