"""Training and export of the MIMO autoencoders: one model, or the bundled suite.

Each model is a folder ``<out>/<name>/`` with ``card.json`` (card v2, output kind ``bits``),
``transmitter.onnx`` (bits -> symbols) and ``receiver.onnx`` (received samples -> bit
probabilities). The card records the command, the seed, the widths actually used and the SNR
the model was trained at, and the burst format the link and the live predictor use.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

#: the bundled suite: name -> settings (widths chosen for ~20 min of 2-core CPU in all; the
#: paper's H_R = 2048 costs ~3 s per step here, ~100 min per model)
SUITE = {
    "awgn-ae-2x2-k2": dict(kind="ae", n_t=2, n_r=2, k=2, channel="awgn", h_t=128, h_r=128, train_snr_db=8.0,
                           steps=1500),
    "awgn-bae-2x2-k2": dict(kind="bae", n_t=2, n_r=2, k=2, channel="awgn", h_t=128, h_r=128, train_snr_db=8.0,
                            steps=1500),
    "awgn-baet-2x2-k2": dict(kind="bae-t", n_t=2, n_r=2, k=2, channel="awgn", h_t=128, h_r=128, train_snr_db=8.0,
                             steps=1500),
    "awgn-baet-2x2-k4": dict(kind="bae-t", n_t=2, n_r=2, k=4, channel="awgn", h_t=128, h_r=256,
                             train_snr_db=16.0, steps=2000),
    "awgn-baet-2x2-k6": dict(kind="bae-t", n_t=2, n_r=2, k=6, channel="awgn", h_t=128, h_r=256,
                             train_snr_db=22.0, steps=2000),
    "coupled-baet-2x2-k2": dict(kind="bae-t", n_t=2, n_r=2, k=2, channel="coupling", h_t=128, h_r=128,
                                train_snr_db=10.0, steps=1500),
    "coupled-baet-2x2-k2-snrrand": dict(kind="bae-t", n_t=2, n_r=2, k=2, channel="coupling", h_t=128, h_r=128,
                                        snr_mode="random", snr_range_db=(0.0, 20.0), steps=2000),
    "coupled-baet-4x4-k2": dict(kind="bae-t", n_t=4, n_r=4, k=2, channel="coupling", h_t=128, h_r=256,
                                train_snr_db=10.0, steps=2000),
    "coupled-baet-8x8-k2": dict(kind="bae-t", n_t=8, n_r=8, k=2, channel="coupling", h_t=128, h_r=256,
                                train_snr_db=10.0, steps=2000),
}

SAMPLE_RATE = 1e6


@dataclass(frozen=True)
class ModelSettings:
    """Everything that defines one trained model (recorded in its card)."""

    kind: str = "bae-t"
    n_t: int = 2
    n_r: int = 2
    k: int = 2
    channel: str = "coupling"
    coupling: float = 0.3
    h_t: int = 128
    h_r: int = 128
    snr_mode: str = "fixed"
    train_snr_db: float = 10.0
    snr_range_db: tuple = (0.0, 20.0)
    steps: int = 1500
    batch: int = 1024
    lr: float = 1e-3
    seed: int = 0

    def architecture(self) -> dict:
        return {"name": "mimo_autoencoder",
                "kwargs": {"n_t": self.n_t, "n_r": self.n_r, "k": self.k, "h_t": self.h_t, "h_r": self.h_r,
                           "kind": self.kind, "channel": self.channel, "coupling": self.coupling,
                           "snr_mode": self.snr_mode, "train_snr_db": self.train_snr_db,
                           "snr_range_db": list(self.snr_range_db)}}


def burst_format(n_t: int):
    from sdrkit.dsp.mimo import BurstFormat

    return BurstFormat(n_t=n_t)


def train_one(settings: ModelSettings, out, name: str, command: str = "", time_budget_s: float | None = None,
              progress: bool = True, data_sha256: str | None = None):
    """Train one model, export its graphs and write its card.

    Returns:
        the saved :class:`~sdrkit.runtime.card.ModelCard`.
    """
    import torch

    from sdrkit.dsp.mimo import tx_power
    from sdrkit.nn import create_model
    from sdrkit.nn.mimo import codebook, export_onnx, param_count, train_autoencoder
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec

    torch.set_num_threads(1)      # the machine is shared; one thread is as fast as two under load
    torch.manual_seed(settings.seed)
    net = create_model(settings.architecture())
    hist = train_autoencoder(net, steps=settings.steps, batch=settings.batch, lr=settings.lr, seed=settings.seed,
                             time_budget_s=time_budget_s, progress=progress)
    folder = Path(out)
    files = export_onnx(net, folder)
    fmt = burst_format(settings.n_t)
    if net.nbits <= 20:
        cb, _ = codebook(net)
        power = tx_power(cb)
        peak = float(np.max(np.abs(np.concatenate([cb.real, cb.imag], axis=1))))
    else:
        power, peak = float("nan"), float("nan")
    nbits = fmt.data * settings.k * settings.n_t
    card = ModelCard(
        task="mimo", name=f"mimo-{name}", classes=(),
        input=InputSpec(sample_rate=SAMPLE_RATE, frame_len=2 * fmt.samples, channels=settings.n_r,
                        layout="(batch, channels, frame_len) complex I/Q, one per receive antenna; a whole burst "
                               "(pilot slots + data) starts in the first half of the frame",
                        normalization="none in the graph: the receiver maps the pilot channel estimate onto the "
                                      "training channel before the network"),
        output=OutputSpec(kind="bits", shape=(nbits,),
                          description=f"decoded bits of one burst: {fmt.data} channel uses x {settings.n_t} antennas x "
                                      f"{settings.k} bits, antenna 0's k bits first, uint8"),
        files=files, architecture=settings.architecture(),
        metrics={"training": {"final_loss": hist["loss"][-1], "final_batch_ber": hist["ber"][-1],
                              "steps_run": hist["steps_run"], "train_seconds": hist["seconds"],
                              "history": {k: hist[k] for k in ("step", "loss", "ber")}},
                 "parameters": param_count(net)},
        training={"command": command, "seed": settings.seed, "settings": _jsonable(asdict(settings)),
                  "data": "random bits and noise drawn on the fly from torch seeds (seed, seed + 1)",
                  "data_sha256": data_sha256,
                  "width_note": f"H_T={settings.h_t}, H_R={settings.h_r} (paper: 256, 2048; 2048 is ~100 min per "
                                f"model on 2 CPU cores), batch {settings.batch} (paper 2048), "
                                f"{hist['steps_run']} steps (paper 2000)"},
        extra={"burst": asdict(fmt), "codebook_power": power, "codebook_peak": peak,
               "snr_definition": "Es/N0 = P/N0 with P = mean |x|^2 per transmit antenna measured on the codebook; "
                                 "Eb/N0 = Es/N0 - 10 log10(k)"})
    return card.replace(path=str(folder / "card.json")), card.save(folder / "card.json")


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=list))


def suite_settings(name: str, seed: int = 0) -> ModelSettings:
    s = dict(SUITE[name])
    if "snr_range_db" in s:
        s["snr_range_db"] = tuple(s["snr_range_db"])
    return ModelSettings(seed=seed, **s)
