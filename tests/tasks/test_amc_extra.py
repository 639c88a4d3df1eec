"""Review tests for the AMC task: generator channel definition, SigMF data set validity and
reproducibility, per-branch training, batched gating, threshold calibration, the
calibrate-threshold and evaluate verbs, and input checks of the gated runtime.

One tiny model (1 epoch on a few hundred frames) is trained per module; nothing here depends
on it being accurate, only on the pipeline being consistent.
"""

import json

import numpy as np
import pytest

from sdrkit.cli import main
from sdrkit.errors import ModelInputMismatch
from sdrkit.tasks.amc.data import CLASSES, generate_frames

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("amc_extra")
    data, model = d / "data", d / "model"
    assert main(["dataset", "amc", "--out", str(data), "--train-per-cell", "2", "--val-per-cell", "2",
                 "--test-per-cell", "6", "--workers", "1", "--seed", "5"]) == 0
    assert main(["train", "amc", "--data", str(data), "--out", str(model), "--epochs", "1", "--batch", "64",
                 "--max-frames", "256", "--seed", "1"]) == 0
    return data, model


def _frames(data, n=48):
    from sdrkit.tasks.amc.dataset import load_split

    te = load_split(data, "test")
    idx = np.random.default_rng(0).permutation(len(te))[:n]
    return te.frames(np.sort(idx))


# ---- generator ---------------------------------------------------------------------------------

@pytest.mark.parametrize("snr", [-10.0, 0.0, 12.0])
def test_generator_snr_is_signal_power_over_noise_power_per_frame(snr):
    """Same seed twice: once at the SNR under test, once practically noiseless; the difference is
    exactly the added noise, so the SNR of every frame can be measured."""
    labels = np.arange(len(CLASSES)).repeat(4)
    noisy = generate_frames(labels, np.full(len(labels), snr), np.random.default_rng(7))
    clean = generate_frames(labels, np.full(len(labels), 300.0), np.random.default_rng(7))
    noise = noisy - clean
    measured = 10 * np.log10(np.mean(np.abs(clean) ** 2, axis=1) / np.mean(np.abs(noise) ** 2, axis=1))
    assert noisy.dtype == np.complex64 and np.isfinite(noisy).all()
    assert np.all(np.abs(measured - snr) < 0.6), measured


def test_generator_randomizes_every_frame():
    """Frames of one class at high SNR differ in carrier offset and phase (no two alike)."""
    labels = np.full(32, CLASSES.index("qpsk"))
    x = generate_frames(labels, np.full(32, 30.0), np.random.default_rng(3))
    # the 4th power removes QPSK modulation: its spectral peak sits at 4x the carrier offset;
    # zero padding to 64k points resolves offsets far below the generator's range
    spec = np.abs(np.fft.fft(x.astype(np.complex128) ** 4, n=1 << 16, axis=1))
    peaks = np.argmax(spec, axis=1)
    assert len(np.unique(peaks)) >= 28, peaks
    assert np.std(np.angle(x[:, 0])) > 1.0


# ---- data set ------------------------------------------------------------------------------------

def test_dataset_is_valid_sigmf_with_labels_and_hashes_that_match(tiny):
    import sigmf

    from sdrkit.runtime.card import sha256_file

    data, _ = tiny
    m = json.loads((data / "splits.json").read_text())
    assert m["seed"] == 5 and m["command"].startswith("sdrkit dataset amc")
    for split in ("train", "val", "test"):
        meta = sigmf.sigmffile.fromfile(str(data / f"{split}.sigmf-meta"))
        meta.validate()
        ann = meta.get_annotations()
        assert {a["core:label"] for a in ann} == set(CLASSES)
        assert all("sdrkit:snr_db" in a for a in ann)
        assert sha256_file(data / f"{split}.sigmf-data") == m["splits"][split]["sha256"]


def test_dataset_is_reproducible_from_its_seed(tiny, tmp_path):
    data, _ = tiny
    again = tmp_path / "again"
    assert main(["dataset", "amc", "--out", str(again), "--train-per-cell", "2", "--val-per-cell", "0",
                 "--test-per-cell", "0", "--workers", "2", "--seed", "5"]) == 0
    a = json.loads((data / "splits.json").read_text())["splits"]["train"]["sha256"]
    b = json.loads((again / "splits.json").read_text())["splits"]["train"]["sha256"]
    assert a == b


def test_card_records_the_data_it_was_trained_on(tiny):
    from sdrkit.runtime import load_card

    data, model = tiny
    m = json.loads((data / "splits.json").read_text())
    card = load_card(model / "card.json")
    assert card.training["data"]["train_sha256"] == m["splits"]["train"]["sha256"]
    assert card.training["data"]["val_sha256"] == m["splits"]["val"]["sha256"]
    assert card.training["seed"] == 1 and "--seed 1" in card.training["command"]
    assert card.input.frame_len == 1024 and card.classes == CLASSES


# ---- training --------------------------------------------------------------------------------------

def test_per_branch_training_lowers_the_loss(tiny, tmp_path):
    """Algorithm 1 (one loss and one update per branch) on one repeated batch: it must fit it."""
    from sdrkit.tasks.amc.train import train

    data, _ = tiny
    net, hist = train(data, tmp_path, epochs=4, batch=64, lr=1e-2, method="per-branch", max_frames=64,
                      seed=0, progress=False, log=lambda *_: None)
    losses = [h["loss"] for h in hist]
    assert len(losses) == 4 and all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.96 * losses[0], losses
    heads = {"1", "2", "3", "5", "backbone"}
    assert set(hist[-1]["val_acc"]) == heads | {h + "@snr>=10" for h in heads}


def test_unknown_training_method_is_refused(tiny, tmp_path):
    from sdrkit.tasks.amc.train import train

    data, _ = tiny
    with pytest.raises(ValueError, match="method 'sgd'"):
        train(data, tmp_path, epochs=1, batch=64, method="sgd", max_frames=64, progress=False, log=lambda *_: None)


# ---- gated runtime ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spread_card(tiny, tmp_path_factory):
    """The tiny model with its exit head's logits scaled up, so exit entropies spread over a wide
    range (the 1-epoch model is nearly uniform: all entropies within 1e-5 of log 11)."""
    from sdrkit.nn.amc import EarlyExitNet, Full, Rest, Stem
    from sdrkit.runtime import load_card
    from sdrkit.runtime.export import export_onnx

    _, model = tiny
    card = load_card(model / "card.json")
    k = {"V0": 1, "V1": 2, "V2": 3, "V3": 5}[card.extra["deployed_variant"]]
    net = EarlyExitNet(len(card.classes))
    net.load_state_dict(torch.load(card.file("torch"), weights_only=True))
    net.eval()
    with torch.no_grad():
        net.exits[str(k)].out.weight.mul_(20.0)
        net.exits[str(k)].out.bias.mul_(20.0)
    d = tmp_path_factory.mktemp("spread")
    x = torch.randn(4, 2, card.input.frame_len)
    with torch.no_grad():
        f = net.stem_features(x, k)
    export_onnx(Stem(net, k), x, d / "stem.onnx", ("x",), ("exit_logits", "features"), atol=1e-3)
    export_onnx(Rest(net, k), f, d / "rest.onnx", ("f",), ("logits",))
    export_onnx(Full(net), x, d / "full.onnx", ("x",), ("logits",))
    c = card.replace(files={"stem": "stem.onnx", "rest": "rest.onnx", "full": "full.onnx"},
                     thresholds={"entropy": 1.0}, extra={}, path="")
    return c.save(d / "card.json")


def test_batched_gating_equals_frame_by_frame(tiny, spread_card):
    from sdrkit.tasks.amc.gated import GatedClassifier, entropy, softmax

    data, _ = tiny
    frames = _frames(data)
    probe = GatedClassifier(spread_card)
    exit_logits, _ = probe.exit_and_backbone_logits(frames)
    # a threshold in the widest gap between the middle entropies: about half the frames exit, and
    # none sits so close to T that float differences between batch sizes could flip its decision
    h = np.sort(entropy(softmax(exit_logits)))
    mid = np.arange(len(h) // 4, 3 * len(h) // 4)
    g = mid[np.argmax(h[mid + 1] - h[mid])]
    t = float(h[g] + h[g + 1]) / 2
    assert h[g + 1] - h[g] > 1e-4, h
    clf = GatedClassifier(spread_card, threshold=t)
    batch = clf.predict(frames)
    assert 0 < batch.exited.sum() < len(frames)
    for i in range(len(frames)):
        one = clf.predict(frames[i:i + 1])
        assert one.exited[0] == batch.exited[i] and one.pred[0] == batch.pred[i]
        assert np.allclose(one.prob[0], batch.prob[i], atol=1e-5)


def test_threshold_extremes(tiny):
    from sdrkit.tasks.amc.gated import GatedClassifier, softmax

    data, model = tiny
    frames = _frames(data, 16)
    all_exit = GatedClassifier(model / "card.json", threshold=1e9)
    r = all_exit.predict(frames)
    exit_logits, bb_logits = all_exit.exit_and_backbone_logits(frames)
    assert r.exited.all() and np.allclose(r.prob, softmax(exit_logits), atol=1e-6)
    none_exit = GatedClassifier(model / "card.json", threshold=-1.0).predict(frames)
    assert not none_exit.exited.any() and np.allclose(none_exit.prob, softmax(bb_logits), atol=1e-5)


def test_gated_classifier_refuses_frames_of_the_wrong_length(tiny):
    """The graphs pool globally, so 512-sample frames would run and give garbage: refuse them."""
    from sdrkit.tasks.amc.gated import GatedClassifier

    _, model = tiny
    clf = GatedClassifier(model / "card.json")
    with pytest.raises(ModelInputMismatch, match=r"shape \(4, 512\) do not match model .*frame_len 1024"):
        clf.predict(np.zeros((4, 512), np.complex64))


# ---- calibration -------------------------------------------------------------------------------------

def _one_hot_logits(pred, n_classes, scale):
    z = np.zeros((len(pred), n_classes), np.float32)
    z[np.arange(len(pred)), pred] = scale
    return z


def test_calibration_keeps_the_budget_and_exits_confident_correct_frames():
    from sdrkit.tasks.amc.train import calibrate

    rng = np.random.default_rng(0)
    snrs = np.repeat(np.arange(-10, 22, 2), 100).astype(float)
    labels = rng.integers(0, 11, len(snrs))
    hi = snrs >= 10
    # exit head: confident and right at high SNR, unsure (flat, often wrong) below
    wrong = (labels + 1 + rng.integers(0, 10, len(labels))) % 11
    exit_pred = np.where(hi, labels, wrong)
    exit_logits = _one_hot_logits(exit_pred, 11, np.where(hi, 12.0, 0.5))
    bb_logits = _one_hot_logits(labels, 11, 8.0)        # backbone always right
    cal = calibrate(exit_logits, bb_logits, labels, snrs, budget=0.01)
    assert cal["worst_gap"] <= 0.01
    assert cal["exit_fraction"] == pytest.approx(hi.mean(), abs=0.01)


def test_calibration_with_a_useless_exit_sends_everything_on():
    from sdrkit.tasks.amc.train import calibrate

    rng = np.random.default_rng(1)
    snrs = np.repeat(np.arange(0, 20, 2), 50).astype(float)
    labels = rng.integers(0, 11, len(snrs))
    exit_logits = _one_hot_logits((labels + 1) % 11, 11, 10.0)   # confidently wrong everywhere
    bb_logits = _one_hot_logits(labels, 11, 8.0)
    cal = calibrate(exit_logits, bb_logits, labels, snrs, budget=0.01)
    assert cal["exit_fraction"] == 0.0 and cal["worst_gap"] == 0.0


# ---- verbs ------------------------------------------------------------------------------------------------

def test_calibrate_threshold_deploys_the_variant_asked_for(tiny):
    from sdrkit.runtime import load_card

    data, model = tiny
    assert main(["calibrate-threshold", "amc", "--model", str(model / "card.json"), "--data", str(data),
                 "--variant", "V2"]) == 0
    card = load_card(model / "card.json")
    assert card.extra["deployed_variant"] == "V2"
    assert card.files["stem"] == "stem_e3.onnx" and card.files["rest"] == "rest_e3.onnx"
    assert card.thresholds["entropy"] == card.extra["variants"]["V2"]["threshold"]
    assert card.thresholds["budget"] == 0.01


def test_calibrate_threshold_refuses_an_unknown_variant(tiny, capsys):
    data, model = tiny
    with pytest.raises(SystemExit) as ei:
        main(["calibrate-threshold", "amc", "--model", str(model / "card.json"), "--data", str(data),
              "--variant", "V7"])
    assert ei.value.code == 2 and "invalid choice: 'V7'" in capsys.readouterr().err


def test_evaluate_quick_writes_every_figure_and_each_target(tiny, tmp_path):
    from sdrkit.runtime import load_card

    data, model = tiny
    before = (model / "card.json").read_text()
    out = tmp_path / "eval"
    assert main(["evaluate", "amc", "--model", str(model / "card.json"), "--data", str(data), "--out", str(out),
                 "--quick"]) == 0
    doc = json.loads((out / "evaluation.json").read_text())
    assert doc["task"] == "amc" and doc["quick"] is True
    assert {t["name"]: t["op"] + f" {t['limit']:g}" for t in doc["targets"]} == {
        "backbone accuracy, mean over SNR >= 10 dB": ">= 0.96",
        "worst gap gated vs backbone, any SNR >= 0 dB": "<= 1",
        "latency cut vs backbone, SNR >= 10 dB, batch 64": ">= 0.5",
        "worst latency increase vs backbone, any SNR, batch 64": "<= 0.05",
        "onnxruntime speedup vs torch eager, batch 1": ">= 2",
        "base-family test split (previous model's): backbone accuracy, SNR >= 10 dB": ">= 0.96",
        "shifted split: gap gated vs backbone, SNR >= 0 dB": "<= 1",
        "cross-generator (GNU Radio) deployed accuracy, SNR >= 10 dB": ">= 0.9",
        "CFO +/-60 kHz corrected: drop vs zero-CFO accuracy, SNR >= 10 dB": "<= 2",
        "CFO corrector cost / gated model per-frame time": "<= 0.2"}
    assert all(isinstance(t["pass"], bool) for t in doc["targets"])
    assert doc["all_pass"] == all(t["pass"] for t in doc["targets"])
    res = doc["results"]
    assert {"backbone", "gated_V0", "gated_V1", "gated_V2", "gated_V3"} <= set(res["accuracy"])
    assert len(res["accuracy"]["backbone"]) == len(res["snrs"]) == 26
    assert set(res["exit_fraction"]) == {"V0", "V1", "V2", "V3"}
    assert set(res["latency_ms_per_frame"]) == {"gated_b1", "backbone_b1", "gated_b64", "backbone_b64"}
    assert res["ort_vs_torch_b1"]["max_abs_logit_diff"] < 1e-3
    assert np.array(res["confusion_high_snr"]).shape == (11, 11)
    for png in ("accuracy_vs_snr", "exit_fraction_vs_snr", "latency_vs_snr", "threshold_sweep",
                "confusion_high_snr"):
        assert (out / f"{png}.png").stat().st_size > 1000, png
    assert (model / "card.json").read_text() == before      # --quick leaves the card alone
    assert load_card(model / "card.json").name == "amc-earlyexit"
