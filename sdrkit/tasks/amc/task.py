"""The ``amc`` task: early-exit automatic modulation classification.

Verbs: ``sdrkit dataset amc``, ``sdrkit train amc``, ``sdrkit calibrate-threshold amc``,
``sdrkit evaluate amc``; live use through ``sdrkit classify``.
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_DATA = "data/amc"
DEFAULT_MODEL_DIR = "models/amc"


class AmcTask:
    name = "amc"

    # ---- dataset ---------------------------------------------------------------------------
    @staticmethod
    def add_dataset_arguments(p) -> None:
        p.add_argument("--out", default=DEFAULT_DATA, help=f"output folder (default {DEFAULT_DATA})")
        p.add_argument("--train-per-cell", type=int, default=480, help="train frames per (class, SNR) (default 480)")
        p.add_argument("--val-per-cell", type=int, default=160,
                       help="validation frames per (class, SNR) (default 160: threshold calibration needs ~1.7k "
                            "frames per SNR to resolve a 1-point gap)")
        p.add_argument("--test-per-cell", type=int, default=152, help="test frames per (class, SNR) (default 152)")
        p.add_argument("--frame-len", type=int, default=1024, help="samples per frame (default 1024)")
        p.add_argument("--seed", type=int, default=0, help="root seed; splits use streams (seed, split)")
        p.add_argument("--workers", type=int, help="generator processes (default: all cores)")

    @staticmethod
    def dataset(args) -> int:
        import time

        from sdrkit.tasks.amc.data import CLASSES, SNRS, AmcDataSpec
        from sdrkit.tasks.amc.dataset import write_split

        spec = AmcDataSpec(frame_len=args.frame_len)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        cells = len(CLASSES) * len(SNRS)
        manifest = {"spec": spec.to_dict(), "command": args.command_line, "seed": args.seed, "splits": {}}
        for split, per in (("train", args.train_per_cell), ("val", args.val_per_cell), ("test", args.test_per_cell)):
            n = per * cells
            if n == 0:
                continue
            t0 = time.perf_counter()
            manifest["splits"][split] = write_split(out, split, n, args.seed, spec, args.workers, args.command_line)
            dt = time.perf_counter() - t0
            manifest["splits"][split]["frames_per_s"] = n / dt
            print(f"{split}: {n} frames in {dt:.1f} s ({n / dt:.0f} frames/s incl. writing) -> {out / split}.sigmf-meta")
        (out / "splits.json").write_text(json.dumps(manifest, indent=2))
        print(f"wrote {out / 'splits.json'}")
        return 0

    # ---- train -----------------------------------------------------------------------------
    @staticmethod
    def add_train_arguments(p) -> None:
        p.add_argument("--data", default=DEFAULT_DATA, help=f"data set folder (default {DEFAULT_DATA})")
        p.add_argument("--out", default=DEFAULT_MODEL_DIR, help=f"model folder (default {DEFAULT_MODEL_DIR})")
        p.add_argument("--epochs", type=int, default=8,
                       help="passes over the training split (default 8: ~16 min on 2 cores)")
        p.add_argument("--batch", type=int, default=256)
        p.add_argument("--lr", type=float, default=3e-3)
        p.add_argument("--method", choices=["joint", "per-branch"], default="joint",
                       help="joint weighted loss, or the paper's per-branch updates (Algorithm 1)")
        p.add_argument("--exit-weight", type=float, default=1.0, help="weight of each exit's loss (joint)")
        p.add_argument("--max-frames", type=int, help="use at most this many training frames")
        p.add_argument("--time-budget", type=float, help="stop training after this many minutes")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--budget", type=float, default=0.01,
                       help="accuracy budget for the exit threshold: max drop vs backbone per SNR >= 0 dB")

    @staticmethod
    def train(args) -> int:
        from sdrkit.tasks.amc.train import train

        out = Path(args.out)
        net, hist = train(args.data, out, epochs=args.epochs, batch=args.batch, lr=args.lr, method=args.method,
                          exit_weight=args.exit_weight, seed=args.seed, max_frames=args.max_frames,
                          time_budget_s=args.time_budget * 60 if args.time_budget else None)
        return AmcTask.finish_training(args, net, hist)

    @staticmethod
    def finish_training(args, net, hist) -> int:
        """Export every placement, write the card, calibrate."""
        from sdrkit.runtime.card import InputSpec, ModelCard
        from sdrkit.tasks.amc.dataset import read_manifest
        from sdrkit.tasks.amc.train import EXITS, VARIANT_NAMES, export_all

        manifest = read_manifest(args.data)
        out = Path(args.out)
        frame_len = manifest["spec"]["frame_len"]
        files = export_all(net, out, frame_len)
        card = ModelCard(
            task="amc", name="amc-earlyexit", classes=tuple(manifest["spec"]["classes"]),
            input=InputSpec(sample_rate=1e6, frame_len=frame_len, sample_rate_tolerance=0.0),
            files={**files, "stem": "stem_e2.onnx", "rest": "rest_e2.onnx"},
            thresholds={}, metrics={"val_history": hist},
            training={"command": args.command_line, "seed": args.seed, "method": args.method,
                      "exit_weight": args.exit_weight, "epochs_run": len(hist),
                      "data": {"manifest_command": manifest["command"], "seed": manifest["seed"],
                               "train_sha256": manifest["splits"]["train"]["sha256"],
                               "val_sha256": manifest["splits"]["val"]["sha256"],
                               "test_sha256": manifest["splits"].get("test", {}).get("sha256"),
                               "spec": manifest["spec"]}},
            extra={"variants": {VARIANT_NAMES[k]: {"exit_after": k, "stem": f"stem_e{k}.onnx",
                                                   "rest": f"rest_e{k}.onnx"} for k in EXITS},
                   "deployed_variant": "V1"})
        card.save(out / "card.json")
        print(f"wrote {out / 'card.json'}; next: sdrkit calibrate-threshold amc --model {out / 'card.json'}")
        return AmcTask.calibrate_threshold(_ns(model=str(out / "card.json"), data=args.data, budget=args.budget,
                                               variant="auto"))

    # ---- calibrate-threshold -------------------------------------------------------------------
    @staticmethod
    def add_calibrate_threshold_arguments(p) -> None:
        p.add_argument("--model", default=f"{DEFAULT_MODEL_DIR}/card.json", help="model card")
        p.add_argument("--data", default=DEFAULT_DATA, help="data set folder (its val split is used)")
        p.add_argument("--budget", type=float, default=0.01,
                       help="max accuracy drop vs the backbone at any SNR >= 0 dB (default 0.01 = 1 point)")
        p.add_argument("--variant", default="auto", choices=["auto", "V0", "V1", "V2", "V3"],
                       help="exit placement V0..V3 (after conv block 1, 2, 3, 5), or auto (pick by measured latency)")

    @staticmethod
    def calibrate_threshold(args) -> int:
        from sdrkit.tasks.amc.select import calibrate_and_select

        card = calibrate_and_select(args.model, args.data, budget=args.budget, variant=args.variant)
        t = card.thresholds
        print(f"variant {card.extra['deployed_variant']}: entropy threshold T = {t['entropy']:.4f} nats "
              f"(val: {t['val_exit_fraction']:.1%} exit early, worst gap {t['val_worst_gap'] * 100:.2f} points); "
              f"wrote {card.path}")
        return 0

    # ---- evaluate ----------------------------------------------------------------------------
    @staticmethod
    def add_evaluate_arguments(p) -> None:
        p.add_argument("--model", default=f"{DEFAULT_MODEL_DIR}/card.json", help="model card")
        p.add_argument("--data", default=DEFAULT_DATA, help="data set folder (its test split is used)")
        p.add_argument("--out", default="out/amc_eval", help="folder for JSON and PNGs (default out/amc_eval)")
        p.add_argument("--max-per-snr", type=int, default=0,
                       help="test frames per SNR for accuracy (default 0: all; latency uses at most 512)")
        p.add_argument("--quick", action="store_true", help="fewer frames and repeats (smoke test; card untouched)")
        p.add_argument("--no-card-update", action="store_true", help="do not write the metrics into the model card")

    @staticmethod
    def evaluate(args) -> int:
        from sdrkit.tasks.amc.evaluate import run_evaluation

        return run_evaluation(args)


class _ns(dict):
    __getattr__ = dict.__getitem__
