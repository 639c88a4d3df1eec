"""Weights <-> channel symbols: every weight round-trips (analog, spiral, digital), symbols have unit
power, pairs stay inside a tensor, side information and framing survive, BatchNorm folds exactly."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp import weights_link as wl
from sdrkit.errors import StreamError


def _tensors(rng):
    return {"conv.weight": rng.standard_normal((6, 7, 5)) * 0.2, "conv.bias": rng.standard_normal(6) * 0.01,
            "fc.weight": rng.laplace(size=(11, 33)) * 3.0, "odd": rng.standard_normal(7)}


def test_analog_round_trip_of_every_weight():
    rng = np.random.default_rng(0)
    t = _tensors(rng)
    for expand in (None, {"fc.weight": 1.0, "odd": 0.5}):
        sym, side = wl.analog_encode(t, expand)
        assert len(sym) + -(-wl.SIDE_BITS_PER_TENSOR * len(t) // 2) == wl.analog_symbols(wl.specs_of(t), expand)
        back = wl.analog_decode(sym, wl.specs_of(t), wl.SideInfo.from_bytes(side.to_bytes()))
        assert list(back) == list(t)
        for k in t:
            assert back[k].shape == t[k].shape and back[k].dtype == np.float32
            np.testing.assert_allclose(back[k], t[k], rtol=1e-5, atol=1e-6 * np.abs(t[k]).max())


def test_symbols_have_unit_power_per_tensor_and_pairs_stay_in_a_tensor():
    rng = np.random.default_rng(1)
    t = _tensors(rng)
    sym, side = wl.analog_encode(t)
    counts = wl.symbols_per_tensor(wl.specs_of(t))
    edges = np.r_[0, np.cumsum(counts)]
    for (k, w), a, b, r in zip(t.items(), edges[:-1], edges[1:], side.rms):
        seg = sym[a:b]
        u = np.append(w.ravel(), [0.0] * (w.size % 2)) / r
        np.testing.assert_allclose(seg, (u[0::2] + 1j * u[1::2]) / np.sqrt(2), rtol=1e-5, atol=1e-6)
        assert abs(np.sum(np.abs(seg) ** 2) / (w.size / 2) - 1) < 1e-4   # unit power (the pad adds nothing)


def test_weight_noise_follows_the_channel_snr():
    rng = np.random.default_rng(2)
    t = {"w": rng.standard_normal(40000) * 0.05}
    rx = wl.deliver_math(t, 10.0, rng)
    nsr = np.mean((rx["w"] - t["w"]) ** 2) / np.mean(t["w"] ** 2)
    assert abs(10 * np.log10(1 / nsr) - 10.0) < 0.1        # weight SNR = channel SNR (module docstring)
    h = 0.3 * np.exp(1j * 2.0)
    rx = wl.deliver_math(t, 20.0, rng, gain=h)               # CSIR equalization: AWGN at |h|^2 snr
    nsr = np.mean((rx["w"] - t["w"]) ** 2) / np.mean(t["w"] ** 2)
    assert abs(10 * np.log10(1 / nsr) - (20 + 20 * np.log10(0.3))) < 0.15


def test_digital_round_trip_and_entropy_bound():
    rng = np.random.default_rng(3)
    t = _tensors(rng)
    q, sc = wl.quantize(t, 8)
    deq = wl.dequantize(q, sc)
    back = wl.unpack_digital(wl.pack_digital(q, sc, 8), wl.specs_of(t))
    for k in t:
        np.testing.assert_array_equal(back[k], deq[k])
        assert np.max(np.abs(deq[k] - t[k])) <= 0.5 * sc[list(t).index(k)] + 1e-7
    assert wl.entropy_bits(q) < 8 * sum(v.size for v in t.values()) + 32 * len(t)
    with pytest.raises(StreamError, match="does not decode"):
        wl.unpack_digital(b"\x08\x00\x04" + bytes(16) + b"garbage", wl.specs_of(t))


@pytest.mark.parametrize("mode", ["analog", "digital"])
def test_waveform_round_trip_without_a_radio(mode):
    from sdrkit.dsp.burst import BurstFormat

    rng = np.random.default_rng(4)
    t = {"a": rng.standard_normal(9000) * 0.1, "b": rng.standard_normal(5)}
    fmt = BurstFormat(modulation="qpsk")
    if mode == "analog":
        sym, side = wl.analog_encode(t)
        wf = wl.build_waveform(mode, fmt, sym, side)
    else:
        q, sc = wl.quantize(t)
        wf = wl.build_waveform(mode, fmt, payload=wl.pack_digital(q, sc))
    assert np.max(np.abs(wf.samples)) <= 1.0
    rx = np.concatenate([np.zeros(777, np.complex64), wf.samples, np.zeros(100, np.complex64)])
    rx = rx + 1e-5 * (rng.standard_normal(rx.size) + 1j * rng.standard_normal(rx.size))   # a receiver's noise floor
    rec = wl.parse_waveform(rx, fmt)
    if mode == "analog":
        np.testing.assert_allclose(rec.symbols, sym, atol=1e-3)
        back = wl.analog_decode(rec.symbols, wl.specs_of(t), rec.side)
    else:
        assert rec.crc_ok
        back = wl.unpack_digital(rec.payload, wl.specs_of(t))
        t = wl.dequantize(q, sc)                               # digital: bit-exact against the quantized model
    for k in t:
        np.testing.assert_allclose(back[k], t[k], atol=2e-3 * np.abs(t[k]).max())


def test_batchnorm_folds_into_the_following_gemm(tmp_path):
    import onnx
    import torch

    from sdrkit.runtime.session import onnx_session
    from sdrkit.tasks.airnet.deliver import fold_batchnorm, learned_tensors

    net = torch.nn.Sequential(torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 4))
    with torch.no_grad():
        net[0].running_mean.uniform_(-1, 1)
        net[0].running_var.uniform_(0.5, 2)
        net[0].weight.uniform_(0.5, 1.5)
        net[0].bias.uniform_(-0.5, 0.5)
    net.eval()
    x = torch.randn(16, 8)
    torch.onnx.export(net, (x,), str(tmp_path / "m.onnx"), input_names=["x"], output_names=["y"], opset_version=17,
                      dynamo=False, do_constant_folding=False)
    m = onnx.load(str(tmp_path / "m.onnx"))
    assert any(n.op_type == "BatchNormalization" for n in m.graph.node)
    assert fold_batchnorm(m) == 1
    assert not any(n.op_type == "BatchNormalization" for n in m.graph.node)
    assert sorted(learned_tensors(m)) == ["1.bias", "1.weight"]
    onnx.save(m, str(tmp_path / "f.onnx"))
    got = onnx_session(tmp_path / "f.onnx").run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-5)


def test_power_allocation_keeps_the_power_and_protects_the_sensitive_tensor():
    rng = np.random.default_rng(6)
    t = {"big": rng.standard_normal(4000), "small": rng.standard_normal(100)}
    specs = wl.specs_of(t)
    pw = wl.power_allocation({"big": 1.0, "small": 1.0}, specs)
    assert pw["small"] > 0 > pw["big"]                       # per symbol, the small tensor matters more
    sym, side = wl.analog_encode(t, None, pw)
    assert 0.97 <= np.mean(np.abs(sym) ** 2) <= 1.0          # the power constraint holds (gains floored to 1/8 dB)
    back = wl.analog_decode(sym, specs, wl.SideInfo.from_bytes(side.to_bytes()))
    for k in t:
        np.testing.assert_allclose(back[k], t[k], rtol=1e-5, atol=1e-5)
    err = {k: [] for k in ("uniform", "allocated")}
    for _ in range(20):
        for name, p in (("uniform", None), ("allocated", pw)):
            rx = wl.deliver_math(t, 5.0, rng, power=p)
            err[name].append(sum(np.mean((rx[k] - t[k]) ** 2) for k in t))     # equal sensitivity per tensor
    assert np.mean(err["allocated"]) < 0.8 * np.mean(err["uniform"])
