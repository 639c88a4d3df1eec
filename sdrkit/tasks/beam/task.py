"""The ``beam`` task: DeepBeam baseline and ProtoBeam few-shot recalibration.

Verbs: ``sdrkit dataset beam``, ``sdrkit train beam``, ``sdrkit evaluate beam``,
``sdrkit calibrate beam`` (a calibration session for a new front end); live through
``sdrkit classify --model models/beam/card.json --calibration FILE --radio URI``: the
encoder embeds each frame and the nearest prototype of the calibration names the beam.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sdrkit.errors import ConfigError
from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/beam"
DEFAULT_MODEL_DIR = "models/beam"
DEFAULT_CARD = f"{DEFAULT_MODEL_DIR}/card.json"


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder")
    front_ends: str = option("fe-a,fe-b,fe-c,fe-d", help="comma-separated front-end names")
    per_beam: int = option(64, help="frames per beam per front end")
    elements: int = option(16, help="TX ULA elements")
    beams: int = option(24, help="codebook size")
    seed: int = option(0, help="root seed (front end i uses the stream (seed, i))")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    out: str = option(DEFAULT_MODEL_DIR, help="model folder")
    steps: int = option(3000, help="episode batches")
    train_front_ends: int = option(256, help="training recordings (front ends of the rand-/hrand- pools)")
    per_beam: int = option(12, help="bank frames per beam per training front end")
    n_way: int = option(8, help="beams per episode")
    k_shot: int = option(4, help="support shots per beam per episode")
    no_data_norm: bool = option(False, help="disable per-frame data normalization")
    no_augment: bool = option(False, help="disable random scale/phase augmentation")
    no_proto_norm: bool = option(False, help="disable prototype (L2) normalization (legacy encoder)")
    legacy_encoder: bool = option(False, help="the ProtoBeam encoder without the channel estimate, trained on "
                                              "sdrkit's own scene and front ends only (the bundle before issue 19)")
    scene_fraction: float = option(0.6, help="share of training recordings through a clustered 3GPP channel")
    harsh_fraction: float = option(0.5, help="share of training front ends from the harsh pool (hrand-*)")
    ordinal_weight: float = option(0.5, help="weight of the expected beam-distance term of the episode loss")
    ordinal_cap: int = option(4, help="an error of d beams costs min(d, CAP) / CAP in that term")
    temporal_split: bool = option(False, help="episodes on a 3GPP scene take support from the earlier half of each "
                                              "beam's frames and queries from the later (the channel drifts between)")
    bank_span: float = option(1.5, help="--temporal-split: seconds one training recording spans")
    time_budget: float | None = option(None, help="stop after this many minutes")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = option(DEFAULT_CARD, help="encoder model card")
    out: str = option("out/beam_eval", help="folder for JSON and PNGs")
    front_ends: str = option("fe-a,fe-b,fe-c,fe-d", help="held-out front ends (TOTA)")
    per_beam: int = option(64, help="frames per beam per front end")
    trials: int = option(20, help="random support draws per cell")
    ablations: bool = option(False, help="also train the DN/Aug/PN ablation encoders (short runs) for Table I")
    quick: bool = option(False, help="small smoke run")
    update_card: bool = option(False, help="also write the figures into the model card (never done otherwise)")
    seed: int = option(1, help="evaluation seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class CalibrateConfig:
    model: str = option(DEFAULT_CARD, help="encoder model card")
    rig: str | None = option(None, help="rig file or name (rigs/<name>.yaml): record a beam sweep from it")
    capture: str | None = option(None, help="labelled SigMF recording (core:label per frame)")
    front_end: str | None = option(None, help="front end (rig: selects the receiver; capture: overrides the file's)")
    shots: int = option(8, help="labelled shots per class")
    offset: int = option(0, help="capture: skip the first N labelled frames of each class")
    time_range: str | None = option(None, metavar="START:END",
                                    help="capture: take shots only from frames starting in this span (seconds)")
    split: float = option(1.0, help="capture: the first FRACTION of each class's frames is the calibration part "
                                    "(shots from it); classify replaying the recording scores only the rest")
    transductive: bool = option(False, help="also refine the prototypes on the calibration part's other frames, "
                                            "unlabeled (soft k-means)")
    head: str = option("plain", choices=("plain", "loo", "fuse"),
                       help="plain: prototype means; loo: also fit the weight of the learned block of the embedding "
                            "leave-one-out on the shots (0 = the classical baseline's distance); fuse: fit the "
                            "weights of the learned block and of the level leave-one-out on the shots "
                            "(sdrkit.tasks.beam.fusion; the baseline is one candidate)")
    method: str = option("encoder", choices=("encoder", "template"),
                         help="encoder: the model's embedding; template: the classical baseline (nearest "
                              "preamble-template centroid on the channel estimate)")
    beams: int | None = option(None, help="rig sweeps: codebook size (a new class set needs no retraining)")
    seed: int = option(0, help="rig sweeps: seed of the sweep's channel draws (recorded in the calibration)")
    out: str | None = option(None, help="calibration file (default calibrations/beam-<front end>-<UTC time>.json)")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    import numpy as np

    from sdrkit.tasks.beam.rig import record_beam_sweep
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end

    spec = ArraySpec(elements=cfg.elements, beams=cfg.beams)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(cfg.front_ends.split(",")):
        rng = np.random.default_rng([cfg.seed, i])
        path = record_beam_sweep(out / name, spec, get_front_end(name, spec.elements), cfg.per_beam, rng,
                                 command=cfg.command_line)
        print(f"{name}: {cfg.per_beam} frames x {spec.beams} beams -> {path}")
    return 0


def train(cfg: TrainConfig) -> int:
    import torch

    from sdrkit.tasks.beam.export import export_encoder
    from sdrkit.tasks.beam.sim import ArraySpec
    from sdrkit.tasks.beam.train import ProtoConfig, train_protobeam

    torch.set_num_threads(1)
    spec = ArraySpec()
    legacy = cfg.legacy_encoder
    pcfg = ProtoConfig(steps=cfg.steps, n_way=cfg.n_way, k_shot=cfg.k_shot, train_front_ends=cfg.train_front_ends,
                       data_norm=not cfg.no_data_norm, augment=not cfg.no_augment,
                       proto_norm=not cfg.no_proto_norm and legacy, template=not legacy,
                       scene_fraction=0.0 if legacy else cfg.scene_fraction,
                       harsh_fraction=0.0 if legacy else cfg.harsh_fraction,
                       ordinal_weight=0.0 if legacy else cfg.ordinal_weight, ordinal_cap=cfg.ordinal_cap,
                       temporal_split=cfg.temporal_split and not legacy, bank_span_s=cfg.bank_span,
                       seed=cfg.seed, time_budget_s=cfg.time_budget * 60 if cfg.time_budget else None)
    enc, hist = train_protobeam(spec, pcfg, per_beam=cfg.per_beam)
    card = export_encoder(enc, spec, pcfg, hist, Path(cfg.out), command=cfg.command_line)
    print(f"wrote {card.path}")
    return 0


def calibrate(cfg: CalibrateConfig) -> int:
    from sdrkit.resources import resolve
    from sdrkit.runtime.calibration import ShotSelection, calibrate_capture, default_calibration_path, parse_time_range

    if bool(cfg.rig) == bool(cfg.capture):
        raise ConfigError("give exactly one of --rig RIG (record a sweep) or --capture REC (a labelled recording)")
    radio = None
    capture = cfg.capture
    if cfg.rig:
        from sdrkit.tasks.beam.rig import record_rig_sweep

        if not cfg.front_end:
            raise ConfigError("--rig needs --front-end NAME (the receiver to calibrate)")
        capture, radio = record_rig_sweep(cfg.rig, cfg.front_end, cfg.shots, cfg.beams, seed=cfg.seed)
        print(f"recorded beam sweep (seed {cfg.seed}) -> {capture}")
    out = cfg.out or default_calibration_path("beam", cfg.front_end)
    fuse = cfg.head == "fuse"
    if fuse and cfg.method == "template":
        raise ConfigError("--head fuse fuses the encoder with the baseline: use it with --method encoder (the "
                          "default); --method template is the baseline alone")
    sel = ShotSelection(offset=cfg.offset, time_range=parse_time_range(cfg.time_range), split=cfg.split,
                        transductive=cfg.transductive, head="plain" if fuse else cfg.head)
    card_path = resolve("models", cfg.model)
    kw = template_calibration_options(card_path) if cfg.method == "template" else {}
    if fuse:
        from sdrkit.tasks.beam.fusion import calibrate_capture_fused

        cal, dt = calibrate_capture_fused(card_path, capture, shots=cfg.shots, front_end=cfg.front_end,
                                          out=out, radio=radio, selection=sel)
        h = cal.source["head"]
        print(f"fused head: learned weight {h['w_learned']:g}, level weight {h['w_level']:g} (leave-one-out "
              f"accuracy on the shots {h['loo_accuracy']:.3f}; baseline {h['loo_accuracy_baseline']:.3f}, "
              f"encoder {h['loo_accuracy_encoder']:.3f})")
    else:
        cal, dt = calibrate_capture(card_path, capture, shots=cfg.shots, front_end=cfg.front_end,
                                    out=out, radio=radio, selection=sel, **kw)
    print(f"calibrated {len(cal.classes)} classes x {cal.shots} shots on front end {cal.front_end!r} "
          f"in {dt * 1e3:.0f} ms -> {out}")
    print(f"next: sdrkit classify --model {cfg.model} --calibration {out} --radio URI")
    return 0


def template_calibration_options(card_path) -> dict:
    """``calibrate_capture`` options of the classical baseline: its feature map and file fields."""
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.beam.baseline import TEMPLATE_KIND, preamble_sha256, template_features
    from sdrkit.tasks.beam.sim import preamble, spec_from_card

    card = load_card(card_path)
    pre = preamble(spec_from_card(card))
    return {"embedder": lambda frames: template_features(frames, pre), "proto_norm": False,
            "encoder_override": {"kind": TEMPLATE_KIND, "sha256": preamble_sha256(pre),
                                 "note": "classical baseline: no learned encoder; the card names the waveform"}}


class BeamTask(Task):
    """beam prediction from raw I/Q; few-shot recalibration on new front ends (ProtoBeam)"""

    name = "beam"
    summary = "beam prediction from raw I/Q; few-shot recalibration on new front ends (ProtoBeam)"
    verbs = (
        Verb("dataset", "write labelled beam sweeps (SigMF, one per front end)", DatasetConfig, dataset),
        Verb("train", "episodic ProtoBeam training of the encoder; writes ONNX + card", TrainConfig, train),
        Verb("evaluate", "Table I (TTSA/TOTA), DeepBeam baseline, PCA and confusion PNGs", EvaluateConfig,
             "sdrkit.tasks.beam.evaluate:run_evaluation"),
        Verb("calibrate", "few-shot calibration session: labelled shots -> prototypes file", CalibrateConfig,
             calibrate),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "front_ends": "fe-a", "per_beam": 8}),
               ("train", {"out": "{tmp}/model", "steps": 20, "train_front_ends": 8, "per_beam": 12}),
               ("evaluate", {"model": "{tmp}/model/card.json", "out": "{tmp}/eval", "front_ends": "fe-a,fe-b",
                             "quick": True}),
               ("calibrate", {"model": "{tmp}/model/card.json", "capture": "{tmp}/data/fe-a.sigmf-meta",
                              "shots": 4, "out": "{tmp}/cal.json"})),
        card="{tmp}/model/card.json",
        stream="sim:{tmp}/data/fe-a.sigmf-meta?loop=0",
        calibration="{tmp}/cal.json")

    def predictor(self, card, options):
        from sdrkit.runtime.calibration import PrototypePredictor

        self.refuse_options(options, allowed=("calibration",))
        if not options.calibration:
            raise ConfigError(f"the beam encoder {card.path} classifies by nearest prototype: make a calibration "
                              f"for your front end first ('sdrkit calibrate beam --capture REC' or '--rig RIG "
                              f"--front-end NAME'), then pass --calibration FILE")
        from sdrkit.runtime.calibration import load_calibration
        from sdrkit.tasks.beam.baseline import TEMPLATE_KIND, TemplatePredictor

        cal = load_calibration(options.calibration)
        if cal.encoder.get("kind") == TEMPLATE_KIND:
            return TemplatePredictor(card, cal)
        return PrototypePredictor(card, cal, threads=options.threads)


TASK = BeamTask
