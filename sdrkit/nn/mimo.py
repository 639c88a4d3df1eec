"""MIMO autoencoders: symbol-wise (AE), bit-wise (BAE) and Tanh bit-wise (BAE-T).

Shapes follow the paper's Table 1 (after Song et al.): the transmitter is two ``Dense(H_T)`` +
ReLU and a linear ``Dense(2 N_T)`` (real and imaginary part per antenna), followed by a batch
power **normalization** layer (AE, BAE) or by **tanh** (BAE-T: amplitude bounded to [-1, 1] per
real dimension, average power free). The receiver is three ``Dense(H_R)`` + ReLU + BatchNorm and
an output layer: a softmax over the ``(2^k)^N_T`` messages (AE, trained with cross-entropy) or
``k N_T`` sigmoids (BAE, BAE-T, trained with binary cross-entropy).

Real layouts (what the ONNX graphs take and give):

* bits ``(B, k N_T)`` float32 in {0, 1}, antenna 0's ``k`` bits first;
* transmit symbols ``(B, 2 N_T)``: ``[Re x_0 .. Re x_{N_T-1}, Im x_0 .. Im x_{N_T-1}]``;
* receive samples ``(B, 2 N_R)`` in the same layout; an SNR-conditioned receiver also takes
  ``snr_db`` ``(B, 1)`` (Es/N0, dB);
* receiver output: bit probabilities ``(B, k N_T)`` (the AE marginalizes its message softmax
  over the bit labels inside the graph), so every variant decodes the same way.

The channel layer inside training is :class:`TorchMimoChannel`: ``y = H x + n`` with the noise
density set from the **measured** power of the batch (``N0 = P / (Es/N0)``, ``P = mean |x|^2``
per antenna), not detached, so the loss cannot be lowered by raising the transmit power.
SNR modes: ``fixed`` (one Es/N0, the paper's method), ``random`` (Es/N0 drawn uniformly per
channel use from a range) and ``conditioned`` (random, and the receiver is told the Es/N0).
"""

from __future__ import annotations

import numpy as np

from sdrkit.nn import register_model

KINDS = ("ae", "bae", "bae-t")
SNR_MODES = ("fixed", "random", "conditioned")


def _example():
    return {"n_t": 2, "n_r": 2, "k": 2, "h_t": 16, "h_r": 16}, (4, 4)


@register_model("mimo_autoencoder", example=_example)
def build_mimo_autoencoder(n_t: int = 2, n_r: int = 2, k: int = 2, h_t: int = 256, h_r: int = 2048,
                           kind: str = "bae-t", channel: str = "coupling", coupling: float = 0.3,
                           snr_mode: str = "fixed", train_snr_db: float = 15.0,
                           snr_range_db: tuple = (0.0, 20.0)):
    """A :class:`MimoAutoencoder` (torch module): ``forward(bits) -> bit probabilities``.

    Args:
        n_t, n_r: antennas. k: bits per antenna and channel use. h_t, h_r: widths (paper 256, 2048).
        kind: ``ae``, ``bae`` or ``bae-t``. channel: ``awgn`` or ``coupling`` (fixed H).
        coupling: off-diagonal gain of the coupling channel. snr_mode: see the module docstring.
        train_snr_db: Es/N0 of ``fixed`` training (and of ``forward`` without an SNR).
        snr_range_db: Es/N0 range of ``random``/``conditioned`` training.
    """
    import torch
    from torch import nn

    from sdrkit.dsp.mimo import MimoChannel, int_to_bits
    from sdrkit.errors import ConfigError

    if kind not in KINDS:
        raise ConfigError(f"MIMO autoencoder kind {kind!r} is not one of {KINDS}")
    if snr_mode not in SNR_MODES:
        raise ConfigError(f"snr_mode {snr_mode!r} is not one of {SNR_MODES}")
    nbits = k * n_t
    if kind == "ae" and nbits > 20:
        raise ConfigError(f"a symbol-wise AE over {n_t} antennas x {k} bits has 2^{nbits} messages (one-hot input "
                          f"and softmax output of that size); use kind='bae' or 'bae-t'")
    h = MimoChannel(n_t, n_r, channel, coupling).matrix()
    if h is None:
        raise ConfigError("the autoencoders train on a fixed channel (awgn or coupling); rayleigh needs CSI at the "
                          "receiver, which these networks do not take")

    class Transmitter(nn.Module):
        def __init__(self):
            super().__init__()
            n_in = (1 << nbits) if kind == "ae" else nbits
            self.net = nn.Sequential(nn.Linear(n_in, h_t), nn.ReLU(), nn.Linear(h_t, h_t), nn.ReLU(),
                                     nn.Linear(h_t, 2 * n_t))
            self.register_buffer("weights", torch.tensor([float(1 << (nbits - 1 - i)) for i in range(nbits)]))
            self.register_buffer("messages", torch.arange(1 << nbits, dtype=torch.float32) if kind == "ae"
                                 else torch.zeros(1))
            self.register_buffer("running_power", torch.ones(()))

        def forward(self, bits):
            b = (bits > 0.5).float()
            if kind == "ae":
                idx = b @ self.weights
                inp = (idx[:, None] == self.messages[None, :]).float()
            else:
                inp = 2 * b - 1
            x = self.net(inp)
            if kind == "bae-t":
                return torch.tanh(x)
            # batch power normalization (per-antenna complex power 1); eval uses the running value
            if self.training:
                p = 2 * torch.mean(x ** 2)
                with torch.no_grad():
                    self.running_power.mul_(0.99).add_(0.01 * p.detach())
            else:
                p = self.running_power
            return x / torch.sqrt(p)

    class Receiver(nn.Module):
        def __init__(self):
            super().__init__()
            n_in = 2 * n_r + (1 if snr_mode == "conditioned" else 0)
            layers, w = [], n_in
            for _ in range(3):
                layers += [nn.Linear(w, h_r), nn.ReLU(), nn.BatchNorm1d(h_r)]
                w = h_r
            self.body = nn.Sequential(*layers)
            self.out = nn.Linear(h_r, (1 << nbits) if kind == "ae" else nbits)
            lab = int_to_bits(np.arange(1 << nbits), nbits).astype(np.float32) if kind == "ae" else np.zeros((1, 1))
            self.register_buffer("labels", torch.tensor(lab))

        def logits(self, y, snr_db=None):
            if snr_mode == "conditioned":
                y = torch.cat([y, snr_db / 20.0], dim=1)
            return self.out(self.body(y))

        def forward(self, y, snr_db=None):
            z = self.logits(y, snr_db)
            if kind == "ae":
                return torch.softmax(z, dim=1) @ self.labels
            return torch.sigmoid(z)

    class TorchMimoChannel(nn.Module):
        def __init__(self):
            super().__init__()
            hr = np.block([[h.real, -h.imag], [h.imag, h.real]]).astype(np.float32)   # real (2N_R, 2N_T)
            self.register_buffer("h", torch.tensor(hr))

        def forward(self, x, snr_db):
            p = torch.mean(x ** 2) * 2            # measured per-antenna power of this batch
            n0 = p / 10 ** (snr_db / 10)          # (B, 1)
            y = x @ self.h.T
            return y + torch.randn_like(y) * torch.sqrt(n0 / 2)

    class MimoAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_t, self.n_r, self.k, self.nbits, self.kind = n_t, n_r, k, nbits, kind
            self.snr_mode, self.train_snr_db, self.snr_range_db = snr_mode, float(train_snr_db), tuple(snr_range_db)
            self.h_complex = h
            self.transmitter, self.receiver, self.channel = Transmitter(), Receiver(), TorchMimoChannel()

        def draw_snr(self, batch: int, generator=None):
            """Es/N0 (dB) per channel use for a training batch, by the SNR mode."""
            if self.snr_mode == "fixed":
                return torch.full((batch, 1), self.train_snr_db)
            lo, hi = self.snr_range_db
            return lo + (hi - lo) * torch.rand((batch, 1), generator=generator)

        def forward(self, bits, snr_db=None, logits: bool = False):
            if snr_db is None:
                snr_db = torch.full((bits.shape[0], 1), self.train_snr_db)
            y = self.channel(self.transmitter(bits), snr_db)
            return self.receiver.logits(y, snr_db) if logits else self.receiver(y, snr_db)

    return MimoAutoencoder()


def train_autoencoder(model, steps: int = 2000, batch: int = 2048, lr: float = 1e-3, seed: int = 0,
                      time_budget_s: float | None = None, progress: bool = False, log_every: int = 50):
    """Adam training of a :class:`MimoAutoencoder` on random bits (the paper's recipe, fewer steps,
    cosine learning-rate decay to ``lr / 20``).

    Returns:
        history: ``{"step": [...], "loss": [...], "ber": [...]}`` (``ber``: hard-decision BER of
        the training batch at its SNRs), plus ``steps_run`` and ``seconds``.
    """
    import time

    import torch
    from torch import nn

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    # cosine decay to lr/20 over the run (the paper keeps 1e-3; the decay buys the last tenths of a
    # dB in the few steps a CPU affords)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(s, steps) / max(steps, 1))))
    bce = nn.BCEWithLogitsLoss()
    ce = nn.CrossEntropyLoss()
    weights = torch.tensor([float(1 << (model.nbits - 1 - i)) for i in range(model.nbits)])
    hist = {"step": [], "loss": [], "ber": []}
    t0 = time.perf_counter()
    model.train()
    it = range(steps)
    if progress:
        from tqdm import tqdm

        import sys

        it = tqdm(it, desc=f"train {model.kind} {model.n_t}x{model.n_r} k={model.k}", leave=False,
                  disable=not sys.stderr.isatty())
    run = 0
    for step in it:
        bits = torch.randint(0, 2, (batch, model.nbits), generator=gen).float()
        snr = model.draw_snr(batch, gen)
        z = model(bits, snr, logits=True)
        if model.kind == "ae":
            loss = ce(z, (bits @ weights).long())
        else:
            loss = bce(z, bits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run = step + 1
        if step % log_every == 0 or step == steps - 1:
            with torch.no_grad():
                if model.kind == "ae":
                    lab = model.receiver.labels[z.argmax(1)]
                    ber = float((lab != bits).float().mean())
                else:
                    ber = float(((z > 0).float() != bits).float().mean())
            hist["step"].append(step)
            hist["loss"].append(loss.item())
            hist["ber"].append(ber)
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            break
    model.eval()
    hist["steps_run"] = run
    hist["seconds"] = time.perf_counter() - t0
    return hist


def codebook(model) -> tuple[np.ndarray, np.ndarray]:
    """The learned joint constellation: ``(2^{k N_T}, N_T)`` complex symbols and their bits.

    Raises:
        ConfigError: more than 2^20 messages.
    """
    import torch

    from sdrkit.dsp.mimo import int_to_bits
    from sdrkit.errors import ConfigError

    if model.nbits > 20:
        raise ConfigError(f"{model.nbits} bits per channel use: 2^{model.nbits} codewords are too many to list")
    bits = int_to_bits(np.arange(1 << model.nbits), model.nbits)
    model.eval()
    with torch.no_grad():
        x = model.transmitter(torch.tensor(bits, dtype=torch.float32)).numpy().astype(np.float64)
    n = model.n_t
    return x[:, :n] + 1j * x[:, n:], bits


def export_onnx(model, folder, opset: int = 17) -> dict:
    """Write ``transmitter.onnx`` (bits -> x) and ``receiver.onnx`` (y [, snr_db] -> p) into ``folder``.

    Returns:
        ``{"transmitter": name, "receiver": name}`` (card ``files``).
    """
    from pathlib import Path

    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    bits = torch.zeros(4, model.nbits)
    torch.onnx.export(model.transmitter, (bits,), str(folder / "transmitter.onnx"), input_names=["bits"],
                      output_names=["x"], dynamic_axes={"bits": {0: "batch"}, "x": {0: "batch"}},
                      opset_version=opset, dynamo=False)
    y = torch.zeros(4, 2 * model.n_r)
    if model.snr_mode == "conditioned":
        args, names = (y, torch.zeros(4, 1)), ["y", "snr_db"]
        axes = {"y": {0: "batch"}, "snr_db": {0: "batch"}, "p": {0: "batch"}}
    else:
        args, names, axes = (y,), ["y"], {"y": {0: "batch"}, "p": {0: "batch"}}
    torch.onnx.export(model.receiver, args, str(folder / "receiver.onnx"), input_names=names, output_names=["p"],
                      dynamic_axes=axes, opset_version=opset, dynamo=False)
    return {"transmitter": "transmitter.onnx", "receiver": "receiver.onnx"}


def param_count(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


__all__ = ["KINDS", "SNR_MODES", "build_mimo_autoencoder", "codebook", "export_onnx", "param_count",
           "train_autoencoder"]
