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

``BeamClassifier`` = the same encoder + a linear layer over beams (the DeepBeam baseline).
"""

from __future__ import annotations

import numpy as np

from sdrkit.nn import register_model


@register_model("protobeam_encoder",
                example=lambda: ({"preamble": np.ones(64, np.complex64), "frame_len": 1024}, (2, 2, 1024)))
def build_encoder(preamble: np.ndarray, frame_len: int = 1024, lags: int = 24, emb_dim: int = 64,
                  hidden: int = 256, normalize_input: bool = True):
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
            self.bn = nn.BatchNorm1d(3 * lags)
            self.mlp = nn.Sequential(nn.Linear(3 * lags, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, emb_dim))

        def features(self, x):
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
            return f

        def head(self, f):
            return self.mlp(self.bn(f))

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
