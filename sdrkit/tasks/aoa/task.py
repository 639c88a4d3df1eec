"""The ``aoa`` task: angle of arrival from a planar array's I/Q.

Verbs: ``sdrkit dataset aoa`` (multi-channel SigMF splits), ``sdrkit train aoa`` (the
MobileNetV3-small-1D regressor, plus MUSIC/ESPRIT cards), ``sdrkit compress aoa
--budget-ms X`` (pruning 90/96/98% + int8, the variant that meets a latency budget at the
least error), ``sdrkit evaluate aoa`` (the seed's table and every target), ``sdrkit
calibrate aoa`` (per-channel gain/phase correction from <= 16 known-direction shots) and
``sdrkit watch aoa`` (live angles with a true-vs-estimated quiver PNG on a labelled replay).
Live through ``sdrkit classify --model models/aoa/card.json --radio sim:REC``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdrkit.errors import ConfigError
from sdrkit.tasks.base import SmokeRun, Task, Verb, option

DEFAULT_DATA = "data/aoa"
DEFAULT_MODEL_DIR = "models/aoa"
DEFAULT_CARD = f"{DEFAULT_MODEL_DIR}/card.json"


@dataclass(frozen=True)
class DatasetConfig:
    out: str = option(DEFAULT_DATA, help="output folder")
    train: int = option(16000, help="training frames")
    val: int = option(1024, help="held-out validation frames (int8 calibration, pruning sensitivity)")
    test: int = option(4096, help="test frames (cold front end)")
    hot: int = option(2048, help="test frames with the front end 30-40 degC hot")
    calib: int = option(64, help="known-direction calibration shots per session (cold and hot)")
    rows: int = option(2, help="URA rows")
    cols: int = option(2, help="URA columns")
    frame_len: int = option(256, help="samples per frame (the seed used 4096; 256 fits the shared-CPU budget)")
    front_end: str = option("bench-a", help="array front end: bench-a..bench-d, rand-<seed>, ideal")
    seed: int = option(0, help="root seed; split k uses the stream (seed, k)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class TrainConfig:
    data: str = option(DEFAULT_DATA, help="data set folder")
    out: str = option(DEFAULT_MODEL_DIR, help="model folder")
    epochs: int = option(12, help="passes over the training split")
    batch: int = option(128, help="frames per step")
    lr: float = option(2e-3, help="AdamW learning rate")
    max_frames: int | None = option(None, help="use at most this many training frames")
    time_budget: float | None = option(None, help="stop training after this many minutes of CPU time (all threads)")
    front: str = option("allpairs", choices=("refprod", "allpairs", "raw"),
                        help="input stage inside the graph (docs/aoa.md: refprod = products with channel 0, "
                             "allpairs = every pair's product and every power)")
    threads: int = option(1, help="torch threads (1: on a shared machine a second thread's OpenMP spin-waits "
                                  "count as CPU time and a --time-budget run gets far fewer steps)")
    seed: int = option(0, help="training seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class CompressConfig:
    model: str = option(f"{DEFAULT_MODEL_DIR}/original.json", help="the unpruned model's card")
    data: str = option(DEFAULT_DATA, help="data set folder (train: fine-tuning; val: sensitivity, int8 "
                                          "calibration and the choice)")
    out: str | None = option(None, help="model folder (default: the card's)")
    targets: str = option("0.90,0.96,0.98", help="fractions of the parameters to remove")
    budget_ms: float = option(1.0, help="per-frame latency budget, ms (onnxruntime, 1 thread, batch 1)")
    finetune: float = option(1.5, help="fine-tuning CPU minutes per pruned model")
    epochs: int = option(6, help="fine-tuning epochs per pruned model (within --finetune minutes)")
    max_frames: int | None = option(None, help="fine-tune on at most this many training frames")
    ft_lr: float = option(1e-3, help="fine-tuning AdamW learning rate (cosine to 0 over the fine-tuning)")
    ft_batch: int = option(128, help="fine-tuning frames per step")
    no_kd: bool = option(False, help="fine-tune without distillation from the unpruned model")
    quick: bool = option(False, help="no sensitivity pass (uniform ratios), for smoke tests")
    threads: int = option(1, help="torch threads (see train's --threads)")
    seed: int = option(0, help="seed")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class EvaluateConfig:
    models: str = option(DEFAULT_MODEL_DIR, help="folder with the aoa cards (original, pruned, int8, music, esprit)")
    data: str = option(DEFAULT_DATA, help="data set folder (test, hot, calib_hot, calib_cold splits)")
    out: str = option("out/aoa_eval", help="folder for JSON and PNGs")
    max_frames: int = option(0, help="test frames used (0: all; MUSIC runs on the same frames)")
    shots: int = option(16, help="known-direction shots of the drift calibration")
    quick: bool = option(False, help="fewer frames and repeats (smoke test)")
    update_card: bool = option(False, help="also write the figures into card.json (never done otherwise)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class CalibrateConfig:
    capture: str = option(help="multi-channel SigMF recording whose frames carry sdrkit:azimuth_deg/elevation_deg")
    model: str = option(DEFAULT_CARD, help="aoa model card (network or MUSIC/ESPRIT)")
    shots: int = option(16, help="known-direction shots used (1..16)")
    front_end: str | None = option(None, help="front end name (default: the recording's sdrkit:front_end)")
    out: str | None = option(None, help="calibration file (default calibrations/aoa-<front end>-<UTC time>.json)")
    command_line: str = option("", cli=False)


@dataclass(frozen=True)
class WatchConfig:
    radio: str = option(help="radio URI, e.g. sim:data/aoa/test.sigmf-meta?loop=0 (a multi-channel stream)")
    model: str = option(DEFAULT_CARD, help="aoa model card")
    calibration: str | None = option(None, help="AoA calibration file (sdrkit calibrate aoa)")
    seconds: float | None = option(None, help="stop after this many seconds")
    frames: int | None = option(None, help="stop after this many frames")
    batch: int = option(64, help="max frames per model call")
    out: str = option("out/aoa_watch", help="folder for the quiver/scatter PNG and the angles JSON")
    command_line: str = option("", cli=False)


def dataset(cfg: DatasetConfig) -> int:
    from pathlib import Path

    from sdrkit.dsp.array import ArrayGeometry
    from sdrkit.tasks.aoa.data import make_split, write_split

    geo = ArrayGeometry(cfg.rows, cfg.cols)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", cfg.train), ("val", cfg.val), ("test", cfg.test), ("hot", cfg.hot),
                     ("calib_cold", cfg.calib), ("calib_hot", cfg.calib)):
        if n <= 0:
            continue
        s = make_split(split, n, cfg.seed, geo, cfg.front_end, cfg.frame_len)
        p = write_split(out / split, s, split=split, geometry=geo, front_end=cfg.front_end, seed=cfg.seed,
                        command=cfg.command_line)
        print(f"{split}: {n} frames x {geo.elements} channels x {cfg.frame_len} -> {p}")
    return 0


def calibrate(cfg: CalibrateConfig) -> int:
    from sdrkit.resources import resolve
    from sdrkit.runtime.calibration import default_calibration_path
    from sdrkit.tasks.aoa.calibration import calibrate_capture

    out = cfg.out or default_calibration_path("aoa", cfg.front_end)
    cal, dt = calibrate_capture(resolve("models", cfg.model), cfg.capture, shots=cfg.shots, out=out,
                                front_end=cfg.front_end)
    import numpy as np

    print(f"calibrated {len(cal.gains)} channels from {cal.shots} known-direction shots on front end "
          f"{cal.front_end!r} in {dt * 1e3:.0f} ms -> {out}")
    print("  channel phase (deg): " + " ".join(f"{v:+.1f}" for v in np.angle(cal.gains, deg=True))
          + "   gain (dB): " + " ".join(f"{v:+.2f}" for v in 20 * np.log10(np.abs(cal.gains))))
    print(f"next: sdrkit classify --model {cfg.model} --calibration {out} --radio URI")
    return 0


class AoaTask(Task):
    """angle of arrival (azimuth, elevation) from planar-array I/Q"""

    name = "aoa"
    summary = ("angle of arrival from planar-array I/Q: pruned + int8 MobileNetV3-1D beside MUSIC/ESPRIT, "
               "drift recalibration")
    verbs = (
        Verb("dataset", "write multi-channel SigMF splits of the planar-array simulator", DatasetConfig, dataset),
        Verb("train", "train the 1-D MobileNetV3-small regressor; ONNX + cards (MUSIC/ESPRIT too)", TrainConfig,
             "sdrkit.tasks.aoa.run:train"),
        Verb("compress", "prune 90/96/98% + int8; pick the variant meeting --budget-ms at least error", CompressConfig,
             "sdrkit.tasks.aoa.run:compress"),
        Verb("evaluate", "the seed's pruning table and every AoA target (JSON + PNGs)", EvaluateConfig,
             "sdrkit.tasks.aoa.evaluate:run_evaluation"),
        Verb("calibrate", "per-channel phase/gain correction from <= 16 known-direction shots (versioned JSON)",
             CalibrateConfig, calibrate),
        Verb("watch", "live angles from a multi-channel radio; true-vs-estimated quiver PNG on a labelled replay",
             WatchConfig, "sdrkit.tasks.aoa.live:watch"),
    )
    smoke = SmokeRun(
        steps=(("dataset", {"out": "{tmp}/data", "train": 192, "val": 64, "test": 64, "hot": 32, "calib": 16,
                            "frame_len": 256}),
               ("train", {"data": "{tmp}/data", "out": "{tmp}/model", "epochs": 1, "batch": 64, "threads": 1}),
               ("evaluate", {"models": "{tmp}/model", "data": "{tmp}/data", "out": "{tmp}/eval", "quick": True}),
               ("calibrate", {"model": "{tmp}/model/card.json", "capture": "{tmp}/data/calib_hot.sigmf-meta",
                              "shots": 8, "out": "{tmp}/cal.json"})),
        card="{tmp}/model/card.json",
        stream="sim:{tmp}/data/test.sigmf-meta?loop=0",
        calibration="{tmp}/cal.json")

    def predictor(self, card, options):
        from sdrkit.tasks.aoa.predict import AnglePredictor

        self.refuse_options(options, allowed=("calibration",))
        return AnglePredictor(card, options.calibration, threads=options.threads)


TASK = AoaTask
