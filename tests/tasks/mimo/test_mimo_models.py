"""MIMO autoencoders: a tiny training run lowers the BER, ONNX agrees with torch, and the bundled
2x2 model carries bits error-free through the simulated 2x2 loopback at high SNR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[3]
BUNDLED_2X2 = REPO / "models" / "mimo" / "coupled-baet-2x2-k2" / "card.json"


def _ber(net, snr_db, n=4096, seed=0):
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, net.nbits), generator=g).float()
    net.eval()
    with torch.no_grad():
        p = net(bits, torch.full((n, 1), float(snr_db)))
    return float(((p > 0.5).float() != bits).float().mean())


def test_tiny_training_run_lowers_the_ber():
    from sdrkit.nn import create_model
    from sdrkit.nn.mimo import train_autoencoder

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = create_model({"name": "mimo_autoencoder", "kwargs": {"h_t": 32, "h_r": 32, "train_snr_db": 10.0}})
    before = _ber(net, 10.0)
    hist = train_autoencoder(net, steps=100, batch=256, lr=3e-3, seed=0)
    after = _ber(net, 10.0)
    assert hist["steps_run"] == 100
    assert before > 0.2 and after < 0.05 and after < before / 4


@pytest.mark.parametrize("kind,mode", [("bae-t", "fixed"), ("ae", "fixed"), ("bae", "conditioned")])
def test_onnx_graphs_agree_with_torch(kind, mode, tmp_path):
    import onnxruntime as ort

    from sdrkit.nn import create_model
    from sdrkit.nn.mimo import export_onnx

    net = create_model({"name": "mimo_autoencoder", "kwargs": {"h_t": 16, "h_r": 16, "kind": kind,
                                                                "snr_mode": mode}}).eval()
    files = export_onnx(net, tmp_path)
    bits = torch.randint(0, 2, (64, 4)).float()
    y = torch.randn(64, 4)
    snr = torch.full((64, 1), 12.0)
    with torch.no_grad():
        x_t = net.transmitter(bits).numpy()
        p_t = net.receiver(y, snr).numpy()
    tx = ort.InferenceSession(str(tmp_path / files["transmitter"]))
    rx = ort.InferenceSession(str(tmp_path / files["receiver"]))
    feed = {"y": y.numpy()}
    if mode == "conditioned":
        feed["snr_db"] = snr.numpy()
    assert np.allclose(tx.run(None, {"bits": bits.numpy()})[0], x_t, atol=1e-5)
    assert np.allclose(rx.run(None, feed)[0], p_t, atol=1e-5)


@pytest.mark.skipif(not BUNDLED_2X2.exists(), reason="bundled 2x2 model not trained (sdrkit train mimo --suite bundled)")
def test_loopback_link_at_high_snr_is_error_free():
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.mimo.link import MimoModel, calibrated_link

    model = MimoModel(load_card(BUNDLED_2X2))
    res = calibrated_link(model, "sim:loopback?coupling=0.3&delay=37", 25.0, bursts=8, seed=[0])
    assert abs(res["es_n0_db"] - 25.0) < 1.0
    for dec in ("learned", "mmse", "ml"):
        assert res[dec]["errors"] == 0 and res[dec]["bits"] == 8 * 256 * 4, dec


@pytest.mark.hardware
@pytest.mark.parametrize("env", ["SDRKIT_B210_URI", "SDRKIT_PLUTO2R2T_URI"])
def test_link_over_a_2x2_radio_on_the_bench(env):
    import os

    if not os.environ.get("SDRKIT_HARDWARE") or not os.environ.get(env):
        pytest.skip(f"needs a 2R2T radio with TX1->RX1, TX2->RX2 cabled (attenuators): run SDRKIT_HARDWARE=1 "
                    f"{env}=URI pytest -m hardware tests/tasks/mimo (tx() of a (2, n) array must be supported "
                    f"by its backend)")
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.mimo.link import MimoModel, calibrated_link

    res = calibrated_link(MimoModel(load_card(BUNDLED_2X2)), os.environ[env], None, bursts=50, seed=[0])
    assert res["learned"]["ber"] < 1e-2
