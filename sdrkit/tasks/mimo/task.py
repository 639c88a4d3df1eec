"""The ``mimo`` task: learned MIMO links (AE, BAE, BAE-T) against ZF / MMSE / ML, their training
memory, and the link over a multi-channel radio.

Verbs: ``sdrkit dataset mimo`` (the held-out evaluation draws), ``sdrkit train mimo`` (one model,
or ``--suite bundled``), ``sdrkit evaluate mimo`` (BER curves in the seed's four figure forms,
memory, over-the-radio, targets), ``sdrkit link mimo --model CARD --radio URI`` (bits through the
trained transmitter, ``tx()``/``rx()`` of a 2-channel radio, decoded by the learned receiver, MMSE
and ML on the same frames). Live: ``sdrkit classify --model models/mimo/<name>`` decodes bursts
(card output kind ``bits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sdrkit.errors import ConfigError
from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_MODELS = "models/mimo"
DEFAULT_CARD = f"{DEFAULT_MODELS}/coupled-baet-2x2-k2/card.json"


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option("data/mimo", help="output folder")
    uses: int = option(100_000, help="held-out channel uses per (channel, N_T, k) set")
    seed: int = option(1000, help="root seed of the held-out draws (training uses seeds 0..99)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    out: str | None = option(None, help="model folder (default out/mimo/model; with --suite: the parent of one "
                                         "folder per model, default models/mimo)")
    suite: str | None = option(None, choices=("bundled",), help="train every bundled model (names in train.SUITE)")
    only: str | None = option(None, help="with --suite: comma-separated model names to (re)train")
    kind: str = option("bae-t", choices=("ae", "bae", "bae-t"), help="autoencoder variant")
    n_t: int = option(2, help="transmit antennas")
    n_r: int = option(2, help="receive antennas")
    k: int = option(2, help="bits per antenna and channel use")
    channel: str = option("coupling", choices=("awgn", "coupling"), help="training channel (fixed H)")
    h_t: int = option(128, help="transmitter width (paper 256)")
    h_r: int = option(128, help="receiver width (paper 2048)")
    snr_mode: str = option("fixed", choices=("fixed", "random", "conditioned"), help="training SNR mode")
    train_snr: float = option(10.0, help="Es/N0 of fixed-SNR training, dB")
    snr_lo: float = option(0.0, help="random/conditioned: lowest Es/N0, dB")
    snr_hi: float = option(20.0, help="random/conditioned: highest Es/N0, dB")
    steps: int = option(1500, help="Adam steps (paper 2000)")
    batch: int = option(1024, help="batch (paper 2048)")
    time_budget: float | None = option(None, help="stop each model after this many minutes")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class LinkConfig:
    model: str = option(DEFAULT_CARD, help="mimo model card")
    radio: str = option("sim:loopback?coupling=0.3", help="radio URI with N_T TX and N_R RX channels")
    es_n0: float | None = option(None, help="sim radios: set the loopback SNR so the measured Es/N0 is this, dB")
    bursts: int = option(100, help="bursts to send")
    seed: int = option(0, help="bits seed")
    out: str | None = option(None, help="write the result as JSON here")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    models: str = option(DEFAULT_MODELS, help="folder of trained model folders (one card.json each)")
    out: str = option("out/mimo_eval", help="folder for JSON and PNGs")
    max_bits: int = option(10_000_000, help="bits per BER point at most")
    min_errors: int = option(100, help="bit errors per BER point (a point stops at this many)")
    stop_ber: float = option(1e-4, help="a curve stops after its first point below this BER (the targets are at "
                                        "1e-3; 0 runs every curve down to max_bits)")
    radio: str = option("sim:loopback?coupling=0.3", help="2-channel radio URI for the over-the-radio check")
    link_bursts: int = option(400, help="bursts per over-the-radio run (1024 bits each for 2x2 QPSK)")
    no_memory: bool = option(False, help="skip the measured-memory study (estimates only)")
    memory_widths: str = option("256,512,2048", help="H_T,H_R,batch of the memory study (paper: 256,2048,2048; "
                                                     "H_R 2048 costs ~3 s per step here)")
    quick: bool = option(False, help="small smoke run (few bits, smoke figures, not results)")
    update_card: bool = option(False, help="also write the figures into the model cards (never done otherwise)")
    seed: int = option(1, help="evaluation seed (training used others)")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    from sdrkit.tasks.mimo.data import write_dataset

    path = write_dataset(Path(cfg.out), cfg.uses, cfg.seed, command=cfg.command_line)
    print(f"wrote {path}")
    return 0


def train(cfg: TrainConfig) -> int:
    import hashlib

    from sdrkit.tasks.mimo.train import SUITE, ModelSettings, suite_settings, train_one

    data = Path("data/mimo/manifest.json")
    sha = hashlib.sha256(data.read_bytes()).hexdigest() if data.exists() else None
    budget = cfg.time_budget * 60 if cfg.time_budget else None
    if cfg.suite:
        names = list(SUITE) if not cfg.only else [n.strip() for n in cfg.only.split(",") if n.strip()]
        bad = [n for n in names if n not in SUITE]
        if bad:
            raise ConfigError(f"--only {bad[0]!r} is not a bundled model; they are: {', '.join(SUITE)}")
        for name in names:
            card, path = train_one(suite_settings(name, cfg.seed), Path(cfg.out or DEFAULT_MODELS) / name, name,
                                   command=cfg.command_line, time_budget_s=budget, data_sha256=sha)
            t = card.metrics["training"]
            print(f"{name}: {t['steps_run']} steps in {t['train_seconds']:.0f} s, final batch BER "
                  f"{t['final_batch_ber']:.2e} -> {path}", flush=True)
        return 0
    s = ModelSettings(kind=cfg.kind, n_t=cfg.n_t, n_r=cfg.n_r, k=cfg.k, channel=cfg.channel, h_t=cfg.h_t,
                      h_r=cfg.h_r, snr_mode=cfg.snr_mode, train_snr_db=cfg.train_snr,
                      snr_range_db=(cfg.snr_lo, cfg.snr_hi), steps=cfg.steps, batch=cfg.batch, seed=cfg.seed)
    out = Path(cfg.out or "out/mimo/model")
    name = out.name
    card, path = train_one(s, out, name, command=cfg.command_line, time_budget_s=budget,
                           data_sha256=sha)
    print(f"wrote {path}")
    return 0


def link(cfg: LinkConfig) -> int:
    import json

    from sdrkit.resources import resolve
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.mimo.link import MimoModel, calibrated_link

    model = MimoModel(load_card(resolve("models", cfg.model)))
    res = calibrated_link(model, cfg.radio, cfg.es_n0, cfg.bursts, seed=[cfg.seed])
    counts = res.pop("_counts")
    print(f"{model.card.name}: {cfg.bursts} bursts through {cfg.radio}, measured Es/N0 {res['es_n0_db']:.2f} dB")
    for k, c in counts.items():
        lo, hi = c.interval()
        print(f"  {k:8s} BER {c.ber:.3e}  ({c.errors}/{c.bits}, 95% CI {lo:.2e}..{hi:.2e})")
    if cfg.out:
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(f"wrote {cfg.out}")
    return 0


class MimoTask(Task):
    """learned MIMO links: AE / BAE / BAE-T vs ZF, MMSE and ML; training memory; over the radio"""

    name = "mimo"
    summary = "learned MIMO links (AE, BAE, Tanh-BAE) vs ZF/MMSE/ML, training memory, link over a 2-channel radio"
    verbs = (
        Verb("dataset", "held-out evaluation draws (bits, noise seeds) with their hashes", DatasetConfig, dataset),
        Verb("train", "train one MIMO autoencoder (or --suite bundled); writes ONNX + card", TrainConfig, train),
        Verb("evaluate", "BER curves (seed Fig. 1a-d), memory study, over-the-radio check, targets",
             EvaluateConfig,
             "sdrkit.tasks.mimo.evaluate:run_evaluation"),
        Verb("link", "bits through the trained transmitter, a multi-channel radio and three decoders", LinkConfig,
             link),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "uses": 1000}),
               ("train", {"out": "{tmp}/model", "steps": 60, "h_t": 16, "h_r": 16, "batch": 256}),
               ("evaluate", {"models": "{tmp}/model", "out": "{tmp}/eval", "quick": True, "no_memory": True,
                             "link_bursts": 4}),
               ("link", {"model": "{tmp}/model/card.json", "bursts": 2, "es_n0": 20.0})),
        card="{tmp}/model/card.json",
        stream="sim:loopback?rx_enabled_channels=0,1&sample_rate=1000000")

    def predictor(self, card, options):
        from sdrkit.tasks.mimo.link import MimoPredictor

        self.refuse_options(options)
        return MimoPredictor(card, threads=options.threads)


TASK = MimoTask
