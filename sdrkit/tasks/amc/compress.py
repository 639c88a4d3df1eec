"""``sdrkit compress amc``: a static int8 (QDQ) copy of an AMC card, for the live path.

Every graph of the card (the backbone ``full`` and each exit placement's ``stem_eK`` /
``rest_eK``) is quantized with onnxruntime's static QDQ (:mod:`sdrkit.runtime.quantize`):
per-channel int8 weights, uint8 activations, MinMax ranges from frames of the **val** split
(never test data; the rest graphs are calibrated on the float stem's features of the same
frames). The feature front end (input normalization and the ``/hist`` statistics block, small
convolutions whose int8 form is slower than float) stays in float: measured on the bundled
model, quantizing it made the exit-1 stem 1.6x slower, leaving it in float makes it faster.

The new card lives in its own folder with the same file names, so every AMC verb
(``classify``, ``evaluate``, ``calibrate-threshold``, ``bench stream_e2e`` through
``SDRKIT_E2E_MODEL``) runs it unchanged. Its exit thresholds are re-calibrated on the int8
graphs (the same rule and splits as ``calibrate-threshold``); its fp32 metrics are not copied.
The card records the source card and its hashes, the calibration frames and seed, the node
patterns kept in float, and per graph the CPU time per frame of fp32 and int8 (batch 64,
1 thread) measured in the same run.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np

#: nodes kept in float by default (a regex on the exporter's node names): everything outside the
#: conv blocks, the exit heads and the classifier head
KEEP_FLOAT = r"^/(?!blocks|exits|head)"


def _cpu_us_per_frame(path, name: str, x: np.ndarray, rounds: int = 6) -> float:
    """Best CPU microseconds per frame of one graph on ``x`` (one batch, 1 thread)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    s.run(None, {name: x})
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(3):
            s.run(None, {name: x})
        best = min(best, (time.thread_time() - t0) / 3)
    return best / len(x) * 1e6


def compress(cfg) -> int:
    """Write the int8 card; see the module docstring. ``cfg``: :class:`sdrkit.tasks.amc.task.CompressConfig`."""
    from tqdm import tqdm

    from sdrkit.errors import ConfigError
    from sdrkit.runtime import load_card
    from sdrkit.runtime.card import sha256_file
    from sdrkit.runtime.quantize import batches, name_matcher, quantize_qdq
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.dataset import load_split, to_input
    from sdrkit.tasks.amc.task import CalibrateThresholdConfig, calibrate_threshold
    from sdrkit.tasks.amc.train import EXITS

    src = load_card(cfg.model)
    if src.extra.get("precision") == "int8":
        raise ConfigError(f"{src.path} is already an int8 card (quantized from "
                          f"{src.extra.get('quantized_from', {}).get('card')}); compress its fp32 source instead")
    out = Path(cfg.out)
    if out.resolve() == src.directory.resolve():
        raise ConfigError(f"--out {out} is the source card's folder; the int8 card needs a folder of its own "
                          f"(e.g. {src.directory.parent / (src.directory.name + '-int8')})")
    if cfg.calib_frames < 64:
        raise ConfigError(f"--calib-frames {cfg.calib_frames} is below 64; MinMax ranges need a few hundred "
                          f"frames across SNRs (default 2048)")
    if (out / "card.json").exists() and not cfg.force:
        raise ConfigError(f"--out {out} already holds a card ({out / 'card.json'}); pass --force to replace it, "
                          f"or another --out")
    try:
        keep = name_matcher([cfg.keep_float])
    except re.error as exc:
        raise ConfigError(f"--keep-float {cfg.keep_float!r} is not a valid regular expression ({exc}); "
                          f"e.g. the default {KEEP_FLOAT!r}") from None
    graphs = ["full"] + [f"{kind}_e{k}" for k in EXITS for kind in ("stem", "rest")]
    missing = [g for g in graphs if g not in src.files]
    if missing:
        raise ConfigError(f"{src.path} lists no {', '.join(missing)} graph(s) (task {src.task!r}); compress amc needs "
                          f"the card 'sdrkit train amc' writes")
    va = load_split(cfg.data, "val")
    rng = np.random.default_rng(cfg.seed)
    idx = np.sort(rng.permutation(len(va.labels))[:cfg.calib_frames])
    xc = to_input(va.frames(idx)).astype(np.float32)
    note = ("" if len(idx) == cfg.calib_frames
            else f" (the split holds only {len(idx)}, not --calib-frames {cfg.calib_frames})")
    print(f"quantizing {len(graphs)} graphs of {src.path} to int8, activation ranges from {len(idx)} val frames of "
          f"{cfg.data}{note}")
    out.mkdir(parents=True, exist_ok=True)
    timing, files = {}, {}
    x64 = xc[:64]
    for g in tqdm(graphs, desc="compress amc", unit="graph", disable=None, leave=False):
        fp32 = src.file(g)
        if g.startswith("rest_"):
            stem = card_session(src, g.replace("rest_", "stem_"))
            feeds = [{"f": stem.run(None, {"x": b["x"]})[1]} for b in batches(xc, batch=256)]
            name, probe = "f", feeds[0]["f"][:64]
        else:
            feeds, name, probe = batches(xc, batch=256), "x", x64
        quantize_qdq(fp32, out / src.files[g], feeds, keep)
        files[g] = src.files[g]
        timing[g] = {"fp32_us_per_frame": _cpu_us_per_frame(fp32, name, probe),
                     "int8_us_per_frame": _cpu_us_per_frame(out / src.files[g], name, probe)}
    for key in ("stem", "rest"):
        files[key] = src.files[key]
    for key, f in src.files.items():      # anything else the card lists, but the torch weights (fp32)
        if key not in files and key != "torch":
            shutil.copy2(src.file(key), out / f)
            files[key] = f
    record = {"command": cfg.command_line, "seed": cfg.seed, "calib_split": "val",
              "calib_frames": int(len(idx)), "val_sha256": sha256_file(va.rec.data_path),
              "keep_float": cfg.keep_float, "method": "onnxruntime quantize_static, QDQ, per-channel int8 "
              "weights, uint8 activations, MinMax", "graphs": timing}
    card = src.replace(
        name=f"{src.name}-int8", files=files, metrics={}, path=str(out / "card.json"),
        training={**src.training, "compress": record},
        extra={**src.extra, "precision": "int8",
               "quantized_from": {"card": str(src.path), "files_sha256": dict(src.files_sha256)}})
    card.save(out / "card.json")
    for g, t in timing.items():
        print(f"  {g}: {t['fp32_us_per_frame']:.1f} -> {t['int8_us_per_frame']:.1f} us CPU/frame (batch 64, 1 thread)")
    print(f"wrote {out / 'card.json'}; re-calibrating its exit thresholds on the int8 graphs")
    budget = float(src.thresholds.get("budget", 0.01))
    return calibrate_threshold(CalibrateThresholdConfig(model=str(out / "card.json"), data=cfg.data, budget=budget,
                                                        variant=cfg.variant))
