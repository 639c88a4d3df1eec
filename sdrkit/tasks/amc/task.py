"""The ``amc`` task: early-exit automatic modulation classification.

Verbs: ``sdrkit dataset amc``, ``sdrkit train amc``, ``sdrkit calibrate-threshold amc``,
``sdrkit evaluate amc``, ``sdrkit calibrate amc`` (prototypes from an embedding card);
live through ``sdrkit classify --model models/amc/card.json`` (:class:`AmcPredictor`; ``--corrector cfo``
or ``cfo-refine``: blind CFO correction before the classifier).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/amc"
DEFAULT_MODEL_DIR = "models/amc"
DEFAULT_CARD = f"{DEFAULT_MODEL_DIR}/card.json"
VARIANTS = ("auto", "V0", "V1", "V2", "V3")


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder")
    train_per_cell: int = option(480, help="train frames per (class, SNR)")
    val_per_cell: int = option(160, help="validation frames per (class, SNR); threshold calibration needs ~1.7k "
                                         "frames per SNR to resolve a 1-point gap")
    test_per_cell: int = option(152, help="test frames per (class, SNR)")
    shifted_per_cell: int | None = option(None, help="frames per (class, SNR) of each held-back 'shifted' split "
                                                     "(shifted_val calibrates the exit rule, shifted_test measures it; "
                                                     "never trained on); default: half of --val-per-cell")
    family: str = option("wide", choices=("base", "wide", "shifted"),
                         help="generator family of train/val/test (sdrkit.tasks.amc.variants; base: the first generator)")
    frame_len: int = option(1024, help="samples per frame")
    seed: int = option(0, help="root seed; splits use streams (seed, split)")
    workers: int | None = option(None, help="generator processes (default: all cores)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(DEFAULT_DATA, help="data set folder")
    out: str = option(DEFAULT_MODEL_DIR, help="model folder")
    epochs: int = option(8, help="passes over the training split (8: ~16 min on 2 cores)")
    batch: int = option(256, help="frames per step")
    lr: float = option(3e-3, help="learning rate")
    method: str = option("joint", choices=("joint", "per-branch"),
                         help="joint weighted loss, or the paper's per-branch updates (Algorithm 1)")
    exit_weight: float = option(1.0, help="weight of each exit's loss (joint)")
    max_frames: int | None = option(None, help="use at most this many training frames")
    time_budget: float | None = option(None, help="stop training after this many minutes")
    seed: int = option(0, help="training seed")
    init: str | None = option(None, help="start from these weights (model.pt of the same network) instead of a "
                                         "random initialization; its SHA-256 goes in the card")
    budget: float = option(0.01, help="accuracy budget for the exit threshold: max drop vs backbone per SNR >= 0 dB")
    extra_data: str | None = option(None, help="also train on frames of this data set's train split (e.g. the base "
                                               "family's), mixed in at random")
    extra_frames: int = option(0, help="how many random frames of --extra-data to mix in")
    corrected_share: float = option(0.0, help="fraction of training frames given a raw +/-60 kHz offset and then "
                                              "the live CFO corrector, so the model learns what it leaves (0..1)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class CalibrateThresholdConfig:
    model: str = option(DEFAULT_CARD, help="model card")
    data: str = option(DEFAULT_DATA, help="data set folder (its val split is used)")
    budget: float = option(0.01, help="max accuracy drop vs the backbone at any SNR >= 0 dB (0.01 = 1 point)")
    variant: str = option("auto", choices=VARIANTS,
                          help="exit placement V0..V3 (after conv block 1, 2, 3, 5), or auto (pick by measured latency)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class CompressConfig:
    model: str = option(DEFAULT_CARD, help="the fp32 model card to quantize")
    data: str = option("data/amc_wide", help="data set folder (its val split calibrates the int8 ranges and the "
                                             "exit thresholds; the bundled card's training family)")
    out: str = option("out/amc-int8", help="folder of the int8 card (not the source card's); the bundled live card "
                                           "is models/amc-int8")
    force: bool = option(False, help="replace a card already in --out")
    calib_frames: int = option(2048, help="val frames for the int8 activation ranges")
    keep_float: str = option(r"^/(?!blocks|exits|head)",
                             help="regex on node names kept in float (default: the input stage and the /hist "
                                  "statistics block, whose small convolutions are slower in int8)")
    variant: str = option("auto", choices=VARIANTS, help="exit placement to deploy (auto: by measured latency)")
    seed: int = option(0, help="seed of the calibration frame draw")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = option(DEFAULT_CARD, help="model card")
    data: str = option(DEFAULT_DATA, help="data set folder (its test split is used)")
    out: str = option("out/amc_eval", help="folder for JSON and PNGs")
    max_per_snr: int = option(0, help="test frames per SNR for accuracy (0: all; latency uses at most 512)")
    quick: bool = option(False, help="fewer frames and repeats (smoke test; card untouched)")
    crossgen_per_cell: int = option(64, help="GNU Radio cross-generator frames per (class, SNR) (validation only)")
    crossgen_data: str | None = option(None, help="folder for the cross-generator recording (default: --data)")
    base_data: str | None = option(DEFAULT_DATA, help="data set of the first (base) generator: no-regression check "
                                                      "on its test split (reported as not measured when absent)")
    update_card: bool = option(False, help="also write the figures into the model card (never done otherwise)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class CalibrateConfig:
    model: str = option(help="embedding card (files.encoder), e.g. from tasks.amc.proto.export_amc_embedding")
    capture: str = option(help="labelled SigMF recording (core:label per frame)")
    front_end: str | None = option(None, help="front end name (default: the recording's sdrkit:front_end)")
    shots: int = option(8, help="labelled shots per class")
    out: str | None = option(None, help="calibration file (default calibrations/amc-<front end>-<UTC time>.json)")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    import time

    from sdrkit.tasks.amc.data import CLASSES, SNRS, AmcDataSpec
    from sdrkit.tasks.amc.dataset import write_split

    from sdrkit.tasks.amc.variants import family_ranges

    spec = AmcDataSpec(frame_len=cfg.frame_len, family=cfg.family)
    shifted = AmcDataSpec(frame_len=cfg.frame_len, family="shifted")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cells = len(CLASSES) * len(SNRS)
    manifest = {"spec": spec.to_dict(), "ranges": family_ranges(cfg.family), "command": cfg.command_line,
                "seed": cfg.seed, "splits": {},
                "shifted": {"spec": shifted.to_dict(), "ranges": family_ranges("shifted"),
                            "note": "held-back variant family: never trained on; shifted_val calibrates the "
                                    "exit rule, shifted_test measures it"}}
    n_shift = cfg.shifted_per_cell if cfg.shifted_per_cell is not None else max(cfg.val_per_cell // 2, 1)
    if cfg.family == "shifted":
        n_shift = 0
    plan = (("train", cfg.train_per_cell, spec), ("val", cfg.val_per_cell, spec), ("test", cfg.test_per_cell, spec),
            ("shifted_val", n_shift, shifted), ("shifted_test", n_shift, shifted))
    for split, per, sp in plan:
        n = per * cells
        if n == 0:
            continue
        t0 = time.perf_counter()
        manifest["splits"][split] = write_split(out, split, n, cfg.seed, sp, cfg.workers, cfg.command_line)
        dt = time.perf_counter() - t0
        manifest["splits"][split]["frames_per_s"] = n / dt
        print(f"{split}: {n} frames in {dt:.1f} s ({n / dt:.0f} frames/s incl. writing) -> {out / split}.sigmf-meta")
    (out / "splits.json").write_text(json.dumps(manifest, indent=2))
    print(f"wrote {out / 'splits.json'}")
    return 0


def train(cfg: TrainConfig) -> int:
    from sdrkit.errors import ConfigError
    from sdrkit.tasks.amc.train import train as train_net

    if not 0.0 <= cfg.corrected_share <= 1.0:
        raise ConfigError(f"--corrected-share {cfg.corrected_share} must be within 0..1 (the fraction of training "
                          f"frames given an offset and corrected); e.g. 0.5")

    net, hist = train_net(cfg.data, Path(cfg.out), epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr, method=cfg.method,
                          exit_weight=cfg.exit_weight, seed=cfg.seed, max_frames=cfg.max_frames,
                          time_budget_s=cfg.time_budget * 60 if cfg.time_budget else None, init=cfg.init,
                          extra_data=cfg.extra_data, extra_frames=cfg.extra_frames,
                          corrected_share=cfg.corrected_share)
    return finish_training(cfg, net, hist)


def finish_training(cfg: TrainConfig, net, hist) -> int:
    """Export every placement, write the card, calibrate."""
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec, sha256_file
    from sdrkit.tasks.amc.dataset import read_manifest
    from sdrkit.tasks.amc.train import EXITS, VARIANT_NAMES, export_all

    manifest = read_manifest(cfg.data)
    out = Path(cfg.out)
    frame_len = manifest["spec"]["frame_len"]
    files = export_all(net, out, frame_len)
    classes = tuple(manifest["spec"]["classes"])
    card = ModelCard(
        task="amc", name="amc-earlyexit", classes=classes,
        input=InputSpec(sample_rate=1e6, frame_len=frame_len, sample_rate_tolerance=0.0),
        files={**files, "stem": "stem_e2.onnx", "rest": "rest_e2.onnx"},
        output=OutputSpec("classes", description="modulation class; outputs.exited: frame left at the early exit"),
        architecture={"name": "amc_earlyexit", "kwargs": {"n_classes": len(classes), "exits": list(EXITS)}},
        thresholds={}, metrics={"val_history": hist},
        training={"command": cfg.command_line, "seed": cfg.seed, "method": cfg.method,
                  "corrected_share": cfg.corrected_share,
                  "exit_weight": cfg.exit_weight, "epochs_run": len(hist),
                  "init": ({"weights": cfg.init, "sha256": sha256_file(cfg.init)} if getattr(cfg, "init", None)
                           else None),
                  "data": {"manifest_command": manifest["command"], "seed": manifest["seed"],
                           "train_sha256": manifest["splits"]["train"]["sha256"],
                           "val_sha256": manifest["splits"]["val"]["sha256"],
                           "test_sha256": manifest["splits"].get("test", {}).get("sha256"),
                           "shifted_val_sha256": manifest["splits"].get("shifted_val", {}).get("sha256"),
                           "shifted_test_sha256": manifest["splits"].get("shifted_test", {}).get("sha256"),
                           "spec": manifest["spec"], "ranges": manifest.get("ranges", {}),
                           "shifted": manifest.get("shifted"),
                           "extra": (_extra_data_record(cfg) if getattr(cfg, "extra_data", None) else None)}},
        extra={"variants": {VARIANT_NAMES[k]: {"exit_after": k, "stem": f"stem_e{k}.onnx",
                                               "rest": f"rest_e{k}.onnx"} for k in EXITS},
               "deployed_variant": "V1"})
    card.save(out / "card.json")
    print(f"wrote {out / 'card.json'}; next: sdrkit calibrate-threshold amc --model {out / 'card.json'}")
    return calibrate_threshold(CalibrateThresholdConfig(model=str(out / "card.json"), data=cfg.data,
                                                        budget=cfg.budget, variant="auto"))


def _extra_data_record(cfg) -> dict:
    from sdrkit.tasks.amc.dataset import read_manifest

    m = read_manifest(cfg.extra_data)
    return {"dir": cfg.extra_data, "frames": cfg.extra_frames, "manifest_command": m.get("command"),
            "train_sha256": m["splits"]["train"]["sha256"], "spec": m["spec"]}


def calibrate_threshold(cfg: CalibrateThresholdConfig) -> int:
    from sdrkit.tasks.amc.select import calibrate_and_select

    card = calibrate_and_select(cfg.model, cfg.data, budget=cfg.budget, variant=cfg.variant)
    t = card.thresholds
    print(f"variant {card.extra['deployed_variant']}: entropy threshold T = {t['entropy']:.4f} nats "
          f"(val: {t['val_exit_fraction']:.1%} exit early, worst gap {t['val_worst_gap'] * 100:.2f} points); "
          f"wrote {card.path}")
    return 0


def calibrate(cfg: CalibrateConfig) -> int:
    from sdrkit.runtime.calibration import calibrate_capture, default_calibration_path

    out = cfg.out or default_calibration_path("amc", cfg.front_end)
    cal, dt = calibrate_capture(cfg.model, cfg.capture, shots=cfg.shots, front_end=cfg.front_end, out=out)
    print(f"calibrated {len(cal.classes)} classes x {cal.shots} shots on front end {cal.front_end!r} "
          f"in {dt * 1e3:.0f} ms -> {out}")
    return 0


class AmcTask(Task):
    """early-exit modulation classification (11 classes, entropy-gated exits)"""

    name = "amc"
    summary = "early-exit modulation classification (11 classes, entropy-gated exits)"
    verbs = (
        Verb("dataset", "write the labelled AMC data set (SigMF train/val/test splits)", DatasetConfig, dataset),
        Verb("train", "train the early-exit CNN, export every exit placement, calibrate the threshold",
             TrainConfig, train),
        Verb("calibrate-threshold", "pick the exit placement and entropy threshold for an accuracy budget",
             CalibrateThresholdConfig, calibrate_threshold),
        Verb("evaluate", "accuracy / early exits / latency vs SNR on the test split (JSON + PNGs)",
             EvaluateConfig, "sdrkit.tasks.amc.evaluate:run_evaluation"),
        Verb("calibrate", "prototypes for a new front end from an AMC embedding card", CalibrateConfig, calibrate),
        Verb("compress", "static int8 (QDQ) copy of the card for the live path; exit thresholds re-calibrated",
             CompressConfig, "sdrkit.tasks.amc.compress:compress"),
    )
    benchmarks = ("sdrkit.tasks.amc.bench",)
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "train_per_cell": 3, "val_per_cell": 2, "test_per_cell": 2,
                            "shifted_per_cell": 1, "workers": 1}),
               ("train", {"data": "{tmp}/data", "out": "{tmp}/model", "epochs": 1, "batch": 64}),
               ("evaluate", {"model": "{tmp}/model/card.json", "data": "{tmp}/data", "out": "{tmp}/eval",
                             "quick": True})),
        card="{tmp}/model/card.json",
        stream="sim:{tmp}/data/test.sigmf-meta?loop=0")

    #: the correctors ``classify --corrector`` offers (:data:`sdrkit.tasks.amc.live.FRONT_ENDS`)
    correctors = ("cfo", "cfo-refine")

    def predictor(self, card, options):
        from sdrkit.errors import ConfigError
        from sdrkit.tasks.amc.live import AmcPredictor

        options.check_corrector(self.name, self.correctors)
        if options.calibration:
            from sdrkit.runtime.calibration import PrototypePredictor

            if options.corrector:
                raise ConfigError(f"corrector {options.corrector!r} runs before the gated classifier, not before "
                                  f"--calibration's nearest-prototype encoder; drop --corrector or --calibration")
            self.refuse_options(options, allowed=("calibration",))
            return PrototypePredictor(card, options.calibration, threads=options.threads)
        return AmcPredictor(card, threshold=options.threshold, threads=options.threads, front_end=options.corrector)


TASK = AmcTask
