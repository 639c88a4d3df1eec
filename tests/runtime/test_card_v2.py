"""Card version 2: architecture, output kinds, optional classes, channels, spectrogram input;
version 1 cards still load; the channel check; the MODELS registry rebuilds networks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdrkit.errors import ConfigError, ModelError, ModelInputMismatch
from sdrkit.runtime import InputSpec, ModelCard, check_stream, load_card
from sdrkit.runtime.card import OUTPUT_KINDS, OutputSpec


def _save(tmp_path, **kw):
    (tmp_path / "m.onnx").write_bytes(b"x")
    base = dict(task="aoa", name="t", classes=(), input=InputSpec(sample_rate=1e6, frame_len=256, channels=4),
                files={"model": "m.onnx"}, output=OutputSpec("angles", shape=(2,), description="degrees"),
                architecture={"name": "aoa_net", "kwargs": {"elements": 4}})
    base.update(kw)
    return ModelCard(**base).save(tmp_path / "card.json")


def test_v2_round_trip_without_classes(tmp_path):
    c = load_card(_save(tmp_path))
    assert json.loads((tmp_path / "card.json").read_text())["card_version"] == 2
    assert c.classes == () and c.output == OutputSpec("angles", (2,), "degrees") and c.input.channels == 4
    assert c.architecture == {"name": "aoa_net", "kwargs": {"elements": 4}}


def test_v1_cards_still_load_as_one_channel_classes_models(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from sdrkit.runtime.card import learned_dims
    from sdrkit.runtime.session import card_session
    from tests.runtime._v1_cards import v1_classes_card, v1_encoder_card

    cards = ((v1_classes_card(tmp_path / "cls"), "classes"),
             (v1_encoder_card(tmp_path / "enc"), "embedding"))          # an encoder graph only: an embedding
    for path, kind in cards:
        assert json.loads(path.read_text())["card_version"] == 1
        c = load_card(path)
        assert c.output.kind == kind and c.output.shape is None and c.input.channels == 1 and c.classes
        assert c.architecture == {}                                     # format 1 has none (extra.architecture)
        for key in c.files:
            card_session(c, key)                                        # the graphs agree with the v1 card
    assert learned_dims(load_card(cards[1][0])) == 3                    # v1: extra.learned_dims
    assert learned_dims(load_card(cards[0][0])) is None


def test_learned_dims_of_a_v2_embedding_card_come_from_its_output_shape_and_architecture(tmp_path):
    from sdrkit.runtime.card import learned_dims

    p = _save(tmp_path, task="beam", classes=("b0", "b1"), input=InputSpec(sample_rate=1e6, frame_len=256),
              output=OutputSpec("embedding", shape=(85,)),
              architecture={"name": "protobeam_encoder", "kwargs": {"emb_dim": 64, "template": True}})
    assert learned_dims(load_card(p)) == 64
    plain = _save(tmp_path, task="beam", classes=("b0", "b1"), input=InputSpec(sample_rate=1e6, frame_len=256),
                  output=OutputSpec("embedding", shape=(64,)),
                  architecture={"name": "protobeam_encoder", "kwargs": {"emb_dim": 64}})
    assert learned_dims(load_card(plain)) is None                       # the whole embedding is learned


def test_a_v1_card_with_v2_fields_is_refused_not_silently_read(tmp_path):
    p = _save(tmp_path)
    d = json.loads(p.read_text())
    d["card_version"] = 1
    p.write_text(json.dumps(d))
    with pytest.raises(ModelError, match="card_version 1 has no architecture, output, input.channels.*card_version"):
        load_card(p)


def test_bundled_cards_load_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_card("amc").task == "amc" and load_card("models/beam/card.json").task == "beam"


@pytest.mark.parametrize("patch, match", [
    ({"output": {"kind": "telepathy"}}, "output .* must be"),
    ({"output": {"kind": "mask", "shape": [0, 3]}}, "output.shape"),
    ({"output": {"kind": "classes"}, "classes": []}, "non-empty for a classes output"),
    ({"input": {"sample_rate": 1e6, "frame_len": 256, "channels": 0}}, "integer channels >= 1"),
    ({"input": {"sample_rate": 1e6, "frame_len": 256, "representation": "spectrogram"}}, "needs input.spectrogram"),
    ({"input": {"sample_rate": 1e6, "frame_len": 256, "representation": "spectrogram",
                "spectrogram": {"nfft": 512, "hop": 64}}}, "nfft <= frame_len"),
    ({"architecture": {"kwargs": {}}}, "architecture"),
])
def test_v2_fields_are_validated(tmp_path, patch, match):
    p = _save(tmp_path)
    d = json.loads(p.read_text())
    d.update(patch)
    p.write_text(json.dumps(d))
    with pytest.raises(ModelError, match=match):
        load_card(p)


def test_output_kinds_cover_the_coming_tasks():
    assert {"classes", "mask", "forecast", "reconstruction", "angles", "bits", "samples"} <= set(OUTPUT_KINDS)


def test_channel_check_takes_channel_0_only_for_one_channel_models(tmp_path):
    four = load_card(_save(tmp_path))
    assert check_stream(four, 1e6, 256, channels=4) == (0, 1, 2, 3)
    with pytest.raises(ModelInputMismatch, match="stream has 2 channel.*takes 4.*rx_enabled_channels"):
        check_stream(four, 1e6, 256, channels=2)
    one = load_card(_save(tmp_path, input=InputSpec(sample_rate=1e6, frame_len=256)))
    assert check_stream(one, 1e6, 256, channels=4) == (0,)


def test_prediction_check_against_the_card(tmp_path):
    from sdrkit.runtime.predict import Prediction, check_prediction

    card = load_card(_save(tmp_path))
    check_prediction(card, Prediction(n=3, outputs={"angles": np.zeros((3, 2))}), 3)
    with pytest.raises(ModelError, match=r"output 'angles' has shape \(3, 3\), the card promises \(3, 2\)"):
        check_prediction(card, Prediction(n=3, outputs={"angles": np.zeros((3, 3))}), 3)
    with pytest.raises(ModelError, match="has outputs"):
        check_prediction(card, Prediction(n=3), 3)


def test_models_registry_rebuilds_every_registered_architecture():
    pytest.importorskip("torch")
    import torch

    from sdrkit.nn import EXAMPLES, create_model, list_models

    assert {"amc_earlyexit", "protobeam_encoder"} <= set(list_models())
    missing = sorted(set(list_models()) - set(EXAMPLES))
    assert missing == [], f"register_model(..., example=...) is missing for {missing}"
    for name in list_models():
        kwargs, shape = EXAMPLES[name]()
        net = create_model({"name": name, "kwargs": {}}, **kwargs).eval()
        with torch.no_grad():
            out = net(torch.randn(*shape))
        assert out is not None
    with pytest.raises(ConfigError, match="unknown model architecture 'nope'"):
        create_model("nope")


def test_a_sigmf_meta_given_as_the_model_is_named_for_what_it_is(tmp_path):
    import json

    import pytest

    from sdrkit.errors import ModelError
    from sdrkit.runtime import load_card

    meta = tmp_path / "rec.sigmf-meta"
    meta.write_text(json.dumps({"global": {"core:datatype": "cf32_le"}, "captures": [], "annotations": []}))
    with pytest.raises(ModelError, match="SigMF recording's metadata, not a model card.*--radio sim:"):
        load_card(meta)
    other = tmp_path / "x.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ModelError, match="not a model card"):
        load_card(other)
