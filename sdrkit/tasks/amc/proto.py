"""The generic prototype head on the AMC model's embedding (beam issue, section 5).

The AMC model's penultimate features (64-d, after FC128 -> FC64 -> ReLU of the backbone)
serve as the embedding: :func:`export_amc_embedding` writes ``encoder.onnx`` + a card with
``files["encoder"]`` so ``sdrkit calibrate amc --model <that card> --capture REC``
works exactly as for beams. :func:`evaluate_amc_proto` compares, on AMC frames seen through
a receiver front end the AMC model never saw, the AMC model's own softmax with nearest
prototypes calibrated from k labelled frames per class of that source.
:func:`prototype_head_report` does both for a list of front ends (what ``sdrkit evaluate beam``
reports).

Nothing here imports another task: the embedding runs through the generic
:class:`sdrkit.runtime.calibration.Embedder`, and the few-shot scorer is passed in
(``fewshot``), so the beam evaluation hands over its own without an import cycle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_amc_embedding(amc_card_path, out):
    """Export the AMC backbone up to its 64-d penultimate layer.

    Args:
        amc_card_path: the AMC model card (``card.json`` or its folder).
        out: folder for ``encoder.onnx``, ``full.onnx`` and ``card.json``.

    Returns:
        the new card (task ``amc``, ``files`` ``encoder`` and ``full``).
    """
    import torch
    from torch import nn

    from sdrkit.nn.amc import EarlyExitNet
    from sdrkit.runtime.card import ModelCard, load_card
    from sdrkit.runtime.export import export_onnx

    amc = load_card(amc_card_path)
    net = EarlyExitNet(len(amc.classes))
    net.load_state_dict(torch.load(amc.file("torch"), map_location="cpu", weights_only=True))
    net.eval()
    for prm in net.parameters():
        prm.requires_grad_(False)

    class AmcEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.embedding(x)

    class AmcLogits(nn.Module):
        def forward(self, x):
            return net(x)["backbone"]

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ex = torch.randn(4, 2, amc.input.frame_len)
    export_onnx(AmcEmbedding(), ex, out / "encoder.onnx", output_names=("emb",), atol=1e-3)
    export_onnx(AmcLogits(), ex, out / "full.onnx", output_names=("logits",), atol=1e-3)
    card = ModelCard(task="amc", name=amc.name + "-embedding", classes=amc.classes, input=amc.input,
                     files={"encoder": "encoder.onnx", "full": "full.onnx"},
                     training={"from_card": str(amc.path), "from_sha256": amc.files_sha256},
                     extra={"embedding_dim": 64, "proto_norm": True,
                            "output": "emb: (batch, 64) penultimate features of the AMC backbone"})
    card.save(out / "card.json")
    return load_card(out / "card.json")


def evaluate_amc_proto(card, fewshot, front_end: str = "fe-d", snr_db: float = 20.0, per_class: int = 64,
                       shots=(4, 8, 16), trials: int = 10, seed: int = 0) -> dict:
    """Accuracy of the AMC softmax vs nearest prototypes on frames through ``front_end``.

    Args:
        card: the embedding card from :func:`export_amc_embedding`.
        fewshot: ``fewshot(emb, labels, k, trials, rng, proto_norm) -> accuracy`` (support from
            the first half of each class's frames, queries from the second half).
        front_end: receiver front end (``sdrkit.radio.frontends``) the frames pass through.
        snr_db: SNR of every frame, dB. per_class: frames per class.
        shots: support shots per class to score. trials: support draws per score.
        seed: root seed of the frames, the front end start indices and the support draws.

    Returns:
        ``{front_end, snr_db, frames_per_class, softmax_acc, proto_<k>shot_acc...}``; softmax
        accuracy on the query half, so both are scored on the same frames.
    """
    from sdrkit.radio.frontends import get_front_end
    from sdrkit.runtime.calibration import Embedder
    from sdrkit.runtime.session import card_session
    from sdrkit.tasks.amc.data import AmcDataSpec, generate_frames

    from sdrkit.dsp.framing import to_model_input

    rng = np.random.default_rng(seed)
    C = len(card.classes)
    y = np.repeat(np.arange(C), per_class)
    x = generate_frames(y, np.full(len(y), snr_db), rng, AmcDataSpec(frame_len=card.input.frame_len))
    fe = get_front_end(front_end)
    x = np.stack([fe.apply(f, start_index=int(rng.integers(1 << 20)), fs=card.input.sample_rate, seed=i)
                  for i, f in enumerate(x)])
    emb = Embedder(card)(x)
    sess = card_session(card, "full", threads=2)
    xx = to_model_input(x)
    logits = np.concatenate([sess.run(None, {"x": xx[i:i + 256]})[0] for i in range(0, len(xx), 256)])
    half = np.concatenate([np.flatnonzero(y == c)[per_class // 2:] for c in range(C)])
    res = {"front_end": front_end, "snr_db": snr_db, "frames_per_class": per_class,
           "softmax_acc": float(np.mean(logits[half].argmax(1) == y[half]))}
    for k in shots:
        res[f"proto_{k}shot_acc"] = fewshot(emb, y, k, trials, rng, True)
    return res


def prototype_head_report(amc_card_path, out, fewshot, front_ends=("fe-c", "fe-d"), seed: int = 0) -> list[dict]:
    """Export the AMC embedding into ``out`` and run :func:`evaluate_amc_proto` on each front end."""
    card = export_amc_embedding(amc_card_path, out)
    return [evaluate_amc_proto(card, fewshot, fe, seed=seed) for fe in front_ends]

