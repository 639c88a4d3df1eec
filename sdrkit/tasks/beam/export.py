"""Export the ProtoBeam encoder to ONNX with its model card."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path


def export_encoder(enc, spec, cfg, hist: dict, out: Path, command: str = "", name: str = "protobeam-encoder"):
    """Write ``encoder.onnx`` + ``card.json`` under ``out``; returns the loaded card."""
    import torch

    from sdrkit.nn.beam import count_parameters
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec, load_card
    from sdrkit.runtime.export import export_onnx
    from sdrkit.tasks.beam import SAMPLE_RATE, beam_classes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    enc = enc.eval()
    ex = torch.randn(4, 2, spec.frame_len)
    export_onnx(enc, ex, out / "encoder.onnx", input_names=("x",), output_names=("emb",), atol=1e-3)
    card = ModelCard(
        task="beam", name=name, classes=beam_classes(spec.beams),
        input=InputSpec(sample_rate=SAMPLE_RATE, frame_len=spec.frame_len,
                        normalization="per-frame unit RMS + lag-0 normalization, inside the graph"
                        if cfg.data_norm else "none"),
        files={"encoder": "encoder.onnx"},
        output=OutputSpec("embedding", shape=(getattr(enc, "out_dim", enc.emb_dim),),
                          description="emb: (batch, embedding_dim) float32; classes by nearest prototype of a "
                                      "calibration (sdrkit calibrate beam)"),
        architecture={"name": "protobeam_encoder",
                      "kwargs": {"frame_len": spec.frame_len, "emb_dim": enc.emb_dim, "lags": enc.lags,
                                 "normalize_input": cfg.data_norm, "template": bool(getattr(enc, "template", False))},
                      "note": "create_model(architecture, preamble=sdrkit.tasks.beam.sim.preamble("
                              "ArraySpec(**card.extra['array'])))"},
        metrics={"training": hist},
        training={"command": command, "seed": cfg.seed, "config": asdict(cfg),
                  "train_front_ends": (f"rand-0..rand-{cfg.train_front_ends - 1}" if not cfg.harsh_fraction else
                                       f"rand-i or hrand-i (share {cfg.harsh_fraction}), i < {cfg.train_front_ends}"),
                  "train_channels": ("sdrkit's own scene" if not cfg.scene_fraction else
                                     f"sdrkit's own scene, or (share {cfg.scene_fraction}) one of "
                                     f"{', '.join(_train_families())}, delay spread 100-1000 ns, Doppler <= "
                                     f"{cfg.doppler_max_hz} Hz, drift <= {cfg.drift_max_deg_s} deg/s"),
                  "held_back": _held_back(),
                  "parameters": count_parameters(enc)},
        # the learned block (the first emb_dim of out_dim values): sdrkit.runtime.card.learned_dims
        extra={"embedding_dim": getattr(enc, "out_dim", enc.emb_dim), "proto_norm": cfg.proto_norm,
               "array": spec.to_dict(),
               "output": "emb: (batch, embedding_dim) float32; classify by nearest prototype (sdrkit.nn.proto)"})
    card.save(out / "card.json")
    return load_card(out / "card.json")


def _train_families():
    from sdrkit.tasks.beam.channels import TRAIN_FAMILIES

    return [f for f in TRAIN_FAMILIES if f != "sdrkit"]


def _held_back() -> dict:
    from sdrkit.tasks.beam.channels import HELD_BACK_FAMILY
    from sdrkit.tasks.beam.sim import HELD_BACK_FRONT_ENDS, NAMED_FRONT_ENDS

    return {"channel_family": HELD_BACK_FAMILY, "front_ends": list(HELD_BACK_FRONT_ENDS) + list(NAMED_FRONT_ENDS)}


def card_as_v1(card_path, evaluation_json=None) -> None:
    """Rewrite a beam card in card format 1 (no ``output``/``architecture``/``input.channels``; the
    architecture moves to ``extra.architecture``), optionally with an evaluation report's figures
    in ``metrics.evaluation``. The bundled beam card was made so (then upgraded to format 2 by
    ``sdrkit card upgrade``, see its ``training.card_upgrades``); format 1 has no output shape, so
    a format-1 card gives its learned block as ``extra.learned_dims``. The ONNX and its hash are untouched.
    """
    import json

    from sdrkit.capture.safejson import write_json

    p = Path(card_path)
    d = json.loads(p.read_text())
    d["card_version"] = 1
    d.pop("output", None)
    arch = d.pop("architecture", None)
    if arch:
        d.setdefault("extra", {})["architecture"] = arch
    for k in ("channels", "spectrogram"):
        d["input"].pop(k, None)
    emb = (arch or {}).get("kwargs", {}).get("emb_dim")
    if emb and d.get("extra", {}).get("embedding_dim", emb) > emb:
        d["extra"]["learned_dims"] = emb
    if evaluation_json:
        rep = json.loads(Path(evaluation_json).read_text())
        res = rep.get("results", {})
        ev = {k: res[k] for k in ("protobeam", "deepbeam", "confusion", "new_beams_32", "calibration_seconds",
                                  "embedding_frames_per_s", "baseline_own") if k in res}
        if "shift" in res:
            ev["shift"] = res["shift"]["summary"]
        ev["targets"] = rep.get("targets")
        d.setdefault("metrics", {})["evaluation"] = ev
        d["metrics"]["evaluation_command"] = res.get("command", "")
    write_json(p, d)


if __name__ == "__main__":      # python -m sdrkit.tasks.beam.export CARD [EVAL_JSON]
    import sys

    card_as_v1(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
