"""Deliver a model card's weights through a radio (``tx()`` -> ``rx()``) and rebuild the card.

Any card whose graphs are ONNX files can be delivered. Per graph, the **learned tensors** travel:
the card's ``extra.delivery.tensors`` when it lists them (the AirNet student), else every float
initializer that feeds a Conv or Gemm weight or bias input, or a MatMul followed by an Add of an
initializer bias (how ``nn.Linear`` on 3-D input exports); a bare MatMul by a constant (e.g. the
beam encoder's fixed matched filter, a buffer) is architecture and stays. A
BatchNormalization whose only consumer is a Gemm (``transB=1``) is first **folded** into that
Gemm (``W' = W diag(a)``, ``c' = c + W b``, with ``a = gamma / sqrt(var + eps)``, ``b = beta - a mean``),
so no running statistics are sent (a noisy variance could go negative). Everything else in the
graph (topology, fixed filters, index tables) is the receiver's copy of the architecture.

Modes: ``analog`` (AirNet: per-tensor unit-RMS scaling, pairs of weights per symbol, SK spiral on
the tensors the card's ``extra.delivery.sk_expand`` names when ``expand=2``) and ``digital``
(8-bit per-tensor uniform quantization, zlib, QPSK bursts with CRC-32). Both use the burst modem
(:mod:`sdrkit.dsp.burst`) framing of :mod:`sdrkit.dsp.weights_link`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from sdrkit.dsp import weights_link as wl
from sdrkit.errors import ConfigError, ModelError, StreamError

LEARNED_OPS = {"Conv": (1, 2), "Gemm": (1, 2), "BatchNormalization": (1, 2)}
QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}


def fold_batchnorm(model) -> int:
    """Fold every BatchNormalization that feeds only a ``Gemm(transB=1)`` into that Gemm, in place.

    Returns:
        the number of nodes folded.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    folded = 0
    for bn in [n for n in g.node if n.op_type == "BatchNormalization"]:
        users = [n for n in g.node if bn.output[0] in n.input]
        if len(users) != 1 or users[0].op_type != "Gemm" or users[0].input[0] != bn.output[0] \
                or any(i not in inits for i in bn.input[1:]) or any(i not in inits for i in users[0].input[1:3]):
            continue
        gemm = users[0]
        attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
        if attrs.get("transB", 0) != 1 or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 \
                or attrs.get("beta", 1.0) != 1.0:
            continue
        eps = next((helper.get_attribute_value(a) for a in bn.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (numpy_helper.to_array(inits[i]).astype(np.float64) for i in bn.input[1:5])
        a = gamma / np.sqrt(var + eps)
        b = beta - a * mean
        w = numpy_helper.to_array(inits[gemm.input[1]]).astype(np.float64)
        c = numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float64)
        inits[gemm.input[1]].CopyFrom(numpy_helper.from_array((w * a[None, :]).astype(np.float32), gemm.input[1]))
        inits[gemm.input[2]].CopyFrom(numpy_helper.from_array((c + w @ b).astype(np.float32), gemm.input[2]))
        gemm.input[0] = bn.input[0]
        g.node.remove(bn)
        folded += 1
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    return folded


def canonicalize_batchnorm(model) -> int:
    """Rewrite every remaining BatchNormalization as the affine map it is, in place: ``scale = a``,
    ``B = b`` (``a = gamma / sqrt(var + eps)``, ``b = beta - a mean``), ``mean = 0``, ``var = 1 - eps``.

    The node computes the same function; only ``scale`` and ``B`` are learned tensors after it, and the
    running statistics become fixed constants the receiver holds (a variance sent through the channel
    comes back negative for small values, and ``sqrt`` of it is NaN).

    Returns:
        the number of nodes rewritten.
    """
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    users = {}
    for n in g.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    done = 0
    for bn in [n for n in g.node if n.op_type == "BatchNormalization"]:
        if len(bn.input) < 5 or any(i not in inits or users.get(i, 0) != 1 for i in bn.input[1:5]):
            continue
        eps = float(next((helper.get_attribute_value(a) for a in bn.attribute if a.name == "epsilon"), 1e-5))
        gamma, beta, mean, var = (numpy_helper.to_array(inits[i]).astype(np.float64) for i in bn.input[1:5])
        a = gamma / np.sqrt(var + eps)
        new = {bn.input[1]: a, bn.input[2]: beta - a * mean, bn.input[3]: np.zeros_like(mean),
               bn.input[4]: np.full_like(var, 1.0 - eps)}
        for name, v in new.items():
            inits[name].CopyFrom(numpy_helper.from_array(v.astype(np.float32), name))
        done += 1
    return done


def check_deliverable(model, where: str) -> None:
    """Refuse graphs whose weights are not float tensors (int8 QDQ / integer graphs).

    Raises:
        ModelError: naming the graph, the quantized operators and the fix.
    """
    ops = sorted({n.op_type for n in model.graph.node} & QUANTIZED_OPS)
    if ops:
        raise ModelError(f"{where} is a quantized graph ({', '.join(ops)}): its int8 weights and scales cannot be "
                         f"sent as analog weights; deliver the float card instead (e.g. --model amc, not amc-int8)")


def check_received(models: dict, where: str) -> None:
    """Run every received graph once on Gaussian noise; refuse a delivery whose outputs are not finite.

    Raises:
        StreamError: naming the graph and the fix.
    """
    import tempfile

    import onnx

    from sdrkit.runtime.session import onnx_session

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for key, m in models.items():
            path = Path(tmp) / f"{key}.onnx"
            onnx.save(m, str(path))
            sess = onnx_session(path, 1)
            feeds = {i.name: rng.standard_normal([d if isinstance(d, int) and d > 0 else 2 for d in i.shape])
                     .astype(np.float32) for i in sess.get_inputs()}
            bad = [o.name for o, v in zip(sess.get_outputs(), sess.run(None, feeds)) if not np.all(np.isfinite(v))]
            if bad:
                raise StreamError(f"{where}: the received graph {key!r} gives non-finite outputs ({bad[:3]}); the "
                                  f"delivery is refused rather than written. Raise the link SNR or use --mode digital")


def learned_tensors(model, names=None) -> dict:
    """``{initializer name: float32 array}`` of the learned tensors, in graph order (module docstring)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    order = []
    if names:
        missing = [n for n in names if n not in inits]
        if missing:
            raise ModelError(f"the card's delivery list names tensors the graph lacks: {missing[:5]}")
        order = list(names)
    else:
        consumers = {}
        for node in model.graph.node:
            for i in node.input:
                consumers.setdefault(i, []).append(node)
        for node in model.graph.node:
            idx = LEARNED_OPS.get(node.op_type, ())
            if node.op_type == "MatMul":
                adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"
                        and any(i in inits and inits[i].data_type == 1 for i in n.input)]
                if adds and node.input[1] in inits:
                    for name in [node.input[1]] + [i for i in adds[0].input if i in inits]:
                        if name not in order:
                            order.append(name)
                continue
            for j in idx:
                if j < len(node.input) and node.input[j] in inits and node.input[j] not in order \
                        and inits[node.input[j]].data_type == 1:      # FLOAT
                    order.append(node.input[j])
    return {n: numpy_helper.to_array(inits[n]).astype(np.float32) for n in order}


def replace_tensors(model, tensors: dict) -> None:
    from onnx import numpy_helper

    for init in model.graph.initializer:
        if init.name in tensors:
            init.CopyFrom(numpy_helper.from_array(np.asarray(tensors[init.name], np.float32), init.name))


def _graph_keys(card) -> list[str]:
    return [k for k, f in card.files.items() if f.endswith(".onnx")]


def prepare(card, expand: int = 1):
    """The sender's side: ``(models, tensors, expand map)`` for every ONNX graph of ``card``."""
    import onnx

    keys = _graph_keys(card)
    if not keys:
        raise ModelError(f"card {card.path} lists no ONNX graph; nothing to deliver")
    names = (card.extra.get("delivery") or {}).get("tensors")
    models, tensors = {}, {}
    for k in keys:
        m = onnx.load(str(card.file(k)))
        check_deliverable(m, f"{card.path} graph {k!r}")
        fold_batchnorm(m)
        canonicalize_batchnorm(m)
        models[k] = m
        tensors.update({f"{k}/{n}": v for n, v in learned_tensors(m, names if len(keys) == 1 else None).items()})
    emap = {}
    if expand == 2:
        sk = (card.extra.get("delivery") or {}).get("sk_expand")
        if sk:
            emap = {f"{keys[0]}/{n}": t for n, t in sk.items() if f"{keys[0]}/{n}" in tensors}
        else:
            from sdrkit.dsp import spiral

            emap = {n: spiral.turns_for_snr(10.0) for n in tensors}
    elif expand != 1:
        raise ConfigError(f"--expand {expand} must be 1 (plain pairing) or 2 (SK spiral, 1:2)")
    return models, tensors, emap


def power_of(card, tensors: dict, expand_map: dict) -> dict | None:
    """The card's per-tensor power allocation for a plain (``--expand 1``) delivery, keyed like ``tensors``."""
    p = (card.extra.get("delivery") or {}).get("power_db")
    if not p or expand_map:
        return None
    key = next(iter(tensors)).split("/", 1)[0]
    return {f"{key}/{n}": g for n, g in p.items() if f"{key}/{n}" in tensors}


def transmit(radio, samples: np.ndarray, lead: int = 0):
    """One-shot ``tx()`` of ``samples``; ``rx()`` blocks until the waveform has passed. Returns the samples."""
    radio.tx(samples)
    need = len(samples) + lead + 2 * int(getattr(radio, "rx_buffer_size", 4096) or 4096)
    got, n = [], 0
    while n < need:
        blk = radio.rx()
        s = np.asarray(getattr(blk, "samples", blk))
        s = s[0] if s.ndim == 2 else s
        got.append(s)
        n += len(s)
    return np.concatenate(got)


def deliver_tensors(tensors: dict, radio, mode: str, expand_map: dict | None = None, fmt=None,
                    sample_rate: float | None = None, power: dict | None = None) -> tuple[dict, dict]:
    """Send ``tensors`` through an open radio and decode them; returns ``(received tensors, report)``."""
    from sdrkit.dsp.burst import BurstFormat

    fmt = fmt or BurstFormat(modulation="qpsk")
    specs = wl.specs_of(tensors)
    if mode == "analog":
        sym, side = wl.analog_encode(tensors, expand_map, power)
        wf = wl.build_waveform("analog", fmt, sym, side)
    elif mode == "digital":
        q, scales = wl.quantize(tensors, 8)
        wf = wl.build_waveform("digital", fmt, payload=wl.pack_digital(q, scales, 8))
    else:
        raise ConfigError(f"--mode {mode!r} must be analog or digital")
    rate = float(sample_rate or getattr(radio, "sample_rate", 1e6) or 1e6)
    t0 = time.perf_counter()
    rx = transmit(radio, wf.samples)
    try:
        rec = wl.parse_waveform(rx, fmt, rate)
    except StreamError as exc:
        msg = str(exc).replace("; pass n_bits when the length is known", "")
        raise StreamError(f"{msg}. The control burst sent with tx() did not come back on rx(): does this radio's TX "
                          f"reach its RX? Use sim:loopback?loopback_snr=20, 'sdrkit emulate pluto --loopback-snr 20', "
                          f"or a cabled TX->RX pair with attenuation") from None
    if mode == "analog":
        out = wl.analog_decode(rec.symbols, specs, rec.side)
        err = (rec.symbols - sym)
        sym_snr = float(10 * np.log10(1.0 / max(float(np.mean(np.abs(err) ** 2)), 1e-30)))
    else:
        if not rec.crc_ok:
            raise StreamError(f"digital delivery failed: a burst's CRC-32 did not match (link SNR about "
                              f"{np.median(rec.snr_db):.1f} dB); digital delivery needs an error-free link")
        out = wl.unpack_digital(rec.payload, specs)
        sym_snr = None
    report = {"mode": mode, "samples": int(len(wf.samples)), "air_seconds": wf.seconds(rate),
              "sample_rate": rate, "wall_seconds": time.perf_counter() - t0,
              "channel_symbols": int(sum(wf.counts)) if mode == "analog" else int(-(-sum(wf.counts) // 2)),
              "bursts": len(wf.counts), "link_snr_db": float(np.median(rec.snr_db[1:] or rec.snr_db)),
              "symbol_snr_db": sym_snr, "weights": int(sum(s.size for s in specs)),
              "expanded": sorted(expand_map or {}), "power_allocation": bool(power)}
    return out, report


def deliver_card(card_path, radio_uri: str, mode: str = "analog", expand: int = 1, out: str | None = None,
                 seed: int = 0, radio_options: dict | None = None, radio=None) -> dict:
    """``sdrkit deliver``: send a card's weights through ``radio_uri``, write the received card + ONNX.

    Args:
        radio: an already open (and configured) radio to use instead of opening ``radio_uri``, which
            is then only recorded; the caller keeps it open.

    Returns:
        the delivery report (also written as ``delivery.json`` beside the received card).
    """
    import contextlib

    import onnx

    from sdrkit.radio import open_radio
    from sdrkit.runtime import load_card

    card = load_card(card_path)
    models, tensors, emap = prepare(card, expand)
    ctx = contextlib.nullcontext(radio) if radio is not None else open_radio(radio_uri, **(radio_options or {}))
    with ctx as radio:
        received, report = deliver_tensors(tensors, radio, mode, emap, power=power_of(card, tensors, emap))
    for k, m in models.items():
        replace_tensors(m, {n.split("/", 1)[1]: v for n, v in received.items() if n.split("/", 1)[0] == k})
    check_received(models, f"delivery of {card.path} through {radio_uri}")
    dest = Path(out or f"out/deliver/{card.name}-{mode}")
    dest.mkdir(parents=True, exist_ok=True)
    files = {}
    for k, m in models.items():
        onnx.save(m, str(dest / card.files[k]))
        files[k] = card.files[k]
    report.update({"card": str(card.path), "radio": radio_uri, "seed": seed})
    new = card.replace(files=files, name=f"{card.name}-received-{mode}",
                       extra={**card.extra, "received": report})
    new.save(dest / "card.json")
    (dest / "delivery.json").write_text(json.dumps(report, indent=2))
    report["received_card"] = str(dest / "card.json")
    return report
