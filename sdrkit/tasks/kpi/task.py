"""The ``kpi`` task: rare-event generation of link KPIs (IL-GAN vs cWGAN-GP), and channel scenarios.

Verbs: ``sdrkit dataset kpi`` (simulated KPIs with known tails, or a user's CSV/JSONL/Parquet of
metrics), ``sdrkit train kpi`` (cWGAN-GP and IL-GAN per data set, the ablation, the KDE/GPD anchor;
ONNX + one card), ``sdrkit evaluate kpi`` (per-segment JS tables with bootstrap CIs, every target,
PNGs, the stress run), ``sdrkit generate kpi`` (rows of a segment, and a scenario file for the sim
radio). Live: ``sdrkit classify --model models/kpi/card.json --radio URI`` attaches one generated
KPI row of the card's live segment to every frame (output kind ``samples``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/kpi"
DEFAULT_MODEL_DIR = "models/kpi"
DEFAULT_CARD = f"{DEFAULT_MODEL_DIR}/card.json"


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder")
    sim: str = option("ce,sinr_delay,it_pl", help="simulated data sets (ce, sinr_delay, it_pl), comma-separated")
    n: int | None = option(None, help="rows per simulated data set (default: 10M ce, 10M sinr_delay, 2.5M it_pl)")
    seed: int = option(0, help="root seed")
    rician_k: float = option(0.0, help="ce: Rician K factor, linear (0 = Rayleigh)")
    from_file: str | None = option(None, flag="--from", help="read KPIs from a CSV/JSONL/Parquet file instead "
                                                             "(e.g. 'sdrkit classify --jsonl' output)")
    columns: str | None = option(None, help="--from: numeric columns to use, comma-separated (default: all)")
    name: str = option("imported", help="--from: data set name")
    proportions: str = option("54,23,22,0.3,0.0002", help="--from: Table I segment shares in %% (segment 1 "
                                                          "takes the remainder)")
    tail: str = option("high", choices=("high", "low"), help="--from: which side of each column is the tail")
    log: str = option("", help="--from: columns to segment and model in log10 (comma-separated)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(DEFAULT_DATA, help="data set folder")
    out: str = option(DEFAULT_MODEL_DIR, help="model folder")
    datasets: str = option("ce,sinr_delay,it_pl", help="data sets to model, comma-separated")
    steps: int = option(500, help="generator steps per model (IL-GAN: over all segments; early stop may end sooner)")
    hidden: int = option(32, help="hidden width (seed Table II: 200; scaled for the shared 2-core CPU)")
    layers: int = option(4, help="hidden layers (seed: 5)")
    latent: int = option(100, help="latent size (seed: 100)")
    batch: int = option(128, help="batch size (not given by the seed)")
    n_critic: int = option(5, help="critic steps per generator step (seed n_c: 5)")
    dropout: float = option(0.33, help="critic dropout (seed: 0.33)")
    lr: float = option(5e-4, help="Adam learning rate (seed: 2e-4; 5e-4 for the short CPU runs)")
    eval_every: int = option(25, help="generator steps between early-stop JS evaluations")
    no_ablation: bool = option(False, help="skip the ablation (IL-GAN without replay / freezing / both, on ce)")
    jobs: int = option(3, help="parallel training processes (one thread each)")
    time_budget: float | None = option(None, help="stop each generator's training after this many minutes")
    pool_cap: int = option(1_000_000, help="training rows kept per label")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = option(DEFAULT_CARD, help="model card")
    data: str = option(DEFAULT_DATA, help="data set folder (training data: the KDE anchor and imported sets)")
    out: str = option("out/kpi_eval", help="folder for JSON and PNGs")
    n_gen: int = option(20000, help="generated rows per segment and method")
    n_ref: int = option(2_000_000, help="importance-sampled reference draws per data set (the truth)")
    bootstrap: int = option(100, help="bootstrap resamples for the JS confidence intervals")
    no_stress: bool = option(False, help="skip the stress run (AMC under the generated tail vs ordinary traffic)")
    quick: bool = option(False, help="small smoke run")
    update_card: bool = option(False, help="also write the figures into the model card (never done otherwise)")
    seed: int = option(1, help="evaluation seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class GenerateConfig:
    model: str = option(DEFAULT_CARD, help="model card")
    dataset: str | None = option(None, help="data set whose generator to use (default: the card's live one)")
    method: str = option("ilgan", help="generator: ilgan, cwgan, or an ablation key (ilgan_noreplay, ...)")
    segment: int = option(1, help="segment (1 = head; the last one is the rarest)")
    n: int = option(100000, help="rows to generate")
    out: str = option("out/kpi_generated.csv", help="CSV of the generated rows (natural units)")
    scenario: str | None = option(None, help="also write a sim-radio scenario file built from the rows")
    mean_snr: float = option(20.0, help="scenario from ce rows: mean SNR, dB (block SNR = mean + 10 log10 |h|^2)")
    samples_per_ms: int = option(1000, help="scenario: samples per ms of KPI delay (the stream's rate / 1000)")
    seed: int = option(0, help="generation seed")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    from sdrkit.tasks.kpi.data import import_dataset, simulate_dataset

    if cfg.from_file:
        cols = [c.strip() for c in cfg.columns.split(",")] if cfg.columns else None
        path = import_dataset(cfg.out, cfg.from_file, cfg.name, cols, [float(p) for p in cfg.proportions.split(",")],
                              tail=cfg.tail, log_columns=tuple(c for c in cfg.log.split(",") if c),
                              command=cfg.command_line)
        print(f"imported {cfg.from_file} -> {path}")
        return 0
    import json

    for name in [s.strip() for s in cfg.sim.split(",") if s.strip()]:
        kw = {"rician_k": cfg.rician_k} if name == "ce" and cfg.rician_k else {}
        path = simulate_dataset(cfg.out, name, cfg.n, cfg.seed, cfg.command_line, **kw)
        meta = json.loads(path.read_text())
        fr = {k: [f"{100 * v:.4g}%" for v in vals] for k, vals in meta["feature_segment_fractions"].items()}
        print(f"{name}: {meta['rows']} rows in {meta['simulate_seconds']} s ({meta['rows_per_second']:.3g} rows/s), "
              f"segments {fr} -> {path}")
    return 0


def train(cfg: TrainConfig) -> int:
    from sdrkit.tasks.kpi.export import run_training

    card = run_training(cfg)
    print(f"wrote {card.path}")
    return 0


def generate(cfg: GenerateConfig) -> int:
    from sdrkit.tasks.kpi.generate import run_generate

    return run_generate(cfg)


class KpiTask(Task):
    """rare-event generation of link KPIs (IL-GAN vs cWGAN-GP); scenarios for the sim radio"""

    name = "kpi"
    summary = "rare-event generation of link KPIs (IL-GAN vs cWGAN-GP, KDE/GPD and IS anchors); sim-radio scenarios"
    verbs = (
        Verb("dataset", "simulate per-packet KPIs with known tails, or import a CSV/JSONL/Parquet of metrics",
             DatasetConfig, dataset),
        Verb("train", "cWGAN-GP and IL-GAN per data set, the ablation, the KDE/GPD fit; ONNX + card", TrainConfig,
             train),
        Verb("evaluate", "per-segment JS (base 2, bootstrap CIs), Tables III-V, targets, PNGs, stress run",
             EvaluateConfig, "sdrkit.tasks.kpi.evaluate:run_evaluation"),
        Verb("generate", "generate KPI rows of a segment; optionally a sim-radio scenario file", GenerateConfig,
             generate),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "sim": "ce", "n": 20000}),
               ("train", {"data": "{tmp}/data", "out": "{tmp}/model", "datasets": "ce", "steps": 10, "hidden": 16,
                          "layers": 2, "latent": 8, "batch": 64, "n_critic": 1, "eval_every": 5,
                          "no_ablation": True}),
               ("evaluate", {"model": "{tmp}/model/card.json", "data": "{tmp}/data", "out": "{tmp}/eval",
                             "quick": True}),
               ("generate", {"model": "{tmp}/model/card.json", "segment": 5, "n": 500, "out": "{tmp}/g.csv",
                             "scenario": "{tmp}/scenario.json"})),
        card="{tmp}/model/card.json",
        stream="sim:loopback?sample_rate=1e6&scenario={tmp}/scenario.json")

    def predictor(self, card, options):
        from sdrkit.tasks.kpi.live import KpiPredictor

        self.refuse_options(options)
        return KpiPredictor(card, threads=options.threads)


TASK = KpiTask
