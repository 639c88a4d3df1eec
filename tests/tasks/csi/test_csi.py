"""The csi task's pieces: the angular-delay transform, the pilot estimator, a tiny training run,
ONNX vs torch, int8 vs fp32, and a quantized codeword through the simulated loopback radio.

Channels here are synthetic (random sparse paths through :mod:`sdrkit.dsp.csi`), so these tests
need neither sionna nor a generated data set; the contract test runs the sionna path."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp import csi as dcsi

torch = pytest.importorskip("torch")


def _paths(rng, n, paths=6, max_delay_s=1.5e-6, n_ant=32):
    """Sparse clustered channels: each path an angle (ULA steering) and a delay."""
    theta = rng.uniform(-np.pi / 3, np.pi / 3, (n, paths))
    steer = np.exp(1j * np.pi * np.arange(n_ant)[None, :, None] * np.sin(theta)[:, None, :])
    g = (rng.standard_normal((n, paths)) + 1j * rng.standard_normal((n, paths))) * np.exp(-np.arange(paths) / 2)
    tau = np.sort(rng.uniform(0, max_delay_s, (n, paths)), axis=1)
    tau[:, 0] = 0
    return (steer * g[:, None, :]).astype(np.complex64), tau


def _csi(n, seed=0):
    a, tau = _paths(np.random.default_rng(seed), n)
    had, _ = dcsi.angular_delay_from_paths(a, tau, 1024, 15e3, 32)
    return dcsi.to_real(had)[0]


def test_2d_dft_round_trip_and_truncation():
    rng = np.random.default_rng(0)
    a, tau = _paths(rng, 8)
    H = dcsi.ofdm_response(a, tau, 1024, 15e3)
    full = dcsi.angular_delay(H, 1024)
    assert np.allclose(dcsi.frequency_response(full, 1024), H, atol=1e-4 * np.abs(H).max())
    assert np.allclose(np.sum(np.abs(full) ** 2, (1, 2)), np.sum(np.abs(H) ** 2, (1, 2)), rtol=1e-4)  # unitary
    # the delay-domain shortcut is the same transform, energy kept included
    had, kept = dcsi.angular_delay_from_paths(a, tau, 1024, 15e3, 32)
    ref = dcsi.angular_delay(H, 32)
    assert np.allclose(had, ref, atol=1e-5 * np.abs(ref).max())
    assert np.allclose(kept, dcsi.energy_kept(H, 32), atol=1e-5) and kept.min() > 0.9
    # normalization into [0, 1] and back
    x, scale = dcsi.to_real(had)
    assert x.shape == (8, 2, 32, 32) and x.min() >= 0 and x.max() <= 1 and np.isclose(np.abs(x - 0.5).max(), 0.5)
    assert np.allclose(dcsi.from_real(x, scale), had, atol=1e-5 * np.abs(had).max())
    assert dcsi.nmse_db(x, x + 0.0) == -np.inf or dcsi.nmse_db(x, x) < -100


def test_pilot_sweep_estimates_the_channel():
    rng = np.random.default_rng(1)
    a, tau = _paths(rng, 3)
    H = dcsi.ofdm_response(a, tau, 1024, 15e3)
    frames = dcsi.pilot_frame(H, 64, rng, snr_db=40.0)
    He = dcsi.estimate_from_pilots(frames[:, None], 32, 1024, 64)
    assert dcsi.nmse_complex_db(H, He) < -35
    with pytest.raises(Exception, match="antennas"):
        dcsi.estimate_from_pilots(frames[:, :100], 32, 1024, 64)


def test_tiny_training_run_leaves_the_plateau():
    """NMSE ~0 dB is the "predict 0.5" plateau every model sits on at first; a tiny run on
    indoor-like channels (short delay spread, the energy in the first taps) must leave it."""
    from sdrkit.tasks.csi.train import predict, train_one

    torch.set_num_threads(1)
    a, tau = _paths(np.random.default_rng(0), 360, max_delay_s=0.15e-6)
    x = dcsi.to_real(dcsi.angular_delay_from_paths(a, tau, 1024, 15e3, 32)[0])[0]
    xtr, xva = x[:300], x[300:]
    net, info = train_one("csinet_cl", 4, xtr, xva, epochs=6, batch=10, lr=3e-3, seed=0, val_at_start=True)
    h = [e["val_nmse_db"] for e in info["history"]]
    assert h[0] > -0.5 and h[-1] < -1.0, h      # 0.35 -> -1.83 dB here; a plateaued run ends at ~0 dB
    assert info["best_val_nmse_db"] == min(e["val_nmse_db"] for e in info["history"][1:])
    assert dcsi.nmse_db(xva, predict(net, xva)) == pytest.approx(info["best_val_nmse_db"], abs=0.01)


@pytest.mark.parametrize("arch", ["cllwcsinet", "csinet", "csinet_cl", "crnet", "lwsep"])
def test_a_fresh_model_starts_near_the_half_reconstruction(arch):
    """Every model starts near the 0.5 "no information" output in training mode (BatchNorm on the
    batch's statistics, as at the first step). CRNet's BatchNorm'd decoder head used to reset the
    small last-layer init: sigmoid(N(0, 1)) outputs, +19 dB NMSE at the first step on indoor data."""
    from sdrkit.nn import create_model

    torch.manual_seed(0)
    x = _csi(50, seed=5)
    net = create_model({"name": arch, "kwargs": {"cr": 4}}).train()
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    assert abs(y.mean() - 0.5) < 0.02 and y.std() < 0.03, (y.mean(), y.std())
    assert dcsi.nmse_db(x, y) < 6.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from sdrkit.tasks.csi.train import export_model, train_one

    torch.set_num_threads(1)
    x = _csi(200, seed=3)
    net, _ = train_one("cllwcsinet", 8, x[:150], x[150:], epochs=1, batch=25, seed=1)
    folder = tmp_path_factory.mktemp("csi_model")
    files = export_model(net, folder, 8, x[150:])
    return net, folder, files, _csi(60, seed=4)


def test_onnx_and_torch_agree_and_int8_stays_close(exported):
    from sdrkit.runtime.session import onnx_session

    net, folder, files, x = exported
    enc, dec = onnx_session(folder / files["encoder_cr8"]), onnx_session(folder / files["decoder_cr8"])
    enc8 = onnx_session(folder / files["encoder_int8_cr8"])
    with torch.no_grad():
        s_t = net.encoder(torch.from_numpy(x)).numpy()
        y_t = net(torch.from_numpy(x)).numpy()
    s = enc.run(None, {"x": x})[0]
    y = dec.run(None, {"s": s})[0]
    assert s.shape == (60, 256)
    assert np.abs(s - s_t).max() <= 1e-4 * max(1.0, np.abs(s_t).max())
    assert np.abs(y - y_t).max() <= 1e-4
    s8 = enc8.run(None, {"x": x})[0]
    y8 = dec.run(None, {"s": s8})[0]
    assert abs(dcsi.nmse_db(x, y8) - dcsi.nmse_db(x, y)) < 0.5
    assert (folder / files["encoder_int8_cr8"]).stat().st_size < (folder / files["encoder_cr8"]).stat().st_size


def test_quantized_codeword_survives_the_loopback_radio_bit_exactly(exported):
    from sdrkit.dsp.burst import BurstFormat
    from sdrkit.runtime.session import onnx_session
    from sdrkit.tasks.csi.evaluate import quantizer, radio_feedback

    _net, folder, files, x = exported
    s = onnx_session(folder / files["encoder_int8_cr8"]).run(None, {"x": x[:2]})[0]
    to_bits, from_bits, _ = quantizer(s, 6)
    bits = to_bits(s)
    assert bits.shape == (2, 256 * 6)
    got, found, crc = radio_feedback(bits, 30.0, BurstFormat(), seed=5)
    assert found and crc and np.array_equal(got, bits)
    assert np.array_equal(from_bits(got), from_bits(bits))


def test_arch_lr_parses_and_names_bad_input():
    from sdrkit.errors import ConfigError
    from sdrkit.tasks.csi.train import _arch_lr, lr_for

    assert _arch_lr("csinet=1e-3, crnet=2e-3") == {"csinet": 1e-3, "crnet": 2e-3}
    assert _arch_lr("") == {}
    spec = _arch_lr("cllwcsinet@outdoor=3e-3,csinet=1e-3")
    assert spec == {"cllwcsinet@outdoor": 3e-3, "csinet": 1e-3}
    assert lr_for(spec, "cllwcsinet", "outdoor", 1e-2) == 3e-3 and lr_for(spec, "cllwcsinet", "indoor", 1e-2) == 1e-2
    assert lr_for(spec, "csinet", "outdoor", 1e-2) == 1e-3
    from sdrkit.tasks.csi.task import TrainConfig

    default = _arch_lr(TrainConfig().arch_lr)      # the documented sweep default parses
    assert lr_for(default, "cllwcsinet", "outdoor", 1e-2) == 3e-3 and lr_for(default, "cllwcsinet", "indoor", 1e-2) == 1e-2
    for bad, word in (("resnet=1e-3", "resnet"), ("csinet=fast", "not a number"), ("csinet", "ARCH=LR"), ("csinet=2", "(0, 1)"),
                      ("csinet@moon=1e-3", "moon")):
        with pytest.raises(ConfigError, match=word.replace("(", r"\(").replace(")", r"\)")):
            _arch_lr(bad)


@pytest.mark.parametrize("cr", [4, 16])
def test_separable_latent_codeword_and_onnx(tmp_path, cr):
    """lwsep: <= 70K parameters, a codeword of 2048 / CR, (M / 8) rows x 8 delay outputs, and ONNX
    graphs that match torch."""
    from sdrkit.nn import create_model
    from sdrkit.runtime.export import export_onnx

    torch.manual_seed(0)
    net = create_model({"name": "lwsep", "kwargs": {"cr": cr}}).eval()
    assert sum(p.numel() for p in net.parameters()) <= 70_000
    assert net.encoder.delay.weight.shape == (8, 32) and net.encoder.row.weight.shape == (2048 // cr // 8, 64)
    x = torch.from_numpy(_csi(4, seed=5))
    with torch.no_grad():
        assert net.encoder(x).shape == (4, 2048 // cr)
    export_onnx(net.encoder, x, tmp_path / "enc.onnx", input_names=("x",), output_names=("s",), atol=1e-4)
    export_onnx(net.decoder, torch.randn(4, 2048 // cr), tmp_path / "dec.onnx", input_names=("s",),
                output_names=("x_hat",), atol=1e-4)


def test_int8_keeps_the_front_end_float_and_requantize_rewrites_the_card(tmp_path):
    """The int8 encoder has no quantized node in the 2-channel front end; ``requantize`` redoes the
    int8 graphs of a card from its fp32 ones and records how in ``training.int8``."""
    import onnx

    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.csi.train import INT8_KEEP_FLOAT, requantize, train_one, write_card

    torch.set_num_threads(1)
    x = _csi(120, seed=7)
    net, info = train_one("cllwcsinet", 16, x[:100], x[100:], epochs=1, batch=25, seed=2)
    write_card(tmp_path, {16: (net, info)}, "indoor", {}, x[100:], "test", 2, name="t")
    g = onnx.load(tmp_path / "encoder_int8_cr16.onnx").graph
    convs = [n for n in g.node if n.op_type == "Conv"]
    fed = {o for n in g.node if n.op_type == "DequantizeLinear" for o in n.output}
    front = [n for n in convs if n.name.startswith("/front/")]
    assert front and all(n.input[0] not in fed for n in front)            # float input: no QDQ before it
    assert any(n.input[0] in fed for n in convs if not n.name.startswith("/front/"))
    before = (tmp_path / "encoder_int8_cr16.onnx").read_bytes()
    requantize(tmp_path, x[100:], "sdrkit train csi --what requantize --out T")
    card = load_card(tmp_path / "card.json")                               # file hashes still verify
    assert card.training["int8"]["keep_float"] == list(INT8_KEEP_FLOAT)
    assert (tmp_path / "encoder_int8_cr16.onnx").read_bytes() == before   # same graph, same calibration
