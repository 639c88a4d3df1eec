"""Training and export of the CSI autoencoders.

One schedule for every model of a budget: Adam (lr ``lr``), cosine decay to 1% of it over
``epochs`` passes (or the CPU budget), batch ``batch``, the batch's NMSE as the loss (MSE over
the batch's signal energy: scale-free), channels_last, the checkpoint
with the best validation NMSE kept. Noise injection (``noise_snr``): the codeword gets AWGN at
an SNR drawn per sample uniformly in dB (:func:`sdrkit.nn.csi.add_noise`).

Export (:func:`write_card`): BatchNorm folded into the convolutions, then per compression ratio
``encoder_cr<R>.onnx`` (UE side), ``decoder_cr<R>.onnx`` (BS side), ``encoder_int8_cr<R>.onnx``
(onnxruntime static QDQ, per-channel int8 weights, uint8 activations, MinMax calibration on the
*validation* split: held-out CSI, never the test split) and ``torch_cr<R>.pt``, with one card.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError

#: every CSI architecture (sdrkit.nn.csi registers them)
ARCHS = ("cllwcsinet", "csinet_cl", "csinet", "crnet", "lwsep")


def _torch_batches(x, batch, rng):
    idx = rng.permutation(len(x))
    for i in range(0, len(idx) - batch + 1 if len(idx) >= batch else 1, batch):
        yield x[np.sort(idx[i:i + batch])]


def predict(net, x: np.ndarray, snr_db=None, batch: int = 500) -> np.ndarray:
    """Run the autoencoder (eval mode) on ``x`` (N, 2, 32, 32) float32; optional noise layer."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch])).to(memory_format=torch.channels_last)
            out.append(net(xb, snr_db=snr_db).numpy())
    return np.concatenate(out)


def train_one(arch: str, cr: int, x_train: np.ndarray, x_val: np.ndarray, *, epochs: int = 3, batch: int = 100,
              lr: float = 1e-3, noise_snr=None, seed: int = 0, time_budget_s: float | None = None,
              cpu_budget_s: float | None = None, kwargs: dict | None = None, desc: str = "",
              val_at_start: bool = False):
    """Train one autoencoder; returns ``(net, history)`` with the best-validation weights loaded.

    Args:
        noise_snr: None, or ``(low, high)`` dB for noise-injection training.
        time_budget_s: stop after this many wall-clock seconds.
        cpu_budget_s: stop after this many CPU seconds of this process; the cosine learning-rate
            decay then runs over this budget (the fraction used of steps or budget, whichever is
            larger), so every model of a budget gets the same schedule whatever the machine's load.
    """
    import torch
    from tqdm import tqdm

    from sdrkit.dsp.csi import nmse_db
    from sdrkit.nn import create_model

    if epochs < 1 or batch < 1:
        raise ConfigError(f"epochs={epochs} and batch={batch} must be >= 1")
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 15])
    arch_d = {"name": arch, "kwargs": {"cr": int(cr), **(kwargs or {})}}
    net = create_model(arch_d).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = max(1, len(x_train) // batch)
    total = epochs * steps_per_epoch
    c0 = time.process_time()

    def frac(s):
        f = s / total
        if cpu_budget_s:
            f = max(f, (time.process_time() - c0) / cpu_budget_s)
        return min(f, 1.0)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac(s))))
    hist, best, best_state = [], math.inf, None
    t0 = time.time()
    if val_at_start:
        hist.append({"epoch": 0, "steps": 0, "train_mse": None,
                     "val_nmse_db": round(nmse_db(x_val, predict(net, x_val)), 3), "seconds": 0.0})
    step = 0
    stopped = False
    bar = tqdm(total=total, desc=desc or f"{arch} CR{cr}", unit="step", disable=None, leave=False)
    for ep in range(epochs):
        net.train()
        losses = []
        for xb in _torch_batches(x_train, batch, rng):
            xt = torch.from_numpy(np.ascontiguousarray(xb)).to(memory_format=torch.channels_last)
            opt.zero_grad(set_to_none=True)
            # MSE over the batch's signal energy (its NMSE): the deviations from 0.5 have ~0.02 std, so
            # a plain MSE gives gradients of ~1e-8 deep in the nets, where Adam's eps (1e-8) stalls them
            loss = torch.sum((net(xt, snr_db=noise_snr) - xt) ** 2) / torch.sum((xt - 0.5) ** 2).clamp_min(1e-12)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
            if (time_budget_s and time.time() - t0 > time_budget_s) or \
                    (cpu_budget_s and time.process_time() - c0 > cpu_budget_s):
                stopped = True
                break
        v = nmse_db(x_val, predict(net, x_val))
        hist.append({"epoch": ep + 1, "steps": step, "train_mse": float(np.mean(losses)) if losses else None,
                     "val_nmse_db": round(v, 3), "seconds": round(time.time() - t0, 1)})
        if v < best:
            best, best_state = v, {k: t.detach().clone() for k, t in net.state_dict().items()}
        if stopped:
            break
    bar.close()
    net.load_state_dict(best_state)
    net.eval()
    return net, {"history": hist, "best_val_nmse_db": round(best, 3), "steps": step, "planned_steps": total,
                 "stopped_by_budget": stopped, "seconds": round(time.time() - t0, 1),
                 "cpu_seconds": round(time.process_time() - c0, 1), "cpu_budget_s": cpu_budget_s,
                 "train_samples_seen": step * batch, "architecture": arch_d,
                 "train_samples": int(len(x_train)), "batch": batch, "lr": lr, "epochs": epochs,
                 "noise_snr_db": list(noise_snr) if noise_snr else None, "seed": seed}


def fold_bn(net):
    """A copy of ``net`` with every Conv2d -> BatchNorm2d pair (inside a Sequential) folded into the conv."""
    import copy

    import torch
    from torch import nn

    net = copy.deepcopy(net).eval()
    for mod in net.modules():
        if isinstance(mod, nn.Sequential):
            names = list(mod._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = mod._modules[a], mod._modules[b]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    w = conv.weight.detach()
                    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
                    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                    conv.padding, bias=True)
                    new.weight.data = w * scale.reshape(-1, 1, 1, 1)
                    new.bias.data = (bias - bn.running_mean) * scale + bn.bias.detach()
                    mod._modules[a] = new
                    mod._modules[b] = nn.Identity()
    return net


#: encoder nodes kept in float by the int8 export: the 2-channel front end (<= 5% of the encoder's
#: MACs). Its input is the sparse CSI map in [0, 1] whose values sit within ~0.02 of 0.5 while the
#: per-sample peak reaches 0 or 1, so a uint8 step (1/255) is ~1/5 of the signal's spread; on the
#: validation split this front end alone cost CLLWCsiNet CR 4 0.72 dB of NMSE in int8, 0.07 kept float
INT8_KEEP_FLOAT = (r"^/front/",)


def quantize_encoder(fp32_path, out_path, calib: np.ndarray, batch: int = 50) -> Path:
    """onnxruntime static QDQ int8 of an encoder graph (per-channel int8 weights, uint8 activations,
    MinMax calibration on ``calib``, held-out CSI ``(n, 2, 32, 32)``; the nodes of :data:`INT8_KEEP_FLOAT`
    stay float): :func:`sdrkit.runtime.quantize.quantize_qdq`."""
    from sdrkit.runtime.quantize import batches, name_matcher, quantize_qdq

    return quantize_qdq(fp32_path, out_path, batches(calib, "x", batch), keep_float=name_matcher(INT8_KEEP_FLOAT))


def requantize(folder: Path, calib: np.ndarray, command: str) -> list[Path]:
    """Redo the int8 encoders of the csi card in ``folder`` from its fp32 encoder graphs (no training);
    the card records the command and the float-kept nodes under ``training.int8``. Returns the files."""
    from sdrkit.runtime.card import load_card

    card = load_card(Path(folder) / "card.json")
    done = []
    for cr in card.extra.get("crs", []):
        src, dst = card.directory / card.files[f"encoder_cr{cr}"], card.directory / card.files[f"encoder_int8_cr{cr}"]
        done.append(quantize_encoder(src, dst, calib))
    training = {**card.training, "int8": {"command": command, "keep_float": list(INT8_KEEP_FLOAT),
                                          "calibration": "validation split (held out)", "n_calib": int(len(calib))}}
    card.replace(training=training).save(card.path)
    return done


def export_model(net, folder: Path, cr: int, calib: np.ndarray) -> dict:
    """Write the ONNX graphs and weights of one trained autoencoder; returns ``{key: file name}``."""
    import torch

    from sdrkit.nn.csi import codeword_len
    from sdrkit.runtime.export import export_onnx

    folder.mkdir(parents=True, exist_ok=True)
    f = fold_bn(net)
    x = torch.from_numpy(np.ascontiguousarray(calib[:8]))
    files = {f"encoder_cr{cr}": f"encoder_cr{cr}.onnx", f"decoder_cr{cr}": f"decoder_cr{cr}.onnx",
             f"encoder_int8_cr{cr}": f"encoder_int8_cr{cr}.onnx", f"torch_cr{cr}": f"torch_cr{cr}.pt"}
    export_onnx(f.encoder, x, folder / files[f"encoder_cr{cr}"], input_names=("x",), output_names=("s",),
                atol=1e-4)
    s = torch.randn(8, codeword_len(cr))
    export_onnx(f.decoder, s, folder / files[f"decoder_cr{cr}"], input_names=("s",), output_names=("x_hat",),
                atol=1e-4)
    quantize_encoder(folder / files[f"encoder_cr{cr}"], folder / files[f"encoder_int8_cr{cr}"], calib)
    torch.save(net.state_dict(), folder / files[f"torch_cr{cr}"])
    return files


def write_card(folder: Path, trained: dict, scenario: str, data_card: dict, calib: np.ndarray, command: str,
               seed: int, name: str, live_cr: int | None = None):
    """Export every ``{cr: (net, info)}`` in ``trained`` under ``folder`` with one card; returns the card."""
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec, load_card
    from sdrkit.tasks.csi.data import CP, FRAME_LEN, N_ANT, N_SC, SAMPLE_RATE

    folder = Path(folder)
    files, metrics = {}, {}
    arch = None
    for cr, (net, info) in sorted(trained.items()):
        files.update(export_model(net, folder, cr, calib))
        ne = sum(p.numel() for p in net.encoder.parameters())
        nd = sum(p.numel() for p in net.decoder.parameters())
        metrics[f"cr{cr}"] = {"val_nmse_db": info["best_val_nmse_db"], "encoder_params": ne, "decoder_params": nd,
                              "training": info}
        arch = info["architecture"]
    crs = sorted(trained)
    live = live_cr or crs[0]
    card = ModelCard(
        task="csi", name=name, classes=(),
        input=InputSpec(sample_rate=SAMPLE_RATE, frame_len=FRAME_LEN, representation="iq",
                        layout=f"(batch, 2, {FRAME_LEN}) I/Q: {N_ANT} OFDM pilot symbols ({N_SC} subcarriers + "
                               f"CP {CP}), BS antenna 0 first, as the UE receives the pilot sweep",
                        normalization="CSI estimated by least squares per subcarrier, 2-D DFT, first 32 taps, "
                                      "per-sample max |Re|,|Im| scale into [0, 1] (CsiNet), outside the graph"),
        files=files,
        output=OutputSpec("reconstruction", shape=(2, 32, 32),
                          description="BS reconstruction of the angular-delay CSI (2 x 32 antennas x 32 taps, "
                                      "[0, 1], 0.5 = zero) from the UE's codeword"),
        architecture={"name": arch["name"], "kwargs": {**arch["kwargs"], "cr": live}},
        metrics=metrics,
        training={"command": command, "seed": seed, "scenario": scenario,
                  "data_sha256": {k: v for k, v in data_card.get("sha256", {}).items() if k.endswith(".npz")},
                  "data_generator": data_card.get("generator"), "int8_calibration": "validation split (held out)",
                  "int8_keep_float": list(INT8_KEEP_FLOAT)},
        extra={"crs": crs, "live_cr": live, "codeword_len": {str(c): 2048 // c for c in crs},
               "pilots": {"antennas": N_ANT, "subcarriers": N_SC, "cp": CP, "pilot_seed": 0}})
    card.save(folder / "card.json")
    return load_card(folder / "card.json")


def _noise(spec: str):
    if not spec:
        return None
    try:
        lo, hi = (float(v) for v in spec.split(":"))
    except ValueError:
        raise ConfigError(f"--noise-snr {spec!r} must be LOW:HIGH in dB, e.g. -5:25") from None
    if not lo <= hi:
        raise ConfigError(f"--noise-snr {spec!r}: LOW must be <= HIGH")
    return (lo, hi)


#: what the full sweep trains: (scenario, arch, cr, kwargs, noise, tag)
def sweep_plan(scenarios=("indoor", "outdoor"), archs=("cllwcsinet", "csinet_cl", "csinet", "crnet", "lwsep")):
    plan = []
    for sc in scenarios:
        for cr in (4, 16, 8):
            for arch in archs:
                plan.append((sc, arch, cr, {}, None, f"{arch}_cr{cr}"))
        if sc == "indoor" and "cllwcsinet" in archs:
            plan.append((sc, "cllwcsinet", 4, {"denoise": True}, (-5.0, 25.0), "cllwcsinet_cr4_noise"))
    return plan


def _arch_lr(spec: str) -> dict:
    """``'csinet=1e-3,cllwcsinet@outdoor=3e-3'`` -> ``{"csinet": 0.001, "cllwcsinet@outdoor": 0.003}``.

    ``ARCH=LR`` holds for every scenario, ``ARCH@SCENARIO=LR`` for that scenario only (and wins
    over ``ARCH=LR`` there): :func:`lr_for` reads the result."""
    from sdrkit.tasks.csi.data import SCENARIOS

    out = {}
    for item in (v.strip() for v in (spec or "").split(",")):
        if not item:
            continue
        key, _, val = item.partition("=")
        name, at, sc = (v.strip() for v in key.partition("@"))
        if name not in ARCHS:
            raise ConfigError(f"--arch-lr: unknown architecture {name!r} in {spec!r}; "
                              f"choose from {', '.join(ARCHS)}")
        if at and sc not in SCENARIOS:
            raise ConfigError(f"--arch-lr {item!r}: unknown scenario {sc!r}; choose from {', '.join(SCENARIOS)}")
        if not _ or not val.strip():
            raise ConfigError(f"--arch-lr {item!r} must be ARCH=LR or ARCH@SCENARIO=LR, e.g. csinet=1e-3")
        try:
            lr = float(val)
        except ValueError:
            raise ConfigError(f"--arch-lr {item!r}: {val.strip()!r} is not a number; give a learning rate in (0, 1), "
                              "e.g. csinet=1e-3") from None
        if not 0 < lr < 1:
            raise ConfigError(f"--arch-lr {item!r}: the learning rate must be in (0, 1)")
        out[f"{name}@{sc}" if at else name] = lr
    return out


def lr_for(arch_lr: dict, arch: str, scenario: str, default: float) -> float:
    """The learning rate of ``arch`` on ``scenario``: ``arch@scenario``, else ``arch``, else ``default``."""
    return arch_lr.get(f"{arch}@{scenario}", arch_lr.get(arch, default))


def run_train(cfg) -> int:
    import torch

    import json

    from sdrkit.tasks.csi.data import SCENARIOS, open_scenario

    scenarios = [v.strip() for v in cfg.scenario.split(",") if v.strip()]
    bad = [v for v in scenarios if v not in SCENARIOS] or ([] if scenarios else [cfg.scenario])
    if bad:
        raise ConfigError(f"--scenario {cfg.scenario!r}: unknown {bad}; choose from {', '.join(SCENARIOS)}")
    if cfg.what in ("bundle", "one") and len(scenarios) != 1:
        raise ConfigError(f"--scenario {cfg.scenario!r}: --what {cfg.what} trains on one scenario")
    if cfg.what == "one" and cfg.cr not in (4, 8, 16):
        raise ConfigError(f"--cr {cfg.cr}: must be 4, 8 or 16")
    torch.set_num_threads(max(1, int(cfg.threads)))
    noise = _noise(cfg.noise_snr)
    budget = cfg.time_budget * 60 if cfg.time_budget else None
    cpu_budget = cfg.cpu_budget or None

    def load(scenario):
        d = open_scenario(cfg.data, scenario)
        xtr, _ = d.split("train")
        xva, _ = d.split("val")
        if cfg.max_train:
            xtr = xtr[:cfg.max_train]
        return d, xtr, xva

    arch_lr = _arch_lr(getattr(cfg, "arch_lr", ""))
    if cfg.what == "sweep":
        archs = tuple(a.strip() for a in cfg.archs.split(",") if a.strip())
        bad = [a for a in archs if a not in ARCHS]
        if bad:
            raise ConfigError(f"--archs: unknown {bad}; choose from {', '.join(ARCHS)}")
        tags = {t for *_, t in sweep_plan(tuple(scenarios), archs)}
        skip = {t.strip() for t in cfg.skip.split(",") if t.strip()}
        if skip - tags:
            raise ConfigError(f"--skip: {sorted(skip - tags)} are not models of this sweep; its tags are "
                              f"{', '.join(sorted(tags))}")
    kw = dict(epochs=cfg.epochs, batch=cfg.batch, seed=cfg.seed, time_budget_s=budget, cpu_budget_s=cpu_budget)
    if cfg.what == "requantize":
        cards = sorted(Path(cfg.out).glob("**/card.json"))
        if not cards:
            raise ConfigError(f"--what requantize: no card.json under {cfg.out}; point --out at a csi model folder")
        val = {}       # the calibration split, read once per scenario
        for f in cards:
            sc = json.loads(f.read_text()).get("training", {}).get("scenario", "indoor")
            if sc not in val:
                val[sc] = open_scenario(cfg.data, sc).split("val")[0]
            for p in requantize(f.parent, val[sc], cfg.command_line):
                print(f"wrote {p}")
        return 0
    if cfg.what in ("bundle", "one"):
        d, xtr, xva = load(cfg.scenario)
        crs = (4, 8, 16) if cfg.what == "bundle" else (cfg.cr,)
        arch = "cllwcsinet" if cfg.what == "bundle" else cfg.arch
        trained = {}
        for cr in crs:
            net, info = train_one(arch, cr, xtr, xva, noise_snr=noise, lr=cfg.lr, **kw)
            print(f"{arch} CR{cr} ({cfg.scenario}): val NMSE {info['best_val_nmse_db']:.2f} dB after "
                  f"{info['steps']} steps, {info['cpu_seconds']:.0f} CPU s, {info['seconds']:.0f} s", flush=True)
            trained[cr] = (net, info)
        card = write_card(Path(cfg.out), trained, cfg.scenario, d.card, xva, cfg.command_line, cfg.seed,
                          name=f"{arch}-{cfg.scenario}-cr{'-'.join(str(c) for c in crs)}")
        print(f"wrote {card.path}")
        return 0
    # the sweep: one folder per model under --out
    cache = {}      # archs and skip: parsed and checked above
    for sc, arch, cr, kwargs, nz, tag in sweep_plan(tuple(scenarios), archs):
        if sc not in cache:
            cache[sc] = load(sc)
        d, xtr, xva = cache[sc]
        folder = Path(cfg.out) / sc / tag
        if tag in skip:
            continue
        if (folder / "card.json").exists():
            print(f"{sc}/{tag}: exists, skipped")
            continue
        net, info = train_one(arch, cr, xtr, xva, noise_snr=nz, kwargs=kwargs, desc=f"{sc} {tag}",
                              lr=lr_for(arch_lr, arch, sc, cfg.lr), **kw)
        write_card(folder, {cr: (net, info)}, sc, d.card, xva, cfg.command_line, cfg.seed, name=f"{sc}-{tag}")
        print(f"{sc}/{tag}: val NMSE {info['best_val_nmse_db']:.2f} dB, {info['steps']} steps, "
              f"{info['cpu_seconds']:.0f} CPU s, {info['seconds']:.0f} s", flush=True)
    return 0
