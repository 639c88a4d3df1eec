"""The ``airnet`` task: deliver a network over the air in analog form (AirNet), against digital delivery.

Verbs: ``sdrkit dataset airnet`` (an AMC data set, made by the amc task's generator),
``sdrkit train airnet`` (noise injection, joint L1 filter pruning, distillation from the bundled
AMC backbone, SK expansion; the ablation arms), ``sdrkit evaluate airnet`` (accuracy vs SNR and
vs channel symbols for analog / SK / digital at capacity / LDPC+QAM / noiseless, the ablation,
delivery over the simulated radio; targets as data). The generic ``sdrkit deliver --model CARD
--radio URI --mode analog|digital`` reaches :meth:`AirnetTask.deliver` through the task
registry; ``sdrkit classify --model <received card>`` then runs the received student.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/amc"
DEFAULT_MODEL_DIR = "models/airnet"
DEFAULT_CARD = f"{DEFAULT_MODEL_DIR}/card.json"
TEACHER_CARD = "models/amc/card.json"


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder (an AMC data set: 'sdrkit dataset amc' writes the same)")
    train_per_cell: int = option(480, help="train frames per (class, SNR)")
    val_per_cell: int = option(160, help="validation frames per (class, SNR)")
    test_per_cell: int = option(152, help="test frames per (class, SNR)")
    seed: int = option(0, help="root seed")
    workers: int | None = option(None, help="generator processes (default: all cores)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(DEFAULT_DATA, help="AMC data set folder")
    out: str = option(DEFAULT_MODEL_DIR, help="model folder")
    teacher: str = option(TEACHER_CARD, help="distillation teacher's model card (the bundled AMC backbone)")
    part: str = option("all", choices=("all", "main", "ablation", "card", "sk"),
                       help="main: the bundled chain; ablation: the Fig. 4a arms; card: write the card from both; "
                            "all: the three in turn; sk: redo only the SK arm of a saved ladder.pt (what --part "
                            "main computes last, from the same entries and seed)")
    frames: int = option(30000, help="training frames (SNR >= --min-snr)")
    min_snr: float = option(-6.0, help="lowest training-frame SNR, dB")
    widths: str = option("32,64,64,96", help="output channels of the four conv blocks of the unpruned student")
    hidden: int = option(128, help="width of the student's hidden fully connected layer")
    base_steps: int = option(5000, help="Adam steps of the unpruned training")
    prune_steps: int = option(1500, help="fine-tune steps after each pruning iteration")
    prune_iters: int = option(2, help="pruning iterations of the bundled student (10%% of each conv layer's filters)")
    snr_lo: float = option(8.0, help="noise injection: lowest training SNR, dB (uniform spread)")
    snr_hi: float = option(12.0, help="noise injection: highest training SNR, dB")
    channel: str = option("torch", choices=("torch", "numpy"),
                          help="noise injection path: torch (the channel's exact weight noise, differentiable in "
                               "each tensor's RMS and the power gains) or numpy (the delivery's own encode/decode, "
                               "straight-through)")
    uniform_power: bool = option(False, help="do not learn per-tensor power gains with the weights (the card's "
                                             "gains then come from the Algorithm-1 sensitivities)")
    lr: float = option(3e-3, help="Adam rate of the unpruned training (x0.1 for its last third)")
    prune_lr: float = option(1e-3, help="Adam rate of the pruning fine-tunes and the SK arm (x0.1 for the last third)")
    batch: int = option(64, help="frames per step")
    crop: int = option(512, help="train on random windows of this many samples (0: whole frames)")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = option(DEFAULT_CARD, help="AirNet model card")
    data: str = option(DEFAULT_DATA, help="AMC data set folder (its test split is used)")
    out: str = option("out/airnet_eval", help="folder for JSON and PNGs")
    frames: int = option(2000, help="fixed test subset (frames with SNR >= 0 dB)")
    draws: int = option(200, help="slow-Rayleigh channel draws per SNR point")
    deliveries: int = option(60, help="deliveries through the simulated radio at 10 dB (one delivery's accuracy "
                                      "varies by ~2.4 points: 60 put the standard error of the radio-math gap "
                                      "near 0.45 points)")
    beam: str = option("models/beam/card.json", help="second case: the beam encoder's card ('' to skip)")
    quick: bool = option(False, help="small smoke run (few frames, draws and deliveries)")
    seed: int = option(1, help="evaluation seed")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    """An AMC data set (the AMC task's generator and SigMF split writer, its public functions)."""
    import json

    from sdrkit.tasks.amc.data import CLASSES, SNRS, AmcDataSpec
    from sdrkit.tasks.amc.dataset import write_split

    spec = AmcDataSpec()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"spec": spec.to_dict(), "command": cfg.command_line, "seed": cfg.seed, "splits": {}}
    for split, per in (("train", cfg.train_per_cell), ("val", cfg.val_per_cell), ("test", cfg.test_per_cell)):
        if per:
            manifest["splits"][split] = write_split(out, split, per * len(CLASSES) * len(SNRS), cfg.seed, spec,
                                                    cfg.workers, cfg.command_line)
    (out / "splits.json").write_text(json.dumps(manifest, indent=2))
    print(f"wrote {out / 'splits.json'}")
    return 0


class AirnetTask(Task):
    """over-the-air delivery of a network's weights: analog AirNet vs digital"""

    name = "airnet"
    summary = "over-the-air model delivery (AirNet): analog weights with SK spirals vs digital coding"
    verbs = (
        Verb("dataset", "write the AMC data set the AirNet student learns and is scored on", DatasetConfig, dataset),
        Verb("train", "train the AirNet student (noise injection, joint pruning, distillation, SK) and the "
                      "ablation arms", TrainConfig, "sdrkit.tasks.airnet.sweep:run_train"),
        Verb("evaluate", "accuracy vs SNR / channel symbols, analog vs digital, ablation, radio delivery "
                         "(JSON + PNGs)", EvaluateConfig, "sdrkit.tasks.airnet.evaluate:run_evaluation"),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "train_per_cell": 2, "val_per_cell": 1, "test_per_cell": 2,
                            "workers": 1}),
               ("train", {"data": "{tmp}/data", "out": "{tmp}/model", "frames": 400, "min_snr": -20,
                          "base_steps": 4, "prune_steps": 2, "prune_iters": 1, "batch": 16, "crop": 256}),
               ("evaluate", {"model": "{tmp}/model/card.json", "data": "{tmp}/data", "out": "{tmp}/eval",
                             "quick": True, "beam": ""})),
        card="{tmp}/model/card.json",
        stream="sim:{tmp}/data/test.sigmf-meta?loop=0")

    def predictor(self, card, options):
        from sdrkit.tasks.airnet.live import StudentPredictor

        self.refuse_options(options)
        return StudentPredictor(card, threads=options.threads)

    def deliver(self, card_path, radio_uri: str, mode: str = "analog", expand: int = 1, out: str | None = None,
                seed: int = 0, radio=None) -> dict:
        """Send ``card_path``'s weights through ``radio_uri`` and write the received card (+ ONNX).

        Works for any card whose graphs are ONNX files: the learned tensors of each graph
        (initializers feeding Conv/Gemm/MatMul) travel; the rest of the graph is the receiver's.
        """
        from sdrkit.tasks.airnet.deliver import deliver_card

        return deliver_card(card_path, radio_uri, mode=mode, expand=expand, out=out, seed=seed, radio=radio)


TASK = AirnetTask
