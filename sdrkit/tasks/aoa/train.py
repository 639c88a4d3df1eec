"""Training the AoA regressor: L1 loss on angles / 60, AdamW, cosine schedule per step,
a wall-time budget, the best validation epoch kept; ONNX export and the model card.

Also used by :mod:`sdrkit.tasks.aoa.compress` to fine-tune pruned networks (optionally with
knowledge distillation from the unpruned one).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from sdrkit.tasks.aoa import FRAME_LEN, SAMPLE_RATE, cell_names


def to_tensor(x: np.ndarray):
    """complex (n, E, N) -> torch float32 (n, 2E, N)."""
    import torch

    from sdrkit.dsp.framing import to_model_input

    return torch.from_numpy(to_model_input(x))


def targets(az, el):
    import torch

    return torch.from_numpy(np.stack([az, el], axis=1).astype(np.float32))


def predict_torch(model, X, batch: int = 512) -> np.ndarray:
    """Angles (degrees) of a torch model on float tensor ``X`` (n, 2E, N): (n, 2)."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            out.append(model(X[i:i + batch]).numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def mae(pred: np.ndarray, az, el) -> tuple[float, float]:
    """Mean absolute azimuth and elevation errors, degrees."""
    return float(np.mean(np.abs(pred[:, 0] - az))), float(np.mean(np.abs(pred[:, 1] - el)))


def fit(model, X, Y, Xv, Yv, *, epochs: int, batch: int = 128, lr: float = 1e-3, wd: float = 0.01,
        time_budget_s: float | None = None, teacher=None, kd_weight: float = 0.5, seed: int = 0, teacher_out=None,
        log=print, tag: str = "train") -> dict:
    """Train ``model`` (regressing angles / angle_scale with L1), keeping the best validation state.

    Args:
        X, Y: training inputs (n, 2E, N) float and angles (n, 2) degrees (torch).
        Xv, Yv: validation set (the best epoch by mean az/el MAE is kept).
        teacher: optional unpruned model; its outputs are a second L1 target (distillation).
        teacher_out: the teacher's ``forward_scaled`` outputs on ``X``, when already computed.
        time_budget_s: stop after this many seconds of this process's CPU time (all threads:
            ``time.process_time``; on a shared machine wall time says little), checked every step.

    Returns:
        history dict: epochs run, steps, seconds, per-epoch validation MAE, best.
    """
    import copy

    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps_per_epoch = max(1, len(X) // batch)
    total = max(1, epochs * steps_per_epoch)
    t0 = time.perf_counter()
    c0 = time.process_time()

    def progress(step):
        # cosine over the planned steps, or over the time budget when that ends first
        p = step / total
        if time_budget_s:
            p = max(p, (time.process_time() - c0) / time_budget_s)
        return 0.5 * (1 + np.cos(np.pi * min(p, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, progress)
    scale = float(model.angle_scale)
    Ys = Y / scale
    Yt = teacher_out
    if teacher is not None and Yt is None:
        teacher.eval()
        with torch.no_grad():
            Yt = torch.cat([teacher.forward_scaled(X[i:i + 512]) for i in range(0, len(X), 512)])
    hist = {"val_mae": [], "epochs_run": 0, "steps": 0, "stopped_by_budget": False}
    best, best_state = np.inf, copy.deepcopy(model.state_dict())
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=gen)
        tot, nb = 0.0, 0
        for j in range(steps_per_epoch):
            b = perm[j * batch:(j + 1) * batch]
            out = model.forward_scaled(X[b])
            loss = F.l1_loss(out, Ys[b])
            if Yt is not None:
                loss = (1 - kd_weight) * loss + kd_weight * F.l1_loss(out, Yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach())
            nb += 1
            hist["steps"] += 1
            if time_budget_s and time.process_time() - c0 > time_budget_s:
                hist["stopped_by_budget"] = True
                break
        p = predict_torch(model, Xv)
        ma, me = mae(p, Yv[:, 0].numpy(), Yv[:, 1].numpy())
        hist["val_mae"].append([round(ma, 4), round(me, 4)])
        hist["epochs_run"] = ep + 1
        log(f"{tag} epoch {ep + 1}/{epochs}: loss {tot / max(nb, 1):.4f}  val MAE az {ma:.2f} el {me:.2f} deg  "
            f"{time.perf_counter() - t0:.0f}s wall, {time.process_time() - c0:.0f}s CPU")
        if (ma + me) / 2 < best:
            best, best_state = (ma + me) / 2, copy.deepcopy(model.state_dict())
        if hist["stopped_by_budget"]:
            log(f"{tag}: time budget reached after {hist['steps']} steps")
            break
    model.load_state_dict(best_state)
    model.eval()
    hist["seconds"] = time.perf_counter() - t0
    hist["cpu_seconds"] = time.process_time() - c0
    hist["best_val_mae_mean"] = float(best)
    return hist


def make_card(name: str, onnx_name: str, architecture: dict, elements: int, frame_len: int, *, metrics: dict,
              training: dict, extra: dict, note: str = ""):
    """A version-2 card for an angles model whose ``full`` graph maps I/Q to (batch, 2) degrees."""
    from sdrkit.runtime.card import InputSpec, ModelCard, OutputSpec

    return ModelCard(
        task="aoa", name=name, classes=cell_names(),
        input=InputSpec(sample_rate=SAMPLE_RATE, frame_len=frame_len, channels=elements,
                        layout=f"(batch, {2 * elements}, {frame_len}) float32: rows I0, Q0, I1, Q1, ... of the "
                               f"array elements (element r*cols+c)",
                        normalization="per-frame unit power and channel-0 conjugate products, inside the graph"),
        files={"full": onnx_name} if onnx_name else {},
        output=OutputSpec("angles", shape=(2,), description="azimuth, elevation in degrees (broadside 0, "
                                                             "sdrkit.dsp.array conventions)" + note),
        architecture=architecture, metrics=metrics, training=training, extra=extra)


def export(model, path, elements: int, frame_len: int = FRAME_LEN) -> Path:
    """ONNX (opset 17, dynamic batch), checked against torch."""
    import torch

    from sdrkit.runtime.export import export_onnx

    from sdrkit.tasks.aoa.compress import compact_onnx

    ex = torch.randn(4, 2 * elements, frame_len)
    path = export_onnx(model, ex, path, input_names=("x",), output_names=("angles",), atol=2e-3, rtol=1e-3)
    return compact_onnx(path)
