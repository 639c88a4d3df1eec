"""Compare AMC cards on validation data only (how the bundled stages were chosen).

``python -m sdrkit.tasks.amc.compare CARD [CARD ...] [--data DIR] [--base-data DIR]`` prints, per card,
the backbone accuracy at SNR >= 10 dB on the val split of ``--data`` (default ``data/amc_wide``) and of
``--base-data`` (default ``data/amc``), and the drop of the deployed gated model with a +/-60 kHz
offset corrected against zero offset on the ``--data`` val split (the evaluate step's
:func:`sdrkit.tasks.amc.robust.measure_frontend`, on val frames instead of test frames). Test splits
and cross-generator recordings are not read.
"""

from __future__ import annotations

import numpy as np


def val_figures(card_path, data: str = "data/amc_wide", base_data: str = "data/amc") -> dict:
    """``{"val_backbone_hi": float, "val_base_backbone_hi": float, "val_cfo_drop_points": float}``."""
    from sdrkit.runtime import load_card
    from sdrkit.tasks.amc import robust
    from sdrkit.tasks.amc.dataset import load_split, to_input
    from sdrkit.tasks.amc.evaluate import SCORE_BATCH, EvalFrames

    from sdrkit.runtime.session import card_session

    card = load_card(card_path)
    full = card_session(card, "full")
    out = {}
    for key, folder in (("val_backbone_hi", data), ("val_base_backbone_hi", base_data)):
        sp = load_split(folder, "val")
        hi = np.flatnonzero(sp.snrs >= 10)
        x = to_input(sp.frames(hi))
        pred = np.concatenate([full.run(None, {"x": x[i:i + SCORE_BATCH]})[0].argmax(1)
                               for i in range(0, len(x), SCORE_BATCH)])
        out[key] = float(np.mean(pred == sp.labels[hi]))
    va = load_split(data, "val")
    tf = EvalFrames(x=to_input(va.frames(np.arange(len(va.labels)))), labels=va.labels, snrs=va.snrs,
                    bins=sorted(set(va.snrs.tolist())), sha256="val")
    _, rows = robust.measure_frontend(card, tf, None, reps=1)
    out["val_cfo_drop_points"] = float(rows[0].measured)
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m sdrkit.tasks.amc.compare", description=__doc__.strip().splitlines()[0])
    ap.add_argument("cards", nargs="+")
    ap.add_argument("--data", default="data/amc_wide")
    ap.add_argument("--base-data", default="data/amc")
    a = ap.parse_args()
    for c in a.cards:
        f = val_figures(c, a.data, a.base_data)
        print(f"{c}: val wide {f['val_backbone_hi']:.4f}  val base {f['val_base_backbone_hi']:.4f}  "
              f"CFO drop (val) {f['val_cfo_drop_points']:.3f} points", flush=True)
