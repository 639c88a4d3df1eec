"""``sdrkit evaluate csi``: every figure of issue 15 from one run, targets as data, PNGs.

Measurements (all on test splits the models never saw; the int8 calibration used validation):

* :func:`measure_table`: the seed's Table III in form, per scenario, architecture and CR: encoder
  and decoder parameters, encoder FLOPs (``torch.utils.flop_counter``; FLOPs = 2 x MACs of the
  convolutions and matrix products), ONNX bytes (fp32 encoder, int8 encoder, fp32 decoder),
  NMSE with the fp32 and the int8 encoder (onnxruntime), encoder latency (batch 1, 1 thread,
  median), feedback payload bits (codeword length x ``bits``).
* :func:`measure_feedback`: NMSE vs feedback SNR -5..40 dB for the clean-trained and the
  noise-aware CLLWCsiNet CR 4: (a) the mathematical noise layer (AWGN on the codeword at the SNR);
  (b) digital: codeword uniformly quantized to ``bits`` bits, QPSK through an ideal AWGN channel
  (:func:`sdrkit.dsp.burst.awgn_symbols`); (c) the same bits as a burst with a preamble
  (:mod:`sdrkit.dsp.burst`) through the simulated radio (``sim:loopback``, ``tx()`` then ``rx()``,
  with a delay and a 700 Hz carrier offset), the BS decoding what it received.
* :func:`measure_mobility`: NMSE vs UE mobility lag (each snapshot compressed itself, and a stale
  codeword from lag 0 against the channel at the lag); trained indoor / tested outdoor.

Absolute NMSE values are not comparable with the COST2100 tables of the seed (other channels,
other data sizes, far shorter training); the comparison is between models on the same data
with the same schedule.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sdrkit.dsp import csi as dcsi
from sdrkit.dsp.burst import BurstFormat, awgn_symbols, demodulate, modulate
from sdrkit.errors import ModelError, StreamError
from sdrkit.tasks.targets import Target, write_report

SNRS = (-5, 0, 5, 10, 15, 20, 25, 30, 35, 40)
ARCH_LABEL = {"cllwcsinet": "CLLWCsiNet", "csinet": "CsiNet (FC)", "csinet_cl": "CsiNet-CL (conv latent)",
              "crnet": "CRNet (FC)", "lwsep": "LW-Sep (sdrkit, separable latent)"}


# ---- models ---------------------------------------------------------------------------------

class Model:
    """One trained autoencoder at one CR, from a csi card: torch net + onnxruntime graphs."""

    def __init__(self, card, cr: int):
        import torch

        from sdrkit.nn import create_model
        from sdrkit.runtime.session import onnx_session

        self.card, self.cr = card, int(cr)
        info = card.metrics.get(f"cr{cr}") or {}
        arch = (info.get("training") or {}).get("architecture") or {**card.architecture,
                                                                      "kwargs": {**card.architecture["kwargs"], "cr": cr}}
        self.arch = arch
        self.net = create_model(arch)
        self.net.load_state_dict(torch.load(card.file(f"torch_cr{cr}"), weights_only=True))
        self.net.eval()
        self.enc = onnx_session(card.file(f"encoder_cr{cr}"))
        self.enc8 = onnx_session(card.file(f"encoder_int8_cr{cr}"))
        self.dec = onnx_session(card.file(f"decoder_cr{cr}"))
        self.info = info

    def encode(self, x, int8=False):
        sess = self.enc8 if int8 else self.enc
        return np.concatenate([sess.run(None, {"x": x[i:i + 500]})[0] for i in range(0, len(x), 500)])

    def decode(self, s):
        s = s.astype(np.float32)
        return np.concatenate([self.dec.run(None, {"s": s[i:i + 500]})[0] for i in range(0, len(s), 500)])


def _open(path, cr=None):
    from sdrkit.runtime.card import load_card

    card = load_card(path)
    if card.task != "csi":
        raise ModelError(f"{card.path} is a {card.task!r} model, not csi")
    return card


def _sweep_model(sweep: Path, scenario: str, tag: str, cr: int) -> Model | None:
    p = sweep / scenario / tag / "card.json"
    if not p.exists():
        return None
    return Model(_open(p), cr)


# ---- measurements ---------------------------------------------------------------------------

def encoder_flops(net) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net.encoder(torch.rand(1, 2, 32, 32))
    return int(fc.get_total_flops())


def latency_ms(sess, inp: np.ndarray, repeats: int) -> float:
    for _ in range(5):
        sess.run(None, {"x": inp})
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, {"x": inp})
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1e3)


def model_row(m: Model, x: np.ndarray, bits: int, repeats: int) -> dict:
    from sdrkit.runtime.session import onnx_session

    s = m.encode(x)
    s8 = m.encode(x, int8=True)
    ne = sum(p.numel() for p in m.net.encoder.parameters())
    nd = sum(p.numel() for p in m.net.decoder.parameters())
    one = x[:1]
    return {
        "arch": m.arch["name"], "cr": m.cr, "encoder_params": ne, "decoder_params": nd, "params": ne + nd,
        "encoder_flops": encoder_flops(m.net),
        "onnx_bytes_encoder_fp32": m.card.file(f"encoder_cr{m.cr}").stat().st_size,
        "onnx_bytes_encoder_int8": m.card.file(f"encoder_int8_cr{m.cr}").stat().st_size,
        "onnx_bytes_decoder_fp32": m.card.file(f"decoder_cr{m.cr}").stat().st_size,
        "nmse_db_fp32": dcsi.nmse_db(x, m.decode(s)), "nmse_db_int8": dcsi.nmse_db(x, m.decode(s8)),
        "encoder_latency_ms_fp32": latency_ms(onnx_session(m.card.file(f"encoder_cr{m.cr}"), 1), one, repeats),
        "encoder_latency_ms_int8": latency_ms(onnx_session(m.card.file(f"encoder_int8_cr{m.cr}"), 1), one, repeats),
        "codeword_len": int(s.shape[1]), "payload_bits": int(s.shape[1]) * bits,
        "train_seconds": (m.info.get("training") or {}).get("seconds"),
        "train_steps": (m.info.get("training") or {}).get("steps"),
    }


def measure_table(sweep: Path, data_root, scenarios, n_test: int, bits: int, repeats: int,
                  bundle: dict | None = None, bundle_scenario: str = "") -> dict:
    """Table III in form: ``{scenario: [row, ...]}`` for every sweep model found; the bundled
    CLLWCsiNet (same schedule) stands in for a sweep CLLWCsiNet of its scenario that is missing."""
    from sdrkit.tasks.csi.data import open_scenario

    out = {}
    for sc in scenarios:
        try:
            x, _ = open_scenario(data_root, sc).split("test")
        except Exception:   # noqa: BLE001  a scenario without data is reported as missing
            out[sc] = []
            continue
        x = x[:n_test] if n_test else x
        rows = []
        for cr in (4, 8, 16):
            for arch in ("csinet", "csinet_cl", "crnet", "cllwcsinet", "lwsep"):
                m = _sweep_model(sweep, sc, f"{arch}_cr{cr}", cr)
                src = "sweep"
                if m is None and arch == "cllwcsinet" and sc == bundle_scenario and bundle and cr in bundle:
                    m, src = bundle[cr], "bundle"
                if m is not None:
                    rows.append({**model_row(m, x, bits, repeats), "source": src})
        out[sc] = rows
    return out


def quantizer(s_ref: np.ndarray, bits: int):
    """A uniform ``bits``-bit quantizer over +-A, A the 99.9th percentile of |codeword| on ``s_ref``."""
    a = float(np.quantile(np.abs(s_ref), 0.999)) or 1.0
    levels = 2 ** bits

    def to_bits(s):
        q = np.clip(np.floor((s + a) / (2 * a) * levels), 0, levels - 1).astype(np.int64)
        b = (q[..., None] >> np.arange(bits - 1, -1, -1)) & 1
        return b.reshape(len(s), -1).astype(np.uint8)

    def from_bits(b):
        b = b.reshape(len(b), -1, bits).astype(np.int64)
        q = np.sum(b << np.arange(bits - 1, -1, -1), axis=-1)
        return ((q + 0.5) / levels * 2 * a - a).astype(np.float32)

    return to_bits, from_bits, a


def radio_feedback(bits: np.ndarray, snr_db: float, fmt: BurstFormat, seed: int) -> tuple[np.ndarray, bool, bool]:
    """Send each row of ``bits`` as one burst through ``sim:loopback`` at ``snr_db``; returns
    ``(received bits, all found, all CRCs ok)``."""
    from sdrkit.dsp.burst import burst_length
    from sdrkit.radio import open_radio

    out = np.zeros_like(bits)
    found = crc = True
    n = bits.shape[1]
    L = burst_length(n, fmt)
    delay = 300
    for i, row in enumerate(bits):
        uri = (f"sim:loopback?sample_rate=1e6&loopback_snr={snr_db}&loopback_cfo=700&loopback_delay={delay}"
               f"&rx_buffer_size=4096&seed={seed * 100003 + i}")
        with open_radio(uri) as r:
            r.tx(modulate(row, fmt))
            got = []
            while sum(len(g) for g in got) < L + delay + 200:
                got.append(r.rx().samples)
        try:
            b = demodulate(np.concatenate(got), fmt, n_bits=n)
            out[i] = b.bits
            crc &= b.crc_ok
        except StreamError:
            found = crc = False      # nothing decoded: the BS has only zeros for this codeword
    return out, found, crc


def measure_feedback(models: dict, x: np.ndarray, x_ref: np.ndarray, bits: int, radio_n: int, snrs, seed: int) -> dict:
    """NMSE vs feedback SNR for each ``{label: Model}``: math (analog), digital AWGN, digital radio."""
    import torch

    from sdrkit.nn.csi import add_noise

    fmt = BurstFormat(modulation="qpsk")
    res = {}
    for label, m in models.items():
        if m is None:
            continue
        s = m.encode(x)
        to_bits, from_bits, a = quantizer(m.encode(x_ref), bits)
        b = to_bits(s)
        rows = {"snr_db": list(snrs), "math": [], "digital_awgn": [], "digital_radio": [], "radio_crc_ok": [],
                "clip": a, "quantized_nmse_db": dcsi.nmse_db(x, m.decode(from_bits(b)))}
        torch.manual_seed(seed)
        for snr in snrs:
            with torch.no_grad():
                sn = add_noise(torch.from_numpy(s), float(snr)).numpy()
            rows["math"].append(dcsi.nmse_db(x, m.decode(sn)))
            rng = np.random.default_rng([seed, int(snr) + 100])
            k = min(radio_n, len(x))
            bw = np.stack([awgn_symbols(r, float(snr), fmt, rng) for r in b[:k]])
            rows["digital_awgn"].append(dcsi.nmse_db(x[:k], m.decode(from_bits(bw))))
            br, _found, crc = radio_feedback(b[:k], float(snr), fmt, seed + int(snr) + 100)
            rows["digital_radio"].append(dcsi.nmse_db(x[:k], m.decode(from_bits(br))))
            rows["radio_crc_ok"].append(bool(crc))
        res[label] = rows
    return res


def measure_mobility(m: Model, data_root, scenario: str, n: int) -> dict | None:
    from sdrkit.tasks.csi.data import open_scenario

    mob = open_scenario(data_root, scenario).mobility()
    if mob is None:
        return None
    h, lags = mob
    h = h[:n] if n else h
    own, stale = [], []
    x0, sc0 = dcsi.to_real(h[:, 0])
    h0_hat = dcsi.from_real(m.decode(m.encode(x0)), sc0)
    for t in range(h.shape[1]):
        xt, _ = dcsi.to_real(h[:, t])
        own.append(dcsi.nmse_db(xt, m.decode(m.encode(xt))))
        stale.append(dcsi.nmse_complex_db(h[:, t], h0_hat))
    return {"scenario": scenario, "lags_ms": [float(v) for v in lags], "own_codeword_nmse_db": own,
            "stale_codeword_nmse_db": stale, "n": int(len(h))}


# ---- plots ----------------------------------------------------------------------------------

def _plots(out: Path, res: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fb = res.get("feedback") or {}
    if fb:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (label, r), c in zip(fb.items(), ("C0", "C1", "C2", "C3")):
            ax.plot(r["snr_db"], r["math"], "-o", color=c, label=f"{label}: math noise layer")
            ax.plot(r["snr_db"], r["digital_awgn"], "--s", color=c, label=f"{label}: {res['bits']}-bit QPSK, AWGN")
            ax.plot(r["snr_db"], r["digital_radio"], ":x", color=c, label=f"{label}: {res['bits']}-bit QPSK, sim radio")
        ax.set_xlabel("feedback SNR, dB")
        ax.set_ylabel("NMSE, dB")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("CSI reconstruction vs feedback SNR (CR 4, indoor)")
        fig.tight_layout()
        fig.savefig(out / "nmse_vs_feedback_snr.png", dpi=120)
        plt.close(fig)
        files.append("nmse_vs_feedback_snr.png")
    for sc, rows in (res.get("table") or {}).items():
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        archs = [a for a in ARCH_LABEL if any(r["arch"] == a for r in rows)]
        crs = sorted({r["cr"] for r in rows})
        w = 0.8 / max(1, len(archs))
        for j, a in enumerate(archs):
            rr = [r for r in rows if r["arch"] == a]      # an arch may lack a CR: place bars by CR
            ax.bar([crs.index(r["cr"]) + w * j for r in rr], [r["nmse_db_fp32"] for r in rr], w,
                   label=f"{ARCH_LABEL[a]} ({rr[0]['params'] / 1e3:.0f}k params at CR{rr[0]['cr']})")
        ax.set_xticks([i + 0.4 - w / 2 for i in range(len(crs))], [f"CR {c}" for c in crs])
        ax.set_ylabel("NMSE, dB (lower is better)")
        ax.set_title(f"Table III in form, {sc} (same data, same schedule)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(out / f"table3_{sc}.png", dpi=120)
        plt.close(fig)
        files.append(f"table3_{sc}.png")
    mob = res.get("mobility") or {}
    if mob:
        fig, ax = plt.subplots(figsize=(6, 4))
        for sc, r in mob.items():
            if r:
                ax.plot(r["lags_ms"], r["own_codeword_nmse_db"], "-o", label=f"{sc}: snapshot compressed itself")
                ax.plot(r["lags_ms"], r["stale_codeword_nmse_db"], "--x", label=f"{sc}: stale lag-0 feedback")
        ax.set_xlabel("UE mobility lag, ms")
        ax.set_ylabel("NMSE, dB")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("Bundled CLLWCsiNet CR 4 (trained indoor) vs mobility lag")
        fig.tight_layout()
        fig.savefig(out / "nmse_vs_mobility_lag.png", dpi=120)
        plt.close(fig)
        files.append("nmse_vs_mobility_lag.png")
    ex = res.get("_example")
    if ex is not None:
        x, xh = ex
        fig, axs = plt.subplots(1, 2, figsize=(7, 3.2))
        for a, v, t in zip(axs, (x, xh), ("test CSI |H| (angle x delay)", "CLLWCsiNet CR 4 reconstruction")):
            a.imshow(np.abs((v[0] - 0.5) + 1j * (v[1] - 0.5)), aspect="auto", cmap="viridis")
            a.set_title(t, fontsize=9)
            a.set_xlabel("delay tap")
            a.set_ylabel("angle bin")
        fig.tight_layout()
        fig.savefig(out / "reconstruction_example.png", dpi=120)
        plt.close(fig)
        files.append("reconstruction_example.png")
    return files


# ---- the run --------------------------------------------------------------------------------

def _row(rows, arch, cr):
    for r in rows:
        if r["arch"] == arch and r["cr"] == cr:
            return r
    return None


def _nan(v):
    return float("nan") if v is None else float(v)


def run_evaluation(cfg) -> int:
    import torch

    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.csi.data import open_scenario

    torch.set_num_threads(1)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(cfg.model)
    crs = [int(c) for c in card.extra.get("crs", [4])]
    scen = card.training.get("scenario", "indoor")
    n_test = cfg.n_test or (50 if cfg.quick else 0)
    repeats = 20 if cfg.quick else 100
    data = open_scenario(cfg.data, scen)
    x_test, _ = data.split("test")
    x_val, _ = data.split("val")
    x = x_test[:n_test] if n_test else x_test
    bundle = {cr: Model(card, cr) for cr in crs}
    res: dict = {"bits": cfg.bits, "scenario": scen, "n_test": int(len(x)),
                 "note": "sionna 38.901 channels, not COST2100: absolute NMSE is not comparable with the seed's "
                         "tables; models are compared on the same data with the same schedule"}
    # bundled models: the int8 figures and sizes
    res["bundle"] = [model_row(m, x, cfg.bits, repeats) for m in bundle.values()]
    b4 = bundle.get(4) or next(iter(bundle.values()))
    res["_example"] = (x[0], b4.decode(b4.encode(x[:1]))[0])
    sweep = Path(cfg.sweep)
    scenarios = ("indoor",) if cfg.quick else ("indoor", "outdoor")
    res["table"] = measure_table(sweep, cfg.data, scenarios, n_test, cfg.bits, repeats, bundle, scen) \
        if sweep.exists() else {}
    # noisy feedback (CR 4, indoor): the same-budget clean and noise-aware CLLWCsiNet from the sweep,
    # else (quick, no sweep) the bundled one alone
    clean = _sweep_model(sweep, "indoor", "cllwcsinet_cr4", 4) or (b4 if scen == "indoor" else None) or b4
    noisy = _sweep_model(sweep, "indoor", "cllwcsinet_cr4_noise", 4)
    snrs = (0, 20, 40) if cfg.quick else SNRS
    radio_n = 3 if cfg.quick else cfg.radio_samples
    xf = x[:min(len(x), 1000)]
    res["feedback"] = measure_feedback({"clean-trained": clean, "noise-aware": noisy}, xf, x_val[:2000], cfg.bits,
                                       radio_n, snrs, cfg.seed)
    # mobility and cross-scenario generalization of the bundled CR 4
    res["mobility"] = {}
    cross = {}
    for sc in scenarios:
        try:
            res["mobility"][sc] = measure_mobility(b4, cfg.data, sc, 50 if cfg.quick else 0)
            xs, _ = open_scenario(cfg.data, sc).split("test")
            xs = xs[:n_test] if n_test else xs
            cross[sc] = dcsi.nmse_db(xs, b4.decode(b4.encode(xs)))
        except Exception as exc:  # noqa: BLE001  a missing scenario is reported, not fatal
            res["mobility"][sc] = None
            cross[sc] = None
            res.setdefault("missing", []).append(f"{sc}: {exc}")
    res["trained_on_" + scen + "_tested_on"] = cross
    pngs = _plots(out, res)
    res.pop("_example", None)
    res["pngs"] = pngs

    # ---- targets
    targets = []
    ind = res["table"].get("indoor") or []
    outd = res["table"].get("outdoor") or []
    for sc, rows in (("indoor", ind), ("outdoor", outd)):
        for cr in (4, 8, 16):
            a, b = _row(rows, "cllwcsinet", cr), _row(rows, "csinet_cl", cr)
            gap = _nan(b and b["nmse_db_fp32"]) - _nan(a and a["nmse_db_fp32"])
            targets.append(Target(f"CLLWCsiNet beats CsiNet-CL, CR {cr}, {sc}", gap, ">=", 3.0, "dB",
                                  note="seed: 5.4/7.6/6.4 dB; same data and schedule"))
    small = [r for r in ind if r["params"] <= 70_000]
    fc4, fc16 = _row(ind, "csinet", 4), _row(ind, "csinet", 16)
    best4 = min((r["nmse_db_fp32"] for r in small if r["cr"] == 4), default=None)
    best16 = min((r["nmse_db_fp32"] for r in small if r["cr"] == 16), default=None)
    targets.append(Target("<= 70K-param model vs 2M-param CsiNet-FC at CR 4 (gap), indoor",
                          _nan(best4) - _nan(fc4 and fc4["nmse_db_fp32"]), "<=", 2.0, "dB",
                          note="best of CLLWCsiNet / CsiNet-CL / LW-Sep"))
    targets.append(Target("<= 70K-param model better than CsiNet-FC at CR 16, indoor",
                          _nan(fc16 and fc16["nmse_db_fp32"]) - _nan(best16), ">", 0.0, "dB"))
    gaps8 = [abs(r["nmse_db_int8"] - r["nmse_db_fp32"]) for r in res["bundle"]]
    targets.append(Target("int8 encoder NMSE vs fp32, worst of bundled CR 4/8/16", max(gaps8), "<=", 0.5, "dB",
                          note="ORT static QDQ per-channel, calibrated on the validation split"))
    targets.append(Target("int8 encoder ONNX size, largest bundled", max(r["onnx_bytes_encoder_int8"]
                                                                         for r in res["bundle"]) / 1e3,
                          "<=", 100.0, "kB"))
    fbr = res["feedback"]
    if "noise-aware" in fbr:
        i0 = fbr["noise-aware"]["snr_db"].index(0)
        gain = fbr["clean-trained"]["math"][i0] - fbr["noise-aware"]["math"][i0]
    else:
        gain = float("nan")
    targets.append(Target("noise-aware training gain at 0 dB feedback SNR (math channel), CR 4", gain, ">=", 3.0,
                          "dB", note="CLLWCsiNet with denoiser, SNR ~ U[-5, 25] dB, same schedule"))
    diffs = [abs(r - m) for lab in fbr.values() for r, m in zip(lab["digital_radio"], lab["digital_awgn"])]
    targets.append(Target("over-the-air (sim radio) vs mathematical channel at equal SNR, worst |diff|",
                          max(diffs) if diffs else float("nan"), "<=", 0.5, "dB",
                          note=f"{cfg.bits}-bit QPSK bursts, -5..40 dB, {radio_n} codewords per point"))
    tr = [((m.info.get("training") or {}).get("seconds") or float("nan")) for m in bundle.values()]
    cpu = [((m.info.get("training") or {}).get("cpu_seconds") or float("nan")) for m in bundle.values()]
    targets.append(Target("bundled models' training time (CR 4/8/16 together), wall clock", sum(tr) / 60, "<=",
                          20.0, "min", note=f"{sum(cpu):.0f} CPU s in all (budget per model); machine shared"))
    size = sum(f.stat().st_size for f in card.directory.iterdir() if f.is_file())
    targets.append(Target("bundle size (models/csi)", size / 1e6, "<=", 5.0, "MB"))
    write_report(out / "evaluation.json", task="csi", targets=targets, results=res, quick=cfg.quick)
    _print_table(res)
    if cfg.update_card:
        metrics = {**card.metrics, "evaluation": {"bundle": res["bundle"],
                                                  "targets": [t.to_dict() for t in targets]}}
        card.replace(metrics=metrics).save(card.path)
        print(f"updated {card.path}")
    return 0


def _print_table(res: dict) -> None:
    for sc, rows in (res.get("table") or {}).items():
        if not rows:
            continue
        print(f"\nTable III in form, {sc} (NMSE dB, fp32 / int8 encoder):")
        print(f"{'model':28s} {'CR':>3s} {'params':>9s} {'enc FLOPs':>10s} {'NMSE':>7s} {'int8':>7s} "
              f"{'enc kB':>7s} {'int8 kB':>7s} {'ms':>6s}")
        for r in rows:
            print(f"{ARCH_LABEL[r['arch']]:28s} {r['cr']:3d} {r['params']:9d} {r['encoder_flops'] / 1e6:9.2f}M "
                  f"{r['nmse_db_fp32']:7.2f} {r['nmse_db_int8']:7.2f} {r['onnx_bytes_encoder_fp32'] / 1e3:7.1f} "
                  f"{r['onnx_bytes_encoder_int8'] / 1e3:7.1f} {r['encoder_latency_ms_fp32']:6.3f}")
    print(json.dumps({"trained_indoor_tested": res.get("trained_on_indoor_tested_on")}))
