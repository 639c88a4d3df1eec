"""The ``beam`` task: DeepBeam baseline and ProtoBeam few-shot recalibration.

Verbs: ``sdrkit dataset beam``, ``sdrkit train beam``, ``sdrkit evaluate beam``; calibration
sessions through ``sdrkit calibrate --task beam`` and live use through
``sdrkit classify --task beam --calibration FILE --radio URI``.
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_DATA = "data/beam"
DEFAULT_MODEL_DIR = "models/beam"
SAMPLE_RATE = 1e6
CENTER_FREQUENCY = 28e9


def beam_classes(n: int) -> tuple:
    return tuple(f"beam{i:02d}" for i in range(n))


class BeamTask:
    """beam prediction from raw I/Q; few-shot recalibration on new front ends (ProtoBeam)"""

    name = "beam"

    # ---- dataset ---------------------------------------------------------------------------
    @staticmethod
    def add_dataset_arguments(p) -> None:
        p.add_argument("--out", default=DEFAULT_DATA, help=f"output folder (default {DEFAULT_DATA})")
        p.add_argument("--front-ends", default="fe-a,fe-b,fe-c,fe-d", help="comma-separated front-end names")
        p.add_argument("--per-beam", type=int, default=64, help="frames per beam per front end (default 64)")
        p.add_argument("--elements", type=int, default=16, help="TX ULA elements (default 16)")
        p.add_argument("--beams", type=int, default=24, help="codebook size (default 24)")
        p.add_argument("--seed", type=int, default=0)

    @staticmethod
    def dataset(args) -> int:
        import numpy as np

        from sdrkit.tasks.beam.sim import ArraySpec, get_front_end
        from sdrkit.tasks.beam.rig import record_beam_sweep

        spec = ArraySpec(elements=args.elements, beams=args.beams)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(args.front_ends.split(",")):
            rng = np.random.default_rng([args.seed, i])
            path = record_beam_sweep(out / name, spec, get_front_end(name, spec.elements), args.per_beam, rng,
                                     command=getattr(args, "command_line", ""))
            print(f"{name}: {args.per_beam} frames x {spec.beams} beams -> {path}")
        return 0

    # ---- train -----------------------------------------------------------------------------
    @staticmethod
    def add_train_arguments(p) -> None:
        p.add_argument("--out", default=DEFAULT_MODEL_DIR, help=f"model folder (default {DEFAULT_MODEL_DIR})")
        p.add_argument("--steps", type=int, default=4000, help="episodes batches (default 4000)")
        p.add_argument("--train-front-ends", type=int, default=384, help="pool of random training front ends")
        p.add_argument("--per-beam", type=int, default=12, help="bank frames per beam per training front end")
        p.add_argument("--n-way", type=int, default=8)
        p.add_argument("--k-shot", type=int, default=4)
        p.add_argument("--no-data-norm", action="store_true", help="disable per-frame data normalization")
        p.add_argument("--no-augment", action="store_true", help="disable random scale/phase augmentation")
        p.add_argument("--no-proto-norm", action="store_true", help="disable prototype (L2) normalization")
        p.add_argument("--time-budget", type=float, help="stop after this many minutes")
        p.add_argument("--seed", type=int, default=0)

    @staticmethod
    def train(args) -> int:
        from sdrkit.tasks.beam.export import export_encoder
        from sdrkit.tasks.beam.sim import ArraySpec
        from sdrkit.tasks.beam.train import ProtoConfig, train_protobeam

        import torch

        torch.set_num_threads(2)
        spec = ArraySpec()
        cfg = ProtoConfig(steps=args.steps, n_way=args.n_way, k_shot=args.k_shot,
                          train_front_ends=args.train_front_ends, data_norm=not args.no_data_norm,
                          augment=not args.no_augment, proto_norm=not args.no_proto_norm, seed=args.seed,
                          time_budget_s=args.time_budget * 60 if args.time_budget else None)
        enc, hist = train_protobeam(spec, cfg, per_beam=args.per_beam)
        card = export_encoder(enc, spec, cfg, hist, Path(args.out), command=getattr(args, "command_line", ""))
        print(f"wrote {card.path}")
        return 0

    # ---- evaluate ----------------------------------------------------------------------------
    @staticmethod
    def add_evaluate_arguments(p) -> None:
        p.add_argument("--model", default=f"{DEFAULT_MODEL_DIR}/card.json", help="encoder model card")
        p.add_argument("--out", default="out/beam_eval", help="folder for JSON and PNGs (default out/beam_eval)")
        p.add_argument("--front-ends", default="fe-a,fe-b,fe-c,fe-d", help="held-out front ends (TOTA)")
        p.add_argument("--per-beam", type=int, default=64, help="frames per beam per front end")
        p.add_argument("--trials", type=int, default=20, help="random support draws per cell")
        p.add_argument("--ablations", action="store_true",
                       help="also train the DN/Aug/PN ablation encoders (short runs) for the Table I rows")
        p.add_argument("--quick", action="store_true", help="small smoke run (card untouched)")
        p.add_argument("--seed", type=int, default=1)

    @staticmethod
    def evaluate(args) -> int:
        from sdrkit.tasks.beam.evaluate import run_evaluation

        return run_evaluation(args)
