"""``sdrkit train airnet``: the training sweep (bundled chain + ablation arms) and the model card.

Files in the model folder:

* ``student.onnx`` / ``student.pt``: the bundled student (joint pruning + noise + KD);
* ``ladder.pt``: every pruning iteration of the bundled chain (accuracy vs channel symbols) and
  the SK arm (a further-pruned network with Algorithm-1-selected tensors on the spiral);
* ``ablation.pt``: the Fig. 4a arms (plain, noise-injected, separate pruning, joint pruning);
* ``card.json``: task ``airnet``, the architecture (widths), the delivery settings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def _threads():
    import torch

    torch.set_num_threads(1)


def load_data(cfg, log=print, teacher: bool = True):
    from sdrkit.tasks.airnet.train import Data, load_frames, teacher_logits

    t0 = time.perf_counter()
    x, y, snr = load_frames(cfg.data, "train", cfg.frames, cfg.min_snr, cfg.seed)
    xv, yv, _ = load_frames(cfg.data, "val", 2000, 0.0, cfg.seed + 1)
    log(f"loaded {len(y)} training frames (SNR >= {cfg.min_snr:g} dB) in {time.perf_counter() - t0:.0f} s")
    logits = None
    if teacher:
        from sdrkit.runtime import load_card
        from sdrkit.runtime.card import sha256_file

        tcard = load_card(cfg.teacher)
        # cached: the teacher's pass over the frames costs minutes on a loaded 2-core machine
        graph = tcard.file("full" if "full" in tcard.files else next(iter(tcard.files)))
        key = f"{sha256_file(graph)[:12]}-{cfg.frames}-{cfg.min_snr:g}-{cfg.seed}-{len(y)}"
        cache = Path("out/airnet_train") / f"teacher-{key}.npy"
        if cache.exists() and np.load(cache).shape[0] == len(y):
            logits = np.load(cache)
        else:
            t0 = time.perf_counter()
            logits = teacher_logits(cfg.teacher, x).astype(np.float32)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, logits)
            log(f"teacher logits ({cfg.teacher}) in {time.perf_counter() - t0:.0f} s")
    return Data(x, y.astype(np.int64), snr, logits), xv, yv.astype(np.int64)


def _teacher_hashes(card_path) -> dict:
    from sdrkit.runtime import load_card

    return dict(load_card(card_path).files_sha256)


def parse_widths(text: str) -> tuple:
    """``"32,64,64,96"`` -> ``(32, 64, 64, 96)``; anything else is a :class:`~sdrkit.errors.ConfigError`."""
    from sdrkit.errors import ConfigError
    from sdrkit.nn.airnet import CONV_SPECS

    try:
        w = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        w = ()
    if len(w) != len(CONV_SPECS) or min(w) < 1:
        raise ConfigError(f"--widths {text!r} must be {len(CONV_SPECS)} positive integers separated by commas, "
                          f"e.g. --widths 32,64,64,96")
    return w


def run_train(cfg) -> int:
    import torch

    from sdrkit.tasks.airnet.train import Schedule, sweep_ablation, sweep_main

    _threads()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    sch = Schedule(base_steps=cfg.base_steps, prune_steps=cfg.prune_steps, prune_iters=cfg.prune_iters,
                   snr_range=(cfg.snr_lo, cfg.snr_hi), batch=cfg.batch, crop=cfg.crop or None,
                   widths=parse_widths(cfg.widths), hidden=cfg.hidden, channel=cfg.channel,
                   learn_gains=not cfg.uniform_power, lr=cfg.lr, prune_lr=cfg.prune_lr)
    parts = ("main", "ablation", "card") if cfg.part == "all" else (cfg.part,)
    data = None
    for part in parts:
        t0, c0 = time.perf_counter(), time.process_time()
        if part in ("main", "ablation", "sk") and (data is None or (part != "ablation" and data.teacher is None)):
            data, xv, yv = load_data(cfg, teacher=(part != "ablation"))
        if part == "sk":
            redo_sk(cfg, out, data, xv, t0, c0)
        elif part == "main":
            res = sweep_main(data, xv, yv, sch, cfg.seed)
            res["command"], res["seconds"], res["cpu_seconds"] = cfg.command_line, time.perf_counter() - t0, \
                time.process_time() - c0
            torch.save(res, out / "ladder.pt")
        elif part == "ablation":
            res = sweep_ablation(data, sch, cfg.seed)
            res["command"], res["seconds"], res["cpu_seconds"] = cfg.command_line, time.perf_counter() - t0, \
                time.process_time() - c0
            torch.save(res, out / "ablation.pt")
        else:
            write_card(cfg, out)
        print(f"part {part}: {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")
    return 0


def redo_sk(cfg, out: Path, data, xv, t0: float, c0: float) -> None:
    """``--part sk``: the SK arm again from ``ladder.pt``'s entries with the schedule that made them."""
    import torch

    from sdrkit.errors import ModelError
    from sdrkit.tasks.airnet.train import Schedule, sk_stage

    if not (out / "ladder.pt").exists():
        raise ModelError(f"{out / 'ladder.pt'} not found; run 'sdrkit train airnet --part main --out {out}' first")
    lad = torch.load(out / "ladder.pt", weights_only=False)
    sd = dict(lad.get("schedule") or {})
    sch = Schedule(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in sd.items()})
    lad["sk"], lad["history"]["sk"] = sk_stage(lad["ladder"], data, xv, sch, cfg.seed)
    lad["sk_command"], lad["sk_cpu_seconds"] = cfg.command_line, time.process_time() - c0
    lad["sk_seconds"] = time.perf_counter() - t0
    torch.save(lad, out / "ladder.pt")


def write_card(cfg, out: Path) -> Path:
    """Export the bundled student and write the card from ``ladder.pt`` (and ``ablation.pt`` when present)."""
    import torch

    from sdrkit.dsp import weights_link as wl
    from sdrkit.errors import ModelError
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec, sha256_file
    from sdrkit.runtime.export import export_onnx
    from sdrkit.tasks.airnet.train import build, params_np
    from sdrkit.tasks.amc.dataset import read_manifest

    if not (out / "ladder.pt").exists():
        raise ModelError(f"{out / 'ladder.pt'} not found; run 'sdrkit train airnet --part main --out {out}' first")
    lad = torch.load(out / "ladder.pt", weights_only=False)
    k = int(lad.get("bundled_index", min(cfg.prune_iters, len(lad["ladder"]) - 1)))
    net = build(lad["ladder"][k])
    torch.save(net.state_dict(), out / "student.pt")
    export_onnx(net, torch.randn(2, 2, 1024), out / "student.onnx", input_names=("x",), output_names=("logits",))
    manifest = read_manifest(cfg.data)
    specs = wl.specs_of(params_np(net))
    # unequal error protection: the seed's Algorithm-1 sensitivities of the bundled student (256 val frames)
    from sdrkit.tasks.airnet.train import load_frames, select_expansion

    xv, _, _ = load_frames(cfg.data, "val", 256, 0.0, cfg.seed + 1)
    _, errs = select_expansion(net, xv, 0, snr_db=10.0, seed=cfg.seed)
    entry = lad["ladder"][k]
    # unequal error protection: the gains learned with the weights when the chain learned them, else
    # g ~ sqrt(sensitivity / symbols) from the Algorithm-1 sensitivities (weights_link.power_allocation)
    power = entry.get("power_db") or wl.power_allocation(dict(errs), specs)
    sk_net = build(lad["sk"]["entry"])
    sk_power = lad["sk"].get("power_db") or wl.power_allocation(dict(lad["sk"]["sensitivity"]),
                                                                wl.specs_of(params_np(sk_net)), lad["sk"]["expand"])
    files = {"full": "student.onnx", "torch": "student.pt", "ladder": "ladder.pt"}
    if (out / "ablation.pt").exists():
        files["ablation"] = "ablation.pt"
    abl = torch.load(out / "ablation.pt", weights_only=False) if "ablation" in files else {}
    card = ModelCard(
        task="airnet", name="airnet-amc-student", classes=tuple(manifest["spec"]["classes"]),
        input=InputSpec(sample_rate=1e6, frame_len=1024, sample_rate_tolerance=0.0),
        files=files,
        output=OutputSpec("classes", description="modulation class (the AMC task's 11 classes)"),
        architecture={"name": "airnet_student", "kwargs": {"n_classes": 11, "widths": list(net.widths),
                                                           "hidden": int(net.hidden)}},
        metrics={"val_acc_ladder": lad["val"], "weights": int(sum(s.size for s in specs)),
                 "analog_symbols": wl.analog_symbols(specs)},
        training={"command": cfg.command_line, "main_command": lad.get("command"),
                  "ablation_command": abl.get("command"), "seed": cfg.seed,
                  "teacher": cfg.teacher, "kd_temperature": 2.0,
                  "snr_range_db": [cfg.snr_lo, cfg.snr_hi], "frames": cfg.frames, "min_snr_db": cfg.min_snr,
                  "base_steps": cfg.base_steps, "prune_steps": cfg.prune_steps, "prune_iters": cfg.prune_iters,
                  "schedule": lad.get("schedule"), "power_source": "learned" if entry.get("power_db") else
                  "sensitivity",
                  "bundled_index": k, "plans": lad["plans"],
                  "seconds": {"main": lad.get("seconds"), "ablation": abl.get("seconds")},
                  "cpu_seconds": {"main": lad.get("cpu_seconds"), "ablation": abl.get("cpu_seconds"),
                                  **({"sk_redo": lad["sk_cpu_seconds"]} if lad.get("sk_cpu_seconds") else {})},
                  **({"sk_command": lad["sk_command"]} if lad.get("sk_command") else {}),
                  "data": {"manifest_command": manifest["command"], "seed": manifest["seed"],
                           "train_sha256": manifest["splits"]["train"]["sha256"],
                           "test_sha256": manifest["splits"].get("test", {}).get("sha256")}},
        extra={"delivery": {"tensors": [s.name for s in specs], "sk_expand": lad["sk"]["expand"],
                            "sk_budget_symbols": lad["sk"]["budget_symbols"], "power_db": power,
                            "sensitivity": dict(errs), "sk_power_db": sk_power},
               "teacher_files_sha256": _teacher_hashes(cfg.teacher)})
    card.save(out / "card.json")
    print(f"wrote {out / 'card.json'} (student widths {net.widths}, {sum(s.size for s in specs)} weights)")
    (out / "train_log.json").write_text(json.dumps({"main": lad["history"], "ablation": abl.get("history")},
                                                   default=float))
    return out / "card.json"
