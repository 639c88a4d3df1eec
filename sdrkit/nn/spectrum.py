"""Spectrum foundation model networks: a ConvLSTM backbone over spectrogram "radio tokens" and its heads.

Layout (see :mod:`sdrkit.dsp.masks` for the grid): a *sentence* is ``(batch, 1, rows, bins)``
float32, normalized dB (``(P - q05(P)) / 10`` per sentence (q05: 5th percentile)). It is cut along time into
``tokens = rows / token_rows`` *tokens* of ``token_rows`` rows. A stride-2 conv stem halves time
and frequency, so the ConvLSTM sees token ``t`` as a ``(bins/2, token_rows/2)`` image (frequency as
height) and runs over ``t``. Its last layer's hidden states ``(batch, tokens, filters, bins/2,
token_rows/2)`` are the features every head reads (heads upsample them x2, nearest).

* :class:`SpectrumMSM`: backbone + a 3x3 conv per token that reconstructs the (masked) tokens
  (masked spectrogram modelling; Aboulfotouh et al., arXiv 2411.09849).
* :class:`SpectrumForecaster`: backbone over the past tokens + a Conv3D head over the last
  ``context`` hidden states predicting the next ``horizon`` tokens.
* :class:`SpectrumSegmenter`: backbone + a 2-layer conv head on the features (and, as a skip,
  the input sentence itself) giving per-pixel class logits ``(batch, classes, rows, bins)``.

Each head has ``freeze_backbone()``; a frozen head trains on cached backbone features
(:meth:`ConvLSTMBackbone.forward`), so only the head runs forward and backward.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sdrkit.nn import register_model


class ConvLSTMLayer(nn.Module):
    """One ConvLSTM layer (Shi et al. 2015, no peepholes): gates from 3x3 convs of the input and the state.

    The input convolution runs over all tokens at once; only the state convolution is sequential.
    """

    def __init__(self, cin: int, filters: int, kernel: int = 3):
        super().__init__()
        self.filters = filters
        self.conv_x = nn.Conv2d(cin, 4 * filters, kernel, padding=kernel // 2)
        self.conv_h = nn.Conv2d(filters, 4 * filters, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        gx = self.conv_x(x.reshape(b * t, c, h, w)).reshape(b, t, 4 * self.filters, h, w)
        hs = []
        hcur = x.new_zeros(b, self.filters, h, w)
        ccur = x.new_zeros(b, self.filters, h, w)
        for k in range(t):
            g = gx[:, k] + self.conv_h(hcur) if k else gx[:, k]
            i, f, o, u = torch.chunk(g, 4, dim=1)
            ccur = torch.sigmoid(f) * ccur + torch.sigmoid(i) * torch.tanh(u)
            hcur = torch.sigmoid(o) * torch.tanh(ccur)
            hs.append(hcur)
        return torch.stack(hs, dim=1)


class ConvLSTMBackbone(nn.Module):
    """A stride-2 conv stem, then ``layers`` ConvLSTM layers of ``filters`` 3x3 kernels over the tokens.

    The stem (``stem`` 3x3 kernels, stride 2 in time and frequency) halves both axes, so a
    token of ``token_rows`` input rows is a ``(bins/2, token_rows/2)`` image to the ConvLSTM:
    4x fewer pixels, the scale-down that lets it train on a 2-core CPU (see the card).
    """

    def __init__(self, layers: int = 3, filters: int = 16, token_rows: int = 4, bins: int = 64, stem: int = 8):
        super().__init__()
        self.token_rows, self.bins, self.filters = token_rows, bins, filters
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, stride=2, padding=1), nn.ReLU())
        self.layers = nn.ModuleList(ConvLSTMLayer(stem if i == 0 else filters, filters) for i in range(layers))

    @staticmethod
    def split(x: torch.Tensor, rows_per_token: int) -> torch.Tensor:
        """``(B, C, rows, bins)`` -> ``(B, T, C, bins, rows_per_token)``."""
        b, c, r, f = x.shape
        return x.reshape(b, c, r // rows_per_token, rows_per_token, f).permute(0, 2, 1, 4, 3)

    @staticmethod
    def untokens(z: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, bins, w)`` -> ``(B, C, T * w, bins)``."""
        b, t, c, f, w = z.shape
        return z.permute(0, 2, 1, 4, 3).reshape(b, c, t * w, f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sentence ``(B, 1, rows, bins)`` -> features ``(B, T, filters, bins / 2, token_rows / 2)``."""
        z = self.split(self.stem(x), self.token_rows // 2)
        for layer in self.layers:
            z = layer(z)
        return z


def _up(z: torch.Tensor) -> torch.Tensor:
    """Features ``(B, T, C, bins/2, w)`` -> a full-resolution map ``(B, C, 2 * T * w, bins)``."""
    return nn.functional.interpolate(ConvLSTMBackbone.untokens(z), scale_factor=2.0, mode="nearest")


def _example(**extra):
    return lambda: ({"layers": 1, "filters": 4, **extra}, (2, 1, 16, 64))


@register_model("spectrum_msm", example=_example())
class SpectrumMSM(nn.Module):
    """Masked spectrogram modelling: reconstruct the whole sentence from the (masked) sentence."""

    def __init__(self, layers: int = 3, filters: int = 16, token_rows: int = 4, bins: int = 64):
        super().__init__()
        self.backbone = ConvLSTMBackbone(layers, filters, token_rows, bins)
        self.head = nn.Sequential(nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(), nn.Conv2d(filters, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_up(self.backbone(x)))


class _Head(nn.Module):
    def freeze_backbone(self) -> None:
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.backbone(x), x)


@register_model("spectrum_forecast", example=_example(horizon=2, context=2))
class SpectrumForecaster(_Head):
    """Past sentence ``(B, 1, rows, bins)`` -> the next ``horizon`` tokens ``(B, 1, horizon * token_rows, bins)``.

    Head: the last ``context`` tokens' features (upsampled) beside the same input rows, a 3x3
    conv, then a conv across frequency mapping those rows to the future rows; added to
    persistence (the last token repeated), so the head learns the change.
    """

    def __init__(self, layers: int = 3, filters: int = 16, token_rows: int = 4, bins: int = 64, horizon: int = 1,
                 context: int = 3, hidden: int = 8):
        super().__init__()
        self.backbone = ConvLSTMBackbone(layers, filters, token_rows, bins)
        self.horizon, self.context, self.hidden, self.token_rows = horizon, context, hidden, token_rows
        self.conv = nn.Sequential(nn.Conv2d(filters + 1, hidden, 3, padding=1), nn.ReLU())
        self.out = nn.Conv1d(hidden * context * token_rows, horizon * token_rows, 5, padding=2)

    def from_features(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r = self.context * self.token_rows
        h = self.conv(torch.cat([_up(z[:, -self.context:]), x[:, :, -r:]], dim=1))   # (B, hidden, r, bins)
        b, _, _, f = h.shape
        y = self.out(h.reshape(b, self.hidden * r, f)).unsqueeze(1)                  # (B, 1, horizon*rows, bins)
        return y + x[:, :, -self.token_rows:].repeat(1, 1, self.horizon, 1)


@register_model("spectrum_segment", example=_example(n_classes=3))
class SpectrumSegmenter(_Head):
    """Sentence ``(B, 1, rows, bins)`` -> per-pixel logits ``(B, n_classes, rows, bins)``."""

    def __init__(self, layers: int = 3, filters: int = 16, token_rows: int = 4, bins: int = 64, n_classes: int = 6,
                 hidden: int = 24):
        super().__init__()
        self.backbone = ConvLSTMBackbone(layers, filters, token_rows, bins)
        self.head = nn.Sequential(nn.Conv2d(filters + 1, hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2), nn.ReLU(),
                                  nn.Conv2d(hidden, n_classes, 1))

    def from_features(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([_up(z), x], dim=1))
