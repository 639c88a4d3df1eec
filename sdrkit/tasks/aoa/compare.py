"""Validation-split comparison of bundles (model selection reads only ``val``).

``python -m sdrkit.tasks.aoa.compare DIR [DIR ...] [--data data/aoa]`` prints, for the unpruned and
the 96% model of each folder, the azimuth / elevation MAE at SNR <= 0 dB and >= 10 dB on the
validation split. Session 27 chose the ``allpairs`` input stage with it (docs/aoa.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def val_mae(folder, data_dir="data/aoa", names=("original", "p96")) -> dict:
    """``{name: {"snr_le_0": [az, el], "snr_ge_10": [az, el]}}`` for the graphs present in ``folder``."""
    from sdrkit.dsp.framing import to_model_input
    from sdrkit.tasks.aoa.compress import ort_angles
    from sdrkit.tasks.aoa.data import read_split, split_path
    from sdrkit.tasks.aoa.evaluate import _mae

    val = read_split(split_path(data_dir, "val"))
    x = to_model_input(val.x)
    masks = {"snr_le_0": val.snr_db <= 0, "snr_ge_10": val.snr_db >= 10}
    out = {}
    for name in names:
        path = Path(folder) / f"{name}.onnx"
        if not path.exists():
            continue
        p = ort_angles(path, x)
        out[name] = {k: list(_mae(p, val.az, val.el, m)) for k, m in masks.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdrkit.tasks.aoa.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="model folders (original.onnx, p96.onnx)")
    ap.add_argument("--data", default="data/aoa", help="data set folder (its val split)")
    a = ap.parse_args(argv)
    for folder in a.folders:
        for name, r in val_mae(folder, a.data).items():
            print(f"{folder} {name}: SNR <= 0 dB az/el {r['snr_le_0'][0]:.2f} / {r['snr_le_0'][1]:.2f}, "
                  f"SNR >= 10 dB {r['snr_ge_10'][0]:.2f} / {r['snr_ge_10'][1]:.2f} deg (val)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
