"""AMC end to end on a tiny data set: data, training, export, gated runtime, refusal of a bad stream."""

import json

import numpy as np
import pytest

from sdrkit.cli import main
from sdrkit.tasks.amc.data import CLASSES, AmcDataSpec, make_split

torch = pytest.importorskip("torch")


def test_generator_is_seeded_balanced_and_parallel_equals_serial():
    a = make_split(600, "train", 3, workers=1)
    b = make_split(600, "train", 3, workers=2)
    c = make_split(600, "val", 3, workers=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.allclose(a[0][:10], c[0][:10])
    assert a[0].shape == (600, 1024) and a[0].dtype == np.complex64
    counts = np.bincount(a[1], minlength=len(CLASSES))
    assert counts.min() >= 50 and set(np.unique(a[2])) <= set(AmcDataSpec().snrs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("amc")
    data, model = d / "data", d / "model"
    assert main(["dataset", "amc", "--out", str(data), "--train-per-cell", "4", "--val-per-cell", "2",
                 "--test-per-cell", "2", "--workers", "1"]) == 0
    assert main(["train", "amc", "--data", str(data), "--out", str(model), "--epochs", "2", "--batch", "64",
                 "--lr", "3e-3"]) == 0
    return data, model


def test_dataset_is_labelled_sigmf_with_recorded_splits(tiny):
    from sdrkit.tasks.amc.dataset import load_split

    data, _ = tiny
    m = json.loads((data / "splits.json").read_text())
    assert m["splits"]["train"]["frames"] == 4 * 11 * 26 and len(m["splits"]["train"]["sha256"]) == 64
    tr = load_split(data, "train")
    assert len(tr) == 4 * 11 * 26 and set(tr.labels) == set(range(11))


def test_training_loss_goes_down_and_card_is_complete(tiny):
    from sdrkit.runtime import load_card

    _, model = tiny
    log = [json.loads(l) for l in (model / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and log[1]["loss"] < log[0]["loss"]
    card = load_card(model / "card.json")
    assert card.training["command"].startswith("sdrkit train amc") and card.training["data"]["train_sha256"]
    assert "entropy" in card.thresholds and card.extra["deployed_variant"] in ("V0", "V1", "V2", "V3")


def test_onnx_matches_torch(tiny):
    from sdrkit.nn.amc import EarlyExitNet, Full
    from sdrkit.runtime import load_card, onnx_session

    _, model = tiny
    card = load_card(model / "card.json")
    net = EarlyExitNet(11)
    net.load_state_dict(torch.load(card.file("torch"), weights_only=True))
    net.eval()
    x = np.random.default_rng(0).standard_normal((8, 2, 1024)).astype(np.float32)
    with torch.no_grad():
        ref = Full(net)(torch.from_numpy(x)).numpy()
    got = onnx_session(card.file("full")).run(None, {"x": x})[0]
    assert np.allclose(ref, got, atol=1e-4)


def test_gated_equals_backbone_where_frames_do_not_exit(tiny):
    from sdrkit.tasks.amc.dataset import load_split
    from sdrkit.tasks.amc.gated import GatedClassifier

    data, model = tiny
    frames = load_split(data, "test").frames(np.arange(64))
    never = GatedClassifier(model / "card.json", threshold=-1.0)
    r = never.predict(frames)
    assert not r.exited.any()
    assert np.allclose(r.prob, never.predict_backbone(frames), atol=1e-5)
    some = GatedClassifier(model / "card.json", threshold=float(np.log(11)) * 0.9)
    r2 = some.predict(frames)
    bb = some.predict_backbone(frames)
    assert np.allclose(r2.prob[~r2.exited], bb[~r2.exited], atol=1e-5)


def test_classify_refuses_mismatched_stream_and_scores_labelled_recording(tiny, tmp_path, capsys):
    _, model = tiny
    rec = tmp_path / "mix"
    assert main(["synth", "--out", str(rec), "--mods", "qpsk,am-dsb", "--snr", "20", "--frames-per-segment", "8"]) == 0
    assert main(["classify", "--radio", f"sim:{rec}.sigmf-meta?loop=0&sample_rate=500e3&rx_rf_bandwidth=400e3",
                 "--model", str(model / "card.json")]) == 1
    assert "ModelInputMismatch: stream sample rate 500000 S/s" in capsys.readouterr().err
    jl = tmp_path / "p.jsonl"
    assert main(["classify", "--radio", f"sim:{rec}.sigmf-meta?loop=0", "--model", str(model / "card.json"),
                 "--jsonl", str(jl), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "16 frames" in out and "accuracy against the recording's labels" in out
    lines = [json.loads(l) for l in jl.read_text().splitlines()]
    assert len(lines) == 16 and {l["truth"] for l in lines} == {"qpsk", "am-dsb"}
    assert (tmp_path / "confusion.png").exists()


def test_adaptive_policy_bypasses_gating_when_frames_do_not_exit(tiny):
    from sdrkit.tasks.amc.dataset import load_split
    from sdrkit.tasks.amc.gated import GatedClassifier

    data, model = tiny
    frames = load_split(data, "test").frames(np.arange(32))
    clf = GatedClassifier(model / "card.json", threshold=-1.0, probe_every=4, ema=1.0)   # nothing ever exits
    clf.break_even = 0.5

    class Counting:
        def __init__(self, sess):
            self.sess, self.calls = sess, 0

        def run(self, *a, **k):
            self.calls += 1
            return self.sess.run(*a, **k)

    clf.stem = Counting(clf.stem)
    runs = [clf.predict(frames) for _ in range(6)]
    assert clf.stem.calls == 2          # batch 1 (first probe) and batch 5 (probe every 4): the rest bypassed
    assert clf.exit_rate < 0.5
    bb = clf.predict_backbone(frames)
    for r in runs:
        assert not r.exited.any() and np.allclose(r.prob, bb, atol=1e-5)
    assert clf._batches == 6


def test_classify_records_stream_with_prediction_annotations(tiny, tmp_path, capsys):
    from sdrkit.capture import open_recording

    _, model = tiny
    src = tmp_path / "src"
    assert main(["synth", "--out", str(src), "--mods", "bpsk,wbfm", "--snr", "20", "--frames-per-segment", "8"]) == 0
    out = tmp_path / "rec"
    assert main(["classify", "--radio", f"sim:{src}.sigmf-meta?loop=0&faults=overflow@1:1&rx_buffer_size=2048",
                 "--model", str(model / "card.json"), "--record", str(out), "--out", str(tmp_path / "cls")]) == 0
    rec = open_recording(out)
    preds = [l for l in rec.labels() if l[3].get("source", "").startswith("prediction")]
    gaps = [l for l in rec.labels() if l[2] == "gap"]
    assert gaps and gaps[0][3]["lost_samples"] == 2048
    assert preds and all(p[1] == 1024 and p[0] + 1024 <= rec.num_samples for p in preds)
    assert rec.num_samples == 16 * 1024 - 2048
    # replaying the recording does not score the model against its own predictions
    capsys.readouterr()
    assert main(["classify", "--radio", f"sim:{out}.sigmf-meta?loop=0", "--model", str(model / "card.json"),
                 "--out", str(tmp_path / "cls2")]) == 0
    assert "accuracy against" not in capsys.readouterr().out


def test_pipeline_skips_frames_when_inference_falls_behind_never_samples(tiny, tmp_path):
    import time as _time

    from sdrkit.capture import open_recording
    from sdrkit.radio import open_radio
    from sdrkit.runtime import load_card
    from sdrkit.sinks import SigMFSink
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks.amc.live import AmcPredictor

    _, model = tiny
    src = tmp_path / "src"
    assert main(["synth", "--out", str(src), "--mods", "qpsk", "--snr", "20", "--frames-per-segment", "64"]) == 0
    inner = AmcPredictor(load_card(model / "card.json"))

    class Slow:                      # a model slower than the stream
        card = inner.card

        def predict(self, frames):
            _time.sleep(0.05)
            return inner.predict(frames)

    with open_radio(f"sim:{src}.sigmf-meta?loop=0&rx_buffer_size=8192") as radio:
        sink = SigMFSink(tmp_path / "copy", radio, "slow")
        st = Pipeline(radio, Slow(), 1024, batch=4, max_queue=8, sinks=[sink]).run()
    assert st.frames_in == 64 and st.frames_skipped > 0
    assert st.frames_analyzed + st.frames_skipped == st.frames_in and st.analyzed_fraction < 1
    assert open_recording(tmp_path / "copy").num_samples == 64 * 1024      # every sample recorded


def test_adaptive_policy_without_a_backbone_graph_is_refused_not_downgraded(tiny, tmp_path):
    import json
    import shutil

    from sdrkit.errors import ModelError
    from sdrkit.runtime import load_card
    from sdrkit.tasks.amc.gated import GatedClassifier
    from sdrkit.tasks.amc.live import AmcPredictor

    _, model = tiny
    shutil.copytree(model, tmp_path / "m")
    d = json.loads((tmp_path / "m" / "card.json").read_text())
    del d["files"]["full"]
    (tmp_path / "m" / "card.json").write_text(json.dumps(d))
    card = load_card(tmp_path / "m" / "card.json")
    with pytest.raises(ModelError, match="adaptive batch policy needs the card's 'full'.*policy='always'"):
        GatedClassifier(card)
    assert GatedClassifier(card, policy="always").policy == "always"
    p = AmcPredictor(card)                                   # the live predictor says what it does
    assert p.clf.policy == "always" and "every batch is gated" in p.note
