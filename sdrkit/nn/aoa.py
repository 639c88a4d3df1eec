"""Angle-of-arrival networks: a MobileNetV3-small-0.5 converted to 1-D (Conv1d, kernel 5).

Written natively (timm needs torchvision, which does not install beside sdrkit's torch).
The layout follows timm's ``mobilenetv3_small_050`` with every 2-D convolution made 1-D and
every non-pointwise kernel 5 (as the AoA authors' conversion): a 16-channel stem (stride 2),
11 blocks (one depthwise-separable, ten inverted residuals with squeeze-excitation where the
original has it, ReLU in the first stages and hard-swish after), a pointwise conv to 288
channels, global average pooling, a 288 -> 1024 pointwise ``conv_head`` with hard-swish, and
a linear layer to the two regressed angles (azimuth, elevation, degrees). With 8 input rows
(the I and Q of 4 antennas) it has 548,482 parameters, as the seed's model.

Input ``(batch, 2 * elements, frame_len)`` float32, rows ``I0, Q0, I1, Q1, ...``
(:func:`sdrkit.dsp.framing.to_model_input`). Inside the graph, before the stem, a fixed
(parameter-free) input stage (``front="refprod"``):

* normalize each frame to unit mean power over all channels;
* multiply every channel by the conjugate of channel 0 (``z_k = x_k conj(x_0)``): the carrier
  phase, the CFO and the waveform's own phase cancel, and the inter-element phase
  differences, which is where the direction lives, become slowly varying rows that a
  convolutional network averages easily. Rows stay ``Re z_0, Im z_0, Re z_1, ...`` (8 for 4
  antennas);
* average over ``pool`` (4) samples: a fixed decimation of those slowly varying rows, which
  cuts the network's MACs 4x (a CPU-budget choice, see docs/aoa.md).

``front="allpairs"``: the same normalization and decimation, but the rows are every product
``x_k conj(x_m)``, ``k < m`` (real and imaginary part), then the powers ``|x_k|^2``: ``E^2`` rows
(16 for 4 antennas), i.e. the whole instantaneous covariance, as MUSIC averages it. The reference
products of ``"refprod"`` hold only the ``E - 1`` baselines to channel 0; at low SNR the others
(for a 2x2 array: the second azimuth and elevation baselines and the anti-diagonal) carry as much
direction information again, and no network downstream can rebuild them from the reference rows.

``front="raw"`` feeds the normalized I/Q to the stem unchanged (the authors' setting).
"""

from __future__ import annotations

from sdrkit.nn import register_model


FRONTS = ("refprod", "allpairs", "raw")


def make_divisible(v: float, divisor: int = 8) -> int:
    """timm's channel rounding: nearest multiple of ``divisor``, never 10% below ``v``."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return int(new)


# (kind, kernel, stride, expansion, out channels before the 0.5 multiplier, SE, activation)
SMALL_BLOCKS = (
    ("ds", 5, 2, 1.0, 16, True, "relu"),
    ("ir", 5, 2, 4.5, 24, False, "relu"),
    ("ir", 5, 1, 3.67, 24, False, "relu"),
    ("ir", 5, 2, 4.0, 40, True, "hswish"),
    ("ir", 5, 1, 6.0, 40, True, "hswish"),
    ("ir", 5, 1, 6.0, 40, True, "hswish"),
    ("ir", 5, 1, 3.0, 48, True, "hswish"),
    ("ir", 5, 1, 3.0, 48, True, "hswish"),
    ("ir", 5, 2, 6.0, 96, True, "hswish"),
    ("ir", 5, 1, 6.0, 96, True, "hswish"),
    ("ir", 5, 1, 6.0, 96, True, "hswish"),
)


def _example():
    return {"in_channels": 8}, (2, 8, 256)


@register_model("aoa_mobilenetv3_small_1d", example=_example)
def build_mobilenetv3_1d(in_channels: int = 8, n_outputs: int = 2, width: float = 0.5, kernel: int = 5,
                         head_channels: int = 1024, drop_rate: float = 0.2, front: str = "refprod",
                         angle_scale: float = 60.0, pool: int = 4):
    """The 1-D MobileNetV3-small (module docstring) as a torch ``nn.Module``.

    Args:
        in_channels: input rows, ``2 * elements``.
        n_outputs: regressed values (2: azimuth, elevation).
        width: channel multiplier (0.5 = ``mobilenetv3_small_050``).
        kernel: kernel of every non-pointwise convolution.
        head_channels: ``conv_head`` width.
        drop_rate: dropout before the last linear layer (training only).
        front: "refprod" (reference-channel conjugate products) or "raw".
        angle_scale: the network regresses angles / angle_scale; the graph outputs degrees.
        pool: average the input stage's output over ``pool`` samples before the stem (a fixed
            decimation: the conjugate products vary slowly, and it cuts the MACs ``pool`` times).

    Returns:
        ``nn.Module``: ``(B, in_channels, N)`` -> ``(B, n_outputs)`` degrees.
    """
    import torch
    from torch import nn

    from sdrkit.errors import ConfigError

    if front not in FRONTS or in_channels % 2:
        raise ConfigError(f"front {front!r} must be one of {', '.join(FRONTS)} and in_channels {in_channels} "
                          f"even (I/Q)")
    elements = in_channels // 2
    pairs = [(k, m) for k in range(elements) for m in range(k + 1, elements)]
    stem_in = elements * elements if front == "allpairs" else in_channels

    def act(name):
        return nn.ReLU() if name == "relu" else nn.Hardswish()

    class SqueezeExcite(nn.Module):
        def __init__(self, ch):
            super().__init__()
            rd = make_divisible(ch * 0.25)
            self.conv_reduce = nn.Conv1d(ch, rd, 1)
            self.act = nn.ReLU()
            self.conv_expand = nn.Conv1d(rd, ch, 1)
            self.gate = nn.Hardsigmoid()     # relu6(x + 3) / 6: one ONNX node (HardSigmoid)

        def forward(self, x):
            s = x.mean(2, keepdim=True)
            return x * self.gate(self.conv_expand(self.act(self.conv_reduce(s))))

    def conv_bn(cin, cout, k, s=1, groups=1, a=None):
        layers = [nn.Conv1d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm1d(cout)]
        if a:
            layers.append(act(a))
        return nn.Sequential(*layers)

    class DepthwiseSeparable(nn.Module):
        def __init__(self, cin, cout, k, s, se, a):
            super().__init__()
            self.conv_dw = conv_bn(cin, cin, k, s, groups=cin, a=a)
            self.se = SqueezeExcite(cin) if se else nn.Identity()
            self.conv_pw = conv_bn(cin, cout, 1)
            self.residual = s == 1 and cin == cout

        def forward(self, x):
            y = self.conv_pw(self.se(self.conv_dw(x)))
            return x + y if self.residual else y

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, k, s, exp, se, a):
            super().__init__()
            mid = make_divisible(cin * exp)
            self.conv_pw = conv_bn(cin, mid, 1, a=a)
            self.conv_dw = conv_bn(mid, mid, k, s, groups=mid, a=a)
            self.se = SqueezeExcite(mid) if se else nn.Identity()
            self.conv_pwl = conv_bn(mid, cout, 1)
            self.residual = s == 1 and cin == cout

        def forward(self, x):
            y = self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
            return x + y if self.residual else y

    class RefProduct(nn.Module):
        """Unit-power frames, every channel times conj(channel 0) (module docstring)."""

        def forward(self, x):
            # the products first, then one scale: z_k / (2 P) with P the frame's mean power per
            # row (the same as normalizing x to unit power first); no shape-dependent ops, so the
            # graph's input stage is a dozen nodes (batch-1 latency is mostly per-node overhead)
            p = torch.mean(x * x, dim=(1, 2), keepdim=True)
            i, q = x[:, 0::2], x[:, 1::2]
            i0, q0 = x[:, 0:1], x[:, 1:2]
            re = i * i0 + q * q0
            im = q * i0 - i * q0
            z = torch.stack([re, im], dim=2).flatten(1, 2)
            return z / (p + 0.5e-12)

    class AllPairs(nn.Module):
        """Unit-power frames, every ``x_k conj(x_m)`` (k < m), then every ``|x_k|^2`` (module docstring)."""

        def __init__(self):
            super().__init__()
            self.register_buffer("a", torch.tensor([k for k, _ in pairs], dtype=torch.long), persistent=False)
            self.register_buffer("b", torch.tensor([m for _, m in pairs], dtype=torch.long), persistent=False)

        def forward(self, x):
            p = torch.mean(x * x, dim=(1, 2), keepdim=True)
            i, q = x[:, 0::2], x[:, 1::2]
            ia, qa, ib, qb = i[:, self.a], q[:, self.a], i[:, self.b], q[:, self.b]
            re = ia * ib + qa * qb
            im = qa * ib - ia * qb
            z = torch.cat([torch.stack([re, im], dim=2).flatten(1, 2), i * i + q * q], dim=1)
            return z / (p + 0.5e-12)

    class RawNorm(nn.Module):
        def forward(self, x):
            return x / torch.sqrt(torch.mean(x * x, dim=(1, 2), keepdim=True) * 2 + 1e-12)

    class MobileNetV3Small1D(nn.Module):
        def __init__(self):
            super().__init__()
            stage = {"refprod": RefProduct, "allpairs": AllPairs, "raw": RawNorm}[front]()
            self.front = nn.Sequential(stage,
                                       nn.AvgPool1d(pool) if pool > 1 else nn.Identity())
            stem = 16
            self.conv_stem = nn.Conv1d(stem_in, stem, kernel, 2, kernel // 2, bias=False)
            self.bn1 = nn.BatchNorm1d(stem)
            self.act1 = nn.Hardswish()
            blocks, cin = [], stem
            for kind, k, s, e, c, se, a in SMALL_BLOCKS:
                cout = make_divisible(c * width)
                k = kernel if k > 1 else 1
                blocks.append(DepthwiseSeparable(cin, cout, k, s, se, a) if kind == "ds"
                              else InvertedResidual(cin, cout, k, s, e, se, a))
                cin = cout
            last = make_divisible(576 * width)
            blocks.append(conv_bn(cin, last, 1, a="hswish"))
            self.blocks = nn.Sequential(*blocks)
            self.conv_head = nn.Conv1d(last, head_channels, 1, bias=True)
            self.act2 = nn.Hardswish()
            self.drop = nn.Dropout(drop_rate)
            self.classifier = nn.Linear(head_channels, n_outputs)
            self.register_buffer("angle_scale", torch.tensor(float(angle_scale)))

        def forward_scaled(self, x):
            """Angles / angle_scale (the training target)."""
            x = self.act1(self.bn1(self.conv_stem(self.front(x))))
            x = self.blocks(x)
            x = x.mean(2, keepdim=True)
            x = self.act2(self.conv_head(x)).flatten(1)
            return self.classifier(self.drop(x))

        def forward(self, x):
            return self.forward_scaled(x) * self.angle_scale

    return MobileNetV3Small1D()


def count_parameters(module) -> int:
    """Trainable and buffer-free parameter count of a torch module."""
    return int(sum(p.numel() for p in module.parameters()))
