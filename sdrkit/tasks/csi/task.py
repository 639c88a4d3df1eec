"""The ``csi`` task: CSI feedback compression (CLLWCsiNet and its baselines), real int8, noisy feedback.

Verbs: ``sdrkit dataset csi`` (3GPP TR 38.901 InH / UMa channels from sionna, angular-delay,
CsiNet normalization), ``sdrkit train csi`` (one model, the bundled CLLWCsiNet CR 4/8/16, or the
whole sweep), ``sdrkit evaluate csi`` (the seed's Table III in form, noisy feedback over the
simulated radio, int8, mobility; targets as data, PNGs). Live: ``sdrkit classify --model
models/csi/card.json --radio sim:data/csi/indoor/pilots.sigmf-meta`` estimates the CSI from the
downlink pilot sweep in each frame, compresses it with the UE encoder and reconstructs it with the
BS decoder (output kind ``reconstruction``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdrkit.errors import ConfigError
from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/csi"
DEFAULT_MODEL_DIR = "models/csi"
DEFAULT_CARD = f"{DEFAULT_MODEL_DIR}/card.json"
ARCH_CHOICES = ("cllwcsinet", "csinet", "csinet_cl", "crnet", "lwsep")


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder (one sub-folder per scenario)")
    scenarios: str = option("indoor,outdoor", help="comma list of scenarios: indoor (InH 5.3 GHz), outdoor (UMa 700 MHz)")
    train: int = option(12000, help="training CSI samples per scenario")
    val: int = option(1000, help="validation samples per scenario")
    test: int = option(2000, help="test samples per scenario")
    mobility: int = option(400, help="moving UEs with snapshots at lags 0..40 ms (0: none)")
    pilots: int = option(16, help="frames in the pilot-sweep capture for the live predictor (0: none)")
    seed: int = option(0, help="root seed (split i of a scenario uses seed*1000+i)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(DEFAULT_DATA, help="data set folder")
    out: str = option(DEFAULT_MODEL_DIR, help="model folder")
    what: str = option("bundle", choices=("bundle", "one", "sweep", "requantize"),
                       help="bundle: CLLWCsiNet CR 4/8/16 + card; one: --arch/--cr only; sweep: every arch x CR x "
                            "scenario (+ the noise-aware CLLWCsiNet CR 4 indoors) for evaluate's tables; requantize: "
                            "redo the int8 encoders of the card(s) under --out from their fp32 graphs (no training)")
    arch: str = option("cllwcsinet", choices=ARCH_CHOICES, help="architecture (--what one)")
    cr: int = option(4, help="compression ratio 4, 8 or 16 (--what one)")
    scenario: str = option("indoor", help="scenario to train on (bundle, one); sweep: comma list, e.g. indoor,outdoor")
    epochs: int = option(15, help="passes over the training split (same schedule for every model)")
    batch: int = option(50, help="batch size")
    lr: float = option(1e-2, help="Adam learning rate (cosine decay to 1% over the run)")
    arch_lr: str = option("csinet=1e-3,crnet=1e-3,cllwcsinet@outdoor=3e-3",
                          help="per-architecture learning rates overriding --lr: ARCH=LR for every scenario, "
                               "ARCH@SCENARIO=LR for one (sweep only: bundle and one use --lr; picked on the "
                               "validation split, docs/csi.md)")
    noise_snr: str = option("", help="noise-injection training: 'LOW:HIGH' dB drawn per sample (empty: none)")
    max_train: int = option(0, help="use at most this many training samples (0: all)")
    time_budget: float | None = option(None, help="stop each model after this many wall-clock minutes")
    cpu_budget: float = option(0.0, help="stop each model after this many CPU seconds; the cosine LR decay runs "
                                         "over it (the same schedule for every model of a budget, whatever the load)")
    archs: str = option("cllwcsinet,csinet_cl,csinet,crnet,lwsep", help="sweep: comma list of architectures")
    skip: str = option("", help="sweep: comma list of model tags not to train (e.g. cllwcsinet_cr4 when the bundle "
                                "has it: evaluate then takes the bundled one)")
    threads: int = option(1, help="torch threads")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = option(DEFAULT_CARD, help="bundled CLLWCsiNet card")
    sweep: str = option("out/csi_sweep", help="folder of 'sdrkit train csi --what sweep' models (missing ones are "
                                              "reported as not measured)")
    data: str = option(DEFAULT_DATA, help="data set folder")
    out: str = option("out/csi_eval", help="folder for JSON and PNGs")
    bits: int = option(6, help="bits per codeword element for the digital feedback (uniform quantizer)")
    n_test: int = option(0, help="test samples per measurement (0: the whole test split)")
    radio_samples: int = option(1000, help="codewords sent through the simulated radio per SNR point (at the "
                                           "BER cliff a codeword's NMSE hangs on a few bit errors: 200 read 0.5 dB "
                                           "off, 1000 settle; at most the first 1000 test CSI)")
    quick: bool = option(False, help="small smoke run")
    update_card: bool = option(False, help="also write the figures into the model card (never done otherwise)")
    seed: int = option(1, help="evaluation seed (noise draws)")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    from pathlib import Path

    from sdrkit.tasks.csi.data import SCENARIOS, make_scenario

    names = [s.strip() for s in cfg.scenarios.split(",") if s.strip()]
    bad = [n for n in names if n not in SCENARIOS]
    if bad or not names:
        raise ConfigError(f"--scenarios {cfg.scenarios!r}: unknown {bad}; choose from {sorted(SCENARIOS)}")
    for n, v in (("train", cfg.train), ("val", cfg.val), ("test", cfg.test)):
        if v < 1:
            raise ConfigError(f"--{n} {v} must be >= 1 sample")
    import torch

    torch.set_num_threads(1)
    for name in names:
        card = make_scenario(Path(cfg.out) / name, SCENARIOS[name], {"train": cfg.train, "val": cfg.val,
                                                                      "test": cfg.test},
                             cfg.mobility, cfg.pilots, cfg.seed, command=cfg.command_line)
        print(f"{name}: {card['generator']}; train/val/test {cfg.train}/{cfg.val}/{cfg.test}, energy in 32 taps "
              f"{card['energy_kept_mean']['test']:.3f}, {card['seconds']:.0f} s -> {Path(cfg.out) / name}")
    return 0


class CsiTask(Task):
    """CSI feedback compression: CLLWCsiNet vs CsiNet/CRNet, real int8, feedback over the radio"""

    name = "csi"
    summary = "CSI feedback compression (CLLWCsiNet, CsiNet, CRNet): int8 UE encoder, noisy feedback over the radio"
    verbs = (
        Verb("dataset", "3GPP 38.901 InH/UMa CSI from sionna: angular-delay 2x32x32, splits, mobility, pilots",
             DatasetConfig, dataset),
        Verb("train", "train CSI autoencoders (bundle: CLLWCsiNet CR 4/8/16); ONNX fp32 + int8 encoder + card",
             TrainConfig, "sdrkit.tasks.csi.train:run_train"),
        Verb("evaluate", "Table III in form, NMSE vs feedback SNR (math and radio), int8, mobility; targets",
             EvaluateConfig, "sdrkit.tasks.csi.evaluate:run_evaluation"),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "scenarios": "indoor", "train": 100, "val": 20, "test": 20,
                            "mobility": 4, "pilots": 2}),
               ("train", {"data": "{tmp}/data", "out": "{tmp}/model", "what": "one", "cr": 16, "epochs": 1,
                          "batch": 50}),
               ("evaluate", {"model": "{tmp}/model/card.json", "data": "{tmp}/data", "sweep": "{tmp}/none",
                             "out": "{tmp}/eval", "quick": True})),
        card="{tmp}/model/card.json",
        stream="sim:{tmp}/data/indoor/pilots.sigmf-meta?loop=0")

    def predictor(self, card, options):
        from sdrkit.tasks.csi.live import CsiPredictor

        self.refuse_options(options)
        return CsiPredictor(card, threads=options.threads)


TASK = CsiTask
