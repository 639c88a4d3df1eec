"""Beam embedding network (ProtoBeam encoder) and the DeepBeam-style classifier.

The encoder works on raw I/Q frames ``(batch, 2, frame_len)`` float32:

1. optional per-frame unit-RMS normalization (data normalization, "DN"), inside the graph;
2. a matched filter against the known periodic preamble, applied to every ``period``-sample
   window as a fixed circular correlation (a linear layer initialised from the preamble):
   this yields the channel impulse response r[k] seen through the TX beam;
3. phase- and timing-invariant lag correlations: mean_k r[k] conj(r[k+d]) and
   mean_k |r[k]|^2 |r[k+d]|^2 for d < ``lags`` (the relative amplitude/phase pattern of the
   echoes, which is where the beam identity lives);
4. an MLP to a ``emb_dim`` embedding.

With ``template=True`` (the channel-estimate encoder) the features also hold the classical
baseline's channel estimate (:mod:`sdrkit.tasks.beam.baseline`): the log power profile of the
matched filter's output on the preamble's occupied DFT bins, summed over windows, plus the
frame's log level (x3); the MLP sees it beside the lag correlations, and the embedding is
``[MLP output, a * channel estimate]`` with a learned weight ``a``: the nearest prototype
starts from the baseline's distance and learns on top of it. Prototypes are not
L2-normalized then (the card's ``proto_norm`` is false).

``BeamClassifier`` = the same encoder + a linear layer over beams (the DeepBeam baseline).
"""

from __future__ import annotations

import numpy as np

from sdrkit.nn import register_model


@register_model("protobeam_encoder",
                example=lambda: ({"preamble": np.ones(64, np.complex64), "frame_len": 1024}, (2, 2, 1024)))
def build_encoder(preamble: np.ndarray, frame_len: int = 1024, lags: int = 24, emb_dim: int = 64,
                  hidden: int = 256, normalize_input: bool = True, template: bool = False):
    """A torch ``nn.Module`` mapping (B, 2, frame_len) float32 to (B, emb_dim)."""
    import torch
    from torch import nn

    period = int(len(preamble))

    class BeamEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.frame_len, self.period, self.lags, self.emb_dim = frame_len, period, lags, emb_dim
            self.normalize_input = normalize_input
            self.reps = frame_len // period
            # circular correlation with the preamble as a real (2P, 2P) matrix
            p = np.asarray(preamble, dtype=np.complex128)
            C = np.stack([np.roll(np.conj(p[::-1]), k + 1) for k in range(period)])  # r[k] = sum_m x[m] c[k, m]
            C = C / np.sqrt(period)
            Wr = np.block([[C.real, C.imag], [-C.imag, C.real]])  # [xI xQ] @ W -> [rI rQ]
            Wr = np.block([[C.real.T, C.imag.T], [-C.imag.T, C.real.T]])
            self.register_buffer("mf", torch.tensor(Wr, dtype=torch.float32))
            k = np.arange(period)[None, :]
            m = (k + np.arange(lags)[:, None]) % period                    # (lags, P): pairs (k, k+d)
            P2 = 2 * period
            ii = (k * P2 + m).reshape(-1)                                  # G[k, m] in the (2P, 2P) Gram matrix
            qq = ((k + period) * P2 + m + period).reshape(-1)
            qi = ((k + period) * P2 + m).reshape(-1)
            iq = (k * P2 + m + period).reshape(-1)
            aa = (k * period + m).reshape(-1)
            for name, v in (("ii", ii), ("qq", qq), ("qi", qi), ("iq", iq), ("aa", aa)):
                self.register_buffer(name, torch.tensor(v, dtype=torch.long))
            self.template = template
            nf = 3 * lags
            if template:
                Sp = np.fft.fft(p)
                Sw = np.abs(Sp) ** 2
                bins = np.flatnonzero(Sw > 0.05 * Sw.max())
                # DFT of the raw window on the occupied bins, times conj(S): [xI xQ] @ D -> [Re Im]
                F = np.exp(-2j * np.pi * np.outer(np.arange(period), bins) / period) * np.conj(Sp[bins])[None, :]
                self.register_buffer("dft", torch.tensor(np.block([[F.real, F.imag], [-F.imag, F.real]]),
                                                         dtype=torch.float32))
                self.nbins = len(bins)
                nf += self.nbins + 1
                self.tmpl_weight = nn.Parameter(torch.tensor(1.0))
            self.nf = nf
            self.out_dim = emb_dim + (self.nbins + 1 if template else 0)
            self.bn = nn.BatchNorm1d(nf)
            self.mlp = nn.Sequential(nn.Linear(nf, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, emb_dim))

        def channel_estimate(self, x):
            """(B, 2, L) raw frames -> (B, bins + 1): log power profile (unit-norm) and 3 log10 level."""
            B = x.shape[0]
            n = self.reps * self.period
            z = x[:, :, :n].reshape(B, 2, self.reps, self.period)
            z = torch.cat([z[:, 0], z[:, 1]], dim=-1)                     # (B, R, 2P)
            h = torch.matmul(z, self.dft)                                 # (B, R, 2 bins)
            nb = self.nbins
            prof = (h[..., :nb] ** 2 + h[..., nb:] ** 2).sum(1)           # (B, bins)
            prof = prof / torch.sqrt((prof * prof).sum(1, keepdim=True) + 1e-30)
            level = torch.log10(torch.mean(x * x, dim=(1, 2)) * 2 + 1e-12)[:, None]
            return torch.cat([torch.log(prof + 1e-4), 3.0 * level], dim=1)

        def features(self, x):
            x0 = x
            if self.normalize_input:
                x = x / torch.sqrt(torch.mean(x * x, dim=(1, 2), keepdim=True) * 2 + 1e-12)
            B = x.shape[0]
            n = self.reps * self.period
            z = x[:, :, :n].reshape(B, 2, self.reps, self.period)
            z = torch.cat([z[:, 0], z[:, 1]], dim=-1)                     # (B, R, 2P)
            r = torch.matmul(z, self.mf)                                  # (B, R, 2P)
            g = torch.matmul(r.transpose(1, 2), r).reshape(B, -1)           # (B, 4P^2): sum over windows
            D, P = self.lags, self.period
            re = (g[:, self.ii] + g[:, self.qq]).reshape(B, D, P).mean(2)    # Re sum r[k] conj(r[k+d])
            im = (g[:, self.qi] - g[:, self.iq]).reshape(B, D, P).mean(2)
            a = r[..., :P] ** 2 + r[..., P:] ** 2                          # (B, R, P) |r|^2
            ga = torch.matmul(a.transpose(1, 2), a).reshape(B, -1)
            a2 = ga[:, self.aa].reshape(B, D, P).mean(2)
            p0 = re[:, :1] + 1e-9 if self.normalize_input else torch.ones_like(re[:, :1])
            f = torch.cat([re / p0, im / p0, a2 / (p0 * p0)], dim=1)
            if self.template:
                f = torch.cat([f, self.channel_estimate(x0)], dim=1)
            return f

        def head(self, f):
            e = self.mlp(self.bn(f))
            if self.template:
                e = torch.cat([e, self.tmpl_weight * f[:, -(self.nbins + 1):]], dim=1)
            return e

        def forward(self, x):
            return self.head(self.features(x))

    return BeamEncoder()


def build_classifier(encoder, n_classes: int):
    """DeepBeam-style classifier: encoder + linear head -> logits (B, n_classes)."""
    from torch import nn

    class BeamClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.head = nn.Sequential(nn.ReLU(), nn.Linear(encoder.emb_dim, n_classes))

        def forward(self, x):
            return self.head(self.encoder(x))

    return BeamClassifier()


def count_parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
