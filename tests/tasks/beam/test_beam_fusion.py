"""The fused calibration head (sdrkit.tasks.beam.fusion) and the temporal-split training option."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sdrkit.errors import ConfigError
from sdrkit.nn.proto import PrototypeHead
from sdrkit.tasks.beam.fusion import fit_fusion

C, LD, PD = 12, 16, 8          # classes, learned dims, profile dims (+1 level): an embedding of 25


def _case(rng, informative: str, n: int):
    """n frames per class of a [learned, profile, level] embedding where only ``informative``
    ('learned', 'template' or 'level') separates the classes; the rest is noise of the same size."""
    y = np.repeat(np.arange(C), n)
    centers = {"learned": rng.normal(0, 1, (C, LD)), "template": rng.normal(0, 1, (C, PD)),
               "level": np.linspace(-3, 3, C)[:, None]}
    parts = []
    for name, d in (("learned", LD), ("template", PD), ("level", 1)):
        sig = centers[name][y] if name == informative else 0.0
        parts.append(sig + rng.normal(0, 0.6 if name == informative else 1.5, (len(y), d)))
    return np.concatenate(parts, axis=1).astype(np.float32), y


def _accuracy(emb_s, y_s, emb_q, y_q, weights=None):
    h = PrototypeHead.fit(emb_s, y_s, classes=range(C), normalize=False)
    h = PrototypeHead(h.prototypes, h.classes, False, weights=weights)
    return float(np.mean(np.asarray(h.classes)[h.predict(emb_q)] == y_q))


@pytest.mark.parametrize("informative", ["learned", "template", "level"])
def test_fusion_is_never_worse_than_its_better_component(informative):
    full, yf = _case(np.random.default_rng(3), informative, 48)   # shots: the first 8 of each class
    first = np.concatenate([np.flatnonzero(yf == c)[:8] for c in range(C)])
    rest = np.setdiff1d(np.arange(len(yf)), first)
    es, ys, eq, yq = full[first], yf[first], full[rest], yf[rest]
    w, info = fit_fusion(es, ys, range(C), LD)
    fused = _accuracy(es, ys, eq, yq, w)
    enc = _accuracy(es, ys, eq, yq)                                   # plain encoder: every block weight 1
    base_w = np.ones(es.shape[1], np.float32)
    base_w[:LD] = 0.0
    base = _accuracy(es, ys, eq, yq, base_w)                          # the baseline's distance
    assert fused >= max(enc, base) - 1e-9, (informative, fused, enc, base, info)
    if informative == "learned":
        assert info["w_learned"] >= 1.0
    else:
        assert info["w_learned"] <= 0.0625            # the noisy learned block is (nearly) switched off
    if informative == "level":
        assert info["w_level"] >= 4.0
    assert set(info["candidates"]) >= {"0,1", "1,1"}                  # the baseline and the encoder are candidates


def test_fusion_weights_layout_and_refusals():
    rng = np.random.default_rng(0)
    e, y = _case(rng, "template", 3)
    w, info = fit_fusion(e, y, range(C), LD)
    assert w.shape == (e.shape[1],) and np.all(w[LD:-1] == 1.0)
    assert w[0] == pytest.approx(np.sqrt(info["w_learned"])) and w[-1] == pytest.approx(np.sqrt(info["w_level"]))
    one = np.concatenate([np.flatnonzero(y == c)[:1] for c in range(C)])
    with pytest.raises(ConfigError, match="needs >= 2 shots per class"):
        fit_fusion(e[one], y[one], range(C), LD)
    with pytest.raises(ConfigError, match="channel-estimate encoder"):
        fit_fusion(e[:, :LD], y, range(C), LD)


def test_cli_calibrate_head_fuse_and_classify(tmp_path, monkeypatch, capsys):
    import torch

    from sdrkit.cli import main
    from sdrkit.nn.beam import build_encoder
    from sdrkit.tasks.beam.channels import Scene
    from sdrkit.tasks.beam.export import export_encoder
    from sdrkit.tasks.beam.rig import record_beam_sweep
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end, preamble
    from sdrkit.tasks.beam.train import ProtoConfig

    torch.manual_seed(0)
    spec = ArraySpec()
    enc = build_encoder(preamble(spec), spec.frame_len, template=True).eval()
    card = export_encoder(enc, spec, ProtoConfig(steps=0, template=True, proto_norm=False), {}, tmp_path / "m",
                          command="test")
    cap = record_beam_sweep(tmp_path / "sweep", spec, get_front_end("hb-mid"), 6, np.random.default_rng(0),
                            scene=Scene("CDL-D", 1000.0, 0.5, 0.5, seed=1))
    cal = tmp_path / "cal.json"
    assert main(["calibrate", "beam", "--model", str(card.path), "--capture", str(cap), "--shots", "3",
                 "--split", "0.5", "--head", "fuse", "--transductive", "--out", str(cal)]) == 0
    assert "fused head: learned weight" in capsys.readouterr().out
    d = json.loads(cal.read_text())
    assert len(d["weights"]) == card.extra["embedding_dim"]
    assert d["source"]["head"]["rule"] == "fuse" and d["source"]["select"]["head"] == "fuse"
    assert d["source"]["select"]["transductive"] is True
    out = tmp_path / "cls"
    monkeypatch.chdir(tmp_path)
    assert main(["classify", "--calibration", str(cal), "--radio", f"sim:{cap}?loop=0", "--fast",
                 "--out", str(out)]) == 0
    score = json.loads((out / "score.json").read_text())
    assert score["frames"] == 24 * 3                   # the held-out half of each beam's 6 frames
    assert main(["calibrate", "beam", "--model", str(card.path), "--capture", str(cap), "--shots", "3",
                 "--head", "fuse", "--method", "template", "--out", str(tmp_path / "t.json")]) == 1
    assert "--head fuse fuses the encoder with the baseline" in capsys.readouterr().err


def test_temporal_split_bank_is_time_ordered_and_checked():
    from sdrkit.tasks.beam.channels import Scene
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end, preamble
    from sdrkit.tasks.beam.train import ProtoConfig, feature_bank, train_protobeam
    from sdrkit.nn.beam import build_encoder

    spec = ArraySpec()
    with pytest.raises(ConfigError, match="temporal split needs"):
        train_protobeam(spec, ProtoConfig(steps=1, train_front_ends=2, temporal_split=True), per_beam=12,
                        log=lambda *_: None)
    # a scene whose only change in time is a fast drift (40 deg/s over 1.5 s): in time order a beam's
    # level changes smoothly from frame to frame, far less than between frames in random order
    enc = build_encoder(preamble(spec), spec.frame_len, template=True).eval()
    sc = Scene("CDL-D", 100.0, 0.0, 40.0, seed=5)
    f = feature_bank(enc, spec, [get_front_end("rand-0")], 16, np.random.default_rng(0), False, scenes=[sc],
                     span_s=1.5)
    assert f.shape == (1, spec.beams, 16, enc.nf)
    level = f[0, :, :, -1]
    step = np.mean(np.abs(np.diff(level, axis=1)))
    shuffled = np.mean(np.abs(np.diff(np.random.default_rng(1).permuted(level, axis=1), axis=1)))
    assert step < 0.7 * shuffled, (step, shuffled)
    enc2, hist = train_protobeam(spec, ProtoConfig(steps=3, train_front_ends=2, temporal_split=True, template=True,
                                                   proto_norm=False, scene_fraction=1.0, n_way=24),
                                 per_beam=16, log=lambda *_: None)
    assert hist["steps_run"] == 3 and np.isfinite(hist["final_loss"])
