"""The ``spectrum`` task: a spectrum foundation model (masked spectrogram pretraining of a ConvLSTM),
frozen-backbone forecasting and segmentation heads, live on any radio.

Verbs: ``sdrkit dataset spectrum`` (busy-band SigMF scenes, labels as frequency-bounded
annotations), ``sdrkit train spectrum`` (``--stage pretrain|heads|all``; runs under ``torchrun
--nproc-per-node N`` with DDP), ``sdrkit evaluate spectrum`` (every target of issue 13 as data,
PNGs). Live: ``sdrkit classify --model models/spectrum/segment/card.json --radio URI`` (a mask
per frame, per-label occupancy, ``--record`` writes detections as annotations with frequency
edges); ``models/spectrum/forecast/card.json`` forecasts the next 16 rows. Guide: docs/spectrum.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/spectrum"
DEFAULT_MODELS = "models/spectrum"
ALL_SPLITS = "train,val,test,lte_nr,low_snr,family"


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder (one subfolder per split)")
    scenes: int = option(48, help="training scenes")
    eval_scenes: int = option(8, help="scenes in each other split")
    duration: float = option(0.05, help="seconds per scene")
    rates: str = option("20e6", help="comma-separated sample rates, samples/s (10e6 to 61.44e6), cycled over scenes")
    splits: str = option(ALL_SPLITS, help="comma-separated splits to write")
    seed: int = option(0, help="root seed (scene i of a split uses the stream (seed + offset, offset, i))")
    demo: str = option("", help="instead: write one ci16 busy-band demo recording here (e.g. captures/spectrum_busy)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(DEFAULT_DATA, help="data folder (train/ and val/ inside), or any folder of SigMF for pretraining")
    out: str = option(DEFAULT_MODELS, help="model folder (backbone/, segment/, forecast/, *-scratch/ inside)")
    stage: str = option("all", choices=("all", "pretrain", "heads"), help="what to train")
    backbone: str = option(f"{DEFAULT_MODELS}/backbone/card.json", help="--stage heads: the pretrained backbone card")
    mask: str = option("random", choices=("random", "block", "auto"),
                       help="masking: random 20%% tokens, block 60%% time-frequency blocks, auto = pick by measurement")
    pretrain_minutes: float = option(6.0, help="pretraining time budget, minutes (per process)")
    steps: int = option(0, help="pretraining steps instead of a time budget (0: use the budget)")
    head_minutes: float = option(1.0, help="budget per frozen head, minutes")
    scratch_minutes: float = option(3.0, help="budget per scratch baseline, minutes")
    layers: int = option(3, help="ConvLSTM layers")
    filters: int = option(16, help="ConvLSTM filters per layer")
    batch: int = option(16, help="sentences per step (per process)")
    max_sentences: int = option(0, help="use at most this many sentences per split (0: all)")
    threads: int = option(1, help="torch threads per process")
    rank_weights: str = option("", help="also save each rank's final backbone weights in this folder (DDP test)")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    models: str = option(DEFAULT_MODELS, help="model folder written by 'sdrkit train spectrum'")
    data: str = option(DEFAULT_DATA, help="data folder written by 'sdrkit dataset spectrum'")
    out: str = option("out/spectrum_eval", help="folder for evaluation.json and PNGs")
    seconds: float = option(20.0, help="seconds per throughput and live measurement")
    quick: bool = option(False, help="small smoke run: no torchrun or live measurements")
    update_card: bool = option(False, help="also write the figures into the segment card (never done otherwise)")
    seed: int = option(1, help="evaluation seed")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    import sys
    from pathlib import Path

    from sdrkit.errors import ConfigError
    from sdrkit.tasks.spectrum.data import SPLITS, write_split

    rates = tuple(float(r) for r in cfg.rates.split(","))
    if cfg.demo:
        from sdrkit.tasks.spectrum.data import write_demo

        print(f"wrote {write_demo(cfg.demo, cfg.seed, rates[0], cfg.command_line)}")
        return 0
    out = Path(cfg.out)
    for split in cfg.splits.split(","):
        if split not in SPLITS:
            raise ConfigError(f"--splits: {split!r} is not one of {', '.join(SPLITS)}")
        n = cfg.scenes if split == "train" else cfg.eval_scenes
        paths = write_split(out, split, n, cfg.seed, cfg.duration, rates, command=cfg.command_line,
                            progress=sys.stderr.isatty())
        print(f"{split}: {len(paths)} scenes of {cfg.duration * 1e3:g} ms -> {out / split}")
    return 0


def train(cfg: TrainConfig) -> int:
    from sdrkit.tasks.spectrum.bundle import run_train

    return run_train(cfg)


class SpectrumTask(Task):
    """spectrum foundation model: masked spectrogram pretraining, frozen-backbone forecasting and segmentation"""

    name = "spectrum"
    summary = "spectrum foundation model: masked ConvLSTM pretraining, frozen-backbone forecasting and segmentation"
    verbs = (
        Verb("dataset", "write busy-band SigMF scenes labelled by frequency-bounded annotations", DatasetConfig,
             dataset),
        Verb("train", "masked pretraining (torchrun-ready) and frozen/scratch heads; writes ONNX + cards",
             TrainConfig, train),
        Verb("evaluate", "every issue-13 target as data: segmentation, forecasting, timing, throughput, live",
             EvaluateConfig, "sdrkit.tasks.spectrum.evaluate:run_evaluation"),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "scenes": 1, "eval_scenes": 1, "duration": 0.014,
                            "splits": "train,val,test,lte_nr,low_snr,family"}),
               ("train", {"data": "{tmp}/data", "out": "{tmp}/model", "steps": 2, "layers": 1, "filters": 4,
                          "head_minutes": 0.02, "scratch_minutes": 0.02, "batch": 2}),
               ("evaluate", {"models": "{tmp}/model", "data": "{tmp}/data", "out": "{tmp}/eval", "quick": True})),
        card="{tmp}/model/segment/card.json",
        stream="sim:{tmp}/data/test/scene_0000.sigmf-meta?loop=0")
    benchmarks = ("sdrkit.tasks.spectrum.bench",)

    def predictor(self, card, options):
        from sdrkit.tasks.spectrum.live import SpectrumPredictor

        self.refuse_options(options)
        return SpectrumPredictor(card, threads=options.threads)


TASK = SpectrumTask
