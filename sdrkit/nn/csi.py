"""CSI feedback autoencoders on the 2 x 32 x 32 angular-delay matrix (values in [0, 1]).

Every network here is ``encoder`` (the UE side: CSI -> codeword ``(B, M)``, M = 2048 / CR) and
``decoder`` (the BS side: codeword -> CSI, sigmoid output), with an optional noise layer between
them for noise-injection training. ``net(x, snr_db=None)`` runs both; ``net.encoder`` and
``net.decoder`` are exported as separate ONNX graphs.

* ``cllwcsinet`` (Ansari & Mohassel Feghhi, the seed): a multi-resolution factorized front end
  ([1x7, 7x1], [1x5, 5x1], [1x3, 3x1] branches, BN, LeakyReLU 0.3), a 1x7 conv to 2 channels,
  the reshape to 64 x 1 x 32, and a convolutional latent: paths 64 -> 32 -> 16 and 64 -> 16,
  concatenated and squeezed by a 1x7 conv to ``2048 / (32 CR)`` channels (16 / 8 / 4 at CR 4 / 8 /
  16). Decoder: 1x7 convs back to 64 channels, reshape to 2 x 32 x 32, two RefineNet blocks
  (parallel 1x7 and 1x5 paths 2 -> 8 -> 16 -> 2, concatenated, 1x1 to 2, residual), a 1x7 conv,
  sigmoid. ``denoise=True`` adds the seed's denoising branch (16 -> 32 -> 64, subtracted from the
  decoder's 64-channel path) for noisy feedback.
* ``csinet`` (Wen et al. 2018): 3x3 conv, flatten, **fully connected** 2048 -> M; decoder FC
  M -> 2048, two RefineNet blocks (3x3, 2 -> 8 -> 16 -> 2), 3x3 conv, sigmoid. ~2.1M params at CR 4.
* ``csinet_cl``: CsiNet with the FC layers replaced by a convolutional latent (the seed's
  "CL" ablation): the same 3x3 front end, reshape to 64 x 1 x 32, one 1x7 conv to the codeword
  channels; decoder a 1x7 conv back to 64, reshape, CsiNet's RefineNets.
* ``crnet`` (Lu et al. 2020): encoder paths [3x3, 1x9, 9x1] and [3x3] concatenated, 1x1 to 2,
  FC 2048 -> M; decoder FC, 5x5 conv, two CRBlocks ([3x3, 1x9, 9x1] and [1x5, 5x1], 7 channels,
  1x1 merge, residual), sigmoid.

* ``lwsep`` (sdrkit's, beyond the seed): CLLWCsiNet's front end and decoder with a *separable*
  linear latent in place of the 1x7 convolutional one. The 2 x 32 x 32 map is read as 64 rows
  (re/im x antenna) x 32 delay taps; the encoder maps the delay axis 32 -> 8 (one matrix shared
  by every row) and then the row axis 64 -> M / 8 (one matrix shared by every delay output), so
  the codeword is (M / 8) x 8. The decoder does the transposed maps (8 -> 32, M / 8 -> 64) before
  CLLWCsiNet's RefineNets. Why: a 1x7 conv latent spends its codeword uniformly over the 32 delay
  taps, while the channel's energy sits in the first few (98 % in 3 taps indoors); a learned
  delay map puts the code where the energy is, as an FC latent does, at ~1/100 of its parameters.

Initialization: Xavier (as the authors); the last layer before the sigmoid (the final conv;
for CRNet the BatchNorm of its 5x5 decoder head, whose gamma sets the output scale) starts at a tenth of it, so that every model starts near the 0.5 "no
information" reconstruction instead of a random one; and every residual block (RefineNet,
CRBlock) starts as the identity: the last BatchNorm of its residual branch(es) at gamma 0.

Noise layer: complex-free real AWGN on the codeword at ``snr_db`` per sample (codeword power
over noise power, both per element, power measured per sample): ``y = s + n``,
``n ~ N(0, mean(s^2) / 10^(snr/10))``. With ``snr_db`` a (low, high) pair each sample draws its
SNR uniformly in dB (noise-injection training).
"""

from __future__ import annotations

from sdrkit.nn import register_model

CSI_SHAPE = (2, 32, 32)
N_ELEMENTS = 2048
_T: dict = {}


def codeword_len(cr: int) -> int:
    """Codeword length M for compression ratio ``cr`` (2048 / cr)."""
    if cr not in (4, 8, 16, 32, 64):
        from sdrkit.errors import ConfigError

        raise ConfigError(f"compression ratio {cr!r} must be one of 4, 8, 16, 32, 64")
    return N_ELEMENTS // cr


def _torch():
    """The torch classes, built once (``import sdrkit.nn`` must not import torch)."""
    if _T:
        return _T
    import torch
    from torch import nn

    def cbl(cin, cout, k, bn=True, act=True):
        pad = (k[0] // 2, k[1] // 2)
        layers = [nn.Conv2d(cin, cout, k, padding=pad, bias=not bn)]
        if bn:
            layers.append(nn.BatchNorm2d(cout, eps=1e-3))
        if act:
            layers.append(nn.LeakyReLU(0.3))
        return nn.Sequential(*layers)

    class ToLatent(nn.Module):
        """(B, 2, 32, 32) -> (B, 64, 1, 32): the 2 x 32 rows become 64 channels."""

        def forward(self, x):
            return x.reshape(x.shape[0], 64, 1, 32)

    class FromLatent(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], 2, 32, 32)

    class Flatten(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], -1)

    class Refine(nn.Module):
        """RefineNet block with two parallel paths of kernel sizes ``ka`` and ``kb``, residual."""

        def __init__(self, ka, kb, ch=(8, 16)):
            super().__init__()
            self.a = nn.Sequential(cbl(2, ch[0], ka), cbl(ch[0], ch[1], ka), cbl(ch[1], 2, ka, act=False))
            self.b = nn.Sequential(cbl(2, ch[0], kb), cbl(ch[0], ch[1], kb), cbl(ch[1], 2, kb, act=False)) \
                if kb else None
            self.merge = nn.Conv2d(4, 2, 1) if kb else None
            self.act = nn.LeakyReLU(0.3)

        def residual_ends(self):
            return [p[-1][1] for p in (self.a, self.b) if p is not None]

        def forward(self, x):
            y = self.a(x)
            if self.b is not None:
                y = self.merge(torch.cat([y, self.b(x)], 1))
            return self.act(x + y)

    class CRBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.p1 = nn.Sequential(cbl(2, 7, (3, 3)), cbl(7, 7, (1, 9)), cbl(7, 7, (9, 1), act=False))
            self.p2 = nn.Sequential(cbl(2, 7, (1, 5)), cbl(7, 7, (5, 1), act=False))
            self.merge = nn.Sequential(nn.LeakyReLU(0.3), cbl(14, 2, (1, 1), act=False))
            self.act = nn.LeakyReLU(0.3)

        def residual_ends(self):
            return [self.merge[-1][1]]

        def forward(self, x):
            return self.act(x + self.merge(torch.cat([self.p1(x), self.p2(x)], 1)))

    class MultiRes(nn.Module):
        """CLLWCsiNet's factorized multi-resolution front end: 3 branches -> 6 ch -> 1x7 -> 2 ch."""

        def __init__(self):
            super().__init__()
            self.br = nn.ModuleList(nn.Sequential(cbl(2, 2, (1, k)), cbl(2, 2, (k, 1))) for k in (7, 5, 3))
            self.out = cbl(6, 2, (1, 7))

        def forward(self, x):
            return self.out(torch.cat([b(x) for b in self.br], 1))

    class CLLEncoder(nn.Module):
        def __init__(self, cr):
            super().__init__()
            c = codeword_len(cr) // 32
            self.front, self.lat = MultiRes(), ToLatent()
            self.pa = nn.Sequential(cbl(64, 32, (1, 7)), cbl(32, 16, (1, 7)))
            self.pb = cbl(64, 16, (1, 7))
            self.out = nn.Conv2d(32, c, (1, 7), padding=(0, 3))
            self.flat = Flatten()

        def forward(self, x):
            z = self.lat(self.front(x))
            return self.flat(self.out(torch.cat([self.pa(z), self.pb(z)], 1)))

    class CLLDecoder(nn.Module):
        def __init__(self, cr, denoise=False):
            super().__init__()
            self.c = codeword_len(cr) // 32
            self.up = nn.Sequential(cbl(self.c, 32, (1, 7)), cbl(32, 64, (1, 7), act=False))
            self.denoise = nn.Sequential(cbl(self.c, 32, (1, 7)), cbl(32, 64, (1, 7), act=False)) if denoise else None
            self.unlat = FromLatent()
            self.refine = nn.Sequential(Refine((1, 7), (1, 5)), Refine((1, 7), (1, 5)))
            self.out = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.Sigmoid())

        def forward(self, s):
            y = s.reshape(s.shape[0], self.c, 1, 32)
            z = self.up(y)
            if self.denoise is not None:
                z = z - self.denoise(y)
            return self.out(self.refine(self.unlat(z)))

    class SepEncoder(nn.Module):
        """CLLWCsiNet front end, then delay 32 -> 8 and rows 64 -> M / 8 (both linear)."""

        def __init__(self, cr, taps=8):
            super().__init__()
            self.taps, self.rows = taps, codeword_len(cr) // taps
            self.front = MultiRes()
            self.delay = nn.Linear(32, taps, bias=False)
            self.row = nn.Linear(64, self.rows)

        def forward(self, x):
            z = self.delay(self.front(x).reshape(x.shape[0], 64, 32))        # (B, 64 rows, taps)
            return self.row(z.transpose(1, 2)).reshape(x.shape[0], -1)       # (B, taps * rows)

    class SepDecoder(nn.Module):
        def __init__(self, cr, taps=8):
            super().__init__()
            self.taps, self.rows = taps, codeword_len(cr) // taps
            self.row = nn.Linear(self.rows, 64)
            self.delay = nn.Linear(taps, 32)
            self.refine = nn.Sequential(Refine((1, 7), (1, 5)), Refine((1, 7), (1, 5)))
            self.out = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.Sigmoid())

        def forward(self, s):
            z = self.row(s.reshape(s.shape[0], self.taps, self.rows))            # (B, taps, 64)
            z = self.delay(z.transpose(1, 2)).reshape(s.shape[0], 2, 32, 32)     # (B, 64, 32) -> map
            return self.out(self.refine(z))

    class CsiNetEncoder(nn.Module):
        def __init__(self, cr, latent="fc"):
            super().__init__()
            m = codeword_len(cr)
            self.front = cbl(2, 2, (3, 3))
            if latent == "fc":
                self.latent = nn.Sequential(Flatten(), nn.Linear(N_ELEMENTS, m))
            else:
                self.latent = nn.Sequential(ToLatent(), nn.Conv2d(64, m // 32, (1, 7), padding=(0, 3)), Flatten())

        def forward(self, x):
            return self.latent(self.front(x))

    class CsiNetDecoder(nn.Module):
        def __init__(self, cr, latent="fc"):
            super().__init__()
            m = codeword_len(cr)
            self.m, self.latent_kind = m, latent
            if latent == "fc":
                self.latent = nn.Linear(m, N_ELEMENTS)
            else:
                self.latent = nn.Conv2d(m // 32, 64, (1, 7), padding=(0, 3))
            self.refine = nn.Sequential(Refine((3, 3), None), Refine((3, 3), None))
            self.out = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.Sigmoid())

        def forward(self, s):
            if self.latent_kind == "fc":
                z = self.latent(s).reshape(s.shape[0], 2, 32, 32)
            else:
                z = self.latent(s.reshape(s.shape[0], self.m // 32, 1, 32)).reshape(s.shape[0], 2, 32, 32)
            return self.out(self.refine(z))

    class CRNetEncoder(nn.Module):
        def __init__(self, cr):
            super().__init__()
            self.p1 = nn.Sequential(cbl(2, 2, (3, 3)), cbl(2, 2, (1, 9)), cbl(2, 2, (9, 1)))
            self.p2 = cbl(2, 2, (3, 3))
            self.merge = cbl(4, 2, (1, 1))
            self.fc = nn.Sequential(Flatten(), nn.Linear(N_ELEMENTS, codeword_len(cr)))

        def forward(self, x):
            return self.fc(self.merge(torch.cat([self.p1(x), self.p2(x)], 1)))

    class CRNetDecoder(nn.Module):
        def __init__(self, cr):
            super().__init__()
            self.fc = nn.Linear(codeword_len(cr), N_ELEMENTS)
            self.head = cbl(2, 2, (5, 5))
            self.blocks = nn.Sequential(CRBlock(), CRBlock())
            self.out = nn.Sigmoid()

        def forward(self, s):
            return self.out(self.blocks(self.head(self.fc(s).reshape(s.shape[0], 2, 32, 32))))

    class CsiAutoencoder(nn.Module):
        """encoder -> (noise layer) -> decoder; ``forward(x, snr_db=None)``."""

        def __init__(self, encoder, decoder, cr, arch):
            super().__init__()
            self.encoder, self.decoder, self.cr, self.arch = encoder, decoder, cr, arch
            for mod in self.modules():
                if isinstance(mod, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(mod.weight)
                    if mod.bias is not None:
                        nn.init.zeros_(mod.bias)
            # the reconstruction starts near 0.5 (near "no information", NMSE ~0 dB): the last layer
            # before the sigmoid starts at a tenth of its Xavier weights (at zero nothing upstream
            # gets a gradient until the features correlate with the CSI: a saddle deep nets sit in)
            # CRNet's decoder has no layer between its BatchNorm'd 5x5 head and the sigmoid but the
            # CRBlocks (identity at the start): a BatchNorm resets whatever scale its conv had (in training
            # mode the head put out unit variance, sigmoid(N(0, 1)): +19 dB at the first step), so CRNet's
            # output scale is the head's BatchNorm gamma, which starts at a tenth instead
            last = decoder.head[1] if isinstance(decoder, CRNetDecoder) else decoder.out[0]
            with torch.no_grad():
                last.weight.mul_(0.1)
                # residual blocks start as the identity (the last BatchNorm of each residual branch at
                # gamma 0, as in Goyal et al. 2017): the decoder starts shallow, its branches grow in
                for mod in self.modules():
                    if isinstance(mod, (Refine, CRBlock)):
                        for branch in mod.residual_ends():
                            branch.weight.zero_()

        def forward(self, x, snr_db=None):
            s = self.encoder(x)
            if snr_db is not None:
                s = add_noise(s, snr_db)
            return self.decoder(s)

    def add_noise(s, snr_db):
        """AWGN at ``snr_db`` (a number, or a (low, high) range drawn per sample)."""
        if isinstance(snr_db, (tuple, list)):
            lo, hi = snr_db
            snr = torch.rand(s.shape[0], 1, device=s.device) * (hi - lo) + lo
        else:
            snr = torch.full((s.shape[0], 1), float(snr_db), device=s.device)
        p = s.pow(2).mean(dim=1, keepdim=True).detach()
        return s + torch.randn_like(s) * torch.sqrt(p / 10 ** (snr / 10))

    _T.update(torch=torch, CLLEncoder=CLLEncoder, CLLDecoder=CLLDecoder, CsiNetEncoder=CsiNetEncoder,
              CsiNetDecoder=CsiNetDecoder, CRNetEncoder=CRNetEncoder, CRNetDecoder=CRNetDecoder,
              CsiAutoencoder=CsiAutoencoder, add_noise=add_noise, SepEncoder=SepEncoder, SepDecoder=SepDecoder)
    return _T


def add_noise(s, snr_db):
    """The noise layer (see the module docstring) on a torch codeword batch ``(B, M)``."""
    return _torch()["add_noise"](s, snr_db)


def _example():
    return {"cr": 4}, (2, *CSI_SHAPE)


@register_model("cllwcsinet", example=_example)
def build_cllwcsinet(cr: int = 4, denoise: bool = False):
    """CLLWCsiNet at compression ratio ``cr``; ``denoise`` adds the decoder's denoising branch."""
    T = _torch()
    return T["CsiAutoencoder"](T["CLLEncoder"](cr), T["CLLDecoder"](cr, denoise), cr, "cllwcsinet")


@register_model("csinet", example=_example)
def build_csinet(cr: int = 4):
    """CsiNet with its fully connected latent layer."""
    T = _torch()
    return T["CsiAutoencoder"](T["CsiNetEncoder"](cr, "fc"), T["CsiNetDecoder"](cr, "fc"), cr, "csinet")


@register_model("csinet_cl", example=_example)
def build_csinet_cl(cr: int = 4):
    """CsiNet with a convolutional latent space instead of the FC layers."""
    T = _torch()
    return T["CsiAutoencoder"](T["CsiNetEncoder"](cr, "conv"), T["CsiNetDecoder"](cr, "conv"), cr, "csinet_cl")


@register_model("crnet", example=_example)
def build_crnet(cr: int = 4):
    """CRNet (multi-resolution encoder and CRBlocks, FC latent)."""
    T = _torch()
    return T["CsiAutoencoder"](T["CRNetEncoder"](cr), T["CRNetDecoder"](cr), cr, "crnet")


@register_model("lwsep", example=_example)
def build_lwsep(cr: int = 4):
    """CLLWCsiNet's front end and decoder around a separable (delay x row) linear latent."""
    T = _torch()
    return T["CsiAutoencoder"](T["SepEncoder"](cr), T["SepDecoder"](cr), cr, "lwsep")


ARCHS = ("cllwcsinet", "csinet", "csinet_cl", "crnet", "lwsep")
