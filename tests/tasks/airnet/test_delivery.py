"""Delivery through a radio: the sim loopback at 40 dB gives a model whose outputs match the original,
digital delivery is bit-exact, the CLI verb reaches the task through the card, the virtual Pluto's
TX->RX loopback carries a delivery, and real radios are marked hardware tests."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from sdrkit.cli import main

LOOP = "sim:loopback?sample_rate=1e6&loopback_snr={snr}&loopback_delay=450&loopback_cfo=250&rx_buffer_size=16384&seed=3"


@pytest.fixture(scope="module")
def student_card(tmp_path_factory):
    from sdrkit.dsp import weights_link as wl
    from sdrkit.nn.airnet import AirStudent
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec
    from sdrkit.runtime.export import export_onnx
    from sdrkit.tasks.amc.data import CLASSES

    d = tmp_path_factory.mktemp("student")
    torch.manual_seed(0)
    net = AirStudent(11, (8, 12, 12, 16)).eval()
    export_onnx(net, torch.randn(2, 2, 1024), d / "student.onnx", output_names=("logits",))
    names = [n for n, _ in net.named_parameters()]
    ModelCard(task="airnet", name="tiny-student", classes=tuple(CLASSES),
              input=InputSpec(sample_rate=1e6, frame_len=1024), files={"full": "student.onnx"},
              output=OutputSpec("classes"), architecture={"name": "airnet_student",
                                                          "kwargs": {"n_classes": 11, "widths": net.widths}},
              extra={"delivery": {"tensors": names, "sk_expand": {names[-2]: 0.6}}}).save(d / "card.json")
    rng = np.random.default_rng(0)
    frames = (rng.standard_normal((64, 1, 1024)) + 1j * rng.standard_normal((64, 1, 1024))).astype(np.complex64)
    frames[:, 0, ::4] *= 3          # not pure noise: some amplitude structure
    assert wl.analog_symbols(wl.specs_of({n: p.detach().numpy() for n, p in net.named_parameters()})) > 0
    return d / "card.json", frames


def _probs(card_path, frames):
    from sdrkit.runtime import load_card
    from sdrkit.runtime.predict import PredictorOptions
    from sdrkit.tasks import get_task

    card = load_card(card_path)
    return get_task(card.task).predictor(card, PredictorOptions()).predict(frames).probs


@pytest.mark.parametrize("expand", [1, 2])
def test_delivery_at_40_db_matches_the_original(student_card, tmp_path, expand):
    from sdrkit.tasks.airnet.deliver import deliver_card

    card, frames = student_card
    rep = deliver_card(card, LOOP.format(snr=40), mode="analog", expand=expand, out=str(tmp_path / "rx"))
    assert rep["symbol_snr_db"] > 37.0, rep
    assert (len(rep["expanded"]) == 1) == (expand == 2)
    p0, p1 = _probs(card, frames), _probs(rep["received_card"], frames)
    assert np.max(np.abs(p1 - p0)) < 0.05
    assert np.mean(p1.argmax(1) == p0.argmax(1)) >= 0.95


def test_digital_delivery_through_the_cli_is_bit_exact(student_card, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    from sdrkit.dsp import weights_link as wl

    card, frames = student_card
    out = tmp_path / "dig"
    assert main(["deliver", "--model", str(card), "--radio", LOOP.format(snr=25), "--mode", "digital",
                 "--out", str(out)]) == 0
    assert "next: sdrkit classify" in capsys.readouterr().out
    a = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(card.parent / "student.onnx")).graph.initializer}
    b = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(out / "student.onnx")).graph.initializer}
    sent = {k: a[k] for k in b if k.startswith(("convs", "fc"))}
    q, sc = wl.quantize(sent, 8)
    for k, v in wl.dequantize(q, sc).items():
        np.testing.assert_array_equal(b[k], v)
    for k in a:
        if not k.startswith(("convs", "fc")):
            np.testing.assert_array_equal(a[k], b[k])       # the architecture's constants never travel


def test_cli_refuses_expand_with_digital(student_card, capsys):
    card, _ = student_card
    assert main(["deliver", "--model", str(card), "--radio", LOOP.format(snr=30), "--mode", "digital",
                 "--expand", "2"]) == 1
    assert "--expand 2 is the analog SK spiral" in capsys.readouterr().err


def test_beam_encoder_card_is_delivered_with_batchnorm_folded(tmp_path):
    from sdrkit.runtime import load_card
    from sdrkit.tasks.airnet.deliver import prepare

    models, tensors, _ = prepare(load_card("models/beam/card.json"))
    assert not any(n.op_type == "BatchNormalization" for m in models.values() for n in m.graph.node)
    assert all("running" not in k and not k.endswith("mf") for k in tensors)
    assert {k.split("/", 1)[1] for k in tensors} == {f"mlp.{i}.{w}" for i in (0, 2, 4) for w in ("weight", "bias")}


def test_delivery_through_the_virtual_pluto_loopback(student_card, tmp_path):
    from tests._drivers import require_adi

    require_adi()
    from sdrkit.radio import open_radio
    from sdrkit.radio.emulator import PlutoEmulator
    from sdrkit.radio.sim import LoopbackChannel
    from sdrkit.tasks.airnet.deliver import deliver_tensors

    card, _ = student_card
    rng = np.random.default_rng(5)
    tensors = {"w": (rng.standard_normal(2000) * 0.1).astype(np.float32)}
    # pace=False: the emulator never drops RX buffers, so a loaded CI machine cannot cut the burst
    with PlutoEmulator(None, port=0, profile="pluto-ad9363", loopback=LoopbackChannel(snr_db=30), pace=False) as emu:
        with open_radio(f"pluto:{emu.uri}") as radio:
            radio.configure(rx_lo=2.4e9, tx_lo=2.4e9, sample_rate=2.5e6, rx_rf_bandwidth=2.0e6, rx_hardwaregain=0,
                            tx_hardwaregain=-10)
            rx, rep = deliver_tensors(tensors, radio, "analog")
    assert rep["symbol_snr_db"] > 20, rep
    err = np.mean((rx["w"] - tensors["w"]) ** 2) / np.mean(tensors["w"] ** 2)
    assert err < 0.02


@pytest.mark.hardware
@pytest.mark.parametrize("env,scheme", [("SDRKIT_PLUTO_URI", "pluto"), ("SDRKIT_USRP_ARGS", "usrp")])
def test_delivery_over_a_real_radio_pair(student_card, tmp_path, env, scheme):
    if not os.environ.get("SDRKIT_HARDWARE") or not os.environ.get(env):
        pytest.skip(f"needs a cabled {scheme} TX->RX loopback: run SDRKIT_HARDWARE=1 {env}=... "
                    f"pytest -m hardware tests/tasks/airnet/test_delivery.py")
    from sdrkit.tasks.airnet.deliver import deliver_card

    card, frames = student_card
    rep = deliver_card(card, f"{scheme}:{os.environ[env]}", mode="analog", out=str(tmp_path / "hw"))
    p0, p1 = _probs(card, frames), _probs(rep["received_card"], frames)
    assert np.mean(p1.argmax(1) == p0.argmax(1)) >= 0.9


def _conv_bn_graph(tmp_path, var_scale: float = 1.0):
    """A Conv -> BatchNorm -> ReLU -> mean graph with small running variances, as ONNX."""
    import onnx

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.BatchNorm1d(4), torch.nn.ReLU()).eval()
    with torch.no_grad():
        net[1].running_var.copy_(torch.tensor([4e-5, 1e-3, 0.5, 2.0]) * var_scale)
        net[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        net[1].weight.copy_(torch.tensor([1.0, 0.5, -1.0, 2.0]))
    x = torch.randn(3, 2, 16)
    path = tmp_path / "g.onnx"
    torch.onnx.export(net, (x,), str(path), input_names=["x"], output_names=["y"], dynamo=False,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    return onnx.load(str(path)), net, x


def test_batchnorm_becomes_its_affine_map_and_only_scale_and_bias_travel(tmp_path):
    import onnx

    from sdrkit.runtime.session import onnx_session
    from sdrkit.tasks.airnet.deliver import canonicalize_batchnorm, learned_tensors

    m, net, x = _conv_bn_graph(tmp_path)
    if not any(n.op_type == "BatchNormalization" for n in m.graph.node):
        pytest.skip("the exporter folded the BatchNorm itself")
    assert canonicalize_batchnorm(m) == 1
    bn = next(n for n in m.graph.node if n.op_type == "BatchNormalization")
    sent = learned_tensors(m)
    assert bn.input[1] in sent and bn.input[2] in sent
    assert bn.input[3] not in sent and bn.input[4] not in sent        # running statistics stay at the receiver
    path = tmp_path / "c.onnx"
    onnx.save(m, str(path))
    got = onnx_session(path, 1).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-4, atol=1e-5)


def test_a_delivery_that_would_give_non_finite_outputs_is_refused(tmp_path):
    from onnx import numpy_helper

    from sdrkit.errors import StreamError
    from sdrkit.tasks.airnet.deliver import check_received

    m, _, _ = _conv_bn_graph(tmp_path)
    bn = next((n for n in m.graph.node if n.op_type == "BatchNormalization"), None)
    if bn is None:
        pytest.skip("the exporter folded the BatchNorm itself")
    var = next(i for i in m.graph.initializer if i.name == bn.input[4])
    var.CopyFrom(numpy_helper.from_array(np.array([-1e-3, 1e-3, 0.5, 2.0], np.float32), var.name))  # as noise can make it
    with pytest.raises(StreamError, match="non-finite"):
        check_received({"full": m}, "test delivery")


def test_a_quantized_card_is_refused_with_the_fix(tmp_path):
    from sdrkit.errors import ModelError
    from sdrkit.tasks.airnet.deliver import check_deliverable

    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                           helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])], "q",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                          [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]),
                           helper.make_tensor("z", TensorProto.UINT8, [], [0])])
    with pytest.raises(ModelError, match="quantized graph.*deliver the float card"):
        check_deliverable(helper.make_model(g), "card graph 'full'")
    del onnx
