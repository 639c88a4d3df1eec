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
        output=OutputSpec("embedding", description="emb: (batch, embedding_dim) float32; classes by nearest "
                                                   "prototype of a calibration (sdrkit calibrate beam)"),
        architecture={"name": "protobeam_encoder",
                      "kwargs": {"frame_len": spec.frame_len, "emb_dim": enc.emb_dim, "lags": enc.lags,
                                 "normalize_input": cfg.data_norm},
                      "note": "create_model(architecture, preamble=sdrkit.tasks.beam.sim.preamble("
                              "ArraySpec(**card.extra['array'])))"},
        metrics={"training": hist},
        training={"command": command, "seed": cfg.seed, "config": asdict(cfg),
                  "train_front_ends": f"rand-0..rand-{cfg.train_front_ends - 1}",
                  "parameters": count_parameters(enc)},
        extra={"embedding_dim": enc.emb_dim, "proto_norm": cfg.proto_norm, "array": spec.to_dict(),
               "output": "emb: (batch, embedding_dim) float32; classify by nearest prototype (sdrkit.nn.proto)"})
    card.save(out / "card.json")
    return load_card(out / "card.json")
